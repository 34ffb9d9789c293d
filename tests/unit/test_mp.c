/*  test_mp.c - the bounded msgpack walker and the hot-path readers/writers.
 */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sl_error.h"
#include "sl_mp.h"

static double
s_seconds (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

//  ---------------------------------------------------------------------
//  Integers

typedef struct {
    uint64_t value;
    size_t size;
    uint8_t first;
} uint_case_t;

static const uint_case_t s_uints[] = {
    {0, 1, 0x00},           {1, 1, 0x01},         {127, 1, 0x7f},
    {128, 2, 0xcc},         {255, 2, 0xcc},       {256, 3, 0xcd},
    {65535, 3, 0xcd},       {65536, 5, 0xce},     {4294967295u, 5, 0xce},
    {4294967296u, 9, 0xcf}, {INT64_MAX, 9, 0xcf}, {(uint64_t)INT64_MAX + 1, 9, 0xcf},
    {UINT64_MAX, 9, 0xcf},
};

Test (mp, uint_round_trip_smallest_encoding)
{
    for (size_t i = 0; i < sizeof s_uints / sizeof s_uints[0]; i++) {
        uint8_t buf[16];
        size_t n = sl_mp_write_uint (buf, sizeof buf, s_uints[i].value);
        cr_assert_eq (n, s_uints[i].size, "uint %llu: size %zu",
                      (unsigned long long)s_uints[i].value, n);
        cr_assert_eq (buf[0], s_uints[i].first);
        const uint8_t *p = buf;
        uint64_t u;
        cr_assert_eq (sl_mp_read_uint (&p, buf + n, &u), 0);
        cr_assert_eq (u, s_uints[i].value);
        cr_assert_eq (p, buf + n);
        p = buf;
        int64_t s;
        int rc = sl_mp_read_int (&p, buf + n, &s);
        if (s_uints[i].value <= INT64_MAX) {
            cr_assert_eq (rc, 0);
            cr_assert_eq ((uint64_t)s, s_uints[i].value);
        }
        else {
            cr_assert_eq (rc, SL_ETYPE, "uint above INT64_MAX must not read as int64");
            cr_assert_eq (p, buf, "a failed read must not advance");
        }
        size_t used;
        cr_assert_eq (sl_mp_skip (buf, n, 4, &used), 0);
        cr_assert_eq (used, n);
    }
}

typedef struct {
    int64_t value;
    size_t size;
    uint8_t first;
} int_case_t;

static const int_case_t s_ints[] = {
    {-1, 1, 0xff},        {-32, 1, 0xe0},       {-33, 2, 0xd0},
    {-128, 2, 0xd0},      {-129, 3, 0xd1},      {-32768, 3, 0xd1},
    {-32769, 5, 0xd2},    {INT32_MIN, 5, 0xd2}, {(int64_t)INT32_MIN - 1, 9, 0xd3},
    {INT64_MIN, 9, 0xd3}, {0, 1, 0x00},         {127, 1, 0x7f},
    {128, 2, 0xcc},       {INT64_MAX, 9, 0xcf},
};

Test (mp, int_round_trip_smallest_encoding)
{
    for (size_t i = 0; i < sizeof s_ints / sizeof s_ints[0]; i++) {
        uint8_t buf[16];
        size_t n = sl_mp_write_int (buf, sizeof buf, s_ints[i].value);
        cr_assert_eq (n, s_ints[i].size, "int %lld: size %zu", (long long)s_ints[i].value, n);
        cr_assert_eq (buf[0], s_ints[i].first, "int %lld: first byte %02x",
                      (long long)s_ints[i].value, buf[0]);
        const uint8_t *p = buf;
        int64_t s;
        cr_assert_eq (sl_mp_read_int (&p, buf + n, &s), 0);
        cr_assert_eq (s, s_ints[i].value);
        cr_assert_eq (p, buf + n);
        p = buf;
        uint64_t u;
        int rc = sl_mp_read_uint (&p, buf + n, &u);
        if (s_ints[i].value < 0) {
            cr_assert_eq (rc, SL_ETYPE, "a negative int must not read as uint");
            cr_assert_eq (p, buf);
        }
        else {
            cr_assert_eq (rc, 0);
            cr_assert_eq (u, (uint64_t)s_ints[i].value);
        }
    }
}

//  msgpack-c's packer also picks the smallest encoding: both must agree
//  byte for byte on every boundary.
Test (mp, int_writer_matches_msgpack_c)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    for (size_t i = 0; i < sizeof s_ints / sizeof s_ints[0]; i++) {
        msgpack_sbuffer_clear (&sbuf);
        msgpack_pack_int64 (&pk, s_ints[i].value);
        uint8_t buf[16];
        size_t n = sl_mp_write_int (buf, sizeof buf, s_ints[i].value);
        cr_assert_eq (n, sbuf.size, "int %lld", (long long)s_ints[i].value);
        cr_assert_arr_eq (buf, sbuf.data, n);
    }
    for (size_t i = 0; i < sizeof s_uints / sizeof s_uints[0]; i++) {
        msgpack_sbuffer_clear (&sbuf);
        msgpack_pack_uint64 (&pk, s_uints[i].value);
        uint8_t buf[16];
        size_t n = sl_mp_write_uint (buf, sizeof buf, s_uints[i].value);
        cr_assert_eq (n, sbuf.size);
        cr_assert_arr_eq (buf, sbuf.data, n);
    }
    msgpack_sbuffer_destroy (&sbuf);
}

//  Receivers must accept every encoding of a value, not only the smallest.
Test (mp, readers_accept_wide_encodings)
{
    const uint8_t int8_5[] = {0xd0, 0x05};
    const uint8_t int64_1[] = {0xd3, 0, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t uint64_1[] = {0xcf, 0, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t uint16_7[] = {0xcd, 0, 7};
    const uint8_t int16_m2[] = {0xd1, 0xff, 0xfe};
    const uint8_t *p;
    uint64_t u;
    int64_t s;
    p = int8_5;
    cr_assert_eq (sl_mp_read_uint (&p, int8_5 + 2, &u), 0);
    cr_assert_eq (u, 5);
    p = int64_1;
    cr_assert_eq (sl_mp_read_uint (&p, int64_1 + 9, &u), 0);
    cr_assert_eq (u, 1);
    p = uint64_1;
    cr_assert_eq (sl_mp_read_int (&p, uint64_1 + 9, &s), 0);
    cr_assert_eq (s, 1);
    p = uint16_7;
    cr_assert_eq (sl_mp_read_int (&p, uint16_7 + 3, &s), 0);
    cr_assert_eq (s, 7);
    p = int16_m2;
    cr_assert_eq (sl_mp_read_int (&p, int16_m2 + 3, &s), 0);
    cr_assert_eq (s, -2);
}

Test (mp, int_readers_reject_truncation_and_other_types)
{
    for (size_t i = 0; i < sizeof s_ints / sizeof s_ints[0]; i++) {
        uint8_t buf[16];
        size_t n = sl_mp_write_int (buf, sizeof buf, s_ints[i].value);
        for (size_t cut = 0; cut < n; cut++) {
            const uint8_t *p = buf;
            int64_t s;
            cr_assert_eq (sl_mp_read_int (&p, buf + cut, &s), SL_ETRUNC);
            cr_assert_eq (p, buf);
        }
    }
    const uint8_t others[] = {0xc0, 0xc2, 0xa1, 0x90, 0x80, 0xcb, 0xc4, 0xc1};
    for (size_t i = 0; i < sizeof others; i++) {
        const uint8_t *p = others + i;
        int64_t s;
        uint64_t u;
        cr_assert_eq (sl_mp_read_int (&p, others + sizeof others, &s), SL_ETYPE);
        cr_assert_eq (sl_mp_read_uint (&p, others + sizeof others, &u), SL_ETYPE);
        cr_assert_eq (p, others + i);
    }
}

//  ---------------------------------------------------------------------
//  Strings, binaries, containers, scalars

Test (mp, str_and_bin_headers)
{
    const struct {
        uint32_t size;
        size_t str_head;
        uint8_t str_first;
        size_t bin_head;
        uint8_t bin_first;
    } cases[] = {
        {0, 1, 0xa0, 2, 0xc4},     {31, 1, 0xbf, 2, 0xc4},    {32, 2, 0xd9, 2, 0xc4},
        {255, 2, 0xd9, 2, 0xc4},   {256, 3, 0xda, 3, 0xc5},   {65535, 3, 0xda, 3, 0xc5},
        {65536, 5, 0xdb, 5, 0xc6}, {70000, 5, 0xdb, 5, 0xc6},
    };
    uint8_t *buf = malloc (70000 + 16);
    cr_assert_not_null (buf);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t size = cases[i].size;
        for (int bin = 0; bin < 2; bin++) {
            size_t h = bin ? sl_mp_write_bin_header (buf, 16, size)
                           : sl_mp_write_str_header (buf, 16, size);
            cr_assert_eq (h, bin ? cases[i].bin_head : cases[i].str_head, "size %u", size);
            cr_assert_eq (buf[0], bin ? cases[i].bin_first : cases[i].str_first);
            memset (buf + h, 'x', size);
            const uint8_t *p = buf;
            const uint8_t *data;
            uint32_t got;
            cr_assert_eq (sl_mp_read_bytes (&p, buf + h + size, &data, &got), 0);
            cr_assert_eq (got, size);
            cr_assert_eq (data, buf + h);
            cr_assert_eq (p, buf + h + size);
            p = buf;
            int rc = bin ? sl_mp_read_str (&p, buf + h + size, &data, &got)
                         : sl_mp_read_bin (&p, buf + h + size, &data, &got);
            cr_assert_eq (rc, SL_ETYPE, "str and bin readers must not cross");
            p = buf;
            rc = bin ? sl_mp_read_bin (&p, buf + h + size, &data, &got)
                     : sl_mp_read_str (&p, buf + h + size, &data, &got);
            cr_assert_eq (rc, 0);
            //  One byte short: the claimed size passes the end.
            p = buf;
            cr_assert_eq (sl_mp_read_bytes (&p, buf + h + size - 1, &data, &got), SL_ETRUNC);
            size_t used;
            cr_assert_eq (sl_mp_skip (buf, h + size, 1, &used), 0);
            cr_assert_eq (used, h + size);
        }
    }
    free (buf);
}

Test (mp, str32_claiming_4gib_is_truncated)
{
    const uint8_t str32[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a', 'b'};
    const uint8_t bin32[] = {0xc6, 0xff, 0xff, 0xff, 0xff, 'a', 'b'};
    const uint8_t ext32[] = {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 'a'};
    size_t used = 12345;
    cr_assert_eq (sl_mp_skip (str32, sizeof str32, 8, &used), SL_ETRUNC);
    cr_assert_eq (used, 12345, "used must not be written on failure");
    cr_assert_eq (sl_mp_skip (bin32, sizeof bin32, 8, &used), SL_ETRUNC);
    cr_assert_eq (sl_mp_skip (ext32, sizeof ext32, 8, &used), SL_ETRUNC);
    const uint8_t *p = str32;
    const uint8_t *data;
    uint32_t size;
    cr_assert_eq (sl_mp_read_bytes (&p, str32 + sizeof str32, &data, &size), SL_ETRUNC);
    cr_assert_eq (p, str32);
}

Test (mp, array_and_map_headers)
{
    const uint32_t counts[] = {0, 1, 15, 16, 65535, 65536, 100000};
    const size_t heads[] = {1, 1, 1, 3, 3, 5, 5};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        uint32_t n = counts[i];
        //  Each element a one-byte nil, so the walker sees a whole object.
        size_t size = 5 + 2 * (size_t)n;
        uint8_t *buf = malloc (size);
        cr_assert_not_null (buf);
        for (int map = 0; map < 2; map++) {
            size_t h = map ? sl_mp_write_map (buf, 5, n) : sl_mp_write_array (buf, 5, n);
            cr_assert_eq (h, heads[i], "count %u", n);
            size_t elements = map ? 2 * (size_t)n : n;
            memset (buf + h, 0xc0, elements);
            const uint8_t *p = buf;
            uint32_t got;
            int rc = map ? sl_mp_read_map (&p, buf + h + elements, &got)
                         : sl_mp_read_array (&p, buf + h + elements, &got);
            cr_assert_eq (rc, 0);
            cr_assert_eq (got, n);
            cr_assert_eq (p, buf + h);
            p = buf;
            rc = map ? sl_mp_read_array (&p, buf + h + elements, &got)
                     : sl_mp_read_map (&p, buf + h + elements, &got);
            cr_assert_eq (rc, SL_ETYPE);
            size_t used;
            cr_assert_eq (sl_mp_skip (buf, h + elements, 2, &used), 0);
            cr_assert_eq (used, h + elements);
            if (n) {
                cr_assert_eq (sl_mp_skip (buf, h + elements - 1, 2, &used), SL_ETRUNC);
            }
        }
        free (buf);
    }
}

//  A header claiming more elements than bytes remain is refused by the
//  readers too, so callers may size arrays from a count they were given.
Test (mp, container_readers_refuse_lying_counts)
{
    const uint8_t arr[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0};
    const uint8_t map[] = {0xdf, 0x00, 0x00, 0x00, 0x03, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0};
    const uint8_t *p = arr;
    uint32_t n;
    cr_assert_eq (sl_mp_read_array (&p, arr + sizeof arr, &n), SL_ETRUNC);
    cr_assert_eq (p, arr);
    p = map;
    cr_assert_eq (sl_mp_read_map (&p, map + sizeof map, &n), SL_ETRUNC,
                  "3 pairs need 6 bytes, 5 remain");
    const uint8_t short16[] = {0xdc, 0x00};
    p = short16;
    cr_assert_eq (sl_mp_read_array (&p, short16 + 2, &n), SL_ETRUNC);
    p = arr;
    cr_assert_eq (sl_mp_read_array (&p, arr, &n), SL_ETRUNC, "empty input");
}

Test (mp, nil_bool_double)
{
    uint8_t buf[16];
    cr_assert_eq (sl_mp_write_nil (buf, 16), 1);
    cr_assert_eq (buf[0], 0xc0);
    const uint8_t *p = buf;
    cr_assert_eq (sl_mp_read_nil (&p, buf + 1), 1);
    cr_assert_eq (p, buf + 1);
    cr_assert_eq (sl_mp_read_nil (&p, buf + 1), 0, "nothing left is not nil");
    cr_assert_eq (sl_mp_write_bool (buf, 16, true), 1);
    cr_assert_eq (buf[0], 0xc3);
    p = buf;
    cr_assert_eq (sl_mp_read_nil (&p, buf + 1), 0);
    cr_assert_eq (p, buf);
    bool b = false;
    cr_assert_eq (sl_mp_read_bool (&p, buf + 1, &b), 0);
    cr_assert (b);
    sl_mp_write_bool (buf, 16, false);
    p = buf;
    cr_assert_eq (sl_mp_read_bool (&p, buf + 1, &b), 0);
    cr_assert_not (b);
    buf[0] = 0x01;
    p = buf;
    cr_assert_eq (sl_mp_read_bool (&p, buf + 1, &b), SL_ETYPE);
    cr_assert_eq (sl_mp_read_bool (&p, buf, &b), SL_ETRUNC);

    cr_assert_eq (sl_mp_write_double (buf, 16, 1.5), 9);
    const uint8_t want[] = {0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0};
    cr_assert_arr_eq (buf, want, 9);
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    size_t off = 0;
    cr_assert_eq (msgpack_unpack_next (&result, (const char *)buf, 9, &off),
                  MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq (result.data.type, MSGPACK_OBJECT_FLOAT64);
    cr_assert_eq (result.data.via.f64, 1.5);
    msgpack_unpacked_destroy (&result);
}

Test (mp, writers_refuse_small_capacity)
{
    uint8_t buf[16];
    cr_assert_eq (sl_mp_write_nil (buf, 0), 0);
    cr_assert_eq (sl_mp_write_bool (buf, 0, true), 0);
    cr_assert_eq (sl_mp_write_double (buf, 8, 1.0), 0);
    for (size_t i = 0; i < sizeof s_ints / sizeof s_ints[0]; i++) {
        size_t n = sl_mp_write_int (buf, sizeof buf, s_ints[i].value);
        cr_assert_eq (sl_mp_write_int (buf, n - 1, s_ints[i].value), 0);
    }
    for (size_t i = 0; i < sizeof s_uints / sizeof s_uints[0]; i++) {
        size_t n = sl_mp_write_uint (buf, sizeof buf, s_uints[i].value);
        cr_assert_eq (sl_mp_write_uint (buf, n - 1, s_uints[i].value), 0);
    }
    const uint32_t sizes[] = {0, 31, 32, 256, 65536};
    for (size_t i = 0; i < 5; i++) {
        size_t n = sl_mp_write_str_header (buf, sizeof buf, sizes[i]);
        cr_assert_eq (sl_mp_write_str_header (buf, n - 1, sizes[i]), 0);
        n = sl_mp_write_bin_header (buf, sizeof buf, sizes[i]);
        cr_assert_eq (sl_mp_write_bin_header (buf, n - 1, sizes[i]), 0);
        n = sl_mp_write_array (buf, sizeof buf, sizes[i]);
        cr_assert_eq (sl_mp_write_array (buf, n - 1, sizes[i]), 0);
        n = sl_mp_write_map (buf, sizeof buf, sizes[i]);
        cr_assert_eq (sl_mp_write_map (buf, n - 1, sizes[i]), 0);
    }
}

//  A refused write leaves the caller's bytes as they were: the packer's
//  write callback takes a whole value or nothing.
Test (mp, refused_write_leaves_buffer_untouched)
{
    uint8_t buf[16];
    memset (buf, 0xee, sizeof buf);
    cr_assert_eq (sl_mp_write_int (buf, 8, INT64_MIN), 0);
    cr_assert_eq (sl_mp_write_uint (buf, 4, 70000), 0);
    cr_assert_eq (sl_mp_write_str_header (buf, 2, 300), 0);
    cr_assert_eq (sl_mp_write_map (buf, 4, 1u << 20), 0);
    for (size_t i = 0; i < sizeof buf; i++) {
        cr_assert_eq (buf[i], 0xee, "byte %zu written by a refused write", i);
    }
}

//  ---------------------------------------------------------------------
//  The walker

//  One object of every type, nested: the walker's size must match
//  msgpack-c's, and every proper prefix must be reported as truncated.
static size_t
s_pack_everything (msgpack_sbuffer *sbuf)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    msgpack_pack_str (&pk, 3);
    msgpack_pack_str_body (&pk, "all", 3);
    msgpack_pack_array (&pk, 20);
    msgpack_pack_nil (&pk);
    msgpack_pack_true (&pk);
    msgpack_pack_false (&pk);
    msgpack_pack_uint64 (&pk, 200);
    msgpack_pack_uint64 (&pk, 60000);
    msgpack_pack_uint64 (&pk, 4000000000u);
    msgpack_pack_uint64 (&pk, UINT64_MAX);
    msgpack_pack_int64 (&pk, -100);
    msgpack_pack_int64 (&pk, -30000);
    msgpack_pack_int64 (&pk, INT64_MIN);
    msgpack_pack_float (&pk, 1.5f);
    msgpack_pack_double (&pk, -2.25);
    msgpack_pack_str (&pk, 40);
    msgpack_pack_str_body (&pk, "0123456789012345678901234567890123456789", 40);
    msgpack_pack_bin (&pk, 3);
    msgpack_pack_bin_body (&pk, "\x00\x01\x02", 3);
    msgpack_pack_ext (&pk, 1, 7);
    msgpack_pack_ext_body (&pk, "a", 1);
    msgpack_pack_ext (&pk, 2, -3);
    msgpack_pack_ext_body (&pk, "ab", 2);
    msgpack_pack_ext (&pk, 4, 1);
    msgpack_pack_ext_body (&pk, "abcd", 4);
    msgpack_pack_ext (&pk, 8, 1);
    msgpack_pack_ext_body (&pk, "abcdefgh", 8);
    msgpack_pack_ext (&pk, 16, 1);
    msgpack_pack_ext_body (&pk, "abcdefghijklmnop", 16);
    msgpack_pack_ext (&pk, 5, 9);
    msgpack_pack_ext_body (&pk, "abcde", 5);
    msgpack_pack_nil (&pk);
    msgpack_pack_int64 (&pk, 7);
    msgpack_pack_map (&pk, 0);
    msgpack_pack_array (&pk, 1);
    msgpack_pack_array (&pk, 0);
    return sbuf->size;
}

Test (mp, skip_every_type_and_every_truncation)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    size_t n = s_pack_everything (&sbuf);
    const uint8_t *data = (const uint8_t *)sbuf.data;
    size_t used = 0;
    cr_assert_eq (sl_mp_skip (data, n, 8, &used), 0);
    cr_assert_eq (used, n);
    //  Trailing bytes are not part of the object.
    uint8_t *more = malloc (n + 3);
    memcpy (more, data, n);
    memset (more + n, 0xc0, 3);
    cr_assert_eq (sl_mp_skip (more, n + 3, 8, &used), 0);
    cr_assert_eq (used, n);
    free (more);
    for (size_t cut = 0; cut < n; cut++) {
        //  A copy of exactly cut bytes, so ASan sees any read past the end.
        uint8_t *prefix = malloc (cut ? cut : 1);
        memcpy (prefix, data, cut);
        cr_assert_eq (sl_mp_skip (prefix, cut, 8, &used), SL_ETRUNC, "prefix of %zu bytes", cut);
        free (prefix);
    }
    msgpack_sbuffer_destroy (&sbuf);
}

Test (mp, skip_fixed_sizes)
{
    const struct {
        uint8_t bytes[20];
        size_t len;
    } cases[] = {
        {{0xca, 0, 0, 0, 0}, 5},
        {{0xcb, 0, 0, 0, 0, 0, 0, 0, 0}, 9},
        {{0xd4, 1, 2}, 3},
        {{0xd5, 1, 2, 3}, 4},
        {{0xd6, 1, 2, 3, 4, 5}, 6},
        {{0xd8, 1}, 18},
        {{0xc7, 2, 1, 'a', 'b'}, 5},
        {{0xc8, 0, 1, 1, 'a'}, 5},
        {{0xc7, 0, 1}, 3},
        {{0xc4, 0}, 2},
        {{0xd9, 1, 'a'}, 3},
        {{0xde, 0, 1, 0xc0, 0xc0}, 5},
        {{0xdc, 0, 2, 0xc0, 0xc0}, 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t used = 0;
        cr_assert_eq (sl_mp_skip (cases[i].bytes, cases[i].len, 4, &used), 0, "case %zu", i);
        cr_assert_eq (used, cases[i].len, "case %zu", i);
        cr_assert_eq (sl_mp_skip (cases[i].bytes, cases[i].len - 1, 4, &used), SL_ETRUNC);
    }
    cr_assert_eq (sl_mp_skip (cases[0].bytes, 5, 4, NULL), 0, "used may be NULL");
}

Test (mp, skip_array32_claiming_4_billion_fails_fast)
{
    const uint8_t arr[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    const uint8_t map[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    //  Also with the elements there that the first bytes could cover.
    const uint8_t arr_some[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0, 0xc0, 0xc0};
    const uint8_t map_odd[] = {0xdf, 0x00, 0x00, 0x00, 0x02, 0xc0, 0xc0, 0xc0};
    double start = s_seconds ();
    size_t used;
    cr_assert_eq (sl_mp_skip (arr, sizeof arr, 8, &used), SL_ETRUNC);
    cr_assert_eq (sl_mp_skip (map, sizeof map, 8, &used), SL_ETRUNC);
    cr_assert_eq (sl_mp_skip (arr_some, sizeof arr_some, 8, &used), SL_ETRUNC);
    cr_assert_eq (sl_mp_skip (map_odd, sizeof map_odd, 8, &used), SL_ETRUNC);
    //  2^32 loop turns would take seconds; failing at the header takes none.
    cr_assert_lt (s_seconds () - start, 0.5);
}

Test (mp, skip_deep_nesting_is_bounded)
{
    size_t n = 10000;
    uint8_t *deep = malloc (n + 1);
    memset (deep, 0x91, n);
    deep[n] = 0x00;
    size_t used;
    double start = s_seconds ();
    cr_assert_eq (sl_mp_skip (deep, n + 1, SL_MP_MAX_DEPTH, &used), SL_EDEPTH);
    //  A max_depth above the hard limit is capped, never a bigger stack.
    cr_assert_eq (sl_mp_skip (deep, n + 1, UINT32_MAX, &used), SL_EDEPTH);
    cr_assert_lt (s_seconds () - start, 0.5);
    //  Exactly max_depth containers are allowed, one more is not.
    uint8_t *tail = deep + n - 512;
    cr_assert_eq (sl_mp_skip (tail, 513, 512, &used), 0);
    cr_assert_eq (used, 513);
    cr_assert_eq (sl_mp_skip (tail - 1, 514, 512, &used), SL_EDEPTH);
    tail = deep + n - SL_MP_DEPTH_LIMIT;
    cr_assert_eq (sl_mp_skip (tail, SL_MP_DEPTH_LIMIT + 1, UINT32_MAX, &used), 0);
    cr_assert_eq (sl_mp_skip (tail - 1, SL_MP_DEPTH_LIMIT + 2, UINT32_MAX, &used), SL_EDEPTH);
    free (deep);
    //  Depth 0: scalars only; an empty container is depth 1.
    const uint8_t empty_array[] = {0x90};
    const uint8_t scalar[] = {0x05};
    cr_assert_eq (sl_mp_skip (scalar, 1, 0, &used), 0);
    cr_assert_eq (sl_mp_skip (empty_array, 1, 0, &used), SL_EDEPTH);
    cr_assert_eq (sl_mp_skip (empty_array, 1, 1, &used), 0);
    //  Deep maps count the same way.
    uint8_t maps[2 * 600 + 1];
    for (size_t i = 0; i < 600; i++) {
        maps[2 * i] = 0x81;
        maps[2 * i + 1] = 0xc0;
    }
    maps[1200] = 0xc0;
    cr_assert_eq (sl_mp_skip (maps + 2 * 88, sizeof maps - 2 * 88, 512, &used), 0);
    cr_assert_eq (sl_mp_skip (maps + 2 * 87, sizeof maps - 2 * 87, 512, &used), SL_EDEPTH);
}

Test (mp, skip_rejects_c1_and_empty_input)
{
    const uint8_t c1[] = {0xc1};
    const uint8_t nested[] = {0x93, 0x01, 0xc1, 0x02};
    const uint8_t key[] = {0x81, 0xc1, 0x01};
    size_t used;
    cr_assert_eq (sl_mp_skip (c1, 1, 8, &used), SL_EPROTO);
    cr_assert_eq (sl_mp_skip (nested, sizeof nested, 8, &used), SL_EPROTO);
    cr_assert_eq (sl_mp_skip (key, sizeof key, 8, &used), SL_EPROTO);
    cr_assert_eq (sl_mp_skip (c1, 0, 8, &used), SL_ETRUNC);
    cr_assert_eq (sl_mp_skip (NULL, 0, 8, &used), SL_ETRUNC);
}

//  Every one-byte input: complete exactly for the one-byte objects.
Test (mp, skip_every_single_byte)
{
    for (unsigned b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        size_t used = 0;
        int rc = sl_mp_skip (&byte, 1, 8, &used);
        bool one_byte = b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3 ||
                        b == 0x80 || b == 0x90 || b == 0xa0;
        if (one_byte) {
            cr_assert_eq (rc, 0, "byte %02x", b);
            cr_assert_eq (used, 1);
        }
        else {
            cr_assert_eq (rc, b == 0xc1 ? SL_EPROTO : SL_ETRUNC, "byte %02x", b);
        }
    }
}

//  Random bytes: the walker never reads past the end, and whenever it
//  accepts an object msgpack-c agrees on where that object ends.
Test (mp, skip_random_bytes_agree_with_msgpack_c)
{
    srand (12345);
    uint8_t buf[64];
    int accepted = 0;
    for (int round = 0; round < 200000; round++) {
        size_t len = (size_t)(rand () % 24);
        //  Small bytes are more likely to make complete objects.
        for (size_t i = 0; i < len; i++) {
            int r = rand ();
            buf[i] = (uint8_t)(r & 1 ? r >> 8 : (r >> 8) % 4);
        }
        uint8_t *copy = malloc (len ? len : 1);
        memcpy (copy, buf, len);
        size_t used = 0;
        int rc = sl_mp_skip (copy, len, 16, &used);
        cr_assert (rc == 0 || rc == SL_ETRUNC || rc == SL_EPROTO || rc == SL_EDEPTH);
        if (rc == 0) {
            accepted++;
            cr_assert_leq (used, len);
            msgpack_unpacked result;
            msgpack_unpacked_init (&result);
            size_t off = 0;
            msgpack_unpack_return ur =
                msgpack_unpack_next (&result, (const char *)copy, used, &off);
            cr_assert_eq (ur, MSGPACK_UNPACK_SUCCESS);
            cr_assert_eq (off, used);
            msgpack_unpacked_destroy (&result);
        }
        free (copy);
    }
    cr_assert_gt (accepted, 1000, "the generator must produce valid objects too");
}
