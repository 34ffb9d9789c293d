/*  mp-bench.c - the cost of writing and reading msgpack, per call: the
    record encoder (sl_record_encode, as the source batches), the
    single-value writers, JSON -> msgpack (whose numbers, strings and
    containers go through the same writers), the broker's batch check
    (sl_batch_validate, the bounded walk every stored record passes) and
    msgpack -> JSON (the sink's per-record path). Used to compare msgpack-c's
    packer and the one reader (sluice/mp.h) with the hand-written code they
    replaced (BENCHMARKS.md, "msgpack-c's packer and the one reader").

    Usage: mp-bench [ROUNDS]     (default 5; prints the median of the rounds,
                                  in ns of this thread's CPU time per call)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sl_batch.h"
#include "sl_buf.h"
#include "sl_json.h"
#include "sl_mp.h"

//  CPU time of this thread, not wall-clock: on a shared machine the time
//  spent descheduled would drown the differences measured here.
static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

//  Volatile sink so the compiler cannot drop the writes.
static volatile size_t s_sink;

static double
s_records (size_t n)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    uint8_t value[100];
    memset (value, 0xa1, sizeof value);
    value[0] = 0xd9; //  str8 of 98 bytes
    value[1] = 98;
    double t0 = s_now ();
    for (size_t i = 0; i < n; i++) {
        if ((i & 1023) == 0) {
            sl_buf_reset (&buf);
        }
        char key[8];
        memcpy (key, &i, sizeof key);
        if (sl_record_encode (&buf, 1700000000000 + (int64_t)i, key, sizeof key, false, NULL, 0,
                              value, sizeof value)) {
            abort ();
        }
    }
    double t = s_now () - t0;
    s_sink += buf.len;
    sl_buf_free (&buf);
    return t / (double)n * 1e9;
}

static double
s_scalars (size_t n)
{
    uint8_t out[64];
    size_t total = 0;
    double t0 = s_now ();
    for (size_t i = 0; i < n; i++) {
        int64_t v = (int64_t)(i * 2654435761u) >> (i & 31);
        size_t k = sl_mp_write_array (out, sizeof out, (uint32_t)(i & 31));
        k += sl_mp_write_int (out + k, sizeof out - k, (i & 1) ? v : -v);
        k += sl_mp_write_uint (out + k, sizeof out - k, (uint64_t)v);
        k += sl_mp_write_str_header (out + k, sizeof out - k, (uint32_t)(i & 300));
        k += sl_mp_write_nil (out + k, sizeof out - k);
        total += k;
    }
    double t = s_now () - t0;
    s_sink += total;
    return t / (double)n * 1e9;
}

static double
s_json (size_t n)
{
    sl_json_t *json = sl_json_new ();
    sl_buf_t out;
    sl_buf_init (&out, 0);
    const char *line = "{\"id\":123456,\"user\":\"alice\",\"temp\":21.5,\"tags\":[\"a\",\"b\"],"
                       "\"ok\":true,\"n\":-42,\"big\":18446744073709551615}";
    size_t len = strlen (line);
    char why[256];
    double t0 = s_now ();
    for (size_t i = 0; i < n; i++) {
        sl_buf_reset (&out);
        if (sl_json_to_msgpack (json, line, len, &out, why, sizeof why)) {
            abort ();
        }
    }
    double t = s_now () - t0;
    s_sink += out.len;
    sl_buf_free (&out);
    sl_json_destroy (&json);
    return t / (double)n * 1e9;
}

//  A batch of 1024 records as the source makes them, validated whole.
static double
s_validate (size_t rounds)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    uint8_t value[100];
    memset (value, 0xa1, sizeof value);
    value[0] = 0xd9;
    value[1] = 98;
    for (uint32_t i = 0; i < 1024; i++) {
        if (sl_record_encode (&buf, 1700000000000 + i, &i, sizeof i, false, NULL, 0, value,
                              sizeof value)) {
            abort ();
        }
    }
    double t0 = s_now ();
    for (size_t r = 0; r < rounds; r++) {
        if (sl_batch_validate (buf.data, buf.len, 1024, SL_MP_MAX_DEPTH)) {
            abort ();
        }
    }
    double t = s_now () - t0;
    sl_buf_free (&buf);
    return t / (double)(rounds * 1024) * 1e9;
}

static double
s_to_json (size_t n)
{
    sl_json_t *json = sl_json_new ();
    sl_buf_t in, out;
    sl_buf_init (&in, 0);
    sl_buf_init (&out, 0);
    const char *line = "{\"id\":123456,\"user\":\"alice\",\"temp\":21.5,\"tags\":[\"a\",\"b\"],"
                       "\"ok\":true,\"n\":-42,\"big\":18446744073709551615}";
    char why[256];
    if (sl_json_to_msgpack (json, line, strlen (line), &in, why, sizeof why)) {
        abort ();
    }
    double t0 = s_now ();
    for (size_t i = 0; i < n; i++) {
        sl_buf_reset (&out);
        if (sl_msgpack_to_json (json, in.data, in.len, &out)) {
            abort ();
        }
    }
    double t = s_now () - t0;
    s_sink += out.len;
    sl_buf_free (&in);
    sl_buf_free (&out);
    sl_json_destroy (&json);
    return t / (double)n * 1e9;
}

int
main (int argc, char **argv)
{
    int rounds = argc > 1 ? atoi (argv[1]) : 5;
    if (rounds < 1 || rounds > 99) {
        fprintf (stderr, "mp-bench: ROUNDS must be 1..99\n");
        return 2;
    }
    double rec[99], sca[99], js[99], val[99], tj[99];
    for (int r = 0; r < rounds; r++) {
        rec[r] = s_records (5000000);
        sca[r] = s_scalars (5000000);
        js[r] = s_json (500000);
        val[r] = s_validate (5000);
        tj[r] = s_to_json (500000);
    }
    qsort (rec, (size_t)rounds, sizeof (double), s_cmp);
    qsort (sca, (size_t)rounds, sizeof (double), s_cmp);
    qsort (js, (size_t)rounds, sizeof (double), s_cmp);
    qsort (val, (size_t)rounds, sizeof (double), s_cmp);
    qsort (tj, (size_t)rounds, sizeof (double), s_cmp);
    printf ("record encode (8-byte key, 100-byte value): %.1f ns\n", rec[rounds / 2]);
    printf ("five writers (array, int, uint, str header, nil): %.1f ns\n", sca[rounds / 2]);
    printf ("JSON -> msgpack (7-field object): %.1f ns\n", js[rounds / 2]);
    printf ("batch check per record (1024-record batch): %.1f ns\n", val[rounds / 2]);
    printf ("msgpack -> JSON (the same object): %.1f ns\n", tj[rounds / 2]);
    return 0;
}
