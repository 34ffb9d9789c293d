/*  sl_group_members.c - a group's members, its live leases and the recent
    history of ended ones: the bookkeeping under sl_group.c (leases handed
    out) and sl_group_result.c (results committed), sl_group_int.h.
*/
#include "sl_group.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "sl_error.h"
#include "sl_group_int.h"

//  ---------------------------------------------------------------------
//  Members and leases

member_t *
sl_group_member_by_peer (const sl_group_t *self, const void *peer, size_t peer_len, size_t *index)
{
    for (size_t i = 0; i < self->n_members; i++) {
        member_t *m = self->members[i];
        if (m->peer_len == peer_len && memcmp (m->peer, peer, peer_len) == 0) {
            if (index) {
                *index = i;
            }
            return m;
        }
    }
    return NULL;
}

member_t *
sl_group_member_by_id (const sl_group_t *self, uint64_t id)
{
    for (size_t i = 0; i < self->n_members; i++) {
        if (self->members[i]->id == id) {
            return self->members[i];
        }
    }
    return NULL;
}

ssize_t
sl_group_live_find (const sl_group_t *self, uint64_t id)
{
    for (size_t i = 0; i < self->n_live; i++) {
        if (self->live[i].id == id) {
            return (ssize_t)i;
        }
    }
    return -1;
}

//  Removes live lease i, freeing its member's slot; returns a copy.
lease_t
sl_group_live_take (sl_group_t *self, size_t i)
{
    lease_t lease = self->live[i];
    self->live[i] = self->live[--self->n_live];
    member_t *member = sl_group_member_by_id (self, lease.member);
    if (member && member->held) {
        member->held--;
    }
    return lease;
}

void
sl_group_history_add (sl_group_t *self, const lease_t *lease)
{
    self->history[self->history_next] = *lease;
    self->history_next = (self->history_next + 1) % SL_GROUP_HISTORY;
    if (self->n_history < SL_GROUP_HISTORY) {
        self->n_history++;
    }
}

lease_t *
sl_group_history_find (sl_group_t *self, uint64_t id)
{
    for (size_t i = 0; i < self->n_history; i++) {
        if (self->history[i].id == id) {
            return &self->history[i];
        }
    }
    return NULL;
}

//  Ends every live lease of a member: as failed attempts when it fell
//  silent, back to the queue as they were when it left.
int
sl_group_member_end (sl_group_t *self, size_t index, bool failed, int *ended)
{
    member_t *member = self->members[index];
    int rc = 0;
    for (size_t i = self->n_live; i-- > 0;) {
        if (self->live[i].member != member->id) {
            continue;
        }
        lease_t lease = sl_group_live_take (self, i);
        sl_group_history_add (self, &lease);
        int step = failed ? sl_group_expire (self, &lease)
                          : sl_group_requeue (self, &lease, lease.attempt - 1, lease.expiries);
        rc = rc ? rc : step;
        (*ended)++;
    }
    free (member);
    self->members[index] = self->members[--self->n_members];
    return rc;
}
