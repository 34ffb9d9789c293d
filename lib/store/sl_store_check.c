/*  sl_store_check.c - the store's checks against damage: at open (the
    file against LMDB's own meta page, the format number) and the whole
    walk of `sluice-broker --check`. Part of the store module (see
    lib/store/sl_store_int.h).

    Why at open: LMDB maps data.mdb and trusts its meta page, so a file cut
    short (a copy that stopped, a full disk during a restore) is found only
    when a read touches a page past its end, and the broker dies of SIGBUS
    (issue 11). The meta page says which page is the last in use; the file
    must hold it. Pages that exist but hold damaged bytes are found by the
    checksums of the batches (sl_store_log.c) and by this walk.
*/
#include "sl_store.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_store_int.h"

#define S_COMP "store"
#define S_PREFIX "stream/"
#define S_PREFIX_LEN 7
#define S_NEXT_ID_KEY "next_stream_id"
#define S_POS_SIZE 16
#define S_MAX_LINES 20 //  findings printed per stream; the rest are counted

//  --------------------------------------------------------------------------
//  At open

int
sl_store_precheck (const char *dir)
{
    char path[4096];
    if (snprintf (path, sizeof path, "%s/data.mdb", dir) >= (int)sizeof path) {
        return SL_ENAME;
    }
    struct stat st;
    if (stat (path, &st) != 0) {
        return 0; //  a new store (or LMDB will say why not)
    }
    if (st.st_size == 0) {
        sl_error (S_COMP,
                  "%s is empty (0 bytes): the store was truncated or never written. "
                  "Restore the directory from a backup; if it is new, remove data.mdb and "
                  "lock.mdb (docs/reliability.md)",
                  path);
        return SL_ECORRUPT;
    }
    return 0;
}

int
sl_store_size_check (sl_store_t *self)
{
    MDB_envinfo info;
    mdb_filehandle_t fd;
    struct stat st;
    if (mdb_env_info (self->env, &info) != 0 || mdb_env_get_fd (self->env, &fd) != 0 ||
        fstat (fd, &st) != 0) {
        sl_error (S_COMP, "cannot read the size of %s/data.mdb", self->dir);
        return SL_EIO;
    }
    uint64_t need = ((uint64_t)info.me_last_pgno + 1) * self->page_size;
    if ((uint64_t)st.st_size < need) {
        sl_error (S_COMP,
                  "%s/data.mdb is %" PRIu64 " bytes, but LMDB's meta page says pages up "
                  "to %" PRIu64 " (%" PRIu64 " bytes) are in use: the file was truncated. Not "
                  "opened; restore the directory from a backup (docs/reliability.md)",
                  self->dir, (uint64_t)st.st_size, (uint64_t)info.me_last_pgno, need);
        return SL_ECORRUPT;
    }
    return 0;
}

static int
s_entries (MDB_txn *txn, MDB_dbi dbi, size_t *n)
{
    MDB_stat st;
    int rc = mdb_stat (txn, dbi, &st);
    *n = rc ? 0 : st.ms_entries;
    return rc;
}

int
sl_store_format_open (sl_store_t *self, MDB_txn *txn)
{
    MDB_val key = {sizeof SL_STORE_FORMAT_KEY - 1, (void *)SL_STORE_FORMAT_KEY};
    MDB_val val;
    int rc = mdb_get (txn, self->db_meta, &key, &val);
    if (rc == 0) {
        uint32_t format = val.mv_size == 4 ? sl_be32 (val.mv_data) : 0;
        if (format == 0) {
            sl_error (S_COMP, "%s: the store's format number is damaged (docs/reliability.md)",
                      self->dir);
            return SL_ECORRUPT;
        }
        if (format > SL_STORE_FORMAT) {
            sl_error (S_COMP,
                      "%s holds a store of format %u; this broker reads formats 1 to %d: "
                      "run the newer Sluice that wrote it",
                      self->dir, format, SL_STORE_FORMAT);
            return SL_EVERSION;
        }
        self->format = format;
        return 0;
    }
    if (rc != MDB_NOTFOUND) {
        return sl_store_open_error (self, rc, "reading the store format");
    }
    size_t metas, logs;
    rc = s_entries (txn, self->db_meta, &metas);
    if (rc == 0) {
        rc = s_entries (txn, self->db_log, &logs);
    }
    if (rc) {
        return sl_store_open_error (self, rc, "reading the store format");
    }
    //  No number: a new store, or one written before formats were numbered.
    self->format = metas + logs == 0 ? SL_STORE_FORMAT : 1;
    if (self->format == 1 && !self->read_only) {
        sl_info (S_COMP,
                 "%s was written by an older Sluice (format 1, no checksums): upgraded "
                 "to format %d; batches already stored stay without checksum, new ones have it",
                 self->dir, SL_STORE_FORMAT);
    }
    if (self->read_only) {
        return 0;
    }
    uint8_t vbuf[4];
    sl_put_be32 (vbuf, SL_STORE_FORMAT);
    val.mv_size = 4;
    val.mv_data = vbuf;
    rc = mdb_put (txn, self->db_meta, &key, &val, 0);
    return rc ? sl_store_error (self, rc, "writing the store format") : 0;
}

//  --------------------------------------------------------------------------
//  The whole walk

typedef struct {
    FILE *out;
    uint64_t problems;
    uint64_t lines; //  findings printed for the current stream
    uint64_t batches;
    uint64_t legacy; //  batches without checksum (format 1)
} s_check_t;

static void s_find (s_check_t *ck, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

//  One finding: counted always, printed up to S_MAX_LINES per stream.
static void
s_find (s_check_t *ck, const char *fmt, ...)
{
    ck->problems++;
    if (ck->lines++ >= S_MAX_LINES) {
        return;
    }
    va_list args;
    va_start (args, fmt);
    fputs ("  DAMAGED: ", ck->out);
    vfprintf (ck->out, fmt, args);
    fputc ('\n', ck->out);
    va_end (args);
}

static void
s_more (s_check_t *ck)
{
    if (ck->lines > S_MAX_LINES) {
        fprintf (ck->out, "  ... and %" PRIu64 " more findings\n", ck->lines - S_MAX_LINES);
    }
    ck->lines = 0;
}

//  Walks one stream's log entries and compares them with its meta.
//  Returns the number of log entries seen (for the orphan count).
static uint64_t
s_check_stream (sl_store_t *self, s_check_t *ck, MDB_txn *txn, const char *name,
                const sl_store_meta_t *meta)
{
    MDB_cursor *cur;
    if (mdb_cursor_open (txn, self->db_log, &cur) != 0) {
        s_find (ck, "stream %s: cannot open the log", name);
        return 0;
    }
    uint8_t kbuf[SL_STORE_LOG_KEY_SIZE];
    sl_put_be32 (kbuf, meta->id);
    sl_put_be64 (kbuf + 4, 0);
    MDB_val key = {SL_STORE_LOG_KEY_SIZE, kbuf};
    MDB_val val;
    uint64_t entries = 0, records = 0, bytes = 0, legacy = 0;
    uint64_t expect = meta->first;
    bool known = true; //  expect is known (the previous header was good)
    bool first = true;
    int64_t last_ms = INT64_MIN;
    int rc = mdb_cursor_get (cur, &key, &val, MDB_SET_RANGE);
    for (; rc == 0; rc = mdb_cursor_get (cur, &key, &val, MDB_NEXT)) {
        sl_store_blob_t blob;
        int ok = sl_store_blob_check (&key, &val, meta->id, &blob);
        if (ok == 0) {
            break; //  the next stream's keys
        }
        if (ok == SL_ESTORE) {
            s_find (ck, "stream %s: a log key of %zu bytes", name, key.mv_size);
            break;
        }
        entries++;
        bytes += val.mv_size;
        if (first && blob.base != meta->first) {
            s_find (ck,
                    "stream %s: meta says the first offset is %" PRIu64 ", the log starts "
                    "at %" PRIu64,
                    name, meta->first, blob.base);
        }
        else if (!first && known && blob.base != expect) {
            s_find (ck,
                    "stream %s: offsets not dense: a batch at %" PRIu64 " follows one that "
                    "ends at %" PRIu64,
                    name, blob.base, expect - 1);
        }
        first = false;
        if (ok == SL_ECORRUPT) {
            s_find (ck, "stream %s: the batch at offset %" PRIu64 " has a damaged header", name,
                    blob.base);
            known = false;
            continue;
        }
        size_t len;
        if (sl_store_blob_verify (self, meta, &val, blob.base, &len) != 0) {
            s_find (ck,
                    "stream %s: the batch at offsets %" PRIu64 "..%" PRIu64 " failed its "
                    "checksum",
                    name, blob.base, blob.base + blob.count - 1);
        }
        else if (sl_batch_validate ((const uint8_t *)val.mv_data + SL_BATCH_HEADER_SIZE,
                                    len - SL_BATCH_HEADER_SIZE, blob.count,
                                    SL_MP_DEPTH_LIMIT) != 0) {
            s_find (ck,
                    "stream %s: the batch at offsets %" PRIu64 "..%" PRIu64 " does not hold "
                    "%u well-formed records",
                    name, blob.base, blob.base + blob.count - 1, blob.count);
        }
        legacy += blob.base < meta->crc_from;
        if (blob.append_ms < last_ms) {
            s_find (ck,
                    "stream %s: the batch at offset %" PRIu64 " was appended before the one "
                    "ahead of it",
                    name, blob.base);
        }
        last_ms = blob.append_ms;
        records += blob.count;
        expect = blob.base + blob.count;
        known = true;
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        s_find (ck, "stream %s: reading the log: %s", name, mdb_strerror (rc));
    }
    mdb_cursor_close (cur);
    if (entries == 0 && meta->records > 0) {
        s_find (ck, "stream %s: meta holds %" PRIu64 " records, the log none", name, meta->records);
    }
    else if (entries > 0 && known && expect != meta->next) {
        s_find (ck, "stream %s: meta says the next offset is %" PRIu64 ", the log ends at %" PRIu64,
                name, meta->next, expect);
    }
    if (ck->lines == 0 && (records != meta->records || bytes != meta->bytes)) {
        s_find (ck,
                "stream %s: meta counts %" PRIu64 " records in %" PRIu64 " bytes, the log "
                "holds %" PRIu64 " in %" PRIu64,
                name, meta->records, meta->bytes, records, bytes);
    }
    if (entries > 0 && last_ms > meta->last_ms) {
        s_find (ck, "stream %s: a batch was appended after the stream's last append time", name);
    }
    if (ck->lines == 0) {
        fprintf (ck->out,
                 "stream %s: %" PRIu64 " records in %" PRIu64 " batches (first %" PRIu64
                 ", next %" PRIu64 ")%s: ok\n",
                 name, meta->records, entries, meta->first, meta->next,
                 legacy ? ", some without checksum (format 1)" : "");
    }
    ck->batches += entries;
    ck->legacy += legacy;
    s_more (ck);
    return entries;
}

//  The stream records in meta, the stream counter, and their log entries.
static void
s_check_streams (sl_store_t *self, s_check_t *ck, MDB_txn *txn, uint64_t *in_streams,
                 uint32_t *max_id, uint64_t *streams)
{
    MDB_cursor *cur;
    if (mdb_cursor_open (txn, self->db_meta, &cur) != 0) {
        s_find (ck, "cannot open the stream table");
        return;
    }
    MDB_val key = {S_PREFIX_LEN, (void *)S_PREFIX};
    MDB_val val;
    int rc = mdb_cursor_get (cur, &key, &val, MDB_SET_RANGE);
    for (; rc == 0; rc = mdb_cursor_get (cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size < S_PREFIX_LEN || memcmp (key.mv_data, S_PREFIX, S_PREFIX_LEN) != 0) {
            break;
        }
        const char *name = (const char *)key.mv_data + S_PREFIX_LEN;
        size_t len = key.mv_size - S_PREFIX_LEN;
        if (len > SL_NAME_MAX || !sl_name_valid (name, len)) {
            s_find (ck, "the stream table holds a key with an invalid name");
            s_more (ck);
            continue;
        }
        char text[SL_NAME_MAX + 1];
        memcpy (text, name, len);
        text[len] = 0;
        (*streams)++;
        sl_store_meta_t meta;
        if (sl_store_meta_decode (&val, text, (int)len, &meta) != 0) {
            s_find (ck, "stream %s: its meta record is damaged (%zu bytes)", text, val.mv_size);
            s_more (ck);
            continue;
        }
        *max_id = meta.id > *max_id ? meta.id : *max_id;
        *in_streams += s_check_stream (self, ck, txn, text, &meta);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        s_find (ck, "reading the stream table: %s", mdb_strerror (rc));
    }
    mdb_cursor_close (cur);
}

//  Every entry of a table, with values of a fixed size when size > 0.
static uint64_t
s_check_table (s_check_t *ck, MDB_txn *txn, MDB_dbi dbi, const char *what, size_t size)
{
    MDB_cursor *cur;
    uint64_t n = 0, bad = 0;
    if (mdb_cursor_open (txn, dbi, &cur) != 0) {
        s_find (ck, "cannot open the %s table", what);
        return 0;
    }
    MDB_val key, val;
    int rc = mdb_cursor_get (cur, &key, &val, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get (cur, &key, &val, MDB_NEXT)) {
        n++;
        bad += size && val.mv_size < size;
    }
    if (rc != MDB_NOTFOUND) {
        s_find (ck, "reading the %s table: %s", what, mdb_strerror (rc));
    }
    if (bad) {
        s_find (ck, "%" PRIu64 " entries of the %s table are damaged", bad, what);
    }
    mdb_cursor_close (cur);
    s_more (ck);
    return n;
}

int
sl_store_check (const char *dir, FILE *out)
{
    sl_store_opts_t opts = {.read_only = true};
    int err = 0;
    struct stat st;
    char path[4096];
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    if (stat (path, &st) != 0) {
        fprintf (out, "store %s: no store here (%s: %s)\n", dir, path, strerror (errno));
        return SL_ENOTFOUND;
    }
    sl_store_t *self = sl_store_open (dir, &opts, &err);
    if (!self) {
        fprintf (out, "store %s: %s: not opened (%s)\n", dir,
                 err == SL_ECORRUPT ? "DAMAGED" : "cannot check", sl_strerror (err));
        return err;
    }
    s_check_t ck = {.out = out};
    MDB_txn *txn;
    int rc = sl_store_rtxn_begin (self, &txn);
    if (rc) {
        fprintf (out, "store %s: cannot read: %s\n", dir, sl_strerror (rc));
        sl_store_close (&self);
        return rc;
    }
    sl_store_map_bounds (self);
    uint64_t in_streams = 0, streams = 0;
    uint32_t max_id = 0;
    s_check_streams (self, &ck, txn, &in_streams, &max_id, &streams);

    uint64_t all = s_check_table (&ck, txn, self->db_log, "log", 0);
    if (all > in_streams) {
        s_find (&ck, "%" PRIu64 " log entries belong to no stream", all - in_streams);
        s_more (&ck);
    }
    MDB_val key = {sizeof S_NEXT_ID_KEY - 1, (void *)S_NEXT_ID_KEY};
    MDB_val val;
    rc = mdb_get (txn, self->db_meta, &key, &val);
    if (rc == 0 && (val.mv_size < 4 || sl_be32 (val.mv_data) <= max_id)) {
        s_find (&ck, "the stream counter is damaged (it must be above %u)", max_id);
    }
    else if (rc == MDB_NOTFOUND && streams > 0) {
        s_find (&ck, "the stream counter is missing");
    }
    s_more (&ck);
    uint64_t producers = s_check_table (&ck, txn, self->db_producers, "producers", S_POS_SIZE);
    uint64_t readers = s_check_table (&ck, txn, self->db_readers, "readers", S_POS_SIZE);
    uint64_t groups = s_check_table (&ck, txn, self->db_groups, "groups", 0);
    sl_store_rtxn_end (self);

    fprintf (out,
             "store %s: format %u, %" PRIu64 " streams, %" PRIu64 " batches (%" PRIu64
             " without checksum), %" PRIu64 " producers, %" PRIu64 " readers, %" PRIu64
             " groups: %s",
             dir, self->format, streams, ck.batches, ck.legacy, producers, readers, groups,
             ck.problems ? "DAMAGED" : "clean");
    if (ck.problems) {
        fprintf (out, " (%" PRIu64 " findings)", ck.problems);
    }
    fputc ('\n', out);
    sl_store_close (&self);
    return ck.problems ? SL_ECORRUPT : 0;
}
