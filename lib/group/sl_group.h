/*  sl_group.h - one worker group's state: members, leases, done ranges,
    attempt counts and dead letters (docs/PROTOCOL.md §14).

    Pure logic, no I/O and no clock of its own: the broker feeds it events
    (join, result, time) and does what it answers (read the log, send WORK,
    append output and dead letters, store the state). Its persistent part
    (config, checkpoint, done ranges and attempts above the checkpoint) is
    encoded by sl_group_encode into the store's `groups` database, in the
    same transaction as the output of the results that changed it; leases
    and members live in memory only and are rebuilt after a restart.

    A member is known by its routing id (opaque bytes, <= 256) and name.
*/
#ifndef SL_GROUP_H_INCLUDED
#define SL_GROUP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_batch.h"
#include "sl_buf.h"
#include "sl_util.h"

#define SL_GROUP_MAX_WINDOW 64    //  leases one member may hold
#define SL_GROUP_MAX_BATCH 65536  //  records per lease
#define SL_GROUP_MAX_LEASES 64    //  leases of a group past its checkpoint, in batches
#define SL_GROUP_MAX_PEER 256     //  routing id bytes
#define SL_GROUP_MAX_MEMBERS 1024 //  members of one group
#define SL_GROUP_HISTORY 256      //  ended, uncommitted leases remembered for late RESULTs

typedef struct _sl_group_t sl_group_t;

typedef struct {
    char in[SL_NAME_MAX + 1];
    char out[SL_NAME_MAX + 1];
    uint32_t max_deliver; //  attempts before the dead-letter stream (>= 1)
    uint32_t lease_ms;    //  lease deadline
} sl_group_config_t;

//  Who holds a lease, as two opaque tokens the broker derives (with a
//  secret of its own) from the member's connection and CURVE key: a RESULT
//  is accepted only from the holder's connection with the holder's key.
//  All zero when nobody cares (the unit tests, sl_group_join).
typedef struct {
    uint64_t conn; //  the connection: routing id and key
    uint64_t key;  //  the key alone (the principal)
} sl_holder_t;

typedef struct {
    uint64_t id;      //  unique per sl_group_t lifetime
    uint64_t offset;  //  first input offset
    uint32_t count;   //  records
    uint32_t attempt; //  1 on first delivery
} sl_lease_t;

//  A record that reached max_deliver: the caller appends it to GROUP.dlq
//  (sl_group_dlq_encode) in the transaction that commits the result.
typedef struct {
    uint64_t offset;
    uint32_t attempts;
    char error[256];
} sl_dead_t;

//  What a RESULT does. commit: append the output, the dead letters and the
//  new state in one transaction. Otherwise drop it, nothing changed.
typedef struct {
    bool commit;
    sl_dead_t *dead; //  owned by the group, valid until the next call
    size_t n_dead;
} sl_outcome_t;

typedef struct {
    uint64_t offset;
    const char *error; //  not NUL-terminated
    size_t error_len;
    bool final; //  SL_OP_FAIL: dead-letter at once, no retry
} sl_failed_t;

//  A new group whose checkpoint is start (the input's first or next offset).
sl_group_t *sl_group_new (const char *name, const sl_group_config_t *config, uint64_t start);
//  Restores a group from its encoding (untrusted: every count and length is
//  bounded). NULL with *err = SL_EPROTO / SL_ETRUNC / SL_ENOMEM.
sl_group_t *sl_group_decode (const char *name, const uint8_t *data, size_t len, int *err);
//  Appends the persistent state to out (reset by the caller).
int sl_group_encode (const sl_group_t *self, sl_buf_t *out);
void sl_group_destroy (sl_group_t **self_p);
//  A deep copy (members, leases, queues and all), so that the broker can
//  restore a group when the transaction that changed it does not commit.
sl_group_t *sl_group_dup (const sl_group_t *self);

const char *sl_group_name (const sl_group_t *self);
const sl_group_config_t *sl_group_config (const sl_group_t *self);
//  Every input offset below it is done.
uint64_t sl_group_checkpoint (const sl_group_t *self);

//  Adds (or refreshes, by peer) a member. window 1..SL_GROUP_MAX_WINDOW,
//  batch 1..SL_GROUP_MAX_BATCH. 0 or SL_EINVAL / SL_ENOMEM, or SL_ETOOBIG
//  past SL_GROUP_MAX_MEMBERS. A new peer with the name of a member is that
//  member restarted or reconnected: the old one's leases go back to the
//  queue at once (not counted as attempts; a late result from the old holder
//  can still commit first), and the name starts afresh on the new peer.
int sl_group_join (sl_group_t *self, const void *peer, size_t peer_len, const char *member,
                   uint32_t window, uint32_t batch, int64_t now_ms);
//  sl_group_join, recording who joined: the leases this member is handed
//  carry holder (sl_group_lease_holder). SL_EDENIED when a member of that
//  name joined with another holder key (a name belongs to its key).
int sl_group_join_as (sl_group_t *self, const void *peer, size_t peer_len, const char *member,
                      uint32_t window, uint32_t batch, int64_t now_ms, const sl_holder_t *holder);
//  The holder of a live or ended (still remembered) lease: 0, or
//  SL_ENOTFOUND when the id is unknown.
int sl_group_lease_holder (const sl_group_t *self, uint64_t lease_id, sl_holder_t *holder);
//  Makes lease ids hard to guess: with a non-zero seed, ids are a keyed
//  bijection of the lease counter (still unique, never 0) instead of 1, 2,
//  3 ... Ids are not credentials either way (see sl_holder_t).
void sl_group_set_lease_seed (sl_group_t *self, uint64_t seed);
//  Any message from a member keeps it alive. false if peer is not a member.
bool sl_group_seen (sl_group_t *self, const void *peer, size_t peer_len, int64_t now_ms);
//  Removes the member; its leases go back to the front of the queue.
void sl_group_leave (sl_group_t *self, const void *peer, size_t peer_len);
//  The member's live leases go back to the front of the queue, not counted
//  as attempts (the broker does this for a member that stopped reading);
//  it stays a member. Returns how many.
size_t sl_group_release (sl_group_t *self, const void *peer, size_t peer_len);
//  Whether peer is a member (no side effect).
bool sl_group_has_member (const sl_group_t *self, const void *peer, size_t peer_len);
//  The member gets no lease from sl_group_next until the next
//  sl_group_tick (the broker pauses a member over its byte budget).
void sl_group_pause (sl_group_t *self, const void *peer, size_t peer_len);
size_t sl_group_members (const sl_group_t *self);
//  One member, for a caller that assigns work of its own (broker/shares.c):
//  the index runs 0..sl_group_members()-1 in no particular order; id grows
//  with each join (the oldest member has the smallest). Borrowed pointers,
//  valid until the member leaves. 0, or SL_ENOTFOUND past the end.
typedef struct {
    uint64_t id;
    const void *peer;
    size_t peer_len;
    const char *name;
    uint32_t batch;
    sl_holder_t holder;
} sl_group_member_t;
int sl_group_member (const sl_group_t *self, size_t index, sl_group_member_t *out);
//  Live leases (handed out, not ended).
size_t sl_group_leases (const sl_group_t *self);

//  The next lease to hand out, if a member has a free slot and there is
//  work: retries first, then new records from the cursor, never more than
//  SL_GROUP_MAX_LEASES * batch records past the checkpoint, never at or past
//  stream_next. Offsets below stream_first (removed by retention) are
//  skipped: they count as done. Returns 1 with *lease and the member's peer
//  (borrowed, valid until the member leaves), 0 when nothing to hand out.
//  If the caller cannot deliver it, it calls sl_group_unlease.
int sl_group_next (sl_group_t *self, uint64_t stream_first, uint64_t stream_next, int64_t now_ms,
                   sl_lease_t *lease, const void **peer, size_t *peer_len);
void sl_group_unlease (sl_group_t *self, uint64_t lease_id);
//  Cuts a lease just handed out to its first count records (the broker
//  bounds a WORK message in bytes); the rest goes back to the front of the
//  queue, not counted as an attempt. 0 or SL_EINVAL (no such lease, count 0
//  or not smaller), SL_ENOMEM.
int sl_group_shrink (sl_group_t *self, uint64_t lease_id, uint32_t count);
//  A keyed group (docs/PROTOCOL.md §14.4): at most one live lease, always
//  to the oldest member, so that records are processed in offset order by
//  the one member holding the state; the other members stand by.
void sl_group_set_exclusive (sl_group_t *self, bool exclusive);

//  Ends leases past their deadline and members silent for more than
//  silence_ms (their leases return to the queue as failed attempts; after
//  two expiries a range is split into one-record leases). Returns the
//  number of leases ended. silence_ms <= 0: members are never dropped.
//  A lease expires when now_ms >= its start + lease_ms. A one-record lease
//  that expires at max_deliver makes its record dead (error "lease expired
//  N times (worker died or hung)"); it is marked done at once and handed
//  out by the next committing sl_group_result or by sl_group_take_dead.
int sl_group_tick (sl_group_t *self, int64_t now_ms, int64_t silence_ms);

//  Dead records from expiries (sl_group_tick) not yet handed out by a
//  result. If outcome->commit, the caller appends outcome->dead to
//  GROUP.dlq and stores the state in one transaction, as for a RESULT.
//  Without this call a group whose members all die on one record would
//  wait for some other RESULT to carry its dead letter. 0 or SL_ENOMEM.
int sl_group_take_dead (sl_group_t *self, sl_outcome_t *outcome);

//  Decides about a RESULT for lease_id covering [offset, offset + count),
//  with the records listed in failed not done. Commits only if the range
//  matches a live or expired lease of this range and no record of it is
//  done yet; marks the range done (except failed records, which are queued
//  again or, at max_deliver, returned as dead), frees the member's slot and
//  advances the checkpoint. A rejected result changes nothing.
//  Any RESULT for a lease id that is live ends it (frees the slot) if its
//  range matches, committed or not; the records of a live lease whose
//  result is dropped because some were done are queued again. A committed
//  outcome also carries pending dead records from expiries.
//  Returns 0 (see outcome->commit), SL_EINVAL when failed names an offset
//  outside the range or has more entries than count (nothing changed), or
//  SL_ENOMEM.
int sl_group_result (sl_group_t *self, uint64_t lease_id, uint64_t offset, uint32_t count,
                     const sl_failed_t *failed, size_t n_failed, int64_t now_ms,
                     sl_outcome_t *outcome);

//  Encodes the dead-letter record for `original` (read from the input log)
//  into buf, as docs/PROTOCOL.md §14.3 specifies.
int sl_group_dlq_encode (sl_buf_t *buf, const sl_group_t *self, const sl_dead_t *dead,
                         const sl_record_t *original, int64_t now_ms);

//  Fills out (the group's entry of the progress document, lib/codec/sl_stat.h)
//  with what the group knows: name, streams, checkpoint, leases,
//  redeliveries and up to SL_STAT_MAX_MEMBERS members (out->members is
//  allocated, the caller frees it). mono_ms is the clock the member times
//  were given in. 0 or SL_ENOMEM.
struct sl_stat_group_s;
int sl_group_stat (const sl_group_t *self, int64_t mono_ms, struct sl_stat_group_s *out);

#endif
