/*  test_repl.c - the replication journal: the entry codec (lib/codec/sl_repl.c)
    and the store's journal (lib/store/sl_store_repl.c): a second store that
    applies the first's entries holds the same data; the epoch rule; undo
    of entries never replicated. Real LMDB environments in temp dirs.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tmpdir.h"
#include "sl_error.h"
#include "sl_repl.h"
#include "sl_store.h"
#include "sl_store_repl.h"

static char s_dir[256];

static void
setup (void)
{
    strcpy (s_dir, "/tmp/sl_test_repl_XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
teardown (void)
{
    sl_test_rmtree (s_dir);
}

TestSuite (repl, .init = setup, .fini = teardown);

static sl_buf_t
s_entry (void)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    size_t at;
    cr_assert_eq (sl_repl_begin (&buf, 3, 0), 0);
    cr_assert_eq (sl_repl_op_start (&buf, SL_REPL_META, "k1", 2, NULL, 0, 0, &at), 0);
    cr_assert_eq (sl_repl_op_value (&buf, at, "v1", 2), 0);
    cr_assert_eq (sl_repl_op_start (&buf, SL_REPL_GROUPS, "g", 1, "old", 3, SL_REPL_OLD, &at), 0);
    cr_assert_eq (sl_repl_op_start (&buf, SL_REPL_LOG, "kk", 2, NULL, 0, SL_REPL_ELIDED, &at), 0);
    sl_repl_set_seq (&buf, 3, 42);
    cr_assert_eq (sl_repl_finish (&buf), 0);
    return buf;
}

typedef struct {
    int n;
    char keys[8][8];
    uint8_t flags[8];
} s_seen_t;

static int
s_see (void *ctx, const sl_repl_op_t *op)
{
    s_seen_t *seen = ctx;
    snprintf (seen->keys[seen->n], 8, "%.*s", (int)op->key_len, op->key);
    seen->flags[seen->n++] = op->flags;
    return 0;
}

Test (repl, codec_roundtrip)
{
    sl_buf_t buf = s_entry ();
    uint64_t epoch, seq;
    uint32_t n;
    cr_assert_eq (sl_repl_check (buf.data, buf.len, &epoch, &seq, &n), 0);
    cr_assert_eq (epoch, 3);
    cr_assert_eq (seq, 42);
    cr_assert_eq (n, 3);
    s_seen_t seen = {0};
    cr_assert_eq (sl_repl_walk (buf.data, buf.len, false, s_see, &seen), 0);
    cr_assert_str_eq (seen.keys[0], "k1");
    cr_assert_eq (seen.flags[0], SL_REPL_NEW);
    cr_assert_eq (seen.flags[1], SL_REPL_OLD);
    cr_assert_eq (seen.flags[2], SL_REPL_ELIDED);
    s_seen_t back = {0};
    cr_assert_eq (sl_repl_walk (buf.data, buf.len, true, s_see, &back), 0);
    cr_assert_str_eq (back.keys[0], "kk");
    cr_assert_str_eq (back.keys[2], "k1");
    sl_buf_free (&buf);
}

Test (repl, codec_refuses_damage_and_hostile_lengths)
{
    sl_buf_t buf = s_entry ();
    //  Every single flipped byte is caught (checksum or structure).
    for (size_t i = 0; i < buf.len; i++) {
        buf.data[i] ^= 0x40;
        cr_assert_neq (sl_repl_check (buf.data, buf.len, NULL, NULL, NULL), 0, "byte %zu", i);
        buf.data[i] ^= 0x40;
    }
    //  Every cut is caught.
    for (size_t len = 0; len < buf.len; len++) {
        cr_assert_neq (sl_repl_check (buf.data, len, NULL, NULL, NULL), 0, "len %zu", len);
    }
    //  An op claiming 4 GiB, with a valid checksum: refused by bounds.
    sl_buf_t evil;
    sl_buf_init (&evil, 0);
    size_t at;
    sl_repl_begin (&evil, 1, 1);
    sl_repl_op_start (&evil, SL_REPL_META, "k", 1, NULL, 0, 0, &at);
    sl_repl_op_value (&evil, at, "v", 1);
    //  Patch new_len to 0xFFFFFFF0 and n_ops, then checksum by hand.
    evil.data[at + 8] = 0xFF;
    evil.data[at + 9] = 0xFF;
    evil.data[at + 10] = 0xFF;
    evil.data[at + 11] = 0xF0;
    cr_assert_neq (sl_repl_finish (&evil), 0);
    //  A database number past the table.
    sl_repl_begin (&evil, 1, 1);
    cr_assert_eq (sl_repl_op_start (&evil, SL_REPL_N_DBS, "k", 1, NULL, 0, 0, &at), SL_EINVAL);
    cr_assert_eq (sl_repl_check (NULL, 0, NULL, NULL, NULL), SL_ETRUNC);
    sl_buf_free (&evil);
    sl_buf_free (&buf);
}

static sl_store_t *
s_open (const char *name)
{
    char path[512];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    int err = 0;
    sl_store_t *store = sl_store_open (path, NULL, &err);
    cr_assert_not_null (store, "open %s: %d", name, err);
    cr_assert_eq (sl_store_journal_on (store, 0), 0);
    return store;
}

static void
s_publish (sl_store_t *store, const char *stream, const char *producer, uint64_t seq, int n)
{
    //  n records, each the msgpack record [ms, nil, nil, i].
    uint8_t records[8 * 64];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        records[len++] = 0x94;
        records[len++] = 0x01;
        records[len++] = 0xc0;
        records[len++] = 0xc0;
        records[len++] = (uint8_t)(i & 0x7f);
    }
    cr_assert_eq (sl_store_begin (store), 0);
    sl_batch_header_t h;
    cr_assert_eq (sl_store_append (store, stream, records, len, (uint32_t)n, 1000, &h), 0);
    cr_assert_eq (sl_store_producer_set (store, producer, stream, seq + n - 1, 1000), 0);
    cr_assert_eq (sl_store_commit (store), 0);
}

typedef struct {
    sl_store_t *to;
    int n;
} s_copy_t;

static int
s_copy (void *ctx, const uint8_t *entry, size_t len)
{
    s_copy_t *c = ctx;
    int rc = sl_store_repl_apply (c->to, entry, len);
    c->n += rc == 0;
    return rc;
}

//  Applies every entry of `from` after `to`'s position, in one transaction.
static int
s_follow (sl_store_t *from, sl_store_t *to)
{
    uint64_t seq, last;
    sl_store_repl_position (to, NULL, &seq, NULL);
    sl_store_repl_position (from, NULL, &last, NULL);
    if (seq >= last) {
        return 0;
    }
    s_copy_t c = {.to = to};
    cr_assert_eq (sl_store_begin (to), 0);
    int rc = sl_store_repl_read (from, seq + 1, 0, s_copy, &c);
    if (rc) {
        sl_store_abort (to);
        return rc;
    }
    cr_assert_eq (sl_store_commit (to), 0);
    return c.n;
}

static void
s_assert_same (sl_store_t *a, sl_store_t *b, const char *stream)
{
    sl_stream_info_t ia, ib;
    bool ea, eb;
    cr_assert_eq (sl_store_stream_info (a, stream, &ia, &ea), 0);
    cr_assert_eq (sl_store_stream_info (b, stream, &ib, &eb), 0);
    cr_assert_eq (ea, eb);
    cr_assert_eq (ia.first, ib.first);
    cr_assert_eq (ia.next, ib.next);
    cr_assert_eq (ia.bytes, ib.bytes);
}

Test (repl, replica_holds_the_same_store)
{
    sl_store_t *p = s_open ("p");
    sl_store_t *r = s_open ("r");
    s_publish (p, "s", "prod", 1, 5);
    s_publish (p, "s", "prod", 6, 3);
    s_publish (p, "t", "prod", 1, 2);
    cr_assert_eq (s_follow (p, r), 3);
    s_assert_same (p, r, "s");
    s_assert_same (p, r, "t");
    uint64_t seq = 0;
    cr_assert_eq (sl_store_producer_get (r, "prod", "s", &seq), 0);
    cr_assert_eq (seq, 8, "producer sequences are replicated");
    //  Retention on the primary reaches the replica too.
    sl_retention_t ret = {.max_records = 3};
    uint64_t removed = 0;
    cr_assert_eq (sl_store_begin (p), 0);
    cr_assert_eq (sl_store_retain (p, "s", &ret, 2000, &removed), 0);
    cr_assert_eq (sl_store_commit (p), 0);
    cr_assert_eq (removed, 5);
    cr_assert_eq (s_follow (p, r), 1);
    s_assert_same (p, r, "s");
    //  Both journals agree entry by entry.
    uint64_t ep, sp, er, sr;
    sl_store_repl_position (p, &ep, &sp, NULL);
    sl_store_repl_position (r, &er, &sr, NULL);
    cr_assert_eq (sp, sr);
    cr_assert_eq (ep, er);
    cr_assert_eq (ep, 1);
    sl_store_close (&p);
    sl_store_close (&r);
}

static int
s_keep (void *ctx, const uint8_t *entry, size_t len)
{
    sl_buf_t *buf = ctx;
    if (buf->len) {
        return 1; //  the first entry only
    }
    return sl_buf_append (buf, entry, len);
}

Test (repl, apply_refuses_gaps_old_epochs_and_damage)
{
    sl_store_t *p = s_open ("p");
    sl_store_t *r = s_open ("r");
    s_publish (p, "s", "prod", 1, 1);
    s_publish (p, "s", "prod", 2, 1);
    //  Entry 2 before entry 1: a gap.
    cr_assert_eq (sl_store_begin (r), 0);
    s_copy_t c = {.to = r};
    cr_assert_eq (sl_store_repl_read (p, 2, 0, s_copy, &c), SL_ESEQ);
    sl_store_abort (r);
    //  In order, both apply.
    cr_assert_eq (s_follow (p, r), 2);
    //  A damaged copy of entry 3: ECORRUPT; an entry of an older epoch
    //  than the replica's position: EEPOCH.
    s_publish (p, "s", "prod", 3, 1);
    sl_buf_t third;
    sl_buf_init (&third, 0);
    cr_assert_eq (sl_store_repl_read (p, 3, 0, s_keep, &third), 0);
    third.data[third.len / 2] ^= 1;
    cr_assert_eq (sl_store_begin (r), 0);
    cr_assert_eq (sl_store_repl_apply (r, third.data, third.len), SL_ECORRUPT);
    sl_store_abort (r);
    uint64_t epoch;
    cr_assert_eq (sl_store_begin (r), 0);
    cr_assert_eq (sl_store_repl_new_epoch (r, &epoch), 0);
    cr_assert_eq (sl_store_commit (r), 0);
    third.data[third.len / 2] ^= 1;
    cr_assert_eq (sl_store_begin (r), 0);
    cr_assert_eq (sl_store_repl_apply (r, third.data, third.len), SL_ESEQ);
    sl_store_abort (r);
    s_publish (p, "s", "prod", 4, 1);
    sl_buf_reset (&third);
    cr_assert_eq (sl_store_repl_read (p, 4, 0, s_keep, &third), 0);
    cr_assert_eq (sl_store_begin (r), 0);
    cr_assert_eq (sl_store_repl_apply (r, third.data, third.len), SL_EEPOCH);
    sl_store_abort (r);
    sl_buf_free (&third);
    sl_store_close (&p);
    sl_store_close (&r);
}

Test (repl, epoch_rule_and_undo_of_unreplicated_entries)
{
    sl_store_t *a = s_open ("a"); //  the old primary
    sl_store_t *b = s_open ("b"); //  its replica, promoted later
    s_publish (a, "s", "p1", 1, 4);
    cr_assert_eq (s_follow (a, b), 1);
    //  a writes two more entries b never gets.
    s_publish (a, "s", "p1", 5, 2);
    s_publish (a, "u", "p2", 1, 1);
    //  b is promoted: epoch 2 starts at entry 2, recorded as an entry.
    uint64_t epoch = 0;
    cr_assert_eq (sl_store_begin (b), 0);
    cr_assert_eq (sl_store_repl_new_epoch (b, &epoch), 0);
    cr_assert_eq (sl_store_commit (b), 0);
    cr_assert_eq (epoch, 2);
    s_publish (b, "s", "p3", 1, 3);
    //  a, at (epoch 1, seq 3), asks b: they agree up to entry 1 only.
    uint64_t ea, sa, agree = 99;
    sl_store_repl_position (a, &ea, &sa, NULL);
    cr_assert_eq (ea, 1);
    cr_assert_eq (sa, 3);
    cr_assert_eq (sl_store_repl_agree (b, ea, sa, &agree), 0);
    cr_assert_eq (agree, 1);
    //  A follower claiming an epoch newer than b's: b is the stale one.
    cr_assert_eq (sl_store_repl_agree (b, 3, 1, &agree), SL_EEPOCH);
    //  b cannot follow a (a is older): a's entries are of an older epoch.
    //  a undoes entries 2..3.
    cr_assert_eq (sl_store_begin (a), 0);
    cr_assert_eq (sl_store_repl_truncate (a, 1), 0);
    cr_assert_eq (sl_store_commit (a), 0);
    sl_stream_info_t info;
    bool exists;
    cr_assert_eq (sl_store_stream_info (a, "s", &info, &exists), 0);
    cr_assert_eq (info.next, 4, "the unreplicated batch is gone");
    cr_assert_eq (sl_store_stream_info (a, "u", &info, &exists), 0);
    cr_assert_not (exists, "a stream created by an undone entry is gone");
    uint64_t seq = 0;
    cr_assert_eq (sl_store_producer_get (a, "p1", "s", &seq), 0);
    cr_assert_eq (seq, 4, "the producer's sequence is back where b has it");
    //  Now a follows b and ends up the same.
    cr_assert_eq (s_follow (b, a), 2);
    s_assert_same (a, b, "s");
    sl_store_repl_position (a, &ea, &sa, NULL);
    cr_assert_eq (ea, 2);
    cr_assert_eq (sa, 3);
    //  The journal survives a reopen.
    sl_store_close (&a);
    a = s_open ("a");
    sl_store_repl_position (a, &ea, &sa, NULL);
    cr_assert_eq (ea, 2);
    cr_assert_eq (sa, 3);
    sl_store_close (&a);
    sl_store_close (&b);
}

Test (repl, undo_past_a_retention_delete_is_refused)
{
    sl_store_t *a = s_open ("a");
    s_publish (a, "s", "p1", 1, 4);
    s_publish (a, "s", "p1", 5, 4);
    sl_retention_t ret = {.max_records = 4};
    uint64_t removed = 0;
    cr_assert_eq (sl_store_begin (a), 0);
    cr_assert_eq (sl_store_retain (a, "s", &ret, 2000, &removed), 0);
    cr_assert_eq (sl_store_commit (a), 0);
    cr_assert_eq (sl_store_begin (a), 0);
    cr_assert_eq (sl_store_repl_truncate (a, 1), SL_ESTATE);
    sl_store_abort (a);
    //  Nothing changed.
    sl_stream_info_t info;
    bool exists;
    cr_assert_eq (sl_store_stream_info (a, "s", &info, &exists), 0);
    cr_assert_eq (info.first, 4);
    cr_assert_eq (info.next, 8);
    sl_store_close (&a);
}

Test (repl, journal_is_bounded)
{
    char path[512];
    snprintf (path, sizeof path, "%s/small", s_dir);
    int err = 0;
    sl_store_t *s = sl_store_open (path, NULL, &err);
    cr_assert_not_null (s);
    cr_assert_eq (sl_store_journal_on (s, 2048), 0);
    for (int i = 0; i < 50; i++) {
        s_publish (s, "s", "p", (uint64_t)i * 5 + 1, 5);
    }
    uint64_t seq, first;
    sl_store_repl_position (s, NULL, &seq, &first);
    cr_assert_eq (seq, 50);
    cr_assert_gt (first, 1, "old entries were dropped");
    //  A follower that needs a dropped entry is told so.
    uint64_t agree;
    s_copy_t c = {0};
    cr_assert_eq (sl_store_repl_read (s, 1, 0, s_copy, &c), SL_ENOTFOUND);
    cr_assert_eq (sl_store_repl_agree (s, 1, first + 1, &agree), 0);
    sl_store_close (&s);
}

//  A commit that fills the map is redone after the map grew (the broker's
//  loop): the journal then holds the redone transaction once.
Test (repl, map_growth_redo_keeps_one_entry_per_commit)
{
    char path[512];
    snprintf (path, sizeof path, "%s/grow", s_dir);
    sl_store_opts_t opts = {.initial_map = 1u << 20};
    int err = 0;
    sl_store_t *p = sl_store_open (path, &opts, &err);
    cr_assert_not_null (p);
    cr_assert_eq (sl_store_journal_on (p, 0), 0);
    sl_store_t *r = s_open ("r");
    static uint8_t records[1000 * 1000];
    for (size_t i = 0; i < sizeof records; i += 5) {
        memcpy (records + i, "\x94\x01\xc0\xc0\x05", 5);
    }
    uint32_t count = (uint32_t)(sizeof records / 5);
    size_t len = (size_t)count * 5;
    int commits = 0, redone = 0;
    for (int i = 0; i < 6; i++) {
        int rc = SL_EMAPFULL;
        for (int attempt = 0; attempt < 8 && rc == SL_EMAPFULL; attempt++) {
            rc = sl_store_begin (p);
            sl_batch_header_t h;
            if (rc == 0) {
                rc = sl_store_append (p, "s", records, len, count, 1000, &h);
            }
            if (rc == 0) {
                rc = sl_store_commit (p);
            }
            else if (sl_store_in_txn (p)) {
                sl_store_abort (p);
            }
            redone += rc == SL_EMAPFULL;
        }
        cr_assert_eq (rc, 0);
        commits++;
    }
    cr_assert_gt (redone, 0, "the map had to grow at least once");
    uint64_t seq;
    sl_store_repl_position (p, NULL, &seq, NULL);
    cr_assert_eq (seq, (uint64_t)commits);
    cr_assert_eq (s_follow (p, r), commits);
    s_assert_same (p, r, "s");
    sl_store_close (&p);
    sl_store_close (&r);
}
