/*  worker.c - sluice-worker's session with the broker as a member of a
    worker group (docs/PROTOCOL.md §14); the operator host is proc.c.

    The session is single-threaded: WORK is processed as it arrives, and
    the broker's credit window (JOIN's `window`) keeps the next batch
    queued in the DEALER meanwhile. Nothing is acked: the broker learns a
    batch is done from its RESULT, and redoes what it does not hear about.
    While a batch is processed, the host's tick keeps PINGs going, so a
    long batch does not look like a dead member.
*/
#include "worker.h"

#include "keyed.h"
#include "sl_shares.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_client.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_proto.h"
#include "sl_util.h"
#include "sl_version.h"

#define S_PING_MS 1000   //  PING after this long without sending
#define S_REPORT_MS 2000 //  counters with a PING at least this often
#define S_TICK_MS 250
#define S_JOIN_ATTEMPT_MS 5000
#define S_SEND_RETRY_MS 50
#define S_LEAVE_WAIT_MS 2000 //  wait for the PONG that follows LEAVE
#define S_MAX_BATCH 65536u
#define S_BATCH 1000u //  default --batch
//  Default --batch in a keyed group: each share holds one lease at a time,
//  so the round trip, the commit and one state record per changed key are
//  paid per lease; 20,000 ran the windowed count+sum 4x faster than 1,000,
//  and 65,536 (the most) 1.3-1.5x faster than 20,000 once the member held
//  its shares' leases at once (BENCHMARKS.md, "Keyed groups: the broker's
//  and the member's cost per record").
#define S_KEYED_BATCH 65536u
#define S_RESULT_SLACK 4096  //  body bytes kept for the fixed RESULT fields
#define S_FAILED_OVERHEAD 20 //  encoded bytes of a failed entry besides its text
#define S_FAIL_SAY_MS 5000   //  operator errors: one line at most this often

typedef struct {
    const sl_worker_config_t *cfg;
    sl_client_t *client;
    sl_worker_proc_t *proc;
    sl_keyed_t *keyed; //  --key: the share filter; --window / Lua: the key states
    bool stateless;    //  --key with an operator that keeps no key state
    //  Per share of the key space (a keyed group without shares is share 0):
    bool reload[SL_SHARES_MAX];     //  its key states must be read back before its next lease
    uint64_t expect[SL_SHARES_MAX]; //  the offset its next lease starts at if nothing was redone
    char member[SL_NAME_MAX + 1];
    uint32_t connects;   //  the client's connection count when JOINED
    int64_t sent_ms;     //  when we last sent anything
    int64_t reported_ms; //  when we last sent our counters (PING)
    sl_worker_stats_t stats;
    bool fatal;
    //  Operator errors are said in the worker's own output, not only in the
    //  broker's dead letters, at most once per S_FAIL_SAY_MS.
    int64_t fail_said_ms;
    uint64_t fail_unsaid; //  failed records since the last line
} s_worker_t;

void
sl_worker_config_defaults (sl_worker_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    //  32, not 8: with --sync=full every lease waits for two group commits
    //  (its input's, then its RESULT's), so the records a member holds are
    //  what one fsync can carry; 8 capped a pipeline at ~4,000 records a
    //  commit (BENCHMARKS.md, "Records per fsync").
    cfg->window = 32;
    cfg->batch = 0; //  0: S_BATCH, or S_KEYED_BATCH with --key
    cfg->max_deliver = 5;
    cfg->lease_ms = 30000;
    cfg->op.kind = SL_OPK_PASS;
    cfg->timeout_ms = 5000;
    cfg->state_cache = SL_KEYED_STATE_CACHE;
}

static bool
s_stopping (s_worker_t *self)
{
    return zsys_interrupted || (self->cfg->stop && *self->cfg->stop);
}

static int
s_send (s_worker_t *self, sl_msg_t *msg)
{
    int rc = sl_client_send (self->client, msg, NULL);
    if (rc == 0) {
        self->sent_ms = sl_mono_ms ();
    }
    return rc;
}

static void
s_ping (s_worker_t *self)
{
    //  Our counters ride on the heartbeat (PROTOCOL.md §15.5), so that
    //  `sluice stat` shows what each member did and how much failed.
    sl_msg_t ping;
    sl_msg_init_report (&ping, sl_client_next_req (self->client), "worker", self->member,
                        self->stats.records_in, self->stats.failed);
    snprintf (ping.group, sizeof ping.group, "%s", self->cfg->group);
    if (s_send (self, &ping) == 0) {
        self->reported_ms = self->sent_ms;
    }
    sl_msg_reset (&ping);
}

//  Keeps the member alive while a long batch is processed: the broker
//  ends the leases of a member silent for 3 heartbeats.
static void
s_tick (void *ctx)
{
    s_worker_t *self = ctx;
    if (sl_mono_ms () - self->sent_ms >= S_PING_MS) {
        s_ping (self);
    }
}

//  HELLO then JOIN, until JOINED. 0, 1 (fatal: the broker refused the
//  JOIN for good) or -1 (stopped).
static int
s_join (s_worker_t *self)
{
    const sl_worker_config_t *cfg = self->cfg;
    bool warned = false;
    while (!s_stopping (self)) {
        int rc = sl_client_hello (self->client, sl_mono_ms () + S_JOIN_ATTEMPT_MS);
        if (rc == SL_ETIMEOUT) {
            if (!warned) {
                sl_warn ("worker", "broker %s does not answer; still trying (check --broker)",
                         cfg->broker);
                warned = true;
            }
            continue;
        }
        if (rc == SL_ECLOSED) {
            break;
        }
        if (rc && !sl_error_retryable (rc)) {
            sl_error ("worker", "broker %s refused HELLO: %s", cfg->broker, sl_strerror (rc));
            return 1;
        }
        uint32_t connects = sl_client_connects (self->client);
        sl_msg_t join, reply;
        sl_msg_init (&join, SL_CMD_JOIN);
        sl_msg_init (&reply, SL_CMD_NONE);
        snprintf (join.group, sizeof join.group, "%s", cfg->group);
        snprintf (join.in, sizeof join.in, "%s", cfg->in);
        snprintf (join.out, sizeof join.out, "%s", cfg->out);
        snprintf (join.member, sizeof join.member, "%s", self->member);
        join.window = cfg->window;
        join.batch = cfg->batch ? cfg->batch : cfg->key ? S_KEYED_BATCH : S_BATCH;
        join.from = cfg->from_end ? SL_FROM_END : SL_FROM_BEGINNING;
        join.max_deliver = cfg->max_deliver;
        join.lease_ms = (uint64_t)cfg->lease_ms;
        if (cfg->key) {
            //  A keyed group: the broker hands each share of the key space one
            //  lease at a time, to the one member owning it.
            snprintf (join.key, sizeof join.key, "%s", cfg->key);
            join.window = 1;
            join.shares = cfg->shares;
        }
        rc = sl_client_request (self->client, &join, &reply, NULL,
                                sl_mono_ms () + S_JOIN_ATTEMPT_MS);
        if (rc == 0 && reply.cmd == SL_CMD_JOINED) {
            self->connects = connects;
            self->stats.joins++;
            for (size_t i = 0; i < SL_SHARES_MAX; i++) {
                self->reload[i] = true;
            }
            self->sent_ms = sl_mono_ms ();
            sl_info ("worker", "member %s joined group %s (%s -> %s) at offset %" PRIu64,
                     self->member, cfg->group, cfg->in, cfg->out, reply.offset);
            sl_msg_reset (&join);
            sl_msg_reset (&reply);
            return 0;
        }
        if (rc < 0 && rc != SL_ETIMEOUT && rc != SL_ECLOSED && !sl_error_retryable (rc)) {
            sl_error ("worker", "broker refused JOIN of group %s: %s (%s)", cfg->group,
                      reply.text[0] ? reply.text : sl_strerror (rc), sl_strerror (rc));
            sl_msg_reset (&join);
            sl_msg_reset (&reply);
            return 1;
        }
        if (rc == 0) {
            sl_warn ("worker", "unexpected %s in reply to JOIN", sl_cmd_name (reply.cmd));
        }
        else if (rc != SL_ECLOSED) {
            sl_debug ("worker", "JOIN not answered (%s); trying again", sl_strerror (rc));
        }
        sl_msg_reset (&join);
        sl_msg_reset (&reply);
    }
    return -1;
}

//  Window mode processes records itself; otherwise the operator host does.
static bool
s_windowed (s_worker_t *self)
{
    return self->keyed && !sl_keyed_is_lua (self->keyed);
}

static size_t
s_n_failed (s_worker_t *self)
{
    return s_windowed (self) ? sl_keyed_n_failed (self->keyed)
                             : sl_worker_proc_n_failed (self->proc);
}

static const sl_worker_failure_t *
s_failure (s_worker_t *self, size_t i)
{
    return s_windowed (self) ? sl_keyed_failed (self->keyed, i)
                             : sl_worker_proc_failed (self->proc, i);
}

//  The failed entries of a RESULT must fit its body (SL_MAX_BODY): with many
//  failures each text gets a share of the room.
static int
s_fill_failed (s_worker_t *self, sl_msg_t *msg, size_t text_max)
{
    size_t n = s_n_failed (self);
    for (size_t i = 0; i < n; i++) {
        const sl_worker_failure_t *f = s_failure (self, i);
        char text[256];
        snprintf (text, sizeof text, "%.*s", (int)text_max, f->text);
        int rc = sl_msg_add_failed (msg, f->offset, text);
        if (rc) {
            return rc;
        }
        //  In a keyed group a retry would run after later records of its
        //  key: every failure is final there.
        msg->failed[msg->n_failed - 1].final = f->final || self->cfg->key != NULL;
    }
    return 0;
}

//  Sends the RESULT for work, waiting out a full high-water mark until the
//  lease would have ended anyway.
static void
s_result (s_worker_t *self, const sl_msg_t *work)
{
    size_t out_len = 0;
    uint32_t out_count = 0, late_count = 0, state_count = 0;
    const uint8_t *out =
        self->keyed ? sl_keyed_output (self->keyed, &out_len, &out_count, &late_count, &state_count)
                    : sl_worker_proc_output (self->proc, &out_len, &out_count);
    size_t n_failed = s_n_failed (self);
    size_t text_max = 255;
    if (n_failed) {
        size_t share = (SL_MAX_BODY - S_RESULT_SLACK) / n_failed;
        share = share > S_FAILED_OVERHEAD ? share - S_FAILED_OVERHEAD : 0;
        if (share < text_max) {
            text_max = share;
        }
    }
    zframe_t *frame = zframe_new (out_len ? out : NULL, out_len);
    if (!frame) {
        sl_error ("worker", "out of memory for a result; lease %" PRIu64 " will be redone",
                  work->lease);
        return;
    }
    int64_t deadline = sl_mono_ms () + self->cfg->lease_ms;
    while (true) {
        sl_msg_t result;
        sl_msg_init (&result, SL_CMD_RESULT);
        snprintf (result.group, sizeof result.group, "%s", self->cfg->group);
        result.share = work->share;
        result.lease = work->lease;
        result.offset = work->offset;
        result.count = work->count;
        result.out_count = out_count;
        result.late_count = late_count;
        result.state_count = state_count;
        if (self->keyed) {
            size_t out_bytes, late_bytes;
            sl_keyed_part_bytes (self->keyed, &out_bytes, &late_bytes);
            //  Only when they fit the field (a WORK is 16 MiB at most).
            if (out_bytes <= UINT32_MAX && late_bytes <= UINT32_MAX) {
                result.out_bytes = (uint32_t)out_bytes;
                result.late_bytes = (uint32_t)late_bytes;
            }
        }
        int rc = s_fill_failed (self, &result, text_max);
        if (rc == 0) {
            rc = sl_client_send_frame (self->client, &result, frame);
        }
        sl_msg_reset (&result);
        if (rc == 0) {
            self->sent_ms = sl_mono_ms ();
            self->stats.batches++;
            //  A share's holes are other shares' records: not ours to count.
            self->stats.records_in += work->count - (work->holes < work->count ? work->holes : 0);
            self->stats.records_out += out_count;
            self->stats.failed += n_failed;
            break;
        }
        if (rc == SL_EINVAL && text_max > 0) {
            //  The body did not encode (too big): shorter texts.
            text_max /= 2;
            continue;
        }
        if (rc != SL_EAGAIN || sl_mono_ms () >= deadline) {
            sl_warn ("worker",
                     "cannot send the result of lease %" PRIu64 " (%s); the broker "
                     "will hand it out again",
                     work->lease, sl_strerror (rc));
            break;
        }
        zclock_sleep (S_SEND_RETRY_MS);
        s_tick (self);
    }
    zframe_destroy (&frame);
}

//  The state cache dropped every share's states after a failure
//  (keyed_cache.c): each share restores at its next lease.
static void
s_lost (s_worker_t *self)
{
    if (sl_keyed_take_lost (self->keyed)) {
        for (size_t i = 0; i < sizeof self->reload / sizeof self->reload[0]; i++) {
            self->reload[i] = true;
        }
    }
}

//  A lease of a windowed keyed group. The key states in memory are the
//  committed ones only if this lease continues the last one we answered
//  and that one was a first delivery (its RESULT then committed: the
//  broker hands out the next lease of a keyed group only after it). In
//  any other case (a new join, a redelivery, a lease another member
//  answered meanwhile) they are read back from GROUP.state first.
static int
s_keyed_work (s_worker_t *self, const sl_msg_t *work, zframe_t *frame)
{
    uint32_t s = work->share;
    if (s >= SL_SHARES_MAX || (work->shares && s >= work->shares)) {
        return SL_EPROTO;
    }
    //  Each share's leases come in its own offset order (docs/worker.md).
    sl_keyed_set_share (self->keyed, s, work->shares);
    sl_keyed_set_holes (self->keyed, work->holes > 0);
    if (self->proc) {
        sl_worker_proc_set_holes (self->proc, work->holes > 0);
    }
    bool redo = work->attempt > 1 || work->offset != self->expect[s];
    if (!self->stateless && (self->reload[s] || redo)) {
        int rc = sl_keyed_restore (self->keyed);
        if (rc) {
            self->reload[s] = true;
            s_lost (self);
            return rc;
        }
    }
    int rc;
    if (sl_keyed_is_lua (self->keyed)) {
        sl_worker_proc_set_deadline (self->proc, sl_mono_ms () + self->cfg->lease_ms);
        rc = sl_worker_proc_batch (self->proc, zframe_data (frame), zframe_size (frame),
                                   work->count, work->offset);
        size_t len = 0;
        uint32_t count = 0;
        const uint8_t *out = rc ? NULL : sl_worker_proc_output (self->proc, &len, &count);
        rc = rc ? rc : sl_keyed_finish (self->keyed, out, len, count);
    }
    else {
        rc = sl_keyed_batch (self->keyed, zframe_data (frame), zframe_size (frame), work->count,
                             work->offset);
    }
    //  A redone lease's RESULT may be dropped (its first answer committed):
    //  then our states ran ahead of the committed ones.
    self->reload[s] = rc != 0 || redo;
    s_lost (self);
    self->expect[s] = work->offset + work->count;
    return rc;
}

static void
s_work (s_worker_t *self, const sl_msg_t *work, zmsg_t *data)
{
    if (strcmp (work->group, self->cfg->group) != 0) {
        sl_warn ("worker", "WORK for group %s ignored (member of %s)", work->group,
                 self->cfg->group);
        return;
    }
    zframe_t *frame = data ? zmsg_first (data) : NULL;
    if (!frame || work->count == 0 || work->count > S_MAX_BATCH) {
        sl_warn ("worker", "malformed WORK for lease %" PRIu64 " ignored (count %u)", work->lease,
                 work->count);
        return;
    }
    int rc;
    if (self->keyed) {
        rc = s_keyed_work (self, work, frame);
    }
    else {
        sl_worker_proc_set_deadline (self->proc, sl_mono_ms () + self->cfg->lease_ms);
        rc = sl_worker_proc_batch (self->proc, zframe_data (frame), zframe_size (frame),
                                   work->count, work->offset);
    }
    if (rc) {
        sl_error ("worker",
                  "lease %" PRIu64 " not processed: %s; the broker will hand it out "
                  "again",
                  work->lease, sl_strerror (rc));
        return;
    }
    size_t n_failed = s_n_failed (self);
    if (n_failed > 0) {
        const sl_worker_failure_t *f = s_failure (self, 0);
        self->fail_unsaid += n_failed;
        int64_t now = sl_mono_ms ();
        if (self->fail_said_ms == 0 || now - self->fail_said_ms >= S_FAIL_SAY_MS) {
            sl_warn ("worker",
                     "operator failed %" PRIu64 " record%s%s; e.g. offset %" PRIu64
                     " of %s: %s (%s)",
                     self->fail_unsaid, self->fail_unsaid == 1 ? "" : "s",
                     self->fail_said_ms ? " since the last report" : "", f->offset, self->cfg->in,
                     f->text,
                     f->final ? "dead-lettered to the group's .dlq stream"
                              : "retried; after --max-deliver attempts dead-lettered");
            self->fail_said_ms = now;
            self->fail_unsaid = 0;
        }
    }
    s_result (self, work);
}

//  LEAVE, then a PING whose PONG tells that the LEAVE (and the RESULT sent
//  before it) reached the broker before the socket closes without linger.
//  Received directly: sl_client_recv stops at zsys_interrupted.
static void
s_leave (s_worker_t *self)
{
    sl_msg_t leave;
    sl_msg_init (&leave, SL_CMD_LEAVE);
    snprintf (leave.group, sizeof leave.group, "%s", self->cfg->group);
    snprintf (leave.member, sizeof leave.member, "%s", self->member);
    int rc = s_send (self, &leave);
    sl_msg_reset (&leave);
    if (rc) {
        return;
    }
    sl_msg_t ping;
    sl_msg_init (&ping, SL_CMD_PING);
    ping.req = sl_client_next_req (self->client);
    uint64_t req = ping.req;
    rc = s_send (self, &ping);
    sl_msg_reset (&ping);
    if (rc) {
        return;
    }
    int64_t deadline = sl_mono_ms () + S_LEAVE_WAIT_MS;
    void *sock = zsock_resolve (sl_client_sock (self->client));
    while (sl_mono_ms () < deadline) {
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        int ready = zmq_poll (&item, 1, 100);
        if (ready <= 0 || !(item.revents & ZMQ_POLLIN)) {
            continue;
        }
        zmsg_t *msg = zmsg_recv_nowait (sl_client_sock (self->client));
        if (!msg) {
            continue;
        }
        sl_msg_t reply;
        sl_msg_init (&reply, SL_CMD_NONE);
        bool done =
            sl_msg_decode (msg, &reply) == 0 && reply.cmd == SL_CMD_PONG && reply.req == req;
        sl_msg_reset (&reply);
        zmsg_destroy (&msg);
        if (done) {
            sl_debug ("worker", "left group %s", self->cfg->group);
            return;
        }
    }
    sl_debug ("worker", "no answer to LEAVE; the broker will notice our silence");
}

//  Answers one message from the broker.
static void
s_handle (s_worker_t *self, sl_msg_t *msg, zmsg_t *data)
{
    switch (msg->cmd) {
    case SL_CMD_WORK:
        s_work (self, msg, data);
        break;
    case SL_CMD_PONG:
    case SL_CMD_WELCOME:
    case SL_CMD_JOINED:
        break;
    case SL_CMD_ERROR:
        sl_warn ("worker", "broker says: %s (%s)", msg->text, sl_strerror (-msg->code));
        if (msg->code == -SL_ESTATE || msg->code == -SL_ENOTFOUND) {
            //  The broker no longer knows us as a member: join again.
            self->connects = UINT32_MAX;
        }
        break;
    default:
        sl_debug ("worker", "%s from broker ignored", sl_cmd_name (msg->cmd));
        break;
    }
}

static int
s_loop (s_worker_t *self)
{
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_NONE);
    void *sock = zsock_resolve (sl_client_sock (self->client));
    int code = 0;
    while (!s_stopping (self)) {
        if (sl_client_connects (self->client) != self->connects) {
            sl_info ("worker", "connection to the broker renewed; joining group %s again",
                     self->cfg->group);
            int rc = s_join (self);
            if (rc) {
                code = rc > 0 ? 1 : 0;
                break;
            }
        }
        int64_t idle = sl_mono_ms () - self->sent_ms;
        if (idle >= S_PING_MS || sl_mono_ms () - self->reported_ms >= S_REPORT_MS) {
            s_ping (self);
            idle = 0;
        }
        long wait = (long)(S_PING_MS - idle);
        if (wait > S_TICK_MS) {
            wait = S_TICK_MS;
        }
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        int ready = zmq_poll (&item, 1, wait < 1 ? 1 : wait);
        if (ready <= 0 || !(item.revents & ZMQ_POLLIN)) {
            continue;
        }
        //  Drain what is waiting, but look at the clock between messages.
        for (int i = 0; i < 64 && !s_stopping (self); i++) {
            zmsg_t *data = NULL;
            int rc = sl_client_recv (self->client, &msg, &data, 0);
            if (rc) {
                break;
            }
            s_handle (self, &msg, data);
            zmsg_destroy (&data);
            sl_msg_reset (&msg);
            s_tick (self);
        }
    }
    sl_msg_reset (&msg);
    return code;
}

int
sl_worker_run (const sl_worker_config_t *cfg)
{
    if (!cfg->broker || !cfg->group || !cfg->in || !cfg->out) {
        sl_error ("worker", "--broker, --group, --in and --out are required");
        return 2;
    }
    s_worker_t self = {.cfg = cfg};
    int code = 1;
    sl_op_resolved_t resolved;
    memset (&resolved, 0, sizeof resolved);
    if (cfg->member) {
        snprintf (self.member, sizeof self.member, "%s", cfg->member);
    }
    else {
        sl_default_member ("worker", self.member, sizeof self.member);
    }
    char why[512];
    int rc = sl_op_resolve (&cfg->op, &resolved, why, sizeof why);
    if (rc) {
        sl_error ("worker", "%s", why);
        return rc == SL_EINVAL ? 2 : 1;
    }
    self.proc = sl_worker_proc_new (&resolved, why, sizeof why);
    if (!self.proc) {
        sl_error ("worker", "%s", why);
        goto done;
    }
    if (cfg->window_spec || cfg->key) {
        self.keyed = sl_keyed_new (cfg, why, sizeof why);
        if (!self.keyed) {
            sl_error ("worker", "%s", why);
            code = 2;
            goto done;
        }
        self.stateless = !cfg->window_spec && cfg->op.kind != SL_OPK_LUA;
        if (self.stateless) {
            sl_keyed_attach_filter (self.keyed, self.proc);
        }
        else if (sl_keyed_is_lua (self.keyed)) {
            sl_keyed_attach (self.keyed, self.proc);
        }
        if (!self.stateless && sl_keyed_open_store (self.keyed) != 0) {
            sl_error ("worker", "cannot make the key state store under $TMPDIR");
            goto done;
        }
    }
    sl_worker_proc_set_tick (self.proc, s_tick, &self);
    sl_client_opts_t opts = {
        .broker = cfg->broker,
        .software = "sluice-worker/" SLUICE_VERSION,
        .timeout_ms = cfg->timeout_ms,
    };
    self.client = sl_client_new (&opts);
    if (!self.client) {
        sl_error ("worker", "cannot connect to %s", cfg->broker);
        goto done;
    }
    rc = s_join (&self);
    if (rc != 0) {
        code = rc > 0 ? 1 : 0;
        goto done;
    }
    const sl_msg_t *welcome = sl_client_welcome (self.client);
    if (welcome) {
        sl_worker_proc_set_limits (self.proc, welcome->max_batch_bytes, welcome->max_batch_records);
    }
    code = s_loop (&self);
    if (code == 0) {
        s_leave (&self);
    }
    sl_info ("worker",
             "member %s stopped: %" PRIu64 " batches, %" PRIu64 " records in, %" PRIu64
             " out, %" PRIu64 " failed",
             self.member, self.stats.batches, self.stats.records_in, self.stats.records_out,
             self.stats.failed);

done:
    if (cfg->stats) {
        *cfg->stats = self.stats;
    }
    sl_client_destroy (&self.client);
    sl_worker_proc_destroy (&self.proc);
    sl_keyed_destroy (&self.keyed);
    sl_op_resolved_free (&resolved);
    return code;
}
