/*  test_store.c - the LMDB store, against a real environment in a temp dir.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tmpdir.h"
#include "sl_error.h"
#include "sl_store.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

static char s_dir[256]; //  the test's temp dir, removed at teardown
static char s_mnt[300]; //  a tmpfs mounted by the test, or ""
static pid_t s_holder;  //  a child this test started, killed at teardown

static void
setup (void)
{
    strcpy (s_dir, "/tmp/sl_test_store_XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
    s_mnt[0] = 0;
    s_holder = 0;
}

static void
teardown (void)
{
    if (s_holder > 0) {
        kill (s_holder, SIGKILL);
        waitpid (s_holder, NULL, 0);
    }
    if (s_mnt[0]) {
        umount2 (s_mnt, MNT_DETACH);
    }
    sl_test_rmtree (s_dir);
}

//  --------------------------------------------------------------------------
//  Helpers

static sl_store_t *
s_open_at (const char *dir, uint64_t initial_map, uint64_t max_map)
{
    sl_store_opts_t opts = {.sync = SL_SYNC_NONE, .initial_map = initial_map, .max_map = max_map};
    int err = 1;
    sl_store_t *store = sl_store_open (dir, &opts, &err);
    cr_assert_not_null (store, "open %s: %s", dir, sl_strerror (err));
    cr_assert_eq (err, 0);
    return store;
}

static sl_store_t *
s_open (void)
{
    return s_open_at (s_dir, 0, 0);
}

static uint32_t
s_be32 (const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t
s_be64 (const uint8_t *p)
{
    return ((uint64_t)s_be32 (p) << 32) | s_be32 (p + 4);
}

//  Deterministic payload bytes for batch `seed`.
static void
s_fill (uint8_t *buf, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 8));
    }
}

static bool
s_check_fill (const uint8_t *buf, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != (uint8_t)(seed * 131u + i * 7u + (i >> 8))) {
            return false;
        }
    }
    return true;
}

//  Blobs passed to a read callback, copied.
typedef struct {
    size_t n;
    uint64_t base[4096];
    uint32_t count[4096];
    int64_t ms[4096];
    size_t len[4096];
    uint8_t *data[4096];
    int stop_after; //  return stop_rc after this many blobs (0 = never)
    int stop_rc;
} blobs_t;

static int
s_collect (void *ctx, const uint8_t *blob, size_t len)
{
    blobs_t *b = ctx;
    cr_assert_geq (len, 24);
    cr_assert_lt (b->n, 4096);
    cr_assert_eq (blob[0], 1, "version byte");
    b->count[b->n] = s_be32 (blob + 4);
    b->base[b->n] = s_be64 (blob + 8);
    b->ms[b->n] = (int64_t)s_be64 (blob + 16);
    b->len[b->n] = len;
    b->data[b->n] = malloc (len);
    cr_assert_not_null (b->data[b->n]);
    memcpy (b->data[b->n], blob, len);
    b->n++;
    if (b->stop_after && (int)b->n >= b->stop_after) {
        return b->stop_rc;
    }
    return 0;
}

static blobs_t *
s_blobs_new (void)
{
    blobs_t *b = calloc (1, sizeof *b);
    cr_assert_not_null (b);
    return b;
}

static void
s_blobs_free (blobs_t **b_p)
{
    blobs_t *b = *b_p;
    for (size_t i = 0; i < b->n; i++) {
        free (b->data[i]);
    }
    free (b);
    *b_p = NULL;
}

//  Reads a whole stream from offset with no bounds.
static blobs_t *
s_read_all (sl_store_t *store, const char *stream, uint64_t offset, sl_stream_info_t *info)
{
    blobs_t *b = s_blobs_new ();
    int rc = sl_store_read (store, stream, offset, 0, 0, s_collect, b, info);
    cr_assert_eq (rc, 0, "read %s: %d %s", stream, rc, sl_strerror (rc));
    return b;
}

//  Appends one batch of `count` records with `len` payload bytes seeded by seed.
static sl_batch_header_t
s_append (sl_store_t *store, const char *stream, uint32_t count, size_t len, uint32_t seed,
          int64_t now_ms)
{
    uint8_t *buf = malloc (len ? len : 1);
    cr_assert_not_null (buf);
    s_fill (buf, len, seed);
    sl_batch_header_t h;
    int rc = sl_store_append (store, stream, buf, len, count, now_ms, &h);
    free (buf);
    cr_assert_eq (rc, 0, "append %s: %s", stream, sl_strerror (rc));
    return h;
}

static void
s_begin (sl_store_t *store)
{
    int rc = sl_store_begin (store);
    cr_assert_eq (rc, 0, "begin: %s", sl_strerror (rc));
}

static void
s_commit (sl_store_t *store)
{
    int rc = sl_store_commit (store);
    cr_assert_eq (rc, 0, "commit: %s", sl_strerror (rc));
}

//  Ten batches of ten records, 76 payload bytes (100 stored bytes each),
//  appended at 1000, 1100, ... 1900 ms.
static void
s_ten_batches (sl_store_t *store, const char *stream)
{
    s_begin (store);
    for (uint32_t i = 0; i < 10; i++) {
        s_append (store, stream, 10, 76, i, 1000 + 100 * (int64_t)i);
    }
    s_commit (store);
}

//  --------------------------------------------------------------------------
//  Append and read

Test (store, roundtrip_several_streams_offsets_dense_from_zero, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    const char *names[3] = {"a", "b.c", "orders-2026_x"};
    uint64_t next[3] = {0, 0, 0};
    uint64_t bytes[3] = {0, 0, 0};
    s_begin (store);
    for (uint32_t i = 0; i < 5; i++) {
        for (uint32_t s = 0; s < 3; s++) {
            uint32_t count = 1 + i * 3 + s;
            size_t len = 100 + i * 10 + s;
            sl_batch_header_t h = s_append (store, names[s], count, len, i * 10 + s, 5000 + i);
            cr_assert_eq (h.base_offset, next[s]);
            cr_assert_eq (h.count, count);
            cr_assert_eq (h.append_ms, 5000 + i);
            cr_assert_eq (h.version, 1);
            next[s] += count;
            bytes[s] += 24 + len + SL_BATCH_CRC_SIZE; //  stored size: with the checksum
        }
    }
    s_commit (store);

    for (uint32_t s = 0; s < 3; s++) {
        sl_stream_info_t info;
        blobs_t *b = s_read_all (store, names[s], 0, &info);
        cr_assert_eq (b->n, 5);
        uint64_t expect = 0;
        for (uint32_t i = 0; i < 5; i++) {
            cr_assert_eq (b->base[i], expect, "dense offsets");
            cr_assert_eq (b->count[i], 1 + i * 3 + s);
            cr_assert_eq (b->ms[i], 5000 + i);
            cr_assert_eq (b->len[i], 24 + 100 + i * 10 + s);
            cr_assert (s_check_fill (b->data[i] + 24, b->len[i] - 24, i * 10 + s));
            expect += b->count[i];
        }
        cr_assert_str_eq (info.name, names[s]);
        cr_assert_eq (info.first, 0);
        cr_assert_eq (info.next, next[s]);
        cr_assert_eq (info.records, next[s]);
        cr_assert_eq (info.bytes, bytes[s]);
        cr_assert_eq (info.last_ms, 5004);
        s_blobs_free (&b);
    }
    sl_store_close (&store);
    cr_assert_null (store);
    sl_store_close (&store); //  idempotent
}

Test (store, append_ms_never_decreases, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_begin (store);
    cr_assert_eq (s_append (store, "s", 1, 1, 0, 2000).append_ms, 2000);
    cr_assert_eq (s_append (store, "s", 1, 1, 0, 1500).append_ms, 2000, "clock went back");
    cr_assert_eq (s_append (store, "s", 1, 1, 0, 2500).append_ms, 2500);
    cr_assert_eq (s_append (store, "t", 1, 1, 0, 100).append_ms, 100, "per stream");
    s_commit (store);
    sl_store_close (&store);
}

Test (store, read_from_middle_of_batch_returns_containing_blob, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_begin (store);
    for (uint32_t i = 0; i < 3; i++) {
        s_append (store, "s", 10, 50, i, 1);
    }
    s_append (store, "t", 10, 50, 9, 1); //  a neighbour stream with later keys
    s_commit (store);
    uint64_t offsets[] = {0, 9, 10, 15, 19, 20, 29};
    uint64_t want[] = {0, 0, 10, 10, 10, 20, 20};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        blobs_t *b = s_read_all (store, "s", offsets[i], NULL);
        cr_assert_eq (b->base[0], want[i], "offset %llu", (unsigned long long)offsets[i]);
        cr_assert_eq (b->n, 3 - want[i] / 10, "then every later blob, and only this stream's");
        s_blobs_free (&b);
    }
    sl_store_close (&store);
}

Test (store, read_past_end_and_unknown_stream_return_nothing, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_begin (store);
    s_append (store, "s", 30, 10, 0, 7);
    s_commit (store);
    sl_stream_info_t info;
    blobs_t *b = s_read_all (store, "s", 30, &info);
    cr_assert_eq (b->n, 0);
    cr_assert_eq (info.next, 30);
    s_blobs_free (&b);
    b = s_read_all (store, "s", UINT64_MAX, &info);
    cr_assert_eq (b->n, 0);
    s_blobs_free (&b);

    memset (&info, 0xff, sizeof info);
    b = s_read_all (store, "never", 0, &info);
    cr_assert_eq (b->n, 0);
    cr_assert_str_eq (info.name, "never");
    cr_assert_eq (info.first, 0);
    cr_assert_eq (info.next, 0);
    cr_assert_eq (info.records, 0);
    cr_assert_eq (info.bytes, 0);
    cr_assert_eq (info.last_ms, 0);
    s_blobs_free (&b);
    bool exists = true;
    cr_assert_eq (sl_store_stream_info (store, "never", &info, &exists), 0);
    cr_assert_not (exists);
    cr_assert_eq (sl_store_stream_info (store, "s", &info, &exists), 0);
    cr_assert (exists);
    cr_assert_eq (info.next, 30);
    sl_store_close (&store);
}

Test (store, read_bounds_are_soft_and_cut_at_blob_boundaries, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_begin (store);
    for (uint32_t i = 0; i < 10; i++) {
        s_append (store, "s", 100, 1000, i, 1); //  1024 stored bytes each
    }
    s_commit (store);
    struct {
        uint64_t offset;
        uint32_t max_records;
        uint64_t max_bytes;
        size_t blobs;
    } cases[] = {
        {0, 250, 0, 2},                  //  a third blob would pass 250 records
        {0, 200, 0, 2},    {0, 1, 0, 1}, //  at least one blob
        {0, 0, 1, 1},      {0, 0, 3 * 1024, 3}, {0, 0, 3 * 1024 - 1, 2},
        {50, 150, 0, 2}, //  records counted from the offset asked for
        {0, 0, 0, 10},   //  no bounds
        {950, 1000, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        blobs_t *b = s_blobs_new ();
        int rc = sl_store_read (store, "s", cases[i].offset, cases[i].max_records,
                                cases[i].max_bytes, s_collect, b, NULL);
        cr_assert_eq (rc, 0);
        cr_assert_eq (b->n, cases[i].blobs, "case %zu: %zu blobs", i, b->n);
        s_blobs_free (&b);
    }
    //  The callback stops the walk and its value comes back.
    blobs_t *b = s_blobs_new ();
    b->stop_after = 2;
    b->stop_rc = 7;
    cr_assert_eq (sl_store_read (store, "s", 0, 0, 0, s_collect, b, NULL), 7);
    cr_assert_eq (b->n, 2);
    s_blobs_free (&b);
    sl_store_close (&store);
}

Test (store, reopen_keeps_everything, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_begin (store);
    s_append (store, "a", 5, 40, 1, 10);
    s_append (store, "b", 6, 41, 2, 11);
    s_append (store, "a", 7, 42, 3, 12);
    cr_assert_eq (sl_store_producer_set (store, "p1", "a", 99, 12), 0);
    cr_assert_eq (sl_store_reader_set (store, "a", "r1", 4, 12), 0);
    s_commit (store);
    sl_store_close (&store);

    store = s_open ();
    sl_stream_info_t info;
    blobs_t *b = s_read_all (store, "a", 0, &info);
    cr_assert_eq (b->n, 2);
    cr_assert_eq (b->base[1], 5);
    cr_assert (s_check_fill (b->data[1] + 24, 42, 3));
    cr_assert_eq (info.next, 12);
    cr_assert_eq (info.last_ms, 12);
    s_blobs_free (&b);
    uint64_t v = 0;
    cr_assert_eq (sl_store_producer_get (store, "p1", "a", &v), 0);
    cr_assert_eq (v, 99);
    cr_assert_eq (sl_store_reader_get (store, "a", "r1", &v), 0);
    cr_assert_eq (v, 4);

    //  Offsets go on, and a stream created now gets an id of its own (the
    //  counter survived): its batches do not mix with the old streams'.
    s_begin (store);
    cr_assert_eq (s_append (store, "a", 1, 8, 4, 13).base_offset, 12);
    cr_assert_eq (s_append (store, "c", 3, 8, 5, 13).base_offset, 0);
    cr_assert_eq (s_append (store, "b", 1, 8, 6, 13).base_offset, 6);
    s_commit (store);
    sl_store_close (&store);

    store = s_open ();
    const char *names[] = {"a", "b", "c"};
    size_t blobs[] = {3, 2, 1};
    uint64_t nexts[] = {13, 7, 3};
    for (int i = 0; i < 3; i++) {
        b = s_read_all (store, names[i], 0, &info);
        cr_assert_eq (b->n, blobs[i], "%s", names[i]);
        cr_assert_eq (info.next, nexts[i]);
        s_blobs_free (&b);
    }
    sl_store_close (&store);
}

//  --------------------------------------------------------------------------
//  Producer and reader tables, list

Test (store, producer_table, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    uint64_t seq = 5;
    cr_assert_eq (sl_store_producer_get (store, "p", "s", &seq), 0);
    cr_assert_eq (seq, 0, "unknown producer reads as 0");
    cr_assert_eq (sl_store_producer_set (store, "p", "s", 1, 1), SL_ESTATE, "needs a txn");

    s_begin (store);
    cr_assert_eq (sl_store_producer_set (store, "p", "s", 42, 1), 0);
    cr_assert_eq (sl_store_producer_get (store, "p", "s", &seq), 0);
    cr_assert_eq (seq, 42, "the writer sees its own write");
    sl_store_abort (store);
    cr_assert_eq (sl_store_producer_get (store, "p", "s", &seq), 0);
    cr_assert_eq (seq, 0, "abort discards");

    s_begin (store);
    cr_assert_eq (sl_store_producer_set (store, "p", "s", 42, 1), 0);
    cr_assert_eq (sl_store_producer_set (store, "p", "t", 7, 1), 0);
    cr_assert_eq (sl_store_producer_set (store, "ab", "c", 1, 1), 0);
    cr_assert_eq (sl_store_producer_set (store, "a", "bc", 2, 1), 0);
    s_commit (store);
    cr_assert_eq (sl_store_producer_get (store, "p", "s", &seq), 0);
    cr_assert_eq (seq, 42);
    cr_assert_eq (sl_store_producer_get (store, "p", "t", &seq), 0);
    cr_assert_eq (seq, 7);
    cr_assert_eq (sl_store_producer_get (store, "q", "s", &seq), 0);
    cr_assert_eq (seq, 0);
    cr_assert_eq (sl_store_producer_get (store, "ab", "c", &seq), 0);
    cr_assert_eq (seq, 1, "the separator keeps (ab, c) and (a, bc) apart");
    cr_assert_eq (sl_store_producer_get (store, "a", "bc", &seq), 0);
    cr_assert_eq (seq, 2);

    s_begin (store);
    cr_assert_eq (sl_store_producer_set (store, "p", "s", UINT64_MAX, 1), 0);
    s_commit (store);
    cr_assert_eq (sl_store_producer_get (store, "p", "s", &seq), 0);
    cr_assert_eq (seq, UINT64_MAX);
    sl_store_close (&store);
}

Test (store, reader_table, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    uint64_t off = 5;
    cr_assert_eq (sl_store_reader_get (store, "s", "r", &off), SL_ENOTFOUND);
    s_begin (store);
    cr_assert_eq (sl_store_reader_set (store, "s", "r", 100, 1), 0);
    cr_assert_eq (sl_store_reader_set (store, "s", "r2", 7, 1), 0);
    s_commit (store);
    cr_assert_eq (sl_store_reader_get (store, "s", "r", &off), 0);
    cr_assert_eq (off, 100);
    s_begin (store);
    cr_assert_eq (sl_store_reader_set (store, "s", "r", 150, 2), 0);
    s_commit (store);
    cr_assert_eq (sl_store_reader_get (store, "s", "r", &off), 0);
    cr_assert_eq (off, 150, "overwritten");
    cr_assert_eq (sl_store_reader_get (store, "s", "r2", &off), 0);
    cr_assert_eq (off, 7);
    cr_assert_eq (sl_store_reader_get (store, "t", "r", &off), SL_ENOTFOUND);
    sl_store_close (&store);
}

typedef struct {
    int n;
    int stop_at;
    sl_stream_info_t seen[8];
} list_ctx_t;

static int
s_list_fn (void *ctx, const sl_stream_info_t *info)
{
    list_ctx_t *l = ctx;
    cr_assert_lt (l->n, 8);
    l->seen[l->n++] = *info;
    return l->n == l->stop_at ? 5 : 0;
}

Test (store, list_streams_in_name_order, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    list_ctx_t l = {0};
    cr_assert_eq (sl_store_list (store, s_list_fn, &l), 0);
    cr_assert_eq (l.n, 0, "empty store");

    s_begin (store);
    s_append (store, "b", 2, 10, 0, 20);
    s_append (store, "a", 3, 10, 0, 30);
    s_append (store, "c", 4, 10, 0, 40);
    cr_assert_eq (sl_store_producer_set (store, "p", "a", 3, 1), 0);
    s_commit (store);
    cr_assert_eq (sl_store_list (store, s_list_fn, &l), 0);
    cr_assert_eq (l.n, 3);
    cr_assert_str_eq (l.seen[0].name, "a");
    cr_assert_str_eq (l.seen[1].name, "b");
    cr_assert_str_eq (l.seen[2].name, "c");
    cr_assert_eq (l.seen[0].next, 3);
    cr_assert_eq (l.seen[0].bytes, 38, "24 + 10 + a 4-byte checksum");
    cr_assert_eq (l.seen[0].last_ms, 30);
    cr_assert_eq (l.seen[2].records, 4);

    list_ctx_t stop = {.stop_at = 2};
    cr_assert_eq (sl_store_list (store, s_list_fn, &stop), 5, "fn's value comes back");
    cr_assert_eq (stop.n, 2);
    sl_store_close (&store);
}

//  --------------------------------------------------------------------------
//  find_time

Test (store, find_time, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    int64_t ms[] = {100, 100, 200, 300, 300, 300, 400};
    uint64_t base[7];
    s_begin (store);
    for (int i = 0; i < 7; i++) {
        base[i] = s_append (store, "s", 1 + (uint32_t)i, 8, 0, ms[i]).base_offset;
    }
    s_commit (store);
    uint64_t next = base[6] + 7;
    struct {
        int64_t t;
        uint64_t want;
    } cases[] = {
        {INT64_MIN, 0}, {50, 0},        {100, 0},          {101, base[2]},
        {200, base[2]}, {250, base[3]}, {300, base[3]},    {301, base[6]},
        {400, base[6]}, {401, next},    {INT64_MAX, next},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t off = 12345;
        cr_assert_eq (sl_store_find_time (store, "s", cases[i].t, &off), 0);
        cr_assert_eq (off, cases[i].want, "t=%lld: %llu", (long long)cases[i].t,
                      (unsigned long long)off);
    }
    uint64_t off = 12345;
    cr_assert_eq (sl_store_find_time (store, "never", 0, &off), 0);
    cr_assert_eq (off, 0, "a stream never written is empty");

    //  After retention the search starts at first.
    s_begin (store);
    sl_retention_t ret = {.max_records = next - base[3]};
    uint64_t removed;
    cr_assert_eq (sl_store_retain (store, "s", &ret, 0, &removed), 0);
    s_commit (store);
    cr_assert_eq (removed, base[3]);
    cr_assert_eq (sl_store_find_time (store, "s", 0, &off), 0);
    cr_assert_eq (off, base[3]);
    sl_store_close (&store);
}

Test (store, find_time_over_many_batches, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    //  20,000 batches of 1..5 records; append_ms = i / 3 (runs of equal times).
    enum { N = 20000 };
    uint64_t *base = malloc (N * sizeof *base);
    cr_assert_not_null (base);
    s_begin (store);
    uint8_t rec[4] = {1, 2, 3, 4};
    for (uint32_t i = 0; i < N; i++) {
        sl_batch_header_t h;
        cr_assert_eq (sl_store_append (store, "big", rec, 4, 1 + i % 5, i / 3, &h), 0);
        base[i] = h.base_offset;
    }
    s_commit (store);
    for (int64_t t = -1; t < N / 3 + 2; t += 37) {
        //  The first batch appended at or after t is batch 3t; past the
        //  end it is next.
        uint64_t next = base[N - 1] + 1 + (N - 1) % 5;
        uint64_t want = t <= 0 ? 0 : t * 3 < N ? base[t * 3] : next;
        uint64_t off;
        cr_assert_eq (sl_store_find_time (store, "big", t, &off), 0);
        cr_assert_eq (off, want, "t=%lld", (long long)t);
    }
    free (base);
    sl_store_close (&store);
}

//  --------------------------------------------------------------------------
//  Retention

static void
s_check_after_retention (sl_store_t *store, uint64_t first, uint64_t records, uint64_t bytes)
{
    sl_stream_info_t info;
    blobs_t *b = s_read_all (store, "s", 0, &info);
    cr_assert_eq (info.first, first);
    cr_assert_eq (info.next, 100, "next never moves");
    cr_assert_eq (info.records, records);
    cr_assert_eq (info.bytes, bytes + records / 10 * SL_BATCH_CRC_SIZE, "stored: with checksums");
    cr_assert_eq (b->n, records / 10);
    if (b->n) {
        cr_assert_eq (b->base[0], first, "a removed offset reads from first");
        for (size_t i = 0; i < b->n; i++) {
            uint64_t batch = first / 10 + i;
            cr_assert_eq (b->base[i], batch * 10, "offsets never change");
            cr_assert (s_check_fill (b->data[i] + 24, 76, (uint32_t)batch));
        }
    }
    s_blobs_free (&b);
}

Test (store, retention_by_count_keeps_at_least_max_records, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_ten_batches (store, "s");
    sl_retention_t ret = {.max_records = 35};
    uint64_t removed = 0;
    cr_assert_eq (sl_store_retain (store, "s", &ret, 0, &removed), SL_ESTATE);
    s_begin (store);
    cr_assert_eq (sl_store_retain (store, "s", &ret, 0, &removed), 0);
    s_commit (store);
    cr_assert_eq (removed, 60);
    s_check_after_retention (store, 60, 40, 400);

    s_begin (store);
    ret.max_records = 40;
    cr_assert_eq (sl_store_retain (store, "s", &ret, 0, &removed), 0);
    cr_assert_eq (removed, 0, "exactly at the limit: nothing goes");
    ret.max_records = 30;
    cr_assert_eq (sl_store_retain (store, "s", &ret, 0, &removed), 0);
    cr_assert_eq (removed, 10);
    s_commit (store);
    s_check_after_retention (store, 70, 30, 300);

    //  Appends go on at next.
    s_begin (store);
    cr_assert_eq (s_append (store, "s", 1, 1, 0, 1).base_offset, 100);
    sl_store_abort (store);
    sl_store_close (&store);
}

Test (store, retention_by_bytes, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_ten_batches (store, "s");
    sl_retention_t ret = {.max_bytes = 350};
    uint64_t removed = 0;
    s_begin (store);
    cr_assert_eq (sl_store_retain (store, "s", &ret, 0, &removed), 0);
    s_commit (store);
    cr_assert_eq (removed, 70);
    s_check_after_retention (store, 70, 30, 300);
    sl_store_close (&store);
}

Test (store, retention_by_age, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_ten_batches (store, "s"); //  appended at 1000 .. 1900
    sl_retention_t ret = {.max_age_ms = 500};
    uint64_t removed = 0;
    s_begin (store);
    cr_assert_eq (sl_store_retain (store, "s", &ret, 2000, &removed), 0);
    s_commit (store);
    cr_assert_eq (removed, 50, "batches older than 1500 go");
    s_check_after_retention (store, 50, 50, 500);

    //  Everything old: the stream empties, first = next, offsets go on.
    s_begin (store);
    cr_assert_eq (sl_store_retain (store, "s", &ret, 100000, &removed), 0);
    cr_assert_eq (removed, 50);
    s_commit (store);
    s_check_after_retention (store, 100, 0, 0);
    uint64_t off;
    cr_assert_eq (sl_store_find_time (store, "s", 0, &off), 0);
    cr_assert_eq (off, 100);
    s_begin (store);
    sl_batch_header_t h = s_append (store, "s", 2, 1, 0, 5);
    cr_assert_eq (h.base_offset, 100);
    cr_assert_eq (h.append_ms, 1900, "append_ms stays monotonic across retention");
    s_commit (store);
    sl_store_close (&store);
}

Test (store, retention_without_limits_or_stream_removes_nothing, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_ten_batches (store, "s");
    sl_retention_t none = {0};
    uint64_t removed = 9;
    s_begin (store);
    cr_assert_eq (sl_store_retain (store, "s", &none, INT64_MAX, &removed), 0);
    cr_assert_eq (removed, 0);
    cr_assert_eq (sl_store_retain (store, "never", &none, 0, &removed), 0);
    cr_assert_eq (removed, 0);
    cr_assert_eq (sl_store_retain (store, "s", NULL, 0, &removed), SL_EINVAL);
    s_commit (store);
    s_check_after_retention (store, 0, 100, 1000);
    sl_store_close (&store);
}

//  --------------------------------------------------------------------------
//  Map growth

//  Appends batches 0..n-1 to stream s, `per_txn` per transaction, redoing a
//  transaction on SL_EMAPFULL. Returns how many redos were needed.
static int
s_append_with_redo (sl_store_t *store, uint32_t n, uint32_t per_txn, size_t len)
{
    uint8_t *buf = malloc (len);
    cr_assert_not_null (buf);
    int redos = 0;
    for (uint32_t i = 0; i < n; i += per_txn) {
        int rc;
        int tries = 0;
        do {
            cr_assert_lt (tries++, 20, "redo loop is bounded");
            rc = sl_store_begin (store);
            cr_assert_eq (rc, 0);
            for (uint32_t j = i; j < i + per_txn && j < n && rc == 0; j++) {
                s_fill (buf, len, j);
                rc = sl_store_append (store, "s", buf, len, 1, j, NULL);
            }
            if (rc == 0) {
                rc = sl_store_commit (store);
            }
            if (rc == SL_EMAPFULL) {
                cr_assert_not (sl_store_in_txn (store), "aborted on SL_EMAPFULL");
                redos++;
            }
        } while (rc == SL_EMAPFULL);
        cr_assert_eq (rc, 0, "%s", sl_strerror (rc));
    }
    free (buf);
    return redos;
}

static void
s_check_stream (sl_store_t *store, uint32_t n, size_t len)
{
    //  Read in slices (the collector holds 4096 blobs) and check every byte.
    uint64_t offset = 0;
    while (offset < n) {
        blobs_t *b = s_blobs_new ();
        cr_assert_eq (sl_store_read (store, "s", offset, 1000, 0, s_collect, b, NULL), 0);
        cr_assert_gt (b->n, 0);
        for (size_t i = 0; i < b->n; i++) {
            cr_assert_eq (b->base[i], offset);
            cr_assert_eq (b->len[i], 24 + len);
            cr_assert (s_check_fill (b->data[i] + 24, len, (uint32_t)offset));
            offset++;
        }
        s_blobs_free (&b);
    }
    sl_stream_info_t info;
    bool exists;
    cr_assert_eq (sl_store_stream_info (store, "s", &info, &exists), 0);
    cr_assert_eq (info.next, n);
}

Test (store, tiny_map_grows_transparently_to_50_mib, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open_at (s_dir, 1 * MIB, 0);
    uint64_t map0, used;
    sl_store_usage (store, &map0, &used);
    cr_assert_eq (map0, 1 * MIB);
    s_append_with_redo (store, 200, 4, 256 * KIB); //  50 MiB
    uint64_t map1;
    sl_store_usage (store, &map1, &used);
    cr_assert_geq (used, 50 * MIB);
    cr_assert_geq (map1, used);
    s_check_stream (store, 200, 256 * KIB);
    sl_store_close (&store);

    store = s_open_at (s_dir, 1 * MIB, 0);
    s_check_stream (store, 200, 256 * KIB);
    s_append_with_redo (store, 201, 201, 8); //  grows again after a reopen
    sl_store_close (&store);
}

Test (store, map_full_in_one_txn_is_emapfull_then_redo_succeeds, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open_at (s_dir, 1 * MIB, 0);
    //  One transaction of 4 MiB into a 1 MiB map.
    int redos = s_append_with_redo (store, 16, 16, 256 * KIB);
    cr_assert_geq (redos, 1, "the map had to grow inside the transaction");
    //  The aborted attempts left nothing behind: exactly 16 dense batches.
    s_check_stream (store, 16, 256 * KIB);
    sl_store_close (&store);
}

Test (store, map_at_max_map_is_enospc_not_endless_emapfull, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open_at (s_dir, 1 * MIB, 2 * MIB);
    uint8_t *buf = malloc (128 * KIB);
    cr_assert_not_null (buf);
    int rc = 0;
    uint32_t committed = 0;
    for (int i = 0; i < 200 && rc != SL_ENOSPC; i++) {
        s_begin (store);
        s_fill (buf, 128 * KIB, committed);
        rc = sl_store_append (store, "s", buf, 128 * KIB, 1, 1, NULL);
        if (rc == 0) {
            rc = sl_store_commit (store);
        }
        if (rc == 0) {
            committed++;
        }
        cr_assert (rc == 0 || rc == SL_EMAPFULL || rc == SL_ENOSPC, "%s", sl_strerror (rc));
    }
    free (buf);
    cr_assert_eq (rc, SL_ENOSPC);
    cr_assert_not (sl_store_in_txn (store));
    cr_assert_gt (committed, 4);
    s_check_stream (store, committed, 128 * KIB);
    sl_store_close (&store);
}

//  --------------------------------------------------------------------------
//  Transactions

Test (store, commit_visibility_and_abort, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    cr_assert_eq (sl_store_commit (store), SL_ESTATE);
    cr_assert_eq (sl_store_append (store, "s", (const uint8_t *)"x", 1, 1, 1, NULL), SL_ESTATE);
    s_begin (store);
    cr_assert_eq (sl_store_begin (store), SL_ESTATE, "one write txn at a time");
    cr_assert (sl_store_in_txn (store));
    s_append (store, "s", 3, 10, 0, 1);

    //  Readers see committed data only; the writer's view sees its writes.
    sl_stream_info_t info;
    blobs_t *b = s_read_all (store, "s", 0, &info);
    cr_assert_eq (b->n, 0);
    cr_assert_eq (info.next, 0);
    s_blobs_free (&b);
    bool exists = false;
    cr_assert_eq (sl_store_stream_info (store, "s", &info, &exists), 0);
    cr_assert (exists);
    cr_assert_eq (info.next, 3);
    list_ctx_t l = {0};
    cr_assert_eq (sl_store_list (store, s_list_fn, &l), 0);
    cr_assert_eq (l.n, 0);

    sl_store_abort (store);
    cr_assert_not (sl_store_in_txn (store));
    sl_store_abort (store); //  harmless without a txn
    cr_assert_eq (sl_store_stream_info (store, "s", &info, &exists), 0);
    cr_assert_not (exists, "abort discards");

    s_begin (store);
    cr_assert_eq (s_append (store, "s", 3, 10, 0, 1).base_offset, 0, "the aborted offsets");
    s_commit (store);
    b = s_read_all (store, "s", 0, &info);
    cr_assert_eq (b->n, 1);
    cr_assert_eq (info.next, 3);
    s_blobs_free (&b);
    sl_store_close (&store);
}

//  A read callback that calls back into the store (the broker may do so).
static int
s_reenter (void *ctx, const uint8_t *blob, size_t len)
{
    (void)blob;
    (void)len;
    sl_store_t *store = ctx;
    sl_stream_info_t info;
    bool exists;
    cr_assert_eq (sl_store_stream_info (store, "s", &info, &exists), 0);
    cr_assert (exists);
    uint64_t seq;
    cr_assert_eq (sl_store_producer_get (store, "p", "s", &seq), 0);
    return 0;
}

Test (store, callbacks_may_call_back_into_the_store, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_ten_batches (store, "s");
    cr_assert_eq (sl_store_read (store, "s", 0, 0, 0, s_reenter, store, NULL), 0);
    blobs_t *b = s_read_all (store, "s", 0, NULL);
    cr_assert_eq (b->n, 10, "the outer read still works afterwards");
    s_blobs_free (&b);
    sl_store_close (&store);
}

Test (store, invalid_names_are_rejected, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    char longname[202];
    memset (longname, 'a', 201);
    longname[201] = 0;
    const char *bad[] = {"", ".hidden", "a/b", "a b", "sp\xc3\xa4t", longname};
    uint8_t rec = 0;
    uint64_t v;
    s_begin (store);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq (sl_store_append (store, bad[i], &rec, 1, 1, 1, NULL), SL_ENAME);
        cr_assert_eq (sl_store_producer_set (store, "p", bad[i], 1, 1), SL_ENAME);
        cr_assert_eq (sl_store_producer_set (store, bad[i], "s", 1, 1), SL_ENAME);
        cr_assert_eq (sl_store_reader_set (store, bad[i], "r", 1, 1), SL_ENAME);
        cr_assert_eq (sl_store_producer_get (store, bad[i], "s", &v), SL_ENAME);
        cr_assert_eq (sl_store_reader_get (store, "s", bad[i], &v), SL_ENAME);
        cr_assert_eq (sl_store_read (store, bad[i], 0, 0, 0, s_collect, NULL, NULL), SL_ENAME);
        cr_assert_eq (sl_store_find_time (store, bad[i], 0, &v), SL_ENAME);
        cr_assert_eq (sl_store_stream_info (store, bad[i], NULL, NULL), SL_ENAME);
    }
    cr_assert_eq (sl_store_append (store, "s", &rec, 1, 0, 1, NULL), SL_EINVAL, "count 0");
    cr_assert_eq (sl_store_append (store, "s", NULL, 1, 1, 1, NULL), SL_EINVAL);
    cr_assert (sl_store_in_txn (store), "argument errors leave the txn open");
    memset (longname, 'a', 200);
    longname[200] = 0;
    s_append (store, longname, 1, 1, 0, 1); //  200 bytes is fine
    s_commit (store);
    sl_store_close (&store);
}

Test (store, open_creates_missing_dirs_and_fails_on_a_file, .init = setup, .fini = teardown)
{
    char path[400];
    snprintf (path, sizeof path, "%s/x/y/data", s_dir);
    sl_store_t *store = s_open_at (path, 0, 0);
    s_begin (store);
    s_append (store, "s", 1, 1, 0, 1);
    s_commit (store);
    sl_store_close (&store);
    struct stat st;
    snprintf (path, sizeof path, "%s/x/y/data/data.mdb", s_dir);
    cr_assert_eq (stat (path, &st), 0, "dir holds data.mdb");

    snprintf (path, sizeof path, "%s/file", s_dir);
    FILE *f = fopen (path, "w");
    cr_assert_not_null (f);
    fclose (f);
    int err = 0;
    store = sl_store_open (path, NULL, &err);
    cr_assert_null (store);
    cr_assert_lt (err, 0);
    err = 0;
    store = sl_store_open ("", NULL, &err);
    cr_assert_null (store);
    cr_assert_eq (err, SL_EINVAL);
}

//  --------------------------------------------------------------------------
//  Damaged data

static void
s_raw_put (const char *db, const void *key, size_t klen, const void *val, size_t vlen)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    cr_assert_eq (mdb_env_create (&env), 0);
    cr_assert_eq (mdb_env_set_maxdbs (env, 8), 0);
    cr_assert_eq (mdb_env_open (env, s_dir, 0, 0640), 0);
    cr_assert_eq (mdb_txn_begin (env, NULL, 0, &txn), 0);
    cr_assert_eq (mdb_dbi_open (txn, db, 0, &dbi), 0);
    MDB_val k = {klen, (void *)key};
    MDB_val v = {vlen, (void *)val};
    cr_assert_eq (mdb_put (txn, dbi, &k, &v, 0), 0);
    cr_assert_eq (mdb_txn_commit (txn), 0);
    mdb_env_close (env);
}

Test (store, short_or_inconsistent_values_are_errors_not_crashes, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_ten_batches (store, "s");
    s_ten_batches (store, "u");
    s_begin (store);
    cr_assert_eq (sl_store_producer_set (store, "p", "s", 1, 1), 0);
    cr_assert_eq (sl_store_reader_set (store, "s", "r", 1, 1), 0);
    s_commit (store);
    sl_store_close (&store);

    //  Written through a raw LMDB handle while the store is closed.
    s_raw_put ("meta", "stream/s", 8, "abc", 3);
    uint8_t bad_meta[44] = {0};
    bad_meta[3] = 7;  //  id 7, first 0, next 0, records 0 ...
    bad_meta[27] = 5; //  ... but records 5: inconsistent
    s_raw_put ("meta", "stream/t", 8, bad_meta, sizeof bad_meta);
    s_raw_put ("producers", "p\0s", 3, "12345", 5);
    s_raw_put ("readers", "s\0r", 3, "1", 1);
    uint8_t key[12] = {0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 20}; //  stream u's third batch
    s_raw_put ("log", key, 12, "short", 5);

    store = s_open ();
    sl_stream_info_t info;
    bool exists;
    uint64_t v;
    cr_assert_eq (sl_store_stream_info (store, "s", &info, &exists), SL_ESTORE);
    cr_assert_eq (sl_store_stream_info (store, "t", &info, &exists), SL_ESTORE);
    cr_assert_eq (sl_store_read (store, "s", 0, 0, 0, s_collect, NULL, NULL), SL_ESTORE);
    cr_assert_eq (sl_store_find_time (store, "s", 0, &v), SL_ESTORE);
    cr_assert_eq (sl_store_producer_get (store, "p", "s", &v), SL_ESTORE);
    cr_assert_eq (sl_store_reader_get (store, "s", "r", &v), SL_ESTORE);
    list_ctx_t l = {0};
    cr_assert_eq (sl_store_list (store, s_list_fn, &l), SL_ESTORE);

    //  The damaged log entry: a read passes the good blobs before it and
    //  stops; a read that starts in it gets ECORRUPT and its range.
    blobs_t *b = s_blobs_new ();
    cr_assert_eq (sl_store_read (store, "u", 0, 0, 0, s_collect, b, NULL), 0);
    cr_assert_eq (b->n, 2, "the good blobs before it were passed");
    s_blobs_free (&b);
    b = s_blobs_new ();
    cr_assert_eq (sl_store_read (store, "u", 25, 0, 0, s_collect, b, NULL), SL_ECORRUPT);
    cr_assert_eq (b->n, 0);
    s_blobs_free (&b);
    uint64_t n_bad, from, to;
    sl_store_corrupt_stats (store, &n_bad, &from, &to);
    cr_assert_eq (n_bad, 2);
    cr_assert_eq (from, 20);
    cr_assert_eq (to, 30, "up to the next batch or the stream's end");
    cr_assert_eq (sl_store_find_time (store, "u", 1200, &v), SL_ECORRUPT);

    //  Writes to a damaged stream fail; the transaction stays usable.
    s_begin (store);
    uint8_t rec = 0;
    sl_retention_t ret = {.max_records = 1};
    cr_assert_eq (sl_store_append (store, "s", &rec, 1, 1, 1, NULL), SL_ESTORE);
    cr_assert_eq (sl_store_retain (store, "s", &ret, 0, &v), SL_ESTORE);
    //  Retention removes a damaged batch at the oldest end like any other
    //  (its extent from the batch after it): u keeps its newest batch.
    cr_assert_eq (sl_store_retain (store, "u", &ret, 0, &v), 0);
    cr_assert_eq (v, 90);
    cr_assert (sl_store_in_txn (store));
    s_append (store, "fine", 1, 1, 0, 1);
    s_commit (store);
    b = s_read_all (store, "fine", 0, NULL);
    cr_assert_eq (b->n, 1);
    s_blobs_free (&b);
    sl_store_close (&store);
}

Test (store, short_stream_counter_is_an_error, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    s_ten_batches (store, "s");
    sl_store_close (&store);
    s_raw_put ("meta", "next_stream_id", 14, "x", 1);
    store = s_open ();
    s_begin (store);
    uint8_t rec = 0;
    cr_assert_eq (sl_store_append (store, "new", &rec, 1, 1, 1, NULL), SL_ESTORE);
    s_append (store, "s", 1, 1, 0, 1); //  existing streams still work
    s_commit (store);
    sl_store_close (&store);
}

//  --------------------------------------------------------------------------
//  Stale reader slots

static bool
s_wait_byte (int fd, int timeout_ms, char *out)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll (&pfd, 1, timeout_ms) != 1) {
        return false;
    }
    return read (fd, out, 1) == 1;
}

//  Starts a child that opens a read transaction on the environment with
//  raw LMDB and dies without closing it; waits for it.
static void
s_leave_stale_reader (void)
{
    pid_t pid = fork ();
    cr_assert_geq (pid, 0);
    if (pid == 0) {
        MDB_env *env;
        MDB_txn *txn;
        if (mdb_env_create (&env) || mdb_env_set_maxdbs (env, 8) ||
            mdb_env_open (env, s_dir, MDB_NOTLS, 0640) ||
            mdb_txn_begin (env, NULL, MDB_RDONLY, &txn)) {
            _exit (1);
        }
        _exit (0);
    }
    int status;
    cr_assert_eq (waitpid (pid, &status, 0), pid);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

Test (store, stale_reader_slots_are_cleared, .init = setup, .fini = teardown)
{
    //  A holder process keeps the environment open, so that the lock file
    //  is not reset and the dead child's slot really stays behind.
    int to_holder[2], from_holder[2];
    cr_assert_eq (pipe (to_holder), 0);
    cr_assert_eq (pipe (from_holder), 0);
    s_holder = fork ();
    cr_assert_geq (s_holder, 0);
    if (s_holder == 0) {
        close (to_holder[1]);
        close (from_holder[0]);
        sl_store_t *store = sl_store_open (s_dir, NULL, NULL);
        if (!store || sl_store_begin (store) ||
            sl_store_append (store, "s", (const uint8_t *)"rec", 3, 1, 1, NULL) ||
            sl_store_commit (store)) {
            _exit (2);
        }
        char c = 'r';
        if (write (from_holder[1], &c, 1) != 1) {
            _exit (3);
        }
        //  'c': check the reader slots and report how many were cleared;
        //  EOF or 'q': leave.
        while (s_wait_byte (to_holder[0], 30000, &c) && c == 'c') {
            int cleared = -1;
            sl_store_readers_check (store, &cleared);
            c = (char)('0' + cleared);
            if (write (from_holder[1], &c, 1) != 1) {
                _exit (4);
            }
        }
        sl_store_close (&store);
        _exit (0);
    }
    close (to_holder[0]);
    close (from_holder[1]);
    char c;
    cr_assert (s_wait_byte (from_holder[0], 10000, &c) && c == 'r', "holder ready");

    //  1. The holder finds and clears the dead child's slot.
    s_leave_stale_reader ();
    c = 'c';
    cr_assert_eq (write (to_holder[1], &c, 1), 1);
    cr_assert (s_wait_byte (from_holder[0], 10000, &c));
    cr_assert_eq (c, '1', "one stale slot cleared, got %c", c);

    //  2. Open clears a stale slot itself: nothing is left for a check after.
    //  (Read-only: the holder has the directory's lock.)
    s_leave_stale_reader ();
    sl_store_opts_t ro = {.read_only = true};
    int err = 1;
    sl_store_t *store = sl_store_open (s_dir, &ro, &err);
    cr_assert_not_null (store, "%s", sl_strerror (err));
    int cleared = -1;
    cr_assert_eq (sl_store_readers_check (store, &cleared), 0);
    cr_assert_eq (cleared, 0, "open already cleared it");
    blobs_t *b = s_read_all (store, "s", 0, NULL);
    cr_assert_eq (b->n, 1);
    s_blobs_free (&b);
    cr_assert_eq (sl_store_begin (store), SL_ESTORE, "a read-only store takes no write");
    sl_store_close (&store);

    c = 'q';
    cr_assert_eq (write (to_holder[1], &c, 1), 1);
    int status;
    cr_assert_eq (waitpid (s_holder, &status, 0), s_holder);
    s_holder = 0;
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

//  --------------------------------------------------------------------------
//  Disk full

Test (store, disk_full_is_enospc_and_the_store_survives, .init = setup, .fini = teardown)
{
    //  A 4 MiB tmpfs, in a mount namespace of this test's own when possible
    //  so that the mount goes away with the process whatever happens.
    if (unshare (CLONE_NEWNS) == 0) {
        mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    }
    snprintf (s_mnt, sizeof s_mnt, "%s/fs", s_dir);
    cr_assert_eq (mkdir (s_mnt, 0700), 0);
    if (mount ("tmpfs", s_mnt, "tmpfs", 0, "size=4m") != 0) {
        int e = errno;
        s_mnt[0] = 0;
        cr_skip_test ("cannot mount a tmpfs (%s): disk-full test skipped", strerror (e));
    }
    //  Ballast to free later.
    char path[400];
    snprintf (path, sizeof path, "%s/ballast", s_mnt);
    int fd = open (path, O_CREAT | O_WRONLY, 0600);
    cr_assert_geq (fd, 0);
    static uint8_t zero[64 * KIB];
    for (int i = 0; i < 16; i++) {
        cr_assert_eq (write (fd, zero, sizeof zero), (ssize_t)sizeof zero);
    }
    close (fd);

    char db[400];
    snprintf (db, sizeof db, "%s/db", s_mnt);
    sl_store_t *store = s_open_at (db, 16 * MIB, 0);
    enum { LEN = 64 * KIB };
    uint8_t *buf = malloc (LEN);
    cr_assert_not_null (buf);
    //  The store's log lines go to a file, to count them.
    char log_path[400];
    snprintf (log_path, sizeof log_path, "%s/log.txt", s_dir);
    int log_fd = open (log_path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    cr_assert_geq (log_fd, 0);
    int saved_stderr = dup (STDERR_FILENO);
    cr_assert_geq (saved_stderr, 0);
    cr_assert_geq (dup2 (log_fd, STDERR_FILENO), 0);

    uint32_t committed = 0;
    int rc = 0;
    for (int i = 0; i < 500 && rc == 0; i++) {
        s_begin (store);
        s_fill (buf, LEN, committed);
        rc = sl_store_append (store, "s", buf, LEN, 1, 1, NULL);
        if (rc == 0) {
            rc = sl_store_commit (store);
        }
        if (rc == 0) {
            committed++;
        }
    }
    cr_assert_eq (rc, SL_ENOSPC, "got %s", sl_strerror (rc));
    cr_assert_not (sl_store_in_txn (store));
    cr_assert_gt (committed, 10);

    //  Still usable while full: what was committed is intact.
    sl_store_t *check = store;
    uint64_t offset = 0;
    blobs_t *b = s_read_all (check, "s", 0, NULL);
    cr_assert_eq (b->n, committed);
    for (size_t i = 0; i < b->n; i++, offset++) {
        cr_assert (s_check_fill (b->data[i] + 24, LEN, (uint32_t)offset));
    }
    s_blobs_free (&b);
    //  A second try while full fails the same way, and nothing is corrupted.
    s_begin (store);
    s_fill (buf, LEN, committed);
    rc = sl_store_append (store, "s", buf, LEN, 1, 1, NULL);
    if (rc == 0) {
        rc = sl_store_commit (store);
    }
    if (rc == 0) {
        committed++;
    }
    else {
        cr_assert_eq (rc, SL_ENOSPC);
    }
    dup2 (saved_stderr, STDERR_FILENO);
    close (saved_stderr);
    char text[4096] = {0};
    ssize_t got = pread (log_fd, text, sizeof text - 1, 0);
    close (log_fd);
    cr_assert_gt (got, 0);
    char *first = strstr (text, "disk full");
    cr_assert_not_null (first, "logged: %s", text);
    cr_assert_null (strstr (first + 1, "disk full"), "logged once: %s", text);

    //  Space freed: writes work again.
    cr_assert_eq (unlink (path), 0);
    for (int i = 0; i < 4; i++) {
        s_begin (store);
        s_fill (buf, LEN, committed);
        rc = sl_store_append (store, "s", buf, LEN, 1, 1, NULL);
        cr_assert_eq (rc, 0, "%s", sl_strerror (rc));
        s_commit (store);
        committed++;
    }
    free (buf);
    sl_store_close (&store);

    store = s_open_at (db, 16 * MIB, 0);
    b = s_read_all (store, "s", 0, NULL);
    cr_assert_eq (b->n, committed);
    for (size_t i = 0; i < b->n; i++) {
        cr_assert_eq (b->base[i], i);
        cr_assert (s_check_fill (b->data[i] + 24, LEN, (uint32_t)i));
    }
    s_blobs_free (&b);
    sl_store_close (&store);
}

//  --------------------------------------------------------------------------
//  Worker group state

typedef struct {
    int calls;
    char names[4][SL_NAME_MAX + 1];
    size_t lens[4];
    uint8_t first[4];
    int stop_after;
} s_groups_seen_t;

static int
s_group_cb (void *ctx, const char *group, const uint8_t *data, size_t len)
{
    s_groups_seen_t *seen = ctx;
    cr_assert_lt (seen->calls, 4);
    snprintf (seen->names[seen->calls], sizeof seen->names[0], "%s", group);
    seen->lens[seen->calls] = len;
    seen->first[seen->calls] = data[0];
    seen->calls++;
    return seen->stop_after && seen->calls == seen->stop_after ? 42 : 0;
}

Test (store, group_state_get_set_list, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    cr_assert_eq (sl_store_group_get (store, "enrich", &buf), SL_ENOTFOUND);
    cr_assert_eq (sl_store_group_set (store, "enrich", "\x81", 1), SL_ESTATE, "needs a txn");
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_group_set (store, "enrich", "\x81\xa1v\x01", 4), 0);
    //  The open write transaction is seen by get, not by list.
    cr_assert_eq (sl_store_group_get (store, "enrich", &buf), 0);
    cr_assert_eq (buf.len, 4);
    cr_assert_eq (memcmp (buf.data, "\x81\xa1v\x01", 4), 0);
    s_groups_seen_t seen = {0};
    cr_assert_eq (sl_store_group_list (store, s_group_cb, &seen), 0);
    cr_assert_eq (seen.calls, 0);
    cr_assert_eq (sl_store_group_set (store, "alpha", "\x80", 1), 0);
    cr_assert_eq (sl_store_commit (store), 0);
    //  Replace, then abort: the old value stays.
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_group_set (store, "enrich", "\x90\x90", 2), 0);
    sl_store_abort (store);
    cr_assert_eq (sl_store_group_get (store, "enrich", &buf), 0);
    cr_assert_eq (buf.len, 4, "get replaces the buffer's content");
    cr_assert_eq (sl_store_list (store, NULL, NULL), 0, "groups are not streams");
    memset (&seen, 0, sizeof seen);
    cr_assert_eq (sl_store_group_list (store, s_group_cb, &seen), 0);
    cr_assert_eq (seen.calls, 2);
    cr_assert_str_eq (seen.names[0], "alpha");
    cr_assert_eq (seen.lens[0], 1);
    cr_assert_eq (seen.first[0], 0x80);
    cr_assert_str_eq (seen.names[1], "enrich");
    cr_assert_eq (seen.lens[1], 4);
    memset (&seen, 0, sizeof seen);
    seen.stop_after = 1;
    cr_assert_eq (sl_store_group_list (store, s_group_cb, &seen), 42, "stops early");
    cr_assert_eq (seen.calls, 1);
    //  Reopen: it is durable.
    sl_store_close (&store);
    store = s_open ();
    sl_buf_reset (&buf);
    cr_assert_eq (sl_store_group_get (store, "enrich", &buf), 0);
    cr_assert_eq (buf.len, 4);
    sl_buf_free (&buf);
    sl_store_close (&store);
}

Test (store, group_state_bad_arguments, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    cr_assert_eq (sl_store_group_get (store, "bad name", &buf), SL_ENAME);
    cr_assert_eq (sl_store_group_get (store, "", &buf), SL_ENAME);
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_group_set (store, ".x", "\x80", 1), SL_ENAME);
    cr_assert_eq (sl_store_group_set (store, "x", "\x80", 0), SL_EINVAL);
    cr_assert (sl_store_in_txn (store), "argument errors leave the txn open");
    sl_store_abort (store);
    //  A group state that is not a valid name key on disk is damage.
    sl_store_close (&store);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    cr_assert_eq (mdb_env_create (&env), 0);
    cr_assert_eq (mdb_env_set_maxdbs (env, 8), 0);
    cr_assert_eq (mdb_env_set_mapsize (env, 64ull << 20), 0);
    cr_assert_eq (mdb_env_open (env, s_dir, 0, 0644), 0);
    cr_assert_eq (mdb_txn_begin (env, NULL, 0, &txn), 0);
    cr_assert_eq (mdb_dbi_open (txn, "groups", MDB_CREATE, &dbi), 0);
    MDB_val key = {3, (void *)"a b"};
    MDB_val val = {1, (void *)"\x80"};
    cr_assert_eq (mdb_put (txn, dbi, &key, &val, 0), 0);
    cr_assert_eq (mdb_txn_commit (txn), 0);
    mdb_env_close (env);
    store = s_open ();
    s_groups_seen_t seen = {0};
    cr_assert_eq (sl_store_group_list (store, s_group_cb, &seen), SL_ESTORE);
    cr_assert_eq (seen.calls, 0);
    sl_buf_free (&buf);
    sl_store_close (&store);
}

//  Producer owners (lib/store/sl_store_owner.c): with CURVE on a producer name
//  belongs to the key that first used it, durably.
static int
s_count_one (void *ctx, const sl_stream_info_t *info)
{
    (void)info;
    (*(int *)ctx)++;
    return 0;
}

Test (store, producer_owner, .init = setup, .fini = teardown)
{
    sl_store_t *store = s_open ();
    char owner[SL_STORE_OWNER_MAX + 1];
    cr_assert_eq (sl_store_owner_get (store, "src", owner, sizeof owner), SL_ENOTFOUND);
    cr_assert_eq (sl_store_owner_set (store, "src", "alice"), SL_ESTATE, "needs a txn");
    cr_assert_eq (sl_store_owner_get (store, "bad name", owner, sizeof owner), SL_ENAME);
    s_begin (store);
    cr_assert_eq (sl_store_owner_set (store, "src", "alice"), 0);
    cr_assert_eq (sl_store_owner_set (store, "src", ""), SL_EINVAL);
    char too_long[SL_STORE_OWNER_MAX + 2];
    memset (too_long, 'k', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = 0;
    cr_assert_eq (sl_store_owner_set (store, "src2", too_long), SL_EINVAL);
    cr_assert_eq (sl_store_owner_get (store, "src", owner, sizeof owner), 0);
    cr_assert_str_eq (owner, "alice", "the writer sees its own binding");
    cr_assert_eq (sl_store_append (store, "s", (const uint8_t *)"\x94\x00\xc0\xc0\x01", 5, 1, 1,
                                   &(sl_batch_header_t){0}),
                  0);
    s_commit (store);
    //  The binding is not a stream: LIST still sees one.
    int n = 0;
    cr_assert_eq (sl_store_list (store, s_count_one, &n), 0);
    cr_expect_eq (n, 1);
    //  A buffer too small for the owner is refused, not overrun.
    cr_expect_eq (sl_store_owner_get (store, "src", owner, 3), SL_ETOOBIG);
    sl_store_close (&store);
    //  Durable across a reopen.
    store = s_open ();
    cr_assert_eq (sl_store_owner_get (store, "src", owner, sizeof owner), 0);
    cr_expect_str_eq (owner, "alice");
    cr_expect_eq (sl_store_owner_get (store, "src2", owner, sizeof owner), SL_ENOTFOUND);
    sl_store_close (&store);
}
