/*  sl_json_write.c - msgpack -> JSON text, losslessly, at the edges.

    This is the sink's per-record path, so it walks the msgpack bytes
    (bounded by sl_mp_skip first) and writes JSON text straight into the
    output buffer: no msgpack-c zone, no json-c tree, no allocation except
    for the rare map key that is not a str.
*/
#include "sl_json.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_mp.h"

//  Most appends are a few bytes into a buffer that already has room: do
//  those without a call, and let sl_buf grow (and enforce its limit) else.
static inline int
s_append (sl_buf_t *out, const void *data, size_t size)
{
    if (out->cap - out->len >= size) {
        memcpy (out->data + out->len, data, size);
        out->len += size;
        return 0;
    }
    return sl_buf_append (out, data, size);
}

static inline int
s_append_str (sl_buf_t *out, const char *str)
{
    return s_append (out, str, strlen (str));
}

static int
s_put_u64 (sl_buf_t *out, uint64_t v, bool negative)
{
    char tmp[24];
    size_t n = sizeof tmp;
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (negative) {
        tmp[--n] = '-';
    }
    return s_append (out, tmp + n, sizeof tmp - n);
}

static int
s_put_i64 (sl_buf_t *out, int64_t v)
{
    if (v < 0) {
        return s_put_u64 (out, (uint64_t)0 - (uint64_t)v, true);
    }
    return s_put_u64 (out, (uint64_t)v, false);
}

//  The fast path for the doubles people write: v = m / 10^k with m below
//  10^15 and 1e-4 <= |v| < 1e15. m and 10^k are exact doubles and IEEE
//  division rounds correctly, so when m / 10^k == v the text "m e-k" reads
//  back to v; the smallest such k gives the shortest text, and in this range
//  it is exactly what "%.15g" prints (a decimal of <= 15 digits within half
//  an ulp of v is unique). Writes into out[40]; 0 when v is not such a value.
static int
s_decimal_double (double v, char *out)
{
    static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    double a = v < 0 ? -v : v;
    if (!(a >= 1e-4 && a < 1e15)) {
        return 0;
    }
    int k = 0;
    double m = 0;
    for (; k <= 15; k++) {
        double x = a * pow10[k];
        if (x >= 1e15) {
            return 0;
        }
        m = (double)(uint64_t)(x + 0.5); //  exact: x < 1e15 has ulp <= 1/8
        if (m / pow10[k] == a) {
            break;
        }
    }
    if (k > 15) {
        return 0;
    }
    char digits[24];
    int nd = 0;
    uint64_t u = (uint64_t)m;
    do {
        digits[nd++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (nd <= k) {
        digits[nd++] = '0'; //  0.05: at least one digit before '.'
    }
    int n = 0;
    if (v < 0) {
        out[n++] = '-';
    }
    for (int i = nd - 1; i >= k; i--) {
        out[n++] = digits[i];
    }
    out[n++] = '.';
    if (k == 0) {
        out[n++] = '0';
    }
    for (int i = k - 1; i >= 0; i--) {
        out[n++] = digits[i];
    }
    return n;
}

//  Shortest text that reads back to the same double: %.15g is shortest
//  whenever 15 digits suffice (trailing zeros are dropped), else 16, else
//  17; subnormals have fewer significant bits, so they search from 1 digit.
//  The text always has '.' or 'e' so that a float stays a float.
static int
s_put_double (sl_buf_t *out, double v)
{
    if (isnan (v)) {
        return s_append (out, "null", 4);
    }
    if (isinf (v)) {
        return s_append_str (out, v > 0 ? "1e999" : "-1e999");
    }
    char tmp[40];
    int n = s_decimal_double (v, tmp);
    if (n) {
        return s_append (out, tmp, (size_t)n);
    }
    int first = fpclassify (v) == FP_SUBNORMAL ? 1 : 15;
    for (int precision = first; precision <= 17; precision++) {
        n = snprintf (tmp, sizeof tmp - 2, "%.*g", precision, v);
        if (strtod (tmp, NULL) == v) {
            break;
        }
    }
    if (n < 0 || (size_t)n >= sizeof tmp - 2) {
        return SL_EINVAL;
    }
    if (!strpbrk (tmp, ".e")) {
        tmp[n++] = '.';
        tmp[n++] = '0';
    }
    return s_append (out, tmp, (size_t)n);
}

//  Writes bytes as a JSON string: '"' and '\' escaped, control characters
//  as \u00XX (short forms where JSON has them), non-ASCII UTF-8 kept as it
//  is, '/' not escaped. A byte that is not valid UTF-8 (a str from a peer
//  that is not text) becomes U+FFFD, so the output is always valid JSON.
static int
s_put_string (sl_buf_t *out, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = sl_buf_reserve (out, n + 2);
    if (rc) {
        return rc;
    }
    out->data[out->len++] = '"';
    size_t run = 0; //  start of bytes not yet copied
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        size_t seq = 1;
        if (c >= 0x80) {
            seq = sl_utf8_len (s + i, n - i);
            if (seq) {
                i += seq;
                continue;
            }
        }
        rc = s_append (out, s + run, i - run);
        if (rc) {
            return rc;
        }
        char esc[6];
        size_t esc_len = 2;
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            if (c >= 0x80) {
                memcpy (esc, "\xef\xbf\xbd", 3);
                esc_len = 3;
            }
            else {
                memcpy (esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 0xf];
                esc_len = 6;
            }
            break;
        }
        rc = s_append (out, esc, esc_len);
        if (rc) {
            return rc;
        }
        i++;
        run = i;
    }
    rc = s_append (out, s + run, n - run);
    if (rc) {
        return rc;
    }
    return s_append (out, "\"", 1);
}

static int
s_put_base64 (sl_buf_t *out, const uint8_t *s, size_t n)
{
    static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t need = (n + 2) / 3 * 4 + 2;
    int rc = sl_buf_reserve (out, need);
    if (rc) {
        return rc;
    }
    char *d = (char *)out->data + out->len;
    *d++ = '"';
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *d++ = table[v >> 18];
        *d++ = table[(v >> 12) & 63];
        *d++ = table[(v >> 6) & 63];
        *d++ = table[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        *d++ = table[v >> 18];
        *d++ = table[(v >> 12) & 63];
        *d++ = '=';
        *d++ = '=';
    }
    else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        *d++ = table[v >> 18];
        *d++ = table[(v >> 12) & 63];
        *d++ = table[(v >> 6) & 63];
        *d++ = '=';
    }
    *d++ = '"';
    out->len = (size_t)((uint8_t *)d - out->data);
    return 0;
}

//  One print's walk: the end of the bounded bytes (every read is checked
//  against it), and how deep the key being rendered is nested in keys.
//  Passed down rather than kept in thread-locals, which cost a call each
//  in position-independent code.
typedef struct {
    const uint8_t *end;
    unsigned key_nest;
} s_walk_t;

static int s_emit (s_walk_t *w, const uint8_t **p, sl_buf_t *out);
static int s_emit_container (s_walk_t *w, const uint8_t **p, sl_buf_t *out, uint32_t n, bool map);

//  Non-str map keys nested inside non-str map keys, at most. Each such
//  level is escaped once more inside the next, which doubles its quotes
//  and backslashes: 50 bytes of keys nested 24 deep printed gigabytes
//  (found by tests/fuzz/fuzz_mp_json). 4 levels bound that to 16 times.
#define S_KEY_NEST 4

//  A map key that is not a str is written as its own JSON text, as a
//  string: the key 1 becomes "1", the key [1,2] becomes "[1,2]". A key
//  nested in keys more than S_KEY_NEST deep is written as S_KEY_ELIDED:
//  such a value is valid msgpack and the broker keeps it intact, so one
//  record of it must not stop a sink; JSON cannot show it anyway.
#define S_KEY_ELIDED "(key nested too deep)"

static int
s_emit_key (s_walk_t *w, const uint8_t **p, sl_buf_t *out)
{
    const uint8_t *q = *p;
    sluice_mp_obj_t o;
    if (sluice_mp_next (&q, w->end, &o) == 0 && o.type == SLUICE_MP_STR) {
        *p = q;
        return s_put_string (out, o.data, o.size);
    }
    if (w->key_nest >= S_KEY_NEST) {
        //  Bounded already by sl_mp_skip over the whole value, so walking
        //  it again cannot leave the buffer.
        size_t used = 0;
        int rc = sl_mp_skip (*p, (size_t)(w->end - *p), SL_MP_DEPTH_LIMIT, &used);
        if (rc) {
            return rc;
        }
        *p += used;
        return s_put_string (out, (const uint8_t *)S_KEY_ELIDED, strlen (S_KEY_ELIDED));
    }
    sl_buf_t text;
    sl_buf_init (&text, out->limit);
    w->key_nest++;
    int rc = s_emit (w, p, &text);
    w->key_nest--;
    if (rc == 0) {
        rc = s_put_string (out, text.data, text.len);
    }
    sl_buf_free (&text);
    return rc;
}

//  Writes the JSON text of the object at *p and advances past it. The
//  bytes were bounded by sl_mp_skip just before, so lengths and nesting
//  are known to fit: recursion is at most SL_MP_DEPTH_LIMIT deep.
static int
s_emit (s_walk_t *w, const uint8_t **p, sl_buf_t *out)
{
    sluice_mp_obj_t o;
    int rc = sluice_mp_next (p, w->end, &o);
    if (rc) {
        return rc; //  the walk has already refused what this would
    }
    switch (o.type) {
    case SLUICE_MP_NIL:
        return s_append (out, "null", 4);
    case SLUICE_MP_BOOL:
        return o.v.b ? s_append (out, "true", 4) : s_append (out, "false", 5);
    case SLUICE_MP_UINT:
        return s_put_u64 (out, o.v.u, false);
    case SLUICE_MP_INT:
        return s_put_i64 (out, o.v.i);
    case SLUICE_MP_FLOAT:
        return s_put_double (out, o.v.f);
    case SLUICE_MP_STR:
        return s_put_string (out, o.data, o.size);
    case SLUICE_MP_BIN:
        rc = s_append_str (out, "{\"$bin\":");
        if (rc == 0) {
            rc = s_put_base64 (out, o.data, o.size);
        }
        return rc ? rc : s_append (out, "}", 1);
    case SLUICE_MP_EXT:
        rc = s_append_str (out, "{\"$ext\":");
        if (rc == 0) {
            rc = s_put_i64 (out, o.ext);
        }
        if (rc == 0) {
            rc = s_append_str (out, ",\"data\":");
        }
        if (rc == 0) {
            rc = s_put_base64 (out, o.data, o.size);
        }
        return rc ? rc : s_append (out, "}", 1);
    case SLUICE_MP_ARRAY:
    case SLUICE_MP_MAP:
        return s_emit_container (w, p, out, o.count, o.type == SLUICE_MP_MAP);
    default:
        return SL_EPROTO;
    }
}

//  Writes the n elements (pairs for a map) that follow a container header.
static int
s_emit_container (s_walk_t *w, const uint8_t **p, sl_buf_t *out, uint32_t n, bool map)
{
    int rc = s_append (out, map ? "{" : "[", 1);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        if (i) {
            rc = s_append (out, ",", 1);
        }
        if (rc == 0 && map) {
            rc = s_emit_key (w, p, out);
            if (rc == 0) {
                rc = s_append (out, ":", 1);
            }
        }
        if (rc == 0) {
            rc = s_emit (w, p, out);
        }
    }
    return rc ? rc : s_append (out, map ? "}" : "]", 1);
}

//  Prints one object that sl_mp_skip has bounded to [*p, end).
static int
s_emit_top (const uint8_t **p, const uint8_t *end, sl_buf_t *out)
{
    s_walk_t w = {end, 0};
    return s_emit (&w, p, out);
}

int
sl_msgpack_to_json (sl_json_t *self, const uint8_t *data, size_t len, sl_buf_t *out)
{
    assert (self);
    assert (out);
    size_t used;
    int rc = sl_mp_skip (data, len, SL_MP_DEPTH_LIMIT, &used);
    if (rc) {
        return rc;
    }
    if (used != len) {
        return SL_EPROTO;
    }
    size_t start = out->len;
    const uint8_t *p = data;
    rc = s_emit_top (&p, data + len, out);
    if (rc) {
        out->len = start;
    }
    return rc;
}

//  The sink's per-record path: the envelope is written by hand and the
//  value straight from its bytes.
int
sl_record_to_json (sl_json_t *self, const sl_record_t *record, sl_buf_t *out)
{
    assert (self);
    assert (record);
    assert (out);
    size_t start = out->len;
    size_t used;
    int rc = sl_mp_skip (record->value, record->value_len, SL_MP_DEPTH_LIMIT, &used);
    if (rc == 0 && used != record->value_len) {
        rc = SL_EPROTO;
    }
    if (rc == 0 && record->headers) {
        rc = sl_mp_skip (record->headers, record->headers_len, 1, &used);
        if (rc == 0) {
            const uint8_t *p = record->headers;
            sluice_mp_obj_t o;
            sluice_mp_next (&p, record->headers + record->headers_len, &o);
            if (used != record->headers_len || o.type != SLUICE_MP_MAP) {
                rc = SL_EPROTO;
            }
        }
    }
    if (rc) {
        return rc;
    }
    rc = s_append_str (out, "{\"offset\":");
    if (rc == 0) {
        rc = s_put_u64 (out, record->offset, false);
    }
    if (rc == 0) {
        rc = s_append_str (out, ",\"timestamp\":");
    }
    if (rc == 0) {
        rc = s_put_i64 (out, record->timestamp);
    }
    if (rc == 0) {
        rc = s_append_str (out, ",\"key\":");
    }
    if (rc == 0) {
        if (!record->key) {
            rc = s_append (out, "null", 4);
        }
        else if (record->key_is_bin) {
            rc = s_append_str (out, "{\"$bin\":");
            if (rc == 0) {
                rc = s_put_base64 (out, record->key, record->key_len);
            }
            if (rc == 0) {
                rc = s_append (out, "}", 1);
            }
        }
        else {
            rc = s_put_string (out, record->key, record->key_len);
        }
    }
    if (rc == 0 && record->headers) {
        rc = s_append_str (out, ",\"headers\":");
        if (rc == 0) {
            const uint8_t *p = record->headers;
            rc = s_emit_top (&p, record->headers + record->headers_len, out);
        }
    }
    if (rc == 0) {
        rc = s_append_str (out, ",\"value\":");
    }
    if (rc == 0) {
        const uint8_t *p = record->value;
        rc = s_emit_top (&p, record->value + record->value_len, out);
    }
    if (rc == 0) {
        rc = s_append (out, "}", 1);
    }
    if (rc) {
        out->len = start;
    }
    return rc;
}

//  Finds a routing key inside a value without unpacking it: only the map's
//  keys are looked at, every other member is stepped over by the walker.
int
sl_json_field_key (sl_json_t *self, const uint8_t *value, size_t len, const char *field,
                   sl_buf_t *scratch, const uint8_t **key, uint32_t *key_len)
{
    assert (self);
    assert (field);
    assert (scratch);
    const uint8_t *member = NULL;
    size_t member_len = 0;
    int rc = sluice_mp_map_find (value, len, field, strlen (field), false, &member, &member_len);
    if (rc <= 0) {
        return rc;
    }
    const uint8_t *p = member;
    if (sl_mp_read_bytes (&p, member + member_len, key, key_len) == 0) {
        return 1;
    }
    sl_buf_reset (scratch);
    p = member;
    rc = s_emit_top (&p, member + member_len, scratch);
    if (rc) {
        return rc;
    }
    if (scratch->len > UINT32_MAX) {
        return SL_ETOOBIG;
    }
    *key = scratch->data;
    *key_len = (uint32_t)scratch->len;
    return 1;
}

//  ---------------------------------------------------------------------
//  The pieces, for programs that write JSON documents of their own (the
//  sink's stream list, the verifier's report): the same escaping and
//  number forms as the records.

int
sl_json_put_string (sl_buf_t *out, const void *text, size_t len)
{
    return s_put_string (out, (const uint8_t *)text, len);
}

int
sl_json_put_uint (sl_buf_t *out, uint64_t value)
{
    return s_put_u64 (out, value, false);
}

int
sl_json_put_int (sl_buf_t *out, int64_t value)
{
    return s_put_i64 (out, value);
}

int
sl_json_put_bool (sl_buf_t *out, bool value)
{
    return value ? s_append (out, "true", 4) : s_append (out, "false", 5);
}

int
sl_json_put_name (sl_buf_t *out, bool first, const char *name)
{
    int rc = first ? 0 : s_append (out, ",", 1);
    rc = rc ? rc : s_put_string (out, (const uint8_t *)name, strlen (name));
    return rc ? rc : s_append (out, ":", 1);
}
