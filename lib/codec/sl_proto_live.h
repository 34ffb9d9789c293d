/*  sl_proto_live.h - the live feed's whole message (docs/PROTOCOL.md §13.16).

    A LIVE on the broker's PUB socket is four frames:
      topic     stream name + 0x00 (sl_topic), so "orders" never matches "orders2"
      header    the codec's header frame, command LIVE
      body      LIVE's msgpack body: stream, offset, count, next
      blob head the stored blob's 24-byte header (sl_batch.h)
      records   the batch's records, the rest of the stored blob
    The blob travels as two frames so that the broker can hand ZeroMQ the
    records frame it received from the producer or worker as it is (no
    copy); a reader that wants the stored blob whole joins the two.

    Lifetimes: the pointers of a decoded sl_live_t point into the zmsg it
    was decoded from and live no longer than it.
*/
#ifndef SL_PROTO_LIVE_H_INCLUDED
#define SL_PROTO_LIVE_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

#include "sl_batch.h"

typedef struct {
    sl_batch_header_t header; //  the blob head, decoded and checked
    const uint8_t *head;      //  its SL_BATCH_HEADER_SIZE bytes
    const uint8_t *records;   //  the records (not yet checked)
    size_t records_len;
} sl_live_t;

//  A LIVE for stream: the blob described by header, its records in
//  *records_p. The records frame is taken (it becomes the message's last
//  frame, without a copy); on failure (NULL) the caller still owns it.
zmsg_t *sl_live_encode (const char *stream, const sl_batch_header_t *header, zframe_t **records_p);

//  Decodes a LIVE received on a SUB socket subscribed to topic. 0 with
//  *out filled; SL_ENOTFOUND when the topic frame is not topic (a message for
//  another subscription: ignore it); SL_EPROTO or the codec's error for a
//  message that is not a well-formed LIVE, including a blob head whose
//  offset or count disagree with the body's. zmsg is left as it was.
int sl_live_decode (zmsg_t *zmsg, const uint8_t *topic, size_t topic_len, sl_live_t *out);

#endif
