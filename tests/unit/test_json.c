/*  test_json.c - JSON text <-> msgpack at the edges.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <float.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "sl_batch.h"
#include "sl_buf.h"
#include "sl_error.h"
#include "sl_json.h"
#include "sl_mp.h"

static sl_json_t *s_json;

static void
s_setup (void)
{
    s_json = sl_json_new ();
    cr_assert_not_null (s_json);
}

static void
s_teardown (void)
{
    sl_json_destroy (&s_json);
    cr_assert_null (s_json);
    sl_json_destroy (&s_json);
}

TestSuite (json, .init = s_setup, .fini = s_teardown);

//  Parses text (an exact-size copy, not NUL-terminated, so that ASan sees
//  any read past len) into out. Returns the rc.
static int
s_to_mp (const char *text, size_t len, sl_buf_t *out, char *why, size_t why_size)
{
    char *copy = malloc (len ? len : 1);
    memcpy (copy, text, len);
    int rc = sl_json_to_msgpack (s_json, copy, len, out, why, why_size);
    free (copy);
    return rc;
}

//  JSON -> msgpack -> JSON must give `want`; and `want` -> msgpack must
//  give the same bytes again (the output is a fixed point).
static void
s_round_trip_len (const char *in, size_t in_len, const char *want)
{
    sl_buf_t mp, text, mp2;
    sl_buf_init (&mp, 0);
    sl_buf_init (&text, 0);
    sl_buf_init (&mp2, 0);
    char why[128];
    int rc = s_to_mp (in, in_len, &mp, why, sizeof why);
    cr_assert_eq (rc, 0, "parse %s: %d %s", in, rc, why);
    size_t used;
    cr_assert_eq (sl_mp_skip (mp.data, mp.len, SL_MP_MAX_DEPTH, &used), 0);
    cr_assert_eq (used, mp.len, "%s: exactly one msgpack object", in);
    cr_assert_eq (sl_msgpack_to_json (s_json, mp.data, mp.len, &text), 0);
    cr_assert_eq (text.len, strlen (want), "%s: got %.*s want %s", in, (int)text.len,
                  (char *)text.data, want);
    cr_assert_arr_eq (text.data, want, text.len, "%s: got %.*s want %s", in, (int)text.len,
                      (char *)text.data, want);
    cr_assert_eq (s_to_mp ((char *)text.data, text.len, &mp2, why, sizeof why), 0);
    cr_assert_eq (mp2.len, mp.len, "%s: second pass", in);
    cr_assert_arr_eq (mp2.data, mp.data, mp.len);
    sl_buf_free (&mp);
    sl_buf_free (&text);
    sl_buf_free (&mp2);
}

static void
s_round_trip (const char *in, const char *want)
{
    s_round_trip_len (in, strlen (in), want ? want : in);
}

static void
s_expect_mp (const char *in, const uint8_t *want, size_t want_len)
{
    sl_buf_t mp;
    sl_buf_init (&mp, 0);
    char why[128];
    cr_assert_eq (s_to_mp (in, strlen (in), &mp, why, sizeof why), 0, "%s: %s", in, why);
    cr_assert_eq (mp.len, want_len, "%s: %zu bytes, want %zu", in, mp.len, want_len);
    cr_assert_arr_eq (mp.data, want, want_len, "%s", in);
    sl_buf_free (&mp);
}

static void
s_expect_fail (const char *in, size_t len, int want_rc, const char *want_why)
{
    sl_buf_t mp;
    sl_buf_init (&mp, 0);
    sl_buf_append (&mp, "keep", 4);
    char why[128];
    int rc = s_to_mp (in, len, &mp, why, sizeof why);
    cr_assert_eq (rc, want_rc, "%.*s: rc %d (%s), want %d", (int)len, in, rc, why, want_rc);
    cr_assert_eq (mp.len, 4, "%.*s: out must be left as it was", (int)len, in);
    cr_assert_arr_eq (mp.data, "keep", 4);
    if (want_why) {
        cr_assert_str_eq (why, want_why, "%.*s", (int)len, in);
    }
    else {
        cr_assert_neq (why[0], '\0', "%.*s: a reason is given", (int)len, in);
    }
    sl_buf_free (&mp);
}

#define EXPECT_FAIL(text, rc, why) s_expect_fail (text, sizeof (text) - 1, rc, why)

//  ---------------------------------------------------------------------
//  JSON -> msgpack -> JSON

Test (json, round_trip_scalars_and_containers)
{
    s_round_trip ("null", NULL);
    s_round_trip ("true", NULL);
    s_round_trip ("false", NULL);
    s_round_trip ("0", NULL);
    s_round_trip ("[]", NULL);
    s_round_trip ("{}", NULL);
    s_round_trip ("\"\"", NULL);
    s_round_trip ("[1,\"a\",null,true,false,[],{},[[]],{\"x\":{}}]", NULL);
    s_round_trip ("{\"a\":1,\"b\":[1,2,{\"c\":null}],\"\":\"empty key\"}", NULL);
    s_round_trip ("  \t\r\n {\n \"a\" : [ 1 , 2 ] } \n ", "{\"a\":[1,2]}");
    //  Key order is kept, and duplicate keys are both kept (msgpack maps
    //  allow them), so the text survives unchanged.
    s_round_trip ("{\"b\":1,\"a\":2,\"b\":3}", NULL);
}

Test (json, round_trip_integers)
{
    const char *ints[] = {
        "0",
        "1",
        "127",
        "128",
        "255",
        "256",
        "65535",
        "65536",
        "4294967295",
        "4294967296",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "-1",
        "-32",
        "-33",
        "-128",
        "-129",
        "-32768",
        "-32769",
        "-2147483648",
        "-2147483649",
        "-9223372036854775807",
        "-9223372036854775808",
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        s_round_trip (ints[i], NULL);
    }
    //  -0 is the integer 0 (msgpack has no negative zero int); -0.0 is a float.
    s_round_trip ("-0", "0");
    s_round_trip ("-0.0", "-0.0");
}

Test (json, integers_use_smallest_msgpack_ints)
{
    s_expect_mp ("0", (const uint8_t *)"\x00", 1);
    s_expect_mp ("-1", (const uint8_t *)"\xff", 1);
    s_expect_mp ("-33", (const uint8_t *)"\xd0\xdf", 2);
    s_expect_mp ("200", (const uint8_t *)"\xcc\xc8", 2);
    s_expect_mp ("18446744073709551615", (const uint8_t *)"\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
                 9);
    s_expect_mp ("-9223372036854775808", (const uint8_t *)"\xd3\x80\x00\x00\x00\x00\x00\x00\x00",
                 9);
    s_expect_mp ("1.0", (const uint8_t *)"\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00", 9);
    s_expect_mp ("[]", (const uint8_t *)"\x90", 1);
    s_expect_mp ("{}", (const uint8_t *)"\x80", 1);
    s_expect_mp ("{\"a\":[true]}",
                 (const uint8_t *)"\x81\xa1"
                                  "a"
                                  "\x91\xc3",
                 5);
}

//  json-c clamps these silently; we must refuse them.
Test (json, integers_outside_64_bits_are_range_errors)
{
    EXPECT_FAIL ("18446744073709551616", SL_ERANGE, "integer outside 64 bits at column 1");
    EXPECT_FAIL ("-9223372036854775809", SL_ERANGE, "integer outside 64 bits at column 1");
    EXPECT_FAIL ("99999999999999999999999", SL_ERANGE, NULL);
    EXPECT_FAIL ("[1, 18446744073709551616]", SL_ERANGE, "integer outside 64 bits at column 5");
    EXPECT_FAIL ("{\"a\":-18446744073709551615}", SL_ERANGE, NULL);
    EXPECT_FAIL ("{\"a\":\n 100000000000000000000}", SL_ERANGE,
                 "integer outside 64 bits at line 2 column 2");
    //  The same magnitudes as floats are fine.
    s_round_trip ("18446744073709551616.0", "1.8446744073709552e+19");
    s_round_trip ("-9223372036854775809e0", "-9.223372036854776e+18");
}

Test (json, round_trip_floats_shortest_form)
{
    s_round_trip ("1.0", NULL);
    s_round_trip ("0.1", NULL);
    s_round_trip ("-2.5", NULL);
    s_round_trip ("100.0", NULL);
    s_round_trip ("0.30000000000000004", NULL);
    s_round_trip ("3.141592653589793", NULL);
    s_round_trip ("1e-7", "1e-07");
    s_round_trip ("1E5", "100000.0");
    s_round_trip ("1e20", "1e+20");
    s_round_trip ("5e-324", "5e-324");
    s_round_trip ("2.2250738585072014e-308", "2.2250738585072014e-308");
    s_round_trip ("1.7976931348623157e308", "1.7976931348623157e+308");
    s_round_trip ("123456789012345678901234567890.5", "1.2345678901234568e+29");
    s_round_trip ("1e400", "1e999");
    s_round_trip ("-1e400", "-1e999");
    s_round_trip ("1e-400", "0.0");
    s_round_trip ("[0.5,-0.0,1.5e300]", "[0.5,-0.0,1.5e+300]");
}

Test (json, round_trip_strings)
{
    s_round_trip ("\"plain\"", NULL);
    s_round_trip ("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", NULL);
    //  Escapes are decoded, and written back in one canonical form.
    s_round_trip ("\"a\\u00e9b\"", "\"a\xc3\xa9"
                                   "b\"");
    s_round_trip ("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
    s_round_trip ("\"\\uD83D\\uDE00\"", "\"\xf0\x9f\x98\x80\"");
    s_round_trip ("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\\"\\\\/\\b\\f\\n\\r\\t\"");
    s_round_trip ("\"\\u0000\"", NULL);
    s_round_trip ("\"a\\u0000b\\u001fc\\u007f\"", "\"a\\u0000b\\u001fc\x7f\"");
    s_round_trip ("{\"k\\u0000ey\":1}", NULL);
    s_round_trip ("{\"k\\u0000a\":1,\"k\\u0000b\":2}", NULL);
    s_round_trip ("\"\\u2028\\u2029\"", "\"\xe2\x80\xa8\xe2\x80\xa9\"");
    s_round_trip ("\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"", NULL);
    s_expect_mp ("\"\\u0000\"", (const uint8_t *)"\xa1\x00", 2);
    s_expect_mp ("\"\\ud83d\\ude00\"", (const uint8_t *)"\xa4\xf0\x9f\x98\x80", 5);
}

Test (json, long_strings_use_wide_headers)
{
    size_t sizes[] = {31, 32, 255, 256, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        char *text = malloc (n + 3);
        text[0] = '"';
        memset (text + 1, 'x', n);
        text[n + 1] = '"';
        text[n + 2] = '\0';
        s_round_trip_len (text, n + 2, text);
        //  With escapes the decoded text is shorter than the raw one: the
        //  header shrinks to fit (300 raw bytes -> 50 decoded).
        free (text);
    }
    char esc[2 + 6 * 50 + 1];
    esc[0] = '"';
    for (int i = 0; i < 50; i++) {
        memcpy (esc + 1 + 6 * i, "\\u0041", 6);
    }
    esc[301] = '"';
    esc[302] = '\0';
    sl_buf_t mp;
    sl_buf_init (&mp, 0);
    cr_assert_eq (s_to_mp (esc, 302, &mp, NULL, 0), 0);
    cr_assert_eq (mp.len, 2 + 50);
    cr_assert_eq (mp.data[0], 0xd9);
    cr_assert_eq (mp.data[1], 50);
    sl_buf_free (&mp);
}

Test (json, nesting_depth)
{
    char *text = malloc (4096);
    size_t depths[] = {1, 500, 511, 512, 513, 600};
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        size_t d = depths[i];
        //  Arrays around a scalar, and arrays around nothing.
        for (int with_scalar = 0; with_scalar < 2; with_scalar++) {
            size_t n = 0;
            memset (text, '[', d);
            n = d;
            if (with_scalar) {
                text[n++] = '7';
            }
            memset (text + n, ']', d);
            n += d;
            text[n] = '\0';
            if (d <= SL_MP_MAX_DEPTH) {
                s_round_trip_len (text, n, text);
            }
            else {
                s_expect_fail (text, n, SL_EDEPTH, "nesting deeper than 512 at column 513");
            }
        }
    }
    //  Objects count the same way.
    size_t n = 0;
    for (int i = 0; i < 513; i++) {
        memcpy (text + n, "{\"a\":", 5);
        n += 5;
    }
    text[n++] = '1';
    memset (text + n, '}', 513);
    n += 513;
    text[n] = '\0';
    s_expect_fail (text, n, SL_EDEPTH, NULL);
    //  Without the outermost object: exactly 512 deep.
    text[n - 1] = '\0';
    s_round_trip_len (text + 5, n - 6, text + 5);
    free (text);
}

Test (json, invalid_json_with_reasons)
{
    EXPECT_FAIL ("", SL_EJSON, "unexpected end of input");
    EXPECT_FAIL ("   ", SL_EJSON, "unexpected end of input");
    EXPECT_FAIL ("[1,", SL_EJSON, "unexpected end of input");
    EXPECT_FAIL ("[1,]", SL_EJSON, "unexpected character at column 4");
    EXPECT_FAIL ("{\"a\":1,}", SL_EJSON, "expected a string key at column 8");
    EXPECT_FAIL ("{\"a\" 1}", SL_EJSON, "expected ':' at column 6");
    EXPECT_FAIL ("{1:2}", SL_EJSON, "expected a string key at column 2");
    EXPECT_FAIL ("[1 2]", SL_EJSON, "expected ',' or ']' at column 4");
    EXPECT_FAIL ("{\"a\":1 \"b\":2}", SL_EJSON, "expected ',' or '}' at column 8");
    EXPECT_FAIL ("[1}", SL_EJSON, "expected ',' or ']' at column 3");
    EXPECT_FAIL ("NaN", SL_EJSON, "unexpected character at column 1");
    EXPECT_FAIL ("Infinity", SL_EJSON, "unexpected character at column 1");
    EXPECT_FAIL ("-Infinity", SL_EJSON, "invalid number at column 1");
    EXPECT_FAIL ("01", SL_EJSON, "leading zero in number at column 1");
    EXPECT_FAIL ("-01", SL_EJSON, "leading zero in number at column 1");
    EXPECT_FAIL ("1.", SL_EJSON, "invalid number at column 1");
    EXPECT_FAIL ("1.e5", SL_EJSON, "invalid number at column 1");
    EXPECT_FAIL ("1e", SL_EJSON, "invalid number at column 1");
    EXPECT_FAIL ("1e+", SL_EJSON, "invalid number at column 1");
    EXPECT_FAIL (".5", SL_EJSON, "unexpected character at column 1");
    EXPECT_FAIL ("+1", SL_EJSON, "unexpected character at column 1");
    EXPECT_FAIL ("0x10", SL_EJSON, "unexpected character after the value at column 2");
    EXPECT_FAIL ("'a'", SL_EJSON, "unexpected character at column 1");
    EXPECT_FAIL ("tru", SL_EJSON, "unexpected character at column 1");
    EXPECT_FAIL ("nul", SL_EJSON, "unexpected character at column 1");
    EXPECT_FAIL ("True", SL_EJSON, "unexpected character at column 1");
    EXPECT_FAIL ("\"abc", SL_EJSON, "unterminated string at column 1");
    EXPECT_FAIL ("\"abc\\", SL_EJSON, "unterminated string at column 1");
    EXPECT_FAIL ("\"a\\x\"", SL_EJSON, "invalid escape at column 3");
    EXPECT_FAIL ("\"\\u12\"", SL_EJSON, "invalid \\u escape at column 2");
    EXPECT_FAIL ("\"\\u12g4\"", SL_EJSON, "invalid \\u escape at column 2");
    EXPECT_FAIL ("\"a\tb\"", SL_EJSON, "control character in string at column 3");
    EXPECT_FAIL ("\"a\nb\"", SL_EJSON, "control character in string at column 3");
    EXPECT_FAIL ("\"\\ud800\"", SL_EJSON, "lone high surrogate at column 2");
    EXPECT_FAIL ("\"\\ud800x\"", SL_EJSON, "lone high surrogate at column 2");
    EXPECT_FAIL ("\"\\ud800\\u0041\"", SL_EJSON, "lone high surrogate at column 2");
    EXPECT_FAIL ("\"\\udc00\"", SL_EJSON, "lone low surrogate at column 2");
    //  yajl decodes these to "?", "?\n" and U+10041 / U+10000 without a
    //  word; we refuse them (sl_json.h).
    EXPECT_FAIL ("[\"ab\\uD800\"]", SL_EJSON, "lone high surrogate at column 5");
    EXPECT_FAIL ("\"\\ud800\\n\"", SL_EJSON, "lone high surrogate at column 2");
    EXPECT_FAIL ("\"\\ud800\\ud800\"", SL_EJSON, "lone high surrogate at column 2");
    EXPECT_FAIL ("{\"k\\ud800\\u0041\":1}", SL_EJSON, "lone high surrogate at column 4");
    EXPECT_FAIL ("\"\\u00e9\\udfff\"", SL_EJSON, "lone low surrogate at column 8");
    EXPECT_FAIL ("\xef\xbb\xbf"
                 "1",
                 SL_EJSON, "unexpected character at column 1");
    EXPECT_FAIL ("[\n1,\n]", SL_EJSON, "unexpected character at line 3 column 1");
}

Test (json, trailing_garbage)
{
    EXPECT_FAIL ("1 2", SL_EJSON, "unexpected character after the value at column 3");
    EXPECT_FAIL ("{} x", SL_EJSON, "unexpected character after the value at column 4");
    EXPECT_FAIL ("[1]]", SL_EJSON, "unexpected character after the value at column 4");
    EXPECT_FAIL ("123abc", SL_EJSON, "unexpected character after the value at column 4");
    EXPECT_FAIL ("truex", SL_EJSON, "unexpected character after the value at column 5");
    EXPECT_FAIL ("1\0", SL_EJSON, "unexpected character after the value at column 2");
    EXPECT_FAIL ("\"a\"\"b\"", SL_EJSON, NULL);
    //  Only len bytes are read: what follows in memory does not matter.
    sl_buf_t mp;
    sl_buf_init (&mp, 0);
    const char *text = "3004";
    cr_assert_eq (sl_json_to_msgpack (s_json, text, 3, &mp, NULL, 0), 0);
    cr_assert_eq (mp.len, 3);
    cr_assert_eq (mp.data[0], 0xcd);
    cr_assert_eq (mp.data[1] << 8 | mp.data[2], 300);
    sl_buf_free (&mp);
}

Test (json, invalid_utf8)
{
    EXPECT_FAIL ("\"\xff\"", SL_EJSON, "invalid UTF-8 at column 2");
    EXPECT_FAIL ("\"ab\x80\"", SL_EJSON, "invalid UTF-8 at column 4");
    EXPECT_FAIL ("\"\xc0\x80\"", SL_EJSON, "invalid UTF-8 at column 2");         //  overlong NUL
    EXPECT_FAIL ("\"\xe0\x80\xaf\"", SL_EJSON, "invalid UTF-8 at column 2");     //  overlong '/'
    EXPECT_FAIL ("\"\xf0\x80\x80\x80\"", SL_EJSON, "invalid UTF-8 at column 2"); //  overlong
    EXPECT_FAIL ("\"\xed\xa0\x80\"", SL_EJSON, "invalid UTF-8 at column 2");     //  surrogate
    EXPECT_FAIL ("\"\xf4\x90\x80\x80\"", SL_EJSON, "invalid UTF-8 at column 2"); //  > U+10FFFF
    EXPECT_FAIL ("\"\xc3\"", SL_EJSON, "invalid UTF-8 at column 2");             //  cut short
    EXPECT_FAIL ("\"\xe2\x82", SL_EJSON, "invalid UTF-8 at column 2");
    EXPECT_FAIL ("{\"\xfe\":1}", SL_EJSON, "invalid UTF-8 at column 3");
}

Test (json, output_limit_leaves_out_unchanged)
{
    sl_buf_t mp;
    sl_buf_init (&mp, 8);
    char why[64];
    cr_assert_eq (sl_json_to_msgpack (s_json, "[1,2,3]", 7, &mp, why, sizeof why), 0);
    size_t before = mp.len;
    cr_assert_eq (sl_json_to_msgpack (s_json, "\"a long string\"", 15, &mp, why, sizeof why),
                  SL_ETOOBIG);
    cr_assert_eq (mp.len, before);
    cr_assert_str_eq (why, "msgpack output exceeds its limit");
    sl_buf_free (&mp);
}

//  The converter is reused: a failure leaves nothing behind for the next call.
Test (json, converter_reuse_after_errors)
{
    sl_buf_t mp;
    sl_buf_init (&mp, 0);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq (sl_json_to_msgpack (s_json, "[[[[1", 5, &mp, NULL, 0), SL_EJSON);
        cr_assert_eq (mp.len, 0);
        cr_assert_eq (sl_json_to_msgpack (s_json, "[2]", 3, &mp, NULL, 0), 0);
        cr_assert_eq (mp.len, 2);
        sl_buf_reset (&mp);
    }
    sl_buf_free (&mp);
}

//  The parser handle is kept between texts: whatever a text did (a value,
//  an error, a token cut at its end), the next text reads exactly as it
//  would with a new converter.
Test (json, converter_reuse_matches_a_new_converter)
{
    const char *texts[] = {
        "1",
        "3\"abc",
        "\"x\"",
        "[1]",
        "tru",
        "true",
        "",
        "12",
        "  ",
        "\"ab",
        "{\"a\":1}",
        "\"\\u00e9\"",
        "\"caf\xc3\xa9\"",
        "-",
        "-1",
        "{\"a\"",
        "0",
        "01",
        "1 2",
        "[[[",
        "]",
        "18446744073709551616",
        "18446744073709551615",
        "\"\\ud800\"",
        "1.5e",
        "1.5e3",
        "nul",
        "null",
        "{}",
        "{\"k\\u0000\":[\"\\ud83d\\ude00\",-0.0]}",
        "\"\xed\xa0\x80\"",
        "7",
    };
    size_t n = sizeof texts / sizeof texts[0];
    sl_buf_t kept, fresh;
    sl_buf_init (&kept, 0);
    sl_buf_init (&fresh, 0);
    //  Every text after every other one.
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < n; k++) {
            const char *order[2] = {texts[i], texts[k]};
            for (int step = 0; step < 2; step++) {
                const char *text = order[step];
                sl_json_t *json = sl_json_new ();
                cr_assert_not_null (json);
                char why_kept[128], why_fresh[128];
                sl_buf_reset (&kept);
                sl_buf_reset (&fresh);
                int rc_kept = s_to_mp (text, strlen (text), &kept, why_kept, sizeof why_kept);
                char *copy = malloc (strlen (text) + 1);
                memcpy (copy, text, strlen (text));
                int rc_fresh = sl_json_to_msgpack (json, copy, strlen (text), &fresh, why_fresh,
                                                   sizeof why_fresh);
                free (copy);
                sl_json_destroy (&json);
                cr_assert_eq (rc_kept, rc_fresh, "[%s] after [%s]: %d (%s) vs new %d (%s)", text,
                              order[0], rc_kept, why_kept, rc_fresh, why_fresh);
                cr_assert_str_eq (why_kept, why_fresh, "[%s] after [%s]", text, order[0]);
                cr_assert_eq (kept.len, fresh.len, "[%s] after [%s]", text, order[0]);
                cr_assert_arr_eq (kept.data, fresh.data, kept.len);
            }
        }
    }
    sl_buf_free (&kept);
    sl_buf_free (&fresh);
    //  A text cut inside a token after a good value leaves nothing behind.
    sl_buf_t mp;
    sl_buf_init (&mp, 0);
    char why[128];
    cr_assert_eq (s_to_mp ("1", 1, &mp, why, sizeof why), 0);
    EXPECT_FAIL ("3\"abc", SL_EJSON, "unexpected character after the value at column 2");
    EXPECT_FAIL ("\"abc", SL_EJSON, "unterminated string at column 1");
    cr_assert_eq (s_to_mp ("[1]", 3, &mp, why, sizeof why), 0);
    EXPECT_FAIL ("", SL_EJSON, "unexpected end of input");
    EXPECT_FAIL ("tru", SL_EJSON, "unexpected character at column 1");
    sl_buf_reset (&mp);
    cr_assert_eq (s_to_mp ("\"d\"", 3, &mp, why, sizeof why), 0, "%s", why);
    cr_assert_eq (mp.len, 2);
    cr_assert_arr_eq (mp.data,
                      "\xa1"
                      "d",
                      2);
    sl_buf_free (&mp);
}

//  json-c as an independent reader of what we write: for texts it reads
//  faithfully, it must see the same value in our output as in the input.
Test (json, output_reads_the_same_in_json_c)
{
    const char *texts[] = {
        "{\"a\":[1,2.5,\"x\\n\\u00e9\"],\"b\":{\"c\":null,\"d\":true},\"e\":-7}",
        "[0.1,1e-7,5e-324,1.7976931348623157e308,-0.0,123456789.125]",
        "\"\\u0001\\u001f \\\\ \\\" / \xe2\x82\xac\"",
        "[9223372036854775807,-9223372036854775808,18446744073709551615]",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        sl_buf_t mp, text;
        sl_buf_init (&mp, 0);
        sl_buf_init (&text, 0);
        cr_assert_eq (s_to_mp (texts[i], strlen (texts[i]), &mp, NULL, 0), 0);
        cr_assert_eq (sl_msgpack_to_json (s_json, mp.data, mp.len, &text), 0);
        sl_buf_append (&text, "", 1);
        json_object *a = json_tokener_parse (texts[i]);
        json_object *b = json_tokener_parse ((char *)text.data);
        cr_assert_not_null (a);
        cr_assert_not_null (b, "json-c reads our output: %s", (char *)text.data);
        cr_assert (json_object_equal (a, b), "%s vs %s", texts[i], (char *)text.data);
        json_object_put (a);
        json_object_put (b);
        sl_buf_free (&mp);
        sl_buf_free (&text);
    }
}

//  ---------------------------------------------------------------------
//  msgpack -> JSON for types JSON lacks

static void
s_expect_json (const msgpack_sbuffer *sbuf, const char *want)
{
    sl_buf_t text;
    sl_buf_init (&text, 0);
    int rc = sl_msgpack_to_json (s_json, (const uint8_t *)sbuf->data, sbuf->size, &text);
    cr_assert_eq (rc, 0);
    cr_assert_eq (text.len, strlen (want), "got %.*s want %s", (int)text.len, (char *)text.data,
                  want);
    cr_assert_arr_eq (text.data, want, text.len, "got %.*s want %s", (int)text.len,
                      (char *)text.data, want);
    sl_buf_free (&text);
}

Test (json, bin_ext_float32_and_odd_keys)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);

    const char *b64[] = {"\"\"", "\"AA==\"", "\"AAE=\"", "\"AAH/\"", "\"AAH/AA==\""};
    const char bytes[] = {0x00, 0x01, (char)0xff, 0x00};
    for (size_t n = 0; n <= 4; n++) {
        msgpack_sbuffer_clear (&sbuf);
        msgpack_pack_bin (&pk, n);
        msgpack_pack_bin_body (&pk, bytes, n);
        char want[64];
        snprintf (want, sizeof want, "{\"$bin\":%s}", b64[n]);
        s_expect_json (&sbuf, want);
    }
    msgpack_sbuffer_clear (&sbuf);
    msgpack_pack_ext (&pk, 3, -5);
    msgpack_pack_ext_body (&pk, "abc", 3);
    s_expect_json (&sbuf, "{\"$ext\":-5,\"data\":\"YWJj\"}");
    msgpack_sbuffer_clear (&sbuf);
    msgpack_pack_ext (&pk, 1, 127);
    msgpack_pack_ext_body (&pk, "a", 1);
    s_expect_json (&sbuf, "{\"$ext\":127,\"data\":\"YQ==\"}");
    msgpack_sbuffer_clear (&sbuf);
    msgpack_pack_ext (&pk, 16, 0);
    msgpack_pack_ext_body (&pk, "0123456789abcdef", 16);
    s_expect_json (&sbuf, "{\"$ext\":0,\"data\":\"MDEyMzQ1Njc4OWFiY2RlZg==\"}");

    msgpack_sbuffer_clear (&sbuf);
    msgpack_pack_array (&pk, 5);
    msgpack_pack_float (&pk, 0.5f);
    msgpack_pack_float (&pk, 0.1f);
    msgpack_pack_double (&pk, NAN);
    msgpack_pack_double (&pk, INFINITY);
    msgpack_pack_float (&pk, -INFINITY);
    s_expect_json (&sbuf, "[0.5,0.10000000149011612,null,1e999,-1e999]");

    msgpack_sbuffer_clear (&sbuf);
    msgpack_pack_map (&pk, 6);
    msgpack_pack_int (&pk, 1);
    msgpack_pack_int (&pk, 2);
    msgpack_pack_nil (&pk);
    msgpack_pack_true (&pk);
    msgpack_pack_array (&pk, 2);
    msgpack_pack_int (&pk, 1);
    msgpack_pack_str (&pk, 1);
    msgpack_pack_str_body (&pk, "a", 1);
    msgpack_pack_int (&pk, 3);
    msgpack_pack_bin (&pk, 1);
    msgpack_pack_bin_body (&pk, "\x01", 1);
    msgpack_pack_int (&pk, 4);
    msgpack_pack_double (&pk, 2.0);
    msgpack_pack_int (&pk, 5);
    msgpack_pack_map (&pk, 1);
    msgpack_pack_int (&pk, -1);
    msgpack_pack_int (&pk, 0);
    msgpack_pack_int (&pk, 6);
    s_expect_json (&sbuf, "{\"1\":2,\"null\":true,\"[1,\\\"a\\\"]\":3,"
                          "\"{\\\"$bin\\\":\\\"AQ==\\\"}\":4,\"2.0\":5,\"{\\\"-1\\\":0}\":6}");
    msgpack_sbuffer_destroy (&sbuf);
}

Test (json, output_string_escaping)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    const char s[] = "\x01\x1f/\x7f\"\\\b\f\n\r\t\xc3\xa9";
    msgpack_pack_str (&pk, sizeof s - 1);
    msgpack_pack_str_body (&pk, s, sizeof s - 1);
    s_expect_json (&sbuf, "\"\\u0001\\u001f/\x7f\\\"\\\\\\b\\f\\n\\r\\t\xc3\xa9\"");
    //  A str that is not UTF-8 still gives valid JSON: U+FFFD per bad byte.
    msgpack_sbuffer_clear (&sbuf);
    const char bad[] = "a\xff"
                       "b\xc3";
    msgpack_pack_str (&pk, sizeof bad - 1);
    msgpack_pack_str_body (&pk, bad, sizeof bad - 1);
    s_expect_json (&sbuf, "\"a\xef\xbf\xbd"
                          "b\xef\xbf\xbd\"");
    msgpack_sbuffer_destroy (&sbuf);
}

Test (json, msgpack_to_json_rejects_malformed_input)
{
    sl_buf_t text;
    sl_buf_init (&text, 0);
    sl_buf_append (&text, "keep", 4);
    const uint8_t trunc[] = {0x92, 0x01};
    const uint8_t lie[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    const uint8_t c1[] = {0x91, 0xc1};
    const uint8_t trailing[] = {0x01, 0x02};
    cr_assert_eq (sl_msgpack_to_json (s_json, trunc, sizeof trunc, &text), SL_ETRUNC);
    cr_assert_eq (sl_msgpack_to_json (s_json, lie, sizeof lie, &text), SL_ETRUNC);
    cr_assert_eq (sl_msgpack_to_json (s_json, c1, sizeof c1, &text), SL_EPROTO);
    cr_assert_eq (sl_msgpack_to_json (s_json, trailing, sizeof trailing, &text), SL_EPROTO);
    cr_assert_eq (sl_msgpack_to_json (s_json, trunc, 0, &text), SL_ETRUNC);
    uint8_t *deep = malloc (5000);
    memset (deep, 0x91, 4999);
    deep[4999] = 0x00;
    cr_assert_eq (sl_msgpack_to_json (s_json, deep, 5000, &text), SL_EDEPTH);
    free (deep);
    cr_assert_eq (text.len, 4, "out left as it was");
    sl_buf_free (&text);

    sl_buf_init (&text, 6);
    const uint8_t arr[] = {0x93, 0x01, 0x02, 0x03};
    cr_assert_eq (sl_msgpack_to_json (s_json, arr, sizeof arr, &text), SL_ETOOBIG);
    cr_assert_eq (text.len, 0);
    sl_buf_free (&text);
}

//  ---------------------------------------------------------------------
//  Records and keys

Test (json, record_to_json)
{
    sl_buf_t batch, text;
    sl_buf_init (&batch, 0);
    sl_buf_init (&text, 0);
    sl_buf_t value;
    sl_buf_init (&value, 0);
    cr_assert_eq (sl_json_to_msgpack (s_json, "{\"n\":1}", 7, &value, NULL, 0), 0);
    const uint8_t headers[] = {0x82, 0xa2, 'c', 't', 0xa1, 'j', 0xa1, 'b', 0xc4, 0x01, 0xff};
    sl_record_encode (&batch, 1700000000123, NULL, 0, false, NULL, 0, value.data, value.len);
    sl_record_encode (&batch, -1, "k\"1", 3, false, headers, sizeof headers, value.data, value.len);
    sl_record_encode (&batch, 0, "\x00\x01", 2, true, NULL, 0, value.data, value.len);
    sl_record_iter_t it;
    sl_record_iter_init (&it, batch.data, batch.len, 3, 18446744073709551615ull - 2);
    sl_record_t r;
    const char *want[] = {
        "{\"offset\":18446744073709551613,\"timestamp\":1700000000123,\"key\":null,"
        "\"value\":{\"n\":1}}",
        "{\"offset\":18446744073709551614,\"timestamp\":-1,\"key\":\"k\\\"1\","
        "\"headers\":{\"ct\":\"j\",\"b\":{\"$bin\":\"/w==\"}},\"value\":{\"n\":1}}",
        "{\"offset\":18446744073709551615,\"timestamp\":0,\"key\":{\"$bin\":\"AAE=\"},"
        "\"value\":{\"n\":1}}",
    };
    for (int i = 0; i < 3; i++) {
        cr_assert_eq (sl_record_iter_next (&it, &r), 1);
        sl_buf_reset (&text);
        cr_assert_eq (sl_record_to_json (s_json, &r, &text), 0);
        cr_assert_eq (text.len, strlen (want[i]), "got %.*s", (int)text.len, (char *)text.data);
        cr_assert_arr_eq (text.data, want[i], text.len, "got %.*s", (int)text.len,
                          (char *)text.data);
    }
    //  A record whose value bytes lie is refused and writes nothing.
    const uint8_t lie[] = {0xdb, 0x00, 0x00, 0x10, 0x00};
    r.value = lie;
    r.value_len = sizeof lie;
    sl_buf_reset (&text);
    cr_assert_eq (sl_record_to_json (s_json, &r, &text), SL_ETRUNC);
    cr_assert_eq (text.len, 0);
    sl_buf_free (&batch);
    sl_buf_free (&text);
    sl_buf_free (&value);
}

Test (json, field_key)
{
    sl_buf_t mp, scratch;
    sl_buf_init (&mp, 0);
    sl_buf_init (&scratch, 0);
    const char *text = "{\"id\":\"u-42\",\"n\":42,\"obj\":{\"a\":[1,\"x\"]},\"nil\":null,"
                       "\"idx\":1}";
    cr_assert_eq (sl_json_to_msgpack (s_json, text, strlen (text), &mp, NULL, 0), 0);
    const uint8_t *key;
    uint32_t key_len;
    cr_assert_eq (sl_json_field_key (s_json, mp.data, mp.len, "id", &scratch, &key, &key_len), 1);
    cr_assert_eq (key_len, 4);
    cr_assert_arr_eq (key, "u-42", 4);
    cr_assert (key >= mp.data && key < mp.data + mp.len, "a str member points into the value");
    cr_assert_eq (sl_json_field_key (s_json, mp.data, mp.len, "n", &scratch, &key, &key_len), 1);
    cr_assert_eq (key_len, 2);
    cr_assert_arr_eq (key, "42", 2);
    cr_assert_eq (sl_json_field_key (s_json, mp.data, mp.len, "obj", &scratch, &key, &key_len), 1);
    cr_assert_eq (key_len, strlen ("{\"a\":[1,\"x\"]}"));
    cr_assert_arr_eq (key, "{\"a\":[1,\"x\"]}", key_len);
    cr_assert_eq (sl_json_field_key (s_json, mp.data, mp.len, "nil", &scratch, &key, &key_len), 1);
    cr_assert_arr_eq (key, "null", 4);
    cr_assert_eq (sl_json_field_key (s_json, mp.data, mp.len, "i", &scratch, &key, &key_len), 0,
                  "prefixes do not match");
    cr_assert_eq (sl_json_field_key (s_json, mp.data, mp.len, "missing", &scratch, &key, &key_len),
                  0);
    //  bin members are returned as their bytes; non-str keys are skipped.
    const uint8_t odd[] = {0x82, 0x01, 0xa2, 'i', 'd', 0xa2, 'i', 'd', 0xc4, 0x02, 0x00, 0xff};
    cr_assert_eq (sl_json_field_key (s_json, odd, sizeof odd, "id", &scratch, &key, &key_len), 1);
    cr_assert_eq (key_len, 2);
    cr_assert_arr_eq (key, "\x00\xff", 2);
    //  Not a map; malformed.
    const uint8_t arr[] = {0x91, 0x01};
    cr_assert_eq (sl_json_field_key (s_json, arr, sizeof arr, "id", &scratch, &key, &key_len), 0);
    const uint8_t lie[] = {0x82, 0xa1, 'a', 0xdb, 0xff, 0xff, 0xff, 0xff};
    cr_assert_lt (sl_json_field_key (s_json, lie, sizeof lie, "b", &scratch, &key, &key_len), 0);
    const uint8_t short_map[] = {0x83, 0xa1, 'a', 0x01};
    cr_assert_lt (
        sl_json_field_key (s_json, short_map, sizeof short_map, "b", &scratch, &key, &key_len), 0);
    sl_buf_free (&mp);
    sl_buf_free (&scratch);
}

//  Mutated JSON: the parser never crashes or overreads; whatever it accepts
//  is one well-formed msgpack object whose JSON text parses back to it.
Test (json, mutated_texts_are_safe_and_stable)
{
    const char *seeds[] = {
        "{\"a\":[1,-2.5e3,\"x\\u00e9\\n\",true,null],\"b\":{\"c\":18446744073709551615}}",
        "[\"\\ud83d\\ude00\",0,-0,1e-7,{}]",
        "\"caf\xc3\xa9\"",
    };
    const char alphabet[] = "{}[]\",:\\u0123456789-+.eEtrufalsn \t\n\xc3\xa9\xff";
    sl_buf_t mp, text, mp2;
    sl_buf_init (&mp, 0);
    sl_buf_init (&text, 0);
    sl_buf_init (&mp2, 0);
    srand (4242);
    int accepted = 0;
    for (int round = 0; round < 30000; round++) {
        const char *seed = seeds[round % 3];
        size_t len = strlen (seed);
        char buf[128];
        memcpy (buf, seed, len);
        int edits = 1 + rand () % 3;
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)rand () % len;
            int op = rand () % 3;
            char c = alphabet[(size_t)rand () % (sizeof alphabet - 1)];
            if (op == 0) {
                buf[at] = c;
            }
            else if (op == 1 && len > 1) {
                memmove (buf + at, buf + at + 1, len - at - 1);
                len--;
            }
            else if (len < sizeof buf - 1) {
                memmove (buf + at + 1, buf + at, len - at);
                buf[at] = c;
                len++;
            }
        }
        sl_buf_reset (&mp);
        char why[128];
        int rc = s_to_mp (buf, len, &mp, why, sizeof why);
        if (rc) {
            cr_assert (rc == SL_EJSON || rc == SL_ERANGE || rc == SL_EDEPTH, "rc %d", rc);
            cr_assert_eq (mp.len, 0);
            continue;
        }
        accepted++;
        size_t used;
        cr_assert_eq (sl_mp_skip (mp.data, mp.len, SL_MP_MAX_DEPTH, &used), 0);
        cr_assert_eq (used, mp.len);
        sl_buf_reset (&text);
        cr_assert_eq (sl_msgpack_to_json (s_json, mp.data, mp.len, &text), 0);
        sl_buf_reset (&mp2);
        cr_assert_eq (s_to_mp ((char *)text.data, text.len, &mp2, why, sizeof why), 0, "%.*s: %s",
                      (int)text.len, (char *)text.data, why);
        cr_assert_eq (mp2.len, mp.len);
        cr_assert_arr_eq (mp2.data, mp.data, mp.len);
    }
    cr_assert_gt (accepted, 100, "some mutations must stay valid JSON");
    sl_buf_free (&mp);
    sl_buf_free (&text);
    sl_buf_free (&mp2);
}

//  ---------------------------------------------------------------------
//  Floats against the C library

//  Reads the float64 a one-number JSON text became.
static double
s_parse_double (const char *text)
{
    sl_buf_t mp;
    sl_buf_init (&mp, 0);
    char why[128];
    cr_assert_eq (s_to_mp (text, strlen (text), &mp, why, sizeof why), 0, "%s: %s", text, why);
    cr_assert_eq (mp.len, 9, "%s is a float64", text);
    cr_assert_eq (mp.data[0], 0xcb);
    uint64_t bits = 0;
    for (int i = 1; i < 9; i++) {
        bits = bits << 8 | mp.data[i];
    }
    sl_buf_free (&mp);
    double v;
    memcpy (&v, &bits, sizeof v);
    return v;
}

//  Every float token must read as strtod reads it, bit for bit, whether it
//  takes the exact fast path (<= 15 digits, small exponent) or not.
Test (json, float_parsing_matches_strtod)
{
    srand (99);
    for (int round = 0; round < 50000; round++) {
        char text[80];
        int n = 0;
        if (rand () % 2) {
            text[n++] = '-';
        }
        int int_digits = 1 + rand () % 18;
        for (int i = 0; i < int_digits; i++) {
            text[n++] = (char)('0' + rand () % 10);
        }
        if (text[n - int_digits] == '0') {
            n -= int_digits - 1; //  JSON allows no leading zeros
        }
        bool has_frac = rand () % 4;
        if (has_frac) {
            text[n++] = '.';
            int frac_digits = 1 + rand () % 18;
            for (int i = 0; i < frac_digits; i++) {
                text[n++] = (char)('0' + rand () % 10);
            }
        }
        if (!has_frac || rand () % 2) {
            text[n++] = rand () % 2 ? 'e' : 'E';
            int e = rand () % 60 - 30;
            n += snprintf (text + n, sizeof text - (size_t)n, "%s%d",
                           e >= 0 && rand () % 3 == 0 ? "+" : "", e);
        }
        text[n] = '\0';
        double want = strtod (text, NULL);
        double got = s_parse_double (text);
        cr_assert_eq (memcmp (&got, &want, sizeof got), 0, "%s: %.17g vs strtod %.17g", text, got,
                      want);
    }
}

//  Printing: the text reads back to the same bits, always has '.' or 'e',
//  and is no longer than the shortest %.Ng that reads back.
static void
s_check_print (double v)
{
    sl_buf_t mp, text;
    sl_buf_init (&mp, 0);
    sl_buf_init (&text, 0);
    uint8_t enc[9];
    sl_mp_write_double (enc, sizeof enc, v);
    cr_assert_eq (sl_msgpack_to_json (s_json, enc, sizeof enc, &text), 0);
    sl_buf_append (&text, "", 1);
    const char *s = (const char *)text.data;
    cr_assert (strpbrk (s, ".e"), "%s keeps a float look", s);
    double back = strtod (s, NULL);
    cr_assert_eq (memcmp (&back, &v, sizeof v), 0, "%.17g printed as %s", v, s);
    size_t shortest = 0;
    for (int precision = 1; precision <= 17; precision++) {
        char tmp[40];
        int n = snprintf (tmp, sizeof tmp, "%.*g", precision, v);
        if (strtod (tmp, NULL) == v) {
            shortest = (size_t)n;
            break;
        }
    }
    //  Our text may add ".0"; and "1e-07" style exponents are what %g writes.
    cr_assert_leq (strlen (s), shortest + 2, "%.17g printed as %s", v, s);
    sl_buf_free (&mp);
    sl_buf_free (&text);
}

Test (json, float_printing_round_trips_and_is_short)
{
    srand (31337);
    for (int round = 0; round < 30000; round++) {
        double v;
        if (round % 2) {
            uint64_t bits = (uint64_t)rand () << 62 ^ (uint64_t)rand () << 31 ^ (uint64_t)rand ();
            memcpy (&v, &bits, sizeof v);
            if (!isfinite (v)) {
                continue;
            }
        }
        else {
            //  Decimal-looking values, the fast path's territory.
            static const double pow10[] = {1,   1e1, 1e2, 1e3, 1e4,  1e5,
                                           1e6, 1e7, 1e8, 1e9, 1e10, 1e11};
            v = (double)(rand () % 100000000) / pow10[rand () % 12];
            if (rand () % 2) {
                v = -v;
            }
        }
        s_check_print (v);
    }
    const double edges[] = {0.0,
                            -0.0,
                            1e-4,
                            9.999999999999999e-5,
                            1e15,
                            999999999999999.9,
                            0.1,
                            0.2,
                            0.3,
                            1.0 / 3,
                            2.0 / 3,
                            5e-324,
                            DBL_MIN,
                            DBL_MAX,
                            4503599627370496.5,
                            9007199254740993.0,
                            123456789012345.6};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        s_check_print (edges[i]);
    }
}

//  ---------------------------------------------------------------------
//  Found by tests/fuzz (docs/fuzzing.md): each reproducer is a test.

//  fuzz_json: yajl took \v and \f for white space, so the string check
//  looked at the wrong byte and invalid UTF-8 reached a msgpack str.
Test (json, fuzz_vertical_tab_and_form_feed_are_not_white_space)
{
    EXPECT_FAIL ("\v\"FFFFF)\xdc\\b\\fb\\/\\\\fb\\bf\\bf5\"", SL_EJSON,
                 "unexpected character at column 1");
    EXPECT_FAIL ("\v\"\xdc\\n\"", SL_EJSON, "unexpected character at column 1");
    EXPECT_FAIL ("\f[1]", SL_EJSON, "unexpected character at column 1");
    EXPECT_FAIL ("[1]\v", SL_EJSON, "unexpected character at column 4");
    EXPECT_FAIL ("[1,\f2]", SL_EJSON, "unexpected character at column 4");
    EXPECT_FAIL ("\"a\vb\"", SL_EJSON, "unexpected character at column 3");
    //  The RFC's four white space characters still are.
    s_round_trip (" \t\r\n[1] \t\r\n", "[1]");
    //  And the converter still works after the refusals.
    s_round_trip ("\"\\u000b\\f\"", "\"\\u000b\\f\"");
}

//  fuzz_mp_json: a non-str map key is printed as its JSON text inside a
//  string, so each key nested in a key doubled the escapes: 49 bytes of
//  keys nested 24 deep took 27 s and 320 MB, 30 deep would take gigabytes.
Test (json, fuzz_keys_nested_in_keys_are_bounded, .timeout = 10)
{
    sl_buf_t out;
    sl_buf_init (&out, 0);
    uint8_t data[64];
    for (int depth = 1; depth <= 30; depth++) {
        //  {{{...{nil: nil}...: nil}: nil}: nil}, depth maps each the key of the next.
        size_t n = 0;
        for (int i = 0; i < depth; i++) {
            data[n++] = 0x81;
        }
        data[n++] = 0xc0;
        for (int i = 0; i < depth; i++) {
            data[n++] = 0xc0;
        }
        sl_buf_reset (&out);
        sl_buf_append (&out, "keep", 4);
        int rc = sl_msgpack_to_json (s_json, data, n, &out);
        if (depth <= 4) {
            //  depth non-str keys (the innermost nil is one too), each in
            //  the one before: four levels print.
            cr_assert_eq (rc, 0, "depth %d: %d", depth, rc);
            cr_assert_lt (out.len, 400, "depth %d: %zu bytes", depth, out.len);
        }
        else {
            //  Deeper keys are elided, not an error: the output stays small.
            cr_assert_eq (rc, 0, "depth %d: %d", depth, rc);
            cr_assert_lt (out.len, 400, "depth %d: %zu bytes", depth, out.len);
            cr_assert (memmem (out.data, out.len, "(key nested too deep)", 21), "depth %d: %.*s",
                       depth, (int)out.len, (char *)out.data);
        }
    }
    //  A key that is an array of maps with non-str keys is one level.
    const uint8_t ok[] = {0x81, 0x91, 0x81, 0x01, 0x02, 0x03};
    sl_buf_reset (&out);
    cr_assert_eq (sl_msgpack_to_json (s_json, ok, sizeof ok, &out), 0);
    const char *want = "{\"[{\\\"1\\\":2}]\":3}";
    cr_assert_eq (out.len, strlen (want), "%.*s", (int)out.len, (char *)out.data);
    cr_assert_arr_eq (out.data, want, strlen (want));
    sl_buf_free (&out);
}
