/*  reserved.c - the names a keyed group owns (docs/worker.md "Names a keyed
    group owns", docs/PROTOCOL.md §14.4).

    A keyed group G owns the streams G.late and G.state, which the broker
    writes from its members' RESULTs, and the groups G.s0 ... of its shares.
    While G exists no producer writes those streams and no group names them
    as --out or takes a share's name; a keyed group is not created over
    such names already in use. Every check here costs a few hash lookups,
    and a store read only for names ending in .late or .state, except the
    creation of a keyed group (rare, bounded by --max-groups), which also
    looks at every group's streams.
*/
#include "groups.h"
#include "groups_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_shares.h"
#include "sl_store_state.h"
#include "sl_util.h"

entry_t *
sl_groups_share_entry (sl_groups_t *self, const char *group, uint32_t share)
{
    char name[SL_NAME_MAX + 16];
    int len = snprintf (name, sizeof name, "%s.s%u", group, share);
    return len > 0 && len <= SL_NAME_MAX ? zhashx_lookup (self->groups, name) : NULL;
}

bool
sl_groups_keyed (sl_groups_t *self, const char *name)
{
    entry_t *entry = zhashx_lookup (self->groups, name);
    if (!entry) {
        return false;
    }
    if (entry->key[0] || entry->shares || sl_groups_share_entry (self, name, 0)) {
        return true;
    }
    //  After a restart a keyed group's key is known again only at its next
    //  JOIN; its states in the table say it is keyed before that.
    uint64_t keys;
    bool complete;
    return sl_store_state_count (self->store, name, &keys, &complete) == 0;
}

bool
sl_groups_share_of (sl_groups_t *self, const char *name, char *base)
{
    const char *dot = strrchr (name, '.');
    if (!dot || dot == name || dot[1] != 's' || dot[2] < '0' || dot[2] > '9') {
        return false;
    }
    char *end;
    unsigned long share = strtoul (dot + 2, &end, 10);
    if (*end || share >= SL_SHARES_MAX) {
        return false;
    }
    snprintf (base, SL_NAME_MAX + 1, "%.*s", (int)(dot - name), name);
    return sl_groups_keyed (self, base);
}

//  When stream is G.late or G.state: G into group and what the stream is.
static const char *
s_derived (const char *stream, char *group)
{
    const char *dot = strrchr (stream, '.');
    if (!dot || dot == stream) {
        return NULL;
    }
    const char *what = streq (dot, ".late")    ? "its late records"
                       : streq (dot, ".state") ? "its key-state changelog"
                                               : NULL;
    if (what) {
        snprintf (group, SL_NAME_MAX + 1, "%.*s", (int)(dot - stream), stream);
    }
    return what;
}

int
sl_groups_check_publish (sl_groups_t *self, const char *stream, const char **why)
{
    char group[SL_NAME_MAX + 1];
    const char *what = s_derived (stream, group);
    if (!what || !sl_groups_keyed (self, group)) {
        return 0;
    }
    snprintf (self->why, sizeof self->why,
              "stream '%s' belongs to keyed group '%s' (the broker writes %s there): publish "
              "to another stream, or delete the group first (sluice group delete %s)",
              stream, group, what, group);
    *why = self->why;
    return SL_EINVAL;
}

typedef struct {
    const char *a, *b; //  the stream names looked for
    const char *user;  //  a group reading or writing one of them
    const char *name;  //  which
} s_user_t;

static void
s_find_user (void *arg, const sl_group_t *group)
{
    s_user_t *u = arg;
    const sl_group_config_t *c = sl_group_config (group);
    const char *names[2] = {c->in, c->out};
    for (int i = 0; i < 2 && !u->user; i++) {
        if (streq (names[i], u->a) || streq (names[i], u->b)) {
            u->user = sl_group_name (group);
            u->name = names[i];
        }
    }
}

//  A keyed group G about to be created: G.s0 ... of its shares are not
//  other groups, and G.late and G.state are no stream in use (records in
//  them, or a group's --in or --out, this JOIN's included).
static int
s_check_new_keyed (sl_groups_t *self, const sl_msg_t *msg, const char **why)
{
    uint32_t shares = msg->shares ? msg->shares : SL_SHARES_DEFAULT;
    for (uint32_t i = 0; i < shares && i < SL_SHARES_MAX; i++) {
        entry_t *taken = sl_groups_share_entry (self, msg->group, i);
        if (taken) {
            snprintf (self->why, sizeof self->why,
                      "group '%s' exists: a keyed group '%s' would make it one of its shares; "
                      "delete it first or name the keyed group otherwise",
                      sl_group_name (taken->group), msg->group);
            *why = self->why;
            return SL_EINVAL;
        }
    }
    char late[SL_NAME_MAX + 8], state[SL_NAME_MAX + 8];
    snprintf (late, sizeof late, "%s.late", msg->group);
    snprintf (state, sizeof state, "%s.state", msg->group);
    s_user_t u = {late, state, NULL, NULL};
    if (streq (msg->in, late) || streq (msg->in, state) || streq (msg->out, late) ||
        streq (msg->out, state)) {
        u.user = msg->group;
        u.name = streq (msg->in, late) || streq (msg->out, late) ? late : state;
    }
    if (!u.user) {
        sl_groups_each (self, s_find_user, &u);
    }
    const char *names[2] = {late, state};
    for (int i = 0; i < 2 && !u.user; i++) {
        sl_stream_info_t info;
        bool exists = false;
        int rc = sl_store_stream_info (self->store, names[i], &info, &exists);
        if (rc) {
            *why = "cannot read the streams a keyed group would write";
            return rc;
        }
        if (exists && info.next > 0) {
            snprintf (self->why, sizeof self->why,
                      "stream '%s' exists with records: a keyed group '%s' would write its own "
                      "there; delete the stream first (sluice stream delete %s) or name the "
                      "group otherwise",
                      names[i], msg->group, names[i]);
            *why = self->why;
            return SL_EINVAL;
        }
    }
    if (u.user) {
        snprintf (self->why, sizeof self->why,
                  "group '%s' reads or writes '%s', a stream the keyed group '%s' would write: "
                  "use other streams or name the keyed group otherwise",
                  u.user, u.name, msg->group);
        *why = self->why;
        return SL_EINVAL;
    }
    return 0;
}

int
sl_groups_check_names (sl_groups_t *self, const sl_msg_t *msg, const char **why)
{
    char base[SL_NAME_MAX + 1];
    if (sl_groups_share_of (self, msg->group, base)) {
        snprintf (self->why, sizeof self->why,
                  "group '%s' is a share of keyed group '%s', which the broker hands to its "
                  "members: join '%s' with its --key",
                  msg->group, base, base);
        *why = self->why;
        return SL_EINVAL;
    }
    char group[SL_NAME_MAX + 1];
    const char *what = s_derived (msg->out, group);
    if (what && sl_groups_keyed (self, group)) {
        snprintf (self->why, sizeof self->why,
                  "--out '%s' belongs to keyed group '%s' (the broker writes %s there): name "
                  "another output stream",
                  msg->out, group, what);
        *why = self->why;
        return SL_EINVAL;
    }
    if (msg->key[0] && !sl_groups_keyed (self, msg->group)) {
        return s_check_new_keyed (self, msg, why);
    }
    return 0;
}
