/*  sluice_producer.c - the public API's producer (sluice.h): batches,
    a window of unconfirmed batches, and resends (docs/PROTOCOL.md §6.1).

    Record n of a producer object has sequence n. Batches wait in a ring
    until the broker's cumulative CONFIRM covers them; a timeout without
    progress, a reconnect (the broker may have restarted and lost what was
    in flight) or an ESEQ resends every one of them in order, and the
    broker's dedupe by (producer, sequence) makes that exactly once.
*/
#include "sluice_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <czmq.h>

#include "sl_error.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_proto.h"
#include "sl_util.h"
#include "sl_version.h"

#define S_WINDOW 16 //  unconfirmed batches in flight
#define S_BATCH_RECORDS 1000
#define S_BATCH_BYTES (1u << 20)
#define S_LINGER_MS 5
#define S_SLICE_MS 100

typedef struct {
    zframe_t *frame; //  the batch, kept for resends
    uint64_t seq;    //  sequence of its first record
    uint32_t count;
} s_batch_t;

struct _sluice_producer_t {
    sl_client_t *client;
    char *broker;
    char stream[SL_NAME_MAX + 1];
    char name[SL_NAME_MAX + 1];
    bool named;
    bool hello_done;
    uint64_t acked_at_hello; //  the broker's seq for this name at HELLO
    uint64_t last_seq;       //  sequence of the last record added
    uint64_t confirmed;      //  cumulative confirm
    sl_buf_t open;           //  the batch being filled
    uint32_t open_count;
    int64_t open_since;       //  when its first record was added
    s_batch_t ring[S_WINDOW]; //  unconfirmed batches, oldest at head
    size_t head;
    size_t n;
    int64_t progress_ms; //  last confirm advance or (re)send
    uint32_t connects;
    uint64_t max_batch_bytes;
    uint32_t max_batch_records;
    int timeout_ms;
    int failed;             //  a batch refused for good: sticky
    uint64_t eseq_expected; //  the last ESEQ answered with a resend
    int64_t eseq_ms;
    sl_json_t *json;
    sl_buf_t scratch;
};

sluice_producer_t *
sluice_producer_new (const char *broker, const char *stream, const char *name)
{
    if (!broker || !stream || !sl_name_valid (stream, strlen (stream)) || !sl_api_name_ok (name)) {
        return NULL;
    }
    sluice_producer_t *self = (sluice_producer_t *)calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    snprintf (self->stream, sizeof self->stream, "%s", stream);
    if (name) {
        snprintf (self->name, sizeof self->name, "%s", name);
        self->named = true;
    }
    else {
        //  Random, so that two anonymous producers never share sequences.
        uint64_t id = 0;
        if (getrandom (&id, sizeof id, 0) != (ssize_t)sizeof id) {
            id = (uint64_t)sl_now_ms () ^ ((uint64_t)getpid () << 32) ^ (uint64_t)(uintptr_t)self;
        }
        snprintf (self->name, sizeof self->name, "anon-%016" PRIx64, id);
    }
    self->broker = strdup (broker);
    self->json = sl_json_new ();
    sl_buf_init (&self->open, 0);
    sl_buf_init (&self->scratch, 0);
    self->timeout_ms = SLUICE_DEFAULT_TIMEOUT_MS;
    self->max_batch_bytes = S_BATCH_BYTES;
    self->max_batch_records = S_BATCH_RECORDS;
    self->client = sl_api_client_new (broker, "libsluice/" SLUICE_VERSION,
                                      self->named ? self->name : NULL, self->stream);
    if (!self->broker || !self->json || !self->client) {
        sluice_producer_destroy (&self);
    }
    return self;
}

void
sluice_producer_destroy (sluice_producer_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    sluice_producer_t *self = *self_p;
    for (size_t i = 0; i < S_WINDOW; i++) {
        zframe_destroy (&self->ring[i].frame);
    }
    sl_client_destroy (&self->client);
    sl_json_destroy (&self->json);
    sl_buf_free (&self->open);
    sl_buf_free (&self->scratch);
    free (self->broker);
    free (self);
    *self_p = NULL;
}

int
sluice_producer_connect (sluice_producer_t *self, int timeout_ms)
{
    if (!self) {
        return SL_EINVAL;
    }
    int rc = sl_api_hello (self->client, timeout_ms);
    if (rc) {
        return rc;
    }
    const sl_msg_t *welcome = sl_client_welcome (self->client);
    if (welcome) {
        if (!self->hello_done) {
            self->acked_at_hello = self->named ? welcome->seq : 0;
        }
        if (welcome->max_batch_bytes && welcome->max_batch_bytes < self->max_batch_bytes) {
            self->max_batch_bytes = welcome->max_batch_bytes;
        }
        if (welcome->max_batch_records && welcome->max_batch_records < self->max_batch_records) {
            self->max_batch_records = welcome->max_batch_records;
        }
    }
    self->hello_done = true;
    self->connects = sl_client_connects (self->client);
    return 0;
}

uint64_t
sluice_producer_acked (sluice_producer_t *self)
{
    return self ? self->acked_at_hello : 0;
}

uint64_t
sluice_producer_sent (sluice_producer_t *self)
{
    return self ? self->last_seq : 0;
}

uint64_t
sluice_producer_confirmed (sluice_producer_t *self)
{
    return self ? self->confirmed : 0;
}

static s_batch_t *
s_at (sluice_producer_t *self, size_t i)
{
    return &self->ring[(self->head + i) % S_WINDOW];
}

//  Sends one batch; a refusal by the high-water mark is left to the
//  resend after the timeout.
static void
s_publish (sluice_producer_t *self, s_batch_t *batch)
{
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_PUBLISH);
    snprintf (msg.stream, sizeof msg.stream, "%s", self->stream);
    snprintf (msg.name, sizeof msg.name, "%s", self->name);
    msg.seq = batch->seq;
    msg.count = batch->count;
    int rc = sl_client_send_frame (self->client, &msg, batch->frame);
    sl_msg_reset (&msg);
    if (rc) {
        sl_debug ("sluice", "PUBLISH of seq %" PRIu64 " not sent (%s); resent later", batch->seq,
                  sl_strerror (rc));
    }
}

static void
s_resend_all (sluice_producer_t *self)
{
    for (size_t i = 0; i < self->n; i++) {
        s_publish (self, s_at (self, i));
    }
    self->progress_ms = sl_mono_ms ();
}

static void
s_advance (sluice_producer_t *self, uint64_t seq)
{
    if (seq > self->last_seq) {
        seq = self->last_seq; //  another producer with our name; ours end here
    }
    if (seq <= self->confirmed) {
        return;
    }
    self->confirmed = seq;
    while (self->n > 0) {
        s_batch_t *batch = s_at (self, 0);
        if (batch->seq + batch->count - 1 > seq) {
            break;
        }
        zframe_destroy (&batch->frame);
        self->head = (self->head + 1) % S_WINDOW;
        self->n--;
    }
    self->progress_ms = sl_mono_ms ();
}

static void
s_on_error (sluice_producer_t *self, const sl_msg_t *reply)
{
    int code = reply->code > 0 && reply->code < 1000 ? -reply->code : SL_EPROTO;
    if (reply->req != 0 && reply->req <= self->confirmed) {
        return; //  late, about a batch since confirmed
    }
    if (code == SL_ESEQ) {
        //  Everything below the expected sequence is durable; the rest is
        //  resent, once per timeout however many batches report the gap.
        int64_t now = sl_mono_ms ();
        if (reply->seq == self->eseq_expected && now - self->eseq_ms < self->timeout_ms) {
            return;
        }
        self->eseq_expected = reply->seq;
        self->eseq_ms = now;
        if (reply->seq > 0) {
            s_advance (self, reply->seq - 1);
        }
        s_resend_all (self);
        return;
    }
    if (sl_error_retryable (code)) {
        sl_debug ("sluice", "broker: %s; resending after the timeout", reply->text);
        return;
    }
    sl_error ("sluice", "broker refused records of producer %s on %s: %s (%s)", self->name,
              self->stream, reply->text, sl_strerror (code));
    self->failed = code;
}

//  Reads replies for up to wait_ms, resending on a reconnect or when the
//  oldest batch waited a timeout without progress.
static void
s_pump (sluice_producer_t *self, int wait_ms)
{
    int64_t end = sl_mono_ms () + (wait_ms > 0 ? wait_ms : 0);
    while (true) {
        uint32_t connects = sl_client_connects (self->client);
        if (connects != self->connects) {
            self->connects = connects;
            if (self->n > 0) {
                s_resend_all (self);
            }
        }
        if (self->n > 0 && sl_mono_ms () - self->progress_ms >= self->timeout_ms) {
            s_resend_all (self);
        }
        int64_t left = end - sl_mono_ms ();
        int slice = left <= 0 ? 0 : (int)(left < S_SLICE_MS ? left : S_SLICE_MS);
        sl_msg_t reply;
        sl_msg_init (&reply, SL_CMD_NONE);
        int rc = sl_client_recv (self->client, &reply, NULL, slice);
        if (rc == 0) {
            if (reply.cmd == SL_CMD_CONFIRM && strcmp (reply.stream, self->stream) == 0 &&
                strcmp (reply.name, self->name) == 0) {
                s_advance (self, reply.seq);
            }
            else if (reply.cmd == SL_CMD_ERROR) {
                s_on_error (self, &reply);
            }
            sl_msg_reset (&reply);
            continue; //  drain what is waiting before looking at the clock
        }
        sl_msg_reset (&reply);
        if (sl_mono_ms () >= end) {
            return;
        }
    }
}

//  Moves the open batch into the ring and sends it. The caller made sure
//  there is room.
static int
s_ship (sluice_producer_t *self)
{
    if (self->open_count == 0) {
        return 0;
    }
    s_batch_t *batch = s_at (self, self->n);
    batch->frame = zframe_new (self->open.data, self->open.len);
    if (!batch->frame) {
        return SL_ENOMEM;
    }
    batch->count = self->open_count;
    batch->seq = self->last_seq - self->open_count + 1;
    if (self->n == 0) {
        self->progress_ms = sl_mono_ms ();
    }
    self->n++;
    sl_buf_reset (&self->open);
    self->open_count = 0;
    s_publish (self, batch);
    return 0;
}

//  Waits until the ring has room, up to the timeout.
static int
s_wait_room (sluice_producer_t *self)
{
    int64_t end = sl_mono_ms () + self->timeout_ms;
    while (self->n >= S_WINDOW && !self->failed) {
        if (sl_mono_ms () >= end) {
            return SL_ETIMEOUT;
        }
        s_pump (self, S_SLICE_MS);
    }
    return self->failed;
}

static int
s_ensure_hello (sluice_producer_t *self)
{
    return self->hello_done ? 0 : sluice_producer_connect (self, self->timeout_ms);
}

int
sluice_producer_send (sluice_producer_t *self, const void *key, size_t key_len, const void *value,
                      size_t value_len)
{
    if (!self) {
        return SL_EINVAL;
    }
    int rc = self->failed ? self->failed : s_ensure_hello (self);
    if (rc) {
        return rc;
    }
    s_pump (self, 0);
    if (self->open_count >= self->max_batch_records) {
        //  A full batch still waits for room (an earlier send timed out).
        rc = s_wait_room (self);
        if (rc == 0) {
            rc = s_ship (self);
        }
        if (rc) {
            return rc;
        }
    }
    size_t before = self->open.len;
    rc = sl_api_record_append (&self->open, key, key_len, value, value_len);
    if (rc) {
        return rc;
    }
    size_t size = self->open.len - before;
    if (size > self->max_batch_bytes) {
        self->open.len = before;
        return SL_ETOOBIG;
    }
    if (self->open_count > 0 && self->open.len > self->max_batch_bytes) {
        //  The record does not fit the open batch: ship that first.
        self->open.len = before;
        rc = s_wait_room (self);
        if (rc == 0) {
            rc = s_ship (self);
        }
        if (rc) {
            return rc;
        }
        rc = sl_api_record_append (&self->open, key, key_len, value, value_len);
        if (rc) {
            return rc;
        }
    }
    if (self->open_count == 0) {
        self->open_since = sl_mono_ms ();
    }
    self->open_count++;
    self->last_seq++;
    bool full =
        self->open_count >= self->max_batch_records || self->open.len >= self->max_batch_bytes;
    if (sl_batch_due (full, self->n > 0, sl_mono_ms () - self->open_since, S_LINGER_MS)) {
        if (full) {
            rc = s_wait_room (self);
            if (rc) {
                return rc == SL_ETIMEOUT ? 0 : rc; //  the record is in; flush sends it
            }
        }
        if (self->n < S_WINDOW) {
            rc = s_ship (self);
        }
    }
    return rc;
}

int
sluice_producer_send_json (sluice_producer_t *self, const char *key, const char *json)
{
    if (!self || !json) {
        return SL_EINVAL;
    }
    int rc = sl_api_json_value (self->json, json, &self->scratch);
    if (rc) {
        return rc;
    }
    return sluice_producer_send (self, key, key ? strlen (key) : 0, self->scratch.data,
                                 self->scratch.len);
}

int
sluice_producer_flush (sluice_producer_t *self, int timeout_ms)
{
    if (!self) {
        return SL_EINVAL;
    }
    int rc = self->failed ? self->failed : s_ensure_hello (self);
    if (rc) {
        return rc;
    }
    int64_t end = sl_mono_ms () + (timeout_ms < 0 ? INT32_MAX : timeout_ms);
    while (!self->failed) {
        if (self->open_count > 0 && self->n < S_WINDOW) {
            rc = s_ship (self);
            if (rc) {
                return rc;
            }
        }
        if (self->open_count == 0 && self->n == 0) {
            return 0;
        }
        if (sl_mono_ms () >= end) {
            return SL_ETIMEOUT;
        }
        s_pump (self, S_SLICE_MS);
    }
    return self->failed;
}
