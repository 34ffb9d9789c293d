/*  test_proto_vectors.c - the examples of docs/PROTOCOL.md §13, byte for
    byte: encoded from the message, decoded from the bytes, and compared
    with the hex printed in PROTOCOL.md itself.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_util.h"
#include "sl_batch.h"
#include "sl_error.h"
#include "sl_mp.h"
#include "sl_proto.h"

//  ---------------------------------------------------------------------
//  Test vectors: the examples of PROTOCOL.md §13, byte for byte.

typedef struct {
    const char *name;
    sl_msg_t msg;
    const char *header; //  hex
    const char *body;   //  hex
} vector_t;

//  The examples of §13: small, realistic messages, one per command.
static void
s_example (sl_msg_t *msg, sl_cmd_t cmd)
{
    sl_msg_init (msg, cmd);
    switch (cmd) {
    case SL_CMD_HELLO:
        msg->req = 1;
        strcpy (msg->client, "sluice-source/0.1.0");
        strcpy (msg->name, "src-1");
        strcpy (msg->stream, "orders");
        break;
    case SL_CMD_WELCOME:
        msg->req = 1;
        strcpy (msg->broker, "sluice-broker/0.1.0");
        strcpy (msg->endpoint, "tcp://*:7001");
        msg->seq = 1000;
        msg->heartbeat_ms = 1000;
        msg->max_batch_bytes = 16777216;
        msg->max_batch_records = 65536;
        msg->max_depth = 512;
        break;
    case SL_CMD_PUBLISH:
        strcpy (msg->stream, "orders");
        strcpy (msg->name, "src-1");
        msg->seq = 1001;
        msg->count = 2;
        break;
    case SL_CMD_CONFIRM:
        strcpy (msg->stream, "orders");
        strcpy (msg->name, "src-1");
        msg->seq = 1002;
        msg->offset = 40;
        msg->count = 2;
        break;
    case SL_CMD_SEEK:
        msg->req = 2;
        strcpy (msg->stream, "orders");
        msg->from = SL_FROM_TIME;
        msg->value = 1795694400000;
        break;
    case SL_CMD_POSITION:
        msg->req = 2;
        strcpy (msg->stream, "orders");
        msg->offset = 40;
        msg->first = 0;
        msg->next = 42;
        msg->found = true;
        break;
    case SL_CMD_FETCH:
        msg->req = 3;
        strcpy (msg->stream, "orders");
        msg->offset = 40;
        msg->max_records = 1000;
        break;
    case SL_CMD_RECORDS:
        msg->req = 3;
        strcpy (msg->stream, "orders");
        msg->offset = 40;
        msg->first = 0;
        msg->next = 42;
        break;
    case SL_CMD_COMMIT:
    case SL_CMD_COMMITTED:
        msg->req = 4;
        strcpy (msg->stream, "orders");
        strcpy (msg->name, "billing");
        msg->offset = 42;
        break;
    case SL_CMD_LIST:
        msg->req = 5;
        break;
    case SL_CMD_STREAMS: {
        msg->req = 5;
        sl_stream_info_t info = {
            .first = 0, .next = 42, .records = 42, .bytes = 2048, .last_ms = 1795694400000};
        strcpy (info.name, "orders");
        cr_assert_eq (sl_msg_add_stream (msg, &info), 0);
        break;
    }
    case SL_CMD_PING:
    case SL_CMD_PONG:
        msg->req = 6;
        break;
    case SL_CMD_ERROR:
        msg->req = 1005;
        strcpy (msg->stream, "orders");
        strcpy (msg->name, "src-1");
        msg->code = 13;
        strcpy (msg->text, "sequence gap: expected seq 1003");
        msg->seq = 1003;
        break;
    case SL_CMD_LIVE:
        strcpy (msg->stream, "orders");
        msg->offset = 40;
        msg->count = 2;
        msg->next = 42;
        break;
    default:
        break;
    }
}

//  The example batch: two records, as a producer's PUBLISH data frame.
static void
s_example_batch (sl_buf_t *buf)
{
    sl_buf_init (buf, 0);
    cr_assert_eq (
        sl_record_encode (buf, 1795694400000, "k1", 2, false, NULL, 0, "\x81\xa1n\x01", 4), 0);
    cr_assert_eq (sl_record_encode (buf, 1795694400001, NULL, 0, false, NULL, 0, "\xa2hi", 3), 0);
}

//  The example stored blob: that batch appended at offset 40.
static void
s_example_blob (sl_buf_t *buf)
{
    sl_buf_t batch;
    s_example_batch (&batch);
    sl_batch_header_t header = {
        .version = 1, .count = 2, .base_offset = 40, .append_ms = 1795694400005};
    uint8_t head[SL_BATCH_HEADER_SIZE];
    sl_batch_header_encode (&header, head);
    sl_buf_init (buf, 0);
    cr_assert_eq (sl_buf_append (buf, head, sizeof head), 0);
    cr_assert_eq (sl_buf_append (buf, batch.data, batch.len), 0);
    sl_buf_free (&batch);
}

//  Generated from the codec once, then frozen: a change here is a wire change.
static const struct {
    sl_cmd_t cmd;
    const char *header;
    const char *body;
    const char *data; //  NULL when the command has no data frame
} s_vectors[] = {
    {SL_CMD_HELLO, "534c0101",
     "84a372657101a673747265616da66f7264657273a870726f6475636572a57372"
     "632d31a6636c69656e74b3736c756963652d736f757263652f302e312e30",
     NULL},
    {SL_CMD_WELCOME, "534c0102",
     "88a372657101a662726f6b6572b3736c756963652d62726f6b65722f302e312e"
     "30a3707562ac7463703a2f2f2a3a37303031a3736571cd03e8ac686561727462"
     "6561745f6d73cd03e8af6d61785f62617463685f6279746573ce01000000b16d"
     "61785f62617463685f7265636f726473ce00010000a96d61785f6465707468cd"
     "0200",
     NULL},
    {SL_CMD_PUBLISH, "534c0103",
     "84a673747265616da66f7264657273a870726f6475636572a57372632d31a373"
     "6571cd03e9a5636f756e7402",
     "94cf000001a217ba1200a26b31c081a16e0194cf000001a217ba1201c0c0a268"
     "69"},
    {SL_CMD_CONFIRM, "534c0104",
     "85a673747265616da66f7264657273a870726f6475636572a57372632d31a373"
     "6571cd03eaa5636f756e7402a66f666673657428",
     NULL},
    {SL_CMD_SEEK, "534c0105",
     "84a372657102a673747265616da66f7264657273a466726f6da474696d65a576"
     "616c7565cf000001a217ba1200",
     NULL},
    {SL_CMD_POSITION, "534c0106",
     "86a372657102a673747265616da66f7264657273a66f666673657428a5666972"
     "737400a46e6578742aa5666f756e64c3",
     NULL},
    {SL_CMD_FETCH, "534c0107",
     "84a372657103a673747265616da66f7264657273a66f666673657428ab6d6178"
     "5f7265636f726473cd03e8",
     NULL},
    {SL_CMD_RECORDS, "534c0108",
     "85a372657103a673747265616da66f7264657273a66f666673657428a5666972"
     "737400a46e6578742a",
     "01000000000000020000000000000028000001a217ba120594cf000001a217ba"
     "1200a26b31c081a16e0194cf000001a217ba1201c0c0a26869"},
    {SL_CMD_COMMIT, "534c0109",
     "84a372657104a673747265616da66f7264657273a6726561646572a762696c6c"
     "696e67a66f66667365742a",
     NULL},
    {SL_CMD_COMMITTED, "534c010a",
     "84a372657104a673747265616da66f7264657273a6726561646572a762696c6c"
     "696e67a66f66667365742a",
     NULL},
    {SL_CMD_LIST, "534c010b", "81a372657105", NULL},
    {SL_CMD_STREAMS, "534c010c",
     "82a372657105a773747265616d739186a46e616d65a66f7264657273a5666972"
     "737400a46e6578742aa77265636f7264732aa56279746573cd0800a76c617374"
     "5f6d73cf000001a217ba1200",
     NULL},
    {SL_CMD_PING, "534c010d", "81a372657106", NULL},
    {SL_CMD_PONG, "534c010e", "81a372657106", NULL},
    {SL_CMD_ERROR, "534c010f",
     "86a3726571cd03eda673747265616da66f7264657273a870726f6475636572a5"
     "7372632d31a3736571cd03eba4636f64650da474657874bf73657175656e6365"
     "206761703a206578706563746564207365712031303033",
     NULL},
    {SL_CMD_LIVE, "534c0110",
     "84a673747265616da66f7264657273a5636f756e7402a66f666673657428a46e"
     "6578742a",
     "01000000000000020000000000000028000001a217ba120594cf000001a217ba"
     "1200a26b31c081a16e0194cf000001a217ba1201c0c0a26869"},
};

Test (proto, vectors_encode_and_decode)
{
    cr_assert_eq (sizeof s_vectors / sizeof s_vectors[0], N_CMDS, "one example per command");
    for (size_t i = 0; i < N_CMDS; i++) {
        sl_msg_t msg;
        s_example (&msg, s_vectors[i].cmd);
        cr_assert_eq (s_vectors[i].cmd, pt_all_cmds[i]);
        pt_check_vector (&msg, s_vectors[i].header, s_vectors[i].body);

        //  The documented frames decode to the example, data frames included.
        zmsg_t *zmsg = zmsg_new ();
        zframe_t *header = pt_unhex (s_vectors[i].header);
        zframe_t *body = pt_unhex (s_vectors[i].body);
        zmsg_append (zmsg, &header);
        zmsg_append (zmsg, &body);
        size_t n_data = 0;
        if (s_vectors[i].data) {
            zframe_t *data = pt_unhex (s_vectors[i].data);
            n_data = 1;
            if (s_vectors[i].cmd == SL_CMD_LIVE) {
                //  LIVE's blob travels as two frames: its header, its records.
                zframe_t *head = zframe_new (zframe_data (data), SL_BATCH_HEADER_SIZE);
                zframe_t *records = zframe_new (zframe_data (data) + SL_BATCH_HEADER_SIZE,
                                                zframe_size (data) - SL_BATCH_HEADER_SIZE);
                zframe_destroy (&data);
                zmsg_append (zmsg, &head);
                data = records;
                n_data = 2;
            }
            zmsg_append (zmsg, &data);
        }
        sl_msg_t out;
        sl_msg_init (&out, SL_CMD_NONE);
        cr_assert_eq (sl_msg_decode (zmsg, &out), 0, "%s", sl_cmd_name (msg.cmd));
        pt_assert_msg_eq (&msg, &out);
        cr_assert_eq (zmsg_size (zmsg), n_data);
        zmsg_destroy (&zmsg);
        sl_msg_reset (&out);
        sl_msg_reset (&msg);
    }
}

Test (proto, vector_data_frames_are_valid)
{
    //  PUBLISH carries the example batch, RECORDS and LIVE its stored blob
    //  at the offsets and counts their bodies state (§4).
    sl_buf_t batch, blob;
    s_example_batch (&batch);
    s_example_blob (&blob);
    char *batch_hex = pt_buf_hex (&batch);
    char *blob_hex = pt_buf_hex (&blob);
    cr_assert_str_eq (batch_hex, PT_BATCH_HEX);
    cr_assert_eq (sl_batch_validate (batch.data, batch.len, 2, SL_MP_MAX_DEPTH), 0);
    sl_batch_header_t header;
    cr_assert_eq (sl_batch_header_decode (blob.data, blob.len, &header), 0);
    cr_assert_eq (header.count, 2);
    cr_assert_eq (header.base_offset, 40);
    for (size_t i = 0; i < N_CMDS; i++) {
        sl_msg_t msg;
        s_example (&msg, s_vectors[i].cmd);
        switch (msg.cmd) {
        case SL_CMD_PUBLISH:
            cr_assert_str_eq (s_vectors[i].data, batch_hex);
            cr_assert_eq (msg.count, 2);
            break;
        case SL_CMD_RECORDS:
            cr_assert_str_eq (s_vectors[i].data, blob_hex);
            cr_assert_eq (msg.offset, header.base_offset);
            cr_assert_eq (msg.next, header.base_offset + header.count);
            break;
        case SL_CMD_LIVE:
            cr_assert_str_eq (s_vectors[i].data, blob_hex);
            cr_assert_eq (msg.offset, header.base_offset);
            cr_assert_eq (msg.count, header.count);
            cr_assert_eq (msg.next, header.base_offset + header.count);
            break;
        default:
            cr_assert_null (s_vectors[i].data);
        }
        sl_msg_reset (&msg);
    }
    free (batch_hex);
    free (blob_hex);
    sl_buf_free (&batch);
    sl_buf_free (&blob);
}

Test (proto, vectors_match_protocol_md)
{
    static char doc[SL_CMD_LEAVE + 1][4][4096];
    pt_read_examples (doc);
    for (size_t i = 0; i < N_CMDS; i++) {
        const char *name = sl_cmd_name (s_vectors[i].cmd);
        char (*ex)[4096] = doc[s_vectors[i].cmd];
        cr_assert_str_eq (ex[1], s_vectors[i].header, "§13 %s header", name);
        cr_assert_str_eq (ex[2], s_vectors[i].body, "§13 %s body", name);
        cr_assert_str_eq (ex[3], s_vectors[i].data ? s_vectors[i].data : "", "§13 %s data", name);
        if (s_vectors[i].cmd == SL_CMD_LIVE) {
            uint8_t topic[SL_NAME_MAX + 2];
            size_t n = sl_topic ("orders", topic);
            char *hex = pt_hex (topic, n);
            cr_assert_str_eq (ex[0], hex, "§13 LIVE topic");
            free (hex);
        }
        else {
            cr_assert_str_empty (ex[0]);
        }
    }
}
