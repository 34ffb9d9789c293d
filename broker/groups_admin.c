/*  groups_admin.c - the worker groups as operators see them (docs/operate.md):
    the progress view and the manage commands (reset, delete).
*/
#include "groups.h"
#include "groups_int.h"

#include <inttypes.h>
#include <string.h>

#include "sl_error.h"
#include "sl_group.h"
#include "sl_log.h"
#include "sl_send.h"
#include "sl_util.h"

#include "sl_shares.h"
#include "sl_store_admin.h"
#include "sl_store_state.h"
#include "sl_store_state_drop.h"

void
sl_groups_each (sl_groups_t *self, sl_groups_each_fn *fn, void *ctx)
{
    for (entry_t *entry = zhashx_first (self->groups); entry; entry = zhashx_next (self->groups)) {
        fn (ctx, entry->group);
    }
}

int
sl_groups_input (sl_groups_t *self, const char *name, char *in)
{
    entry_t *entry = zhashx_lookup (self->groups, name);
    if (!entry) {
        return SL_ENOTFOUND;
    }
    snprintf (in, SL_NAME_MAX + 1, "%s", sl_group_config (entry->group)->in);
    return 0;
}

//  A reset or delete acts on a group and, when it is keyed, on all that is
//  derived from it (docs/worker.md "Reset and delete of a keyed group"):
//  its shares GROUP.s0 ... (their entries, each with its checkpoint), its
//  key states in the state table and its changelog GROUP.state, in one
//  transaction, so that a kill -9 at any point leaves all of it or none.
typedef struct {
    entry_t *entries[1 + SL_SHARES_MAX]; //  the group, then its shares in order
    size_t n;
    bool keyed;                  //  shares or key states stored
    char state[SL_NAME_MAX + 1]; //  GROUP.state
} s_family_t;

typedef struct {
    const char *stream;
    const char *user;
} s_user_t;

static void
s_find_user (void *arg, const sl_group_t *group)
{
    s_user_t *u = arg;
    const sl_group_config_t *c = sl_group_config (group);
    if (!u->user && (streq (c->in, u->stream) || streq (c->out, u->stream))) {
        u->user = sl_group_name (group);
    }
}

//  Reset and delete change a group under its members' feet, so both wait
//  until neither it nor any of its shares has members (as Kafka refuses to
//  reset an active consumer group). A share alone is refused: its key
//  states would no longer match its checkpoint.
static int
s_family (sl_groups_t *self, const char *name, s_family_t *f, const char **why)
{
    memset (f, 0, sizeof *f);
    entry_t *entry = zhashx_lookup (self->groups, name);
    if (!entry) {
        *why = "no such group";
        return SL_ENOTFOUND;
    }
    char base[SL_NAME_MAX + 1];
    if (sl_groups_share_of (self, name, base)) {
        snprintf (self->why, sizeof self->why,
                  "'%s' is a share of keyed group '%s': reset or delete '%s', which takes "
                  "all its shares and key states along",
                  name, base, base);
        *why = self->why;
        return SL_EINVAL;
    }
    f->entries[f->n++] = entry;
    for (uint32_t i = 0; i < SL_SHARES_MAX; i++) {
        entry_t *share = sl_groups_share_entry (self, name, i);
        if (!share) {
            break;
        }
        f->entries[f->n++] = share;
    }
    for (size_t i = 0; i < f->n; i++) {
        if (sl_group_members (f->entries[i]->group) > 0) {
            *why = "the group has members: stop its workers first";
            return SL_ESTATE;
        }
    }
    uint64_t keys;
    bool complete;
    int rc = sl_store_state_count (self->store, name, &keys, &complete);
    if (rc && rc != SL_ENOTFOUND) {
        *why = "cannot read the group's key states";
        return rc;
    }
    f->keyed = f->n > 1 || rc == 0 || entry->key[0];
    snprintf (f->state, sizeof f->state, "%s.state", name);
    return 0;
}

//  In the open transaction: the key states go, and GROUP.state goes along
//  (delete) or is emptied with its offsets counting on (reset; its readers
//  and retention stay). After a reset the table is marked complete, so
//  that members restore from it and never from what GROUP.state held.
static int
s_drop_state (sl_groups_t *self, const char *name, const s_family_t *f, bool del, uint64_t *dropped)
{
    *dropped = 0;
    if (!f->keyed) {
        return 0;
    }
    int rc = sl_store_state_drop (self->store, name, dropped);
    uint64_t records = 0;
    if (rc == 0) {
        rc = del ? sl_store_stream_delete (self->store, f->state, &records)
                 : sl_store_stream_purge (self->store, f->state, &records);
        rc = rc == SL_ENOTFOUND ? 0 : rc;
    }
    if (rc == 0 && !del) {
        rc = sl_store_state_start (self->store, name, true);
    }
    return rc;
}

//  GROUP.state is the broker's: only another group that reads or writes it
//  keeps a delete from removing it.
static int
s_state_user (sl_groups_t *self, const s_family_t *f, const char **why)
{
    s_user_t u = {f->state, NULL};
    sl_groups_each (self, s_find_user, &u);
    if (f->keyed && u.user) {
        snprintf (self->why, sizeof self->why,
                  "group '%s' reads or writes '%s': delete that group first", u.user, f->state);
        *why = self->why;
        return SL_ESTATE;
    }
    return 0;
}

static int
s_end (sl_groups_t *self, int rc)
{
    if (rc == 0) {
        return sl_store_commit (self->store);
    }
    if (sl_store_in_txn (self->store)) {
        sl_store_abort (self->store);
    }
    return rc;
}

int
sl_groups_reset (sl_groups_t *self, const char *name, uint64_t offset, uint64_t *dropped,
                 const char **why)
{
    s_family_t f;
    int rc = s_family (self, name, &f, why);
    if (rc) {
        return rc;
    }
    sl_group_t *old[1 + SL_SHARES_MAX];
    size_t made = 0;
    for (; made < f.n; made++) {
        entry_t *e = f.entries[made];
        sl_group_t *fresh =
            sl_group_new (sl_group_name (e->group), sl_group_config (e->group), offset);
        if (!fresh) {
            break;
        }
        old[made] = e->group;
        e->group = fresh;
    }
    rc = made < f.n ? SL_ENOMEM : sl_store_begin (self->store);
    for (size_t i = 0; rc == 0 && i < f.n; i++) {
        rc = sl_groups_save (self, f.entries[i]);
    }
    rc = rc ? rc : s_drop_state (self, name, &f, false, dropped);
    rc = s_end (self, rc);
    for (size_t i = 0; i < made; i++) {
        //  Failed: the groups in memory are as they were, as the store is.
        sl_group_t *gone = rc ? f.entries[i]->group : old[i];
        if (rc) {
            f.entries[i]->group = old[i];
        }
        sl_group_destroy (&gone);
    }
    if (rc) {
        *why = *why ? *why : "cannot store the group";
        return rc;
    }
    sl_info ("groups",
             "group '%s' reset to offset %" PRIu64 " (%zu shares, %" PRIu64 " key states dropped)",
             name, offset, f.n - 1, *dropped);
    return 0;
}

int
sl_groups_delete (sl_groups_t *self, const char *name, uint64_t *dropped, const char **why)
{
    s_family_t f;
    int rc = s_family (self, name, &f, why);
    rc = rc ? rc : s_state_user (self, &f, why);
    if (rc) {
        return rc;
    }
    rc = sl_store_begin (self->store);
    for (size_t i = 0; rc == 0 && i < f.n; i++) {
        rc = sl_store_group_delete (self->store, sl_group_name (f.entries[i]->group));
    }
    rc = rc ? rc : s_drop_state (self, name, &f, true, dropped);
    rc = s_end (self, rc);
    if (rc) {
        *why = "cannot delete the group's stored state";
        return rc;
    }
    for (size_t i = f.n; i-- > 0;) {
        char gone[SL_NAME_MAX + 1];
        snprintf (gone, sizeof gone, "%s", sl_group_name (f.entries[i]->group));
        sl_groups_unindex (self, f.entries[i]);
        zhashx_delete (self->groups, gone);
    }
    sl_info ("groups", "group '%s' deleted (%zu shares, %" PRIu64 " key states dropped)", name,
             f.n - 1, *dropped);
    return 0;
}
