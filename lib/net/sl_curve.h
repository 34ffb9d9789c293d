/*  sl_curve.h - CURVE security: key files, socket setup and the broker's
    authenticator (docs/security.md, docs/PROTOCOL.md §12).

    Keys are CZMQ certificates as zcert_save writes them: NAME.key holds the
    public key (and may hold metadata), NAME.key_secret both keys. The
    broker's sockets are CURVE servers; every client socket is a CURVE
    client that knows the broker's public key. The authenticator is the ZAP
    handler of the process (one per ZeroMQ context): it accepts a client key
    only when a NAME.key file in the allow directory holds it, re-reading
    the directory whenever it changes, and it holds each key's per-stream
    rights, read from the metadata of that file:

        metadata
            publish = "orders.*,logs"
            read = "*"
            work = ""
            manage = "orders.*"
            replicate = "*"

    A file with none of publish/read/work/manage/replicate gives its key every
    client right but not replicate; a file with any of them gives only the
    rights it lists (a missing one grants nothing). Each value is a
    comma-separated list of fnmatch(3) patterns, except replicate, which is
    "*" or nothing: a replica copies every stream, so the right is all or
    none, and it is never implied (a follower's acks decide what
    --sync-replicas confirms).
*/
#ifndef SL_CURVE_H_INCLUDED
#define SL_CURVE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

//  ZAP domains of the broker's sockets: commands (ROUTER) and the live
//  feed (PUB). A key whose read right is restricted is refused on the live
//  feed, which cannot filter per subscriber; its readers poll with FETCH.
#define SL_CURVE_DOMAIN "sluice"
#define SL_CURVE_DOMAIN_LIVE "sluice-live"
//  ZAP domain of the replication socket (--replication): only keys holding
//  the replicate right pass its handshake.
#define SL_CURVE_DOMAIN_REPL "sluice-repl"

//  Largest key file read (a certificate is about 400 bytes).
#define SL_CURVE_FILE_MAX (64u << 10)
//  Most keys an allow directory may hold; more are ignored, with a warning.
#define SL_CURVE_KEYS_MAX 10000

typedef enum {
    SL_RIGHT_PUBLISH = 0,   //  PUBLISH to a stream
    SL_RIGHT_READ = 1,      //  SEEK, FETCH, COMMIT (reader checkpoints), live feed
    SL_RIGHT_WORK = 2,      //  JOIN (and so create) a group: matched against the group's name
    SL_RIGHT_MANAGE = 3,    //  administer a group or stream by name (delete a group, ...)
    SL_RIGHT_REPLICATE = 4, //  follow the journal at --replication (every stream)
} sl_right_t;

#define SL_RIGHT_COUNT 5

//  Loads a key pair: path is NAME.key_secret (NAME.key is accepted and its
//  _secret sibling read). Warns when the file can be read by group or
//  others. NULL with *err = SL_ENOTFOUND (no such file), SL_EINVAL (not a
//  certificate, or no secret key in it) or SL_ETOOBIG.
zcert_t *sl_curve_load_secret (const char *path, int *err);

//  Loads a public key from NAME.key (a secret file gives its public half).
//  NULL with *err as above.
zcert_t *sl_curve_load_public (const char *path, int *err);

//  Writes a new key pair as BASE.key (mode 0644) and BASE.key_secret (mode
//  0600), with metadata name = basename of BASE. Never overwrites: 0,
//  SL_EINVAL (BASE empty or a file exists; *why says which) or SL_EIO.
int sl_curve_keygen (const char *base, const char **why);

//  Makes sock a CURVE server with cert's keys in ZAP domain. Call before
//  bind. 0 or SL_EINVAL (cert has no secret key).
int sl_curve_server (zsock_t *sock, zcert_t *cert, const char *domain);

//  Makes sock a CURVE client with cert's keys, for a server whose public
//  key is in server. Call before connect. 0 or SL_EINVAL.
int sl_curve_client (zsock_t *sock, zcert_t *cert, zcert_t *server);

//  ---------------------------------------------------------------------
//  The broker's authenticator

typedef struct _sl_curve_auth_t sl_curve_auth_t;

//  Starts the ZAP handler. allow_dir NULL accepts any CURVE key (testing
//  only: encryption without authentication). Must exist before the first
//  CURVE server socket binds. NULL on failure with *err: SL_ENOTFOUND (the
//  directory is missing), SL_EINVAL (another ZAP handler runs) or SL_ENOMEM.
sl_curve_auth_t *sl_curve_auth_new (const char *allow_dir, int *err);
void sl_curve_auth_destroy (sl_curve_auth_t **self_p);

//  Watches sock (a CURVE server, before bind) for handshakes that fail
//  before ZAP is asked: a client without CURVE, or with the wrong broker
//  key. Each kind is logged once, then summed up at most once a minute.
//  0 or SL_EINVAL.
int sl_curve_auth_watch (sl_curve_auth_t *self, zsock_t *sock);

//  May the key (Z85 text, as ZAP's User-Id) do right on stream (NULL: is
//  the key still allowed at all)? Always 0 with any key allowed. 0, or
//  SL_EDENIED with *why set to a static reason (the key was removed from
//  the allow list, or it lacks the right). name (may be NULL) receives the
//  key's name (its file name without .key). Thread-safe.
int sl_curve_auth_check (sl_curve_auth_t *self, const char *key, sl_right_t right,
                         const char *stream, char *name, size_t name_size, const char **why);

//  May the key manage target (a stream name for stream and reader
//  operations, a group name for group operations)? The `manage` metadata
//  key lists the patterns; a key file with no rights metadata at all may
//  manage everything, as it may do everything else. 0 or SL_EDENIED with
//  *why, as sl_curve_auth_check.
int sl_curve_auth_may_manage (sl_curve_auth_t *self, const char *key, const char *target,
                              char *name, size_t name_size, const char **why);

//  Re-reads the allow directory now if it changed (the handler also does
//  it before every handshake and four times a second). Returns the number
//  of keys allowed.
size_t sl_curve_auth_reload (sl_curve_auth_t *self);

//  Like sl_curve_auth_watch, and also tracks sock's accepted connections:
//  when a key loses its access (its file removed, or its read right
//  restricted), every connection of sock is shut down (shutdown(2)), so
//  that allowed peers reconnect and pass the handshake again while the
//  revoked key is refused at its new one. ZAP runs only at the handshake
//  and neither socket can say which connection holds which key (ZAP sees
//  the peer's address without its port), so all of them are cut: readers
//  refill what they miss from the log (§6.4), sources resend what was not
//  confirmed, members rejoin and their leases are handed out again. The
//  broker watches both its sockets this way. 0 or SL_EINVAL.
int sl_curve_auth_watch_cut (sl_curve_auth_t *self, zsock_t *sock);

//  A cap on the connections open at once over every socket watched with
//  sl_curve_auth_watch_cut: one accepted past it is shut down at once. A
//  socket has one monitor, so with CURVE on the broker's connection cap
//  (--max-connections) is kept here. 0 = no cap (the default).
void sl_curve_auth_set_max_connections (sl_curve_auth_t *self, uint32_t cap);

//  Connections closed so far over that cap.
uint64_t sl_curve_auth_conns_refused (sl_curve_auth_t *self);

//  Connections cut so far because a key was revoked.
uint64_t sl_curve_auth_cut (sl_curve_auth_t *self);

//  Connections refused so far (ZAP denials and failed handshakes seen).
uint64_t sl_curve_auth_refused (sl_curve_auth_t *self);

//  Matches stream against a comma-separated list of fnmatch(3) patterns.
bool sl_curve_patterns_match (const char *patterns, const char *stream);

#endif
