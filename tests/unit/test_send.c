/*  test_send.c - sl_send: byte budgets counted by libzmq's free callback.

    Real sockets over inproc: there libzmq hands the very bytes to the
    receiver, so a frame is let go of exactly when the receiver destroys
    it, and the accounts can be checked step by step.
*/
#include <criterion/criterion.h>
#include <czmq.h>

#include "sl_error.h"
#include "sl_send.h"

#define KIB 1024

typedef struct {
    zsock_t *router;
    zsock_t *dealer;
    char endpoint[64];
} pair_t;

static void
s_pair (pair_t *p, const char *id)
{
    static int n = 0;
    snprintf (p->endpoint, sizeof p->endpoint, "inproc://test-send-%d", n++);
    p->router = zsock_new (ZMQ_ROUTER);
    cr_assert_not_null (p->router);
    zsock_set_router_mandatory (p->router, 1);
    zsock_set_sndtimeo (p->router, 0);
    cr_assert_eq (zsock_bind (p->router, "%s", p->endpoint), 0);
    p->dealer = zsock_new (ZMQ_DEALER);
    zsock_set_identity (p->dealer, id);
    cr_assert_eq (zsock_connect (p->dealer, "%s", p->endpoint), 0);
    //  The ROUTER knows the peer once it has heard from it.
    zstr_send (p->dealer, "hello");
    zmsg_t *hello = zmsg_recv (p->router);
    cr_assert_not_null (hello);
    zmsg_destroy (&hello);
}

static void
s_pair_close (pair_t *p)
{
    zsock_destroy (&p->dealer);
    zsock_destroy (&p->router);
}

static zmsg_t *
s_msg (size_t body)
{
    zmsg_t *m = zmsg_new ();
    zmsg_addstr (m, "SL");
    void *bytes = calloc (1, body);
    zmsg_addmem (m, bytes, body);
    free (bytes);
    return m;
}

Test (send, counts_until_received_and_refuses_over_the_peer_budget)
{
    pair_t p;
    s_pair (&p, "d1");
    sl_budget_t *budget = sl_budget_new (250 * KIB, 0);
    cr_assert_not_null (budget);
    for (int i = 0; i < 2; i++) {
        zmsg_t *m = s_msg (100 * KIB);
        cr_assert_eq (sl_send_router (p.router, budget, "d1", 2, &m), 0);
        cr_assert_null (m, "a successful send takes the message");
    }
    cr_assert_eq (sl_budget_held (budget, "d1", 2), 200 * KIB);
    cr_assert_eq (sl_budget_total (budget), 200 * KIB);
    cr_assert_not (sl_budget_fits (budget, "d1", 2, 100 * KIB));
    zmsg_t *m = s_msg (100 * KIB);
    cr_assert_eq (sl_send_router (p.router, budget, "d1", 2, &m), SL_EBUSY);
    cr_assert_not_null (m, "a refused send leaves the message with the caller");
    cr_assert_eq (sl_budget_refused (budget), 1);
    cr_assert_eq (sl_budget_held (budget, "d1", 2), 200 * KIB, "nothing queued");

    //  The receiver destroys one reply: its bytes leave the account.
    zmsg_t *got = zmsg_recv (p.dealer);
    cr_assert_not_null (got);
    cr_assert_eq (zframe_size (zmsg_last (got)), 100 * KIB);
    zmsg_destroy (&got);
    cr_assert_eq (sl_budget_held (budget, "d1", 2), 100 * KIB);
    cr_assert_eq (sl_send_router (p.router, budget, "d1", 2, &m), 0, "room again");
    for (int i = 0; i < 2; i++) {
        got = zmsg_recv (p.dealer);
        zmsg_destroy (&got);
    }
    cr_assert_eq (sl_budget_held (budget, "d1", 2), 0);
    cr_assert_eq (sl_budget_total (budget), 0);
    sl_budget_destroy (&budget);
    cr_assert_null (budget);
    s_pair_close (&p);
}

Test (send, one_reply_larger_than_the_share_is_served_when_nothing_is_held)
{
    pair_t p;
    s_pair (&p, "d2");
    sl_budget_t *budget = sl_budget_new (64 * KIB, 0);
    zmsg_t *m = s_msg (200 * KIB);
    cr_assert_eq (sl_send_router (p.router, budget, "d2", 2, &m), 0);
    m = s_msg (300);
    cr_assert_eq (sl_send_router (p.router, budget, "d2", 2, &m), SL_EBUSY,
                  "but only one at a time");
    zmsg_destroy (&m);
    //  Small frames are copied and never refused: an ERROR always fits.
    m = zmsg_new ();
    zmsg_addstr (m, "small");
    cr_assert_eq (sl_send_router (p.router, budget, "d2", 2, &m), 0);
    cr_assert_eq (sl_budget_held (budget, "d2", 2), 200 * KIB);
    s_pair_close (&p);
    //  libzmq's reaper closes the pipes after zmq_close returns.
    for (int i = 0; i < 500 && sl_budget_total (budget) != 0; i++) {
        zclock_sleep (10);
    }
    cr_assert_eq (sl_budget_total (budget), 0, "closing the socket lets go of everything");
    sl_budget_destroy (&budget);
}

Test (send, the_total_bounds_all_peers_together)
{
    pair_t a, b;
    s_pair (&a, "pa");
    s_pair (&b, "pb");
    sl_budget_t *budget = sl_budget_new (1024 * KIB, 150 * KIB);
    zmsg_t *m = s_msg (100 * KIB);
    cr_assert_eq (sl_send_router (a.router, budget, "pa", 2, &m), 0);
    m = s_msg (100 * KIB);
    cr_assert_eq (sl_send_router (b.router, budget, "pb", 2, &m), SL_EBUSY,
                  "pb holds nothing, but the total is used up");
    zmsg_destroy (&m);
    cr_assert_eq (sl_budget_peers (budget), 2);
    s_pair_close (&a);
    s_pair_close (&b);
    sl_budget_destroy (&budget);
}

Test (send, an_unknown_peer_is_closed_and_the_caller_keeps_the_message)
{
    pair_t p;
    s_pair (&p, "d3");
    sl_budget_t *budget = sl_budget_new (1024 * KIB, 0);
    zmsg_t *m = s_msg (100 * KIB);
    cr_assert_eq (sl_send_router (p.router, budget, "nobody", 6, &m), SL_ECLOSED);
    cr_assert_not_null (m);
    cr_assert_eq (sl_budget_total (budget), 0, "nothing counted for a send that failed");
    zmsg_destroy (&m);
    cr_assert_eq (sl_send_router (p.router, budget, "d3", 2, &m), SL_EINVAL, "no message");
    s_pair_close (&p);
    sl_budget_destroy (&budget);
}

Test (send, the_budget_may_go_before_the_frames_it_counts)
{
    pair_t p;
    s_pair (&p, "d4");
    sl_budget_t *budget = sl_budget_new (1024 * KIB, 0);
    zmsg_t *m = s_msg (100 * KIB);
    cr_assert_eq (sl_send_router (p.router, budget, "d4", 2, &m), 0);
    sl_budget_destroy (&budget);
    //  The frame in flight keeps its account and budget alive (ASan
    //  reports a use after free or a leak otherwise).
    zmsg_t *got = zmsg_recv (p.dealer);
    cr_assert_not_null (got);
    zmsg_destroy (&got);
    s_pair_close (&p);
}

static int s_stuck_calls;

static void
s_on_stuck (void *ctx, const void *peer, size_t peer_len)
{
    (void)ctx;
    cr_assert_eq (peer_len, 2);
    cr_assert_eq (memcmp (peer, "d5", 2), 0);
    s_stuck_calls++;
}

Test (send, a_peer_whose_bytes_do_not_move_is_reported_once_then_swept_when_drained)
{
    pair_t p;
    s_pair (&p, "d5");
    sl_budget_t *budget = sl_budget_new (1024 * KIB, 0);
    zmsg_t *m = s_msg (100 * KIB);
    cr_assert_eq (sl_send_router (p.router, budget, "d5", 2, &m), 0);
    int64_t t0 = zclock_mono ();
    sl_budget_stuck (budget, t0, 1000, s_on_stuck, NULL);
    cr_assert_eq (s_stuck_calls, 0, "not yet");
    sl_budget_stuck (budget, t0 + 1001, 1000, s_on_stuck, NULL);
    sl_budget_stuck (budget, t0 + 2002, 1000, s_on_stuck, NULL);
    cr_assert_eq (s_stuck_calls, 1, "reported once");
    cr_assert (sl_budget_is_stuck (budget, "d5", 2));
    zmsg_t *got = zmsg_recv (p.dealer);
    zmsg_destroy (&got);
    sl_budget_stuck (budget, t0 + 3000, 1000, s_on_stuck, NULL);
    cr_assert_eq (s_stuck_calls, 1, "moving again");
    cr_assert_not (sl_budget_is_stuck (budget, "d5", 2));
    sl_budget_sweep (budget, t0 + 3000, 10000);
    cr_assert_eq (sl_budget_peers (budget), 1, "not idle long enough");
    sl_budget_sweep (budget, t0 + 20000, 10000);
    cr_assert_eq (sl_budget_peers (budget), 0, "an idle, drained account is forgotten");
    s_pair_close (&p);
    sl_budget_destroy (&budget);
}

Test (send, pub_counts_one_copy_and_skips_over_budget)
{
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://test-send-pub");
    zsock_t *pub = zsock_new_pub (endpoint);
    cr_assert_not_null (pub);
    sl_budget_t *live = sl_budget_new (0, 150 * KIB);
    //  No subscriber: PUB drops at once, so nothing stays counted.
    zmsg_t *m = s_msg (100 * KIB);
    cr_assert_eq (sl_send_pub (pub, live, &m), 0);
    cr_assert_eq (sl_budget_total (live), 0);
    //  Two subscribers that do not read share one counted copy.
    zsock_t *sub1 = zsock_new_sub (endpoint, "");
    zsock_t *sub2 = zsock_new_sub (endpoint, "");
    cr_assert (sub1 && sub2);
    zclock_sleep (50); //  subscriptions travel asynchronously, even inproc
    m = s_msg (100 * KIB);
    cr_assert_eq (sl_send_pub (pub, live, &m), 0);
    cr_assert_eq (sl_budget_total (live), 100 * KIB, "counted once for two subscribers");
    m = s_msg (100 * KIB);
    cr_assert_eq (sl_send_pub (pub, live, &m), SL_EBUSY);
    cr_assert_not_null (m);
    zmsg_destroy (&m);
    zmsg_t *got = zmsg_recv (sub1);
    zmsg_destroy (&got);
    cr_assert_eq (sl_budget_total (live), 100 * KIB, "sub2 still holds it");
    got = zmsg_recv (sub2);
    zmsg_destroy (&got);
    cr_assert_eq (sl_budget_total (live), 0);
    zsock_destroy (&sub1);
    zsock_destroy (&sub2);
    zsock_destroy (&pub);
    sl_budget_destroy (&live);
}
