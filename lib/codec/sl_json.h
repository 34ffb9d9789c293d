/*  sl_json.h - JSON at the edges: JSON text <-> msgpack, losslessly.

    JSON -> msgpack: one JSON text (a line) becomes one msgpack object.
      null/true/false -> nil/bool; strings -> str (UTF-8 validated);
      integers -> int (negative) or uint, the full int64 and uint64 range;
      an integer outside 64 bits is an error (SL_ERANGE), never clamped;
      numbers with a fraction or exponent -> float64; arrays, objects ->
      array, map with str keys, order kept. Nesting <= SL_MP_MAX_DEPTH.
    msgpack -> JSON: the inverse, so JSON -> msgpack -> JSON gives a value
      equal to the input for every JSON value. Floats print in the shortest
      form that reads back to the same double and always with '.' or 'e'
      (so 1.0 stays a float); +/-inf print as 1e999/-1e999, NaN as null.
      Types JSON lacks: bin -> {"$bin":"<base64>"}, ext -> {"$ext":TYPE,
      "data":"<base64>"}, a non-string map key -> its JSON text as a string.
      A str that is not valid UTF-8 prints its bad bytes as U+FFFD, so the
      output is always valid JSON.
    Strict RFC 8259 input: no NaN/Infinity, no "1." or leading zeros, no
    trailing commas, comments or trailing garbage, no raw control characters
    in strings, UTF-8 validated (RFC 3629: no overlong forms, surrogates or
    code points above U+10FFFF). A \u escape of a surrogate must be half of
    a high-low pair: a lone or mismatched one is refused (SL_EJSON), since
    yajl would silently turn it into '?' or into an invented character.
    "-0" is the integer 0. Duplicate object keys are all kept, in order
    (msgpack maps allow them), so such texts round-trip unchanged. Keys and
    strings keep an escaped \u0000. Depth counts containers: [[1]] is 2;
    SL_MP_MAX_DEPTH deep is accepted.
    JSON -> msgpack is built on yajl's streaming parser (yajl 2.1): no tree,
    numbers as raw text so that integers are exact over the full int64 and
    uint64 range, strict grammar; sl_json_explain.c adds the UTF-8, surrogate and
    depth checks yajl lacks and names each fault with its column.
    msgpack -> JSON is our own writer (sl_json_write.c): yajl_gen cannot
    nest deeper than 128. json-c is not used: 0.16 clamps integers outside
    64 bits, truncates keys at \u0000 and accepts NaN.
    Floats use strtod / printf: programs run in the C locale.
*/
#ifndef SL_JSON_H_INCLUDED
#define SL_JSON_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "sl_batch.h"
#include "sl_buf.h"

typedef struct _sl_json_t sl_json_t;

//  A converter; keeps its parser and buffers between calls. NULL on OOM.
sl_json_t *sl_json_new (void);
void sl_json_destroy (sl_json_t **self_p);

//  Parses one JSON text (surrounding whitespace allowed, nothing else) and
//  appends its msgpack encoding to out. On failure returns SL_EJSON,
//  SL_ERANGE, SL_EDEPTH or SL_ETOOBIG, leaves out as it was, and puts a
//  short reason ("unexpected character at column 7") in why.
int sl_json_to_msgpack (sl_json_t *self, const char *text, size_t len, sl_buf_t *out, char *why,
                        size_t why_size);

//  Appends the JSON text of one msgpack object (bounded-walked first) to out.
//  data[0..len) must be exactly that object (trailing bytes: SL_EPROTO).
//  SL_ETRUNC / SL_EDEPTH (nesting past SL_MP_DEPTH_LIMIT) / SL_EPROTO for
//  malformed input. A non-str map key nested in non-str keys more than 4
//  deep prints as the key "(key nested too deep)" (each level doubles the
//  escapes of the one inside it: unbounded, that is exponential output);
//  SL_ENOMEM / SL_ETOOBIG from out. out is unchanged on error.
int sl_msgpack_to_json (sl_json_t *self, const uint8_t *data, size_t len, sl_buf_t *out);

//  Appends a record as one JSON object:
//  {"offset":N,"timestamp":MS,"key":K,"headers":{..},"value":V}
//  ("key" null when nil, a bin key as {"$bin":..}; "headers" only when
//  present). No newline. Value and headers are bounded-walked first; out is
//  unchanged on error.
int sl_record_to_json (sl_json_t *self, const sl_record_t *record, sl_buf_t *out);

//  When the msgpack value is a map with a str key equal to field, points
//  *key at that member's bytes when it is str or bin, or renders any other
//  type as JSON text into scratch (reset first) and points *key there. The
//  first member with that name wins; non-str keys are skipped. 1 found, 0
//  not a map or no such field, negative on malformed input.
int sl_json_field_key (sl_json_t *self, const uint8_t *value, size_t len, const char *field,
                       sl_buf_t *scratch, const uint8_t **key, uint32_t *key_len);

//  JSON documents of a program's own, written piece by piece with the
//  records' escaping and number forms. Each appends to out: 0, SL_ENOMEM
//  or SL_ETOOBIG.
//  A JSON string of text[0..len) (escaped; bytes that are not UTF-8 as U+FFFD).
int sl_json_put_string (sl_buf_t *out, const void *text, size_t len);
int sl_json_put_uint (sl_buf_t *out, uint64_t value);
int sl_json_put_int (sl_buf_t *out, int64_t value);
int sl_json_put_bool (sl_buf_t *out, bool value);
//  An object member's name and colon: "name": when first, else ,"name":.
int sl_json_put_name (sl_buf_t *out, bool first, const char *name);

//  Length (1..4) of the well-formed UTF-8 sequence at p[0..n) (RFC 3629:
//  no overlong forms, no surrogates, nothing above U+10FFFF), 0 if none.
size_t sl_utf8_len (const uint8_t *p, size_t n);

#endif
