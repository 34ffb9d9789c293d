/*  test_proto_msg.c - the message's memory and the ERROR shortcut
    (lib/codec/sl_proto_msg.c). Round trips of every command are test_proto.c's.
*/
#include <criterion/criterion.h>
#include <czmq.h>
#include <limits.h>
#include <string.h>

#include "sl_error.h"
#include "sl_proto.h"

Test (proto_msg, init_error_normalises_code_and_text)
{
    sl_msg_t msg;
    sl_msg_init_error (&msg, 7, SL_ESEQ, NULL, 1003);
    cr_assert_eq (msg.cmd, SL_CMD_ERROR);
    cr_assert_eq (msg.req, 7);
    cr_assert_eq (msg.code, -SL_ESEQ, "the wire carries the code positive");
    cr_assert_str_eq (msg.text, sl_strerror (SL_ESEQ));
    cr_assert_eq (msg.seq, 1003);
    //  A positive code is taken as it is, and a given text wins.
    sl_msg_init_error (&msg, 1, -SL_EBUSY, "slow down", 0);
    cr_assert_eq (msg.code, -SL_EBUSY);
    cr_assert_str_eq (msg.text, "slow down");
    //  INT32_MIN has no positive counterpart: clamped, not overflowed.
    sl_msg_init_error (&msg, 1, INT32_MIN, "x", 0);
    cr_assert_eq (msg.code, INT32_MAX);
    //  A text longer than the field is cut, never overrun.
    char long_text[1024];
    memset (long_text, 'a', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = 0;
    sl_msg_init_error (&msg, 1, SL_EPROTO, long_text, 0);
    cr_assert_eq (strlen (msg.text), sizeof msg.text - 1);
}

Test (proto_msg, init_error_encodes_like_msg_error)
{
    sl_msg_t msg;
    sl_msg_init_error (&msg, 42, SL_ENOSPC, "disk full", 0);
    zmsg_t *a = sl_msg_encode (&msg);
    zmsg_t *b = sl_msg_error (42, SL_ENOSPC, "disk full");
    cr_assert (a && b);
    cr_assert_eq (zmsg_size (a), zmsg_size (b));
    zframe_t *fa = zmsg_first (a), *fb = zmsg_first (b);
    for (; fa && fb; fa = zmsg_next (a), fb = zmsg_next (b)) {
        cr_assert (zframe_eq (fa, fb));
    }
    zmsg_destroy (&a);
    zmsg_destroy (&b);
}

Test (proto_msg, init_report_fills_a_ping_that_round_trips)
{
    //  A client name longer than the field is cut, not overflowed.
    char name[200];
    memset (name, 'w', sizeof name - 1);
    name[sizeof name - 1] = 0;
    sl_msg_t ping;
    sl_msg_init_report (&ping, 7, "worker", name, 1000, 3);
    cr_assert_eq (ping.cmd, SL_CMD_PING);
    cr_assert_eq (strlen (ping.client), sizeof ping.client - 1);
    zmsg_t *wire = sl_msg_encode (&ping);
    cr_assert_not_null (wire);
    sl_msg_t back;
    sl_msg_init (&back, SL_CMD_NONE);
    cr_assert_eq (sl_msg_decode (wire, &back), 0);
    cr_assert_eq (back.cmd, SL_CMD_PING);
    cr_assert_eq (back.req, 7);
    cr_assert_str_eq (back.role, "worker");
    cr_assert_str_eq (back.client, ping.client);
    cr_assert_eq (back.ping_records, 1000);
    cr_assert_eq (back.ping_errors, 3);
    zmsg_destroy (&wire);
    sl_msg_reset (&back);
    sl_msg_reset (&ping);
}
