/*  groups_dispatch.c - the turn of the broker's worker groups (groups.h):
    silent members and overdue leases ended, dead letters from expiries
    collected, work handed out to every member with a free slot.
*/
#include "groups.h"
#include "groups_int.h"

#include <inttypes.h>
#include <string.h>

#include "sl_error.h"
#include "sl_group.h"
#include "sl_log.h"
#include "sl_send.h"
#include "sl_util.h"

//  Takes the dead letters that expiries produced into the entry, where
//  they wait for the next group commit to store them.
static void
s_collect_dead (sl_groups_t *self, entry_t *entry)
{
    sl_outcome_t outcome;
    if (sl_group_take_dead (entry->group, &outcome) != 0 || outcome.n_dead == 0) {
        return;
    }
    sl_dead_t *dead = realloc (entry->dead, (entry->n_dead + outcome.n_dead) * sizeof *dead);
    if (!dead) {
        return;
    }
    memcpy (dead + entry->n_dead, outcome.dead, outcome.n_dead * sizeof *dead);
    if (entry->n_dead == 0) {
        self->n_with_dead++;
    }
    entry->dead = dead;
    entry->n_dead += outcome.n_dead;
}

//  One group's turn: timers, dead letters from expiries, then work for
//  every member with a free slot. Leaves the active list when it has no
//  members, leases or dead letters.
bool
sl_groups_is_member (sl_groups_t *self, const char *group, zframe_t *peer)
{
    entry_t *entry = zhashx_lookup (self->groups, group);
    return entry && sl_group_has_member (entry->group, zframe_data (peer), zframe_size (peer));
}

void
sl_groups_heard (sl_groups_t *self, int64_t mono_ms)
{
    self->heard_ms = mono_ms;
}

static void
s_dispatch_one (sl_groups_t *self, entry_t *entry, int64_t now_ms)
{
    sl_group_t *group = entry->group;
    int64_t judged = now_ms - STALL_FORGIVEN_MS;
    if (self->heard_ms > judged) {
        judged = self->heard_ms < now_ms ? self->heard_ms : now_ms;
    }
    size_t before = sl_group_members (group);
    sl_group_tick (group, judged, SILENCE_MS);
    if (sl_group_members (group) < before) {
        sl_info ("groups",
                 "group '%s': %zu member(s) silent for over %d ms dropped; their leases go "
                 "back to the queue",
                 sl_group_name (group), before - sl_group_members (group), SILENCE_MS);
    }
    s_collect_dead (self, entry);
    if (entry->shares) {
        //  A keyed group: its shares hand out the leases.
        sl_shares_balance (self, entry, now_ms);
    }
    if (sl_group_members (group) == 0) {
        if (sl_group_leases (group) == 0 && entry->n_dead == 0 && !entry->touched) {
            zlistx_delete (self->active, entry->active);
            entry->active = NULL;
        }
        return;
    }
    if (entry->shares) {
        return;
    }
    sl_stream_info_t info;
    bool exists;
    int irc = sl_store_stream_info (self->store, sl_group_config (group)->in, &info, &exists);
    if (irc != 0) {
        sl_debug ("groups", "group '%s': cannot read its input: %s", sl_group_name (group),
                  sl_strerror (irc));
        return;
    }
    sl_lease_t lease;
    const void *peer;
    size_t peer_len;
    //  Bounded: each member holds at most its window of leases, and a
    //  member that cannot take work now is paused until the next tick.
    while (sl_group_next (group, info.first, info.next, now_ms, &lease, &peer, &peer_len) == 1) {
        if (self->budget && (!sl_budget_fits (self->budget, peer, peer_len, 1) ||
                             sl_budget_is_stuck (self->budget, peer, peer_len))) {
            //  Over its byte budget, or not reading at all: as if it had no
            //  credit, until what it holds moves.
            sl_group_unlease (group, lease.id);
            sl_group_pause (group, peer, peer_len);
            continue;
        }
        int rc = sl_groups_send_work (self, entry, &lease, peer, peer_len);
        if (rc == 0) {
            continue;
        }
        sl_group_unlease (group, lease.id);
        if (rc == SL_EBUSY || rc == SL_EAGAIN || rc == SL_ECLOSED) {
            sl_group_pause (group, peer, peer_len);
            continue;
        }
        break;
    }
}

//  A loop turn dispatches only the groups something happened to (a JOIN,
//  RESULT or LEAVE, new records in their input: the dirty list); every
//  active group is visited once per DISPATCH_SWEEP_MS for its timers
//  (lease deadlines, silent members, paused members). Idle groups are never
//  visited. So a message costs the same whatever the number of groups.
void
sl_groups_dispatch (sl_groups_t *self, int64_t now_ms)
{
    if (now_ms >= self->next_sweep_ms) {
        self->next_sweep_ms = now_ms + DISPATCH_SWEEP_MS;
        for (entry_t *entry = zlistx_first (self->dirty); entry;
             entry = zlistx_next (self->dirty)) {
            entry->dirty = NULL;
        }
        zlistx_purge (self->dirty);
        entry_t *next = zlistx_first (self->active);
        while (next) {
            entry_t *entry = next;
            //  Taken before the entry may leave the list.
            next = zlistx_next (self->active);
            s_dispatch_one (self, entry, now_ms);
        }
        return;
    }
    entry_t *entry;
    while ((entry = zlistx_first (self->dirty))) {
        zlistx_delete (self->dirty, entry->dirty);
        entry->dirty = NULL;
        if (entry->active) {
            s_dispatch_one (self, entry, now_ms);
        }
    }
}

void
sl_groups_stats (sl_groups_t *self, uint64_t *work, uint64_t *results, uint64_t *dropped,
                 uint64_t *dead)
{
    *work = self->n_work;
    *results = self->n_results;
    *dropped = self->n_dropped;
    *dead = self->n_dead;
}
