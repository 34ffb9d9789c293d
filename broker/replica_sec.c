/*  replica_sec.c - the replication link's security (replica_sec.h).
 */
#include "replica_sec.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "broker_int.h"
#include "sl_curve.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"

#define S_COMP "replication"
#define S_DENIED_LOGGED 1024 //  keys whose denial was logged
#define S_RETRY_MS 1000      //  a refused handshake is tried again this often

struct _sl_repl_sec_t {
    sl_broker_t *broker;
    bool serve_curve;  //  the serve socket is a CURVE server
    zhashx_t *denied;  //  keys whose lost right was logged
    zsock_t *monitor;  //  PAIR reading the follow socket's events, or NULL
    void *follow;      //  the follow socket's handle, for its monitor's end
    bool follow_curve; //  following over CURVE
    char primary[256]; //  the primary's --replication endpoint, for messages
    char our_key[41];  //  this replica's public key (Z85), when CURVE
    int logged;        //  the handshake failure last said (0: none since a success)
    bool refused;
    uint64_t n_refused; //  handshakes refused since the last success
    int64_t retry_at;   //  when to connect again after a refusal (0: not refused)
};

sl_repl_sec_t *
sl_repl_sec_new (sl_broker_t *broker, int *err)
{
    const sl_broker_config_t *c = &broker->config;
    *err = SL_EINVAL;
    if (c->replica_key && !c->primary_key) {
        sl_error (S_COMP, "--replica-key needs --primary-key (the primary's public key, its "
                          "NAME.key)");
        return NULL;
    }
    if (c->primary_key && !c->replica_of) {
        sl_error (S_COMP, "--primary-key is for a replica: give it with --replica-of");
        return NULL;
    }
    if (c->primary_key && !c->replica_key && !c->curve_secret) {
        sl_error (S_COMP, "--primary-key needs this replica's key pair: --replica-key "
                          "NAME.key_secret (or --curve-secret)");
        return NULL;
    }
    if (c->primary_key && c->replication_open) {
        sl_error (S_COMP, "give --primary-key (CURVE) or --replication-open (plain), not both");
        return NULL;
    }
    if (c->replica_of && c->curve_secret && !c->primary_key && !c->replication_open) {
        //  Secure by default: a broker with keys does not follow in the clear
        //  unless told so.
        sl_error (S_COMP,
                  "--replica-of with --curve-secret needs --primary-key (the primary's "
                  "public key; this broker's --curve-secret is its key unless --replica-key "
                  "is given), or --replication-open to follow without CURVE on a private "
                  "network (docs/replication.md, \"Security\")");
        return NULL;
    }
    sl_repl_sec_t *self = calloc (1, sizeof *self);
    if (!self || !(self->denied = zhashx_new ())) {
        free (self);
        *err = SL_ENOMEM;
        return NULL;
    }
    self->broker = broker;
    *err = 0;
    return self;
}

void
sl_repl_sec_destroy (sl_repl_sec_t **self_p)
{
    sl_repl_sec_t *self = *self_p;
    if (!self) {
        return;
    }
    if (self->follow && self->monitor) {
        zmq_socket_monitor (self->follow, NULL, 0);
    }
    zsock_destroy (&self->monitor);
    zhashx_destroy (&self->denied);
    free (self);
    *self_p = NULL;
}

int
sl_repl_sec_serve (sl_repl_sec_t *self, zsock_t *serve)
{
    sl_broker_t *broker = self->broker;
    const sl_broker_config_t *c = &broker->config;
    if (!c->curve_secret) {
        return 0; //  the whole broker is plain
    }
    if (c->replication_open) {
        sl_warn (S_COMP,
                 "--replication %s is OPEN (--replication-open): no CURVE, no keys, no "
                 "rights; any peer that reaches it reads every stream and can follow as a "
                 "replica. Keep it on a private network (docs/replication.md, \"Security\")",
                 c->replication);
        return 0;
    }
    int rc = 0;
    zcert_t *cert = sl_curve_load_secret (c->curve_secret, &rc);
    if (!cert) {
        sl_error (S_COMP, "cannot load the key pair %s: %s", c->curve_secret, sl_strerror (rc));
        return rc;
    }
    rc = sl_curve_server (serve, cert, SL_CURVE_DOMAIN_REPL);
    if (rc == 0) {
        rc = sl_curve_auth_watch_cut (broker->auth, serve);
    }
    zcert_destroy (&cert);
    if (rc) {
        sl_error (S_COMP, "cannot make --replication a CURVE server");
        return rc;
    }
    self->serve_curve = true;
    sl_info (S_COMP,
             "--replication %s: CURVE, only keys granted replicate = \"*\" in the allow "
             "list may follow",
             c->replication);
    return 0;
}

bool
sl_repl_sec_may_follow (sl_repl_sec_t *self, zframe_t *first, const char **why)
{
    *why = NULL;
    if (!self->serve_curve) {
        return true;
    }
    const char *key = first ? zframe_meta (first, "User-Id") : NULL;
    char name[256];
    if (sl_curve_auth_check (self->broker->auth, key && *key ? key : NULL, SL_RIGHT_REPLICATE, "*",
                             name, sizeof name, why) == 0) {
        return true;
    }
    const char *seen = key && *key ? key : "-";
    if (!zhashx_lookup (self->denied, seen)) {
        if (zhashx_size (self->denied) >= S_DENIED_LOGGED) {
            zhashx_purge (self->denied);
        }
        zhashx_insert (self->denied, seen, (void *)1);
        sl_warn (S_COMP, "refused a follower with key %s (%s): %s (logged once per key)", name,
                 seen, *why);
    }
    return false;
}

int
sl_repl_sec_follow (sl_repl_sec_t *self, zsock_t *follow, const char *primary)
{
    const sl_broker_config_t *c = &self->broker->config;
    snprintf (self->primary, sizeof self->primary, "%s", primary);
    if (c->primary_key) {
        const char *pair = c->replica_key ? c->replica_key : c->curve_secret;
        int rc = 0;
        zcert_t *cert = sl_curve_load_secret (pair, &rc);
        if (!cert) {
            sl_error (S_COMP,
                      "cannot load this replica's key pair %s: %s (make one with: "
                      "sluice keygen NAME)",
                      pair, sl_strerror (rc));
            return rc;
        }
        zcert_t *server = sl_curve_load_public (c->primary_key, &rc);
        if (!server) {
            sl_error (S_COMP, "cannot load the primary's public key %s: %s", c->primary_key,
                      sl_strerror (rc));
            zcert_destroy (&cert);
            return rc;
        }
        rc = sl_curve_client (follow, cert, server);
        snprintf (self->our_key, sizeof self->our_key, "%s", zcert_public_txt (cert));
        zcert_destroy (&cert);
        zcert_destroy (&server);
        if (rc) {
            return rc;
        }
        self->follow_curve = true;
        sl_info (S_COMP, "following %s over CURVE with key %s", primary, self->our_key);
    }
    else if (c->replication_open && c->curve_secret) {
        sl_warn (S_COMP,
                 "following %s without CURVE (--replication-open): the journal, every "
                 "stream, crosses the network in the clear; a private network only",
                 primary);
    }
    //  The monitor is attached before the socket connects, so that the
    //  first handshake is seen; its name is unique in the process.
    static atomic_uint s_monitors;
    char endpoint[96];
    snprintf (endpoint, sizeof endpoint, "inproc://sl-repl-follow-%p-%u", (void *)self,
              atomic_fetch_add (&s_monitors, 1));
    self->follow = zsock_resolve (follow);
    if (zmq_socket_monitor (self->follow, endpoint,
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0) {
        return SL_EINVAL;
    }
    self->monitor = zsock_new (ZMQ_PAIR);
    if (!self->monitor) {
        return SL_ENOMEM;
    }
    zsock_set_linger (self->monitor, 0);
    return zsock_connect (self->monitor, "%s", endpoint) == 0 ? 0 : SL_EINVAL;
}

//  Says one refused handshake, once per kind until one succeeds: ZeroMQ
//  retries every 100 ms, the operator needs to read it once.
//  libzmq 4.3 ends a connection whose handshake failed for good (a
//  protocol error, no reconnect), so the replica connects again itself:
//  a key granted replicate later is then followed without a restart.
static void
s_refused (sl_repl_sec_t *self, int event)
{
    self->refused = true;
    self->retry_at = sl_mono_ms () + S_RETRY_MS;
    self->n_refused++;
    if (self->logged == event) {
        sl_debug (S_COMP, "the primary %s refused this replica again (%" PRIu64 " so far)",
                  self->primary, self->n_refused);
        return;
    }
    self->logged = event;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        sl_error (S_COMP,
                  "the primary %s refused this replica's key %s: it is not in the primary's "
                  "--allow directory, or its file there lacks replicate = \"*\". Copy this "
                  "replica's NAME.key there with that line (docs/replication.md, "
                  "\"Security\"); retrying",
                  self->primary, self->our_key[0] ? self->our_key : "-");
    }
    else if (!self->follow_curve) {
        sl_error (S_COMP,
                  "the primary %s refused a plain connection: its replication socket uses "
                  "CURVE. Give --primary-key (the primary's NAME.key) and --replica-key (this "
                  "replica's NAME.key_secret, granted replicate by the primary) or "
                  "--curve-secret; retrying",
                  self->primary);
    }
    else {
        sl_error (S_COMP,
                  "the CURVE handshake with the primary %s failed: --primary-key is not its "
                  "key, or its replication socket is plain (--replication-open; then give "
                  "--replication-open here and no keys); retrying",
                  self->primary);
    }
}

void
sl_repl_sec_tick (sl_repl_sec_t *self)
{
    if (!self || !self->monitor) {
        return;
    }
    if (self->retry_at && sl_mono_ms () >= self->retry_at) {
        self->retry_at = 0;
        zmq_disconnect (self->follow, self->primary);
        if (zmq_connect (self->follow, self->primary) != 0) {
            self->retry_at = sl_mono_ms () + S_RETRY_MS;
        }
    }
    for (int i = 0; i < 100; i++) {
        zmsg_t *event = NULL;
        if (zsock_events (self->monitor) & ZMQ_POLLIN) {
            event = zmsg_recv (self->monitor);
        }
        if (!event) {
            return;
        }
        zframe_t *first = zmsg_first (event);
        uint16_t id = 0;
        if (first && zframe_size (first) >= 6) {
            memcpy (&id, zframe_data (first), sizeof id);
        }
        zmsg_destroy (&event);
        if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            if (self->refused) {
                sl_info (S_COMP, "the primary %s accepted this replica: following", self->primary);
            }
            self->refused = false;
            self->logged = 0;
            self->n_refused = 0;
        }
        else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
                 id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                 id == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            s_refused (self, id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                                 ? id
                                 : ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL);
        }
    }
}

bool
sl_repl_sec_refused (sl_repl_sec_t *self)
{
    return self && self->refused;
}
