/*  test_proto_live.c - the live feed's whole message (sl_proto_live.h):
    round trip, the records frame taken without a copy, and every way a
    received LIVE can be wrong.
*/
#include <criterion/criterion.h>
#include <czmq.h>
#include <string.h>

#include "sl_batch.h"
#include "sl_error.h"
#include "sl_proto.h"
#include "sl_proto_live.h"
#include "sl_send.h"

static const uint8_t s_records[] = "not parsed here: the codec only carries the records";

static sl_batch_header_t
s_header (void)
{
    sl_batch_header_t h = {
        .version = SL_BATCH_VERSION, .count = 3, .base_offset = 40, .append_ms = 1700000000000};
    return h;
}

static zmsg_t *
s_encoded (const char *stream, zframe_t **records_out)
{
    sl_batch_header_t h = s_header ();
    zframe_t *records = zframe_new (s_records, sizeof s_records);
    zframe_t *original = records;
    zmsg_t *zmsg = sl_live_encode (stream, &h, &records);
    cr_assert_not_null (zmsg);
    cr_assert_null (records, "the records frame is taken");
    if (records_out) {
        *records_out = original;
    }
    return zmsg;
}

Test (proto_live, round_trip_takes_the_records_frame_as_it_is)
{
    zframe_t *original;
    zmsg_t *zmsg = s_encoded ("orders", &original);
    cr_assert_eq (zmsg_size (zmsg), 5);
    cr_assert_eq (zmsg_last (zmsg), original, "the very frame, not a copy");
    cr_assert_str_eq ((char *)zframe_data (zmsg_first (zmsg)), "orders");
    uint8_t topic[SL_NAME_MAX + 2];
    size_t topic_len = sl_topic ("orders", topic);
    sl_live_t live;
    cr_assert_eq (sl_live_decode (zmsg, topic, topic_len, &live), 0);
    cr_assert_eq (live.header.base_offset, 40);
    cr_assert_eq (live.header.count, 3);
    cr_assert_eq (live.header.append_ms, 1700000000000);
    cr_assert_eq (live.records, zframe_data (original));
    cr_assert_eq (live.records_len, sizeof s_records);
    //  The head is the stored blob's header, byte for byte.
    uint8_t head[SL_BATCH_HEADER_SIZE];
    sl_batch_header_t h = s_header ();
    sl_batch_header_encode (&h, head);
    cr_assert_eq (memcmp (live.head, head, sizeof head), 0);
    cr_assert_eq (zmsg_size (zmsg), 5, "decode leaves the message as it was");
    zmsg_destroy (&zmsg);
}

Test (proto_live, another_topic_is_not_found)
{
    zmsg_t *zmsg = s_encoded ("orders2", NULL);
    uint8_t topic[SL_NAME_MAX + 2];
    size_t topic_len = sl_topic ("orders", topic);
    sl_live_t live;
    cr_assert_eq (sl_live_decode (zmsg, topic, topic_len, &live), SL_ENOTFOUND);
    //  A short message for another topic is a stranger too, not an error.
    zframe_t *last = zmsg_pop (zmsg);
    zframe_destroy (&last);
    cr_assert_eq (sl_live_decode (zmsg, topic, topic_len, &live), SL_ENOTFOUND);
    zmsg_destroy (&zmsg);
    cr_assert_eq (sl_live_decode (NULL, topic, topic_len, &live), SL_ENOTFOUND);
}

//  Rewrites frame i (0 = topic) of a good LIVE with bytes, or drops it.
static int
s_decode_with (size_t index, const void *bytes, size_t len, bool drop)
{
    zmsg_t *good = s_encoded ("orders", NULL);
    zmsg_t *zmsg = zmsg_new ();
    size_t i = 0;
    for (zframe_t *f = zmsg_first (good); f; f = zmsg_next (good), i++) {
        if (i == index && drop) {
            continue;
        }
        if (i == index) {
            zmsg_addmem (zmsg, bytes, len);
        }
        else {
            zmsg_addmem (zmsg, zframe_data (f), zframe_size (f));
        }
    }
    zmsg_destroy (&good);
    uint8_t topic[SL_NAME_MAX + 2];
    size_t topic_len = sl_topic ("orders", topic);
    sl_live_t live;
    int rc = sl_live_decode (zmsg, topic, topic_len, &live);
    zmsg_destroy (&zmsg);
    return rc;
}

Test (proto_live, malformed_messages_are_errors)
{
    //  Too few frames (the blob as one frame, or no blob at all).
    cr_assert_eq (s_decode_with (4, NULL, 0, true), SL_EPROTO);
    cr_assert_eq (s_decode_with (3, NULL, 0, true), SL_EPROTO);
    //  A header that is not LIVE's.
    cr_assert_eq (s_decode_with (1, "SL\x01\x04", 4, false), SL_EPROTO);
    cr_assert_eq (s_decode_with (1, "XX\x01\x10", 4, false), SL_EPROTO);
    //  A body that is not msgpack.
    cr_assert_neq (s_decode_with (2, "\xc1", 1, false), 0);
    //  A short blob head, a longer one, and one of another version.
    uint8_t head[SL_BATCH_HEADER_SIZE + 1];
    sl_batch_header_t h = s_header ();
    sl_batch_header_encode (&h, head);
    head[SL_BATCH_HEADER_SIZE] = 0;
    cr_assert_neq (s_decode_with (3, head, SL_BATCH_HEADER_SIZE - 1, false), 0);
    cr_assert_eq (s_decode_with (3, head, SL_BATCH_HEADER_SIZE + 1, false), SL_EPROTO);
    head[0] = 2;
    cr_assert_eq (s_decode_with (3, head, SL_BATCH_HEADER_SIZE, false), SL_EVERSION);
    //  A head whose offset or count disagree with the body's.
    h.base_offset = 41;
    sl_batch_header_encode (&h, head);
    cr_assert_eq (s_decode_with (3, head, SL_BATCH_HEADER_SIZE, false), SL_EPROTO);
    h = s_header ();
    h.count = 2;
    sl_batch_header_encode (&h, head);
    cr_assert_eq (s_decode_with (3, head, SL_BATCH_HEADER_SIZE, false), SL_EPROTO);
}

//  Published through sl_send_pub over inproc, where libzmq hands the very
//  bytes on: the subscriber's records are the sender's buffer, so no copy
//  was made between the frame the broker received and the wire.
Test (proto_live, published_records_are_not_copied)
{
    zsock_t *pub = zsock_new_pub ("inproc://test-proto-live");
    zsock_t *sub = zsock_new_sub ("inproc://test-proto-live", "");
    cr_assert (pub && sub);
    sl_budget_t *budget = sl_budget_new (0, 1 << 20);
    uint8_t *bytes = malloc (4096);
    memset (bytes, 7, 4096);
    zframe_t *records = zframe_new (bytes, 4096);
    const void *sent = zframe_data (records);
    sl_batch_header_t h = s_header ();
    zmsg_t *zmsg = sl_live_encode ("orders", &h, &records);
    cr_assert_not_null (zmsg);
    //  A subscription over inproc is in place once a message gets through.
    zmsg_t *got = NULL;
    for (int i = 0; i < 100 && !got; i++) {
        zmsg_t *copy = zmsg_dup (zmsg);
        cr_assert_eq (sl_send_pub (pub, budget, &copy), 0);
        zsock_set_rcvtimeo (sub, 10);
        got = zmsg_recv (sub);
    }
    cr_assert_not_null (got);
    zmsg_destroy (&got);
    cr_assert_eq (sl_send_pub (pub, budget, &zmsg), 0);
    cr_assert_null (zmsg);
    zsock_set_rcvtimeo (sub, 5000);
    got = zmsg_recv (sub);
    cr_assert_not_null (got);
    cr_assert_eq (zmsg_size (got), 5);
    cr_assert_eq ((const void *)zframe_data (zmsg_last (got)), sent);
    zmsg_destroy (&got);
    free (bytes);
    sl_budget_destroy (&budget);
    zsock_destroy (&sub);
    zsock_destroy (&pub);
}
