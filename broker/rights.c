/*  rights.c - what each key may do, request by request (rights.h).

    Rights per command (docs/security.md has the operator's view):

        PUBLISH          publish on `stream`; the producer name is the key's
        SEEK FETCH COMMIT read on `stream`
        JOIN             work on `group`, read on `in`, publish on `out` and
                         on `GROUP.dlq` (the streams the group writes)
        RESULT           the lease's holder: its connection and key
        HELLO            the key still allowed; with `producer`, the name
                         free or the key's own
        LIST PING LEAVE  the key still allowed

    A denial costs one ERROR, one counter and, once per key, right and
    name, one log line: a hostile key cannot flood the log.
*/
#include "rights.h"

#include <inttypes.h>
#include <string.h>
#include <sys/random.h>

#include "sl_curve.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_store.h"
#include "sl_util.h"

#include "broker_int.h"

//  Counts a denial, logs it once per (key, what, name), answers ERROR 23.
static void
s_deny (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg, const char *key,
        const char *key_name, const char *why, const char *name)
{
    self->n_denied++;
    char text[SL_NAME_MAX + 384];
    snprintf (text, sizeof text, "permission denied: key '%s': %s%s%s%s", key_name, why,
              name ? " ('" : "", name ? name : "", name ? "')" : "");
    char *seen = zsys_sprintf ("%s/%s/%s", key ? key : "", why, name ? name : "");
    if (seen && !zhashx_lookup (self->denied_logged, seen)) {
        if (zhashx_size (self->denied_logged) >= BAD_PEERS_MAX) {
            zhashx_purge (self->denied_logged);
        }
        zhashx_insert (self->denied_logged, seen, (void *)1);
        sl_warn ("broker", "%s %s: %s (logged once per key, right and name)",
                 sl_cmd_name (msg->cmd), name ? name : "", text);
    }
    zstr_free (&seen);
    //  PUBLISH errors carry the batch's seq, RESULT errors the lease id
    //  (docs/PROTOCOL.md §5.2, §14.2): neither command has a req.
    if (msg->cmd == SL_CMD_PUBLISH) {
        sl_broker_reply_publish_error (self, peer, msg, SL_EDENIED, text, 0);
        return;
    }
    uint64_t req = msg->cmd == SL_CMD_RESULT ? msg->lease : msg->req;
    sl_broker_reply_error (self, peer, req, SL_EDENIED, text, 0);
}

//  One (right, name) a command needs.
typedef struct {
    sl_right_t right;
    const char *name;
} need_t;

//  The rights msg needs; returns how many (at most 4).
static size_t
s_needs (const sl_msg_t *msg, need_t needs[4], char *dlq, size_t dlq_size)
{
    switch (msg->cmd) {
    case SL_CMD_PUBLISH:
        needs[0] = (need_t){SL_RIGHT_PUBLISH, msg->stream};
        return 1;
    case SL_CMD_SEEK:
    case SL_CMD_FETCH:
    case SL_CMD_COMMIT:
        needs[0] = (need_t){SL_RIGHT_READ, msg->stream};
        return 1;
    case SL_CMD_STATE_READ:
        //  A keyed group's states are its members' (keyed_state.c).
        needs[0] = (need_t){SL_RIGHT_WORK, msg->group};
        return 1;
    case SL_CMD_JOIN:
        snprintf (dlq, dlq_size, "%s.dlq", msg->group);
        needs[0] = (need_t){SL_RIGHT_WORK, msg->group};
        needs[1] = (need_t){SL_RIGHT_READ, msg->in};
        needs[2] = (need_t){SL_RIGHT_PUBLISH, msg->out};
        needs[3] = (need_t){SL_RIGHT_PUBLISH, dlq};
        return 4;
    case SL_CMD_ADMIN:
        //  Stream and reader operations name a stream, group operations a
        //  group (docs/operate.md): the key's manage patterns match it.
        needs[0] = (need_t){SL_RIGHT_MANAGE, msg->group[0] ? msg->group : msg->stream};
        return 1;
    default:
        return 0; //  the key need only be allowed still
    }
}

bool
sl_rights_denied (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg, const char *key,
                  char *owner, size_t owner_size)
{
    owner[0] = 0;
    if (!self->auth) {
        return false;
    }
    char name[256];
    const char *why = NULL;
    int rc = sl_curve_auth_check (self->auth, key, SL_RIGHT_READ, NULL, name, sizeof name, &why);
    if (rc) {
        s_deny (self, peer, msg, key, name, why, NULL);
        return true;
    }
    need_t needs[4];
    char dlq[SL_NAME_MAX + 8];
    size_t n = s_needs (msg, needs, dlq, sizeof dlq);
    for (size_t i = 0; i < n; i++) {
        rc = sl_curve_auth_check (self->auth, key, needs[i].right, needs[i].name, name, sizeof name,
                                  &why);
        if (rc) {
            s_deny (self, peer, msg, key, name, why, needs[i].name);
            return true;
        }
    }
    snprintf (owner, owner_size, "%s", name);
    //  A producer name another key owns: refused at HELLO already, so that
    //  a source learns it before it sends anything (the binding itself is
    //  made in the transaction of the first PUBLISH).
    const char *producer = msg->cmd == SL_CMD_PUBLISH                   ? msg->name
                           : msg->cmd == SL_CMD_HELLO && msg->stream[0] ? msg->name
                                                                        : NULL;
    if (producer && producer[0]) {
        char bound[SL_STORE_OWNER_MAX + 1];
        rc = sl_store_owner_get (self->store, producer, bound, sizeof bound);
        if (rc == 0 && !streq (bound, owner)) {
            s_deny (self, peer, msg, key, owner, "the producer name belongs to another key",
                    producer);
            return true;
        }
    }
    return false;
}

int
sl_rights_bind_producer (sl_broker_t *self, const sl_msg_t *msg, const char *owner)
{
    if (!owner || !owner[0]) {
        return 0;
    }
    char bound[SL_STORE_OWNER_MAX + 1];
    int rc = sl_store_owner_get (self->store, msg->name, bound, sizeof bound);
    if (rc == SL_ENOTFOUND) {
        return sl_store_owner_set (self->store, msg->name, owner);
    }
    if (rc == 0 && !streq (bound, owner)) {
        //  Two keys raced for a free name within one group commit: the
        //  first one applied has it.
        self->n_denied++;
        sl_warn ("broker",
                 "PUBLISH %s: key '%s' may not use producer name '%s' (it belongs to "
                 "key '%s')",
                 msg->stream, owner, msg->name, bound);
        return SL_EDENIED;
    }
    return rc;
}

void
sl_rights_holder (sl_broker_t *self, zframe_t *peer, const char *key, sl_holder_t *holder)
{
    if (!self->holder_ready) {
        //  A secret per broker run: tokens cannot be computed from outside,
        //  and leases do not outlive the run.
        if (getrandom (self->holder_secret, sizeof self->holder_secret, 0) !=
            (ssize_t)sizeof self->holder_secret) {
            uint64_t fallback[2] = {(uint64_t)sl_now_ms (), (uint64_t)getpid ()};
            memcpy (self->holder_secret, fallback, sizeof fallback);
        }
        self->holder_ready = true;
    }
    const char *k = key ? key : "";
    uint64_t tokens[2];
    for (int i = 0; i < 2; i++) {
        zdigest_t *digest = zdigest_new ();
        if (!digest) {
            tokens[i] = 0;
            continue;
        }
        uint8_t which = (uint8_t)i;
        zdigest_update (digest, self->holder_secret, sizeof self->holder_secret);
        zdigest_update (digest, &which, 1);
        zdigest_update (digest, (const byte *)k, strlen (k) + 1);
        if (i == 0) {
            zdigest_update (digest, zframe_data (peer), zframe_size (peer));
        }
        memcpy (&tokens[i], zdigest_data (digest), sizeof tokens[i]);
        zdigest_destroy (&digest);
    }
    holder->conn = tokens[0];
    holder->key = tokens[1];
}

int
sl_rights_result (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg, const char *key)
{
    sl_holder_t held;
    if (sl_groups_lease_holder (self->groups, msg->group, msg->lease, &held) != 0) {
        return 0;
    }
    sl_holder_t sender;
    sl_rights_holder (self, peer, key, &sender);
    if (held.conn == sender.conn) {
        return 0;
    }
    if (held.key == sender.key) {
        sl_debug ("broker",
                  "group '%s': result for lease %" PRIu64 " from another connection "
                  "of its holder's key: dropped, its records are handed out again",
                  msg->group, msg->lease);
        return SL_ESTATE;
    }
    char name[256] = "";
    if (self->auth) {
        sl_curve_auth_check (self->auth, key, SL_RIGHT_READ, NULL, name, sizeof name, NULL);
    }
    else {
        snprintf (name, sizeof name, "(no CURVE)");
    }
    s_deny (self, peer, msg, key, name, "the lease is held by another member", msg->group);
    return SL_EDENIED;
}
