/*  keyed_int.h - the keyed member's internals, shared by keyed.c (the
    operator and its key states) and keyed_restore.c (reading the states
    back from the broker when a share is taken over).
*/
#ifndef SL_WORKER_KEYED_INT_H_INCLUDED
#define SL_WORKER_KEYED_INT_H_INCLUDED

#include <czmq.h>

#include "keyed.h"
#include "keyed_map.h"
#include "lua_state.h"
#include "sl_buf.h"
#include "sl_json.h"
#include "sl_window.h"

typedef struct _sl_kstore_t sl_kstore_t;

typedef struct keyed_key {
    sl_win_key_t *win; //  window mode
    uint8_t *value;    //  Lua state mode: the key's state (msgpack), NULL = none
    size_t value_len;
    uint8_t *raw; //  the key's msgpack encoding (data)
    size_t raw_len;
    int64_t seen_ms; //  last record, processing time (--idle)
    bool dirty;      //  changed by the batch in hand (then not in the LRU list)
    bool in_lru;
    //  The store has a copy (read back, or written out before): RAM's is
    //  the one that counts while the key is in RAM. A key read back stays
    //  stored, so that a miss is one B-tree read, not a read and a delete.
    bool stored;
    struct keyed_key *lru_prev, *lru_next; //  keyed_cache.c: toward more / less recent
    uint32_t hash;                         //  keyed_map.h's of raw
    uint32_t raw_cap;                      //  room for raw in data
    //  raw's bytes, in the key's own block: a new key costs one
    //  allocation, not two (a million keys are a million allocations).
    uint8_t data[];
} keyed_key_t;

struct _sl_keyed_t {
    const sl_worker_config_t *cfg;
    sl_win_t *win;
    sl_keymap_t *keys;      //  the keys in RAM by their encoding
    keyed_key_t *spare_key; //  a dropped key's block, for the next new key
    sl_json_t *json;
    sl_buf_t out, late, state, tmp;
    uint32_t n_out, n_late, n_state;
    size_t out_bytes, late_bytes; //  the output and late parts of out, in bytes
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
    //  The state cache (keyed_cache.c): at most cap keys in RAM besides
    //  those the lease in hand changed; the others in store.
    size_t cap;
    sl_kstore_t *store;
    keyed_key_t *lru_head, *lru_tail;
    sl_buf_t evict, idle_keys, idle_resume;
    uint64_t evicted, loaded;
    int hook_err; //  a store error under a Lua record (the hook cannot return it)
    bool lost;    //  the store failed: every share's states must be restored
};

//  The member-local store of the keys not in RAM (keyed_cache.c); its
//  functions take NULL (none: nothing stored, writes fail).
//  A fresh LMDB environment under $TMPDIR, its files already unlinked.
sl_kstore_t *sl_kstore_new (void);
void sl_kstore_destroy (sl_kstore_t **self_p);
size_t sl_kstore_count (const sl_kstore_t *self);
int sl_kstore_commit (sl_kstore_t *self);
//  Stores a key's state (replacing it); open: it has open windows,
//  indexed for --idle when index is set.
int sl_kstore_put (sl_kstore_t *self, const uint8_t *raw, size_t len, int64_t seen_ms, bool open,
                   bool index, const uint8_t *state, size_t state_len);
//  A stored key's state: 1 with it in out (take: removed from the store;
//  get: kept there), 0 when it is not stored.
int sl_kstore_take (sl_kstore_t *self, const uint8_t *raw, size_t len, int64_t *seen_ms, bool *open,
                    sl_buf_t *out);
int sl_kstore_get (sl_kstore_t *self, const uint8_t *raw, size_t len, int64_t *seen_ms, bool *open,
                   sl_buf_t *out);
int sl_kstore_idle (sl_kstore_t *self, int64_t before_ms, size_t max, sl_buf_t *out, size_t *n,
                    sl_buf_t *resume);
int sl_kstore_purge (sl_kstore_t *self, bool (*mine) (void *ctx, const uint8_t *raw, size_t len),
                     void *ctx);

//  The LRU list over the keys in RAM (keyed_cache.c).
void sl_keyed_cache_touch (sl_keyed_t *self, keyed_key_t *key);
void sl_keyed_cache_forget (sl_keyed_t *self, keyed_key_t *key);
void sl_keyed_cache_forget_all (sl_keyed_t *self);
int sl_keyed_cache_trim (sl_keyed_t *self, size_t cap);
keyed_key_t *sl_keyed_cache_load (sl_keyed_t *self, const uint8_t *raw, size_t len, int *err);
//  After a failure that may have lost store writes: drops every state
//  (RAM and store) and sets lost. Returns rc.
int sl_keyed_lose (sl_keyed_t *self, int rc);
//  A new empty key state in RAM (most recently used).
keyed_key_t *sl_keyed_key_new (sl_keyed_t *self, const uint8_t *raw, size_t len);

//  The state of the key whose msgpack encoding is raw; created (empty)
//  when absent and create is set; read back from the store if it is
//  there. NULL when absent, or on an error (*err, may be NULL).
keyed_key_t *sl_keyed_key_get (sl_keyed_t *self, const uint8_t *raw, size_t len, bool create,
                               int *err);
//  Whether a key belongs to the share in hand (always, without shares).
bool sl_keyed_key_mine (const sl_keyed_t *self, const uint8_t *raw, size_t len);

#endif
