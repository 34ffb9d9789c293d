/*  test_proto_group.c - the worker group commands (PROTOCOL.md §14.2):
    round trips, required fields, bounds on RESULT's failures, truncation,
    and their byte vectors against PROTOCOL.md.
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
//  Worker group commands (PROTOCOL.md §14.2). Their byte examples live
//  here, not in §13.

static const sl_cmd_t s_group_cmds[] = {SL_CMD_JOIN, SL_CMD_JOINED, SL_CMD_WORK, SL_CMD_RESULT,
                                        SL_CMD_LEAVE};
#define N_GROUP_CMDS (sizeof s_group_cmds / sizeof s_group_cmds[0])

Test (proto, group_command_names_and_codes)
{
    const char *names[] = {"JOIN", "JOINED", "WORK", "RESULT", "LEAVE"};
    for (size_t i = 0; i < N_GROUP_CMDS; i++) {
        cr_assert_eq ((int)s_group_cmds[i], 0x11 + (int)i);
        cr_assert_str_eq (sl_cmd_name (s_group_cmds[i]), names[i]);
    }
}

Test (proto, group_round_trips)
{
    for (size_t i = 0; i < N_GROUP_CMDS; i++) {
        for (int big = 0; big < 2; big++) {
            sl_msg_t msg, out;
            pt_full (&msg, s_group_cmds[i], big);
            pt_round_trip (&msg, &out);
            pt_assert_msg_eq (&msg, &out);
            sl_msg_reset (&msg);
            sl_msg_reset (&out);
        }
    }
}

Test (proto, group_missing_required_fields)
{
    for (size_t c = 0; c < N_GROUP_CMDS; c++) {
        pt_check_required (s_group_cmds[c]);
    }
}

Test (proto, group_data_frames)
{
    sl_msg_t msg;
    pt_full (&msg, SL_CMD_RESULT, false);
    pt_body_t b = {.len = 0};
    zmsg_t *zmsg = sl_msg_encode (&msg);
    zframe_t *body = zmsg_last (zmsg);
    memcpy (b.data, zframe_data (body), zframe_size (body));
    b.len = zframe_size (body);
    zmsg_destroy (&zmsg);
    sl_msg_t out;
    cr_assert_eq (pt_decode_raw (SL_CMD_RESULT, b.data, b.len, 0, &out), SL_EPROTO);
    cr_assert_eq (pt_decode_raw (SL_CMD_RESULT, b.data, b.len, 2, &out), SL_EPROTO);
    cr_assert_eq (pt_decode_raw (SL_CMD_RESULT, b.data, b.len, 1, &out), 0);
    sl_msg_reset (&out);
    sl_msg_reset (&msg);
}

Test (proto, group_fields_of_other_commands_are_not_sent)
{
    sl_msg_t all;
    sl_msg_init (&all, SL_CMD_LEAVE);
    strcpy (all.group, "g");
    strcpy (all.in, "i");
    strcpy (all.out, "o");
    strcpy (all.member, "m");
    all.lease = all.offset = all.req = 5;
    all.window = all.batch = all.attempt = all.out_count = all.max_deliver = all.lease_ms = 5;
    all.count = 5;
    all.from = SL_FROM_END;
    cr_assert_eq (sl_msg_add_failed (&all, 1, "x"), 0);
    sl_msg_t out;
    pt_round_trip (&all, &out);
    sl_msg_t expect;
    sl_msg_init (&expect, SL_CMD_LEAVE);
    strcpy (expect.group, "g");
    strcpy (expect.member, "m");
    pt_assert_msg_eq (&expect, &out);
    sl_msg_reset (&out);
    sl_msg_reset (&all);
}

Test (proto, join_from_is_beginning_or_end)
{
    sl_msg_t msg;
    pt_full (&msg, SL_CMD_JOIN, false);
    msg.from = SL_FROM_BEGINNING;
    zmsg_t *zmsg = sl_msg_encode (&msg);
    cr_assert_not_null (zmsg);
    zframe_t *body = zmsg_last (zmsg);
    cr_assert_null (memmem (zframe_data (body), zframe_size (body), "from", 4),
                    "beginning is the default and omitted");
    zmsg_destroy (&zmsg);
    msg.from = SL_FROM_OFFSET;
    cr_assert_null (sl_msg_encode (&msg), "JOIN from offset");
    const char *bad[] = {"offset", "last", "time", "committed", "BEGINNING", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pt_body_t b = {.len = 0};
        pt_b_map (&b, 6);
        pt_b_str (&b, "req"), pt_b_uint (&b, 1);
        pt_b_str (&b, "group"), pt_b_str (&b, "g");
        pt_b_str (&b, "in"), pt_b_str (&b, "a");
        pt_b_str (&b, "out"), pt_b_str (&b, "b");
        pt_b_str (&b, "member"), pt_b_str (&b, "m");
        pt_b_str (&b, "from"), pt_b_str (&b, bad[i]);
        sl_msg_t out;
        cr_assert_eq (pt_decode_raw (SL_CMD_JOIN, b.data, b.len, 0, &out), SL_EINVAL, "%s", bad[i]);
        cr_assert_eq (out.req, 1);
    }
    pt_body_t b = {.len = 0};
    pt_b_map (&b, 6);
    pt_b_str (&b, "req"), pt_b_uint (&b, 1);
    pt_b_str (&b, "group"), pt_b_str (&b, "g");
    pt_b_str (&b, "in"), pt_b_str (&b, "a");
    pt_b_str (&b, "out"), pt_b_str (&b, "b");
    pt_b_str (&b, "member"), pt_b_str (&b, "m");
    pt_b_str (&b, "from"), pt_b_str (&b, "end");
    sl_msg_t out;
    cr_assert_eq (pt_decode_raw (SL_CMD_JOIN, b.data, b.len, 0, &out), 0);
    cr_assert_eq (out.from, SL_FROM_END);
    cr_assert_eq (out.window, 0, "absent optional reads as 0");
    sl_msg_reset (&msg);
}

Test (proto, group_names_checked)
{
    sl_msg_t msg;
    pt_full (&msg, SL_CMD_LEAVE, false);
    strcpy (msg.member, "bad name");
    cr_assert_null (sl_msg_encode (&msg));
    pt_body_t b = {.len = 0};
    pt_b_map (&b, 2);
    pt_b_str (&b, "group"), pt_b_str (&b, ".hidden");
    pt_b_str (&b, "member"), pt_b_str (&b, "m");
    sl_msg_t out;
    cr_assert_eq (pt_decode_raw (SL_CMD_LEAVE, b.data, b.len, 0, &out), SL_ENAME);
    sl_msg_reset (&msg);
}

//  A RESULT body with "failed" given as raw bytes.
static void
b_result (pt_body_t *b, const void *failed, size_t size)
{
    b->len = 0;
    pt_b_map (b, 6);
    pt_b_str (b, "group"), pt_b_str (b, "g");
    pt_b_str (b, "lease"), pt_b_uint (b, 3);
    pt_b_str (b, "offset"), pt_b_uint (b, 10);
    pt_b_str (b, "count"), pt_b_uint (b, 2);
    pt_b_str (b, "out_count"), pt_b_uint (b, 0);
    pt_b_str (b, "failed");
    pt_b_raw (b, failed, size);
}

Test (proto, result_failed_hostile)
{
    struct {
        const char *what;
        uint8_t bytes[16];
        size_t size;
        int rc;
    } cases[] = {
        {"not an array", {0xa1, 'x'}, 2, SL_EPROTO},
        {"a map", {0x80}, 1, SL_EPROTO},
        {"lying count", {0xdd, 0xff, 0xff, 0xff, 0xff, 0x92, 0x0a, 0xa0}, 8, SL_EPROTO},
        {"entry of one", {0x91, 0x91, 0x0a}, 3, SL_EPROTO},
        {"entry of four", {0x91, 0x94, 0x0a, 0xa0, 0xc3, 0xc0}, 6, SL_EPROTO},
        {"entry not an array", {0x91, 0x0a}, 2, SL_EPROTO},
        {"offset negative", {0x91, 0x92, 0xff, 0xa0}, 4, SL_EPROTO},
        {"offset a str", {0x91, 0x92, 0xa1, '1', 0xa0}, 5, SL_EPROTO},
        {"text a bin", {0x91, 0x92, 0x0a, 0xc4, 0x01, 'x'}, 6, SL_EPROTO},
        {"text with NUL", {0x91, 0x92, 0x0a, 0xa2, 'x', 0x00}, 6, SL_EPROTO},
        {"final not a bool", {0x91, 0x93, 0x0a, 0xa0, 0x01}, 5, SL_EPROTO},
        {"too deep", {0x91, 0x92, 0x0a, 0x91, 0x91, 0x01}, 6, SL_EPROTO},
        {"truncated", {0x92, 0x92, 0x0a, 0xa0}, 4, SL_EPROTO},
        {"empty array", {0x90}, 1, 0},
        {"final true", {0x91, 0x93, 0x0b, 0xa1, 'e', 0xc3}, 6, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pt_body_t b;
        b_result (&b, cases[i].bytes, cases[i].size);
        sl_msg_t msg;
        int rc = pt_decode_raw (SL_CMD_RESULT, b.data, b.len, 1, &msg);
        cr_assert_eq (rc, cases[i].rc, "%s: %d", cases[i].what, rc);
        if (rc) {
            cr_assert_eq (msg.n_failed, 0, "%s: nothing half-decoded", cases[i].what);
            cr_assert_null (msg.failed);
        }
        if (i == sizeof cases / sizeof cases[0] - 1) {
            cr_assert_eq (msg.n_failed, 1);
            cr_assert_eq (msg.failed[0].offset, 11);
            cr_assert_str_eq (msg.failed[0].error, "e");
            cr_assert (msg.failed[0].final);
        }
        sl_msg_reset (&msg);
    }
}

Test (proto, result_failed_text_bound)
{
    uint8_t entry[300] = {0x91, 0x92, 0x0a, 0xda, 0, 0};
    for (uint32_t len = 254; len <= 256; len++) {
        entry[4] = (uint8_t)(len >> 8);
        entry[5] = (uint8_t)len;
        memset (entry + 6, 'e', len);
        pt_body_t b;
        b_result (&b, entry, 6 + len);
        sl_msg_t msg;
        int rc = pt_decode_raw (SL_CMD_RESULT, b.data, b.len, 1, &msg);
        cr_assert_eq (rc, len <= 255 ? 0 : SL_ETOOBIG, "text of %u bytes", len);
        sl_msg_reset (&msg);
    }
    //  sl_msg_add_failed cuts a long text at 255 bytes.
    char text[400];
    memset (text, 'x', sizeof text - 1);
    text[sizeof text - 1] = 0;
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_RESULT);
    cr_assert_eq (sl_msg_add_failed (&msg, 1, text), 0);
    cr_assert_eq (strlen (msg.failed[0].error), 255);
    cr_assert_eq (sl_msg_add_failed (&msg, 2, NULL), 0);
    cr_assert_str_eq (msg.failed[1].error, "");
    sl_msg_reset (&msg);
    cr_assert_null (msg.failed);
    cr_assert_eq (msg.n_failed, 0);
}

//  More entries than SL_MSG_MAX_FAILED, each real: ETOOBIG before any
//  allocation. Exactly the bound decodes.
Test (proto, result_failed_count_bound)
{
    for (uint32_t n = SL_MSG_MAX_FAILED; n <= SL_MSG_MAX_FAILED + 1; n++) {
        size_t size = 5 + (size_t)n * 3 + 64;
        uint8_t *body = malloc (size);
        size_t len = 0;
        len += sl_mp_write_map (body + len, size - len, 6);
        static const char *keys[] = {"group", "lease", "offset", "count", "out_count"};
        for (int k = 0; k < 5; k++) {
            len += sl_mp_write_str_header (body + len, size - len, (uint32_t)strlen (keys[k]));
            memcpy (body + len, keys[k], strlen (keys[k]));
            len += strlen (keys[k]);
            if (k == 0) {
                len += sl_mp_write_str_header (body + len, size - len, 1);
                body[len++] = 'g';
            }
            else {
                len += sl_mp_write_uint (body + len, size - len, k == 3 ? 65536 : 1);
            }
        }
        len += sl_mp_write_str_header (body + len, size - len, 6);
        memcpy (body + len, "failed", 6);
        len += 6;
        len += sl_mp_write_array (body + len, size - len, n);
        for (uint32_t i = 0; i < n; i++) {
            body[len++] = 0x92;
            body[len++] = 0x01;
            body[len++] = 0xa0;
        }
        sl_msg_t msg;
        int rc = pt_decode_raw (SL_CMD_RESULT, body, len, 1, &msg);
        cr_assert_eq (rc, n > SL_MSG_MAX_FAILED ? SL_ETOOBIG : 0, "%u entries: %d", n, rc);
        cr_assert_eq (msg.n_failed, rc ? 0 : n);
        sl_msg_reset (&msg);
        free (body);
    }
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_RESULT);
    msg.n_failed = 3;
    cr_assert_null (sl_msg_encode (&msg), "n_failed without an array");
    msg.n_failed = 0;
}

Test (proto, group_bodies_truncated_at_every_position)
{
    for (size_t c = 0; c < N_GROUP_CMDS; c++) {
        sl_msg_t msg;
        pt_full (&msg, s_group_cmds[c], true);
        zmsg_t *zmsg = sl_msg_encode (&msg);
        cr_assert_not_null (zmsg);
        zframe_t *body = zmsg_last (zmsg);
        for (size_t n = 0; n < zframe_size (body); n++) {
            sl_msg_t out;
            int rc = pt_decode_raw ((uint8_t)s_group_cmds[c], zframe_data (body), n,
                                    pt_data_frames (s_group_cmds[c]), &out);
            cr_assert_neq (rc, 0, "%s cut at %zu", sl_cmd_name (s_group_cmds[c]), n);
            cr_assert_null (out.failed);
            sl_msg_reset (&out);
        }
        zmsg_destroy (&zmsg);
        sl_msg_reset (&msg);
    }
}

//  The examples of the group commands, small and realistic.
static void
s_group_example (sl_msg_t *msg, sl_cmd_t cmd)
{
    sl_msg_init (msg, cmd);
    strcpy (msg->group, "enrich");
    switch (cmd) {
    case SL_CMD_JOIN:
        msg->req = 1;
        strcpy (msg->in, "orders");
        strcpy (msg->out, "orders.enriched");
        strcpy (msg->member, "host-1234");
        msg->window = 4;
        msg->batch = 500;
        break;
    case SL_CMD_JOINED:
        msg->req = 1;
        strcpy (msg->in, "orders");
        strcpy (msg->out, "orders.enriched");
        msg->offset = 40;
        break;
    case SL_CMD_WORK:
        msg->lease = 7;
        msg->offset = 40;
        msg->count = 2;
        msg->attempt = 1;
        break;
    case SL_CMD_RESULT:
        msg->lease = 7;
        msg->offset = 40;
        msg->count = 2;
        msg->out_count = 1;
        cr_assert_eq (sl_msg_add_failed (msg, 41, "no field n"), 0);
        break;
    case SL_CMD_LEAVE:
        strcpy (msg->member, "host-1234");
        break;
    default:
        break;
    }
}

//  Generated from the codec once, then frozen: a change here is a wire
//  change. WORK's data frame is the §13 example batch (PT_BATCH_HEX);
//  RESULT's is one output record [1795694400000, "k1", nil, {"n": 1, "ok": true}].
static const struct {
    sl_cmd_t cmd;
    const char *json;
    const char *header;
    const char *body;
} s_group_vectors[] = {
    {SL_CMD_JOIN,
     "{\"req\": 1, \"group\": \"enrich\", \"in\": \"orders\", \"out\": \"orders.enriched\", "
     "\"member\": \"host-1234\", \"window\": 4, \"batch\": 500}",
     "534c0111",
     "87a372657101a567726f7570a6656e72696368a2696ea66f7264657273a36f75"
     "74af6f72646572732e656e726963686564a66d656d626572a9686f73742d3132"
     "3334a677696e646f7704a56261746368cd01f4"},
    {SL_CMD_JOINED,
     "{\"req\": 1, \"offset\": 40, \"group\": \"enrich\", \"in\": \"orders\", \"out\": "
     "\"orders.enriched\"}",
     "534c0112",
     "85a372657101a66f666673657428a567726f7570a6656e72696368a2696ea66f"
     "7264657273a36f7574af6f72646572732e656e726963686564"},
    {SL_CMD_WORK,
     "{\"count\": 2, \"offset\": 40, \"group\": \"enrich\", \"lease\": 7, \"attempt\": 1}",
     "534c0113",
     "85a5636f756e7402a66f666673657428a567726f7570a6656e72696368a56c65"
     "61736507a7617474656d707401"},
    {SL_CMD_RESULT,
     "{\"count\": 2, \"offset\": 40, \"group\": \"enrich\", \"lease\": 7, \"out_count\": 1, "
     "\"failed\": [[41, \"no field n\"]]}",
     "534c0114",
     "86a5636f756e7402a66f666673657428a567726f7570a6656e72696368a56c65"
     "61736507a96f75745f636f756e7401a66661696c6564919229aa6e6f20666965"
     "6c64206e"},
    {SL_CMD_LEAVE, "{\"group\": \"enrich\", \"member\": \"host-1234\"}", "534c0115",
     "82a567726f7570a6656e72696368a66d656d626572a9686f73742d31323334"},
};
#define S_RESULT_DATA_HEX "94cf000001a217ba1200a26b31c082a16e01a26f6bc3"

Test (proto, group_vectors_encode_and_decode)
{
    cr_assert_eq (sizeof s_group_vectors / sizeof s_group_vectors[0], N_GROUP_CMDS);
    for (size_t i = 0; i < N_GROUP_CMDS; i++) {
        sl_msg_t msg;
        cr_assert_eq (s_group_vectors[i].cmd, s_group_cmds[i]);
        s_group_example (&msg, s_group_vectors[i].cmd);
        pt_check_vector (&msg, s_group_vectors[i].header, s_group_vectors[i].body);
        zmsg_t *zmsg = zmsg_new ();
        zframe_t *header = pt_unhex (s_group_vectors[i].header);
        zframe_t *body = pt_unhex (s_group_vectors[i].body);
        zmsg_append (zmsg, &header);
        zmsg_append (zmsg, &body);
        const char *data = msg.cmd == SL_CMD_WORK     ? PT_BATCH_HEX
                           : msg.cmd == SL_CMD_RESULT ? S_RESULT_DATA_HEX
                                                      : NULL;
        if (data) {
            zframe_t *frame = pt_unhex (data);
            zmsg_append (zmsg, &frame);
        }
        sl_msg_t out;
        sl_msg_init (&out, SL_CMD_NONE);
        cr_assert_eq (sl_msg_decode (zmsg, &out), 0, "%s", sl_cmd_name (msg.cmd));
        pt_assert_msg_eq (&msg, &out);
        cr_assert_eq (zmsg_size (zmsg), data ? 1u : 0u);
        if (data) {
            //  The data frame holds count (WORK) or out_count (RESULT) records.
            zframe_t *frame = zmsg_first (zmsg);
            uint32_t n = msg.cmd == SL_CMD_WORK ? msg.count : msg.out_count;
            cr_assert_eq (
                sl_batch_validate (zframe_data (frame), zframe_size (frame), n, SL_MP_MAX_DEPTH),
                0);
        }
        zmsg_destroy (&zmsg);
        sl_msg_reset (&out);
        sl_msg_reset (&msg);
    }
    sl_buf_t out;
    sl_buf_init (&out, 0);
    cr_assert_eq (sl_record_encode (&out, 1795694400000, "k1", 2, false, NULL, 0,
                                    "\x82\xa1n\x01\xa2ok\xc3", 8),
                  0);
    char *hex = pt_buf_hex (&out);
    cr_assert_str_eq (hex, S_RESULT_DATA_HEX, "result data: %s", hex);
    free (hex);
    sl_buf_free (&out);
}

Test (proto, group_vectors_match_protocol_md)
{
    //  §13 prints the group commands' examples too (13.17-13.21), with
    //  WORK's and RESULT's data frames: the same bytes as the vectors above.
    static char doc[SL_CMD_LEAVE + 1][4][4096];
    pt_read_examples (doc);
    for (size_t i = 0; i < N_GROUP_CMDS; i++) {
        const char *name = sl_cmd_name (s_group_vectors[i].cmd);
        char (*ex)[4096] = doc[s_group_vectors[i].cmd];
        cr_assert_str_eq (ex[1], s_group_vectors[i].header, "§13 %s header", name);
        cr_assert_str_eq (ex[2], s_group_vectors[i].body, "§13 %s body", name);
        const char *data = s_group_vectors[i].cmd == SL_CMD_WORK     ? PT_BATCH_HEX
                           : s_group_vectors[i].cmd == SL_CMD_RESULT ? S_RESULT_DATA_HEX
                                                                     : "";
        cr_assert_str_eq (ex[3], data, "§13 %s data", name);
        cr_assert_str_empty (ex[0]);
    }
}
