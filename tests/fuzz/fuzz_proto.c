/*  fuzz_proto.c - the protocol codec (lib/codec/sl_proto.c) on hostile messages.

    Input: a ZeroMQ message as frames, each a 2-byte big-endian length and
    that many bytes (a length past the end takes what is left), at most 8
    frames. sl_msg_decode must answer every message with 0 or an error and
    never overrun; a message it accepts must encode again and decode to
    the same fields (a round trip through the one codec).
*/
#include <czmq.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "sl_log.h"
#include "sl_proto.h"

#define S_MAX_FRAMES 8

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sl_log_set_level (SL_LOG_ERROR);
    return 0;
}

//  Every field of two decoded messages is equal.
static void
s_check_same (const sl_msg_t *a, const sl_msg_t *b)
{
    FUZZ_CHECK (a->cmd == b->cmd);
    FUZZ_CHECK (a->version == b->version);
    FUZZ_CHECK (a->req == b->req);
    FUZZ_CHECK (strcmp (a->stream, b->stream) == 0);
    FUZZ_CHECK (strcmp (a->name, b->name) == 0);
    FUZZ_CHECK (strcmp (a->client, b->client) == 0);
    FUZZ_CHECK (strcmp (a->endpoint, b->endpoint) == 0);
    FUZZ_CHECK (a->seq == b->seq);
    FUZZ_CHECK (a->count == b->count);
    FUZZ_CHECK (a->offset == b->offset);
    FUZZ_CHECK (a->first == b->first);
    FUZZ_CHECK (a->next == b->next);
    FUZZ_CHECK (a->from == b->from);
    FUZZ_CHECK (a->value == b->value);
    FUZZ_CHECK (a->found == b->found);
    FUZZ_CHECK (a->max_records == b->max_records);
    FUZZ_CHECK (a->max_bytes == b->max_bytes);
    FUZZ_CHECK (a->code == b->code);
    FUZZ_CHECK (strcmp (a->text, b->text) == 0);
    FUZZ_CHECK (a->heartbeat_ms == b->heartbeat_ms);
    FUZZ_CHECK (a->max_batch_bytes == b->max_batch_bytes);
    FUZZ_CHECK (a->max_batch_records == b->max_batch_records);
    FUZZ_CHECK (a->max_depth == b->max_depth);
    FUZZ_CHECK (strcmp (a->broker, b->broker) == 0);
    FUZZ_CHECK (a->n_streams == b->n_streams);
    for (uint32_t i = 0; i < a->n_streams; i++) {
        const sl_stream_info_t *x = &a->streams[i], *y = &b->streams[i];
        FUZZ_CHECK (strcmp (x->name, y->name) == 0);
        FUZZ_CHECK (x->first == y->first && x->next == y->next);
        FUZZ_CHECK (x->records == y->records && x->bytes == y->bytes);
        FUZZ_CHECK (x->last_ms == y->last_ms);
    }
    FUZZ_CHECK (strcmp (a->group, b->group) == 0);
    FUZZ_CHECK (strcmp (a->in, b->in) == 0);
    FUZZ_CHECK (strcmp (a->out, b->out) == 0);
    FUZZ_CHECK (strcmp (a->member, b->member) == 0);
    FUZZ_CHECK (a->lease == b->lease);
    FUZZ_CHECK (a->window == b->window);
    FUZZ_CHECK (a->batch == b->batch);
    FUZZ_CHECK (a->attempt == b->attempt);
    FUZZ_CHECK (a->out_count == b->out_count);
    FUZZ_CHECK (a->max_deliver == b->max_deliver);
    FUZZ_CHECK (a->lease_ms == b->lease_ms);
    FUZZ_CHECK (a->n_failed == b->n_failed);
    for (uint32_t i = 0; i < a->n_failed; i++) {
        FUZZ_CHECK (a->failed[i].offset == b->failed[i].offset);
        FUZZ_CHECK (strcmp (a->failed[i].error, b->failed[i].error) == 0);
        FUZZ_CHECK (a->failed[i].final == b->failed[i].final);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zmsg_t *zmsg = zmsg_new ();
    FUZZ_CHECK (zmsg);
    size_t pos = 0;
    for (int i = 0; i < S_MAX_FRAMES && pos < size; i++) {
        size_t len = data[pos++];
        if (pos < size) {
            len = (len << 8) | data[pos++];
        }
        if (len > size - pos) {
            len = size - pos;
        }
        FUZZ_CHECK (zmsg_addmem (zmsg, data + pos, len) == 0);
        pos += len;
    }
    //  The data frames, kept to follow the re-encoded header and body.
    zmsg_t *copy = zmsg_dup (zmsg);
    FUZZ_CHECK (copy);

    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_NONE);
    int rc = sl_msg_decode (zmsg, &msg);
    FUZZ_CHECK (rc <= 0);
    FUZZ_CHECK (strcmp (sl_cmd_name (msg.cmd), "") != 0);
    if (rc == 0) {
        zmsg_t *again = sl_msg_encode (&msg);
        FUZZ_CHECK (again);
        //  Drop the original header and body from the copy, keep its data frames.
        zframe_t *frame = zmsg_pop (copy);
        zframe_destroy (&frame);
        frame = zmsg_pop (copy);
        zframe_destroy (&frame);
        while ((frame = zmsg_pop (copy))) {
            FUZZ_CHECK (zmsg_append (again, &frame) == 0);
        }
        sl_msg_t msg2;
        sl_msg_init (&msg2, SL_CMD_NONE);
        FUZZ_CHECK (sl_msg_decode (again, &msg2) == 0);
        s_check_same (&msg, &msg2);
        FUZZ_CHECK (zmsg_size (again) == zmsg_size (zmsg));
        sl_msg_reset (&msg2);
        zmsg_destroy (&again);
    }
    //  A decoded message may be reused for the next decode.
    rc = sl_msg_decode (zmsg, &msg);
    FUZZ_CHECK (rc <= 0);
    sl_msg_reset (&msg);
    zmsg_destroy (&copy);
    zmsg_destroy (&zmsg);
    return 0;
}
