/*  groups.h - the broker's side of worker groups (docs/PROTOCOL.md §14):
    keeps every group's sl_group_t, hands out work, and applies results
    inside the broker's group commit. Internal to the broker.
*/
#ifndef SL_BROKER_GROUPS_H_INCLUDED
#define SL_BROKER_GROUPS_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "sl_batch.h"
#include "sl_group.h"
#include "sl_proto.h"
#include "sl_store.h"

typedef struct _sl_groups_t sl_groups_t;

//  Called for every batch a group write appends (output, dead letters), so
//  that the broker can publish it live after the commit: its header and
//  the records appended (borrowed: valid only during the call).
typedef void (sl_groups_appended_fn) (void *ctx, const char *stream,
                                      const sl_batch_header_t *header, const uint8_t *records,
                                      size_t len);

sl_groups_t *sl_groups_new (sl_store_t *store, zsock_t *router, uint32_t max_depth);
//  Limits (docs/reliability.md): WORK counts into budget (a member over it
//  gets no work), one WORK holds at most max_work_bytes of records (or one
//  stored batch), and a JOIN creating a group past max_groups gets ELIMIT.
struct _sl_budget_t;
void sl_groups_set_limits (sl_groups_t *self, struct _sl_budget_t *budget, uint64_t max_work_bytes,
                           uint32_t max_groups);
//  A peer stuck with unread replies: its leases in every group it joined go
//  back to the queue for other members; it stays a member (paused while over
//  its budget) and gets work again once it reads.
//  Key states a keyed group may hold in the broker (--max-state-keys; 0:
//  the default).
void sl_groups_set_max_state_keys (sl_groups_t *self, uint64_t max_keys);
void sl_groups_forget (sl_groups_t *self, const void *peer, size_t peer_len);
void sl_groups_destroy (sl_groups_t **self_p);

//  Restores every stored group. 0 or an error (logged).
int sl_groups_load (sl_groups_t *self);

//  Any message from peer keeps its memberships alive.
void sl_groups_seen (sl_groups_t *self, zframe_t *peer, int64_t now_ms);

//  Checks a JOIN or RESULT before it joins the group commit. 0 or an
//  error code with *why.
int sl_groups_check (sl_groups_t *self, const sl_msg_t *msg, zframe_t *data, const char **why);

//  PUBLISH: GROUP.late and GROUP.state belong to the keyed group GROUP
//  while it exists (reserved.c). 0 or SL_EINVAL with *why.
int sl_groups_check_publish (sl_groups_t *self, const char *stream, const char **why);

//  A RESULT for a share of a keyed group goes to the share's entry
//  (GROUP.sN, shares.c): rewrites msg->group. 0 or SL_EPROTO with *why.
int sl_groups_route (sl_groups_t *self, sl_msg_t *msg, const char **why);

//  Group commit, around the broker's write transaction: begin snapshots
//  nothing yet; apply (in the transaction) snapshots each group it
//  touches the first time, then changes it; end(true) keeps the changes
//  after a successful commit, end(false) restores every snapshot (the
//  transaction was aborted or will be redone).
void sl_groups_begin (sl_groups_t *self);
//  holder: who sent msg (rights.h); a JOIN's member is handed leases as it.
int sl_groups_apply (sl_groups_t *self, zframe_t *peer, const sl_msg_t *msg, zframe_t *data,
                     const sl_holder_t *holder, int64_t now_ms, sl_groups_appended_fn *appended,
                     void *ctx);

//  The holder of a group's live or remembered lease: 0 or SL_ENOTFOUND.
int sl_groups_lease_holder (sl_groups_t *self, const char *group, uint64_t lease,
                            sl_holder_t *holder);
void sl_groups_end (sl_groups_t *self, bool committed);

//  Dead letters produced by lease expiries (records whose every delivery
//  killed or hung its worker) wait here for the next group commit, which
//  stores them with sl_groups_apply_dead in its transaction.
bool sl_groups_have_dead (sl_groups_t *self);
int sl_groups_apply_dead (sl_groups_t *self, int64_t now_ms, sl_groups_appended_fn *appended,
                          void *ctx);

//  After a commit: the JOINED reply for a JOIN that was applied.
void sl_groups_joined (sl_groups_t *self, zframe_t *peer, const sl_msg_t *msg);

//  LEAVE: the member's leases go back to the queue at once.
void sl_groups_leave (sl_groups_t *self, zframe_t *peer, const sl_msg_t *msg);

//  New records in stream: the groups reading it are dispatched this turn.
void sl_groups_wake_stream (sl_groups_t *self, const char *stream);

//  Ends overdue leases and silent members, then hands out work to every
//  member with a free slot: every turn for the groups something happened
//  to, every 100 ms for all groups with members. Called once per loop turn.
void sl_groups_dispatch (sl_groups_t *self, int64_t now_ms);

//  The broker found its socket empty after reading from mono_ms on: every
//  message a member sent before then has been read. Silence and lease
//  deadlines are judged at that time, not at the clock's (at most
//  STALL_FORGIVEN_MS before it), so a broker stalled in a slow commit does
//  not drop members whose messages wait in its socket.
void sl_groups_heard (sl_groups_t *self, int64_t mono_ms);

//  Whether peer is a member of group now (a keyed group: of the group
//  itself, not of a share).
bool sl_groups_is_member (sl_groups_t *self, const char *group, zframe_t *peer);

//  Counters for the exit log line.
void sl_groups_stats (sl_groups_t *self, uint64_t *work, uint64_t *results, uint64_t *dropped,
                      uint64_t *dead);

//  Operating (docs/operate.md). each: calls fn for every group (any order).
//  reset: the group (which must have no members) starts afresh with its
//  checkpoint at offset; delete: removes it (no members either). A keyed
//  group's shares, key states and GROUP.state go along, in the same
//  transaction (*dropped: the key states dropped). Both commit their own
//  transaction: call them between group commits. 0, SL_ENOTFOUND,
//  SL_ESTATE (members, or another group uses GROUP.state), SL_EINVAL (a
//  share alone) or a store error, with *why.
struct _sl_group_t;
typedef void (sl_groups_each_fn) (void *ctx, const struct _sl_group_t *group);
void sl_groups_each (sl_groups_t *self, sl_groups_each_fn *fn, void *ctx);
//  input: copies the group's input stream name into in[SL_NAME_MAX + 1].
int sl_groups_input (sl_groups_t *self, const char *name, char *in);
int sl_groups_reset (sl_groups_t *self, const char *name, uint64_t offset, uint64_t *dropped,
                     const char **why);
int sl_groups_delete (sl_groups_t *self, const char *name, uint64_t *dropped, const char **why);

#endif
