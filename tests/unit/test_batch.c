/*  test_batch.c - records, batches and stored batch blobs.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sl_batch.h"
#include "sl_buf.h"
#include "sl_error.h"
#include "sl_mp.h"

//  ---------------------------------------------------------------------
//  Blob header

Test (batch, header_round_trip_and_byte_layout)
{
    sl_batch_header_t h = {.version = SL_BATCH_VERSION,
                           .flags = 0,
                           .count = 0x01020304,
                           .base_offset = 0x1112131415161718ull,
                           .append_ms = -2};
    uint8_t out[SL_BATCH_HEADER_SIZE];
    sl_batch_header_encode (&h, out);
    const uint8_t want[SL_BATCH_HEADER_SIZE] = {
        0x01, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x11, 0x12, 0x13, 0x14,
        0x15, 0x16, 0x17, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    };
    cr_assert_arr_eq (out, want, SL_BATCH_HEADER_SIZE, "big-endian layout of PROTOCOL.md 4");
    sl_batch_header_t back;
    memset (&back, 0xaa, sizeof back);
    cr_assert_eq (sl_batch_header_decode (out, sizeof out, &back), 0);
    cr_assert_eq (back.version, 1);
    cr_assert_eq (back.flags, 0);
    cr_assert_eq (back.count, 0x01020304);
    cr_assert_eq (back.base_offset, 0x1112131415161718ull);
    cr_assert_eq (back.append_ms, -2);

    h.count = UINT32_MAX;
    h.base_offset = UINT64_MAX;
    h.append_ms = INT64_MIN;
    sl_batch_header_encode (&h, out);
    cr_assert_eq (sl_batch_header_decode (out, sizeof out, &back), 0);
    cr_assert_eq (back.count, UINT32_MAX);
    cr_assert_eq (back.base_offset, UINT64_MAX);
    cr_assert_eq (back.append_ms, INT64_MIN);
}

Test (batch, header_decode_rejects_bad_input)
{
    sl_batch_header_t h = {.version = 1, .count = 3, .base_offset = 10, .append_ms = 5};
    uint8_t out[SL_BATCH_HEADER_SIZE];
    sl_batch_header_encode (&h, out);
    sl_batch_header_t back;
    for (size_t len = 0; len < SL_BATCH_HEADER_SIZE; len++) {
        uint8_t *cut = malloc (len ? len : 1);
        memcpy (cut, out, len);
        cr_assert_eq (sl_batch_header_decode (cut, len, &back), SL_ETRUNC, "len %zu", len);
        free (cut);
    }
    uint8_t bad[SL_BATCH_HEADER_SIZE];
    memcpy (bad, out, sizeof bad);
    bad[0] = 2;
    cr_assert_eq (sl_batch_header_decode (bad, sizeof bad, &back), SL_EVERSION);
    bad[0] = 0;
    cr_assert_eq (sl_batch_header_decode (bad, sizeof bad, &back), SL_EVERSION);
    memcpy (bad, out, sizeof bad);
    bad[1] = 0x01;
    cr_assert_eq (sl_batch_header_decode (bad, sizeof bad, &back), SL_EPROTO, "unknown flag");
    memcpy (bad, out, sizeof bad);
    bad[3] = 0x01;
    cr_assert_eq (sl_batch_header_decode (bad, sizeof bad, &back), SL_EPROTO, "reserved");
    memcpy (bad, out, sizeof bad);
    memset (bad + 4, 0, 4);
    cr_assert_eq (sl_batch_header_decode (bad, sizeof bad, &back), SL_EPROTO, "count 0");
}

//  ---------------------------------------------------------------------
//  Records

//  A small batch of four records covering every key and headers form.
static uint32_t
s_make_batch (sl_buf_t *buf)
{
    uint8_t headers[32];
    size_t hn = sl_mp_write_map (headers, sizeof headers, 2);
    hn += sl_mp_write_str_header (headers + hn, sizeof headers - hn, 2);
    memcpy (headers + hn, "ct", 2);
    hn += 2;
    hn += sl_mp_write_str_header (headers + hn, sizeof headers - hn, 4);
    memcpy (headers + hn, "json", 4);
    hn += 4;
    hn += sl_mp_write_str_header (headers + hn, sizeof headers - hn, 1);
    headers[hn++] = 'b';
    hn += sl_mp_write_bin_header (headers + hn, sizeof headers - hn, 2);
    headers[hn++] = 0x00;
    headers[hn++] = 0xff;

    const uint8_t value_int[] = {0x2a};
    const uint8_t value_arr[] = {0x92, 0xa1, 'x', 0xc3};
    const uint8_t value_nil[] = {0xc0};
    cr_assert_eq (sl_record_encode (buf, 1700000000000, NULL, 0, false, NULL, 0, value_int, 1), 0);
    cr_assert_eq (
        sl_record_encode (buf, -5, "user-1", 6, false, headers, hn, value_arr, sizeof value_arr),
        0);
    cr_assert_eq (sl_record_encode (buf, INT64_MIN, "\x00\x01", 2, true, NULL, 0, value_nil, 1), 0);
    cr_assert_eq (sl_record_encode (buf, INT64_MAX, "", 0, false, headers, hn, value_int, 1), 0);
    return 4;
}

Test (batch, encode_and_iterate)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    uint32_t count = s_make_batch (&buf);
    cr_assert_eq (sl_batch_validate (buf.data, buf.len, count, SL_MP_MAX_DEPTH), 0);

    sl_record_iter_t it;
    sl_record_iter_init (&it, buf.data, buf.len, count, 100);
    sl_record_t r;
    size_t raw_total = 0;

    cr_assert_eq (sl_record_iter_next (&it, &r), 1);
    cr_assert_eq (r.offset, 100);
    cr_assert_eq (r.timestamp, 1700000000000);
    cr_assert_null (r.key);
    cr_assert_null (r.headers);
    cr_assert_eq (r.value_len, 1);
    cr_assert_eq (r.value[0], 0x2a);
    cr_assert_eq (r.raw, buf.data);
    raw_total += r.raw_len;

    cr_assert_eq (sl_record_iter_next (&it, &r), 1);
    cr_assert_eq (r.offset, 101);
    cr_assert_eq (r.timestamp, -5);
    cr_assert_eq (r.key_len, 6);
    cr_assert_arr_eq (r.key, "user-1", 6);
    cr_assert_not (r.key_is_bin);
    cr_assert_not_null (r.headers);
    cr_assert_eq (r.headers[0], 0x82);
    cr_assert_eq (r.value_len, 4);
    cr_assert_eq (r.value[0], 0x92);
    cr_assert_eq (r.raw, buf.data + raw_total);
    raw_total += r.raw_len;

    cr_assert_eq (sl_record_iter_next (&it, &r), 1);
    cr_assert_eq (r.offset, 102);
    cr_assert_eq (r.timestamp, INT64_MIN);
    cr_assert (r.key_is_bin);
    cr_assert_eq (r.key_len, 2);
    cr_assert_arr_eq (r.key, "\x00\x01", 2);
    cr_assert_eq (r.value[0], 0xc0);
    raw_total += r.raw_len;

    cr_assert_eq (sl_record_iter_next (&it, &r), 1);
    cr_assert_eq (r.offset, 103);
    cr_assert_eq (r.timestamp, INT64_MAX);
    cr_assert_not_null (r.key, "an empty key is a key, not nil");
    cr_assert_eq (r.key_len, 0);
    raw_total += r.raw_len;

    cr_assert_eq (sl_record_iter_next (&it, &r), 0);
    cr_assert_eq (sl_record_iter_next (&it, &r), 0, "stays at the end");
    cr_assert_eq (raw_total, buf.len, "raw spans tile the batch");
    sl_buf_free (&buf);
}

Test (batch, encode_exact_bytes)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    const uint8_t value[] = {0x01};
    cr_assert_eq (sl_record_encode (&buf, 300, "k", 1, false, NULL, 0, value, 1), 0);
    const uint8_t want[] = {0x94, 0xcd, 0x01, 0x2c, 0xa1, 'k', 0xc0, 0x01};
    cr_assert_eq (buf.len, sizeof want);
    cr_assert_arr_eq (buf.data, want, sizeof want);
    sl_buf_reset (&buf);
    cr_assert_eq (sl_record_encode (&buf, 0, "k", 1, true, NULL, 0, NULL, 0), 0);
    const uint8_t want_bin[] = {0x94, 0x00, 0xc4, 0x01, 'k', 0xc0, 0xc0};
    cr_assert_eq (buf.len, sizeof want_bin, "a NULL value encodes nil");
    cr_assert_arr_eq (buf.data, want_bin, sizeof want_bin);
    sl_buf_free (&buf);
}

Test (batch, encode_respects_buffer_limit)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 16);
    const uint8_t value[] = {0x01};
    cr_assert_eq (sl_record_encode (&buf, 1, NULL, 0, false, NULL, 0, value, 1), 0);
    size_t before = buf.len;
    uint8_t big[64];
    memset (big, 'x', sizeof big);
    cr_assert_eq (sl_record_encode (&buf, 1, big, sizeof big, false, NULL, 0, value, 1),
                  SL_ETOOBIG);
    cr_assert_eq (buf.len, before, "a failed encode leaves the buffer as it was");
    sl_buf_free (&buf);
}

//  ---------------------------------------------------------------------
//  Validation

static int
s_validate_bytes (const uint8_t *bytes, size_t len, uint32_t count)
{
    //  Copy to an exact-size allocation so that ASan catches overreads.
    uint8_t *copy = malloc (len ? len : 1);
    memcpy (copy, bytes, len);
    int rc = sl_batch_validate (copy, len, count, SL_MP_MAX_DEPTH);
    free (copy);
    return rc;
}

Test (batch, validate_count_mismatch_and_trailing_bytes)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    uint32_t count = s_make_batch (&buf);
    cr_assert_eq (s_validate_bytes (buf.data, buf.len, count), 0);
    cr_assert_eq (s_validate_bytes (buf.data, buf.len, count + 1), SL_ETRUNC,
                  "fewer records than count");
    cr_assert_eq (s_validate_bytes (buf.data, buf.len, count - 1), SL_EPROTO,
                  "more records than count");
    uint8_t zero = 0;
    sl_buf_append (&buf, &zero, 1);
    cr_assert_eq (s_validate_bytes (buf.data, buf.len, count), SL_EPROTO, "trailing garbage");
    cr_assert_eq (s_validate_bytes (buf.data, 0, 1), SL_ETRUNC, "empty input");
    cr_assert_eq (s_validate_bytes (buf.data, 0, 0), 0, "zero records in zero bytes");
    sl_buf_free (&buf);
}

Test (batch, validate_every_truncation)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    uint32_t count = s_make_batch (&buf);
    for (size_t cut = 0; cut < buf.len; cut++) {
        cr_assert_eq (s_validate_bytes (buf.data, cut, count), SL_ETRUNC, "cut at %zu", cut);
    }
    sl_buf_free (&buf);
}

Test (batch, validate_wrong_shapes_and_types)
{
    const struct {
        const char *name;
        uint8_t bytes[24];
        size_t len;
        int rc;
    } cases[] = {
        {"not an array", {0x81, 0x00, 0x00}, 3, SL_EPROTO},
        {"array of 3", {0x93, 0x00, 0xc0, 0xc0}, 4, SL_EPROTO},
        {"array of 5", {0x95, 0x00, 0xc0, 0xc0, 0x01, 0x02}, 6, SL_EPROTO},
        {"timestamp str", {0x94, 0xa1, '1', 0xc0, 0xc0, 0x01}, 6, SL_ETYPE},
        {"timestamp nil", {0x94, 0xc0, 0xc0, 0xc0, 0x01}, 5, SL_ETYPE},
        {"timestamp float", {0x94, 0xca, 0, 0, 0, 0, 0xc0, 0xc0, 0x01}, 9, SL_ETYPE},
        {"timestamp above int64",
         {0x94, 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xc0, 0x01},
         13,
         SL_ETYPE},
        {"uint64 timestamp cut short", {0x94, 0xcf, 0, 0, 0, 0, 0, 0, 0}, 9, SL_ETRUNC},
        {"uint64 timestamp, then nothing", {0x94, 0xcf, 0, 0, 0, 0, 0, 0, 0, 1}, 10, SL_ETRUNC},
        {"uint64 timestamp, key int",
         {0x94, 0xcf, 0, 0, 1, 0, 0, 0, 0, 0, 0x05, 0xc0, 0x01},
         13,
         SL_ETYPE},
        {"key int", {0x94, 0x00, 0x05, 0xc0, 0x01}, 5, SL_ETYPE},
        {"key array", {0x94, 0x00, 0x90, 0xc0, 0x01}, 5, SL_ETYPE},
        {"key bool", {0x94, 0x00, 0xc3, 0xc0, 0x01}, 5, SL_ETYPE},
        {"headers array", {0x94, 0x00, 0xc0, 0x90, 0x01}, 5, SL_ETYPE},
        {"headers str", {0x94, 0x00, 0xc0, 0xa0, 0x01}, 5, SL_ETYPE},
        {"header key int", {0x94, 0x00, 0xc0, 0x81, 0x01, 0xa0, 0x01}, 7, SL_ETYPE},
        {"header value int", {0x94, 0x00, 0xc0, 0x81, 0xa1, 'a', 0x01, 0x01}, 8, SL_ETYPE},
        {"header value nil", {0x94, 0x00, 0xc0, 0x81, 0xa1, 'a', 0xc0, 0x01}, 8, SL_ETYPE},
        {"header value map", {0x94, 0x00, 0xc0, 0x81, 0xa1, 'a', 0x80, 0x01}, 8, SL_ETYPE},
        {"value 0xc1", {0x94, 0x00, 0xc0, 0xc0, 0xc1}, 5, SL_EPROTO},
        {"value str32 lies",
         {0x94, 0x00, 0xc0, 0xc0, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},
         10,
         SL_ETRUNC},
        {"key str32 lies", {0x94, 0x00, 0xdb, 0x7f, 0xff, 0xff, 0xff, 0xc0, 0x01}, 9, SL_ETRUNC},
        {"headers map32 lies",
         {0x94, 0x00, 0xc0, 0xdf, 0xff, 0xff, 0xff, 0xff, 0x01},
         9,
         SL_ETRUNC},
        {"record array32 lies", {0xdd, 0xff, 0xff, 0xff, 0xff, 0x00}, 6, SL_ETRUNC},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = s_validate_bytes (cases[i].bytes, cases[i].len, 1);
        cr_assert_eq (rc, cases[i].rc, "%s: got %d", cases[i].name, rc);
    }
    //  The good twins of some of the above pass, so the failures are about
    //  the one thing each case changes.
    const uint8_t good_headers[] = {0x94, 0x00, 0xc0, 0x81, 0xa1, 'a', 0xc4, 0x00, 0x01};
    cr_assert_eq (s_validate_bytes (good_headers, sizeof good_headers, 1), 0);
    const uint8_t wide_array[] = {0xdc, 0x00, 0x04, 0xd3, 0, 0, 0, 0, 0, 0, 0, 1, 0xc0, 0xc0, 0x01};
    cr_assert_eq (s_validate_bytes (wide_array, sizeof wide_array, 1), 0,
                  "every encoding of array-of-4 and of an int is accepted");
    const uint8_t empty_headers[] = {0x94, 0x00, 0xc0, 0x80, 0x01};
    cr_assert_eq (s_validate_bytes (empty_headers, sizeof empty_headers, 1), 0);
}

Test (batch, validate_value_depth)
{
    //  [0, nil, nil, value] where value is `depth` nested arrays around 1.
    uint8_t rec[4 + 600 + 1];
    rec[0] = 0x94;
    rec[1] = 0x00;
    rec[2] = 0xc0;
    rec[3] = 0xc0;
    for (size_t depth = 510; depth <= 514; depth++) {
        memset (rec + 4, 0x91, depth);
        rec[4 + depth] = 0x01;
        int rc = s_validate_bytes (rec, 4 + depth + 1, 1);
        cr_assert_eq (rc, depth <= SL_MP_MAX_DEPTH ? 0 : SL_EDEPTH, "depth %zu", depth);
    }
    memset (rec + 4, 0x91, 20);
    rec[24] = 0x01;
    cr_assert_eq (sl_batch_validate (rec, 25, 1, 20), 0);
    cr_assert_eq (sl_batch_validate (rec, 25, 1, 19), SL_EDEPTH);
}

//  ---------------------------------------------------------------------
//  Iterator and skip on bad input

Test (batch, iterator_stops_at_malformed_record)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    const uint8_t value[] = {0x07};
    sl_record_encode (&buf, 1, NULL, 0, false, NULL, 0, value, 1);
    const uint8_t bad[] = {0x94, 0x00, 0x05, 0xc0, 0x01}; //  key is an int
    sl_buf_append (&buf, bad, sizeof bad);
    sl_record_iter_t it;
    sl_record_iter_init (&it, buf.data, buf.len, 2, 0);
    sl_record_t r;
    cr_assert_eq (sl_record_iter_next (&it, &r), 1);
    cr_assert_eq (sl_record_iter_next (&it, &r), SL_ETYPE);
    cr_assert_eq (sl_record_iter_next (&it, &r), SL_ETYPE, "the error sticks");

    //  Count larger than the records present: an error, never an overrun.
    sl_record_iter_init (&it, buf.data, buf.len - sizeof bad, 5, 0);
    cr_assert_eq (sl_record_iter_next (&it, &r), 1);
    cr_assert_eq (sl_record_iter_next (&it, &r), SL_ETRUNC);

    //  Bytes after the last counted record.
    sl_record_iter_init (&it, buf.data, buf.len, 1, 0);
    cr_assert_eq (sl_record_iter_next (&it, &r), 1);
    cr_assert_eq (sl_record_iter_next (&it, &r), SL_EPROTO);
    sl_buf_free (&buf);
}

Test (batch, iterator_from_blob)
{
    sl_buf_t blob;
    sl_buf_init (&blob, 0);
    sl_buf_reserve (&blob, SL_BATCH_HEADER_SIZE);
    blob.len = SL_BATCH_HEADER_SIZE;
    uint32_t count = s_make_batch (&blob);
    sl_batch_header_t h = {.version = 1, .count = count, .base_offset = 1000, .append_ms = 42};
    sl_batch_header_encode (&h, blob.data);

    sl_record_iter_t it;
    sl_batch_header_t got;
    cr_assert_eq (sl_record_iter_init_blob (&it, blob.data, blob.len, &got), 0);
    cr_assert_eq (got.count, count);
    cr_assert_eq (got.base_offset, 1000);
    cr_assert_eq (got.append_ms, 42);
    sl_record_t r;
    uint64_t expect = 1000;
    int rc;
    while ((rc = sl_record_iter_next (&it, &r)) == 1) {
        cr_assert_eq (r.offset, expect++);
    }
    cr_assert_eq (rc, 0);
    cr_assert_eq (expect, 1000 + count);
    cr_assert_eq (sl_record_iter_init_blob (&it, blob.data, blob.len, NULL), 0,
                  "header out may be NULL");
    cr_assert_eq (sl_record_iter_init_blob (&it, blob.data, 10, &got), SL_ETRUNC);
    blob.data[0] = 9;
    cr_assert_eq (sl_record_iter_init_blob (&it, blob.data, blob.len, &got), SL_EVERSION);
    sl_buf_free (&blob);
}

Test (batch, skip_first_records)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    uint32_t count = s_make_batch (&buf);
    sl_record_iter_t it;
    sl_record_iter_init (&it, buf.data, buf.len, count, 0);
    size_t ends[8];
    sl_record_t r;
    size_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        cr_assert_eq (sl_record_iter_next (&it, &r), 1);
        total += r.raw_len;
        ends[i] = total;
    }
    size_t consumed = 99;
    cr_assert_eq (sl_batch_skip (buf.data, buf.len, 0, &consumed), 0);
    cr_assert_eq (consumed, 0);
    for (uint32_t n = 1; n <= count; n++) {
        cr_assert_eq (sl_batch_skip (buf.data, buf.len, n, &consumed), 0);
        cr_assert_eq (consumed, ends[n - 1], "skip %u", n);
    }
    cr_assert_eq (sl_batch_skip (buf.data, buf.len, count + 1, &consumed), SL_ETRUNC);
    const uint8_t bad[] = {0x94, 0xa0, 0xc0, 0xc0, 0x01};
    cr_assert_eq (sl_batch_skip (bad, sizeof bad, 1, &consumed), SL_ETYPE);
    sl_buf_free (&buf);
}

//  Random corruption of a valid batch: validate and iterate must return
//  cleanly (no overrun under ASan), and agree on whether it is valid.
Test (batch, corrupted_batches_never_overrun)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    uint32_t count = s_make_batch (&buf);
    srand (777);
    uint8_t *copy = malloc (buf.len);
    for (int round = 0; round < 20000; round++) {
        memcpy (copy, buf.data, buf.len);
        int flips = 1 + rand () % 3;
        for (int f = 0; f < flips; f++) {
            copy[(size_t)rand () % buf.len] = (uint8_t)rand ();
        }
        size_t len = rand () % 4 ? buf.len : (size_t)rand () % buf.len;
        int valid = sl_batch_validate (copy, len, count, SL_MP_MAX_DEPTH);
        sl_record_iter_t it;
        sl_record_iter_init (&it, copy, len, count, 0);
        sl_record_t r;
        int rc;
        uint32_t seen = 0;
        while ((rc = sl_record_iter_next (&it, &r)) == 1) {
            cr_assert_leq (r.raw + r.raw_len, copy + len);
            seen++;
        }
        if (valid == 0) {
            cr_assert_eq (rc, 0);
            cr_assert_eq (seen, count);
        }
        else {
            cr_assert_lt (rc, 0, "validate said %d, the iterator must fail too", valid);
        }
    }
    free (copy);
    sl_buf_free (&buf);
}

//  A keyed share's WORK: records of other shares are lone nils (holes).
Test (batch, holes_pass_their_offsets_only_when_allowed)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    const uint8_t hole = 0xc0;
    cr_assert_eq (sl_buf_append (&buf, &hole, 1), 0);
    cr_assert_eq (sl_record_encode (&buf, 5, "k", 1, false, NULL, 0, "\x01", 1), 0);
    cr_assert_eq (sl_buf_append (&buf, &hole, 1), 0);
    cr_assert_eq (sl_buf_append (&buf, &hole, 1), 0);
    cr_assert_eq (sl_record_encode (&buf, 6, "k", 1, false, NULL, 0, "\x02", 1), 0);
    cr_assert_eq (sl_buf_append (&buf, &hole, 1), 0);
    sl_record_iter_t it;
    sl_record_t r;
    sl_record_iter_init (&it, buf.data, buf.len, 6, 100);
    it.holes = true;
    cr_assert_eq (sl_record_iter_next (&it, &r), 1);
    cr_assert_eq (r.offset, 101);
    cr_assert_eq (r.value[0], 1);
    cr_assert_eq (sl_record_iter_next (&it, &r), 1);
    cr_assert_eq (r.offset, 104);
    cr_assert_eq (sl_record_iter_next (&it, &r), 0); //  the trailing hole ends the batch
    cr_assert_eq (it.next_offset, 106);
    //  More holes than counted: bytes left over.
    sl_record_iter_init (&it, buf.data, buf.len, 5, 100);
    it.holes = true;
    cr_assert_eq (sl_record_iter_next (&it, &r), 1);
    cr_assert_eq (sl_record_iter_next (&it, &r), 1);
    cr_assert_eq (sl_record_iter_next (&it, &r), SL_EPROTO);
    //  Without holes allowed a nil is a malformed record, as everywhere else.
    sl_record_iter_init (&it, buf.data, buf.len, 6, 100);
    cr_assert (sl_record_iter_next (&it, &r) < 0);
    cr_assert_neq (sl_batch_validate (buf.data, buf.len, 6, SL_MP_MAX_DEPTH), 0);
    sl_buf_free (&buf);
}
