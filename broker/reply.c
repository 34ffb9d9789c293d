/*  reply.c - the broker's replies to one peer.

    Every reply is encoded by the codec and sent within the peer's byte
    budget (sl_broker_send, limits.c). Used by the reads (broker.c) and the
    write path (commit.c), so that neither reaches into the other.
*/
#include <czmq.h>

#include "broker_int.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_send.h"

void
sl_broker_reply (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    zmsg_t *reply = sl_msg_encode (msg);
    if (!reply) {
        sl_error ("broker", "cannot encode %s reply", sl_cmd_name (msg->cmd));
        return;
    }
    sl_broker_send (self, peer, msg->req, &reply);
}

uint64_t
sl_broker_read_budget (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg, uint64_t cap)
{
    uint64_t max_bytes = msg->max_bytes ? msg->max_bytes : FETCH_DEFAULT_BYTES;
    if (max_bytes > cap) {
        max_bytes = cap;
    }
    if (max_bytes > self->config.peer_budget) {
        max_bytes = self->config.peer_budget;
    }
    //  A reply of max_bytes must fit the peer's budget before anything is
    //  read: a peer that asks without reading gets EBUSY, not memory.
    if (!sl_budget_fits (self->budget, zframe_data (peer), zframe_size (peer), max_bytes)) {
        self->n_busy++;
        sl_broker_reply_error (self, peer, msg->req, SL_EBUSY,
                               "peer over its budget: read your replies before asking for more "
                               "(docs/PROTOCOL.md §9)",
                               0);
        return 0;
    }
    return max_bytes;
}

void
sl_broker_reply_error (sl_broker_t *self, zframe_t *peer, uint64_t req, int code, const char *text,
                       uint64_t seq)
{
    sl_msg_t err;
    sl_msg_init_error (&err, req, code, text, seq);
    sl_broker_reply (self, peer, &err);
}

void
sl_broker_reply_publish_error (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg, int code,
                               const char *text, uint64_t seq)
{
    sl_msg_t err;
    sl_msg_init_error (&err, msg->seq, code, text, seq);
    //  Only what decoded as valid names is echoed: the encoder refuses
    //  anything else, and the error must still go out.
    snprintf (err.stream, sizeof err.stream, "%s", msg->stream);
    snprintf (err.name, sizeof err.name, "%s", msg->name);
    sl_broker_reply (self, peer, &err);
}
