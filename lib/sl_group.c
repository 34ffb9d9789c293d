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
*/
#include "sl_group.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "sl_error.h"
#include "sl_mp.h"

#define S_EXPIRED_TEXT  "lease expired"
#define S_SPLIT_AFTER   2           //  expiries after which a range is split
//  Most done ranges or attempt entries a decoded state may hold: no more
//  records than that are ever past a checkpoint.
#define S_DECODE_MAX    ((size_t) SL_GROUP_MAX_LEASES * SL_GROUP_MAX_BATCH)

typedef struct {
    uint64_t id;
    uint8_t peer[SL_GROUP_MAX_PEER];
    size_t peer_len;
    char name[SL_NAME_MAX + 1];
    uint32_t window;
    uint32_t batch;
    uint32_t held;                  //  live leases
    int64_t last_seen;
    uint64_t last_work;             //  sequence of the last lease given, 0 = never
} s_member_t;

typedef struct {
    uint64_t id;
    uint64_t offset;
    uint32_t count;
    uint32_t attempt;
    uint32_t expiries;              //  of these records before this lease
    uint64_t member;                //  member id (live leases only)
    int64_t deadline;
} s_lease_t;

//  A range waiting in the retry queue: attempts made so far, expiries.
typedef struct {
    uint64_t offset;
    uint32_t count;
    uint32_t attempts;
    uint32_t expiries;
} s_entry_t;

typedef struct {
    uint64_t start;
    uint64_t end;                   //  exclusive
} s_range_t;

typedef struct {
    uint64_t offset;
    uint32_t n;
    char *error;                    //  heap, <= 255 bytes
} s_attempt_t;

struct _sl_group_t {
    char name[SL_NAME_MAX + 1];
    sl_group_config_t config;
    uint64_t checkpoint;
    uint64_t cursor;                //  first offset never handed out
    uint64_t next_lease_id;
    uint64_t next_member_id;
    uint64_t work_seq;
    s_member_t **members;           //  one allocation each: peers are lent out
    size_t n_members, cap_members;
    s_lease_t *live;
    size_t n_live, cap_live;
    s_entry_t *queue;               //  sorted by offset, oldest first
    size_t n_queue, cap_queue;
    s_range_t *done;                //  sorted, disjoint, not adjacent, above checkpoint
    size_t n_done, cap_done;
    s_attempt_t *attempts;          //  sorted by offset, records not done
    size_t n_attempts, cap_attempts;
    s_lease_t history[SL_GROUP_HISTORY];
    size_t n_history, history_next;
    sl_dead_t *pending;             //  dead from expiries, not yet handed out
    size_t n_pending, cap_pending;
    sl_dead_t *out;                 //  what the last outcome lent
    size_t n_out, cap_out;
};

//  Makes room for `need` elements of `size` bytes in *data.
static int
s_reserve (void **data, size_t *cap, size_t need, size_t size)
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

#define S_RESERVE(self, arr, extra)                                                            \
    s_reserve ((void **) &(self)->arr, &(self)->cap_##arr, (self)->n_##arr + (extra),          \
               sizeof *(self)->arr)

//  memmove that accepts NULL pointers for nothing to move.
static void
s_move (void *dst, const void *src, size_t size)
{
    if (size) {
        memmove (dst, src, size);
    }
}

static uint64_t
s_sat_add (uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

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

static bool
s_any_done (const sl_group_t *self, uint64_t start, uint64_t end)
{
    if (start < self->checkpoint) {
        return true;
    }
    size_t i = s_done_find (self, start);
    return i < self->n_done && self->done[i].start < end;
}

//  The first offset at or after offset that is not done.
static uint64_t
s_skip_done (const sl_group_t *self, uint64_t offset)
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
static uint64_t
s_next_done (const sl_group_t *self, uint64_t offset)
{
    size_t i = s_done_find (self, offset);
    return i < self->n_done ? self->done[i].start : UINT64_MAX;
}

//  Index of the first attempt entry at or past offset.
static size_t
s_attempt_find (const sl_group_t *self, uint64_t offset)
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

static s_attempt_t *
s_attempt_get (sl_group_t *self, uint64_t offset)
{
    size_t i = s_attempt_find (self, offset);
    return i < self->n_attempts && self->attempts[i].offset == offset ? &self->attempts[i] : NULL;
}

static void
s_attempts_drop (sl_group_t *self, uint64_t start, uint64_t end)
{
    if (self->n_attempts == 0) {
        return;
    }
    size_t i = s_attempt_find (self, start);
    size_t j = i;
    while (j < self->n_attempts && self->attempts[j].offset < end) {
        free (self->attempts[j].error);
        j++;
    }
    s_move (&self->attempts[i], &self->attempts[j], (self->n_attempts - j) * sizeof (s_attempt_t));
    self->n_attempts -= j - i;
}

//  Records attempt n of a record that failed with error (not terminated).
static int
s_attempt_set (sl_group_t *self, uint64_t offset, uint32_t n, const char *error, size_t len)
{
    if (len > 255) {
        len = 255;
    }
    char *copy = malloc (len + 1);
    if (!copy) {
        return SL_ENOMEM;
    }
    s_move (copy, error, len);
    copy[len] = 0;
    s_attempt_t *entry = s_attempt_get (self, offset);
    if (entry) {
        free (entry->error);
        entry->error = copy;
        if (n > entry->n) {
            entry->n = n;
        }
        return 0;
    }
    if (S_RESERVE (self, attempts, 1)) {
        free (copy);
        return SL_ENOMEM;
    }
    size_t i = s_attempt_find (self, offset);
    s_move (&self->attempts[i + 1], &self->attempts[i],
             (self->n_attempts - i) * sizeof (s_attempt_t));
    self->attempts[i] = (s_attempt_t) {offset, n, copy};
    self->n_attempts++;
    return 0;
}

//  Marks [start, end) done: merges it into the done ranges, forgets the
//  attempt counts inside it and moves the checkpoint over a range that
//  reaches it.
static int
s_mark_done (sl_group_t *self, uint64_t start, uint64_t end)
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
    s_range_t merged = {start, end};
    if (j > i) {
        merged.start = self->done[i].start < start ? self->done[i].start : start;
        merged.end = self->done[j - 1].end > end ? self->done[j - 1].end : end;
        self->done[i] = merged;
        s_move (&self->done[i + 1], &self->done[j], (self->n_done - j) * sizeof (s_range_t));
        self->n_done -= j - i - 1;
    }
    else {
        if (S_RESERVE (self, done, 1)) {
            return SL_ENOMEM;
        }
        s_move (&self->done[i + 1], &self->done[i], (self->n_done - i) * sizeof (s_range_t));
        self->done[i] = merged;
        self->n_done++;
    }
    s_attempts_drop (self, start, end);
    if (self->n_done && self->done[0].start <= self->checkpoint) {
        self->checkpoint = self->done[0].end;
        s_move (&self->done[0], &self->done[1], (self->n_done - 1) * sizeof (s_range_t));
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
static int
s_queue_add (sl_group_t *self, uint64_t offset, uint32_t count, uint32_t attempts,
             uint32_t expiries, bool split)
{
    size_t n = split ? count : 1;
    if (S_RESERVE (self, queue, n)) {
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
    s_move (&self->queue[lo + n], &self->queue[lo], (self->n_queue - lo) * sizeof (s_entry_t));
    for (size_t k = 0; k < n; k++) {
        self->queue[lo + k] = (s_entry_t) {offset + k, split ? 1 : count, attempts, expiries};
    }
    self->n_queue += n;
    return 0;
}

//  Puts the records of an ended lease that are not done back in the queue.
static int
s_requeue (sl_group_t *self, const s_lease_t *lease, uint32_t attempts, uint32_t expiries)
{
    uint64_t end = lease->offset + lease->count;
    uint64_t at = s_skip_done (self, lease->offset);
    while (at < end) {
        uint64_t stop = s_next_done (self, at);
        if (stop > end) {
            stop = end;
        }
        int rc = s_queue_add (self, at, (uint32_t) (stop - at), attempts, expiries, false);
        if (rc) {
            return rc;
        }
        at = s_skip_done (self, stop);
    }
    return 0;
}

static int
s_dead_push (sl_dead_t **arr, size_t *n, size_t *cap, uint64_t offset, uint32_t attempts,
             const char *error)
{
    if (s_reserve ((void **) arr, cap, *n + 1, sizeof **arr)) {
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
static int
s_expire (sl_group_t *self, const s_lease_t *lease)
{
    uint32_t expiries = lease->expiries + 1;
    uint64_t end = lease->offset + lease->count;
    uint64_t at = s_skip_done (self, lease->offset);
    while (at < end) {
        uint64_t stop = s_next_done (self, at);
        if (stop > end) {
            stop = end;
        }
        uint32_t count = (uint32_t) (stop - at);
        int rc;
        if (count == 1) {
            s_attempt_t *known = s_attempt_get (self, at);
            uint32_t n = known && known->n > lease->attempt ? known->n : lease->attempt;
            if (n >= self->config.max_deliver) {
                char text[256];
                snprintf (text, sizeof text, "lease expired %u times (worker died or hung)",
                          expiries);
                rc = s_dead_push (&self->pending, &self->n_pending, &self->cap_pending, at, n,
                                  text);
                if (rc == 0) {
                    rc = s_mark_done (self, at, at + 1);
                }
            }
            else {
                rc = s_attempt_set (self, at, n, S_EXPIRED_TEXT, strlen (S_EXPIRED_TEXT));
                if (rc == 0) {
                    rc = s_queue_add (self, at, 1, n, expiries, false);
                }
            }
        }
        else {
            bool split =
                expiries >= S_SPLIT_AFTER || lease->attempt >= self->config.max_deliver;
            rc = s_queue_add (self, at, count, lease->attempt, expiries, split);
        }
        if (rc) {
            return rc;
        }
        at = s_skip_done (self, stop);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Members and leases

static s_member_t *
s_member_by_peer (const sl_group_t *self, const void *peer, size_t peer_len, size_t *index)
{
    for (size_t i = 0; i < self->n_members; i++) {
        s_member_t *m = self->members[i];
        if (m->peer_len == peer_len && memcmp (m->peer, peer, peer_len) == 0) {
            if (index) {
                *index = i;
            }
            return m;
        }
    }
    return NULL;
}

static s_member_t *
s_member_by_id (const sl_group_t *self, uint64_t id)
{
    for (size_t i = 0; i < self->n_members; i++) {
        if (self->members[i]->id == id) {
            return self->members[i];
        }
    }
    return NULL;
}

static ssize_t
s_live_find (const sl_group_t *self, uint64_t id)
{
    for (size_t i = 0; i < self->n_live; i++) {
        if (self->live[i].id == id) {
            return (ssize_t) i;
        }
    }
    return -1;
}

//  Removes live lease i, freeing its member's slot; returns a copy.
static s_lease_t
s_live_take (sl_group_t *self, size_t i)
{
    s_lease_t lease = self->live[i];
    self->live[i] = self->live[--self->n_live];
    s_member_t *member = s_member_by_id (self, lease.member);
    if (member && member->held) {
        member->held--;
    }
    return lease;
}

static void
s_history_add (sl_group_t *self, const s_lease_t *lease)
{
    self->history[self->history_next] = *lease;
    self->history_next = (self->history_next + 1) % SL_GROUP_HISTORY;
    if (self->n_history < SL_GROUP_HISTORY) {
        self->n_history++;
    }
}

static s_lease_t *
s_history_find (sl_group_t *self, uint64_t id)
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
static int
s_member_end (sl_group_t *self, size_t index, bool failed, int *ended)
{
    s_member_t *member = self->members[index];
    int rc = 0;
    for (size_t i = self->n_live; i-- > 0;) {
        if (self->live[i].member != member->id) {
            continue;
        }
        s_lease_t lease = s_live_take (self, i);
        s_history_add (self, &lease);
        int step = failed ? s_expire (self, &lease)
                          : s_requeue (self, &lease, lease.attempt - 1, lease.expiries);
        rc = rc ? rc : step;
        (*ended)++;
    }
    free (member);
    self->members[index] = self->members[--self->n_members];
    return rc;
}

//  ---------------------------------------------------------------------
//  Public API

static bool
s_config_valid (const sl_group_config_t *config)
{
    size_t in_len = strnlen (config->in, sizeof config->in);
    size_t out_len = strnlen (config->out, sizeof config->out);
    return in_len < sizeof config->in && out_len < sizeof config->out
           && sl_name_valid (config->in, in_len) && sl_name_valid (config->out, out_len)
           && strcmp (config->in, config->out) != 0 && config->max_deliver >= 1
           && config->lease_ms >= 1;
}

sl_group_t *
sl_group_new (const char *name, const sl_group_config_t *config, uint64_t start)
{
    assert (name && config);
    size_t len = strnlen (name, SL_NAME_MAX + 1);
    if (!sl_name_valid (name, len) || !s_config_valid (config)) {
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
    if (!s_copy ((void **) &copy->live, &copy->cap_live, self->live, self->n_live,
                 sizeof *self->live)
        || !s_copy ((void **) &copy->queue, &copy->cap_queue, self->queue, self->n_queue,
                    sizeof *self->queue)
        || !s_copy ((void **) &copy->done, &copy->cap_done, self->done, self->n_done,
                    sizeof *self->done)
        || !s_copy ((void **) &copy->pending, &copy->cap_pending, self->pending,
                    self->n_pending, sizeof *self->pending)
        || s_reserve ((void **) &copy->members, &copy->cap_members, self->n_members,
                      sizeof *copy->members)
        || s_reserve ((void **) &copy->attempts, &copy->cap_attempts, self->n_attempts,
                      sizeof *copy->attempts)) {
        goto fail;
    }
    for (size_t i = 0; i < self->n_members; i++) {
        s_member_t *m = malloc (sizeof *m);
        if (!m) {
            goto fail;
        }
        *m = *self->members[i];
        copy->members[copy->n_members++] = m;
    }
    for (size_t i = 0; i < self->n_attempts; i++) {
        s_attempt_t a = self->attempts[i];
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
    size_t name_len = member ? strnlen (member, SL_NAME_MAX + 1) : 0;
    if (!peer || peer_len == 0 || peer_len > SL_GROUP_MAX_PEER || !sl_name_valid (member, name_len)
        || window < 1 || window > SL_GROUP_MAX_WINDOW || batch < 1
        || batch > SL_GROUP_MAX_BATCH) {
        return SL_EINVAL;
    }
    s_member_t *m = s_member_by_peer (self, peer, peer_len, NULL);
    for (size_t i = 0; !m && i < self->n_members; i++) {
        if (strcmp (self->members[i]->name, member) == 0) {
            m = self->members[i];
        }
    }
    if (!m) {
        if (self->n_members >= SL_GROUP_MAX_MEMBERS) {
            return SL_ETOOBIG;
        }
        if (S_RESERVE (self, members, 1)) {
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
    return 0;
}

bool
sl_group_seen (sl_group_t *self, const void *peer, size_t peer_len, int64_t now_ms)
{
    s_member_t *m = s_member_by_peer (self, peer, peer_len, NULL);
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
    if (s_member_by_peer (self, peer, peer_len, &index)) {
        s_member_end (self, index, false, &ended);
    }
}

//  The member that gets the next lease: a free slot, the fewest leases
//  held, then the one that waited longest. A faster member frees its slots
//  sooner and so is picked more often.
static s_member_t *
s_pick (const sl_group_t *self)
{
    s_member_t *best = NULL;
    for (size_t i = 0; i < self->n_members; i++) {
        s_member_t *m = self->members[i];
        if (m->held >= m->window) {
            continue;
        }
        if (!best || m->held < best->held
            || (m->held == best->held && m->last_work < best->last_work)) {
            best = m;
        }
    }
    return best;
}

//  Retries first (oldest first, done records skipped, cut to the member's
//  batch and at done records), then new records from the cursor.
static bool
s_find_work (sl_group_t *self, uint32_t batch, uint64_t stream_next, s_lease_t *lease)
{
    while (self->n_queue) {
        s_entry_t *e = &self->queue[0];
        uint64_t end = e->offset + e->count;
        uint64_t at = s_skip_done (self, e->offset);
        if (at >= end) {
            s_move (&self->queue[0], &self->queue[1], --self->n_queue * sizeof (s_entry_t));
            continue;
        }
        uint64_t stop = s_next_done (self, at);
        stop = stop < end ? stop : end;
        stop = stop - at > batch ? at + batch : stop;
        *lease = (s_lease_t) {0, at, (uint32_t) (stop - at), e->attempts + 1, e->expiries, 0, 0};
        if (stop == end) {
            s_move (&self->queue[0], &self->queue[1], --self->n_queue * sizeof (s_entry_t));
        }
        else {
            e->count = (uint32_t) (end - stop);
            e->offset = stop;
        }
        return true;
    }
    uint64_t at = s_skip_done (self, self->cursor);
    uint64_t limit = s_sat_add (self->checkpoint, (uint64_t) SL_GROUP_MAX_LEASES * batch);
    limit = limit < stream_next ? limit : stream_next;
    self->cursor = at;
    if (at >= limit) {
        return false;
    }
    //  A record with an attempt count (restored after a restart) goes alone.
    size_t ai = s_attempt_find (self, at);
    if (ai < self->n_attempts && self->attempts[ai].offset == at) {
        *lease = (s_lease_t) {0, at, 1, self->attempts[ai].n + 1, 0, 0, 0};
        self->cursor = at + 1;
        return true;
    }
    uint64_t stop = s_sat_add (at, batch);
    stop = stop < limit ? stop : limit;
    uint64_t done = s_next_done (self, at);
    stop = stop < done ? stop : done;
    if (ai < self->n_attempts && self->attempts[ai].offset < stop) {
        stop = self->attempts[ai].offset;
    }
    *lease = (s_lease_t) {0, at, (uint32_t) (stop - at), 1, 0, 0, 0};
    self->cursor = stop;
    return true;
}

int
sl_group_next (sl_group_t *self, uint64_t stream_first, uint64_t stream_next, int64_t now_ms,
               sl_lease_t *lease, const void **peer, size_t *peer_len)
{
    if (stream_first > self->checkpoint) {
        //  Removed by retention: nobody can process them any more.
        if (s_mark_done (self, self->checkpoint, stream_first)) {
            return SL_ENOMEM;
        }
    }
    s_member_t *member = s_pick (self);
    if (!member) {
        return 0;
    }
    if (S_RESERVE (self, live, 1)) {
        return SL_ENOMEM;
    }
    s_lease_t work;
    if (!s_find_work (self, member->batch, stream_next, &work)) {
        return 0;
    }
    //  One record alone carries the count of its earlier failures.
    if (work.count == 1) {
        s_attempt_t *known = s_attempt_get (self, work.offset);
        if (known && known->n >= work.attempt) {
            work.attempt = known->n + 1;
        }
    }
    work.id = ++self->next_lease_id;
    work.member = member->id;
    work.deadline = now_ms + (int64_t) self->config.lease_ms;
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
sl_group_unlease (sl_group_t *self, uint64_t lease_id)
{
    ssize_t i = s_live_find (self, lease_id);
    if (i >= 0) {
        s_lease_t lease = s_live_take (self, (size_t) i);
        s_requeue (self, &lease, lease.attempt - 1, lease.expiries);
    }
}

int
sl_group_tick (sl_group_t *self, int64_t now_ms, int64_t silence_ms)
{
    int ended = 0;
    for (size_t i = self->n_members; silence_ms > 0 && i-- > 0;) {
        if (now_ms - self->members[i]->last_seen > silence_ms) {
            s_member_end (self, i, true, &ended);
        }
    }
    for (size_t i = self->n_live; i-- > 0;) {
        if (now_ms >= self->live[i].deadline) {
            s_lease_t lease = s_live_take (self, i);
            s_history_add (self, &lease);
            s_expire (self, &lease);
            ended++;
        }
    }
    return ended;
}

static int
s_cmp_failed (const void *a, const void *b)
{
    uint64_t x = ((const sl_failed_t *) a)->offset;
    uint64_t y = ((const sl_failed_t *) b)->offset;
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
    if (s_reserve ((void **) &self->out, &self->cap_out, self->n_out + self->n_pending,
                   sizeof *self->out)) {
        return SL_ENOMEM;
    }
    s_move (&self->out[self->n_out], self->pending, self->n_pending * sizeof *self->pending);
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
s_commit (sl_group_t *self, const s_lease_t *lease, bool live, sl_failed_t *failed,
          size_t n_failed, sl_outcome_t *outcome)
{
    if (n_failed) {
        qsort (failed, n_failed, sizeof *failed, s_cmp_failed);
    }
    uint64_t at = lease->offset;
    uint64_t end = lease->offset + lease->count;
    for (size_t i = 0; i <= n_failed; i++) {
        uint64_t stop = i < n_failed ? failed[i].offset : end;
        int rc = s_mark_done (self, at, stop);
        if (rc) {
            return rc;
        }
        if (i == n_failed || (i > 0 && failed[i].offset == failed[i - 1].offset)) {
            continue;
        }
        at = stop + 1;
        const sl_failed_t *f = &failed[i];
        s_attempt_t *known = s_attempt_get (self, f->offset);
        uint32_t n = known && known->n > lease->attempt ? known->n : lease->attempt;
        if (n >= self->config.max_deliver || f->final) {
            char text[256];
            size_t len = f->error_len < 255 ? f->error_len : 255;
            s_move (text, f->error, len);
            text[len] = 0;
            rc = s_dead_push (&self->out, &self->n_out, &self->cap_out, f->offset, n, text);
            if (rc == 0) {
                rc = s_mark_done (self, f->offset, f->offset + 1);
            }
        }
        else {
            rc = s_attempt_set (self, f->offset, n, f->error, f->error_len);
            if (rc == 0 && live) {
                rc = s_queue_add (self, f->offset, 1, n, 0, false);
            }
        }
        if (rc) {
            return rc;
        }
    }
    outcome->commit = true;
    return s_drain_pending (self, outcome);
}

int
sl_group_result (sl_group_t *self, uint64_t lease_id, uint64_t offset, uint32_t count,
                 const sl_failed_t *failed, size_t n_failed, int64_t now_ms,
                 sl_outcome_t *outcome)
{
    (void) now_ms;
    outcome->commit = false;
    outcome->dead = NULL;
    outcome->n_dead = 0;
    self->n_out = 0;
    if (lease_id == 0) {
        return 0;           //  never given; 0 marks a used history slot
    }
    if (n_failed > count || (n_failed && !failed)) {
        return SL_EINVAL;
    }
    for (size_t i = 0; i < n_failed; i++) {
        if (failed[i].offset < offset || failed[i].offset - offset >= count
            || (failed[i].error_len && !failed[i].error)) {
            return SL_EINVAL;
        }
    }
    ssize_t li = s_live_find (self, lease_id);
    s_lease_t *old = li < 0 ? s_history_find (self, lease_id) : NULL;
    const s_lease_t *known = li >= 0 ? &self->live[li] : old;
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
    s_lease_t lease;
    if (li >= 0) {
        lease = s_live_take (self, (size_t) li);
    }
    else {
        lease = *old;
        old->id = 0;        //  a repeat of this result is unknown from now on
    }
    int rc = 0;
    if (s_any_done (self, offset, offset + count)) {
        //  First result wins. A live lease overlapping it gives back the
        //  rest of its records, with no attempt counted: nothing failed.
        if (li >= 0) {
            rc = s_requeue (self, &lease, lease.attempt - 1, lease.expiries);
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

//  ---------------------------------------------------------------------
//  Persistent encoding and dead letters

static int
s_put_head (sl_buf_t *buf, size_t (*write) (uint8_t *, size_t, uint32_t), uint32_t value)
{
    int rc = sl_buf_reserve (buf, 5);
    if (rc == 0) {
        buf->len += write (buf->data + buf->len, buf->cap - buf->len, value);
    }
    return rc;
}

static int
s_put_uint (sl_buf_t *buf, uint64_t value)
{
    int rc = sl_buf_reserve (buf, 9);
    if (rc == 0) {
        buf->len += sl_mp_write_uint (buf->data + buf->len, buf->cap - buf->len, value);
    }
    return rc;
}

static int
s_put_int (sl_buf_t *buf, int64_t value)
{
    int rc = sl_buf_reserve (buf, 9);
    if (rc == 0) {
        buf->len += sl_mp_write_int (buf->data + buf->len, buf->cap - buf->len, value);
    }
    return rc;
}

static int
s_put_bytes (sl_buf_t *buf, const void *data, size_t len, bool bin)
{
    if (len > UINT32_MAX) {
        return SL_ETOOBIG;
    }
    int rc = s_put_head (buf, bin ? sl_mp_write_bin_header : sl_mp_write_str_header,
                         (uint32_t) len);
    return rc ? rc : sl_buf_append (buf, data, len);
}

static int
s_put_str (sl_buf_t *buf, const char *str)
{
    return s_put_bytes (buf, str, strlen (str), false);
}

//  Raw msgpack, or nil when there is none.
static int
s_put_raw (sl_buf_t *buf, const uint8_t *data, size_t len)
{
    static const uint8_t nil = 0xc0;
    return data && len ? sl_buf_append (buf, data, len) : sl_buf_append (buf, &nil, 1);
}

static int
s_encode (const sl_group_t *self, sl_buf_t *out)
{
    int rc = s_put_head (out, sl_mp_write_map, 8);
    rc = rc ? rc : s_put_str (out, "v");
    rc = rc ? rc : s_put_uint (out, 1);
    rc = rc ? rc : s_put_str (out, "in");
    rc = rc ? rc : s_put_str (out, self->config.in);
    rc = rc ? rc : s_put_str (out, "out");
    rc = rc ? rc : s_put_str (out, self->config.out);
    rc = rc ? rc : s_put_str (out, "max_deliver");
    rc = rc ? rc : s_put_uint (out, self->config.max_deliver);
    rc = rc ? rc : s_put_str (out, "lease_ms");
    rc = rc ? rc : s_put_uint (out, self->config.lease_ms);
    rc = rc ? rc : s_put_str (out, "checkpoint");
    rc = rc ? rc : s_put_uint (out, self->checkpoint);
    rc = rc ? rc : s_put_str (out, "done");
    rc = rc ? rc : s_put_head (out, sl_mp_write_array, (uint32_t) self->n_done);
    for (size_t i = 0; rc == 0 && i < self->n_done; i++) {
        rc = s_put_head (out, sl_mp_write_array, 2);
        rc = rc ? rc : s_put_uint (out, self->done[i].start);
        rc = rc ? rc : s_put_uint (out, self->done[i].end);
    }
    rc = rc ? rc : s_put_str (out, "attempts");
    rc = rc ? rc : s_put_head (out, sl_mp_write_array, (uint32_t) self->n_attempts);
    for (size_t i = 0; rc == 0 && i < self->n_attempts; i++) {
        rc = s_put_head (out, sl_mp_write_array, 3);
        rc = rc ? rc : s_put_uint (out, self->attempts[i].offset);
        rc = rc ? rc : s_put_uint (out, self->attempts[i].n);
        rc = rc ? rc : s_put_str (out, self->attempts[i].error);
    }
    return rc;
}

int
sl_group_encode (const sl_group_t *self, sl_buf_t *out)
{
    size_t start = out->len;
    int rc = s_encode (self, out);
    if (rc) {
        out->len = start;
    }
    return rc;
}

static bool
s_key_is (const uint8_t *key, uint32_t len, const char *name)
{
    return strlen (name) == len && memcmp (key, name, len) == 0;
}

//  Reads a str into a name buffer of SL_NAME_MAX + 1 bytes.
static int
s_read_name (const uint8_t **p, const uint8_t *end, char *out)
{
    const uint8_t *str;
    uint32_t len;
    if (sl_mp_read_str (p, end, &str, &len) || !sl_name_valid ((const char *) str, len)) {
        return SL_EPROTO;
    }
    memcpy (out, str, len);
    out[len] = 0;
    return 0;
}

static int
s_read_u32 (const uint8_t **p, const uint8_t *end, uint32_t *out)
{
    uint64_t v;
    if (sl_mp_read_uint (p, end, &v) || v < 1 || v > UINT32_MAX) {
        return SL_EPROTO;
    }
    *out = (uint32_t) v;
    return 0;
}

//  done: [[start, end], ...] sorted, disjoint, above the checkpoint.
static int
s_decode_done (sl_group_t *self, const uint8_t *p, const uint8_t *end)
{
    uint32_t count;
    if (sl_mp_read_array (&p, end, &count) || count > S_DECODE_MAX
        || (count && self->checkpoint == UINT64_MAX)) {
        return SL_EPROTO;
    }
    uint64_t floor = self->checkpoint + 1;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t pair;
        s_range_t range;
        if (sl_mp_read_array (&p, end, &pair) || pair != 2
            || sl_mp_read_uint (&p, end, &range.start) || sl_mp_read_uint (&p, end, &range.end)
            || range.start < floor || range.end <= range.start) {
            return SL_EPROTO;
        }
        if (self->n_done && range.start == self->done[self->n_done - 1].end) {
            self->done[self->n_done - 1].end = range.end;
        }
        else {
            if (S_RESERVE (self, done, 1)) {
                return SL_ENOMEM;
            }
            self->done[self->n_done++] = range;
        }
        floor = range.end;
    }
    return 0;
}

//  attempts: [[offset, n, error], ...] sorted, at or above the checkpoint,
//  never inside a done range.
static int
s_decode_attempts (sl_group_t *self, const uint8_t *p, const uint8_t *end)
{
    uint32_t count;
    if (sl_mp_read_array (&p, end, &count) || count > S_DECODE_MAX) {
        return SL_EPROTO;
    }
    uint64_t floor = self->checkpoint;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t triple, n, len;
        uint64_t offset;
        const uint8_t *text;
        if (sl_mp_read_array (&p, end, &triple) || triple != 3
            || sl_mp_read_uint (&p, end, &offset) || s_read_u32 (&p, end, &n)
            || sl_mp_read_str (&p, end, &text, &len) || offset < floor || len > 255
            || memchr (text, 0, len) || s_any_done (self, offset, offset + 1)) {
            return SL_EPROTO;
        }
        if (S_RESERVE (self, attempts, 1)) {
            return SL_ENOMEM;
        }
        char *error = malloc (len + 1);
        if (!error) {
            return SL_ENOMEM;
        }
        memcpy (error, text, len);
        error[len] = 0;
        self->attempts[self->n_attempts++] = (s_attempt_t) {offset, n, error};
        if (offset == UINT64_MAX) {
            return i + 1 == count ? 0 : SL_EPROTO;
        }
        floor = offset + 1;
    }
    return 0;
}

//  The state map: {"v": 1, "in", "out", "max_deliver", "lease_ms",
//  "checkpoint", "done", "attempts"}, all required, unknown keys skipped.
//  sl_mp_skip has bounded every length first, so a reader failing below
//  means a wrong type.
sl_group_t *
sl_group_decode (const char *name, const uint8_t *data, size_t len, int *err)
{
    enum { K_V, K_IN, K_OUT, K_MAX, K_LEASE, K_CHECKPOINT, K_DONE, K_ATTEMPTS, K_N };
    static const char *keys[K_N] = {"v", "in", "out", "max_deliver", "lease_ms",
                                    "checkpoint", "done", "attempts"};
    sl_group_t *self = NULL;
    sl_group_config_t config;
    memset (&config, 0, sizeof config);
    uint64_t version = 0, checkpoint = 0;
    const uint8_t *part[K_N] = {NULL};
    const uint8_t *end = data + len;
    size_t used;
    int rc = data ? sl_mp_skip (data, len, 3, &used) : SL_ETRUNC;
    if (rc) {
        rc = rc == SL_ETRUNC ? SL_ETRUNC : SL_EPROTO;
        goto fail;
    }
    rc = SL_EPROTO;
    const uint8_t *p = data;
    uint32_t pairs;
    if (used != len || sl_mp_read_map (&p, end, &pairs)) {
        goto fail;
    }
    for (uint32_t i = 0; i < pairs; i++) {
        const uint8_t *key;
        uint32_t key_len;
        if (sl_mp_read_str (&p, end, &key, &key_len)) {
            goto fail;
        }
        int k = 0;
        while (k < K_N && !s_key_is (key, key_len, keys[k])) {
            k++;
        }
        if (k < K_N && part[k]) {
            goto fail;
        }
        if (k < K_N) {
            part[k] = p;
        }
        if (sl_mp_skip (p, (size_t) (end - p), 3, &used)) {
            goto fail;
        }
        p += used;
    }
    for (int k = 0; k < K_N; k++) {
        if (!part[k]) {
            goto fail;
        }
    }
    if (sl_mp_read_uint (&part[K_V], end, &version) || version != 1
        || s_read_name (&part[K_IN], end, config.in) || s_read_name (&part[K_OUT], end, config.out)
        || s_read_u32 (&part[K_MAX], end, &config.max_deliver)
        || s_read_u32 (&part[K_LEASE], end, &config.lease_ms)
        || sl_mp_read_uint (&part[K_CHECKPOINT], end, &checkpoint)
        || !s_config_valid (&config)) {
        goto fail;
    }
    self = sl_group_new (name, &config, checkpoint);
    if (!self) {
        rc = SL_EINVAL;
        goto fail;
    }
    rc = s_decode_done (self, part[K_DONE], end);
    if (rc == 0) {
        rc = s_decode_attempts (self, part[K_ATTEMPTS], end);
    }
    if (rc) {
        goto fail;
    }
    return self;
fail:
    sl_group_destroy (&self);
    if (err) {
        *err = rc;
    }
    return NULL;
}

//  The value is built apart first so that buf is untouched on failure
//  (sl_record_encode appends all or nothing).
int
sl_group_dlq_encode (sl_buf_t *buf, const sl_group_t *self, const sl_dead_t *dead,
                     const sl_record_t *original, int64_t now_ms)
{
    sl_buf_t value;
    sl_buf_init (&value, 0);
    int rc = s_put_head (&value, sl_mp_write_map, 6);
    rc = rc ? rc : s_put_str (&value, "error");
    rc = rc ? rc : s_put_bytes (&value, dead->error, strnlen (dead->error, 255), false);
    rc = rc ? rc : s_put_str (&value, "attempts");
    rc = rc ? rc : s_put_uint (&value, dead->attempts);
    rc = rc ? rc : s_put_str (&value, "group");
    rc = rc ? rc : s_put_str (&value, self->name);
    rc = rc ? rc : s_put_str (&value, "stream");
    rc = rc ? rc : s_put_str (&value, self->config.in);
    rc = rc ? rc : s_put_str (&value, "offset");
    rc = rc ? rc : s_put_uint (&value, dead->offset);
    rc = rc ? rc : s_put_str (&value, "record");
    rc = rc ? rc : s_put_head (&value, sl_mp_write_map, 4);
    rc = rc ? rc : s_put_str (&value, "timestamp");
    rc = rc ? rc : s_put_int (&value, original->timestamp);
    rc = rc ? rc : s_put_str (&value, "key");
    if (rc == 0 && original->key) {
        rc = s_put_bytes (&value, original->key, original->key_len, original->key_is_bin);
    }
    else if (rc == 0) {
        rc = s_put_raw (&value, NULL, 0);
    }
    rc = rc ? rc : s_put_str (&value, "headers");
    rc = rc ? rc : s_put_raw (&value, original->headers, original->headers_len);
    rc = rc ? rc : s_put_str (&value, "value");
    rc = rc ? rc : s_put_raw (&value, original->value, original->value_len);
    if (rc == 0) {
        rc = sl_record_encode (buf, now_ms, original->key, original->key_len,
                               original->key_is_bin, NULL, 0, value.data, value.len);
    }
    sl_buf_free (&value);
    return rc;
}
