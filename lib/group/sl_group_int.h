/*  sl_group_int.h - the internals of lib/sl_group*.c, one module in three
    files: sl_group.c (members, leases and the public state machine),
    sl_group_ranges.c (where each offset is: done ranges, attempt counts,
    the retry queue) and sl_group_codec.c (the persistent encoding and the
    dead-letter record). Nothing outside them includes this header.
*/
#ifndef SL_GROUP_INT_H_INCLUDED
#define SL_GROUP_INT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "sl_group.h"

typedef struct {
    uint64_t id;
    uint8_t peer[SL_GROUP_MAX_PEER];
    size_t peer_len;
    char name[SL_NAME_MAX + 1];
    uint32_t window;
    uint32_t batch;
    uint32_t held; //  live leases
    int64_t last_seen;
    bool paused;        //  gets no lease until sl_group_tick (over its budget)
    uint64_t last_work; //  sequence of the last lease given, 0 = never
    sl_holder_t holder; //  who joined: its connection and key, as tokens
    uint64_t records;   //  records of its committed results (progress view)
} member_t;

typedef struct {
    uint64_t id;
    uint64_t offset;
    uint32_t count;
    uint32_t attempt;
    uint32_t expiries; //  of these records before this lease
    uint64_t member;   //  member id (live leases only)
    int64_t deadline;
    sl_holder_t holder; //  the member's, when the lease was handed out
} lease_t;

//  A range waiting in the retry queue: attempts made so far, expiries.
typedef struct {
    uint64_t offset;
    uint32_t count;
    uint32_t attempts;
    uint32_t expiries;
} entry_t;

typedef struct {
    uint64_t start;
    uint64_t end; //  exclusive
} range_t;

typedef struct {
    uint64_t offset;
    uint32_t n;
    char *error; //  heap, <= 255 bytes
} attempt_t;

struct _sl_group_t {
    char name[SL_NAME_MAX + 1];
    sl_group_config_t config;
    uint64_t checkpoint;
    uint64_t cursor;        //  first offset never handed out
    uint64_t next_lease_id; //  leases handed out; ids are this, scrambled
    uint64_t lease_seed;    //  0: ids are 1, 2, 3 ...; else scrambled with it
    uint64_t next_member_id;
    uint64_t work_seq;
    member_t **members; //  one allocation each: peers are lent out
    size_t n_members, cap_members;
    lease_t *live;
    size_t n_live, cap_live;
    entry_t *queue; //  sorted by offset, oldest first
    size_t n_queue, cap_queue;
    range_t *done; //  sorted, disjoint, not adjacent, above checkpoint
    size_t n_done, cap_done;
    attempt_t *attempts; //  sorted by offset, records not done
    size_t n_attempts, cap_attempts;
    lease_t history[SL_GROUP_HISTORY];
    size_t n_history, history_next;
    sl_dead_t *pending; //  dead from expiries, not yet handed out
    size_t n_pending, cap_pending;
    sl_dead_t *out; //  what the last outcome lent
    size_t n_out, cap_out;
    uint64_t redeliveries; //  leases handed out with attempt > 1 (in memory only)
    bool exclusive;        //  keyed: one lease at a time, to the oldest member
};

//  sl_group.c

//  Makes room for `need` elements of `size` bytes in *data.
int sl_group_reserve (void **data, size_t *cap, size_t need, size_t size);
#define GROUP_RESERVE(self, arr, extra)                                                            \
    sl_group_reserve ((void **)&(self)->arr, &(self)->cap_##arr, (self)->n_##arr + (extra),        \
                      sizeof *(self)->arr)

//  A config a group may have: valid, distinct in and out names, limits >= 1.
bool sl_group_config_valid (const sl_group_config_t *config);

//  memmove that accepts NULL pointers for nothing to move.
static inline void
sl_group_move (void *dst, const void *src, size_t size)
{
    if (size) {
        memmove (dst, src, size);
    }
}

//  sl_group_ranges.c: every function keeps the done ranges sorted, disjoint
//  and above the checkpoint, and the attempts and the queue sorted.

bool sl_group_any_done (const sl_group_t *self, uint64_t start, uint64_t end);
//  The first offset at or after offset that is not done.
uint64_t sl_group_skip_done (const sl_group_t *self, uint64_t offset);
//  The start of the first done range past offset (which is not done).
uint64_t sl_group_next_done (const sl_group_t *self, uint64_t offset);
//  Index of the first attempt entry at or past offset.
size_t sl_group_attempt_find (const sl_group_t *self, uint64_t offset);
attempt_t *sl_group_attempt_get (sl_group_t *self, uint64_t offset);
//  Records attempt n of a record that failed with error (not terminated).
int sl_group_attempt_set (sl_group_t *self, uint64_t offset, uint32_t n, const char *error,
                          size_t len);
//  Marks [start, end) done and moves the checkpoint over a range that reaches it.
int sl_group_mark_done (sl_group_t *self, uint64_t start, uint64_t end);
//  Inserts [offset, offset + count) into the retry queue, as one entry or split.
int sl_group_queue_add (sl_group_t *self, uint64_t offset, uint32_t count, uint32_t attempts,
                        uint32_t expiries, bool split);
//  Puts the records of an ended lease that are not done back in the queue.
int sl_group_requeue (sl_group_t *self, const lease_t *lease, uint32_t attempts, uint32_t expiries);
int sl_group_dead_push (sl_dead_t **arr, size_t *n, size_t *cap, uint64_t offset, uint32_t attempts,
                        const char *error);
//  An expired lease (or one whose member fell silent) failed an attempt.
int sl_group_expire (sl_group_t *self, const lease_t *lease);

//  sl_group_members.c: members, live leases, the history of ended ones.
member_t *sl_group_member_by_peer (const sl_group_t *self, const void *peer, size_t peer_len,
                                   size_t *index);
member_t *sl_group_member_by_id (const sl_group_t *self, uint64_t id);
ssize_t sl_group_live_find (const sl_group_t *self, uint64_t id);
lease_t sl_group_live_take (sl_group_t *self, size_t i);
void sl_group_history_add (sl_group_t *self, const lease_t *lease);
lease_t *sl_group_history_find (sl_group_t *self, uint64_t id);
int sl_group_member_end (sl_group_t *self, size_t index, bool failed, int *ended);

static inline uint64_t
sl_group_sat_add (uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

#endif
