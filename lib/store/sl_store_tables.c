/*  sl_store_tables.c - the store's small tables: producers (last sequence
    per producer and stream), readers (committed offset per stream and
    reader) and groups (each group's state, opaque here), and the walk over
    a table's entries. Part of the store module (sl_store_int.h).

    Values read from disk are checked for size before use; a bad one is
    SL_ESTORE and one log line.
*/
#include "sl_store.h"

#include <lmdb.h>
#include <string.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_store_int.h"
#include "sl_util.h"

#define S_COMP "store"
#define S_POS_SIZE 16 //  producer / reader value: u64 ‖ i64

//  --------------------------------------------------------------------------
//  Keys

static size_t
s_pair_key (uint8_t *key, const char *a, size_t a_len, const char *b, size_t b_len)
{
    memcpy (key, a, a_len);
    key[a_len] = 0;
    memcpy (key + a_len + 1, b, b_len);
    return a_len + 1 + b_len;
}

//  --------------------------------------------------------------------------
//  Producer and reader tables

typedef struct {
    const char *what, *a, *b; //  for the damage line
    uint64_t *value;
} s_pos_ctx_t;

static int
s_pos_use (void *ctx, const MDB_val *val)
{
    s_pos_ctx_t *pos = ctx;
    if (val->mv_size < S_POS_SIZE) {
        sl_error (S_COMP, "%s %s/%s: value of %zu bytes, expected %d: data is damaged", pos->what,
                  pos->a, pos->b, val->mv_size, S_POS_SIZE);
        return SL_ESTORE;
    }
    *pos->value = sl_be64 (val->mv_data);
    return 0;
}

static int
s_pos_get (sl_store_t *self, MDB_dbi dbi, const char *a, const char *b, uint64_t *value,
           const char *what)
{
    size_t a_len, b_len;
    if (!sl_store_name_ok (a, &a_len) || !sl_store_name_ok (b, &b_len)) {
        return SL_ENAME;
    }
    uint8_t kbuf[2 * SL_NAME_MAX + 1];
    MDB_val key = {s_pair_key (kbuf, a, a_len, b, b_len), kbuf};
    s_pos_ctx_t pos = {what, a, b, value};
    return sl_store_get (self, dbi, &key, what, s_pos_use, &pos);
}

static int
s_pos_set (sl_store_t *self, MDB_dbi dbi, const char *a, const char *b, uint64_t value,
           int64_t now_ms, const char *what)
{
    size_t a_len, b_len;
    if (!sl_store_name_ok (a, &a_len) || !sl_store_name_ok (b, &b_len)) {
        return SL_ENAME;
    }
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    uint8_t kbuf[2 * SL_NAME_MAX + 1];
    uint8_t vbuf[S_POS_SIZE];
    sl_put_be64 (vbuf, value);
    sl_put_be64 (vbuf + 8, (uint64_t)now_ms);
    MDB_val key = {s_pair_key (kbuf, a, a_len, b, b_len), kbuf};
    MDB_val val = {S_POS_SIZE, vbuf};
    int rc = sl_store_jput (self, dbi, &key, &val, 0);
    return rc ? sl_store_fail (self, self->wtxn, rc, what) : 0;
}

int
sl_store_producer_get (sl_store_t *self, const char *producer, const char *stream, uint64_t *seq)
{
    *seq = 0;
    int rc = s_pos_get (self, self->db_producers, producer, stream, seq, "producer");
    return rc == SL_ENOTFOUND ? 0 : rc;
}

int
sl_store_producer_set (sl_store_t *self, const char *producer, const char *stream, uint64_t seq,
                       int64_t now_ms)
{
    return s_pos_set (self, self->db_producers, producer, stream, seq, now_ms, "producer");
}

int
sl_store_reader_get (sl_store_t *self, const char *stream, const char *reader, uint64_t *offset)
{
    return s_pos_get (self, self->db_readers, stream, reader, offset, "reader");
}

int
sl_store_reader_set (sl_store_t *self, const char *stream, const char *reader, uint64_t offset,
                     int64_t now_ms)
{
    return s_pos_set (self, self->db_readers, stream, reader, offset, now_ms, "reader");
}

//  --------------------------------------------------------------------------
//  Group state: group name -> the encoding of lib/group/sl_group.c, opaque here.

static int
s_group_use (void *ctx, const MDB_val *val)
{
    sl_buf_t *out = ctx;
    sl_buf_reset (out);
    return sl_buf_append (out, val->mv_data, val->mv_size);
}

int
sl_store_group_get (sl_store_t *self, const char *group, sl_buf_t *out)
{
    size_t len;
    if (!sl_store_name_ok (group, &len)) {
        return SL_ENAME;
    }
    MDB_val key = {len, (void *)group};
    return sl_store_get (self, self->db_groups, &key, "group", s_group_use, out);
}

int
sl_store_group_set (sl_store_t *self, const char *group, const void *data, size_t len)
{
    size_t name_len;
    if (!sl_store_name_ok (group, &name_len)) {
        return SL_ENAME;
    }
    if (!data || len == 0) {
        return SL_EINVAL;
    }
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    MDB_val key = {name_len, (void *)group};
    MDB_val val = {len, (void *)data};
    int rc = sl_store_jput (self, self->db_groups, &key, &val, 0);
    return rc ? sl_store_fail (self, self->wtxn, rc, "group") : 0;
}

int
sl_store_walk (sl_store_t *self, MDB_dbi dbi, const MDB_val *from, const char *what,
               sl_store_walk_fn *fn, void *ctx)
{
    MDB_txn *txn;
    int rc = sl_store_rtxn_begin (self, &txn);
    if (rc) {
        return rc;
    }
    MDB_cursor *cur = NULL;
    rc = mdb_cursor_open (txn, dbi, &cur);
    if (rc) {
        rc = sl_store_error (self, rc, what);
        goto done;
    }
    MDB_val key = from ? *from : (MDB_val){0, NULL};
    MDB_val val;
    int op = from ? MDB_SET_RANGE : MDB_FIRST;
    bool stop = false;
    while (!stop) {
        rc = mdb_cursor_get (cur, &key, &val, op);
        op = MDB_NEXT;
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc) {
            rc = sl_store_error (self, rc, what);
            break;
        }
        rc = fn (ctx, &key, &val, &stop);
        if (rc) {
            break;
        }
    }
done:
    if (cur) {
        mdb_cursor_close (cur);
    }
    sl_store_rtxn_end (self);
    return rc;
}

typedef struct {
    sl_store_group_fn *fn;
    void *ctx;
} s_group_walk_t;

static int
s_group_entry (void *ctx, const MDB_val *key, const MDB_val *val, bool *stop)
{
    (void)stop;
    s_group_walk_t *walk = ctx;
    if (key->mv_size > SL_NAME_MAX || !sl_name_valid (key->mv_data, key->mv_size)) {
        sl_error (S_COMP, "groups holds a key with an invalid name: data is damaged");
        return SL_ESTORE;
    }
    char name[SL_NAME_MAX + 1];
    memcpy (name, key->mv_data, key->mv_size);
    name[key->mv_size] = 0;
    return walk->fn (walk->ctx, name, val->mv_data, val->mv_size);
}

int
sl_store_group_list (sl_store_t *self, sl_store_group_fn *fn, void *ctx)
{
    s_group_walk_t walk = {fn, ctx};
    return sl_store_walk (self, self->db_groups, NULL, "listing groups", s_group_entry, &walk);
}
