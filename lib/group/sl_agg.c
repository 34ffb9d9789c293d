/*  sl_agg.c - the aggregates of a window (--agg): count, sum, avg, min,
    max, first, last; their accumulators, how two merge (session windows),
    their results and their stored encoding.

    Integer sums are exact in 64 bits; a sum that would overflow goes on
    as a float (and so does one that meets a float). min and max compare
    numbers (ints exactly, otherwise as doubles) and keep the winner's
    type. Values that are not numbers count in first/last only; records
    without the path count in none of the path's aggregates.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_mp.h"
#include "sl_window_int.h"

int
sl_win_put_raw (sl_buf_t *out, const uint8_t *data, size_t len)
{
    return sl_buf_append (out, data, len);
}

//  Numbers are written in place (room for the largest first), not into
//  a temporary and copied: a state is a few dozen of them, and the copy
//  of a few bytes was a call each (BENCHMARKS.md, the state cache at
//  1,000,000 keys).
int
sl_win_put_int (sl_buf_t *out, int64_t v)
{
    int rc = sl_buf_reserve (out, 9);
    if (rc == 0) {
        out->len += sl_mp_write_int (out->data + out->len, 9, v);
    }
    return rc;
}

static int
s_put_double (sl_buf_t *out, double v)
{
    int rc = sl_buf_reserve (out, 9);
    if (rc == 0) {
        out->len += sl_mp_write_double (out->data + out->len, 9, v);
    }
    return rc;
}

static int
s_put_nil (sl_buf_t *out)
{
    static const uint8_t nil = 0xc0;
    return sl_buf_append (out, &nil, 1);
}

int
sl_win_put_str (sl_buf_t *out, const char *s, size_t len)
{
    uint8_t tmp[9];
    int rc = sl_buf_append (out, tmp, sl_mp_write_str_header (tmp, sizeof tmp, (uint32_t)len));
    return rc ? rc : sl_buf_append (out, s, len);
}

static int
s_put_num (sl_buf_t *out, const sl_num_t *num)
{
    return num->is_int ? sl_win_put_int (out, num->i) : s_put_double (out, num->d);
}

//  A number: any msgpack int or float. SL_ETYPE for anything else (not consumed).
int
sl_win_read_num (const uint8_t **p, const uint8_t *end, sl_num_t *num)
{
    if (*p >= end) {
        return SL_ETRUNC;
    }
    uint8_t b = **p;
    if (b == 0xcb && end - *p >= 9) {
        uint64_t bits = sl_be64 (*p + 1);
        memcpy (&num->d, &bits, sizeof num->d);
        num->is_int = false;
        *p += 9;
        return 0;
    }
    if (b == 0xca && end - *p >= 5) {
        uint32_t bits = sl_be32 (*p + 1);
        float f;
        memcpy (&f, &bits, sizeof f);
        num->d = f;
        num->is_int = false;
        *p += 5;
        return 0;
    }
    if (sl_mp_read_int (p, end, &num->i) == 0) {
        num->is_int = true;
        num->d = (double)num->i;
        return 0;
    }
    uint64_t u;
    if (sl_mp_read_uint (p, end, &u) == 0) {
        //  Above INT64_MAX: kept as a float.
        num->is_int = false;
        num->d = (double)u;
        return 0;
    }
    return SL_ETYPE;
}

static int
s_cmp (const sl_num_t *a, const sl_num_t *b)
{
    if (a->is_int && b->is_int) {
        return a->i < b->i ? -1 : a->i > b->i;
    }
    double x = a->is_int ? (double)a->i : a->d;
    double y = b->is_int ? (double)b->i : b->d;
    return x < y ? -1 : x > y;
}

static void
s_sum_add (sl_acc_t *acc, const sl_num_t *num)
{
    int64_t sum;
    if (num->is_int && !__builtin_add_overflow (acc->isum, num->i, &sum)) {
        acc->isum = sum;
        return;
    }
    //  A float, or an int sum past 64 bits: the sum goes on as a float.
    acc->flt = true;
    acc->fsum += num->is_int ? (double)num->i : num->d;
}

static int
s_keep (uint8_t **dst, uint32_t *dst_len, const uint8_t *value, size_t len)
{
    if (len > SL_WIN_MAX_VALUE) {
        return SL_ETOOBIG;
    }
    uint8_t *copy = malloc (len ? len : 1);
    if (!copy) {
        return SL_ENOMEM;
    }
    memcpy (copy, value, len);
    free (*dst);
    *dst = copy;
    *dst_len = (uint32_t)len;
    return 0;
}

static void
s_minmax (sl_acc_t *acc, const sl_num_t *num, bool first)
{
    if (first || s_cmp (num, &acc->min) < 0) {
        acc->min = *num;
    }
    if (first || s_cmp (num, &acc->max) > 0) {
        acc->max = *num;
    }
}

int
sl_acc_add (const sl_agg_t *agg, sl_acc_t *acc, const uint8_t *value, size_t len, uint64_t offset)
{
    if (agg->kind == SL_AGG_COUNT) {
        return 0;
    }
    const uint8_t *field;
    size_t field_len;
    int rc = sl_mp_path (value, len, agg->path, &field, &field_len);
    if (rc <= 0) {
        return rc; //  absent: not in this aggregate
    }
    if (agg->kind == SL_AGG_FIRST || agg->kind == SL_AGG_LAST) {
        if (agg->kind == SL_AGG_FIRST && acc->first && acc->first_off <= offset) {
            return 0;
        }
        if (agg->kind == SL_AGG_LAST && acc->last && acc->last_off > offset) {
            return 0;
        }
        bool is_first = agg->kind == SL_AGG_FIRST;
        rc = is_first ? s_keep (&acc->first, &acc->first_len, field, field_len)
                      : s_keep (&acc->last, &acc->last_len, field, field_len);
        if (rc == 0) {
            *(is_first ? &acc->first_off : &acc->last_off) = offset;
        }
        return rc;
    }
    sl_num_t num;
    const uint8_t *p = field;
    if (sl_win_read_num (&p, field + field_len, &num) != 0) {
        return 0; //  not a number: not summed, not compared
    }
    s_sum_add (acc, &num);
    s_minmax (acc, &num, acc->n == 0);
    acc->n++;
    return 0;
}

int
sl_acc_merge (const sl_agg_t *agg, sl_acc_t *dst, sl_acc_t *src)
{
    (void)agg;
    if (src->n) {
        sl_num_t isum = {.is_int = true, .i = src->isum, .d = (double)src->isum};
        s_sum_add (dst, &isum);
        if (src->flt) {
            dst->flt = true;
            dst->fsum += src->fsum;
        }
        if (dst->n == 0) {
            dst->min = src->min;
            dst->max = src->max;
        }
        else {
            s_minmax (dst, &src->min, false);
            s_minmax (dst, &src->max, false);
        }
        dst->n += src->n;
    }
    if (src->first && (!dst->first || src->first_off < dst->first_off)) {
        free (dst->first);
        dst->first = src->first;
        dst->first_len = src->first_len;
        dst->first_off = src->first_off;
        src->first = NULL;
    }
    if (src->last && (!dst->last || src->last_off > dst->last_off)) {
        free (dst->last);
        dst->last = src->last;
        dst->last_len = src->last_len;
        dst->last_off = src->last_off;
        src->last = NULL;
    }
    return 0;
}

void
sl_acc_free (sl_acc_t *acc)
{
    free (acc->first);
    free (acc->last);
    memset (acc, 0, sizeof *acc);
}

int
sl_acc_result (const sl_agg_t *agg, const sl_acc_t *acc, sl_buf_t *out)
{
    switch (agg->kind) {
    case SL_AGG_SUM:
        if (acc->flt) {
            return s_put_double (out, acc->fsum + (double)acc->isum);
        }
        return sl_win_put_int (out, acc->isum);
    case SL_AGG_AVG:
        if (acc->n == 0) {
            return s_put_nil (out);
        }
        return s_put_double (out,
                             ((acc->flt ? acc->fsum : 0) + (double)acc->isum) / (double)acc->n);
    case SL_AGG_MIN:
        return acc->n ? s_put_num (out, &acc->min) : s_put_nil (out);
    case SL_AGG_MAX:
        return acc->n ? s_put_num (out, &acc->max) : s_put_nil (out);
    case SL_AGG_FIRST:
        return acc->first ? sl_win_put_raw (out, acc->first, acc->first_len) : s_put_nil (out);
    case SL_AGG_LAST:
        return acc->last ? sl_win_put_raw (out, acc->last, acc->last_len) : s_put_nil (out);
    default:
        return SL_EINVAL;
    }
}

//  Stored as [n, flt, isum, fsum, min, max, first, first_off, last, last_off].
int
sl_acc_encode (const sl_acc_t *acc, sl_buf_t *out)
{
    uint8_t tmp[9];
    int rc = sl_buf_append (out, tmp, sl_mp_write_array (tmp, sizeof tmp, 10));
    rc = rc ? rc : sl_win_put_int (out, (int64_t)acc->n);
    rc = rc ? rc : sl_buf_append (out, tmp, sl_mp_write_bool (tmp, sizeof tmp, acc->flt));
    rc = rc ? rc : sl_win_put_int (out, acc->isum);
    rc = rc ? rc : s_put_double (out, acc->fsum);
    rc = rc ? rc : (acc->n ? s_put_num (out, &acc->min) : s_put_nil (out));
    rc = rc ? rc : (acc->n ? s_put_num (out, &acc->max) : s_put_nil (out));
    rc =
        rc ? rc : (acc->first ? sl_win_put_raw (out, acc->first, acc->first_len) : s_put_nil (out));
    rc = rc ? rc : sl_win_put_int (out, (int64_t)acc->first_off);
    rc = rc ? rc : (acc->last ? sl_win_put_raw (out, acc->last, acc->last_len) : s_put_nil (out));
    rc = rc ? rc : sl_win_put_int (out, (int64_t)acc->last_off);
    return rc;
}

static int
s_read_raw (const uint8_t **p, const uint8_t *end, uint8_t **dst, uint32_t *dst_len)
{
    if (sl_mp_read_nil (p, end)) {
        return 0;
    }
    size_t used;
    int rc = sl_mp_skip (*p, (size_t)(end - *p), SL_MP_MAX_DEPTH, &used);
    if (rc == 0) {
        rc = s_keep (dst, dst_len, *p, used);
    }
    if (rc == 0) {
        *p += used;
    }
    return rc;
}

int
sl_acc_decode (sl_acc_t *acc, const uint8_t **p, const uint8_t *end)
{
    memset (acc, 0, sizeof *acc);
    uint32_t n = 0;
    int64_t count = 0, first_off = 0, last_off = 0;
    sl_num_t fsum;
    int rc = sl_mp_read_array (p, end, &n);
    if (rc == 0 && n != 10) {
        rc = SL_EPROTO;
    }
    rc = rc ? rc : sl_mp_read_int (p, end, &count);
    rc = rc ? rc : sl_mp_read_bool (p, end, &acc->flt);
    rc = rc ? rc : sl_mp_read_int (p, end, &acc->isum);
    rc = rc ? rc : sl_win_read_num (p, end, &fsum);
    if (rc) {
        return rc;
    }
    acc->n = (uint64_t)count;
    acc->fsum = fsum.is_int ? (double)fsum.i : fsum.d;
    if (!sl_mp_read_nil (p, end) && (rc = sl_win_read_num (p, end, &acc->min)) != 0) {
        return rc;
    }
    if (!sl_mp_read_nil (p, end) && (rc = sl_win_read_num (p, end, &acc->max)) != 0) {
        return rc;
    }
    rc = s_read_raw (p, end, &acc->first, &acc->first_len);
    rc = rc ? rc : sl_mp_read_int (p, end, &first_off);
    rc = rc ? rc : s_read_raw (p, end, &acc->last, &acc->last_len);
    rc = rc ? rc : sl_mp_read_int (p, end, &last_off);
    if (rc) {
        sl_acc_free (acc);
        return rc;
    }
    acc->first_off = (uint64_t)first_off;
    acc->last_off = (uint64_t)last_off;
    return 0;
}
