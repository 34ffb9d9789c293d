/*  test_shares.c - key shares: the hash every party agrees on, and the
    sticky, balanced assignment of shares to members (sl_shares.h).
*/
#include <criterion/criterion.h>
#include <string.h>

#include "lib/core/sl_error.h"
#include "lib/group/sl_shares.h"
#include "lib/group/sl_shares_key.h"

static void
s_loads (const uint32_t *owner, uint32_t shares, uint32_t members, uint32_t *load)
{
    memset (load, 0, members * sizeof *load);
    for (uint32_t s = 0; s < shares; s++) {
        cr_assert_lt (owner[s], members, "share %u has no owner", s);
        load[owner[s]]++;
    }
}

//  Every member owns floor(S/n) or ceil(S/n) shares.
static void
s_assert_balanced (const uint32_t *owner, uint32_t shares, uint32_t members)
{
    uint32_t load[64];
    s_loads (owner, shares, members, load);
    for (uint32_t m = 0; m < members; m++) {
        cr_assert (load[m] == shares / members || load[m] == (shares + members - 1) / members,
                   "member %u owns %u of %u shares with %u members", m, load[m], shares, members);
    }
}

static uint32_t
s_moved (const uint32_t *before, const uint32_t *after, uint32_t shares)
{
    uint32_t n = 0;
    for (uint32_t s = 0; s < shares; s++) {
        n += before[s] != after[s];
    }
    return n;
}

Test (shares, of_is_stable_and_in_range)
{
    cr_assert_eq (sl_shares_of ("\xa3"
                                "abc",
                                4, 1),
                  0);
    uint32_t seen[16] = {0};
    for (int i = 0; i < 1600; i++) {
        unsigned char key[2] = {0xcd, 0};
        key[0] = (unsigned char)(i & 0x7f); //  positive fixints ...
        uint32_t a = sl_shares_of (key, 1 + (i >= 128), 16);
        cr_assert_lt (a, 16);
        cr_assert_eq (a, sl_shares_of (key, 1 + (i >= 128), 16), "not a function of the key");
        seen[a]++;
    }
    for (int s = 0; s < 16; s++) {
        cr_assert_gt (seen[s], 0, "share %d never hit", s);
    }
    //  The CRC32C of "123456789" is 0xE3069283: the hash is the standard one,
    //  so that a test (or another language) can compute a key's share.
    cr_assert_eq (sl_shares_of ("123456789", 9, 256), 0xE3069283u % 256);
}

Test (shares, first_member_takes_all)
{
    uint32_t owner[16];
    for (int s = 0; s < 16; s++) {
        owner[s] = SL_SHARES_NONE;
    }
    cr_assert_eq (sl_shares_assign (owner, NULL, 16, 1), 16);
    for (int s = 0; s < 16; s++) {
        cr_assert_eq (owner[s], 0);
    }
}

Test (shares, join_moves_only_what_the_joiner_needs)
{
    uint32_t owner[16], before[16];
    for (int s = 0; s < 16; s++) {
        owner[s] = 0;
    }
    //  1 -> 2 members: 8 shares move, all to the joiner.
    memcpy (before, owner, sizeof owner);
    cr_assert_eq (sl_shares_assign (owner, NULL, 16, 2), 8);
    s_assert_balanced (owner, 16, 2);
    for (int s = 0; s < 16; s++) {
        cr_assert (owner[s] == before[s] || owner[s] == 1, "share %d moved between old members", s);
    }
    //  2 -> 3: the joiner takes 5, from both; no share moves between the two.
    memcpy (before, owner, sizeof owner);
    cr_assert_eq (sl_shares_assign (owner, NULL, 16, 3), 5);
    s_assert_balanced (owner, 16, 3);
    for (int s = 0; s < 16; s++) {
        cr_assert (owner[s] == before[s] || owner[s] == 2);
    }
    //  Already balanced: nothing moves.
    memcpy (before, owner, sizeof owner);
    cr_assert_eq (sl_shares_assign (owner, NULL, 16, 3), 0);
    cr_assert_eq (s_moved (before, owner, 16), 0);
}

Test (shares, leave_moves_only_the_leavers_shares)
{
    //  Three members; member 1 leaves: the caller renumbers members above it
    //  and marks its shares ownerless.
    uint32_t owner[16], before[16];
    for (int s = 0; s < 16; s++) {
        owner[s] = SL_SHARES_NONE;
    }
    cr_assert_eq (sl_shares_assign (owner, NULL, 16, 3), 16);
    s_assert_balanced (owner, 16, 3);
    memcpy (before, owner, sizeof owner);
    uint32_t lost = 0;
    for (int s = 0; s < 16; s++) {
        if (owner[s] == 1) {
            owner[s] = SL_SHARES_NONE;
            lost++;
        }
        else if (owner[s] == 2) {
            owner[s] = 1;
        }
    }
    cr_assert_eq (sl_shares_assign (owner, NULL, 16, 2), (int)lost);
    s_assert_balanced (owner, 16, 2);
    for (int s = 0; s < 16; s++) {
        if (before[s] != 1) {
            cr_assert_eq (owner[s], before[s] == 2 ? 1u : before[s], "share %d of a stayer moved",
                          s);
        }
    }
}

Test (shares, busy_shares_stay_until_free)
{
    uint32_t owner[8];
    bool busy[8] = {false};
    for (int s = 0; s < 8; s++) {
        owner[s] = 0;
    }
    //  Member 0 works on shares 4..7: only 0..3 may go to the joiner.
    for (int s = 4; s < 8; s++) {
        busy[s] = true;
    }
    cr_assert_eq (sl_shares_assign (owner, busy, 8, 2), 4);
    for (int s = 0; s < 8; s++) {
        cr_assert_eq (owner[s], s < 4 ? 1u : 0u);
    }
    //  Everything busy: the spread stays until a later call.
    for (int s = 0; s < 8; s++) {
        owner[s] = 0;
        busy[s] = true;
    }
    cr_assert_eq (sl_shares_assign (owner, busy, 8, 2), 0);
    for (int s = 0; s < 8; s++) {
        busy[s] = false;
    }
    cr_assert_eq (sl_shares_assign (owner, busy, 8, 2), 4);
    s_assert_balanced (owner, 8, 2);
}

Test (shares, more_members_than_shares)
{
    uint32_t owner[4];
    for (int s = 0; s < 4; s++) {
        owner[s] = SL_SHARES_NONE;
    }
    cr_assert_eq (sl_shares_assign (owner, NULL, 4, 6), 4);
    s_assert_balanced (owner, 4, 6);
    for (int s = 0; s < 4; s++) {
        cr_assert_eq (owner[s], (uint32_t)s, "the oldest members get the shares");
    }
}

Test (shares, bad_arguments)
{
    uint32_t owner[4] = {0, 0, 5, 0};
    cr_assert_eq (sl_shares_assign (owner, NULL, 4, 2), SL_EINVAL, "owner past the members");
    cr_assert_eq (sl_shares_assign (owner, NULL, 0, 2), SL_EINVAL);
    cr_assert_eq (sl_shares_assign (owner, NULL, 4, 0), SL_EINVAL);
    cr_assert_eq (sl_shares_assign (owner, NULL, SL_SHARES_MAX + 1, 2), SL_EINVAL);
}

Test (shares, a_join_blocked_by_busy_shares_never_moves_shares_between_the_others)
{
    //  Two members own 8 each; a third joins while all of member 0's shares
    //  have leases in flight: member 1 gives its excess (3) now, member 0 its
    //  excess (2) once free; no share ever goes from one old member to the
    //  other (a greedy "most to least loaded" would hand member 0's to 1).
    uint32_t owner[16];
    bool busy[16] = {false};
    for (uint32_t s = 0; s < 16; s++) {
        owner[s] = s < 8 ? 0 : 1;
        busy[s] = s < 8;
    }
    cr_assert_eq (sl_shares_assign (owner, busy, 16, 3), 3);
    uint32_t load[3];
    s_loads (owner, 16, 3, load);
    cr_assert (load[0] == 8 && load[1] == 5 && load[2] == 3, "%u %u %u", load[0], load[1], load[2]);
    for (uint32_t s = 0; s < 16; s++) {
        busy[s] = false;
    }
    uint32_t before[16];
    memcpy (before, owner, sizeof owner);
    cr_assert_eq (sl_shares_assign (owner, busy, 16, 3), 2);
    s_assert_balanced (owner, 16, 3);
    for (uint32_t s = 0; s < 16; s++) {
        cr_assert (owner[s] == before[s] || owner[s] == 2, "share %u went to an old member", s);
    }
}

//  The one function the broker cuts a share's WORK with and the member
//  processes it with: a dotted path into the value, or the record's key.
Test (shares, share_of_a_record)
{
    sl_buf_t tmp;
    sl_buf_init (&tmp, 0);
    //  {"u": {"id": "abc"}, "n": nil}
    const uint8_t value[] = {0x82, 0xa1, 'u', 0x81, 0xa2, 'i', 'd',
                             0xa3, 'a',  'b', 'c',  0xa1, 'n', 0xc0};
    const uint8_t abc[] = {0xa3, 'a', 'b', 'c'};
    sl_record_t r = {.value = value, .value_len = sizeof value};
    const uint8_t *raw;
    size_t len;
    cr_assert_eq (sl_shares_key ("u.id", &r, &tmp, &raw, &len), 1);
    cr_assert_eq (len, sizeof abc);
    cr_assert_eq (memcmp (raw, abc, len), 0);
    for (uint32_t s = 2; s <= 16; s++) {
        cr_assert_eq (sl_shares_of_record ("u.id", &r, s, 256, &tmp), sl_shares_of (abc, 4, s));
    }
    //  nil and absent keys are no key: share 0; so is a key over the bound.
    cr_assert_eq (sl_shares_key ("n", &r, &tmp, &raw, &len), 0);
    cr_assert_eq (sl_shares_key ("x", &r, &tmp, &raw, &len), 0);
    cr_assert_eq (sl_shares_of_record ("x", &r, 7, 256, &tmp), 0);
    cr_assert_eq (sl_shares_of_record ("u.id", &r, 7, 3, &tmp), 0);
    //  "record": the record's own key, encoded as str or bin as it came.
    sl_record_t k = {
        .key = (const uint8_t *)"abc", .key_len = 3, .value = value, .value_len = sizeof value};
    cr_assert_eq (sl_shares_key ("record", &k, &tmp, &raw, &len), 1);
    cr_assert_eq (memcmp (raw, abc, len), 0);
    k.key_is_bin = true;
    cr_assert_eq (sl_shares_key ("record", &k, &tmp, &raw, &len), 1);
    cr_assert_eq (raw[0], 0xc4);
    k.key = NULL;
    cr_assert_eq (sl_shares_key ("record", &k, &tmp, &raw, &len), 0);
    //  A malformed value is an error (the record then goes to share 0).
    const uint8_t bad[] = {0x82, 0xa1};
    sl_record_t b = {.value = bad, .value_len = sizeof bad};
    cr_assert (sl_shares_key ("u.id", &b, &tmp, &raw, &len) < 0);
    cr_assert_eq (sl_shares_of_record ("u.id", &b, 7, 256, &tmp), 0);
    sl_buf_free (&tmp);
}
