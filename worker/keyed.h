/*  keyed.h - a member of a keyed group (docs/worker.md, "Keyed groups and
    windows"): the group key of each record, the windowed aggregation
    operator (lib/group/sl_window.c) over the key states it keeps, and the
    restore of those states from the group's state stream GROUP.state.

    The broker gives a keyed group's leases one at a time to one member
    (docs/PROTOCOL.md §14.4), so records arrive here in offset order. A
    lease's results, its late records and the states of the keys it
    changed go back in one RESULT and commit in one transaction: after any
    crash, GROUP.state holds exactly the state that matches the output.
*/
#ifndef SL_WORKER_KEYED_H_INCLUDED
#define SL_WORKER_KEYED_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_buf.h"
#include "sl_shares.h"
#include "worker.h"

//  Bytes of one record's encoded group key: what the broker keeps a key's
//  state under (a longer key's record is dead-lettered).
#define SL_KEYED_MAX_KEY SL_STATE_MAX_KEY
//  Default --state-cache: key states held decoded in RAM.
#define SL_KEYED_STATE_CACHE 100000

typedef struct _sl_keyed_t sl_keyed_t;

//  Checks the keyed settings of cfg (key, window, agg, time, lateness,
//  idle). NULL with a usage error in why.
sl_keyed_t *sl_keyed_new (const sl_worker_config_t *cfg, char *why, size_t why_size);
void sl_keyed_destroy (sl_keyed_t **self_p);

//  Forgets every key state and reads them back from GROUP.state (the last
//  record of each key wins). 0 or an error (logged).
int sl_keyed_restore (sl_keyed_t *self);
//  The lease in hand is of share `share` of `shares` (docs/worker.md "What
//  moves on rebalance"): the batch processes only that share's records
//  (the others are acked as done), idle windows close only for its keys,
//  and sl_keyed_restore reads back only its keys. shares <= 1: all keys.
void sl_keyed_set_share (sl_keyed_t *self, uint32_t share, uint32_t shares);
//  The next lease's batch has holes (WORK "holes" > 0): lone nils for the
//  records of other shares, which the broker left out.
void sl_keyed_set_holes (sl_keyed_t *self, bool holes);

//  Processes one lease: out gets the window results, late the late
//  records (unchanged), state one record per key whose state changed.
//  Records without the key or a valid time are failed (final: dead-letter
//  at once, so that later records of the key never overtake a retry).
int sl_keyed_batch (sl_keyed_t *self, const uint8_t *data, size_t len, uint32_t count,
                    uint64_t offset);

//  The last batch's parts: one buffer of out_count + late_count +
//  state_count records, in that order.
const uint8_t *sl_keyed_output (sl_keyed_t *self, size_t *len, uint32_t *out_count,
                                uint32_t *late_count, uint32_t *state_count);
//  The bytes of the last batch's output and late parts (RESULT's
//  out_bytes and late_bytes: the broker then need not walk them again).
void sl_keyed_part_bytes (sl_keyed_t *self, size_t *out_bytes, size_t *late_bytes);
size_t sl_keyed_n_failed (sl_keyed_t *self);
const sl_worker_failure_t *sl_keyed_failed (sl_keyed_t *self, size_t index);

//  Lua state mode (--key without --window): the operator keeps any
//  msgpack value per key with state.get / state.set (lua_state.h). attach
//  hooks self into proc's records; after sl_worker_proc_batch, finish
//  builds the RESULT's data from proc's output and the changed states.
bool sl_keyed_is_lua (sl_keyed_t *self);
//  A keyed group whose operator keeps no state (not Lua): only the share
//  filter, so that each member sees its shares' records.
void sl_keyed_attach_filter (sl_keyed_t *self, sl_worker_proc_t *proc);
void sl_keyed_attach (sl_keyed_t *self, sl_worker_proc_t *proc);
int sl_keyed_finish (sl_keyed_t *self, const uint8_t *out, size_t len, uint32_t count);

//  Opens the local store of the key states not held in memory (a fresh
//  LMDB environment under $TMPDIR, keyed_cache.c): for an operator that
//  keeps state (--window, Lua). 0 or SL_ESTORE (logged).
int sl_keyed_open_store (sl_keyed_t *self);
//  After a failed lease: whether the key states were all dropped (the
//  local store failed), so that every share must restore; clears it.
bool sl_keyed_take_lost (sl_keyed_t *self);

//  Keys whose state is held in memory.
size_t sl_keyed_keys (sl_keyed_t *self);

#endif
