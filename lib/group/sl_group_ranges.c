/*  sl_group_ranges.c - a worker group's bookkeeping of offsets: which are
    done (the checkpoint and sorted, disjoint done ranges above it), how
    often each failing record was tried and why (attempt counts), and which
    wait for a member (the retry queue, oldest first). Also what happens to
    the records of a lease that ended without a result: requeued as they
    were (the member left) or as a failed attempt (it expired), split into
    one-record leases after repeated expiries and dead at max_deliver.

    Part of the group module (lib/group/sl_group.c holds members, leases and the
    public API; lib/group/sl_group_int.h the shared struct). Pure logic: no I/O,
    no clock, no logging.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_group_int.h"

#define S_EXPIRED_TEXT "lease expired"
#define S_SPLIT_AFTER 2 //  expiries after which a range is split

//  ---------------------------------------------------------------------
//  Done ranges and attempt counts

//  Index of the first done range whose end is above offset.
static size_t
s_done_find (const sl_group_t *self, uint64_t offset)
{
    size_t lo = 0, hi = self->n_done;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->done[mid].end <= offset) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo;
}

bool
sl_group_any_done (const sl_group_t *self, uint64_t start, uint64_t end)
{
    if (start < self->checkpoint) {
        return true;
    }
    size_t i = s_done_find (self, start);
    return i < self->n_done && self->done[i].start < end;
}

//  The first offset at or after offset that is not done.
uint64_t
sl_group_skip_done (const sl_group_t *self, uint64_t offset)
{
    if (offset < self->checkpoint) {
        offset = self->checkpoint;
    }
    size_t i = s_done_find (self, offset);
    if (i < self->n_done && self->done[i].start <= offset) {
        offset = self->done[i].end;
    }
    return offset;
}

//  The start of the first done range past offset (which is not done).
uint64_t
sl_group_next_done (const sl_group_t *self, uint64_t offset)
{
    size_t i = s_done_find (self, offset);
    return i < self->n_done ? self->done[i].start : UINT64_MAX;
}

//  Index of the first attempt entry at or past offset.
size_t
sl_group_attempt_find (const sl_group_t *self, uint64_t offset)
{
    size_t lo = 0, hi = self->n_attempts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->attempts[mid].offset < offset) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo;
}

attempt_t *
sl_group_attempt_get (sl_group_t *self, uint64_t offset)
{
    size_t i = sl_group_attempt_find (self, offset);
    return i < self->n_attempts && self->attempts[i].offset == offset ? &self->attempts[i] : NULL;
}

static void
s_attempts_drop (sl_group_t *self, uint64_t start, uint64_t end)
{
    if (self->n_attempts == 0) {
        return;
    }
    size_t i = sl_group_attempt_find (self, start);
    size_t j = i;
    while (j < self->n_attempts && self->attempts[j].offset < end) {
        free (self->attempts[j].error);
        j++;
    }
    sl_group_move (&self->attempts[i], &self->attempts[j],
                   (self->n_attempts - j) * sizeof (attempt_t));
    self->n_attempts -= j - i;
}

//  Records attempt n of a record that failed with error (not terminated).
int
sl_group_attempt_set (sl_group_t *self, uint64_t offset, uint32_t n, const char *error, size_t len)
{
    if (len > 255) {
        len = 255;
    }
    char *copy = malloc (len + 1);
    if (!copy) {
        return SL_ENOMEM;
    }
    sl_group_move (copy, error, len);
    copy[len] = 0;
    attempt_t *entry = sl_group_attempt_get (self, offset);
    if (entry) {
        free (entry->error);
        entry->error = copy;
        if (n > entry->n) {
            entry->n = n;
        }
        return 0;
    }
    if (GROUP_RESERVE (self, attempts, 1)) {
        free (copy);
        return SL_ENOMEM;
    }
    size_t i = sl_group_attempt_find (self, offset);
    sl_group_move (&self->attempts[i + 1], &self->attempts[i],
                   (self->n_attempts - i) * sizeof (attempt_t));
    self->attempts[i] = (attempt_t){offset, n, copy};
    self->n_attempts++;
    return 0;
}

//  Marks [start, end) done: merges it into the done ranges, forgets the
//  attempt counts inside it and moves the checkpoint over a range that
//  reaches it.
int
sl_group_mark_done (sl_group_t *self, uint64_t start, uint64_t end)
{
    if (start < self->checkpoint) {
        start = self->checkpoint;
    }
    if (start >= end) {
        return 0;
    }
    //  Ranges that overlap or touch [start, end) are merged into one.
    size_t i = start ? s_done_find (self, start - 1) : 0;
    size_t j = i;
    while (j < self->n_done && self->done[j].start <= end) {
        j++;
    }
    range_t merged = {start, end};
    if (j > i) {
        merged.start = self->done[i].start < start ? self->done[i].start : start;
        merged.end = self->done[j - 1].end > end ? self->done[j - 1].end : end;
        self->done[i] = merged;
        sl_group_move (&self->done[i + 1], &self->done[j], (self->n_done - j) * sizeof (range_t));
        self->n_done -= j - i - 1;
    }
    else {
        if (GROUP_RESERVE (self, done, 1)) {
            return SL_ENOMEM;
        }
        sl_group_move (&self->done[i + 1], &self->done[i], (self->n_done - i) * sizeof (range_t));
        self->done[i] = merged;
        self->n_done++;
    }
    s_attempts_drop (self, start, end);
    if (self->n_done && self->done[0].start <= self->checkpoint) {
        self->checkpoint = self->done[0].end;
        sl_group_move (&self->done[0], &self->done[1], (self->n_done - 1) * sizeof (range_t));
        self->n_done--;
        s_attempts_drop (self, 0, self->checkpoint);
    }
    if (self->cursor < self->checkpoint) {
        self->cursor = self->checkpoint;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Retry queue

//  Inserts the records [offset, offset + count) as one entry, or, when
//  split, as one entry per record, keeping the queue sorted (equal offsets
//  stay in arrival order).
int
sl_group_queue_add (sl_group_t *self, uint64_t offset, uint32_t count, uint32_t attempts,
                    uint32_t expiries, bool split)
{
    size_t n = split ? count : 1;
    if (GROUP_RESERVE (self, queue, n)) {
        return SL_ENOMEM;
    }
    size_t lo = 0, hi = self->n_queue;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->queue[mid].offset <= offset) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    sl_group_move (&self->queue[lo + n], &self->queue[lo], (self->n_queue - lo) * sizeof (entry_t));
    for (size_t k = 0; k < n; k++) {
        self->queue[lo + k] = (entry_t){offset + k, split ? 1 : count, attempts, expiries};
    }
    self->n_queue += n;
    return 0;
}

//  Puts the records of an ended lease that are not done back in the queue.
int
sl_group_requeue (sl_group_t *self, const lease_t *lease, uint32_t attempts, uint32_t expiries)
{
    uint64_t end = lease->offset + lease->count;
    uint64_t at = sl_group_skip_done (self, lease->offset);
    while (at < end) {
        uint64_t stop = sl_group_next_done (self, at);
        if (stop > end) {
            stop = end;
        }
        int rc = sl_group_queue_add (self, at, (uint32_t)(stop - at), attempts, expiries, false);
        if (rc) {
            return rc;
        }
        at = sl_group_skip_done (self, stop);
    }
    return 0;
}

int
sl_group_dead_push (sl_dead_t **arr, size_t *n, size_t *cap, uint64_t offset, uint32_t attempts,
                    const char *error)
{
    if (sl_group_reserve ((void **)arr, cap, *n + 1, sizeof **arr)) {
        return SL_ENOMEM;
    }
    sl_dead_t *dead = &(*arr)[(*n)++];
    dead->offset = offset;
    dead->attempts = attempts;
    snprintf (dead->error, sizeof dead->error, "%s", error);
    return 0;
}

//  An expired lease (or one whose member fell silent) failed an attempt of
//  each of its records that is not done. One record alone at max_deliver is
//  dead; a range is split after S_SPLIT_AFTER expiries so that a record that
//  kills its worker ends up alone.
int
sl_group_expire (sl_group_t *self, const lease_t *lease)
{
    uint32_t expiries = lease->expiries + 1;
    uint64_t end = lease->offset + lease->count;
    uint64_t at = sl_group_skip_done (self, lease->offset);
    while (at < end) {
        uint64_t stop = sl_group_next_done (self, at);
        if (stop > end) {
            stop = end;
        }
        uint32_t count = (uint32_t)(stop - at);
        int rc;
        if (count == 1) {
            attempt_t *known = sl_group_attempt_get (self, at);
            uint32_t n = known && known->n > lease->attempt ? known->n : lease->attempt;
            if (n >= self->config.max_deliver) {
                char text[256];
                snprintf (text, sizeof text, "lease expired %u times (worker died or hung)",
                          expiries);
                rc = sl_group_dead_push (&self->pending, &self->n_pending, &self->cap_pending, at,
                                         n, text);
                if (rc == 0) {
                    rc = sl_group_mark_done (self, at, at + 1);
                }
            }
            else {
                rc = sl_group_attempt_set (self, at, n, S_EXPIRED_TEXT, strlen (S_EXPIRED_TEXT));
                if (rc == 0) {
                    rc = sl_group_queue_add (self, at, 1, n, expiries, false);
                }
            }
        }
        else {
            bool split = expiries >= S_SPLIT_AFTER || lease->attempt >= self->config.max_deliver;
            rc = sl_group_queue_add (self, at, count, lease->attempt, expiries, split);
        }
        if (rc) {
            return rc;
        }
        at = sl_group_skip_done (self, stop);
    }
    return 0;
}
