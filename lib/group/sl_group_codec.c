/*  sl_group_codec.c - a worker group's bytes: its persistent state, as
    stored in the store's `groups` database (docs/PROTOCOL.md §11), and the
    dead-letter record appended to GROUP.dlq (§14.3). Both are msgpack
    written with lib/codec/sl_mp.h's writers.

    Decoding trusts nothing: the state is walked with sl_mp_skip first
    (every length bounded), each count is bounded by what a group can hold
    past its checkpoint, and every range and offset is checked for order.

    Part of the group module (lib/group/sl_group.c holds the state machine,
    lib/group/sl_group_int.h the shared struct).
*/
#include "sl_group.h"

#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_group_int.h"
#include "sl_mp.h"

//  Most done ranges or attempt entries a decoded state may hold: no more
//  records than that are ever past a checkpoint.
#define S_DECODE_MAX ((size_t)SL_GROUP_MAX_LEASES * SL_GROUP_MAX_BATCH)

//  ---------------------------------------------------------------------
//  Persistent encoding and dead letters

static int
s_put_head (sl_buf_t *buf, size_t (*write) (uint8_t *, size_t, uint32_t), uint32_t value)
{
    int rc = sl_buf_reserve (buf, 5);
    if (rc == 0) {
        buf->len += write (buf->data + buf->len, buf->cap - buf->len, value);
    }
    return rc;
}

static int
s_put_uint (sl_buf_t *buf, uint64_t value)
{
    int rc = sl_buf_reserve (buf, 9);
    if (rc == 0) {
        buf->len += sl_mp_write_uint (buf->data + buf->len, buf->cap - buf->len, value);
    }
    return rc;
}

static int
s_put_int (sl_buf_t *buf, int64_t value)
{
    int rc = sl_buf_reserve (buf, 9);
    if (rc == 0) {
        buf->len += sl_mp_write_int (buf->data + buf->len, buf->cap - buf->len, value);
    }
    return rc;
}

static int
s_put_bytes (sl_buf_t *buf, const void *data, size_t len, bool bin)
{
    if (len > UINT32_MAX) {
        return SL_ETOOBIG;
    }
    int rc = s_put_head (buf, bin ? sl_mp_write_bin_header : sl_mp_write_str_header, (uint32_t)len);
    return rc ? rc : sl_buf_append (buf, data, len);
}

static int
s_put_str (sl_buf_t *buf, const char *str)
{
    return s_put_bytes (buf, str, strlen (str), false);
}

//  Raw msgpack, or nil when there is none.
static int
s_put_raw (sl_buf_t *buf, const uint8_t *data, size_t len)
{
    static const uint8_t nil = 0xc0;
    return data && len ? sl_buf_append (buf, data, len) : sl_buf_append (buf, &nil, 1);
}

static int
s_encode (const sl_group_t *self, sl_buf_t *out)
{
    int rc = s_put_head (out, sl_mp_write_map, 8);
    rc = rc ? rc : s_put_str (out, "v");
    rc = rc ? rc : s_put_uint (out, 1);
    rc = rc ? rc : s_put_str (out, "in");
    rc = rc ? rc : s_put_str (out, self->config.in);
    rc = rc ? rc : s_put_str (out, "out");
    rc = rc ? rc : s_put_str (out, self->config.out);
    rc = rc ? rc : s_put_str (out, "max_deliver");
    rc = rc ? rc : s_put_uint (out, self->config.max_deliver);
    rc = rc ? rc : s_put_str (out, "lease_ms");
    rc = rc ? rc : s_put_uint (out, self->config.lease_ms);
    rc = rc ? rc : s_put_str (out, "checkpoint");
    rc = rc ? rc : s_put_uint (out, self->checkpoint);
    rc = rc ? rc : s_put_str (out, "done");
    rc = rc ? rc : s_put_head (out, sl_mp_write_array, (uint32_t)self->n_done);
    for (size_t i = 0; rc == 0 && i < self->n_done; i++) {
        rc = s_put_head (out, sl_mp_write_array, 2);
        rc = rc ? rc : s_put_uint (out, self->done[i].start);
        rc = rc ? rc : s_put_uint (out, self->done[i].end);
    }
    rc = rc ? rc : s_put_str (out, "attempts");
    rc = rc ? rc : s_put_head (out, sl_mp_write_array, (uint32_t)self->n_attempts);
    for (size_t i = 0; rc == 0 && i < self->n_attempts; i++) {
        rc = s_put_head (out, sl_mp_write_array, 3);
        rc = rc ? rc : s_put_uint (out, self->attempts[i].offset);
        rc = rc ? rc : s_put_uint (out, self->attempts[i].n);
        rc = rc ? rc : s_put_str (out, self->attempts[i].error);
    }
    return rc;
}

int
sl_group_encode (const sl_group_t *self, sl_buf_t *out)
{
    size_t start = out->len;
    int rc = s_encode (self, out);
    if (rc) {
        out->len = start;
    }
    return rc;
}

static bool
s_key_is (const uint8_t *key, uint32_t len, const char *name)
{
    return strlen (name) == len && memcmp (key, name, len) == 0;
}

//  Reads a str into a name buffer of SL_NAME_MAX + 1 bytes.
static int
s_read_name (const uint8_t **p, const uint8_t *end, char *out)
{
    const uint8_t *str;
    uint32_t len;
    if (sl_mp_read_str (p, end, &str, &len) || !sl_name_valid ((const char *)str, len)) {
        return SL_EPROTO;
    }
    memcpy (out, str, len);
    out[len] = 0;
    return 0;
}

static int
s_read_u32 (const uint8_t **p, const uint8_t *end, uint32_t *out)
{
    uint64_t v;
    if (sl_mp_read_uint (p, end, &v) || v < 1 || v > UINT32_MAX) {
        return SL_EPROTO;
    }
    *out = (uint32_t)v;
    return 0;
}

//  done: [[start, end], ...] sorted, disjoint, above the checkpoint.
static int
s_decode_done (sl_group_t *self, const uint8_t *p, const uint8_t *end)
{
    uint32_t count;
    if (sl_mp_read_array (&p, end, &count) || count > S_DECODE_MAX ||
        (count && self->checkpoint == UINT64_MAX)) {
        return SL_EPROTO;
    }
    uint64_t floor = self->checkpoint + 1;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t pair;
        range_t range;
        if (sl_mp_read_array (&p, end, &pair) || pair != 2 ||
            sl_mp_read_uint (&p, end, &range.start) || sl_mp_read_uint (&p, end, &range.end) ||
            range.start < floor || range.end <= range.start) {
            return SL_EPROTO;
        }
        if (self->n_done && range.start == self->done[self->n_done - 1].end) {
            self->done[self->n_done - 1].end = range.end;
        }
        else {
            if (GROUP_RESERVE (self, done, 1)) {
                return SL_ENOMEM;
            }
            self->done[self->n_done++] = range;
        }
        floor = range.end;
    }
    return 0;
}

//  attempts: [[offset, n, error], ...] sorted, at or above the checkpoint,
//  never inside a done range.
static int
s_decode_attempts (sl_group_t *self, const uint8_t *p, const uint8_t *end)
{
    uint32_t count;
    if (sl_mp_read_array (&p, end, &count) || count > S_DECODE_MAX) {
        return SL_EPROTO;
    }
    uint64_t floor = self->checkpoint;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t triple, n, len;
        uint64_t offset;
        const uint8_t *text;
        if (sl_mp_read_array (&p, end, &triple) || triple != 3 ||
            sl_mp_read_uint (&p, end, &offset) || s_read_u32 (&p, end, &n) ||
            sl_mp_read_str (&p, end, &text, &len) || offset < floor || len > 255 ||
            memchr (text, 0, len) || sl_group_any_done (self, offset, offset + 1)) {
            return SL_EPROTO;
        }
        if (GROUP_RESERVE (self, attempts, 1)) {
            return SL_ENOMEM;
        }
        char *error = malloc (len + 1);
        if (!error) {
            return SL_ENOMEM;
        }
        memcpy (error, text, len);
        error[len] = 0;
        self->attempts[self->n_attempts++] = (attempt_t){offset, n, error};
        if (offset == UINT64_MAX) {
            return i + 1 == count ? 0 : SL_EPROTO;
        }
        floor = offset + 1;
    }
    return 0;
}

//  The state map: {"v": 1, "in", "out", "max_deliver", "lease_ms",
//  "checkpoint", "done", "attempts"}, all required, unknown keys skipped.
//  sl_mp_skip has bounded every length first, so a reader failing below
//  means a wrong type.
sl_group_t *
sl_group_decode (const char *name, const uint8_t *data, size_t len, int *err)
{
    enum { K_V, K_IN, K_OUT, K_MAX, K_LEASE, K_CHECKPOINT, K_DONE, K_ATTEMPTS, K_N };
    static const char *keys[K_N] = {"v",        "in",         "out",  "max_deliver",
                                    "lease_ms", "checkpoint", "done", "attempts"};
    sl_group_t *self = NULL;
    sl_group_config_t config;
    memset (&config, 0, sizeof config);
    uint64_t version = 0, checkpoint = 0;
    const uint8_t *part[K_N] = {NULL};
    const uint8_t *end = data + len;
    size_t used;
    int rc = data ? sl_mp_skip (data, len, 3, &used) : SL_ETRUNC;
    if (rc) {
        rc = rc == SL_ETRUNC ? SL_ETRUNC : SL_EPROTO;
        goto fail;
    }
    rc = SL_EPROTO;
    const uint8_t *p = data;
    uint32_t pairs;
    if (used != len || sl_mp_read_map (&p, end, &pairs)) {
        goto fail;
    }
    for (uint32_t i = 0; i < pairs; i++) {
        const uint8_t *key;
        uint32_t key_len;
        if (sl_mp_read_str (&p, end, &key, &key_len)) {
            goto fail;
        }
        int k = 0;
        while (k < K_N && !s_key_is (key, key_len, keys[k])) {
            k++;
        }
        if (k < K_N && part[k]) {
            goto fail;
        }
        if (k < K_N) {
            part[k] = p;
        }
        if (sl_mp_skip (p, (size_t)(end - p), 3, &used)) {
            goto fail;
        }
        p += used;
    }
    for (int k = 0; k < K_N; k++) {
        if (!part[k]) {
            goto fail;
        }
    }
    if (sl_mp_read_uint (&part[K_V], end, &version) || version != 1 ||
        s_read_name (&part[K_IN], end, config.in) || s_read_name (&part[K_OUT], end, config.out) ||
        s_read_u32 (&part[K_MAX], end, &config.max_deliver) ||
        s_read_u32 (&part[K_LEASE], end, &config.lease_ms) ||
        sl_mp_read_uint (&part[K_CHECKPOINT], end, &checkpoint) ||
        !sl_group_config_valid (&config)) {
        goto fail;
    }
    self = sl_group_new (name, &config, checkpoint);
    if (!self) {
        rc = SL_EINVAL;
        goto fail;
    }
    rc = s_decode_done (self, part[K_DONE], end);
    if (rc == 0) {
        rc = s_decode_attempts (self, part[K_ATTEMPTS], end);
    }
    if (rc) {
        goto fail;
    }
    return self;
fail:
    sl_group_destroy (&self);
    if (err) {
        *err = rc;
    }
    return NULL;
}

//  The value is built apart first so that buf is untouched on failure
//  (sl_record_encode appends all or nothing).
int
sl_group_dlq_encode (sl_buf_t *buf, const sl_group_t *self, const sl_dead_t *dead,
                     const sl_record_t *original, int64_t now_ms)
{
    sl_buf_t value;
    sl_buf_init (&value, 0);
    int rc = s_put_head (&value, sl_mp_write_map, 6);
    rc = rc ? rc : s_put_str (&value, "error");
    rc = rc ? rc : s_put_bytes (&value, dead->error, strnlen (dead->error, 255), false);
    rc = rc ? rc : s_put_str (&value, "attempts");
    rc = rc ? rc : s_put_uint (&value, dead->attempts);
    rc = rc ? rc : s_put_str (&value, "group");
    rc = rc ? rc : s_put_str (&value, self->name);
    rc = rc ? rc : s_put_str (&value, "stream");
    rc = rc ? rc : s_put_str (&value, self->config.in);
    rc = rc ? rc : s_put_str (&value, "offset");
    rc = rc ? rc : s_put_uint (&value, dead->offset);
    rc = rc ? rc : s_put_str (&value, "record");
    rc = rc ? rc : s_put_head (&value, sl_mp_write_map, 4);
    rc = rc ? rc : s_put_str (&value, "timestamp");
    rc = rc ? rc : s_put_int (&value, original->timestamp);
    rc = rc ? rc : s_put_str (&value, "key");
    if (rc == 0 && original->key) {
        rc = s_put_bytes (&value, original->key, original->key_len, original->key_is_bin);
    }
    else if (rc == 0) {
        rc = s_put_raw (&value, NULL, 0);
    }
    rc = rc ? rc : s_put_str (&value, "headers");
    rc = rc ? rc : s_put_raw (&value, original->headers, original->headers_len);
    rc = rc ? rc : s_put_str (&value, "value");
    rc = rc ? rc : s_put_raw (&value, original->value, original->value_len);
    if (rc == 0) {
        rc = sl_record_encode (buf, now_ms, original->key, original->key_len, original->key_is_bin,
                               NULL, 0, value.data, value.len);
    }
    sl_buf_free (&value);
    return rc;
}
