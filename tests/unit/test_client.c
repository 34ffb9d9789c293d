/*  test_client.c - sl_client against a real ROUTER on loopback playing the
    broker: a real ZeroMQ peer speaking the real codec, run in a thread and
    scripted per test.
*/
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_client.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"

typedef enum {
    FAKE_WELCOME,      //  HELLO -> WELCOME; PING -> PONG
    FAKE_SILENT_FIRST, //  ignores the first request, answers the others
    FAKE_STALE,        //  LIST -> STREAMS for an older req, then for this one
    FAKE_MALFORMED,    //  three malformed replies, then the right one
    FAKE_ERROR,        //  any request -> ERROR 10 (disk full)
    FAKE_MUTE,         //  never answers
} fake_mode_t;

typedef struct {
    zsock_t *router;
    char endpoint[128];
    fake_mode_t mode;
    pthread_t thread;
    volatile bool stop;
    int bind_delay_ms; //  > 0: bind to endpoint in the thread, after this delay
    int seen;          //  requests received
    uint64_t reqs[64]; //  their req ids
    sl_cmd_t cmds[64];
    char client[64]; //  HELLO fields seen
    char producer[SL_NAME_MAX + 1];
    char stream[SL_NAME_MAX + 1];
} fake_t;

static void
s_reply (fake_t *fake, zframe_t *id, const sl_msg_t *msg)
{
    zmsg_t *out = sl_msg_encode (msg);
    cr_assert_not_null (out);
    zmsg_prepend (out, &(zframe_t *){zframe_dup (id)});
    cr_assert_eq (zmsg_send (&out, fake->router), 0);
}

static void
s_reply_raw (fake_t *fake, zframe_t *id, const void *header, size_t header_len, const void *body,
             size_t body_len)
{
    zmsg_t *out = zmsg_new ();
    zmsg_append (out, &(zframe_t *){zframe_dup (id)});
    zmsg_addmem (out, header, header_len);
    if (body) {
        zmsg_addmem (out, body, body_len);
    }
    cr_assert_eq (zmsg_send (&out, fake->router), 0);
}

static void
s_answer (fake_t *fake, zframe_t *id, const sl_msg_t *req, int index)
{
    sl_msg_t reply;
    if (fake->mode == FAKE_MUTE || (fake->mode == FAKE_SILENT_FIRST && index == 0)) {
        return;
    }
    if (fake->mode == FAKE_ERROR) {
        zmsg_t *out = sl_msg_error (req->req, SL_ENOSPC, "disk full");
        zmsg_prepend (out, &(zframe_t *){zframe_dup (id)});
        zmsg_send (&out, fake->router);
        return;
    }
    if (fake->mode == FAKE_MALFORMED) {
        //  Wrong signature; a body that is not a map; a body claiming a
        //  4 GiB string in five bytes.
        s_reply_raw (fake, id, "XX\x01\x0e", 4, "\x81\xa3req\x01", 6);
        s_reply_raw (fake, id, "SL\x01\x0e", 4, "\x93\x01\x02\x03", 4);
        s_reply_raw (fake, id, "SL\x01\x0e", 4, "\x81\xdb\xff\xff\xff\xff", 6);
        s_reply_raw (fake, id, "SL", 2, NULL, 0);
    }
    if (req->cmd == SL_CMD_HELLO) {
        sl_msg_init (&reply, SL_CMD_WELCOME);
        reply.req = req->req;
        snprintf (reply.broker, sizeof reply.broker, "fake-broker/1");
        snprintf (reply.endpoint, sizeof reply.endpoint, "tcp://*:7601");
        reply.heartbeat_ms = 1000;
        reply.max_batch_bytes = 16u << 20;
        reply.max_batch_records = 65536;
        reply.max_depth = 512;
        reply.seq = req->name[0] ? 42 : 0;
    }
    else if (req->cmd == SL_CMD_LIST) {
        sl_msg_init (&reply, SL_CMD_STREAMS);
        sl_stream_info_t info = {.first = 0, .next = 7};
        if (fake->mode == FAKE_STALE) {
            reply.req = req->req - 1;
            snprintf (info.name, sizeof info.name, "stale");
            sl_msg_add_stream (&reply, &info);
            s_reply (fake, id, &reply);
            sl_msg_reset (&reply);
            sl_msg_init (&reply, SL_CMD_STREAMS);
        }
        reply.req = req->req;
        snprintf (info.name, sizeof info.name, "fresh");
        sl_msg_add_stream (&reply, &info);
    }
    else {
        sl_msg_init (&reply, SL_CMD_PONG);
        reply.req = req->req;
    }
    s_reply (fake, id, &reply);
    sl_msg_reset (&reply);
}

static void *
s_fake_run (void *arg)
{
    fake_t *fake = (fake_t *)arg;
    if (fake->bind_delay_ms) {
        //  A broker that comes back after a while, on the same port.
        zclock_sleep (fake->bind_delay_ms);
        int64_t until = sl_mono_ms () + 5000;
        while (zsock_bind (fake->router, "%s", fake->endpoint) < 0 && sl_mono_ms () < until) {
            zclock_sleep (20);
        }
    }
    int64_t deadline = sl_mono_ms () + 20000;
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
        if (id && sl_msg_decode (msg, &req) == 0 && fake->seen < 64) {
            int index = fake->seen++;
            fake->reqs[index] = req.req;
            fake->cmds[index] = req.cmd;
            if (req.cmd == SL_CMD_HELLO) {
                snprintf (fake->client, sizeof fake->client, "%s", req.client);
                snprintf (fake->producer, sizeof fake->producer, "%s", req.name);
                snprintf (fake->stream, sizeof fake->stream, "%s", req.stream);
            }
            s_answer (fake, id, &req, index);
        }
        sl_msg_reset (&req);
        zframe_destroy (&id);
        zmsg_destroy (&msg);
    }
    return NULL;
}

//  Binds a ROUTER on loopback. Tests that stop a broker and start another
//  on the same port use a port below the kernel's ephemeral range, so that
//  the tests running in parallel (whose ports are ephemeral) cannot take
//  it in between and receive this test's traffic.
static zsock_t *
s_router_in (int base, int span)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    cr_assert_not_null (router);
    zsock_set_linger (router, 0);
    if (!base) {
        cr_assert_geq (zsock_bind (router, "tcp://127.0.0.1:*"), 0);
        return router;
    }
    unsigned seed = (unsigned)getpid () ^ (unsigned)sl_mono_ms ();
    for (int i = 0; i < 100; i++) {
        int port = base + (int)(rand_r (&seed) % (unsigned)span);
        if (zsock_bind (router, "tcp://127.0.0.1:%d", port) >= 0) {
            return router;
        }
    }
    cr_assert_fail ("no free port");
    return NULL;
}

static zsock_t *
s_router (bool fixed_port)
{
    return fixed_port ? s_router_in (20000, 8000) : s_router_in (0, 0);
}

static fake_t *
s_fake_start_on (fake_mode_t mode, bool fixed_port)
{
    fake_t *fake = (fake_t *)calloc (1, sizeof (fake_t));
    cr_assert_not_null (fake);
    fake->mode = mode;
    fake->router = s_router (fixed_port);
    snprintf (fake->endpoint, sizeof fake->endpoint, "%s", zsock_endpoint (fake->router));
    cr_assert_eq (pthread_create (&fake->thread, NULL, s_fake_run, fake), 0);
    return fake;
}

static fake_t *
s_fake_start (fake_mode_t mode)
{
    return s_fake_start_on (mode, false);
}

static fake_t *
s_fake_start_later (fake_mode_t mode, const char *endpoint, int delay_ms)
{
    fake_t *fake = (fake_t *)calloc (1, sizeof (fake_t));
    cr_assert_not_null (fake);
    fake->mode = mode;
    fake->bind_delay_ms = delay_ms;
    fake->router = zsock_new (ZMQ_ROUTER);
    cr_assert_not_null (fake->router);
    zsock_set_linger (fake->router, 0);
    snprintf (fake->endpoint, sizeof fake->endpoint, "%s", endpoint);
    cr_assert_eq (pthread_create (&fake->thread, NULL, s_fake_run, fake), 0);
    return fake;
}

static void
s_fake_stop (fake_t **fake_p)
{
    fake_t *fake = *fake_p;
    fake->stop = true;
    pthread_join (fake->thread, NULL);
    zsock_destroy (&fake->router);
    free (fake);
    *fake_p = NULL;
}

static sl_client_t *
s_client (const char *endpoint, int timeout_ms)
{
    sl_client_opts_t opts = {
        .broker = endpoint, .software = "test-client/1", .timeout_ms = timeout_ms};
    sl_client_t *client = sl_client_new (&opts);
    cr_assert_not_null (client);
    return client;
}

static void
s_quiet (void)
{
    sl_log_set_level (SL_LOG_ERROR);
}

TestSuite (client, .init = s_quiet);

Test (client, hello_gets_welcome_and_live_endpoint)
{
    fake_t *fake = s_fake_start (FAKE_WELCOME);
    sl_client_opts_t opts = {.broker = fake->endpoint,
                             .software = "test-client/1",
                             .producer = "prod-1",
                             .stream = "orders",
                             .timeout_ms = 2000};
    sl_client_t *client = sl_client_new (&opts);
    cr_assert_not_null (client);
    cr_assert_null (sl_client_welcome (client));
    cr_assert_null (sl_client_pub_endpoint (client));

    cr_assert_eq (sl_client_hello (client, sl_mono_ms () + 5000), 0);
    const sl_msg_t *welcome = sl_client_welcome (client);
    cr_assert_not_null (welcome);
    cr_assert_str_eq (welcome->broker, "fake-broker/1");
    cr_assert_eq (welcome->max_batch_bytes, 16u << 20);
    cr_assert_eq (welcome->max_depth, 512);
    cr_assert_eq (welcome->seq, 42);
    cr_assert_str_eq (sl_client_pub_endpoint (client), "tcp://127.0.0.1:7601");
    cr_assert_str_eq (fake->client, "test-client/1");
    cr_assert_str_eq (fake->producer, "prod-1");
    cr_assert_str_eq (fake->stream, "orders");
    cr_assert_geq (sl_client_connects (client), 1);
    cr_assert (sl_client_connected (client));

    sl_client_destroy (&client);
    cr_assert_null (client);
    sl_client_destroy (&client);
    s_fake_stop (&fake);
}

Test (client, request_matches_reply_and_ids_increase)
{
    fake_t *fake = s_fake_start (FAKE_WELCOME);
    sl_client_t *client = s_client (fake->endpoint, 2000);
    sl_msg_t ping, reply;
    sl_msg_init (&ping, SL_CMD_PING);
    sl_msg_init (&reply, SL_CMD_NONE);
    cr_assert_eq (sl_client_request (client, &ping, &reply, NULL, sl_mono_ms () + 5000), 0);
    cr_assert_eq (reply.cmd, SL_CMD_PONG);
    cr_assert_eq (reply.req, ping.req);
    uint64_t first = ping.req;
    cr_assert_eq (sl_client_request (client, &ping, &reply, NULL, sl_mono_ms () + 5000), 0);
    cr_assert_gt (ping.req, first);
    cr_assert_eq (reply.req, ping.req);
    sl_msg_reset (&reply);
    sl_client_destroy (&client);
    s_fake_stop (&fake);
}

Test (client, reply_to_stale_req_is_skipped)
{
    fake_t *fake = s_fake_start (FAKE_STALE);
    sl_client_t *client = s_client (fake->endpoint, 2000);
    sl_msg_t list, reply;
    sl_msg_init (&list, SL_CMD_LIST);
    sl_msg_init (&reply, SL_CMD_NONE);
    //  The fake answers first for req - 1 ("stale"), then for req ("fresh").
    sl_client_next_req (client);
    cr_assert_eq (sl_client_request (client, &list, &reply, NULL, sl_mono_ms () + 5000), 0);
    cr_assert_eq (reply.cmd, SL_CMD_STREAMS);
    cr_assert_eq (reply.req, list.req);
    cr_assert_eq (reply.n_streams, 1);
    cr_assert_str_eq (reply.streams[0].name, "fresh");
    cr_assert_eq (fake->seen, 1, "one request, no resend");
    sl_msg_reset (&reply);
    sl_client_destroy (&client);
    s_fake_stop (&fake);
}

Test (client, timeout_then_resend_with_same_req)
{
    fake_t *fake = s_fake_start (FAKE_SILENT_FIRST);
    sl_client_t *client = s_client (fake->endpoint, 300);
    sl_msg_t ping, reply;
    sl_msg_init (&ping, SL_CMD_PING);
    sl_msg_init (&reply, SL_CMD_NONE);
    int64_t start = sl_mono_ms ();
    cr_assert_eq (sl_client_request (client, &ping, &reply, NULL, sl_mono_ms () + 5000), 0);
    cr_assert_geq (sl_mono_ms () - start, 250, "answered only after one timeout");
    cr_assert_eq (reply.cmd, SL_CMD_PONG);
    cr_assert_eq (fake->seen, 2);
    cr_assert_eq (fake->reqs[0], ping.req);
    cr_assert_eq (fake->reqs[1], ping.req);
    sl_client_destroy (&client);
    s_fake_stop (&fake);
}

Test (client, request_gives_up_at_deadline)
{
    fake_t *fake = s_fake_start (FAKE_MUTE);
    sl_client_t *client = s_client (fake->endpoint, 100);
    sl_msg_t ping, reply;
    sl_msg_init (&ping, SL_CMD_PING);
    sl_msg_init (&reply, SL_CMD_NONE);
    int64_t start = sl_mono_ms ();
    cr_assert_eq (sl_client_request (client, &ping, &reply, NULL, start + 450), SL_ETIMEOUT);
    int64_t took = sl_mono_ms () - start;
    cr_assert_geq (took, 440);
    cr_assert_lt (took, 2000);
    //  Bounded number of attempts (about deadline / timeout).
    int64_t until = sl_mono_ms () + 1000;
    while (fake->seen < 4 && sl_mono_ms () < until) {
        zclock_sleep (5);
    }
    cr_assert_geq (fake->seen, 4);
    cr_assert_leq (fake->seen, 6);
    //  Without a deadline: ten attempts.
    start = sl_mono_ms ();
    cr_assert_eq (sl_client_request (client, &ping, &reply, NULL, 0), SL_ETIMEOUT);
    took = sl_mono_ms () - start;
    cr_assert_geq (took, 950);
    cr_assert_lt (took, 3000);
    sl_client_destroy (&client);
    s_fake_stop (&fake);
}

//  Runs fn with stderr sent to a temp file, and returns what was written.
static char *
s_capture_stderr (void (*fn) (void *), void *arg)
{
    char path[] = "/tmp/sl-test-client-XXXXXX";
    int fd = mkstemp (path);
    cr_assert_geq (fd, 0);
    unlink (path);
    int saved = dup (STDERR_FILENO);
    dup2 (fd, STDERR_FILENO);
    fn (arg);
    dup2 (saved, STDERR_FILENO);
    close (saved);
    off_t size = lseek (fd, 0, SEEK_END);
    char *text = (char *)calloc (1, (size_t)size + 1);
    cr_assert_eq (pread (fd, text, (size_t)size, 0), size);
    close (fd);
    return text;
}

typedef struct {
    sl_client_t *client;
    int rc;
    sl_msg_t reply;
} call_t;

static void
s_ping_call (void *arg)
{
    call_t *call = (call_t *)arg;
    sl_msg_t ping;
    sl_msg_init (&ping, SL_CMD_PING);
    sl_msg_init (&call->reply, SL_CMD_NONE);
    call->rc = sl_client_request (call->client, &ping, &call->reply, NULL, sl_mono_ms () + 5000);
}

Test (client, malformed_reply_is_skipped_and_logged)
{
    sl_log_set_level (SL_LOG_WARN);
    fake_t *fake = s_fake_start (FAKE_MALFORMED);
    call_t call = {.client = s_client (fake->endpoint, 2000)};
    char *log = s_capture_stderr (s_ping_call, &call);
    cr_assert_eq (call.rc, 0);
    cr_assert_eq (call.reply.cmd, SL_CMD_PONG);
    cr_assert_eq (fake->seen, 1, "the good reply after the bad ones was used, no resend");
    cr_assert_eq (sl_client_malformed (call.client), 4);
    cr_assert_not_null (strstr (log, "malformed reply from broker"), "log was: %s", log);
    cr_assert_not_null (strstr (log, fake->endpoint), "the log names the peer");
    free (log);
    sl_client_destroy (&call.client);
    s_fake_stop (&fake);
}

Test (client, error_reply_maps_to_its_code)
{
    fake_t *fake = s_fake_start (FAKE_ERROR);
    sl_client_t *client = s_client (fake->endpoint, 2000);
    sl_msg_t ping, reply;
    sl_msg_init (&ping, SL_CMD_PING);
    sl_msg_init (&reply, SL_CMD_NONE);
    cr_assert_eq (sl_client_request (client, &ping, &reply, NULL, sl_mono_ms () + 5000), SL_ENOSPC);
    cr_assert_eq (reply.cmd, SL_CMD_ERROR);
    cr_assert_eq (reply.code, 10);
    cr_assert_str_eq (reply.text, "disk full");
    cr_assert_eq (fake->seen, 1, "an ERROR is an answer, not a reason to resend");
    //  HELLO refused: the code comes back too.
    cr_assert_eq (sl_client_hello (client, sl_mono_ms () + 5000), SL_ENOSPC);
    cr_assert_null (sl_client_welcome (client));
    sl_client_destroy (&client);
    s_fake_stop (&fake);
}

Test (client, hello_times_out_without_broker)
{
    fake_t *fake = s_fake_start (FAKE_MUTE);
    sl_client_t *client = s_client (fake->endpoint, 100);
    int64_t start = sl_mono_ms ();
    cr_assert_eq (sl_client_hello (client, start + 400), SL_ETIMEOUT);
    int64_t took = sl_mono_ms () - start;
    cr_assert_geq (took, 390);
    cr_assert_lt (took, 2000);
    cr_assert_geq (fake->seen, 3, "HELLO resent after each timeout");
    cr_assert_null (sl_client_welcome (client));
    sl_client_destroy (&client);
    s_fake_stop (&fake);
}

Test (client, interrupted_returns_closed)
{
    fake_t *fake = s_fake_start (FAKE_MUTE);
    sl_client_t *client = s_client (fake->endpoint, 100);
    sl_msg_t ping, reply;
    sl_msg_init (&ping, SL_CMD_PING);
    sl_msg_init (&reply, SL_CMD_NONE);
    zsys_interrupted = 1;
    cr_assert_eq (sl_client_hello (client, 0), SL_ECLOSED);
    cr_assert_eq (sl_client_request (client, &ping, &reply, NULL, 0), SL_ECLOSED);
    cr_assert_eq (sl_client_recv (client, &reply, NULL, -1), SL_ECLOSED);
    zsys_interrupted = 0;
    cr_assert_eq (sl_client_recv (client, &reply, NULL, 0), SL_ETIMEOUT);
    sl_client_destroy (&client);
    s_fake_stop (&fake);
}

Test (client, recv_hands_over_data_frames)
{
    zsock_t *router = zsock_new_router ("tcp://127.0.0.1:*");
    cr_assert_not_null (router);
    zsock_set_linger (router, 0);
    sl_client_t *client = s_client (zsock_endpoint (router), 2000);
    sl_msg_t ping;
    sl_msg_init (&ping, SL_CMD_PING);
    ping.req = 9;
    cr_assert_eq (sl_client_send (client, &ping, NULL), 0);
    zmsg_t *in = zmsg_recv (router);
    cr_assert_not_null (in);
    zframe_t *id = zmsg_pop (in);
    zmsg_destroy (&in);

    sl_msg_t records;
    sl_msg_init (&records, SL_CMD_RECORDS);
    records.req = 9;
    snprintf (records.stream, sizeof records.stream, "orders");
    zmsg_t *out = sl_msg_encode (&records);
    zmsg_prepend (out, &id);
    zmsg_addstr (out, "blob-1");
    zmsg_addstr (out, "blob-2");
    cr_assert_eq (zmsg_send (&out, router), 0);

    sl_msg_t reply;
    sl_msg_init (&reply, SL_CMD_NONE);
    zmsg_t *data = NULL;
    cr_assert_eq (sl_client_recv (client, &reply, &data, 5000), 0);
    cr_assert_eq (reply.cmd, SL_CMD_RECORDS);
    cr_assert_not_null (data);
    cr_assert_eq (zmsg_size (data), 2);
    char *first = zmsg_popstr (data);
    cr_assert_str_eq (first, "blob-1");
    free (first);
    zmsg_destroy (&data);
    sl_client_destroy (&client);
    zsock_destroy (&router);
}

Test (client, send_takes_data_only_on_success)
{
    //  A port nobody listens on: the DEALER queues up to its high-water
    //  mark (1000 messages) and then refuses.
    zsock_t *router = s_router_in (28000, 4000);
    char endpoint[128];
    snprintf (endpoint, sizeof endpoint, "%s", zsock_endpoint (router));
    zsock_destroy (&router);
    sl_client_t *client = s_client (endpoint, 2000);
    sl_msg_t publish;
    sl_msg_init (&publish, SL_CMD_PUBLISH);
    snprintf (publish.stream, sizeof publish.stream, "orders");
    snprintf (publish.name, sizeof publish.name, "p");
    publish.seq = 1;
    publish.count = 1;
    int rc = 0;
    int sent = 0;
    zmsg_t *data = NULL;
    for (int i = 0; i < 200000 && rc == 0; i++) {
        data = zmsg_new ();
        zmsg_addmem (data, "\x94\x00\xc0\xc0\x01", 5);
        rc = sl_client_send (client, &publish, &data);
        if (rc == 0) {
            cr_assert_null (data, "taken on success");
            sent++;
        }
    }
    cr_assert_eq (rc, SL_EAGAIN);
    cr_assert_not_null (data, "kept by the caller on failure");
    cr_assert_eq (zmsg_size (data), 1);
    zmsg_destroy (&data);
    cr_assert_gt (sent, 0);
    //  A borrowed frame is never taken.
    zframe_t *frame = zframe_new ("x", 1);
    cr_assert_eq (sl_client_send_frame (client, &publish, frame), SL_EAGAIN);
    cr_assert_eq (zframe_size (frame), 1);
    zframe_destroy (&frame);
    sl_client_destroy (&client);
}

Test (client, send_frame_borrows_the_frame)
{
    zsock_t *router = zsock_new_router ("tcp://127.0.0.1:*");
    cr_assert_not_null (router);
    zsock_set_linger (router, 0);
    sl_client_t *client = s_client (zsock_endpoint (router), 2000);
    sl_msg_t publish;
    sl_msg_init (&publish, SL_CMD_PUBLISH);
    snprintf (publish.stream, sizeof publish.stream, "orders");
    snprintf (publish.name, sizeof publish.name, "p");
    publish.seq = 5;
    publish.count = 1;
    zframe_t *frame = zframe_new ("\x94\x00\xc0\xc0\x01", 5);
    cr_assert_eq (sl_client_send_frame (client, &publish, frame), 0);
    cr_assert_eq (sl_client_send_frame (client, &publish, frame), 0);
    for (int i = 0; i < 2; i++) {
        zmsg_t *in = zmsg_recv (router);
        cr_assert_not_null (in);
        zframe_t *id = zmsg_pop (in);
        sl_msg_t got;
        sl_msg_init (&got, SL_CMD_NONE);
        cr_assert_eq (sl_msg_decode (in, &got), 0);
        cr_assert_eq (got.cmd, SL_CMD_PUBLISH);
        cr_assert_eq (got.seq, 5);
        cr_assert_eq (zmsg_size (in), 1);
        cr_assert (zframe_eq (zmsg_first (in), frame));
        zframe_destroy (&id);
        zmsg_destroy (&in);
    }
    cr_assert_eq (zframe_size (frame), 5);
    zframe_destroy (&frame);
    sl_client_destroy (&client);
    zsock_destroy (&router);
}

Test (client, reconnect_to_restarted_broker_is_noticed)
{
    fake_t *fake = s_fake_start_on (FAKE_WELCOME, true);
    char endpoint[128];
    snprintf (endpoint, sizeof endpoint, "%s", fake->endpoint);
    sl_client_t *client = s_client (endpoint, 2000);
    cr_assert_eq (sl_client_hello (client, sl_mono_ms () + 5000), 0);
    uint32_t before = sl_client_connects (client);
    cr_assert_geq (before, 1);
    s_fake_stop (&fake);

    int64_t until = sl_mono_ms () + 5000;
    while (sl_client_connected (client) && sl_mono_ms () < until) {
        zclock_sleep (10);
    }
    cr_assert_not (sl_client_connected (client), "the dead broker is noticed");

    //  The same port, a new broker: the client reconnects by itself.
    zsock_t *again = zsock_new (ZMQ_ROUTER);
    cr_assert_not_null (again);
    zsock_set_linger (again, 0);
    int bound = -1;
    until = sl_mono_ms () + 5000;
    while (bound < 0 && sl_mono_ms () < until) {
        bound = zsock_bind (again, "%s", endpoint);
        if (bound < 0) {
            zclock_sleep (20);
        }
    }
    cr_assert_geq (bound, 0);
    until = sl_mono_ms () + 5000;
    while (sl_client_connects (client) == before && sl_mono_ms () < until) {
        zclock_sleep (10);
    }
    cr_assert_gt (sl_client_connects (client), before);
    cr_assert (sl_client_connected (client));
    sl_client_destroy (&client);
    zsock_destroy (&again);
}

Test (client, request_after_broker_restart_says_hello_and_resends)
{
    fake_t *fake = s_fake_start_on (FAKE_WELCOME, true);
    char endpoint[128];
    snprintf (endpoint, sizeof endpoint, "%s", fake->endpoint);
    sl_client_t *client = s_client (endpoint, 5000);
    cr_assert_eq (sl_client_hello (client, sl_mono_ms () + 5000), 0);
    s_fake_stop (&fake);
    int64_t until = sl_mono_ms () + 5000;
    while (sl_client_connected (client) && sl_mono_ms () < until) {
        zclock_sleep (10);
    }
    cr_assert_not (sl_client_connected (client));

    //  The new broker drops the PING that waited in the client's queue (as
    //  one that was in flight when the old broker died would be lost); the
    //  client notices the new connection and, without waiting for its 5 s
    //  timeout, says HELLO and resends.
    fake = s_fake_start_later (FAKE_SILENT_FIRST, endpoint, 300);
    sl_msg_t ping, reply;
    sl_msg_init (&ping, SL_CMD_PING);
    sl_msg_init (&reply, SL_CMD_NONE);
    int64_t start = sl_mono_ms ();
    cr_assert_eq (sl_client_request (client, &ping, &reply, NULL, start + 10000), 0);
    cr_assert_lt (sl_mono_ms () - start, 3000, "resent on reconnect, not after the timeout");
    cr_assert_eq (reply.cmd, SL_CMD_PONG);
    cr_assert_geq (fake->seen, 3);
    cr_assert_eq (fake->cmds[0], SL_CMD_PING);
    cr_assert_eq (fake->cmds[1], SL_CMD_HELLO);
    cr_assert_eq (fake->cmds[2], SL_CMD_PING);
    cr_assert_eq (fake->reqs[2], ping.req);
    sl_client_destroy (&client);
    s_fake_stop (&fake);
}

Test (client, new_rejects_bad_endpoint)
{
    sl_client_opts_t opts = {.broker = "nonsense", .software = "t"};
    cr_assert_null (sl_client_new (&opts));
    opts.broker = NULL;
    cr_assert_null (sl_client_new (&opts));
}

Test (client, endpoint_host_substitution)
{
    char out[128];
    cr_assert_eq (sl_endpoint_with_host ("tcp://*:7601", "tcp://127.0.0.1:7600", out, sizeof out),
                  0);
    cr_assert_str_eq (out, "tcp://127.0.0.1:7601");
    cr_assert_eq (sl_endpoint_with_host ("tcp://*:7601", "tcp://[::1]:7600", out, sizeof out), 0);
    cr_assert_str_eq (out, "tcp://[::1]:7601");
    cr_assert_eq (sl_endpoint_with_host ("tcp://*:9", "tcp://broker.example:7600", out, sizeof out),
                  0);
    cr_assert_str_eq (out, "tcp://broker.example:9");
    //  A concrete host is kept as it is.
    cr_assert_eq (
        sl_endpoint_with_host ("tcp://10.0.0.5:7601", "tcp://127.0.0.1:7600", out, sizeof out), 0);
    cr_assert_str_eq (out, "tcp://10.0.0.5:7601");
    cr_assert_eq (sl_endpoint_with_host ("ipc:///tmp/x", "tcp://127.0.0.1:7600", out, sizeof out),
                  0);
    cr_assert_str_eq (out, "ipc:///tmp/x");
    //  Malformed inputs.
    cr_assert_eq (sl_endpoint_with_host ("tcp://*:", "tcp://127.0.0.1:1", out, sizeof out),
                  SL_EINVAL);
    cr_assert_eq (sl_endpoint_with_host ("tcp://*:1", "ipc:///x", out, sizeof out), SL_EINVAL);
    cr_assert_eq (sl_endpoint_with_host ("tcp://*:1", "tcp://[::1", out, sizeof out), SL_EINVAL);
    cr_assert_eq (sl_endpoint_with_host ("tcp://*:1", "tcp://[::1]7600", out, sizeof out),
                  SL_EINVAL);
    cr_assert_eq (sl_endpoint_with_host ("tcp://*:1", "tcp://host", out, sizeof out), SL_EINVAL);
    cr_assert_eq (sl_endpoint_with_host ("tcp://*:1", "tcp://:5", out, sizeof out), SL_EINVAL);
    cr_assert_eq (sl_endpoint_with_host ("tcp://*:1", "tcp://h:", out, sizeof out), SL_EINVAL);
    cr_assert_eq (sl_endpoint_with_host ("tcp://*:7601", "tcp://127.0.0.1:7600", out, 10),
                  SL_ETOOBIG);
    cr_assert_eq (sl_endpoint_with_host (NULL, "tcp://h:1", out, sizeof out), SL_EINVAL);
}
