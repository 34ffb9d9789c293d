/*  sl_curve_int.h - what sl_curve.c shares with sl_curve_auth.c. Nothing
    outside those two files includes it.
*/
#ifndef SL_CURVE_INT_H_INCLUDED
#define SL_CURVE_INT_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define SL_CURVE_NAME_MAX 200      //  longest key name (NAME of NAME.key)

//  Reads one certificate file (at most SL_CURVE_FILE_MAX bytes): the
//  public key must be there, the secret key only when want_secret.
//  Metadata is copied into the certificate. NULL with *err on failure.
zcert_t *sl_curve_load_cert(const char *path, bool want_secret, int *err);

//  True when all 32 bytes of key are zero (no key).
bool sl_curve_all_zero(const uint8_t *key);

#endif
