/*  worker.c - sluice-worker's core: the operator host and the member's
    session with the broker (docs/PROTOCOL.md §14).

    The host side (sl_worker_proc_t) keeps one reusable output buffer per
    worker: each record's outputs are appended to it, and when the operator
    answers RETRY or FAIL the buffer is cut back to where the record began,
    so a failed record leaves nothing behind. Every output record is checked
    (value one bounded msgpack object, headers a map of str -> str|bin)
    before it joins the batch, so one bad emit can never make the broker
    refuse the result of a whole batch.

    The session is single-threaded: WORK is processed as it arrives, and
    the broker's credit window (JOIN's `window`) keeps the next batch
    queued in the DEALER meanwhile. Nothing is acked: the broker learns a
    batch is done from its RESULT, and redoes what it does not hear about.
*/
#include "worker.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_batch.h"
#include "sl_buf.h"
#include "sl_client.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_proto.h"
#include "sl_util.h"
#include "sl_version.h"

#define S_TICK_MS           250
#define S_PING_MS           1000        //  PING after this long without sending
#define S_JOIN_ATTEMPT_MS   5000
#define S_SEND_RETRY_MS     50
#define S_LEAVE_WAIT_MS     2000        //  wait for the PONG that follows LEAVE
#define S_MAX_BATCH         65536u
#define S_RESULT_SLACK      4096        //  body bytes kept for the fixed RESULT fields
#define S_FAILED_OVERHEAD   20          //  encoded bytes of a failed entry besides its text

struct _sl_worker_proc_t {
    const sl_op_resolved_t *resolved;
    const sl_operator_t *op;
    void *state;
    bool inited;
    sl_op_host_t host;
    sl_op_batch_host_t batch_host;
    void (*tick) (void *ctx);
    void *tick_ctx;
    int64_t tick_ms;
    //  The batch in hand.
    sl_op_record_t *records;
    size_t records_cap;
    size_t n_records;
    size_t cur;                 //  index of the record being processed
    bool in_call;               //  emit is only valid inside process / flush
    sl_buf_t out;
    uint32_t out_count;
    size_t mark;                //  out.len when the current record began
    uint32_t mark_count;
    size_t last_begin;          //  where the last settled record's outputs begin
    uint32_t last_begin_count;
    bool emit_failed;           //  an emit of the current record was refused
    char error[256];            //  host->error text for the current record
    uint64_t max_bytes;
    uint32_t max_records;
    int64_t deadline_ms;        //  give the batch up past this (0 = never)
    sl_worker_failure_t *failed;
    size_t n_failed;
    size_t failed_cap;
};

//  --- The operator host -------------------------------------------------

//  Headers on an output must be what PROTOCOL §4 allows: nil or a map of
//  str -> str|bin, exactly headers_len bytes.
static int
s_headers_ok (const uint8_t *data, size_t len)
{
    const uint8_t *p = data;
    const uint8_t *end = data + len;
    uint32_t n = 0;
    if (sl_mp_read_map (&p, end, &n)) {
        return SL_ETYPE;
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *bytes;
        uint32_t size;
        if (sl_mp_read_str (&p, end, &bytes, &size) || sl_mp_read_bytes (&p, end, &bytes, &size)) {
            return SL_ETYPE;
        }
    }
    return p == end ? 0 : SL_EPROTO;
}

static int
s_emit (void *ctx, const sl_op_record_t *rec)
{
    sl_worker_proc_t *self = ctx;
    int rc = 0;
    if (!self->in_call || !rec) {
        rc = SL_ESTATE;
        goto refused;
    }
    if (self->max_records && self->out_count >= self->max_records) {
        rc = SL_ETOOBIG;
        goto refused;
    }
    size_t used = 0;
    if (rec->value) {
        rc = sl_mp_skip (rec->value, rec->value_len, SL_MP_MAX_DEPTH, &used);
        if (rc == 0 && used != rec->value_len) {
            rc = SL_EPROTO;
        }
        if (rc) {
            goto refused;
        }
    }
    if (rec->headers && (rc = s_headers_ok (rec->headers, rec->headers_len))) {
        goto refused;
    }
    if (rec->key_len && !rec->key) {
        rc = SL_EINVAL;
        goto refused;
    }
    const sl_op_record_t *in = &self->records[self->cur];
    int64_t timestamp = rec->timestamp ? rec->timestamp : in->timestamp;
    size_t before = self->out.len;
    rc = sl_record_encode (&self->out, timestamp, rec->key, rec->key ? rec->key_len : 0,
                           rec->key_is_bin, rec->headers, rec->headers ? rec->headers_len : 0,
                           rec->value, rec->value ? rec->value_len : 0);
    if (rc) {
        goto refused;
    }
    if (self->max_bytes && self->out.len > self->max_bytes) {
        self->out.len = before;
        rc = SL_ETOOBIG;
        goto refused;
    }
    self->out_count++;
    return 0;

refused:
    self->emit_failed = true;
    if (!self->error[0]) {
        snprintf (self->error, sizeof self->error, "output record refused: %s",
                  sl_strerror (rc));
    }
    return rc;
}

static void
s_error (void *ctx, const char *text)
{
    sl_worker_proc_t *self = ctx;
    snprintf (self->error, sizeof self->error, "%s", text ? text : "");
}

static void
s_log_cb (void *ctx, sl_op_log_t level, const char *text)
{
    sl_worker_proc_t *self = ctx;
    sl_log_level_t lvl = level == SL_OP_LOG_ERROR ? SL_LOG_ERROR
                       : level == SL_OP_LOG_WARN  ? SL_LOG_WARN
                       : level == SL_OP_LOG_INFO  ? SL_LOG_INFO
                                                  : SL_LOG_DEBUG;
    sl_log (lvl, self->op && self->op->name ? self->op->name : "operator", "%s",
            text ? text : "");
}

static int
s_add_failure (sl_worker_proc_t *self, uint64_t offset, bool final, const char *text)
{
    if (self->n_failed == self->failed_cap) {
        size_t cap = self->failed_cap ? self->failed_cap * 2 : 16;
        sl_worker_failure_t *list = realloc (self->failed, cap * sizeof *list);
        if (!list) {
            return SL_ENOMEM;
        }
        self->failed = list;
        self->failed_cap = cap;
    }
    sl_worker_failure_t *f = &self->failed[self->n_failed++];
    f->offset = offset;
    f->final = final;
    snprintf (f->text, sizeof f->text, "%s", text);
    return 0;
}

//  Settles record index with the operator's rc: keeps its outputs (OK),
//  cuts them back (DROP), or cuts them back and lists the record as failed
//  (RETRY, FAIL). An OK whose emit was refused
//  becomes a RETRY (its output would be incomplete).
static int
s_settle (sl_worker_proc_t *self, size_t index, int rc)
{
    if (rc != SL_OP_OK && rc != SL_OP_DROP && rc != SL_OP_RETRY && rc != SL_OP_FAIL) {
        snprintf (self->error, sizeof self->error, "operator '%s' returned unknown code %d",
                  self->op->name, rc);
        rc = SL_OP_RETRY;
    }
    if ((rc == SL_OP_OK || rc == SL_OP_DROP) && self->emit_failed) {
        rc = SL_OP_RETRY;
    }
    int err = 0;
    if (rc != SL_OP_OK) {
        //  DROP gives no output, whatever was emitted; RETRY and FAIL neither.
        self->out.len = self->mark;
        self->out_count = self->mark_count;
    }
    if (rc == SL_OP_RETRY || rc == SL_OP_FAIL) {
        char fallback[96];
        if (!self->error[0]) {
            snprintf (fallback, sizeof fallback, "operator '%.40s' returned %s", self->op->name,
                      rc == SL_OP_FAIL ? "FAIL" : "RETRY");
        }
        err = s_add_failure (self, self->records[index].offset, rc == SL_OP_FAIL,
                             self->error[0] ? self->error : fallback);
    }
    self->last_begin = self->mark;
    self->last_begin_count = self->mark_count;
    self->mark = self->out.len;
    self->mark_count = self->out_count;
    self->emit_failed = false;
    self->error[0] = '\0';
    return err;
}

static void
s_maybe_tick (sl_worker_proc_t *self)
{
    if (!self->tick) {
        return;
    }
    int64_t now = sl_mono_ms ();
    if (now - self->tick_ms >= S_TICK_MS) {
        self->tick_ms = now;
        self->tick (self->tick_ctx);
    }
}

//  Batch operators report each record here, in order.
static void
s_batch_done (void *ctx, size_t index, int rc)
{
    sl_worker_proc_t *self = ctx;
    if (index != self->cur || index >= self->n_records) {
        sl_warn ("worker", "operator '%s' settled record %zu out of order (expected %zu)",
                 self->op->name, index, self->cur);
        return;
    }
    s_settle (self, index, rc);
    self->cur++;
}

static void
s_batch_tick (void *ctx)
{
    s_maybe_tick ((sl_worker_proc_t *) ctx);
}

sl_worker_proc_t *
sl_worker_proc_new (const sl_op_resolved_t *resolved, char *why, size_t why_size)
{
    sl_worker_proc_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (why, why_size, "out of memory");
        return NULL;
    }
    self->resolved = resolved;
    self->op = resolved->op;
    sl_buf_init (&self->out, 0);
    self->host = (sl_op_host_t) {.ctx = self, .emit = s_emit, .error = s_error, .log = s_log_cb};
    self->batch_host = (sl_op_batch_host_t) {.ctx = self, .done = s_batch_done,
                                             .tick = s_batch_tick};
    if (self->op->init) {
        self->error[0] = '\0';
        int rc = self->op->init (&self->state, &self->host, resolved->n,
                                 (const char *const *) resolved->keys,
                                 (const char *const *) resolved->values);
        if (rc) {
            snprintf (why, why_size, "operator '%s' failed to start: %s", self->op->name,
                      self->error[0] ? self->error : sl_strerror (rc));
            goto fail;
        }
    }
    self->inited = true;
    self->error[0] = '\0';
    return self;

fail:
    sl_worker_proc_destroy (&self);
    return NULL;
}

void
sl_worker_proc_destroy (sl_worker_proc_t **self_p)
{
    sl_worker_proc_t *self = *self_p;
    if (!self) {
        return;
    }
    if (self->inited && self->op->destroy) {
        self->op->destroy (self->state);
    }
    sl_buf_free (&self->out);
    free (self->records);
    free (self->failed);
    free (self);
    *self_p = NULL;
}

void
sl_worker_proc_set_limits (sl_worker_proc_t *self, uint64_t max_bytes, uint32_t max_records)
{
    self->max_bytes = max_bytes;
    self->max_records = max_records;
}

void
sl_worker_proc_set_deadline (sl_worker_proc_t *self, int64_t deadline_ms)
{
    self->deadline_ms = deadline_ms;
    self->batch_host.deadline_ms = deadline_ms;
}

void
sl_worker_proc_set_tick (sl_worker_proc_t *self, void (*tick) (void *ctx), void *ctx)
{
    self->tick = tick;
    self->tick_ctx = ctx;
}

//  Reads the batch into self->records. Returns how many records could be
//  read; the rest of the batch is malformed (reason in why).
static size_t
s_read_records (sl_worker_proc_t *self, const uint8_t *data, size_t len, uint32_t count,
                uint64_t offset, char *why, size_t why_size)
{
    sl_record_iter_t it;
    sl_record_iter_init (&it, data, len, count, offset);
    size_t n = 0;
    why[0] = '\0';
    while (n < count) {
        sl_record_t rec;
        int rc = sl_record_iter_next (&it, &rec);
        if (rc != 1) {
            snprintf (why, why_size, "worker: malformed input batch at offset %" PRIu64 ": %s",
                      offset + n, rc == 0 ? "fewer records than counted" : sl_strerror (rc));
            return n;
        }
        self->records[n++] = (sl_op_record_t) {
            .offset = rec.offset,
            .timestamp = rec.timestamp,
            .key = rec.key,
            .key_len = rec.key_len,
            .key_is_bin = rec.key_is_bin,
            .headers = rec.headers,
            .headers_len = rec.headers_len,
            .value = rec.value,
            .value_len = rec.value_len,
        };
    }
    sl_record_t extra;
    if (sl_record_iter_next (&it, &extra) != 0) {
        snprintf (why, why_size, "worker: malformed input batch: bytes after %u records", count);
    }
    return n;
}

int
sl_worker_proc_batch (sl_worker_proc_t *self, const uint8_t *data, size_t len, uint32_t count,
                      uint64_t offset)
{
    sl_buf_reset (&self->out);
    self->out_count = 0;
    self->n_failed = 0;
    self->mark = 0;
    self->mark_count = 0;
    self->cur = 0;
    self->n_records = 0;
    self->emit_failed = false;
    self->error[0] = '\0';
    self->tick_ms = sl_mono_ms ();
    if (count > self->records_cap) {
        sl_op_record_t *records = realloc (self->records, count * sizeof *records);
        if (!records) {
            return SL_ENOMEM;
        }
        self->records = records;
        self->records_cap = count;
    }
    char bad[256];
    size_t n = s_read_records (self, data, len, count, offset, bad, sizeof bad);
    self->n_records = n;
    int rc = 0;
    self->in_call = true;
    if (self->resolved->process_batch) {
        rc = self->resolved->process_batch (self->state, self->records, n, &self->host,
                                            &self->batch_host);
        //  A record the operator did not settle is failed for retry.
        while (rc == 0 && self->cur < n) {
            snprintf (self->error, sizeof self->error, "operator '%s' gave no answer",
                      self->op->name);
            s_settle (self, self->cur, SL_OP_RETRY);
            self->cur++;
        }
    }
    else {
        bool expired = false;
        for (size_t i = 0; i < n && rc == 0; i++) {
            self->cur = i;
            int result;
            expired = expired || (self->deadline_ms && sl_mono_ms () >= self->deadline_ms);
            if (expired) {
                snprintf (self->error, sizeof self->error,
                          "the lease ran out before this record was processed");
                result = SL_OP_RETRY;
            }
            else {
                result = self->op->process (self->state, &self->records[i], &self->host);
            }
            rc = s_settle (self, i, result);
            s_maybe_tick (self);
        }
    }
    //  flush's outputs and failure belong to the batch's last record: if
    //  flush fails, the last record fails, and its own outputs go too.
    if (rc == 0 && self->op->flush && n > 0) {
        self->cur = n - 1;
        bool last_failed = self->n_failed > 0
                           && self->failed[self->n_failed - 1].offset == self->records[n - 1].offset;
        size_t flush_mark = self->mark;
        uint32_t flush_mark_count = self->mark_count;
        if (!last_failed) {
            self->mark = self->last_begin;
            self->mark_count = self->last_begin_count;
        }
        int result = self->op->flush (self->state, &self->host);
        if (last_failed) {
            self->out.len = flush_mark;
            self->out_count = flush_mark_count;
            self->emit_failed = false;
            self->error[0] = '\0';
        }
        else {
            rc = s_settle (self, n - 1, result);
        }
    }
    self->in_call = false;
    if (rc) {
        return rc;
    }
    //  Records the batch did not really hold are failed for retry.
    for (size_t i = n; i < count; i++) {
        rc = s_add_failure (self, offset + i, false, bad);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

const uint8_t *
sl_worker_proc_output (sl_worker_proc_t *self, size_t *len, uint32_t *count)
{
    *len = self->out.len;
    *count = self->out_count;
    return self->out.data;
}

size_t
sl_worker_proc_n_failed (sl_worker_proc_t *self)
{
    return self->n_failed;
}

const sl_worker_failure_t *
sl_worker_proc_failed (sl_worker_proc_t *self, size_t index)
{
    return index < self->n_failed ? &self->failed[index] : NULL;
}

//  --- The member's session ----------------------------------------------

typedef struct {
    const sl_worker_config_t *cfg;
    sl_client_t *client;
    sl_worker_proc_t *proc;
    char member[SL_NAME_MAX + 1];
    uint32_t connects;          //  the client's connection count when JOINED
    int64_t sent_ms;            //  when we last sent anything
    sl_worker_stats_t stats;
    bool fatal;
} s_worker_t;

void
sl_worker_config_defaults (sl_worker_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->window = 2;
    cfg->batch = 1000;
    cfg->max_deliver = 5;
    cfg->lease_ms = 30000;
    cfg->op.kind = SL_OPK_PASS;
    cfg->timeout_ms = 5000;
}

static bool
s_stopping (s_worker_t *self)
{
    return zsys_interrupted || (self->cfg->stop && *self->cfg->stop);
}

//  HOSTNAME-PID, with anything a name may not hold replaced by '-'.
static void
s_default_member (char *out, size_t size)
{
    char host[256] = "worker";
    if (gethostname (host, sizeof host - 1) != 0 || !host[0]) {
        snprintf (host, sizeof host, "worker");
    }
    host[sizeof host - 1] = '\0';
    snprintf (out, size, "%.180s-%d", host, (int) getpid ());
    for (char *c = out; *c; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
                  || *c == '-' || *c == '_' || *c == '.';
        if (!ok) {
            *c = '-';
        }
    }
    if (out[0] == '.') {
        out[0] = '-';
    }
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
    sl_msg_t ping;
    sl_msg_init (&ping, SL_CMD_PING);
    ping.req = sl_client_next_req (self->client);
    s_send (self, &ping);
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
        join.batch = cfg->batch;
        join.from = cfg->from_end ? SL_FROM_END : SL_FROM_BEGINNING;
        join.max_deliver = cfg->max_deliver;
        join.lease_ms = (uint64_t) cfg->lease_ms;
        rc = sl_client_request (self->client, &join, &reply, NULL,
                                sl_mono_ms () + S_JOIN_ATTEMPT_MS);
        if (rc == 0 && reply.cmd == SL_CMD_JOINED) {
            self->connects = connects;
            self->stats.joins++;
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

//  The failed entries of a RESULT must fit its body (SL_MAX_BODY): with many
//  failures each text gets a share of the room.
static int
s_fill_failed (s_worker_t *self, sl_msg_t *msg, size_t text_max)
{
    size_t n = sl_worker_proc_n_failed (self->proc);
    for (size_t i = 0; i < n; i++) {
        const sl_worker_failure_t *f = sl_worker_proc_failed (self->proc, i);
        char text[256];
        snprintf (text, sizeof text, "%.*s", (int) text_max, f->text);
        int rc = sl_msg_add_failed (msg, f->offset, text);
        if (rc) {
            return rc;
        }
#ifndef SL_WORKER_NO_FAILED_FINAL
        msg->failed[msg->n_failed - 1].final = f->final;
#endif
    }
    return 0;
}

//  Sends the RESULT for work, waiting out a full high-water mark until the
//  lease would have ended anyway.
static void
s_result (s_worker_t *self, const sl_msg_t *work)
{
    size_t out_len = 0;
    uint32_t out_count = 0;
    const uint8_t *out = sl_worker_proc_output (self->proc, &out_len, &out_count);
    size_t n_failed = sl_worker_proc_n_failed (self->proc);
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
        result.lease = work->lease;
        result.offset = work->offset;
        result.count = work->count;
        result.out_count = out_count;
        int rc = s_fill_failed (self, &result, text_max);
        if (rc == 0) {
            rc = sl_client_send_frame (self->client, &result, frame);
        }
        sl_msg_reset (&result);
        if (rc == 0) {
            self->sent_ms = sl_mono_ms ();
            self->stats.batches++;
            self->stats.records_in += work->count;
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
            sl_warn ("worker", "cannot send the result of lease %" PRIu64 " (%s); the broker "
                     "will hand it out again", work->lease, sl_strerror (rc));
            break;
        }
        zclock_sleep (S_SEND_RETRY_MS);
        s_tick (self);
    }
    zframe_destroy (&frame);
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
    sl_worker_proc_set_deadline (self->proc, sl_mono_ms () + self->cfg->lease_ms);
    int rc = sl_worker_proc_batch (self->proc, zframe_data (frame), zframe_size (frame),
                                   work->count, work->offset);
    if (rc) {
        sl_error ("worker", "lease %" PRIu64 " not processed: %s; the broker will hand it out "
                  "again", work->lease, sl_strerror (rc));
        return;
    }
    if (sl_worker_proc_n_failed (self->proc) > 0) {
        const sl_worker_failure_t *f = sl_worker_proc_failed (self->proc, 0);
        sl_debug ("worker", "lease %" PRIu64 ": %zu of %u records failed, first at %" PRIu64
                  ": %s", work->lease, sl_worker_proc_n_failed (self->proc), work->count,
                  f->offset, f->text);
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
        bool done = sl_msg_decode (msg, &reply) == 0 && reply.cmd == SL_CMD_PONG
                    && reply.req == req;
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
        if (idle >= S_PING_MS) {
            s_ping (self);
            idle = 0;
        }
        long wait = (long) (S_PING_MS - idle);
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
        s_default_member (self.member, sizeof self.member);
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
        sl_worker_proc_set_limits (self.proc, welcome->max_batch_bytes,
                                   welcome->max_batch_records);
    }
    code = s_loop (&self);
    if (code == 0) {
        s_leave (&self);
    }

done:
    if (cfg->stats) {
        *cfg->stats = self.stats;
    }
    sl_client_destroy (&self.client);
    sl_worker_proc_destroy (&self.proc);
    sl_op_resolved_free (&resolved);
    return code;
}
