/*  sl_proto_router.c - a command received on the broker's ROUTER socket,
    envelope included (sl_msg_recv_router, sl_proto.h). The reply side is
    sl_send_router (sl_send.h), which puts the routing id back in front.
*/
#include <string.h>

#include "sl_error.h"
#include "sl_proto.h"

int
sl_msg_recv_router (zsock_t *router, zframe_t **peer_p, char *key, size_t key_size, sl_msg_t *msg,
                    zmsg_t **rest_p)
{
    sl_msg_init (msg, SL_CMD_NONE);
    *peer_p = NULL;
    *rest_p = NULL;
    if (key_size) {
        key[0] = 0;
    }
    zmsg_t *zmsg = zmsg_recv (router);
    if (!zmsg) {
        return SL_EAGAIN;
    }
    *rest_p = zmsg;
    *peer_p = zmsg_pop (zmsg);
    if (!*peer_p) {
        return SL_EPROTO;
    }
    //  The sender's key, set by the ZAP handler on every frame of a CURVE
    //  connection; read before decoding consumes the frames.
    zframe_t *first = zmsg_first (zmsg);
    const char *user = first ? zframe_meta (first, "User-Id") : NULL;
    if (key_size) {
        snprintf (key, key_size, "%s", user ? user : "");
    }
    return sl_msg_decode (zmsg, msg);
}
