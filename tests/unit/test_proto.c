/*  test_proto.c - the protocol codec: round trips, hostile input, test vectors.

    The expectations here are written from docs/PROTOCOL.md §3 and §5, not
    from the codec's tables, so that a table mistake shows up as a failure.
    The byte vectors at the end are the ones printed in PROTOCOL.md §13.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_batch.h"
#include "sl_error.h"
#include "sl_mp.h"
#include "sl_proto.h"

//  ---------------------------------------------------------------------
//  Helpers

static zmsg_t *
s_raw (const void *header, size_t header_size, const void *body, size_t body_size, int n_data)
{
    zmsg_t *zmsg = zmsg_new ();
    cr_assert_not_null (zmsg);
    if (header) {
        zmsg_addmem (zmsg, header, header_size);
    }
    if (body) {
        zmsg_addmem (zmsg, body, body_size);
    }
    for (int i = 0; i < n_data; i++) {
        zmsg_addmem (zmsg, "data", 4);
    }
    return zmsg;
}

//  Decodes header + body bytes with n_data data frames; returns the code.
static int
s_decode_raw (uint8_t cmd, const void *body, size_t body_size, int n_data, sl_msg_t *msg)
{
    uint8_t header[4] = {0x53, 0x4C, 1, cmd};
    zmsg_t *zmsg = s_raw (header, 4, body, body_size, n_data);
    sl_msg_init (msg, SL_CMD_NONE);
    int rc = sl_msg_decode (zmsg, msg);
    zmsg_destroy (&zmsg);
    return rc;
}

static int
s_data_frames (sl_cmd_t cmd)
{
    return cmd == SL_CMD_PUBLISH || cmd == SL_CMD_WORK || cmd == SL_CMD_RESULT ? 1
           : cmd == SL_CMD_RECORDS || cmd == SL_CMD_LIVE                     ? 2
                                                                             : 0;
}

//  Encodes msg, adds its data frames, decodes into out; asserts success.
static void
s_round_trip (const sl_msg_t *msg, sl_msg_t *out)
{
    zmsg_t *zmsg = sl_msg_encode (msg);
    cr_assert_not_null (zmsg, "encode %s", sl_cmd_name (msg->cmd));
    cr_assert_eq (zmsg_size (zmsg), 2);
    zframe_t *header = zmsg_first (zmsg);
    cr_assert_eq (zframe_size (header), 4);
    const uint8_t *h = zframe_data (header);
    cr_assert (h[0] == 0x53 && h[1] == 0x4C && h[2] == 1 && h[3] == msg->cmd);
    int n_data = s_data_frames (msg->cmd);
    for (int i = 0; i < n_data; i++) {
        zmsg_addmem (zmsg, "blob", 4);
    }
    sl_msg_init (out, SL_CMD_NONE);
    int rc = sl_msg_decode (zmsg, out);
    cr_assert_eq (rc, 0, "decode %s: %s", sl_cmd_name (msg->cmd), sl_strerror (rc));
    cr_assert_eq ((int) zmsg_size (zmsg), n_data, "data frames left for the caller");
    zmsg_destroy (&zmsg);
}

//  Compares two messages field by field (streams and failed by content).
static void
s_assert_msg_eq (const sl_msg_t *a, const sl_msg_t *b)
{
    sl_msg_t x = *a;
    sl_msg_t y = *b;
    cr_assert_eq (x.n_streams, y.n_streams);
    for (uint32_t i = 0; i < x.n_streams; i++) {
        cr_assert_eq (memcmp (&x.streams[i], &y.streams[i], sizeof x.streams[i]), 0,
                      "stream %u", i);
    }
    cr_assert_eq (x.n_failed, y.n_failed);
    for (uint32_t i = 0; i < x.n_failed; i++) {
        cr_assert_eq (x.failed[i].offset, y.failed[i].offset, "failed %u", i);
        cr_assert_str_eq (x.failed[i].error, y.failed[i].error, "failed %u", i);
        cr_assert_eq (x.failed[i].final, y.failed[i].final, "failed %u", i);
    }
    x.streams = y.streams = NULL;
    x.failed = y.failed = NULL;
    //  The text arena is compared through the entries above.
    x.failed_text = y.failed_text = NULL;
    x.failed_text_len = y.failed_text_len = 0;
    x.failed_text_cap = y.failed_text_cap = 0;
    x.version = y.version = 0;
    cr_assert_eq (memcmp (&x, &y, sizeof x), 0, "%s differs after round trip",
                  sl_cmd_name (a->cmd));
}

static void
s_fill (char *out, size_t size, char c)
{
    memset (out, c, size - 1);
    out[size - 1] = 0;
}

//  Every field of cmd (per PROTOCOL.md §5.2), with values that use the
//  widest encodings when big is set.
static void
s_full (sl_msg_t *msg, sl_cmd_t cmd, bool big)
{
    sl_msg_init (msg, cmd);
    uint64_t u64 = big ? UINT64_MAX : 1234567;
    uint32_t u32 = big ? UINT32_MAX : 1000;
    if (big) {
        s_fill (msg->stream, sizeof msg->stream, 's');
    }
    else {
        strcpy (msg->stream, "orders.v2");
    }
    switch (cmd) {
    case SL_CMD_HELLO:
        msg->req = u64;
        if (big) {
            s_fill (msg->client, sizeof msg->client, 'c');
            s_fill (msg->name, sizeof msg->name, 'p');
        }
        else {
            strcpy (msg->client, "sluice-source/0.1.0");
            strcpy (msg->name, "src-1");
        }
        break;
    case SL_CMD_WELCOME:
        memset (msg->stream, 0, sizeof msg->stream);
        msg->req = u64;
        if (big) {
            s_fill (msg->broker, sizeof msg->broker, 'b');
            s_fill (msg->endpoint, sizeof msg->endpoint, 'e');
        }
        else {
            strcpy (msg->broker, "sluice-broker/0.1.0");
            strcpy (msg->endpoint, "tcp://*:7001");
        }
        msg->heartbeat_ms = u32;
        msg->max_batch_bytes = u64;
        msg->max_batch_records = u32;
        msg->max_depth = u32;
        msg->seq = u64;
        break;
    case SL_CMD_PUBLISH:
    case SL_CMD_CONFIRM:
        strcpy (msg->name, big ? "P-" : "src-1");
        msg->seq = u64;
        msg->count = u32;
        if (cmd == SL_CMD_CONFIRM) {
            msg->offset = u64;
        }
        break;
    case SL_CMD_SEEK:
        msg->req = u64;
        msg->from = SL_FROM_COMMITTED;
        msg->value = big ? INT64_MIN : -5;
        strcpy (msg->name, "reader_1");
        break;
    case SL_CMD_POSITION:
        msg->req = u64;
        msg->offset = u64;
        msg->first = u64 - 1;
        msg->next = u64;
        msg->found = true;
        break;
    case SL_CMD_FETCH:
        msg->req = u64;
        msg->offset = u64;
        msg->max_records = u32;
        msg->max_bytes = u64;
        break;
    case SL_CMD_RECORDS:
        msg->req = u64;
        msg->offset = u64;
        msg->first = 3;
        msg->next = u64;
        break;
    case SL_CMD_COMMIT:
    case SL_CMD_COMMITTED:
        msg->req = u64;
        strcpy (msg->name, "reader_1");
        msg->offset = u64;
        break;
    case SL_CMD_LIST:
        memset (msg->stream, 0, sizeof msg->stream);
        msg->req = u64;
        break;
    case SL_CMD_PING:
        //  The heartbeat's optional counters (PROTOCOL.md §15.5): stream and
        //  client stay set, as a source reports them.
        msg->req = u64;
        strcpy (msg->client, big ? "c" : "src-1");
        strcpy (msg->role, "source");
        msg->ping_records = u64;
        msg->ping_errors = u32;
        break;
    case SL_CMD_PONG:
        memset (msg->stream, 0, sizeof msg->stream);
        msg->req = u64;
        break;
    case SL_CMD_STREAMS: {
        memset (msg->stream, 0, sizeof msg->stream);
        msg->req = u64;
        for (int i = 0; i < 3; i++) {
            sl_stream_info_t info;
            memset (&info, 0, sizeof info);
            snprintf (info.name, sizeof info.name, "stream-%d", i);
            if (big && i == 2) {
                s_fill (info.name, sizeof info.name, 'n');
            }
            info.first = big ? UINT64_MAX - 10 : (uint64_t) i;
            info.next = big ? UINT64_MAX : (uint64_t) i * 10;
            info.records = big ? UINT64_MAX : 9;
            info.bytes = big ? UINT64_MAX : 4096;
            info.last_ms = big ? INT64_MIN : 1795694400000;
            cr_assert_eq (sl_msg_add_stream (msg, &info), 0);
        }
        break;
    }
    case SL_CMD_ERROR:
        //  As the answer to a PUBLISH: its stream and producer (§5.2).
        if (big) {
            s_fill (msg->name, sizeof msg->name, 'p');
        }
        else {
            strcpy (msg->name, "src-1");
        }
        msg->req = u64;
        msg->code = big ? INT32_MAX : 13;
        msg->seq = u64;
        if (big) {
            s_fill (msg->text, sizeof msg->text, 't');
        }
        else {
            strcpy (msg->text, "sequence gap: resend from the expected sequence");
        }
        break;
    case SL_CMD_LIVE:
        msg->offset = u64;
        msg->count = u32;
        msg->next = u64;
        break;
    case SL_CMD_JOIN:
    case SL_CMD_JOINED:
    case SL_CMD_WORK:
    case SL_CMD_RESULT:
    case SL_CMD_LEAVE:
        memset (msg->stream, 0, sizeof msg->stream);
        if (big) {
            s_fill (msg->group, sizeof msg->group, 'g');
        }
        else {
            strcpy (msg->group, "enrich");
        }
        if (cmd == SL_CMD_JOIN || cmd == SL_CMD_JOINED) {
            msg->req = u64;
            strcpy (msg->in, "orders");
            if (big) {
                s_fill (msg->out, sizeof msg->out, 'o');
            }
            else {
                strcpy (msg->out, "orders.enriched");
            }
        }
        if (cmd == SL_CMD_JOIN || cmd == SL_CMD_LEAVE) {
            strcpy (msg->member, big ? "M" : "host-1234");
        }
        if (cmd == SL_CMD_JOIN) {
            msg->window = u32;
            msg->batch = u32;
            msg->from = SL_FROM_END;
            msg->max_deliver = u32;
            msg->lease_ms = u32;
        }
        if (cmd == SL_CMD_JOINED || cmd == SL_CMD_WORK || cmd == SL_CMD_RESULT) {
            msg->offset = u64;
        }
        if (cmd == SL_CMD_WORK || cmd == SL_CMD_RESULT) {
            msg->lease = u64;
            msg->count = u32;
        }
        if (cmd == SL_CMD_WORK) {
            msg->attempt = u32;
        }
        if (cmd == SL_CMD_RESULT) {
            msg->out_count = u32;
            char longest[256];
            s_fill (longest, sizeof longest, 'f');
            for (int i = 0; i < 3; i++) {
                const char *text = i == 1 ? "" : big && i == 0 ? longest : "bad input";
                cr_assert_eq (sl_msg_add_failed (msg, big ? UINT64_MAX - (uint64_t) i : 7u + i,
                                                 text),
                              0);
            }
            msg->failed[2].final = true;
        }
        break;
    default:
        cr_assert_fail ("no such command");
    }
}

static const sl_cmd_t s_all_cmds[] = {
    SL_CMD_HELLO,   SL_CMD_WELCOME, SL_CMD_PUBLISH, SL_CMD_CONFIRM,   SL_CMD_SEEK, SL_CMD_POSITION,
    SL_CMD_FETCH,   SL_CMD_RECORDS, SL_CMD_COMMIT,  SL_CMD_COMMITTED, SL_CMD_LIST, SL_CMD_STREAMS,
    SL_CMD_PING,    SL_CMD_PONG,    SL_CMD_ERROR,   SL_CMD_LIVE,
};
#define N_CMDS (sizeof s_all_cmds / sizeof s_all_cmds[0])

//  Required keys per command, from PROTOCOL.md §5.2.
static const char *
s_required (sl_cmd_t cmd)
{
    switch (cmd) {
    case SL_CMD_HELLO: return "";
    case SL_CMD_WELCOME:
        return "req broker pub heartbeat_ms max_batch_bytes max_batch_records max_depth";
    case SL_CMD_PUBLISH: return "stream producer seq count";
    case SL_CMD_CONFIRM: return "stream producer seq offset count";
    case SL_CMD_SEEK: return "req stream from reader";     //  reader: from is "committed"
    case SL_CMD_POSITION: return "req stream offset first next found";
    case SL_CMD_FETCH: return "req stream offset";
    case SL_CMD_RECORDS: return "req stream offset first next";
    case SL_CMD_COMMIT:
    case SL_CMD_COMMITTED: return "req stream reader offset";
    case SL_CMD_LIST: return "req";
    case SL_CMD_STREAMS: return "req streams";
    case SL_CMD_PING: return "";
    case SL_CMD_PONG: return "req";
    case SL_CMD_ERROR: return "req code text";
    case SL_CMD_LIVE: return "stream offset count next";
    case SL_CMD_JOIN: return "req group in out member";
    case SL_CMD_JOINED: return "req group in out offset";
    case SL_CMD_WORK: return "group lease offset count attempt";
    case SL_CMD_RESULT: return "group lease offset count out_count";
    case SL_CMD_LEAVE: return "group member";
    default: return NULL;
    }
}

static bool
s_word_in (const char *words, const uint8_t *key, uint32_t len)
{
    const char *p = words;
    while (*p) {
        size_t n = strcspn (p, " ");
        if (n == len && memcmp (p, key, len) == 0) {
            return true;
        }
        p += n;
        p += *p == ' ';
    }
    return false;
}

//  Copies body without pair number skip into out (map header rewritten).
//  Returns the new size and the removed key.
static size_t
s_drop_pair (const uint8_t *body, size_t size, uint32_t skip, uint8_t *out, char *key_out)
{
    const uint8_t *p = body;
    const uint8_t *end = body + size;
    uint32_t pairs;
    cr_assert_eq (sl_mp_read_map (&p, end, &pairs), 0);
    cr_assert_lt (skip, pairs);
    size_t n = sl_mp_write_map (out, 5, pairs - 1);
    for (uint32_t i = 0; i < pairs; i++) {
        const uint8_t *start = p;
        const uint8_t *key;
        uint32_t key_len;
        cr_assert_eq (sl_mp_read_str (&p, end, &key, &key_len), 0);
        size_t used;
        cr_assert_eq (sl_mp_skip (p, (size_t) (end - p), 8, &used), 0);
        p += used;
        if (i == skip) {
            memcpy (key_out, key, key_len);
            key_out[key_len] = 0;
        }
        else {
            memcpy (out + n, start, (size_t) (p - start));
            n += (size_t) (p - start);
        }
    }
    return n;
}

//  A body builder for hostile bodies.
typedef struct {
    uint8_t data[4096];
    size_t len;
} body_t;

static void
b_raw (body_t *b, const void *data, size_t size)
{
    cr_assert_leq (b->len + size, sizeof b->data);
    if (size == 0) {
        return;
    }
    memcpy (b->data + b->len, data, size);
    b->len += size;
}

static void
b_map (body_t *b, uint32_t n)
{
    b->len += sl_mp_write_map (b->data + b->len, sizeof b->data - b->len, n);
}

static void
b_str (body_t *b, const char *s)
{
    size_t len = strlen (s);
    b->len += sl_mp_write_str_header (b->data + b->len, sizeof b->data - b->len, (uint32_t) len);
    b_raw (b, s, len);
}

static void
b_uint (body_t *b, uint64_t v)
{
    b->len += sl_mp_write_uint (b->data + b->len, sizeof b->data - b->len, v);
}

static void
b_int (body_t *b, int64_t v)
{
    b->len += sl_mp_write_int (b->data + b->len, sizeof b->data - b->len, v);
}

//  A valid FETCH body {req, stream, offset} with one key's value replaced
//  by raw bytes.
static void
b_fetch (body_t *b, const char *bad_key, const void *bad, size_t bad_size)
{
    b->len = 0;
    b_map (b, 3);
    b_str (b, "req");
    if (bad_key && strcmp (bad_key, "req") == 0) {
        b_raw (b, bad, bad_size);
    }
    else {
        b_uint (b, 7);
    }
    b_str (b, "stream");
    if (bad_key && strcmp (bad_key, "stream") == 0) {
        b_raw (b, bad, bad_size);
    }
    else {
        b_str (b, "orders");
    }
    b_str (b, "offset");
    if (bad_key && strcmp (bad_key, "offset") == 0) {
        b_raw (b, bad, bad_size);
    }
    else {
        b_uint (b, 0);
    }
}

//  ---------------------------------------------------------------------
//  Command table

Test (proto, command_names_and_codes)
{
    const char *names[] = {"HELLO",  "WELCOME", "PUBLISH", "CONFIRM", "SEEK",     "POSITION",
                           "FETCH",  "RECORDS", "COMMIT",  "COMMITTED", "LIST",   "STREAMS",
                           "PING",   "PONG",    "ERROR",   "LIVE"};
    for (size_t i = 0; i < N_CMDS; i++) {
        cr_assert_eq ((int) s_all_cmds[i], (int) i + 1, "codes are 0x01..0x10 in order");
        cr_assert_str_eq (sl_cmd_name (s_all_cmds[i]), names[i]);
    }
    cr_assert_str_eq (sl_cmd_name (SL_CMD_NONE), "UNKNOWN");
    cr_assert_str_eq (sl_cmd_name ((sl_cmd_t) 0x7F), "UNKNOWN");
    cr_assert_str_eq (sl_cmd_name ((sl_cmd_t) -1), "UNKNOWN");
}

//  ---------------------------------------------------------------------
//  Round trips

Test (proto, round_trip_every_command_every_field)
{
    for (size_t i = 0; i < N_CMDS; i++) {
        sl_msg_t msg, out;
        s_full (&msg, s_all_cmds[i], false);
        s_round_trip (&msg, &out);
        cr_assert_eq (out.version, 1);
        s_assert_msg_eq (&msg, &out);
        sl_msg_reset (&msg);
        sl_msg_reset (&out);
    }
}

Test (proto, round_trip_extreme_values)
{
    for (size_t i = 0; i < N_CMDS; i++) {
        sl_msg_t msg, out;
        s_full (&msg, s_all_cmds[i], true);
        s_round_trip (&msg, &out);
        s_assert_msg_eq (&msg, &out);
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
        msg.from = (sl_from_t) from;
        msg.value = 42;
        if (from == SL_FROM_COMMITTED) {
            strcpy (msg.name, "r");
        }
        s_round_trip (&msg, &out);
        cr_assert_eq (out.from, (sl_from_t) from);
        s_assert_msg_eq (&msg, &out);
    }
}

Test (proto, round_trip_empty_streams_and_many_streams)
{
    sl_msg_t msg, out;
    sl_msg_init (&msg, SL_CMD_STREAMS);
    msg.req = 9;
    s_round_trip (&msg, &out);
    cr_assert_eq (out.n_streams, 0);
    for (int i = 0; i < 1000; i++) {
        sl_stream_info_t info = {.first = (uint64_t) i, .next = (uint64_t) i + 1};
        snprintf (info.name, sizeof info.name, "s%d", i);
        cr_assert_eq (sl_msg_add_stream (&msg, &info), 0);
    }
    //  Decoding into a msg that already holds streams frees them first.
    s_round_trip (&msg, &out);
    cr_assert_eq (out.n_streams, 1000);
    s_assert_msg_eq (&msg, &out);
    sl_msg_reset (&msg);
    sl_msg_reset (&out);
}

Test (proto, fields_of_other_commands_are_not_sent)
{
    //  Fill every member, then encode each command: the decoded message
    //  holds only that command's fields.
    for (size_t i = 0; i < N_CMDS; i++) {
        sl_msg_t all;
        sl_msg_init (&all, s_all_cmds[i]);
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
        s_full (&want, s_all_cmds[i], false);
        s_round_trip (&all, &out);
        //  Compare against a message of the same command with only its fields set.
        sl_msg_t expect;
        sl_msg_init (&expect, s_all_cmds[i]);
        if (want.req) expect.req = 5;
        if (want.seq) expect.seq = 5;
        if (want.offset) expect.offset = 5;
        if (want.first) expect.first = 5;
        if (want.next) expect.next = 5;
        if (want.max_bytes) expect.max_bytes = 5;
        if (want.max_batch_bytes) expect.max_batch_bytes = 5;
        if (want.count) expect.count = 5;
        if (want.max_records) expect.max_records = 5;
        if (want.heartbeat_ms) expect.heartbeat_ms = 5;
        if (want.max_batch_records) expect.max_batch_records = 5;
        if (want.max_depth) expect.max_depth = 5;
        if (want.code) expect.code = 5;
        if (want.value) expect.value = 5;
        if (want.found) expect.found = true;
        if (s_all_cmds[i] == SL_CMD_SEEK) expect.from = SL_FROM_LAST;
        if (want.stream[0]) strcpy (expect.stream, "s");
        if (want.name[0]) strcpy (expect.name, "n");
        if (want.client[0]) strcpy (expect.client, "c");
        if (want.endpoint[0]) strcpy (expect.endpoint, "e");
        if (want.text[0]) strcpy (expect.text, "t");
        if (want.broker[0]) strcpy (expect.broker, "b");
        s_assert_msg_eq (&expect, &out);
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
        body_t b = {.len = 0};
        b_fetch (&b, "req", encodings[i], sizes[i]);
        sl_msg_t msg;
        cr_assert_eq (s_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), 0, "encoding %zu", i);
        cr_assert_eq (msg.req, 5);
    }
}

Test (proto, unknown_keys_ignored)
{
    body_t b = {.len = 0};
    b_map (&b, 6);
    b_str (&b, "req");
    b_uint (&b, 3);
    b_str (&b, "future");
    b_raw (&b, "\x92\x81\xa1x\x91\x01\xc0", 7);    //  [{"x": [1]}, nil]: depth 3
    b_str (&b, "stream");
    b_str (&b, "orders");
    b_str (&b, "offset");
    b_uint (&b, 10);
    b_str (&b, "found");                            //  a key of another command
    b_str (&b, "not a bool");
    b_str (&b, "");
    b_uint (&b, 1);
    sl_msg_t msg;
    cr_assert_eq (s_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), 0);
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
    sl_msg_init (&msg, (sl_cmd_t) 0x7F);
    cr_assert_null (sl_msg_encode (&msg), "unknown command");

    s_full (&msg, SL_CMD_PUBLISH, false);
    strcpy (msg.stream, "bad name");
    cr_assert_null (sl_msg_encode (&msg), "invalid stream name");
    s_full (&msg, SL_CMD_PUBLISH, false);
    msg.stream[0] = 0;
    cr_assert_null (sl_msg_encode (&msg), "required name empty");
    s_full (&msg, SL_CMD_PUBLISH, false);
    strcpy (msg.name, ".hidden");
    cr_assert_null (sl_msg_encode (&msg), "producer starting with a dot");
    s_full (&msg, SL_CMD_HELLO, false);
    strcpy (msg.name, "a/b");
    cr_assert_null (sl_msg_encode (&msg), "optional name, given and invalid");
    s_full (&msg, SL_CMD_HELLO, false);
    memset (msg.client, 'c', sizeof msg.client);
    cr_assert_null (sl_msg_encode (&msg), "unterminated string");
    s_full (&msg, SL_CMD_SEEK, false);
    msg.from = (sl_from_t) 6;
    cr_assert_null (sl_msg_encode (&msg), "from out of range");
    s_full (&msg, SL_CMD_SEEK, false);
    msg.name[0] = 0;
    cr_assert_null (sl_msg_encode (&msg), "committed without reader");
    msg.from = SL_FROM_END;
    zmsg_t *ok = sl_msg_encode (&msg);
    cr_assert_not_null (ok, "end without reader is fine");
    zmsg_destroy (&ok);

    s_full (&msg, SL_CMD_STREAMS, false);
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
    for (int i = 0; i < 6000; i++) {     //  about 1.5 MiB
        cr_assert_eq (sl_msg_add_stream (&msg, &info), 0);
    }
    cr_assert_null (sl_msg_encode (&msg));
    msg.n_streams = 3000;               //  about 0.75 MiB
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
    s_fill (long_text, sizeof long_text, 'x');
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
    s_fill (name, sizeof name, 'z');
    cr_assert_eq (sl_topic (name, out), SL_NAME_MAX + 1);
    cr_assert_eq (out[SL_NAME_MAX], 0);
}

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
        zmsg_t *zmsg = s_raw (header, size, body, 1, 0);
        sl_msg_t msg;
        sl_msg_init (&msg, SL_CMD_NONE);
        cr_assert_eq (sl_msg_decode (zmsg, &msg), SL_EPROTO, "header of %zu bytes", size);
        zmsg_destroy (&zmsg);
    }
}

Test (proto, header_without_body)
{
    const uint8_t header[4] = {0x53, 0x4C, 1, SL_CMD_PING};
    zmsg_t *zmsg = s_raw (header, 4, NULL, 0, 0);
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
        zmsg_t *zmsg = s_raw (headers[i], 4, body, 1, 0);
        sl_msg_t msg;
        sl_msg_init (&msg, SL_CMD_NONE);
        cr_assert_eq (sl_msg_decode (zmsg, &msg), SL_EPROTO);
        zmsg_destroy (&zmsg);
    }
}

Test (proto, other_version)
{
    //  {"req": 42, "stream": 1}: req is read even from a body that would not decode.
    const uint8_t body[] = {0x82, 0xa3, 'r', 'e', 'q', 0x2a,
                            0xa6, 's', 't', 'r', 'e', 'a', 'm', 0x01};
    const uint8_t versions[] = {0, 2, 0xFF};
    for (size_t i = 0; i < 3; i++) {
        const uint8_t header[4] = {0x53, 0x4C, versions[i], SL_CMD_FETCH};
        zmsg_t *zmsg = s_raw (header, 4, body, sizeof body, 0);
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
        zmsg_t *zmsg = s_raw (header, 4, body, sizeof body, 0);
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
        {false, true, false, false},
        {false, false, true, false},
        {true, true, true, true},
        {true, false, false, false},
        {true, false, false, false},
    };
    for (size_t c = 0; c < 5; c++) {
        sl_msg_t msg;
        s_full (&msg, cmds[c], false);
        zmsg_t *encoded = sl_msg_encode (&msg);
        cr_assert_not_null (encoded);
        zframe_t *header = zmsg_first (encoded);
        zframe_t *body = zmsg_next (encoded);
        for (int n = 0; n < 4; n++) {
            zmsg_t *zmsg =
                s_raw (zframe_data (header), 4, zframe_data (body), zframe_size (body), n);
            sl_msg_t out;
            sl_msg_init (&out, SL_CMD_NONE);
            int rc = sl_msg_decode (zmsg, &out);
            cr_assert_eq (rc, ok[c][n] ? 0 : SL_EPROTO, "%s with %d data frames",
                          sl_cmd_name (cmds[c]), n);
            if (rc == 0) {
                cr_assert_eq ((int) zmsg_size (zmsg), n, "data frames stay in zmsg");
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
    const char *bodies[] = {"\x90", "\x05", "\xa3" "abc", "\xc0",
                            "\xc3", "\xc4\x01x", "\xcb\0\0\0\0\0\0\0\0"};
    const size_t sizes[] = {1, 1, 4, 1, 1, 3, 9};
    for (size_t i = 0; i < 7; i++) {
        sl_msg_t msg;
        cr_assert_eq (s_decode_raw (SL_CMD_PING, bodies[i], sizes[i], 0, &msg), SL_EPROTO,
                      "body %zu", i);
    }
    sl_msg_t msg;
    cr_assert_eq (s_decode_raw (SL_CMD_PING, "", 0, 0, &msg), SL_EPROTO, "empty body");
    cr_assert_eq (s_decode_raw (SL_CMD_PING, "\xc1", 1, 0, &msg), SL_EPROTO, "reserved byte");
}

Test (proto, body_with_trailing_bytes)
{
    sl_msg_t msg;
    cr_assert_eq (s_decode_raw (SL_CMD_PING, "\x80\x80", 2, 0, &msg), SL_EPROTO);
    cr_assert_eq (s_decode_raw (SL_CMD_PING, "\x80\x00", 2, 0, &msg), SL_EPROTO);
}

Test (proto, body_truncated_at_every_position)
{
    sl_cmd_t cmds[] = {SL_CMD_WELCOME, SL_CMD_STREAMS, SL_CMD_SEEK, SL_CMD_ERROR, SL_CMD_PUBLISH};
    for (size_t c = 0; c < 5; c++) {
        sl_msg_t msg;
        s_full (&msg, cmds[c], c % 2);
        zmsg_t *encoded = sl_msg_encode (&msg);
        cr_assert_not_null (encoded);
        zframe_t *body = zmsg_last (encoded);
        size_t size = zframe_size (body);
        int n_data = s_data_frames (cmds[c]);
        for (size_t cut = 0; cut < size; cut++) {
            //  A copy of exactly cut bytes, so that ASan sees any read past it.
            uint8_t *part = malloc (cut ? cut : 1);
            memcpy (part, zframe_data (body), cut);
            sl_msg_t out;
            int rc = s_decode_raw ((uint8_t) cmds[c], part, cut, n_data, &out);
            cr_assert_eq (rc, SL_EPROTO, "%s cut at %zu of %zu: %d", sl_cmd_name (cmds[c]), cut,
                          size, rc);
            cr_assert_null (out.streams);
            free (part);
        }
        sl_msg_t out;
        cr_assert_eq (s_decode_raw ((uint8_t) cmds[c], zframe_data (body), size, n_data, &out), 0);
        sl_msg_reset (&out);
        zmsg_destroy (&encoded);
        sl_msg_reset (&msg);
    }
}

Test (proto, lying_lengths)
{
    sl_msg_t msg;
    //  A map claiming 1000 pairs with two bytes behind it.
    cr_assert_eq (s_decode_raw (SL_CMD_PING, "\xde\x03\xe8\xa0\x00", 5, 0, &msg), SL_EPROTO);
    //  A str16 key claiming 0x0100 bytes.
    cr_assert_eq (s_decode_raw (SL_CMD_PING, "\x81\xda\x01\x00req\x01", 9, 0, &msg), SL_EPROTO);
    //  stream value: str8 claiming 200 bytes, 6 present.
    body_t b = {.len = 0};
    b_fetch (&b, "stream", "\xd9\xc8orders", 8);
    cr_assert_eq (s_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), SL_EPROTO);
    //  STREAMS whose array claims 65535 entries: bounded before anything is allocated.
    body_t s = {.len = 0};
    b_map (&s, 2);
    b_str (&s, "req");
    b_uint (&s, 1);
    b_str (&s, "streams");
    b_raw (&s, "\xdc\xff\xff\x80\x80", 5);
    cr_assert_eq (s_decode_raw (SL_CMD_STREAMS, s.data, s.len, 0, &msg), SL_EPROTO);
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
    cr_assert_eq (s_decode_raw (SL_CMD_FETCH, str, 13, 0, &msg), SL_EPROTO);
    cr_assert_eq (s_decode_raw (SL_CMD_PING, map, 13, 0, &msg), SL_EPROTO);
    cr_assert_eq (s_decode_raw (SL_CMD_STREAMS, arr, 13, 0, &msg), SL_EPROTO);
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
    uint32_t n = (uint32_t) (size - 8);
    big[4] = (uint8_t) (n >> 24);
    big[5] = (uint8_t) (n >> 16);
    big[6] = (uint8_t) (n >> 8);
    big[7] = (uint8_t) n;
    sl_msg_t msg;
    cr_assert_eq (s_decode_raw (SL_CMD_PING, big, size, 0, &msg), SL_ETOOBIG);
    cr_assert_eq (msg.cmd, SL_CMD_PING);
    //  One byte less fits.
    n--;
    big[7] = (uint8_t) n;
    cr_assert_eq (s_decode_raw (SL_CMD_PING, big, size - 1, 0, &msg), 0);
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
    cr_assert_eq (s_decode_raw (SL_CMD_PING, body, n, 0, &msg), SL_EPROTO);
    //  The same nesting as the whole body.
    memset (body, 0x81, depth);
    cr_assert_eq (s_decode_raw (SL_CMD_PING, body, depth, 0, &msg), SL_EPROTO);
    //  Nesting inside an unknown key beyond the body bound (4 containers,
    //  the body map included) is refused...
    const uint8_t deep5[] = {0x81, 0xa1, 'x', 0x91, 0x91, 0x91, 0x90};
    cr_assert_eq (s_decode_raw (SL_CMD_PING, deep5, sizeof deep5, 0, &msg), SL_EPROTO);
    //  ...and within it accepted.
    const uint8_t deep4[] = {0x81, 0xa1, 'x', 0x91, 0x91, 0x90};
    cr_assert_eq (s_decode_raw (SL_CMD_PING, deep4, sizeof deep4, 0, &msg), 0);
    free (body);
}

Test (proto, wrong_types)
{
    struct {
        const char *key;
        const char *bytes;
        size_t size;
    } cases[] = {
        {"req", "\xa1" "7", 2},         //  str for uint
        {"req", "\xff", 1},             //  -1 for uint
        {"req", "\xd3\x80\0\0\0\0\0\0\0", 9},
        {"req", "\xc0", 1},             //  nil
        {"req", "\xc3", 1},             //  bool
        {"req", "\xcb\x3f\xf0\0\0\0\0\0\0", 9},   //  float 1.0
        {"stream", "\x07", 1},          //  int for str
        {"stream", "\xc4\x01o", 3},     //  bin for str
        {"stream", "\x91\xa1o", 3},     //  array for str
        {"stream", "\x81\xa1o\x01", 4}, //  map for str
        {"offset", "\xa1" "0", 2},
        {"offset", "\xc2", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        body_t b = {.len = 0};
        b_fetch (&b, cases[i].key, cases[i].bytes, cases[i].size);
        sl_msg_t msg;
        cr_assert_eq (s_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), SL_EPROTO, "case %zu",
                      i);
        cr_assert_eq (msg.cmd, SL_CMD_FETCH);
    }
}

Test (proto, wrong_types_bool_enum_int_streams)
{
    sl_msg_t msg;
    //  POSITION found as int.
    body_t b = {.len = 0};
    b_map (&b, 6);
    b_str (&b, "req"), b_uint (&b, 1);
    b_str (&b, "stream"), b_str (&b, "s");
    b_str (&b, "offset"), b_uint (&b, 1);
    b_str (&b, "first"), b_uint (&b, 1);
    b_str (&b, "next"), b_uint (&b, 1);
    b_str (&b, "found"), b_uint (&b, 1);
    cr_assert_eq (s_decode_raw (SL_CMD_POSITION, b.data, b.len, 0, &msg), SL_EPROTO);
    //  SEEK from as int, from unknown, value as str.
    const char *froms[] = {"\x01", "\xa6middle", "\xa9" "Beginning"};
    const size_t from_sizes[] = {1, 7, 10};
    for (size_t i = 0; i < 3; i++) {
        b.len = 0;
        b_map (&b, 3);
        b_str (&b, "req"), b_uint (&b, 1);
        b_str (&b, "stream"), b_str (&b, "s");
        b_str (&b, "from"), b_raw (&b, froms[i], from_sizes[i]);
        //  A str the field does not allow is EINVAL; another type is EPROTO (§3).
        cr_assert_eq (s_decode_raw (SL_CMD_SEEK, b.data, b.len, 0, &msg),
                      i == 0 ? SL_EPROTO : SL_EINVAL, "from %zu", i);
    }
    b.len = 0;
    b_map (&b, 4);
    b_str (&b, "req"), b_uint (&b, 1);
    b_str (&b, "stream"), b_str (&b, "s");
    b_str (&b, "from"), b_str (&b, "offset");
    b_str (&b, "value"), b_str (&b, "5");
    cr_assert_eq (s_decode_raw (SL_CMD_SEEK, b.data, b.len, 0, &msg), SL_EPROTO);
    //  STREAMS as a map; an entry that is not a map; an entry with a wrong type.
    const char *streams[] = {"\x80", "\x91\x01", "\x91\x86\xa4name\x01\xa5" "first\x00\xa4next\x00"
                             "\xa7records\x00\xa5" "bytes\x00\xa7last_ms\x00"};
    const size_t stream_sizes[] = {1, 2, 47};
    for (size_t i = 0; i < 3; i++) {
        b.len = 0;
        b_map (&b, 2);
        b_str (&b, "req"), b_uint (&b, 1);
        b_str (&b, "streams"), b_raw (&b, streams[i], stream_sizes[i]);
        cr_assert_eq (s_decode_raw (SL_CMD_STREAMS, b.data, b.len, 0, &msg), SL_EPROTO,
                      "streams %zu", i);
        cr_assert_null (msg.streams, "nothing half-decoded survives");
    }
    //  Keys that are not str.
    cr_assert_eq (s_decode_raw (SL_CMD_PING, "\x81\x01\x01", 3, 0, &msg), SL_EPROTO);
    cr_assert_eq (s_decode_raw (SL_CMD_PING, "\x81\xc4\x03req\x01", 7, 0, &msg), SL_EPROTO);
}

Test (proto, integers_too_wide_for_their_field)
{
    sl_msg_t msg;
    body_t b = {.len = 0};
    //  LIVE count = 2^32.
    b_map (&b, 4);
    b_str (&b, "stream"), b_str (&b, "s");
    b_str (&b, "offset"), b_uint (&b, 0);
    b_str (&b, "count"), b_uint (&b, 1ull << 32);
    b_str (&b, "next"), b_uint (&b, 1);
    cr_assert_eq (s_decode_raw (SL_CMD_LIVE, b.data, b.len, 1, &msg), SL_ETOOBIG);
    //  ERROR code = 2^31.
    b.len = 0;
    b_map (&b, 3);
    b_str (&b, "req"), b_uint (&b, 0);
    b_str (&b, "code"), b_uint (&b, 1ull << 31);
    b_str (&b, "text"), b_str (&b, "x");
    cr_assert_eq (s_decode_raw (SL_CMD_ERROR, b.data, b.len, 0, &msg), SL_ETOOBIG);
    //  SEEK value = 2^63 (a uint past int64).
    b.len = 0;
    b_map (&b, 4);
    b_str (&b, "req"), b_uint (&b, 0);
    b_str (&b, "stream"), b_str (&b, "s");
    b_str (&b, "from"), b_str (&b, "time");
    b_str (&b, "value"), b_uint (&b, 1ull << 63);
    cr_assert_eq (s_decode_raw (SL_CMD_SEEK, b.data, b.len, 0, &msg), SL_ETOOBIG);
    //  And a negative value is fine for an int field.
    b.len = 0;
    b_map (&b, 4);
    b_str (&b, "req"), b_uint (&b, 0);
    b_str (&b, "stream"), b_str (&b, "s");
    b_str (&b, "from"), b_str (&b, "time");
    b_str (&b, "value"), b_int (&b, INT64_MIN);
    cr_assert_eq (s_decode_raw (SL_CMD_SEEK, b.data, b.len, 0, &msg), 0);
    cr_assert_eq (msg.value, INT64_MIN);
}

Test (proto, missing_required_fields)
{
    //  Drop each key of each full message in turn: required -> EPROTO, else fine.
    for (size_t c = 0; c < N_CMDS; c++) {
        sl_cmd_t cmd = s_all_cmds[c];
        sl_msg_t msg;
        s_full (&msg, cmd, false);
        zmsg_t *encoded = sl_msg_encode (&msg);
        cr_assert_not_null (encoded);
        zframe_t *body = zmsg_last (encoded);
        const uint8_t *p = zframe_data (body);
        uint32_t pairs;
        cr_assert_eq (sl_mp_read_map (&p, p + zframe_size (body), &pairs), 0);
        int required_seen = 0;
        for (uint32_t i = 0; i < pairs; i++) {
            uint8_t out[4096];
            char key[64];
            size_t n = s_drop_pair (zframe_data (body), zframe_size (body), i, out, key);
            sl_msg_t dec;
            int rc = s_decode_raw ((uint8_t) cmd, out, n, s_data_frames (cmd), &dec);
            bool required = s_word_in (s_required (cmd), (const uint8_t *) key,
                                       (uint32_t) strlen (key));
            required_seen += required;
            cr_assert_eq (rc, required ? SL_EPROTO : 0, "%s without %s: %d", sl_cmd_name (cmd),
                          key, rc);
            sl_msg_reset (&dec);
        }
        //  Every key the spec requires was in the encoded message.
        const char *req = s_required (cmd);
        int n_required = 0;
        for (const char *q = req; *q; q++) {
            n_required += (q == req || q[-1] == ' ');
        }
        cr_assert_eq (required_seen, n_required, "%s", sl_cmd_name (cmd));
        zmsg_destroy (&encoded);
        sl_msg_reset (&msg);
    }
}

Test (proto, seek_committed_needs_reader)
{
    body_t b = {.len = 0};
    b_map (&b, 3);
    b_str (&b, "req"), b_uint (&b, 4);
    b_str (&b, "stream"), b_str (&b, "s");
    b_str (&b, "from"), b_str (&b, "committed");
    sl_msg_t msg;
    cr_assert_eq (s_decode_raw (SL_CMD_SEEK, b.data, b.len, 0, &msg), SL_EPROTO);
    cr_assert_eq (msg.req, 4);
}

Test (proto, duplicate_keys_rejected)
{
    body_t b = {.len = 0};
    b_map (&b, 4);
    b_str (&b, "req"), b_uint (&b, 1);
    b_str (&b, "stream"), b_str (&b, "orders");
    b_str (&b, "offset"), b_uint (&b, 1);
    b_str (&b, "stream"), b_str (&b, "payments");
    sl_msg_t msg;
    cr_assert_eq (s_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), SL_EPROTO);
}

Test (proto, names_and_string_lengths)
{
    char name[SL_NAME_MAX + 2];
    sl_msg_t msg;
    body_t b = {.len = 0};
    //  200 bytes: fine. 201: not a name (ENAME, §3).
    s_fill (name, SL_NAME_MAX + 1, 'a');
    b_map (&b, 3);
    b_str (&b, "req"), b_uint (&b, 1);
    b_str (&b, "stream"), b_str (&b, name);
    b_str (&b, "offset"), b_uint (&b, 1);
    cr_assert_eq (s_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), 0);
    cr_assert_eq (strlen (msg.stream), SL_NAME_MAX);
    s_fill (name, SL_NAME_MAX + 2, 'a');
    b.len = 0;
    b_map (&b, 3);
    b_str (&b, "req"), b_uint (&b, 1);
    b_str (&b, "stream"), b_str (&b, name);
    b_str (&b, "offset"), b_uint (&b, 1);
    cr_assert_eq (s_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), SL_ENAME);
    cr_assert_eq (msg.req, 1, "req still reported");
    cr_assert_eq (msg.cmd, SL_CMD_FETCH);

    const char *bad[] = {"a b", ".dot", "", "a/b", "caf\xc3\xa9", "x\ny"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b.len = 0;
        b_map (&b, 3);
        b_str (&b, "req"), b_uint (&b, 77);
        b_str (&b, "stream"), b_str (&b, bad[i]);
        b_str (&b, "offset"), b_uint (&b, 1);
        cr_assert_eq (s_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), SL_ENAME, "'%s'",
                      bad[i]);
        cr_assert_eq (msg.req, 77);
    }
    //  A NUL inside a name or a text.
    b.len = 0;
    b_fetch (&b, "stream", "\xa3" "a\0b", 4);
    cr_assert_eq (s_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), SL_ENAME);
    b.len = 0;
    b_map (&b, 3);
    b_str (&b, "req"), b_uint (&b, 1);
    b_str (&b, "code"), b_uint (&b, 3);
    b_str (&b, "text"), b_raw (&b, "\xa3" "a\0b", 4);
    cr_assert_eq (s_decode_raw (SL_CMD_ERROR, b.data, b.len, 0, &msg), SL_EPROTO);
    //  HELLO client: 63 bytes fine, 64 too big (it is not a name: '/' allowed).
    char client[66];
    s_fill (client, 64, '/');
    b.len = 0;
    b_map (&b, 1);
    b_str (&b, "client"), b_str (&b, client);
    cr_assert_eq (s_decode_raw (SL_CMD_HELLO, b.data, b.len, 0, &msg), 0);
    s_fill (client, 65, '/');
    b.len = 0;
    b_map (&b, 1);
    b_str (&b, "client"), b_str (&b, client);
    cr_assert_eq (s_decode_raw (SL_CMD_HELLO, b.data, b.len, 0, &msg), SL_ETOOBIG);
}

Test (proto, req_and_seq_reported_after_failure)
{
    //  The bad field comes before req in the map: req is still found.
    body_t b = {.len = 0};
    b_map (&b, 3);
    b_str (&b, "stream"), b_str (&b, "bad name");
    b_str (&b, "offset"), b_uint (&b, 1);
    b_str (&b, "req"), b_uint (&b, 991);
    sl_msg_t msg;
    cr_assert_eq (s_decode_raw (SL_CMD_FETCH, b.data, b.len, 0, &msg), SL_ENAME);
    cr_assert_eq (msg.cmd, SL_CMD_FETCH);
    cr_assert_eq (msg.req, 991);
    cr_assert_str_empty (msg.stream, "no half-decoded fields");
    cr_assert_eq (msg.offset, 0);
    //  A PUBLISH is named by its seq.
    b.len = 0;
    b_map (&b, 4);
    b_str (&b, "stream"), b_str (&b, "s");
    b_str (&b, "producer"), b_uint (&b, 5);
    b_str (&b, "seq"), b_uint (&b, 1001);
    b_str (&b, "count"), b_uint (&b, 1);
    cr_assert_eq (s_decode_raw (SL_CMD_PUBLISH, b.data, b.len, 1, &msg), SL_EPROTO);
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
        s_full (&msg, s_all_cmds[c], c % 2);
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
                size_t at = (size_t) rand_r (&seed) % n;
                copy[at] = rand_r (&seed) % 2 ? nasty[rand_r (&seed) % 8]
                                             : (uint8_t) rand_r (&seed);
            }
            if (rand_r (&seed) % 4 == 0) {
                n = (size_t) rand_r (&seed) % n;
            }
            uint8_t cmd = rand_r (&seed) % 8 == 0 ? (uint8_t) rand_r (&seed) : s_all_cmds[c];
            sl_msg_t out;
            int rc = s_decode_raw (cmd, copy, n, s_data_frames (s_all_cmds[c]), &out);
            cr_assert_leq (rc, 0);
            sl_msg_reset (&out);
        }
        free (copy);
        zmsg_destroy (&encoded);
        sl_msg_reset (&msg);
    }
}

//  ---------------------------------------------------------------------
//  Test vectors: the examples of PROTOCOL.md §13, byte for byte.

typedef struct {
    const char *name;
    sl_msg_t msg;
    const char *header;     //  hex
    const char *body;       //  hex
} vector_t;

static char *
s_hex (const uint8_t *data, size_t size)
{
    char *hex = malloc (size * 2 + 1);
    for (size_t i = 0; i < size; i++) {
        snprintf (hex + 2 * i, 3, "%02x", data[i]);
    }
    hex[size * 2] = 0;
    return hex;
}

//  Encodes msg and compares with the documented hex; decodes the
//  documented bytes back and compares with msg.
static void
s_check_vector (const sl_msg_t *msg, const char *header_hex, const char *body_hex)
{
    zmsg_t *zmsg = sl_msg_encode (msg);
    cr_assert_not_null (zmsg, "%s", sl_cmd_name (msg->cmd));
    char *h = s_hex (zframe_data (zmsg_first (zmsg)), 4);
    char *b = s_hex (zframe_data (zmsg_last (zmsg)), zframe_size (zmsg_last (zmsg)));
    cr_assert_str_eq (h, header_hex, "%s header", sl_cmd_name (msg->cmd));
    cr_assert_str_eq (b, body_hex, "%s body: codec gives\n%s", sl_cmd_name (msg->cmd), b);
    free (h);
    free (b);
    for (int i = 0; i < s_data_frames (msg->cmd) && msg->cmd != SL_CMD_RECORDS; i++) {
        zmsg_addmem (zmsg, "x", 1);
    }
    sl_msg_t out;
    sl_msg_init (&out, SL_CMD_NONE);
    cr_assert_eq (sl_msg_decode (zmsg, &out), 0);
    s_assert_msg_eq (msg, &out);
    sl_msg_reset (&out);
    zmsg_destroy (&zmsg);
}

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
        sl_stream_info_t info = {.first = 0, .next = 42, .records = 42, .bytes = 2048,
                                 .last_ms = 1795694400000};
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
    sl_batch_header_t header = {.version = 1, .count = 2, .base_offset = 40,
                                .append_ms = 1795694400005};
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
    const char *data;       //  NULL when the command has no data frame
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
    {SL_CMD_LIST, "534c010b",
     "81a372657105",
     NULL},
    {SL_CMD_STREAMS, "534c010c",
     "82a372657105a773747265616d739186a46e616d65a66f7264657273a5666972"
     "737400a46e6578742aa77265636f7264732aa56279746573cd0800a76c617374"
     "5f6d73cf000001a217ba1200",
     NULL},
    {SL_CMD_PING, "534c010d",
     "81a372657106",
     NULL},
    {SL_CMD_PONG, "534c010e",
     "81a372657106",
     NULL},
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
#define S_BATCH_HEX "94cf000001a217ba1200a26b31c081a16e0194cf000001a217ba1201c0c0a26869"

//  Hex of a documented frame or of a buffer, for comparison.
static char *
s_buf_hex (const sl_buf_t *buf)
{
    return s_hex (buf->data, buf->len);
}

static zframe_t *
s_unhex (const char *hex)
{
    size_t size = strlen (hex) / 2;
    zframe_t *frame = zframe_new (NULL, size);
    for (size_t i = 0; i < size; i++) {
        unsigned byte;
        cr_assert_eq (sscanf (hex + 2 * i, "%2x", &byte), 1);
        zframe_data (frame)[i] = (uint8_t) byte;
    }
    return frame;
}

Test (proto, vectors_encode_and_decode)
{
    cr_assert_eq (sizeof s_vectors / sizeof s_vectors[0], N_CMDS, "one example per command");
    for (size_t i = 0; i < N_CMDS; i++) {
        sl_msg_t msg;
        s_example (&msg, s_vectors[i].cmd);
        cr_assert_eq (s_vectors[i].cmd, s_all_cmds[i]);
        s_check_vector (&msg, s_vectors[i].header, s_vectors[i].body);

        //  The documented frames decode to the example, data frames included.
        zmsg_t *zmsg = zmsg_new ();
        zframe_t *header = s_unhex (s_vectors[i].header);
        zframe_t *body = s_unhex (s_vectors[i].body);
        zmsg_append (zmsg, &header);
        zmsg_append (zmsg, &body);
        size_t n_data = 0;
        if (s_vectors[i].data) {
            zframe_t *data = s_unhex (s_vectors[i].data);
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
        s_assert_msg_eq (&msg, &out);
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
    char *batch_hex = s_buf_hex (&batch);
    char *blob_hex = s_buf_hex (&blob);
    cr_assert_str_eq (batch_hex, S_BATCH_HEX);
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

//  Finds docs/PROTOCOL.md: $SLUICE_SOURCE_ROOT, else from this file's
//  compiled path (relative to the build directory, where meson runs tests).
static FILE *
s_open_protocol_md (void)
{
    char path[4096];
    const char *root = getenv ("SLUICE_SOURCE_ROOT");
    if (root) {
        snprintf (path, sizeof path, "%s/docs/PROTOCOL.md", root);
        return fopen (path, "r");
    }
    const char *self = __FILE__;
    const char *tail = strstr (self, "tests/unit/test_proto.c");
    cr_assert_not_null (tail);
    snprintf (path, sizeof path, "%.*sdocs/PROTOCOL.md", (int) (tail - self), self);
    FILE *file = fopen (path, "r");
    if (!file) {
        //  Run from the source root rather than the build directory.
        file = fopen ("docs/PROTOCOL.md", "r");
    }
    return file;
}

//  Collects the hex of the labelled frames of §13's examples into
//  doc[cmd][label], labels: 0 topic, 1 header, 2 body, 3 data.
static void
s_read_examples (char doc[SL_CMD_LEAVE + 1][4][4096])
{
    FILE *file = s_open_protocol_md ();
    cr_assert_not_null (file, "docs/PROTOCOL.md not found: set SLUICE_SOURCE_ROOT");
    static const char *labels[] = {"topic", "header", "body", "data"};
    char line[1024];
    bool in_examples = false;
    int cmd = -1;
    int label = -1;
    while (fgets (line, sizeof line, file)) {
        if (strncmp (line, "## ", 3) == 0) {
            in_examples = strncmp (line, "## 13. Examples", 15) == 0;
            continue;
        }
        if (!in_examples) {
            continue;
        }
        if (strncmp (line, "### ", 4) == 0) {
            cmd = -1;
            label = -1;
            char name[32];
            if (sscanf (line, "### 13.%*d %31s", name) == 1) {
                //  Every command, the group commands of §14 included.
                for (int c = 1; c <= (int) SL_CMD_LEAVE; c++) {
                    if (strcmp (name, sl_cmd_name ((sl_cmd_t) c)) == 0) {
                        cmd = c;
                    }
                }
                cr_assert_neq (cmd, -1, "unknown example heading %s", line);
            }
            continue;
        }
        if (cmd < 0) {
            continue;
        }
        const char *p = line;
        if (line[0] != ' ') {
            label = -1;
            for (int l = 0; l < 4; l++) {
                size_t n = strlen (labels[l]);
                if (strncmp (line, labels[l], n) == 0 && line[n] == ' ') {
                    label = l;
                    p = line + n;
                }
            }
        }
        if (label < 0) {
            continue;
        }
        //  Hex byte pairs separated by spaces.
        char *out = doc[cmd][label];
        unsigned byte;
        int used;
        while (sscanf (p, " %2x%n", &byte, &used) == 1) {
            size_t len = strlen (out);
            cr_assert_lt (len + 3, 4096);
            snprintf (out + len, 3, "%02x", byte);
            p += used;
        }
    }
    fclose (file);
}

Test (proto, vectors_match_protocol_md)
{
    static char doc[SL_CMD_LEAVE + 1][4][4096];
    s_read_examples (doc);
    for (size_t i = 0; i < N_CMDS; i++) {
        const char *name = sl_cmd_name (s_vectors[i].cmd);
        char (*ex)[4096] = doc[s_vectors[i].cmd];
        cr_assert_str_eq (ex[1], s_vectors[i].header, "§13 %s header", name);
        cr_assert_str_eq (ex[2], s_vectors[i].body, "§13 %s body", name);
        cr_assert_str_eq (ex[3], s_vectors[i].data ? s_vectors[i].data : "", "§13 %s data",
                          name);
        if (s_vectors[i].cmd == SL_CMD_LIVE) {
            uint8_t topic[SL_NAME_MAX + 2];
            size_t n = sl_topic ("orders", topic);
            char *hex = s_hex (topic, n);
            cr_assert_str_eq (ex[0], hex, "§13 LIVE topic");
            free (hex);
        }
        else {
            cr_assert_str_empty (ex[0]);
        }
    }
}

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
        cr_assert_eq ((int) s_group_cmds[i], 0x11 + (int) i);
        cr_assert_str_eq (sl_cmd_name (s_group_cmds[i]), names[i]);
    }
}

Test (proto, group_round_trips)
{
    for (size_t i = 0; i < N_GROUP_CMDS; i++) {
        for (int big = 0; big < 2; big++) {
            sl_msg_t msg, out;
            s_full (&msg, s_group_cmds[i], big);
            s_round_trip (&msg, &out);
            s_assert_msg_eq (&msg, &out);
            sl_msg_reset (&msg);
            sl_msg_reset (&out);
        }
    }
}

Test (proto, group_missing_required_fields)
{
    for (size_t c = 0; c < N_GROUP_CMDS; c++) {
        sl_cmd_t cmd = s_group_cmds[c];
        sl_msg_t msg;
        s_full (&msg, cmd, false);
        zmsg_t *encoded = sl_msg_encode (&msg);
        cr_assert_not_null (encoded);
        zframe_t *body = zmsg_last (encoded);
        const uint8_t *p = zframe_data (body);
        uint32_t pairs;
        cr_assert_eq (sl_mp_read_map (&p, p + zframe_size (body), &pairs), 0);
        int required_seen = 0;
        for (uint32_t i = 0; i < pairs; i++) {
            uint8_t out[4096];
            char key[64];
            size_t n = s_drop_pair (zframe_data (body), zframe_size (body), i, out, key);
            sl_msg_t dec;
            int rc = s_decode_raw ((uint8_t) cmd, out, n, s_data_frames (cmd), &dec);
            bool required = s_word_in (s_required (cmd), (const uint8_t *) key,
                                       (uint32_t) strlen (key));
            required_seen += required;
            cr_assert_eq (rc, required ? SL_EPROTO : 0, "%s without %s: %d", sl_cmd_name (cmd),
                          key, rc);
            sl_msg_reset (&dec);
        }
        const char *req = s_required (cmd);
        int n_required = 0;
        for (const char *q = req; *q; q++) {
            n_required += (q == req || q[-1] == ' ');
        }
        cr_assert_eq (required_seen, n_required, "%s", sl_cmd_name (cmd));
        zmsg_destroy (&encoded);
        sl_msg_reset (&msg);
    }
}

Test (proto, group_data_frames)
{
    sl_msg_t msg;
    s_full (&msg, SL_CMD_RESULT, false);
    body_t b = {.len = 0};
    zmsg_t *zmsg = sl_msg_encode (&msg);
    zframe_t *body = zmsg_last (zmsg);
    memcpy (b.data, zframe_data (body), zframe_size (body));
    b.len = zframe_size (body);
    zmsg_destroy (&zmsg);
    sl_msg_t out;
    cr_assert_eq (s_decode_raw (SL_CMD_RESULT, b.data, b.len, 0, &out), SL_EPROTO);
    cr_assert_eq (s_decode_raw (SL_CMD_RESULT, b.data, b.len, 2, &out), SL_EPROTO);
    cr_assert_eq (s_decode_raw (SL_CMD_RESULT, b.data, b.len, 1, &out), 0);
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
    s_round_trip (&all, &out);
    sl_msg_t expect;
    sl_msg_init (&expect, SL_CMD_LEAVE);
    strcpy (expect.group, "g");
    strcpy (expect.member, "m");
    s_assert_msg_eq (&expect, &out);
    sl_msg_reset (&out);
    sl_msg_reset (&all);
}

Test (proto, join_from_is_beginning_or_end)
{
    sl_msg_t msg;
    s_full (&msg, SL_CMD_JOIN, false);
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
        body_t b = {.len = 0};
        b_map (&b, 6);
        b_str (&b, "req"), b_uint (&b, 1);
        b_str (&b, "group"), b_str (&b, "g");
        b_str (&b, "in"), b_str (&b, "a");
        b_str (&b, "out"), b_str (&b, "b");
        b_str (&b, "member"), b_str (&b, "m");
        b_str (&b, "from"), b_str (&b, bad[i]);
        sl_msg_t out;
        cr_assert_eq (s_decode_raw (SL_CMD_JOIN, b.data, b.len, 0, &out), SL_EINVAL, "%s",
                      bad[i]);
        cr_assert_eq (out.req, 1);
    }
    body_t b = {.len = 0};
    b_map (&b, 6);
    b_str (&b, "req"), b_uint (&b, 1);
    b_str (&b, "group"), b_str (&b, "g");
    b_str (&b, "in"), b_str (&b, "a");
    b_str (&b, "out"), b_str (&b, "b");
    b_str (&b, "member"), b_str (&b, "m");
    b_str (&b, "from"), b_str (&b, "end");
    sl_msg_t out;
    cr_assert_eq (s_decode_raw (SL_CMD_JOIN, b.data, b.len, 0, &out), 0);
    cr_assert_eq (out.from, SL_FROM_END);
    cr_assert_eq (out.window, 0, "absent optional reads as 0");
    sl_msg_reset (&msg);
}

Test (proto, group_names_checked)
{
    sl_msg_t msg;
    s_full (&msg, SL_CMD_LEAVE, false);
    strcpy (msg.member, "bad name");
    cr_assert_null (sl_msg_encode (&msg));
    body_t b = {.len = 0};
    b_map (&b, 2);
    b_str (&b, "group"), b_str (&b, ".hidden");
    b_str (&b, "member"), b_str (&b, "m");
    sl_msg_t out;
    cr_assert_eq (s_decode_raw (SL_CMD_LEAVE, b.data, b.len, 0, &out), SL_ENAME);
    sl_msg_reset (&msg);
}

//  A RESULT body with "failed" given as raw bytes.
static void
b_result (body_t *b, const void *failed, size_t size)
{
    b->len = 0;
    b_map (b, 6);
    b_str (b, "group"), b_str (b, "g");
    b_str (b, "lease"), b_uint (b, 3);
    b_str (b, "offset"), b_uint (b, 10);
    b_str (b, "count"), b_uint (b, 2);
    b_str (b, "out_count"), b_uint (b, 0);
    b_str (b, "failed");
    b_raw (b, failed, size);
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
        body_t b;
        b_result (&b, cases[i].bytes, cases[i].size);
        sl_msg_t msg;
        int rc = s_decode_raw (SL_CMD_RESULT, b.data, b.len, 1, &msg);
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
        entry[4] = (uint8_t) (len >> 8);
        entry[5] = (uint8_t) len;
        memset (entry + 6, 'e', len);
        body_t b;
        b_result (&b, entry, 6 + len);
        sl_msg_t msg;
        int rc = s_decode_raw (SL_CMD_RESULT, b.data, b.len, 1, &msg);
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
        size_t size = 5 + (size_t) n * 3 + 64;
        uint8_t *body = malloc (size);
        size_t len = 0;
        len += sl_mp_write_map (body + len, size - len, 6);
        static const char *keys[] = {"group", "lease", "offset", "count", "out_count"};
        for (int k = 0; k < 5; k++) {
            len += sl_mp_write_str_header (body + len, size - len, (uint32_t) strlen (keys[k]));
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
        int rc = s_decode_raw (SL_CMD_RESULT, body, len, 1, &msg);
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
        s_full (&msg, s_group_cmds[c], true);
        zmsg_t *zmsg = sl_msg_encode (&msg);
        cr_assert_not_null (zmsg);
        zframe_t *body = zmsg_last (zmsg);
        for (size_t n = 0; n < zframe_size (body); n++) {
            sl_msg_t out;
            int rc = s_decode_raw ((uint8_t) s_group_cmds[c], zframe_data (body), n,
                                   s_data_frames (s_group_cmds[c]), &out);
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
//  change. WORK's data frame is the §13 example batch (S_BATCH_HEX);
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
        s_check_vector (&msg, s_group_vectors[i].header, s_group_vectors[i].body);
        zmsg_t *zmsg = zmsg_new ();
        zframe_t *header = s_unhex (s_group_vectors[i].header);
        zframe_t *body = s_unhex (s_group_vectors[i].body);
        zmsg_append (zmsg, &header);
        zmsg_append (zmsg, &body);
        const char *data = msg.cmd == SL_CMD_WORK     ? S_BATCH_HEX
                           : msg.cmd == SL_CMD_RESULT ? S_RESULT_DATA_HEX
                                                      : NULL;
        if (data) {
            zframe_t *frame = s_unhex (data);
            zmsg_append (zmsg, &frame);
        }
        sl_msg_t out;
        sl_msg_init (&out, SL_CMD_NONE);
        cr_assert_eq (sl_msg_decode (zmsg, &out), 0, "%s", sl_cmd_name (msg.cmd));
        s_assert_msg_eq (&msg, &out);
        cr_assert_eq (zmsg_size (zmsg), data ? 1u : 0u);
        if (data) {
            //  The data frame holds count (WORK) or out_count (RESULT) records.
            zframe_t *frame = zmsg_first (zmsg);
            uint32_t n = msg.cmd == SL_CMD_WORK ? msg.count : msg.out_count;
            cr_assert_eq (sl_batch_validate (zframe_data (frame), zframe_size (frame), n,
                                             SL_MP_MAX_DEPTH),
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
    char *hex = s_buf_hex (&out);
    cr_assert_str_eq (hex, S_RESULT_DATA_HEX, "result data: %s", hex);
    free (hex);
    sl_buf_free (&out);
}

Test (proto, group_vectors_match_protocol_md)
{
    //  §13 prints the group commands' examples too (13.17-13.21), with
    //  WORK's and RESULT's data frames: the same bytes as the vectors above.
    static char doc[SL_CMD_LEAVE + 1][4][4096];
    s_read_examples (doc);
    for (size_t i = 0; i < N_GROUP_CMDS; i++) {
        const char *name = sl_cmd_name (s_group_vectors[i].cmd);
        char (*ex)[4096] = doc[s_group_vectors[i].cmd];
        cr_assert_str_eq (ex[1], s_group_vectors[i].header, "§13 %s header", name);
        cr_assert_str_eq (ex[2], s_group_vectors[i].body, "§13 %s body", name);
        const char *data = s_group_vectors[i].cmd == SL_CMD_WORK     ? S_BATCH_HEX
                           : s_group_vectors[i].cmd == SL_CMD_RESULT ? S_RESULT_DATA_HEX
                                                                     : "";
        cr_assert_str_eq (ex[3], data, "§13 %s data", name);
        cr_assert_str_empty (ex[0]);
    }
}
