/*  sl_curve_int.h - what sl_curve.c shares with sl_curve_auth.c. Nothing
    outside those two files includes it.
*/
#ifndef SL_CURVE_INT_H_INCLUDED
#define SL_CURVE_INT_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define SL_CURVE_NAME_MAX 200 //  longest key name (NAME of NAME.key)

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
