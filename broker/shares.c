/*  shares.c - key shares of keyed groups in the broker (docs/PROTOCOL.md
    §14.4, docs/worker.md "What moves on rebalance").

    A keyed group's key space is cut into S shares (a record belongs to
    share crc32c(key) mod S, lib/group/sl_shares.c). Each share is a group entry
    of its own, named GROUP.sN, exclusive (one lease at a time), with its
    own checkpoint, stored like any group's; it reads the whole input and
    its member processes only the records of its share. The keyed group's
    own entry hands out no leases: it keeps the members, and on each of its
    turns this file gives every share exactly one of them, sticky: a share
    moves only when its owner left or died, or to even out the load after
    a join, and then only while none of its leases is live, so that a key
    never runs on two members at once and its new owner starts after what
    the old one's committed results covered. S is fixed when the group is
    created: the share entries in the store say how many there are.
*/
#include "groups.h"
#include "groups_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_shares.h"

#define S_SHARE_NAME (SL_NAME_MAX + 16)

//  false when the name would be too long (a keyed group's name leaves
//  room for it: sl_keyed_check_join).
static bool
s_share_name (const char *group, uint32_t share, char name[S_SHARE_NAME])
{
    int len = snprintf (name, S_SHARE_NAME, "%s.s%u", group, share);
    return len > 0 && len <= SL_NAME_MAX;
}

static entry_t *
s_share (sl_groups_t *self, const char *group, uint32_t share)
{
    char name[S_SHARE_NAME];
    return s_share_name (group, share, name) ? zhashx_lookup (self->groups, name) : NULL;
}

const char *
sl_groups_base (const entry_t *entry)
{
    return entry->base[0] ? entry->base : sl_group_name (entry->group);
}

int
sl_shares_join (sl_groups_t *self, entry_t *entry, const sl_msg_t *msg)
{
    const char *name = sl_group_name (entry->group);
    uint32_t shares = entry->shares;
    if (shares == 0) {
        //  After a restart the stored share entries say how many there are.
        while (shares < SL_SHARES_MAX && s_share (self, name, shares)) {
            shares++;
        }
    }
    if (shares == 0) {
        shares = msg->shares ? msg->shares : SL_SHARES_DEFAULT;
    }
    //  Every JOIN makes sure all exist: a transaction that created some and
    //  then aborted took them away again.
    for (uint32_t i = 0; i < shares; i++) {
        entry_t *share = s_share (self, name, i);
        if (!share) {
            char share_name[S_SHARE_NAME];
            if (!s_share_name (name, i, share_name)) {
                return SL_ENAME;
            }
            //  A share starts where its keyed group is: a group keyed
            //  before it had shares goes on from its checkpoint.
            int rc = sl_groups_create (self, share_name, sl_group_config (entry->group),
                                       sl_group_checkpoint (entry->group), &share);
            if (rc) {
                return rc;
            }
        }
        snprintf (share->base, sizeof share->base, "%s", name);
        snprintf (share->key, sizeof share->key, "%s", entry->key);
        share->share = i;
        share->of = shares;
        sl_group_set_exclusive (share->group, true);
    }
    if (entry->shares == 0) {
        sl_info ("groups", "keyed group '%s': %u shares", name, shares);
    }
    entry->shares = shares;
    return 0;
}

static int
s_by_id (const void *a, const void *b)
{
    const sl_group_member_t *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

//  The index of peer among the members, or SL_SHARES_NONE.
static uint32_t
s_find (const sl_group_member_t *members, size_t n, const void *peer, size_t peer_len)
{
    for (size_t i = 0; i < n; i++) {
        if (members[i].peer_len == peer_len && memcmp (members[i].peer, peer, peer_len) == 0) {
            return (uint32_t)i;
        }
    }
    return SL_SHARES_NONE;
}

//  Takes share s from whoever holds it but is no longer a member (left,
//  silent, gone): its live lease goes back to the queue.
static uint32_t
s_current_owner (sl_groups_t *self, entry_t *share, const sl_group_member_t *members, size_t n)
{
    uint32_t owner = SL_SHARES_NONE;
    size_t k = sl_group_members (share->group);
    while (k-- > 0) {
        sl_group_member_t m;
        if (sl_group_member (share->group, k, &m) != 0) {
            continue;
        }
        uint32_t idx = s_find (members, n, m.peer, m.peer_len);
        if (idx != SL_SHARES_NONE && owner == SL_SHARES_NONE) {
            owner = idx;
            continue;
        }
        sl_group_leave (share->group, m.peer, m.peer_len);
        sl_groups_wake (self, share);
    }
    return owner;
}

void
sl_shares_balance (sl_groups_t *self, entry_t *entry, int64_t now_ms)
{
    uint32_t shares = entry->shares;
    const char *name = sl_group_name (entry->group);
    size_t n = sl_group_members (entry->group);
    sl_group_member_t *members = n ? calloc (n, sizeof *members) : NULL;
    if (n && !members) {
        return; //  the next turn tries again
    }
    for (size_t i = 0; i < n; i++) {
        sl_group_member (entry->group, i, &members[i]);
    }
    //  Index 0 is the oldest member: it wins ties (sl_shares_assign).
    if (n > 1) {
        qsort (members, n, sizeof *members, s_by_id);
    }
    uint32_t owner[SL_SHARES_MAX], before[SL_SHARES_MAX];
    bool busy[SL_SHARES_MAX];
    entry_t *share[SL_SHARES_MAX];
    for (uint32_t s = 0; s < shares; s++) {
        share[s] = s_share (self, name, s);
        if (!share[s]) {
            //  Removed by an aborted transaction: the next JOIN makes it again.
            entry->shares = 0;
            free (members);
            return;
        }
        owner[s] = s_current_owner (self, share[s], members, n);
        busy[s] = sl_group_leases (share[s]->group) > 0;
    }
    if (n == 0) {
        free (members);
        return;
    }
    memcpy (before, owner, shares * sizeof *owner);
    if (sl_shares_assign (owner, busy, shares, (uint32_t)n) <= 0) {
        free (members);
        return;
    }
    for (uint32_t s = 0; s < shares; s++) {
        if (owner[s] == before[s]) {
            continue;
        }
        entry_t *e = share[s];
        if (before[s] != SL_SHARES_NONE) {
            sl_group_leave (e->group, members[before[s]].peer, members[before[s]].peer_len);
        }
        const sl_group_member_t *to = &members[owner[s]];
        int rc = sl_group_join_as (e->group, to->peer, to->peer_len, to->name, 1, to->batch, now_ms,
                                   &to->holder);
        if (rc) {
            sl_warn ("groups", "keyed group '%s': share %u not handed to '%s': %s", name, s,
                     to->name, sl_strerror (rc));
            continue;
        }
        sl_groups_remember (self, to->peer, to->peer_len, sl_group_name (e->group));
        sl_groups_activate (self, e);
        sl_groups_wake (self, e);
        //  Rare (joins, leaves, deaths), and what an operator asks about.
        sl_info ("groups", "keyed group '%s': share %u to member '%s' at offset %" PRIu64, name, s,
                 to->name, sl_group_checkpoint (e->group));
    }
    free (members);
}

int
sl_shares_check_join (sl_groups_t *self, const entry_t *entry, const sl_msg_t *msg,
                      const char **why)
{
    if (msg->shares && (!msg->key[0] || msg->shares > SL_SHARES_MAX)) {
        *why = "shares (1..256) are for keyed groups";
        return SL_EINVAL;
    }
    if (!msg->key[0] && s_share (self, msg->group, 0)) {
        //  Its progress is in its shares: without them it would start over.
        *why = "the group is keyed (its shares are stored): join with --key, or delete it";
        return SL_EINVAL;
    }
    if (entry && entry->shares && msg->shares && msg->shares != entry->shares) {
        *why = "the keyed group exists with another number of shares";
        return SL_EINVAL;
    }
    if (msg->key[0] && (!entry || !entry->shares) && !s_share (self, msg->group, 0)) {
        //  A new keyed group brings its shares' groups.
        size_t want = (entry ? 0 : 1) + (msg->shares ? msg->shares : SL_SHARES_DEFAULT);
        if (zhashx_size (self->groups) + want > self->max_groups) {
            *why = "the broker's group limit is reached (--max-groups; a keyed group "
                   "counts 1 + its shares)";
            return SL_ELIMIT;
        }
    }
    return 0;
}

int
sl_groups_route (sl_groups_t *self, sl_msg_t *msg, const char **why)
{
    entry_t *entry = msg->cmd == SL_CMD_RESULT ? zhashx_lookup (self->groups, msg->group) : NULL;
    if (!entry || !entry->shares) {
        return 0;
    }
    if (msg->share >= entry->shares) {
        *why = "no such share in the keyed group";
        return SL_EPROTO;
    }
    //  The share's entry takes it from here (rights were checked on the group).
    char name[S_SHARE_NAME];
    if (!s_share_name (msg->group, msg->share, name)) {
        *why = "no such share in the keyed group";
        return SL_EPROTO;
    }
    memcpy (msg->group, name, strlen (name) + 1);
    return 0;
}
