/*  test_proto_conform.c - the points docs/PROTOCOL.md decides that a
    reader of the spec alone could have answered otherwise (§3, §5.1-5.3,
    §14.2): which code for which fault, which request an ERROR answers, and
    what an optional 0 means. test_proto.c holds the codec's own tests.
*/
#include <criterion/criterion.h>
#include <string.h>

#include "sl_batch.h"
#include "sl_error.h"
#include "sl_mp.h"
#include "sl_proto.h"

//  A body built by hand, as a foreign client would send it.
typedef struct {
    uint8_t data[4096];
    size_t len;
} body_t;

static void
b_raw (body_t *b, const void *p, size_t n)
{
    cr_assert_lt (b->len + n, sizeof b->data);
    memcpy (b->data + b->len, p, n);
    b->len += n;
}

static void
b_map (body_t *b, uint32_t n)
{
    uint8_t tmp[5];
    b_raw (b, tmp, sl_mp_write_map (tmp, sizeof tmp, n));
}

static void
b_str (body_t *b, const char *s)
{
    uint8_t tmp[5];
    b_raw (b, tmp, sl_mp_write_str_header (tmp, sizeof tmp, (uint32_t)strlen (s)));
    b_raw (b, s, strlen (s));
}

static void
b_uint (body_t *b, uint64_t v)
{
    uint8_t tmp[9];
    b_raw (b, tmp, sl_mp_write_uint (tmp, sizeof tmp, v));
}

static void
b_int (body_t *b, int64_t v)
{
    uint8_t tmp[9];
    b_raw (b, tmp, sl_mp_write_int (tmp, sizeof tmp, v));
}

//  Decodes header + body (+ n_data one-byte data frames) into msg.
static int
s_decode (sl_cmd_t cmd, const body_t *b, int n_data, sl_msg_t *msg)
{
    zmsg_t *zmsg = zmsg_new ();
    uint8_t head[4] = {0x53, 0x4C, 1, (uint8_t)cmd};
    zmsg_addmem (zmsg, head, 4);
    zmsg_addmem (zmsg, b->data, b->len);
    for (int i = 0; i < n_data; i++) {
        zmsg_addmem (zmsg, "x", 1);
    }
    sl_msg_init (msg, SL_CMD_NONE);
    int rc = sl_msg_decode (zmsg, msg);
    zmsg_destroy (&zmsg);
    return rc;
}

Test (conform, a_name_over_200_bytes_is_ENAME_for_every_name_field)
{
    char name[300];
    memset (name, 'a', 201);
    name[201] = 0;
    //  stream, producer, reader, group, member, in, out.
    struct {
        sl_cmd_t cmd;
        const char *key;
    } cases[] = {{SL_CMD_FETCH, "stream"}, {SL_CMD_COMMIT, "reader"}, {SL_CMD_JOIN, "group"},
                 {SL_CMD_JOIN, "member"},  {SL_CMD_JOIN, "in"},       {SL_CMD_LEAVE, "member"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        body_t b = {.len = 0};
        const char *keys[] = {"req", "stream", "offset", "reader", "group", "member", "in", "out"};
        b_map (&b, 8);
        for (size_t k = 0; k < 8; k++) {
            b_str (&b, keys[k]);
            if (strcmp (keys[k], "req") == 0 || strcmp (keys[k], "offset") == 0) {
                b_uint (&b, 7);
            }
            else {
                b_str (&b, strcmp (keys[k], cases[i].key) == 0 ? name : "ok");
            }
        }
        sl_msg_t msg;
        cr_expect_eq (s_decode (cases[i].cmd, &b, 0, &msg), SL_ENAME, "%s %s",
                      sl_cmd_name (cases[i].cmd), cases[i].key);
        sl_msg_reset (&msg);
    }
    //  Other strings past their bound stay ETOOBIG.
    body_t b = {.len = 0};
    char client[100];
    memset (client, 'c', 64);
    client[64] = 0;
    b_map (&b, 1);
    b_str (&b, "client"), b_str (&b, client);
    sl_msg_t msg;
    cr_expect_eq (s_decode (SL_CMD_HELLO, &b, 0, &msg), SL_ETOOBIG);
}

Test (conform, an_unknown_from_is_EINVAL_whatever_its_length_a_wrong_type_EPROTO)
{
    char longest[2000];
    memset (longest, 'z', sizeof longest - 1);
    longest[sizeof longest - 1] = 0;
    const char *froms[] = {"middle", "", "BEGINNING", longest};
    for (size_t i = 0; i < 4; i++) {
        body_t b = {.len = 0};
        b_map (&b, 3);
        b_str (&b, "req"), b_uint (&b, 9);
        b_str (&b, "stream"), b_str (&b, "s");
        b_str (&b, "from"), b_str (&b, froms[i]);
        sl_msg_t msg;
        cr_expect_eq (s_decode (SL_CMD_SEEK, &b, 0, &msg), SL_EINVAL, "from %zu", i);
        cr_expect_eq (msg.req, 9, "req is echoed after a body error");
    }
    body_t b = {.len = 0};
    b_map (&b, 3);
    b_str (&b, "req"), b_uint (&b, 9);
    b_str (&b, "stream"), b_str (&b, "s");
    b_str (&b, "from"), b_uint (&b, 1);
    sl_msg_t msg;
    cr_expect_eq (s_decode (SL_CMD_SEEK, &b, 0, &msg), SL_EPROTO);
}

Test (conform, req_is_echoed_when_the_body_walks_and_0_when_it_does_not)
{
    //  A wrong field after req: req still read.
    body_t b = {.len = 0};
    b_map (&b, 3);
    b_str (&b, "req"), b_uint (&b, 42);
    b_str (&b, "stream"), b_uint (&b, 1);
    b_str (&b, "offset"), b_uint (&b, 1);
    sl_msg_t msg;
    cr_expect_eq (s_decode (SL_CMD_FETCH, &b, 0, &msg), SL_EPROTO);
    cr_expect_eq (msg.cmd, SL_CMD_FETCH);
    cr_expect_eq (msg.req, 42);
    //  req of the wrong type: 0.
    b.len = 0;
    b_map (&b, 1);
    b_str (&b, "req"), b_int (&b, -3);
    cr_expect_eq (s_decode (SL_CMD_PING, &b, 0, &msg), SL_EPROTO);
    cr_expect_eq (msg.req, 0);
    //  A body that does not walk (a map of 2 with one pair): 0.
    b.len = 0;
    b_map (&b, 2);
    b_str (&b, "req"), b_uint (&b, 42);
    cr_expect_neq (s_decode (SL_CMD_PING, &b, 0, &msg), 0);
    cr_expect_eq (msg.req, 0);
    //  PUBLISH is named by its seq, RESULT by its lease.
    b.len = 0;
    b_map (&b, 3);
    b_str (&b, "seq"), b_uint (&b, 1005);
    b_str (&b, "stream"), b_str (&b, "s");
    b_str (&b, "count"), b_str (&b, "two");
    cr_expect_eq (s_decode (SL_CMD_PUBLISH, &b, 1, &msg), SL_EPROTO);
    cr_expect_eq (msg.seq, 1005);
    b.len = 0;
    b_map (&b, 2);
    b_str (&b, "lease"), b_uint (&b, 77);
    b_str (&b, "group"), b_uint (&b, 1);
    cr_expect_eq (s_decode (SL_CMD_RESULT, &b, 1, &msg), SL_EPROTO);
    cr_expect_eq (msg.lease, 77);
}

Test (conform, an_error_for_a_publish_carries_its_producer_and_stream)
{
    sl_msg_t err;
    sl_msg_init (&err, SL_CMD_ERROR);
    err.req = 1005;
    err.code = 13;
    err.seq = 1003;
    strcpy (err.stream, "orders");
    strcpy (err.name, "src-1");
    strcpy (err.text, "sequence gap: expected seq 1003");
    zmsg_t *zmsg = sl_msg_encode (&err);
    cr_assert_not_null (zmsg);
    sl_msg_t out;
    sl_msg_init (&out, SL_CMD_NONE);
    cr_assert_eq (sl_msg_decode (zmsg, &out), 0);
    cr_expect_str_eq (out.name, "src-1");
    cr_expect_str_eq (out.stream, "orders");
    zmsg_destroy (&zmsg);
    //  Any other ERROR has neither key on the wire.
    sl_msg_init (&err, SL_CMD_ERROR);
    err.req = 5;
    err.code = 12;
    strcpy (err.text, "not found");
    zmsg = sl_msg_encode (&err);
    zframe_t *body = zmsg_last (zmsg);
    cr_expect_null (memmem (zframe_data (body), zframe_size (body), "producer", 8));
    cr_expect_null (memmem (zframe_data (body), zframe_size (body), "stream", 6));
    zmsg_destroy (&zmsg);
}

Test (conform, an_optional_zero_is_not_sent_and_reads_as_absent)
{
    sl_msg_t join;
    sl_msg_init (&join, SL_CMD_JOIN);
    join.req = 1;
    strcpy (join.group, "g");
    strcpy (join.in, "a");
    strcpy (join.out, "b");
    strcpy (join.member, "m");
    join.window = 0;
    zmsg_t *zmsg = sl_msg_encode (&join);
    zframe_t *body = zmsg_last (zmsg);
    cr_expect_null (memmem (zframe_data (body), zframe_size (body), "window", 6));
    zmsg_destroy (&zmsg);
    //  window: 0 sent explicitly decodes the same as absent.
    body_t b = {.len = 0};
    b_map (&b, 6);
    b_str (&b, "req"), b_uint (&b, 1);
    b_str (&b, "group"), b_str (&b, "g");
    b_str (&b, "in"), b_str (&b, "a");
    b_str (&b, "out"), b_str (&b, "b");
    b_str (&b, "member"), b_str (&b, "m");
    b_str (&b, "window"), b_uint (&b, 0);
    sl_msg_t msg;
    cr_assert_eq (s_decode (SL_CMD_JOIN, &b, 0, &msg), 0);
    cr_expect_eq (msg.window, 0u);
}

Test (conform, a_batch_with_fewer_records_than_count_is_ETRUNC_more_EPROTO)
{
    uint8_t batch[64];
    size_t len = 0;
    //  Two records [0, nil, nil, 1].
    for (int i = 0; i < 2; i++) {
        const uint8_t rec[] = {0x94, 0x00, 0xc0, 0xc0, 0x01};
        memcpy (batch + len, rec, sizeof rec);
        len += sizeof rec;
    }
    cr_expect_eq (sl_batch_validate (batch, len, 2, 512), 0);
    cr_expect_eq (sl_batch_validate (batch, len, 3, 512), SL_ETRUNC);
    cr_expect_eq (sl_batch_validate (batch, len, 1, 512), SL_EPROTO);
}

Test (conform, a_command_sent_the_wrong_way_still_decodes_for_its_error)
{
    //  The codec decodes it; the broker answers ECOMMAND (§5.1), naming
    //  the request by its req.
    body_t b = {.len = 0};
    b_map (&b, 1);
    b_str (&b, "req"), b_uint (&b, 3);
    sl_msg_t msg;
    cr_assert_eq (s_decode (SL_CMD_PONG, &b, 0, &msg), 0);
    cr_expect_eq (msg.cmd, SL_CMD_PONG);
    cr_expect_eq (msg.req, 3);
    //  Which commands only the broker sends.
    const sl_cmd_t broker_only[] = {SL_CMD_WELCOME, SL_CMD_CONFIRM,   SL_CMD_POSITION,
                                    SL_CMD_RECORDS, SL_CMD_COMMITTED, SL_CMD_STREAMS,
                                    SL_CMD_PONG,    SL_CMD_ERROR,     SL_CMD_LIVE,
                                    SL_CMD_JOINED,  SL_CMD_WORK};
    const sl_cmd_t client_sends[] = {SL_CMD_HELLO,  SL_CMD_PUBLISH, SL_CMD_SEEK, SL_CMD_FETCH,
                                     SL_CMD_COMMIT, SL_CMD_LIST,    SL_CMD_PING, SL_CMD_JOIN,
                                     SL_CMD_RESULT, SL_CMD_LEAVE};
    for (size_t i = 0; i < sizeof broker_only / sizeof broker_only[0]; i++) {
        cr_expect (sl_cmd_from_broker (broker_only[i]), "%s", sl_cmd_name (broker_only[i]));
    }
    for (size_t i = 0; i < sizeof client_sends / sizeof client_sends[0]; i++) {
        cr_expect (!sl_cmd_from_broker (client_sends[i]), "%s", sl_cmd_name (client_sends[i]));
    }
    cr_expect (!sl_cmd_from_broker (SL_CMD_NONE));
    cr_expect (!sl_cmd_from_broker ((sl_cmd_t)0x7f));
}
