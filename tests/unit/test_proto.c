/*  test_proto.c - the protocol codec: the command table, round trips of
    every field of every command, and what the encoder refuses.

    The expectations here are written from docs/PROTOCOL.md §3 and §5, not
    from the codec's tables, so that a table mistake shows up as a failure.
    Hostile input is test_proto_hostile.c, the byte vectors of PROTOCOL.md
    §13 test_proto_vectors.c, the worker group commands test_proto_group.c.
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
//  Command table

Test (proto, command_names_and_codes)
{
    const char *names[] = {"HELLO", "WELCOME", "PUBLISH", "CONFIRM",   "SEEK", "POSITION",
                           "FETCH", "RECORDS", "COMMIT",  "COMMITTED", "LIST", "STREAMS",
                           "PING",  "PONG",    "ERROR",   "LIVE"};
    for (size_t i = 0; i < N_CMDS; i++) {
        cr_assert_eq ((int)pt_all_cmds[i], (int)i + 1, "codes are 0x01..0x10 in order");
        cr_assert_str_eq (sl_cmd_name (pt_all_cmds[i]), names[i]);
    }
    cr_assert_str_eq (sl_cmd_name (SL_CMD_NONE), "UNKNOWN");
    cr_assert_str_eq (sl_cmd_name ((sl_cmd_t)0x7F), "UNKNOWN");
    cr_assert_str_eq (sl_cmd_name ((sl_cmd_t)-1), "UNKNOWN");
}

//  ---------------------------------------------------------------------
//  Round trips

Test (proto, round_trip_every_command_every_field)
{
    for (size_t i = 0; i < N_CMDS; i++) {
        sl_msg_t msg, out;
        pt_full (&msg, pt_all_cmds[i], false);
        pt_round_trip (&msg, &out);
        cr_assert_eq (out.version, 1);
        pt_assert_msg_eq (&msg, &out);
        sl_msg_reset (&msg);
        sl_msg_reset (&out);
    }
}

Test (proto, round_trip_extreme_values)
{
    for (size_t i = 0; i < N_CMDS; i++) {
        sl_msg_t msg, out;
        pt_full (&msg, pt_all_cmds[i], true);
        pt_round_trip (&msg, &out);
        pt_assert_msg_eq (&msg, &out);
        sl_msg_reset (&msg);
        sl_msg_reset (&out);
    }
}

Test (proto, round_trip_every_seek_position)
{
    for (int from = SL_FROM_BEGINNING; from <= SL_FROM_COMMITTED; from++) {
        sl_msg_t msg, out;
        sl_msg_init (&msg, SL_CMD_SEEK);
        msg.req = 1;
        strcpy (msg.stream, "s");
        msg.from = (sl_from_t)from;
        msg.value = 42;
        if (from == SL_FROM_COMMITTED) {
            strcpy (msg.name, "r");
        }
        pt_round_trip (&msg, &out);
        cr_assert_eq (out.from, (sl_from_t)from);
        pt_assert_msg_eq (&msg, &out);
    }
}

Test (proto, round_trip_empty_streams_and_many_streams)
{
    sl_msg_t msg, out;
    sl_msg_init (&msg, SL_CMD_STREAMS);
    msg.req = 9;
    pt_round_trip (&msg, &out);
    cr_assert_eq (out.n_streams, 0);
    for (int i = 0; i < 1000; i++) {
        sl_stream_info_t info = {.first = (uint64_t)i, .next = (uint64_t)i + 1};
        snprintf (info.name, sizeof info.name, "s%d", i);
        cr_assert_eq (sl_msg_add_stream (&msg, &info), 0);
    }
    //  Decoding into a msg that already holds streams frees them first.
    pt_round_trip (&msg, &out);
    cr_assert_eq (out.n_streams, 1000);
    pt_assert_msg_eq (&msg, &out);
    sl_msg_reset (&msg);
    sl_msg_reset (&out);
}

Test (proto, fields_of_other_commands_are_not_sent)
{
    //  Fill every member, then encode each command: the decoded message
    //  holds only that command's fields.
    for (size_t i = 0; i < N_CMDS; i++) {
        sl_msg_t all;
        sl_msg_init (&all, pt_all_cmds[i]);
        all.req = all.seq = all.offset = all.first = all.next = all.max_bytes = 5;
        all.max_batch_bytes = 5;
        all.count = all.max_records = all.heartbeat_ms = all.max_batch_records = 5;
        all.max_depth = 5;
        all.code = 5;
        all.value = 5;
        all.found = true;
        all.from = SL_FROM_LAST;
        strcpy (all.stream, "s");
        strcpy (all.name, "n");
        strcpy (all.client, "c");
        strcpy (all.endpoint, "e");
        strcpy (all.text, "t");
        strcpy (all.broker, "b");
        sl_msg_t want, out;
        pt_full (&want, pt_all_cmds[i], false);
        pt_round_trip (&all, &out);
        //  Compare against a message of the same command with only its fields set.
        sl_msg_t expect;
        sl_msg_init (&expect, pt_all_cmds[i]);
        if (want.req)
            expect.req = 5;
        if (want.seq)
            expect.seq = 5;
        if (want.offset)
            expect.offset = 5;
        if (want.first)
            expect.first = 5;
        if (want.next)
            expect.next = 5;
        if (want.max_bytes)
            expect.max_bytes = 5;
        if (want.max_batch_bytes)
            expect.max_batch_bytes = 5;
        if (want.count)
            expect.count = 5;
        if (want.max_records)
            expect.max_records = 5;
        if (want.heartbeat_ms)
            expect.heartbeat_ms = 5;
        if (want.max_batch_records)
            expect.max_batch_records = 5;
        if (want.max_depth)
            expect.max_depth = 5;
        if (want.code)
            expect.code = 5;
        if (want.value)
            expect.value = 5;
        if (want.found)
            expect.found = true;
        if (pt_all_cmds[i] == SL_CMD_SEEK)
            expect.from = SL_FROM_LAST;
        if (want.stream[0])
            strcpy (expect.stream, "s");
        if (want.name[0])
            strcpy (expect.name, "n");
        if (want.client[0])
            strcpy (expect.client, "c");
        if (want.endpoint[0])
            strcpy (expect.endpoint, "e");
        if (want.text[0])
            strcpy (expect.text, "t");
        if (want.broker[0])
            strcpy (expect.broker, "b");
        pt_assert_msg_eq (&expect, &out);
        sl_msg_reset (&want);
        sl_msg_reset (&out);
    }
}

Test (proto, optional_zero_fields_are_omitted)
{
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_PING);
    zmsg_t *zmsg = sl_msg_encode (&msg);
    cr_assert_not_null (zmsg);
    zframe_t *body = zmsg_last (zmsg);
    cr_assert_eq (zframe_size (body), 1);
    cr_assert_eq (zframe_data (body)[0], 0x80, "PING without req is an empty map");
    zmsg_destroy (&zmsg);
    sl_msg_init (&msg, SL_CMD_HELLO);
    zmsg = sl_msg_encode (&msg);
    cr_assert_eq (zframe_data (zmsg_last (zmsg))[0], 0x80);
    zmsg_destroy (&zmsg);
    //  A required field is written even when zero.
    sl_msg_init (&msg, SL_CMD_PONG);
    zmsg = sl_msg_encode (&msg);
    body = zmsg_last (zmsg);
    const uint8_t want[] = {0x81, 0xa3, 'r', 'e', 'q', 0x00};
    cr_assert_eq (zframe_size (body), sizeof want);
    cr_assert_eq (memcmp (zframe_data (body), want, sizeof want), 0);
    zmsg_destroy (&zmsg);
}

Test (proto, every_integer_encoding_accepted)
{
    //  req = 5 as fixint, uint8, uint16, uint32, uint64, int8, int16, int32, int64.
    const uint8_t encodings[][9] = {
        {0x05},
        {0xcc, 5},
        {0xcd, 0, 5},
        {0xce, 0, 0, 0, 5},
        {0xcf, 0, 0, 0, 0, 0, 0, 0, 5},
        {0xd0, 5},
        {0xd1, 0, 5},
        {0xd2, 0, 0, 0, 5},
        {0xd3, 0, 0, 0, 0, 0, 0, 0, 5},
    };
    const size_t sizes[] = {1, 2, 3, 5, 9, 2, 3, 5, 9};
    for (size_t i = 0; i < 9; i++) {
        pt_body_t b = {.len = 0};
        pt_b_fetch (&b, "req", encodings[i], sizes[i]);
        sl_msg_t msg;
        cr_assert_eq (pt_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), 0, "encoding %zu", i);
        cr_assert_eq (msg.req, 5);
    }
}

Test (proto, unknown_keys_ignored)
{
    pt_body_t b = {.len = 0};
    pt_b_map (&b, 6);
    pt_b_str (&b, "req");
    pt_b_uint (&b, 3);
    pt_b_str (&b, "future");
    pt_b_raw (&b, "\x92\x81\xa1x\x91\x01\xc0", 7); //  [{"x": [1]}, nil]: depth 3
    pt_b_str (&b, "stream");
    pt_b_str (&b, "orders");
    pt_b_str (&b, "offset");
    pt_b_uint (&b, 10);
    pt_b_str (&b, "found"); //  a key of another command
    pt_b_str (&b, "not a bool");
    pt_b_str (&b, "");
    pt_b_uint (&b, 1);
    sl_msg_t msg;
    cr_assert_eq (pt_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), 0);
    cr_assert_eq (msg.req, 3);
    cr_assert_str_eq (msg.stream, "orders");
    cr_assert_eq (msg.offset, 10);
    cr_assert_not (msg.found);
}

//  ---------------------------------------------------------------------
//  Encoder refusals

Test (proto, encode_rejects_invalid_messages)
{
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_NONE);
    cr_assert_null (sl_msg_encode (&msg), "command 0");
    sl_msg_init (&msg, (sl_cmd_t)0x7F);
    cr_assert_null (sl_msg_encode (&msg), "unknown command");

    pt_full (&msg, SL_CMD_PUBLISH, false);
    strcpy (msg.stream, "bad name");
    cr_assert_null (sl_msg_encode (&msg), "invalid stream name");
    pt_full (&msg, SL_CMD_PUBLISH, false);
    msg.stream[0] = 0;
    cr_assert_null (sl_msg_encode (&msg), "required name empty");
    pt_full (&msg, SL_CMD_PUBLISH, false);
    strcpy (msg.name, ".hidden");
    cr_assert_null (sl_msg_encode (&msg), "producer starting with a dot");
    pt_full (&msg, SL_CMD_HELLO, false);
    strcpy (msg.name, "a/b");
    cr_assert_null (sl_msg_encode (&msg), "optional name, given and invalid");
    pt_full (&msg, SL_CMD_HELLO, false);
    memset (msg.client, 'c', sizeof msg.client);
    cr_assert_null (sl_msg_encode (&msg), "unterminated string");
    pt_full (&msg, SL_CMD_SEEK, false);
    msg.from = (sl_from_t)6;
    cr_assert_null (sl_msg_encode (&msg), "from out of range");
    pt_full (&msg, SL_CMD_SEEK, false);
    msg.name[0] = 0;
    cr_assert_null (sl_msg_encode (&msg), "committed without reader");
    msg.from = SL_FROM_END;
    zmsg_t *ok = sl_msg_encode (&msg);
    cr_assert_not_null (ok, "end without reader is fine");
    zmsg_destroy (&ok);

    pt_full (&msg, SL_CMD_STREAMS, false);
    strcpy (msg.streams[1].name, "no spaces");
    cr_assert_null (sl_msg_encode (&msg), "invalid name in STREAMS");
    sl_msg_reset (&msg);
}

Test (proto, encode_rejects_body_over_limit)
{
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_STREAMS);
    sl_stream_info_t info;
    memset (&info, 0, sizeof info);
    memset (info.name, 'n', SL_NAME_MAX);
    for (int i = 0; i < 6000; i++) { //  about 1.5 MiB
        cr_assert_eq (sl_msg_add_stream (&msg, &info), 0);
    }
    cr_assert_null (sl_msg_encode (&msg));
    msg.n_streams = 3000; //  about 0.75 MiB
    zmsg_t *zmsg = sl_msg_encode (&msg);
    cr_assert_not_null (zmsg);
    cr_assert_leq (zframe_size (zmsg_last (zmsg)), SL_MAX_BODY);
    zmsg_destroy (&zmsg);
    sl_msg_reset (&msg);
}

Test (proto, error_helper)
{
    zmsg_t *zmsg = sl_msg_error (42, SL_ESEQ, NULL);
    cr_assert_not_null (zmsg);
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_NONE);
    cr_assert_eq (sl_msg_decode (zmsg, &msg), 0);
    cr_assert_eq (msg.cmd, SL_CMD_ERROR);
    cr_assert_eq (msg.req, 42);
    cr_assert_eq (msg.code, 13, "the positive value travels");
    cr_assert_str_eq (msg.text, sl_strerror (SL_ESEQ));
    zmsg_destroy (&zmsg);

    char long_text[1000];
    pt_fill (long_text, sizeof long_text, 'x');
    zmsg = sl_msg_error (1, -SL_EPROTO, long_text);
    cr_assert_not_null (zmsg);
    cr_assert_eq (sl_msg_decode (zmsg, &msg), 0);
    cr_assert_eq (msg.code, 3, "either sign accepted");
    cr_assert_eq (strlen (msg.text), sizeof msg.text - 1, "text cut to its field");
    zmsg_destroy (&zmsg);
}

Test (proto, topic)
{
    uint8_t out[SL_NAME_MAX + 2];
    cr_assert_eq (sl_topic ("orders", out), 7);
    cr_assert_eq (memcmp (out, "orders\0", 7), 0);
    char name[SL_NAME_MAX + 1];
    pt_fill (name, sizeof name, 'z');
    cr_assert_eq (sl_topic (name, out), SL_NAME_MAX + 1);
    cr_assert_eq (out[SL_NAME_MAX], 0);
}
