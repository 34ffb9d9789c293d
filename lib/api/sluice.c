/*  sluice.c - the public C API's common part: error texts, version,
    security and the helpers its three roles share (sluice_int.h).
*/
#include "sluice_int.h"

#include <stdlib.h>
#include <string.h>

#include <czmq.h>

#include "sl_error.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_util.h"
#include "sl_version.h"

const char *
sluice_strerror (int code)
{
    return sl_strerror (code);
}

const char *
sluice_version (void)
{
    return SLUICE_VERSION;
}

//  CZMQ installs a SIGINT/SIGTERM handler with its first socket unless told
//  not to; in a library that would take Ctrl-C away from the application.
static void
s_process_setup (void)
{
    static bool s_done = false;
    if (!s_done) {
        zsys_handler_set (NULL);
        //  Errors reach the application as return codes; stderr gets only
        //  warnings (a refused CURVE handshake, retention skipping records).
        sl_log_set_level (SL_LOG_WARN);
        s_done = true;
    }
}

int
sluice_set_security (const char *curve_secret_file, const char *broker_key_file)
{
    s_process_setup ();
    return sl_client_set_security (curve_secret_file, broker_key_file);
}

bool
sl_api_name_ok (const char *name)
{
    return !name || sl_name_valid (name, strlen (name));
}

sl_client_t *
sl_api_client_new (const char *broker, const char *software, const char *producer,
                   const char *stream)
{
    s_process_setup ();
    sl_client_opts_t opts = {
        .broker = broker,
        .software = software,
        .producer = producer,
        .stream = stream,
    };
    return sl_client_new (&opts);
}

int
sl_api_hello (sl_client_t *client, int timeout_ms)
{
    if (timeout_ms <= 0) {
        timeout_ms = SLUICE_DEFAULT_TIMEOUT_MS;
    }
    return sl_client_hello (client, sl_mono_ms () + timeout_ms);
}

void
sl_api_record_fill (sluice_record_t *out, const sl_record_t *in)
{
    out->offset = in->offset;
    out->timestamp = in->timestamp;
    out->key = in->key;
    out->key_len = in->key ? in->key_len : 0;
    out->headers = in->headers;
    out->headers_len = in->headers ? in->headers_len : 0;
    out->value = in->value;
    out->value_len = in->value_len;
}

int
sl_api_json_value (sl_json_t *json, const char *text, sl_buf_t *scratch)
{
    sl_buf_reset (scratch);
    char why[128];
    return sl_json_to_msgpack (json, text, strlen (text), scratch, why, sizeof why);
}

int
sl_api_record_append (sl_buf_t *buf, const void *key, size_t key_len, const void *value,
                      size_t value_len)
{
    if (!value || value_len == 0 || key_len > UINT32_MAX) {
        return SL_EINVAL;
    }
    size_t used = 0;
    if (sl_mp_skip (value, value_len, SL_MP_MAX_DEPTH, &used) || used != value_len) {
        return SL_EINVAL;
    }
    return sl_record_encode (buf, sl_now_ms (), key, key ? (uint32_t)key_len : 0, false, NULL, 0,
                             value, value_len);
}

char *
sluice_record_value_json (const sluice_record_t *record)
{
    if (!record || !record->value) {
        return NULL;
    }
    sl_json_t *json = sl_json_new ();
    if (!json) {
        return NULL;
    }
    sl_buf_t out;
    sl_buf_init (&out, 0);
    char *text = NULL;
    if (sl_msgpack_to_json (json, record->value, record->value_len, &out) == 0 &&
        sl_buf_append (&out, "", 1) == 0) {
        text = (char *)out.data;
        out.data = NULL;
    }
    sl_buf_free (&out);
    sl_json_destroy (&json);
    return text;
}
