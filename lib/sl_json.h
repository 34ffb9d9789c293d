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
    Built on json-c (see README: uint64 support and a configurable depth).
*/
#ifndef SL_JSON_H_INCLUDED
#define SL_JSON_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "sl_batch.h"
#include "sl_buf.h"

typedef struct _sl_json_t sl_json_t;

//  A converter; keeps its parser and buffers between calls. NULL on OOM.
sl_json_t *sl_json_new(void);
void sl_json_destroy(sl_json_t **self_p);

//  Parses one JSON text (surrounding whitespace allowed, nothing else) and
//  appends its msgpack encoding to out. On failure returns SL_EJSON,
//  SL_ERANGE, SL_EDEPTH or SL_ETOOBIG, leaves out as it was, and puts a
//  short reason ("unexpected character at column 7") in why.
int sl_json_to_msgpack(sl_json_t *self, const char *text, size_t len, sl_buf_t *out, char *why,
                       size_t why_size);

//  Appends the JSON text of one msgpack object (bounded-walked first) to out.
//  SL_ETRUNC / SL_EDEPTH / SL_EPROTO for malformed input.
int sl_msgpack_to_json(sl_json_t *self, const uint8_t *data, size_t len, sl_buf_t *out);

//  Appends a record as one JSON object:
//  {"offset":N,"timestamp":MS,"key":K,"headers":{..},"value":V}
//  ("key" null when nil; "headers" only when present). No newline.
int sl_record_to_json(sl_json_t *self, const sl_record_t *record, sl_buf_t *out);

//  When the msgpack value is a map with a str key equal to field, points
//  *key at that member's bytes when it is str or bin, or renders any other
//  type as JSON text into scratch and points *key there. 1 found, 0 not a
//  map or no such field, negative on malformed input.
int sl_json_field_key(sl_json_t *self, const uint8_t *value, size_t len, const char *field,
                      sl_buf_t *scratch, const uint8_t **key, uint32_t *key_len);

#endif
