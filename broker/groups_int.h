/*  groups_int.h - the internals of the broker's worker groups, shared by
    groups.c (state, commits, dispatch) and groups_log.c (reading the log
    for WORK and dead letters).
*/
#ifndef SL_BROKER_GROUPS_INT_H_INCLUDED
#define SL_BROKER_GROUPS_INT_H_INCLUDED

#include <czmq.h>

#include "groups.h"
#include "sl_buf.h"
#include "sl_group.h"
#include "sl_proto.h"
#include "sl_send.h"

#define SILENCE_MS 3000 //  a member silent this long is gone
//  A broker that did not read its socket (a commit waiting on a slow disk)
//  does not count that time against its members, up to this long.
#define STALL_FORGIVEN_MS 10000
#define DEFAULT_WINDOW 8
#define DEFAULT_BATCH 1000
#define DEFAULT_DELIVER 5
#define DEFAULT_LEASE_MS 30000
#define DISPATCH_SWEEP_MS 100 //  every active group's timers, at least this often

typedef struct {
    sl_group_t *group;
    sl_group_t *snapshot; //  state before this transaction touched it
    sl_dead_t *dead;      //  dead letters from expiries, not yet stored
    size_t n_dead;
    bool touched;
    bool created;                 //  created in this transaction
    bool joined_ok;               //  a JOIN of this transaction was applied
    char key[SL_WIN_KEY_MAX + 1]; //  keyed group: its key path (keyed.c), "" = not keyed
    void *active;                 //  handle in the active list: has members, leases or dead letters
    void *touch;                  //  handle in the touched list
    void *dirty;                  //  handle in the dirty list: dispatch it this turn
    void *by_input;               //  handle in its input stream's list
    //  Key shares (shares.c). A keyed group's entry hands out no leases: its
    //  members are the group's, and each share is an entry of its own
    //  (named GROUP.sN) with its own checkpoint, owned by one member.
    uint32_t shares;            //  a keyed group: its number of shares, 0 = not linked yet
    uint32_t share;             //  a share: its index
    uint32_t of;                //  a share: how many its keyed group has
    char base[SL_NAME_MAX + 1]; //  a share: its keyed group's name ("" = not a share)
} entry_t;

struct _sl_groups_t {
    sl_store_t *store;
    int64_t heard_ms; //  every message sent before this was read (sl_groups_heard)
    zsock_t *router;
    uint32_t max_depth;
    zhashx_t *groups; //  name -> entry_t
    //  Per-message and per-turn work must not grow with the number of
    //  groups (a peer can create up to --max-groups of them): these index
    //  what each step needs.
    zlistx_t *active;        //  entry_t with members, leases or dead letters
    zlistx_t *touched;       //  entry_t touched by the current transaction
    zhashx_t *memberships;   //  hex routing id -> zlistx_t of group names it joined
    zlistx_t *dirty;         //  active entries to dispatch this turn (something changed)
    zhashx_t *by_input;      //  input stream name -> zlistx_t of entry_t reading it
    int64_t next_sweep_ms;   //  next dispatch of every active group (timers)
    size_t n_with_dead;      //  entries with dead letters waiting
    sl_budget_t *budget;     //  the broker's reply budget: WORK counts into it
    uint64_t max_work_bytes; //  one WORK message's records, at most (a stored batch more)
    uint32_t max_groups;
    uint64_t max_state_keys;       //  key states a keyed group may hold (keyed_state.c)
    sl_buf_t state;                //  encoded group state
    sl_buf_t work;                 //  WORK batch being cut from the log
    sl_buf_t dlq;                  //  dead letters of one result
    sl_buf_t cut;                  //  a keyed share's WORK records (groups_log.c)
    struct _sl_shares_cut_t *cuts; //  keyed records' shares, noted per range (shares_cut.h)
    uint64_t n_work;
    uint64_t n_results;
    uint64_t n_dropped;
    uint64_t n_dead;
    char why[3 * SL_NAME_MAX + 200]; //  a refusal's text naming groups (groups_admin.c)
};

//  Helpers of groups.c for shares.c. create: a new group, saved in the
//  open transaction (removed again if it aborts); touch: snapshots an entry
//  before a transaction changes it; activate/wake: dispatch it (now);
//  remember: peer is a member of group (for sl_groups_seen).
int sl_groups_create (sl_groups_t *self, const char *name, const sl_group_config_t *config,
                      uint64_t start, entry_t **entry_p);
int sl_groups_touch (sl_groups_t *self, entry_t *entry);
void sl_groups_activate (sl_groups_t *self, entry_t *entry);
void sl_groups_wake (sl_groups_t *self, entry_t *entry);
void sl_groups_remember (sl_groups_t *self, const void *peer, size_t peer_len, const char *group);
//  Stores entry's group state in the open transaction (groups_admin.c's
//  reset too). 0 or an error.
int sl_groups_save (sl_groups_t *self, entry_t *entry);
//  Takes entry out of the active, dirty and by-input lists (they hold the
//  entry, not its name), before it is removed from the groups.
void sl_groups_unindex (sl_groups_t *self, entry_t *entry);
//  shares.c: a keyed JOIN was applied to entry: links (or creates, in the
//  transaction) its shares. 0 or an error.
int sl_shares_join (sl_groups_t *self, entry_t *entry, const sl_msg_t *msg);
//  A JOIN's shares: 0, or SL_EINVAL / SL_ELIMIT (a new keyed group counts
//  1 + its shares towards --max-groups) with *why.
int sl_shares_check_join (sl_groups_t *self, const entry_t *entry, const sl_msg_t *msg,
                          const char **why);
//  A keyed group's turn: members that left lose their shares, shares
//  without an owner and the spread are settled (sl_shares_assign).
void sl_shares_balance (sl_groups_t *self, entry_t *entry, int64_t now_ms);
//  reserved.c: the names a keyed group owns. share_entry: the entry of
//  GROUP.sN, or NULL; keyed: whether the group exists and is keyed (its
//  key, its shares or its key states say so); share_of: whether name is
//  the share GROUP.sN of a keyed group, GROUP into base[SL_NAME_MAX + 1].
entry_t *sl_groups_share_entry (sl_groups_t *self, const char *group, uint32_t share);
bool sl_groups_keyed (sl_groups_t *self, const char *name);
bool sl_groups_share_of (sl_groups_t *self, const char *name, char *base);
//  A JOIN's names: not a share's, no --out a keyed group owns, and a new
//  keyed group over no names in use. 0 or SL_EINVAL with *why.
int sl_groups_check_names (sl_groups_t *self, const sl_msg_t *msg, const char **why);
//  The name its output, late, state and dead-letter streams are named after.
const char *sl_groups_base (const entry_t *entry);

//  Appends dead letters to GROUP.dlq, each with its original record read
//  back from the input log, in the open transaction.
int sl_groups_dead_letters (sl_groups_t *self, entry_t *entry, const sl_dead_t *dead, size_t n_dead,
                            int64_t now_ms, sl_groups_appended_fn *appended, void *ctx);
//  Sends one lease's records to its member, at most max_work_bytes of them
//  (the lease is cut when there are more): 0; SL_EBUSY, SL_EAGAIN or
//  SL_ECLOSED when the member cannot take it now; another error when the
//  lease cannot be cut.
int sl_groups_send_work (sl_groups_t *self, entry_t *entry, sl_lease_t *lease, const void *peer,
                         size_t peer_len);

#endif
