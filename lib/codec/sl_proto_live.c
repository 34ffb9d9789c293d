/*  sl_proto_live.c - the live feed's whole message (see sl_proto_live.h).

    The envelope (topic frame) and the two blob frames are laid out only
    here; the header and body go through the command codec (sl_proto.c).
*/
#include "sl_proto_live.h"

#include <string.h>

#include "sl_error.h"
#include "sl_proto.h"

size_t
sl_topic (const char *stream, uint8_t *out)
{
    size_t len = strnlen (stream, SL_NAME_MAX);
    memcpy (out, stream, len);
    out[len] = 0;
    return len + 1;
}

zmsg_t *
sl_live_encode (const char *stream, const sl_batch_header_t *header, zframe_t **records_p)
{
    sl_msg_t live;
    sl_msg_init (&live, SL_CMD_LIVE);
    snprintf (live.stream, sizeof live.stream, "%s", stream);
    live.offset = header->base_offset;
    live.count = header->count;
    live.next = header->base_offset + header->count;
    zmsg_t *zmsg = sl_msg_encode (&live);
    if (!zmsg) {
        return NULL;
    }
    uint8_t topic[SL_NAME_MAX + 2];
    size_t topic_len = sl_topic (stream, topic);
    uint8_t head[SL_BATCH_HEADER_SIZE];
    sl_batch_header_encode (header, head);
    if (zmsg_pushmem (zmsg, topic, topic_len) != 0 || zmsg_addmem (zmsg, head, sizeof head) != 0) {
        zmsg_destroy (&zmsg);
        return NULL;
    }
    //  zmsg_append takes the frame only when it succeeds.
    if (zmsg_append (zmsg, records_p) != 0) {
        zmsg_destroy (&zmsg);
        return NULL;
    }
    return zmsg;
}

int
sl_live_decode (zmsg_t *zmsg, const uint8_t *topic, size_t topic_len, sl_live_t *out)
{
    if (!zmsg || zmsg_size (zmsg) != 5) {
        zframe_t *first = zmsg ? zmsg_first (zmsg) : NULL;
        bool ours = first && zframe_size (first) == topic_len &&
                    memcmp (zframe_data (first), topic, topic_len) == 0;
        return ours ? SL_EPROTO : SL_ENOTFOUND;
    }
    zframe_t *first = zmsg_first (zmsg);
    if (zframe_size (first) != topic_len || memcmp (zframe_data (first), topic, topic_len) != 0) {
        return SL_ENOTFOUND;
    }
    //  The codec decodes a message it may consume: give it a copy of the
    //  two small frames and keep the blob's frames in place.
    zframe_t *header = zmsg_next (zmsg);
    zframe_t *body = zmsg_next (zmsg);
    zframe_t *head = zmsg_next (zmsg);
    zframe_t *records = zmsg_next (zmsg);
    zmsg_t *envelope = zmsg_new ();
    if (!envelope) {
        return SL_ENOMEM;
    }
    zmsg_addmem (envelope, zframe_data (header), zframe_size (header));
    zmsg_addmem (envelope, zframe_data (body), zframe_size (body));
    //  Zero-length stand-ins: the codec counts the data frames.
    zmsg_addmem (envelope, NULL, 0);
    zmsg_addmem (envelope, NULL, 0);
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_NONE);
    int rc = sl_msg_decode (envelope, &msg);
    zmsg_destroy (&envelope);
    if (rc == 0 && msg.cmd != SL_CMD_LIVE) {
        rc = SL_EPROTO;
    }
    if (rc == 0) {
        rc = sl_batch_header_decode (zframe_data (head), zframe_size (head), &out->header);
    }
    if (rc == 0 && (zframe_size (head) != SL_BATCH_HEADER_SIZE ||
                    out->header.base_offset != msg.offset || out->header.count != msg.count)) {
        rc = SL_EPROTO;
    }
    sl_msg_reset (&msg);
    if (rc) {
        return rc;
    }
    out->head = zframe_data (head);
    out->records = zframe_data (records);
    out->records_len = zframe_size (records);
    return 0;
}
