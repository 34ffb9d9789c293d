/*  sl_json_int.h - the JSON parser's internals, shared by sl_json.c (the
    yajl callbacks that write msgpack) and sl_json_explain.c (the checks
    yajl lacks, and the reasons and columns of faults). Nothing outside
    them includes this header.
*/
#ifndef SL_JSON_INT_H_INCLUDED
#define SL_JSON_INT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_parse.h>

#include "sl_json.h"
#include "sl_mp.h"

//  An open container while parsing: where its header placeholder sits and
//  how many elements (pairs for an object) it has so far.
typedef struct {
    size_t head;
    uint32_t count;
    bool object;
} frame_t;

//  The last token our callbacks saw, which says what may come next.
typedef enum {
    AFTER_START, //  nothing yet: a value
    AFTER_OPEN,  //  '[' or '{': a value or ']', a key or '}'
    AFTER_KEY,   //  an object key: ':' then a value
    AFTER_VALUE  //  a value: ',' or the closer, or the end at depth 0
} after_t;

struct _sl_json_t {
    yajl_handle parser; //  NULL after an error, made again on use
    sl_buf_t scratch;   //  long number tokens
    //  State of the call in progress (yajl's callback context is self).
    const uint8_t *text;
    size_t len;
    sl_buf_t *out;
    char *why;
    size_t why_size;
    int rc;         //  set by a callback that stops the parse
    bool finishing; //  inside yajl_complete_parse
    bool done;      //  the top-level value is complete
    after_t after;
    size_t last_end;   //  text offset just past the last token seen
    size_t zero_start; //  the last number was "0" / "-0": its start,
    size_t zero_end;   //  and its end (to name a leading zero)
    uint32_t depth;
    frame_t stack[SL_MP_MAX_DEPTH];
};

//  sl_json_explain.c

//  Records a reason naming the position of the fault (1-based column, and
//  the line when the text has several) and returns rc. at == SIZE_MAX
//  gives no position.
int sl_json_fail (sl_json_t *self, int rc, size_t at, const char *what);
//  The reason for an error from the output buffer (SL_ETOOBIG or SL_ENOMEM).
int sl_json_fail_out (sl_json_t *self, int rc);
//  Stops the parse from a callback: keeps the reason, and returns 0, which
//  tells yajl to cancel.
int sl_json_cancel (sl_json_t *self, int rc, size_t at, const char *what);
int sl_json_cancel_out (sl_json_t *self, int rc);
//  The first offset at or after at that is not JSON white space.
size_t sl_json_skip_ws (const sl_json_t *self, size_t at);
//  Where the token after the last one seen starts.
size_t sl_json_next_token (const sl_json_t *self);
//  True when the token at text[at] is a digit glued to a "0" or "-0" just seen.
bool sl_json_leading_zero (const sl_json_t *self, size_t at);
//  Checks the string token whose opening quote is at text[at]: 0 or SL_EJSON
//  with the reason.
int sl_json_check_raw_string (sl_json_t *self, size_t at);
//  yajl reported an error: names it, with its column, and returns SL_EJSON.
int sl_json_explain (sl_json_t *self);

#endif
