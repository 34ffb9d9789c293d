/*  test_store_damage.c - the store against damage (issue 11, classes 6 and 7):
    the directory lock, the checks at open, the CRC32C of every stored batch,
    the format number and the upgrade of format-1 stores, and the whole walk
    of sl_store_check. Real LMDB files in a temp dir, damaged with plain
    file writes.
*/
#include <criterion/criterion.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tmpdir.h"
#include "sl_batch.h"
#include "sl_dirlock.h"
#include "sl_error.h"
#include "sl_mp.h"
#include "sl_store.h"

static char s_dir[256];

static void
setup (void)
{
    strcpy (s_dir, "/tmp/sl_test_damage_XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
teardown (void)
{
    sl_test_rmtree (s_dir);
}

//  --------------------------------------------------------------------------
//  Helpers

static sl_store_t *
s_open_rc (int *err)
{
    return sl_store_open (s_dir, NULL, err);
}

static sl_store_t *
s_open (void)
{
    int err = 1;
    sl_store_t *store = s_open_rc (&err);
    cr_assert_not_null (store, "open: %s", sl_strerror (err));
    return store;
}

//  A batch of count real records whose values are "mark-<batch>-<i>".
static void
s_batch (sl_buf_t *buf, uint32_t batch, uint32_t count)
{
    sl_buf_reset (buf);
    for (uint32_t i = 0; i < count; i++) {
        char text[32];
        int n = snprintf (text, sizeof text, "mark-%03u-%03u", batch, i);
        uint8_t value[40];
        size_t len = sl_mp_write_str_header (value, sizeof value, (uint32_t)n);
        memcpy (value + len, text, (size_t)n);
        cr_assert_eq (
            sl_record_encode (buf, 1000 + i, NULL, 0, false, NULL, 0, value, len + (size_t)n), 0);
    }
}

//  Three batches of 10 records in stream "s", committed.
static void
s_fill (sl_store_t *store)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    cr_assert_eq (sl_store_begin (store), 0);
    for (uint32_t b = 0; b < 3; b++) {
        s_batch (&buf, b, 10);
        cr_assert_eq (sl_store_append (store, "s", buf.data, buf.len, 10, 5000 + b, NULL), 0);
    }
    cr_assert_eq (sl_store_commit (store), 0);
    sl_buf_free (&buf);
}

typedef struct {
    size_t n;
    uint64_t base[16];
    size_t len[16];
} seen_t;

static int
s_seen (void *ctx, const uint8_t *blob, size_t len)
{
    seen_t *seen = ctx;
    sl_batch_header_t h;
    cr_assert_eq (sl_batch_header_decode (blob, len, &h), 0);
    cr_assert_eq (
        sl_batch_validate (blob + SL_BATCH_HEADER_SIZE, len - SL_BATCH_HEADER_SIZE, h.count, 64), 0,
        "a blob handed out is always whole");
    cr_assert_lt (seen->n, 16);
    seen->base[seen->n] = h.base_offset;
    seen->len[seen->n++] = len;
    return 0;
}

static char *
s_path (const char *name)
{
    static char path[400];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    return path;
}

static off_t
s_size (const char *name)
{
    struct stat st;
    cr_assert_eq (stat (s_path (name), &st), 0);
    return st.st_size;
}

//  Flips a bit inside every copy of marker in data.mdb; returns how many.
static int
s_flip (const char *marker)
{
    FILE *f = fopen (s_path ("data.mdb"), "r+b");
    cr_assert_not_null (f);
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    uint8_t *data = malloc ((size_t)size);
    cr_assert_not_null (data);
    fseek (f, 0, SEEK_SET);
    cr_assert_eq (fread (data, 1, (size_t)size, f), (size_t)size);
    int hits = 0;
    size_t mlen = strlen (marker);
    for (long i = 0; i + (long)mlen <= size; i++) {
        if (memcmp (data + i, marker, mlen) == 0) {
            data[i + (long)mlen - 1] ^= 0x01;
            hits++;
        }
    }
    fseek (f, 0, SEEK_SET);
    cr_assert_eq (fwrite (data, 1, (size_t)size, f), (size_t)size);
    fclose (f);
    free (data);
    return hits;
}

//  Runs sl_store_check; returns its code, the report in *text (freed by caller).
static int
s_check (char **text)
{
    size_t size;
    FILE *out = open_memstream (text, &size);
    cr_assert_not_null (out);
    int rc = sl_store_check (s_dir, out);
    fclose (out);
    return rc;
}

//  A raw put into a named database of the closed store.
static void
s_raw_put (MDB_env *env, const char *db, const void *key, size_t klen, const void *val, size_t vlen)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    cr_assert_eq (mdb_txn_begin (env, NULL, 0, &txn), 0);
    cr_assert_eq (mdb_dbi_open (txn, db, MDB_CREATE, &dbi), 0);
    MDB_val k = {klen, (void *)key};
    MDB_val v = {vlen, (void *)val};
    cr_assert_eq (mdb_put (txn, dbi, &k, &v, 0), 0);
    cr_assert_eq (mdb_txn_commit (txn), 0);
}

static MDB_env *
s_raw_env (void)
{
    MDB_env *env;
    cr_assert_eq (mdb_env_create (&env), 0);
    cr_assert_eq (mdb_env_set_maxdbs (env, 8), 0);
    cr_assert_eq (mdb_env_open (env, s_dir, 0, 0640), 0);
    return env;
}

//  --------------------------------------------------------------------------
//  CRC32C

Test (damage, crc32c_is_castagnoli)
{
    cr_assert_eq (sl_crc32c ("123456789", 9), 0xe3069283u, "the standard check value");
    cr_assert_eq (sl_crc32c ("", 0), 0);
    uint8_t a[1000];
    memset (a, 7, sizeof a);
    uint32_t before = sl_crc32c (a, sizeof a);
    a[500] ^= 0x10;
    cr_assert_neq (sl_crc32c (a, sizeof a), before, "one flipped bit changes it");
}

//  --------------------------------------------------------------------------
//  Class 6: one broker per directory

Test (damage, second_open_is_elocked_and_the_probe_names_the_holder, .init = setup,
      .fini = teardown)
{
    long pid = -1;
    cr_assert_eq (sl_dirlock_probe (s_dir, &pid), 0, "no lock file yet: free");
    sl_store_t *first = s_open ();
    int err = 0;
    cr_assert_null (s_open_rc (&err));
    cr_assert_eq (err, SL_ELOCKED);
    cr_assert_eq (sl_dirlock_probe (s_dir, &pid), SL_ELOCKED);
    cr_assert_eq (pid, (long)getpid ());

    //  A read-only open (the check) goes beside the holder.
    sl_store_opts_t ro = {.read_only = true};
    sl_store_t *reader = sl_store_open (s_dir, &ro, &err);
    cr_assert_not_null (reader, "%s", sl_strerror (err));
    sl_store_close (&reader);

    sl_store_close (&first);
    cr_assert_eq (sl_dirlock_probe (s_dir, &pid), 0, "released at close");
    first = s_open ();
    sl_store_close (&first);
}

Test (damage, lock_in_a_missing_directory_is_an_io_error, .init = setup, .fini = teardown)
{
    int err = 0;
    long pid;
    cr_assert_null (sl_dirlock_new (s_path ("no/such/dir"), &err, &pid));
    cr_assert_eq (err, SL_EIO);
}

//  --------------------------------------------------------------------------
//  Class 7: checks at open

Test (damage, empty_data_file_is_refused_not_taken_for_new, .init = setup, .fini = teardown)
{
    FILE *f = fopen (s_path ("data.mdb"), "w");
    cr_assert_not_null (f);
    fclose (f);
    int err = 0;
    cr_assert_null (s_open_rc (&err));
    cr_assert_eq (err, SL_ECORRUPT);
    cr_assert_eq (s_size ("data.mdb"), 0, "nothing was written over it");
    char *text = NULL;
    cr_assert_eq (s_check (&text), SL_ECORRUPT);
    cr_assert (strstr (text, "DAMAGED"), "%s", text);
    free (text);
}

Test (damage, truncated_files_are_refused_before_a_page_is_read, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_fill (store);
    sl_store_close (&store);
    off_t size = s_size ("data.mdb");
    long page = sysconf (_SC_PAGESIZE);
    off_t cuts[] = {size - page, size / 2, 2 * page};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        cr_assert_eq (truncate (s_path ("data.mdb"), cuts[i]), 0);
        int err = 0;
        cr_assert_null (s_open_rc (&err), "cut to %lld", (long long)cuts[i]);
        cr_assert_eq (err, SL_ECORRUPT);
        char *text = NULL;
        cr_assert_eq (s_check (&text), SL_ECORRUPT);
        free (text);
    }
}

//  --------------------------------------------------------------------------
//  Class 7: checksums

Test (damage, flipped_bit_is_ecorrupt_with_its_range_and_never_served, .init = setup,
      .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_fill (store);
    sl_store_close (&store);
    cr_assert_geq (s_flip ("mark-001-004"), 1);

    store = s_open ();
    seen_t seen = {0};
    cr_assert_eq (sl_store_read (store, "s", 0, 0, 0, s_seen, &seen, NULL), 0);
    cr_assert_eq (seen.n, 1, "the batch before the damage is served, nothing after it");
    cr_assert_eq (seen.base[0], 0);
    seen.n = 0;
    cr_assert_eq (sl_store_read (store, "s", 14, 0, 0, s_seen, &seen, NULL), SL_ECORRUPT);
    cr_assert_eq (seen.n, 0);
    uint64_t count, from, to;
    sl_store_corrupt_stats (store, &count, &from, &to);
    cr_assert_eq (count, 2, "every read that meets it counts");
    cr_assert_eq (from, 10);
    cr_assert_eq (to, 20);
    //  The reader goes on after the range.
    cr_assert_eq (sl_store_read (store, "s", to, 0, 0, s_seen, &seen, NULL), 0);
    cr_assert_eq (seen.n, 1);
    cr_assert_eq (seen.base[0], 20);
    //  Appends go on.
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    s_batch (&buf, 3, 10);
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_append (store, "s", buf.data, buf.len, 10, 6000, NULL), 0);
    cr_assert_eq (sl_store_commit (store), 0);
    sl_buf_free (&buf);
    sl_store_close (&store);

    char *text = NULL;
    cr_assert_eq (s_check (&text), SL_ECORRUPT);
    cr_assert (strstr (text, "stream s: the batch at offsets 10..19 failed its checksum"), "%s",
               text);
    cr_assert (strstr (text, "DAMAGED (1 findings)"), "%s", text);
    free (text);
}

//  A damaged header (its version byte) in the middle batch: found by the
//  key/header cross-check before any checksum, from every way in.
Test (damage, damaged_header_is_ecorrupt_from_every_seek, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_fill (store);
    sl_store_close (&store);
    //  version 1, flags 0, count 10, base 10: the header of the batch at 10.
    uint8_t header[16] = {1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 10};
    FILE *f = fopen (s_path ("data.mdb"), "r+b");
    cr_assert_not_null (f);
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    uint8_t *data = malloc ((size_t)size);
    cr_assert_not_null (data);
    fseek (f, 0, SEEK_SET);
    cr_assert_eq (fread (data, 1, (size_t)size, f), (size_t)size);
    int hits = 0;
    for (long i = 0; i + 16 <= size; i++) {
        if (memcmp (data + i, header, 16) == 0) {
            data[i] = 3;
            hits++;
        }
    }
    cr_assert_geq (hits, 1);
    fseek (f, 0, SEEK_SET);
    cr_assert_eq (fwrite (data, 1, (size_t)size, f), (size_t)size);
    fclose (f);
    free (data);

    store = s_open ();
    uint64_t from_at[] = {10, 15, 19};
    for (size_t i = 0; i < 3; i++) {
        seen_t seen = {0};
        cr_assert_eq (sl_store_read (store, "s", from_at[i], 0, 0, s_seen, &seen, NULL),
                      SL_ECORRUPT, "read at %llu", (unsigned long long)from_at[i]);
        uint64_t from, to;
        sl_store_corrupt_stats (store, NULL, &from, &to);
        cr_assert_eq (from, 10);
        cr_assert_eq (to, 20);
    }
    seen_t seen = {0};
    cr_assert_eq (sl_store_read (store, "s", 5, 0, 0, s_seen, &seen, NULL), 0);
    cr_assert_eq (seen.n, 1, "the batch holding 5 is served, the damaged one not");
    seen.n = 0;
    cr_assert_eq (sl_store_read (store, "s", 20, 0, 0, s_seen, &seen, NULL), 0);
    cr_assert_eq (seen.n, 1);
    uint64_t off;
    cr_assert_eq (sl_store_find_time (store, "s", 5001, &off), SL_ECORRUPT);
    sl_store_close (&store);
    char *text = NULL;
    cr_assert_eq (s_check (&text), SL_ECORRUPT);
    cr_assert (strstr (text, "the batch at offset 10 has a damaged header"), "%s", text);
    free (text);

    //  Retention still removes it from the oldest end, its extent told by
    //  the batch after it; then the store is clean again.
    store = s_open ();
    sl_retention_t ret = {.max_records = 10};
    uint64_t removed = 0;
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_retain (store, "s", &ret, 0, &removed), 0);
    cr_assert_eq (sl_store_commit (store), 0);
    cr_assert_eq (removed, 20);
    seen.n = 0;
    sl_stream_info_t info;
    cr_assert_eq (sl_store_read (store, "s", 0, 0, 0, s_seen, &seen, &info), 0);
    cr_assert_eq (info.first, 20);
    cr_assert_eq (seen.n, 1);
    cr_assert_eq (seen.base[0], 20);
    sl_store_close (&store);
    cr_assert_eq (s_check (&text), 0, "%s", text);
    free (text);
}

//  A node whose size field lies (LMDB trusts it: the value would run past
//  the end of the file, and reading it would raise SIGBUS). LMDB's leaf
//  node: size lo u16, size hi u16, flags u16, key size u16 (host order),
//  then the key; every copy of the node for stream 1's batch at base 10
//  gets a size of ~2 GiB.
Test (damage, value_size_past_the_file_is_ecorrupt_not_sigbus, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_fill (store);
    sl_store_close (&store);
    uint8_t node_key[12] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 10};
    FILE *f = fopen (s_path ("data.mdb"), "r+b");
    cr_assert_not_null (f);
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    uint8_t *data = malloc ((size_t)size);
    cr_assert_not_null (data);
    fseek (f, 0, SEEK_SET);
    cr_assert_eq (fread (data, 1, (size_t)size, f), (size_t)size);
    int hits = 0;
    for (long i = 8; i + 12 <= size; i++) {
        if (memcmp (data + i, node_key, 12) == 0 && data[i - 2] == 12 && data[i - 1] == 0) {
            data[i - 6] = 0xff; //  size hi: + 0x7fff0000
            data[i - 5] = 0x7f;
            hits++;
        }
    }
    cr_assert_geq (hits, 1);
    fseek (f, 0, SEEK_SET);
    cr_assert_eq (fwrite (data, 1, (size_t)size, f), (size_t)size);
    fclose (f);
    free (data);

    store = s_open ();
    seen_t seen = {0};
    cr_assert_eq (sl_store_read (store, "s", 10, 0, 0, s_seen, &seen, NULL), SL_ECORRUPT);
    cr_assert_eq (seen.n, 0);
    cr_assert_eq (sl_store_read (store, "s", 20, 0, 0, s_seen, &seen, NULL), 0);
    cr_assert_eq (seen.n, 1, "the batch after it is served");
    sl_store_close (&store);
    char *text = NULL;
    cr_assert_eq (s_check (&text), SL_ECORRUPT);
    cr_assert (strstr (text, "offsets 10..19 failed its checksum"), "%s", text);
    free (text);
}

Test (damage, damaged_stream_record_is_ecorrupt, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_fill (store);
    sl_store_close (&store);
    //  The stream record's first field (id 1) lives right after its key.
    MDB_env *env = s_raw_env ();
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val key = {8, "stream/s"}, val;
    cr_assert_eq (mdb_txn_begin (env, NULL, 0, &txn), 0);
    cr_assert_eq (mdb_dbi_open (txn, "meta", 0, &dbi), 0);
    cr_assert_eq (mdb_get (txn, dbi, &key, &val), 0);
    cr_assert_eq (val.mv_size, 56);
    uint8_t copy[56];
    memcpy (copy, val.mv_data, sizeof copy);
    copy[27] ^= 0x01; //  one bit of records: the checksum finds it first
    mdb_txn_abort (txn);
    s_raw_put (env, "meta", "stream/s", 8, copy, sizeof copy);
    mdb_env_close (env);

    store = s_open ();
    sl_stream_info_t info;
    bool exists;
    cr_assert_eq (sl_store_stream_info (store, "s", &info, &exists), SL_ECORRUPT);
    sl_store_close (&store);
    char *text = NULL;
    cr_assert_eq (s_check (&text), SL_ECORRUPT);
    cr_assert (strstr (text, "stream s: its meta record is damaged"), "%s", text);
    free (text);
}

Test (damage, clean_store_checks_clean, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_fill (store);
    sl_store_close (&store);
    char *text = NULL;
    cr_assert_eq (s_check (&text), 0, "%s", text);
    cr_assert (strstr (text, "stream s: 30 records in 3 batches (first 0, next 30): ok"), "%s",
               text);
    cr_assert (strstr (text, "format 2, 1 streams, 3 batches (0 without checksum)"), "%s", text);
    cr_assert (strstr (text, ": clean"), "%s", text);
    free (text);
    cr_assert_eq (sl_store_check (s_path ("nothing"), stderr), SL_ENOTFOUND);
}

//  --------------------------------------------------------------------------
//  Formats

Test (damage, newer_format_is_refused, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    sl_store_close (&store);
    MDB_env *env = s_raw_env ();
    uint8_t three[4] = {0, 0, 0, 3};
    s_raw_put (env, "meta", "format", 6, three, 4);
    mdb_env_close (env);
    int err = 0;
    cr_assert_null (s_open_rc (&err));
    cr_assert_eq (err, SL_EVERSION);
}

//  A store as format 1 wrote it: no format key, 44-byte stream records, log
//  values without checksum.
Test (damage, format_1_store_is_read_and_upgraded, .init = setup, .fini = teardown)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    s_batch (&buf, 0, 10);
    uint8_t blob[1024];
    cr_assert_lt (buf.len + SL_BATCH_HEADER_SIZE, sizeof blob);
    sl_batch_header_t h = {.version = 1, .count = 10, .base_offset = 0, .append_ms = 5000};
    sl_batch_header_encode (&h, blob);
    memcpy (blob + SL_BATCH_HEADER_SIZE, buf.data, buf.len);
    size_t blob_len = SL_BATCH_HEADER_SIZE + buf.len;

    MDB_env *env = s_raw_env ();
    //  Format 1 created all five databases at its first open.
    MDB_txn *txn;
    MDB_dbi dbi;
    cr_assert_eq (mdb_txn_begin (env, NULL, 0, &txn), 0);
    const char *dbs[] = {"meta", "log", "producers", "readers", "groups"};
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq (mdb_dbi_open (txn, dbs[i], MDB_CREATE, &dbi), 0);
    }
    cr_assert_eq (mdb_txn_commit (txn), 0);
    uint8_t key[12] = {0, 0, 0, 1};
    s_raw_put (env, "log", key, sizeof key, blob, blob_len);
    uint8_t meta[44] = {0};
    meta[3] = 1;                       //  id 1
    meta[19] = 10;                     //  next 10
    meta[27] = 10;                     //  records 10
    sl_put_be64 (meta + 28, blob_len); //  bytes
    sl_put_be64 (meta + 36, 5000);     //  last_ms
    s_raw_put (env, "meta", "stream/s", 8, meta, sizeof meta);
    uint8_t next_id[4] = {0, 0, 0, 2};
    s_raw_put (env, "meta", "next_stream_id", 14, next_id, 4);
    mdb_env_close (env);

    char *text = NULL;
    cr_assert_eq (s_check (&text), 0, "%s", text);
    cr_assert (strstr (text, "format 1, 1 streams, 1 batches (1 without checksum)"), "%s", text);
    free (text);

    sl_store_t *store = s_open ();
    seen_t seen = {0};
    cr_assert_eq (sl_store_read (store, "s", 0, 0, 0, s_seen, &seen, NULL), 0);
    cr_assert_eq (seen.n, 1);
    cr_assert_eq (seen.len[0], blob_len, "an old batch is handed out as it was stored");
    s_batch (&buf, 1, 10);
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_append (store, "s", buf.data, buf.len, 10, 6000, NULL), 0);
    cr_assert_eq (sl_store_commit (store), 0);
    seen.n = 0;
    cr_assert_eq (sl_store_read (store, "s", 0, 0, 0, s_seen, &seen, NULL), 0);
    cr_assert_eq (seen.n, 2);
    cr_assert_eq (seen.base[1], 10);
    cr_assert_eq (seen.len[1], SL_BATCH_HEADER_SIZE + buf.len, "handed out without its checksum");
    sl_store_close (&store);
    sl_buf_free (&buf);

    cr_assert_eq (s_check (&text), 0, "%s", text);
    cr_assert (strstr (text, "format 2, 1 streams, 2 batches (1 without checksum)"), "%s", text);
    cr_assert (strstr (text, "some without checksum (format 1)"), "%s", text);
    free (text);
}
