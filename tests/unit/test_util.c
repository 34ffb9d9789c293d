/*  test_util.c - clocks, strict number / size / duration / time parsing, names.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sl_error.h"
#include "sl_util.h"

Test (util, wall_clock_is_near_time)
{
    int64_t now = sl_now_ms ();
    int64_t sys = (int64_t)time (NULL) * 1000;
    cr_assert (now > sys - 2000 && now < sys + 2000, "now=%lld sys=%lld", (long long)now,
               (long long)sys);
}

//  The monotonic clock counts milliseconds of elapsed time: it moves by at
//  least a sleep's length across the sleep, and it is not the wall clock
//  (which is some 1.7e12 ms since 1970; the monotonic clock starts near boot).
Test (util, monotonic_clock_counts_elapsed_milliseconds)
{
    int64_t before = sl_mono_ms ();
    struct timespec nap = {0, 50 * 1000000};
    while (nanosleep (&nap, &nap) != 0) {
    }
    int64_t after = sl_mono_ms ();
    cr_assert_geq (after - before, 50, "slept 50 ms, the clock moved %lld ms",
                   (long long)(after - before));
    cr_assert_lt (after - before, 60000, "the clock jumped %lld ms", (long long)(after - before));
    cr_assert (llabs (after - sl_now_ms ()) > 1000000, "the monotonic clock is the wall clock");
}

Test (util, parse_u64_accepts_whole_decimal)
{
    uint64_t v = 1;
    cr_assert_eq (sl_parse_u64 ("0", &v), 0);
    cr_assert_eq (v, 0);
    cr_assert_eq (sl_parse_u64 ("123", &v), 0);
    cr_assert_eq (v, 123);
    cr_assert_eq (sl_parse_u64 ("18446744073709551615", &v), 0);
    cr_assert_eq (v, UINT64_MAX);
}

Test (util, parse_u64_rejects_everything_else)
{
    uint64_t v = 7;
    const char *bad[] = {"", " 1", "1 ", "+1", "-1", "1x", "0x10", "1.0", "1e3", "abc", "1_000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq (sl_parse_u64 (bad[i], &v), SL_EINVAL, "'%s'", bad[i]);
    }
    cr_assert_eq (sl_parse_u64 (NULL, &v), SL_EINVAL);
    cr_assert_eq (sl_parse_u64 ("18446744073709551616", &v), SL_ERANGE);
    cr_assert_eq (sl_parse_u64 ("99999999999999999999999999", &v), SL_ERANGE);
    cr_assert_eq (v, 7, "output untouched on failure");
}

Test (util, parse_i64_bounds_and_sign)
{
    int64_t v = 0;
    cr_assert_eq (sl_parse_i64 ("-42", &v), 0);
    cr_assert_eq (v, -42);
    cr_assert_eq (sl_parse_i64 ("9223372036854775807", &v), 0);
    cr_assert_eq (v, INT64_MAX);
    cr_assert_eq (sl_parse_i64 ("-9223372036854775808", &v), 0);
    cr_assert_eq (v, INT64_MIN);
    cr_assert_eq (sl_parse_i64 ("9223372036854775808", &v), SL_ERANGE);
    cr_assert_eq (sl_parse_i64 ("-9223372036854775809", &v), SL_ERANGE);
    cr_assert_eq (sl_parse_i64 ("-", &v), SL_EINVAL);
    cr_assert_eq (sl_parse_i64 ("--1", &v), SL_EINVAL);
    cr_assert_eq (sl_parse_i64 ("+1", &v), SL_EINVAL);
    cr_assert_eq (sl_parse_i64 ("", &v), SL_EINVAL);
}

Test (util, parse_size_units)
{
    struct {
        const char *text;
        uint64_t bytes;
    } ok[] = {
        {"512", 512},         {"0", 0},
        {"512B", 512},        {"64k", 64 << 10},
        {"64K", 64 << 10},    {"64KB", 64 << 10},
        {"64KiB", 64 << 10},  {"16M", 16u << 20},
        {"16MiB", 16u << 20}, {"2G", 2ull << 30},
        {"2GiB", 2ull << 30}, {"1T", 1ull << 40},
        {"1TiB", 1ull << 40}, {"16777215T", 16777215ull << 40},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t bytes = 0;
        cr_assert_eq (sl_parse_size (ok[i].text, &bytes), 0, "'%s'", ok[i].text);
        cr_assert_eq (bytes, ok[i].bytes, "'%s'", ok[i].text);
    }
}

Test (util, parse_size_rejects_bad_and_huge)
{
    uint64_t bytes = 9;
    const char *bad[] = {"", "k", "1.5G", "12 M", "-1", "1P", "1Kb2", "1KiBB", "M1", " 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq (sl_parse_size (bad[i], &bytes), SL_EINVAL, "'%s'", bad[i]);
    }
    cr_assert_eq (sl_parse_size ("16777216T", &bytes), SL_ERANGE);
    cr_assert_eq (sl_parse_size ("99999999999999999999", &bytes), SL_ERANGE);
    cr_assert_eq (sl_parse_size ("99999999999999999999x", &bytes), SL_EINVAL);
    cr_assert_eq (bytes, 9);
}

Test (util, parse_duration_units)
{
    struct {
        const char *text;
        int64_t ms;
    } ok[] = {
        {"500ms", 500},    {"30s", 30000}, {"15m", 900000}, {"2h", 7200000}, {"7d", 604800000},
        {"1w", 604800000}, {"45", 45000},  {"0", 0},        {"0ms", 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        cr_assert_eq (sl_parse_duration_ms (ok[i].text, &ms), 0, "'%s'", ok[i].text);
        cr_assert_eq (ms, ok[i].ms, "'%s'", ok[i].text);
    }
}

Test (util, parse_duration_rejects_bad_and_huge)
{
    int64_t ms = 3;
    const char *bad[] = {"", "s", "-1s", "1.5h", "1 s", "1S", "1y", "1hm", "ms", "1sec"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq (sl_parse_duration_ms (bad[i], &ms), SL_EINVAL, "'%s'", bad[i]);
    }
    cr_assert_eq (sl_parse_duration_ms ("9223372036854775807ms", &ms), 0);
    cr_assert_eq (ms, INT64_MAX);
    cr_assert_eq (sl_parse_duration_ms ("9223372036854775808ms", &ms), SL_ERANGE);
    cr_assert_eq (sl_parse_duration_ms ("15250284452472w", &ms), SL_ERANGE);
    cr_assert_eq (sl_parse_duration_ms ("9223372036854776s", &ms), SL_ERANGE);
}

Test (util, parse_time_iso_forms)
{
    struct {
        const char *text;
        int64_t ms;
    } ok[] = {
        {"2026-11-26T12:00:00Z", 1795694400000},
        {"2026-11-26t12:00:00z", 1795694400000},
        {"2026-11-26T12:00:00", 1795694400000},
        {"2026-11-26T12:00Z", 1795694400000},
        {"2026-11-26T12:00:00.250Z", 1795694400250},
        {"2026-11-26T12:00:00.25Z", 1795694400250},
        {"2026-11-26T12:00:00.2Z", 1795694400200},
        {"2026-11-26T12:00:00.123456789Z", 1795694400123},
        {"2026-11-26T12:00:00.250+01:00", 1795690800250},
        {"2026-11-26T12:00:00+0100", 1795690800000},
        {"2026-11-26T12:00:00+01", 1795690800000},
        {"2026-11-26T12:00:00-05:30", 1795694400000 + 5 * 3600000 + 1800000},
        {"2026-11-26", 1795651200000},
        {"2000-02-29T23:59:59Z", 951868799000},
        {"1969-12-31T23:59:59Z", -1000},
        {"1900-01-01", -2208988800000},
        {"9999-12-31T23:59:59.999Z", 253402300799999},
        {"1970-01-01T00:00:00Z", 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = 42;
        cr_assert_eq (sl_parse_time_ms (ok[i].text, &ms), 0, "'%s'", ok[i].text);
        cr_assert_eq (ms, ok[i].ms, "'%s': %lld", ok[i].text, (long long)ms);
    }
}

Test (util, parse_time_epoch_ms)
{
    int64_t ms = 0;
    cr_assert_eq (sl_parse_time_ms ("1795000000000", &ms), 0);
    cr_assert_eq (ms, 1795000000000);
    //  Digits alone are epoch ms, even when they look like a year.
    cr_assert_eq (sl_parse_time_ms ("2026", &ms), 0);
    cr_assert_eq (ms, 2026);
    cr_assert_eq (sl_parse_time_ms ("0", &ms), 0);
    cr_assert_eq (ms, 0);
    cr_assert_eq (sl_parse_time_ms ("9223372036854775808", &ms), SL_ERANGE);
}

Test (util, parse_time_rejects_bad)
{
    int64_t ms = 5;
    const char *bad[] = {"",
                         "2026-11",
                         "26-11-2026",
                         "2026-1-26",
                         "2026-11-26T",
                         "2026-11-26T12",
                         "2026-11-26T12:00:00.Z",
                         "2026-11-26T12:00:00.1234567890Z",
                         "2026-11-26T12:00:00ZZ",
                         "2026-11-26T12:00:00+1",
                         "2026-11-26T12:00:00+01:0",
                         "2026-11-26 x",
                         "2026-11-26T12:00:00 Z",
                         "now",
                         "-5",
                         " 2026-11-26"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq (sl_parse_time_ms (bad[i], &ms), SL_EINVAL, "'%s'", bad[i]);
    }
    const char *range[] = {"2026-13-01",           "2026-00-10",
                           "2026-02-29",           "2026-04-31",
                           "2026-11-26T24:00:00Z", "2026-11-26T12:60:00Z",
                           "2026-11-26T12:00:60Z", "2026-11-26T12:00:00+24:00"};
    for (size_t i = 0; i < sizeof range / sizeof range[0]; i++) {
        cr_assert_eq (sl_parse_time_ms (range[i], &ms), SL_ERANGE, "'%s'", range[i]);
    }
    cr_assert_eq (ms, 5);
}

Test (util, format_time_round_trips)
{
    char out[32];
    sl_format_time_ms (1795694400250, out, sizeof out);
    cr_assert_str_eq (out, "2026-11-26T12:00:00.250Z");
    sl_format_time_ms (0, out, sizeof out);
    cr_assert_str_eq (out, "1970-01-01T00:00:00.000Z");
    sl_format_time_ms (-1, out, sizeof out);
    cr_assert_str_eq (out, "1969-12-31T23:59:59.999Z");
    sl_format_time_ms (951868799000, out, sizeof out);
    cr_assert_str_eq (out, "2000-02-29T23:59:59.000Z");
    //  Every formatted time parses back to itself.
    int64_t samples[] = {1, 999, 1000, 86399999, 1795694400250, 253402300799999, -2208988800000};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        int64_t back = 0;
        sl_format_time_ms (samples[i], out, sizeof out);
        cr_assert_eq (sl_parse_time_ms (out, &back), 0, "%s", out);
        cr_assert_eq (back, samples[i], "%s", out);
    }
}

Test (util, format_time_truncates_safely)
{
    char small[8];
    memset (small, 'x', sizeof small);
    sl_format_time_ms (1795694400250, small, sizeof small);
    cr_assert_str_eq (small, "2026-11");
    char out[32];
    sl_format_time_ms (INT64_MIN, out, sizeof out);
    cr_assert_lt (strlen (out), sizeof out);
    sl_format_time_ms (INT64_MAX, out, sizeof out);
    cr_assert_lt (strlen (out), sizeof out);
}

Test (util, name_rules)
{
    cr_assert (sl_name_valid ("orders", 6));
    cr_assert (sl_name_valid ("a", 1));
    cr_assert (sl_name_valid ("A-z_0.9", 7));
    cr_assert (sl_name_valid ("orders.v2", 9));
    cr_assert_not (sl_name_valid ("", 0));
    cr_assert_not (sl_name_valid (NULL, 3));
    cr_assert_not (sl_name_valid (".hidden", 7));
    cr_assert_not (sl_name_valid ("a b", 3));
    cr_assert_not (sl_name_valid ("a/b", 3));
    cr_assert_not (sl_name_valid ("a\0b", 3));
    cr_assert_not (sl_name_valid ("caf\xc3\xa9", 5));
    cr_assert_not (sl_name_valid ("x:y", 3));
    char name[SL_NAME_MAX + 2];
    memset (name, 'n', sizeof name);
    cr_assert (sl_name_valid (name, SL_NAME_MAX));
    cr_assert_not (sl_name_valid (name, SL_NAME_MAX + 1));
    //  The length given is what is checked, not the C string.
    cr_assert (sl_name_valid ("ordersXYZ", 6));
}

Test (util, default_member_is_a_valid_name_ending_in_the_pid)
{
    char name[SL_NAME_MAX + 1];
    sl_default_member ("worker", name, sizeof name);
    cr_assert (sl_name_valid (name, strlen (name)), "'%s'", name);
    char pid[32];
    snprintf (pid, sizeof pid, "-%d", (int)getpid ());
    size_t n = strlen (name), p = strlen (pid);
    cr_assert (n > p && strcmp (name + n - p, pid) == 0, "'%s' ends in %s", name, pid);
    //  A buffer too small for the host still gets a terminated name.
    char tiny[4];
    sl_default_member ("worker", tiny, sizeof tiny);
    cr_assert_eq (strlen (tiny), 3);
}

Test (util, copy_text_cuts_to_the_field_and_terminates)
{
    char field[8];
    memset (field, 'x', sizeof field);
    sl_copy_text (field, sizeof field, "short");
    cr_assert_str_eq (field, "short");
    sl_copy_text (field, sizeof field, "a text longer than the field");
    cr_assert_str_eq (field, "a text ");
    char one[1] = {'x'};
    sl_copy_text (one, sizeof one, "anything");
    cr_assert_eq (one[0], '\0');
}
