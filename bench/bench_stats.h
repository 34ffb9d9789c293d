/*  bench_stats.h - the clock and the latency summary of every benchmark
    program, so that sluice-bench, zmq-chain and redis-chain stamp records
    alike and report in one format that bench/run reads:

        latency_us p50=.. p90=.. p99=.. p99.9=.. max=.. mean=..

    and, with --cdf FILE, the distribution as "latency_us fraction" lines
    (a few hundred quantiles, denser in the tail) for the CDF plot.

    Header-only: zmq-chain and redis-chain do not link Sluice's library.
*/
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

//  Microseconds on CLOCK_MONOTONIC: system-wide, so a stamp taken in one
//  process (a record's creation) can be subtracted in another (its arrival).
static inline int64_t
bench_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
bench_cmp_i64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

//  The latency at quantile q of sorted[0..n), n > 0.
static int64_t
bench_quantile (const int64_t *sorted, size_t n, double q)
{
    size_t i = (size_t)(q * (double)n);
    return sorted[i < n ? i : n - 1];
}

//  Sorts lat[0..n) and prints the summary line; writes the CDF to cdf_path
//  when it is not NULL. Returns 0, or -1 when n is 0 or the file fails.
static int
bench_latency_report (int64_t *lat, size_t n, const char *cdf_path)
{
    if (n == 0) {
        return -1;
    }
    qsort (lat, n, sizeof *lat, bench_cmp_i64);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += (double)lat[i];
    }
    printf ("latency_us p50=%" PRId64 " p90=%" PRId64 " p99=%" PRId64 " p99.9=%" PRId64
            " max=%" PRId64 " mean=%.0f\n",
            bench_quantile (lat, n, 0.50), bench_quantile (lat, n, 0.90),
            bench_quantile (lat, n, 0.99), bench_quantile (lat, n, 0.999), lat[n - 1],
            sum / (double)n);
    fflush (stdout);
    if (!cdf_path) {
        return 0;
    }
    FILE *f = fopen (cdf_path, "w");
    if (!f) {
        perror (cdf_path);
        return -1;
    }
    //  0.5 % steps to 95 %, then ten times finer per decade of the tail.
    static const double edges[] = {0.0, 0.95, 0.995, 0.9995, 0.99995};
    static const double steps[] = {0.005, 0.0005, 0.00005, 0.000005, 0.0000005};
    for (size_t e = 0; e < 5; e++) {
        double top = e + 1 < 5 ? edges[e + 1] : 1.0;
        for (double q = edges[e]; q < top; q += steps[e]) {
            fprintf (f, "%" PRId64 " %.7f\n", bench_quantile (lat, n, q), q);
        }
    }
    fprintf (f, "%" PRId64 " 1\n", lat[n - 1]);
    return fclose (f) == 0 ? 0 : -1;
}

#endif
