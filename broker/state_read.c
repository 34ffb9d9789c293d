/*  state_read.c - STATE_READ (docs/PROTOCOL.md §14.5): a member taking over
    a share of a keyed group reads that share's key states, page by page,
    from the store's compacted table (keyed_state.c).
*/
#include "broker_int.h"
#include "keyed_state.h"
#include "sl_error.h"
#include "sl_send.h"

void
sl_broker_on_state_read (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg, zmsg_t *data)
{
    if (data && zmsg_size (data) > 1) {
        sl_broker_reply_error (self, peer, msg->req, SL_EPROTO,
                               "STATE_READ takes at most one data frame (its cursor)", 0);
        return;
    }
    uint64_t max_bytes = sl_broker_read_budget (self, peer, msg, UINT64_MAX);
    if (!max_bytes) {
        return;
    }
    int code = 0;
    const char *why = NULL;
    zmsg_t *reply = sl_keyed_state_read (self->store, msg, data ? zmsg_first (data) : NULL,
                                         max_bytes, &code, &why);
    if (!reply) {
        sl_broker_reply_error (self, peer, msg->req, code, why, 0);
        return;
    }
    sl_broker_send (self, peer, msg->req, &reply);
}
