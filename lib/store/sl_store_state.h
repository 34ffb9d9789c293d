/*  sl_store_state.h - the compacted key states of keyed groups in the store
    (docs/worker.md "State: how big it may grow, what a restore costs").

    One LMDB database, "state", holds the latest state of each key of each
    keyed group: the entry (group, share, key) -> value. A RESULT's state
    changes are put in the transaction that appends its output and acks its
    lease, so the table always matches the committed output; a member
    taking over a share reads that share's keys as one range, whatever the
    history of changes was. Each group also has a counter entry, (group,
    SL_STATE_COUNTER), holding its number of keys and whether the table is
    complete for it (a group whose states were written to GROUP.state
    before the table existed is not: its members restore from the stream).
*/
#ifndef SL_STORE_STATE_H_INCLUDED
#define SL_STORE_STATE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_shares.h"
#include "sl_store.h"

#define SL_STATE_COUNTER UINT32_MAX //  the share of a group's counter entry

//  A group's keys in the table, and whether the table holds all its state
//  (false: it had states in GROUP.state before). SL_ENOTFOUND when the
//  group has never had a state put. In the open write transaction if
//  there is one, else in a read.
int sl_store_state_count (sl_store_t *self, const char *group, uint64_t *keys, bool *complete);

//  Starts the table for group when it has no counter yet: complete says
//  whether it may be trusted alone (GROUP.state was empty). In the open
//  write transaction; 0 when the counter exists already.
int sl_store_state_start (sl_store_t *self, const char *group, bool complete);

//  Whether key has a state in group (share). In the open write transaction.
int sl_store_state_has (sl_store_t *self, const char *group, uint32_t share, const void *key,
                        size_t key_len, bool *has);

//  Puts key's state (value NULL or value_len 0: deletes it), keeping the
//  counter. In the open write transaction, after sl_store_state_start.
//  SL_ETOOBIG past SL_STATE_MAX_KEY / SL_STATE_MAX_VALUE.
int sl_store_state_put (sl_store_t *self, const char *group, uint32_t share, const void *key,
                        size_t key_len, const void *value, size_t value_len);

//  Visits the states of one share in key order, starting after the key
//  `after` (NULL: from the first), in a read of the committed data. fn
//  returns 0 to go on, 1 to stop (then 0 is returned), or an error that is
//  returned. Key and value live as long as the call of fn.
typedef int (sl_store_state_fn) (void *ctx, const uint8_t *key, size_t key_len,
                                 const uint8_t *value, size_t value_len);
int sl_store_state_read (sl_store_t *self, const char *group, uint32_t share, const void *after,
                         size_t after_len, sl_store_state_fn *fn, void *ctx);

#endif
