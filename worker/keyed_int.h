/*  keyed_int.h - the keyed member's internals, shared by keyed.c (the
    operator and its key states) and keyed_restore.c (reading the states
    back from the broker when a share is taken over).
*/
#ifndef SL_WORKER_KEYED_INT_H_INCLUDED
#define SL_WORKER_KEYED_INT_H_INCLUDED

#include <czmq.h>

#include "keyed.h"
#include "lua_state.h"
#include "sl_buf.h"
#include "sl_json.h"
#include "sl_window.h"

typedef struct {
    sl_win_key_t *win; //  window mode
    uint8_t *value;    //  Lua state mode: the key's state (msgpack), NULL = none
    size_t value_len;
    uint8_t *raw; //  the key's msgpack encoding (in this block, after name)
    size_t raw_len;
    int64_t seen_ms; //  last record, processing time (--idle)
    bool dirty;      //  changed by the batch in hand
    //  The hash's key, hex of raw: held here rather than copied by the
    //  hash, so that a new key costs one allocation, not three (a million
    //  keys are a million allocations; BENCHMARKS.md).
    char name[];
} keyed_key_t;

struct _sl_keyed_t {
    const sl_worker_config_t *cfg;
    sl_win_t *win;
    zhashx_t *keys; //  hex of the encoded key -> keyed_key_t
    sl_json_t *json;
    sl_buf_t out, late, state, text, tmp;
    uint32_t n_out, n_late, n_state;
    sl_worker_failure_t *failed;
    size_t n_failed, cap_failed;
    keyed_key_t **dirty; //  keys changed by the batch in hand, each once
    size_t n_dirty, cap_dirty;
    //  The record being processed, for the emit callback and the Lua hook.
    keyed_key_t *current;
    //  Lua state mode (no --window): state.set of the record in hand.
    bool lua;
    bool pending;
    bool pending_delete;
    sl_buf_t pending_value;
    sl_lua_state_hook_t hook;
    const char *no_key; //  why the record in hand has no key state
    char no_key_text[300];
    //  The lease in hand is of this share of the key space (lib/group/sl_shares.h);
    //  shares <= 1: every key is ours.
    uint32_t share, shares;
    bool holes; //  the lease's batch has holes for other shares' records (sl_batch.h)
};

//  The state of the key whose msgpack encoding is raw; created (empty)
//  when absent and create is set. NULL when absent, or out of memory.
keyed_key_t *sl_keyed_key_get (sl_keyed_t *self, const uint8_t *raw, size_t len, bool create);
//  Whether a key belongs to the share in hand (always, without shares).
bool sl_keyed_key_mine (const sl_keyed_t *self, const uint8_t *raw, size_t len);

#endif
