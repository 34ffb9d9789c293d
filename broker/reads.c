/*  reads.c - the broker's read commands, answered at once from the store
    outside the group commit: SEEK (a position by offset, time or reader),
    FETCH (records from the log, within the peer's budget) and LIST (the
    streams). docs/PROTOCOL.md §8-§10.
*/
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sl_error.h"
#include "sl_proto.h"
#include "sl_send.h"

#include "broker_int.h"

void
sl_broker_on_seek (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    sl_stream_info_t info;
    bool exists;
    int rc = sl_store_stream_info (self->store, msg->stream, &info, &exists);
    if (rc) {
        sl_broker_reply_error (self, peer, msg->req, rc, NULL, 0);
        return;
    }
    sl_msg_t pos;
    sl_msg_init (&pos, SL_CMD_POSITION);
    pos.req = msg->req;
    strcpy (pos.stream, msg->stream);
    pos.first = info.first;
    pos.next = info.next;
    pos.found = true;
    uint64_t offset = info.first;
    //  An offset or a count cannot be negative; a time before 1970 can.
    if (msg->value < 0 && (msg->from == SL_FROM_OFFSET || msg->from == SL_FROM_LAST)) {
        sl_broker_reply_error (self, peer, msg->req, SL_EINVAL,
                               "SEEK offset and last take a value >= 0", 0);
        return;
    }
    uint64_t value = msg->value < 0 ? 0 : (uint64_t)msg->value;
    switch (msg->from) {
    case SL_FROM_BEGINNING:
        offset = info.first;
        break;
    case SL_FROM_END:
        offset = info.next;
        break;
    case SL_FROM_OFFSET:
        offset = value;
        break;
    case SL_FROM_LAST:
        offset = value >= info.next ? 0 : info.next - value;
        break;
    case SL_FROM_TIME:
        rc = sl_store_find_time (self->store, msg->stream, msg->value, &offset);
        break;
    case SL_FROM_COMMITTED:
        if (!msg->name[0]) {
            sl_broker_reply_error (self, peer, msg->req, SL_EPROTO, "SEEK committed needs a reader",
                                   0);
            return;
        }
        rc = sl_store_reader_get (self->store, msg->stream, msg->name, &offset);
        if (rc == SL_ENOTFOUND) {
            pos.found = false;
            offset = info.first;
            rc = 0;
        }
        strcpy (pos.name, msg->name);
        break;
    }
    if (rc) {
        sl_broker_reply_error (self, peer, msg->req, rc, NULL, 0);
        return;
    }
    //  Clamp into what the log holds: removed records read from first.
    if (offset < info.first) {
        offset = info.first;
    }
    if (offset > info.next) {
        offset = info.next;
    }
    pos.offset = offset;
    sl_broker_reply (self, peer, &pos);
}

typedef struct {
    zmsg_t *reply;
    int rc;
} fetch_ctx_t;

static int
s_fetch_blob (void *arg, const uint8_t *blob, size_t len)
{
    fetch_ctx_t *ctx = arg;
    //  The blob lives only in the read transaction: copy it into the frame.
    if (zmsg_addmem (ctx->reply, blob, len) != 0) {
        ctx->rc = SL_ENOMEM;
        return -1;
    }
    return 0;
}

void
sl_broker_on_fetch (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    uint32_t max_records = msg->max_records ? msg->max_records : FETCH_DEFAULT_RECORDS;
    uint64_t max_bytes = sl_broker_read_budget (self, peer, msg, FETCH_MAX_BYTES);
    if (!max_bytes) {
        return;
    }
    zmsg_t *data = zmsg_new ();
    if (!data) {
        sl_broker_reply_error (self, peer, msg->req, SL_ENOMEM, NULL, 0);
        return;
    }
    fetch_ctx_t ctx = {.reply = data, .rc = 0};
    sl_stream_info_t info;
    int rc = sl_store_read (self->store, msg->stream, msg->offset, max_records, max_bytes,
                            s_fetch_blob, &ctx, &info);
    if (rc == 0) {
        rc = ctx.rc;
    }
    if (rc == SL_ECORRUPT) {
        //  Never served as records: the reader is told the damaged range
        //  and where the stream goes on (seq), docs/PROTOCOL.md §9.
        zmsg_destroy (&data);
        uint64_t from, to;
        sl_store_corrupt_stats (self->store, NULL, &from, &to);
        char text[SL_NAME_MAX + 160];
        snprintf (text, sizeof text,
                  "%s: stream %s, offsets %" PRIu64 "..%" PRIu64 " (read on from %" PRIu64 ")",
                  sl_strerror (rc), msg->stream, from, to - 1, to);
        sl_broker_reply_error (self, peer, msg->req, rc, text, to);
        return;
    }
    if (rc) {
        zmsg_destroy (&data);
        sl_broker_reply_error (self, peer, msg->req, rc, NULL, 0);
        return;
    }
    sl_msg_t rec;
    sl_msg_init (&rec, SL_CMD_RECORDS);
    rec.req = msg->req;
    strcpy (rec.stream, msg->stream);
    rec.first = info.first;
    rec.next = info.next;
    rec.offset = msg->offset < info.first ? info.first : msg->offset;
    zmsg_t *reply = sl_msg_encode (&rec);
    if (!reply) {
        zmsg_destroy (&data);
        return;
    }
    zframe_t *frame;
    while ((frame = zmsg_pop (data))) {
        zmsg_append (reply, &frame);
    }
    zmsg_destroy (&data);
    sl_broker_send (self, peer, msg->req, &reply);
}

static int
s_list_one (void *arg, const sl_stream_info_t *info)
{
    return sl_msg_add_stream ((sl_msg_t *)arg, info);
}

void
sl_broker_on_list (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    sl_msg_t list;
    sl_msg_init (&list, SL_CMD_STREAMS);
    list.req = msg->req;
    int rc = sl_store_list (self->store, s_list_one, &list);
    if (rc) {
        sl_msg_reset (&list);
        sl_broker_reply_error (self, peer, msg->req, rc, NULL, 0);
        return;
    }
    zmsg_t *reply = sl_msg_encode (&list);
    sl_msg_reset (&list);
    if (!reply) {
        sl_broker_reply_error (self, peer, msg->req, SL_ETOOBIG,
                               "too many streams for one STREAMS reply (1 MiB body)", 0);
        return;
    }
    sl_broker_send (self, peer, msg->req, &reply);
}
