/*  sl_curve_int.h - what sl_curve.c, sl_curve_auth.c (the ZAP handler)
    and sl_curve_allow.c (the allow table) share. Nothing outside them
    includes it.
*/
#ifndef SL_CURVE_INT_H_INCLUDED
#define SL_CURVE_INT_H_INCLUDED

#include <czmq.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define SL_CURVE_NAME_MAX 200 //  longest key name (NAME of NAME.key)

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

//  The ZAP handler's decision for key (Z85) on a handshake (live: the live
//  feed's domain, repl: the replication journal's): true when admitted,
//  else false with *why (also counted as refused). Re-reads a changed
//  allow directory first.
bool sl_curve_auth_admit (struct _sl_curve_auth_t *self, const char *key, bool live, bool repl,
                          const char **why);

//  Reads one certificate file (at most SL_CURVE_FILE_MAX bytes): the
//  public key must be there, the secret key only when want_secret.
//  Metadata is copied into the certificate. NULL with *err on failure.
zcert_t *sl_curve_load_cert (const char *path, bool want_secret, int *err);

//  True when all 32 bytes of key are zero (no key).
bool sl_curve_all_zero (const uint8_t *key);

//  sl_curve_conns.c: the open connections of one watched socket, cut
//  (shutdown(2)) when a key is revoked. Used by the authenticator's thread.
typedef struct _sl_curve_conns_t sl_curve_conns_t;
sl_curve_conns_t *sl_curve_conns_new (void);
void sl_curve_conns_destroy (sl_curve_conns_t **self_p);
//  A connection accepted (its descriptor, from ZMQ_EVENT_ACCEPTED). 0,
//  SL_EINVAL (not a connected socket any more) or SL_ENOMEM.
int sl_curve_conns_add (sl_curve_conns_t *self, int fd);
//  A connection closed or disconnected.
void sl_curve_conns_remove (sl_curve_conns_t *self, int fd);
size_t sl_curve_conns_size (const sl_curve_conns_t *self);
//  Shuts down every connection still open with the ends it was accepted
//  with, forgets them all, and returns how many were cut.
size_t sl_curve_conns_cut (sl_curve_conns_t *self);

#endif
