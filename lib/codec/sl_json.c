/*  sl_json.c - JSON text -> msgpack, losslessly, at the edges (the other
    direction is in sl_json_write.c).

    yajl's streaming parser does the grammar; its callbacks write msgpack
    straight into the output buffer, one pass, no tree. We keep what yajl
    leaves to its caller or gets wrong for our contract:
    - numbers arrive as their raw text, so integers are converted exactly
      (strtoll / strtoull, the full int64 and uint64 range, SL_ERANGE past
      it) and floats by the exact fast path or strtod;
    - yajl's UTF-8 check lets overlong forms, surrogates and code points
      above U+10FFFF through, so it is switched off and every string and
      key is checked here with sl_utf8_len instead;
    - yajl turns a lone high surrogate escape into '?' and pairs a high
      surrogate with any following \u escape into an invented character,
      so strings with escapes are checked for well-formed pairs;
    - yajl has no depth limit, so containers are counted here;
    - yajl's error offsets are approximate, so when it reports an error the
      reason and column are worked out from where our callbacks last were.
    Containers are written with a 5-byte header placeholder that is shrunk
    to the smallest encoding when the container closes.

    The yajl handle is reused between calls: it runs with
    yajl_allow_multiple_values, so after a complete value it accepts the
    next text as a new value (a second value within one text is refused by
    our callbacks). A handle that reported an error cannot be reset, so it
    is freed and a new one made on the next call.

    sl_json_explain.c holds the checks and the reasons (UTF-8, raw string
    tokens, and which fault yajl met where); lib/codec/sl_json_int.h the state
    both files share.
*/
#include "sl_json.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "sl_error.h"
#include "sl_json_int.h"
#include "sl_mp.h"

#define S_PLACEHOLDER 5 //  array32 / map32 header size

static yajl_handle s_parser_new (sl_json_t *self);

sl_json_t *
sl_json_new (void)
{
    sl_json_t *self = (sl_json_t *)calloc (1, sizeof (sl_json_t));
    if (!self) {
        return NULL;
    }
    sl_buf_init (&self->scratch, 0);
    self->parser = s_parser_new (self);
    if (!self->parser) {
        free (self);
        return NULL;
    }
    return self;
}

void
sl_json_destroy (sl_json_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sl_json_t *self = *self_p;
        if (self->parser) {
            yajl_free (self->parser);
        }
        sl_buf_free (&self->scratch);
        free (self);
        *self_p = NULL;
    }
}

//  ---------------------------------------------------------------------
//  Positions

//  Text offset just past the token yajl has just lexed. yajl counts from
//  the start of the current chunk, and yajl_complete_parse lexes one
//  extra space past the text, so tokens it finishes end at len.
static size_t
s_token_end (const sl_json_t *self)
{
    if (self->finishing) {
        return self->len;
    }
    size_t consumed = yajl_get_bytes_consumed (self->parser);
    return consumed < self->len ? consumed : self->len;
}

//  ---------------------------------------------------------------------
//  Callbacks: each writes its msgpack and notes where its token ended.

//  sl_buf_reserve with the common case (room already there) inline: the
//  buffer never grows past its limit, so enough room means success.
static inline int
s_reserve (sl_buf_t *out, size_t more)
{
    return more <= out->cap - out->len ? 0 : sl_buf_reserve (out, more);
}

static inline int
s_append (sl_buf_t *out, const void *data, size_t size)
{
    int rc = s_reserve (out, size);
    if (rc) {
        return rc;
    }
    memcpy (out->data + out->len, data, size);
    out->len += size;
    return 0;
}

//  Every value starts here: a second top-level value is trailing garbage,
//  and an array counts its elements (an object counts its keys).
static int
s_value_begin (sl_json_t *self)
{
    if (self->depth == 0) {
        if (self->done) {
            size_t at = sl_json_next_token (self);
            if (sl_json_leading_zero (self, at)) {
                sl_json_cancel (self, SL_EJSON, self->zero_start, "leading zero in number");
            }
            else {
                sl_json_cancel (self, SL_EJSON, at, "unexpected character after the value");
            }
            return -1;
        }
        return 0;
    }
    frame_t *frame = &self->stack[self->depth - 1];
    if (!frame->object) {
        if (frame->count == UINT32_MAX) {
            sl_json_cancel (self, SL_ETOOBIG, sl_json_next_token (self),
                            "more than 2^32-1 elements");
            return -1;
        }
        frame->count++;
    }
    return 0;
}

static inline void
s_value_end (sl_json_t *self, size_t end)
{
    self->last_end = end;
    self->after = AFTER_VALUE;
    if (self->depth == 0) {
        self->done = true;
    }
}

static int
s_on_scalar (sl_json_t *self, uint8_t byte)
{
    if (s_value_begin (self)) {
        return 0;
    }
    int rc = s_reserve (self->out, 1);
    if (rc) {
        return sl_json_cancel_out (self, rc);
    }
    self->out->data[self->out->len++] = byte;
    s_value_end (self, s_token_end (self));
    return 1;
}

static int
s_on_null (void *ctx)
{
    return s_on_scalar ((sl_json_t *)ctx, 0xc0);
}

static int
s_on_boolean (void *ctx, int value)
{
    return s_on_scalar ((sl_json_t *)ctx, value ? 0xc3 : 0xc2);
}

//  Clinger's fast path for a float token already checked against the JSON
//  grammar: with at most 15 significant digits the mantissa m is an exact
//  double, and so is 10^e for |e| <= 22, so the single IEEE multiply or
//  divide is correctly rounded, which is what strtod returns. False when
//  the token is outside that range (strtod then does the work).
static bool
s_fast_double (const uint8_t *t, size_t n, double *value)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    bool negative = t[0] == '-';
    if (negative) {
        i++;
    }
    uint64_t m = 0;
    int digits = 0; //  significant digits taken into m
    int scale = 0;  //  digits after the point
    bool point = false;
    for (; i < n && t[i] != 'e' && t[i] != 'E'; i++) {
        if (t[i] == '.') {
            point = true;
            continue;
        }
        if (m == 0 && t[i] == '0') {
            scale += point; //  leading zeros are not significant
            continue;
        }
        if (++digits > 15) {
            return false;
        }
        m = m * 10 + (uint64_t)(t[i] - '0');
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
    double v = (double)m;
    v = exp10 < 0 ? v / pow10[-exp10] : v * pow10[exp10];
    *value = negative ? -v : v;
    return true;
}

//  Integers become msgpack ints over the whole int64 and uint64 range and
//  fail beyond it (never clamped); anything with a fraction or exponent is
//  a float64 (1e400 reads as inf, which prints back as 1e999). yajl has
//  checked the token against the JSON grammar.
static int
s_on_number (void *ctx, const char *number, size_t n)
{
    sl_json_t *self = (sl_json_t *)ctx;
    if (s_value_begin (self)) {
        return 0;
    }
    size_t end = s_token_end (self);
    size_t start = end - n;
    const uint8_t *t = (const uint8_t *)number;
    bool is_float = false;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '.' || t[i] == 'e' || t[i] == 'E') {
            is_float = true;
            break;
        }
    }
    uint8_t dst[9];
    size_t size;
    if (!is_float) {
        bool negative = t[0] == '-';
        size_t digits = n - negative;
        if (digits <= 18) {
            //  Up to 18 digits fit int64 either way: no range to check.
            int64_t v = 0;
            for (size_t i = negative; i < n; i++) {
                v = v * 10 + (t[i] - '0');
            }
            //  -0 is the integer 0: msgpack has no negative zero int.
            size = negative ? sl_mp_write_int (dst, sizeof dst, -v)
                            : sl_mp_write_uint (dst, sizeof dst, (uint64_t)v);
        }
        else {
            //  No leading zeros in JSON: more than 20 digits is outside 64
            //  bits whatever they are; the C library checks the rest.
            char token[24];
            if (digits > 20) {
                return sl_json_cancel (self, SL_ERANGE, start, "integer outside 64 bits");
            }
            memcpy (token, number, n);
            token[n] = '\0';
            errno = 0;
            if (negative) {
                long long v = strtoll (token, NULL, 10);
                if (errno == ERANGE) {
                    return sl_json_cancel (self, SL_ERANGE, start, "integer outside 64 bits");
                }
                size = sl_mp_write_int (dst, sizeof dst, (int64_t)v);
            }
            else {
                unsigned long long v = strtoull (token, NULL, 10);
                if (errno == ERANGE) {
                    return sl_json_cancel (self, SL_ERANGE, start, "integer outside 64 bits");
                }
                size = sl_mp_write_uint (dst, sizeof dst, (uint64_t)v);
            }
        }
        if ((n == 1 && t[0] == '0') || (n == 2 && t[1] == '0')) {
            self->zero_start = start;
            self->zero_end = end;
        }
    }
    else {
        double v;
        if (!s_fast_double (t, n, &v)) {
            //  strtod needs a terminated copy; the token is not terminated.
            char small[64];
            char *token = small;
            if (n >= sizeof small) {
                sl_buf_reset (&self->scratch);
                int rc = sl_buf_reserve (&self->scratch, n + 1);
                if (rc) {
                    return sl_json_cancel_out (self, rc);
                }
                token = (char *)self->scratch.data;
            }
            memcpy (token, number, n);
            token[n] = '\0';
            v = strtod (token, NULL);
        }
        size = sl_mp_write_double (dst, sizeof dst, v);
    }
    int rc = s_append (self->out, dst, size);
    if (rc) {
        return sl_json_cancel_out (self, rc);
    }
    s_value_end (self, end);
    return 1;
}

//  Checks and writes a string or key. yajl hands us the bytes of the text
//  itself when the string has no escapes (checked here for RFC 3629), or a
//  decoded copy (the raw token is checked instead: its escapes and bytes).
static int
s_put_string (sl_json_t *self, const unsigned char *s, size_t n)
{
    uintptr_t p = (uintptr_t)s;
    uintptr_t text = (uintptr_t)self->text;
    if (p >= text && p - text <= self->len && n <= self->len - (p - text)) {
        size_t i = 0;
        while (i < n) {
            //  ASCII, eight bytes at a time.
            uint64_t word;
            if (n - i >= 8 && (memcpy (&word, s + i, 8), (word & 0x8080808080808080ull) == 0)) {
                i += 8;
                continue;
            }
            if (s[i] < 0x80) {
                i++;
                continue;
            }
            size_t k = sl_utf8_len (s + i, n - i);
            if (!k) {
                return sl_json_cancel (self, SL_EJSON, (size_t)(p - text) + i, "invalid UTF-8");
            }
            i += k;
        }
    }
    else {
        int rc = sl_json_check_raw_string (self, sl_json_next_token (self));
        if (rc) {
            self->rc = rc;
            return 0;
        }
    }
    if (n > UINT32_MAX) {
        return sl_json_cancel (self, SL_ETOOBIG, sl_json_next_token (self),
                               "string longer than 4 GiB");
    }
    size_t head = n <= 31 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
    int rc = s_reserve (self->out, head + n);
    if (rc) {
        return sl_json_cancel_out (self, rc);
    }
    uint8_t *dst = self->out->data + self->out->len;
    sl_mp_write_str_header (dst, head, (uint32_t)n);
    memcpy (dst + head, s, n);
    self->out->len += head + n;
    return 1;
}

static int
s_on_string (void *ctx, const unsigned char *s, size_t n)
{
    sl_json_t *self = (sl_json_t *)ctx;
    if (s_value_begin (self) || !s_put_string (self, s, n)) {
        return 0;
    }
    s_value_end (self, s_token_end (self));
    return 1;
}

static int
s_on_map_key (void *ctx, const unsigned char *s, size_t n)
{
    sl_json_t *self = (sl_json_t *)ctx;
    frame_t *frame = &self->stack[self->depth - 1];
    if (frame->count == UINT32_MAX) {
        return sl_json_cancel (self, SL_ETOOBIG, sl_json_next_token (self),
                               "more than 2^32-1 members");
    }
    if (!s_put_string (self, s, n)) {
        return 0;
    }
    frame->count++;
    self->last_end = s_token_end (self);
    self->after = AFTER_KEY;
    return 1;
}

//  Opens a container: a 5-byte placeholder header, patched on close.
static int
s_open (sl_json_t *self, bool object)
{
    if (s_value_begin (self)) {
        return 0;
    }
    size_t end = s_token_end (self);
    if (self->depth >= SL_MP_MAX_DEPTH) {
        char what[64];
        snprintf (what, sizeof what, "nesting deeper than %d", SL_MP_MAX_DEPTH);
        return sl_json_cancel (self, SL_EDEPTH, end - 1, what);
    }
    int rc = s_reserve (self->out, S_PLACEHOLDER);
    if (rc) {
        return sl_json_cancel_out (self, rc);
    }
    frame_t *frame = &self->stack[self->depth++];
    frame->head = self->out->len;
    frame->count = 0;
    frame->object = object;
    self->out->len += S_PLACEHOLDER;
    self->last_end = end;
    self->after = AFTER_OPEN;
    return 1;
}

//  Closes a container: writes its real header in the smallest encoding and
//  slides the elements down over the unused part of the placeholder.
static int
s_close (sl_json_t *self)
{
    frame_t *frame = &self->stack[--self->depth];
    uint32_t n = frame->count;
    size_t real = n <= 15 ? 1 : n <= 0xffff ? 3 : 5;
    uint8_t *head = self->out->data + frame->head;
    size_t body = self->out->len - frame->head - S_PLACEHOLDER;
    if (real < S_PLACEHOLDER) {
        memmove (head + real, head + S_PLACEHOLDER, body);
        self->out->len -= S_PLACEHOLDER - real;
    }
    if (frame->object) {
        sl_mp_write_map (head, real, n);
    }
    else {
        sl_mp_write_array (head, real, n);
    }
    s_value_end (self, s_token_end (self));
    return 1;
}

static int
s_on_start_map (void *ctx)
{
    return s_open ((sl_json_t *)ctx, true);
}

static int
s_on_start_array (void *ctx)
{
    return s_open ((sl_json_t *)ctx, false);
}

static int
s_on_end (void *ctx)
{
    return s_close ((sl_json_t *)ctx);
}

static const yajl_callbacks s_callbacks = {
    .yajl_null = s_on_null,
    .yajl_boolean = s_on_boolean,
    .yajl_number = s_on_number, //  raw text for every number
    .yajl_string = s_on_string,
    .yajl_start_map = s_on_start_map,
    .yajl_map_key = s_on_map_key,
    .yajl_end_map = s_on_end,
    .yajl_start_array = s_on_start_array,
    .yajl_end_array = s_on_end,
};

//  Strict grammar is yajl's default (no comments, no trailing garbage, no
//  partial values). Multiple values let a handle parse text after text; we
//  refuse a second value inside one text ourselves. yajl's own UTF-8 check
//  is weaker than s_put_string's, so it is off.
static yajl_handle
s_parser_new (sl_json_t *self)
{
    yajl_handle parser = yajl_alloc (&s_callbacks, NULL, self);
    if (parser) {
        yajl_config (parser, yajl_allow_multiple_values, 1);
        yajl_config (parser, yajl_dont_validate_strings, 1);
    }
    return parser;
}

//  ---------------------------------------------------------------------
//  JSON -> msgpack

int
sl_json_to_msgpack (sl_json_t *self, const char *text, size_t len, sl_buf_t *out, char *why,
                    size_t why_size)
{
    assert (self);
    assert (out);
    assert (text || len == 0);
    self->text = (const uint8_t *)(text ? text : "");
    self->len = len;
    self->out = out;
    self->why = why;
    self->why_size = why_size;
    if (why && why_size) {
        why[0] = '\0';
    }
    if (!self->parser) {
        self->parser = s_parser_new (self);
        if (!self->parser) {
            return sl_json_fail_out (self, SL_ENOMEM);
        }
    }
    self->rc = 0;
    self->finishing = false;
    self->done = false;
    self->after = AFTER_START;
    self->last_end = 0;
    self->zero_start = SIZE_MAX;
    self->zero_end = SIZE_MAX;
    self->depth = 0;
    size_t start = out->len;

    //  yajl takes \v and \f for white space; RFC 8259 does not, and inside
    //  a string they are raw control characters: a text holding either is
    //  malformed. Refused before parsing, since the string checks find a
    //  token's start with RFC white space and would look at the wrong byte
    //  (found by tests/fuzz/fuzz_json: invalid UTF-8 got through).
    const uint8_t *bad = memchr (self->text, '\v', len);
    const uint8_t *ff = memchr (self->text, '\f', len);
    if (!bad || (ff && ff < bad)) {
        bad = ff;
    }
    if (bad) {
        return sl_json_fail (self, SL_EJSON, (size_t)(bad - self->text), "unexpected character");
    }

    yajl_status status = yajl_parse (self->parser, self->text, len);
    if (status == yajl_status_ok) {
        self->finishing = true;
        status = yajl_complete_parse (self->parser);
    }
    int rc = 0;
    if (status != yajl_status_ok) {
        rc = self->rc ? self->rc : sl_json_explain (self);
    }
    else if (!self->done || sl_json_skip_ws (self, self->last_end) < len) {
        //  After a value, a reused handle calls an empty text or one cut
        //  inside a token (a string with no closing quote, "tru") complete
        //  and keeps the piece buffered: we check that the value is there and
        //  is all the text.
        rc = sl_json_explain (self);
    }
    if (rc) {
        //  yajl has no reset: a handle that failed, or holds a piece of a
        //  token, is not used again.
        yajl_free (self->parser);
        self->parser = NULL;
        out->len = start;
    }
    return rc;
}
