/*  sl_store_repl.c - the store's replication journal (sl_store_repl.h).

    Every journaled write copies the value it replaces into the entry
    before it touches the page (the old value lives in the map and the
    write may move it), then the value it wrote. A retention delete of a
    log batch is kept without its value (SL_REPL_ELIDED): copying every
    batch retention drops would double what the journal holds, and such a
    delete is only undone on a broker that rejoins after a failover, which
    then says it must be seeded afresh (docs/replication.md).
*/
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_repl.h"
#include "sl_store_int.h"
#include "sl_store_repl.h"

#define S_COMP "store"

static int
s_db_of (sl_store_t *self, MDB_dbi dbi, sl_repl_db_t *db)
{
    if (dbi == self->db_meta) {
        *db = SL_REPL_META;
    }
    else if (dbi == self->db_log) {
        *db = SL_REPL_LOG;
    }
    else if (dbi == self->db_producers) {
        *db = SL_REPL_PRODUCERS;
    }
    else if (dbi == self->db_readers) {
        *db = SL_REPL_READERS;
    }
    else if (dbi == self->db_groups) {
        *db = SL_REPL_GROUPS;
    }
    else if (dbi == self->db_state) {
        *db = SL_REPL_STATE;
    }
    else {
        return -1;
    }
    return 0;
}

static MDB_dbi
s_dbi_of (sl_store_t *self, sl_repl_db_t db)
{
    const MDB_dbi dbis[SL_REPL_N_DBS] = {self->db_meta,    self->db_log,    self->db_producers,
                                         self->db_readers, self->db_groups, self->db_state};
    return dbis[db];
}

static bool
s_on (sl_store_t *self)
{
    return self->journal && !self->j_quiet && self->wtxn;
}

int
sl_store_jput (sl_store_t *self, MDB_dbi dbi, MDB_val *key, MDB_val *val, unsigned flags)
{
    sl_repl_db_t db;
    if (!s_on (self) || s_db_of (self, dbi, &db) != 0) {
        return mdb_put (self->wtxn, dbi, key, val, flags);
    }
    size_t at = 0;
    size_t mark = self->jbuf.len;
    int rc;
    if (flags & MDB_RESERVE) {
        //  New keys only (APPEND / NOOVERWRITE): nothing is replaced.
        rc = mdb_put (self->wtxn, dbi, key, val, flags);
        return rc;
    }
    MDB_val old;
    int got = mdb_get (self->wtxn, dbi, key, &old);
    if (got != 0 && got != MDB_NOTFOUND) {
        return got;
    }
    rc = sl_repl_op_start (&self->jbuf, db, key->mv_data, key->mv_size,
                           got == 0 ? old.mv_data : NULL, got == 0 ? old.mv_size : 0,
                           got == 0 ? SL_REPL_OLD : 0, &at);
    if (rc) {
        return ENOMEM;
    }
    rc = mdb_put (self->wtxn, dbi, key, val, flags);
    if (rc) {
        self->jbuf.len = mark;
        return rc;
    }
    if (sl_repl_op_value (&self->jbuf, at, val->mv_data, val->mv_size) != 0) {
        return ENOMEM;
    }
    return 0;
}

void
sl_store_jnote (sl_store_t *self, MDB_dbi dbi, const MDB_val *key, const MDB_val *val)
{
    sl_repl_db_t db;
    if (!s_on (self) || s_db_of (self, dbi, &db) != 0) {
        return;
    }
    size_t at;
    if (sl_repl_op_start (&self->jbuf, db, key->mv_data, key->mv_size, NULL, 0, 0, &at) != 0 ||
        sl_repl_op_value (&self->jbuf, at, val->mv_data, val->mv_size) != 0) {
        //  The entry cannot hold it: the commit must not go through
        //  without it (sl_store_journal_commit fails).
        self->j_failed = true;
    }
}

//  Records the delete of key, whose value is old (NULL: not looked up).
static int
s_note_del (sl_store_t *self, sl_repl_db_t db, const MDB_val *key, const MDB_val *old)
{
    size_t at;
    bool elide = db == SL_REPL_LOG;
    int rc = sl_repl_op_start (
        &self->jbuf, db, key->mv_data, key->mv_size, old && !elide ? old->mv_data : NULL,
        old && !elide ? old->mv_size : 0, elide ? SL_REPL_ELIDED : SL_REPL_OLD, &at);
    return rc ? ENOMEM : 0;
}

int
sl_store_jdel (sl_store_t *self, MDB_dbi dbi, MDB_val *key)
{
    sl_repl_db_t db;
    if (!s_on (self) || s_db_of (self, dbi, &db) != 0) {
        return mdb_del (self->wtxn, dbi, key, NULL);
    }
    MDB_val old;
    int rc = mdb_get (self->wtxn, dbi, key, &old);
    if (rc) {
        return rc;
    }
    size_t mark = self->jbuf.len;
    rc = s_note_del (self, db, key, &old);
    if (rc == 0) {
        rc = mdb_del (self->wtxn, dbi, key, NULL);
    }
    if (rc) {
        self->jbuf.len = mark;
    }
    return rc;
}

int
sl_store_jcursor_del (sl_store_t *self, MDB_dbi dbi, MDB_cursor *cur)
{
    sl_repl_db_t db;
    if (!s_on (self) || s_db_of (self, dbi, &db) != 0) {
        return mdb_cursor_del (cur, 0);
    }
    MDB_val key, old;
    int rc = mdb_cursor_get (cur, &key, &old, MDB_GET_CURRENT);
    if (rc) {
        return rc;
    }
    size_t mark = self->jbuf.len;
    rc = s_note_del (self, db, &key, &old);
    if (rc == 0) {
        rc = mdb_cursor_del (cur, 0);
    }
    if (rc) {
        self->jbuf.len = mark;
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Transactions

//  A cursor over the journal in a read transaction; the caller closes it
//  and ends the transaction (sl_store_rtxn_end). 0 or an error.
static int
s_journal_cursor (sl_store_t *self, MDB_cursor **cur)
{
    MDB_txn *txn;
    int rc = sl_store_rtxn_begin (self, &txn);
    if (rc) {
        return rc;
    }
    rc = mdb_cursor_open (txn, self->db_journal, cur);
    if (rc) {
        sl_store_rtxn_end (self);
        return sl_store_error (self, rc, "reading the journal");
    }
    return 0;
}

void
sl_store_journal_begin (sl_store_t *self)
{
    if (!self->journal) {
        return;
    }
    self->p_epoch = self->j_epoch;
    self->p_seq = self->j_seq;
    self->p_first = self->j_first;
    self->p_bytes = self->j_bytes;
    self->j_marker = false;
    self->j_quiet = false;
    self->j_failed = false;
    sl_repl_begin (&self->jbuf, self->p_epoch, 0);
}

static void
s_key (uint8_t *kbuf, uint64_t seq)
{
    sl_put_be64 (kbuf, seq);
}

//  Drops the oldest entries while the journal is over its bound; the last
//  one always stays.
static int
s_trim (sl_store_t *self)
{
    while (self->p_bytes > self->j_max_bytes && self->p_first && self->p_first < self->p_seq) {
        uint8_t kbuf[8];
        s_key (kbuf, self->p_first);
        MDB_val key = {8, kbuf}, val;
        int rc = mdb_get (self->wtxn, self->db_journal, &key, &val);
        if (rc == 0) {
            self->p_bytes -= val.mv_size < self->p_bytes ? val.mv_size : self->p_bytes;
            rc = mdb_del (self->wtxn, self->db_journal, &key, NULL);
        }
        if (rc && rc != MDB_NOTFOUND) {
            return sl_store_fail (self, self->wtxn, rc, "trimming the journal");
        }
        self->p_first++;
    }
    return 0;
}

//  Closes the entry being built as seq p_seq + 1 of epoch and stores it.
static int
s_close (sl_store_t *self, uint64_t epoch)
{
    uint64_t seq = self->p_seq + 1;
    sl_repl_set_seq (&self->jbuf, epoch, seq);
    int rc = sl_repl_finish (&self->jbuf);
    if (rc) {
        sl_error (S_COMP, "a transaction's changes do not fit one journal entry: %s",
                  sl_strerror (rc));
        return rc;
    }
    uint8_t kbuf[8];
    s_key (kbuf, seq);
    MDB_val key = {8, kbuf};
    MDB_val val = {self->jbuf.len, self->jbuf.data};
    rc = mdb_put (self->wtxn, self->db_journal, &key, &val, MDB_APPEND);
    if (rc) {
        return sl_store_fail (self, self->wtxn, rc, "writing the journal");
    }
    self->p_seq = seq;
    self->p_epoch = epoch;
    self->p_bytes += self->jbuf.len;
    if (!self->p_first) {
        self->p_first = seq;
    }
    sl_repl_begin (&self->jbuf, epoch, 0);
    return s_trim (self);
}

int
sl_store_journal_commit (sl_store_t *self)
{
    if (!self->journal || !self->wtxn) {
        return 0;
    }
    if (self->j_failed) {
        sl_error (S_COMP, "a change could not be written to the replication journal: the "
                          "transaction is refused");
        return SL_ETOOBIG;
    }
    if (self->jbuf.len > SL_REPL_HEADER || self->j_marker) {
        self->j_marker = false;
        return s_close (self, self->p_epoch);
    }
    return 0;
}

void
sl_store_journal_done (sl_store_t *self, bool committed)
{
    if (!self->journal) {
        return;
    }
    if (committed) {
        self->j_epoch = self->p_epoch;
        self->j_seq = self->p_seq;
        self->j_first = self->p_first;
        self->j_bytes = self->p_bytes;
    }
    self->j_quiet = false;
    self->j_marker = false;
    sl_buf_reset (&self->jbuf);
}

void
sl_store_journal_free (sl_store_t *self)
{
    sl_buf_free (&self->jbuf);
}

//  --------------------------------------------------------------------------
//  Turning it on, reading it

int
sl_store_journal_on (sl_store_t *self, uint64_t max_bytes)
{
    if (self->journal) {
        return 0;
    }
    if (self->wtxn || self->read_only) {
        return SL_ESTATE;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc) {
        return sl_store_error (self, rc, "opening the journal");
    }
    rc = mdb_dbi_open (txn, "journal", MDB_CREATE, &self->db_journal);
    uint64_t epoch = 1, seq = 0, first = 0, bytes = 0;
    MDB_cursor *cur = NULL;
    if (rc == 0) {
        rc = mdb_cursor_open (txn, self->db_journal, &cur);
    }
    MDB_val key, val;
    MDB_cursor_op op = MDB_FIRST;
    while (rc == 0 && (rc = mdb_cursor_get (cur, &key, &val, op)) == 0) {
        op = MDB_NEXT;
        uint64_t e, s;
        if (key.mv_size != 8 || sl_repl_peek (val.mv_data, val.mv_size, &e, &s) != 0 ||
            s != sl_be64 (key.mv_data)) {
            sl_error (S_COMP, "the replication journal in %s is damaged", self->dir);
            rc = MDB_CORRUPTED;
            break;
        }
        first = first ? first : s;
        epoch = e;
        seq = s;
        bytes += val.mv_size;
    }
    if (cur) {
        mdb_cursor_close (cur);
    }
    if (rc == MDB_NOTFOUND) {
        rc = 0;
    }
    if (rc == 0) {
        rc = mdb_txn_commit (txn);
    }
    else {
        mdb_txn_abort (txn);
    }
    if (rc) {
        return rc == MDB_CORRUPTED ? SL_ECORRUPT : sl_store_error (self, rc, "opening the journal");
    }
    sl_buf_init (&self->jbuf, 0);
    self->journal = true;
    self->j_max_bytes = max_bytes ? max_bytes : SL_STORE_JOURNAL_BYTES;
    self->j_epoch = epoch;
    self->j_seq = seq;
    self->j_first = first;
    self->j_bytes = bytes;
    return 0;
}

bool
sl_store_journal_is_on (sl_store_t *self)
{
    return self->journal;
}

void
sl_store_repl_position (sl_store_t *self, uint64_t *epoch, uint64_t *seq, uint64_t *first)
{
    if (epoch) {
        *epoch = self->journal ? self->j_epoch : 1;
    }
    if (seq) {
        *seq = self->journal ? self->j_seq : 0;
    }
    if (first) {
        *first = self->journal ? self->j_first : 0;
    }
}

int
sl_store_repl_read (sl_store_t *self, uint64_t from, uint64_t max_bytes, sl_store_entry_fn *fn,
                    void *ctx)
{
    if (!self->journal) {
        return SL_ESTATE;
    }
    if (from == 0 || from < self->j_first || from > self->j_seq) {
        return SL_ENOTFOUND;
    }
    MDB_cursor *cur;
    int rc = s_journal_cursor (self, &cur);
    if (rc) {
        return rc;
    }
    uint8_t kbuf[8];
    s_key (kbuf, from);
    MDB_val key = {8, kbuf}, val;
    uint64_t passed = 0, expect = from;
    MDB_cursor_op op = MDB_SET_KEY;
    while ((rc = mdb_cursor_get (cur, &key, &val, op)) == 0) {
        op = MDB_NEXT;
        if (key.mv_size != 8 || sl_be64 (key.mv_data) != expect) {
            rc = SL_ESTORE;
            break;
        }
        if (passed && max_bytes && passed + val.mv_size > max_bytes) {
            break;
        }
        rc = fn (ctx, val.mv_data, val.mv_size);
        if (rc) {
            break;
        }
        passed += val.mv_size;
        expect++;
    }
    if (rc == MDB_NOTFOUND) {
        rc = passed ? 0 : SL_ENOTFOUND;
    }
    mdb_cursor_close (cur);
    sl_store_rtxn_end (self);
    return rc;
}

int
sl_store_repl_agree (sl_store_t *self, uint64_t epoch, uint64_t seq, uint64_t *agree)
{
    if (!self->journal) {
        return SL_ESTATE;
    }
    if (epoch > self->j_epoch) {
        return SL_EEPOCH;
    }
    if (seq == 0) {
        *agree = 0;
        return 0;
    }
    MDB_cursor *cur;
    int rc = s_journal_cursor (self, &cur);
    if (rc) {
        return rc;
    }
    //  From the newest entry back: the first entry of an epoch later than
    //  the follower's marks where its history may differ from ours.
    uint64_t cut = self->j_seq; //  the last seq both may share
    MDB_val key, val;
    MDB_cursor_op op = MDB_LAST;
    while ((rc = mdb_cursor_get (cur, &key, &val, op)) == 0) {
        op = MDB_PREV;
        uint64_t e, s;
        if (sl_repl_peek (val.mv_data, val.mv_size, &e, &s) != 0) {
            rc = SL_ESTORE;
            break;
        }
        if (e <= epoch) {
            break;
        }
        cut = s - 1;
    }
    bool trimmed = rc == MDB_NOTFOUND && cut + 1 == self->j_first && cut > 0;
    if (rc == MDB_NOTFOUND || rc == 0) {
        rc = 0;
    }
    mdb_cursor_close (cur);
    sl_store_rtxn_end (self);
    if (rc) {
        return rc;
    }
    *agree = seq < cut ? seq : cut;
    //  Entries below the journal's first cannot be compared: when the
    //  follower must go back past them, it needs a fresh copy.
    if (trimmed && *agree < seq) {
        return SL_ENOTFOUND;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Applying and undoing

static int
s_apply_op (void *ctx, const sl_repl_op_t *op)
{
    sl_store_t *self = ctx;
    MDB_dbi dbi = s_dbi_of (self, op->db);
    MDB_val key = {op->key_len, (void *)op->key};
    int rc;
    if (op->flags & SL_REPL_NEW) {
        MDB_val val = {op->val_len, (void *)op->val};
        rc = sl_store_jput (self, dbi, &key, &val, 0);
    }
    else {
        rc = sl_store_jdel (self, dbi, &key);
    }
    if (rc == MDB_NOTFOUND) {
        sl_error (S_COMP, "replication: an entry deletes a key this store does not hold: the "
                          "copies differ; seed this replica afresh");
        return SL_ESTORE;
    }
    return rc ? sl_store_fail (self, self->wtxn, rc, "applying a journal entry") : 0;
}

int
sl_store_repl_apply (sl_store_t *self, const uint8_t *entry, size_t len)
{
    if (!self->journal || !self->wtxn) {
        return SL_ESTATE;
    }
    uint64_t epoch, seq;
    int rc = sl_repl_check (entry, len, &epoch, &seq, NULL);
    if (rc) {
        return rc;
    }
    if (seq != self->p_seq + 1) {
        return SL_ESEQ;
    }
    if (epoch < self->p_epoch) {
        return SL_EEPOCH;
    }
    sl_repl_begin (&self->jbuf, epoch, 0);
    rc = sl_repl_walk (entry, len, false, s_apply_op, self);
    if (rc) {
        return rc;
    }
    return s_close (self, epoch);
}

static int
s_undo_op (void *ctx, const sl_repl_op_t *op)
{
    sl_store_t *self = ctx;
    if (op->flags & SL_REPL_ELIDED) {
        return SL_ESTATE;
    }
    MDB_dbi dbi = s_dbi_of (self, op->db);
    MDB_val key = {op->key_len, (void *)op->key};
    int rc;
    if (op->flags & SL_REPL_OLD) {
        MDB_val val = {op->old_len, (void *)op->old};
        rc = mdb_put (self->wtxn, dbi, &key, &val, 0);
    }
    else {
        rc = mdb_del (self->wtxn, dbi, &key, NULL);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    return rc ? sl_store_fail (self, self->wtxn, rc, "undoing a journal entry") : 0;
}

int
sl_store_repl_truncate (sl_store_t *self, uint64_t to)
{
    if (!self->journal || !self->wtxn) {
        return SL_ESTATE;
    }
    if (to >= self->p_seq) {
        return 0;
    }
    if (self->p_first == 0 || to + 1 < self->p_first) {
        return SL_ENOTFOUND;
    }
    self->j_quiet = true;
    int rc = 0;
    uint64_t epoch = 1;
    for (uint64_t s = self->p_seq; s > to && rc == 0; s--) {
        uint8_t kbuf[8];
        s_key (kbuf, s);
        MDB_val key = {8, kbuf}, val;
        rc = mdb_get (self->wtxn, self->db_journal, &key, &val);
        if (rc) {
            rc = rc == MDB_NOTFOUND ? SL_ENOTFOUND
                                    : sl_store_fail (self, self->wtxn, rc, "reading the journal");
            break;
        }
        rc = sl_repl_check (val.mv_data, val.mv_size, NULL, NULL, NULL);
        if (rc == 0) {
            //  The undo writes pages: the entry is copied out of the map first.
            uint8_t *copy = malloc (val.mv_size);
            size_t size = val.mv_size;
            if (!copy) {
                rc = SL_ENOMEM;
                break;
            }
            memcpy (copy, val.mv_data, size);
            rc = sl_repl_walk (copy, size, true, s_undo_op, self);
            free (copy);
        }
        if (rc == 0) {
            rc = mdb_del (self->wtxn, self->db_journal, &key, NULL);
            rc = rc ? sl_store_fail (self, self->wtxn, rc, "truncating the journal") : 0;
        }
        if (rc == 0) {
            self->p_bytes -= val.mv_size < self->p_bytes ? val.mv_size : self->p_bytes;
        }
    }
    if (rc == 0 && to > 0) {
        uint8_t kbuf[8];
        s_key (kbuf, to);
        MDB_val key = {8, kbuf}, val;
        rc = mdb_get (self->wtxn, self->db_journal, &key, &val);
        if (rc == 0) {
            sl_repl_peek (val.mv_data, val.mv_size, &epoch, NULL);
        }
        rc = rc == MDB_NOTFOUND ? SL_ENOTFOUND
             : rc               ? sl_store_fail (self, self->wtxn, rc, "reading the journal")
                                : 0;
    }
    self->j_quiet = false;
    if (rc == 0) {
        self->p_seq = to;
        self->p_epoch = epoch;
        if (to == 0) {
            self->p_first = 0;
            self->p_bytes = 0;
        }
        sl_repl_begin (&self->jbuf, epoch, 0);
    }
    return rc;
}

int
sl_store_repl_new_epoch (sl_store_t *self, uint64_t *epoch)
{
    if (!self->journal || !self->wtxn) {
        return SL_ESTATE;
    }
    self->p_epoch++;
    self->j_marker = true;
    sl_repl_set_seq (&self->jbuf, self->p_epoch, 0);
    *epoch = self->p_epoch;
    return 0;
}
