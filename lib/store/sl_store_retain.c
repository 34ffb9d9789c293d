/*  sl_store_retain.c - retention: removes a stream's oldest batches past
    its limits (records, bytes, age), and the batches of a damaged extent.
    Part of the store module (sl_store_int.h), over the stream records and
    log keys of sl_store_log.c.
*/
#include "sl_store.h"

#include <lmdb.h>
#include <stdio.h>
#include <string.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_store_int.h"
#include "sl_util.h"

#define S_COMP "store"

typedef sl_store_meta_t s_meta_t;
typedef sl_store_blob_t s_blob_t;

//  Retention meets a batch with a damaged header at the oldest end: offsets
//  are dense and append times never decrease, so its extent runs to the
//  next batch's base (or next) and it is no younger than that batch (or
//  the stream's last append). Leaves the cursor (key, val) on it again so
//  that it can be deleted. 1, or SL_ECORRUPT when that cannot be told.
static int
s_damaged_extent (MDB_cursor *cur, const s_meta_t *meta, MDB_val *key, MDB_val *val, s_blob_t *blob)
{
    uint64_t end = meta->next;
    int64_t ms = meta->last_ms;
    MDB_val k, v;
    s_blob_t next;
    if (mdb_cursor_get (cur, &k, &v, MDB_NEXT) == 0 &&
        sl_store_blob_check (&k, &v, meta->id, &next) == 1) {
        end = next.base;
        ms = next.append_ms;
    }
    if (end <= blob->base || end - blob->base > UINT32_MAX ||
        mdb_cursor_get (cur, key, val, MDB_SET_KEY) != 0) {
        return SL_ECORRUPT;
    }
    blob->count = (uint32_t)(end - blob->base);
    blob->append_ms = ms;
    return 1;
}

int
sl_store_retain (sl_store_t *self, const char *stream, const sl_retention_t *ret, int64_t now_ms,
                 uint64_t *removed)
{
    size_t len;
    if (removed) {
        *removed = 0;
    }
    if (!sl_store_name_ok (stream, &len)) {
        return SL_ENAME;
    }
    if (!ret) {
        return SL_EINVAL;
    }
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    s_meta_t meta;
    int rc = sl_store_meta_get (self, self->wtxn, stream, len, &meta);
    if (rc) {
        return rc == SL_ENOTFOUND ? 0 : rc;
    }
    bool by_age = ret->max_age_ms > 0 && now_ms > INT64_MIN + ret->max_age_ms;
    int64_t oldest = by_age ? now_ms - ret->max_age_ms : 0;
    MDB_cursor *cur;
    rc = mdb_cursor_open (self->wtxn, self->db_log, &cur);
    if (rc) {
        return sl_store_fail (self, self->wtxn, rc, "retention");
    }
    uint64_t gone = 0;
    while (meta.records > 0) {
        uint8_t kbuf[SL_STORE_LOG_KEY_SIZE];
        sl_store_log_key (kbuf, meta.id, meta.first);
        MDB_val key = {SL_STORE_LOG_KEY_SIZE, kbuf};
        MDB_val val;
        rc = mdb_cursor_get (cur, &key, &val, MDB_SET_KEY);
        if (rc && rc != MDB_NOTFOUND) {
            mdb_cursor_close (cur);
            return sl_store_fail (self, self->wtxn, rc, "retention");
        }
        s_blob_t blob;
        int ok = rc == MDB_NOTFOUND ? 0 : sl_store_blob_check (&key, &val, meta.id, &blob);
        if (ok == SL_ECORRUPT) {
            ok = s_damaged_extent (cur, &meta, &key, &val, &blob);
        }
        if (ok != 1 || blob.count == 0 || blob.count > meta.records) {
            sl_error (S_COMP, "stream %s: no batch starts at first offset %llu: data is damaged",
                      stream, (unsigned long long)meta.first);
            rc = SL_ESTORE;
            break;
        }
        bool go = (ret->max_records && meta.records - blob.count >= ret->max_records) ||
                  (ret->max_bytes && meta.bytes > ret->max_bytes) ||
                  (by_age && blob.append_ms < oldest);
        if (!go) {
            rc = 0;
            break;
        }
        size_t size = val.mv_size;
        rc = sl_store_jcursor_del (self, self->db_log, cur);
        if (rc) {
            mdb_cursor_close (cur);
            return sl_store_fail (self, self->wtxn, rc, "retention");
        }
        meta.first += blob.count;
        meta.records -= blob.count;
        meta.bytes -= size < meta.bytes ? size : meta.bytes;
        gone += blob.count;
    }
    mdb_cursor_close (cur);
    //  Batches already deleted are accounted for even when damage stopped
    //  the walk, so that meta and log agree within the transaction.
    if (gone) {
        int rc2 = sl_store_meta_put (self, stream, len, &meta);
        if (rc2) {
            return rc2;
        }
    }
    if (rc == 0 && removed) {
        *removed = gone;
    }
    return rc;
}
