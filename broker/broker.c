/*  broker.c - the Sluice broker core.

    One thread, one loop. Each turn of the loop takes every command that is
    waiting on the ROUTER (bounded by count and bytes), answers reads at
    once, and gathers writes (PUBLISH, COMMIT, JOIN, RESULT) into one LMDB
    transaction, the group commit (commit.c). Then it hands out work to the
    worker groups' members (groups.c). A message that cannot be decoded is
    answered with ERROR, logged once per peer, counted and dropped; nothing
    of it reaches the store.
*/
#include "broker.h"

#include <czmq.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <string.h>

#include "sl_batch.h"
#include "sl_curve.h"
#include "sl_endpoint.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_proto.h"
#include "sl_send.h"
#include "sl_util.h"
#include "sl_version.h"

#include "conns.h"

#include "broker_int.h"
#include "replica.h"
#include "http.h"
#include "keyed_state.h"

void
sl_broker_config_defaults (sl_broker_config_t *config)
{
    memset (config, 0, sizeof *config);
    config->data_dir = "sluice-data";
    config->listen = "tcp://127.0.0.1:7600";
    config->max_batch_bytes = 16u << 20;
    config->max_batch_records = 65536;
    config->max_depth = SL_MP_MAX_DEPTH;
    config->peer_budget = SL_BROKER_PEER_BUDGET;
    config->total_budget = SL_BROKER_TOTAL_BUDGET;
    config->live_budget = SL_BROKER_LIVE_BUDGET;
    config->stuck_ms = SL_BROKER_STUCK_MS;
    config->max_groups = SL_BROKER_MAX_GROUPS;
    config->max_state_keys = SL_STATE_KEYS_DEFAULT;
    config->max_streams = SL_BROKER_MAX_STREAMS;
    config->max_producers = SL_BROKER_MAX_PRODUCERS;
    config->max_connections = SL_BROKER_MAX_CONNECTIONS;
    config->handshake_ms = SL_BROKER_HANDSHAKE_MS;
}

int
sl_broker_parse_override (const char *text, sl_retention_override_t *out, const char **why)
{
    memset (out, 0, sizeof *out);
    const char *colon = strchr (text, ':');
    if (!colon || colon == text || (size_t)(colon - text) > SL_NAME_MAX) {
        *why = "expected PATTERN:records=N,bytes=SIZE,age=DURATION";
        return SL_EINVAL;
    }
    memcpy (out->pattern, text, (size_t)(colon - text));
    char settings[256];
    if (strlen (colon + 1) >= sizeof settings || !colon[1]) {
        *why = "expected records=N, bytes=SIZE or age=DURATION after ':'";
        return SL_EINVAL;
    }
    strcpy (settings, colon + 1);
    char *save = NULL;
    for (char *item = strtok_r (settings, ",", &save); item; item = strtok_r (NULL, ",", &save)) {
        char *eq = strchr (item, '=');
        if (!eq) {
            *why = "each setting is NAME=VALUE";
            return SL_EINVAL;
        }
        *eq = 0;
        const char *value = eq + 1;
        int rc;
        if (streq (item, "records")) {
            rc = sl_parse_u64 (value, &out->retention.max_records);
        }
        else if (streq (item, "bytes")) {
            rc = sl_parse_size (value, &out->retention.max_bytes);
        }
        else if (streq (item, "age")) {
            rc = sl_parse_duration_ms (value, &out->retention.max_age_ms);
        }
        else {
            *why = "unknown setting (records, bytes, age)";
            return SL_EINVAL;
        }
        if (rc) {
            *why = "bad value";
            return SL_EINVAL;
        }
    }
    return 0;
}

//  Derives the live endpoint from the command endpoint: same host, port + 1.
//  The advertised form uses host "*", which clients replace by the host
//  they reached the broker at, so it works behind NAT and in containers.
static int
s_derive_pub (const char *listen, char *bind, size_t bind_size, char *advert, size_t advert_size)
{
    const char *colon = strrchr (listen, ':');
    if (strncmp (listen, "tcp://", 6) != 0 || !colon) {
        return SL_EINVAL;
    }
    uint64_t port;
    if (sl_parse_u64 (colon + 1, &port) || port == 0 || port >= 65535) {
        return SL_EINVAL;
    }
    snprintf (bind, bind_size, "%.*s:%" PRIu64, (int)(colon - listen), listen, port + 1);
    snprintf (advert, advert_size, "tcp://*:%" PRIu64, port + 1);
    return 0;
}

//  Security: both sockets become CURVE servers with the broker's key, and
//  the ZAP handler (the allow list) starts before either binds. Refuses to
//  run open: a secret without an allow list is an error unless allow_any.
static int
s_secure (sl_broker_t *self, const sl_broker_config_t *config)
{
    if (!config->curve_secret) {
        if (config->allow_dir || config->allow_any) {
            sl_error ("broker", "--allow and --allow-any need --curve-secret (the broker's "
                                "key pair)");
            return SL_EINVAL;
        }
        return 0;
    }
    if (!config->allow_dir && !config->allow_any) {
        sl_error ("broker", "refusing to run with --curve-secret but no allow list: give "
                            "--allow DIR (or --allow-any, for testing only)");
        return SL_EINVAL;
    }
    if (config->allow_dir && config->allow_any) {
        sl_error ("broker", "give --allow DIR or --allow-any, not both");
        return SL_EINVAL;
    }
    int rc = 0;
    zcert_t *cert = sl_curve_load_secret (config->curve_secret, &rc);
    if (!cert) {
        sl_error ("broker",
                  "cannot load the key pair %s: %s (make one with: sluice keygen "
                  "NAME)",
                  config->curve_secret, sl_strerror (rc));
        return rc;
    }
    self->denied_logged = zhashx_new ();
    self->auth = sl_curve_auth_new (config->allow_any ? NULL : config->allow_dir, &rc);
    if (!self->auth || !self->denied_logged) {
        rc = rc ? rc : SL_ENOMEM;
    }
    else if (sl_curve_server (self->router, cert, SL_CURVE_DOMAIN) ||
             sl_curve_server (self->pub, cert, SL_CURVE_DOMAIN_LIVE) ||
             sl_curve_auth_watch_cut (self->auth, self->router) ||
             sl_curve_auth_watch_cut (self->auth, self->pub)) {
        sl_error ("broker", "cannot make the sockets CURVE servers");
        rc = SL_EINVAL;
    }
    else {
        sl_curve_auth_set_max_connections (self->auth, self->max_conns);
        sl_info ("broker", "CURVE on every socket, broker key %s", zcert_public_txt (cert));
    }
    zcert_destroy (&cert);
    return rc;
}

sl_broker_t *
sl_broker_new (const sl_broker_config_t *config, int *err)
{
    *err = 0;
    sl_broker_t *self = calloc (1, sizeof *self);
    if (!self) {
        *err = SL_ENOMEM;
        return NULL;
    }
    self->config = *config;
    if (config->http && (*err = sl_http_check (config->http))) {
        goto fail;
    }
    sl_store_opts_t store_opts = {.sync = config->fsync ? SL_SYNC_FULL : config->sync,
                                  .initial_map = config->initial_map};
    self->store = sl_store_open (config->data_dir, &store_opts, err);
    if (!self->store) {
        goto fail;
    }
    self->bad_peers = zhashx_new ();
    self->retain = zhashx_new ();
    self->clients = zhashx_new ();
    sl_buf_init (&self->stat_doc, 0);
    if (!self->retain || !self->clients) {
        *err = SL_ENOMEM;
        goto fail;
    }
    zhashx_set_destructor (self->retain, (zhashx_destructor_fn *)zstr_free);
    zhashx_set_destructor (self->clients, (zhashx_destructor_fn *)zstr_free);
    *err = sl_broker_retain_load (self);
    if (*err) {
        sl_error ("broker", "cannot read the run-time retention: %s", sl_strerror (*err));
        goto fail;
    }
    self->pending = calloc (GATHER_MAX_MSGS, sizeof (pending_t));
    self->touched = calloc (TOUCHED_MAX, sizeof (touched_t));
    if (!self->bad_peers || !self->pending || !self->touched) {
        *err = SL_ENOMEM;
        goto fail;
    }

    self->router = zsock_new (ZMQ_ROUTER);
    self->pub = zsock_new (ZMQ_PUB);
    if (!self->router || !self->pub) {
        *err = SL_ENOMEM;
        goto fail;
    }
    //  Bounded queues: a peer faster than the disk waits in TCP, a slow
    //  subscriber loses live messages (refilled from the log by FETCH).
    zsock_set_rcvhwm (self->router, 64);
    zsock_set_sndhwm (self->router, 256);
    zsock_set_maxmsgsize (self->router, (int)(2 * config->max_batch_bytes + (1u << 20)));
    zsock_set_heartbeat_ivl (self->router, HEARTBEAT_MS);
    zsock_set_heartbeat_timeout (self->router, 3 * HEARTBEAT_MS);
    zsock_set_heartbeat_ttl (self->router, 3 * HEARTBEAT_MS);
    zsock_set_linger (self->router, 1000);
    zsock_set_sndhwm (self->pub, 64);
    zsock_set_linger (self->pub, 0);
    //  No ZMTP heartbeats on the live feed: a slow subscriber's stalled
    //  input cannot answer them, and the reconnect that follows trips
    //  libzmq 4.3.4's _input_stopped assertion in the subscriber (issues
    //  #3596, #3937). Subscribers find a dead broker through FETCH.
    *err = sl_broker_limits_new (self);
    if (*err) {
        goto fail;
    }
    //  After the limits, which fill in --max-producers' default.
    self->seqs = sl_seqs_new (self->store, self->config.max_producers);
    if (!self->seqs) {
        *err = SL_ENOMEM;
        goto fail;
    }
    *err = s_secure (self, config);
    if (*err) {
        goto fail;
    }

    //  An IPv6 literal ("tcp://[::1]:7600") needs the socket in IPv6 mode,
    //  which still accepts IPv4 peers.
    if (strchr (config->listen, '[')) {
        zsock_set_ipv6 (self->router, 1);
        zsock_set_ipv6 (self->pub, 1);
    }
    //  Checked and with a host name resolved: ZeroMQ would take a name to
    //  bind for a network interface (sl_endpoint.h).
    char listen[SL_ENDPOINT_MAX + 64], why[400];
    if (sl_endpoint_bind_form (config->listen, listen, sizeof listen, why, sizeof why)) {
        sl_error ("broker", "--listen: %s", why);
        *err = SL_EINVAL;
        goto fail;
    }
    if (zsock_bind (self->router, "%s", listen) < 0) {
        sl_error ("broker", "cannot listen on %s: %s", config->listen, zmq_strerror (zmq_errno ()));
        *err = SL_EINVAL;
        goto fail;
    }
    self->endpoint = zsock_last_endpoint (self->router);

    char bind[300], advert[300];
    if (config->pub) {
        if (sl_endpoint_bind_form (config->pub, bind, sizeof bind, why, sizeof why)) {
            sl_error ("broker", "--pub: %s", why);
            *err = SL_EINVAL;
            goto fail;
        }
        snprintf (advert, sizeof advert, "%s", config->pub);
    }
    else if (s_derive_pub (self->endpoint, bind, sizeof bind, advert, sizeof advert)) {
        sl_error ("broker", "cannot derive the live endpoint from %s: give --pub", self->endpoint);
        *err = SL_EINVAL;
        goto fail;
    }
    if (zsock_bind (self->pub, "%s", bind) < 0) {
        sl_error ("broker", "cannot bind the live endpoint %s: %s", bind,
                  zmq_strerror (zmq_errno ()));
        *err = SL_EINVAL;
        goto fail;
    }
    self->pub_endpoint = zsock_last_endpoint (self->pub);
    self->pub_advertised = strdup (advert);
    if (strstr (advert, ":*") || strstr (advert, ":0")) {
        //  An ephemeral port: advertise the port really bound.
        const char *colon = strrchr (self->pub_endpoint, ':');
        free (self->pub_advertised);
        self->pub_advertised = zsys_sprintf ("tcp://*%s", colon);
    }
    self->groups = sl_groups_new (self->store, self->router, config->max_depth);
    if (!self->groups) {
        *err = SL_ENOMEM;
        goto fail;
    }
    //  One WORK is bounded like one FETCH reply, and by the peer's budget.
    sl_groups_set_limits (self->groups, self->budget,
                          self->config.peer_budget < FETCH_MAX_BYTES ? self->config.peer_budget
                                                                     : FETCH_MAX_BYTES,
                          self->config.max_groups);
    sl_groups_set_max_state_keys (self->groups, self->config.max_state_keys);
    *err = sl_groups_load (self->groups);
    if (*err) {
        sl_error ("broker", "cannot load the worker groups: %s", sl_strerror (*err));
        goto fail;
    }
    *err = sl_broker_repl_new (self);
    if (*err) {
        goto fail;
    }
    if (config->http) {
        self->http = sl_http_new (config->http, err);
        if (!self->http) {
            goto fail;
        }
    }
    sl_info ("broker", "listening on %s, live feed on %s, data in %s (sync %s)", self->endpoint,
             self->pub_endpoint, config->data_dir,
             sl_store_sync_name (config->fsync ? SL_SYNC_FULL : config->sync));
    return self;

fail:
    sl_broker_destroy (&self);
    return NULL;
}

void
sl_broker_destroy (sl_broker_t **self_p)
{
    sl_broker_t *self = *self_p;
    if (!self) {
        return;
    }
    if (self->pending) {
        sl_broker_pending_clear (self);
        free (self->pending);
    }
    sl_http_destroy (&self->http);
    sl_broker_repl_destroy (self);
    zhashx_destroy (&self->retain);
    zhashx_destroy (&self->clients);
    sl_buf_free (&self->stat_doc);
    zsock_destroy (&self->router);
    zsock_destroy (&self->pub);
    sl_broker_limits_destroy (self);
    if (self->auth) {
        sl_info ("broker",
                 "security: %" PRIu64 " connections refused, %" PRIu64 " requests denied, %" PRIu64
                 " connections cut on revocations",
                 sl_curve_auth_refused (self->auth), self->n_denied,
                 sl_curve_auth_cut (self->auth));
        sl_curve_auth_destroy (&self->auth);
    }
    zhashx_destroy (&self->denied_logged);
    sl_seqs_destroy (&self->seqs);
    zhashx_destroy (&self->bad_peers);
    sl_groups_destroy (&self->groups);
    free (self->touched);
    sl_broker_live_clear (self);
    free (self->appended);
    sl_store_close (&self->store);
    zstr_free (&self->endpoint);
    zstr_free (&self->pub_endpoint);
    free (self->pub_advertised);
    free (self);
    *self_p = NULL;
}

const char *
sl_broker_endpoint (sl_broker_t *self)
{
    return self->endpoint;
}

const char *
sl_broker_pub_endpoint (sl_broker_t *self)
{
    return self->pub_endpoint;
}

void
sl_broker_stop (sl_broker_t *self)
{
    self->stopping = true;
}

//  A malformed message: one ERROR reply, one log line per peer, a counter.
static void
s_malformed (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg, int code, const char *what)
{
    self->n_malformed++;
    char *hex = zframe_strhex (peer);
    if (hex && !zhashx_lookup (self->bad_peers, hex)) {
        if (zhashx_size (self->bad_peers) >= BAD_PEERS_MAX) {
            zhashx_purge (self->bad_peers);
        }
        zhashx_insert (self->bad_peers, hex, (void *)1);
        sl_warn ("broker",
                 "peer %s sent a bad %s message (%s: %s); replied ERROR, dropped it "
                 "(further bad messages from this peer are counted, not logged)",
                 hex, sl_cmd_name (msg->cmd), sl_strerror (code), what ? what : "");
    }
    zstr_free (&hex);
    //  Replies to a PUBLISH name its seq, its stream and producer; to a
    //  RESULT its lease (docs/PROTOCOL.md §5.2, §14.2).
    if (msg->cmd == SL_CMD_PUBLISH) {
        sl_broker_reply_publish_error (self, peer, msg, code, what, 0);
        return;
    }
    uint64_t req = msg->cmd == SL_CMD_RESULT ? msg->lease : msg->req;
    sl_broker_reply_error (self, peer, req, code, what ? what : sl_strerror (code), 0);
}

//  ---------------------------------------------------------------------
//  Reads, answered at once

static void
s_on_hello (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    sl_msg_t w;
    sl_msg_init (&w, SL_CMD_WELCOME);
    w.req = msg->req;
    //  A replica says so: clients given several endpoints look for the primary.
    snprintf (w.broker, sizeof w.broker, "sluice-broker/%s%s", SLUICE_VERSION,
              sl_broker_is_replica (self) ? " (replica)" : "");
    snprintf (w.endpoint, sizeof w.endpoint, "%s", self->pub_advertised);
    w.heartbeat_ms = HEARTBEAT_MS;
    w.max_batch_bytes = self->config.max_batch_bytes;
    w.max_batch_records = self->config.max_batch_records;
    w.max_depth = self->config.max_depth;
    if (msg->name[0] && msg->stream[0]) {
        //  The cache is bounded (--max-producers): emptied when full, so a
        //  peer naming ever new producers costs disk reads, not memory.
        sl_seqs_trim (self->seqs);
        int rc = sl_seqs_get (self->seqs, msg->name, msg->stream, &w.seq);
        if (rc) {
            sl_broker_reply_error (self, peer, msg->req, rc, "cannot read the producer table", 0);
            return;
        }
        strcpy (w.name, msg->name);
        strcpy (w.stream, msg->stream);
    }
    sl_broker_reply (self, peer, &w);
}

//  ---------------------------------------------------------------------
//  The loop

//  Takes one message off the ROUTER and dispatches it. Returns false when
//  nothing was waiting.
static bool
s_handle_one (sl_broker_t *self)
{
    if (!(zsock_events (self->router) & ZMQ_POLLIN)) {
        return false;
    }
    zframe_t *peer;
    zmsg_t *zmsg;
    char key[64] = "";
    sl_msg_t msg;
    //  The sender's key matters only with CURVE on (rights.c).
    int rc =
        sl_msg_recv_router (self->router, &peer, key, self->auth ? sizeof key : 0, &msg, &zmsg);
    if (rc == SL_EAGAIN) {
        return false;
    }
    if (!peer) {
        goto done;
    }
    if (sl_cmd_from_broker (msg.cmd)) {
        //  The direction is part of the command (PROTOCOL §5.1): ECOMMAND
        //  whether or not the body would have decoded.
        s_malformed (self, peer, &msg, SL_ECOMMAND, "a broker-to-client command");
        goto done;
    }
    if (rc) {
        s_malformed (self, peer, &msg, rc, NULL);
        goto done;
    }
    char owner[SL_NAME_MAX + 1];
    if (sl_rights_denied (self, peer, &msg, key, owner, sizeof owner)) {
        goto done;
    }
    sl_groups_seen (self->groups, peer, sl_mono_ms ());
    switch (msg.cmd) {
    case SL_CMD_HELLO:
        s_on_hello (self, peer, &msg);
        break;
    case SL_CMD_SEEK:
        sl_broker_on_seek (self, peer, &msg);
        break;
    case SL_CMD_FETCH:
        sl_broker_on_fetch (self, peer, &msg);
        break;
    case SL_CMD_LIST:
        sl_broker_on_list (self, peer, &msg);
        break;
    case SL_CMD_PING: {
        sl_broker_client_report (self, peer, &msg);
        if (msg.group[0] && !sl_broker_is_replica (self) &&
            !sl_groups_is_member (self->groups, msg.group, peer)) {
            //  A member's heartbeat names its group (PROTOCOL §5.2): one whose
            //  membership ended (silent too long, the group deleted) is told,
            //  so that it joins again instead of waiting for work forever.
            char text[512];
            snprintf (text, sizeof text,
                      "not a member of group '%s' (its membership ended: silent for over "
                      "3 s, or the group was reset or deleted): join again",
                      msg.group);
            sl_broker_reply_error (self, peer, msg.req, SL_ESTATE, text, 0);
            break;
        }
        sl_msg_t pong;
        sl_msg_init (&pong, SL_CMD_PONG);
        pong.req = msg.req;
        sl_broker_reply (self, peer, &pong);
        break;
    }
    case SL_CMD_LEAVE:
        sl_groups_leave (self->groups, peer, &msg);
        break;
    case SL_CMD_STAT:
        sl_broker_on_stat (self, peer, &msg);
        break;
    case SL_CMD_STATE_READ:
        sl_broker_on_state_read (self, peer, &msg, zmsg);
        break;
    case SL_CMD_ADMIN:
        if (streq (msg.op, "promote")) {
            sl_broker_repl_promote (self, peer, &msg);
        }
        else if (sl_broker_is_replica (self)) {
            sl_broker_repl_refuse (self, peer, &msg);
        }
        else {
            sl_broker_on_admin (self, peer, &msg);
        }
        break;
    case SL_CMD_PUBLISH:
    case SL_CMD_COMMIT:
    case SL_CMD_JOIN:
    case SL_CMD_RESULT: {
        if (sl_broker_is_replica (self)) {
            sl_broker_repl_refuse (self, peer, &msg);
            break;
        }
        zframe_t *data = NULL;
        const char *why = NULL;
        int check = 0;
        if (msg.cmd == SL_CMD_PUBLISH || msg.cmd == SL_CMD_RESULT) {
            data = zmsg_pop (zmsg);
        }
        if (msg.cmd == SL_CMD_PUBLISH) {
            check = data ? sl_broker_check_publish (self, &msg, data, &why) : SL_EPROTO;
            check = check ? check : sl_groups_check_publish (self->groups, msg.stream, &why);
        }
        else if (msg.cmd == SL_CMD_JOIN || msg.cmd == SL_CMD_RESULT) {
            check = sl_groups_route (self->groups, &msg, &why);
            check = check ? check : sl_groups_check (self->groups, &msg, data, &why);
        }
        if (check == 0 && msg.cmd == SL_CMD_RESULT &&
            sl_rights_result (self, peer, &msg, key) != 0) {
            zframe_destroy (&data); //  answered (another key) or dropped (stale)
            break;
        }
        check = check ? check : sl_broker_admit (self, &msg, &why);
        if (check == SL_ELIMIT) {
            //  Not malformed: a limit of this broker, told as such.
            zframe_destroy (&data);
            self->n_limited++;
            if (msg.cmd == SL_CMD_PUBLISH) {
                sl_broker_reply_publish_error (self, peer, &msg, check, why, 0);
            }
            else {
                sl_broker_reply_error (self, peer, msg.req, check, why, 0);
            }
            break;
        }
        if (check) {
            zframe_destroy (&data);
            s_malformed (self, peer, &msg, check, why ? why : "a data frame is missing");
            break;
        }
        pending_t *p = &self->pending[self->n_pending++];
        memset (p, 0, sizeof *p);
        p->peer = peer;
        peer = NULL;
        p->msg = msg;
        sl_msg_init (&msg, SL_CMD_NONE); //  ownership of any allocation moved
        p->data = data;
        snprintf (p->key, sizeof p->key, "%s", key);
        snprintf (p->owner, sizeof p->owner, "%s", owner);
        //  What the message holds decoded counts, not only its frames.
        self->gathered_bytes += (data ? zframe_size (data) : 0) + sl_msg_cost (&p->msg);
        break;
    }
    default:
        //  A reply-only command sent to the broker.
        s_malformed (self, peer, &msg, SL_ECOMMAND, "a broker-to-client command");
        break;
    }
done:
    sl_msg_reset (&msg);
    zframe_destroy (&peer);
    zmsg_destroy (&zmsg);
    return true;
}

int
sl_broker_run (sl_broker_t *self)
{
    zpoller_t *poller = zpoller_new (self->router, NULL);
    if (!poller) {
        return SL_ENOMEM;
    }
    for (int i = 0; i < sl_conns_sockets (self->conns); i++) {
        zpoller_add (poller, sl_conns_socket (self->conns, i));
    }
    sl_broker_repl_poll (self, poller);
    self->next_retain_ms = sl_mono_ms () + RETAIN_EVERY_MS;
    while (!self->stopping && !zsys_interrupted) {
        int64_t now = sl_mono_ms ();
        int timeout = (int)(self->next_retain_ms > now ? self->next_retain_ms - now : 0);
        if (timeout > POLL_MS) {
            timeout = POLL_MS;
        }
        //  While the disk is full, take new writes at a slow pace so that
        //  a retry does not spin.
        if (self->disk_full) {
            zclock_sleep (200);
        }
        zpoller_wait (poller, timeout);
        //  Gather: every message waiting, up to the group's bounds.
        int64_t reading_from = sl_mono_ms ();
        while (self->n_pending < GATHER_MAX_MSGS && self->gathered_bytes < GATHER_MAX_BYTES) {
            if (!s_handle_one (self)) {
                sl_groups_heard (self->groups, reading_from);
                break;
            }
        }
        sl_broker_repl_tick (self);
        //  A replica writes only what its primary sends (replica.c).
        bool writer = !sl_broker_is_replica (self);
        if (writer) {
            sl_broker_commit_group (self);
            sl_groups_dispatch (self->groups, sl_mono_ms ());
        }
        sl_broker_limits_tick (self, sl_mono_ms ());
        if (writer && sl_mono_ms () >= self->next_retain_ms) {
            sl_broker_retain_all (self);
            self->next_retain_ms = sl_mono_ms () + RETAIN_EVERY_MS;
        }
        if (self->http && sl_mono_ms () >= self->next_http_ms) {
            sl_broker_http_snapshot (self);
            self->next_http_ms = sl_mono_ms () + HTTP_SNAPSHOT_MS;
        }
    }
    zpoller_destroy (&poller);
    uint64_t work, results, dropped, dead;
    sl_groups_stats (self->groups, &work, &results, &dropped, &dead);
    sl_info ("broker",
             "groups: %" PRIu64 " work batches sent, %" PRIu64 " results (%" PRIu64
             " late or repeated, dropped), %" PRIu64 " records dead-lettered",
             work, results, dropped, dead);
    sl_info ("broker",
             "stopped: %" PRIu64 " records published in %" PRIu64 " batches, %" PRIu64
             " duplicates dropped, %" PRIu64 " commits, %" PRIu64 " malformed messages",
             self->n_records, self->n_batches, self->n_duplicates, self->n_commits,
             self->n_malformed);
    sl_info ("broker",
             "commits: %.1f writes each on average, %" PRIu64 " ms inside the store's commit "
             "(writes and syncs)",
             self->n_commits ? (double)self->n_commit_writes / (double)self->n_commits : 0.0,
             self->commit_us / 1000);
    uint64_t corrupt;
    sl_store_corrupt_stats (self->store, &corrupt, NULL, NULL);
    if (corrupt) {
        sl_warn ("broker",
                 "%" PRIu64 " reads met stored batches that failed their checksum: "
                 "run sluice-broker --check",
                 corrupt);
    }
    sl_broker_limits_log (self);
    return 0;
}
