/*  sl_repl.c - the replication journal entry codec (sl_repl.h).
 */
#include <stdlib.h>
#include <string.h>

#include "sl_batch.h"
#include "sl_error.h"
#include "sl_repl.h"

static const uint8_t s_magic[4] = {'S', 'L', 'R', 'J'};

static void
s_put32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void
s_put64 (uint8_t *p, uint64_t v)
{
    s_put32 (p, (uint32_t)(v >> 32));
    s_put32 (p + 4, (uint32_t)v);
}

static uint32_t
s_get32 (const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t
s_get64 (const uint8_t *p)
{
    return ((uint64_t)s_get32 (p) << 32) | s_get32 (p + 4);
}

int
sl_repl_begin (sl_buf_t *buf, uint64_t epoch, uint64_t seq)
{
    sl_buf_reset (buf);
    int rc = sl_buf_reserve (buf, SL_REPL_HEADER);
    if (rc) {
        return rc;
    }
    memcpy (buf->data, s_magic, 4);
    s_put64 (buf->data + 4, epoch);
    s_put64 (buf->data + 12, seq);
    s_put32 (buf->data + 20, 0);
    buf->len = SL_REPL_HEADER;
    return 0;
}

void
sl_repl_set_seq (sl_buf_t *buf, uint64_t epoch, uint64_t seq)
{
    if (buf->len >= SL_REPL_HEADER) {
        s_put64 (buf->data + 4, epoch);
        s_put64 (buf->data + 12, seq);
    }
}

int
sl_repl_op_start (sl_buf_t *buf, sl_repl_db_t db, const void *key, size_t key_len, const void *old,
                  size_t old_len, uint8_t flags, size_t *at)
{
    if (db >= SL_REPL_N_DBS || key_len == 0 || key_len > SL_REPL_KEY_MAX || old_len > UINT32_MAX ||
        buf->len < SL_REPL_HEADER) {
        return SL_EINVAL;
    }
    if (!(flags & SL_REPL_OLD)) {
        old_len = 0;
    }
    if (buf->len + SL_REPL_OP_HEADER + key_len + old_len > SL_REPL_ENTRY_MAX) {
        return SL_ETOOBIG;
    }
    int rc = sl_buf_reserve (buf, SL_REPL_OP_HEADER + key_len + old_len);
    if (rc) {
        return rc;
    }
    *at = buf->len;
    uint8_t *p = buf->data + buf->len;
    p[0] = (uint8_t)db;
    p[1] = flags & (SL_REPL_OLD | SL_REPL_ELIDED);
    p[2] = (uint8_t)(key_len >> 8);
    p[3] = (uint8_t)key_len;
    s_put32 (p + 4, (uint32_t)old_len);
    s_put32 (p + 8, 0);
    memcpy (p + SL_REPL_OP_HEADER, key, key_len);
    if (old_len) {
        memcpy (p + SL_REPL_OP_HEADER + key_len, old, old_len);
    }
    buf->len += SL_REPL_OP_HEADER + key_len + old_len;
    return 0;
}

int
sl_repl_op_value (sl_buf_t *buf, size_t at, const void *val, size_t val_len)
{
    if (at + SL_REPL_OP_HEADER > buf->len || val_len > UINT32_MAX) {
        return SL_EINVAL;
    }
    if (buf->len + val_len > SL_REPL_ENTRY_MAX) {
        return SL_ETOOBIG;
    }
    int rc = sl_buf_append (buf, val, val_len);
    if (rc) {
        return rc;
    }
    buf->data[at + 1] |= SL_REPL_NEW;
    s_put32 (buf->data + at + 8, (uint32_t)val_len);
    return 0;
}

//  Walks the ops of data[0..end) from the header on, checking bounds;
//  calls fn (may be NULL) for each.
static int
s_scan (const uint8_t *data, size_t end, uint32_t *n_ops, sl_repl_op_fn *fn, void *ctx)
{
    size_t at = SL_REPL_HEADER;
    uint32_t n = 0;
    while (at < end) {
        if (end - at < SL_REPL_OP_HEADER) {
            return SL_EPROTO;
        }
        const uint8_t *p = data + at;
        sl_repl_op_t op = {
            .db = (sl_repl_db_t)p[0],
            .flags = p[1],
            .key_len = ((size_t)p[2] << 8) | p[3],
            .old_len = s_get32 (p + 4),
            .val_len = s_get32 (p + 8),
        };
        if (op.db >= SL_REPL_N_DBS || op.key_len == 0 || op.key_len > SL_REPL_KEY_MAX ||
            (op.flags & ~(SL_REPL_OLD | SL_REPL_NEW | SL_REPL_ELIDED)) ||
            (!(op.flags & SL_REPL_OLD) && op.old_len) ||
            (!(op.flags & SL_REPL_NEW) && op.val_len)) {
            return SL_EPROTO;
        }
        size_t room = end - at - SL_REPL_OP_HEADER;
        if (op.key_len > room || op.old_len > room - op.key_len ||
            op.val_len > room - op.key_len - op.old_len) {
            return SL_EPROTO;
        }
        op.key = p + SL_REPL_OP_HEADER;
        op.old = op.key + op.key_len;
        op.val = op.old + op.old_len;
        if (fn) {
            int rc = fn (ctx, &op);
            if (rc) {
                return rc;
            }
        }
        at += SL_REPL_OP_HEADER + op.key_len + op.old_len + op.val_len;
        n++;
    }
    if (n_ops) {
        *n_ops = n;
    }
    return 0;
}

int
sl_repl_finish (sl_buf_t *buf)
{
    if (buf->len < SL_REPL_HEADER) {
        return SL_EINVAL;
    }
    uint32_t n = 0;
    int rc = s_scan (buf->data, buf->len, &n, NULL, NULL);
    if (rc) {
        return rc;
    }
    s_put32 (buf->data + 20, n);
    rc = sl_buf_reserve (buf, SL_REPL_TRAILER);
    if (rc) {
        return rc;
    }
    s_put32 (buf->data + buf->len, sl_crc32c (buf->data, buf->len));
    buf->len += SL_REPL_TRAILER;
    return 0;
}

int
sl_repl_peek (const uint8_t *data, size_t len, uint64_t *epoch, uint64_t *seq)
{
    if (!data || len < SL_REPL_HEADER) {
        return SL_ETRUNC;
    }
    if (memcmp (data, s_magic, 4) != 0) {
        return SL_EPROTO;
    }
    if (epoch) {
        *epoch = s_get64 (data + 4);
    }
    if (seq) {
        *seq = s_get64 (data + 12);
    }
    return 0;
}

int
sl_repl_check (const uint8_t *data, size_t len, uint64_t *epoch, uint64_t *seq, uint32_t *n_ops)
{
    if (len > SL_REPL_ENTRY_MAX + SL_REPL_TRAILER) {
        return SL_ETOOBIG;
    }
    if (!data || len < SL_REPL_HEADER + SL_REPL_TRAILER) {
        return SL_ETRUNC;
    }
    int rc = sl_repl_peek (data, len, epoch, seq);
    if (rc) {
        return rc;
    }
    size_t end = len - SL_REPL_TRAILER;
    if (sl_crc32c (data, end) != s_get32 (data + end)) {
        return SL_ECORRUPT;
    }
    uint32_t n = 0;
    rc = s_scan (data, end, &n, NULL, NULL);
    if (rc) {
        return rc;
    }
    if (n != s_get32 (data + 20)) {
        return SL_EPROTO;
    }
    if (n_ops) {
        *n_ops = n;
    }
    return 0;
}

typedef struct {
    uint32_t n;
} s_collect_t;

static int
s_count (void *ctx, const sl_repl_op_t *op)
{
    (void)op;
    ((s_collect_t *)ctx)->n++;
    return 0;
}

int
sl_repl_walk (const uint8_t *data, size_t len, bool reverse, sl_repl_op_fn *fn, void *ctx)
{
    if (!data || len < SL_REPL_HEADER + SL_REPL_TRAILER) {
        return SL_ETRUNC;
    }
    size_t end = len - SL_REPL_TRAILER;
    if (!reverse) {
        return s_scan (data, end, NULL, fn, ctx);
    }
    //  Backwards: the ops' starts are found forwards first (ops have no
    //  back links); an entry holds at most end / SL_REPL_OP_HEADER ops.
    s_collect_t c = {0};
    int rc = s_scan (data, end, NULL, s_count, &c);
    if (rc || c.n == 0) {
        return rc;
    }
    sl_repl_op_t *ops = calloc (c.n, sizeof *ops);
    if (!ops) {
        return SL_ENOMEM;
    }
    size_t at = SL_REPL_HEADER;
    for (uint32_t i = 0; i < c.n; i++) {
        const uint8_t *p = data + at;
        ops[i].db = (sl_repl_db_t)p[0];
        ops[i].flags = p[1];
        ops[i].key_len = ((size_t)p[2] << 8) | p[3];
        ops[i].old_len = s_get32 (p + 4);
        ops[i].val_len = s_get32 (p + 8);
        ops[i].key = p + SL_REPL_OP_HEADER;
        ops[i].old = ops[i].key + ops[i].key_len;
        ops[i].val = ops[i].old + ops[i].old_len;
        at += SL_REPL_OP_HEADER + ops[i].key_len + ops[i].old_len + ops[i].val_len;
    }
    for (uint32_t i = c.n; i-- > 0 && rc == 0;) {
        rc = fn (ctx, &ops[i]);
    }
    free (ops);
    return rc;
}
