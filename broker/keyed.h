/*  keyed.h - the broker's side of keyed groups (docs/PROTOCOL.md §14.4):
    JOIN's group key, and a RESULT whose data frame carries, after its
    output records, the late records (appended to GROUP.late) and the
    changed key states (appended to GROUP.state), all in the transaction
    that commits the result. Internal to the broker (groups.c).
*/
#ifndef SL_BROKER_KEYED_H_INCLUDED
#define SL_BROKER_KEYED_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "groups.h"
#include "sl_proto.h"
#include "sl_store.h"

//  A JOIN's key against the group's (NULL: the group has no member, so
//  any key goes). 0 or SL_EINVAL / SL_ENAME with *why.
int sl_keyed_check_join (const sl_msg_t *msg, const char *group_key, const char **why);
//  A RESULT's late_count / state_count against its group (group_key ""
//  for a group that is not keyed). *records = all records of its data
//  frame. 0 or SL_EPROTO / SL_ETOOBIG with *why.
int sl_keyed_check_result (const sl_msg_t *msg, const char *group_key, uint32_t *records,
                           const char **why);
//  Puts the state part of data (checked by sl_groups_check) into the
//  state table of the group's share (keyed_state.c) and appends the
//  output, late and state parts to out, GROUP.late and GROUP.state, all
//  in the open transaction.
int sl_keyed_append (sl_store_t *store, const char *group, uint32_t share, const char *out,
                     const sl_msg_t *msg, const uint8_t *data, size_t len, int64_t now_ms,
                     sl_groups_appended_fn *appended, void *ctx);

#endif
