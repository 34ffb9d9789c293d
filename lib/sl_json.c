/*  sl_json.c - JSON text -> msgpack, losslessly, at the edges (the other
    direction is in sl_json_write.c).

    This is a strict RFC 8259 parser that writes msgpack straight
    into the output buffer, one pass, no tree, no recursion. It is not built
    on json-c's tokener because json-c 0.16, even with JSON_TOKENER_STRICT |
    JSON_TOKENER_VALIDATE_UTF8, loses or invents data the contract forbids:
    it clamps integers outside 64 bits to INT64_MIN / UINT64_MAX, truncates
    object keys at \u0000, turns lone surrogates into U+FFFD, accepts NaN,
    Infinity, "1." and raw control characters in strings, lets overlong and
    surrogate UTF-8 through, and keeps only the last of duplicate keys.
    Containers are written with a 5-byte header placeholder that is shrunk
    to the smallest encoding when the container closes.
*/
#include "sl_json.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_mp.h"

//  An open container while parsing: where its header placeholder sits and
//  how many elements (pairs for an object) it has so far.
typedef struct {
    size_t head;
    uint32_t count;
    bool object;
} s_frame_t;

struct _sl_json_t {
    sl_buf_t scratch;                   //  long number tokens
    s_frame_t stack[SL_MP_MAX_DEPTH];
};

#define S_PLACEHOLDER 5                 //  array32 / map32 header size

sl_json_t *
sl_json_new (void)
{
    sl_json_t *self = (sl_json_t *) calloc (1, sizeof (sl_json_t));
    if (!self) {
        return NULL;
    }
    sl_buf_init (&self->scratch, 0);
    return self;
}

void
sl_json_destroy (sl_json_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sl_json_t *self = *self_p;
        sl_buf_free (&self->scratch);
        free (self);
        *self_p = NULL;
    }
}

//  ---------------------------------------------------------------------
//  UTF-8

//  RFC 3629 exactly: the checks json-c leaves out (overlong forms,
//  surrogates, code points above U+10FFFF) are the ones that matter here.
size_t
sl_utf8_len (const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80) {
            return 0;
        }
        if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f)) {
            return 0;
        }
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80
            || (p[3] & 0xc0) != 0x80) {
            return 0;
        }
        if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f)) {
            return 0;
        }
        return 4;
    }
    return 0;
}

static size_t
s_utf8_put (uint8_t *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (uint8_t) cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t) (0xc0 | cp >> 6);
        out[1] = (uint8_t) (0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t) (0xe0 | cp >> 12);
        out[1] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
        out[2] = (uint8_t) (0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t) (0xf0 | cp >> 18);
    out[1] = (uint8_t) (0x80 | ((cp >> 12) & 0x3f));
    out[2] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
    out[3] = (uint8_t) (0x80 | (cp & 0x3f));
    return 4;
}

//  ---------------------------------------------------------------------
//  JSON -> msgpack

typedef struct {
    sl_json_t *self;
    const uint8_t *text;
    size_t len;
    size_t pos;
    sl_buf_t *out;
    char *why;
    size_t why_size;
} s_parser_t;

//  Records a reason naming the position of the fault (1-based column, and
//  the line when the text has several) and returns rc.
static int
s_fail (s_parser_t *ps, int rc, size_t at, const char *what)
{
    if (!ps->why || ps->why_size == 0) {
        return rc;
    }
    if (at == SIZE_MAX) {
        snprintf (ps->why, ps->why_size, "%s", what);
        return rc;
    }
    size_t line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < at && i < ps->len; i++) {
        if (ps->text[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    }
    if (line > 1) {
        snprintf (ps->why, ps->why_size, "%s at line %zu column %zu", what, line,
                  at - line_start + 1);
    }
    else {
        snprintf (ps->why, ps->why_size, "%s at column %zu", what, at + 1);
    }
    return rc;
}

static int
s_fail_out (s_parser_t *ps, int rc)
{
    return s_fail (ps, rc, SIZE_MAX,
                   rc == SL_ETOOBIG ? "msgpack output exceeds its limit" : "out of memory");
}

static inline void
s_skip_ws (s_parser_t *ps)
{
    while (ps->pos < ps->len) {
        uint8_t c = ps->text[ps->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            break;
        }
        ps->pos++;
    }
}

static int
s_fail_here (s_parser_t *ps, const char *what)
{
    if (ps->pos >= ps->len) {
        return s_fail (ps, SL_EJSON, SIZE_MAX, "unexpected end of input");
    }
    return s_fail (ps, SL_EJSON, ps->pos, what);
}

static int
s_hex4 (const uint8_t *p, uint32_t *value)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (uint32_t) (c - '0');
        }
        else
        if (c >= 'a' && c <= 'f') {
            v |= (uint32_t) (c - 'a' + 10);
        }
        else
        if (c >= 'A' && c <= 'F') {
            v |= (uint32_t) (c - 'A' + 10);
        }
        else {
            return -1;
        }
    }
    *value = v;
    return 0;
}

static size_t
s_str_head_size (size_t n)
{
    return n <= 31 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
}

//  Decodes the escapes of text[from..to) into dst; returns the decoded
//  length, or fails with the position of the bad escape.
static int
s_unescape (s_parser_t *ps, size_t from, size_t to, uint8_t *dst, size_t *dst_len)
{
    const uint8_t *t = ps->text;
    size_t n = 0;
    size_t i = from;
    while (i < to) {
        uint8_t c = t[i];
        if (c != '\\') {
            dst[n++] = c;
            i++;
            continue;
        }
        if (i + 1 >= to) {
            return s_fail (ps, SL_EJSON, i, "invalid escape");
        }
        uint8_t e = t[i + 1];
        uint8_t simple = 0;
        switch (e) {
            case '"': simple = '"'; break;
            case '\\': simple = '\\'; break;
            case '/': simple = '/'; break;
            case 'b': simple = '\b'; break;
            case 'f': simple = '\f'; break;
            case 'n': simple = '\n'; break;
            case 'r': simple = '\r'; break;
            case 't': simple = '\t'; break;
            case 'u': break;
            default: return s_fail (ps, SL_EJSON, i, "invalid escape");
        }
        if (simple) {
            dst[n++] = simple;
            i += 2;
            continue;
        }
        uint32_t cp;
        if (i + 6 > to || s_hex4 (t + i + 2, &cp)) {
            return s_fail (ps, SL_EJSON, i, "invalid \\u escape");
        }
        if (cp >= 0xdc00 && cp <= 0xdfff) {
            return s_fail (ps, SL_EJSON, i, "lone low surrogate");
        }
        if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t low;
            if (i + 12 > to || t[i + 6] != '\\' || t[i + 7] != 'u' || s_hex4 (t + i + 8, &low)
                || low < 0xdc00 || low > 0xdfff) {
                return s_fail (ps, SL_EJSON, i, "lone high surrogate");
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            i += 6;
        }
        n += s_utf8_put (dst + n, cp);
        i += 6;
    }
    *dst_len = n;
    return 0;
}

//  Parses the string at ps->pos (on its opening quote) into a msgpack str.
//  The first scan finds the end and checks UTF-8 and control characters;
//  strings without escapes (nearly all) are then copied in one memcpy.
static int
s_parse_string (s_parser_t *ps)
{
    const uint8_t *t = ps->text;
    size_t len = ps->len;
    size_t from = ps->pos + 1;
    size_t i = from;
    bool escapes = false;
    while (true) {
        if (i >= len) {
            return s_fail (ps, SL_EJSON, ps->pos, "unterminated string");
        }
        uint8_t c = t[i];
        if (c == '"') {
            break;
        }
        if (c == '\\') {
            escapes = true;
            i += 2;
            continue;
        }
        if (c < 0x20) {
            return s_fail (ps, SL_EJSON, i, "control character in string");
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n = sl_utf8_len (t + i, len - i);
        if (!n) {
            return s_fail (ps, SL_EJSON, i, "invalid UTF-8");
        }
        i += n;
    }
    size_t raw = i - from;
    if (raw > UINT32_MAX) {
        return s_fail (ps, SL_ETOOBIG, ps->pos, "string longer than 4 GiB");
    }
    size_t head = s_str_head_size (raw);
    int rc = sl_buf_reserve (ps->out, head + raw);
    if (rc) {
        return s_fail_out (ps, rc);
    }
    uint8_t *dst = ps->out->data + ps->out->len;
    if (!escapes) {
        sl_mp_write_str_header (dst, head, (uint32_t) raw);
        memcpy (dst + head, t + from, raw);
        ps->out->len += head + raw;
    }
    else {
        //  Decoded text is never longer than its escaped form, so it fits
        //  behind a header sized for raw; shrink the header afterwards.
        size_t n = 0;
        rc = s_unescape (ps, from, i, dst + head, &n);
        if (rc) {
            return rc;
        }
        size_t real = s_str_head_size (n);
        if (real < head) {
            memmove (dst + real, dst + head, n);
        }
        sl_mp_write_str_header (dst, real, (uint32_t) n);
        ps->out->len += real + n;
    }
    ps->pos = i + 1;
    return 0;
}

static inline bool
s_is_digit (uint8_t c)
{
    return c >= '0' && c <= '9';
}

//  Clinger's fast path for a float token already checked against the JSON
//  grammar: with at most 15 significant digits the mantissa m is an exact
//  double, and so is 10^e for |e| <= 22, so the single IEEE multiply or
//  divide is correctly rounded, which is what strtod returns. False when
//  the token is outside that range (strtod then does the work).
static bool
s_fast_double (const uint8_t *t, size_t n, double *value)
{
    static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
                                    1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
                                    1e20, 1e21, 1e22 };
    size_t i = 0;
    bool negative = t[0] == '-';
    if (negative) {
        i++;
    }
    uint64_t m = 0;
    int digits = 0;                 //  significant digits taken into m
    int scale = 0;                  //  digits after the point
    bool point = false;
    for (; i < n && t[i] != 'e' && t[i] != 'E'; i++) {
        if (t[i] == '.') {
            point = true;
            continue;
        }
        if (m == 0 && t[i] == '0') {
            scale += point;         //  leading zeros are not significant
            continue;
        }
        if (++digits > 15) {
            return false;
        }
        m = m * 10 + (uint64_t) (t[i] - '0');
        scale += point;
    }
    int exp10 = 0;
    if (i < n) {
        i++;
        bool exp_negative = t[i] == '-';
        if (t[i] == '-' || t[i] == '+') {
            i++;
        }
        for (; i < n; i++) {
            if (exp10 > 1000) {
                return false;
            }
            exp10 = exp10 * 10 + (t[i] - '0');
        }
        if (exp_negative) {
            exp10 = -exp10;
        }
    }
    exp10 -= scale;
    if (exp10 < -22 || exp10 > 22) {
        return false;
    }
    double v = (double) m;
    v = exp10 < 0 ? v / pow10[-exp10] : v * pow10[exp10];
    *value = negative ? -v : v;
    return true;
}

//  strtod needs a terminated copy; the input need not be terminated.
static int
s_strtod (s_parser_t *ps, size_t start, size_t end, double *value)
{
    size_t n = end - start;
    char small[64];
    char *token = small;
    if (n >= sizeof small) {
        sl_buf_reset (&ps->self->scratch);
        int rc = sl_buf_reserve (&ps->self->scratch, n + 1);
        if (rc) {
            return s_fail_out (ps, rc);
        }
        token = (char *) ps->self->scratch.data;
    }
    memcpy (token, ps->text + start, n);
    token[n] = '\0';
    *value = strtod (token, NULL);
    return 0;
}

//  Integers become msgpack ints over the whole int64 and uint64 range and
//  fail beyond it (never clamped); anything with a fraction or exponent is
//  a float64 from strtod (1e400 reads as inf, which prints back as 1e999).
static int
s_parse_number (s_parser_t *ps)
{
    const uint8_t *t = ps->text;
    size_t len = ps->len;
    size_t start = ps->pos;
    size_t i = start;
    bool negative = false;
    if (t[i] == '-') {
        negative = true;
        i++;
    }
    if (i >= len || !s_is_digit (t[i])) {
        return s_fail (ps, SL_EJSON, start, "invalid number");
    }
    size_t digits = i;
    if (t[i] == '0') {
        i++;
        if (i < len && s_is_digit (t[i])) {
            return s_fail (ps, SL_EJSON, start, "leading zero in number");
        }
    }
    else {
        while (i < len && s_is_digit (t[i])) {
            i++;
        }
    }
    size_t digits_end = i;
    bool is_float = false;
    if (i < len && t[i] == '.') {
        is_float = true;
        i++;
        if (i >= len || !s_is_digit (t[i])) {
            return s_fail (ps, SL_EJSON, start, "invalid number");
        }
        while (i < len && s_is_digit (t[i])) {
            i++;
        }
    }
    if (i < len && (t[i] == 'e' || t[i] == 'E')) {
        is_float = true;
        i++;
        if (i < len && (t[i] == '+' || t[i] == '-')) {
            i++;
        }
        if (i >= len || !s_is_digit (t[i])) {
            return s_fail (ps, SL_EJSON, start, "invalid number");
        }
        while (i < len && s_is_digit (t[i])) {
            i++;
        }
    }
    uint8_t dst[9];
    size_t size;
    if (!is_float) {
        uint64_t u = 0;
        for (size_t k = digits; k < digits_end; k++) {
            unsigned d = (unsigned) (t[k] - '0');
            if (u > (UINT64_MAX - d) / 10) {
                return s_fail (ps, SL_ERANGE, start, "integer outside 64 bits");
            }
            u = u * 10 + d;
        }
        if (negative) {
            if (u > (uint64_t) INT64_MAX + 1) {
                return s_fail (ps, SL_ERANGE, start, "integer outside 64 bits");
            }
            //  -0 is the integer 0: msgpack has no negative zero int.
            int64_t v = u == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) u;
            size = sl_mp_write_int (dst, sizeof dst, v);
        }
        else {
            size = sl_mp_write_uint (dst, sizeof dst, u);
        }
    }
    else {
        double v;
        if (!s_fast_double (t + start, i - start, &v)) {
            int rc = s_strtod (ps, start, i, &v);
            if (rc) {
                return rc;
            }
        }
        size = sl_mp_write_double (dst, sizeof dst, v);
    }
    int rc = sl_buf_append (ps->out, dst, size);
    if (rc) {
        return s_fail_out (ps, rc);
    }
    ps->pos = i;
    return 0;
}

static int
s_parse_literal (s_parser_t *ps)
{
    const uint8_t *t = ps->text + ps->pos;
    size_t rest = ps->len - ps->pos;
    int rc = sl_buf_reserve (ps->out, 1);
    if (rc) {
        return s_fail_out (ps, rc);
    }
    uint8_t *dst = ps->out->data + ps->out->len;
    if (rest >= 4 && memcmp (t, "true", 4) == 0) {
        *dst = 0xc3;
        ps->pos += 4;
    }
    else
    if (rest >= 5 && memcmp (t, "false", 5) == 0) {
        *dst = 0xc2;
        ps->pos += 5;
    }
    else
    if (rest >= 4 && memcmp (t, "null", 4) == 0) {
        *dst = 0xc0;
        ps->pos += 4;
    }
    else {
        return s_fail (ps, SL_EJSON, ps->pos, "unexpected character");
    }
    ps->out->len++;
    return 0;
}

//  Opens a container: a 5-byte placeholder header, patched on close.
static int
s_open (s_parser_t *ps, uint32_t *depth, bool object)
{
    if (*depth >= SL_MP_MAX_DEPTH) {
        char what[64];
        snprintf (what, sizeof what, "nesting deeper than %d", SL_MP_MAX_DEPTH);
        return s_fail (ps, SL_EDEPTH, ps->pos, what);
    }
    int rc = sl_buf_reserve (ps->out, S_PLACEHOLDER);
    if (rc) {
        return s_fail_out (ps, rc);
    }
    s_frame_t *frame = &ps->self->stack[(*depth)++];
    frame->head = ps->out->len;
    frame->count = 0;
    frame->object = object;
    ps->out->len += S_PLACEHOLDER;
    ps->pos++;
    return 0;
}

//  Closes a container: writes its real header in the smallest encoding and
//  slides the elements down over the unused part of the placeholder.
static void
s_close (s_parser_t *ps, uint32_t *depth)
{
    s_frame_t *frame = &ps->self->stack[--(*depth)];
    uint32_t n = frame->count;
    size_t real = n <= 15 ? 1 : n <= 0xffff ? 3 : 5;
    uint8_t *head = ps->out->data + frame->head;
    size_t body = ps->out->len - frame->head - S_PLACEHOLDER;
    if (real < S_PLACEHOLDER) {
        memmove (head + real, head + S_PLACEHOLDER, body);
        ps->out->len -= S_PLACEHOLDER - real;
    }
    if (frame->object) {
        sl_mp_write_map (head, real, n);
    }
    else {
        sl_mp_write_array (head, real, n);
    }
    ps->pos++;
}

typedef enum { S_VALUE, S_KEY, S_AFTER } s_state_t;

static int
s_parse (s_parser_t *ps)
{
    uint32_t depth = 0;
    s_state_t state = S_VALUE;
    int rc = 0;
    //  Every turn of this loop consumes at least one byte of text.
    while (true) {
        s_skip_ws (ps);
        if (state == S_VALUE) {
            if (ps->pos >= ps->len) {
                return s_fail_here (ps, "");
            }
            uint8_t c = ps->text[ps->pos];
            if (c == '{' || c == '[') {
                rc = s_open (ps, &depth, c == '{');
                if (rc) {
                    return rc;
                }
                s_skip_ws (ps);
                if (ps->pos < ps->len && ps->text[ps->pos] == (c == '{' ? '}' : ']')) {
                    s_close (ps, &depth);
                    state = S_AFTER;
                }
                else {
                    state = c == '{' ? S_KEY : S_VALUE;
                }
                continue;
            }
            if (c == '"') {
                rc = s_parse_string (ps);
            }
            else
            if (c == '-' || s_is_digit (c)) {
                rc = s_parse_number (ps);
            }
            else {
                rc = s_parse_literal (ps);
            }
            if (rc) {
                return rc;
            }
            state = S_AFTER;
        }
        else
        if (state == S_KEY) {
            if (ps->pos >= ps->len || ps->text[ps->pos] != '"') {
                return s_fail_here (ps, "expected a string key");
            }
            rc = s_parse_string (ps);
            if (rc) {
                return rc;
            }
            s_skip_ws (ps);
            if (ps->pos >= ps->len || ps->text[ps->pos] != ':') {
                return s_fail_here (ps, "expected ':'");
            }
            ps->pos++;
            state = S_VALUE;
        }
        else {
            if (depth == 0) {
                if (ps->pos < ps->len) {
                    return s_fail (ps, SL_EJSON, ps->pos, "unexpected character after the value");
                }
                return 0;
            }
            s_frame_t *frame = &ps->self->stack[depth - 1];
            if (frame->count == UINT32_MAX) {
                return s_fail (ps, SL_ETOOBIG, ps->pos, "more than 2^32-1 elements");
            }
            frame->count++;
            if (ps->pos >= ps->len) {
                return s_fail_here (ps, "");
            }
            uint8_t c = ps->text[ps->pos];
            if (c == ',') {
                ps->pos++;
                state = frame->object ? S_KEY : S_VALUE;
            }
            else
            if (c == (frame->object ? '}' : ']')) {
                s_close (ps, &depth);
            }
            else {
                return s_fail (ps, SL_EJSON, ps->pos,
                               frame->object ? "expected ',' or '}'" : "expected ',' or ']'");
            }
        }
    }
}

int
sl_json_to_msgpack (sl_json_t *self, const char *text, size_t len, sl_buf_t *out, char *why,
                    size_t why_size)
{
    assert (self);
    assert (out);
    assert (text || len == 0);
    if (why && why_size) {
        why[0] = '\0';
    }
    s_parser_t ps = { self, (const uint8_t *) text, len, 0, out, why, why_size };
    size_t start = out->len;
    int rc = s_parse (&ps);
    if (rc) {
        out->len = start;
    }
    return rc;
}
