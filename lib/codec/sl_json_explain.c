/*  sl_json_explain.c - what JSON -> msgpack checks beyond yajl, and how it
    names a fault: RFC 3629 UTF-8 (sl_utf8_len), string tokens checked raw
    (escapes, surrogate pairs, control characters), and the reason and
    column of an error yajl reported.

    yajl's error offsets are approximate and its texts long, so the fault
    is worked out from where the callbacks in sl_json.c last were: the next
    token, and what the grammar wanted there. Part of the JSON parser
    module; lib/codec/sl_json_int.h holds the shared state.
*/
#include "sl_json.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sl_error.h"
#include "sl_json_int.h"

//  ---------------------------------------------------------------------
//  UTF-8

//  RFC 3629 exactly: the checks yajl and json-c leave out (overlong forms,
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
        if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80) {
            return 0;
        }
        if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f)) {
            return 0;
        }
        return 4;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Reasons and positions

//  Records a reason naming the position of the fault (1-based column, and
//  the line when the text has several) and returns rc. at == SIZE_MAX
//  gives no position.
int
sl_json_fail (sl_json_t *self, int rc, size_t at, const char *what)
{
    if (!self->why || self->why_size == 0) {
        return rc;
    }
    if (at == SIZE_MAX) {
        snprintf (self->why, self->why_size, "%s", what);
        return rc;
    }
    size_t line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < at && i < self->len; i++) {
        if (self->text[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    }
    if (line > 1) {
        snprintf (self->why, self->why_size, "%s at line %zu column %zu", what, line,
                  at - line_start + 1);
    }
    else {
        snprintf (self->why, self->why_size, "%s at column %zu", what, at + 1);
    }
    return rc;
}

int
sl_json_fail_out (sl_json_t *self, int rc)
{
    return sl_json_fail (self, rc, SIZE_MAX,
                         rc == SL_ETOOBIG ? "msgpack output exceeds its limit" : "out of memory");
}

//  Stops the parse from a callback: keeps the reason, and returns 0, which
//  tells yajl to cancel.
int
sl_json_cancel (sl_json_t *self, int rc, size_t at, const char *what)
{
    self->rc = sl_json_fail (self, rc, at, what);
    return 0;
}

int
sl_json_cancel_out (sl_json_t *self, int rc)
{
    self->rc = sl_json_fail_out (self, rc);
    return 0;
}

size_t
sl_json_skip_ws (const sl_json_t *self, size_t at)
{
    while (at < self->len) {
        uint8_t c = self->text[at];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            break;
        }
        at++;
    }
    return at;
}

//  Where the next token after the last one seen starts: past white space
//  and the ',' or ':' that the grammar allows there. Inside a callback
//  this is the token being reported; after an error, the offending one.
size_t
sl_json_next_token (const sl_json_t *self)
{
    size_t at = sl_json_skip_ws (self, self->last_end);
    if (at < self->len && ((self->after == AFTER_VALUE && self->text[at] == ',' && self->depth) ||
                           (self->after == AFTER_KEY && self->text[at] == ':'))) {
        at = sl_json_skip_ws (self, at + 1);
    }
    return at;
}

//  yajl reads "01" as the number 0 and then a second number: true when
//  the token at text[at] is that digit, glued to a "0" or "-0" just seen.
bool
sl_json_leading_zero (const sl_json_t *self, size_t at)
{
    return self->zero_end == self->last_end && at == self->last_end && at < self->len &&
           self->text[at] >= '0' && self->text[at] <= '9';
}

static int
s_hex4 (const uint8_t *p, uint32_t *value)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (uint32_t)(c - '0');
        }
        else if (c >= 'a' && c <= 'f') {
            v |= (uint32_t)(c - 'a' + 10);
        }
        else if (c >= 'A' && c <= 'F') {
            v |= (uint32_t)(c - 'A' + 10);
        }
        else {
            return -1;
        }
    }
    *value = v;
    return 0;
}

//  Checks the string token whose opening quote is at text[at]: escapes
//  (surrogates must pair), control characters, RFC 3629 UTF-8. Returns 0
//  when it closes with no fault, else the error with the fault's column.
//  Used for strings with escapes (yajl hands us decoded text) and to name
//  the fault when yajl rejects a string.
int
sl_json_check_raw_string (sl_json_t *self, size_t at)
{
    const uint8_t *t = self->text;
    size_t len = self->len;
    size_t i = at + 1;
    while (i < len) {
        uint8_t c = t[i];
        if (c == '"') {
            return 0;
        }
        if (c == '\\') {
            if (i + 1 >= len) {
                break;
            }
            uint8_t e = t[i + 1];
            if (e == 'u') {
                uint32_t cp, low;
                if (i + 6 > len || s_hex4 (t + i + 2, &cp)) {
                    return sl_json_fail (self, SL_EJSON, i, "invalid \\u escape");
                }
                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    return sl_json_fail (self, SL_EJSON, i, "lone low surrogate");
                }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (i + 12 > len || t[i + 6] != '\\' || t[i + 7] != 'u' ||
                        s_hex4 (t + i + 8, &low) || low < 0xdc00 || low > 0xdfff) {
                        return sl_json_fail (self, SL_EJSON, i, "lone high surrogate");
                    }
                    i += 6;
                }
                i += 6;
                continue;
            }
            if (!memchr ("\"\\/bfnrt", e, 8)) {
                return sl_json_fail (self, SL_EJSON, i, "invalid escape");
            }
            i += 2;
            continue;
        }
        if (c < 0x20) {
            return sl_json_fail (self, SL_EJSON, i, "control character in string");
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n = sl_utf8_len (t + i, len - i);
        if (!n) {
            return sl_json_fail (self, SL_EJSON, i, "invalid UTF-8");
        }
        i += n;
    }
    return sl_json_fail (self, SL_EJSON, at, "unterminated string");
}

//  Names what is wrong with the value (or key) token at text[at], which
//  yajl refused.
static int
s_explain_token (sl_json_t *self, size_t at, bool key)
{
    uint8_t c = self->text[at];
    if (c == '"') {
        int rc = sl_json_check_raw_string (self, at);
        if (rc) {
            return rc;
        }
    }
    else if (key) {
        return sl_json_fail (self, SL_EJSON, at, "expected a string key");
    }
    else if (c == '-' || (c >= '0' && c <= '9')) {
        return sl_json_fail (self, SL_EJSON, at, "invalid number");
    }
    return sl_json_fail (self, SL_EJSON, at, "unexpected character");
}

//  yajl reported an error: its offsets are approximate and its texts long,
//  but our callbacks know the last good token, so the fault is the next
//  token and what the grammar wanted there says what is wrong with it.
int
sl_json_explain (sl_json_t *self)
{
    const uint8_t *t = self->text;
    size_t at = sl_json_skip_ws (self, self->last_end);
    if (sl_json_leading_zero (self, at)) {
        return sl_json_fail (self, SL_EJSON, self->zero_start, "leading zero in number");
    }
    if (at >= self->len) {
        return sl_json_fail (self, SL_EJSON, SIZE_MAX, "unexpected end of input");
    }
    if (self->done) {
        return sl_json_fail (self, SL_EJSON, at, "unexpected character after the value");
    }
    bool object = self->depth && self->stack[self->depth - 1].object;
    switch (self->after) {
    case AFTER_START:
        return s_explain_token (self, at, false);
    case AFTER_OPEN:
        return s_explain_token (self, at, object);
    case AFTER_KEY:
        if (t[at] != ':') {
            return sl_json_fail (self, SL_EJSON, at, "expected ':'");
        }
        break;
    case AFTER_VALUE:
        if (t[at] != ',') {
            return sl_json_fail (self, SL_EJSON, at,
                                 object ? "expected ',' or '}'" : "expected ',' or ']'");
        }
        break;
    }
    at = sl_json_skip_ws (self, at + 1);
    if (at >= self->len) {
        return sl_json_fail (self, SL_EJSON, SIZE_MAX, "unexpected end of input");
    }
    return s_explain_token (self, at, self->after == AFTER_VALUE && object);
}
