/*  sl_client.c - a client's connection to one broker.

    One DEALER to the broker's command address, with ZMTP heartbeats so that
    a dead broker is noticed in seconds, and a socket monitor so that a
    reconnect (a restarted broker) is noticed at once. Requests carry ids;
    replies to other ids are stale and skipped; malformed replies are
    logged, counted and skipped, never trusted.
*/
#include "sl_client.h"

#include <assert.h>
#include <stdatomic.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_curve.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"

#define S_DEFAULT_TIMEOUT_MS 5000
#define S_DEFAULT_HEARTBEAT_MS 1000
#define S_DEFAULT_ATTEMPTS 10
#define S_POLL_SLICE_MS 250     //  longest wait before zsys_interrupted is looked at again
#define S_SEND_RETRY_MS 50      //  pause after a send refused by the high-water mark
#define S_SAY_CONNECTING_MS 500 //  HELLO unanswered this long: say so
#define S_FAILOVER_MS 3000      //  with several endpoints: unreachable this long, try the next

struct _sl_client_t {
    zsock_t *dealer;  //  to the broker's ROUTER
    zsock_t *monitor; //  PAIR receiving the DEALER's connection events
    char *broker;     //  command address in use (one of list)
    char *list;       //  --broker as given: one endpoint or several, comma-separated
    int n_endpoints;
    int current;          //  index of broker in list
    int64_t trying_since; //  not connected since (mono ms), 0 when connected
    char *software;
    char *producer;
    char *stream;
    int timeout_ms;
    uint64_t next_req;
    uint64_t hello_req; //  req of the last HELLO sent
    sl_msg_t welcome;
    bool have_welcome;
    char pub[512];     //  live endpoint with "*" replaced
    uint32_t connects; //  completed handshakes
    bool connected;
    uint64_t malformed;
    zcert_t *cert;        //  CURVE: our key pair, or NULL (plain)
    zcert_t *server;      //  CURVE: the broker's public key
    bool refusal_logged;  //  the broker refused a handshake (logged once)
    bool refused;         //  the last handshake was refused (none succeeded since)
    bool said_connecting; //  "connecting to ..." said once
};

//  The process default of sl_client_set_security.
static zcert_t *s_default_cert;
static zcert_t *s_default_server;

static void
s_security_free (void)
{
    zcert_destroy (&s_default_cert);
    zcert_destroy (&s_default_server);
}

//  Loads a client's key pair and the broker's public key, logging what is
//  wrong. 0 or an error code.
static int
s_load_keys (const char *curve_secret, const char *broker_key, zcert_t **cert, zcert_t **server)
{
    if (!curve_secret || !broker_key) {
        sl_error ("client", "CURVE needs both --curve-secret and --broker-key");
        return SL_EINVAL;
    }
    int err = 0;
    *cert = sl_curve_load_secret (curve_secret, &err);
    if (!*cert) {
        sl_error ("client",
                  "cannot load the secret key %s: %s (make one with: sluice keygen "
                  "NAME)",
                  curve_secret, sl_strerror (err));
        return err;
    }
    *server = sl_curve_load_public (broker_key, &err);
    if (!*server) {
        sl_error ("client", "cannot load the broker's public key %s: %s", broker_key,
                  sl_strerror (err));
        zcert_destroy (cert);
        return err;
    }
    return 0;
}

int
sl_client_set_security (const char *curve_secret, const char *broker_key)
{
    static bool s_registered = false;
    s_security_free ();
    if (!curve_secret && !broker_key) {
        return 0;
    }
    if (!s_registered) {
        atexit (s_security_free);
        s_registered = true;
    }
    return s_load_keys (curve_secret, broker_key, &s_default_cert, &s_default_server);
}

//  Reads every connection event waiting on the monitor, without blocking.
static void s_failover (sl_client_t *self, const char *why);

//  A completed handshake is a (re)connection; a disconnect means what was
//  in flight may be lost. With several endpoints, one unreachable for
//  S_FAILOVER_MS is left for the next (every caller looks at the events).
static void
s_read_events (sl_client_t *self)
{
    if (self->n_endpoints > 1 && !self->connected && self->trying_since &&
        sl_mono_ms () - self->trying_since >= S_FAILOVER_MS) {
        s_failover (self, "is unreachable");
    }
    void *handle = zsock_resolve (self->monitor);
    for (int i = 0; i < 1000; i++) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&part);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size (&part) >= 6) {
            memcpy (&event, zmq_msg_data (&part), sizeof event);
        }
        bool more = zmq_msg_more (&part);
        zmq_msg_close (&part);
        //  The second frame is the endpoint; drop it.
        while (more) {
            zmq_msg_init (&part);
            if (zmq_msg_recv (&part, handle, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close (&part);
                break;
            }
            more = zmq_msg_more (&part);
            zmq_msg_close (&part);
        }
        if ((event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
             event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) &&
            !self->connected) {
            self->refused = true;
        }
        if ((event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
             event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) &&
            !self->refusal_logged) {
            //  Said once (a refusal is final for this connection attempt).
            self->refusal_logged = true;
            sl_error ("client", "broker %s refused the connection: %s", self->broker,
                      event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                          ? "our key is not in its allow list, or lacks a right"
                      : self->cert ? "CURVE handshake failed (wrong --broker-key, or the broker "
                                     "does not use CURVE?)"
                                   : "handshake failed (the broker uses CURVE: give "
                                     "--curve-secret and --broker-key)");
        }
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            self->refused = false;
            self->connects++;
            self->connected = true;
            self->trying_since = 0;
            sl_debug ("client", "connected to %s (connection %u)", self->broker, self->connects);
        }
        else if (event == ZMQ_EVENT_DISCONNECTED) {
            if (self->connected) {
                sl_info ("client", "lost connection to broker %s, reconnecting", self->broker);
            }
            self->connected = false;
            if (!self->trying_since) {
                self->trying_since = sl_mono_ms ();
            }
        }
    }
}

//  With several endpoints: leaves the broker in use for the next one in
//  the list (the one that writes is found by trying them in turn). What
//  was in flight is resent by the callers as after any reconnection.
static void
s_failover (sl_client_t *self, const char *why)
{
    if (self->n_endpoints < 2) {
        return;
    }
    int next = (self->current + 1) % self->n_endpoints;
    const char *at = self->list;
    for (int i = 0; i < next; i++) {
        at = strchr (at, ',') + 1;
    }
    char *endpoint = strndup (at, strcspn (at, ","));
    if (!endpoint) {
        return;
    }
    sl_info ("client", "broker %s %s: trying %s", self->broker, why, endpoint);
    zsock_disconnect (self->dealer, "%s", self->broker);
    free (self->broker);
    self->broker = endpoint;
    self->current = next;
    self->connected = false;
    self->have_welcome = false;
    self->trying_since = sl_mono_ms ();
    if (zsock_connect (self->dealer, "%s", self->broker)) {
        sl_error ("client", "cannot connect to '%s': %s", self->broker,
                  zmq_strerror (zmq_errno ()));
    }
}

sl_client_t *
sl_client_new (const sl_client_opts_t *opts)
{
    assert (opts);
    if (!opts->broker) {
        return NULL;
    }
    sl_client_t *self = (sl_client_t *)calloc (1, sizeof (sl_client_t));
    if (!self) {
        return NULL;
    }
    //  Several endpoints (docs/replication.md): the first is tried first.
    self->list = strdup (opts->broker);
    self->n_endpoints = 1;
    for (const char *c = opts->broker; *c; c++) {
        self->n_endpoints += *c == ',';
    }
    self->broker = self->list ? strndup (self->list, strcspn (self->list, ",")) : NULL;
    self->trying_since = sl_mono_ms ();
    self->software = strdup (opts->software ? opts->software : "sluice");
    self->producer = opts->producer ? strdup (opts->producer) : NULL;
    self->stream = opts->stream ? strdup (opts->stream) : NULL;
    if (!self->broker || !self->software || (opts->producer && !self->producer) ||
        (opts->stream && !self->stream)) {
        goto fail;
    }
    self->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : S_DEFAULT_TIMEOUT_MS;
    int heartbeat_ms = opts->heartbeat_ms > 0 ? opts->heartbeat_ms : S_DEFAULT_HEARTBEAT_MS;
    sl_msg_init (&self->welcome, SL_CMD_WELCOME);

    self->dealer = zsock_new (ZMQ_DEALER);
    if (!self->dealer) {
        goto fail;
    }
    zsock_set_linger (self->dealer, 0);
    zsock_set_heartbeat_ivl (self->dealer, heartbeat_ms);
    zsock_set_heartbeat_timeout (self->dealer, 3 * heartbeat_ms);
    zsock_set_heartbeat_ttl (self->dealer, 3 * heartbeat_ms);
    char host[256];
    if (sl_endpoint_tcp_host (self->broker, host, sizeof host) == 0 && host[0] == '[') {
        zsock_set_ipv6 (self->dealer, 1);
    }
    if (opts->curve_secret || opts->broker_key) {
        if (s_load_keys (opts->curve_secret, opts->broker_key, &self->cert, &self->server)) {
            goto fail;
        }
    }
    else if (s_default_cert) {
        self->cert = zcert_dup (s_default_cert);
        self->server = zcert_dup (s_default_server);
        if (!self->cert || !self->server) {
            goto fail;
        }
    }
    if (sl_client_secure (self, self->dealer)) {
        goto fail;
    }

    //  The monitor is attached and its reader connected before the DEALER
    //  connects, so that the first handshake is seen too.
    //  The name must be unique in the process: an inproc name stays taken
    //  until libzmq's reaper has closed the old socket, and a process may
    //  hold two copies of this code (libsluice.so beside a program's static
    //  core, as test_cores does), hence the counter's own address too.
    char monitor_ep[96];
    static atomic_uint s_monitors;
    snprintf (monitor_ep, sizeof monitor_ep, "inproc://sl-client-%p-%p-%u", (void *)&s_monitors,
              (void *)self, atomic_fetch_add (&s_monitors, 1));
    if (zmq_socket_monitor (zsock_resolve (self->dealer), monitor_ep,
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                                ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)) {
        goto fail;
    }
    self->monitor = zsock_new (ZMQ_PAIR);
    if (!self->monitor) {
        goto fail;
    }
    zsock_set_linger (self->monitor, 0);
    if (zsock_connect (self->monitor, "%s", monitor_ep)) {
        goto fail;
    }
    if (zsock_connect (self->dealer, "%s", self->broker)) {
        sl_error ("client", "cannot connect to '%s': %s (expected tcp://HOST:PORT)", self->broker,
                  zmq_strerror (zmq_errno ()));
        goto fail;
    }
    return self;

fail:
    sl_client_destroy (&self);
    return NULL;
}

void
sl_client_destroy (sl_client_t **self_p)
{
    assert (self_p);
    sl_client_t *self = *self_p;
    if (!self) {
        return;
    }
    if (self->dealer) {
        zmq_socket_monitor (zsock_resolve (self->dealer), NULL, 0);
        zsock_set_linger (self->dealer, 0);
        zsock_destroy (&self->dealer);
    }
    zsock_destroy (&self->monitor);
    zcert_destroy (&self->cert);
    zcert_destroy (&self->server);
    sl_msg_reset (&self->welcome);
    free (self->broker);
    free (self->list);
    free (self->software);
    free (self->producer);
    free (self->stream);
    free (self);
    *self_p = NULL;
}

zsock_t *
sl_client_sock (sl_client_t *self)
{
    assert (self);
    return self->dealer;
}

int
sl_client_secure (sl_client_t *self, zsock_t *sock)
{
    assert (self);
    if (!self->cert) {
        return 0;
    }
    return sl_curve_client (sock, self->cert, self->server);
}

bool
sl_client_secured (sl_client_t *self)
{
    assert (self);
    return self->cert != NULL;
}

uint64_t
sl_client_next_req (sl_client_t *self)
{
    assert (self);
    return ++self->next_req;
}

uint32_t
sl_client_connects (sl_client_t *self)
{
    assert (self);
    s_read_events (self);
    return self->connects;
}

bool
sl_client_connected (sl_client_t *self)
{
    assert (self);
    s_read_events (self);
    return self->connected;
}

uint64_t
sl_client_malformed (sl_client_t *self)
{
    assert (self);
    return self->malformed;
}

const sl_msg_t *
sl_client_welcome (sl_client_t *self)
{
    assert (self);
    return self->have_welcome ? &self->welcome : NULL;
}

const char *
sl_client_pub_endpoint (sl_client_t *self)
{
    assert (self);
    return self->have_welcome ? self->pub : NULL;
}

//  Sends the frames of head, then those of data, all by reference, the
//  first without waiting: a full high-water mark refuses the whole message
//  and nothing is taken. libzmq accepts the remaining parts of a message
//  once its first part was accepted.
static int
s_send (sl_client_t *self, zmsg_t *head, zmsg_t *data, zframe_t *extra)
{
    size_t total = zmsg_size (head) + (data ? zmsg_size (data) : 0) + (extra ? 1 : 0);
    size_t sent = 0;
    zmsg_t *parts[2] = {head, data};
    for (int p = 0; p < 2; p++) {
        if (!parts[p]) {
            continue;
        }
        for (zframe_t *frame = zmsg_first (parts[p]); frame; frame = zmsg_next (parts[p])) {
            sent++;
            int flags = ZFRAME_REUSE | ZFRAME_DONTWAIT | (sent < total ? ZFRAME_MORE : 0);
            if (zframe_send (&frame, self->dealer, flags)) {
                goto fail;
            }
        }
    }
    if (extra) {
        if (zframe_send (&extra, self->dealer, ZFRAME_REUSE | ZFRAME_DONTWAIT)) {
            goto fail;
        }
    }
    return 0;

fail:
    if (sent > 1) {
        //  Cannot happen with libzmq (see above); a half-sent message would
        //  be dropped by the peer's decoder as malformed.
        sl_warn ("client", "send to %s failed mid-message: %s", self->broker,
                 zmq_strerror (zmq_errno ()));
    }
    return zmq_errno () == EAGAIN ? SL_EAGAIN : SL_ECLOSED;
}

int
sl_client_send (sl_client_t *self, const sl_msg_t *msg, zmsg_t **data)
{
    assert (self);
    assert (msg);
    zmsg_t *head = sl_msg_encode (msg);
    if (!head) {
        return SL_EINVAL;
    }
    int rc = s_send (self, head, data ? *data : NULL, NULL);
    zmsg_destroy (&head);
    if (rc == 0 && data) {
        zmsg_destroy (data);
    }
    return rc;
}

int
sl_client_send_frame (sl_client_t *self, const sl_msg_t *msg, zframe_t *data)
{
    assert (self);
    assert (msg);
    zmsg_t *head = sl_msg_encode (msg);
    if (!head) {
        return SL_EINVAL;
    }
    int rc = s_send (self, head, NULL, data);
    zmsg_destroy (&head);
    return rc;
}

//  Keeps a WELCOME, whoever asked for it: the limits and the live endpoint
//  are the broker's current ones.
static void
s_store_welcome (sl_client_t *self, const sl_msg_t *reply)
{
    char pub[sizeof self->pub];
    int rc = sl_endpoint_with_host (reply->endpoint, self->broker, pub, sizeof pub);
    if (rc) {
        sl_warn ("client", "broker %s announced an unusable live endpoint '%s': %s", self->broker,
                 reply->endpoint, sl_strerror (rc));
        snprintf (pub, sizeof pub, "%s", reply->endpoint);
    }
    sl_msg_reset (&self->welcome);
    self->welcome = *reply;
    self->welcome.streams = NULL;
    self->welcome.n_streams = 0;
    memcpy (self->pub, pub, sizeof pub);
    self->have_welcome = true;
}

int
sl_client_recv (sl_client_t *self, sl_msg_t *reply, zmsg_t **data, int timeout_ms)
{
    assert (self);
    assert (reply);
    int64_t deadline = timeout_ms < 0 ? 0 : sl_mono_ms () + timeout_ms;
    while (true) {
        if (zsys_interrupted) {
            return SL_ECLOSED;
        }
        s_read_events (self);
        long wait = S_POLL_SLICE_MS;
        if (deadline) {
            int64_t left = deadline - sl_mono_ms ();
            if (left < 0) {
                left = 0;
            }
            if (left < wait) {
                wait = (long)left;
            }
        }
        zmq_pollitem_t item = {zsock_resolve (self->dealer), 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll (&item, 1, wait);
        if (rc < 0 && zmq_errno () != EINTR) {
            return SL_ECLOSED;
        }

        if (rc > 0 && (item.revents & ZMQ_POLLIN)) {
            zmsg_t *msg = zmsg_recv (self->dealer);
            if (!msg) {
                continue;
            }
            sl_msg_reset (reply);
            rc = sl_msg_decode (msg, reply);
            if (rc) {
                //  Never trusted, never fatal: counted, logged (sparingly),
                //  skipped. A request it answered is resent after its timeout.
                self->malformed++;
                if (self->malformed <= 10 || self->malformed % 1000 == 0) {
                    sl_warn ("client",
                             "malformed reply from broker %s skipped (%s, cmd %s); "
                             "%" PRIu64 " so far",
                             self->broker, sl_strerror (rc), sl_cmd_name (reply->cmd),
                             self->malformed);
                }
                zmsg_destroy (&msg);
                sl_msg_reset (reply);
                if (deadline && sl_mono_ms () >= deadline) {
                    return SL_ETIMEOUT; //  a flood of garbage does not hold us past it
                }
                continue;
            }
            if (self->n_endpoints > 1 &&
                ((reply->cmd == SL_CMD_ERROR &&
                  (reply->code == -SL_EREADONLY || reply->code == -SL_ENOREPLICA)) ||
                 (reply->cmd == SL_CMD_WELCOME && strstr (reply->broker, "(replica)")))) {
                //  A replica: the writer is another of the endpoints. Its
                //  WELCOME is not kept; its EREADONLY is returned (retryable).
                //  ENOREPLICA: a primary nobody follows may be a stale one
                //  (another was promoted): the others are tried too.
                s_failover (self, reply->code == -SL_ENOREPLICA ? "has no replica following it"
                                                                : "is a read-only replica");
                if (reply->cmd == SL_CMD_WELCOME) {
                    zmsg_destroy (&msg);
                    sl_msg_reset (reply);
                    continue;
                }
            }
            if (reply->cmd == SL_CMD_WELCOME) {
                s_store_welcome (self, reply);
            }
            if (data) {
                *data = msg;
            }
            else {
                zmsg_destroy (&msg);
            }
            return 0;
        }
        if (deadline && sl_mono_ms () >= deadline) {
            return SL_ETIMEOUT;
        }
    }
}

//  The negative SL_E* code for an ERROR reply; an unknown or missing code
//  still is an error.
static int
s_error_code (const sl_msg_t *reply)
{
    if (reply->code > 0 && reply->code < 1000) {
        return -reply->code;
    }
    return SL_EPROTO;
}

//  Sends a HELLO with a fresh req, fire and forget; the WELCOME is kept by
//  sl_client_recv when it comes.
static int
s_send_hello (sl_client_t *self)
{
    sl_msg_t hello;
    sl_msg_init (&hello, SL_CMD_HELLO);
    hello.req = self->hello_req ? self->hello_req : sl_client_next_req (self);
    self->hello_req = hello.req;
    snprintf (hello.client, sizeof hello.client, "%s", self->software);
    if (self->producer && self->stream) {
        snprintf (hello.name, sizeof hello.name, "%s", self->producer);
        snprintf (hello.stream, sizeof hello.stream, "%s", self->stream);
    }
    int rc = sl_client_send (self, &hello, NULL);
    sl_msg_reset (&hello);
    return rc;
}

int
sl_client_hello (sl_client_t *self, int64_t deadline_ms)
{
    assert (self);
    self->hello_req = sl_client_next_req (self);
    uint32_t connects = sl_client_connects (self);
    int64_t started = sl_mono_ms ();
    while (true) {
        if (zsys_interrupted) {
            return SL_ECLOSED;
        }
        int rc = s_send_hello (self);
        if (rc == SL_EINVAL) {
            return rc;
        }
        int64_t attempt_end = sl_mono_ms () + (rc ? S_SEND_RETRY_MS : self->timeout_ms);
        if (deadline_ms && attempt_end > deadline_ms) {
            attempt_end = deadline_ms;
        }
        while (true) {
            int64_t left = attempt_end - sl_mono_ms ();
            if (left <= 0) {
                break;
            }
            sl_msg_t reply;
            sl_msg_init (&reply, SL_CMD_NONE);
            rc = sl_client_recv (self, &reply, NULL, (int)(left < 100 ? left : 100));
            if (rc == SL_ECLOSED) {
                return rc;
            }
            if (rc == 0 && reply.req == self->hello_req) {
                if (reply.cmd == SL_CMD_WELCOME) {
                    sl_msg_reset (&reply);
                    return 0;
                }
                if (reply.cmd == SL_CMD_ERROR) {
                    sl_warn ("client", "broker %s refused HELLO: %s (%s)", self->broker, reply.text,
                             sl_strerror (s_error_code (&reply)));
                    rc = s_error_code (&reply);
                    sl_msg_reset (&reply);
                    return rc;
                }
            }
            sl_msg_reset (&reply);
            if (self->refused) {
                //  Said once by s_read_events; waiting longer changes nothing.
                return SL_EDENIED;
            }
            if (!self->said_connecting && sl_mono_ms () - started >= S_SAY_CONNECTING_MS) {
                //  Nobody waits in silence: a missing broker is said within a
                //  moment, not at the end of the timeout.
                sl_info ("client", "connecting to broker %s... (no answer yet)", self->broker);
                self->said_connecting = true;
            }
            //  A broker that restarted meanwhile is greeted at once rather
            //  than after the rest of the timeout. (A first connection
            //  needs nothing: the DEALER delivers what it queued.)
            uint32_t now_connects = sl_client_connects (self);
            if (now_connects != connects) {
                bool again = connects > 0;
                connects = now_connects;
                if (again) {
                    break;
                }
            }
        }
        if (deadline_ms && sl_mono_ms () >= deadline_ms) {
            return SL_ETIMEOUT;
        }
    }
}

int
sl_client_request (sl_client_t *self, sl_msg_t *request, sl_msg_t *reply, zmsg_t **data,
                   int64_t deadline_ms)
{
    return sl_client_request_with (self, request, NULL, 0, reply, data, deadline_ms);
}

//  Each attempt sends its own copy of the frame: a send takes what it sends.
static int
s_send_with (sl_client_t *self, const sl_msg_t *request, const void *frame, size_t frame_len)
{
    if (!frame) {
        return sl_client_send (self, request, NULL);
    }
    zmsg_t *extra = zmsg_new ();
    if (!extra || zmsg_addmem (extra, frame, frame_len) != 0) {
        zmsg_destroy (&extra);
        return SL_ENOMEM;
    }
    int rc = sl_client_send (self, request, &extra);
    zmsg_destroy (&extra);
    return rc;
}

int
sl_client_request_with (sl_client_t *self, sl_msg_t *request, const void *frame, size_t frame_len,
                        sl_msg_t *reply, zmsg_t **data, int64_t deadline_ms)
{
    assert (self);
    assert (request);
    assert (reply);
    request->req = sl_client_next_req (self);
    uint32_t connects = sl_client_connects (self);
    for (int attempt = 0; deadline_ms || attempt < S_DEFAULT_ATTEMPTS; attempt++) {
        if (zsys_interrupted) {
            return SL_ECLOSED;
        }
        //  The same req on every attempt: a late reply to an earlier
        //  attempt answers this request as well (requests are idempotent).
        int rc = s_send_with (self, request, frame, frame_len);
        if (rc == SL_EINVAL) {
            return rc;
        }
        int64_t attempt_end = sl_mono_ms () + (rc ? S_SEND_RETRY_MS : self->timeout_ms);
        if (deadline_ms && attempt_end > deadline_ms) {
            attempt_end = deadline_ms;
        }
        while (true) {
            int64_t left = attempt_end - sl_mono_ms ();
            if (left <= 0) {
                break;
            }
            zmsg_t *frames = NULL;
            sl_msg_reset (reply);
            rc = sl_client_recv (self, reply, &frames, (int)(left < 100 ? left : 100));
            if (rc == SL_ECLOSED) {
                return rc;
            }
            if (rc == 0) {
                if (reply->req == request->req) {
                    if (data) {
                        *data = frames;
                    }
                    else {
                        zmsg_destroy (&frames);
                    }
                    return reply->cmd == SL_CMD_ERROR ? s_error_code (reply) : 0;
                }
                sl_debug ("client", "skipped %s for req %" PRIu64 " (waiting for %" PRIu64 ")",
                          sl_cmd_name (reply->cmd), reply->req, request->req);
                zmsg_destroy (&frames);
                sl_msg_reset (reply);
            }
            //  A new connection means a restarted broker: greet it and
            //  resend now, since the request in flight was probably lost.
            uint32_t now_connects = sl_client_connects (self);
            if (now_connects != connects) {
                bool again = connects > 0;
                connects = now_connects;
                if (again) {
                    self->hello_req = 0;
                    s_send_hello (self);
                    break;
                }
            }
        }
        if (deadline_ms && sl_mono_ms () >= deadline_ms) {
            break;
        }
    }
    sl_msg_reset (reply);
    return SL_ETIMEOUT;
}

int
sl_client_security_flags (const char *program, const char *curve_secret, const char *broker_key)
{
    if (!curve_secret != !broker_key) {
        fprintf (stderr, "%s: --curve-secret and --broker-key go together; try --help\n", program);
        return 2;
    }
    return sl_client_set_security (curve_secret, broker_key) ? 1 : 0;
}
