/*  test_proto_state.c - STATE_READ and STATE (PROTOCOL.md §14.5): round
    trips, required fields, bounds, direction.
*/
#include <criterion/criterion.h>
#include <string.h>

#include "proto_util.h"
#include "sl_error.h"
#include "sl_proto.h"

static int
s_round_trip (const sl_msg_t *msg, const char *frame, sl_msg_t *out)
{
    zmsg_t *zmsg = sl_msg_encode (msg);
    cr_assert_not_null (zmsg);
    if (frame) {
        zmsg_addstr (zmsg, frame);
    }
    sl_msg_init (out, SL_CMD_NONE);
    int rc = sl_msg_decode (zmsg, out);
    if (rc == 0) {
        cr_assert_eq (zmsg_size (zmsg), frame ? 1u : 0u);
    }
    zmsg_destroy (&zmsg);
    return rc;
}

Test (proto, state_read_and_state_round_trip)
{
    cr_assert_eq (SL_CMD_STATE_READ, 0x20);
    cr_assert_eq (SL_CMD_STATE, 0x21);
    cr_assert_str_eq (sl_cmd_name (SL_CMD_STATE_READ), "STATE_READ");
    cr_assert_str_eq (sl_cmd_name (SL_CMD_STATE), "STATE");
    sl_msg_t msg, out;
    sl_msg_init (&msg, SL_CMD_STATE_READ);
    msg.req = 7;
    strcpy (msg.group, "win");
    msg.share = 255;
    msg.max_bytes = 4096;
    cr_assert_eq (s_round_trip (&msg, "cursor", &out), 0);
    cr_assert_eq (out.cmd, SL_CMD_STATE_READ);
    cr_assert_eq (out.req, 7);
    cr_assert_str_eq (out.group, "win");
    cr_assert_eq (out.share, 255);
    cr_assert_eq (out.max_bytes, 4096);
    sl_msg_reset (&out);
    cr_assert_eq (s_round_trip (&msg, NULL, &out), 0);
    sl_msg_reset (&out);

    sl_msg_init (&msg, SL_CMD_STATE);
    msg.req = 7;
    msg.count = 2;
    msg.found = true;
    cr_assert_eq (s_round_trip (&msg, "records", &out), 0);
    cr_assert_eq (out.count, 2);
    cr_assert (out.found);
    sl_msg_reset (&out);
    //  count 0 (the end) is still sent: it is required.
    msg.count = 0;
    msg.found = false;
    cr_assert_eq (s_round_trip (&msg, NULL, &out), 0);
    cr_assert_eq (out.count, 0);
    cr_assert_not (out.found);
    sl_msg_reset (&out);
}

static int
s_decode_body (sl_cmd_t cmd, const char *k1, uint64_t v1, const char *k2, const char *v2,
               const char *k3, uint64_t v3)
{
    pt_body_t b = {.len = 0};
    pt_b_map (&b, (k1 != NULL) + (k2 != NULL) + (k3 != NULL));
    if (k1) {
        pt_b_str (&b, k1);
        pt_b_uint (&b, v1);
    }
    if (k2) {
        pt_b_str (&b, k2);
        pt_b_str (&b, v2);
    }
    if (k3) {
        pt_b_str (&b, k3);
        pt_b_uint (&b, v3);
    }
    sl_msg_t out;
    int rc = pt_decode_raw ((uint8_t)cmd, b.data, b.len, 0, &out);
    sl_msg_reset (&out);
    return rc;
}

Test (proto, state_read_required_fields_and_bounds)
{
    cr_assert_eq (s_decode_body (SL_CMD_STATE_READ, "req", 1, "group", "g", "share", 255), 0);
    cr_assert_eq (s_decode_body (SL_CMD_STATE_READ, "req", 1, NULL, NULL, "share", 1), SL_EPROTO);
    cr_assert_eq (s_decode_body (SL_CMD_STATE_READ, NULL, 0, "group", "g", NULL, 0), SL_EPROTO);
    //  share is 0..255 (a keyed group has at most 256 shares).
    cr_assert_neq (s_decode_body (SL_CMD_STATE_READ, "req", 1, "group", "g", "share", 256), 0);
    cr_assert_eq (s_decode_body (SL_CMD_STATE, "req", 1, NULL, NULL, "count", 0), 0);
    cr_assert_eq (s_decode_body (SL_CMD_STATE, "req", 1, NULL, NULL, NULL, 0), SL_EPROTO);
    //  Only the broker sends STATE: the broker answers it ECOMMAND.
    cr_assert (sl_cmd_from_broker (SL_CMD_STATE));
    cr_assert_not (sl_cmd_from_broker (SL_CMD_STATE_READ));
}
