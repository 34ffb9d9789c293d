/*  sluice-bench - end-to-end latency of the durable path, measured the way
    Kafka's EndToEndLatency tool does: one process publishes records at a
    fixed rate (each value carries its creation time in microseconds) and
    reads them back from the broker's live feed; the latency of a record is
    the time from its creation (before batching) to its arrival, so it holds
    the linger, the group commit and the live fan-out.

    sluice-bench latency --broker tcp://127.0.0.1:7600 --rate 10000 --seconds 10

    The loop is bounded: it publishes rate * seconds records and waits at
    most 10 s for the last of them.

    Two more modes measure the broker's two halves on their own:
    `ingest` publishes --count records of --size bytes in batches of
    --batch with --window batches in flight and times them until the last
    CONFIRM (every batch committed to LMDB); `replay` reads a stream from
    its first offset to its end with FETCH, walking every record, the way a
    discarding sink would.
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
#include "sl_proto_live.h"
#include "sl_util.h"

#include "bench_stats.h"

enum {
    OPT_BROKER,
    OPT_STREAM,
    OPT_RATE,
    OPT_SECONDS,
    OPT_LINGER,
    OPT_SIZE,
    OPT_COUNT,
    OPT_BATCH,
    OPT_WINDOW,
    OPT_OUT,
    OPT_CDF,
    OPT_CURVE_SECRET,
    OPT_BROKER_KEY
};

static const sl_opt_t s_opts[] = {
    [OPT_BROKER] = {"broker", 'b', "ENDPOINT", "broker command endpoint", .repeat = false},
    [OPT_STREAM] = {"stream", 's', "NAME", "stream to use (default bench-latency)",
                    .repeat = false},
    [OPT_RATE] = {"rate", 'r', "N", "records per second (default 10000)", .repeat = false},
    [OPT_SECONDS] = {"seconds", 0, "N", "seconds to publish (default 10)", .repeat = false},
    [OPT_LINGER] = {"linger", 0, "MS",
                    "latency: longest wait of a batch while an earlier one is "
                    "unconfirmed, as sluice-source's --linger (default 5)",
                    .repeat = false},
    [OPT_SIZE] = {"size", 0, "BYTES", "record value size (default 100)", .repeat = false},
    [OPT_COUNT] = {"count", 'c', "N", "ingest: records to publish (default 2000000)",
                   .repeat = false},
    [OPT_BATCH] = {"batch", 0, "N", "ingest: records per batch (default 1000)", .repeat = false},
    [OPT_WINDOW] = {"window", 0, "N", "ingest: batches in flight (default 16)", .repeat = false},
    [OPT_OUT] = {"out", 0, "STREAM",
                 "latency: read the records back from STREAM (the output of a worker group "
                 "reading --stream) instead of --stream itself",
                 .repeat = false},
    [OPT_CDF] = {"cdf", 0, "FILE",
                 "latency: write the distribution (latency_us fraction per "
                 "line) to FILE",
                 .repeat = false},
    [OPT_CURVE_SECRET] = {"curve-secret", 0, "FILE", "this client's key pair (CURVE on)",
                          .repeat = false},
    [OPT_BROKER_KEY] = {"broker-key", 0, "FILE", "the broker's public key", .repeat = false},
    {.name = NULL},
};

typedef struct {
    const char *broker;
    const char *stream;
    uint64_t rate;
    uint64_t seconds;
    uint64_t linger_ms;
    uint64_t size;
    uint64_t count;
    uint64_t batch;
    uint64_t window;
    const char *out;
    const char *cdf;
    const char *curve_secret;
    const char *broker_key;
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
    case OPT_COUNT:
        return sl_parse_u64 (arg, &c->count);
    case OPT_BATCH:
        return sl_parse_u64 (arg, &c->batch);
    case OPT_WINDOW:
        return sl_parse_u64 (arg, &c->window);
    case OPT_OUT:
        c->out = arg;
        return 0;
    case OPT_CDF:
        c->cdf = arg;
        return 0;
    case OPT_CURVE_SECRET:
        c->curve_secret = arg;
        return 0;
    case OPT_BROKER_KEY:
        c->broker_key = arg;
        return 0;
    }
    return 0;
}

//  One value: a msgpack array [created_us, padding bin] of about `size` bytes.
static size_t
s_value (uint8_t *out, size_t cap, int64_t created_us, size_t size)
{
    size_t n = sl_mp_write_array (out, cap, 2);
    n += sl_mp_write_int (out + n, cap - n, created_us);
    size_t room = size > n ? size - n : 0;
    size_t header = room <= 0xff + 2 ? 2 : room <= 0xffff + 3 ? 3 : 5;
    size_t pad = room > header ? room - header : 0;
    n += sl_mp_write_bin_header (out + n, cap - n, (uint32_t)pad);
    memset (out + n, 'x', pad);
    return n + pad;
}

static sl_client_t *s_connect (const bench_config_t *c);

static int
s_latency (bench_config_t c)
{
    char producer[64];
    snprintf (producer, sizeof producer, "bench-%d-%" PRId64, getpid (), sl_now_ms ());
    sl_client_t *client = s_connect (&c);
    if (!client) {
        return 1;
    }
    zsock_t *sub = zsock_new (ZMQ_SUB);
    uint8_t topic[SL_NAME_MAX + 2];
    size_t topic_len = sl_topic (c.out ? c.out : c.stream, topic);
    zsock_set_rcvhwm (sub, 1000);
    zmq_setsockopt (zsock_resolve (sub), ZMQ_SUBSCRIBE, topic, topic_len);
    sl_client_secure (client, sub);
    zsock_connect (sub, "%s", sl_client_pub_endpoint (client));
    zclock_sleep (300); //  let the subscription reach the broker before timing starts

    uint64_t total = c.rate * c.seconds;
    int64_t *lat = calloc (total, sizeof *lat);
    sl_buf_t batch;
    sl_buf_init (&batch, 0);
    uint8_t value[65536 + 64];
    uint64_t created = 0, received = 0, seq = 1, batch_count = 0, acked = 0;
    int64_t start = bench_now_us ();
    int64_t batch_first_us = 0;
    int64_t interval_us = 1000000 / (int64_t)c.rate;
    if (interval_us == 0) {
        interval_us = 1;
    }
    zpoller_t *poller = zpoller_new (sub, sl_client_sock (client), NULL);
    int64_t deadline = 0;
    while (received < total && !zsys_interrupted) {
        int64_t now = bench_now_us ();
        //  Create every record that is due by now.
        while (created < total && start + (int64_t)created * interval_us <= now) {
            int64_t t = bench_now_us ();
            size_t n = s_value (value, sizeof value, t, c.size);
            sl_record_encode (&batch, sl_now_ms (), NULL, 0, false, NULL, 0, value, n);
            if (batch_count++ == 0) {
                batch_first_us = t;
            }
            created++;
        }
        //  The source's rule (sl_batch_due): at once when nothing is
        //  unconfirmed, else when full or the linger is up.
        if (batch_count && (created == total ||
                            sl_batch_due (batch_count >= 1000, acked + 1 < seq,
                                          now - batch_first_us, (int64_t)c.linger_ms * 1000))) {
            sl_msg_t pub;
            sl_msg_init (&pub, SL_CMD_PUBLISH);
            snprintf (pub.stream, sizeof pub.stream, "%s", c.stream);
            snprintf (pub.name, sizeof pub.name, "%s", producer);
            pub.seq = seq;
            pub.count = (uint32_t)batch_count;
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
            deadline = bench_now_us () + 10000000;
        }
        if (deadline && bench_now_us () > deadline) {
            break;
        }
        //  Sleep until the next record is due or the open batch's linger
        //  is up, waking for replies and the live feed. zmq_poll counts
        //  milliseconds, so a shorter wait is a short nap between polls
        //  (spinning would take a core from the broker).
        int64_t wake = start + (int64_t)created * interval_us;
        if (batch_count && batch_first_us + (int64_t)c.linger_ms * 1000 < wake) {
            wake = batch_first_us + (int64_t)c.linger_ms * 1000;
        }
        int64_t wait_us = wake - bench_now_us ();
        int wait_ms = wait_us >= 1000 ? (int)(wait_us / 1000) : 0;
        void *which = zpoller_wait (poller, wait_ms > 100 ? 100 : wait_ms);
        if (!which && wait_ms == 0 && wait_us > 0) {
            struct timespec nap = {0, (wait_us < 20 ? wait_us : 20) * 1000};
            nanosleep (&nap, NULL);
        }
        if (which == sl_client_sock (client)) {
            sl_msg_t reply;
            sl_msg_init (&reply, SL_CMD_NONE);
            if (sl_client_recv (client, &reply, NULL, 0) == 0 && reply.cmd == SL_CMD_CONFIRM &&
                reply.seq > acked) {
                acked = reply.seq;
            }
            sl_msg_reset (&reply);
        }
        else if (which == sub) {
            zmsg_t *m = zmsg_recv (sub);
            int64_t arrived = bench_now_us ();
            sl_live_t live;
            if (m && sl_live_decode (m, topic, topic_len, &live) == 0) {
                sl_record_iter_t it;
                sl_record_t r;
                sl_record_iter_init (&it, live.records, live.records_len, live.header.count,
                                     live.header.base_offset);
                while (sl_record_iter_next (&it, &r) == 1 && received < total) {
                    const uint8_t *p = r.value, *end = r.value + r.value_len;
                    uint32_t n;
                    int64_t t0;
                    if (sl_mp_read_array (&p, end, &n) == 0 && sl_mp_read_int (&p, end, &t0) == 0) {
                        lat[received++] = arrived - t0;
                    }
                }
            }
            zmsg_destroy (&m);
        }
    }
    int64_t elapsed = bench_now_us () - start;
    if (received == 0) {
        fprintf (stderr, "sluice-bench: no record came back\n");
        return 1;
    }
    printf ("records=%" PRIu64 " received=%" PRIu64 " rate=%" PRIu64 "/s linger=%" PRIu64
            "ms elapsed=%.2fs path=%s%s%s\n",
            total, received, c.rate, c.linger_ms, (double)elapsed / 1e6, c.stream,
            c.out ? "->" : "", c.out ? c.out : "");
    int rc = bench_latency_report (lat, received, c.cdf) == 0 && received == total ? 0 : 1;
    zpoller_destroy (&poller);
    zsock_destroy (&sub);
    sl_client_destroy (&client);
    sl_buf_free (&batch);
    free (lat);
    return rc;
}

static sl_client_t *
s_connect (const bench_config_t *c)
{
    sl_client_opts_t opts = {
        .broker = c->broker, .software = "sluice-bench/" SLUICE_VERSION_STR, .timeout_ms = 5000};
    sl_client_t *client = sl_client_new (&opts);
    if (!client || sl_client_hello (client, sl_mono_ms () + 10000)) {
        fprintf (stderr, "sluice-bench: broker %s not answering\n", c->broker);
        sl_client_destroy (&client);
        return NULL;
    }
    return client;
}

//  Publishes count records in batches, window batches in flight, and waits
//  for the CONFIRM of the last: every record committed before it counts.
static int
s_ingest (bench_config_t c)
{
    sl_client_t *client = s_connect (&c);
    if (!client) {
        return 1;
    }
    char producer[64];
    snprintf (producer, sizeof producer, "bench-%d-%" PRId64, getpid (), sl_now_ms ());
    //  One batch, encoded once and sent again and again under new
    //  sequences: the broker sees distinct records, the bench spends its
    //  time on the wire and not on encoding.
    sl_buf_t batch;
    sl_buf_init (&batch, 0);
    uint8_t value[65536 + 64];
    for (uint64_t i = 0; i < c.batch; i++) {
        size_t n = s_value (value, sizeof value, (int64_t)i, c.size);
        sl_record_encode (&batch, sl_now_ms (), NULL, 0, false, NULL, 0, value, n);
    }
    zframe_t *frame = zframe_new (batch.data, batch.len);
    uint64_t batches = (c.count + c.batch - 1) / c.batch;
    uint64_t sent = 0, acked_seq = 0, next_seq = 1;
    int64_t start = bench_now_us ();
    int64_t deadline = sl_mono_ms () + 600000;
    while (acked_seq < batches * c.batch && sl_mono_ms () < deadline && !zsys_interrupted) {
        while (sent < batches && (sent - acked_seq / c.batch) < c.window) {
            sl_msg_t pub;
            sl_msg_init (&pub, SL_CMD_PUBLISH);
            snprintf (pub.stream, sizeof pub.stream, "%s", c.stream);
            snprintf (pub.name, sizeof pub.name, "%s", producer);
            pub.seq = next_seq;
            pub.count = (uint32_t)c.batch;
            if (sl_client_send_frame (client, &pub, frame) != 0) {
                break;
            }
            next_seq += c.batch;
            sent++;
        }
        sl_msg_t reply;
        sl_msg_init (&reply, SL_CMD_NONE);
        if (sl_client_recv (client, &reply, NULL, 5000) == 0) {
            if (reply.cmd == SL_CMD_CONFIRM && reply.seq > acked_seq) {
                acked_seq = reply.seq;
            }
            else if (reply.cmd == SL_CMD_ERROR) {
                fprintf (stderr, "sluice-bench: broker error %d: %s\n", reply.code, reply.text);
                sl_msg_reset (&reply);
                break;
            }
        }
        sl_msg_reset (&reply);
    }
    double secs = (double)(bench_now_us () - start) / 1e6;
    uint64_t records = acked_seq;
    printf ("ingest records=%" PRIu64 " size=%" PRIu64 " batch=%" PRIu64 " window=%" PRIu64
            " seconds=%.3f records_per_s=%.0f MB_per_s=%.1f\n",
            records, c.size, c.batch, c.window, secs, (double)records / secs,
            (double)(records * batch.len / c.batch) / secs / 1e6);
    zframe_destroy (&frame);
    sl_buf_free (&batch);
    sl_client_destroy (&client);
    return records == batches * c.batch ? 0 : 1;
}

//  Reads the stream from its first offset to its end, walking every record.
static int
s_replay (bench_config_t c)
{
    sl_client_t *client = s_connect (&c);
    if (!client) {
        return 1;
    }
    uint64_t offset = 0, records = 0, bytes = 0, end = UINT64_MAX;
    int64_t start = bench_now_us ();
    while (offset < end && !zsys_interrupted) {
        sl_msg_t fetch, reply;
        sl_msg_init (&fetch, SL_CMD_FETCH);
        sl_msg_init (&reply, SL_CMD_NONE);
        snprintf (fetch.stream, sizeof fetch.stream, "%s", c.stream);
        fetch.offset = offset;
        fetch.max_records = 100000;
        fetch.max_bytes = 16u << 20;
        zmsg_t *data = NULL;
        int rc = sl_client_request (client, &fetch, &reply, &data, sl_mono_ms () + 30000);
        if (rc) {
            fprintf (stderr, "sluice-bench: FETCH failed: %s\n", sl_strerror (rc));
            zmsg_destroy (&data);
            return 1;
        }
        if (end == UINT64_MAX) {
            end = reply.next;
            offset = reply.first;
        }
        size_t frames = data ? zmsg_size (data) : 0;
        for (zframe_t *f = data ? zmsg_first (data) : NULL; f; f = zmsg_next (data)) {
            sl_record_iter_t it;
            sl_batch_header_t h;
            sl_record_t r;
            bytes += zframe_size (f);
            if (sl_record_iter_init_blob (&it, zframe_data (f), zframe_size (f), &h) != 0) {
                continue;
            }
            while (sl_record_iter_next (&it, &r) == 1) {
                if (r.offset >= offset && r.offset < end) {
                    records++;
                    offset = r.offset + 1;
                }
            }
        }
        zmsg_destroy (&data);
        sl_msg_reset (&reply);
        if (frames == 0) {
            break;
        }
    }
    double secs = (double)(bench_now_us () - start) / 1e6;
    printf ("replay records=%" PRIu64 " seconds=%.3f records_per_s=%.0f MB_per_s=%.1f\n", records,
            secs, (double)records / secs, (double)bytes / secs / 1e6);
    sl_client_destroy (&client);
    return 0;
}

//  Writes --count msgpack values of --size bytes to stdout, the input of an
//  end-to-end run through sluice-source --format msgpack.
static int
s_values (bench_config_t c)
{
    uint8_t value[65536 + 64];
    for (uint64_t i = 0; i < c.count; i++) {
        size_t n = s_value (value, sizeof value, (int64_t)i, c.size);
        if (fwrite (value, 1, n, stdout) != n) {
            perror ("sluice-bench: write");
            return 1;
        }
    }
    return fflush (stdout) == 0 ? 0 : 1;
}

int
main (int argc, char **argv)
{
    sl_log_set_program ("sluice-bench");
    sl_tune_malloc ();
    bench_config_t c = {.broker = "tcp://127.0.0.1:7600",
                        .stream = NULL,
                        .rate = 10000,
                        .seconds = 10,
                        .linger_ms = 5,
                        .size = 100,
                        .count = 2000000,
                        .batch = 1000,
                        .window = 16};
    sl_opts_spec_t spec = {
        .program = "sluice-bench",
        .synopsis = "latency|ingest|replay|values [options]",
        .about = "Measures the broker: end-to-end latency at a fixed rate (latency), confirmed\n"
                 "ingest throughput (ingest), and reading a stream back from the log (replay);\n"
                 "values writes --count msgpack values of --size bytes to stdout (the input\n"
                 "of an end-to-end run through sluice-source --format msgpack).",
        .footer = "Examples:\n"
                  "  sluice-bench ingest --count 2000000 --size 100\n"
                  "  sluice-bench replay --stream bench-ingest\n"
                  "  sluice-bench latency --rate 10000 --seconds 10\n"
                  "  sluice-bench values --count 1000000 --size 100 > values.mp\n",
        .opts = s_opts};
    int exit_code = 0;
    int first = sl_opts_parse (&spec, argc, argv, s_apply, &c, &exit_code);
    if (first < 0) {
        return exit_code;
    }
    const char *mode = first < argc ? argv[first] : "";
    if (c.rate == 0 || c.seconds == 0 || c.size < 16 || c.size > 65536 || c.batch == 0 ||
        c.batch > 65536 || c.window == 0 || c.count == 0) {
        fprintf (stderr,
                 "sluice-bench: bad numbers (size 16..65536, batch 1..65536); try --help\n");
        return 2;
    }
    if (!c.curve_secret != !c.broker_key) {
        fprintf (stderr, "sluice-bench: --curve-secret and --broker-key go together\n");
        return 2;
    }
    if (sl_client_set_security (c.curve_secret, c.broker_key)) {
        return 1;
    }
    zsys_init ();
    if (streq (mode, "latency")) {
        c.stream = c.stream ? c.stream : "bench-latency";
        return s_latency (c);
    }
    if (streq (mode, "ingest")) {
        c.stream = c.stream ? c.stream : "bench-ingest";
        return s_ingest (c);
    }
    if (streq (mode, "values")) {
        return s_values (c);
    }
    if (streq (mode, "replay")) {
        c.stream = c.stream ? c.stream : "bench-ingest";
        return s_replay (c);
    }
    fprintf (stderr, "sluice-bench: give a mode: latency, ingest or replay; try --help\n");
    return 2;
}
