/*  test_cores.c - the broker and sink cores driven in-process, without
    mocks: a real broker (sl_broker_new/run in a thread of this process,
    a real LMDB store in a temporary directory, real ZeroMQ sockets on
    loopback) fed by the public producer API, and a real sink core
    (sl_sink_run) reading it into a pipe. The integration suite starts the
    same cores as processes; here a failure points at the core itself.
*/
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "sink.h"
#include "sluice/sluice.h"

typedef struct {
    sl_broker_t *broker;
    pthread_t thread;
    char dir[64];
    int rc;
} s_broker_t;

static void *
s_serve (void *arg)
{
    s_broker_t *b = arg;
    b->rc = sl_broker_run (b->broker);
    return NULL;
}

static void
s_broker_start (s_broker_t *b)
{
    snprintf (b->dir, sizeof b->dir, "/tmp/sluice-cores-XXXXXX");
    cr_assert_not_null (mkdtemp (b->dir));
    sl_broker_config_t config;
    sl_broker_config_defaults (&config);
    config.data_dir = b->dir;
    config.listen = "tcp://127.0.0.1:*";
    config.pub = "tcp://127.0.0.1:*";
    config.sync = SL_SYNC_NONE; //  a test store: nothing to survive
    int err = 0;
    b->broker = sl_broker_new (&config, &err);
    cr_assert_not_null (b->broker, "broker: %d", err);
    cr_assert_eq (pthread_create (&b->thread, NULL, s_serve, b), 0);
}

static void
s_broker_stop (s_broker_t *b)
{
    sl_broker_stop (b->broker);
    pthread_join (b->thread, NULL);
    cr_assert_eq (b->rc, 0);
    sl_broker_destroy (&b->broker);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    cr_assert_eq (system (cmd), 0);
}

//  Runs the sink core on cfg with its output into a file; returns its exit
//  code and what it wrote (the caller frees *out; *size bytes, NUL after).
static int
s_sink (sl_sink_config_t *cfg, char **out, size_t *out_size)
{
    char path[] = "/tmp/sluice-cores-out-XXXXXX";
    int fd = mkstemp (path);
    cr_assert_geq (fd, 0);
    unlink (path);
    cfg->out_fd = fd;
    int rc = sl_sink_run (cfg);
    off_t size = lseek (fd, 0, SEEK_END);
    *out = calloc (1, (size_t)size + 1);
    cr_assert_eq (pread (fd, *out, (size_t)size, 0), size);
    close (fd);
    if (out_size) {
        *out_size = (size_t)size;
    }
    return rc;
}

Test (cores, records_published_are_read_back_in_order_by_the_sink, .timeout = 60)
{
    s_broker_t b;
    s_broker_start (&b);
    const char *endpoint = sl_broker_endpoint (b.broker);
    sluice_producer_t *producer = sluice_producer_new (endpoint, "orders", "cores-test");
    cr_assert_not_null (producer);
    for (int i = 0; i < 100; i++) {
        char json[64];
        snprintf (json, sizeof json, "{\"n\":%d,\"s\":\"r\\u00e9\"}", i);
        cr_assert_eq (sluice_producer_send_json (producer, i % 2 ? "odd" : "even", json), 0);
    }
    cr_assert_eq (sluice_producer_flush (producer, 20000), 0);
    sluice_producer_destroy (&producer);

    sl_sink_config_t cfg;
    sl_sink_config_init (&cfg);
    cfg.broker = endpoint;
    cfg.stream = "orders";
    cfg.from = SL_FROM_BEGINNING;
    cfg.exit_at_end = true;
    cfg.format = SL_SINK_FORMAT_VALUE;
    char *out;
    cr_assert_eq (s_sink (&cfg, &out, NULL), 0);
    char *line = out;
    for (int i = 0; i < 100; i++) {
        char want[64];
        snprintf (want, sizeof want, "{\"n\":%d,\"s\":\"r\xc3\xa9\"}\n", i);
        cr_assert_eq (strncmp (line, want, strlen (want)), 0, "record %d: %.40s", i, line);
        line += strlen (want);
    }
    cr_assert_str_eq (line, "", "nothing after the 100 records");
    free (out);

    //  The last 3, as msgpack maps: offsets 97..99, keys kept.
    cfg.from = SL_FROM_LAST;
    cfg.from_value = 3;
    cfg.format = SL_SINK_FORMAT_MSGPACK;
    size_t size;
    cr_assert_eq (s_sink (&cfg, &out, &size), 0);
    cr_assert_eq (memcmp (out, "\x84\xa6offset\x61", 9), 0, "a map of 4, offset 97 first");
    cr_assert_not_null (memmem (out, size, "\xa6offset\x63", 8), "offset 99 last");
    cr_assert_null (memmem (out, size, "\xa6offset\x64", 8), "nothing past offset 99");
    cr_assert_not_null (memmem (out, size, "\xa3key\xa3odd", 8));
    free (out);
    s_broker_stop (&b);
}

//  The failure paths a caller of the core sees: a bad configuration is
//  exit 2 before any traffic, and a broker that never answers is given up
//  on after the connect timeout with exit 1, not a hang.
Test (cores, sink_core_failure_paths, .timeout = 60)
{
    sl_sink_config_t cfg;
    sl_sink_config_init (&cfg);
    cfg.broker = "tcp://127.0.0.1:9";
    cfg.stream = "bad name!";
    cfg.exit_at_end = true;
    char *out;
    cr_assert_eq (s_sink (&cfg, &out, NULL), 2);
    cr_assert_str_eq (out, "");
    free (out);

    //  Nobody listens on the discard port of loopback.
    sl_sink_config_init (&cfg);
    cfg.broker = "tcp://127.0.0.1:9";
    cfg.stream = "orders";
    cfg.exit_at_end = true;
    cfg.connect_timeout_ms = 1500;
    cfg.request_timeout_ms = 500;
    cr_assert_eq (s_sink (&cfg, &out, NULL), 1);
    free (out);
}
