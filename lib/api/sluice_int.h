/*  sluice_int.h - what the three roles of the public C API (sluice.h)
    share inside libsluice: connecting a client and filling a public record
    from a decoded one. Not installed.
*/
#ifndef SLUICE_INT_H_INCLUDED
#define SLUICE_INT_H_INCLUDED

#include "sluice/sluice.h"

#include "sl_batch.h"
#include "sl_client.h"
#include "sl_json.h"

#define SLUICE_DEFAULT_TIMEOUT_MS 5000

//  A client for broker, with the library's process set-up done first (no
//  CZMQ signal handler: the application owns SIGINT). NULL on failure.
sl_client_t *sl_api_client_new (const char *broker, const char *software, const char *producer,
                                const char *stream);

//  HELLO with a deadline timeout_ms from now (-1 or 0: the default). 0 or
//  an SL_E* code.
int sl_api_hello (sl_client_t *client, int timeout_ms);

//  Copies a decoded record's fields into a public one (pointers borrowed).
void sl_api_record_fill (sluice_record_t *out, const sl_record_t *in);

//  Appends a record with a msgpack value (checked to be exactly one
//  object) to buf. 0, SL_EINVAL, SL_ETOOBIG, SL_ENOMEM.
int sl_api_record_append (sl_buf_t *buf, const void *key, size_t key_len, const void *value,
                          size_t value_len);

//  The *_json calls' value: JSON text as msgpack in scratch (reset first).
//  0 or SL_EJSON (and the codes of sl_json_to_msgpack).
int sl_api_json_value (sl_json_t *json, const char *text, sl_buf_t *scratch);

//  True when name is NULL or a valid name.
bool sl_api_name_ok (const char *name);

#endif
