/*  sluice-bench - end-to-end latency of the durable path, measured the way
    Kafka's EndToEndLatency tool does: one process publishes records at a
    fixed rate (each value carries its creation time in microseconds) and
    reads them back from the broker's live feed; the latency of a record is
    the time from its creation (before batching) to its arrival, so it holds
    the linger, the group commit and the live fan-out.

    sluice-bench latency --broker tcp://127.0.0.1:7600 --rate 10000 --seconds 10

    The loop is bounded: it publishes rate * seconds records and waits at
    most 10 s for the last of them.
*/
#include <czmq.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "sl_batch.h"
#include "sl_client.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_opts.h"
#include "sl_proto.h"
#include "sl_util.h"

enum { OPT_BROKER, OPT_STREAM, OPT_RATE, OPT_SECONDS, OPT_LINGER, OPT_SIZE };

static const sl_opt_t s_opts[] = {
    [OPT_BROKER] = {"broker", 'b', "ENDPOINT", "broker command endpoint", false},
    [OPT_STREAM] = {"stream", 's', "NAME", "stream to use (default bench-latency)", false},
    [OPT_RATE] = {"rate", 'r', "N", "records per second (default 10000)", false},
    [OPT_SECONDS] = {"seconds", 't', "N", "seconds to publish (default 10)", false},
    [OPT_LINGER] = {"linger", 0, "MS", "batch linger in ms (default 1)", false},
    [OPT_SIZE] = {"size", 0, "BYTES", "record value size (default 100)", false},
    {NULL, 0, NULL, NULL, false},
};

typedef struct {
    const char *broker;
    const char *stream;
    uint64_t rate;
    uint64_t seconds;
    uint64_t linger_ms;
    uint64_t size;
} bench_config_t;

static int
s_apply (void *ctx, int index, const char *arg, const char **why)
{
    bench_config_t *c = ctx;
    *why = "expected a number";
    switch (index) {
    case OPT_BROKER:
        c->broker = arg;
        return 0;
    case OPT_STREAM:
        c->stream = arg;
        return 0;
    case OPT_RATE:
        return sl_parse_u64 (arg, &c->rate);
    case OPT_SECONDS:
        return sl_parse_u64 (arg, &c->seconds);
    case OPT_LINGER:
        return sl_parse_u64 (arg, &c->linger_ms);
    case OPT_SIZE:
        return sl_parse_u64 (arg, &c->size);
    }
    return 0;
}

static int64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
s_cmp (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

//  One value: a msgpack array [created_us, padding bin] of about `size` bytes.
static size_t
s_value (uint8_t *out, size_t cap, int64_t created_us, size_t size)
{
    size_t n = sl_mp_write_array (out, cap, 2);
    n += sl_mp_write_int (out + n, cap - n, created_us);
    size_t pad = size > n + 5 ? size - n - 5 : 0;
    n += sl_mp_write_bin_header (out + n, cap - n, (uint32_t) pad);
    memset (out + n, 'x', pad);
    return n + pad;
}

int
main (int argc, char **argv)
{
    sl_log_set_program ("sluice-bench");
    bench_config_t c = {.broker = "tcp://127.0.0.1:7600", .stream = "bench-latency",
                        .rate = 10000, .seconds = 10, .linger_ms = 1, .size = 100};
    sl_opts_spec_t spec = {.program = "sluice-bench", .synopsis = "latency [options]",
                           .about = "End-to-end latency at a fixed rate, through the broker's "
                                    "durable log and live feed.",
                           .opts = s_opts};
    int exit_code = 0;
    int first = sl_opts_parse (&spec, argc, argv, s_apply, &c, &exit_code);
    if (first < 0) {
        return exit_code;
    }
    if (c.rate == 0 || c.seconds == 0 || c.size > 60000) {
        fprintf (stderr, "sluice-bench: --rate and --seconds must be > 0, --size <= 60000\n");
        return 2;
    }
    zsys_init ();
    char producer[64];
    snprintf (producer, sizeof producer, "bench-%d-%" PRId64, getpid (), sl_now_ms ());
    sl_client_opts_t opts = {.broker = c.broker, .software = "sluice-bench/" SLUICE_VERSION_STR,
                             .timeout_ms = 5000};
    sl_client_t *client = sl_client_new (&opts);
    if (!client || sl_client_hello (client, sl_mono_ms () + 10000)) {
        fprintf (stderr, "sluice-bench: broker %s not answering\n", c.broker);
        return 1;
    }
    zsock_t *sub = zsock_new (ZMQ_SUB);
    uint8_t topic[SL_NAME_MAX + 2];
    size_t topic_len = sl_topic (c.stream, topic);
    zsock_set_rcvhwm (sub, 1000);
    zmq_setsockopt (zsock_resolve (sub), ZMQ_SUBSCRIBE, topic, topic_len);
    zsock_connect (sub, "%s", sl_client_pub_endpoint (client));
    zclock_sleep (300);     //  let the subscription reach the broker before timing starts

    uint64_t total = c.rate * c.seconds;
    int64_t *lat = calloc (total, sizeof *lat);
    sl_buf_t batch;
    sl_buf_init (&batch, 0);
    uint8_t value[65536];
    uint64_t created = 0, received = 0, seq = 1, batch_count = 0;
    int64_t start = s_now_us ();
    int64_t batch_first_us = 0;
    int64_t interval_us = 1000000 / (int64_t) c.rate;
    if (interval_us == 0) {
        interval_us = 1;
    }
    zpoller_t *poller = zpoller_new (sub, sl_client_sock (client), NULL);
    int64_t deadline = 0;
    while (received < total && !zsys_interrupted) {
        int64_t now = s_now_us ();
        //  Create every record that is due by now.
        while (created < total && start + (int64_t) created * interval_us <= now) {
            int64_t t = s_now_us ();
            size_t n = s_value (value, sizeof value, t, c.size);
            sl_record_encode (&batch, sl_now_ms (), NULL, 0, false, NULL, 0, value, n);
            if (batch_count++ == 0) {
                batch_first_us = t;
            }
            created++;
        }
        if (batch_count &&
            (now - batch_first_us >= (int64_t) c.linger_ms * 1000 || batch_count >= 1000 ||
             created == total)) {
            sl_msg_t pub;
            sl_msg_init (&pub, SL_CMD_PUBLISH);
            snprintf (pub.stream, sizeof pub.stream, "%s", c.stream);
            snprintf (pub.name, sizeof pub.name, "%s", producer);
            pub.seq = seq;
            pub.count = (uint32_t) batch_count;
            zmsg_t *data = zmsg_new ();
            zmsg_addmem (data, batch.data, batch.len);
            if (sl_client_send (client, &pub, &data) != 0) {
                zmsg_destroy (&data);
            }
            seq += batch_count;
            batch_count = 0;
            sl_buf_reset (&batch);
        }
        if (created == total && !deadline) {
            deadline = s_now_us () + 10000000;
        }
        if (deadline && s_now_us () > deadline) {
            break;
        }
        int64_t next_due = start + (int64_t) created * interval_us;
        int wait_ms = (int) ((next_due - s_now_us ()) / 1000);
        if (wait_ms < 0 || batch_count) {
            wait_ms = 0;
        }
        void *which = zpoller_wait (poller, wait_ms > 100 ? 100 : wait_ms);
        if (which == sl_client_sock (client)) {
            sl_msg_t reply;
            sl_client_recv (client, &reply, NULL, 0);
            sl_msg_reset (&reply);
        }
        else if (which == sub) {
            zmsg_t *m = zmsg_recv (sub);
            int64_t arrived = s_now_us ();
            zframe_t *t = zmsg_pop (m);
            zframe_destroy (&t);
            sl_msg_t live;
            sl_msg_init (&live, SL_CMD_NONE);
            if (m && sl_msg_decode (m, &live) == 0) {
                zframe_t *blob = zmsg_first (m);
                sl_record_iter_t it;
                sl_batch_header_t h;
                sl_record_t r;
                if (blob &&
                    sl_record_iter_init_blob (&it, zframe_data (blob), zframe_size (blob), &h) ==
                        0) {
                    while (sl_record_iter_next (&it, &r) == 1 && received < total) {
                        const uint8_t *p = r.value, *end = r.value + r.value_len;
                        uint32_t n;
                        int64_t t0;
                        if (sl_mp_read_array (&p, end, &n) == 0 && sl_mp_read_int (&p, end, &t0) == 0) {
                            lat[received++] = arrived - t0;
                        }
                    }
                }
            }
            sl_msg_reset (&live);
            zmsg_destroy (&m);
        }
    }
    int64_t elapsed = s_now_us () - start;
    qsort (lat, received, sizeof *lat, s_cmp);
    if (received == 0) {
        fprintf (stderr, "sluice-bench: no record came back\n");
        return 1;
    }
    double sum = 0;
    for (uint64_t i = 0; i < received; i++) {
        sum += (double) lat[i];
    }
    printf ("records=%" PRIu64 " received=%" PRIu64 " rate=%" PRIu64 "/s linger=%" PRIu64
            "ms elapsed=%.2fs\n",
            total, received, c.rate, c.linger_ms, (double) elapsed / 1e6);
    printf ("latency_us p50=%" PRId64 " p90=%" PRId64 " p99=%" PRId64 " p99.9=%" PRId64
            " max=%" PRId64 " mean=%.0f\n",
            lat[received / 2], lat[received * 90 / 100], lat[received * 99 / 100],
            lat[received * 999 / 1000], lat[received - 1], sum / (double) received);
    zpoller_destroy (&poller);
    zsock_destroy (&sub);
    sl_client_destroy (&client);
    sl_buf_free (&batch);
    free (lat);
    return received == total ? 0 : 1;
}
