/*  sl_store.c - the broker's durable state in one LMDB environment: the
    environment itself, its transactions, and the small tables (producers,
    readers, groups). Streams and their log are in sl_store_log.c; the two
    files are one module (lib/store/sl_store_int.h holds what they share), the
    only one that includes lmdb.h.

    Layout (docs/PROTOCOL.md §11): named databases meta, log, producers,
    readers and groups; every integer big-endian. The broker is
    single-threaded: one write transaction at a time (sl_store_begin ..
    commit/abort) and one cached read-only transaction, reset between calls
    and renewed on the next, so that a read costs no malloc and no
    reader-slot lookup.

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
#include "sl_store_int.h"
#include "sl_util.h"

#define S_COMP "store"
#define S_DEFAULT_MAP (64ull << 20)
#define S_DEFAULT_MAX_MAP (1ull << 40)
#define S_MIN_MAP (1ull << 20)
#define S_MAP_ALIGN (1ull << 16)
#define S_LOW_SPACE (1ull << 20) //  an EIO with less free space than this is a full disk
#define S_MAX_DBS 8

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
    return blocks * (uint64_t)st.f_frsize < S_LOW_SPACE;
}

//  Maps an LMDB or errno code to SL_E* and logs it where it is decided.
//  A full disk is logged once until a commit succeeds again.
int
sl_store_error (sl_store_t *self, int rc, const char *what)
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

int
sl_store_open_error (sl_store_t *self, int rc, const char *what)
{
    //  A table missing from an existing store (only a read-only open does
    //  not create them) means its main tree is damaged, or the file is not
    //  Sluice's: either way not a store to serve.
    if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INCOMPATIBLE ||
        rc == MDB_NOTFOUND) {
        sl_error (S_COMP,
                  "%s in %s: %s: the store is damaged or not Sluice's (docs/reliability.md)", what,
                  self->dir, mdb_strerror (rc));
        return SL_ECORRUPT;
    }
    return sl_store_error (self, rc, what);
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
    int rc = mdb_env_set_mapsize (self->env, (size_t)size);
    if (rc) {
        return sl_store_error (self, rc, "resizing the map");
    }
    s_refresh_map_size (self);
    sl_info (S_COMP, "map grown to %llu MiB", (unsigned long long)(self->map_size >> 20));
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
                      (unsigned long long)(self->max_map >> 20));
        }
        self->space_out = true;
        return SL_ENOSPC;
    }
    if (self->rdepth > 0) {
        self->want_map = target; //  grown by the next begin
        return SL_EMAPFULL;
    }
    int rc = s_remap (self, target);
    return rc ? rc : SL_EMAPFULL;
}

//  An LMDB call failed in txn. In the write transaction that transaction is
//  now unusable: abort it, then grow the map when that was the cause.
int
sl_store_fail (sl_store_t *self, MDB_txn *txn, int rc, const char *what)
{
    if (txn && txn == self->wtxn) {
        mdb_txn_abort (self->wtxn);
        self->wtxn = NULL;
        if (rc == MDB_MAP_FULL) {
            return s_map_full (self);
        }
    }
    return sl_store_error (self, rc, what);
}

//  --------------------------------------------------------------------------
//  Transactions for reads

//  Reads go to the cached read transaction: renewed when idle, shared when a
//  callback of a read calls back into the store.
int
sl_store_rtxn_begin (sl_store_t *self, MDB_txn **txn_p)
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
            return sl_store_error (self, rc, "beginning a read");
        }
    }
    self->rdepth = 1;
    *txn_p = self->rtxn;
    return 0;
}

void
sl_store_rtxn_end (sl_store_t *self)
{
    assert (self->rdepth > 0);
    if (--self->rdepth == 0) {
        mdb_txn_reset (self->rtxn);
    }
}

//  The writer's view: the open write transaction when there is one (so that
//  the broker sees what it wrote in this group commit), else a read.
int
sl_store_view_begin (sl_store_t *self, MDB_txn **txn_p, bool *is_read)
{
    *is_read = !self->wtxn;
    if (self->wtxn) {
        *txn_p = self->wtxn;
        return 0;
    }
    return sl_store_rtxn_begin (self, txn_p);
}

void
sl_store_view_end (sl_store_t *self, bool is_read)
{
    if (is_read) {
        sl_store_rtxn_end (self);
    }
}

int
sl_store_get (sl_store_t *self, MDB_dbi dbi, const MDB_val *key, const char *what,
              sl_store_val_fn *use, void *ctx)
{
    MDB_txn *txn;
    bool is_read;
    int rc = sl_store_view_begin (self, &txn, &is_read);
    if (rc) {
        return rc;
    }
    MDB_val val;
    rc = mdb_get (txn, dbi, (MDB_val *)key, &val);
    if (rc == MDB_NOTFOUND) {
        rc = SL_ENOTFOUND;
    }
    else if (rc) {
        rc = sl_store_fail (self, txn, rc, what);
    }
    else {
        rc = use (ctx, &val);
    }
    sl_store_view_end (self, is_read);
    return rc;
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
    for (char *p = path + 1;; p++) {
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
    self->sync = opts && opts->sync != SL_SYNC_DEFAULT ? opts->sync : SL_SYNC_FULL;
    if (self->sync > SL_SYNC_NONE) {
        code = SL_EINVAL;
        goto fail;
    }
    if (initial < S_MIN_MAP) {
        initial = S_MIN_MAP;
    }
    initial = (initial + S_MAP_ALIGN - 1) & ~(S_MAP_ALIGN - 1);
    if (self->max_map < initial) {
        self->max_map = initial;
    }

    self->read_only = opts && opts->read_only;
    rc = self->read_only ? 0 : s_mkdirs (dir);
    if (rc) {
        sl_error (S_COMP, "cannot create %s: %s", dir, strerror (rc));
        code = rc == ENOSPC ? SL_ENOSPC : rc == ENOMEM ? SL_ENOMEM : SL_EIO;
        goto fail;
    }
    if (!self->read_only) {
        long holder = 0;
        self->lock = sl_dirlock_new (dir, &code, &holder);
        if (!self->lock && code == SL_ELOCKED) {
            sl_error (S_COMP,
                      "data directory %s is in use by another broker (pid %ld): stop it "
                      "first, or give this broker another --data directory",
                      dir, holder);
            goto fail;
        }
        if (!self->lock) {
            sl_error (S_COMP, "cannot lock data directory %s: %s", dir, sl_strerror (code));
            goto fail;
        }
    }
    code = sl_store_precheck (dir);
    if (code) {
        goto fail;
    }
    rc = mdb_env_create (&self->env);
    if (rc == 0) {
        rc = mdb_env_set_maxdbs (self->env, S_MAX_DBS);
    }
    if (rc == 0) {
        rc = mdb_env_set_mapsize (self->env, (size_t)initial);
    }
    //  Never MDB_WRITEMAP: a full disk must fail a write with ENOSPC, not
    //  raise SIGBUS on a page of the map. MDB_NOTLS lets the cached read
    //  transaction live beside the write transaction in one thread.
    if (rc == 0) {
        unsigned int flags = MDB_NOTLS | sl_store_sync_flags (self->sync);
        flags |= self->read_only ? MDB_RDONLY : 0;
        rc = mdb_env_open (self->env, dir, flags, 0640);
    }
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
        sl_error (S_COMP,
                  "%s/data.mdb is not an LMDB store this broker can read (%s): restore "
                  "the directory from a backup (docs/reliability.md)",
                  dir, mdb_strerror (rc));
        code = SL_ECORRUPT;
        goto fail;
    }
    if (rc) {
        code = sl_store_error (self, rc, "opening the data directory");
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
        code = sl_store_error (self, rc, "reading the environment");
        goto fail;
    }
    self->page_size = stat.ms_psize;
    s_refresh_map_size (self);
    //  Before the first transaction reads a page of the map.
    code = sl_store_size_check (self);
    if (code) {
        goto fail;
    }

    unsigned int create = self->read_only ? 0 : MDB_CREATE;
    rc = mdb_txn_begin (self->env, NULL, self->read_only ? MDB_RDONLY : 0, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open (txn, "meta", create, &self->db_meta);
    }
    if (rc == 0) {
        rc = mdb_dbi_open (txn, "log", create, &self->db_log);
    }
    if (rc == 0) {
        rc = mdb_dbi_open (txn, "producers", create, &self->db_producers);
    }
    if (rc == 0) {
        rc = mdb_dbi_open (txn, "readers", create, &self->db_readers);
    }
    if (rc == 0) {
        rc = mdb_dbi_open (txn, "groups", create, &self->db_groups);
    }
    if (rc == 0) {
        //  Stores from before the table have none: read-only, it is empty.
        rc = mdb_dbi_open (txn, "state", create, &self->db_state);
        self->has_state = rc == 0;
        rc = rc == MDB_NOTFOUND && self->read_only ? 0 : rc;
    }
    if (rc) {
        code = sl_store_open_error (self, rc, "opening the databases");
        goto fail;
    }
    code = sl_store_format_open (self, txn);
    if (code) {
        goto fail;
    }
    rc = mdb_txn_commit (txn);
    txn = NULL;
    if (rc) {
        code = sl_store_error (self, rc, "opening the databases");
        goto fail;
    }
    //  Take the read slot now, while the disk surely has room for the lock
    //  file's page.
    MDB_txn *rtxn;
    code = sl_store_rtxn_begin (self, &rtxn);
    if (code) {
        goto fail;
    }
    sl_store_rtxn_end (self);
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
        sl_dirlock_destroy (&self->lock);
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
    if (self->sync != SL_SYNC_FULL && !self->read_only) {
        mdb_env_sync (self->env, 1);
    }
    mdb_env_close (self->env);
    //  The lock goes last: no other broker may open the files before
    //  this one has closed them.
    sl_dirlock_destroy (&self->lock);
    sl_store_journal_free (self);
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
        return sl_store_error (self, rc, "checking reader slots");
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
sl_store_corrupt_stats (sl_store_t *self, uint64_t *count, uint64_t *from, uint64_t *to)
{
    if (count) {
        *count = self->n_corrupt;
    }
    if (from) {
        *from = self->corrupt_from;
    }
    if (to) {
        *to = self->corrupt_to;
    }
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
        *used = ((uint64_t)info.me_last_pgno + 1) * self->page_size;
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
        return sl_store_error (self, rc, "beginning a write");
    }
    self->wtxn = txn;
    sl_store_journal_begin (self);
    return 0;
}

int
sl_store_commit (sl_store_t *self)
{
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    //  The journal entry goes into the same transaction (sl_store_repl.c).
    int jrc = sl_store_journal_commit (self);
    if (jrc) {
        sl_store_abort (self);
        return jrc;
    }
    MDB_txn *txn = self->wtxn;
    self->wtxn = NULL;
    //  mdb_txn_commit frees the transaction whether or not it succeeds. A
    //  transaction that changed nothing commits without writing; only a
    //  real write proves that space is back.
    MDB_envinfo before;
    mdb_env_info (self->env, &before);
    int rc = mdb_txn_commit (txn);
    sl_store_journal_done (self, rc == 0);
    if (rc == MDB_MAP_FULL) {
        return s_map_full (self);
    }
    if (rc) {
        return sl_store_error (self, rc, "commit");
    }
    MDB_envinfo after;
    mdb_env_info (self->env, &after);
    if (self->space_out && after.me_last_txnid != before.me_last_txnid) {
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
    sl_store_journal_done (self, false);
}
