/*  sink_dlq.c - the dead letters of sluice-sink --post: a batch the webhook
    refused for good is published, as the records it held (key, timestamp,
    headers and value as stored), to the dead-letter stream, and the sink
    goes on. The producer id is "dlq-" and random hex, one per process: a
    sink that dies after publishing dead letters but before committing
    publishes them again after its restart (at least once).
*/
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "sink_int.h"
#include "sl_client.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"

#define S_CONFIRM_MS 10000
#define S_RESEND_MS 2000

int
sl_sink_dead_letter (void *ctx, const uint8_t *records, size_t len, uint32_t count, uint64_t first,
                     const char *why)
{
    sink_t *self = ctx;
    const char *dlq = self->cfg->dead_letter;
    if (!self->dlq_producer[0]) {
        uint8_t r[8] = {0};
        if (getrandom (r, sizeof r, 0) != (ssize_t)sizeof r) {
            uint64_t mix = (uint64_t)sl_now_ms () ^ (uint64_t)getpid ();
            memcpy (r, &mix, sizeof r);
        }
        snprintf (self->dlq_producer, sizeof self->dlq_producer,
                  "dlq-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5], r[6],
                  r[7]);
    }
    sl_warn ("sink",
             "the webhook refused records %" PRIu64 "..%" PRIu64 " (%s): they go to "
             "the dead-letter stream %s",
             first, first + count - 1, why, dlq);
    zframe_t *frame = zframe_new (records, len);
    sl_msg_t msg, reply;
    sl_msg_init (&msg, SL_CMD_PUBLISH);
    sl_msg_init (&reply, SL_CMD_NONE);
    snprintf (msg.stream, sizeof msg.stream, "%s", dlq);
    snprintf (msg.name, sizeof msg.name, "%s", self->dlq_producer);
    msg.seq = self->dlq_seq + 1;
    msg.count = count;
    int rc = SL_ETIMEOUT;
    int64_t deadline = sl_mono_ms () + S_CONFIRM_MS, resend_at = 0;
    while (frame && !zsys_interrupted && sl_mono_ms () < deadline) {
        int64_t now = sl_mono_ms ();
        if (now >= resend_at) {
            sl_client_send_frame (self->client, &msg, frame);
            resend_at = now + S_RESEND_MS;
        }
        if (sl_client_recv (self->client, &reply, NULL, 100) != 0) {
            continue;
        }
        if (strcmp (reply.stream, dlq) != 0 || strcmp (reply.name, self->dlq_producer) != 0) {
            sl_sink_stray_reply (self, &reply);
            continue;
        }
        if (reply.cmd == SL_CMD_CONFIRM && reply.seq >= msg.seq + count - 1) {
            self->dlq_seq = msg.seq + count - 1;
            rc = 0;
            break;
        }
        if (reply.cmd == SL_CMD_ERROR && !sl_error_retryable (-reply.code)) {
            sl_error ("sink", "dead-letter stream %s refused the records: %s", dlq, reply.text);
            rc = SL_EIO;
            break;
        }
    }
    if (rc == SL_ETIMEOUT) {
        sl_error ("sink", "the broker did not confirm the dead letters within %d ms", S_CONFIRM_MS);
    }
    zframe_destroy (&frame);
    sl_msg_reset (&msg);
    sl_msg_reset (&reply);
    return rc ? SL_EIO : 0;
}
