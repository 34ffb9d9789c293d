/*  sl_store_log.c - the store's streams and their log: stream records in
    meta, batches in log, and the calls that append, read and search by
    time; retention is sl_store_retain.c. Part of the store module with sl_store.c (the
    environment, transactions and small tables), whose internals it shares
    through lib/store/sl_store_int.h.

    A stream's record in meta (docs/PROTOCOL.md §11) holds its id, first
    and next offsets, record and byte counts and last append time; its
    batches are keyed by stream id and base offset, so that one stream's
    log is one contiguous key range. Every value read from disk is checked
    before use: a bad one is SL_ESTORE and one log line.
*/
#include "sl_store.h"

#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_store_int.h"
#include "sl_util.h"

#define S_COMP "store"
#define S_PREFIX "stream/"
#define S_PREFIX_LEN 7
#define S_NEXT_ID_KEY "next_stream_id"
#define S_META_CRC_AT (SL_STORE_META_SIZE - 4)

typedef sl_store_meta_t s_meta_t;
typedef sl_store_blob_t s_blob_t;

//  --------------------------------------------------------------------------
//  Keys and values

static size_t
s_meta_key (uint8_t *key, const char *stream, size_t len)
{
    memcpy (key, S_PREFIX, S_PREFIX_LEN);
    memcpy (key + S_PREFIX_LEN, stream, len);
    return S_PREFIX_LEN + len;
}

void
sl_store_log_key (uint8_t *key, uint32_t id, uint64_t offset)
{
    sl_put_be32 (key, id);
    sl_put_be64 (key + 4, offset);
}

static void
s_meta_encode (const s_meta_t *meta, uint8_t *out)
{
    sl_put_be32 (out, meta->id);
    sl_put_be64 (out + 4, meta->first);
    sl_put_be64 (out + 12, meta->next);
    sl_put_be64 (out + 20, meta->records);
    sl_put_be64 (out + 28, meta->bytes);
    sl_put_be64 (out + 36, (uint64_t)meta->last_ms);
    sl_put_be64 (out + 44, meta->crc_from);
    sl_put_be32 (out + S_META_CRC_AT, sl_crc32c (out, S_META_CRC_AT));
}

//  Decodes a stream record read from disk: 44 bytes (format 1, no
//  checksum) or 56 and more (format 2; a later version may add fields
//  before the checksum, which always covers what precedes it).
int
sl_store_meta_decode (const MDB_val *val, const char *stream, int name_len, s_meta_t *meta)
{
    const uint8_t *p = val->mv_data;
    bool v1 = val->mv_size == SL_STORE_META_V1_SIZE;
    if (!v1 && val->mv_size < SL_STORE_META_SIZE) {
        sl_error (S_COMP, "stream %.*s: meta value of %zu bytes, expected %d: data is damaged",
                  name_len, stream, val->mv_size, SL_STORE_META_SIZE);
        return SL_ESTORE;
    }
    if (!v1) {
        size_t at = val->mv_size - 4;
        if (sl_crc32c (p, at) != sl_be32 (p + at)) {
            sl_error (S_COMP,
                      "stream %.*s: its meta record failed its checksum: data is damaged "
                      "(run sluice-broker --check)",
                      name_len, stream);
            return SL_ECORRUPT;
        }
    }
    meta->id = sl_be32 (p);
    meta->first = sl_be64 (p + 4);
    meta->next = sl_be64 (p + 12);
    meta->records = sl_be64 (p + 20);
    meta->bytes = sl_be64 (p + 28);
    meta->last_ms = (int64_t)sl_be64 (p + 36);
    meta->crc_from = v1 ? meta->next : sl_be64 (p + 44);
    if (meta->id == 0 || meta->first > meta->next || meta->records != meta->next - meta->first ||
        meta->crc_from > meta->next) {
        sl_error (S_COMP,
                  "stream %.*s: inconsistent meta (id %u, first %llu, next %llu, "
                  "records %llu): data is damaged",
                  name_len, stream, meta->id, (unsigned long long)meta->first,
                  (unsigned long long)meta->next, (unsigned long long)meta->records);
        return SL_ESTORE;
    }
    return 0;
}

//  Reads a stream's record. 0, SL_ENOTFOUND, SL_ESTORE or an LMDB failure.
int
sl_store_meta_get (sl_store_t *self, MDB_txn *txn, const char *stream, size_t len, s_meta_t *meta)
{
    uint8_t kbuf[S_PREFIX_LEN + SL_NAME_MAX];
    MDB_val key = {s_meta_key (kbuf, stream, len), kbuf};
    MDB_val val;
    int rc = mdb_get (txn, self->db_meta, &key, &val);
    if (rc == MDB_NOTFOUND) {
        return SL_ENOTFOUND;
    }
    if (rc) {
        return sl_store_fail (self, txn, rc, "reading stream meta");
    }
    return sl_store_meta_decode (&val, stream, (int)len, meta);
}

int
sl_store_meta_put (sl_store_t *self, const char *stream, size_t len, const s_meta_t *meta)
{
    uint8_t kbuf[S_PREFIX_LEN + SL_NAME_MAX];
    uint8_t vbuf[SL_STORE_META_SIZE];
    s_meta_encode (meta, vbuf);
    MDB_val key = {s_meta_key (kbuf, stream, len), kbuf};
    MDB_val val = {SL_STORE_META_SIZE, vbuf};
    int rc = sl_store_jput (self, self->db_meta, &key, &val, 0);
    return rc ? sl_store_fail (self, self->wtxn, rc, "writing stream meta") : 0;
}

static void
s_info_fill (sl_stream_info_t *info, const char *stream, size_t len, const s_meta_t *meta)
{
    memset (info, 0, sizeof *info);
    memcpy (info->name, stream, len);
    info->name[len] = 0;
    if (meta) {
        info->first = meta->first;
        info->next = meta->next;
        info->records = meta->records;
        info->bytes = meta->bytes;
        info->last_ms = meta->last_ms;
    }
}

//  Checks one log entry read from disk: the key belongs to stream id, the
//  value holds a well-formed blob header whose base matches the key. The
//  checksum is checked by sl_store_blob_verify, only where a blob is used
//  (a seek looks at headers only).
int
sl_store_blob_check (const MDB_val *key, const MDB_val *val, uint32_t id, s_blob_t *blob)
{
    if (key->mv_size != SL_STORE_LOG_KEY_SIZE) {
        sl_error (S_COMP, "log key of %zu bytes: data is damaged", key->mv_size);
        return SL_ESTORE;
    }
    const uint8_t *k = key->mv_data;
    if (sl_be32 (k) != id) {
        return 0;
    }
    uint64_t offset = sl_be64 (k + 4);
    const uint8_t *v = val->mv_data;
    blob->base = offset;
    blob->count = 0;
    blob->append_ms = 0;
    if (val->mv_size < SL_BATCH_HEADER_SIZE || v[0] != SL_BATCH_VERSION || sl_be32 (v + 4) == 0 ||
        sl_be64 (v + 8) != offset) {
        return SL_ECORRUPT;
    }
    blob->count = sl_be32 (v + 4);
    blob->append_ms = (int64_t)sl_be64 (v + 16);
    return 1;
}

//  Where the kernel mapped data.mdb: LMDB does not say (MDB_envinfo's
//  me_mapaddr is set only with MDB_FIXEDMAP), /proc/self/maps does. The
//  line whose inode is data.mdb's and whose file offset is 0. NULL when
//  not found (the bounds check is then skipped; the checksum still runs).
static const uint8_t *
s_map_base (sl_store_t *self)
{
    mdb_filehandle_t fd;
    struct stat st;
    if (mdb_env_get_fd (self->env, &fd) != 0 || fstat (fd, &st) != 0) {
        return NULL;
    }
    FILE *maps = fopen ("/proc/self/maps", "re");
    if (!maps) {
        return NULL;
    }
    const uint8_t *base = NULL;
    char line[512];
    //  Bounded: a process has at most vm.max_map_count mappings.
    for (int i = 0; i < 1000000 && !base && fgets (line, sizeof line, maps); i++) {
        unsigned long long start, end, offset, inode;
        unsigned int major, minor;
        if (sscanf (line, "%llx-%llx %*s %llx %x:%x %llu", &start, &end, &offset, &major, &minor,
                    &inode) == 6 &&
            inode == (unsigned long long)st.st_ino && offset == 0 &&
            makedev (major, minor) == st.st_dev) {
            base = (const uint8_t *)(uintptr_t)start;
        }
    }
    fclose (maps);
    return base;
}

void
sl_store_map_bounds (sl_store_t *self)
{
    MDB_envinfo info;
    if (mdb_env_info (self->env, &info) != 0) {
        self->map_lo = self->map_hi = NULL;
        return;
    }
    //  The map moves only when its size changes.
    if (self->map_lo_size != info.me_mapsize) {
        self->map_lo = s_map_base (self);
        self->map_lo_size = info.me_mapsize;
    }
    self->map_hi =
        self->map_lo ? self->map_lo + ((uint64_t)info.me_last_pgno + 1) * self->page_size : NULL;
}

int
sl_store_blob_verify (sl_store_t *self, const s_meta_t *meta, const MDB_val *val, uint64_t base,
                      size_t *len)
{
    const uint8_t *p = val->mv_data;
    //  A damaged node can claim a size past the end of the file: check
    //  before a byte of it is read.
    if (self->map_hi &&
        (p < self->map_lo || p > self->map_hi || val->mv_size > (size_t)(self->map_hi - p))) {
        return SL_ECORRUPT;
    }
    *len = val->mv_size;
    if (base < meta->crc_from) {
        return 0;
    }
    if (val->mv_size < SL_BATCH_HEADER_SIZE + SL_BATCH_CRC_SIZE) {
        return SL_ECORRUPT;
    }
    *len = val->mv_size - SL_BATCH_CRC_SIZE;
    return sl_crc32c (p, *len) == sl_be32 (p + *len) ? 0 : SL_ECORRUPT;
}

//  Positions cur on the batch of stream id that contains offset, or else on
//  the first batch after it. 1 = positioned (key/val/blob filled), 0 = no
//  such batch, SL_ECORRUPT = positioned on a damaged entry that holds
//  offset or is the first after it (blob->base from its key), other
//  negative = error.
static int
s_seek_batch (sl_store_t *self, MDB_txn *txn, MDB_cursor *cur, uint32_t id, uint64_t offset,
              MDB_val *key, MDB_val *val, s_blob_t *blob)
{
    uint8_t kbuf[SL_STORE_LOG_KEY_SIZE];
    sl_store_log_key (kbuf, id, offset);
    MDB_val want = {SL_STORE_LOG_KEY_SIZE, kbuf};
    *key = want;
    int rc = mdb_cursor_get (cur, key, val, MDB_SET_RANGE);
    if (rc && rc != MDB_NOTFOUND) {
        return sl_store_fail (self, txn, rc, "seeking the log");
    }
    int after = 0;
    if (rc == 0) {
        after = sl_store_blob_check (key, val, id, blob);
        if (after == SL_ECORRUPT && blob->base == offset) {
            return SL_ECORRUPT;
        }
        if (after < 0 && after != SL_ECORRUPT) {
            return after;
        }
        if (after == 1 && blob->base == offset) {
            return 1;
        }
    }
    //  The batch holding offset starts before it: step back one entry.
    int rc2 = mdb_cursor_get (cur, key, val, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    if (rc2 && rc2 != MDB_NOTFOUND) {
        return sl_store_fail (self, txn, rc2, "seeking the log");
    }
    if (rc2 == 0) {
        int mine = sl_store_blob_check (key, val, id, blob);
        if (mine < 0 && mine != SL_ECORRUPT) {
            return mine;
        }
        //  A damaged entry before offset, with none of this stream between:
        //  offsets are dense, so it holds offset (its count is not to be
        //  trusted).
        if (mine == SL_ECORRUPT && blob->base < offset) {
            return SL_ECORRUPT;
        }
        if (mine == 1 && blob->base < offset && offset - blob->base < blob->count) {
            return 1;
        }
    }
    if (!after) {
        return 0;
    }
    //  A gap before the next batch (only after damage): start at that batch.
    *key = want;
    rc = mdb_cursor_get (cur, key, val, MDB_SET_RANGE);
    if (rc) {
        return sl_store_fail (self, txn, rc, "seeking the log");
    }
    return sl_store_blob_check (key, val, id, blob);
}

//  --------------------------------------------------------------------------
//  Appending

//  Gives a new stream the next id from the counter in meta.
static int
s_stream_create (sl_store_t *self, const char *stream, size_t len, s_meta_t *meta)
{
    MDB_val key = {sizeof S_NEXT_ID_KEY - 1, (void *)S_NEXT_ID_KEY};
    MDB_val val;
    uint32_t id = 1;
    int rc = mdb_get (self->wtxn, self->db_meta, &key, &val);
    if (rc == 0) {
        if (val.mv_size < 4) {
            sl_error (S_COMP, "next_stream_id value of %zu bytes: data is damaged", val.mv_size);
            return SL_ESTORE;
        }
        id = sl_be32 (val.mv_data);
    }
    else if (rc != MDB_NOTFOUND) {
        return sl_store_fail (self, self->wtxn, rc, "reading the stream counter");
    }
    if (id == 0) {
        sl_error (S_COMP, "next_stream_id is 0: data is damaged");
        return SL_ESTORE;
    }
    if (id == UINT32_MAX) {
        sl_error (S_COMP, "cannot create stream %.*s: no stream ids left", (int)len, stream);
        return SL_ETOOBIG;
    }
    uint8_t vbuf[4];
    sl_put_be32 (vbuf, id + 1);
    val.mv_size = 4;
    val.mv_data = vbuf;
    rc = sl_store_jput (self, self->db_meta, &key, &val, 0);
    if (rc) {
        return sl_store_fail (self, self->wtxn, rc, "writing the stream counter");
    }
    memset (meta, 0, sizeof *meta);
    meta->id = id;
    return 0;
}

int
sl_store_append (sl_store_t *self, const char *stream, const uint8_t *records, size_t len,
                 uint32_t count, int64_t now_ms, sl_batch_header_t *header)
{
    size_t name_len;
    if (!sl_store_name_ok (stream, &name_len)) {
        return SL_ENAME;
    }
    if (count == 0 || (!records && len)) {
        return SL_EINVAL;
    }
    if (len > UINT32_MAX - SL_BATCH_HEADER_SIZE - SL_BATCH_CRC_SIZE) {
        return SL_ETOOBIG;
    }
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    s_meta_t meta;
    int rc = sl_store_meta_get (self, self->wtxn, stream, name_len, &meta);
    if (rc == SL_ENOTFOUND) {
        rc = s_stream_create (self, stream, name_len, &meta);
    }
    if (rc) {
        return rc;
    }
    if (count > UINT64_MAX - meta.next) {
        return SL_ERANGE;
    }
    sl_batch_header_t h = {
        .version = SL_BATCH_VERSION,
        .flags = 0,
        .count = count,
        .base_offset = meta.next,
        .append_ms = now_ms > meta.last_ms ? now_ms : meta.last_ms,
    };
    //  One put, no copy: reserve the value in the map and write into it.
    //  MDB_APPEND is cheap when this stream holds the greatest keys (the
    //  newest stream); otherwise the key goes in its place in the tree.
    //  Every batch appended now carries a checksum (meta.next >= crc_from).
    size_t size = SL_BATCH_HEADER_SIZE + len + SL_BATCH_CRC_SIZE;
    uint8_t kbuf[SL_STORE_LOG_KEY_SIZE];
    sl_store_log_key (kbuf, meta.id, meta.next);
    MDB_val key = {SL_STORE_LOG_KEY_SIZE, kbuf};
    MDB_val val = {size, NULL};
    rc = sl_store_jput (self, self->db_log, &key, &val, MDB_RESERVE | MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
        val.mv_size = size;
        val.mv_data = NULL;
        rc = sl_store_jput (self, self->db_log, &key, &val, MDB_RESERVE | MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST) {
            sl_error (S_COMP, "stream %s: log already holds offset %llu: meta and log disagree",
                      stream, (unsigned long long)meta.next);
            return SL_ESTORE;
        }
    }
    if (rc) {
        return sl_store_fail (self, self->wtxn, rc, "appending");
    }
    uint8_t *out = val.mv_data;
    sl_batch_header_encode (&h, out);
    if (len) {
        memcpy (out + SL_BATCH_HEADER_SIZE, records, len);
    }
    size_t at = SL_BATCH_HEADER_SIZE + len;
    sl_put_be32 (out + at, sl_crc32c (out, at));
    sl_store_jnote (self, self->db_log, &key, &val);
    meta.next += count;
    meta.records += count;
    meta.bytes += size;
    meta.last_ms = h.append_ms;
    rc = sl_store_meta_put (self, stream, name_len, &meta);
    if (rc) {
        return rc;
    }
    if (header) {
        *header = h;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Stream state and reading

int
sl_store_stream_info (sl_store_t *self, const char *stream, sl_stream_info_t *info, bool *exists)
{
    size_t len;
    if (!sl_store_name_ok (stream, &len)) {
        return SL_ENAME;
    }
    MDB_txn *txn;
    bool is_read;
    int rc = sl_store_view_begin (self, &txn, &is_read);
    if (rc) {
        return rc;
    }
    s_meta_t meta;
    rc = sl_store_meta_get (self, txn, stream, len, &meta);
    bool found = rc == 0;
    if (rc == SL_ENOTFOUND) {
        rc = 0;
    }
    sl_store_view_end (self, is_read);
    if (rc) {
        return rc;
    }
    if (info) {
        s_info_fill (info, stream, len, found ? &meta : NULL);
    }
    if (exists) {
        *exists = found;
    }
    return 0;
}

typedef struct {
    sl_store_stream_fn *fn;
    void *ctx;
} s_stream_walk_t;

//  One entry of meta from the streams' prefix on; the first key past the
//  prefix ends the walk.
static int
s_stream_entry (void *ctx, const MDB_val *key, const MDB_val *val, bool *stop)
{
    s_stream_walk_t *walk = ctx;
    if (key->mv_size < S_PREFIX_LEN || memcmp (key->mv_data, S_PREFIX, S_PREFIX_LEN) != 0) {
        *stop = true;
        return 0;
    }
    const char *name = (const char *)key->mv_data + S_PREFIX_LEN;
    size_t len = key->mv_size - S_PREFIX_LEN;
    if (len > SL_NAME_MAX || !sl_name_valid (name, len)) {
        sl_error (S_COMP, "meta holds a stream key with an invalid name: data is damaged");
        return SL_ESTORE;
    }
    s_meta_t meta;
    int rc = sl_store_meta_decode (val, name, (int)len, &meta);
    if (rc) {
        return rc;
    }
    sl_stream_info_t info;
    s_info_fill (&info, name, len, &meta);
    return walk->fn (walk->ctx, &info);
}

int
sl_store_list (sl_store_t *self, sl_store_stream_fn *fn, void *ctx)
{
    s_stream_walk_t walk = {fn, ctx};
    MDB_val from = {S_PREFIX_LEN, (void *)S_PREFIX};
    return sl_store_walk (self, self->db_meta, &from, "listing streams", s_stream_entry, &walk);
}

//  A damaged batch met by a read: its range runs from its key to the next
//  batch of the stream (its own count is not to be trusted), which the
//  cursor finds. Counted on every read, logged once per batch.
static void
s_corrupt (sl_store_t *self, MDB_cursor *cur, const char *stream, const s_meta_t *meta,
           uint64_t base)
{
    uint64_t to = meta->next;
    MDB_val key, val;
    if (mdb_cursor_get (cur, &key, &val, MDB_NEXT) == 0 && key.mv_size == SL_STORE_LOG_KEY_SIZE &&
        sl_be32 (key.mv_data) == meta->id) {
        uint64_t next = sl_be64 ((const uint8_t *)key.mv_data + 4);
        to = next > base && next < to ? next : to;
    }
    self->n_corrupt++;
    self->corrupt_from = base;
    self->corrupt_to = to > base ? to : base + 1;
    if (self->corrupt_id != meta->id || self->corrupt_base != base) {
        self->corrupt_id = meta->id;
        self->corrupt_base = base;
        sl_error (S_COMP,
                  "stream %s: the batch at offsets %llu..%llu failed its checksum: not "
                  "served (readers get ECORRUPT for it; run sluice-broker --check --data %s)",
                  stream, (unsigned long long)base, (unsigned long long)self->corrupt_to - 1,
                  self->dir);
    }
}

int
sl_store_read (sl_store_t *self, const char *stream, uint64_t offset, uint32_t max_records,
               uint64_t max_bytes, sl_store_blob_fn *fn, void *ctx, sl_stream_info_t *info)
{
    size_t len;
    if (!sl_store_name_ok (stream, &len)) {
        return SL_ENAME;
    }
    MDB_txn *txn;
    int rc = sl_store_rtxn_begin (self, &txn);
    if (rc) {
        return rc;
    }
    sl_store_map_bounds (self);
    MDB_cursor *cur = NULL;
    s_meta_t meta;
    rc = sl_store_meta_get (self, txn, stream, len, &meta);
    if (info) {
        s_info_fill (info, stream, len, rc == 0 ? &meta : NULL);
    }
    if (rc) {
        rc = rc == SL_ENOTFOUND ? 0 : rc;
        goto done;
    }
    if (offset < meta.first) {
        offset = meta.first;
    }
    if (offset >= meta.next) {
        goto done;
    }
    rc = mdb_cursor_open (txn, self->db_log, &cur);
    if (rc) {
        rc = sl_store_error (self, rc, "reading the log");
        goto done;
    }
    MDB_val key, val;
    s_blob_t blob;
    rc = s_seek_batch (self, txn, cur, meta.id, offset, &key, &val, &blob);
    uint64_t records = 0;
    uint64_t bytes = 0;
    size_t blobs = 0;
    while (rc == 1 && blob.base < meta.next) {
        uint64_t from = blob.base > offset ? blob.base : offset;
        uint64_t n = blob.base + blob.count - from;
        size_t size;
        rc = sl_store_blob_verify (self, &meta, &val, blob.base, &size);
        if (rc) {
            break;
        }
        //  Soft bounds, cut at a blob boundary: a blob that would pass one
        //  is left for the next call, unless it is the first. Bytes are
        //  those handed out (without the checksum).
        if (blobs > 0 && ((max_records && records + n > max_records) ||
                          (max_bytes && bytes + size > max_bytes))) {
            break;
        }
        rc = fn (ctx, val.mv_data, size);
        if (rc) {
            goto done;
        }
        blobs++;
        records += n;
        bytes += size;
        if ((max_records && records >= max_records) || (max_bytes && bytes >= max_bytes)) {
            break;
        }
        rc = mdb_cursor_get (cur, &key, &val, MDB_NEXT);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc) {
            rc = sl_store_error (self, rc, "reading the log");
            goto done;
        }
        rc = sl_store_blob_check (&key, &val, meta.id, &blob);
    }
    //  A damaged batch: what came before it is served; a read that starts
    //  in it gets ECORRUPT, and the reader may go on after its range.
    if (rc == SL_ECORRUPT) {
        if (blob.base < meta.next) {
            s_corrupt (self, cur, stream, &meta, blob.base);
        }
        rc = blobs || blob.base >= meta.next ? 0 : SL_ECORRUPT;
    }
    rc = rc < 0 ? rc : 0;
done:
    if (cur) {
        mdb_cursor_close (cur);
    }
    sl_store_rtxn_end (self);
    return rc;
}

//  Binary search over offsets: append_ms never decreases with the offset,
//  so the first batch appended at or after time_ms is found in O(log n)
//  batch lookups. lo and hi are always batch bases (or next).
int
sl_store_find_time (sl_store_t *self, const char *stream, int64_t time_ms, uint64_t *offset)
{
    size_t len;
    if (!sl_store_name_ok (stream, &len)) {
        return SL_ENAME;
    }
    MDB_txn *txn;
    int rc = sl_store_rtxn_begin (self, &txn);
    if (rc) {
        return rc;
    }
    MDB_cursor *cur = NULL;
    s_meta_t meta;
    rc = sl_store_meta_get (self, txn, stream, len, &meta);
    if (rc) {
        if (rc == SL_ENOTFOUND) {
            *offset = 0;
            rc = 0;
        }
        goto done;
    }
    if (meta.records == 0 || meta.last_ms < time_ms) {
        *offset = meta.next;
        goto done;
    }
    rc = mdb_cursor_open (txn, self->db_log, &cur);
    if (rc) {
        rc = sl_store_error (self, rc, "searching the log");
        goto done;
    }
    uint64_t lo = meta.first;
    uint64_t hi = meta.next;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        MDB_val key, val;
        s_blob_t blob;
        rc = s_seek_batch (self, txn, cur, meta.id, mid, &key, &val, &blob);
        if (rc < 0) {
            goto done;
        }
        if (rc == 0 || blob.base > mid || blob.base < lo) {
            sl_error (S_COMP, "stream %s: log has no batch holding offset %llu: data is damaged",
                      stream, (unsigned long long)mid);
            rc = SL_ESTORE;
            goto done;
        }
        if (blob.append_ms >= time_ms) {
            hi = blob.base;
        }
        else {
            lo = blob.base + blob.count;
        }
    }
    *offset = lo;
    rc = 0;
done:
    if (cur) {
        mdb_cursor_close (cur);
    }
    sl_store_rtxn_end (self);
    return rc;
}
