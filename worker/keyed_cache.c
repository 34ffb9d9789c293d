/*  keyed_cache.c - the keyed member's bounded state cache (keyed_int.h):
    at most --state-cache keys are held decoded in RAM, in least-recently-
    used order; the others live serialized in a member-local LMDB
    environment and are read back on their next record. A key read back
    keeps its stored copy (written over when it goes out again), so that
    a miss costs one B-tree read rather than a read and a delete.

    The local store is scratch space, not a copy anyone relies on: the
    broker's state table is the durable one (restored from on a share
    move or a redo), so the environment runs with MDB_NOSYNC and its
    files are unlinked as soon as it is open. The kernel frees them when
    the process ends, whatever way it ends (kill -9 included), and two
    members never share one.

    A stored key's value: its last-seen time (8 bytes, little-endian, ms of
    processing time, for --idle), one flag byte (1: windows open) and the
    state in the encoding the state records use (sl_win_key_encode, or the
    Lua state's msgpack). With --idle, a second table indexes the stored
    keys with open windows by last-seen time (8 bytes big-endian + the
    key), so that closing idle keys reads only those that are due.
*/
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyed_int.h"
#include "sl_error.h"
#include "sl_log.h"

#define S_MAP_START ((size_t)64 << 20) //  the map's first size; grown on need
#define S_MAP_MAX ((size_t)1 << 40)    //  never grown past this (1 TiB of address space)
#define S_TXN_OPS 256                  //  writes per transaction before a commit
#define S_TXN_BYTES ((size_t)8 << 20)  //  bytes written per transaction before a commit
#define S_HEAD 9                       //  seen_ms + flags before the state

struct _sl_kstore_t {
    MDB_env *env;
    MDB_dbi state, idle;
    MDB_txn *txn; //  the open write transaction, NULL between commits
    size_t ops, bytes;
    size_t count; //  keys stored
    size_t map_size;
};

static int
s_mdb (int rc, const char *what)
{
    if (rc == 0) {
        return 0;
    }
    sl_error ("worker", "state cache: %s: %s", what, mdb_strerror (rc));
    return rc == MDB_MAP_FULL ? SL_EMAPFULL : SL_ESTORE;
}

sl_kstore_t *
sl_kstore_new (void)
{
    sl_kstore_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    const char *tmp = getenv ("TMPDIR");
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/sluice-worker-state-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp (dir)) {
        sl_error ("worker", "state cache: cannot make %s: %s", dir, strerror (errno));
        free (self);
        return NULL;
    }
    self->map_size = S_MAP_START;
    int rc = mdb_env_create (&self->env);
    rc = rc ? rc : mdb_env_set_maxdbs (self->env, 2);
    rc = rc ? rc : mdb_env_set_mapsize (self->env, self->map_size);
    rc = rc ? rc : mdb_env_open (self->env, dir, MDB_NOSYNC | MDB_NOMETASYNC | MDB_NORDAHEAD, 0600);
    //  Unlinked at once: the open files stay usable, and nothing is left
    //  behind after any exit.
    char path[4200];
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/lock.mdb", dir);
    unlink (path);
    rmdir (dir);
    MDB_txn *txn = NULL;
    rc = rc ? rc : mdb_txn_begin (self->env, NULL, 0, &txn);
    rc = rc ? rc : mdb_dbi_open (txn, "state", MDB_CREATE, &self->state);
    rc = rc ? rc : mdb_dbi_open (txn, "idle", MDB_CREATE, &self->idle);
    rc = rc ? rc : mdb_txn_commit (txn);
    if (rc) {
        sl_error ("worker", "state cache: cannot open a store in %s: %s", dir, mdb_strerror (rc));
        sl_kstore_destroy (&self);
    }
    return self;
}

void
sl_kstore_destroy (sl_kstore_t **self_p)
{
    sl_kstore_t *self = *self_p;
    if (!self) {
        return;
    }
    if (self->txn) {
        mdb_txn_abort (self->txn);
    }
    if (self->env) {
        mdb_env_close (self->env);
    }
    free (self);
    *self_p = NULL;
}

size_t
sl_kstore_count (const sl_kstore_t *self)
{
    return self ? self->count : 0;
}

//  The write transaction, begun when none is open. Between transactions
//  the map doubles once it is half used, so that one transaction's
//  writes (at most S_TXN_BYTES plus one state) always fit.
static int
s_txn (sl_kstore_t *self, size_t more)
{
    if (self->txn) {
        return 0;
    }
    MDB_envinfo info;
    MDB_stat stat;
    mdb_env_info (self->env, &info);
    mdb_env_stat (self->env, &stat);
    size_t used = (info.me_last_pgno + 1) * (size_t)stat.ms_psize;
    size_t want = self->map_size;
    while (want < S_MAP_MAX && (used > want / 2 || want - used < 4 * (S_TXN_BYTES + more))) {
        want *= 2;
    }
    if (want != self->map_size) {
        int rc = s_mdb (mdb_env_set_mapsize (self->env, want), "growing the map");
        if (rc) {
            return rc;
        }
        self->map_size = want;
    }
    self->ops = self->bytes = 0;
    return s_mdb (mdb_txn_begin (self->env, NULL, 0, &self->txn), "beginning a transaction");
}

int
sl_kstore_commit (sl_kstore_t *self)
{
    if (!self || !self->txn) {
        return 0;
    }
    int rc = mdb_txn_commit (self->txn);
    self->txn = NULL;
    return s_mdb (rc, "committing");
}

//  Counts one write; commits when the transaction holds enough.
static int
s_wrote (sl_kstore_t *self, size_t bytes)
{
    self->ops++;
    self->bytes += bytes;
    return self->ops >= S_TXN_OPS || self->bytes >= S_TXN_BYTES ? sl_kstore_commit (self) : 0;
}

static void
s_idle_key (uint8_t *out, int64_t seen_ms, const uint8_t *raw, size_t len)
{
    uint64_t v = (uint64_t)seen_ms ^ ((uint64_t)1 << 63); //  sorts as signed
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(v >> (56 - 8 * i));
    }
    if (len) {
        memcpy (out + 8, raw, len);
    }
}

//  The keys stored, from the table's own count (a key stored twice,
//  restored over a stale copy or written back after a read, is one).
static void
s_count (sl_kstore_t *self)
{
    MDB_stat st;
    if (self->txn && mdb_stat (self->txn, self->state, &st) == 0) {
        self->count = st.ms_entries;
    }
}

int
sl_kstore_put (sl_kstore_t *self, const uint8_t *raw, size_t len, int64_t seen_ms, bool open,
               bool index, const uint8_t *state, size_t state_len)
{
    if (!self) {
        return SL_ESTORE;
    }
    int rc = s_txn (self, state_len);
    if (rc) {
        return rc;
    }
    MDB_val k = {.mv_size = len, .mv_data = (void *)raw};
    MDB_val v = {.mv_size = S_HEAD + state_len, .mv_data = NULL};
    //  Only the idle index needs the stored copy: its entry goes with it.
    //  (A B-tree lookup per write out was a tenth of the member's time at
    //  1,000,000 keys; the count comes from the table's own.)
    MDB_val old;
    bool had = index && mdb_get (self->txn, self->state, &k, &old) == 0;
    if (had && old.mv_size >= S_HEAD && ((const uint8_t *)old.mv_data)[8]) {
        uint64_t seen = 0;
        for (int i = 0; i < 8; i++) {
            seen |= (uint64_t)((const uint8_t *)old.mv_data)[i] << (8 * i);
        }
        uint8_t ik[8 + SL_KEYED_MAX_KEY];
        s_idle_key (ik, (int64_t)seen, raw, len);
        MDB_val ikey = {.mv_size = 8 + len, .mv_data = ik};
        rc = mdb_del (self->txn, self->idle, &ikey, NULL);
        rc = s_mdb (rc == MDB_NOTFOUND ? 0 : rc, "re-indexing a key");
    }
    rc = rc ? rc
            : s_mdb (mdb_put (self->txn, self->state, &k, &v, MDB_RESERVE), "writing a key state");
    if (rc == 0) {
        uint8_t *p = v.mv_data;
        uint64_t seen = (uint64_t)seen_ms;
        for (int i = 0; i < 8; i++) {
            p[i] = (uint8_t)(seen >> (8 * i));
        }
        p[8] = open ? 1 : 0;
        memcpy (p + S_HEAD, state, state_len);
        s_count (self);
    }
    if (rc == 0 && open && index) {
        uint8_t ik[8 + SL_KEYED_MAX_KEY];
        s_idle_key (ik, seen_ms, raw, len);
        MDB_val ikey = {.mv_size = 8 + len, .mv_data = ik}, empty = {.mv_size = 0, .mv_data = ""};
        rc = s_mdb (mdb_put (self->txn, self->idle, &ikey, &empty, 0), "indexing a key");
    }
    if (rc) {
        mdb_txn_abort (self->txn);
        self->txn = NULL;
        return rc;
    }
    return s_wrote (self, S_HEAD + state_len + len);
}

//  A stored key's state: 1 with it in out, 0 when it is not stored. The
//  store keeps it unless remove is set.
static int
s_read (sl_kstore_t *self, const uint8_t *raw, size_t len, int64_t *seen_ms, bool *open,
        sl_buf_t *out, bool remove)
{
    if (!self) {
        return 0;
    }
    int rc = s_txn (self, 0);
    if (rc) {
        return rc;
    }
    MDB_val k = {.mv_size = len, .mv_data = (void *)raw}, v;
    rc = mdb_get (self->txn, self->state, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc == 0 && v.mv_size < S_HEAD) {
        rc = MDB_CORRUPTED;
    }
    if (rc) {
        return s_mdb (rc, "reading a key state");
    }
    const uint8_t *p = v.mv_data;
    uint64_t seen = 0;
    for (int i = 0; i < 8; i++) {
        seen |= (uint64_t)p[i] << (8 * i);
    }
    *seen_ms = (int64_t)seen;
    *open = p[8] != 0;
    sl_buf_reset (out);
    rc = sl_buf_append (out, p + S_HEAD, v.mv_size - S_HEAD);
    if (rc || !remove) {
        return rc ? rc : 1;
    }
    if (*open) {
        uint8_t ik[8 + SL_KEYED_MAX_KEY];
        s_idle_key (ik, *seen_ms, raw, len);
        MDB_val ikey = {.mv_size = 8 + len, .mv_data = ik};
        rc = mdb_del (self->txn, self->idle, &ikey, NULL);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    rc = rc ? rc : mdb_del (self->txn, self->state, &k, NULL);
    if (rc) {
        mdb_txn_abort (self->txn);
        self->txn = NULL;
        return s_mdb (rc, "taking a key state");
    }
    self->count--;
    rc = s_wrote (self, len);
    return rc ? rc : 1;
}

int
sl_kstore_take (sl_kstore_t *self, const uint8_t *raw, size_t len, int64_t *seen_ms, bool *open,
                sl_buf_t *out)
{
    return s_read (self, raw, len, seen_ms, open, out, true);
}

int
sl_kstore_get (sl_kstore_t *self, const uint8_t *raw, size_t len, int64_t *seen_ms, bool *open,
               sl_buf_t *out)
{
    return s_read (self, raw, len, seen_ms, open, out, false);
}

//  Up to max stored keys with open windows last seen at or before
//  before_ms, oldest first, after the index entry in resume (empty: from
//  the first). out gets (length byte - 1, key) pairs; resume the last
//  entry read.
int
sl_kstore_idle (sl_kstore_t *self, int64_t before_ms, size_t max, sl_buf_t *out, size_t *n,
                sl_buf_t *resume)
{
    *n = 0;
    sl_buf_reset (out);
    if (!self) {
        return 0;
    }
    int rc = s_txn (self, 0);
    MDB_cursor *cur = NULL;
    rc = rc ? rc : s_mdb (mdb_cursor_open (self->txn, self->idle, &cur), "reading the index");
    MDB_val k = {.mv_size = resume->len, .mv_data = resume->data}, v;
    uint8_t limit[8];
    s_idle_key (limit, before_ms, NULL, 0);
    int got =
        rc ? MDB_NOTFOUND : mdb_cursor_get (cur, &k, &v, resume->len ? MDB_SET_RANGE : MDB_FIRST);
    if (got == 0 && resume->len && k.mv_size == resume->len &&
        memcmp (k.mv_data, resume->data, resume->len) == 0) {
        got = mdb_cursor_get (cur, &k, &v, MDB_NEXT);
    }
    while (rc == 0 && got == 0 && *n < max && k.mv_size > 8 && k.mv_size <= 8 + SL_KEYED_MAX_KEY &&
           memcmp (k.mv_data, limit, 8) <= 0) {
        uint8_t kl = (uint8_t)(k.mv_size - 8 - 1); //  1..256 bytes stored as 0..255
        rc = sl_buf_append (out, &kl, 1);
        rc = rc ? rc : sl_buf_append (out, (uint8_t *)k.mv_data + 8, k.mv_size - 8);
        sl_buf_reset (resume);
        rc = rc ? rc : sl_buf_append (resume, k.mv_data, k.mv_size);
        *n += rc == 0;
        got = mdb_cursor_get (cur, &k, &v, MDB_NEXT);
    }
    if (cur) {
        mdb_cursor_close (cur);
    }
    return rc;
}

//  Drops the stored keys for which mine says so (all when mine is NULL):
//  a restore reads them back from the broker.
int
sl_kstore_purge (sl_kstore_t *self, bool (*mine) (void *ctx, const uint8_t *raw, size_t len),
                 void *ctx)
{
    if (!self) {
        return 0;
    }
    int rc = sl_kstore_commit (self);
    rc = rc ? rc : s_txn (self, 0);
    if (rc) {
        return rc;
    }
    if (!mine) {
        rc = mdb_drop (self->txn, self->state, 0);
        rc = rc ? rc : mdb_drop (self->txn, self->idle, 0);
        self->count = rc ? self->count : 0;
    }
    MDB_dbi dbis[2] = {self->state, self->idle};
    for (int d = 0; mine && rc == 0 && d < 2; d++) {
        MDB_cursor *cur = NULL;
        rc = mdb_cursor_open (self->txn, dbis[d], &cur);
        MDB_val k, v;
        int got = rc ? MDB_NOTFOUND : mdb_cursor_get (cur, &k, &v, MDB_FIRST);
        while (rc == 0 && got == 0) {
            const uint8_t *raw = (uint8_t *)k.mv_data + (d ? 8 : 0);
            size_t len = k.mv_size - (d ? 8 : 0);
            if (mine (ctx, raw, len)) {
                rc = mdb_cursor_del (cur, 0);
                self->count -= rc == 0 && d == 0;
                //  After a delete, MDB_NEXT gives the item that followed.
                got = rc ? got : mdb_cursor_get (cur, &k, &v, MDB_NEXT);
            }
            else {
                got = mdb_cursor_get (cur, &k, &v, MDB_NEXT);
            }
        }
        mdb_cursor_close (cur);
    }
    if (rc) {
        mdb_txn_abort (self->txn);
        self->txn = NULL;
        return s_mdb (rc, "dropping key states");
    }
    return sl_kstore_commit (self);
}

//  ---------------------------------------------------------------------
//  The keys in RAM: a least-recently-used list of the keys the lease in
//  hand has not changed (a changed key stays until its state record is
//  written: keyed.c s_states).

static void
s_unlink (sl_keyed_t *self, keyed_key_t *key)
{
    if (!key->in_lru) {
        return;
    }
    if (key->lru_prev) {
        key->lru_prev->lru_next = key->lru_next;
    }
    else {
        self->lru_head = key->lru_next;
    }
    if (key->lru_next) {
        key->lru_next->lru_prev = key->lru_prev;
    }
    else {
        self->lru_tail = key->lru_prev;
    }
    key->lru_prev = key->lru_next = NULL;
    key->in_lru = false;
}

void
sl_keyed_cache_touch (sl_keyed_t *self, keyed_key_t *key)
{
    s_unlink (self, key);
    if (key->dirty) {
        return; //  pinned until its state record is written
    }
    key->lru_next = self->lru_head;
    if (self->lru_head) {
        self->lru_head->lru_prev = key;
    }
    self->lru_head = key;
    if (!self->lru_tail) {
        self->lru_tail = key;
    }
    key->in_lru = true;
}

void
sl_keyed_cache_forget (sl_keyed_t *self, keyed_key_t *key)
{
    s_unlink (self, key);
    sl_keymap_remove (self->keys, key);
}

void
sl_keyed_cache_forget_all (sl_keyed_t *self)
{
    self->lru_head = self->lru_tail = NULL;
    sl_keymap_purge (self->keys);
}

//  Writes the least recently used keys out until at most cap stay.
int
sl_keyed_cache_trim (sl_keyed_t *self, size_t cap)
{
    while (sl_keymap_size (self->keys) > cap && self->lru_tail) {
        keyed_key_t *key = self->lru_tail;
        int rc = 0;
        if (self->lua && !key->value) {
            //  No state is no record: absent reads as nil (a copy read
            //  back before it was deleted must go).
            int64_t seen;
            bool open;
            rc = key->stored ? sl_kstore_take (self->store, key->raw, key->raw_len, &seen, &open,
                                               &self->evict)
                             : 0;
            rc = rc < 0 ? rc : 0;
        }
        else if (self->lua) {
            rc = sl_kstore_put (self->store, key->raw, key->raw_len, key->seen_ms, false, false,
                                key->value, key->value_len);
        }
        else {
            sl_buf_reset (&self->evict);
            rc = sl_win_key_encode (self->win, key->win, &self->evict);
            rc = rc ? rc
                    : sl_kstore_put (self->store, key->raw, key->raw_len, key->seen_ms,
                                     sl_win_key_open (key->win) > 0, self->cfg->idle_ms > 0,
                                     self->evict.data, self->evict.len);
        }
        if (rc) {
            return rc;
        }
        self->evicted++;
        sl_keyed_cache_forget (self, key);
    }
    return 0;
}

//  A stored key back in RAM (its copy stays stored, and is written over
//  when the key goes out again): NULL with *err 0 when it is not stored.
keyed_key_t *
sl_keyed_cache_load (sl_keyed_t *self, const uint8_t *raw, size_t len, int *err)
{
    int64_t seen_ms = 0;
    bool open = false;
    *err = 0;
    int rc = sl_kstore_get (self->store, raw, len, &seen_ms, &open, &self->evict);
    if (rc <= 0) {
        *err = rc;
        return NULL;
    }
    keyed_key_t *key = sl_keyed_key_new (self, raw, len);
    if (!key) {
        *err = SL_ENOMEM;
        return NULL;
    }
    key->seen_ms = seen_ms;
    key->stored = true;
    if (self->lua) {
        key->value = malloc (self->evict.len ? self->evict.len : 1);
        if (!key->value) {
            sl_keyed_cache_forget (self, key);
            *err = SL_ENOMEM;
            return NULL;
        }
        memcpy (key->value, self->evict.data, self->evict.len);
        key->value_len = self->evict.len;
    }
    else {
        //  The new key's empty state goes back for the decode to take:
        //  one key's memory goes round, not a malloc and a free per miss.
        sl_win_key_release (self->win, &key->win);
        key->win = sl_win_key_decode (self->win, self->evict.data, self->evict.len, err);
        if (!key->win) {
            sl_keyed_cache_forget (self, key);
            return NULL;
        }
    }
    self->loaded++;
    return key;
}
