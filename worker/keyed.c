/*  keyed.c - the keyed member's operator and state (keyed.h).

    Key states live in a hash by the key's encoded msgpack value, at most
    --state-cache of them besides those the lease in hand changed; the
    least recently used others wait in a local store (keyed_cache.c). A state
    record of a RESULT has that encoding as its (bin) key and the window
    state (sl_win_key_encode) or the Lua state as its value; the broker
    keeps the latest per key (its state table) and appends each to
    GROUP.state. Reading them back is keyed_restore.c.
*/
#include "keyed.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_batch.h"
#include "sl_error.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_proto.h"
#include "sl_shares.h"
#include "sl_shares_key.h"
#include "sl_util.h"
#include "sl_window.h"

#include "keyed_int.h"
#include "lua_state.h"

#define S_KEY_ROOM 24 //  the least room for a key's encoding in its block

//  A key dropped from RAM: its block kept for the next new key when none
//  is, its windows to the operator's spares (a key out and a key in per
//  record at 1,000,000 keys: BENCHMARKS.md).
static void
s_key_destroy (void *ctx, keyed_key_t *key)
{
    sl_keyed_t *self = ctx;
    if (!key) {
        return;
    }
    if (self->win) {
        sl_win_key_release (self->win, &key->win);
    }
    sl_win_key_destroy (&key->win);
    free (key->value);
    key->value = NULL;
    if (!self->spare_key) {
        self->spare_key = key;
        return;
    }
    free (key);
}

sl_keyed_t *
sl_keyed_new (const sl_worker_config_t *cfg, char *why, size_t why_size)
{
    sl_win_spec_t spec;
    sl_agg_t aggs[SL_WIN_MAX_AGGS];
    size_t n_aggs = 0;
    const char *reason = NULL;
    if (!cfg->key || !cfg->key[0] || strlen (cfg->key) > SL_WIN_KEY_MAX) {
        reason = "--key needs a PATH (1..128 bytes) or 'record'";
    }
    else if (!cfg->window_spec) {
        //  Lua state mode: the operator keeps per-key state itself.
        memset (&spec, 0, sizeof spec);
        spec.kind = SL_WIN_TUMBLING;
        spec.size = spec.advance = 1;
    }
    else if (sl_win_spec_parse (cfg->window_spec, &spec, &reason) == 0 &&
             sl_agg_parse (cfg->agg ? cfg->agg : "count", aggs, &n_aggs, &reason) == 0) {
        reason = NULL;
    }
    if (reason) {
        snprintf (why, why_size, "%s", reason);
        return NULL;
    }
    sl_keyed_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (why, why_size, "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    self->lua = !cfg->window_spec;
    self->win = sl_win_new (&spec, cfg->lateness_ms, aggs, n_aggs);
    self->keys = sl_keymap_new (s_key_destroy, self);
    self->json = sl_json_new ();
    self->cap = cfg->state_cache ? cfg->state_cache : SL_KEYED_STATE_CACHE;
    if (!self->win || !self->keys || !self->json) {
        sl_keyed_destroy (&self);
        snprintf (why, why_size, "out of memory");
        return NULL;
    }
    sl_buf_init (&self->out, 0);
    sl_buf_init (&self->late, 0);
    sl_buf_init (&self->state, 0);
    sl_buf_init (&self->tmp, 0);
    sl_buf_init (&self->pending_value, SL_LUA_STATE_MAX);
    sl_buf_init (&self->evict, 0);
    sl_buf_init (&self->idle_keys, 0);
    sl_buf_init (&self->idle_resume, 0);
    return self;
}

void
sl_keyed_destroy (sl_keyed_t **self_p)
{
    sl_keyed_t *self = *self_p;
    if (!self) {
        return;
    }
    if (self->store) {
        sl_info ("worker",
                 "state cache: %zu key states in memory, %zu in the local store; %" PRIu64
                 " written out, %" PRIu64 " read back",
                 sl_keymap_size (self->keys), sl_kstore_count (self->store), self->evicted,
                 self->loaded);
    }
    sl_keymap_destroy (&self->keys); //  before the operator its keys go back to
    free (self->spare_key);
    sl_win_destroy (&self->win);
    sl_kstore_destroy (&self->store);
    sl_buf_free (&self->evict);
    sl_buf_free (&self->idle_keys);
    sl_buf_free (&self->idle_resume);
    sl_json_destroy (&self->json);
    sl_buf_free (&self->out);
    sl_buf_free (&self->late);
    sl_buf_free (&self->state);
    sl_buf_free (&self->tmp);
    sl_buf_free (&self->pending_value);
    if (self->lua) {
        sl_lua_state_set_hook (NULL);
    }
    free (self->failed);
    free (self->dirty);
    free (self);
    *self_p = NULL;
}

size_t
sl_keyed_keys (sl_keyed_t *self)
{
    return self->keys ? sl_keymap_size (self->keys) : 0;
}

static keyed_key_t *
s_key_new (sl_keyed_t *self, const uint8_t *raw, size_t len, uint32_t hash)
{
    size_t room = len > S_KEY_ROOM ? len : S_KEY_ROOM;
    keyed_key_t *key = self->spare_key;
    if (key && key->raw_cap >= len) {
        self->spare_key = NULL;
        room = key->raw_cap;
        memset (key, 0, sizeof *key);
    }
    else {
        key = calloc (1, sizeof *key + room);
    }
    if (key) {
        key->raw_cap = (uint32_t)room;
        key->win = self->lua ? NULL : sl_win_key_take (self->win);
    }
    if (!key || (!self->lua && !key->win)) {
        s_key_destroy (self, key);
        return NULL;
    }
    key->raw = key->data;
    memcpy (key->raw, raw, len);
    key->raw_len = len;
    key->hash = hash;
    if (sl_keymap_insert (self->keys, key) != 0) {
        s_key_destroy (self, key);
        return NULL;
    }
    sl_keyed_cache_touch (self, key);
    return key;
}

keyed_key_t *
sl_keyed_key_new (sl_keyed_t *self, const uint8_t *raw, size_t len)
{
    return s_key_new (self, raw, len, sl_keymap_hash (raw, len));
}

keyed_key_t *
sl_keyed_key_get (sl_keyed_t *self, const uint8_t *raw, size_t len, bool create, int *err)
{
    int dummy;
    err = err ? err : &dummy;
    *err = 0;
    uint32_t hash = sl_keymap_hash (raw, len);
    keyed_key_t *key = sl_keymap_find (self->keys, raw, len, hash);
    if (key) {
        sl_keyed_cache_touch (self, key);
        return key;
    }
    //  Room first: the key comes in as the most recently used.
    *err = sl_keyed_cache_trim (self, self->cap - 1);
    key = *err ? NULL : sl_keyed_cache_load (self, raw, len, err);
    if (key || *err || !create) {
        return key;
    }
    key = s_key_new (self, raw, len, hash);
    *err = key ? 0 : SL_ENOMEM;
    return key;
}

//  A key the lease in hand changed goes back to the LRU list once its
//  state record is written.
static void
s_undirty (sl_keyed_t *self, keyed_key_t *key)
{
    key->dirty = false;
    sl_keyed_cache_touch (self, key);
}

//  Marks a key changed: its state goes into this batch's RESULT. The
//  list keeps the cost per batch to the keys it touched, not all keys.
static int
s_dirty (sl_keyed_t *self, keyed_key_t *key)
{
    if (key->dirty) {
        return 0;
    }
    if (self->n_dirty == self->cap_dirty) {
        size_t cap = self->cap_dirty ? self->cap_dirty * 2 : 256;
        keyed_key_t **dirty = realloc (self->dirty, cap * sizeof *dirty);
        if (!dirty) {
            return SL_ENOMEM;
        }
        self->dirty = dirty;
        self->cap_dirty = cap;
    }
    self->dirty[self->n_dirty++] = key;
    key->dirty = true;
    sl_keyed_cache_touch (self, key); //  out of the LRU list: pinned
    return 0;
}

static int
s_fail (sl_keyed_t *self, uint64_t offset, const char *text)
{
    if (self->n_failed == self->cap_failed) {
        size_t cap = self->cap_failed ? self->cap_failed * 2 : 16;
        sl_worker_failure_t *f = realloc (self->failed, cap * sizeof *f);
        if (!f) {
            return SL_ENOMEM;
        }
        self->failed = f;
        self->cap_failed = cap;
    }
    sl_worker_failure_t *f = &self->failed[self->n_failed++];
    f->offset = offset;
    f->final = true;
    sl_copy_text (f->text, sizeof f->text, text);
    return 0;
}

//  The record key of a result: the group key's text (a str key as it is,
//  a bin key as bin, anything else as its JSON text).
static int
s_emit (void *ctx, int64_t start, int64_t end, const uint8_t *value, size_t len)
{
    (void)start;
    sl_keyed_t *self = ctx;
    const keyed_key_t *key = self->current;
    const uint8_t *p = key->raw, *kend = key->raw + key->raw_len;
    const uint8_t *bytes;
    uint32_t n;
    bool is_bin = false;
    if (sl_mp_read_str (&p, kend, &bytes, &n) != 0) {
        p = key->raw;
        if (sl_mp_read_bin (&p, kend, &bytes, &n) == 0) {
            is_bin = true;
        }
        else {
            sl_buf_reset (&self->tmp);
            int rc = sl_msgpack_to_json (self->json, key->raw, key->raw_len, &self->tmp);
            if (rc) {
                return rc;
            }
            bytes = self->tmp.data;
            n = (uint32_t)self->tmp.len;
        }
    }
    int rc = sl_record_encode (&self->out, end, bytes, n, is_bin, NULL, 0, value, len);
    if (rc == 0) {
        self->n_out++;
    }
    return rc;
}

//  The group key of a record, as an encoded msgpack value in tmp or
//  pointing into the record. 1 found, 0 absent.
static int
s_group_key (sl_keyed_t *self, const sl_record_t *record, const uint8_t **raw, size_t *len)
{
    //  The function the broker cuts a share's WORK with (lib/group): built
    //  keys go to tmp.
    return sl_shares_key (self->cfg->key, record, &self->tmp, raw, len);
}

static int
s_event_time (sl_keyed_t *self, const sl_record_t *record, int64_t *t)
{
    const char *time = self->cfg->time;
    if (!time || strcmp (time, "record") == 0) {
        *t = record->timestamp;
        return 0;
    }
    const uint8_t *raw;
    size_t len;
    if (sl_mp_path (record->value, record->value_len, time, &raw, &len) != 1) {
        return SL_ENOTFOUND;
    }
    return sl_win_time_of (raw, len, t);
}

void
sl_keyed_set_holes (sl_keyed_t *self, bool holes)
{
    self->holes = holes;
}

void
sl_keyed_set_share (sl_keyed_t *self, uint32_t share, uint32_t shares)
{
    self->share = share;
    self->shares = shares;
}

bool
sl_keyed_key_mine (const sl_keyed_t *self, const uint8_t *raw, size_t len)
{
    return self->shares <= 1 || sl_shares_of (raw, len, self->shares) == self->share;
}

//  Whether a record is of the share in hand. One without a key (or with a
//  malformed value) is share 0's, so that it fails once, not once a share.
static bool
s_mine (sl_keyed_t *self, const sl_record_t *record)
{
    if (self->shares <= 1) {
        return true;
    }
    const uint8_t *raw;
    size_t raw_len;
    if (s_group_key (self, record, &raw, &raw_len) != 1 || raw_len > SL_KEYED_MAX_KEY) {
        return self->share == 0;
    }
    return sl_keyed_key_mine (self, raw, raw_len);
}

static int
s_record (sl_keyed_t *self, const sl_record_t *record, int64_t now)
{
    const uint8_t *raw;
    size_t raw_len;
    char text[300];
    int rc = s_group_key (self, record, &raw, &raw_len);
    //  Another share's record (the broker sends them as holes; this
    //  checks what it sends) is acked with the lease: its owner processes
    //  it. One without a key is share 0's, as s_mine says; the key is
    //  found once for both.
    bool keyed = rc == 1 && raw_len <= SL_KEYED_MAX_KEY;
    if (self->shares > 1 && (keyed ? !sl_keyed_key_mine (self, raw, raw_len) : self->share != 0)) {
        return 0;
    }
    if (rc < 0) {
        return rc == SL_ENOMEM ? rc : s_fail (self, record->offset, "malformed record value");
    }
    if (rc == 0 || raw_len > SL_KEYED_MAX_KEY) {
        snprintf (text, sizeof text,
                  rc == 0 ? "no group key '%s' in the record"
                          : "group key '%s' longer than 256 bytes",
                  self->cfg->key);
        return s_fail (self, record->offset, text);
    }
    int64_t t;
    if (s_event_time (self, record, &t) != 0) {
        snprintf (text, sizeof text, "no event time in field '%s' (epoch ms or RFC 3339)",
                  self->cfg->time);
        return s_fail (self, record->offset, text);
    }
    keyed_key_t *key = sl_keyed_key_get (self, raw, raw_len, true, &rc);
    if (!key) {
        return rc ? rc : SL_ENOMEM;
    }
    self->current = key;
    bool late = false;
    size_t out_mark = self->out.len;
    uint32_t n_mark = self->n_out;
    rc = sl_win_add (self->win, key->win, key->raw, key->raw_len, t, record->value,
                     record->value_len, record->offset, &late, s_emit, self);
    if (rc == SL_ETOOBIG || rc == SL_ERANGE) {
        self->out.len = out_mark;
        self->n_out = n_mark;
        return s_fail (self, record->offset,
                       rc == SL_ETOOBIG
                           ? "key has 4096 open windows: lateness too large for the window"
                           : "event time out of range");
    }
    if (rc) {
        return rc;
    }
    key->seen_ms = now;
    if (late) {
        rc = sl_buf_append (&self->late, record->raw, record->raw_len);
        self->n_late += rc == 0;
        return rc;
    }
    return s_dirty (self, key);
}

//  One key's state record into the RESULT's states.
static int
s_state_record (sl_keyed_t *self, keyed_key_t *key)
{
    sl_buf_reset (&self->tmp);
    int rc = 0;
    if (self->lua) {
        //  A deleted state is written as nil.
        static const uint8_t nil = 0xc0;
        rc = key->value ? sl_buf_append (&self->tmp, key->value, key->value_len)
                        : sl_buf_append (&self->tmp, &nil, 1);
    }
    else {
        rc = sl_win_key_encode (self->win, key->win, &self->tmp);
    }
    rc = rc ? rc
            : sl_record_encode (&self->state, 0, key->raw, (uint32_t)key->raw_len, true, NULL, 0,
                                self->tmp.data, self->tmp.len);
    self->n_state += rc == 0;
    return rc;
}

//  Closes a key's windows when it has been silent for --idle.
static int
s_idle_key (sl_keyed_t *self, keyed_key_t *key, int64_t now, bool stored)
{
    if (!sl_win_key_open (key->win) || now - key->seen_ms < self->cfg->idle_ms ||
        !sl_keyed_key_mine (self, key->raw, key->raw_len)) {
        return 0;
    }
    self->current = key;
    int rc = sl_win_close_all (self->win, key->win, key->raw, key->raw_len, s_emit, self);
    if (rc || !stored) {
        return rc ? rc : s_dirty (self, key);
    }
    //  A key read back from the store for this: its state record now, so
    //  that it is not pinned in RAM until the end of the lease.
    return s_state_record (self, key);
}

//  --idle: keys silent that long (processing time) close their windows:
//  those in RAM, then those in the store (by its index of keys with open
//  windows, only the ones due).
static int
s_idle (sl_keyed_t *self, int64_t now)
{
    if (self->cfg->idle_ms <= 0) {
        return 0;
    }
    size_t at = 0;
    for (keyed_key_t *key; (key = sl_keymap_next (self->keys, &at));) {
        //  Only the share in hand: another share's keys may have moved to
        //  another member, whose results they are now.
        int rc = s_idle_key (self, key, now, false);
        if (rc) {
            return rc;
        }
    }
    sl_buf_reset (&self->idle_resume);
    size_t n;
    do {
        int rc = sl_kstore_idle (self->store, now - self->cfg->idle_ms, 256, &self->idle_keys, &n,
                                 &self->idle_resume);
        const uint8_t *p = self->idle_keys.data;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            size_t len = (size_t)p[0] + 1;
            const uint8_t *raw = p + 1;
            p += 1 + len;
            if (!sl_keyed_key_mine (self, raw, len)) {
                continue;
            }
            keyed_key_t *key = sl_keyed_key_get (self, raw, len, false, &rc);
            //  (A key the lease changed has its record written at the end.)
            rc = key ? s_idle_key (self, key, now, !key->dirty) : rc;
        }
        if (rc) {
            return rc;
        }
    } while (n > 0);
    return 0;
}

static int
s_states (sl_keyed_t *self)
{
    for (size_t i = 0; i < self->n_dirty; i++) {
        keyed_key_t *key = self->dirty[i];
        s_undirty (self, key);
        int rc = s_state_record (self, key);
        if (rc) {
            return rc;
        }
    }
    self->n_dirty = 0;
    //  Back to at most --state-cache keys in RAM.
    int rc = sl_keyed_cache_trim (self, self->cap);
    return rc ? rc : sl_kstore_commit (self->store);
}

//  After a failed lease: the store may have lost writes (an aborted
//  transaction), so every state is dropped and each share restores from
//  the broker's table at its next lease (sl_keyed_take_lost).
int
sl_keyed_lose (sl_keyed_t *self, int rc)
{
    for (size_t i = 0; i < self->n_dirty; i++) {
        self->dirty[i]->dirty = false;
    }
    self->n_dirty = 0;
    self->current = NULL;
    sl_keyed_cache_forget_all (self);
    sl_kstore_destroy (&self->store);
    self->store = sl_kstore_new ();
    self->lost = true;
    return rc;
}

int
sl_keyed_open_store (sl_keyed_t *self)
{
    if (!self->store) {
        self->store = sl_kstore_new ();
    }
    return self->store ? 0 : SL_ESTORE;
}

bool
sl_keyed_take_lost (sl_keyed_t *self)
{
    bool lost = self->lost;
    self->lost = false;
    return lost;
}

int
sl_keyed_batch (sl_keyed_t *self, const uint8_t *data, size_t len, uint32_t count, uint64_t offset)
{
    sl_buf_reset (&self->out);
    sl_buf_reset (&self->late);
    sl_buf_reset (&self->state);
    self->n_out = self->n_late = self->n_state = 0;
    self->n_failed = 0;
    for (size_t i = 0; i < self->n_dirty; i++) {
        s_undirty (self, self->dirty[i]);
    }
    self->n_dirty = 0;
    int64_t now = zclock_time ();
    sl_record_iter_t it;
    sl_record_iter_init (&it, data, len, count, offset);
    it.holes = self->holes;
    int rc = 0;
    sl_record_t record;
    while (rc == 0 && sl_record_iter_next (&it, &record) == 1) {
        rc = s_record (self, &record, now); //  only the share in hand's (s_record)
    }
    //  Records the batch does not hold are failed: it is malformed. Holes
    //  count as held: the iterator's offset covers them.
    uint32_t seen = (uint32_t)(it.next_offset - offset);
    for (uint32_t i = seen; rc == 0 && i < count; i++) {
        rc = s_fail (self, offset + i, "malformed record in the lease");
    }
    rc = rc ? rc : s_idle (self, now);
    rc = rc ? rc : s_states (self);
    if (rc == 0) {
        //  One buffer: results, then late records, then states.
        self->out_bytes = self->out.len;
        self->late_bytes = self->late.len;
        rc = sl_buf_append (&self->out, self->late.data, self->late.len);
        rc = rc ? rc : sl_buf_append (&self->out, self->state.data, self->state.len);
    }
    return rc ? sl_keyed_lose (self, rc) : 0;
}

const uint8_t *
sl_keyed_output (sl_keyed_t *self, size_t *len, uint32_t *out_count, uint32_t *late_count,
                 uint32_t *state_count)
{
    *len = self->out.len;
    *out_count = self->n_out;
    *late_count = self->n_late;
    *state_count = self->n_state;
    return self->out.data;
}

void
sl_keyed_part_bytes (sl_keyed_t *self, size_t *out_bytes, size_t *late_bytes)
{
    *out_bytes = self->out_bytes;
    *late_bytes = self->late_bytes;
}

size_t
sl_keyed_n_failed (sl_keyed_t *self)
{
    return self->n_failed;
}

const sl_worker_failure_t *
sl_keyed_failed (sl_keyed_t *self, size_t index)
{
    return index < self->n_failed ? &self->failed[index] : NULL;
}

//  ---------------------------------------------------------------------
//  Lua state mode: the record hook (proc.c) and state.get / state.set.

static int
s_state_get (void *ctx, const uint8_t **data, size_t *len, const char **why)
{
    sl_keyed_t *self = ctx;
    if (!self->current) {
        *why = self->no_key;
        return SL_ENOTFOUND;
    }
    if (self->pending) {
        *data = self->pending_value.data;
        *len = self->pending_value.len;
        return self->pending_delete ? 0 : 1;
    }
    *data = self->current->value;
    *len = self->current->value_len;
    return self->current->value ? 1 : 0;
}

static int
s_state_set (void *ctx, const uint8_t *data, size_t len, const char **why)
{
    sl_keyed_t *self = ctx;
    if (!self->current) {
        *why = self->no_key;
        return SL_ENOTFOUND;
    }
    sl_buf_reset (&self->pending_value);
    if (data && sl_buf_append (&self->pending_value, data, len) != 0) {
        *why = "state larger than 65536 bytes";
        return SL_ETOOBIG;
    }
    self->pending = true;
    self->pending_delete = data == NULL;
    return 0;
}

//  Before a record (result -1): finds its key. After it: keeps what it
//  set if it did not fail.
static void
s_record_hook (void *ctx, const sl_op_record_t *in, int result)
{
    sl_keyed_t *self = ctx;
    if (result < 0) {
        self->pending = false;
        self->current = NULL;
        sl_record_t record;
        memset (&record, 0, sizeof record);
        record.key = in->key;
        record.key_len = in->key_len;
        record.key_is_bin = in->key_is_bin;
        record.value = in->value;
        record.value_len = in->value_len;
        const uint8_t *raw;
        size_t raw_len;
        int rc = s_group_key (self, &record, &raw, &raw_len);
        if (rc == 1 && raw_len <= SL_KEYED_MAX_KEY) {
            int err = 0;
            self->current = sl_keyed_key_get (self, raw, raw_len, true, &err);
            self->hook_err = self->hook_err ? self->hook_err : err;
        }
        snprintf (self->no_key_text, sizeof self->no_key_text, "no group key '%s' in the record",
                  self->cfg->key);
        self->no_key = self->no_key_text;
        return;
    }
    keyed_key_t *key = self->current;
    if (key && self->pending && result == SL_OP_OK) {
        free (key->value);
        key->value = NULL;
        key->value_len = 0;
        if (!self->pending_delete) {
            key->value = malloc (self->pending_value.len ? self->pending_value.len : 1);
            if (key->value) {
                memcpy (key->value, self->pending_value.data, self->pending_value.len);
                key->value_len = self->pending_value.len;
            }
        }
        if (s_dirty (self, key) != 0) {
            sl_warn ("worker", "out of memory: a key state change is lost for this lease");
        }
    }
    self->pending = false;
    self->current = NULL;
}

//  The host's filter (Lua state mode): only the share in hand's records.
static bool
s_keep (void *ctx, const sl_op_record_t *in)
{
    sl_keyed_t *self = ctx;
    sl_record_t record;
    memset (&record, 0, sizeof record);
    record.key = in->key;
    record.key_len = in->key_len;
    record.key_is_bin = in->key_is_bin;
    record.value = in->value;
    record.value_len = in->value_len;
    return s_mine (self, &record);
}

void
sl_keyed_attach_filter (sl_keyed_t *self, sl_worker_proc_t *proc)
{
    sl_worker_proc_set_filter (proc, s_keep, self);
}

void
sl_keyed_attach (sl_keyed_t *self, sl_worker_proc_t *proc)
{
    sl_worker_proc_set_filter (proc, s_keep, self);
    self->hook = (sl_lua_state_hook_t){.ctx = self, .get = s_state_get, .set = s_state_set};
    sl_lua_state_set_hook (&self->hook);
    sl_worker_proc_set_record_hook (proc, s_record_hook, self);
}

bool
sl_keyed_is_lua (sl_keyed_t *self)
{
    return self->lua;
}

int
sl_keyed_finish (sl_keyed_t *self, const uint8_t *out, size_t len, uint32_t count)
{
    sl_buf_reset (&self->out);
    sl_buf_reset (&self->state);
    self->n_late = self->n_state = 0;
    self->n_out = count;
    self->n_failed = 0;
    //  The state store failed under a record: its state is not what the
    //  operator saw, so the lease is redone from restored states.
    int rc = self->hook_err;
    self->hook_err = 0;
    rc = rc ? rc : sl_buf_append (&self->out, out, len);
    self->out_bytes = len;
    self->late_bytes = 0;
    rc = rc ? rc : s_states (self);
    rc = rc ? rc : sl_buf_append (&self->out, self->state.data, self->state.len);
    return rc ? sl_keyed_lose (self, rc) : 0;
}
