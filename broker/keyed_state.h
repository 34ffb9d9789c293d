/*  keyed_state.h - the compacted key states of keyed groups in the broker
    (docs/PROTOCOL.md §14.5, docs/worker.md "State: how big it may grow").

    A RESULT's state changes go into the store's state table (latest
    value per group, share and key; nil deletes) in the transaction that
    commits the result, besides GROUP.state; a member taking over a share
    reads that share's keys back with STATE_READ. What a member can make
    the broker hold is bounded: a key of SL_STATE_MAX_KEY bytes, a state of
    SL_STATE_MAX_VALUE, and --max-state-keys keys per keyed group.
    Internal to the broker (groups.c, broker.c).
*/
#ifndef SL_BROKER_KEYED_STATE_H_INCLUDED
#define SL_BROKER_KEYED_STATE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "sl_proto.h"
#include "sl_store.h"

#define SL_STATE_KEYS_DEFAULT 10000000 //  --max-state-keys: keys per keyed group

//  Before the transaction: each of a RESULT's state records has a key of
//  at most SL_STATE_MAX_KEY bytes belonging to the result's share (of
//  `of`), and a value of at most SL_STATE_MAX_VALUE bytes; and the whole
//  data frame is out_count + late_count + state_count well-formed records
//  (values nested at most max_depth), nothing after them, as
//  sl_batch_validate checks a group's output. 0 or an error with *why.
int sl_keyed_state_check (const sl_msg_t *msg, uint32_t share, uint32_t of, const uint8_t *data,
                          size_t len, uint32_t max_depth, const char **why);

//  In the transaction, before the result is applied: the keys it adds
//  keep the group within max_keys. 0, SL_ELIMIT, or a store error.
int sl_keyed_state_admit (sl_store_t *store, const char *group, uint32_t share, const sl_msg_t *msg,
                          const uint8_t *data, size_t len, uint64_t max_keys);

//  In the transaction: the RESULT's count state records (the part of its
//  checked data frame after the output and late records) into the table.
int sl_keyed_state_put (sl_store_t *store, const char *group, uint32_t share, uint32_t count,
                        const uint8_t *states, size_t len);

//  A STATE_READ: the reply (STATE with a records frame of at most
//  max_bytes, each record's key the state's key and value its state),
//  after the key in cursor (NULL: from the first). NULL with *code and
//  *why on failure.
zmsg_t *sl_keyed_state_read (sl_store_t *store, const sl_msg_t *msg, zframe_t *cursor,
                             uint64_t max_bytes, int *code, const char **why);

#endif
