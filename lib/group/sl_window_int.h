/*  sl_window_int.h - internals shared by sl_window.c (windows, stream
    time, state codec) and sl_agg.c (the aggregates' accumulators). Nothing
    outside them includes it.
*/
#ifndef SL_WINDOW_INT_H_INCLUDED
#define SL_WINDOW_INT_H_INCLUDED

#include "sl_window.h"

//  A number as msgpack gave it: integers stay exact.
typedef struct {
    bool is_int;
    int64_t i;
    double d;
} sl_num_t;

//  One --agg entry's accumulator in one window.
typedef struct {
    uint64_t n; //  numeric values seen (sum, avg, min, max)
    bool flt;   //  a float was summed, or the int sum overflowed
    int64_t isum;
    double fsum;
    sl_num_t min, max;
    uint8_t *first, *last; //  raw values (first, last), heap
    uint32_t first_len, last_len;
    uint64_t first_off, last_off;
} sl_acc_t;

#define SL_WIN_SPARE 64 //  accumulator arrays kept for reuse (sl_win_t.spare)

typedef struct {
    int64_t start, end;
    uint64_t count;
    sl_acc_t *acc; //  one per aggregate of the operator
    uint32_t n_acc;
} sl_win_w_t;

struct _sl_win_t {
    sl_win_spec_t spec;
    int64_t lateness;
    sl_agg_t aggs[SL_WIN_MAX_AGGS];
    size_t n_aggs;
    sl_buf_t result; //  the result value being encoded
    //  Accumulator arrays of closed windows, zeroed, for the next windows
    //  to open: a tumbling window per key opens as one closes, and a free
    //  and a calloc per window were a tenth of a keyed member's time.
    sl_acc_t *spare[SL_WIN_SPARE];
    size_t n_spare;
    sl_win_key_t *spare_key; //  a released key, empty, its window array kept
};

struct _sl_win_key_t {
    bool has_time;
    int64_t stream_time;
    sl_win_w_t *w; //  open windows, sorted by end then start
    size_t n, cap;
};

//  sl_agg.c
int sl_acc_add (const sl_agg_t *agg, sl_acc_t *acc, const uint8_t *value, size_t len,
                uint64_t offset);
int sl_acc_merge (const sl_agg_t *agg, sl_acc_t *dst, sl_acc_t *src);
void sl_acc_free (sl_acc_t *acc);
//  Writes the aggregate's result (a msgpack value) into out.
int sl_acc_result (const sl_agg_t *agg, const sl_acc_t *acc, sl_buf_t *out);
int sl_acc_encode (const sl_acc_t *acc, sl_buf_t *out);
int sl_acc_decode (sl_acc_t *acc, const uint8_t **p, const uint8_t *end);
//  msgpack helpers
int sl_win_put_int (sl_buf_t *out, int64_t v);
int sl_win_put_str (sl_buf_t *out, const char *s, size_t len);
int sl_win_put_raw (sl_buf_t *out, const uint8_t *data, size_t len);
int sl_win_read_num (const uint8_t **p, const uint8_t *end, sl_num_t *num);

#endif
