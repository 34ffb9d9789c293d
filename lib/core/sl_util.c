/*  sl_util.c - clocks, parsing of sizes / durations / times, name rules.

    Every parser here is strict: the whole text must be consumed, no
    leading or trailing spaces, no sign where none makes sense, and any
    value that does not fit its type is SL_ERANGE rather than a silent wrap.
    These values come from flags, environment variables and config files,
    where a typo must be reported, not guessed at.
*/
#include "sl_util.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sl_error.h"

void
sl_tune_malloc (void)
{
    //  Blocks up to 4 MiB come from the heap (a FETCH reply may be 16 MiB:
    //  those still get their own mapping), and up to 32 MiB of free heap
    //  stays mapped before glibc gives memory back.
    mallopt (M_MMAP_THRESHOLD, 4 << 20);
    mallopt (M_TRIM_THRESHOLD, 32 << 20);
}

int64_t
sl_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
sl_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  Reads the decimal digits at *p into *out, advancing *p past them.
//  Returns SL_EINVAL when there is no digit, SL_ERANGE on overflow.
static int
s_read_digits (const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t value = 0;
    bool overflow = false;
    if (*s < '0' || *s > '9') {
        return SL_EINVAL;
    }
    while (*s >= '0' && *s <= '9') {
        unsigned digit = (unsigned)(*s - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            overflow = true;
        }
        else {
            value = value * 10 + digit;
        }
        s++;
    }
    *p = s;
    *out = value;
    return overflow ? SL_ERANGE : 0;
}

int
sl_parse_u64 (const char *text, uint64_t *out)
{
    if (!text) {
        return SL_EINVAL;
    }
    const char *p = text;
    uint64_t value;
    int rc = s_read_digits (&p, &value);
    if (rc == SL_EINVAL || *p != '\0') {
        return SL_EINVAL;
    }
    if (rc) {
        return rc;
    }
    *out = value;
    return 0;
}

int
sl_parse_i64 (const char *text, int64_t *out)
{
    if (!text) {
        return SL_EINVAL;
    }
    bool negative = text[0] == '-';
    uint64_t magnitude;
    int rc = sl_parse_u64 (negative ? text + 1 : text, &magnitude);
    if (rc) {
        return rc;
    }
    if (negative) {
        if (magnitude > (uint64_t)INT64_MAX + 1) {
            return SL_ERANGE;
        }
        *out = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
    }
    else {
        if (magnitude > (uint64_t)INT64_MAX) {
            return SL_ERANGE;
        }
        *out = (int64_t)magnitude;
    }
    return 0;
}

//  A unit a number may carry, and what it multiplies the number by.
typedef struct {
    const char *suffix;
    uint64_t scale;
} s_unit_t;

//  Size units are binary multiples whatever their spelling: "k", "K", "KB"
//  and "KiB" all mean 1024, as in most storage tools' flags.
#define S_KIB (1ull << 10)
#define S_MIB (1ull << 20)
#define S_GIB (1ull << 30)
#define S_TIB (1ull << 40)
static const s_unit_t s_size_units[] = {
    {"", 1},        {"b", 1},      {"k", S_KIB},   {"kb", S_KIB},  {"kib", S_KIB},
    {"m", S_MIB},   {"mb", S_MIB}, {"mib", S_MIB}, {"g", S_GIB},   {"gb", S_GIB},
    {"gib", S_GIB}, {"t", S_TIB},  {"tb", S_TIB},  {"tib", S_TIB},
};

//  Durations in milliseconds; a bare number is seconds. Case matters: "m"
//  is a minute.
static const s_unit_t s_duration_units[] = {
    {"", 1000},         {"ms", 1},         {"s", 1000},           {"m", 60 * 1000},
    {"h", 3600 * 1000}, {"d", 86400000LL}, {"w", 7 * 86400000LL},
};

//  A decimal number followed by exactly one of units' suffixes (any case
//  when any_case): the number times the unit's scale, at most max. 0,
//  SL_EINVAL (not such a text) or SL_ERANGE (too large).
static int
s_parse_scaled (const char *text, const s_unit_t *units, size_t n_units, bool any_case,
                uint64_t max, uint64_t *out)
{
    if (!text) {
        return SL_EINVAL;
    }
    const char *p = text;
    uint64_t value;
    int rc = s_read_digits (&p, &value);
    if (rc == SL_EINVAL) {
        return rc;
    }
    for (size_t i = 0; i < n_units; i++) {
        if ((any_case ? strcasecmp (p, units[i].suffix) : strcmp (p, units[i].suffix)) == 0) {
            if (rc) {
                return rc;
            }
            if (value > max / units[i].scale) {
                return SL_ERANGE;
            }
            *out = value * units[i].scale;
            return 0;
        }
    }
    return SL_EINVAL;
}

int
sl_parse_size (const char *text, uint64_t *bytes)
{
    return s_parse_scaled (text, s_size_units, sizeof s_size_units / sizeof s_size_units[0], true,
                           UINT64_MAX, bytes);
}

int
sl_parse_duration_ms (const char *text, int64_t *ms)
{
    uint64_t value;
    int rc = s_parse_scaled (text, s_duration_units,
                             sizeof s_duration_units / sizeof s_duration_units[0], false,
                             (uint64_t)INT64_MAX, &value);
    if (rc == 0) {
        *ms = (int64_t)value;
    }
    return rc;
}

//  Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
//  days_from_civil), valid for every year this code accepts.
static int64_t
s_days_from_civil (int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

//  The inverse of s_days_from_civil.
static void
s_civil_from_days (int64_t z, int64_t *y_out, unsigned *m_out, unsigned *d_out)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    *y_out = y + (m <= 2);
    *m_out = m;
    *d_out = d;
}

static bool
s_leap (int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned
s_days_in_month (int64_t y, unsigned m)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && s_leap (y) ? 29 : days[m - 1];
}

//  Reads exactly n digits at *p. Returns false if there are fewer.
static bool
s_fixed (const char **p, int n, unsigned *out)
{
    unsigned value = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') {
            return false;
        }
        value = value * 10 + (unsigned)(c - '0');
    }
    *p += n;
    *out = value;
    return true;
}

//  Parses "YYYY-MM-DD[Thh:mm[:ss[.fff...]][Z|+hh:mm|-hh:mm|+hhmm|+hh]]".
//  A date-time without a zone is read as UTC (Sluice's logs print UTC).
static int
s_parse_iso (const char *p, int64_t *ms)
{
    unsigned year, month, day, hour = 0, minute = 0, second = 0, millis = 0;
    if (!s_fixed (&p, 4, &year) || *p++ != '-' || !s_fixed (&p, 2, &month) || *p++ != '-' ||
        !s_fixed (&p, 2, &day)) {
        return SL_EINVAL;
    }
    if (month < 1 || month > 12 || day < 1 || day > s_days_in_month (year, month)) {
        return SL_ERANGE;
    }
    int64_t offset_min = 0;
    if (*p == 'T' || *p == 't') {
        p++;
        if (!s_fixed (&p, 2, &hour) || *p++ != ':' || !s_fixed (&p, 2, &minute)) {
            return SL_EINVAL;
        }
        if (*p == ':') {
            p++;
            if (!s_fixed (&p, 2, &second)) {
                return SL_EINVAL;
            }
            if (*p == '.' || *p == ',') {
                p++;
                //  Up to nanoseconds; digits past milliseconds are truncated.
                int digits = 0;
                while (*p >= '0' && *p <= '9') {
                    if (digits < 3) {
                        millis = millis * 10 + (unsigned)(*p - '0');
                    }
                    digits++;
                    p++;
                }
                if (digits == 0 || digits > 9) {
                    return SL_EINVAL;
                }
                for (int i = digits; i < 3; i++) {
                    millis *= 10;
                }
            }
        }
        if (hour > 23 || minute > 59 || second > 59) {
            return SL_ERANGE;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        }
        else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1;
            unsigned oh, om = 0;
            if (!s_fixed (&p, 2, &oh)) {
                return SL_EINVAL;
            }
            if (*p == ':') {
                p++;
                if (!s_fixed (&p, 2, &om)) {
                    return SL_EINVAL;
                }
            }
            else if (*p >= '0' && *p <= '9') {
                if (!s_fixed (&p, 2, &om)) {
                    return SL_EINVAL;
                }
            }
            if (oh > 23 || om > 59) {
                return SL_ERANGE;
            }
            offset_min = sign * (int64_t)(oh * 60 + om);
        }
    }
    if (*p != '\0') {
        return SL_EINVAL;
    }
    int64_t days = s_days_from_civil (year, month, day);
    int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    *ms = seconds * 1000 + millis;
    return 0;
}

int
sl_parse_time_ms (const char *text, int64_t *ms)
{
    if (!text || !*text) {
        return SL_EINVAL;
    }
    //  All digits: epoch milliseconds. A date always has a '-' after 4 digits.
    if (strspn (text, "0123456789") == strlen (text)) {
        return sl_parse_i64 (text, ms);
    }
    return s_parse_iso (text, ms);
}

void
sl_format_time_ms (int64_t ms, char *out, size_t size)
{
    //  Floor division, so that times before 1970 format correctly.
    int64_t secs = ms / 1000;
    int64_t millis = ms % 1000;
    if (millis < 0) {
        millis += 1000;
        secs -= 1;
    }
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t year;
    unsigned month, day;
    s_civil_from_days (days, &year, &month, &day);
    snprintf (out, size, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)year, month, day,
              (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), (int)millis);
}

bool
sl_name_valid (const char *name, size_t len)
{
    if (!name || len == 0 || len > SL_NAME_MAX || name[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

void
sl_default_member (const char *fallback, char *out, size_t size)
{
    char host[256];
    if (gethostname (host, sizeof host - 1) != 0 || !host[0]) {
        snprintf (host, sizeof host, "%s", fallback);
    }
    host[sizeof host - 1] = '\0';
    snprintf (out, size, "%.180s-%d", host, (int)getpid ());
    for (char *c = out; *c; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.';
        if (!ok) {
            *c = '-';
        }
    }
    if (out[0] == '.') {
        out[0] = '-';
    }
}

void
sl_copy_text (char *out, size_t size, const char *text)
{
    size_t n = strnlen (text, size - 1);
    memcpy (out, text, n);
    out[n] = '\0';
}
