/*  replica.c - a primary's journal service and a replica's follower
    (replica.h, docs/replication.md, docs/PROTOCOL.md §16).
*/
#include <czmq.h>
#include <inttypes.h>
#include <string.h>

#include "broker_int.h"
#include "replica.h"
#include "replica_sec.h"
#include "sl_client.h"
#include "sl_endpoint.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_repl.h"
#include "sl_send.h"
#include "sl_store_repl.h"
#include "sl_util.h"

#define S_COMP "replication"

//  A follower as the primary knows it.
typedef struct {
    uint8_t peer[256];
    size_t peer_len;
    uint64_t acked; //  last entry it said it holds
    uint64_t epoch;
    uint64_t max_bytes;
    bool parked; //  asked, not answered yet (nothing new)
    int64_t parked_at;
    int64_t heard_at;
} s_follower_t;

struct _sl_repl_t {
    //  Primary side.
    zsock_t *serve; //  ROUTER at --replication, or NULL
    s_follower_t followers[SL_REPL_MAX_REPLICAS];
    size_t n_followers;
    //  Replica side.
    bool replica;
    bool failing;    //  the last sync wait timed out
    bool alone;      //  promoted: confirms alone until a replica has caught up
    zsock_t *follow; //  DEALER to --replica-of, or NULL
    bool in_flight;
    int64_t sent_at;
    int64_t quiet_until;               //  after an error, wait before asking again
    uint64_t primary_last;             //  the primary's last entry, as last told
    char primary[SL_ENDPOINT_MAX + 1]; //  the primary's client endpoint, for EREADONLY
    int last_error;                    //  logged once per kind
    uint64_t undo_said;                //  divergence point (entry + 1) whose failed undo was said
    uint64_t n_applied;
    sl_repl_sec_t *sec; //  CURVE and rights on both ends (replica_sec.h)
};

static struct _sl_repl_t *
s_repl (sl_broker_t *self)
{
    return self->repl;
}

int
sl_broker_repl_new (sl_broker_t *self)
{
    const sl_broker_config_t *c = &self->config;
    if (!c->replication && !c->replica_of && c->sync_replicas == 0 && !c->primary_key &&
        !c->replica_key) {
        return 0;
    }
    if (c->sync_replicas && !c->replication) {
        sl_error (S_COMP, "--sync-replicas needs --replication (where replicas connect)");
        return SL_EINVAL;
    }
    struct _sl_repl_t *r = calloc (1, sizeof *r);
    if (!r) {
        return SL_ENOMEM;
    }
    self->repl = r;
    int rc = 0;
    r->sec = sl_repl_sec_new (self, &rc);
    if (!r->sec) {
        return rc;
    }
    rc = sl_store_journal_on (self->store, c->journal_bytes);
    if (rc) {
        sl_error (S_COMP, "cannot open the replication journal: %s", sl_strerror (rc));
        return rc;
    }
    if (c->replication) {
        char bind[SL_ENDPOINT_MAX + 1], why[256];
        rc = sl_endpoint_bind_form (c->replication, bind, sizeof bind, why, sizeof why);
        if (rc) {
            sl_error (S_COMP, "--replication: %s", why);
            return rc;
        }
        r->serve = zsock_new (ZMQ_ROUTER);
        if (!r->serve) {
            return SL_ENOMEM;
        }
        zsock_set_router_mandatory (r->serve, 1);
        zsock_set_linger (r->serve, 0);
        zsock_set_rcvhwm (r->serve, 64);
        zsock_set_maxmsgsize (r->serve, 1 << 20);
        zsock_set_heartbeat_ivl (r->serve, HEARTBEAT_MS);
        zsock_set_heartbeat_timeout (r->serve, 3 * HEARTBEAT_MS);
        rc = sl_repl_sec_serve (r->sec, r->serve);
        if (rc) {
            return rc;
        }
        if (zsock_bind (r->serve, "%s", bind) < 0) {
            sl_error (S_COMP, "cannot bind --replication %s: %s", c->replication,
                      zmq_strerror (zmq_errno ()));
            return SL_EIO;
        }
    }
    if (c->replica_of) {
        char why[256];
        rc = sl_endpoint_check (c->replica_of, SL_ENDPOINT_CONNECT, why, sizeof why);
        if (rc) {
            sl_error (S_COMP, "--replica-of: %s", why);
            return rc;
        }
        r->replica = true;
        r->follow = zsock_new (ZMQ_DEALER);
        if (!r->follow) {
            return SL_ENOMEM;
        }
        zsock_set_linger (r->follow, 0);
        zsock_set_maxmsgsize (r->follow, (int64_t)SL_REPL_CAP_BYTES + SL_REPL_ENTRY_MAX);
        zsock_set_heartbeat_ivl (r->follow, HEARTBEAT_MS);
        zsock_set_heartbeat_timeout (r->follow, 3 * HEARTBEAT_MS);
        rc = sl_repl_sec_follow (r->sec, r->follow, c->replica_of);
        if (rc) {
            return rc;
        }
        if (zsock_connect (r->follow, "%s", c->replica_of) < 0) {
            sl_error (S_COMP, "cannot connect --replica-of %s", c->replica_of);
            return SL_EIO;
        }
        snprintf (r->primary, sizeof r->primary, "%s", c->replica_of);
    }
    uint64_t epoch, seq, first;
    sl_store_repl_position (self->store, &epoch, &seq, &first);
    sl_info (S_COMP, "%s at epoch %" PRIu64 ", journal entries %" PRIu64 "..%" PRIu64 "%s%s",
             r->replica ? "replica" : "primary", epoch, first, seq,
             r->replica ? "; following " : "", r->replica ? c->replica_of : "");
    if (r->replica) {
        sl_info (S_COMP, "replica of %s: reads are served, writes are refused", c->replica_of);
    }
    return 0;
}

void
sl_broker_repl_destroy (sl_broker_t *self)
{
    struct _sl_repl_t *r = s_repl (self);
    if (!r) {
        return;
    }
    //  The follow socket's monitor stops before the socket closes.
    sl_repl_sec_destroy (&r->sec);
    zsock_destroy (&r->serve);
    zsock_destroy (&r->follow);
    free (r);
    self->repl = NULL;
}

void
sl_broker_repl_poll (sl_broker_t *self, zpoller_t *poller)
{
    struct _sl_repl_t *r = s_repl (self);
    if (r && r->serve) {
        zpoller_add (poller, r->serve);
    }
    if (r && r->follow) {
        zpoller_add (poller, r->follow);
    }
}

bool
sl_broker_is_replica (sl_broker_t *self)
{
    return self->repl && self->repl->replica;
}

//  --------------------------------------------------------------------------
//  Primary: serving followers

static s_follower_t *
s_follower (struct _sl_repl_t *r, zframe_t *peer, bool add)
{
    size_t len = zframe_size (peer);
    for (size_t i = 0; i < r->n_followers; i++) {
        s_follower_t *f = &r->followers[i];
        if (f->peer_len == len && memcmp (f->peer, zframe_data (peer), len) == 0) {
            return f;
        }
    }
    int64_t now = sl_mono_ms ();
    //  A follower silent for long gives its slot to a new one.
    for (size_t i = 0; add && i < r->n_followers; i++) {
        if (now - r->followers[i].heard_at > 10 * SL_REPL_PARK_MS) {
            r->followers[i] = r->followers[--r->n_followers];
            i--;
        }
    }
    if (!add || r->n_followers == SL_REPL_MAX_REPLICAS || len > sizeof r->followers[0].peer) {
        return NULL;
    }
    s_follower_t *f = &r->followers[r->n_followers++];
    memset (f, 0, sizeof *f);
    memcpy (f->peer, zframe_data (peer), len);
    f->peer_len = len;
    return f;
}

static int
s_add_entry (void *ctx, const uint8_t *entry, size_t len)
{
    zmsg_t *out = ctx;
    return zmsg_addmem (out, entry, len) == 0 ? 0 : SL_ENOMEM;
}

static void
s_send_error (sl_broker_t *self, const uint8_t *peer, size_t peer_len, int code, const char *text)
{
    sl_msg_t err;
    sl_msg_init (&err, SL_CMD_ERROR);
    err.code = code < 0 ? -code : code;
    sl_copy_text (err.text, sizeof err.text, text);
    zmsg_t *out = sl_msg_encode (&err);
    if (out && sl_send_router (self->repl->serve, NULL, peer, peer_len, &out) != 0) {
        zmsg_destroy (&out);
    }
}

//  Answers a parked follower: the entries after its position, or nothing
//  (a heartbeat) when force is set. Unparks it when something was sent.
static void
s_answer (sl_broker_t *self, s_follower_t *f, bool force)
{
    struct _sl_repl_t *r = s_repl (self);
    uint64_t epoch, seq, first;
    sl_store_repl_position (self->store, &epoch, &seq, &first);
    if (f->acked >= seq && !force) {
        return;
    }
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_REPLICATED);
    msg.epoch = epoch;
    msg.seq = f->acked + 1;
    msg.next = seq + 1;
    msg.first = first;
    snprintf (msg.endpoint, sizeof msg.endpoint, "%s", self->endpoint);
    zmsg_t *data = zmsg_new ();
    if (!data) {
        return;
    }
    if (f->acked < seq) {
        int rc = sl_store_repl_read (self->store, f->acked + 1, f->max_bytes, s_add_entry, data);
        if (rc) {
            zmsg_destroy (&data);
            s_send_error (self, f->peer, f->peer_len, rc == SL_ENOTFOUND ? SL_ENOTFOUND : rc,
                          rc == SL_ENOTFOUND
                              ? "the journal no longer holds the entries this replica needs: "
                                "seed it from a copy of the primary (docs/replication.md)"
                              : "cannot read the journal");
            f->parked = false;
            return;
        }
    }
    msg.count = (uint32_t)zmsg_size (data);
    zmsg_t *out = sl_msg_encode (&msg);
    if (!out) {
        zmsg_destroy (&data);
        return;
    }
    zframe_t *frame;
    while ((frame = zmsg_pop (data))) {
        zmsg_append (out, &frame);
    }
    zmsg_destroy (&data);
    //  One answer per request: what libzmq holds for a follower is bounded
    //  by the max_bytes it asked for (docs/replication.md, "Limits").
    int rc = sl_send_router (r->serve, self->budget, f->peer, f->peer_len, &out);
    if (rc == 0) {
        f->parked = false;
    }
    else {
        zmsg_destroy (&out);
    }
}

//  One REPLICATE from a follower.
static void
s_on_replicate (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    struct _sl_repl_t *r = s_repl (self);
    if (r->replica) {
        char text[256 + SL_ENDPOINT_MAX];
        snprintf (text, sizeof text, "this broker is itself a replica of %s", r->primary);
        s_send_error (self, zframe_data (peer), zframe_size (peer), SL_EREADONLY, text);
        return;
    }
    uint64_t agree = 0;
    int rc = sl_store_repl_agree (self->store, msg->epoch, msg->seq, &agree);
    if (rc == SL_EEPOCH) {
        uint64_t epoch;
        sl_store_repl_position (self->store, &epoch, NULL, NULL);
        char text[256];
        snprintf (text, sizeof text,
                  "the follower has seen epoch %" PRIu64 ", this broker is "
                  "at epoch %" PRIu64 ": this broker is a stale primary",
                  msg->epoch, epoch);
        sl_warn (S_COMP, "%s; refusing writes until restarted as a replica", text);
        s_send_error (self, zframe_data (peer), zframe_size (peer), SL_EEPOCH, text);
        return;
    }
    if (rc) {
        s_send_error (self, zframe_data (peer), zframe_size (peer), rc,
                      rc == SL_ENOTFOUND
                          ? "the journal no longer holds the entries this replica needs: seed "
                            "it from a copy of the primary (docs/replication.md)"
                          : "cannot read the journal");
        return;
    }
    s_follower_t *f = s_follower (r, peer, true);
    if (!f) {
        s_send_error (self, zframe_data (peer), zframe_size (peer), SL_ELIMIT,
                      "too many replicas follow this broker");
        return;
    }
    f->heard_at = sl_mono_ms ();
    f->epoch = msg->epoch;
    f->max_bytes = msg->max_bytes ? msg->max_bytes : SL_REPL_MAX_BYTES;
    if (f->max_bytes > SL_REPL_CAP_BYTES) {
        f->max_bytes = SL_REPL_CAP_BYTES;
    }
    if (agree < msg->seq) {
        //  The follower holds entries this history does not: it undoes
        //  them first (it wrote them as a primary and never replicated them).
        f->acked = 0;
        sl_msg_t t;
        sl_msg_init (&t, SL_CMD_REPLICATED);
        sl_store_repl_position (self->store, &t.epoch, &t.next, &t.first);
        t.next++;
        t.seq = agree + 1;
        t.found = true;
        t.offset = agree;
        snprintf (t.endpoint, sizeof t.endpoint, "%s", self->endpoint);
        zmsg_t *out = sl_msg_encode (&t);
        if (out && sl_send_router (r->serve, NULL, f->peer, f->peer_len, &out) != 0) {
            zmsg_destroy (&out);
        }
        sl_info (S_COMP,
                 "a follower at epoch %" PRIu64 " entry %" PRIu64 " diverged: it undoes "
                 "its entries after %" PRIu64,
                 msg->epoch, msg->seq, agree);
        return;
    }
    f->acked = msg->seq;
    f->parked = true;
    f->parked_at = sl_mono_ms ();
    s_answer (self, f, false);
}

static void
s_serve_one (sl_broker_t *self)
{
    struct _sl_repl_t *r = s_repl (self);
    zmsg_t *zmsg = zmsg_recv (r->serve);
    if (!zmsg) {
        return;
    }
    zframe_t *peer = zmsg_pop (zmsg);
    //  The key is checked on every request, not only at the handshake: a
    //  key whose replicate right is removed follows no further.
    const char *why = NULL;
    bool allowed = sl_repl_sec_may_follow (r->sec, zmsg_first (zmsg), &why);
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_NONE);
    int rc = peer ? sl_msg_decode (zmsg, &msg) : SL_EPROTO;
    if (peer && !allowed) {
        s_send_error (self, zframe_data (peer), zframe_size (peer), SL_EDENIED, why);
    }
    else if (rc == 0 && msg.cmd == SL_CMD_REPLICATE) {
        s_on_replicate (self, peer, &msg);
    }
    else if (peer) {
        self->n_malformed++;
        s_send_error (self, zframe_data (peer), zframe_size (peer), rc ? rc : SL_ECOMMAND,
                      "the replication endpoint takes REPLICATE only");
    }
    sl_msg_reset (&msg);
    zframe_destroy (&peer);
    zmsg_destroy (&zmsg);
}

static void
s_serve (sl_broker_t *self)
{
    struct _sl_repl_t *r = s_repl (self);
    for (int i = 0; i < 64 && (zsock_events (r->serve) & ZMQ_POLLIN); i++) {
        s_serve_one (self);
    }
    int64_t now = sl_mono_ms ();
    for (size_t i = 0; i < r->n_followers; i++) {
        s_follower_t *f = &r->followers[i];
        if (f->parked) {
            s_answer (self, f, now - f->parked_at >= SL_REPL_PARK_MS);
        }
    }
}

int
sl_broker_repl_sync (sl_broker_t *self)
{
    struct _sl_repl_t *r = s_repl (self);
    uint32_t need = self->config.sync_replicas;
    if (!r || need == 0 || r->replica || !r->serve) {
        return 0;
    }
    uint64_t epoch, target;
    sl_store_repl_position (self->store, &epoch, &target, NULL);
    int timeout = self->config.sync_timeout_ms ? self->config.sync_timeout_ms : SL_REPL_SYNC_MS;
    if (timeout > SL_REPL_SYNC_MAX_MS) {
        timeout = SL_REPL_SYNC_MAX_MS;
    }
    int64_t deadline = sl_mono_ms () + timeout;
    if (r->failing) {
        //  No follower since the last timeout: no wait (the broker serves
        //  on); one that is back gets the usual wait.
        bool any = false;
        for (size_t i = 0; i < r->n_followers; i++) {
            any |= sl_mono_ms () - r->followers[i].heard_at < 2 * SL_REPL_PARK_MS;
        }
        if (!any) {
            deadline = sl_mono_ms ();
        }
    }
    while (true) {
        //  Parked followers get the new entries; their next request says
        //  they committed them.
        s_serve (self);
        uint32_t have = 0;
        for (size_t i = 0; i < r->n_followers; i++) {
            have += r->followers[i].acked >= target && r->followers[i].epoch == epoch;
        }
        if (have >= need) {
            r->failing = false;
            if (r->alone) {
                sl_info (S_COMP, "%u replica(s) caught up: --sync-replicas %u is in force again",
                         have, need);
                r->alone = false;
            }
            return 0;
        }
        if (r->alone) {
            //  Promoted after the old primary was lost: this broker is the
            //  only copy until a replica has caught up (docs/replication.md).
            return 0;
        }
        int64_t left = deadline - sl_mono_ms ();
        if (left <= 0 || zsys_interrupted) {
            break;
        }
        zmq_pollitem_t item = {zsock_resolve (r->serve), 0, ZMQ_POLLIN, 0};
        zmq_poll (&item, 1, left < 50 ? left : 50);
    }
    r->failing = true;
    static int64_t logged_at;
    if (sl_mono_ms () - logged_at > 10000) {
        sl_warn (S_COMP,
                 "fewer than %u replicas hold entry %" PRIu64 " after %d ms: writes "
                 "are answered ENOREPLICA (producers resend)",
                 need, target, timeout);
        logged_at = sl_mono_ms ();
    }
    return SL_ENOREPLICA;
}

//  --------------------------------------------------------------------------
//  Replica: following the primary

static void
s_ask (sl_broker_t *self)
{
    struct _sl_repl_t *r = s_repl (self);
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_REPLICATE);
    sl_store_repl_position (self->store, &msg.epoch, &msg.seq, NULL);
    msg.max_bytes = SL_REPL_MAX_BYTES;
    zmsg_t *out = sl_msg_encode (&msg);
    //  Never blocking: while the primary refuses the handshake (a key
    //  without replicate) libzmq has no pipe to queue on, and a blocking
    //  send would stop the broker's loop and with it the reads it serves.
    size_t n = out ? zmsg_size (out) : 0, i = 0;
    bool sent = out != NULL;
    for (zframe_t *f = out ? zmsg_first (out) : NULL; f && sent; f = zmsg_next (out), i++) {
        int flags = ZFRAME_REUSE | ZFRAME_DONTWAIT | (i + 1 < n ? ZFRAME_MORE : 0);
        sent = zframe_send (&f, r->follow, flags) == 0;
    }
    if (sent) {
        r->in_flight = true;
        r->sent_at = sl_mono_ms ();
    }
    else {
        r->quiet_until = sl_mono_ms () + 100;
    }
    zmsg_destroy (&out);
}

static void
s_error_once (struct _sl_repl_t *r, int code, const char *text)
{
    if (r->last_error != code) {
        sl_error (S_COMP, "the primary says: %s (%s)", text, sl_strerror (code));
        r->last_error = code;
    }
}

//  Applies the entries of a REPLICATED in one write transaction.
static int
s_apply (sl_broker_t *self, zmsg_t *entries)
{
    int rc = SL_EMAPFULL;
    for (int attempt = 0; attempt < MAX_GROUP_RETRIES && rc == SL_EMAPFULL; attempt++) {
        rc = sl_store_begin (self->store);
        uint64_t applied = 0;
        for (zframe_t *f = zmsg_first (entries); f && rc == 0; f = zmsg_next (entries)) {
            uint64_t seq, have;
            rc = sl_repl_peek (zframe_data (f), zframe_size (f), NULL, &seq);
            sl_store_repl_position (self->store, NULL, &have, NULL);
            if (rc == 0 && seq <= have + applied) {
                continue; //  an answer to a resent request: held already
            }
            if (rc == 0) {
                rc = sl_store_repl_apply (self->store, zframe_data (f), zframe_size (f));
            }
            applied += rc == 0;
        }
        if (rc == 0) {
            rc = sl_store_commit (self->store);
        }
        else if (sl_store_in_txn (self->store)) {
            sl_store_abort (self->store);
        }
        if (rc == 0) {
            self->repl->n_applied += applied;
        }
    }
    return rc;
}

static void
s_on_replicated (sl_broker_t *self, const sl_msg_t *msg, zmsg_t *entries)
{
    struct _sl_repl_t *r = s_repl (self);
    r->primary_last = msg->next ? msg->next - 1 : 0;
    if (msg->endpoint[0]) {
        //  Its host as we reach it, its port as it listens.
        char host_form[SL_ENDPOINT_MAX + 1];
        if (sl_endpoint_with_host (msg->endpoint, self->config.replica_of, host_form,
                                   sizeof host_form) == 0) {
            snprintf (r->primary, sizeof r->primary, "%s", host_form);
        }
    }
    int rc = 0;
    if (msg->found) {
        uint64_t epoch, seq;
        sl_store_repl_position (self->store, &epoch, &seq, NULL);
        //  A failed undo is retried every 10 s: said the first time only.
        bool again = r->undo_said == msg->offset + 1;
        sl_log (again ? SL_LOG_DEBUG : SL_LOG_WARN, S_COMP,
                "this broker's journal differs from the primary's after entry %" PRIu64
                ": undoing entries %" PRIu64 "..%" PRIu64 " (written here, never replicated)",
                msg->offset, msg->offset + 1, seq);
        rc = sl_store_begin (self->store);
        if (rc == 0) {
            rc = sl_store_repl_truncate (self->store, msg->offset);
        }
        if (rc == 0) {
            rc = sl_store_commit (self->store);
        }
        else if (sl_store_in_txn (self->store)) {
            sl_store_abort (self->store);
        }
        if (rc == SL_ESTATE) {
            //  A retention delete is journaled without the batch it removed
            //  (sl_store_repl.c): there is nothing to put back.
            sl_log (again ? SL_LOG_DEBUG : SL_LOG_ERROR, S_COMP,
                    "cannot undo the entries: a retention delete among them removed log "
                    "batches the journal does not hold, so it cannot be reversed; nothing "
                    "was changed. Move this broker's --data directory aside and start it "
                    "with an empty one: it fetches the primary's whole journal "
                    "(docs/replication.md)");
            r->quiet_until = sl_mono_ms () + 10000;
            r->undo_said = msg->offset + 1;
        }
        else if (rc) {
            sl_log (again ? SL_LOG_DEBUG : SL_LOG_ERROR, S_COMP,
                    "cannot undo the entries: %s; start this broker with an empty "
                    "--data directory and seed it from a copy of the primary",
                    sl_strerror (rc));
            r->quiet_until = sl_mono_ms () + 10000;
            r->undo_said = msg->offset + 1;
        }
        return;
    }
    if (msg->count) {
        rc = s_apply (self, entries);
        if (rc) {
            sl_error (S_COMP, "cannot apply the primary's entries: %s", sl_strerror (rc));
            r->quiet_until = sl_mono_ms () + 1000;
        }
        else {
            r->last_error = 0;
        }
    }
}

static void
s_follow (sl_broker_t *self)
{
    struct _sl_repl_t *r = s_repl (self);
    for (int i = 0; i < 16 && (zsock_events (r->follow) & ZMQ_POLLIN); i++) {
        zmsg_t *zmsg = zmsg_recv (r->follow);
        if (!zmsg) {
            break;
        }
        sl_msg_t msg;
        sl_msg_init (&msg, SL_CMD_NONE);
        int rc = sl_msg_decode (zmsg, &msg);
        if (rc == 0 && msg.cmd == SL_CMD_REPLICATED) {
            r->in_flight = false;
            s_on_replicated (self, &msg, zmsg);
        }
        else if (rc == 0 && msg.cmd == SL_CMD_ERROR) {
            r->in_flight = false;
            s_error_once (r, -(int)msg.code, msg.text);
            r->quiet_until = sl_mono_ms () + 1000;
        }
        sl_msg_reset (&msg);
        zmsg_destroy (&zmsg);
    }
    int64_t now = sl_mono_ms ();
    if (r->in_flight && now - r->sent_at > SL_REPL_RETRY_MS) {
        r->in_flight = false; //  lost with a restarted primary: ask again
    }
    if (!r->in_flight && now >= r->quiet_until) {
        s_ask (self);
    }
}

void
sl_broker_repl_tick (sl_broker_t *self)
{
    struct _sl_repl_t *r = s_repl (self);
    if (!r) {
        return;
    }
    if (r->serve) {
        s_serve (self);
    }
    if (r->follow && r->replica) {
        sl_repl_sec_tick (r->sec);
        s_follow (self);
    }
    else if (r->follow) {
        //  Promoted: late answers of the old primary are dropped.
        for (int i = 0; i < 16 && (zsock_events (r->follow) & ZMQ_POLLIN); i++) {
            zmsg_t *zmsg = zmsg_recv (r->follow);
            zmsg_destroy (&zmsg);
        }
    }
}

void
sl_broker_repl_refuse (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    //  ERROR's text holds 255 bytes: the endpoint is cut to fit.
    char text[256];
    snprintf (text, sizeof text, "not the primary: a read-only replica; the primary is %.180s",
              self->repl->primary);
    if (msg->cmd == SL_CMD_PUBLISH) {
        sl_broker_reply_publish_error (self, peer, msg, SL_EREADONLY, text, 0);
    }
    else {
        sl_broker_reply_error (self, peer, msg->req, SL_EREADONLY, text, 0);
    }
}

//  What a broker loads from the store at start and a replica did not keep
//  up to date (it only applied entries): loaded again, in place, so that
//  clients stay connected to the same sockets.
static int
s_become_primary (sl_broker_t *self)
{
    sl_groups_t *groups = sl_groups_new (self->store, self->router, self->config.max_depth);
    if (!groups) {
        return SL_ENOMEM;
    }
    sl_groups_set_limits (groups, self->budget,
                          self->config.peer_budget < FETCH_MAX_BYTES ? self->config.peer_budget
                                                                     : FETCH_MAX_BYTES,
                          self->config.max_groups);
    int rc = sl_groups_load (groups);
    if (rc) {
        sl_groups_destroy (&groups);
        return rc;
    }
    sl_groups_destroy (&self->groups);
    self->groups = groups;
    sl_seqs_forget (self->seqs);
    return sl_broker_retain_load (self);
}

void
sl_broker_repl_promote (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    struct _sl_repl_t *r = s_repl (self);
    if (!r || !r->replica) {
        sl_broker_reply_error (self, peer, msg->req, SL_ESTATE,
                               r ? "this broker is the primary already"
                                 : "this broker is not a replica (no --replica-of)",
                               0);
        return;
    }
    uint64_t epoch = 0;
    int rc = sl_store_begin (self->store);
    if (rc == 0) {
        rc = sl_store_repl_new_epoch (self->store, &epoch);
    }
    if (rc == 0) {
        rc = sl_store_commit (self->store);
    }
    else if (sl_store_in_txn (self->store)) {
        sl_store_abort (self->store);
    }
    if (rc) {
        sl_broker_reply_error (self, peer, msg->req, rc, "cannot record the new epoch", 0);
        return;
    }
    uint64_t seq;
    sl_store_repl_position (self->store, NULL, &seq, NULL);
    sl_warn (S_COMP,
             "promoted: primary at epoch %" PRIu64 " from entry %" PRIu64
             " (the old primary had told us of entry %" PRIu64 ")",
             epoch, seq, r->primary_last);
    rc = s_become_primary (self);
    if (rc) {
        //  The epoch is recorded: the next start (without --replica-of)
        //  loads the state as usual.
        sl_error (S_COMP,
                  "promoted, but the state cannot be loaded: %s; restart this broker "
                  "without --replica-of",
                  sl_strerror (rc));
        sl_broker_reply_error (self, peer, msg->req, rc, "promoted, but restart the broker", 0);
        self->stopping = true;
        return;
    }
    sl_msg_t reply;
    sl_msg_init (&reply, SL_CMD_ADMINED);
    reply.req = msg->req;
    reply.affected = epoch;
    snprintf (reply.text, sizeof reply.text, "promoted: primary at epoch %" PRIu64, epoch);
    sl_broker_reply (self, peer, &reply);
    r->replica = false;
    r->alone = self->config.sync_replicas > 0;
    if (r->alone) {
        sl_warn (S_COMP,
                 "confirming alone until a replica follows and catches up (then "
                 "--sync-replicas %u is in force again)",
                 self->config.sync_replicas);
    }
    //  The socket stays in the broker's poller: disconnected, drained.
    zsock_disconnect (r->follow, "%s", self->config.replica_of);
}

void
sl_broker_repl_info (sl_broker_t *self, sl_repl_info_t *info)
{
    memset (info, 0, sizeof *info);
    struct _sl_repl_t *r = s_repl (self);
    if (!r) {
        return;
    }
    sl_store_repl_position (self->store, &info->epoch, &info->seq, NULL);
    info->replica = r->replica;
    if (r->replica) {
        info->lag = r->primary_last > info->seq ? r->primary_last - info->seq : 0;
        return;
    }
    uint64_t slowest = info->seq;
    int64_t now = sl_mono_ms ();
    for (size_t i = 0; i < r->n_followers; i++) {
        if (now - r->followers[i].heard_at < 3 * SL_REPL_PARK_MS) {
            info->followers++;
            if (r->followers[i].acked < slowest) {
                slowest = r->followers[i].acked;
            }
        }
    }
    info->lag = info->seq - slowest;
}
