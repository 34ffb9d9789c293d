/*  sl_group_result.c - a lease's result: its records marked done, the
    failed ones queued again or made dead letters, and the dead letters of
    expiries handed out (sl_group.h).
*/
#include "sl_group.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "sl_error.h"
#include "sl_group_int.h"

static int
s_cmp_failed (const void *a, const void *b)
{
    uint64_t x = ((const sl_failed_t *)a)->offset;
    uint64_t y = ((const sl_failed_t *)b)->offset;
    return x < y ? -1 : x > y;
}

//  Hands the dead from expiries to the outcome after the result's own.
static int
s_drain_pending (sl_group_t *self, sl_outcome_t *outcome)
{
    outcome->dead = self->n_out ? self->out : NULL;
    outcome->n_dead = self->n_out;
    if (self->n_pending == 0) {
        return 0;
    }
    if (sl_group_reserve ((void **)&self->out, &self->cap_out, self->n_out + self->n_pending,
                          sizeof *self->out)) {
        return SL_ENOMEM;
    }
    sl_group_move (&self->out[self->n_out], self->pending, self->n_pending * sizeof *self->pending);
    self->n_out += self->n_pending;
    self->n_pending = 0;
    outcome->dead = self->out;
    outcome->n_dead = self->n_out;
    return 0;
}

//  Commits a result: the range done but for its failed records, which get
//  their attempt counted and are queued alone again (when the lease was
//  live: a late result's records are owned by whatever re-leased them) or,
//  at max_deliver, are dead.
static int
s_commit (sl_group_t *self, const lease_t *lease, bool live, sl_failed_t *failed, size_t n_failed,
          sl_outcome_t *outcome)
{
    if (n_failed) {
        qsort (failed, n_failed, sizeof *failed, s_cmp_failed);
    }
    uint64_t at = lease->offset;
    uint64_t end = lease->offset + lease->count;
    for (size_t i = 0; i <= n_failed; i++) {
        uint64_t stop = i < n_failed ? failed[i].offset : end;
        int rc = sl_group_mark_done (self, at, stop);
        if (rc) {
            return rc;
        }
        if (i == n_failed || (i > 0 && failed[i].offset == failed[i - 1].offset)) {
            continue;
        }
        at = stop + 1;
        const sl_failed_t *f = &failed[i];
        attempt_t *known = sl_group_attempt_get (self, f->offset);
        uint32_t n = known && known->n > lease->attempt ? known->n : lease->attempt;
        if (n >= self->config.max_deliver || f->final) {
            char text[256];
            size_t len = f->error_len < 255 ? f->error_len : 255;
            sl_group_move (text, f->error, len);
            text[len] = 0;
            rc = sl_group_dead_push (&self->out, &self->n_out, &self->cap_out, f->offset, n, text);
            if (rc == 0) {
                rc = sl_group_mark_done (self, f->offset, f->offset + 1);
            }
        }
        else {
            rc = sl_group_attempt_set (self, f->offset, n, f->error, f->error_len);
            if (rc == 0 && live) {
                rc = sl_group_queue_add (self, f->offset, 1, n, 0, false);
            }
        }
        if (rc) {
            return rc;
        }
    }
    outcome->commit = true;
    member_t *member = sl_group_member_by_id (self, lease->member);
    if (member) {
        member->records += lease->count;
    }
    return s_drain_pending (self, outcome);
}

int
sl_group_result (sl_group_t *self, uint64_t lease_id, uint64_t offset, uint32_t count,
                 const sl_failed_t *failed, size_t n_failed, int64_t now_ms, sl_outcome_t *outcome)
{
    (void)now_ms;
    outcome->commit = false;
    outcome->dead = NULL;
    outcome->n_dead = 0;
    self->n_out = 0;
    if (lease_id == 0) {
        return 0; //  never given; 0 marks a used history slot
    }
    if (n_failed > count || (n_failed && !failed)) {
        return SL_EINVAL;
    }
    for (size_t i = 0; i < n_failed; i++) {
        if (failed[i].offset < offset || failed[i].offset - offset >= count ||
            (failed[i].error_len && !failed[i].error)) {
            return SL_EINVAL;
        }
    }
    ssize_t li = sl_group_live_find (self, lease_id);
    lease_t *old = li < 0 ? sl_group_history_find (self, lease_id) : NULL;
    const lease_t *known = li >= 0 ? &self->live[li] : old;
    if (!known || known->offset != offset || known->count != count || count == 0) {
        return 0;
    }
    sl_failed_t *sorted = NULL;
    if (n_failed) {
        sorted = malloc (n_failed * sizeof *sorted);
        if (!sorted) {
            return SL_ENOMEM;
        }
        memcpy (sorted, failed, n_failed * sizeof *sorted);
    }
    lease_t lease;
    if (li >= 0) {
        lease = sl_group_live_take (self, (size_t)li);
    }
    else {
        lease = *old;
        old->id = 0; //  a repeat of this result is unknown from now on
    }
    int rc = 0;
    if (sl_group_any_done (self, offset, offset + count)) {
        //  First result wins. A live lease overlapping it gives back the
        //  rest of its records, with no attempt counted: nothing failed.
        if (li >= 0) {
            rc = sl_group_requeue (self, &lease, lease.attempt - 1, lease.expiries);
        }
    }
    else {
        rc = s_commit (self, &lease, li >= 0, sorted, n_failed, outcome);
    }
    free (sorted);
    return rc;
}

int
sl_group_take_dead (sl_group_t *self, sl_outcome_t *outcome)
{
    self->n_out = 0;
    outcome->dead = NULL;
    outcome->n_dead = 0;
    int rc = s_drain_pending (self, outcome);
    outcome->commit = rc == 0 && outcome->n_dead > 0;
    return rc;
}
