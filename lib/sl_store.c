/*  sl_store.c - the broker's durable state in one LMDB environment.

    Layout (docs/PROTOCOL.md §11): named databases meta, log, producers and
    readers; every integer big-endian. The broker is single-threaded: one
    write transaction at a time (sl_store_begin .. commit/abort) and one
    cached read-only transaction, reset between calls and renewed on the
    next, so that a read costs no malloc and no reader-slot lookup.

    Error policy: when LMDB fails inside the write transaction, the
    transaction is unusable, so it is aborted here at once and the caller
    sees sl_store_in_txn() false. Values read from disk are checked for size
    and consistency before use; a bad one is SL_ESTORE and one log line.
*/
#include "sl_store.h"

#include <assert.h>
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"

#define S_COMP             "store"
#define S_META_SIZE        44           //  id u32, first, next, records, bytes u64, last_ms i64
#define S_POS_SIZE         16           //  producer / reader value: u64 ‖ i64
#define S_LOG_KEY_SIZE     12           //  stream id u32 ‖ base offset u64
#define S_PREFIX           "stream/"
#define S_PREFIX_LEN       7
#define S_NEXT_ID_KEY      "next_stream_id"
#define S_DEFAULT_MAP      (64ull << 20)
#define S_DEFAULT_MAX_MAP  (1ull << 40)
#define S_MIN_MAP          (1ull << 20)
#define S_MAP_ALIGN        (1ull << 16)
#define S_LOW_SPACE        (1ull << 20) //  an EIO with less free space than this is a full disk
#define S_MAX_DBS          8

typedef struct {
    uint32_t id;
    uint64_t first;
    uint64_t next;
    uint64_t records;
    uint64_t bytes;
    int64_t last_ms;
} s_meta_t;

typedef struct {
    uint64_t base;
    uint32_t count;
    int64_t append_ms;
} s_blob_t;

struct _sl_store_t {
    MDB_env *env;
    MDB_dbi db_meta;
    MDB_dbi db_log;
    MDB_dbi db_producers;
    MDB_dbi db_readers;
    MDB_dbi db_groups;
    MDB_txn *wtxn;              //  the open write transaction, or NULL
    MDB_txn *rtxn;              //  cached read transaction (reset while idle), or NULL
    int rdepth;                 //  read calls in progress on rtxn (callbacks may re-enter)
    uint64_t map_size;          //  current map size
    uint64_t want_map;          //  growth deferred until no read is in progress
    uint64_t max_map;
    uint64_t page_size;
    bool fsync;
    bool space_out;             //  the last write failed for lack of space (logged once)
    char *dir;
};

//  --------------------------------------------------------------------------
//  Big-endian helpers

static inline void
s_put_u32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

static inline void
s_put_u64 (uint8_t *p, uint64_t v)
{
    s_put_u32 (p, (uint32_t) (v >> 32));
    s_put_u32 (p + 4, (uint32_t) v);
}

static inline uint32_t
s_get_u32 (const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static inline uint64_t
s_get_u64 (const uint8_t *p)
{
    return ((uint64_t) s_get_u32 (p) << 32) | s_get_u32 (p + 4);
}

//  --------------------------------------------------------------------------
//  Errors

//  A write failing with EIO is a full disk when the filesystem has (almost)
//  no room left: LMDB reports a short page write as EIO.
static bool
s_space_low (sl_store_t *self)
{
    struct statvfs st;
    if (statvfs (self->dir, &st) != 0) {
        return false;
    }
    uint64_t blocks = geteuid () == 0 ? st.f_bfree : st.f_bavail;
    return blocks * (uint64_t) st.f_frsize < S_LOW_SPACE;
}

//  Maps an LMDB or errno code to SL_E* and logs it where it is decided.
//  A full disk is logged once until a commit succeeds again.
static int
s_error (sl_store_t *self, int rc, const char *what)
{
    if (rc == ENOSPC || (rc == EIO && s_space_low (self))) {
        if (!self->space_out) {
            sl_error (S_COMP, "%s: disk full in %s: intake stops until space is freed", what,
                      self->dir);
        }
        self->space_out = true;
        return SL_ENOSPC;
    }
    if (rc == EIO) {
        sl_error (S_COMP, "%s: I/O error in %s: check the disk", what, self->dir);
        return SL_EIO;
    }
    if (rc == ENOMEM) {
        sl_error (S_COMP, "%s: out of memory", what);
        return SL_ENOMEM;
    }
    sl_error (S_COMP, "%s: %s (%s)", what, mdb_strerror (rc), self->dir);
    return SL_ESTORE;
}

static void
s_drop_rtxn (sl_store_t *self)
{
    assert (self->rdepth == 0);
    if (self->rtxn) {
        mdb_txn_abort (self->rtxn);
        self->rtxn = NULL;
    }
}

static void
s_refresh_map_size (sl_store_t *self)
{
    MDB_envinfo info;
    if (mdb_env_info (self->env, &info) == 0) {
        self->map_size = info.me_mapsize;
    }
}

//  Sets the map size. LMDB requires that no transaction of this process be
//  active, so the idle read transaction is dropped first; callers check
//  that no write transaction and no read call is in progress.
static int
s_remap (sl_store_t *self, uint64_t size)
{
    assert (!self->wtxn && self->rdepth == 0);
    s_drop_rtxn (self);
    int rc = mdb_env_set_mapsize (self->env, (size_t) size);
    if (rc) {
        return s_error (self, rc, "resizing the map");
    }
    s_refresh_map_size (self);
    sl_info (S_COMP, "map grown to %llu MiB", (unsigned long long) (self->map_size >> 20));
    return 0;
}

//  Begins a transaction; when another process grew the map, adopts its
//  size and tries once more.
static int
s_txn_begin (sl_store_t *self, unsigned int flags, MDB_txn **txn_p)
{
    int rc = mdb_txn_begin (self->env, NULL, flags, txn_p);
    if (rc == MDB_MAP_RESIZED && !self->wtxn && self->rdepth == 0) {
        s_drop_rtxn (self);
        rc = mdb_env_set_mapsize (self->env, 0);
        if (rc == 0) {
            s_refresh_map_size (self);
            rc = mdb_txn_begin (self->env, NULL, flags, txn_p);
        }
    }
    return rc;
}

//  After the map ran full: grow it (doubling, up to max_map) so that the
//  caller can redo the transaction, or report a full store at the limit.
static int
s_map_full (sl_store_t *self)
{
    uint64_t target = self->map_size * 2;
    if (target > self->max_map) {
        target = self->max_map;
    }
    if (target <= self->map_size) {
        if (!self->space_out) {
            sl_error (S_COMP, "map reached its limit of %llu MiB: raise max_map or retention",
                      (unsigned long long) (self->max_map >> 20));
        }
        self->space_out = true;
        return SL_ENOSPC;
    }
    if (self->rdepth > 0) {
        self->want_map = target;        //  grown by the next begin
        return SL_EMAPFULL;
    }
    int rc = s_remap (self, target);
    return rc ? rc : SL_EMAPFULL;
}

//  An LMDB call failed in txn. In the write transaction that transaction is
//  now unusable: abort it, then grow the map when that was the cause.
static int
s_fail (sl_store_t *self, MDB_txn *txn, int rc, const char *what)
{
    if (txn && txn == self->wtxn) {
        mdb_txn_abort (self->wtxn);
        self->wtxn = NULL;
        if (rc == MDB_MAP_FULL) {
            return s_map_full (self);
        }
    }
    return s_error (self, rc, what);
}

//  --------------------------------------------------------------------------
//  Transactions for reads

//  Reads go to the cached read transaction: renewed when idle, shared when a
//  callback of a read calls back into the store.
static int
s_read_begin (sl_store_t *self, MDB_txn **txn_p)
{
    if (self->rdepth > 0) {
        self->rdepth++;
        *txn_p = self->rtxn;
        return 0;
    }
    if (self->rtxn) {
        int rc = mdb_txn_renew (self->rtxn);
        if (rc) {
            mdb_txn_abort (self->rtxn);
            self->rtxn = NULL;
        }
    }
    if (!self->rtxn) {
        int rc = s_txn_begin (self, MDB_RDONLY, &self->rtxn);
        if (rc) {
            self->rtxn = NULL;
            return s_error (self, rc, "beginning a read");
        }
    }
    self->rdepth = 1;
    *txn_p = self->rtxn;
    return 0;
}

static void
s_read_end (sl_store_t *self)
{
    assert (self->rdepth > 0);
    if (--self->rdepth == 0) {
        mdb_txn_reset (self->rtxn);
    }
}

//  The writer's view: the open write transaction when there is one (so that
//  the broker sees what it wrote in this group commit), else a read.
static int
s_view_begin (sl_store_t *self, MDB_txn **txn_p, bool *is_read)
{
    *is_read = !self->wtxn;
    if (self->wtxn) {
        *txn_p = self->wtxn;
        return 0;
    }
    return s_read_begin (self, txn_p);
}

static void
s_view_end (sl_store_t *self, bool is_read)
{
    if (is_read) {
        s_read_end (self);
    }
}

//  --------------------------------------------------------------------------
//  Keys and values

static bool
s_name_ok (const char *name, size_t *len)
{
    if (!name) {
        return false;
    }
    *len = strnlen (name, SL_NAME_MAX + 1);
    return sl_name_valid (name, *len);
}

static size_t
s_meta_key (uint8_t *key, const char *stream, size_t len)
{
    memcpy (key, S_PREFIX, S_PREFIX_LEN);
    memcpy (key + S_PREFIX_LEN, stream, len);
    return S_PREFIX_LEN + len;
}

static size_t
s_pair_key (uint8_t *key, const char *a, size_t a_len, const char *b, size_t b_len)
{
    memcpy (key, a, a_len);
    key[a_len] = 0;
    memcpy (key + a_len + 1, b, b_len);
    return a_len + 1 + b_len;
}

static void
s_log_key (uint8_t *key, uint32_t id, uint64_t offset)
{
    s_put_u32 (key, id);
    s_put_u64 (key + 4, offset);
}

static void
s_meta_encode (const s_meta_t *meta, uint8_t *out)
{
    s_put_u32 (out, meta->id);
    s_put_u64 (out + 4, meta->first);
    s_put_u64 (out + 12, meta->next);
    s_put_u64 (out + 20, meta->records);
    s_put_u64 (out + 28, meta->bytes);
    s_put_u64 (out + 36, (uint64_t) meta->last_ms);
}

//  Decodes a stream record read from disk. Longer values are accepted (a
//  later version may add fields); shorter or inconsistent ones are not.
static int
s_meta_decode (const MDB_val *val, const char *stream, int name_len, s_meta_t *meta)
{
    if (val->mv_size < S_META_SIZE) {
        sl_error (S_COMP, "stream %.*s: meta value of %zu bytes, expected %d: data is damaged",
                  name_len, stream, val->mv_size, S_META_SIZE);
        return SL_ESTORE;
    }
    const uint8_t *p = val->mv_data;
    meta->id = s_get_u32 (p);
    meta->first = s_get_u64 (p + 4);
    meta->next = s_get_u64 (p + 12);
    meta->records = s_get_u64 (p + 20);
    meta->bytes = s_get_u64 (p + 28);
    meta->last_ms = (int64_t) s_get_u64 (p + 36);
    if (meta->id == 0 || meta->first > meta->next || meta->records != meta->next - meta->first) {
        sl_error (S_COMP, "stream %.*s: inconsistent meta (id %u, first %llu, next %llu, "
                  "records %llu): data is damaged", name_len, stream, meta->id,
                  (unsigned long long) meta->first, (unsigned long long) meta->next,
                  (unsigned long long) meta->records);
        return SL_ESTORE;
    }
    return 0;
}

//  Reads a stream's record. 0, SL_ENOTFOUND, SL_ESTORE or an LMDB failure.
static int
s_meta_get (sl_store_t *self, MDB_txn *txn, const char *stream, size_t len, s_meta_t *meta)
{
    uint8_t kbuf[S_PREFIX_LEN + SL_NAME_MAX];
    MDB_val key = { s_meta_key (kbuf, stream, len), kbuf };
    MDB_val val;
    int rc = mdb_get (txn, self->db_meta, &key, &val);
    if (rc == MDB_NOTFOUND) {
        return SL_ENOTFOUND;
    }
    if (rc) {
        return s_fail (self, txn, rc, "reading stream meta");
    }
    return s_meta_decode (&val, stream, (int) len, meta);
}

static int
s_meta_put (sl_store_t *self, const char *stream, size_t len, const s_meta_t *meta)
{
    uint8_t kbuf[S_PREFIX_LEN + SL_NAME_MAX];
    uint8_t vbuf[S_META_SIZE];
    s_meta_encode (meta, vbuf);
    MDB_val key = { s_meta_key (kbuf, stream, len), kbuf };
    MDB_val val = { S_META_SIZE, vbuf };
    int rc = mdb_put (self->wtxn, self->db_meta, &key, &val, 0);
    return rc ? s_fail (self, self->wtxn, rc, "writing stream meta") : 0;
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
//  value holds a well-formed blob header whose base matches the key.
//  Returns 1 for a good entry of this stream, 0 for another stream's key,
//  SL_ESTORE for a damaged entry.
static int
s_blob_check (const MDB_val *key, const MDB_val *val, uint32_t id, s_blob_t *blob)
{
    if (key->mv_size != S_LOG_KEY_SIZE) {
        sl_error (S_COMP, "log key of %zu bytes: data is damaged", key->mv_size);
        return SL_ESTORE;
    }
    const uint8_t *k = key->mv_data;
    if (s_get_u32 (k) != id) {
        return 0;
    }
    uint64_t offset = s_get_u64 (k + 4);
    const uint8_t *v = val->mv_data;
    if (val->mv_size < SL_BATCH_HEADER_SIZE || v[0] != SL_BATCH_VERSION
        || s_get_u32 (v + 4) == 0 || s_get_u64 (v + 8) != offset) {
        sl_error (S_COMP, "stream id %u: log entry at offset %llu (%zu bytes) is damaged", id,
                  (unsigned long long) offset, val->mv_size);
        return SL_ESTORE;
    }
    blob->base = offset;
    blob->count = s_get_u32 (v + 4);
    blob->append_ms = (int64_t) s_get_u64 (v + 16);
    return 1;
}

//  Positions cur on the batch of stream id that contains offset, or else on
//  the first batch after it. 1 = positioned (key/val/blob filled), 0 = no
//  such batch, negative = error.
static int
s_seek_batch (sl_store_t *self, MDB_txn *txn, MDB_cursor *cur, uint32_t id, uint64_t offset,
              MDB_val *key, MDB_val *val, s_blob_t *blob)
{
    uint8_t kbuf[S_LOG_KEY_SIZE];
    s_log_key (kbuf, id, offset);
    MDB_val want = { S_LOG_KEY_SIZE, kbuf };
    *key = want;
    int rc = mdb_cursor_get (cur, key, val, MDB_SET_RANGE);
    if (rc && rc != MDB_NOTFOUND) {
        return s_fail (self, txn, rc, "seeking the log");
    }
    int after = 0;
    if (rc == 0) {
        after = s_blob_check (key, val, id, blob);
        if (after < 0) {
            return after;
        }
        if (after && blob->base == offset) {
            return 1;
        }
    }
    //  The batch holding offset starts before it: step back one entry.
    int rc2 = mdb_cursor_get (cur, key, val, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    if (rc2 && rc2 != MDB_NOTFOUND) {
        return s_fail (self, txn, rc2, "seeking the log");
    }
    if (rc2 == 0) {
        int mine = s_blob_check (key, val, id, blob);
        if (mine < 0) {
            return mine;
        }
        if (mine && blob->base < offset && offset - blob->base < blob->count) {
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
        return s_fail (self, txn, rc, "seeking the log");
    }
    return s_blob_check (key, val, id, blob);
}

//  --------------------------------------------------------------------------
//  Open and close

//  mkdir -p: creates dir and any missing parents.
static int
s_mkdirs (const char *dir)
{
    struct stat st;
    if (stat (dir, &st) == 0) {
        return S_ISDIR (st.st_mode) ? 0 : ENOTDIR;
    }
    char *path = strdup (dir);
    if (!path) {
        return ENOMEM;
    }
    int rc = 0;
    for (char *p = path + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir (path, 0750) != 0 && errno != EEXIST) {
                rc = errno;
                break;
            }
            *p = c;
            if (c == 0) {
                break;
            }
        }
    }
    free (path);
    if (rc == 0 && (stat (dir, &st) != 0 || !S_ISDIR (st.st_mode))) {
        rc = ENOTDIR;
    }
    return rc;
}

sl_store_t *
sl_store_open (const char *dir, const sl_store_opts_t *opts, int *err)
{
    int code = SL_ESTORE;
    int rc;
    MDB_txn *txn = NULL;
    sl_store_t *self = calloc (1, sizeof *self);
    if (!self || !dir || !*dir) {
        code = self ? SL_EINVAL : SL_ENOMEM;
        goto fail;
    }
    self->dir = strdup (dir);
    if (!self->dir) {
        code = SL_ENOMEM;
        goto fail;
    }
    uint64_t initial = opts && opts->initial_map ? opts->initial_map : S_DEFAULT_MAP;
    self->max_map = opts && opts->max_map ? opts->max_map : S_DEFAULT_MAX_MAP;
    self->fsync = opts && opts->fsync;
    if (initial < S_MIN_MAP) {
        initial = S_MIN_MAP;
    }
    initial = (initial + S_MAP_ALIGN - 1) & ~(S_MAP_ALIGN - 1);
    if (self->max_map < initial) {
        self->max_map = initial;
    }

    rc = s_mkdirs (dir);
    if (rc) {
        sl_error (S_COMP, "cannot create %s: %s", dir, strerror (rc));
        code = rc == ENOSPC ? SL_ENOSPC : rc == ENOMEM ? SL_ENOMEM : SL_EIO;
        goto fail;
    }
    rc = mdb_env_create (&self->env);
    if (rc == 0) {
        rc = mdb_env_set_maxdbs (self->env, S_MAX_DBS);
    }
    if (rc == 0) {
        rc = mdb_env_set_mapsize (self->env, (size_t) initial);
    }
    //  Never MDB_WRITEMAP: a full disk must fail a write with ENOSPC, not
    //  raise SIGBUS on a page of the map. MDB_NOTLS lets the cached read
    //  transaction live beside the write transaction in one thread.
    if (rc == 0) {
        unsigned int flags = MDB_NOTLS | (self->fsync ? 0 : MDB_NOSYNC);
        rc = mdb_env_open (self->env, dir, flags, 0640);
    }
    if (rc) {
        code = s_error (self, rc, "opening the data directory");
        goto fail;
    }
    int dead = 0;
    rc = mdb_reader_check (self->env, &dead);
    if (rc == 0 && dead > 0) {
        sl_info (S_COMP, "cleared %d stale reader slot(s) left by dead processes", dead);
    }
    MDB_stat stat;
    rc = mdb_env_stat (self->env, &stat);
    if (rc) {
        code = s_error (self, rc, "reading the environment");
        goto fail;
    }
    self->page_size = stat.ms_psize;
    s_refresh_map_size (self);

    rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open (txn, "meta", MDB_CREATE, &self->db_meta);
    }
    if (rc == 0) {
        rc = mdb_dbi_open (txn, "log", MDB_CREATE, &self->db_log);
    }
    if (rc == 0) {
        rc = mdb_dbi_open (txn, "producers", MDB_CREATE, &self->db_producers);
    }
    if (rc == 0) {
        rc = mdb_dbi_open (txn, "readers", MDB_CREATE, &self->db_readers);
    }
    if (rc == 0) {
        rc = mdb_dbi_open (txn, "groups", MDB_CREATE, &self->db_groups);
    }
    if (rc == 0) {
        rc = mdb_txn_commit (txn);
        txn = NULL;
    }
    if (rc) {
        code = s_error (self, rc, "opening the databases");
        goto fail;
    }
    //  Take the read slot now, while the disk surely has room for the lock
    //  file's page.
    MDB_txn *rtxn;
    code = s_read_begin (self, &rtxn);
    if (code) {
        goto fail;
    }
    s_read_end (self);
    if (err) {
        *err = 0;
    }
    return self;

fail:
    if (txn) {
        mdb_txn_abort (txn);
    }
    if (self) {
        if (self->rtxn) {
            mdb_txn_abort (self->rtxn);
        }
        if (self->env) {
            mdb_env_close (self->env);
        }
        free (self->dir);
        free (self);
    }
    if (err) {
        *err = code;
    }
    return NULL;
}

void
sl_store_close (sl_store_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    sl_store_t *self = *self_p;
    assert (self->rdepth == 0);
    if (self->wtxn) {
        sl_warn (S_COMP, "closing with an open write transaction: its writes are discarded");
        mdb_txn_abort (self->wtxn);
    }
    if (self->rtxn) {
        mdb_txn_abort (self->rtxn);
    }
    //  A clean shutdown makes every commit durable, whatever the sync setting.
    if (!self->fsync) {
        mdb_env_sync (self->env, 1);
    }
    mdb_env_close (self->env);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

bool
sl_store_in_txn (sl_store_t *self)
{
    return self->wtxn != NULL;
}

int
sl_store_readers_check (sl_store_t *self, int *cleared)
{
    int dead = 0;
    int rc = mdb_reader_check (self->env, &dead);
    if (rc) {
        return s_error (self, rc, "checking reader slots");
    }
    if (dead > 0) {
        sl_info (S_COMP, "cleared %d stale reader slot(s) left by dead processes", dead);
    }
    if (cleared) {
        *cleared = dead;
    }
    return 0;
}

void
sl_store_usage (sl_store_t *self, uint64_t *map_size, uint64_t *used)
{
    MDB_envinfo info;
    memset (&info, 0, sizeof info);
    mdb_env_info (self->env, &info);
    if (map_size) {
        *map_size = info.me_mapsize;
    }
    if (used) {
        *used = ((uint64_t) info.me_last_pgno + 1) * self->page_size;
    }
}

//  --------------------------------------------------------------------------
//  Write transaction

//  Doubles the map while more than 80 % of it is in use, so that a group
//  commit rarely meets MDB_MAP_FULL. Only here and after a full map is the
//  size changed: no transaction of this process is active at either point.
static void
s_maybe_grow (sl_store_t *self)
{
    uint64_t map_size, used;
    sl_store_usage (self, &map_size, &used);
    self->map_size = map_size;
    uint64_t target = self->want_map > map_size ? self->want_map : map_size;
    while (used > target / 5 * 4 && target < self->max_map) {
        target = target * 2 > self->max_map ? self->max_map : target * 2;
    }
    self->want_map = 0;
    if (target > map_size) {
        s_remap (self, target);
    }
}

int
sl_store_begin (sl_store_t *self)
{
    if (self->wtxn) {
        return SL_ESTATE;
    }
    if (self->rdepth == 0) {
        s_maybe_grow (self);
    }
    MDB_txn *txn;
    int rc = s_txn_begin (self, 0, &txn);
    if (rc) {
        return s_error (self, rc, "beginning a write");
    }
    self->wtxn = txn;
    return 0;
}

int
sl_store_commit (sl_store_t *self)
{
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    MDB_txn *txn = self->wtxn;
    self->wtxn = NULL;
    //  mdb_txn_commit frees the transaction whether or not it succeeds.
    int rc = mdb_txn_commit (txn);
    if (rc == MDB_MAP_FULL) {
        return s_map_full (self);
    }
    if (rc) {
        return s_error (self, rc, "commit");
    }
    if (self->space_out) {
        sl_info (S_COMP, "writes succeed again: intake resumes");
        self->space_out = false;
    }
    return 0;
}

void
sl_store_abort (sl_store_t *self)
{
    if (self->wtxn) {
        mdb_txn_abort (self->wtxn);
        self->wtxn = NULL;
    }
}

//  Gives a new stream the next id from the counter in meta.
static int
s_stream_create (sl_store_t *self, const char *stream, size_t len, s_meta_t *meta)
{
    MDB_val key = { sizeof S_NEXT_ID_KEY - 1, (void *) S_NEXT_ID_KEY };
    MDB_val val;
    uint32_t id = 1;
    int rc = mdb_get (self->wtxn, self->db_meta, &key, &val);
    if (rc == 0) {
        if (val.mv_size < 4) {
            sl_error (S_COMP, "next_stream_id value of %zu bytes: data is damaged",
                      val.mv_size);
            return SL_ESTORE;
        }
        id = s_get_u32 (val.mv_data);
    }
    else if (rc != MDB_NOTFOUND) {
        return s_fail (self, self->wtxn, rc, "reading the stream counter");
    }
    if (id == 0) {
        sl_error (S_COMP, "next_stream_id is 0: data is damaged");
        return SL_ESTORE;
    }
    if (id == UINT32_MAX) {
        sl_error (S_COMP, "cannot create stream %.*s: no stream ids left", (int) len, stream);
        return SL_ETOOBIG;
    }
    uint8_t vbuf[4];
    s_put_u32 (vbuf, id + 1);
    val.mv_size = 4;
    val.mv_data = vbuf;
    rc = mdb_put (self->wtxn, self->db_meta, &key, &val, 0);
    if (rc) {
        return s_fail (self, self->wtxn, rc, "writing the stream counter");
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
    if (!s_name_ok (stream, &name_len)) {
        return SL_ENAME;
    }
    if (count == 0 || (!records && len)) {
        return SL_EINVAL;
    }
    if (len > UINT32_MAX - SL_BATCH_HEADER_SIZE) {
        return SL_ETOOBIG;
    }
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    s_meta_t meta;
    int rc = s_meta_get (self, self->wtxn, stream, name_len, &meta);
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
    uint8_t kbuf[S_LOG_KEY_SIZE];
    s_log_key (kbuf, meta.id, meta.next);
    MDB_val key = { S_LOG_KEY_SIZE, kbuf };
    MDB_val val = { SL_BATCH_HEADER_SIZE + len, NULL };
    rc = mdb_put (self->wtxn, self->db_log, &key, &val, MDB_RESERVE | MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
        val.mv_size = SL_BATCH_HEADER_SIZE + len;
        val.mv_data = NULL;
        rc = mdb_put (self->wtxn, self->db_log, &key, &val, MDB_RESERVE | MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST) {
            sl_error (S_COMP, "stream %s: log already holds offset %llu: meta and log disagree",
                      stream, (unsigned long long) meta.next);
            return SL_ESTORE;
        }
    }
    if (rc) {
        return s_fail (self, self->wtxn, rc, "appending");
    }
    uint8_t *out = val.mv_data;
    sl_batch_header_encode (&h, out);
    if (len) {
        memcpy (out + SL_BATCH_HEADER_SIZE, records, len);
    }
    meta.next += count;
    meta.records += count;
    meta.bytes += SL_BATCH_HEADER_SIZE + len;
    meta.last_ms = h.append_ms;
    rc = s_meta_put (self, stream, name_len, &meta);
    if (rc) {
        return rc;
    }
    if (header) {
        *header = h;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Producer and reader tables

static int
s_pos_get (sl_store_t *self, MDB_dbi dbi, const char *a, const char *b, uint64_t *value,
           const char *what)
{
    size_t a_len, b_len;
    if (!s_name_ok (a, &a_len) || !s_name_ok (b, &b_len)) {
        return SL_ENAME;
    }
    MDB_txn *txn;
    bool is_read;
    int rc = s_view_begin (self, &txn, &is_read);
    if (rc) {
        return rc;
    }
    uint8_t kbuf[2 * SL_NAME_MAX + 1];
    MDB_val key = { s_pair_key (kbuf, a, a_len, b, b_len), kbuf };
    MDB_val val;
    rc = mdb_get (txn, dbi, &key, &val);
    if (rc == MDB_NOTFOUND) {
        rc = SL_ENOTFOUND;
    }
    else if (rc) {
        rc = s_fail (self, txn, rc, what);
    }
    else if (val.mv_size < S_POS_SIZE) {
        sl_error (S_COMP, "%s %s/%s: value of %zu bytes, expected %d: data is damaged", what, a,
                  b, val.mv_size, S_POS_SIZE);
        rc = SL_ESTORE;
    }
    else {
        *value = s_get_u64 (val.mv_data);
    }
    s_view_end (self, is_read);
    return rc;
}

static int
s_pos_set (sl_store_t *self, MDB_dbi dbi, const char *a, const char *b, uint64_t value,
           int64_t now_ms, const char *what)
{
    size_t a_len, b_len;
    if (!s_name_ok (a, &a_len) || !s_name_ok (b, &b_len)) {
        return SL_ENAME;
    }
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    uint8_t kbuf[2 * SL_NAME_MAX + 1];
    uint8_t vbuf[S_POS_SIZE];
    s_put_u64 (vbuf, value);
    s_put_u64 (vbuf + 8, (uint64_t) now_ms);
    MDB_val key = { s_pair_key (kbuf, a, a_len, b, b_len), kbuf };
    MDB_val val = { S_POS_SIZE, vbuf };
    int rc = mdb_put (self->wtxn, dbi, &key, &val, 0);
    return rc ? s_fail (self, self->wtxn, rc, what) : 0;
}

int
sl_store_producer_get (sl_store_t *self, const char *producer, const char *stream,
                       uint64_t *seq)
{
    *seq = 0;
    int rc = s_pos_get (self, self->db_producers, producer, stream, seq, "producer");
    return rc == SL_ENOTFOUND ? 0 : rc;
}

int
sl_store_producer_set (sl_store_t *self, const char *producer, const char *stream,
                       uint64_t seq, int64_t now_ms)
{
    return s_pos_set (self, self->db_producers, producer, stream, seq, now_ms, "producer");
}

int
sl_store_reader_get (sl_store_t *self, const char *stream, const char *reader,
                     uint64_t *offset)
{
    return s_pos_get (self, self->db_readers, stream, reader, offset, "reader");
}

int
sl_store_reader_set (sl_store_t *self, const char *stream, const char *reader,
                     uint64_t offset, int64_t now_ms)
{
    return s_pos_set (self, self->db_readers, stream, reader, offset, now_ms, "reader");
}

//  --------------------------------------------------------------------------
//  Group state: group name -> the encoding of lib/sl_group.c, opaque here.

int
sl_store_group_get (sl_store_t *self, const char *group, sl_buf_t *out)
{
    size_t len;
    if (!s_name_ok (group, &len)) {
        return SL_ENAME;
    }
    MDB_txn *txn;
    bool is_read;
    int rc = s_view_begin (self, &txn, &is_read);
    if (rc) {
        return rc;
    }
    MDB_val key = { len, (void *) group };
    MDB_val val;
    rc = mdb_get (txn, self->db_groups, &key, &val);
    if (rc == MDB_NOTFOUND) {
        rc = SL_ENOTFOUND;
    }
    else if (rc) {
        rc = s_fail (self, txn, rc, "group");
    }
    else {
        sl_buf_reset (out);
        rc = sl_buf_append (out, val.mv_data, val.mv_size);
    }
    s_view_end (self, is_read);
    return rc;
}

int
sl_store_group_set (sl_store_t *self, const char *group, const void *data, size_t len)
{
    size_t name_len;
    if (!s_name_ok (group, &name_len)) {
        return SL_ENAME;
    }
    if (!data || len == 0) {
        return SL_EINVAL;
    }
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    MDB_val key = { name_len, (void *) group };
    MDB_val val = { len, (void *) data };
    int rc = mdb_put (self->wtxn, self->db_groups, &key, &val, 0);
    return rc ? s_fail (self, self->wtxn, rc, "group") : 0;
}

int
sl_store_group_list (sl_store_t *self, sl_store_group_fn *fn, void *ctx)
{
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc) {
        return rc;
    }
    MDB_cursor *cur = NULL;
    rc = mdb_cursor_open (txn, self->db_groups, &cur);
    if (rc) {
        rc = s_error (self, rc, "listing groups");
        goto done;
    }
    MDB_val key, val;
    int op = MDB_FIRST;
    while (true) {
        rc = mdb_cursor_get (cur, &key, &val, op);
        op = MDB_NEXT;
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc) {
            rc = s_error (self, rc, "listing groups");
            break;
        }
        if (key.mv_size > SL_NAME_MAX || !sl_name_valid (key.mv_data, key.mv_size)) {
            sl_error (S_COMP, "groups holds a key with an invalid name: data is damaged");
            rc = SL_ESTORE;
            break;
        }
        char name[SL_NAME_MAX + 1];
        memcpy (name, key.mv_data, key.mv_size);
        name[key.mv_size] = 0;
        rc = fn (ctx, name, val.mv_data, val.mv_size);
        if (rc) {
            break;
        }
    }
done:
    if (cur) {
        mdb_cursor_close (cur);
    }
    s_read_end (self);
    return rc;
}

//  --------------------------------------------------------------------------
//  Stream state and reading

int
sl_store_stream_info (sl_store_t *self, const char *stream, sl_stream_info_t *info,
                      bool *exists)
{
    size_t len;
    if (!s_name_ok (stream, &len)) {
        return SL_ENAME;
    }
    MDB_txn *txn;
    bool is_read;
    int rc = s_view_begin (self, &txn, &is_read);
    if (rc) {
        return rc;
    }
    s_meta_t meta;
    rc = s_meta_get (self, txn, stream, len, &meta);
    bool found = rc == 0;
    if (rc == SL_ENOTFOUND) {
        rc = 0;
    }
    s_view_end (self, is_read);
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

int
sl_store_list (sl_store_t *self, sl_store_stream_fn *fn, void *ctx)
{
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc) {
        return rc;
    }
    MDB_cursor *cur = NULL;
    rc = mdb_cursor_open (txn, self->db_meta, &cur);
    if (rc) {
        rc = s_error (self, rc, "listing streams");
        goto done;
    }
    MDB_val key = { S_PREFIX_LEN, (void *) S_PREFIX };
    MDB_val val;
    int op = MDB_SET_RANGE;
    while (true) {
        rc = mdb_cursor_get (cur, &key, &val, op);
        op = MDB_NEXT;
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc) {
            rc = s_error (self, rc, "listing streams");
            break;
        }
        if (key.mv_size < S_PREFIX_LEN || memcmp (key.mv_data, S_PREFIX, S_PREFIX_LEN) != 0) {
            break;
        }
        const char *name = (const char *) key.mv_data + S_PREFIX_LEN;
        size_t len = key.mv_size - S_PREFIX_LEN;
        if (len > SL_NAME_MAX || !sl_name_valid (name, len)) {
            sl_error (S_COMP, "meta holds a stream key with an invalid name: data is damaged");
            rc = SL_ESTORE;
            break;
        }
        s_meta_t meta;
        rc = s_meta_decode (&val, name, (int) len, &meta);
        if (rc) {
            break;
        }
        sl_stream_info_t info;
        s_info_fill (&info, name, len, &meta);
        rc = fn (ctx, &info);
        if (rc) {
            break;
        }
    }
done:
    if (cur) {
        mdb_cursor_close (cur);
    }
    s_read_end (self);
    return rc;
}

int
sl_store_read (sl_store_t *self, const char *stream, uint64_t offset, uint32_t max_records,
               uint64_t max_bytes, sl_store_blob_fn *fn, void *ctx, sl_stream_info_t *info)
{
    size_t len;
    if (!s_name_ok (stream, &len)) {
        return SL_ENAME;
    }
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc) {
        return rc;
    }
    MDB_cursor *cur = NULL;
    s_meta_t meta;
    rc = s_meta_get (self, txn, stream, len, &meta);
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
        rc = s_error (self, rc, "reading the log");
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
        //  Soft bounds, cut at a blob boundary: a blob that would pass one
        //  is left for the next call, unless it is the first.
        if (blobs > 0 && ((max_records && records + n > max_records)
                          || (max_bytes && bytes + val.mv_size > max_bytes))) {
            break;
        }
        rc = fn (ctx, val.mv_data, val.mv_size);
        if (rc) {
            goto done;
        }
        blobs++;
        records += n;
        bytes += val.mv_size;
        if ((max_records && records >= max_records) || (max_bytes && bytes >= max_bytes)) {
            break;
        }
        rc = mdb_cursor_get (cur, &key, &val, MDB_NEXT);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc) {
            rc = s_error (self, rc, "reading the log");
            goto done;
        }
        rc = s_blob_check (&key, &val, meta.id, &blob);
    }
    rc = rc < 0 ? rc : 0;
done:
    if (cur) {
        mdb_cursor_close (cur);
    }
    s_read_end (self);
    return rc;
}

//  Binary search over offsets: append_ms never decreases with the offset,
//  so the first batch appended at or after time_ms is found in O(log n)
//  batch lookups. lo and hi are always batch bases (or next).
int
sl_store_find_time (sl_store_t *self, const char *stream, int64_t time_ms, uint64_t *offset)
{
    size_t len;
    if (!s_name_ok (stream, &len)) {
        return SL_ENAME;
    }
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc) {
        return rc;
    }
    MDB_cursor *cur = NULL;
    s_meta_t meta;
    rc = s_meta_get (self, txn, stream, len, &meta);
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
        rc = s_error (self, rc, "searching the log");
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
                      stream, (unsigned long long) mid);
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
    s_read_end (self);
    return rc;
}

//  --------------------------------------------------------------------------
//  Retention

int
sl_store_retain (sl_store_t *self, const char *stream, const sl_retention_t *ret,
                 int64_t now_ms, uint64_t *removed)
{
    size_t len;
    if (removed) {
        *removed = 0;
    }
    if (!s_name_ok (stream, &len)) {
        return SL_ENAME;
    }
    if (!ret) {
        return SL_EINVAL;
    }
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    s_meta_t meta;
    int rc = s_meta_get (self, self->wtxn, stream, len, &meta);
    if (rc) {
        return rc == SL_ENOTFOUND ? 0 : rc;
    }
    bool by_age = ret->max_age_ms > 0 && now_ms > INT64_MIN + ret->max_age_ms;
    int64_t oldest = by_age ? now_ms - ret->max_age_ms : 0;
    MDB_cursor *cur;
    rc = mdb_cursor_open (self->wtxn, self->db_log, &cur);
    if (rc) {
        return s_fail (self, self->wtxn, rc, "retention");
    }
    uint64_t gone = 0;
    while (meta.records > 0) {
        uint8_t kbuf[S_LOG_KEY_SIZE];
        s_log_key (kbuf, meta.id, meta.first);
        MDB_val key = { S_LOG_KEY_SIZE, kbuf };
        MDB_val val;
        rc = mdb_cursor_get (cur, &key, &val, MDB_SET_KEY);
        if (rc && rc != MDB_NOTFOUND) {
            mdb_cursor_close (cur);
            return s_fail (self, self->wtxn, rc, "retention");
        }
        s_blob_t blob;
        if (rc == MDB_NOTFOUND || s_blob_check (&key, &val, meta.id, &blob) != 1
            || blob.count > meta.records) {
            sl_error (S_COMP, "stream %s: no batch starts at first offset %llu: data is damaged",
                      stream, (unsigned long long) meta.first);
            rc = SL_ESTORE;
            break;
        }
        bool go = (ret->max_records && meta.records - blob.count >= ret->max_records)
                  || (ret->max_bytes && meta.bytes > ret->max_bytes)
                  || (by_age && blob.append_ms < oldest);
        if (!go) {
            rc = 0;
            break;
        }
        size_t size = val.mv_size;
        rc = mdb_cursor_del (cur, 0);
        if (rc) {
            mdb_cursor_close (cur);
            return s_fail (self, self->wtxn, rc, "retention");
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
        int rc2 = s_meta_put (self, stream, len, &meta);
        if (rc2) {
            return rc2;
        }
    }
    if (rc == 0 && removed) {
        *removed = gone;
    }
    return rc;
}
