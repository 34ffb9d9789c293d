/*  test_group.c - worker group state: leases, dispatch, redelivery, dedupe,
    dead letters, checkpoint and its persistent encoding. Time is the
    now_ms each test passes in: nothing sleeps.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lib/codec/sl_batch.h"
#include "lib/core/sl_error.h"
#include "lib/group/sl_group.h"
#include "lib/codec/sl_mp.h"

#define BIG 1000000

static sl_group_t *
s_group (uint32_t max_deliver, uint32_t lease_ms, uint64_t start)
{
    sl_group_config_t config;
    memset (&config, 0, sizeof config);
    strcpy (config.in, "in");
    strcpy (config.out, "out");
    config.max_deliver = max_deliver;
    config.lease_ms = lease_ms;
    sl_group_t *group = sl_group_new ("g", &config, start);
    cr_assert_not_null (group);
    return group;
}

static void
s_join (sl_group_t *group, const char *peer, uint32_t window, uint32_t batch, int64_t now)
{
    cr_assert_eq (sl_group_join (group, peer, strlen (peer), peer, window, batch, now), 0);
}

//  The next lease, asserting there is one; *who gets the peer as a string.
static sl_lease_t
s_next (sl_group_t *group, uint64_t first, uint64_t next, int64_t now, char *who)
{
    sl_lease_t lease;
    const void *peer;
    size_t peer_len;
    int rc = sl_group_next (group, first, next, now, &lease, &peer, &peer_len);
    cr_assert_eq (rc, 1, "expected a lease, got %d", rc);
    if (who) {
        memcpy (who, peer, peer_len);
        who[peer_len] = 0;
    }
    return lease;
}

static sl_group_t *s_busy_group (void);

static bool
s_none (sl_group_t *group, uint64_t first, uint64_t next, int64_t now)
{
    sl_lease_t lease;
    const void *peer;
    size_t peer_len;
    return sl_group_next (group, first, next, now, &lease, &peer, &peer_len) == 0;
}

static sl_outcome_t
s_result (sl_group_t *group, const sl_lease_t *lease, const sl_failed_t *failed, size_t n,
          int64_t now)
{
    sl_outcome_t outcome;
    cr_assert_eq (
        sl_group_result (group, lease->id, lease->offset, lease->count, failed, n, now, &outcome),
        0);
    return outcome;
}

static void
s_assert_lease (sl_lease_t lease, uint64_t offset, uint32_t count, uint32_t attempt)
{
    cr_assert_eq (lease.offset, offset, "offset %lu != %lu", (unsigned long)lease.offset,
                  (unsigned long)offset);
    cr_assert_eq (lease.count, count, "count %u != %u", lease.count, count);
    cr_assert_eq (lease.attempt, attempt, "attempt %u != %u", lease.attempt, attempt);
}

Test (group, new_validates_config)
{
    sl_group_config_t config;
    memset (&config, 0, sizeof config);
    strcpy (config.in, "in");
    strcpy (config.out, "in");
    config.max_deliver = 3;
    config.lease_ms = 1000;
    cr_assert_null (sl_group_new ("g", &config, 0), "in == out");
    strcpy (config.out, "out");
    cr_assert_null (sl_group_new (".g", &config, 0), "bad group name");
    config.max_deliver = 0;
    cr_assert_null (sl_group_new ("g", &config, 0), "max_deliver 0");
    config.max_deliver = 3;
    sl_group_t *group = sl_group_new ("g", &config, 42);
    cr_assert_not_null (group);
    cr_assert_str_eq (sl_group_name (group), "g");
    cr_assert_str_eq (sl_group_config (group)->out, "out");
    cr_assert_eq (sl_group_checkpoint (group), 42);
    sl_group_destroy (&group);
    cr_assert_null (group);
    sl_group_destroy (&group);
}

Test (group, join_validates_and_refreshes)
{
    sl_group_t *group = s_group (3, 1000, 0);
    cr_assert_eq (sl_group_join (group, "A", 1, "a", 0, 10, 0), SL_EINVAL);
    cr_assert_eq (sl_group_join (group, "A", 1, "a", SL_GROUP_MAX_WINDOW + 1, 10, 0), SL_EINVAL);
    cr_assert_eq (sl_group_join (group, "A", 1, "a", 1, 0, 0), SL_EINVAL);
    cr_assert_eq (sl_group_join (group, "A", 1, "a", 1, SL_GROUP_MAX_BATCH + 1, 0), SL_EINVAL);
    cr_assert_eq (sl_group_join (group, "A", 0, "a", 1, 10, 0), SL_EINVAL);
    uint8_t long_peer[SL_GROUP_MAX_PEER + 1] = {0};
    cr_assert_eq (sl_group_join (group, long_peer, sizeof long_peer, "a", 1, 10, 0), SL_EINVAL);
    cr_assert_eq (sl_group_join (group, "A", 1, "bad name", 1, 10, 0), SL_EINVAL);
    cr_assert_eq (sl_group_members (group), 0);
    cr_assert_eq (sl_group_join (group, "A", 1, "a", 1, 10, 0), 0);
    cr_assert_eq (sl_group_join (group, "A", 1, "a", 2, 10, 0), 0);
    cr_assert_eq (sl_group_members (group), 1, "same peer refreshes");
    sl_group_destroy (&group);
}

Test (group, lease_table)
{
    sl_group_t *group = s_group (3, 1000, 0);
    s_join (group, "A", 2, 10, 0);
    sl_lease_t l1 = s_next (group, 0, 100, 0, NULL);
    sl_lease_t l2 = s_next (group, 0, 100, 0, NULL);
    s_assert_lease (l1, 0, 10, 1);
    s_assert_lease (l2, 10, 10, 1);
    cr_assert_neq (l1.id, l2.id);
    cr_assert_eq (sl_group_leases (group), 2);
    cr_assert (s_none (group, 0, 100, 0), "window of 2 is full");
    sl_outcome_t out = s_result (group, &l1, NULL, 0, 1);
    cr_assert (out.commit);
    cr_assert_eq (out.n_dead, 0);
    cr_assert_eq (sl_group_checkpoint (group), 10);
    cr_assert_eq (sl_group_leases (group), 1);
    s_assert_lease (s_next (group, 0, 100, 1, NULL), 20, 10, 1);
    //  A result for an id never given, or 0, is dropped.
    sl_lease_t bogus = {999, 0, 10, 1};
    cr_assert_not (s_result (group, &bogus, NULL, 0, 2).commit);
    bogus.id = 0;
    cr_assert_not (s_result (group, &bogus, NULL, 0, 2).commit);
    sl_group_destroy (&group);
}

Test (group, window_bound)
{
    sl_group_t *group = s_group (3, 1000, 0);
    s_join (group, "A", 3, 5, 0);
    for (int i = 0; i < 3; i++) {
        s_next (group, 0, BIG, 0, NULL);
    }
    cr_assert (s_none (group, 0, BIG, 0));
    cr_assert_eq (sl_group_leases (group), 3);
    sl_group_destroy (&group);
}

//  The broker cuts a lease to what fits one WORK message in bytes: the
//  rest is leased next, as a first attempt, and a result for the cut
//  lease commits exactly its records.
Test (group, shrink_requeues_the_tail_uncounted)
{
    sl_group_t *group = s_group (3, 1000, 0);
    s_join (group, "A", 2, 10, 0);
    sl_lease_t lease = s_next (group, 0, BIG, 0, NULL);
    s_assert_lease (lease, 0, 10, 1);
    cr_assert_eq (sl_group_shrink (group, lease.id, 4), 0);
    cr_assert_eq (sl_group_shrink (group, lease.id, 4), SL_EINVAL, "not smaller");
    cr_assert_eq (sl_group_shrink (group, lease.id, 0), SL_EINVAL);
    cr_assert_eq (sl_group_shrink (group, 9999, 2), SL_EINVAL, "no such lease");
    lease.count = 4;
    sl_lease_t tail = s_next (group, 0, BIG, 0, NULL);
    s_assert_lease (tail, 4, 6, 1);
    sl_outcome_t out = s_result (group, &lease, NULL, 0, 1);
    cr_assert (out.commit);
    out = s_result (group, &tail, NULL, 0, 1);
    cr_assert (out.commit);
    cr_assert_eq (sl_group_checkpoint (group), 10);
    sl_group_destroy (&group);
}

//  A member that stopped reading: its leases go back to the queue for
//  the others, uncounted, and it stays a member.
Test (group, release_hands_leases_back_and_keeps_the_member)
{
    sl_group_t *group = s_group (3, 100000, 0);
    s_join (group, "A", 2, 5, 0);
    s_next (group, 0, BIG, 0, NULL);
    s_next (group, 0, BIG, 0, NULL);
    cr_assert_eq (sl_group_release (group, "A", 1), 2);
    cr_assert_eq (sl_group_release (group, "B", 1), 0, "not a member");
    cr_assert_eq (sl_group_leases (group), 0);
    cr_assert (sl_group_has_member (group, "A", 1));
    s_join (group, "B", 2, 5, 0);
    char who[8];
    sl_group_pause (group, "A", 1);
    sl_lease_t again = s_next (group, 0, BIG, 0, who);
    cr_assert_str_eq (who, "B");
    s_assert_lease (again, 0, 5, 1);
    sl_group_destroy (&group);
}

//  A member over its byte budget is paused: no lease until the next tick,
//  while another member is served.
Test (group, paused_member_gets_no_lease_until_tick)
{
    sl_group_t *group = s_group (3, 100000, 0);
    s_join (group, "A", 4, 5, 0);
    cr_assert (sl_group_has_member (group, "A", 1));
    cr_assert_not (sl_group_has_member (group, "B", 1));
    sl_group_pause (group, "A", 1);
    cr_assert (s_none (group, 0, BIG, 0), "A is paused");
    s_join (group, "B", 4, 5, 0);
    char who[8];
    s_next (group, 0, BIG, 0, who);
    cr_assert_str_eq (who, "B");
    sl_group_tick (group, 1, 0);
    s_next (group, 0, BIG, 1, who);
    cr_assert_str_eq (who, "A", "A has free slots again after the tick");
    sl_group_destroy (&group);
}

Test (group, batch_bound_and_stream_next)
{
    sl_group_t *group = s_group (3, 1000, 0);
    s_join (group, "A", 8, 7, 0);
    s_assert_lease (s_next (group, 0, 15, 0, NULL), 0, 7, 1);
    s_assert_lease (s_next (group, 0, 15, 0, NULL), 7, 7, 1);
    s_assert_lease (s_next (group, 0, 15, 0, NULL), 14, 1, 1);
    cr_assert (s_none (group, 0, 15, 0), "never at or past stream_next");
    s_assert_lease (s_next (group, 0, 18, 0, NULL), 15, 3, 1);
    cr_assert (s_none (group, 0, 18, 0));
    sl_group_destroy (&group);
}

Test (group, bound_past_checkpoint)
{
    sl_group_t *group = s_group (3, 1000, 100);
    s_join (group, "A", SL_GROUP_MAX_WINDOW, 1, 0);
    s_join (group, "B", SL_GROUP_MAX_WINDOW, 1, 0);
    sl_lease_t first = s_next (group, 0, BIG, 0, NULL);
    s_assert_lease (first, 100, 1, 1);
    for (int i = 1; i < SL_GROUP_MAX_LEASES; i++) {
        s_assert_lease (s_next (group, 0, BIG, 0, NULL), 100 + (uint64_t)i, 1, 1);
    }
    //  Both members still have free slots; the bound stops it.
    cr_assert (s_none (group, 0, BIG, 0));
    //  A result for a lease past the checkpoint does not move the bound.
    sl_lease_t last = {first.id + SL_GROUP_MAX_LEASES - 1, 100 + SL_GROUP_MAX_LEASES - 1, 1, 1};
    cr_assert (s_result (group, &last, NULL, 0, 1).commit);
    cr_assert (s_none (group, 0, BIG, 1));
    cr_assert (s_result (group, &first, NULL, 0, 1).commit);
    cr_assert_eq (sl_group_checkpoint (group), 101);
    s_assert_lease (s_next (group, 0, BIG, 1, NULL), 100 + SL_GROUP_MAX_LEASES, 1, 1);
    cr_assert (s_none (group, 0, BIG, 1));
    sl_group_destroy (&group);
}

//  A fast member (10 ms per lease) and a slow one (50 ms) with the same
//  window: the fast one frees its slots five times as often and so gets
//  about five times the work.
Test (group, balanced_dispatch)
{
    sl_group_t *group = s_group (3, 100000, 0);
    s_join (group, "fast", 2, 100, 0);
    s_join (group, "slow", 2, 100, 0);
    struct {
        sl_lease_t lease;
        int64_t due;
    } held[8];
    size_t n_held = 0;
    int got_fast = 0, got_slow = 0;
    for (int64_t now = 0; now < 10000; now++) {
        for (size_t i = 0; i < n_held;) {
            if (held[i].due <= now) {
                cr_assert (s_result (group, &held[i].lease, NULL, 0, now).commit);
                held[i] = held[--n_held];
            }
            else {
                i++;
            }
        }
        sl_lease_t lease;
        const void *peer;
        size_t peer_len;
        while (sl_group_next (group, 0, BIG, now, &lease, &peer, &peer_len) == 1) {
            cr_assert_lt (n_held, 4, "windows bound the leases held");
            bool fast = peer_len == 4 && memcmp (peer, "fast", 4) == 0;
            got_fast += fast;
            got_slow += !fast;
            held[n_held].lease = lease;
            held[n_held].due = now + (fast ? 10 : 50);
            n_held++;
        }
    }
    cr_assert_gt (got_slow, 0);
    cr_assert_gt (got_fast, 4 * got_slow, "fast %d slow %d", got_fast, got_slow);
    cr_assert_lt (got_fast, 6 * got_slow, "fast %d slow %d", got_fast, got_slow);
    sl_group_destroy (&group);
}

Test (group, ties_go_to_least_recently_given)
{
    sl_group_t *group = s_group (3, 1000, 0);
    s_join (group, "A", 4, 1, 0);
    s_join (group, "B", 4, 1, 0);
    char who[16];
    sl_lease_t a = s_next (group, 0, BIG, 0, who);
    cr_assert_str_eq (who, "A");
    s_next (group, 0, BIG, 0, who);
    cr_assert_str_eq (who, "B", "fewest held");
    cr_assert (s_result (group, &a, NULL, 0, 1).commit);
    s_next (group, 0, BIG, 1, who);
    cr_assert_str_eq (who, "A", "A holds fewer");
    s_next (group, 0, BIG, 1, who);
    cr_assert_str_eq (who, "B", "equal: B waited longer");
    s_next (group, 0, BIG, 1, who);
    cr_assert_str_eq (who, "A");
    sl_group_destroy (&group);
}

Test (group, redelivery_at_deadline)
{
    sl_group_t *group = s_group (5, 1000, 0);
    s_join (group, "A", 1, 10, 0);
    s_join (group, "B", 1, 10, 0);
    char who[16];
    sl_lease_t l1 = s_next (group, 0, 10, 0, who);
    cr_assert_str_eq (who, "A");
    cr_assert (s_none (group, 0, 10, 0), "no more records");
    cr_assert_eq (sl_group_tick (group, 999, 0), 0, "not yet");
    cr_assert_eq (sl_group_tick (group, 1000, 0), 1, "deadline reached");
    cr_assert_eq (sl_group_leases (group), 0);
    sl_lease_t l2 = s_next (group, 0, 10, 1000, who);
    s_assert_lease (l2, 0, 10, 2);
    cr_assert_str_eq (who, "B", "A has waited less recently");
    cr_assert_neq (l2.id, l1.id);
    cr_assert (s_result (group, &l2, NULL, 0, 1001).commit);
    cr_assert_eq (sl_group_checkpoint (group), 10);
    sl_group_destroy (&group);
}

Test (group, silent_member_expiry)
{
    sl_group_t *group = s_group (5, 100000, 0);
    s_join (group, "A", 1, 10, 0);
    s_join (group, "B", 1, 10, 0);
    char who[16];
    sl_lease_t la = s_next (group, 0, 20, 0, who);
    cr_assert_str_eq (who, "A");
    sl_lease_t lb = s_next (group, 0, 20, 0, who);
    cr_assert_str_eq (who, "B");
    cr_assert (sl_group_seen (group, "B", 1, 2500));
    cr_assert_not (sl_group_seen (group, "C", 1, 2500));
    cr_assert_eq (sl_group_tick (group, 3000, 3000), 0, "A silent exactly 3000 ms: not more");
    cr_assert_eq (sl_group_tick (group, 3001, 3000), 1, "A's lease ended");
    cr_assert_eq (sl_group_members (group), 1);
    cr_assert_not (sl_group_seen (group, "A", 1, 3001));
    cr_assert (s_result (group, &lb, NULL, 0, 3001).commit);
    sl_lease_t again = s_next (group, 0, 20, 3001, who);
    cr_assert_str_eq (who, "B");
    s_assert_lease (again, la.offset, la.count, 2);
    sl_group_destroy (&group);
}

Test (group, leave_hands_leases_back)
{
    sl_group_t *group = s_group (5, 100000, 0);
    s_join (group, "A", 2, 10, 0);
    sl_lease_t l1 = s_next (group, 0, 20, 0, NULL);
    sl_lease_t l2 = s_next (group, 0, 20, 0, NULL);
    sl_group_leave (group, "A", 1);
    cr_assert_eq (sl_group_members (group), 0);
    cr_assert_eq (sl_group_leases (group), 0);
    cr_assert (s_none (group, 0, 20, 1), "no member");
    s_join (group, "B", 2, 10, 1);
    char who[16];
    sl_lease_t r1 = s_next (group, 0, 20, 1, who);
    cr_assert_str_eq (who, "B");
    s_assert_lease (r1, 0, 10, 1); //  leaving is not a failed attempt
    //  A's late result for l2 still commits: nothing of it is done.
    cr_assert (s_result (group, &l2, NULL, 0, 2).commit);
    cr_assert (s_result (group, &r1, NULL, 0, 2).commit);
    cr_assert_eq (sl_group_checkpoint (group), 20);
    cr_assert_not (s_result (group, &l1, NULL, 0, 3).commit, "first result won");
    //  The queued copy of l2's range is skipped: it is done.
    cr_assert (s_none (group, 0, 20, 3));
    sl_group_destroy (&group);
}

Test (group, rejoin_by_name_requeues_leases)
{
    //  A member name seen again from a new peer is a restarted process (or a
    //  reconnect): what the old one held is handed out again at once, and a
    //  late result from the old holder can still commit if it comes first.
    sl_group_t *group = s_group (5, 100000, 0);
    cr_assert_eq (sl_group_join (group, "peer1", 5, "w1", 1, 10, 0), 0);
    sl_lease_t l1 = s_next (group, 0, 20, 0, NULL);
    cr_assert_eq (sl_group_join (group, "peer2", 5, "w1", 1, 10, 1), 0);
    cr_assert_eq (sl_group_members (group), 1);
    char who[16];
    sl_lease_t again = s_next (group, 0, 20, 1, who);
    cr_assert_str_eq (who, "peer2");
    cr_assert_eq (again.offset, l1.offset, "l1's range is leased again at once");
    cr_assert_eq (again.count, l1.count);
    cr_assert_eq (again.attempt, l1.attempt, "a rejoin is not a failed attempt");
    cr_assert (s_result (group, &l1, NULL, 0, 2).commit, "the old holder's late result wins");
    cr_assert_not (s_result (group, &again, NULL, 0, 3).commit, "the range is done");
    cr_assert_eq (sl_group_checkpoint (group), 10);
    sl_group_destroy (&group);
}

Test (group, late_result_after_commit_dropped)
{
    sl_group_t *group = s_group (5, 1000, 0);
    s_join (group, "A", 1, 10, 0);
    sl_lease_t l1 = s_next (group, 0, 10, 0, NULL);
    cr_assert_eq (sl_group_tick (group, 1000, 0), 1);
    sl_lease_t l2 = s_next (group, 0, 10, 1000, NULL);
    s_assert_lease (l2, 0, 10, 2);
    cr_assert (s_result (group, &l2, NULL, 0, 1001).commit);
    cr_assert_not (s_result (group, &l1, NULL, 0, 1002).commit, "late after commit");
    cr_assert_not (s_result (group, &l2, NULL, 0, 1002).commit, "repeat");
    cr_assert_eq (sl_group_checkpoint (group), 10);
    sl_group_destroy (&group);
}

Test (group, late_result_before_release_commits)
{
    sl_group_t *group = s_group (5, 1000, 0);
    s_join (group, "A", 1, 10, 0);
    sl_lease_t l1 = s_next (group, 0, 10, 0, NULL);
    cr_assert_eq (sl_group_tick (group, 1000, 0), 1);
    sl_lease_t l2 = s_next (group, 0, 10, 1000, NULL);
    cr_assert (s_none (group, 0, 20, 1000), "window 1 held by l2");
    sl_outcome_t late = s_result (group, &l1, NULL, 0, 1001);
    cr_assert (late.commit, "first result for the range wins");
    cr_assert_eq (sl_group_checkpoint (group), 10);
    cr_assert_not (s_result (group, &l2, NULL, 0, 1002).commit, "its range is done");
    //  The dropped result still freed A's slot.
    s_assert_lease (s_next (group, 0, 20, 1002, NULL), 10, 10, 1);
    sl_group_destroy (&group);
}

Test (group, mismatched_result_dropped)
{
    sl_group_t *group = s_group (5, 1000, 0);
    s_join (group, "A", 1, 10, 0);
    sl_lease_t l1 = s_next (group, 0, 10, 0, NULL);
    sl_lease_t wrong = l1;
    wrong.count = 5;
    cr_assert_not (s_result (group, &wrong, NULL, 0, 1).commit);
    cr_assert_eq (sl_group_leases (group), 1, "the lease is still live");
    sl_failed_t outside = {10, "x", 1, false};
    sl_outcome_t out;
    cr_assert_eq (sl_group_result (group, l1.id, 0, 10, &outside, 1, 1, &out), SL_EINVAL);
    cr_assert_not (out.commit);
    cr_assert_eq (sl_group_leases (group), 1);
    cr_assert (s_result (group, &l1, NULL, 0, 1).commit);
    sl_group_destroy (&group);
}

//  After a split, the wide leases' late results overlap a done record and
//  are dropped; the one-record leases commit the rest.
Test (group, late_wide_results_dropped_after_split)
{
    sl_group_t *group = s_group (9, 1000, 0);
    s_join (group, "A", 4, 4, 0);
    sl_lease_t l1 = s_next (group, 0, 4, 0, NULL);
    cr_assert_eq (sl_group_tick (group, 1000, 0), 1);
    sl_lease_t l2 = s_next (group, 0, 4, 1000, NULL);
    cr_assert_eq (sl_group_tick (group, 2000, 0), 1);
    //  Split after two expiries: four one-record leases.
    sl_lease_t one[4];
    for (int i = 0; i < 4; i++) {
        one[i] = s_next (group, 0, 4, 2000, NULL);
        s_assert_lease (one[i], (uint64_t)i, 1, 3);
    }
    cr_assert (s_result (group, &one[2], NULL, 0, 2001).commit);
    cr_assert_not (s_result (group, &l1, NULL, 0, 2001).commit, "overlaps a done record");
    cr_assert_not (s_result (group, &l2, NULL, 0, 2001).commit);
    for (int i = 0; i < 4; i++) {
        if (i != 2) {
            cr_assert (s_result (group, &one[i], NULL, 0, 2002).commit);
        }
    }
    cr_assert_eq (sl_group_checkpoint (group), 4);
    sl_group_destroy (&group);
}

Test (group, failed_records_retry_then_dead)
{
    sl_group_t *group = s_group (3, 1000, 0);
    s_join (group, "A", 1, 5, 0);
    sl_lease_t l1 = s_next (group, 0, 5, 0, NULL);
    sl_failed_t f1 = {2, "boom 1", 6, false};
    sl_outcome_t out = s_result (group, &l1, &f1, 1, 1);
    cr_assert (out.commit);
    cr_assert_eq (out.n_dead, 0);
    cr_assert_eq (sl_group_checkpoint (group), 2, "record 2 is not done");
    sl_lease_t l2 = s_next (group, 0, 5, 1, NULL);
    s_assert_lease (l2, 2, 1, 2);
    cr_assert (s_none (group, 0, 5, 1), "window 1");
    sl_failed_t f2 = {2, "boom 2", 6, false};
    cr_assert (s_result (group, &l2, &f2, 1, 2).commit);
    sl_lease_t l3 = s_next (group, 0, 5, 2, NULL);
    s_assert_lease (l3, 2, 1, 3);
    sl_failed_t f3 = {2, "boom 3 and more", 6, false};
    out = s_result (group, &l3, &f3, 1, 3);
    cr_assert (out.commit);
    cr_assert_eq (out.n_dead, 1);
    cr_assert_eq (out.dead[0].offset, 2);
    cr_assert_eq (out.dead[0].attempts, 3);
    cr_assert_str_eq (out.dead[0].error, "boom 3");
    cr_assert_eq (sl_group_checkpoint (group), 5, "a dead record is done");
    cr_assert (s_none (group, 0, 5, 3));
    sl_group_destroy (&group);
}

Test (group, final_failure_dead_at_once)
{
    sl_group_t *group = s_group (5, 1000, 0);
    s_join (group, "A", 1, 4, 0);
    sl_lease_t l1 = s_next (group, 0, 4, 0, NULL);
    sl_failed_t failed[] = {{1, "retry me", 8, false}, {2, "hopeless", 8, true}};
    sl_outcome_t out = s_result (group, &l1, failed, 2, 1);
    cr_assert (out.commit);
    cr_assert_eq (out.n_dead, 1);
    cr_assert_eq (out.dead[0].offset, 2);
    cr_assert_eq (out.dead[0].attempts, 1);
    cr_assert_str_eq (out.dead[0].error, "hopeless");
    cr_assert_eq (sl_group_checkpoint (group), 1);
    s_assert_lease (s_next (group, 0, 4, 1, NULL), 1, 1, 2);
    sl_group_destroy (&group);
}

Test (group, dup_is_independent)
{
    sl_group_t *group = s_busy_group ();
    sl_group_t *copy = sl_group_dup (group);
    cr_assert_not_null (copy);
    sl_buf_t a, b;
    sl_buf_init (&a, 0);
    sl_buf_init (&b, 0);
    cr_assert_eq (sl_group_encode (group, &a), 0);
    cr_assert_eq (sl_group_encode (copy, &b), 0);
    cr_assert_eq (a.len, b.len);
    cr_assert_eq (memcmp (a.data, b.data, a.len), 0);
    cr_assert_eq (sl_group_members (copy), 1);
    cr_assert_eq (sl_group_leases (copy), sl_group_leases (group));
    //  Changing the original leaves the copy as it was: the broker restores
    //  the copy when a transaction does not commit.
    sl_group_leave (group, "A", 1);
    cr_assert_eq (sl_group_members (copy), 1);
    sl_lease_t next = s_next (copy, 0, 100, 0, NULL);
    s_assert_lease (next, 16, 1, 2);
    sl_group_destroy (&group);
    sl_group_destroy (&copy);
    sl_buf_free (&a);
    sl_buf_free (&b);
}

Test (group, failed_duplicates_and_several)
{
    sl_group_t *group = s_group (1, 1000, 0);
    s_join (group, "A", 1, 10, 0);
    sl_lease_t l1 = s_next (group, 0, 10, 0, NULL);
    sl_failed_t failed[] = {{7, "seven", 5, false}, {3, "three", 5, false}, {7, "seven", 5, false}};
    sl_outcome_t out = s_result (group, &l1, failed, 3, 1);
    cr_assert (out.commit);
    cr_assert_eq (out.n_dead, 2, "max_deliver 1: dead at once, once each");
    cr_assert_eq (out.dead[0].offset, 3);
    cr_assert_eq (out.dead[1].offset, 7);
    cr_assert_eq (sl_group_checkpoint (group), 10);
    sl_group_destroy (&group);
}

Test (group, split_after_two_expiries_then_dead)
{
    sl_group_t *group = s_group (5, 1000, 0);
    s_join (group, "A", 4, 3, 0);
    int64_t now = 0;
    s_assert_lease (s_next (group, 0, 3, now, NULL), 0, 3, 1);
    cr_assert_eq (sl_group_tick (group, now += 1000, 0), 1);
    s_assert_lease (s_next (group, 0, 3, now, NULL), 0, 3, 2);
    cr_assert_eq (sl_group_tick (group, now += 1000, 0), 1);
    //  Record 1 kills its worker; 0 and 2 succeed alone.
    sl_lease_t a = s_next (group, 0, 3, now, NULL);
    sl_lease_t b = s_next (group, 0, 3, now, NULL);
    sl_lease_t c = s_next (group, 0, 3, now, NULL);
    s_assert_lease (a, 0, 1, 3);
    s_assert_lease (b, 1, 1, 3);
    s_assert_lease (c, 2, 1, 3);
    cr_assert (s_result (group, &a, NULL, 0, now).commit);
    cr_assert (s_result (group, &c, NULL, 0, now).commit);
    cr_assert_eq (sl_group_checkpoint (group), 1);
    cr_assert_eq (sl_group_tick (group, now += 1000, 0), 1);
    s_assert_lease (s_next (group, 0, 3, now, NULL), 1, 1, 4);
    cr_assert_eq (sl_group_tick (group, now += 1000, 0), 1);
    s_assert_lease (s_next (group, 0, 3, now, NULL), 1, 1, 5);
    sl_outcome_t out;
    cr_assert_eq (sl_group_take_dead (group, &out), 0);
    cr_assert_not (out.commit, "nothing dead yet");
    cr_assert_eq (sl_group_tick (group, now += 1000, 0), 1);
    cr_assert_eq (sl_group_checkpoint (group), 3, "dead at max_deliver is done");
    cr_assert (s_none (group, 0, 3, now));
    cr_assert_eq (sl_group_take_dead (group, &out), 0);
    cr_assert (out.commit);
    cr_assert_eq (out.n_dead, 1);
    cr_assert_eq (out.dead[0].offset, 1);
    cr_assert_eq (out.dead[0].attempts, 5);
    cr_assert_str_eq (out.dead[0].error, "lease expired 5 times (worker died or hung)");
    cr_assert_eq (sl_group_take_dead (group, &out), 0);
    cr_assert_not (out.commit, "handed out once");
    sl_group_destroy (&group);
}

Test (group, expiry_dead_rides_on_next_commit)
{
    sl_group_t *group = s_group (1, 1000, 0);
    s_join (group, "A", 2, 1, 0);
    sl_lease_t a = s_next (group, 0, 2, 0, NULL);
    (void)a;
    sl_lease_t b = s_next (group, 0, 2, 0, NULL);
    cr_assert_eq (b.offset, 1);
    cr_assert_eq (sl_group_tick (group, 1000, 0), 2);
    sl_lease_t c = s_next (group, 0, 3, 1000, NULL);
    cr_assert_eq (c.offset, 2);
    sl_outcome_t out = s_result (group, &c, NULL, 0, 1001);
    cr_assert (out.commit);
    cr_assert_eq (out.n_dead, 2);
    cr_assert_eq (sl_group_checkpoint (group), 3);
    sl_group_destroy (&group);
}

Test (group, checkpoint_over_out_of_order_results)
{
    sl_group_t *group = s_group (3, 1000, 0);
    s_join (group, "A", 3, 10, 0);
    sl_lease_t l[3];
    for (int i = 0; i < 3; i++) {
        l[i] = s_next (group, 0, 30, 0, NULL);
    }
    cr_assert (s_result (group, &l[2], NULL, 0, 1).commit);
    cr_assert_eq (sl_group_checkpoint (group), 0);
    cr_assert (s_result (group, &l[1], NULL, 0, 1).commit);
    cr_assert_eq (sl_group_checkpoint (group), 0);
    cr_assert (s_result (group, &l[0], NULL, 0, 1).commit);
    cr_assert_eq (sl_group_checkpoint (group), 30);
    sl_group_destroy (&group);
}

Test (group, retention_skip)
{
    sl_group_t *group = s_group (3, 1000, 0);
    s_join (group, "A", 2, 10, 0);
    sl_lease_t l1 = s_next (group, 0, 100, 0, NULL);
    sl_group_unlease (group, l1.id);
    cr_assert_eq (sl_group_leases (group), 0);
    //  Records below 50 were removed: done, even the queued ones.
    sl_lease_t l2 = s_next (group, 50, 100, 1, NULL);
    s_assert_lease (l2, 50, 10, 1);
    cr_assert_eq (sl_group_checkpoint (group), 50);
    sl_group_destroy (&group);
}

//  A live lease whose records were partly done meanwhile (here by
//  retention): its result is dropped, the slot is freed and the records
//  not done are handed out again, with no attempt counted.
Test (group, partly_done_live_lease_requeued)
{
    sl_group_t *group = s_group (3, 1000, 0);
    s_join (group, "A", 1, 10, 0);
    sl_lease_t l1 = s_next (group, 0, 100, 0, NULL);
    cr_assert (s_none (group, 5, 100, 0));
    cr_assert_eq (sl_group_checkpoint (group), 5);
    cr_assert_not (s_result (group, &l1, NULL, 0, 1).commit);
    cr_assert_eq (sl_group_leases (group), 0);
    s_assert_lease (s_next (group, 5, 100, 1, NULL), 5, 5, 1);
    sl_group_destroy (&group);
}

Test (group, unlease_is_not_an_attempt)
{
    sl_group_t *group = s_group (3, 1000, 0);
    s_join (group, "A", 1, 10, 0);
    sl_lease_t l1 = s_next (group, 0, 100, 0, NULL);
    sl_group_unlease (group, l1.id);
    s_assert_lease (s_next (group, 0, 100, 1, NULL), 0, 10, 1);
    sl_group_destroy (&group);
}

//  ---------------------------------------------------------------------
//  Encoding

//  A group with done ranges above the checkpoint and an attempt count.
static sl_group_t *
s_busy_group (void)
{
    sl_group_t *group = s_group (4, 1000, 10);
    s_join (group, "A", 4, 5, 0);
    sl_lease_t l[4];
    for (int i = 0; i < 4; i++) {
        l[i] = s_next (group, 0, 100, 0, NULL); //  10, 15, 20, 25
    }
    sl_failed_t failed = {16, "bad input", 9, false};
    cr_assert (s_result (group, &l[1], &failed, 1, 1).commit);
    cr_assert (s_result (group, &l[3], NULL, 0, 1).commit);
    cr_assert_eq (sl_group_checkpoint (group), 10);
    return group;
}

Test (group, encode_decode_round_trip)
{
    sl_group_t *group = s_busy_group ();
    sl_buf_t a, b;
    sl_buf_init (&a, 0);
    sl_buf_init (&b, 0);
    cr_assert_eq (sl_group_encode (group, &a), 0);
    int err = 0;
    sl_group_t *copy = sl_group_decode ("g", a.data, a.len, &err);
    cr_assert_not_null (copy, "err %d", err);
    cr_assert_str_eq (sl_group_name (copy), "g");
    cr_assert_str_eq (sl_group_config (copy)->in, "in");
    cr_assert_str_eq (sl_group_config (copy)->out, "out");
    cr_assert_eq (sl_group_config (copy)->max_deliver, 4);
    cr_assert_eq (sl_group_config (copy)->lease_ms, 1000);
    cr_assert_eq (sl_group_checkpoint (copy), 10);
    cr_assert_eq (sl_group_members (copy), 0, "members are not persistent");
    cr_assert_eq (sl_group_encode (copy, &b), 0);
    cr_assert_eq (a.len, b.len);
    cr_assert_eq (memcmp (a.data, b.data, a.len), 0);
    //  The restored group redoes what was in flight: 10..14, the failed
    //  record 16 alone with its count, 20..24; never 15 or 17..19 or 25..29.
    s_join (copy, "B", 8, 5, 0);
    s_assert_lease (s_next (copy, 0, 30, 0, NULL), 10, 5, 1);
    s_assert_lease (s_next (copy, 0, 30, 0, NULL), 16, 1, 2);
    s_assert_lease (s_next (copy, 0, 30, 0, NULL), 20, 5, 1);
    cr_assert (s_none (copy, 0, 30, 0));
    s_assert_lease (s_next (copy, 0, 31, 0, NULL), 30, 1, 1);
    sl_group_destroy (&copy);
    sl_group_destroy (&group);
    sl_buf_free (&a);
    sl_buf_free (&b);
}

//  A tiny msgpack writer for hostile states.
typedef struct {
    uint8_t data[512];
    size_t len;
} s_mp_t;

static void
s_w (s_mp_t *w, size_t n)
{
    cr_assert_neq (n, 0);
    w->len += n;
}
#define W_MAP(w, n) s_w (w, sl_mp_write_map ((w)->data + (w)->len, sizeof (w)->data - (w)->len, n))
#define W_ARR(w, n)                                                                                \
    s_w (w, sl_mp_write_array ((w)->data + (w)->len, sizeof (w)->data - (w)->len, n))
#define W_UINT(w, v)                                                                               \
    s_w (w, sl_mp_write_uint ((w)->data + (w)->len, sizeof (w)->data - (w)->len, v))

static void
W_STR (s_mp_t *w, const char *s)
{
    size_t n = strlen (s);
    s_w (w, sl_mp_write_str_header (w->data + w->len, sizeof w->data - w->len, (uint32_t)n));
    memcpy (w->data + w->len, s, n);
    w->len += n;
}

//  A state map with every key; done and attempts written by the callers.
static void
s_state_head (s_mp_t *w, uint64_t checkpoint)
{
    memset (w, 0, sizeof *w);
    W_MAP (w, 8);
    W_STR (w, "v");
    W_UINT (w, 1);
    W_STR (w, "in");
    W_STR (w, "in");
    W_STR (w, "out");
    W_STR (w, "out");
    W_STR (w, "max_deliver");
    W_UINT (w, 3);
    W_STR (w, "lease_ms");
    W_UINT (w, 1000);
    W_STR (w, "checkpoint");
    W_UINT (w, checkpoint);
}

static int
s_decode_err (const s_mp_t *w)
{
    int err = 0;
    sl_group_t *group = sl_group_decode ("g", w->data, w->len, &err);
    if (group) {
        sl_group_destroy (&group);
        return 0;
    }
    return err;
}

static s_mp_t
s_state_ranges (uint64_t checkpoint, const uint64_t *ranges, uint32_t n)
{
    s_mp_t w;
    s_state_head (&w, checkpoint);
    W_STR (&w, "done");
    W_ARR (&w, n);
    for (uint32_t i = 0; i < n; i++) {
        W_ARR (&w, 2);
        W_UINT (&w, ranges[2 * i]);
        W_UINT (&w, ranges[2 * i + 1]);
    }
    W_STR (&w, "attempts");
    W_ARR (&w, 0);
    return w;
}

//  Decodes a hand-written state and encodes it again: the bytes the group
//  keeps, which show whether its ranges were merged.
static void
s_reencode (const s_mp_t *w, sl_buf_t *out)
{
    int err = 0;
    sl_group_t *group = sl_group_decode ("g", w->data, w->len, &err);
    cr_assert_not_null (group, "decode failed: %d", err);
    cr_assert_eq (sl_group_encode (group, out), 0);
    sl_group_destroy (&group);
}

Test (group, decode_valid_hand_written)
{
    //  [12,14) and [14,16) touch: the group keeps them as one range [12,16).
    uint64_t ranges[] = {12, 14, 14, 16, 20, 21};
    uint64_t merged[] = {12, 16, 20, 21};
    uint64_t apart[] = {12, 14, 15, 16, 20, 21};
    s_mp_t w_ranges = s_state_ranges (10, ranges, 3);
    s_mp_t w_merged = s_state_ranges (10, merged, 2);
    s_mp_t w_apart = s_state_ranges (10, apart, 3);
    sl_buf_t a, b, c;
    sl_buf_init (&a, 0);
    sl_buf_init (&b, 0);
    sl_buf_init (&c, 0);
    s_reencode (&w_ranges, &a);
    s_reencode (&w_merged, &b);
    s_reencode (&w_apart, &c);
    cr_assert_eq (a.len, b.len, "adjacent ranges are merged");
    cr_assert_eq (memcmp (a.data, b.data, a.len), 0, "adjacent ranges are merged");
    cr_assert (c.len != a.len || memcmp (c.data, a.data, a.len) != 0,
               "ranges with a gap stay apart");
    sl_buf_free (&a);
    sl_buf_free (&b);
    sl_buf_free (&c);
}

Test (group, decode_rejects_bad_ranges)
{
    uint64_t overlap[] = {12, 15, 14, 16};
    uint64_t unsorted[] = {20, 22, 12, 14};
    uint64_t below[] = {5, 8};
    uint64_t at[] = {10, 12};
    uint64_t empty[] = {12, 12};
    uint64_t reversed[] = {14, 12};
    s_mp_t w = s_state_ranges (10, overlap, 2);
    cr_assert_eq (s_decode_err (&w), SL_EPROTO);
    w = s_state_ranges (10, unsorted, 2);
    cr_assert_eq (s_decode_err (&w), SL_EPROTO);
    w = s_state_ranges (10, below, 1);
    cr_assert_eq (s_decode_err (&w), SL_EPROTO);
    w = s_state_ranges (10, at, 1);
    cr_assert_eq (s_decode_err (&w), SL_EPROTO, "the checkpoint would have moved");
    w = s_state_ranges (10, empty, 1);
    cr_assert_eq (s_decode_err (&w), SL_EPROTO);
    w = s_state_ranges (10, reversed, 1);
    cr_assert_eq (s_decode_err (&w), SL_EPROTO);
    uint64_t ok[] = {12, 14};
    w = s_state_ranges (UINT64_MAX, ok, 1);
    cr_assert_eq (s_decode_err (&w), SL_EPROTO);
}

Test (group, decode_rejects_bad_attempts)
{
    struct {
        uint64_t offset;
        uint64_t n;
        const char *error;
    } cases[] = {{5, 1, "below checkpoint"},
                 {12, 1, "inside a done range"},
                 {20, 0, "n 0"},
                 {20, (uint64_t)UINT32_MAX + 1, "n too big"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_mp_t w;
        s_state_head (&w, 10);
        W_STR (&w, "done");
        W_ARR (&w, 1);
        W_ARR (&w, 2);
        W_UINT (&w, 11);
        W_UINT (&w, 13);
        W_STR (&w, "attempts");
        W_ARR (&w, 1);
        W_ARR (&w, 3);
        W_UINT (&w, cases[i].offset);
        W_UINT (&w, cases[i].n);
        W_STR (&w, cases[i].error);
        cr_assert_eq (s_decode_err (&w), SL_EPROTO, "%s", cases[i].error);
    }
    //  Unsorted, and an error text past 255 bytes.
    s_mp_t w;
    s_state_head (&w, 10);
    W_STR (&w, "done");
    W_ARR (&w, 0);
    W_STR (&w, "attempts");
    W_ARR (&w, 2);
    W_ARR (&w, 3);
    W_UINT (&w, 30);
    W_UINT (&w, 1);
    W_STR (&w, "x");
    W_ARR (&w, 3);
    W_UINT (&w, 20);
    W_UINT (&w, 1);
    W_STR (&w, "x");
    cr_assert_eq (s_decode_err (&w), SL_EPROTO, "unsorted");
    char long_text[300];
    memset (long_text, 'e', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = 0;
    s_state_head (&w, 10);
    W_STR (&w, "done");
    W_ARR (&w, 0);
    W_STR (&w, "attempts");
    W_ARR (&w, 1);
    W_ARR (&w, 3);
    W_UINT (&w, 30);
    W_UINT (&w, 1);
    W_STR (&w, long_text);
    cr_assert_eq (s_decode_err (&w), SL_EPROTO, "text too long");
}

Test (group, decode_rejects_wrong_types_and_keys)
{
    s_mp_t w;
    //  Missing "attempts".
    s_state_head (&w, 10);
    w.data[0] = 0x88;
    W_STR (&w, "done");
    W_ARR (&w, 0);
    W_STR (&w, "zzz");
    W_UINT (&w, 1);
    cr_assert_eq (s_decode_err (&w), SL_EPROTO, "missing key");
    //  "done" not an array.
    s_state_head (&w, 10);
    W_STR (&w, "done");
    W_STR (&w, "oops");
    W_STR (&w, "attempts");
    W_ARR (&w, 0);
    cr_assert_eq (s_decode_err (&w), SL_EPROTO);
    //  A done entry of three.
    s_state_head (&w, 10);
    W_STR (&w, "done");
    W_ARR (&w, 1);
    W_ARR (&w, 3);
    W_UINT (&w, 11);
    W_UINT (&w, 12);
    W_UINT (&w, 13);
    W_STR (&w, "attempts");
    W_ARR (&w, 0);
    cr_assert_eq (s_decode_err (&w), SL_EPROTO);
    //  Key given twice.
    s_state_head (&w, 10);
    w.data[0] = 0x89;
    W_STR (&w, "done");
    W_ARR (&w, 0);
    W_STR (&w, "attempts");
    W_ARR (&w, 0);
    W_STR (&w, "done");
    W_ARR (&w, 0);
    cr_assert_eq (s_decode_err (&w), SL_EPROTO, "duplicate key");
    //  Unknown key with a value: ignored.
    s_state_head (&w, 10);
    w.data[0] = 0x89;
    W_STR (&w, "done");
    W_ARR (&w, 0);
    W_STR (&w, "attempts");
    W_ARR (&w, 0);
    W_STR (&w, "future");
    W_ARR (&w, 1);
    W_UINT (&w, 7);
    cr_assert_eq (s_decode_err (&w), 0);
    //  Not a map; a str version; version 2; in == out; trailing byte.
    uint8_t array[] = {0x90};
    cr_assert_eq (sl_group_decode ("g", array, 1, NULL), NULL);
    s_state_head (&w, 10);
    W_STR (&w, "done");
    W_ARR (&w, 0);
    W_STR (&w, "attempts");
    W_ARR (&w, 0);
    s_mp_t good = w;
    w.data[3] = 0x02; //  "v": 2
    cr_assert_eq (w.data[1], 0xa1);
    cr_assert_eq (s_decode_err (&w), SL_EPROTO, "version 2");
    w = good;
    w.data[w.len++] = 0xc0;
    cr_assert_eq (s_decode_err (&w), SL_EPROTO, "trailing bytes");
    //  "out": "in" makes in == out.
    memset (&w, 0, sizeof w);
    W_MAP (&w, 8);
    W_STR (&w, "v");
    W_UINT (&w, 1);
    W_STR (&w, "in");
    W_STR (&w, "in");
    W_STR (&w, "out");
    W_STR (&w, "in");
    memcpy (w.data + w.len, good.data + 17, good.len - 17);
    w.len += good.len - 17;
    cr_assert_eq (s_decode_err (&w), SL_EPROTO, "in == out");
    //  "v": "1" as str.
    s_mp_t v_str;
    memset (&v_str, 0, sizeof v_str);
    W_MAP (&v_str, 8);
    W_STR (&v_str, "v");
    W_STR (&v_str, "1");
    memcpy (v_str.data + v_str.len, good.data + 4, good.len - 4);
    v_str.len += good.len - 4;
    cr_assert_eq (s_decode_err (&v_str), SL_EPROTO, "wrong type");
}

Test (group, decode_rejects_truncated_and_lying)
{
    sl_group_t *group = s_busy_group ();
    sl_buf_t a;
    sl_buf_init (&a, 0);
    cr_assert_eq (sl_group_encode (group, &a), 0);
    for (size_t len = 0; len < a.len; len++) {
        int err = 0;
        sl_group_t *copy = sl_group_decode ("g", a.data, len, &err);
        cr_assert_null (copy, "prefix %zu decoded", len);
        cr_assert (err == SL_ETRUNC || err == SL_EPROTO, "prefix %zu: %d", len, err);
    }
    //  An array claiming four billion ranges in a few bytes.
    s_mp_t w;
    s_state_head (&w, 10);
    W_STR (&w, "done");
    W_ARR (&w, UINT32_MAX);
    W_ARR (&w, 2);
    W_UINT (&w, 11);
    W_UINT (&w, 12);
    cr_assert_eq (s_decode_err (&w), SL_ETRUNC);
    //  Deep nesting in an unknown key.
    memset (&w, 0, sizeof w);
    W_MAP (&w, 1);
    W_STR (&w, "x");
    for (int i = 0; i < 100; i++) {
        W_ARR (&w, 1);
    }
    W_UINT (&w, 1);
    cr_assert_eq (s_decode_err (&w), SL_EPROTO);
    cr_assert_null (sl_group_decode ("g", NULL, 0, NULL));
    sl_group_destroy (&group);
    sl_buf_free (&a);
}

//  ---------------------------------------------------------------------
//  Dead letters

static void
s_expect_str (const uint8_t **p, const uint8_t *end, const char *want)
{
    const uint8_t *s;
    uint32_t n;
    cr_assert_eq (sl_mp_read_str (p, end, &s, &n), 0);
    cr_assert_eq (n, strlen (want), "'%.*s' != '%s'", (int)n, s, want);
    cr_assert_eq (memcmp (s, want, n), 0);
}

Test (group, dlq_record_contents)
{
    sl_group_t *group = s_group (3, 1000, 0);
    //  The original record: key "k1", headers {"h": "v"}, value {"n": 1}.
    static const uint8_t headers[] = {0x81, 0xa1, 'h', 0xa1, 'v'};
    static const uint8_t value[] = {0x81, 0xa1, 'n', 0x01};
    sl_buf_t in;
    sl_buf_init (&in, 0);
    cr_assert_eq (sl_record_encode (&in, 1795694400000, "k1", 2, false, headers, sizeof headers,
                                    value, sizeof value),
                  0);
    sl_record_iter_t it;
    sl_record_t original;
    sl_record_iter_init (&it, in.data, in.len, 1, 42);
    cr_assert_eq (sl_record_iter_next (&it, &original), 1);
    sl_dead_t dead = {42, 3, "boom"};
    sl_buf_t out;
    sl_buf_init (&out, 0);
    cr_assert_eq (sl_group_dlq_encode (&out, group, &dead, &original, 1795694500000), 0);
    cr_assert_eq (sl_batch_validate (out.data, out.len, 1, SL_MP_MAX_DEPTH), 0);
    sl_record_t rec;
    sl_record_iter_init (&it, out.data, out.len, 1, 0);
    cr_assert_eq (sl_record_iter_next (&it, &rec), 1);
    cr_assert_eq (rec.timestamp, 1795694500000);
    cr_assert_eq (rec.key_len, 2);
    cr_assert_not (rec.key_is_bin);
    cr_assert_eq (memcmp (rec.key, "k1", 2), 0);
    cr_assert_null (rec.headers);
    const uint8_t *p = rec.value;
    const uint8_t *end = rec.value + rec.value_len;
    uint32_t pairs;
    cr_assert_eq (sl_mp_read_map (&p, end, &pairs), 0);
    cr_assert_eq (pairs, 6);
    uint64_t u;
    s_expect_str (&p, end, "error");
    s_expect_str (&p, end, "boom");
    s_expect_str (&p, end, "attempts");
    cr_assert_eq (sl_mp_read_uint (&p, end, &u), 0);
    cr_assert_eq (u, 3);
    s_expect_str (&p, end, "group");
    s_expect_str (&p, end, "g");
    s_expect_str (&p, end, "stream");
    s_expect_str (&p, end, "in");
    s_expect_str (&p, end, "offset");
    cr_assert_eq (sl_mp_read_uint (&p, end, &u), 0);
    cr_assert_eq (u, 42);
    s_expect_str (&p, end, "record");
    cr_assert_eq (sl_mp_read_map (&p, end, &pairs), 0);
    cr_assert_eq (pairs, 4);
    int64_t ts;
    s_expect_str (&p, end, "timestamp");
    cr_assert_eq (sl_mp_read_int (&p, end, &ts), 0);
    cr_assert_eq (ts, 1795694400000);
    s_expect_str (&p, end, "key");
    s_expect_str (&p, end, "k1");
    s_expect_str (&p, end, "headers");
    cr_assert_eq (memcmp (p, headers, sizeof headers), 0);
    p += sizeof headers;
    s_expect_str (&p, end, "value");
    cr_assert_eq (memcmp (p, value, sizeof value), 0);
    p += sizeof value;
    cr_assert_eq (p, end, "nothing after the map");
    cr_assert_eq (sl_record_iter_next (&it, &rec), 0);
    sl_buf_free (&in);
    sl_buf_free (&out);
    sl_group_destroy (&group);
}

Test (group, dlq_nil_key_bin_key_and_buffer_untouched_on_failure)
{
    sl_group_t *group = s_group (3, 1000, 0);
    static const uint8_t value[] = {0xa2, 'h', 'i'};
    sl_record_t original;
    memset (&original, 0, sizeof original);
    original.timestamp = -5;
    original.value = value;
    original.value_len = sizeof value;
    sl_dead_t dead = {7, 1, "x"};
    sl_buf_t out;
    sl_buf_init (&out, 0);
    cr_assert_eq (sl_group_dlq_encode (&out, group, &dead, &original, 1), 0);
    sl_record_iter_t it;
    sl_record_t rec;
    sl_record_iter_init (&it, out.data, out.len, 1, 0);
    cr_assert_eq (sl_record_iter_next (&it, &rec), 1);
    cr_assert_null (rec.key);
    //  The value ends with "key": nil, "headers": nil, "value": "hi".
    static const uint8_t tail[] = {0xa3, 'k',  'e',  'y', 0xc0, 0xa7, 'h', 'e', 'a',  'd', 'e', 'r',
                                   's',  0xc0, 0xa5, 'v', 'a',  'l',  'u', 'e', 0xa2, 'h', 'i'};
    cr_assert_geq (rec.value_len, sizeof tail);
    cr_assert_eq (memcmp (rec.value + rec.value_len - sizeof tail, tail, sizeof tail), 0);
    static const uint8_t bin_key[] = {0, 1, 2};
    original.key = bin_key;
    original.key_len = 3;
    original.key_is_bin = true;
    sl_buf_t small;
    sl_buf_init (&small, 8);
    cr_assert_eq (sl_group_dlq_encode (&small, group, &dead, &original, 1), SL_ETOOBIG);
    cr_assert_eq (small.len, 0);
    sl_buf_reset (&out);
    cr_assert_eq (sl_group_dlq_encode (&out, group, &dead, &original, 1), 0);
    sl_record_iter_init (&it, out.data, out.len, 1, 0);
    cr_assert_eq (sl_record_iter_next (&it, &rec), 1);
    cr_assert (rec.key_is_bin);
    cr_assert_eq (memcmp (rec.key, bin_key, 3), 0);
    sl_buf_free (&small);
    sl_buf_free (&out);
    sl_group_destroy (&group);
}

//  ---------------------------------------------------------------------
//  Lease holders and ids (docs/security.md: results belong to the holder)

Test (group, a_lease_carries_its_members_holder_while_live_and_after_it_ended)
{
    sl_group_t *group = s_group (5, 1000, 0);
    const sl_holder_t a = {11, 12}, b = {21, 22};
    cr_assert_eq (sl_group_join_as (group, "pa", 2, "ma", 1, 10, 0, &a), 0);
    cr_assert_eq (sl_group_join_as (group, "pb", 2, "mb", 1, 10, 0, &b), 0);
    char who[8];
    sl_lease_t first = s_next (group, 0, 100, 0, who);
    sl_lease_t second = s_next (group, 0, 100, 0, NULL);
    sl_holder_t got;
    cr_assert_eq (sl_group_lease_holder (group, first.id, &got), 0);
    const sl_holder_t *want = strcmp (who, "pa") == 0 ? &a : &b;
    cr_expect (got.conn == want->conn && got.key == want->key);
    cr_assert_eq (sl_group_lease_holder (group, second.id, &got), 0);
    cr_expect (got.conn != want->conn);
    //  Expired: still known (its late result may commit), with its holder.
    cr_assert_gt (sl_group_tick (group, 5000, 0), 0);
    cr_assert_eq (sl_group_lease_holder (group, first.id, &got), 0);
    cr_expect (got.conn == want->conn && got.key == want->key);
    cr_expect_eq (sl_group_lease_holder (group, 0, &got), SL_ENOTFOUND);
    cr_expect_eq (sl_group_lease_holder (group, first.id + second.id + 12345, &got), SL_ENOTFOUND);
    //  A copy (the broker's snapshot) keeps the holders.
    sl_group_t *copy = sl_group_dup (group);
    cr_assert_eq (sl_group_lease_holder (copy, first.id, &got), 0);
    cr_expect (got.conn == want->conn);
    sl_group_destroy (&copy);
    sl_group_destroy (&group);
}

Test (group, a_seed_scrambles_lease_ids_that_stay_unique_and_non_zero)
{
    sl_group_t *plain = s_group (5, 1000, 0);
    s_join (plain, "p", 64, 1, 0);
    cr_expect_eq (s_next (plain, 0, 100, 0, NULL).id, 1u, "no seed: 1, 2, 3 ...");
    sl_group_destroy (&plain);

    sl_group_t *group = s_group (5, 1000, 0);
    sl_group_set_lease_seed (group, 0x9e3779b97f4a7c15ull);
    s_join (group, "p", 64, 1, 0);
    uint64_t ids[64];
    for (int i = 0; i < 64; i++) {
        ids[i] = s_next (group, 0, 1000, 0, NULL).id;
        cr_assert_neq (ids[i], 0u);
        for (int j = 0; j < i; j++) {
            cr_assert_neq (ids[i], ids[j], "ids %d and %d", i, j);
        }
        if (i > 0) {
            cr_expect_neq (ids[i], ids[i - 1] + 1, "not sequential");
        }
    }
    //  Results still find their lease by the scrambled id.
    sl_outcome_t outcome;
    cr_assert_eq (sl_group_result (group, ids[0], 0, 1, NULL, 0, 0, &outcome), 0);
    cr_expect (outcome.commit);
    sl_group_destroy (&group);
}

Test (group, a_member_name_held_by_another_key_is_denied)
{
    sl_group_t *group = s_group (5, 1000, 0);
    const sl_holder_t a = {1, 100}, a_again = {2, 100}, b = {3, 200};
    cr_assert_eq (sl_group_join_as (group, "pa", 2, "m", 1, 10, 0, &a), 0);
    sl_lease_t lease = s_next (group, 0, 100, 0, NULL);
    cr_expect_eq (sl_group_join_as (group, "pb", 2, "m", 1, 10, 0, &b), SL_EDENIED);
    cr_expect_eq (sl_group_leases (group), 1u, "the member's lease is untouched");
    //  The same key from a new connection is the member restarted.
    cr_expect_eq (sl_group_join_as (group, "pc", 2, "m", 1, 10, 0, &a_again), 0);
    cr_expect_eq (sl_group_leases (group), 0u);
    (void)lease;
    sl_group_destroy (&group);
}
//  A keyed group whose active member cannot take work (gone: the send
//  failed; or over its byte budget) pauses it: no lease is handed to it
//  again before the next tick, so the broker's dispatch loop ends (it spun
//  forever when the keyed pick ignored the pause).
Test (group, exclusive_paused_member_gets_no_lease_until_the_tick)
{
    sl_group_t *group = s_group (5, 1000, 0);
    sl_group_set_exclusive (group, true);
    s_join (group, "A", 8, 10, 0);
    s_join (group, "B", 8, 10, 0);
    char who[8];
    sl_lease_t l1 = s_next (group, 0, 100, 0, who);
    cr_assert_str_eq (who, "A");
    sl_group_unlease (group, l1.id);
    sl_group_pause (group, "A", 1);
    cr_assert (s_none (group, 0, 100, 0), "a paused keyed member got a lease at once");
    cr_assert_geq (sl_group_tick (group, 200, 0), 0);
    sl_lease_t l2 = s_next (group, 0, 100, 200, who);
    cr_assert_str_eq (who, "A", "after the tick the active member is served again");
    cr_assert_eq (l2.offset, 0);
    sl_group_destroy (&group);
}

//  A keyed group: one live lease at a time, always to the same member
//  while it stays; the other takes over when it leaves, from the range the
//  first had not committed.
Test (group, exclusive_one_lease_to_one_member)
{
    sl_group_t *group = s_group (5, 1000, 0);
    sl_group_set_exclusive (group, true);
    s_join (group, "A", 8, 10, 0);
    s_join (group, "B", 8, 10, 0);
    char who[8];
    sl_lease_t l1 = s_next (group, 0, 100, 0, who);
    cr_assert_str_eq (who, "A");
    cr_assert (s_none (group, 0, 100, 0), "a second live lease in a keyed group");
    sl_outcome_t outcome;
    cr_assert_eq (sl_group_result (group, l1.id, l1.offset, l1.count, NULL, 0, 1, &outcome), 0);
    cr_assert (outcome.commit);
    sl_lease_t l2 = s_next (group, 0, 100, 1, who);
    cr_assert_str_eq (who, "A");
    cr_assert_eq (l2.offset, 10);
    sl_group_leave (group, "A", 1);
    sl_lease_t l3 = s_next (group, 0, 100, 2, who);
    cr_assert_str_eq (who, "B");
    cr_assert_eq (l3.offset, 10, "B starts after what A committed");
    cr_assert (s_none (group, 0, 100, 2));
    //  A copy (the broker's transaction snapshot) keeps the mode.
    sl_group_t *copy = sl_group_dup (group);
    cr_assert (s_none (copy, 0, 100, 2));
    sl_group_destroy (&copy);
    sl_group_destroy (&group);
}

Test (group, member_accessor_lists_members_with_join_order_ids)
{
    sl_group_t *group = s_group (5, 1000, 0);
    sl_holder_t holder = {7, 9};
    cr_assert_eq (sl_group_join (group, "A", 1, "a", 1, 10, 0), 0);
    cr_assert_eq (sl_group_join_as (group, "BB", 2, "b", 1, 20, 0, &holder), 0);
    sl_group_member_t m[2];
    cr_assert_eq (sl_group_member (group, 0, &m[0]), 0);
    cr_assert_eq (sl_group_member (group, 1, &m[1]), 0);
    cr_assert_eq (sl_group_member (group, 2, &m[0]), SL_ENOTFOUND);
    sl_group_member_t *a = strcmp (m[0].name, "a") == 0 ? &m[0] : &m[1];
    sl_group_member_t *b = a == &m[0] ? &m[1] : &m[0];
    cr_assert_str_eq (b->name, "b");
    cr_assert_lt (a->id, b->id, "ids grow with each join");
    cr_assert (a->peer_len == 1 && memcmp (a->peer, "A", 1) == 0);
    cr_assert_eq (b->batch, 20);
    cr_assert (b->holder.conn == 7 && b->holder.key == 9);
    //  A member that leaves is gone; the next join gets a larger id.
    sl_group_leave (group, "A", 1);
    cr_assert_eq (sl_group_member (group, 1, &m[0]), SL_ENOTFOUND);
    uint64_t b_id = b->id;
    cr_assert_eq (sl_group_join (group, "A", 1, "a", 1, 10, 0), 0);
    for (size_t i = 0; i < 2; i++) {
        cr_assert_eq (sl_group_member (group, i, &m[i]), 0);
        if (strcmp (m[i].name, "a") == 0) {
            cr_assert_gt (m[i].id, b_id);
        }
    }
    sl_group_destroy (&group);
}
