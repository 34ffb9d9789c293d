/*  proc.c - the worker's operator host (sl_worker_proc_t, worker.h).

    One reusable output buffer per worker: each record's outputs are
    appended to it, and when the operator answers DROP, RETRY or FAIL the
    buffer is cut back to where the record began, so a failed record leaves
    nothing behind. Every output record is checked (value one bounded
    msgpack object, headers a map of str -> str|bin) before it joins the
    batch, so one bad emit can never make the broker refuse the result of a
    whole batch.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_batch.h"
#include "sl_buf.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_util.h"
#include "worker.h"

#define S_TICK_MS 250

typedef struct {
    const uint8_t *data;
    size_t len;
} sl_op_raw_t;

struct _sl_worker_proc_t {
    const sl_op_resolved_t *resolved;
    const sl_operator_t *op;
    void *state;
    bool inited;
    sl_op_host_t host;
    sl_op_batch_host_t batch_host;
    void (*tick) (void *ctx);
    void *tick_ctx;
    sl_worker_record_hook_t *hook; //  keyed groups: around each record (keyed.c)
    sl_worker_filter_t *filter;    //  keyed groups with shares: records of the share in hand
    bool holes;                    //  the batch may hold holes (a share's WORK, sl_batch.h)
    void *filter_ctx;
    void *hook_ctx;
    int64_t tick_ms;
    //  The batch in hand.
    sl_op_record_t *records;
    sl_op_raw_t *raw; //  each record's bytes as received
    size_t records_cap;
    size_t n_records;
    size_t cur;   //  index of the record being processed
    bool in_call; //  emit is only valid inside process / flush
    sl_buf_t out;
    uint32_t out_count;
    size_t mark; //  out.len when the current record began
    uint32_t mark_count;
    size_t last_begin; //  where the last settled record's outputs begin
    uint32_t last_begin_count;
    bool emit_failed; //  an emit of the current record was refused
    char error[256];  //  host->error text for the current record
    uint64_t max_bytes;
    uint32_t max_records;
    int64_t deadline_ms; //  give the batch up past this (0 = never)
    sl_worker_failure_t *failed;
    size_t n_failed;
    size_t failed_cap;
};

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

//  An emit refused: the current record fails, with the first reason.
static int
s_refuse (sl_worker_proc_t *self, int rc)
{
    self->emit_failed = true;
    if (!self->error[0]) {
        snprintf (self->error, sizeof self->error, "output record refused: %s", sl_strerror (rc));
    }
    return rc;
}

//  Counts the output record that begins at `before` in out, or takes it
//  back when it passes the batch's byte bound.
static int
s_emitted (sl_worker_proc_t *self, size_t before)
{
    if (self->max_bytes && self->out.len > self->max_bytes) {
        self->out.len = before;
        return s_refuse (self, SL_ETOOBIG);
    }
    self->out_count++;
    return 0;
}

//  Emits one already encoded record.
static int
s_emit_bytes (sl_worker_proc_t *self, const uint8_t *data, size_t len)
{
    size_t before = self->out.len;
    int rc = sl_buf_append (&self->out, data, len);
    return rc ? s_refuse (self, rc) : s_emitted (self, before);
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
    const sl_op_record_t *in = &self->records[self->cur];
    if (rec->value == in->value && rec->value_len == in->value_len && rec->key == in->key &&
        rec->key_len == in->key_len && rec->key_is_bin == in->key_is_bin &&
        rec->headers == in->headers && rec->headers_len == in->headers_len &&
        (rec->timestamp == 0 || rec->timestamp == in->timestamp)) {
        //  The input record itself, unchanged (a pass-through, a filter
        //  that keeps it): its bytes were checked when the batch was read,
        //  so they go out as they came, with no second walk and no
        //  re-encoding.
        return s_emit_bytes (self, self->raw[self->cur].data, self->raw[self->cur].len);
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
    int64_t timestamp = rec->timestamp ? rec->timestamp : in->timestamp;
    size_t before = self->out.len;
    rc = sl_record_encode (&self->out, timestamp, rec->key, rec->key ? rec->key_len : 0,
                           rec->key_is_bin, rec->headers, rec->headers ? rec->headers_len : 0,
                           rec->value, rec->value ? rec->value_len : 0);
    if (rc) {
        goto refused;
    }
    return s_emitted (self, before);

refused:
    return s_refuse (self, rc);
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
    sl_log_level_t lvl = level == SL_OP_LOG_ERROR  ? SL_LOG_ERROR
                         : level == SL_OP_LOG_WARN ? SL_LOG_WARN
                         : level == SL_OP_LOG_INFO ? SL_LOG_INFO
                                                   : SL_LOG_DEBUG;
    sl_log (lvl, self->op && self->op->name ? self->op->name : "operator", "%s", text ? text : "");
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
s_maybe_tick (sl_worker_proc_t *self, int64_t now)
{
    if (!self->tick) {
        return;
    }
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
    s_maybe_tick ((sl_worker_proc_t *)ctx, sl_mono_ms ());
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
    self->host = (sl_op_host_t){.ctx = self, .emit = s_emit, .error = s_error, .log = s_log_cb};
    self->batch_host =
        (sl_op_batch_host_t){.ctx = self, .done = s_batch_done, .tick = s_batch_tick};
    if (self->op->init) {
        self->error[0] = '\0';
        int rc = self->op->init (&self->state, &self->host, resolved->n,
                                 (const char *const *)resolved->keys,
                                 (const char *const *)resolved->values);
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
    free (self->raw);
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
sl_worker_proc_set_filter (sl_worker_proc_t *self, sl_worker_filter_t *filter, void *ctx)
{
    self->filter = filter;
    self->filter_ctx = ctx;
}

void
sl_worker_proc_set_holes (sl_worker_proc_t *self, bool holes)
{
    self->holes = holes;
}

void
sl_worker_proc_set_record_hook (sl_worker_proc_t *self, sl_worker_record_hook_t *hook, void *ctx)
{
    self->hook = hook;
    self->hook_ctx = ctx;
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
                uint64_t offset, char *why, size_t why_size, size_t *read)
{
    sl_record_iter_t it;
    sl_record_iter_init (&it, data, len, count, offset);
    it.holes = self->holes;
    size_t n = 0;
    why[0] = '\0';
    for (*read = 0; *read < count; (*read)++) {
        sl_record_t rec;
        int rc = sl_record_iter_next (&it, &rec);
        //  Holes stand for records of other shares: *read counts offsets.
        *read = (size_t)(it.next_offset - offset) - (rc == 1);
        if (rc == 0 && it.left == 0) {
            break; //  the lease ended with holes
        }
        if (rc != 1) {
            snprintf (why, why_size, "worker: malformed input batch at offset %" PRIu64 ": %s",
                      offset + *read, rc == 0 ? "fewer records than counted" : sl_strerror (rc));
            return n;
        }
        self->raw[n] = (sl_op_raw_t){.data = rec.raw, .len = rec.raw_len};
        self->records[n] = (sl_op_record_t){
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
        //  A record the filter leaves out is done with the lease, untouched.
        n += !self->filter || self->filter (self->filter_ctx, &self->records[n]);
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
        sl_op_raw_t *raw = realloc (self->raw, count * sizeof *raw);
        if (!raw) {
            return SL_ENOMEM;
        }
        self->raw = raw;
        self->records_cap = count;
    }
    char bad[256];
    size_t read = 0;
    size_t n = s_read_records (self, data, len, count, offset, bad, sizeof bad, &read);
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
        //  The clock costs about 30 ns here, more than passing a record
        //  on: look at it every record while records are slow (a
        //  millisecond went by since the last look), every 64th while
        //  they are fast, so a deadline is missed by under a millisecond.
        size_t next_look = 0;
        int64_t last_look = self->tick_ms;
        for (size_t i = 0; i < n && rc == 0; i++) {
            self->cur = i;
            int result;
            if (i == next_look) {
                int64_t now = sl_mono_ms ();
                next_look = i + (now - last_look >= 1 ? 1 : 64);
                last_look = now;
                expired = expired || (self->deadline_ms && now >= self->deadline_ms);
                s_maybe_tick (self, now);
            }
            if (expired) {
                snprintf (self->error, sizeof self->error,
                          "the lease ran out before this record was processed");
                result = SL_OP_RETRY;
            }
            else {
                if (self->hook) {
                    self->hook (self->hook_ctx, &self->records[i], -1);
                }
                result = self->op->process (self->state, &self->records[i], &self->host);
            }
            size_t failed_before = self->n_failed;
            rc = s_settle (self, i, result);
            if (self->hook && !expired) {
                //  What the record changed stands only if it did not fail.
                self->hook (self->hook_ctx, &self->records[i],
                            self->n_failed > failed_before ? SL_OP_FAIL : SL_OP_OK);
            }
        }
    }
    //  flush's outputs and failure belong to the batch's last record: if
    //  flush fails, the last record fails, and its own outputs go too.
    if (rc == 0 && self->op->flush && n > 0) {
        self->cur = n - 1;
        bool last_failed = self->n_failed > 0 &&
                           self->failed[self->n_failed - 1].offset == self->records[n - 1].offset;
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
    for (size_t i = read; i < count; i++) {
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
