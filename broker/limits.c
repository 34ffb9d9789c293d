/*  limits.c - what any peer can make the broker hold, bounded
    (docs/reliability.md, "Limits"; DESIGN guarantee 8).

    - Replies and work: a byte budget per peer and in total (sl_send.h);
      a request whose reply does not fit is answered EBUSY, a member over
      its budget gets no work, a peer whose bytes do not move for
      --stuck-timeout loses its leases.
    - Live feed: a byte budget for what PUB still holds; over it a LIVE
      message is skipped (counted), and sinks refill the gap from the log.
    - Connections: a cap below the descriptor limit (conns.c), and a
      handshake deadline for connections that never greet.
    - Streams: a cap on how many exist; groups and producer sequences are
      capped where they are created (groups.c, broker.c).
*/
#include <inttypes.h>
#include <string.h>

#include "conns.h"
#include "sl_curve.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_send.h"
#include "sl_util.h"

#include "broker_int.h"

#define SWEEP_EVERY_MS 1000
#define IDLE_ACCOUNT_MS 10000

static int
s_count_stream (void *arg, const sl_stream_info_t *info)
{
    sl_broker_t *self = arg;
    zhashx_insert (self->streams, info->name, (void *)1);
    return 0;
}

//  A config made without sl_broker_config_defaults gets the default
//  limits: 0 means "the default", never "nothing allowed" or "no bound".
static void
s_defaults (sl_broker_config_t *c)
{
    c->peer_budget = c->peer_budget ? c->peer_budget : SL_BROKER_PEER_BUDGET;
    c->total_budget = c->total_budget ? c->total_budget : SL_BROKER_TOTAL_BUDGET;
    c->live_budget = c->live_budget ? c->live_budget : SL_BROKER_LIVE_BUDGET;
    c->stuck_ms = c->stuck_ms ? c->stuck_ms : SL_BROKER_STUCK_MS;
    c->max_groups = c->max_groups ? c->max_groups : SL_BROKER_MAX_GROUPS;
    c->max_streams = c->max_streams ? c->max_streams : SL_BROKER_MAX_STREAMS;
    c->max_producers = c->max_producers ? c->max_producers : SL_BROKER_MAX_PRODUCERS;
    c->max_connections = c->max_connections ? c->max_connections : SL_BROKER_MAX_CONNECTIONS;
    c->handshake_ms = c->handshake_ms ? c->handshake_ms : SL_BROKER_HANDSHAKE_MS;
}

int
sl_broker_limits_new (sl_broker_t *self)
{
    s_defaults (&self->config);
    const sl_broker_config_t *config = &self->config;
    self->budget = sl_budget_new (config->peer_budget, config->total_budget);
    self->live = sl_budget_new (0, config->live_budget);
    self->streams = zhashx_new ();
    uint32_t cap = sl_conns_raise_limit (config->max_connections);
    self->conns = sl_conns_new (cap);
    if (!self->budget || !self->live || !self->streams || !self->conns) {
        return SL_ENOMEM;
    }
    int rc = sl_store_list (self->store, s_count_stream, self);
    if (rc) {
        return rc;
    }
    //  Sends never block the broker: a full queue or a gone peer is an
    //  error it handles (sl_send_router), not a wait or a silent drop.
    zsock_set_router_mandatory (self->router, 1);
    zsock_set_sndtimeo (self->router, 0);
    zsock_set_handshake_ivl (self->router, config->handshake_ms);
    zsock_set_handshake_ivl (self->pub, config->handshake_ms);
    //  A socket has one monitor: with CURVE on, the CURVE watcher (s_secure)
    //  tracks the connections and keeps the cap, and also cuts them when a
    //  key is revoked (sl_curve_auth_set_max_connections).
    self->max_conns = cap;
    if (!config->curve_secret &&
        (sl_conns_watch (self->conns, self->router) || sl_conns_watch (self->conns, self->pub))) {
        sl_error ("broker", "cannot watch connections (socket monitor)");
        return SL_EINVAL;
    }
    self->next_sweep_ms = sl_mono_ms () + SWEEP_EVERY_MS;
    sl_info ("broker",
             "limits: %" PRIu64 " MiB per peer, %" PRIu64 " MiB in total, %" PRIu64
             " MiB live, %u connections, %u groups, %u streams",
             config->peer_budget >> 20, config->total_budget >> 20, config->live_budget >> 20, cap,
             config->max_groups, config->max_streams);
    return 0;
}

void
sl_broker_limits_destroy (sl_broker_t *self)
{
    //  Frames still in libzmq's queues keep their budget alive (sl_send.h).
    sl_budget_destroy (&self->budget);
    sl_budget_destroy (&self->live);
    sl_conns_destroy (&self->conns);
    zhashx_destroy (&self->streams);
}

//  Every reply goes through the peer's byte budget (sl_send.h). A reply
//  that does not fit is not queued: the peer gets ERROR EBUSY (small, not
//  counted) and asks again after reading what it has. A peer whose queue is
//  full or that is gone loses the reply: it times out and asks again.
void
sl_broker_send (sl_broker_t *self, zframe_t *peer, uint64_t req, zmsg_t **reply_p)
{
    if (!*reply_p) {
        return;
    }
    int rc = sl_send_router (self->router, self->budget, zframe_data (peer), zframe_size (peer),
                             reply_p);
    if (rc == 0) {
        return;
    }
    zmsg_destroy (reply_p);
    if (rc == SL_EBUSY) {
        self->n_busy++;
        zmsg_t *busy = sl_msg_error (req, SL_EBUSY,
                                     "peer over its budget: read your replies "
                                     "before asking for more (docs/PROTOCOL.md §9)");
        if (busy && sl_send_router (self->router, NULL, zframe_data (peer), zframe_size (peer),
                                    &busy) != 0) {
            zmsg_destroy (&busy);
        }
    }
}

int
sl_broker_admit_stream (sl_broker_t *self, const char *stream, const char **why)
{
    if (zhashx_lookup (self->streams, stream)) {
        return 0;
    }
    if (zhashx_size (self->streams) >= self->config.max_streams) {
        *why = "the broker's stream limit is reached (--max-streams)";
        return SL_ELIMIT;
    }
    //  Counted only once written (sl_broker_stream_written), so that writes
    //  that fail cannot use up the cap; one commit may pass it by the new
    //  streams it holds.
    return 0;
}

void
sl_broker_stream_written (sl_broker_t *self, const char *stream)
{
    if (!zhashx_lookup (self->streams, stream)) {
        zhashx_insert (self->streams, stream, (void *)1);
    }
}

int
sl_broker_admit (sl_broker_t *self, const sl_msg_t *msg, const char **why)
{
    int rc = 0;
    if (msg->cmd == SL_CMD_PUBLISH) {
        rc = sl_broker_admit_stream (self, msg->stream, why);
    }
    else if (msg->cmd == SL_CMD_JOIN) {
        //  sl_groups_check keeps a group name short enough for ".dlq".
        char dlq[SL_NAME_MAX + 8];
        snprintf (dlq, sizeof dlq, "%s.dlq", msg->group);
        rc = sl_broker_admit_stream (self, msg->in, why);
        rc = rc ? rc : sl_broker_admit_stream (self, msg->out, why);
        rc = rc ? rc : sl_broker_admit_stream (self, dlq, why);
    }
    return rc;
}

//  A peer whose replies have not moved for --stuck-timeout: its leases go
//  back to the queue so that the other members carry on. What libzmq holds
//  for it stays within its budget until the connection ends.
static void
s_stuck (void *ctx, const void *peer, size_t peer_len)
{
    sl_broker_t *self = ctx;
    char hex[2 * 32 + 1];
    size_t n = peer_len < 32 ? peer_len : 32;
    for (size_t i = 0; i < n; i++) {
        snprintf (hex + 2 * i, 3, "%02X", ((const uint8_t *)peer)[i]);
    }
    hex[2 * n] = 0;
    sl_warn ("broker",
             "peer %s has not read its replies for %" PRId64 " ms "
             "(--stuck-timeout): its work leases, if any, go back to the queue",
             hex, self->config.stuck_ms);
    sl_groups_forget (self->groups, peer, peer_len);
}

void
sl_broker_limits_tick (sl_broker_t *self, int64_t now_ms)
{
    sl_conns_poll (self->conns);
    if (now_ms < self->next_sweep_ms) {
        return;
    }
    self->next_sweep_ms = now_ms + SWEEP_EVERY_MS;
    sl_budget_stuck (self->budget, now_ms, self->config.stuck_ms, s_stuck, self);
    sl_budget_sweep (self->budget, now_ms, IDLE_ACCOUNT_MS);
}

void
sl_broker_limits_log (sl_broker_t *self)
{
    sl_info ("broker",
             "limits: %" PRIu64 " requests answered EBUSY, %" PRIu64
             " live messages skipped, %" PRIu64 " requests refused ELIMIT, %" PRIu64
             " connections closed over the cap",
             self->n_busy, self->n_live_skipped, self->n_limited,
             (self->conns ? sl_conns_refused (self->conns) : 0) +
                 (self->auth ? sl_curve_auth_conns_refused (self->auth) : 0));
}
