/*  sl_group.c - one worker group's state (docs/PROTOCOL.md §14).

    Every input offset of a group is in exactly one of these places:
      below the checkpoint, or in a done range    done
      in a live lease                             owned by a member
      in the retry queue                          waiting for a member
      at or past the cursor                       never handed out yet
    An ended lease (expired, its member silent or gone) stays in a small
    history so that its late RESULT can still commit: the first result for
    a range wins, any later one for an overlapping range is dropped. The
    records a late result commits may meanwhile be queued or leased again;
    those copies are skipped (queue) or dropped (their result) because
    their records are done, so nothing is ever committed twice.

    After a restart only the persistent part exists (checkpoint, done
    ranges, attempt counts): the cursor starts at the checkpoint and steps
    over done ranges, and a record with an attempt count is handed out
    alone, with its count, so that a record that kills workers keeps
    counting towards max_deliver across broker restarts.

    Pure logic: no I/O, no clock (the caller passes now_ms), no logging.

    This file holds members, leases and the public state machine;
    sl_group_ranges.c the bookkeeping of offsets (done ranges, attempt
    counts, retry queue), sl_group_codec.c the persistent encoding and the
    dead letters. lib/group/sl_group_int.h is what they share.
*/
#include "sl_group.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "sl_error.h"
#include "sl_group_int.h"

//  Makes room for `need` elements of `size` bytes in *data.
int
sl_group_reserve (void **data, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return 0;
    }
    size_t new_cap = *cap ? *cap : 8;
    while (new_cap < need) {
        new_cap *= 2;
    }
    void *grown = realloc (*data, new_cap * size);
    if (!grown) {
        return SL_ENOMEM;
    }
    *data = grown;
    *cap = new_cap;
    return 0;
}

//  ---------------------------------------------------------------------
//  Public API

bool
sl_group_config_valid (const sl_group_config_t *config)
{
    size_t in_len = strnlen (config->in, sizeof config->in);
    size_t out_len = strnlen (config->out, sizeof config->out);
    return in_len < sizeof config->in && out_len < sizeof config->out &&
           sl_name_valid (config->in, in_len) && sl_name_valid (config->out, out_len) &&
           strcmp (config->in, config->out) != 0 && config->max_deliver >= 1 &&
           config->lease_ms >= 1;
}

sl_group_t *
sl_group_new (const char *name, const sl_group_config_t *config, uint64_t start)
{
    assert (name && config);
    size_t len = strnlen (name, SL_NAME_MAX + 1);
    if (!sl_name_valid (name, len) || !sl_group_config_valid (config)) {
        return NULL;
    }
    sl_group_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    memcpy (self->name, name, len);
    self->config = *config;
    self->checkpoint = start;
    self->cursor = start;
    return self;
}

void
sl_group_destroy (sl_group_t **self_p)
{
    assert (self_p);
    sl_group_t *self = *self_p;
    if (!self) {
        return;
    }
    for (size_t i = 0; i < self->n_members; i++) {
        free (self->members[i]);
    }
    for (size_t i = 0; i < self->n_attempts; i++) {
        free (self->attempts[i].error);
    }
    free (self->members);
    free (self->live);
    free (self->queue);
    free (self->done);
    free (self->attempts);
    free (self->pending);
    free (self->out);
    free (self);
    *self_p = NULL;
}

//  Copies n elements of size bytes (NULL for none); false on OOM.
static bool
s_copy (void **dst, size_t *cap, const void *src, size_t n, size_t size)
{
    *dst = NULL;
    *cap = 0;
    if (n == 0) {
        return true;
    }
    *dst = malloc (n * size);
    if (!*dst) {
        return false;
    }
    memcpy (*dst, src, n * size);
    *cap = n;
    return true;
}

sl_group_t *
sl_group_dup (const sl_group_t *self)
{
    sl_group_t *copy = malloc (sizeof *copy);
    if (!copy) {
        return NULL;
    }
    *copy = *self;
    copy->n_out = 0;
    //  Zero everything owned, so that destroy is safe at any step below.
    copy->members = NULL;
    copy->n_members = copy->cap_members = 0;
    copy->attempts = NULL;
    copy->n_attempts = copy->cap_attempts = 0;
    copy->live = NULL;
    copy->queue = NULL;
    copy->done = NULL;
    copy->pending = NULL;
    copy->out = NULL;
    copy->cap_out = 0;
    if (!s_copy ((void **)&copy->live, &copy->cap_live, self->live, self->n_live,
                 sizeof *self->live) ||
        !s_copy ((void **)&copy->queue, &copy->cap_queue, self->queue, self->n_queue,
                 sizeof *self->queue) ||
        !s_copy ((void **)&copy->done, &copy->cap_done, self->done, self->n_done,
                 sizeof *self->done) ||
        !s_copy ((void **)&copy->pending, &copy->cap_pending, self->pending, self->n_pending,
                 sizeof *self->pending) ||
        sl_group_reserve ((void **)&copy->members, &copy->cap_members, self->n_members,
                          sizeof *copy->members) ||
        sl_group_reserve ((void **)&copy->attempts, &copy->cap_attempts, self->n_attempts,
                          sizeof *copy->attempts)) {
        goto fail;
    }
    for (size_t i = 0; i < self->n_members; i++) {
        member_t *m = malloc (sizeof *m);
        if (!m) {
            goto fail;
        }
        *m = *self->members[i];
        copy->members[copy->n_members++] = m;
    }
    for (size_t i = 0; i < self->n_attempts; i++) {
        attempt_t a = self->attempts[i];
        a.error = strdup (a.error);
        if (!a.error) {
            goto fail;
        }
        copy->attempts[copy->n_attempts++] = a;
    }
    return copy;
fail:
    sl_group_destroy (&copy);
    return NULL;
}

const char *
sl_group_name (const sl_group_t *self)
{
    return self->name;
}

const sl_group_config_t *
sl_group_config (const sl_group_t *self)
{
    return &self->config;
}

uint64_t
sl_group_checkpoint (const sl_group_t *self)
{
    return self->checkpoint;
}

size_t
sl_group_members (const sl_group_t *self)
{
    return self->n_members;
}

size_t
sl_group_leases (const sl_group_t *self)
{
    return self->n_live;
}

//  A known peer refreshes its settings; a known name with a new peer is a
//  member that reconnected (its routing id changed): it keeps its leases,
//  since their RESULTs will come from the new peer.
int
sl_group_join (sl_group_t *self, const void *peer, size_t peer_len, const char *member,
               uint32_t window, uint32_t batch, int64_t now_ms)
{
    static const sl_holder_t nobody = {0, 0};
    return sl_group_join_as (self, peer, peer_len, member, window, batch, now_ms, &nobody);
}

int
sl_group_join_as (sl_group_t *self, const void *peer, size_t peer_len, const char *member,
                  uint32_t window, uint32_t batch, int64_t now_ms, const sl_holder_t *holder)
{
    size_t name_len = member ? strnlen (member, SL_NAME_MAX + 1) : 0;
    if (!peer || peer_len == 0 || peer_len > SL_GROUP_MAX_PEER ||
        !sl_name_valid (member, name_len) || window < 1 || window > SL_GROUP_MAX_WINDOW ||
        batch < 1 || batch > SL_GROUP_MAX_BATCH) {
        return SL_EINVAL;
    }
    //  A name held by another key's member is not this member restarted:
    //  one key may not push another's member out and take its leases.
    for (size_t i = 0; i < self->n_members; i++) {
        const member_t *other = self->members[i];
        if (strcmp (other->name, member) == 0 && other->holder.key != holder->key &&
            !(other->peer_len == peer_len && memcmp (other->peer, peer, peer_len) == 0)) {
            return SL_EDENIED;
        }
    }
    member_t *m = sl_group_member_by_peer (self, peer, peer_len, NULL);
    for (size_t i = 0; !m && i < self->n_members; i++) {
        if (strcmp (self->members[i]->name, member) == 0) {
            //  The same name from a new peer: a restarted process (in a
            //  container, HOSTNAME-PID comes back the same) or a reconnect.
            //  Either way the leases it held go back to the queue now, not
            //  at their deadline; a late RESULT from a still-living holder
            //  can still commit first (they are kept in the history).
            int ended = 0;
            int rc = sl_group_member_end (self, i, false, &ended);
            if (rc) {
                return rc;
            }
            break;
        }
    }
    if (!m) {
        if (self->n_members >= SL_GROUP_MAX_MEMBERS) {
            return SL_ETOOBIG;
        }
        if (GROUP_RESERVE (self, members, 1)) {
            return SL_ENOMEM;
        }
        m = calloc (1, sizeof *m);
        if (!m) {
            return SL_ENOMEM;
        }
        m->id = ++self->next_member_id;
        self->members[self->n_members++] = m;
    }
    memcpy (m->peer, peer, peer_len);
    m->peer_len = peer_len;
    memcpy (m->name, member, name_len);
    m->name[name_len] = 0;
    m->window = window;
    m->batch = batch;
    m->last_seen = now_ms;
    m->holder = *holder;
    return 0;
}

int
sl_group_lease_holder (const sl_group_t *self, uint64_t lease_id, sl_holder_t *holder)
{
    if (lease_id == 0) {
        return SL_ENOTFOUND; //  0 marks a used history slot
    }
    ssize_t li = sl_group_live_find (self, lease_id);
    if (li >= 0) {
        *holder = self->live[li].holder;
        return 0;
    }
    for (size_t i = 0; i < self->n_history; i++) {
        if (self->history[i].id == lease_id) {
            *holder = self->history[i].holder;
            return 0;
        }
    }
    return SL_ENOTFOUND;
}

void
sl_group_set_lease_seed (sl_group_t *self, uint64_t seed)
{
    self->lease_seed = seed;
}

//  The id of the n-th lease: n itself without a seed, else the splitmix64
//  finaliser of n + seed, a bijection on 64 bits (each step is invertible),
//  so ids stay unique; 0 is skipped by the caller.
static uint64_t
s_lease_id (const sl_group_t *self, uint64_t n)
{
    if (self->lease_seed == 0) {
        return n;
    }
    uint64_t z = n + self->lease_seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

bool
sl_group_seen (sl_group_t *self, const void *peer, size_t peer_len, int64_t now_ms)
{
    member_t *m = sl_group_member_by_peer (self, peer, peer_len, NULL);
    if (m) {
        m->last_seen = now_ms;
    }
    return m != NULL;
}

void
sl_group_leave (sl_group_t *self, const void *peer, size_t peer_len)
{
    size_t index;
    int ended = 0;
    if (sl_group_member_by_peer (self, peer, peer_len, &index)) {
        sl_group_member_end (self, index, false, &ended);
    }
}

//  The member that gets the next lease: a free slot, the fewest leases
//  held, then the one that waited longest. A faster member frees its slots
//  sooner and so is picked more often.
static member_t *
s_pick (const sl_group_t *self)
{
    member_t *best = NULL;
    if (self->exclusive) {
        //  A keyed group: its state is in one member's hands, so one
        //  lease at a time goes to the oldest member; the others stand by.
        //  A paused member (it cannot take work now: gone, or over its byte
        //  budget) gets none until the next tick, as in an unkeyed group.
        return self->n_live == 0 && self->n_members && !self->members[0]->paused ? self->members[0]
                                                                                 : NULL;
    }
    for (size_t i = 0; i < self->n_members; i++) {
        member_t *m = self->members[i];
        if (m->held >= m->window || m->paused) {
            continue;
        }
        if (!best || m->held < best->held ||
            (m->held == best->held && m->last_work < best->last_work)) {
            best = m;
        }
    }
    return best;
}

//  Retries first (oldest first, done records skipped, cut to the member's
//  batch and at done records), then new records from the cursor.
static bool
s_find_work (sl_group_t *self, uint32_t batch, uint64_t stream_next, lease_t *lease)
{
    while (self->n_queue) {
        entry_t *e = &self->queue[0];
        uint64_t end = e->offset + e->count;
        uint64_t at = sl_group_skip_done (self, e->offset);
        if (at >= end) {
            sl_group_move (&self->queue[0], &self->queue[1], --self->n_queue * sizeof (entry_t));
            continue;
        }
        uint64_t stop = sl_group_next_done (self, at);
        stop = stop < end ? stop : end;
        stop = stop - at > batch ? at + batch : stop;
        *lease =
            (lease_t){0, at, (uint32_t)(stop - at), e->attempts + 1, e->expiries, 0, 0, {0, 0}};
        if (stop == end) {
            sl_group_move (&self->queue[0], &self->queue[1], --self->n_queue * sizeof (entry_t));
        }
        else {
            e->count = (uint32_t)(end - stop);
            e->offset = stop;
        }
        return true;
    }
    uint64_t at = sl_group_skip_done (self, self->cursor);
    uint64_t limit = sl_group_sat_add (self->checkpoint, (uint64_t)SL_GROUP_MAX_LEASES * batch);
    limit = limit < stream_next ? limit : stream_next;
    self->cursor = at;
    if (at >= limit) {
        return false;
    }
    //  A record with an attempt count (restored after a restart) goes alone.
    size_t ai = sl_group_attempt_find (self, at);
    if (ai < self->n_attempts && self->attempts[ai].offset == at) {
        *lease = (lease_t){0, at, 1, self->attempts[ai].n + 1, 0, 0, 0, {0, 0}};
        self->cursor = at + 1;
        return true;
    }
    uint64_t stop = sl_group_sat_add (at, batch);
    stop = stop < limit ? stop : limit;
    uint64_t done = sl_group_next_done (self, at);
    stop = stop < done ? stop : done;
    if (ai < self->n_attempts && self->attempts[ai].offset < stop) {
        stop = self->attempts[ai].offset;
    }
    *lease = (lease_t){0, at, (uint32_t)(stop - at), 1, 0, 0, 0, {0, 0}};
    self->cursor = stop;
    return true;
}

int
sl_group_next (sl_group_t *self, uint64_t stream_first, uint64_t stream_next, int64_t now_ms,
               sl_lease_t *lease, const void **peer, size_t *peer_len)
{
    if (stream_first > self->checkpoint) {
        //  Removed by retention: nobody can process them any more.
        if (sl_group_mark_done (self, self->checkpoint, stream_first)) {
            return SL_ENOMEM;
        }
    }
    member_t *member = s_pick (self);
    if (!member) {
        return 0;
    }
    if (GROUP_RESERVE (self, live, 1)) {
        return SL_ENOMEM;
    }
    lease_t work;
    if (!s_find_work (self, member->batch, stream_next, &work)) {
        return 0;
    }
    //  One record alone carries the count of its earlier failures.
    if (work.count == 1) {
        attempt_t *known = sl_group_attempt_get (self, work.offset);
        if (known && known->n >= work.attempt) {
            work.attempt = known->n + 1;
        }
    }
    if (work.attempt > 1) {
        self->redeliveries++;
    }
    do {
        work.id = s_lease_id (self, ++self->next_lease_id);
    } while (work.id == 0);
    work.member = member->id;
    work.holder = member->holder;
    work.deadline = now_ms + (int64_t)self->config.lease_ms;
    self->live[self->n_live++] = work;
    member->held++;
    member->last_work = ++self->work_seq;
    lease->id = work.id;
    lease->offset = work.offset;
    lease->count = work.count;
    lease->attempt = work.attempt;
    *peer = member->peer;
    *peer_len = member->peer_len;
    return 1;
}

void
sl_group_set_exclusive (sl_group_t *self, bool exclusive)
{
    self->exclusive = exclusive;
}

void
sl_group_unlease (sl_group_t *self, uint64_t lease_id)
{
    ssize_t i = sl_group_live_find (self, lease_id);
    if (i >= 0) {
        lease_t lease = sl_group_live_take (self, (size_t)i);
        sl_group_requeue (self, &lease, lease.attempt - 1, lease.expiries);
    }
}

int
sl_group_shrink (sl_group_t *self, uint64_t lease_id, uint32_t count)
{
    ssize_t i = sl_group_live_find (self, lease_id);
    if (i < 0 || count == 0 || count >= self->live[i].count) {
        return SL_EINVAL;
    }
    lease_t tail = self->live[i];
    tail.offset += count;
    tail.count -= count;
    int rc = sl_group_requeue (self, &tail, tail.attempt - 1, tail.expiries);
    if (rc == 0) {
        self->live[i].count = count;
    }
    return rc;
}

size_t
sl_group_release (sl_group_t *self, const void *peer, size_t peer_len)
{
    member_t *m = sl_group_member_by_peer (self, peer, peer_len, NULL);
    size_t released = 0;
    for (size_t i = self->n_live; m && i-- > 0;) {
        if (self->live[i].member == m->id) {
            lease_t lease = sl_group_live_take (self, i);
            sl_group_requeue (self, &lease, lease.attempt - 1, lease.expiries);
            released++;
        }
    }
    return released;
}

bool
sl_group_has_member (const sl_group_t *self, const void *peer, size_t peer_len)
{
    return sl_group_member_by_peer (self, peer, peer_len, NULL) != NULL;
}

void
sl_group_pause (sl_group_t *self, const void *peer, size_t peer_len)
{
    member_t *m = sl_group_member_by_peer (self, peer, peer_len, NULL);
    if (m) {
        m->paused = true;
    }
}

int
sl_group_tick (sl_group_t *self, int64_t now_ms, int64_t silence_ms)
{
    int ended = 0;
    for (size_t i = 0; i < self->n_members; i++) {
        self->members[i]->paused = false;
    }
    for (size_t i = self->n_members; silence_ms > 0 && i-- > 0;) {
        if (now_ms - self->members[i]->last_seen > silence_ms) {
            sl_group_member_end (self, i, true, &ended);
        }
    }
    for (size_t i = self->n_live; i-- > 0;) {
        if (now_ms >= self->live[i].deadline) {
            lease_t lease = sl_group_live_take (self, i);
            sl_group_history_add (self, &lease);
            sl_group_expire (self, &lease);
            ended++;
        }
    }
    return ended;
}
