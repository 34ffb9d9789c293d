/*  keyed.c - the keyed member's operator and state (keyed.h).

    Key states live in a hash by the key's encoded msgpack value. A state
    record in GROUP.state has that encoding as its (bin) key and the
    window state (sl_win_key_encode) as its value; the last record of a
    key is its state.
*/
#include "keyed.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_batch.h"
#include "sl_client.h"
#include "sl_error.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_proto.h"
#include "sl_shares.h"
#include "sl_shares_key.h"
#include "sl_util.h"
#include "sl_version.h"
#include "sl_window.h"

#include "lua_state.h"

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
} s_key_t;

struct _sl_keyed_t {
    const sl_worker_config_t *cfg;
    sl_win_t *win;
    zhashx_t *keys; //  hex of the encoded key -> s_key_t
    sl_json_t *json;
    sl_buf_t out, late, state, text, tmp;
    uint32_t n_out, n_late, n_state;
    sl_worker_failure_t *failed;
    size_t n_failed, cap_failed;
    s_key_t **dirty; //  keys changed by the batch in hand, each once
    size_t n_dirty, cap_dirty;
    //  The record being processed, for the emit callback and the Lua hook.
    s_key_t *current;
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

static void
s_key_destroy (void **item)
{
    s_key_t *key = *item;
    if (key) {
        sl_win_key_destroy (&key->win);
        free (key->value);
        free (key);
        *item = NULL;
    }
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
    self->keys = zhashx_new ();
    self->json = sl_json_new ();
    if (!self->win || !self->keys || !self->json) {
        sl_keyed_destroy (&self);
        snprintf (why, why_size, "out of memory");
        return NULL;
    }
    zhashx_set_destructor (self->keys, s_key_destroy);
    zhashx_set_key_duplicator (self->keys, NULL); //  the name lives in the s_key_t
    zhashx_set_key_destructor (self->keys, NULL);
    sl_buf_init (&self->out, 0);
    sl_buf_init (&self->late, 0);
    sl_buf_init (&self->state, 0);
    sl_buf_init (&self->text, 0);
    sl_buf_init (&self->tmp, 0);
    sl_buf_init (&self->pending_value, SL_LUA_STATE_MAX);
    return self;
}

void
sl_keyed_destroy (sl_keyed_t **self_p)
{
    sl_keyed_t *self = *self_p;
    if (!self) {
        return;
    }
    sl_win_destroy (&self->win);
    zhashx_destroy (&self->keys);
    sl_json_destroy (&self->json);
    sl_buf_free (&self->out);
    sl_buf_free (&self->late);
    sl_buf_free (&self->state);
    sl_buf_free (&self->text);
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
    return zhashx_size (self->keys);
}

//  The hash's name for an encoded key: its hex (text is reset first).
static const char *
s_hex (sl_keyed_t *self, const uint8_t *raw, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    sl_buf_reset (&self->text);
    if (sl_buf_reserve (&self->text, len * 2 + 1) != 0) {
        return NULL;
    }
    char *p = (char *)self->text.data;
    for (size_t i = 0; i < len; i++) {
        *p++ = digits[raw[i] >> 4];
        *p++ = digits[raw[i] & 15];
    }
    *p = '\0';
    return (const char *)self->text.data;
}

static s_key_t *
s_key_get (sl_keyed_t *self, const uint8_t *raw, size_t len, bool create)
{
    const char *name = s_hex (self, raw, len);
    if (!name) {
        return NULL;
    }
    s_key_t *key = zhashx_lookup (self->keys, name);
    if (key || !create) {
        return key;
    }
    size_t name_len = 2 * len;
    key = calloc (1, sizeof *key + name_len + 1 + len);
    if (key) {
        key->win = self->lua ? NULL : sl_win_key_new ();
    }
    if (!key || (!self->lua && !key->win)) {
        void *item = key;
        s_key_destroy (&item);
        return NULL;
    }
    memcpy (key->name, name, name_len + 1);
    key->raw = (uint8_t *)key->name + name_len + 1;
    memcpy (key->raw, raw, len);
    key->raw_len = len;
    zhashx_insert (self->keys, key->name, key);
    return key;
}

//  Marks a key changed: its state goes into this batch's RESULT. The
//  list keeps the cost per batch to the keys it touched, not all keys.
static int
s_dirty (sl_keyed_t *self, s_key_t *key)
{
    if (key->dirty) {
        return 0;
    }
    if (self->n_dirty == self->cap_dirty) {
        size_t cap = self->cap_dirty ? self->cap_dirty * 2 : 256;
        s_key_t **dirty = realloc (self->dirty, cap * sizeof *dirty);
        if (!dirty) {
            return SL_ENOMEM;
        }
        self->dirty = dirty;
        self->cap_dirty = cap;
    }
    self->dirty[self->n_dirty++] = key;
    key->dirty = true;
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
    snprintf (f->text, sizeof f->text, "%s", text);
    return 0;
}

//  The record key of a result: the group key's text (a str key as it is,
//  a bin key as bin, anything else as its JSON text).
static int
s_emit (void *ctx, int64_t start, int64_t end, const uint8_t *value, size_t len)
{
    (void)start;
    sl_keyed_t *self = ctx;
    const s_key_t *key = self->current;
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
    //  keys go to tmp (text is reused by s_hex).
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

static bool
s_key_mine (const sl_keyed_t *self, const uint8_t *raw, size_t len)
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
    return s_key_mine (self, raw, raw_len);
}

static int
s_record (sl_keyed_t *self, const sl_record_t *record, int64_t now)
{
    const uint8_t *raw;
    size_t raw_len;
    char text[300];
    int rc = s_group_key (self, record, &raw, &raw_len);
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
    s_key_t *key = s_key_get (self, raw, raw_len, true);
    if (!key) {
        return SL_ENOMEM;
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

//  --idle: keys silent that long (processing time) close their windows.
static int
s_idle (sl_keyed_t *self, int64_t now)
{
    if (self->cfg->idle_ms <= 0) {
        return 0;
    }
    for (s_key_t *key = zhashx_first (self->keys); key; key = zhashx_next (self->keys)) {
        //  Only the share in hand: another share's keys may have moved to
        //  another member, whose results they are now.
        if (sl_win_key_open (key->win) && now - key->seen_ms >= self->cfg->idle_ms &&
            s_key_mine (self, key->raw, key->raw_len)) {
            self->current = key;
            int rc = sl_win_close_all (self->win, key->win, key->raw, key->raw_len, s_emit, self);
            rc = rc ? rc : s_dirty (self, key);
            if (rc) {
                return rc;
            }
        }
    }
    return 0;
}

static int
s_states (sl_keyed_t *self)
{
    for (size_t i = 0; i < self->n_dirty; i++) {
        s_key_t *key = self->dirty[i];
        key->dirty = false;
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
                : sl_record_encode (&self->state, 0, key->raw, (uint32_t)key->raw_len, true, NULL,
                                    0, self->tmp.data, self->tmp.len);
        if (rc) {
            return rc;
        }
        self->n_state++;
    }
    self->n_dirty = 0;
    return 0;
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
        self->dirty[i]->dirty = false;
    }
    self->n_dirty = 0;
    int64_t now = zclock_time ();
    sl_record_iter_t it;
    sl_record_iter_init (&it, data, len, count, offset);
    it.holes = self->holes;
    int rc = 0;
    sl_record_t record;
    while (rc == 0 && sl_record_iter_next (&it, &record) == 1) {
        //  Other shares' records are acked with the lease: their owners
        //  process them from their own share's lease (the broker sends
        //  them as holes; s_mine checks what it sends).
        rc = s_mine (self, &record) ? s_record (self, &record, now) : 0;
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
        rc = sl_buf_append (&self->out, self->late.data, self->late.len);
        rc = rc ? rc : sl_buf_append (&self->out, self->state.data, self->state.len);
    }
    return rc;
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

//  One key's state as restored (from the broker's table or GROUP.state):
//  replaces what the key had. where names it in a log line.
static int
s_restore_one (sl_keyed_t *self, const uint8_t *raw, size_t raw_len, const uint8_t *value,
               size_t value_len, const char *where)
{
    if (self->lua) {
        s_key_t *key = s_key_get (self, raw, raw_len, true);
        if (!key) {
            return SL_ENOMEM;
        }
        free (key->value);
        key->value = NULL;
        key->value_len = 0;
        if (value_len > SL_LUA_STATE_MAX) {
            return SL_ETOOBIG;
        }
        if (!(value_len == 1 && value[0] == 0xc0)) {
            key->value = malloc (value_len);
            if (!key->value) {
                return SL_ENOMEM;
            }
            memcpy (key->value, value, value_len);
            key->value_len = value_len;
        }
        return 0;
    }
    int err = 0;
    sl_win_key_t *win = sl_win_key_decode (self->win, value, value_len, &err);
    if (!win) {
        sl_error ("worker", "state of a key in %s (group %s) does not fit this --window/--agg (%s)",
                  where, self->cfg->group, sl_strerror (err));
        return err;
    }
    s_key_t *key = s_key_get (self, raw, raw_len, true);
    if (!key) {
        sl_win_key_destroy (&win);
        return SL_ENOMEM;
    }
    sl_win_key_destroy (&key->win);
    key->win = win;
    key->seen_ms = zclock_time ();
    return 0;
}

//  One stored blob of GROUP.state: each record replaces its key's state.
static int
s_restore_blob (sl_keyed_t *self, zframe_t *frame, uint64_t *want)
{
    sl_record_iter_t it;
    sl_batch_header_t header;
    int rc = sl_record_iter_init_blob (&it, zframe_data (frame), zframe_size (frame), &header);
    if (rc) {
        return rc;
    }
    sl_record_t record;
    while ((rc = sl_record_iter_next (&it, &record)) == 1) {
        if (record.offset < *want) {
            continue;
        }
        *want = record.offset + 1;
        if (!record.key || record.key_len > SL_KEYED_MAX_KEY ||
            !s_key_mine (self, record.key, record.key_len)) {
            continue;
        }
        rc = s_restore_one (self, record.key, record.key_len, record.value, record.value_len,
                            "GROUP.state");
        if (rc) {
            return rc;
        }
    }
    return rc;
}

//  The share in hand's states from the broker's table (STATE_READ, page by
//  page after the last key read): what a restore costs is the share's live
//  keys, not the history of their changes. *complete false: the broker's
//  table does not hold this group's states (written before it had one):
//  they are read from GROUP.state instead. *read: the states read.
static int
s_restore_table (sl_keyed_t *self, sl_client_t *client, bool *complete, uint64_t *read)
{
    const sl_worker_config_t *cfg = self->cfg;
    uint8_t cursor[SL_KEYED_MAX_KEY];
    size_t cursor_len = 0;
    int rc = 0;
    *complete = true;
    while (rc == 0) {
        sl_msg_t req, reply;
        sl_msg_init (&req, SL_CMD_STATE_READ);
        sl_msg_init (&reply, SL_CMD_NONE);
        snprintf (req.group, sizeof req.group, "%s", cfg->group);
        req.share = self->shares <= 1 ? 0 : self->share;
        zmsg_t *data = NULL;
        rc = sl_client_request_with (client, &req, cursor_len ? cursor : NULL, cursor_len, &reply,
                                     &data, sl_mono_ms () + cfg->timeout_ms * 4);
        if (rc == 0 && reply.cmd != SL_CMD_STATE) {
            rc = SL_EPROTO;
        }
        uint32_t count = rc == 0 ? reply.count : 0;
        *complete = rc == 0 ? reply.found : *complete;
        zframe_t *frame = data ? zmsg_first (data) : NULL;
        if (rc == 0 && count && !frame) {
            rc = SL_EPROTO;
        }
        sl_record_iter_t it;
        sl_record_t record;
        if (rc == 0 && count) {
            sl_record_iter_init (&it, zframe_data (frame), zframe_size (frame), count, 0);
        }
        for (uint32_t i = 0; rc == 0 && i < count; i++) {
            rc = sl_record_iter_next (&it, &record);
            rc = rc == 1 ? 0 : rc == 0 ? SL_EPROTO : rc;
            if (rc == 0 &&
                (!record.key || record.key_len == 0 || record.key_len > SL_KEYED_MAX_KEY)) {
                rc = SL_EPROTO;
            }
            if (rc == 0) {
                memcpy (cursor, record.key, record.key_len);
                cursor_len = record.key_len;
                rc = s_restore_one (self, record.key, record.key_len, record.value,
                                    record.value_len, "the broker's state table");
                *read += rc == 0;
            }
        }
        sl_msg_reset (&req);
        sl_msg_reset (&reply);
        zmsg_destroy (&data);
        if (count == 0 || !*complete) {
            break;
        }
    }
    return rc;
}

int
sl_keyed_restore (sl_keyed_t *self)
{
    const sl_worker_config_t *cfg = self->cfg;
    for (size_t i = 0; i < self->n_dirty; i++) {
        self->dirty[i]->dirty = false;
    }
    self->n_dirty = 0; //  the keys it points at may go now
    if (self->shares <= 1) {
        zhashx_purge (self->keys);
    }
    else {
        //  The share in hand only: the other shares' states in memory are
        //  what their committed results left (their leases come in order).
        zlistx_t *gone = zlistx_new ();
        if (!gone) {
            return SL_ENOMEM;
        }
        for (s_key_t *key = zhashx_first (self->keys); key; key = zhashx_next (self->keys)) {
            if (s_key_mine (self, key->raw, key->raw_len)) {
                zlistx_add_end (gone, key->name);
            }
        }
        for (const char *name = zlistx_first (gone); name; name = zlistx_next (gone)) {
            zhashx_delete (self->keys, name);
        }
        zlistx_destroy (&gone);
    }
    char stream[SL_NAME_MAX + 1];
    snprintf (stream, sizeof stream, "%s.state", cfg->group);
    sl_client_opts_t opts = {.broker = cfg->broker,
                             .software = "sluice-worker/" SLUICE_VERSION,
                             .timeout_ms = cfg->timeout_ms};
    sl_client_t *client = sl_client_new (&opts);
    if (!client) {
        return SL_ENOMEM;
    }
    int64_t started = sl_mono_ms ();
    int rc = sl_client_hello (client, sl_mono_ms () + cfg->timeout_ms * 4);
    bool complete = false;
    uint64_t from_table = 0;
    rc = rc ? rc : s_restore_table (self, client, &complete, &from_table);
    if (rc == 0 && complete) {
        sl_client_destroy (&client);
        sl_info ("worker",
                 "restored %zu key states (%" PRIu64 " of share %u from the broker's table) "
                 "in %" PRId64 " ms",
                 zhashx_size (self->keys), from_table, self->share, sl_mono_ms () - started);
        return 0;
    }
    uint64_t want = 0, blobs = 0;
    while (rc == 0) {
        sl_msg_t req, reply;
        sl_msg_init (&req, SL_CMD_FETCH);
        sl_msg_init (&reply, SL_CMD_NONE);
        snprintf (req.stream, sizeof req.stream, "%s", stream);
        req.offset = want;
        zmsg_t *data = NULL;
        rc = sl_client_request (client, &req, &reply, &data, sl_mono_ms () + cfg->timeout_ms * 4);
        if (rc == 0 && reply.cmd != SL_CMD_RECORDS) {
            rc = SL_EPROTO;
        }
        uint64_t before = want;
        if (rc == 0 && reply.offset > want) {
            want = reply.offset;
        }
        size_t frames = data ? zmsg_size (data) : 0;
        for (zframe_t *f = data ? zmsg_first (data) : NULL; f && rc == 0; f = zmsg_next (data)) {
            rc = s_restore_blob (self, f, &want);
            blobs++;
        }
        sl_msg_reset (&req);
        sl_msg_reset (&reply);
        zmsg_destroy (&data);
        if (frames == 0 || want == before) {
            break;
        }
    }
    sl_client_destroy (&client);
    if (rc) {
        sl_error ("worker", "cannot restore key states from %s: %s", stream, sl_strerror (rc));
        return rc;
    }
    sl_info ("worker", "restored %zu key states from %s (%" PRIu64 " records) in %" PRId64 " ms",
             zhashx_size (self->keys), stream, want, sl_mono_ms () - started);
    return 0;
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
            self->current = s_key_get (self, raw, raw_len, true);
        }
        snprintf (self->no_key_text, sizeof self->no_key_text, "no group key '%s' in the record",
                  self->cfg->key);
        self->no_key = self->no_key_text;
        return;
    }
    s_key_t *key = self->current;
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
    int rc = sl_buf_append (&self->out, out, len);
    rc = rc ? rc : s_states (self);
    rc = rc ? rc : sl_buf_append (&self->out, self->state.data, self->state.len);
    return rc;
}
