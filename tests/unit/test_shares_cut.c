/*  test_shares_cut.c - a keyed share's WORK cut by notes (broker/shares_cut.h):
    a cut that follows the notes taken by an earlier one is the cut a walk of
    the records makes, and notes are never followed for another key path or
    for bytes they were not taken from.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "shares_cut.h"
#include "sl_batch.h"
#include "sl_error.h"

#define N_RECORDS 200
#define OF 4

//  N_RECORDS records whose value is {"user": "u<i mod 17>", "region": "r<i mod 3>"},
//  the user's name padded with `pad` characters 'x'.
static void
s_records (sl_buf_t *buf, int pad)
{
    sl_buf_init (buf, 0);
    for (int i = 0; i < N_RECORDS; i++) {
        char user[32], region[8];
        snprintf (user, sizeof user, "u%d%.*s", i % 17, pad, "xxxxxxxxxxxxxxxx");
        snprintf (region, sizeof region, "r%d", i % 3);
        uint8_t value[64];
        size_t n = 0;
        value[n++] = 0x82;
        value[n++] = 0xa4;
        memcpy (value + n, "user", 4);
        n += 4;
        value[n++] = (uint8_t)(0xa0 | strlen (user));
        memcpy (value + n, user, strlen (user));
        n += strlen (user);
        value[n++] = 0xa6;
        memcpy (value + n, "region", 6);
        n += 6;
        value[n++] = (uint8_t)(0xa0 | strlen (region));
        memcpy (value + n, region, strlen (region));
        n += strlen (region);
        cr_assert_eq (sl_record_encode (buf, i, NULL, 0, false, NULL, 0, value, n), 0);
    }
}

//  Share `share`'s cut of the records with key path `key`, by `cut`.
static void
s_cut (sl_shares_cut_t *cut, const sl_buf_t *records, const char *key, uint32_t share,
       uint64_t print, sl_buf_t *out, uint32_t *holes)
{
    sl_cut_slice_t slice = {.data = records->data, .len = records->len};
    sl_shares_cut_req_t req = {.group = "g",
                               .key = key,
                               .share = share,
                               .of = OF,
                               .from = 0,
                               .to = N_RECORDS,
                               .print = print,
                               .slices = &slice,
                               .n = 1};
    cr_assert_eq (sl_shares_cut (cut, &req, out, holes), 0);
}

//  Each share's cut by `cut` equals the cut of a cutter that has no notes.
static void
s_assert_as_walked (sl_shares_cut_t *cut, const sl_buf_t *records, const char *key, uint64_t print)
{
    uint32_t total_holes = 0;
    for (uint32_t share = 0; share < OF; share++) {
        sl_shares_cut_t *fresh = sl_shares_cut_new ();
        sl_buf_t want, got;
        sl_buf_init (&want, 0);
        sl_buf_init (&got, 0);
        uint32_t want_holes, got_holes;
        s_cut (fresh, records, key, share, print, &want, &want_holes);
        s_cut (cut, records, key, share, print, &got, &got_holes);
        cr_assert_eq (got_holes, want_holes, "key %s share %u: %u holes, walked %u", key, share,
                      got_holes, want_holes);
        cr_assert_eq (got.len, want.len, "key %s share %u", key, share);
        cr_assert (memcmp (got.data, want.data, got.len) == 0, "key %s share %u", key, share);
        total_holes += got_holes;
        sl_buf_free (&want);
        sl_buf_free (&got);
        sl_shares_cut_destroy (&fresh);
    }
    //  Every record is in exactly one share: a hole in the other OF - 1.
    cr_assert_eq (total_holes, (uint32_t)N_RECORDS * (OF - 1));
}

Test (shares_cut, later_shares_follow_the_notes_and_cut_as_a_walk_does)
{
    sl_buf_t records;
    s_records (&records, 0);
    sl_shares_cut_t *cut = sl_shares_cut_new ();
    s_assert_as_walked (cut, &records, "user", 42);
    uint64_t hits, walks;
    sl_shares_cut_stats (cut, &hits, &walks);
    cr_assert_eq (walks, 1, "the first share walks the records, %lu walks", (unsigned long)walks);
    cr_assert_eq (hits, OF - 1, "the other shares follow its notes, %lu hits", (unsigned long)hits);
    sl_shares_cut_destroy (&cut);
    sl_buf_free (&records);
}

//  A group deleted and made again by the same name over the same records,
//  keyed by another path: the old notes would put records in wrong shares.
Test (shares_cut, notes_are_not_followed_for_another_key_path)
{
    sl_buf_t records;
    s_records (&records, 0);
    sl_shares_cut_t *cut = sl_shares_cut_new ();
    s_assert_as_walked (cut, &records, "user", 42);
    s_assert_as_walked (cut, &records, "region", 42);
    uint64_t hits, walks;
    sl_shares_cut_stats (cut, &hits, &walks);
    cr_assert_eq (walks, 2, "region's first cut walks: %lu walks", (unsigned long)walks);
    cr_assert_eq (hits, 2 * (OF - 1));
    sl_shares_cut_destroy (&cut);
    sl_buf_free (&records);
}

//  The same fingerprint over other bytes (records of other lengths): the
//  notes do not fit, and the cut walks the records.
Test (shares_cut, notes_that_do_not_fit_the_bytes_are_dropped_and_the_records_walked)
{
    sl_buf_t records, longer;
    s_records (&records, 0);
    s_records (&longer, 5);
    sl_shares_cut_t *cut = sl_shares_cut_new ();
    s_assert_as_walked (cut, &records, "user", 42);
    s_assert_as_walked (cut, &longer, "user", 42);
    uint64_t hits, walks;
    sl_shares_cut_stats (cut, &hits, &walks);
    cr_assert_eq (walks, 2, "%lu walks", (unsigned long)walks);
    sl_shares_cut_destroy (&cut);
    sl_buf_free (&records);
    sl_buf_free (&longer);
}
