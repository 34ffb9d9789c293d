/*  groups.c - the broker's side of worker groups (docs/PROTOCOL.md §14).

    Every group is an sl_group_t (lib/group/sl_group.c: leases, done ranges,
    attempts). This file connects it to the world: it reads work from the
    log and sends it to members over the ROUTER, and it applies results in
    the broker's write transaction, so that a result's output, its dead
    letters and the group's new state commit together or not at all. A
    group touched by a transaction is snapshotted first and restored if the
    transaction does not commit, so memory never runs ahead of the disk.
*/
#include "groups.h"
#include "groups_int.h"

#include "keyed.h"
#include "keyed_state.h"
#include "shares_cut.h"

#include <inttypes.h>
#include <string.h>
#include <sys/random.h>

#include "sl_error.h"
#include "sl_group.h"
#include "sl_log.h"
#include "sl_send.h"
#include "sl_util.h"

//  A random seed for a group's lease ids (sl_group_set_lease_seed), so that
//  ids do not count 1, 2, 3 in every group. Not a credential: RESULTs are
//  checked against the lease's holder (rights.c).
static uint64_t
s_seed (void)
{
    uint64_t seed = 0;
    if (getrandom (&seed, sizeof seed, 0) != (ssize_t)sizeof seed || seed == 0) {
        seed = (uint64_t)sl_now_ms () | 1;
    }
    return seed;
}

int
sl_groups_lease_holder (sl_groups_t *self, const char *group, uint64_t lease, sl_holder_t *holder)
{
    entry_t *entry = zhashx_lookup (self->groups, group);
    return entry ? sl_group_lease_holder (entry->group, lease, holder) : SL_ENOTFOUND;
}

static void
s_entry_destroy (void **item)
{
    entry_t *entry = *item;
    if (entry) {
        sl_group_destroy (&entry->group);
        sl_group_destroy (&entry->snapshot);
        free (entry->dead);
        free (entry);
        *item = NULL;
    }
}

static void
s_list_destroy (void **item)
{
    zlistx_destroy ((zlistx_t **)item);
}

sl_groups_t *
sl_groups_new (sl_store_t *store, zsock_t *router, uint32_t max_depth)
{
    sl_groups_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->store = store;
    self->router = router;
    self->max_depth = max_depth;
    self->groups = zhashx_new ();
    self->active = zlistx_new ();
    self->touched = zlistx_new ();
    self->memberships = zhashx_new ();
    self->dirty = zlistx_new ();
    self->by_input = zhashx_new ();
    if (!self->groups || !self->active || !self->touched || !self->memberships || !self->dirty ||
        !self->by_input) {
        zhashx_destroy (&self->groups);
        zlistx_destroy (&self->active);
        zlistx_destroy (&self->touched);
        zhashx_destroy (&self->memberships);
        zlistx_destroy (&self->dirty);
        zhashx_destroy (&self->by_input);
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->by_input, s_list_destroy);
    zhashx_set_destructor (self->groups, s_entry_destroy);
    zhashx_set_destructor (self->memberships, s_list_destroy);
    self->max_groups = UINT32_MAX;
    self->max_state_keys = SL_STATE_KEYS_DEFAULT;
    sl_buf_init (&self->state, 0);
    sl_buf_init (&self->work, 0);
    sl_buf_init (&self->dlq, 0);
    sl_buf_init (&self->cut, 0);
    return self;
}

void
sl_groups_destroy (sl_groups_t **self_p)
{
    sl_groups_t *self = *self_p;
    if (!self) {
        return;
    }
    zlistx_destroy (&self->active);
    zlistx_destroy (&self->touched);
    zlistx_destroy (&self->dirty);
    zhashx_destroy (&self->by_input);
    zhashx_destroy (&self->memberships);
    zhashx_destroy (&self->groups);
    sl_buf_free (&self->state);
    sl_buf_free (&self->work);
    sl_buf_free (&self->dlq);
    sl_buf_free (&self->cut);
    sl_shares_cut_destroy (&self->cuts);
    free (self);
    *self_p = NULL;
}

static void s_index_input (sl_groups_t *self, entry_t *entry);

static int
s_load_one (void *ctx, const char *name, const uint8_t *data, size_t len)
{
    sl_groups_t *self = ctx;
    int err = 0;
    sl_group_t *group = sl_group_decode (name, data, len, &err);
    if (!group) {
        //  A damaged state must not stop the broker; the group is left
        //  out and the operator is told what to do.
        sl_error ("groups",
                  "stored state of group '%s' is damaged (%s); the group is not "
                  "served: inspect the data directory or delete the group's entry",
                  name, sl_strerror (err));
        return 0;
    }
    entry_t *entry = calloc (1, sizeof *entry);
    if (!entry) {
        sl_group_destroy (&group);
        return SL_ENOMEM;
    }
    entry->group = group;
    sl_group_set_lease_seed (group, s_seed ());
    zhashx_update (self->groups, name, entry);
    s_index_input (self, entry);
    sl_info ("groups", "group '%s' resumes at offset %" PRIu64 " of '%s'", name,
             sl_group_checkpoint (group), sl_group_config (group)->in);
    return 0;
}

int
sl_groups_load (sl_groups_t *self)
{
    return sl_store_group_list (self->store, s_load_one, self);
}

void
sl_groups_set_limits (sl_groups_t *self, sl_budget_t *budget, uint64_t max_work_bytes,
                      uint32_t max_groups)
{
    self->budget = budget;
    self->max_work_bytes = max_work_bytes;
    self->max_groups = max_groups;
}

void
sl_groups_set_max_state_keys (sl_groups_t *self, uint64_t max_keys)
{
    self->max_state_keys = max_keys ? max_keys : SL_STATE_KEYS_DEFAULT;
}

//  A keyed group's share of an entry (a share's entry, or a keyed group
//  from before shares: share 0 of 1).
static uint32_t
s_share_of (const entry_t *entry, uint32_t *of)
{
    *of = entry->base[0] ? entry->of : 1;
    return entry->base[0] ? entry->share : 0;
}

//  The memberships index is keyed by the routing id in hex.
static void
s_peer_key (const void *peer, size_t peer_len, char *key)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = peer;
    peer_len = peer_len > 255 ? 255 : peer_len;
    for (size_t i = 0; i < peer_len; i++) {
        key[2 * i] = hex[p[i] >> 4];
        key[2 * i + 1] = hex[p[i] & 15];
    }
    key[2 * peer_len] = 0;
}

//  Puts an entry in the active list (idempotent).
void
sl_groups_activate (sl_groups_t *self, entry_t *entry)
{
    if (!entry->active) {
        entry->active = zlistx_add_end (self->active, entry);
    }
}

//  Marks an active entry for dispatch in this turn (idempotent).
void
sl_groups_wake (sl_groups_t *self, entry_t *entry)
{
    if (entry->active && !entry->dirty) {
        entry->dirty = zlistx_add_end (self->dirty, entry);
    }
}

//  Indexes an entry under its input stream, so that new records wake
//  only the groups that read them.
static void
s_index_input (sl_groups_t *self, entry_t *entry)
{
    const char *in = sl_group_config (entry->group)->in;
    zlistx_t *list = zhashx_lookup (self->by_input, in);
    if (!list) {
        list = zlistx_new ();
        if (!list || zhashx_insert (self->by_input, in, list) != 0) {
            zlistx_destroy (&list);
            return;
        }
    }
    entry->by_input = zlistx_add_end (list, entry);
}

void
sl_groups_wake_stream (sl_groups_t *self, const char *stream)
{
    zlistx_t *list = zhashx_lookup (self->by_input, stream);
    if (!list) {
        return;
    }
    for (entry_t *entry = zlistx_first (list); entry; entry = zlistx_next (list)) {
        sl_groups_wake (self, entry);
    }
}

//  Only the groups the peer joined are visited, not every group: a peer's
//  message costs the same whatever the number of groups.
void
sl_groups_seen (sl_groups_t *self, zframe_t *peer, int64_t now_ms)
{
    char key[512];
    s_peer_key (zframe_data (peer), zframe_size (peer), key);
    zlistx_t *names = zhashx_lookup (self->memberships, key);
    if (!names) {
        return;
    }
    const char *name = zlistx_first (names);
    while (name) {
        entry_t *entry = zhashx_lookup (self->groups, name);
        bool member =
            entry && sl_group_seen (entry->group, zframe_data (peer), zframe_size (peer), now_ms);
        if (!member) {
            //  Left, or ended as silent: forget the membership.
            zlistx_delete (names, zlistx_cursor (names));
            name = zlistx_first (names);
            continue;
        }
        name = zlistx_next (names);
    }
    if (zlistx_size (names) == 0) {
        zhashx_delete (self->memberships, key);
    }
}

void
sl_groups_remember (sl_groups_t *self, const void *peer, size_t peer_len, const char *group)
{
    char key[512];
    s_peer_key (peer, peer_len, key);
    zlistx_t *names = zhashx_lookup (self->memberships, key);
    if (!names) {
        names = zlistx_new ();
        if (!names) {
            return;
        }
        zlistx_set_destructor (names, (zlistx_destructor_fn *)zstr_free);
        zlistx_set_duplicator (names, (zlistx_duplicator_fn *)strdup);
        zlistx_set_comparator (names, (zlistx_comparator_fn *)strcmp);
        zhashx_insert (self->memberships, key, names);
    }
    if (!zlistx_find (names, (void *)group)) {
        zlistx_add_end (names, (void *)group);
    }
}

void
sl_groups_forget (sl_groups_t *self, const void *peer, size_t peer_len)
{
    char key[512];
    s_peer_key (peer, peer_len, key);
    zlistx_t *names = zhashx_lookup (self->memberships, key);
    if (!names) {
        return;
    }
    for (const char *name = zlistx_first (names); name; name = zlistx_next (names)) {
        entry_t *entry = zhashx_lookup (self->groups, name);
        if (entry && sl_group_release (entry->group, peer, peer_len) > 0) {
            sl_groups_wake (self, entry);
        }
    }
}

static entry_t *
s_lookup (sl_groups_t *self, const char *name)
{
    return zhashx_lookup (self->groups, name);
}

int
sl_groups_check (sl_groups_t *self, const sl_msg_t *msg, zframe_t *data, const char **why)
{
    if (msg->cmd == SL_CMD_JOIN) {
        if (strlen (msg->group) + 4 > SL_NAME_MAX) {
            *why = "group name too long for its dead-letter stream NAME.dlq";
            return SL_ENAME;
        }
        if (streq (msg->in, msg->out)) {
            *why = "a group's input and output must be different streams";
            return SL_EINVAL;
        }
        if (msg->window > SL_GROUP_MAX_WINDOW || msg->batch > SL_GROUP_MAX_BATCH) {
            *why = "window is 1..64, batch 1..65536";
            return SL_ETOOBIG;
        }
        if (msg->from != SL_FROM_BEGINNING && msg->from != SL_FROM_END) {
            *why = "a group starts from beginning or end";
            return SL_EINVAL;
        }
        entry_t *entry = s_lookup (self, msg->group);
        if (!entry && zhashx_size (self->groups) >= self->max_groups) {
            *why = "the broker's group limit is reached (--max-groups)";
            return SL_ELIMIT;
        }
        if (entry) {
            const sl_group_config_t *config = sl_group_config (entry->group);
            if (!streq (config->in, msg->in) || !streq (config->out, msg->out)) {
                *why = "the group exists with another input or output stream";
                return SL_EINVAL;
            }
        }
        int rc = sl_groups_check_names (self, msg, why);
        rc = rc ? rc : sl_shares_check_join (self, entry, msg, why);
        const char *key = entry && sl_group_members (entry->group) ? entry->key : NULL;
        return rc ? rc : sl_keyed_check_join (msg, key, why);
    }
    //  RESULT
    entry_t *entry = s_lookup (self, msg->group);
    if (!entry) {
        *why = "no such group";
        return SL_ENOTFOUND;
    }
    if (!data) {
        *why = "RESULT without its output batch";
        return SL_EPROTO;
    }
    if (msg->count == 0 || msg->n_failed > msg->count) {
        *why = "RESULT count must be >= 1 and cover its failed records";
        return SL_EPROTO;
    }
    for (uint32_t i = 0; i < msg->n_failed; i++) {
        uint64_t offset = msg->failed[i].offset;
        if (offset < msg->offset || offset - msg->offset >= msg->count) {
            *why = "a failed record outside the lease's range";
            return SL_EPROTO;
        }
    }
    if (msg->out_count > SL_GROUP_MAX_BATCH * 16) {
        *why = "too many output records for one result";
        return SL_ETOOBIG;
    }
    uint32_t records;
    int krc = sl_keyed_check_result (msg, entry->key, &records, why);
    if (krc) {
        return krc;
    }
    size_t size = zframe_size (data);
    if (records == 0) {
        if (size != 0) {
            *why = "output bytes with out_count 0";
            return SL_EPROTO;
        }
        return 0;
    }
    if (entry->key[0]) {
        //  Validated with its state records' checks in one walk.
        uint32_t of, share = s_share_of (entry, &of);
        return sl_keyed_state_check (msg, share, of, zframe_data (data), size, self->max_depth,
                                     why);
    }
    int rc = sl_batch_validate (zframe_data (data), size, records, self->max_depth);
    if (rc) {
        *why = "the output batch does not hold out_count well-formed records";
    }
    return rc;
}

//  A transaction visits only the groups it touches (sl_groups_end walks
//  the touched list), so a commit costs the same whatever the number of
//  groups.
void
sl_groups_begin (sl_groups_t *self)
{
    zlistx_purge (self->touched);
}

//  Snapshots a group the first time a transaction touches it.
static int
s_touch (sl_groups_t *self, entry_t *entry)
{
    if (entry->touched) {
        return 0;
    }
    if (!entry->created) {
        entry->snapshot = sl_group_dup (entry->group);
        if (!entry->snapshot) {
            return SL_ENOMEM;
        }
    }
    entry->touch = zlistx_add_end (self->touched, entry);
    if (!entry->touch) {
        sl_group_destroy (&entry->snapshot);
        return SL_ENOMEM;
    }
    entry->joined_ok = false;
    entry->touched = true;
    return 0;
}

void
sl_groups_unindex (sl_groups_t *self, entry_t *entry)
{
    if (entry->active) {
        zlistx_delete (self->active, entry->active);
    }
    if (entry->dirty) {
        zlistx_delete (self->dirty, entry->dirty);
    }
    zlistx_t *inputs = zhashx_lookup (self->by_input, sl_group_config (entry->group)->in);
    if (inputs && entry->by_input) {
        zlistx_delete (inputs, entry->by_input);
    }
}

int
sl_groups_save (sl_groups_t *self, entry_t *entry)
{
    sl_buf_reset (&self->state);
    int rc = sl_group_encode (entry->group, &self->state);
    if (rc == 0) {
        rc = sl_store_group_set (self->store, sl_group_name (entry->group), self->state.data,
                                 self->state.len);
    }
    return rc;
}

int
sl_groups_create (sl_groups_t *self, const char *name, const sl_group_config_t *config,
                  uint64_t start, entry_t **entry_p)
{
    entry_t *entry = calloc (1, sizeof *entry);
    if (!entry) {
        return SL_ENOMEM;
    }
    entry->group = sl_group_new (name, config, start);
    if (!entry->group) {
        free (entry);
        return SL_ENOMEM;
    }
    sl_group_set_lease_seed (entry->group, s_seed ());
    entry->created = true;
    entry->touch = zlistx_add_end (self->touched, entry);
    if (!entry->touch) {
        sl_group_destroy (&entry->group);
        free (entry);
        return SL_ENOMEM;
    }
    entry->touched = true;
    zhashx_update (self->groups, name, entry);
    s_index_input (self, entry);
    *entry_p = entry;
    return sl_groups_save (self, entry);
}

int
sl_groups_touch (sl_groups_t *self, entry_t *entry)
{
    return s_touch (self, entry);
}

//  Group logic runs on the monotonic clock (leases, liveness); now_ms, the
//  wall clock, is only for what is stored.
static int
s_apply_join (sl_groups_t *self, zframe_t *peer, const sl_msg_t *msg, const sl_holder_t *holder)
{
    entry_t *entry = s_lookup (self, msg->group);
    if (!entry) {
        if (zhashx_size (self->groups) >= self->max_groups) {
            return SL_ELIMIT;
        }
        sl_stream_info_t info;
        bool exists;
        int rc = sl_store_stream_info (self->store, msg->in, &info, &exists);
        if (rc) {
            return rc;
        }
        sl_group_config_t config;
        memset (&config, 0, sizeof config);
        snprintf (config.in, sizeof config.in, "%s", msg->in);
        snprintf (config.out, sizeof config.out, "%s", msg->out);
        config.max_deliver = msg->max_deliver ? msg->max_deliver : DEFAULT_DELIVER;
        config.lease_ms = msg->lease_ms ? msg->lease_ms : DEFAULT_LEASE_MS;
        uint64_t start = msg->from == SL_FROM_END ? info.next : info.first;
        rc = sl_groups_create (self, msg->group, &config, start, &entry);
        if (rc) {
            return rc;
        }
        sl_info ("groups", "group '%s' created: '%s' -> '%s' from offset %" PRIu64, msg->group,
                 msg->in, msg->out, start);
    }
    else {
        int rc = s_touch (self, entry);
        if (rc) {
            return rc;
        }
    }
    //  sl_groups_check refused another key while the group has members.
    snprintf (entry->key, sizeof entry->key, "%s", msg->key);
    sl_group_set_exclusive (entry->group, msg->key[0] != '\0');
    int rc = sl_group_join_as (entry->group, zframe_data (peer), zframe_size (peer), msg->member,
                               msg->window ? msg->window : DEFAULT_WINDOW,
                               msg->batch ? msg->batch : DEFAULT_BATCH, sl_mono_ms (), holder);
    if (rc == 0) {
        //  A keyed group's members work on its shares (shares.c).
        entry->shares = msg->key[0] ? entry->shares : 0;
        rc = msg->key[0] ? sl_shares_join (self, entry, msg) : 0;
    }
    if (rc == 0) {
        entry->joined_ok = true;
        sl_groups_remember (self, zframe_data (peer), zframe_size (peer), msg->group);
        sl_groups_activate (self, entry);
        sl_groups_wake (self, entry);
    }
    return rc;
}

static int s_apply_acked (sl_groups_t *self, entry_t *entry, const sl_msg_t *msg, zframe_t *data,
                          const sl_outcome_t *outcome, int64_t now_ms,
                          sl_groups_appended_fn *appended, void *ctx);

//  Everything that can refuse a RESULT (its checks, the state-keys limit)
//  runs before sl_group_result acks its lease in memory. A failure after
//  that ack aborts the whole transaction: were it to commit without this
//  RESULT's writes, the lease would stay acked in memory with its output,
//  late records and states missing or half written. The abort makes the
//  group commit restore every touched group from its snapshot
//  (sl_groups_end), so the lease is live again, handed out again when it
//  expires, and the writes of the other messages are retried by their
//  senders (producers resend what was not confirmed).
static int
s_apply_result (sl_groups_t *self, const sl_msg_t *msg, zframe_t *data, int64_t now_ms,
                sl_groups_appended_fn *appended, void *ctx)
{
    entry_t *entry = s_lookup (self, msg->group);
    if (!entry) {
        return SL_ENOTFOUND;
    }
    int rc = s_touch (self, entry);
    uint32_t of, share = s_share_of (entry, &of);
    if (rc == 0 && entry->key[0]) {
        //  Refused before the lease is acked: nothing of it is stored.
        rc = sl_keyed_state_admit (self->store, sl_groups_base (entry), share, msg,
                                   zframe_data (data), zframe_size (data), self->max_state_keys);
    }
    if (rc) {
        return rc;
    }
    sl_failed_t *failed = NULL;
    if (msg->n_failed) {
        failed = calloc (msg->n_failed, sizeof *failed);
        if (!failed) {
            return SL_ENOMEM;
        }
        for (uint32_t i = 0; i < msg->n_failed; i++) {
            failed[i].offset = msg->failed[i].offset;
            failed[i].error = msg->failed[i].error;
            failed[i].error_len = strlen (msg->failed[i].error);
            failed[i].final = msg->failed[i].final;
        }
    }
    sl_outcome_t outcome;
    rc = sl_group_result (entry->group, msg->lease, msg->offset, msg->count, failed, msg->n_failed,
                          sl_mono_ms (), &outcome);
    free (failed);
    if (rc) {
        return rc;
    }
    self->n_results++;
    sl_groups_wake (self, entry); //  a slot may be free
    if (!outcome.commit) {
        //  A late or repeated result: its range is done already.
        self->n_dropped++;
        return 0;
    }
    rc = s_apply_acked (self, entry, msg, data, &outcome, now_ms, appended, ctx);
    if (rc && sl_store_in_txn (self->store)) {
        sl_warn ("groups",
                 "group '%s': lease %" PRIu64 " acked but its writes failed (%s): the "
                 "transaction is aborted, the lease will be handed out again",
                 msg->group, msg->lease, sl_strerror (rc));
        sl_store_abort (self->store);
    }
    return rc;
}

//  The writes of a RESULT whose lease is acked (s_apply_result).
static int
s_apply_acked (sl_groups_t *self, entry_t *entry, const sl_msg_t *msg, zframe_t *data,
               const sl_outcome_t *outcome_p, int64_t now_ms, sl_groups_appended_fn *appended,
               void *ctx)
{
    const sl_outcome_t outcome = *outcome_p;
    uint32_t of, share = s_share_of (entry, &of);
    int rc;
    const sl_group_config_t *config = sl_group_config (entry->group);
    if (entry->key[0]) {
        //  Output, late records and state changes in this transaction (keyed.c),
        //  the states also into the compacted table (keyed_state.c).
        rc = sl_keyed_append (self->store, sl_groups_base (entry), share, config->out, msg,
                              zframe_data (data), zframe_size (data), now_ms, appended, ctx);
        if (rc) {
            return rc;
        }
    }
    else if (msg->out_count) {
        sl_batch_header_t header;
        rc = sl_store_append (self->store, config->out, zframe_data (data), zframe_size (data),
                              msg->out_count, now_ms, &header);
        if (rc) {
            return rc;
        }
        appended (ctx, config->out, &header, zframe_data (data), zframe_size (data));
    }
    if (outcome.n_dead) {
        rc = sl_groups_dead_letters (self, entry, outcome.dead, outcome.n_dead, now_ms, appended,
                                     ctx);
        if (rc) {
            return rc;
        }
    }
    return sl_groups_save (self, entry);
}

int
sl_groups_apply (sl_groups_t *self, zframe_t *peer, const sl_msg_t *msg, zframe_t *data,
                 const sl_holder_t *holder, int64_t now_ms, sl_groups_appended_fn *appended,
                 void *ctx)
{
    if (msg->cmd == SL_CMD_JOIN) {
        return s_apply_join (self, peer, msg, holder);
    }
    return s_apply_result (self, msg, data, now_ms, appended, ctx);
}

bool
sl_groups_have_dead (sl_groups_t *self)
{
    return self->n_with_dead > 0;
}

int
sl_groups_apply_dead (sl_groups_t *self, int64_t now_ms, sl_groups_appended_fn *appended, void *ctx)
{
    if (self->n_with_dead == 0) {
        return 0;
    }
    //  Entries with dead letters are active (s_collect_dead runs on those).
    for (entry_t *entry = zlistx_first (self->active); entry; entry = zlistx_next (self->active)) {
        if (entry->n_dead == 0) {
            continue;
        }
        int rc = s_touch (self, entry);
        if (rc == 0) {
            rc = sl_groups_dead_letters (self, entry, entry->dead, entry->n_dead, now_ms, appended,
                                         ctx);
        }
        if (rc == 0) {
            rc = sl_groups_save (self, entry);
        }
        if (rc) {
            return rc;
        }
    }
    return 0;
}

void
sl_groups_end (sl_groups_t *self, bool committed)
{
    zlistx_t *gone = zlistx_new ();
    for (entry_t *entry = zlistx_first (self->touched); entry;
         entry = zlistx_next (self->touched)) {
        if (committed) {
            sl_group_destroy (&entry->snapshot);
            //  Dead letters from expiries are stored now.
            if (entry->n_dead) {
                self->n_with_dead--;
            }
            free (entry->dead);
            entry->dead = NULL;
            entry->n_dead = 0;
        }
        else if (entry->created) {
            if (gone) {
                zlistx_add_end (gone, entry);
            }
            continue;
        }
        else {
            sl_group_destroy (&entry->group);
            entry->group = entry->snapshot;
            entry->snapshot = NULL;
            entry->joined_ok = false;
        }
        entry->touched = false;
        entry->created = false;
        entry->touch = NULL;
    }
    zlistx_purge (self->touched);
    if (gone) {
        for (entry_t *entry = zlistx_first (gone); entry; entry = zlistx_next (gone)) {
            sl_groups_unindex (self, entry);
            char name[SL_NAME_MAX + 1];
            snprintf (name, sizeof name, "%s", sl_group_name (entry->group));
            zhashx_delete (self->groups, name);
        }
        zlistx_destroy (&gone);
    }
}

void
sl_groups_joined (sl_groups_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    entry_t *entry = s_lookup (self, msg->group);
    sl_msg_t reply;
    sl_msg_init (&reply, SL_CMD_JOINED);
    reply.req = msg->req;
    snprintf (reply.group, sizeof reply.group, "%s", msg->group);
    snprintf (reply.in, sizeof reply.in, "%s", msg->in);
    snprintf (reply.out, sizeof reply.out, "%s", msg->out);
    reply.offset = entry ? sl_group_checkpoint (entry->group) : 0;
    zmsg_t *out = sl_msg_encode (&reply);
    if (out && sl_send_router (self->router, self->budget, zframe_data (peer), zframe_size (peer),
                               &out) != 0) {
        zmsg_destroy (&out);
    }
}

void
sl_groups_leave (sl_groups_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    entry_t *entry = s_lookup (self, msg->group);
    if (entry) {
        sl_group_leave (entry->group, zframe_data (peer), zframe_size (peer));
        sl_groups_wake (self, entry);
        sl_info ("groups", "member '%s' left group '%s'", msg->member, msg->group);
    }
}
