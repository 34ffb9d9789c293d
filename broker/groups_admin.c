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

#include "sl_store_admin.h"
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

//  Reset and delete change a group under its members' feet, so both wait
//  until it has none (as Kafka refuses to reset an active consumer group).
static int
s_idle (sl_groups_t *self, const char *name, entry_t **entry_p, const char **why)
{
    entry_t *entry = zhashx_lookup (self->groups, name);
    if (!entry) {
        *why = "no such group";
        return SL_ENOTFOUND;
    }
    if (sl_group_members (entry->group) > 0) {
        *why = "the group has members: stop its workers first";
        return SL_ESTATE;
    }
    *entry_p = entry;
    return 0;
}

int
sl_groups_reset (sl_groups_t *self, const char *name, uint64_t offset, const char **why)
{
    entry_t *entry;
    int rc = s_idle (self, name, &entry, why);
    if (rc) {
        return rc;
    }
    sl_group_t *fresh = sl_group_new (name, sl_group_config (entry->group), offset);
    if (!fresh) {
        return SL_ENOMEM;
    }
    sl_group_t *old = entry->group;
    entry->group = fresh;
    rc = sl_store_begin (self->store);
    if (rc == 0) {
        rc = sl_groups_save (self, entry);
    }
    if (rc == 0) {
        rc = sl_store_commit (self->store);
    }
    else if (sl_store_in_txn (self->store)) {
        sl_store_abort (self->store);
    }
    if (rc) {
        entry->group = old;
        sl_group_destroy (&fresh);
        *why = "cannot store the group";
        return rc;
    }
    sl_group_destroy (&old);
    sl_info ("groups", "group '%s' reset to offset %" PRIu64, name, offset);
    return sl_shares_follow (self, name, true, offset, why);
}

int
sl_groups_delete (sl_groups_t *self, const char *name, const char **why)
{
    entry_t *entry;
    int rc = s_idle (self, name, &entry, why);
    if (rc) {
        return rc;
    }
    rc = sl_store_begin (self->store);
    if (rc == 0) {
        rc = sl_store_group_delete (self->store, name);
    }
    if (rc == 0) {
        rc = sl_store_commit (self->store);
    }
    else if (sl_store_in_txn (self->store)) {
        sl_store_abort (self->store);
    }
    if (rc) {
        *why = "cannot delete the group's stored state";
        return rc;
    }
    sl_groups_unindex (self, entry);
    zhashx_delete (self->groups, name);
    sl_info ("groups", "group '%s' deleted", name);
    return sl_shares_follow (self, name, false, 0, why);
}
