/*  test_store_admin.c - the store's operator views and changes
    (lib/store/sl_store_admin.c) and reading a dead letter back (lib/group/sl_dlq.c),
    against a real LMDB environment in a temp dir.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tmpdir.h"
#include "sl_dlq.h"
#include "sl_error.h"
#include "sl_group.h"
#include "sl_store.h"
#include "sl_store_admin.h"

static char s_dir[256];

static void
setup (void)
{
    strcpy (s_dir, "/tmp/sl_test_store_admin_XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
teardown (void)
{
    sl_test_rmtree (s_dir);
}

TestSuite (store_admin, .init = setup, .fini = teardown);

static sl_store_t *
s_open (void)
{
    int err = 0;
    sl_store_t *store = sl_store_open (s_dir, NULL, &err);
    cr_assert_not_null (store, "open: %d", err);
    return store;
}

//  Appends a batch of count records at now_ms in its own transaction.
static void
s_append (sl_store_t *store, const char *stream, uint32_t count, int64_t now_ms)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t value = 0x01;
        cr_assert_eq (sl_record_encode (&buf, now_ms, NULL, 0, false, NULL, 0, &value, 1), 0);
    }
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_append (store, stream, buf.data, buf.len, count, now_ms, NULL), 0);
    cr_assert_eq (sl_store_commit (store), 0);
    sl_buf_free (&buf);
}

Test (store_admin, append_time_is_the_batch_that_holds_the_offset)
{
    sl_store_t *store = s_open ();
    s_append (store, "s", 3, 1000); //  offsets 0..2
    s_append (store, "s", 2, 2500); //  3..4
    s_append (store, "s", 4, 4000); //  5..8
    int64_t ms = 0;
    uint64_t want[][2] = {{0, 1000}, {2, 1000}, {3, 2500}, {4, 2500}, {5, 4000}, {8, 4000}};
    for (size_t i = 0; i < 6; i++) {
        cr_assert_eq (sl_store_append_time (store, "s", want[i][0], &ms), 0);
        cr_assert_eq (ms, (int64_t)want[i][1], "offset %llu", (unsigned long long)want[i][0]);
    }
    cr_assert_eq (sl_store_append_time (store, "s", 9, &ms), SL_ENOTFOUND);
    cr_assert_eq (sl_store_append_time (store, "nope", 0, &ms), SL_ENOTFOUND);
    cr_assert_eq (sl_store_append_time (store, "bad/name", 0, &ms), SL_ENAME);
    //  After retention removed the first batch, offset 0 is gone.
    sl_retention_t keep = {5, 0, 0};
    uint64_t removed;
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_retain (store, "s", &keep, 5000, &removed), 0);
    cr_assert_eq (sl_store_commit (store), 0);
    cr_assert_eq (sl_store_append_time (store, "s", 0, &ms), SL_ENOTFOUND);
    cr_assert_eq (sl_store_append_time (store, "s", 3, &ms), 0);
    cr_assert_eq (ms, 2500);
    sl_store_close (&store);
}

typedef struct {
    char names[8][64];
    uint64_t offsets[8];
    int n;
} s_list_t;

static int
s_reader (void *ctx, const char *stream, const char *reader, uint64_t offset, int64_t updated)
{
    (void)updated;
    s_list_t *l = ctx;
    snprintf (l->names[l->n], 64, "%s/%s", stream, reader);
    l->offsets[l->n++] = offset;
    return 0;
}

Test (store_admin, readers_listed_and_deleted)
{
    sl_store_t *store = s_open ();
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_reader_set (store, "b", "r1", 7, 1), 0);
    cr_assert_eq (sl_store_reader_set (store, "a", "r2", 3, 1), 0);
    cr_assert_eq (sl_store_reader_set (store, "a", "r1", 5, 1), 0);
    cr_assert_eq (sl_store_commit (store), 0);
    s_list_t l = {0};
    cr_assert_eq (sl_store_reader_list (store, s_reader, &l), 0);
    cr_assert_eq (l.n, 3);
    cr_assert_str_eq (l.names[0], "a/r1");
    cr_assert_str_eq (l.names[1], "a/r2");
    cr_assert_str_eq (l.names[2], "b/r1");
    cr_assert_eq (l.offsets[2], 7);
    cr_assert_eq (sl_store_reader_delete (store, "a", "r1"), SL_ESTATE, "needs a transaction");
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_reader_delete (store, "a", "r1"), 0);
    cr_assert_eq (sl_store_reader_delete (store, "a", "r1"), SL_ENOTFOUND);
    cr_assert_eq (sl_store_commit (store), 0);
    memset (&l, 0, sizeof l);
    cr_assert_eq (sl_store_reader_list (store, s_reader, &l), 0);
    cr_assert_eq (l.n, 2);
    sl_store_close (&store);
}

static int
s_retention (void *ctx, const char *stream, const sl_retention_t *ret)
{
    s_list_t *l = ctx;
    snprintf (l->names[l->n], 64, "%s", stream);
    l->offsets[l->n++] = ret->max_records;
    return 0;
}

Test (store_admin, retention_kept_across_reopen_and_cleared)
{
    sl_store_t *store = s_open ();
    sl_retention_t r = {10, 2048, 60000};
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_retention_set (store, "logs", &r), 0);
    cr_assert_eq (sl_store_retention_set (store, "audit", &(sl_retention_t){3, 0, 0}), 0);
    cr_assert_eq (sl_store_commit (store), 0);
    sl_store_close (&store);
    store = s_open ();
    sl_retention_t got;
    cr_assert_eq (sl_store_retention_get (store, "logs", &got), 0);
    cr_assert_eq (memcmp (&got, &r, sizeof r), 0);
    s_list_t l = {0};
    cr_assert_eq (sl_store_retention_list (store, s_retention, &l), 0);
    cr_assert_eq (l.n, 2);
    cr_assert_str_eq (l.names[0], "audit");
    cr_assert_eq (l.offsets[0], 3);
    //  Streams are not retention entries, nor the other way round.
    s_append (store, "logs", 1, 1);
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_retention_set (store, "logs", &(sl_retention_t){0, 0, 0}), 0);
    cr_assert_eq (sl_store_commit (store), 0);
    cr_assert_eq (sl_store_retention_get (store, "logs", &got), SL_ENOTFOUND);
    sl_stream_info_t info;
    bool exists;
    cr_assert_eq (sl_store_stream_info (store, "logs", &info, &exists), 0);
    cr_assert (exists);
    sl_store_close (&store);
}

Test (store_admin, purge_keeps_offsets_delete_starts_afresh)
{
    sl_store_t *store = s_open ();
    s_append (store, "s", 3, 1000);
    s_append (store, "s", 2, 2000);
    s_append (store, "other", 1, 2000);
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_reader_set (store, "s", "r", 2, 1), 0);
    cr_assert_eq (sl_store_reader_set (store, "other", "r", 1, 1), 0);
    cr_assert_eq (sl_store_producer_set (store, "p", "s", 9, 1), 0);
    cr_assert_eq (sl_store_producer_set (store, "p", "other", 4, 1), 0);
    uint64_t removed = 0;
    cr_assert_eq (sl_store_stream_purge (store, "s", &removed), 0);
    cr_assert_eq (removed, 5);
    cr_assert_eq (sl_store_commit (store), 0);
    sl_stream_info_t info;
    bool exists;
    cr_assert_eq (sl_store_stream_info (store, "s", &info, &exists), 0);
    cr_assert (exists);
    cr_assert_eq (info.first, 5);
    cr_assert_eq (info.next, 5);
    s_append (store, "s", 1, 3000);
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_stream_delete (store, "s", &removed), 0);
    cr_assert_eq (removed, 1);
    cr_assert_eq (sl_store_stream_delete (store, "nope", &removed), SL_ENOTFOUND);
    cr_assert_eq (sl_store_commit (store), 0);
    cr_assert_eq (sl_store_stream_info (store, "s", &info, &exists), 0);
    cr_assert_not (exists);
    uint64_t pos, seq;
    cr_assert_eq (sl_store_reader_get (store, "s", "r", &pos), SL_ENOTFOUND);
    cr_assert_eq (sl_store_producer_get (store, "p", "s", &seq), 0);
    cr_assert_eq (seq, 0, "the producer's sequence went with the stream");
    cr_assert_eq (sl_store_reader_get (store, "other", "r", &pos), 0);
    cr_assert_eq (sl_store_producer_get (store, "p", "other", &seq), 0);
    cr_assert_eq (seq, 4, "other streams keep theirs");
    s_append (store, "s", 2, 4000);
    cr_assert_eq (sl_store_stream_info (store, "s", &info, &exists), 0);
    cr_assert_eq (info.first, 0);
    cr_assert_eq (info.next, 2);
    sl_store_close (&store);
}

Test (store_admin, group_delete)
{
    sl_store_t *store = s_open ();
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_group_set (store, "g", "x", 1), 0);
    cr_assert_eq (sl_store_commit (store), 0);
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_group_delete (store, "g"), 0);
    cr_assert_eq (sl_store_group_delete (store, "g"), SL_ENOTFOUND);
    cr_assert_eq (sl_store_commit (store), 0);
    sl_buf_t out;
    sl_buf_init (&out, 0);
    cr_assert_eq (sl_store_group_get (store, "g", &out), SL_ENOTFOUND);
    sl_buf_free (&out);
    sl_store_close (&store);
}

//  ---------------------------------------------------------------------
//  Dead letters

Test (store_admin, dlq_original_round_trip_and_refusals)
{
    sl_group_config_t cfg = {.in = "orders", .out = "out", .max_deliver = 1, .lease_ms = 1000};
    sl_group_t *group = sl_group_new ("g", &cfg, 0);
    cr_assert_not_null (group);
    sl_buf_t orig;
    sl_buf_init (&orig, 0);
    const uint8_t headers[] = {0x81, 0xa1, 'h', 0xa1, 'v'};
    const uint8_t value[] = {0x92, 0x01, 0xa2, 'h', 'i'};
    cr_assert_eq (
        sl_record_encode (&orig, 42, "k", 1, false, headers, sizeof headers, value, sizeof value),
        0);
    sl_record_iter_t it;
    sl_record_t rec;
    sl_record_iter_init (&it, orig.data, orig.len, 1, 7);
    cr_assert_eq (sl_record_iter_next (&it, &rec), 1);
    sl_dead_t dead = {.offset = 7, .attempts = 1};
    strcpy (dead.error, "boom");
    sl_buf_t letter;
    sl_buf_init (&letter, 0);
    cr_assert_eq (sl_group_dlq_encode (&letter, group, &dead, &rec, 99), 0);
    sl_record_iter_init (&it, letter.data, letter.len, 1, 0);
    cr_assert_eq (sl_record_iter_next (&it, &rec), 1);
    sl_buf_t back;
    sl_buf_init (&back, 0);
    char stream[SL_NAME_MAX + 1];
    cr_assert_eq (sl_dlq_original (&rec, &back, stream), 0);
    cr_assert_str_eq (stream, "orders");
    cr_assert_eq (back.len, orig.len);
    cr_assert_eq (memcmp (back.data, orig.data, orig.len), 0, "the very record comes back");
    //  A record that is not a dead letter.
    sl_buf_t plain;
    sl_buf_init (&plain, 0);
    cr_assert_eq (sl_record_encode (&plain, 1, NULL, 0, false, NULL, 0, value, sizeof value), 0);
    sl_record_iter_init (&it, plain.data, plain.len, 1, 0);
    cr_assert_eq (sl_record_iter_next (&it, &rec), 1);
    cr_assert_eq (sl_dlq_original (&rec, &back, stream), SL_EPROTO);
    //  {"stream": "a/b", "record": {...}}: a bad stream name.
    const uint8_t bad[] = {0x82, 0xa6, 's',  't', 'r', 'e', 'a', 'm', 0xa3, 'a',
                           '/',  'b',  0xa6, 'r', 'e', 'c', 'o', 'r', 'd',  0x80};
    sl_buf_reset (&plain);
    cr_assert_eq (sl_record_encode (&plain, 1, NULL, 0, false, NULL, 0, bad, sizeof bad), 0);
    sl_record_iter_init (&it, plain.data, plain.len, 1, 0);
    cr_assert_eq (sl_record_iter_next (&it, &rec), 1);
    cr_assert_eq (sl_dlq_original (&rec, &back, stream), SL_EPROTO);
    sl_buf_free (&orig);
    sl_buf_free (&letter);
    sl_buf_free (&back);
    sl_buf_free (&plain);
    sl_group_destroy (&group);
}
