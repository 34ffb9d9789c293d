/*  test_proto_hostile.c - the protocol codec against hostile input: bad
    frames (sizes, signature, version, unknown commands, data frame counts)
    and bad bodies (truncated anywhere, lying lengths, deep nesting, wrong
    types, missing or duplicate keys, bounds), and random mutations.
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
//  Hostile input: frames

Test (proto, null_and_empty_message)
{
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_NONE);
    cr_assert_eq (sl_msg_decode (NULL, &msg), SL_EPROTO);
    zmsg_t *zmsg = zmsg_new ();
    cr_assert_eq (sl_msg_decode (zmsg, &msg), SL_EPROTO);
    cr_assert_eq (msg.cmd, SL_CMD_NONE);
    zmsg_destroy (&zmsg);
}

Test (proto, header_sizes)
{
    const uint8_t body[] = {0x80};
    const uint8_t header[6] = {0x53, 0x4C, 1, SL_CMD_PING, 0, 0};
    for (size_t size = 0; size <= 6; size++) {
        if (size == 4) {
            continue;
        }
        zmsg_t *zmsg = pt_raw (header, size, body, 1, 0);
        sl_msg_t msg;
        sl_msg_init (&msg, SL_CMD_NONE);
        cr_assert_eq (sl_msg_decode (zmsg, &msg), SL_EPROTO, "header of %zu bytes", size);
        zmsg_destroy (&zmsg);
    }
}

Test (proto, header_without_body)
{
    const uint8_t header[4] = {0x53, 0x4C, 1, SL_CMD_PING};
    zmsg_t *zmsg = pt_raw (header, 4, NULL, 0, 0);
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_NONE);
    cr_assert_eq (sl_msg_decode (zmsg, &msg), SL_EPROTO);
    cr_assert_eq (msg.cmd, SL_CMD_PING, "command known from the header");
    zmsg_destroy (&zmsg);
}

Test (proto, wrong_signature)
{
    const uint8_t body[] = {0x80};
    const uint8_t headers[][4] = {
        {0x53, 0x4D, 1, 0x0D}, {0x00, 0x4C, 1, 0x0D}, {'L', 'S', 1, 0x0D}};
    for (size_t i = 0; i < 3; i++) {
        zmsg_t *zmsg = pt_raw (headers[i], 4, body, 1, 0);
        sl_msg_t msg;
        sl_msg_init (&msg, SL_CMD_NONE);
        cr_assert_eq (sl_msg_decode (zmsg, &msg), SL_EPROTO);
        zmsg_destroy (&zmsg);
    }
}

Test (proto, other_version)
{
    //  {"req": 42, "stream": 1}: req is read even from a body that would not decode.
    const uint8_t body[] = {0x82, 0xa3, 'r', 'e', 'q', 0x2a, 0xa6,
                            's',  't',  'r', 'e', 'a', 'm',  0x01};
    const uint8_t versions[] = {0, 2, 0xFF};
    for (size_t i = 0; i < 3; i++) {
        const uint8_t header[4] = {0x53, 0x4C, versions[i], SL_CMD_FETCH};
        zmsg_t *zmsg = pt_raw (header, 4, body, sizeof body, 0);
        sl_msg_t msg;
        sl_msg_init (&msg, SL_CMD_NONE);
        cr_assert_eq (sl_msg_decode (zmsg, &msg), SL_EVERSION);
        cr_assert_eq (msg.cmd, SL_CMD_FETCH);
        cr_assert_eq (msg.version, versions[i]);
        cr_assert_eq (msg.req, 42, "req read for the error reply");
        cr_assert_str_empty (msg.stream);
        zmsg_destroy (&zmsg);
    }
}

Test (proto, unknown_command)
{
    const uint8_t body[] = {0x81, 0xa3, 'r', 'e', 'q', 0x07};
    const uint8_t codes[] = {0x00, 0x7E, 0x7F, 0xFF};
    for (size_t i = 0; i < 4; i++) {
        const uint8_t header[4] = {0x53, 0x4C, 1, codes[i]};
        zmsg_t *zmsg = pt_raw (header, 4, body, sizeof body, 0);
        sl_msg_t msg;
        sl_msg_init (&msg, SL_CMD_NONE);
        cr_assert_eq (sl_msg_decode (zmsg, &msg), SL_ECOMMAND, "code 0x%02x", codes[i]);
        cr_assert_eq (msg.cmd, SL_CMD_NONE);
        cr_assert_eq (msg.req, 7);
        zmsg_destroy (&zmsg);
    }
}

Test (proto, data_frame_counts)
{
    sl_cmd_t cmds[] = {SL_CMD_PUBLISH, SL_CMD_LIVE, SL_CMD_RECORDS, SL_CMD_FETCH, SL_CMD_HELLO};
    //  Accepted data frame counts 0..3 for each.
    bool ok[][4] = {
        {false, true, false, false}, {false, false, true, false}, {true, true, true, true},
        {true, false, false, false}, {true, false, false, false},
    };
    for (size_t c = 0; c < 5; c++) {
        sl_msg_t msg;
        pt_full (&msg, cmds[c], false);
        zmsg_t *encoded = sl_msg_encode (&msg);
        cr_assert_not_null (encoded);
        zframe_t *header = zmsg_first (encoded);
        zframe_t *body = zmsg_next (encoded);
        for (int n = 0; n < 4; n++) {
            zmsg_t *zmsg =
                pt_raw (zframe_data (header), 4, zframe_data (body), zframe_size (body), n);
            sl_msg_t out;
            sl_msg_init (&out, SL_CMD_NONE);
            int rc = sl_msg_decode (zmsg, &out);
            cr_assert_eq (rc, ok[c][n] ? 0 : SL_EPROTO, "%s with %d data frames",
                          sl_cmd_name (cmds[c]), n);
            if (rc == 0) {
                cr_assert_eq ((int)zmsg_size (zmsg), n, "data frames stay in zmsg");
            }
            zmsg_destroy (&zmsg);
        }
        zmsg_destroy (&encoded);
    }
}

//  ---------------------------------------------------------------------
//  Hostile input: bodies

Test (proto, body_not_a_map)
{
    const char *bodies[] = {"\x90",
                            "\x05",
                            "\xa3"
                            "abc",
                            "\xc0",
                            "\xc3",
                            "\xc4\x01x",
                            "\xcb\0\0\0\0\0\0\0\0"};
    const size_t sizes[] = {1, 1, 4, 1, 1, 3, 9};
    for (size_t i = 0; i < 7; i++) {
        sl_msg_t msg;
        cr_assert_eq (pt_decode_raw (SL_CMD_PING, bodies[i], sizes[i], 0, &msg), SL_EPROTO,
                      "body %zu", i);
    }
    sl_msg_t msg;
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, "", 0, 0, &msg), SL_EPROTO, "empty body");
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, "\xc1", 1, 0, &msg), SL_EPROTO, "reserved byte");
}

Test (proto, body_with_trailing_bytes)
{
    sl_msg_t msg;
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, "\x80\x80", 2, 0, &msg), SL_EPROTO);
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, "\x80\x00", 2, 0, &msg), SL_EPROTO);
}

Test (proto, body_truncated_at_every_position)
{
    sl_cmd_t cmds[] = {SL_CMD_WELCOME, SL_CMD_STREAMS, SL_CMD_SEEK, SL_CMD_ERROR, SL_CMD_PUBLISH};
    for (size_t c = 0; c < 5; c++) {
        sl_msg_t msg;
        pt_full (&msg, cmds[c], c % 2);
        zmsg_t *encoded = sl_msg_encode (&msg);
        cr_assert_not_null (encoded);
        zframe_t *body = zmsg_last (encoded);
        size_t size = zframe_size (body);
        int n_data = pt_data_frames (cmds[c]);
        for (size_t cut = 0; cut < size; cut++) {
            //  A copy of exactly cut bytes, so that ASan sees any read past it.
            uint8_t *part = malloc (cut ? cut : 1);
            memcpy (part, zframe_data (body), cut);
            sl_msg_t out;
            int rc = pt_decode_raw ((uint8_t)cmds[c], part, cut, n_data, &out);
            cr_assert_eq (rc, SL_EPROTO, "%s cut at %zu of %zu: %d", sl_cmd_name (cmds[c]), cut,
                          size, rc);
            cr_assert_null (out.streams);
            free (part);
        }
        sl_msg_t out;
        cr_assert_eq (pt_decode_raw ((uint8_t)cmds[c], zframe_data (body), size, n_data, &out), 0);
        sl_msg_reset (&out);
        zmsg_destroy (&encoded);
        sl_msg_reset (&msg);
    }
}

Test (proto, lying_lengths)
{
    sl_msg_t msg;
    //  A map claiming 1000 pairs with two bytes behind it.
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, "\xde\x03\xe8\xa0\x00", 5, 0, &msg), SL_EPROTO);
    //  A str16 key claiming 0x0100 bytes.
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, "\x81\xda\x01\x00req\x01", 9, 0, &msg), SL_EPROTO);
    //  stream value: str8 claiming 200 bytes, 6 present.
    pt_body_t b = {.len = 0};
    pt_b_fetch (&b, "stream", "\xd9\xc8orders", 8);
    cr_assert_eq (pt_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), SL_EPROTO);
    //  STREAMS whose array claims 65535 entries: bounded before anything is allocated.
    pt_body_t s = {.len = 0};
    pt_b_map (&s, 2);
    pt_b_str (&s, "req");
    pt_b_uint (&s, 1);
    pt_b_str (&s, "streams");
    pt_b_raw (&s, "\xdc\xff\xff\x80\x80", 5);
    cr_assert_eq (pt_decode_raw (SL_CMD_STREAMS, s.data, s.len, 0, &msg), SL_EPROTO);
    cr_assert_null (msg.streams);
    cr_assert_eq (msg.n_streams, 0);
}

Test (proto, thirteen_bytes_claiming_gigabytes)
{
    //  {"stream": str32 of 4 GiB - 1} in 13 bytes, and a map32 of 4G pairs.
    const uint8_t str[13] = {0x81, 0xa6, 's',  't',  'r',  'e', 'a',
                             'm',  0xdb, 0xff, 0xff, 0xff, 0xff};
    const uint8_t map[13] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa3, 'r',
                             'e',  'q',  1,    0xc0, 0xc0, 0xc0};
    const uint8_t arr[13] = {0x81, 0xa7, 's', 't', 'r', 'e', 'a', 'm', 's', 0xdd, 0xff, 0xff, 0xff};
    sl_msg_t msg;
    cr_assert_eq (pt_decode_raw (SL_CMD_FETCH, str, 13, 0, &msg), SL_EPROTO);
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, map, 13, 0, &msg), SL_EPROTO);
    cr_assert_eq (pt_decode_raw (SL_CMD_STREAMS, arr, 13, 0, &msg), SL_EPROTO);
}

Test (proto, body_over_limit)
{
    size_t size = SL_MAX_BODY + 1;
    uint8_t *big = calloc (size, 1);
    cr_assert_not_null (big);
    //  A valid map with one huge unknown bin value: too big, not malformed.
    big[0] = 0x81;
    big[1] = 0xa1;
    big[2] = 'x';
    big[3] = 0xc6;
    uint32_t n = (uint32_t)(size - 8);
    big[4] = (uint8_t)(n >> 24);
    big[5] = (uint8_t)(n >> 16);
    big[6] = (uint8_t)(n >> 8);
    big[7] = (uint8_t)n;
    sl_msg_t msg;
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, big, size, 0, &msg), SL_ETOOBIG);
    cr_assert_eq (msg.cmd, SL_CMD_PING);
    //  One byte less fits.
    n--;
    big[7] = (uint8_t)n;
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, big, size - 1, 0, &msg), 0);
    free (big);
}

Test (proto, deep_nesting)
{
    size_t depth = 10000;
    uint8_t *body = malloc (depth + 16);
    cr_assert_not_null (body);
    //  {"x": [[[[...]]]]} ten thousand deep.
    size_t n = 0;
    body[n++] = 0x81;
    body[n++] = 0xa1;
    body[n++] = 'x';
    memset (body + n, 0x91, depth);
    n += depth;
    body[n++] = 0x90;
    sl_msg_t msg;
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, body, n, 0, &msg), SL_EPROTO);
    //  The same nesting as the whole body.
    memset (body, 0x81, depth);
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, body, depth, 0, &msg), SL_EPROTO);
    //  Nesting inside an unknown key beyond the body bound (4 containers,
    //  the body map included) is refused...
    const uint8_t deep5[] = {0x81, 0xa1, 'x', 0x91, 0x91, 0x91, 0x90};
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, deep5, sizeof deep5, 0, &msg), SL_EPROTO);
    //  ...and within it accepted.
    const uint8_t deep4[] = {0x81, 0xa1, 'x', 0x91, 0x91, 0x90};
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, deep4, sizeof deep4, 0, &msg), 0);
    free (body);
}

Test (proto, wrong_types)
{
    struct {
        const char *key;
        const char *bytes;
        size_t size;
    } cases[] = {
        {"req",
         "\xa1"
         "7",
         2},                //  str for uint
        {"req", "\xff", 1}, //  -1 for uint
        {"req", "\xd3\x80\0\0\0\0\0\0\0", 9},
        {"req", "\xc0", 1},                     //  nil
        {"req", "\xc3", 1},                     //  bool
        {"req", "\xcb\x3f\xf0\0\0\0\0\0\0", 9}, //  float 1.0
        {"stream", "\x07", 1},                  //  int for str
        {"stream", "\xc4\x01o", 3},             //  bin for str
        {"stream", "\x91\xa1o", 3},             //  array for str
        {"stream", "\x81\xa1o\x01", 4},         //  map for str
        {"offset",
         "\xa1"
         "0",
         2},
        {"offset", "\xc2", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pt_body_t b = {.len = 0};
        pt_b_fetch (&b, cases[i].key, cases[i].bytes, cases[i].size);
        sl_msg_t msg;
        cr_assert_eq (pt_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), SL_EPROTO, "case %zu",
                      i);
        cr_assert_eq (msg.cmd, SL_CMD_FETCH);
    }
}

Test (proto, wrong_types_bool_enum_int_streams)
{
    sl_msg_t msg;
    //  POSITION found as int.
    pt_body_t b = {.len = 0};
    pt_b_map (&b, 6);
    pt_b_str (&b, "req"), pt_b_uint (&b, 1);
    pt_b_str (&b, "stream"), pt_b_str (&b, "s");
    pt_b_str (&b, "offset"), pt_b_uint (&b, 1);
    pt_b_str (&b, "first"), pt_b_uint (&b, 1);
    pt_b_str (&b, "next"), pt_b_uint (&b, 1);
    pt_b_str (&b, "found"), pt_b_uint (&b, 1);
    cr_assert_eq (pt_decode_raw (SL_CMD_POSITION, b.data, b.len, 0, &msg), SL_EPROTO);
    //  SEEK from as int, from unknown, value as str.
    const char *froms[] = {"\x01", "\xa6middle",
                           "\xa9"
                           "Beginning"};
    const size_t from_sizes[] = {1, 7, 10};
    for (size_t i = 0; i < 3; i++) {
        b.len = 0;
        pt_b_map (&b, 3);
        pt_b_str (&b, "req"), pt_b_uint (&b, 1);
        pt_b_str (&b, "stream"), pt_b_str (&b, "s");
        pt_b_str (&b, "from"), pt_b_raw (&b, froms[i], from_sizes[i]);
        //  A str the field does not allow is EINVAL; another type is EPROTO (§3).
        cr_assert_eq (pt_decode_raw (SL_CMD_SEEK, b.data, b.len, 0, &msg),
                      i == 0 ? SL_EPROTO : SL_EINVAL, "from %zu", i);
    }
    b.len = 0;
    pt_b_map (&b, 4);
    pt_b_str (&b, "req"), pt_b_uint (&b, 1);
    pt_b_str (&b, "stream"), pt_b_str (&b, "s");
    pt_b_str (&b, "from"), pt_b_str (&b, "offset");
    pt_b_str (&b, "value"), pt_b_str (&b, "5");
    cr_assert_eq (pt_decode_raw (SL_CMD_SEEK, b.data, b.len, 0, &msg), SL_EPROTO);
    //  STREAMS as a map; an entry that is not a map; an entry with a wrong type.
    const char *streams[] = {"\x80", "\x91\x01",
                             "\x91\x86\xa4name\x01\xa5"
                             "first\x00\xa4next\x00"
                             "\xa7records\x00\xa5"
                             "bytes\x00\xa7last_ms\x00"};
    const size_t stream_sizes[] = {1, 2, 47};
    for (size_t i = 0; i < 3; i++) {
        b.len = 0;
        pt_b_map (&b, 2);
        pt_b_str (&b, "req"), pt_b_uint (&b, 1);
        pt_b_str (&b, "streams"), pt_b_raw (&b, streams[i], stream_sizes[i]);
        cr_assert_eq (pt_decode_raw (SL_CMD_STREAMS, b.data, b.len, 0, &msg), SL_EPROTO,
                      "streams %zu", i);
        cr_assert_null (msg.streams, "nothing half-decoded survives");
    }
    //  Keys that are not str.
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, "\x81\x01\x01", 3, 0, &msg), SL_EPROTO);
    cr_assert_eq (pt_decode_raw (SL_CMD_PING, "\x81\xc4\x03req\x01", 7, 0, &msg), SL_EPROTO);
}

Test (proto, integers_too_wide_for_their_field)
{
    sl_msg_t msg;
    pt_body_t b = {.len = 0};
    //  LIVE count = 2^32.
    pt_b_map (&b, 4);
    pt_b_str (&b, "stream"), pt_b_str (&b, "s");
    pt_b_str (&b, "offset"), pt_b_uint (&b, 0);
    pt_b_str (&b, "count"), pt_b_uint (&b, 1ull << 32);
    pt_b_str (&b, "next"), pt_b_uint (&b, 1);
    cr_assert_eq (pt_decode_raw (SL_CMD_LIVE, b.data, b.len, 1, &msg), SL_ETOOBIG);
    //  ERROR code = 2^31.
    b.len = 0;
    pt_b_map (&b, 3);
    pt_b_str (&b, "req"), pt_b_uint (&b, 0);
    pt_b_str (&b, "code"), pt_b_uint (&b, 1ull << 31);
    pt_b_str (&b, "text"), pt_b_str (&b, "x");
    cr_assert_eq (pt_decode_raw (SL_CMD_ERROR, b.data, b.len, 0, &msg), SL_ETOOBIG);
    //  SEEK value = 2^63 (a uint past int64).
    b.len = 0;
    pt_b_map (&b, 4);
    pt_b_str (&b, "req"), pt_b_uint (&b, 0);
    pt_b_str (&b, "stream"), pt_b_str (&b, "s");
    pt_b_str (&b, "from"), pt_b_str (&b, "time");
    pt_b_str (&b, "value"), pt_b_uint (&b, 1ull << 63);
    cr_assert_eq (pt_decode_raw (SL_CMD_SEEK, b.data, b.len, 0, &msg), SL_ETOOBIG);
    //  And a negative value is fine for an int field.
    b.len = 0;
    pt_b_map (&b, 4);
    pt_b_str (&b, "req"), pt_b_uint (&b, 0);
    pt_b_str (&b, "stream"), pt_b_str (&b, "s");
    pt_b_str (&b, "from"), pt_b_str (&b, "time");
    pt_b_str (&b, "value"), pt_b_int (&b, INT64_MIN);
    cr_assert_eq (pt_decode_raw (SL_CMD_SEEK, b.data, b.len, 0, &msg), 0);
    cr_assert_eq (msg.value, INT64_MIN);
}

Test (proto, missing_required_fields)
{
    for (size_t c = 0; c < N_CMDS; c++) {
        pt_check_required (pt_all_cmds[c]);
    }
}

Test (proto, seek_committed_needs_reader)
{
    pt_body_t b = {.len = 0};
    pt_b_map (&b, 3);
    pt_b_str (&b, "req"), pt_b_uint (&b, 4);
    pt_b_str (&b, "stream"), pt_b_str (&b, "s");
    pt_b_str (&b, "from"), pt_b_str (&b, "committed");
    sl_msg_t msg;
    cr_assert_eq (pt_decode_raw (SL_CMD_SEEK, b.data, b.len, 0, &msg), SL_EPROTO);
    cr_assert_eq (msg.req, 4);
}

Test (proto, duplicate_keys_rejected)
{
    pt_body_t b = {.len = 0};
    pt_b_map (&b, 4);
    pt_b_str (&b, "req"), pt_b_uint (&b, 1);
    pt_b_str (&b, "stream"), pt_b_str (&b, "orders");
    pt_b_str (&b, "offset"), pt_b_uint (&b, 1);
    pt_b_str (&b, "stream"), pt_b_str (&b, "payments");
    sl_msg_t msg;
    cr_assert_eq (pt_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), SL_EPROTO);
}

Test (proto, names_and_string_lengths)
{
    char name[SL_NAME_MAX + 2];
    sl_msg_t msg;
    pt_body_t b = {.len = 0};
    //  200 bytes: fine. 201: not a name (ENAME, §3).
    pt_fill (name, SL_NAME_MAX + 1, 'a');
    pt_b_map (&b, 3);
    pt_b_str (&b, "req"), pt_b_uint (&b, 1);
    pt_b_str (&b, "stream"), pt_b_str (&b, name);
    pt_b_str (&b, "offset"), pt_b_uint (&b, 1);
    cr_assert_eq (pt_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), 0);
    cr_assert_eq (strlen (msg.stream), SL_NAME_MAX);
    pt_fill (name, SL_NAME_MAX + 2, 'a');
    b.len = 0;
    pt_b_map (&b, 3);
    pt_b_str (&b, "req"), pt_b_uint (&b, 1);
    pt_b_str (&b, "stream"), pt_b_str (&b, name);
    pt_b_str (&b, "offset"), pt_b_uint (&b, 1);
    cr_assert_eq (pt_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), SL_ENAME);
    cr_assert_eq (msg.req, 1, "req still reported");
    cr_assert_eq (msg.cmd, SL_CMD_FETCH);

    const char *bad[] = {"a b", ".dot", "", "a/b", "caf\xc3\xa9", "x\ny"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b.len = 0;
        pt_b_map (&b, 3);
        pt_b_str (&b, "req"), pt_b_uint (&b, 77);
        pt_b_str (&b, "stream"), pt_b_str (&b, bad[i]);
        pt_b_str (&b, "offset"), pt_b_uint (&b, 1);
        cr_assert_eq (pt_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), SL_ENAME, "'%s'",
                      bad[i]);
        cr_assert_eq (msg.req, 77);
    }
    //  A NUL inside a name or a text.
    b.len = 0;
    pt_b_fetch (&b, "stream",
                "\xa3"
                "a\0b",
                4);
    cr_assert_eq (pt_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), SL_ENAME);
    b.len = 0;
    pt_b_map (&b, 3);
    pt_b_str (&b, "req"), pt_b_uint (&b, 1);
    pt_b_str (&b, "code"), pt_b_uint (&b, 3);
    pt_b_str (&b, "text"), pt_b_raw (&b,
                                     "\xa3"
                                     "a\0b",
                                     4);
    cr_assert_eq (pt_decode_raw (SL_CMD_ERROR, b.data, b.len, 0, &msg), SL_EPROTO);
    //  HELLO client: 63 bytes fine, 64 too big (it is not a name: '/' allowed).
    char client[66];
    pt_fill (client, 64, '/');
    b.len = 0;
    pt_b_map (&b, 1);
    pt_b_str (&b, "client"), pt_b_str (&b, client);
    cr_assert_eq (pt_decode_raw (SL_CMD_HELLO, b.data, b.len, 0, &msg), 0);
    pt_fill (client, 65, '/');
    b.len = 0;
    pt_b_map (&b, 1);
    pt_b_str (&b, "client"), pt_b_str (&b, client);
    cr_assert_eq (pt_decode_raw (SL_CMD_HELLO, b.data, b.len, 0, &msg), SL_ETOOBIG);
}

Test (proto, req_and_seq_reported_after_failure)
{
    //  The bad field comes before req in the map: req is still found.
    pt_body_t b = {.len = 0};
    pt_b_map (&b, 3);
    pt_b_str (&b, "stream"), pt_b_str (&b, "bad name");
    pt_b_str (&b, "offset"), pt_b_uint (&b, 1);
    pt_b_str (&b, "req"), pt_b_uint (&b, 991);
    sl_msg_t msg;
    cr_assert_eq (pt_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), SL_ENAME);
    cr_assert_eq (msg.cmd, SL_CMD_FETCH);
    cr_assert_eq (msg.req, 991);
    cr_assert_str_empty (msg.stream, "no half-decoded fields");
    cr_assert_eq (msg.offset, 0);
    //  A PUBLISH is named by its seq.
    b.len = 0;
    pt_b_map (&b, 4);
    pt_b_str (&b, "stream"), pt_b_str (&b, "s");
    pt_b_str (&b, "producer"), pt_b_uint (&b, 5);
    pt_b_str (&b, "seq"), pt_b_uint (&b, 1001);
    pt_b_str (&b, "count"), pt_b_uint (&b, 1);
    cr_assert_eq (pt_decode_raw (SL_CMD_PUBLISH, b.data, b.len, 1, &msg), SL_EPROTO);
    cr_assert_eq (msg.cmd, SL_CMD_PUBLISH);
    cr_assert_eq (msg.seq, 1001);
}

Test (proto, random_mutations_never_crash)
{
    //  Deterministic: every command, 300 mutations each (byte flips, cuts,
    //  inserted length bytes). Any result is fine except a crash or leak.
    unsigned seed = 12345;
    for (size_t c = 0; c < N_CMDS; c++) {
        sl_msg_t msg;
        pt_full (&msg, pt_all_cmds[c], c % 2);
        zmsg_t *encoded = sl_msg_encode (&msg);
        zframe_t *body = zmsg_last (encoded);
        size_t size = zframe_size (body);
        uint8_t *copy = malloc (size + 8);
        for (int round = 0; round < 300; round++) {
            memcpy (copy, zframe_data (body), size);
            size_t n = size;
            int flips = 1 + rand_r (&seed) % 4;
            for (int f = 0; f < flips; f++) {
                static const uint8_t nasty[] = {0xff, 0xdf, 0xdd, 0xdb, 0xc6, 0xc1, 0x00, 0x80};
                size_t at = (size_t)rand_r (&seed) % n;
                copy[at] = rand_r (&seed) % 2 ? nasty[rand_r (&seed) % 8] : (uint8_t)rand_r (&seed);
            }
            if (rand_r (&seed) % 4 == 0) {
                n = (size_t)rand_r (&seed) % n;
            }
            uint8_t cmd = rand_r (&seed) % 8 == 0 ? (uint8_t)rand_r (&seed) : pt_all_cmds[c];
            sl_msg_t out;
            int rc = pt_decode_raw (cmd, copy, n, pt_data_frames (pt_all_cmds[c]), &out);
            cr_assert_leq (rc, 0);
            sl_msg_reset (&out);
        }
        free (copy);
        zmsg_destroy (&encoded);
        sl_msg_reset (&msg);
    }
}
