/*  test_source.c - the source core driven in-process against a ROUTER on
    loopback that plays the broker: it applies the publish rules of
    docs/PROTOCOL.md section 6.1 (acked sequence, duplicates dropped, ESEQ on
    a gap) and, per test, loses a batch, refuses with an error, or stays
    silent, so that the source's recovery paths run for real.
*/
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_batch.h"
#include "sl_client.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_proto.h"
#include "sl_util.h"
#include "source.h"

typedef struct {
    zsock_t *router;
    char endpoint[128];
    pthread_t thread;
    volatile bool stop;
    //  Script.
    uint64_t resume_seq; //  WELCOME seq for a named producer
    int lose_publish;    //  the Nth PUBLISH (1-based) vanishes, once
    int error_first;     //  answer the first N PUBLISHes with error_code
    int error_code;
    int confirm_delay_ms;     //  hold each CONFIRM this long (a slow commit)
    volatile int *stop_after; //  set *stop_after = 1 once stop_at records are stored
    uint64_t stop_at;
    //  What happened.
    uint64_t acked;     //  highest seq stored
    uint64_t stored;    //  records appended
    uint64_t first_seq; //  seq of the first PUBLISH seen
    int publishes;
    int eseqs;
    int bad_batches;
    char producer[SL_NAME_MAX + 1];
} fake_t;

static void
s_send (fake_t *fake, zframe_t *id, zmsg_t *msg)
{
    zmsg_prepend (msg, &(zframe_t *){zframe_dup (id)});
    zmsg_send (&msg, fake->router);
}

static void
s_on_publish (fake_t *fake, zframe_t *id, const sl_msg_t *req, zmsg_t *data)
{
    fake->publishes++;
    if (!fake->first_seq) {
        fake->first_seq = req->seq;
    }
    snprintf (fake->producer, sizeof fake->producer, "%s", req->name);
    if (fake->publishes == fake->lose_publish) {
        return;
    }
    if (fake->publishes <= fake->error_first) {
        s_send (fake, id, sl_msg_error (req->seq, fake->error_code, "scripted error"));
        return;
    }
    zframe_t *batch = zmsg_first (data);
    if (!batch || sl_batch_validate (zframe_data (batch), zframe_size (batch), req->count, 512)) {
        fake->bad_batches++;
        s_send (fake, id, sl_msg_error (req->seq, SL_EPROTO, "bad batch"));
        return;
    }
    uint64_t last = req->seq + req->count - 1;
    if (fake->confirm_delay_ms) {
        zclock_sleep (fake->confirm_delay_ms);
    }
    if (req->seq > fake->acked + 1) {
        fake->eseqs++;
        //  ERROR 13 carries the expected seq.
        sl_msg_t e;
        sl_msg_init (&e, SL_CMD_ERROR);
        e.req = req->seq;
        e.code = -SL_ESEQ;
        e.seq = fake->acked + 1;
        snprintf (e.text, sizeof e.text, "sequence gap");
        s_send (fake, id, sl_msg_encode (&e));
        return;
    }
    if (last > fake->acked) {
        fake->stored += last - fake->acked;
        fake->acked = last;
    }
    sl_msg_t confirm;
    sl_msg_init (&confirm, SL_CMD_CONFIRM);
    snprintf (confirm.stream, sizeof confirm.stream, "%s", req->stream);
    snprintf (confirm.name, sizeof confirm.name, "%s", req->name);
    confirm.seq = fake->acked;
    confirm.count = req->count;
    s_send (fake, id, sl_msg_encode (&confirm));
    if (fake->stop_after && fake->stored >= fake->stop_at) {
        *fake->stop_after = 1;
    }
}

static void *
s_fake_run (void *arg)
{
    fake_t *fake = (fake_t *)arg;
    int64_t deadline = sl_mono_ms () + 30000;
    while (!fake->stop && sl_mono_ms () < deadline) {
        zmq_pollitem_t item = {zsock_resolve (fake->router), 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, 20) <= 0) {
            continue;
        }
        zmsg_t *msg = zmsg_recv (fake->router);
        if (!msg) {
            continue;
        }
        zframe_t *id = zmsg_pop (msg);
        sl_msg_t req;
        sl_msg_init (&req, SL_CMD_NONE);
        if (id && sl_msg_decode (msg, &req) == 0) {
            if (req.cmd == SL_CMD_HELLO) {
                sl_msg_t w;
                sl_msg_init (&w, SL_CMD_WELCOME);
                w.req = req.req;
                snprintf (w.broker, sizeof w.broker, "fake/1");
                snprintf (w.endpoint, sizeof w.endpoint, "tcp://*:1");
                w.heartbeat_ms = 1000;
                w.max_batch_bytes = 1u << 20;
                w.max_batch_records = 65536;
                w.max_depth = 512;
                w.seq = req.name[0] ? fake->resume_seq : 0;
                if (req.name[0]) {
                    fake->acked = fake->resume_seq;
                }
                s_send (fake, id, sl_msg_encode (&w));
            }
            else if (req.cmd == SL_CMD_PUBLISH) {
                s_on_publish (fake, id, &req, msg);
            }
        }
        sl_msg_reset (&req);
        zframe_destroy (&id);
        zmsg_destroy (&msg);
    }
    return NULL;
}

static fake_t *
s_fake_new (void)
{
    fake_t *fake = (fake_t *)calloc (1, sizeof (fake_t));
    cr_assert_not_null (fake);
    fake->router = zsock_new_router ("tcp://127.0.0.1:*");
    cr_assert_not_null (fake->router);
    zsock_set_linger (fake->router, 0);
    snprintf (fake->endpoint, sizeof fake->endpoint, "%s", zsock_endpoint (fake->router));
    return fake;
}

static void
s_fake_start (fake_t *fake)
{
    cr_assert_eq (pthread_create (&fake->thread, NULL, s_fake_run, fake), 0);
}

static void
s_fake_destroy (fake_t **fake_p)
{
    fake_t *fake = *fake_p;
    fake->stop = true;
    pthread_join (fake->thread, NULL);
    zsock_destroy (&fake->router);
    free (fake);
    *fake_p = NULL;
}

static char s_dir[64];

static void
s_setup (void)
{
    sl_log_set_level (SL_LOG_ERROR);
    snprintf (s_dir, sizeof s_dir, "/tmp/sl-test-source-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
s_teardown (void)
{
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    cr_assert_eq (system (cmd), 0);
}

//  Writes n JSON lines {"n":i}, with a bad line after every `bad_every`
//  good ones when bad_every > 0. Returns the path (static buffer).
static char *
s_write_input (int n, int bad_every)
{
    static char path[128];
    snprintf (path, sizeof path, "%s/in.jsonl", s_dir);
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file);
    for (int i = 0; i < n; i++) {
        fprintf (file, "{\"n\":%d}\n", i);
        if (bad_every && (i + 1) % bad_every == 0) {
            fprintf (file, "{\"broken\":\n");
        }
    }
    fclose (file);
    return path;
}

static void
s_config (sl_source_config_t *cfg, fake_t *fake, sl_source_stats_t *stats)
{
    sl_source_config_defaults (cfg);
    cfg->broker = fake->endpoint;
    cfg->stream = "test";
    cfg->progress = 0;
    cfg->batch_records = 100;
    cfg->window = 8;
    cfg->timeout_ms = 2000;
    cfg->connect_timeout_ms = 5000;
    cfg->stats = stats;
}

TestSuite (source, .init = s_setup, .fini = s_teardown);

Test (source, publishes_every_valid_record_once)
{
    fake_t *fake = s_fake_new ();
    s_fake_start (fake);
    char *path = s_write_input (5000, 97);
    sl_source_config_t cfg;
    sl_source_stats_t stats;
    s_config (&cfg, fake, &stats);
    //  Every 97th line is bad: all valid records confirmed, input rejected: 3.
    cr_assert_eq (sl_source_run (&cfg, 1, &path), 3);
    cr_assert_eq (stats.read, 5000);
    cr_assert_eq (stats.bad, 5000 / 97);
    cr_assert_eq (stats.confirmed, 5000);
    cr_assert_eq (fake->stored, 5000, "bad lines take no sequence numbers");
    cr_assert_eq (fake->acked, 5000);
    cr_assert_eq (fake->first_seq, 1);
    cr_assert_eq (fake->bad_batches, 0);
    cr_assert_eq (strncmp (fake->producer, "anon-", 5), 0);
    cr_assert_eq (strlen (fake->producer), 5 + 16);
    s_fake_destroy (&fake);
}

//  Runs the source over `records` lines at `rate` records/s with a linger
//  far longer than the run, against a fake that holds each CONFIRM for
//  confirm_delay_ms. Returns the run's duration in ms.
static int64_t
s_run_paced (fake_t *fake, int records, double rate, int confirm_delay_ms)
{
    fake->confirm_delay_ms = confirm_delay_ms;
    s_fake_start (fake);
    char *path = s_write_input (records, 0);
    sl_source_config_t cfg;
    sl_source_stats_t stats;
    s_config (&cfg, fake, &stats);
    cfg.rate = rate;
    cfg.linger_ms = 60000;
    int64_t start = sl_mono_ms ();
    cr_assert_eq (sl_source_run (&cfg, 1, &path), 0);
    cr_assert_eq (fake->stored, (uint64_t)records);
    return sl_mono_ms () - start;
}

//  The batching rule (sl_batch_due): with nothing unconfirmed, a record
//  goes at once, even with a linger far longer than the whole run.
Test (source, idle_source_sends_each_record_at_once)
{
    fake_t *fake = s_fake_new ();
    //  One record every 20 ms, confirmed at once.
    cr_assert_lt (s_run_paced (fake, 10, 50, 0), 5000, "no record waited for the linger");
    //  Not exactly 10: the rate limiter may let two records out in one
    //  turn. With the linger in charge it would be one batch at the end.
    cr_assert_geq (fake->publishes, 7, "records went as they came, got %d batches",
                   fake->publishes);
    s_fake_destroy (&fake);
}

//  ... and while a batch is unconfirmed, the records that come meanwhile
//  gather into the next batch instead of going one by one.
Test (source, records_gather_while_a_batch_is_unconfirmed)
{
    fake_t *fake = s_fake_new ();
    //  60 records over 0.3 s, each confirm 150 ms late: two confirm delays.
    s_run_paced (fake, 60, 200, 150);
    cr_assert_geq (fake->publishes, 2);
    cr_assert_leq (fake->publishes, 8, "records gathered: %d batches for 60 records",
                   fake->publishes);
    s_fake_destroy (&fake);
}

Test (source, lost_batch_is_resent_from_the_expected_seq)
{
    fake_t *fake = s_fake_new ();
    fake->lose_publish = 3;
    s_fake_start (fake);
    char *path = s_write_input (3000, 0);
    sl_source_config_t cfg;
    sl_source_stats_t stats;
    s_config (&cfg, fake, &stats);
    int64_t start = sl_mono_ms ();
    cr_assert_eq (sl_source_run (&cfg, 1, &path), 0);
    cr_assert_lt (sl_mono_ms () - start, cfg.timeout_ms, "recovered by ESEQ, not the timeout");
    cr_assert_geq (fake->eseqs, 1);
    cr_assert_gt (stats.resent, 0);
    cr_assert_eq (fake->stored, 3000);
    cr_assert_eq (fake->acked, 3000);
    s_fake_destroy (&fake);
}

Test (source, unanswered_batch_is_resent_after_the_timeout)
{
    fake_t *fake = s_fake_new ();
    fake->lose_publish = 1;
    s_fake_start (fake);
    char *path = s_write_input (50, 0); //  one batch: no later batch reveals the gap
    sl_source_config_t cfg;
    sl_source_stats_t stats;
    s_config (&cfg, fake, &stats);
    cfg.timeout_ms = 300;
    int64_t start = sl_mono_ms ();
    cr_assert_eq (sl_source_run (&cfg, 1, &path), 0);
    cr_assert_geq (sl_mono_ms () - start, 300);
    cr_assert_eq (fake->publishes, 2);
    cr_assert_eq (stats.resent, 1);
    cr_assert_eq (fake->stored, 50);
    s_fake_destroy (&fake);
}

Test (source, retryable_error_backs_off_and_retries)
{
    fake_t *fake = s_fake_new ();
    fake->error_first = 3;
    fake->error_code = SL_ENOSPC;
    s_fake_start (fake);
    char *path = s_write_input (50, 0);
    sl_source_config_t cfg;
    sl_source_stats_t stats;
    s_config (&cfg, fake, &stats);
    int64_t start = sl_mono_ms ();
    cr_assert_eq (sl_source_run (&cfg, 1, &path), 0);
    //  Back-off 100 + 200 + 400 ms before the fourth attempt.
    cr_assert_geq (sl_mono_ms () - start, 700);
    cr_assert_eq (fake->publishes, 4);
    cr_assert_eq (fake->stored, 50);
    s_fake_destroy (&fake);
}

Test (source, non_retryable_error_exits_1)
{
    fake_t *fake = s_fake_new ();
    fake->error_first = 1000;
    fake->error_code = SL_ETOOBIG;
    s_fake_start (fake);
    char *path = s_write_input (50, 0);
    sl_source_config_t cfg;
    sl_source_stats_t stats;
    s_config (&cfg, fake, &stats);
    int64_t start = sl_mono_ms ();
    cr_assert_eq (sl_source_run (&cfg, 1, &path), 1);
    cr_assert_lt (sl_mono_ms () - start, 2000);
    cr_assert_eq (fake->publishes, 1);
    cr_assert_eq (stats.confirmed, 0);
    s_fake_destroy (&fake);
}

Test (source, named_producer_resumes_after_the_broker_seq)
{
    fake_t *fake = s_fake_new ();
    fake->resume_seq = 40;
    s_fake_start (fake);
    char *path = s_write_input (100, 7);
    sl_source_config_t cfg;
    sl_source_stats_t stats;
    s_config (&cfg, fake, &stats);
    cfg.name = "import-1";
    cr_assert_eq (sl_source_run (&cfg, 1, &path), 3, "every 7th line is bad: exit 3");
    cr_assert_eq (stats.skipped, 40);
    cr_assert_eq (stats.read, 60);
    cr_assert_eq (stats.confirmed, 60);
    cr_assert_eq (fake->first_seq, 41);
    cr_assert_eq (fake->stored, 60);
    cr_assert_str_eq (fake->producer, "import-1");
    s_fake_destroy (&fake);
}

Test (source, strict_stops_at_the_first_bad_line)
{
    fake_t *fake = s_fake_new ();
    s_fake_start (fake);
    char *path = s_write_input (100, 10);
    sl_source_config_t cfg;
    sl_source_stats_t stats;
    s_config (&cfg, fake, &stats);
    cfg.strict = true;
    cr_assert_eq (sl_source_run (&cfg, 1, &path), 1);
    cr_assert_eq (stats.read, 10);
    cr_assert_eq (stats.confirmed, 10, "what came before the bad line is confirmed");
    cr_assert_eq (fake->stored, 10);
    s_fake_destroy (&fake);
}

Test (source, stop_flag_drains_and_exits_0)
{
    fake_t *fake = s_fake_new ();
    volatile int stop = 0;
    fake->stop_after = &stop;
    fake->stop_at = 2000;
    s_fake_start (fake);
    sl_source_config_t cfg;
    sl_source_stats_t stats;
    s_config (&cfg, fake, &stats);
    cfg.generate = true;
    cfg.generate_count = 0;
    cfg.rate = 20000;
    cfg.stop = &stop;
    cr_assert_eq (sl_source_run (&cfg, 0, NULL), 0);
    cr_assert_geq (stats.read, 2000);
    cr_assert_eq (stats.confirmed, stats.read);
    cr_assert_eq (fake->stored, stats.read);
    s_fake_destroy (&fake);
}

Test (source, unreachable_broker_exits_1_after_connect_timeout)
{
    fake_t *fake = s_fake_new (); //  bound, never answers
    sl_source_config_t cfg;
    sl_source_stats_t stats;
    s_config (&cfg, fake, &stats);
    cfg.connect_timeout_ms = 300;
    cfg.timeout_ms = 100;
    char *path = s_write_input (10, 0);
    int64_t start = sl_mono_ms ();
    cr_assert_eq (sl_source_run (&cfg, 1, &path), 1);
    int64_t took = sl_mono_ms () - start;
    cr_assert_geq (took, 290);
    cr_assert_lt (took, 2000);
    zsock_destroy (&fake->router);
    free (fake);
}

Test (source, bad_names_are_usage_errors)
{
    fake_t *fake = s_fake_new ();
    sl_source_config_t cfg;
    s_config (&cfg, fake, NULL);
    cfg.stream = ".hidden";
    cr_assert_eq (sl_source_run (&cfg, 0, NULL), 2);
    cfg.stream = "ok";
    cfg.name = "bad name";
    cr_assert_eq (sl_source_run (&cfg, 0, NULL), 2);
    cfg.name = NULL;
    cfg.broker = "not-an-endpoint";
    cr_assert_eq (sl_source_run (&cfg, 0, NULL), 2);
    zsock_destroy (&fake->router);
    free (fake);
}

Test (source, msgpack_input_stops_a_malformed_file_and_exits_1)
{
    fake_t *fake = s_fake_new ();
    s_fake_start (fake);
    char good[128], bad[128];
    snprintf (good, sizeof good, "%s/good.mp", s_dir);
    snprintf (bad, sizeof bad, "%s/bad.mp", s_dir);
    FILE *file = fopen (good, "wb");
    //  Three values: 1, "ab", [true, nil].
    fwrite ("\x01\xa2"
            "ab"
            "\x92\xc3\xc0",
            1, 7, file);
    fclose (file);
    file = fopen (bad, "wb");
    //  One value, then a str claiming 4 GiB in five bytes, then a value never read.
    fwrite ("\x05\xdb\xff\xff\xff\xff\x06", 1, 7, file);
    fclose (file);
    char *files[] = {good, bad, good};
    sl_source_config_t cfg;
    sl_source_stats_t stats;
    s_config (&cfg, fake, &stats);
    cfg.format = SL_FORMAT_MSGPACK;
    cr_assert_eq (sl_source_run (&cfg, 3, files), 1);
    cr_assert_eq (stats.read, 7);
    cr_assert_eq (stats.bad, 1);
    cr_assert_eq (fake->stored, 7);
    s_fake_destroy (&fake);
}
