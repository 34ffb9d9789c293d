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

#include <dirent.h>
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
#define S_RIGHTS_MAX 1024     //  longest rights value kept

static const char *s_right_names[SL_RIGHT_COUNT] = {"publish", "read", "work", "manage",
                                                    "replicate"};

//  ---------------------------------------------------------------------
//  The allow table

typedef struct {
    char name[SL_CURVE_NAME_MAX + 1];
    bool restricted;              //  some right is listed: the others are denied
    char *rights[SL_RIGHT_COUNT]; //  patterns per sl_right_t; NULL = none (when restricted)
} s_entry_t;

static void
s_entry_destroy (s_entry_t **self_p)
{
    s_entry_t *self = *self_p;
    if (self) {
        for (int i = 0; i < SL_RIGHT_COUNT; i++) {
            free (self->rights[i]);
        }
        free (self);
        *self_p = NULL;
    }
}

struct _sl_curve_auth_t {
    char *allow_dir;      //  NULL: any key
    pthread_mutex_t lock; //  guards table, fingerprint, refused
    zhashx_t *table;      //  Z85 key -> s_entry_t
    uint64_t fingerprint;
    bool loaded;
    bool unreadable; //  the directory could not be read (logged once)
    uint64_t refused;
    uint64_t revoked;       //  revocations seen (a key lost access): cut generation
    uint64_t cut;           //  connections cut on revocations
    uint32_t max_conns;     //  connection cap over the cut-watched sockets, 0 = none
    uint64_t conns_refused; //  connections closed over that cap
    zactor_t *actor;
};

//  Whether entry may hold a live-feed (PUB) connection: any key mode, a key
//  with every right, or read = "*".
static bool
s_live_ok (const s_entry_t *entry)
{
    return !entry->restricted ||
           (entry->rights[SL_RIGHT_READ] && streq (entry->rights[SL_RIGHT_READ], "*"));
}

//  Whether entry may follow the journal: replicate must be granted in so
//  many words (a key file without rights metadata does not imply it).
static bool
s_replicate_ok (const s_entry_t *entry)
{
    return entry->rights[SL_RIGHT_REPLICATE] && streq (entry->rights[SL_RIGHT_REPLICATE], "*");
}

//  Keys of old that lost access in new: removed, no longer allowed on the
//  live feed, or no longer allowed to replicate. Their open connections
//  must go (sl_curve_auth_watch_cut).
static size_t
s_count_revoked (zhashx_t *old, zhashx_t *new)
{
    size_t n = 0;
    if (!old) {
        return 0;
    }
    for (s_entry_t *entry = zhashx_first (old); entry; entry = zhashx_next (old)) {
        const char *key = zhashx_cursor (old);
        s_entry_t *now = new ? zhashx_lookup (new, key) : NULL;
        if (!now || (s_live_ok (entry) && !s_live_ok (now)) ||
            (s_replicate_ok (entry) && !s_replicate_ok (now))) {
            n++;
        }
    }
    return n;
}

//  An order-independent fingerprint of the directory: a change of any
//  entry's name, size, inode, mtime or ctime (in nanoseconds) changes it.
static uint64_t
s_fingerprint (const char *dir_path, bool *ok)
{
    *ok = false;
    DIR *dir = opendir (dir_path);
    if (!dir) {
        return 0;
    }
    struct stat st;
    uint64_t sum = 0;
    if (fstat (dirfd (dir), &st) == 0) {
        sum = (uint64_t)st.st_mtim.tv_sec * 1000000007u + (uint64_t)st.st_mtim.tv_nsec;
    }
    struct dirent *de;
    for (int n = 0; n < 4 * SL_CURVE_KEYS_MAX && (de = readdir (dir)); n++) {
        if (de->d_name[0] == '.') {
            continue;
        }
        uint64_t h = 1469598103934665603ull;
        for (const char *c = de->d_name; *c; c++) {
            h = (h ^ (uint8_t)*c) * 1099511628211ull;
        }
        if (fstatat (dirfd (dir), de->d_name, &st, 0) == 0) {
            uint64_t parts[6] = {(uint64_t)st.st_size,        (uint64_t)st.st_ino,
                                 (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec,
                                 (uint64_t)st.st_ctim.tv_sec, (uint64_t)st.st_ctim.tv_nsec};
            for (int i = 0; i < 6; i++) {
                h = (h ^ parts[i]) * 1099511628211ull;
            }
        }
        sum += h;
    }
    closedir (dir);
    *ok = true;
    return sum;
}

//  Builds a table from the directory's NAME.key files. Files that cannot
//  be used are skipped with a warning naming them.
static zhashx_t *
s_table_load (const char *dir_path)
{
    zhashx_t *table = zhashx_new ();
    if (!table) {
        return NULL;
    }
    zhashx_set_destructor (table, (zhashx_destructor_fn *)s_entry_destroy);
    DIR *dir = opendir (dir_path);
    if (!dir) {
        return table;
    }
    struct dirent *de;
    for (int n = 0; n < 4 * SL_CURVE_KEYS_MAX && (de = readdir (dir)); n++) {
        size_t len = strlen (de->d_name);
        if (de->d_name[0] == '.' || len < 5 || strcmp (de->d_name + len - 4, ".key") != 0) {
            if (len > 11 && strcmp (de->d_name + len - 11, ".key_secret") == 0) {
                sl_warn ("curve",
                         "%s/%s is a secret key: it does not belong in the allow "
                         "directory (only NAME.key files are read); move it away",
                         dir_path, de->d_name);
            }
            continue;
        }
        char name[SL_CURVE_NAME_MAX + 1];
        if (len - 4 > SL_CURVE_NAME_MAX || !sl_name_valid (de->d_name, len - 4)) {
            sl_warn ("curve",
                     "%s/%s skipped: a key's file name must be NAME.key with NAME of "
                     "[A-Za-z0-9._-]",
                     dir_path, de->d_name);
            continue;
        }
        memcpy (name, de->d_name, len - 4);
        name[len - 4] = '\0';
        if (zhashx_size (table) >= SL_CURVE_KEYS_MAX) {
            sl_warn ("curve", "more than %d keys in %s; the rest are ignored", SL_CURVE_KEYS_MAX,
                     dir_path);
            break;
        }
        char *path = zsys_sprintf ("%s/%s", dir_path, de->d_name);
        int err = 0;
        zcert_t *cert = path ? sl_curve_load_cert (path, false, &err) : NULL;
        if (!cert) {
            sl_warn ("curve",
                     "%s skipped: %s (expected a certificate as `sluice keygen` "
                     "writes it)",
                     path ? path : de->d_name, sl_strerror (err));
            zstr_free (&path);
            continue;
        }
        s_entry_t *entry = calloc (1, sizeof *entry);
        bool ok = entry != NULL;
        if (entry) {
            strcpy (entry->name, name);
            for (int r = 0; r < SL_RIGHT_COUNT; r++) {
                const char *value = zcert_meta (cert, s_right_names[r]);
                if (value) {
                    entry->restricted = true;
                    if (strlen (value) > S_RIGHTS_MAX) {
                        sl_warn ("curve",
                                 "%s: %s is longer than %d characters; that right is "
                                 "not granted",
                                 path, s_right_names[r], S_RIGHTS_MAX);
                        continue;
                    }
                    if (r == SL_RIGHT_REPLICATE && !streq (value, "*")) {
                        sl_warn ("curve",
                                 "%s: replicate is \"*\" or absent (a replica copies every "
                                 "stream); \"%s\" is not granted",
                                 path, value);
                        continue;
                    }
                    entry->rights[r] = strdup (value);
                    ok = ok && entry->rights[r];
                }
            }
        }
        if (ok && zhashx_lookup (table, zcert_public_txt (cert))) {
            sl_warn ("curve",
                     "%s holds the same key as another file; the first one read "
                     "names it",
                     path);
            ok = false;
        }
        else if (ok) {
            ok = zhashx_insert (table, zcert_public_txt (cert), entry) == 0;
            if (ok) {
                entry = NULL;
            }
        }
        s_entry_destroy (&entry);
        zcert_destroy (&cert);
        zstr_free (&path);
    }
    closedir (dir);
    return table;
}

//  Re-reads the directory when its fingerprint changed. Called with the
//  lock held.
static void
s_reload_locked (sl_curve_auth_t *self)
{
    if (!self->allow_dir) {
        return;
    }
    bool ok;
    uint64_t fingerprint = s_fingerprint (self->allow_dir, &ok);
    if (self->loaded && ok && fingerprint == self->fingerprint) {
        return;
    }
    if (!ok) {
        //  Gone or unreadable: nobody is allowed until it is back.
        if (!self->unreadable) {
            sl_warn ("curve",
                     "cannot read the allow directory %s: %s; no key is allowed "
                     "until it can be read again",
                     self->allow_dir, strerror (errno));
            self->unreadable = true;
        }
        if (self->table && zhashx_size (self->table)) {
            zhashx_purge (self->table);
            self->revoked++;
        }
        self->loaded = false;
        return;
    }
    self->unreadable = false;
    zhashx_t *table = s_table_load (self->allow_dir);
    if (!table) {
        return; //  out of memory: keep the old table, try again
    }
    size_t before = self->table ? zhashx_size (self->table) : 0;
    size_t revoked = s_count_revoked (self->table, table);
    if (revoked) {
        self->revoked++;
        sl_info ("curve",
                 "%zu key(s) lost their access: their connections are closed (open "
                 "open connections are cut; allowed clients reconnect)",
                 revoked);
    }
    zhashx_destroy (&self->table);
    self->table = table;
    if (self->loaded) {
        sl_info ("curve", "allow directory %s changed: %zu keys allowed (%zu before)",
                 self->allow_dir, zhashx_size (table), before);
    }
    else {
        sl_info ("curve", "%zu client keys allowed from %s", zhashx_size (table), self->allow_dir);
    }
    self->fingerprint = fingerprint;
    self->loaded = true;
}

size_t
sl_curve_auth_reload (sl_curve_auth_t *self)
{
    pthread_mutex_lock (&self->lock);
    s_reload_locked (self);
    size_t n = self->table ? zhashx_size (self->table) : 0;
    pthread_mutex_unlock (&self->lock);
    return n;
}

uint64_t
sl_curve_auth_refused (sl_curve_auth_t *self)
{
    pthread_mutex_lock (&self->lock);
    uint64_t n = self->refused;
    pthread_mutex_unlock (&self->lock);
    return n;
}

//  Whether entry grants right on stream (a NULL entry: any key mode).
static bool
s_granted (const s_entry_t *entry, sl_right_t right, const char *stream)
{
    if (entry && right == SL_RIGHT_REPLICATE) {
        return s_replicate_ok (entry);
    }
    if (!entry || !entry->restricted || !stream) {
        return true;
    }
    return sl_curve_patterns_match (entry->rights[right], stream);
}

int
sl_curve_auth_check (sl_curve_auth_t *self, const char *key, sl_right_t right, const char *stream,
                     char *name, size_t name_size, const char **why)
{
    const char *ignore;
    why = why ? why : &ignore;
    *why = NULL;
    if (name && name_size) {
        snprintf (name, name_size, "%s", key ? key : "?");
    }
    if (!self->allow_dir) {
        return 0;
    }
    if (!key || (unsigned)right >= SL_RIGHT_COUNT) {
        *why = "no client key on this connection";
        return SL_EDENIED;
    }
    int rc = 0;
    pthread_mutex_lock (&self->lock);
    s_entry_t *entry = self->table ? zhashx_lookup (self->table, key) : NULL;
    if (!entry) {
        *why = "the key was removed from the allow list";
        rc = SL_EDENIED;
    }
    else {
        if (name && name_size) {
            snprintf (name, name_size, "%s", entry->name);
        }
        if (!s_granted (entry, right, stream)) {
            static const char *denials[SL_RIGHT_COUNT] = {
                "the key may not publish to this stream", "the key may not read this stream",
                "the key may not work in this group", "the key may not manage this",
                "the key lacks the replicate right"};
            *why = denials[right];
            rc = SL_EDENIED;
        }
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
sl_curve_auth_may_manage (sl_curve_auth_t *self, const char *key, const char *target, char *name,
                          size_t name_size, const char **why)
{
    return sl_curve_auth_check (self, key, SL_RIGHT_MANAGE, target ? target : "", name, name_size,
                                why);
}

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
        pthread_mutex_lock (&self->auth->lock);
        s_reload_locked (self->auth);
        if (!self->auth->allow_dir) {
            status = "200";
        }
        else {
            s_entry_t *entry = self->auth->table ? zhashx_lookup (self->auth->table, key) : NULL;
            if (!entry) {
                why = "not in the allow directory";
            }
            else if (live && !s_live_ok (entry)) {
                why = "its read right is restricted, so it may not subscribe to the live feed "
                      "(its readers use FETCH)";
            }
            else if (repl && !s_replicate_ok (entry)) {
                why = "it may not follow the replication journal: its key file lacks "
                      "replicate = \"*\"";
            }
            else {
                status = "200";
            }
        }
        if (!streq (status, "200")) {
            self->auth->refused++;
        }
        pthread_mutex_unlock (&self->auth->lock);
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
