/*  source_reply.c - sluice-source's answers from the broker: a cumulative
    CONFIRM frees the window up to it, ESEQ resends from what the broker
    expects, a retryable ERROR backs off and resends, any other ERROR stops
    the source (docs/PROTOCOL.md section 6.1).
*/
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "input.h"
#include "sl_client.h"
#include "sl_error.h"
#include "sl_log.h"
#include "source_int.h"

//  Drops the batches that the cumulative ack covers.
static void
s_advance (s_source_t *self, uint64_t acked, int64_t now)
{
    if (acked <= self->acked) {
        return;
    }
    self->acked = acked;
    if (sl_input_confirmed (self->input, acked) != 0) {
        self->fatal = true; //  --follow could not keep its positions: stop, resume exactly
    }
    while (self->n > 0) {
        s_batch_t *entry = s_at (self, 0);
        if (entry->seq + entry->count - 1 > acked) {
            break;
        }
        zframe_destroy (&entry->frame);
        self->head = (self->head + 1) % self->ring_size;
        self->n--;
        if (self->next_send > 0) {
            self->next_send--;
        }
    }
    self->last_progress = now;
    self->backoff = S_BACKOFF_MIN;
    self->hold_until = 0;
    if (self->warned) {
        sl_info ("source", "broker: accepting records again");
        self->warned = false;
    }
}

static void
s_on_confirm (s_source_t *self, const sl_msg_t *reply, int64_t now)
{
    if (strcmp (reply->stream, self->cfg->stream) != 0 ||
        strcmp (reply->name, self->producer) != 0) {
        sl_debug ("source", "ignored CONFIRM for %s/%s", reply->name, reply->stream);
        return;
    }
    uint64_t seq = reply->seq;
    if (seq > self->last_seq) {
        if (!self->beyond_warned) {
            sl_warn ("source",
                     "broker confirms seq %" PRIu64 " of producer %s, beyond the %" PRIu64
                     " records this source sent: is another source using "
                     "the same --name?",
                     seq, self->producer, self->last_seq);
            self->beyond_warned = true;
        }
        seq = self->last_seq;
    }
    s_advance (self, seq, now);
}

static void
s_on_eseq (s_source_t *self, const sl_msg_t *reply, int64_t now)
{
    uint64_t expected = reply->seq;
    //  The batches sent after the one that found the gap report the same
    //  gap; one resend answers them all.
    if (expected == self->eseq_expected && now - self->eseq_at < self->cfg->timeout_ms) {
        return;
    }
    self->eseq_expected = expected;
    self->eseq_at = now;
    if (expected == 0 || expected - 1 < self->acked) {
        sl_error ("source",
                  "broker expects seq %" PRIu64 " of producer %s on stream %s but had "
                  "confirmed up to %" PRIu64 ": it lost confirmed records (was its "
                  "data directory replaced?)",
                  expected, self->producer, self->cfg->stream, self->acked);
        self->fatal = true;
        return;
    }
    if (expected - 1 > self->last_seq) {
        sl_error ("source",
                  "broker has seq %" PRIu64 " of producer %s on stream %s, more than "
                  "the %" PRIu64 " records this source sent: is another source using "
                  "the same --name?",
                  expected - 1, self->producer, self->cfg->stream, self->last_seq);
        self->fatal = true;
        return;
    }
    s_advance (self, expected - 1, now);
    sl_debug ("source", "broker expects seq %" PRIu64 ": resending %u batches", expected, self->n);
    s_resend_all (self, now);
}

static void
s_on_error (s_source_t *self, const sl_msg_t *reply, int64_t now)
{
    int code = reply->code > 0 && reply->code < 1000 ? -reply->code : SL_EPROTO;
    if (code == SL_ESEQ) {
        s_on_eseq (self, reply, now);
        return;
    }
    if (reply->req != 0 && reply->req <= self->acked) {
        sl_debug ("source", "ignored a late ERROR for seq %" PRIu64, reply->req);
        return;
    }
    if (sl_error_retryable (code)) {
        if (now < self->hold_until) {
            return; //  a later batch of the same flight; it is resent with the rest
        }
        if (!self->warned) {
            if (code == SL_ENOSPC) {
                sl_warn ("source", "broker: disk full, waiting and retrying");
            }
            else {
                sl_warn ("source", "broker: %s (%s), waiting and retrying", reply->text,
                         sl_strerror (code));
            }
            self->warned = true;
        }
        self->hold_until = now + self->backoff;
        self->backoff = self->backoff * 2 > S_BACKOFF_MAX ? S_BACKOFF_MAX : self->backoff * 2;
        s_resend_all (self, now);
        return;
    }
    sl_error ("source", "broker rejected the batch at seq %" PRIu64 ": %s (%s)", reply->req,
              reply->text, sl_strerror (code));
    self->fatal = true;
}

//  Handles every reply waiting, without blocking.
void
sl_source_read_replies (s_source_t *self)
{
    sl_msg_t reply;
    sl_msg_init (&reply, SL_CMD_NONE);
    for (int i = 0; i < 100000 && !self->fatal; i++) {
        if (sl_client_recv (self->client, &reply, NULL, 0) != 0) {
            break;
        }
        int64_t now = sl_mono_ms ();
        if (reply.cmd == SL_CMD_CONFIRM) {
            s_on_confirm (self, &reply, now);
        }
        else if (reply.cmd == SL_CMD_ERROR) {
            s_on_error (self, &reply, now);
        }
    }
    sl_msg_reset (&reply);
}
