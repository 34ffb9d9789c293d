/*  sl_curve_auth.c - the broker's authenticator: the allow table, the ZAP
    handler and the watch on failed handshakes (sl_curve.h).

    The authenticator is a ZAP handler (RFC 27) of our own rather than
    CZMQ's zauth, for four reasons found by trying CZMQ 4.2.1: zcertstore's
    disk loader misses a key removed and another added within the same
    second (its change test is file count, total size and the newest mtime
    in whole seconds), so a revoked key stayed allowed; zauth copies a
    certificate's metadata into a fixed 512-byte buffer without a bound;
    it cannot tell the command socket from the live feed (ZAP domain); and
    its verbose mode logs every retry of a refused client (one every
    100 ms). Key files are still CZMQ certificates, read with zconfig.

    The handler runs in its own thread (a zactor). The allow table is
    shared with the broker's thread under a mutex: the handler rebuilds it
    when the directory's fingerprint (every file's name, size, inode and
    nanosecond mtime) changes, checked before each handshake and four times
    a second; the broker looks keys up in it for each request, so a key
    removed from the directory loses its rights within a quarter second,
    also on connections already open.
*/
#include "sl_curve.h"
#include "sl_curve_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_TICK_MS 250
#define S_REFUSED_LOGGED 4096 //  keys remembered as already logged
#define S_SUMMARY_MS 60000    //  failed-handshake summaries, at most this often

//  ---------------------------------------------------------------------
//  The ZAP handler and the handshake watch (the actor's thread)

typedef struct {
    const char *what; //  what the operator reads
    bool logged;
    uint64_t since; //  refusals since the last line
    int64_t last_ms;
} s_kind_t;

enum { KIND_PLAIN, KIND_CRYPTO, KIND_OTHER, KIND_CUT, KIND_COUNT };

//  One watched socket: its monitor, and its open connections when they are
//  cut on revocation (NULL otherwise).
typedef struct {
    zsock_t *monitor;
    sl_curve_conns_t *conns;
} s_watch_t;

static void
s_watch_destroy (s_watch_t **self_p)
{
    s_watch_t *self = *self_p;
    if (self) {
        zsock_destroy (&self->monitor);
        sl_curve_conns_destroy (&self->conns);
        free (self);
        *self_p = NULL;
    }
}

typedef struct {
    sl_curve_auth_t *auth;
    zsock_t *pipe;
    zsock_t *handler; //  REP at S_ZAP_ENDPOINT
    zpoller_t *poller;
    zlist_t *monitors;     //  s_watch_t: watched sockets' events
    uint64_t revoked_seen; //  auth->revoked when connections were last cut
    size_t open;           //  connections tracked over the cut-watched sockets
    zhashx_t *logged;      //  keys whose refusal was logged
    s_kind_t kinds[KIND_COUNT];
} s_actor_t;

//  Logs a refused key once (per key, until the set fills and is cleared).
static void
s_refuse_log (s_actor_t *self, const char *key, const char *address, const char *why)
{
    if (zhashx_lookup (self->logged, key)) {
        return;
    }
    if (zhashx_size (self->logged) >= S_REFUSED_LOGGED) {
        zhashx_purge (self->logged);
    }
    zhashx_insert (self->logged, key, (void *)1);
    sl_warn ("curve",
             "refused client key %s from %s: %s (logged once per key; its retries "
             "are counted)",
             key, address, why);
}

static zframe_t *
s_str_frame (const char *text)
{
    return zframe_new (text, strlen (text));
}

//  Answers one ZAP request. Only CURVE is accepted: the broker's sockets
//  are CURVE servers, so any other mechanism is a socket set up wrong.
static void
s_zap_handle (s_actor_t *self)
{
    zmsg_t *request = zmsg_recv (self->handler);
    if (!request) {
        return;
    }
    zframe_t *version = zmsg_pop (request);
    zframe_t *seq = zmsg_pop (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    zframe_t *identity = zmsg_pop (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *credential = zmsg_pop (request);
    const char *status = "400";
    const char *text = "No access";
    char key[41] = "";
    if (!version || !seq || !domain || !address || !mechanism) {
        status = "500";
        text = "Malformed ZAP request";
    }
    else if (!streq (mechanism, "CURVE") || !credential || zframe_size (credential) != 32) {
        text = "CURVE required";
    }
    else {
        zmq_z85_encode (key, zframe_data (credential), 32);
        bool live = streq (domain, SL_CURVE_DOMAIN_LIVE);
        bool repl = streq (domain, SL_CURVE_DOMAIN_REPL);
        const char *why = NULL;
        if (sl_curve_auth_admit (self->auth, key, live, repl, &why)) {
            status = "200";
        }
        if (why) {
            s_refuse_log (self, key, address, why);
        }
        else if (streq (status, "200")) {
            zhashx_delete (self->logged, key);
        }
    }
    if (streq (status, "200")) {
        text = "OK";
    }
    zmsg_t *reply = zmsg_new ();
    if (reply) {
        zmsg_addstr (reply, "1.0");
        if (seq) {
            zmsg_append (reply, &seq);
        }
        else {
            zmsg_addstr (reply, "");
        }
        zmsg_addstr (reply, status);
        zmsg_addstr (reply, text);
        //  User-Id: the client's key, which the broker finds on every
        //  message of the connection (zframe_meta "User-Id").
        zframe_t *user = s_str_frame (streq (status, "200") ? key : "");
        zmsg_append (reply, &user);
        zmsg_addmem (reply, "", 0);
        if (zmsg_send (&reply, self->handler) != 0) {
            zmsg_destroy (&reply);
        }
    }
    zframe_destroy (&version);
    zframe_destroy (&seq);
    zframe_destroy (&identity);
    zframe_destroy (&credential);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&mechanism);
    zmsg_destroy (&request);
}

//  A refused handshake seen by a socket monitor: logged the first time per
//  kind, then summed up at most once a minute.
static void
s_failed (s_actor_t *self, int kind)
{
    s_kind_t *k = &self->kinds[kind];
    pthread_mutex_lock (&self->auth->lock);
    self->auth->refused++;
    pthread_mutex_unlock (&self->auth->lock);
    if (!k->logged) {
        k->logged = true;
        k->last_ms = sl_mono_ms ();
        sl_warn ("curve",
                 "refused a connection: %s (logged once; later ones are counted and "
                 "summed up each minute)",
                 k->what);
        return;
    }
    k->since++;
}

static void
s_summaries (s_actor_t *self, int64_t now)
{
    for (int i = 0; i < KIND_COUNT; i++) {
        s_kind_t *k = &self->kinds[i];
        if (k->since && now - k->last_ms >= S_SUMMARY_MS) {
            sl_warn ("curve", "refused %" PRIu64 " more connections in the last minute: %s",
                     k->since, k->what);
            k->since = 0;
            k->last_ms = now;
        }
    }
}

//  The connection cap (sl_curve_auth_set_max_connections) over every
//  socket watched with cut: a connection accepted past it is shut down at
//  once (libzmq owns the descriptor and closes it), so that a flood of idle
//  connections cannot take the broker's descriptors. Said once.
static void
s_cap (s_actor_t *self, int fd)
{
    pthread_mutex_lock (&self->auth->lock);
    uint32_t cap = self->auth->max_conns;
    pthread_mutex_unlock (&self->auth->lock);
    if (cap == 0) {
        return;
    }
    if (self->open <= cap) {
        return;
    }
    shutdown (fd, SHUT_RDWR);
    pthread_mutex_lock (&self->auth->lock);
    bool first = self->auth->conns_refused++ == 0;
    pthread_mutex_unlock (&self->auth->lock);
    if (first) {
        sl_warn ("broker",
                 "%u connections open: closing new ones (--max-connections; "
                 "logged once)",
                 cap);
    }
}

static void
s_monitor_read (s_actor_t *self, s_watch_t *watch)
{
    zmsg_t *event = zmsg_recv (watch->monitor);
    if (!event) {
        return;
    }
    zframe_t *first = zmsg_first (event);
    if (first && zframe_size (first) >= 6) {
        uint16_t id;
        uint32_t value;
        memcpy (&id, zframe_data (first), 2);
        memcpy (&value, zframe_data (first) + 2, 4);
        if (id == ZMQ_EVENT_ACCEPTED && watch->conns) {
            size_t before = sl_curve_conns_size (watch->conns);
            sl_curve_conns_add (watch->conns, (int)value);
            self->open += sl_curve_conns_size (watch->conns) - before;
            s_cap (self, (int)value);
        }
        else if ((id == ZMQ_EVENT_CLOSED || id == ZMQ_EVENT_DISCONNECTED) && watch->conns) {
            size_t before = sl_curve_conns_size (watch->conns);
            sl_curve_conns_remove (watch->conns, (int)value);
            self->open -= before - sl_curve_conns_size (watch->conns);
        }
        else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            s_failed (self, KIND_CUT);
        }
        else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
            s_failed (self, value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH ? KIND_PLAIN
                            : value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC    ? KIND_CRYPTO
                                                                                : KIND_OTHER);
        }
    }
    zmsg_destroy (&event);
}

//  After a revocation: every tracked connection is cut, so that each peer
//  must pass a new handshake (the revoked key's is refused).
static void
s_cut_revoked (s_actor_t *self)
{
    pthread_mutex_lock (&self->auth->lock);
    uint64_t revoked = self->auth->revoked;
    pthread_mutex_unlock (&self->auth->lock);
    if (revoked == self->revoked_seen) {
        return;
    }
    self->revoked_seen = revoked;
    size_t cut = 0;
    for (s_watch_t *watch = zlist_first (self->monitors); watch;
         watch = zlist_next (self->monitors)) {
        if (watch->conns) {
            //  Take in the connections reported but not read yet first.
            while (zsock_events (watch->monitor) & ZMQ_POLLIN) {
                s_monitor_read (self, watch);
            }
            self->open -= sl_curve_conns_size (watch->conns);
            cut += sl_curve_conns_cut (watch->conns);
        }
    }
    pthread_mutex_lock (&self->auth->lock);
    self->auth->cut += cut;
    pthread_mutex_unlock (&self->auth->lock);
    if (cut) {
        sl_info ("curve",
                 "cut %zu connection(s) after a revocation; allowed clients "
                 "reconnect (readers fill the gap from the log, sources resend what was not "
                 "confirmed), the revoked key is refused at its new handshake",
                 cut);
    }
}

static void
s_pipe_command (s_actor_t *self, bool *stop)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        *stop = true;
        return;
    }
    char *command = zmsg_popstr (msg);
    if (!command || streq (command, "$TERM")) {
        *stop = true;
    }
    else if (streq (command, "WATCH") || streq (command, "WATCH-CUT")) {
        char *endpoint = zmsg_popstr (msg);
        s_watch_t *watch = calloc (1, sizeof *watch);
        int rc = -1;
        if (watch) {
            watch->monitor = zsock_new (ZMQ_PAIR);
            watch->conns = streq (command, "WATCH-CUT") ? sl_curve_conns_new () : NULL;
        }
        if (endpoint && watch && watch->monitor && (streq (command, "WATCH") || watch->conns) &&
            zsock_connect (watch->monitor, "%s", endpoint) == 0 &&
            zpoller_add (self->poller, watch->monitor) == 0 &&
            zlist_append (self->monitors, watch) == 0) {
            watch = NULL;
            rc = 0;
        }
        s_watch_destroy (&watch);
        zstr_free (&endpoint);
        zsock_signal (self->pipe, (byte)(rc == 0 ? 0 : 1));
    }
    zstr_free (&command);
    zmsg_destroy (&msg);
}

static void
s_actor (zsock_t *pipe, void *arg)
{
    s_actor_t self = {.auth = arg, .pipe = pipe};
    self.kinds[KIND_PLAIN].what = "the client does not use CURVE (started without "
                                  "--curve-secret/--broker-key?)";
    self.kinds[KIND_CRYPTO].what = "the CURVE handshake could not be decrypted (the client "
                                   "has the wrong --broker-key?)";
    self.kinds[KIND_OTHER].what = "a CURVE handshake failed with a protocol error";
    //  A plain client may see the mechanism mismatch first and hang up
    //  before the broker does: then only this is seen.
    self.kinds[KIND_CUT].what = "the peer hung up during the handshake (a client without "
                                "CURVE, or not a ZeroMQ peer)";
    self.handler = zsock_new (ZMQ_REP);
    self.monitors = zlist_new ();
    self.logged = zhashx_new ();
    //  zactor_new takes the first signal whatever it says; the second
    //  carries the outcome to sl_curve_auth_new.
    zsock_signal (pipe, 0);
    if (!self.handler || !self.monitors || !self.logged ||
        zsock_bind (self.handler, S_ZAP_ENDPOINT) != 0) {
        zsock_signal (pipe, 1);
        goto done;
    }
    self.poller = zpoller_new (pipe, self.handler, NULL);
    if (!self.poller) {
        zsock_signal (pipe, 1);
        goto done;
    }
    //  SIGINT does not stop the handler: it serves until its owner says
    //  $TERM, so that handshakes during the broker's shutdown are answered.
    zpoller_set_nonstop (self.poller, true);
    zsock_signal (pipe, 0);
    bool stop = false;
    while (!stop) {
        void *which = zpoller_wait (self.poller, S_TICK_MS);
        if (which == pipe) {
            s_pipe_command (&self, &stop);
        }
        else if (which == self.handler) {
            s_zap_handle (&self);
        }
        else if (which) {
            for (s_watch_t *watch = zlist_first (self.monitors); watch;
                 watch = zlist_next (self.monitors)) {
                if (watch->monitor == which) {
                    s_monitor_read (&self, watch);
                    break;
                }
            }
        }
        int64_t now = sl_mono_ms ();
        s_summaries (&self, now);
        sl_curve_auth_reload (self.auth);
        s_cut_revoked (&self);
    }
done:
    zpoller_destroy (&self.poller);
    if (self.monitors) {
        s_watch_t *watch;
        while ((watch = zlist_pop (self.monitors))) {
            s_watch_destroy (&watch);
        }
        zlist_destroy (&self.monitors);
    }
    zhashx_destroy (&self.logged);
    if (self.handler) {
        zsock_unbind (self.handler, S_ZAP_ENDPOINT);
        zsock_destroy (&self.handler);
    }
}

sl_curve_auth_t *
sl_curve_auth_new (const char *allow_dir, int *err)
{
    int ignore;
    err = err ? err : &ignore;
    *err = 0;
    if (allow_dir) {
        struct stat st;
        if (stat (allow_dir, &st) != 0 || !S_ISDIR (st.st_mode)) {
            sl_error ("curve", "the allow directory %s does not exist or is not a directory",
                      allow_dir);
            *err = SL_ENOTFOUND;
            return NULL;
        }
    }
    sl_curve_auth_t *self = calloc (1, sizeof *self);
    if (!self) {
        *err = SL_ENOMEM;
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    if (allow_dir) {
        self->allow_dir = strdup (allow_dir);
        if (!self->allow_dir) {
            *err = SL_ENOMEM;
            goto fail;
        }
        sl_curve_auth_reload (self);
    }
    else {
        sl_warn ("curve", "any client key is accepted (--allow-any): traffic is encrypted but "
                          "anyone who has the broker's public key may connect; for testing only");
    }
    self->actor = zactor_new (s_actor, self);
    if (!self->actor || zsock_wait (self->actor) != 0) {
        sl_error ("curve", "cannot start the ZAP handler (is another one running in this "
                           "process?)");
        *err = SL_EINVAL;
        goto fail;
    }
    return self;

fail:
    sl_curve_auth_destroy (&self);
    return NULL;
}

void
sl_curve_auth_destroy (sl_curve_auth_t **self_p)
{
    sl_curve_auth_t *self = *self_p;
    if (!self) {
        return;
    }
    zactor_destroy (&self->actor);
    zhashx_destroy (&self->table);
    pthread_mutex_destroy (&self->lock);
    free (self->allow_dir);
    free (self);
    *self_p = NULL;
}

uint64_t
sl_curve_auth_cut (sl_curve_auth_t *self)
{
    pthread_mutex_lock (&self->lock);
    uint64_t n = self->cut;
    pthread_mutex_unlock (&self->lock);
    return n;
}

static int
s_watch (sl_curve_auth_t *self, zsock_t *sock, bool cut)
{
    if (!self || !sock) {
        return SL_EINVAL;
    }
    static uint32_t s_watches = 0;
    char endpoint[80];
    snprintf (endpoint, sizeof endpoint, "inproc://sl-curve-watch-%p-%u", (void *)sock,
              __atomic_fetch_add (&s_watches, 1, __ATOMIC_RELAXED));
    if (zmq_socket_monitor (
            zsock_resolve (sock), endpoint,
            ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                (cut ? ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_CLOSED | ZMQ_EVENT_DISCONNECTED : 0)) != 0) {
        return SL_EINVAL;
    }
    zstr_sendx (self->actor, cut ? "WATCH-CUT" : "WATCH", endpoint, NULL);
    return zsock_wait (self->actor) == 0 ? 0 : SL_EINVAL;
}

int
sl_curve_auth_watch (sl_curve_auth_t *self, zsock_t *sock)
{
    return s_watch (self, sock, false);
}

int
sl_curve_auth_watch_cut (sl_curve_auth_t *self, zsock_t *sock)
{
    return s_watch (self, sock, true);
}

void
sl_curve_auth_set_max_connections (sl_curve_auth_t *self, uint32_t cap)
{
    pthread_mutex_lock (&self->lock);
    self->max_conns = cap;
    pthread_mutex_unlock (&self->lock);
}

uint64_t
sl_curve_auth_conns_refused (sl_curve_auth_t *self)
{
    pthread_mutex_lock (&self->lock);
    uint64_t n = self->conns_refused;
    pthread_mutex_unlock (&self->lock);
    return n;
}
