/*  sl_store_admin.c - the store's operator views and changes
    (sl_store_admin.h). Part of the store module: it shares sl_store_int.h
    with sl_store.c and sl_store_log.c and keeps to their key layouts.
*/
#include "sl_store_admin.h"

#include "sl_error.h"
#include "sl_log.h"
#include "sl_store_int.h"

#define S_COMP "store"
#define S_STREAM_PREFIX "stream/" //  sl_store_log.c's meta key prefix
#define S_RETAIN_PREFIX "retain/"
#define S_RETAIN_SIZE 24
#define S_POS_SIZE 16 //  reader value: u64 offset, i64 updated ms

//  ---------------------------------------------------------------------
//  Append time

typedef struct {
    int64_t append_ms;
    int rc;
} s_time_ctx_t;

static int
s_first_blob (void *arg, const uint8_t *blob, size_t len)
{
    s_time_ctx_t *ctx = arg;
    sl_batch_header_t header;
    ctx->rc = sl_batch_header_decode (blob, len, &header);
    if (ctx->rc) {
        ctx->rc = SL_ESTORE;
    }
    ctx->append_ms = header.append_ms;
    return 1; //  one blob is all we need
}

int
sl_store_append_time (sl_store_t *self, const char *stream, uint64_t offset, int64_t *append_ms)
{
    s_time_ctx_t ctx = {0, SL_ENOTFOUND};
    sl_stream_info_t info;
    //  sl_store_read seeks the batch holding offset with one MDB_SET_RANGE
    //  (and at most one step back): O(log n) in the log's size.
    int rc = sl_store_read (self, stream, offset, 1, 1, s_first_blob, &ctx, &info);
    if (rc < 0) {
        return rc;
    }
    if (offset < info.first || offset >= info.next) {
        return SL_ENOTFOUND;
    }
    if (ctx.rc == 0) {
        *append_ms = ctx.append_ms;
    }
    return ctx.rc;
}

//  ---------------------------------------------------------------------
//  Readers and groups

typedef struct {
    sl_store_reader_fn *fn;
    void *ctx;
} s_reader_walk_t;

static int
s_reader_entry (void *ctx, const MDB_val *key, const MDB_val *val, bool *stop)
{
    (void)stop;
    s_reader_walk_t *walk = ctx;
    const char *k = key->mv_data;
    const char *sep = memchr (k, 0, key->mv_size);
    size_t a_len = sep ? (size_t)(sep - k) : 0;
    size_t b_len = sep ? key->mv_size - a_len - 1 : 0;
    if (!sep || a_len > SL_NAME_MAX || b_len > SL_NAME_MAX || !sl_name_valid (k, a_len) ||
        !sl_name_valid (sep + 1, b_len) || val->mv_size < S_POS_SIZE) {
        sl_error (S_COMP, "readers table holds a damaged entry; skipped");
        return 0;
    }
    char stream[SL_NAME_MAX + 1], reader[SL_NAME_MAX + 1];
    memcpy (stream, k, a_len);
    stream[a_len] = 0;
    memcpy (reader, sep + 1, b_len);
    reader[b_len] = 0;
    const uint8_t *v = val->mv_data;
    return walk->fn (walk->ctx, stream, reader, sl_be64 (v), (int64_t)sl_be64 (v + 8));
}

int
sl_store_reader_list (sl_store_t *self, sl_store_reader_fn *fn, void *ctx)
{
    s_reader_walk_t walk = {fn, ctx};
    return sl_store_walk (self, self->db_readers, NULL, "listing readers", s_reader_entry, &walk);
}

static int
s_del (sl_store_t *self, MDB_dbi dbi, const void *kdata, size_t klen, const char *what)
{
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    MDB_val key = {klen, (void *)kdata};
    int rc = sl_store_jdel (self, dbi, &key);
    if (rc == MDB_NOTFOUND) {
        return SL_ENOTFOUND;
    }
    return rc ? sl_store_fail (self, self->wtxn, rc, what) : 0;
}

int
sl_store_reader_delete (sl_store_t *self, const char *stream, const char *reader)
{
    size_t a_len, b_len;
    if (!sl_store_name_ok (stream, &a_len) || !sl_store_name_ok (reader, &b_len)) {
        return SL_ENAME;
    }
    uint8_t kbuf[2 * SL_NAME_MAX + 1];
    memcpy (kbuf, stream, a_len);
    kbuf[a_len] = 0;
    memcpy (kbuf + a_len + 1, reader, b_len);
    return s_del (self, self->db_readers, kbuf, a_len + 1 + b_len, "deleting a reader");
}

int
sl_store_group_delete (sl_store_t *self, const char *group)
{
    size_t len;
    if (!sl_store_name_ok (group, &len)) {
        return SL_ENAME;
    }
    return s_del (self, self->db_groups, group, len, "deleting a group");
}

//  ---------------------------------------------------------------------
//  Streams

int
sl_store_stream_purge (sl_store_t *self, const char *stream, uint64_t *records)
{
    *records = 0;
    sl_stream_info_t info;
    bool exists;
    int rc = sl_store_stream_info (self, stream, &info, &exists);
    if (rc) {
        return rc;
    }
    if (!exists) {
        return SL_ENOTFOUND;
    }
    if (info.records == 0) {
        return 0;
    }
    //  Every batch was appended at or before last_ms, so an age limit of
    //  1 ms seen from last_ms + 2 removes them all (sl_store_retain's age
    //  rule may empty the stream; offsets never change).
    sl_retention_t all = {0, 0, 1};
    return sl_store_retain (self, stream, &all, info.last_ms + 2, records);
}

//  Deletes every key of dbi for which match(key) holds.
static int
s_del_matching (sl_store_t *self, MDB_dbi dbi, const char *stream, size_t len, bool suffix,
                const char *what)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open (self->wtxn, dbi, &cur);
    if (rc) {
        return sl_store_fail (self, self->wtxn, rc, what);
    }
    MDB_val key, val;
    int op = MDB_FIRST;
    uint8_t kbuf[SL_NAME_MAX + 1];
    if (!suffix) {
        //  "<stream>\0..." keys are contiguous: start at the first.
        memcpy (kbuf, stream, len);
        kbuf[len] = 0;
        key.mv_size = len + 1;
        key.mv_data = kbuf;
        op = MDB_SET_RANGE;
    }
    while ((rc = mdb_cursor_get (cur, &key, &val, op)) == 0) {
        op = MDB_NEXT;
        const uint8_t *k = key.mv_data;
        bool hit;
        if (suffix) {
            hit = key.mv_size > len + 1 && k[key.mv_size - len - 1] == 0 &&
                  memcmp (k + key.mv_size - len, stream, len) == 0;
        }
        else {
            if (key.mv_size <= len || memcmp (k, stream, len) != 0 || k[len] != 0) {
                break;
            }
            hit = true;
        }
        if (hit && (rc = sl_store_jcursor_del (self, dbi, cur)) != 0) {
            break;
        }
    }
    mdb_cursor_close (cur);
    if (rc && rc != MDB_NOTFOUND) {
        return sl_store_fail (self, self->wtxn, rc, what);
    }
    return 0;
}

int
sl_store_stream_delete (sl_store_t *self, const char *stream, uint64_t *records)
{
    size_t len;
    if (!sl_store_name_ok (stream, &len)) {
        return SL_ENAME;
    }
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    int rc = sl_store_stream_purge (self, stream, records);
    if (rc) {
        return rc;
    }
    uint8_t kbuf[sizeof S_STREAM_PREFIX + SL_NAME_MAX];
    memcpy (kbuf, S_STREAM_PREFIX, sizeof S_STREAM_PREFIX - 1);
    memcpy (kbuf + sizeof S_STREAM_PREFIX - 1, stream, len);
    rc = s_del (self, self->db_meta, kbuf, sizeof S_STREAM_PREFIX - 1 + len, "deleting a stream");
    if (rc) {
        return rc;
    }
    sl_retention_t none = {0, 0, 0};
    rc = sl_store_retention_set (self, stream, &none);
    if (rc == 0) {
        rc = s_del_matching (self, self->db_readers, stream, len, false, "deleting readers");
    }
    if (rc == 0) {
        rc = s_del_matching (self, self->db_producers, stream, len, true, "deleting producers");
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  Run-time retention

static size_t
s_retain_key (uint8_t *kbuf, const char *stream, size_t len)
{
    memcpy (kbuf, S_RETAIN_PREFIX, sizeof S_RETAIN_PREFIX - 1);
    memcpy (kbuf + sizeof S_RETAIN_PREFIX - 1, stream, len);
    return sizeof S_RETAIN_PREFIX - 1 + len;
}

static void
s_retain_decode (const uint8_t *v, sl_retention_t *ret)
{
    ret->max_records = sl_be64 (v);
    ret->max_bytes = sl_be64 (v + 8);
    ret->max_age_ms = (int64_t)sl_be64 (v + 16);
    if (ret->max_age_ms < 0) {
        ret->max_age_ms = 0;
    }
}

int
sl_store_retention_set (sl_store_t *self, const char *stream, const sl_retention_t *ret)
{
    size_t len;
    if (!sl_store_name_ok (stream, &len)) {
        return SL_ENAME;
    }
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    uint8_t kbuf[sizeof S_RETAIN_PREFIX + SL_NAME_MAX];
    size_t klen = s_retain_key (kbuf, stream, len);
    if (!ret->max_records && !ret->max_bytes && !ret->max_age_ms) {
        int rc = s_del (self, self->db_meta, kbuf, klen, "retention");
        return rc == SL_ENOTFOUND ? 0 : rc;
    }
    uint8_t vbuf[S_RETAIN_SIZE];
    sl_put_be64 (vbuf, ret->max_records);
    sl_put_be64 (vbuf + 8, ret->max_bytes);
    sl_put_be64 (vbuf + 16, (uint64_t)ret->max_age_ms);
    MDB_val key = {klen, kbuf};
    MDB_val val = {S_RETAIN_SIZE, vbuf};
    int rc = sl_store_jput (self, self->db_meta, &key, &val, 0);
    return rc ? sl_store_fail (self, self->wtxn, rc, "retention") : 0;
}

typedef struct {
    const char *stream; //  for the damage line
    sl_retention_t *ret;
} s_retain_ctx_t;

static int
s_retain_use (void *ctx, const MDB_val *val)
{
    s_retain_ctx_t *r = ctx;
    if (val->mv_size < S_RETAIN_SIZE) {
        sl_error (S_COMP, "retention of %s: value of %zu bytes: data is damaged", r->stream,
                  val->mv_size);
        return SL_ESTORE;
    }
    s_retain_decode (val->mv_data, r->ret);
    return 0;
}

int
sl_store_retention_get (sl_store_t *self, const char *stream, sl_retention_t *ret)
{
    size_t len;
    if (!sl_store_name_ok (stream, &len)) {
        return SL_ENAME;
    }
    uint8_t kbuf[sizeof S_RETAIN_PREFIX + SL_NAME_MAX];
    MDB_val key = {s_retain_key (kbuf, stream, len), kbuf};
    s_retain_ctx_t r = {stream, ret};
    return sl_store_get (self, self->db_meta, &key, "retention", s_retain_use, &r);
}

int
sl_store_retention_list (sl_store_t *self, sl_store_retention_fn *fn, void *ctx)
{
    MDB_txn *txn;
    int rc = sl_store_rtxn_begin (self, &txn);
    if (rc) {
        return rc;
    }
    MDB_cursor *cur = NULL;
    rc = mdb_cursor_open (txn, self->db_meta, &cur);
    if (rc) {
        rc = sl_store_error (self, rc, "listing retention");
        goto done;
    }
    size_t plen = sizeof S_RETAIN_PREFIX - 1;
    MDB_val key = {plen, (void *)S_RETAIN_PREFIX};
    MDB_val val;
    int op = MDB_SET_RANGE;
    while ((rc = mdb_cursor_get (cur, &key, &val, op)) == 0) {
        op = MDB_NEXT;
        if (key.mv_size < plen || memcmp (key.mv_data, S_RETAIN_PREFIX, plen) != 0) {
            break;
        }
        const char *name = (const char *)key.mv_data + plen;
        size_t len = key.mv_size - plen;
        if (len > SL_NAME_MAX || !sl_name_valid (name, len) || val.mv_size < S_RETAIN_SIZE) {
            sl_error (S_COMP, "meta holds a damaged retention entry; skipped");
            continue;
        }
        char stream[SL_NAME_MAX + 1];
        memcpy (stream, name, len);
        stream[len] = 0;
        sl_retention_t ret;
        s_retain_decode (val.mv_data, &ret);
        rc = fn (ctx, stream, &ret);
        if (rc) {
            goto done;
        }
    }
    rc = rc == 0 || rc == MDB_NOTFOUND ? 0 : sl_store_error (self, rc, "listing retention");
done:
    if (cur) {
        mdb_cursor_close (cur);
    }
    sl_store_rtxn_end (self);
    return rc;
}
