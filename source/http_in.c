/*  http_in.c - sluice-source --http: POST /streams/NAME to a stream, answered
    after the broker's confirm (http_in.h).

    libmicrohttpd runs one thread per connection (at most max_connections).
    A request's body is collected up to max_body, converted whole (so a bad
    line rejects the request before anything is sent), then published as
    one batch under the one lock that guards the broker session: requests
    are published one after the other, each waits for its CONFIRM. The
    producer id is "http-" and random hex, one per process, with its own
    sequence per stream (at most S_MAX_STREAMS streams per process).
*/
#include "http_in.h"

#include <czmq.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sl_batch.h"
#include "sl_buf.h"
#include "sl_client.h"
#include "sl_error.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_util.h"
#include "sl_version.h"

#define S_MAX_STREAMS 1024
#define S_MAX_TOKENS 1024
#define S_RESEND_MS 2000
#define S_RECORD_SLACK 32

typedef struct {
    char name[SL_NAME_MAX + 1];
    uint64_t seq;
} s_stream_t;

typedef struct {
    const sl_http_in_config_t *cfg;
    pthread_mutex_t lock; //  the broker session and the tables below
    sl_client_t *client;
    char producer[SL_NAME_MAX + 1];
    uint64_t max_batch_bytes;
    uint32_t max_batch_records;
    uint32_t max_depth;
    s_stream_t *streams;
    uint32_t nstreams;
    char **tokens;
    uint32_t ntokens;
} s_server_t;

//  One request being received.
typedef struct {
    sl_buf_t body;
    bool too_big;
} s_request_t;

void
sl_http_in_config_defaults (sl_http_in_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->max_body = 1u << 20;
    cfg->max_connections = 64;
    cfg->timeout_ms = 10000;
    cfg->connect_timeout_ms = 30000;
}

static enum MHD_Result
s_reply (struct MHD_Connection *conn, unsigned int status, const char *json)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer (strlen (json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        return MHD_NO;
    }
    MHD_add_response_header (resp, "Content-Type", "application/json");
    if (status == MHD_HTTP_UNAUTHORIZED) {
        MHD_add_response_header (resp, "WWW-Authenticate", "Bearer");
    }
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE) {
        MHD_add_response_header (resp, "Retry-After", "1");
    }
    enum MHD_Result rc = MHD_queue_response (conn, status, resp);
    MHD_destroy_response (resp);
    return rc;
}

//  {"error":"<text>"} with the text escaped for JSON.
static enum MHD_Result s_error (struct MHD_Connection *conn, unsigned int status, const char *fmt,
                                ...) __attribute__ ((format (printf, 3, 4)));

static enum MHD_Result
s_error (struct MHD_Connection *conn, unsigned int status, const char *fmt, ...)
{
    char text[512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    char json[1200];
    size_t n = (size_t)snprintf (json, sizeof json, "{\"error\":\"");
    for (const char *p = text; *p && n + 8 < sizeof json; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            json[n++] = '\\';
            json[n++] = (char)c;
        }
        else if (c < 0x20) {
            n += (size_t)snprintf (json + n, sizeof json - n, "\\u%04x", c);
        }
        else {
            json[n++] = (char)c;
        }
    }
    snprintf (json + n, sizeof json - n, "\"}\n");
    return s_reply (conn, status, json);
}

//  Loads one token per line (blank lines and lines starting with '#'
//  skipped). 0 or SL_EIO / SL_EINVAL (logged).
static int
s_load_tokens (s_server_t *self, const char *path)
{
    FILE *in = fopen (path, "re");
    if (!in) {
        sl_error ("http", "cannot read the token file %s: %s", path, strerror (errno));
        return SL_EIO;
    }
    self->tokens = calloc (S_MAX_TOKENS, sizeof *self->tokens);
    char line[1024];
    int rc = self->tokens ? 0 : SL_ENOMEM;
    while (rc == 0 && fgets (line, sizeof line, in)) {
        size_t n = strcspn (line, "\r\n");
        line[n] = 0;
        if (n == 0 || line[0] == '#') {
            continue;
        }
        if (self->ntokens == S_MAX_TOKENS || !(self->tokens[self->ntokens] = strdup (line))) {
            rc = SL_EINVAL;
            break;
        }
        self->ntokens++;
    }
    fclose (in);
    if (rc == 0 && self->ntokens == 0) {
        rc = SL_EINVAL;
    }
    if (rc) {
        sl_error ("http", "%s: expected 1-%d tokens, one per line", path, S_MAX_TOKENS);
    }
    return rc;
}

//  Compares in time that depends on the lengths only, not on where they differ.
static bool
s_token_equal (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la && i < lb; i++) {
        diff |= (unsigned char)(a[i] ^ b[i]);
    }
    return diff == 0;
}

//  0 allowed, else the HTTP status to answer (401 or 403).
static unsigned int
s_auth (s_server_t *self, struct MHD_Connection *conn)
{
    if (!self->ntokens) {
        return 0;
    }
    const char *auth = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Authorization");
    if (!auth || strncasecmp (auth, "Bearer ", 7) != 0 || !auth[7]) {
        return MHD_HTTP_UNAUTHORIZED;
    }
    bool ok = false;
    for (uint32_t i = 0; i < self->ntokens; i++) {
        ok |= s_token_equal (auth + 7, self->tokens[i]);
    }
    return ok ? 0 : MHD_HTTP_FORBIDDEN;
}

//  Appends one value (msgpack) as a record of the batch.
static int
s_add (s_server_t *self, sl_json_t *json, sl_buf_t *batch, sl_buf_t *scratch, const uint8_t *value,
       size_t len, int64_t now)
{
    const uint8_t *key = NULL;
    uint32_t key_len = 0;
    if (self->cfg->key_field) {
        sl_buf_reset (scratch);
        if (sl_json_field_key (json, value, len, self->cfg->key_field, scratch, &key, &key_len) !=
            1) {
            key = NULL;
            key_len = 0;
        }
    }
    return sl_record_encode (batch, now, key, key_len, false, NULL, 0, value, len);
}

//  Converts a body into a batch. 0 with *count records, or the HTTP status
//  with the reason in why.
static unsigned int
s_convert (s_server_t *self, const sl_buf_t *body, sl_buf_t *batch, uint32_t *count, char *why,
           size_t why_size)
{
    sl_json_t *json = sl_json_new ();
    sl_buf_t value, scratch;
    sl_buf_init (&value, 0);
    sl_buf_init (&scratch, 0);
    unsigned int status = json ? 0 : MHD_HTTP_INTERNAL_SERVER_ERROR;
    int64_t now = sl_now_ms ();
    const char *text = (const char *)body->data;
    size_t len = body->len, at = 0;
    while (at < len &&
           (text[at] == ' ' || text[at] == '\t' || text[at] == '\r' || text[at] == '\n')) {
        at++;
    }
    char reason[160];
    *count = 0;
    //  One JSON array: its elements are the records.
    if (status == 0 && at < len && text[at] == '[' &&
        sl_json_to_msgpack (json, text, len, &value, reason, sizeof reason) == 0) {
        const uint8_t *p = value.data, *end = value.data + value.len;
        uint32_t n = 0;
        if (sl_mp_read_array (&p, end, &n) != 0) {
            status = MHD_HTTP_BAD_REQUEST;
            snprintf (why, why_size, "body: not an array");
        }
        for (uint32_t i = 0; status == 0 && i < n; i++) {
            size_t used = 0;
            if (sl_mp_skip (p, (size_t)(end - p), self->max_depth, &used) != 0) {
                status = MHD_HTTP_BAD_REQUEST;
                snprintf (why, why_size, "element %u: nesting deeper than the broker accepts",
                          i + 1);
                break;
            }
            if (s_add (self, json, batch, &scratch, p, used, now) != 0) {
                status = MHD_HTTP_INTERNAL_SERVER_ERROR;
                snprintf (why, why_size, "out of memory");
            }
            p += used;
            (*count)++;
        }
    }
    //  Otherwise JSON lines: the first bad one rejects the request.
    if (status == 0 && batch->len == 0 && *count == 0) {
        size_t start = 0;
        for (uint64_t line = 1; status == 0 && start < len; line++) {
            const char *nl = memchr (text + start, '\n', len - start);
            size_t stop = nl ? (size_t)(nl - text) : len;
            size_t i = start;
            while (i < stop && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r')) {
                i++;
            }
            if (i < stop) {
                sl_buf_reset (&value);
                if (sl_json_to_msgpack (json, text + start, stop - start, &value, reason,
                                        sizeof reason) != 0) {
                    status = MHD_HTTP_BAD_REQUEST;
                    snprintf (why, why_size, "line %" PRIu64 ": %s", line, reason);
                    break;
                }
                if (s_add (self, json, batch, &scratch, value.data, value.len, now) != 0) {
                    status = MHD_HTTP_INTERNAL_SERVER_ERROR;
                    snprintf (why, why_size, "out of memory");
                    break;
                }
                (*count)++;
            }
            start = stop + 1;
        }
    }
    if (status == 0 && *count == 0) {
        status = MHD_HTTP_BAD_REQUEST;
        snprintf (why, why_size, "no records in the body");
    }
    if (status == 0 && *count > self->max_batch_records) {
        status = MHD_HTTP_CONTENT_TOO_LARGE;
        snprintf (why, why_size, "%u records: at most %u per request", *count,
                  self->max_batch_records);
    }
    if (status == 0 && batch->len > self->max_batch_bytes) {
        status = MHD_HTTP_CONTENT_TOO_LARGE;
        snprintf (why, why_size, "%zu bytes of records: at most %" PRIu64 " per request",
                  batch->len, self->max_batch_bytes);
    }
    sl_buf_free (&value);
    sl_buf_free (&scratch);
    sl_json_destroy (&json);
    return status;
}

static s_stream_t *
s_stream (s_server_t *self, const char *name)
{
    for (uint32_t i = 0; i < self->nstreams; i++) {
        if (strcmp (self->streams[i].name, name) == 0) {
            return &self->streams[i];
        }
    }
    if (self->nstreams == S_MAX_STREAMS) {
        return NULL;
    }
    s_stream_t *s = &self->streams[self->nstreams++];
    snprintf (s->name, sizeof s->name, "%s", name);
    s->seq = 0;
    return s;
}

//  Publishes one batch and waits for its CONFIRM; the caller holds the
//  lock. 0 with the first offset and the records appended, SL_ECLOSED (the
//  broker is not connected: nothing sent), SL_ETIMEOUT (sent, not
//  confirmed) or the broker's error code.
static int
s_publish (s_server_t *self, s_stream_t *stream, const sl_buf_t *batch, uint32_t count,
           uint64_t *first, uint32_t *appended, char *why, size_t why_size)
{
    sl_msg_t reply;
    sl_msg_init (&reply, SL_CMD_NONE);
    //  Take what waits (stray confirms, connection events) before judging the link.
    while (sl_client_recv (self->client, &reply, NULL, 0) == 0) {
    }
    if (!sl_client_connected (self->client)) {
        sl_msg_reset (&reply);
        return SL_ECLOSED;
    }
    zframe_t *frame = zframe_new (batch->data, batch->len);
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_PUBLISH);
    snprintf (msg.stream, sizeof msg.stream, "%s", stream->name);
    snprintf (msg.name, sizeof msg.name, "%s", self->producer);
    msg.seq = stream->seq + 1;
    msg.count = count;
    int64_t deadline = sl_mono_ms () + self->cfg->timeout_ms;
    int64_t resend_at = 0;
    uint32_t connects = sl_client_connects (self->client);
    int rc = SL_ETIMEOUT;
    while (frame) {
        int64_t now = sl_mono_ms ();
        if (now >= deadline) {
            break;
        }
        if (sl_client_connects (self->client) != connects) {
            connects = sl_client_connects (self->client);
            resend_at = 0; //  a new connection: what was in flight may be lost
        }
        if (now >= resend_at) {
            if (sl_client_send_frame (self->client, &msg, frame) == 0) {
                resend_at = now + S_RESEND_MS;
            }
            else {
                resend_at = now + 100;
            }
        }
        int64_t wait = (resend_at < deadline ? resend_at : deadline) - now;
        if (sl_client_recv (self->client, &reply, NULL, (int)(wait > 0 ? wait : 0)) != 0) {
            continue;
        }
        if (strcmp (reply.stream, stream->name) != 0 || strcmp (reply.name, self->producer) != 0) {
            continue;
        }
        if (reply.cmd == SL_CMD_CONFIRM && reply.seq >= msg.seq + count - 1) {
            *first = reply.offset;
            *appended = reply.count;
            stream->seq = msg.seq + count - 1;
            rc = 0;
            break;
        }
        if (reply.cmd == SL_CMD_ERROR) {
            int code = reply.code > 0 && reply.code < 1000 ? -reply.code : SL_EPROTO;
            if (code == SL_ESEQ && reply.seq >= 1) {
                //  A batch given up on earlier (504) never arrived: number this one
                //  where the broker expects it.
                stream->seq = reply.seq - 1;
                msg.seq = reply.seq;
                resend_at = 0;
                continue;
            }
            if (sl_error_retryable (code)) {
                resend_at = now + 200;
                continue;
            }
            snprintf (why, why_size, "broker: %.200s", reply.text);
            rc = code;
            break;
        }
    }
    zframe_destroy (&frame);
    sl_msg_reset (&msg);
    sl_msg_reset (&reply);
    return rc;
}

static enum MHD_Result
s_handle (s_server_t *self, struct MHD_Connection *conn, const char *stream_name, s_request_t *req)
{
    if (req->too_big) {
        return s_error (conn, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than %" PRIu64 " bytes",
                        self->cfg->max_body);
    }
    sl_buf_t batch;
    sl_buf_init (&batch, 0);
    uint32_t count = 0;
    char why[256] = "";
    unsigned int status = s_convert (self, &req->body, &batch, &count, why, sizeof why);
    if (status) {
        sl_buf_free (&batch);
        return s_error (conn, status, "%s", why);
    }
    pthread_mutex_lock (&self->lock);
    s_stream_t *stream = s_stream (self, stream_name);
    uint64_t first = 0;
    uint32_t appended = 0;
    int rc = stream ? s_publish (self, stream, &batch, count, &first, &appended, why, sizeof why)
                    : SL_ETOOBIG;
    pthread_mutex_unlock (&self->lock);
    sl_buf_free (&batch);
    if (rc == SL_ETOOBIG) {
        return s_error (conn, MHD_HTTP_TOO_MANY_REQUESTS, "this source serves at most %d streams",
                        S_MAX_STREAMS);
    }
    if (rc == SL_ECLOSED) {
        return s_error (conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                        "the broker is not connected: nothing was stored, try again");
    }
    if (rc == SL_ETIMEOUT) {
        return s_error (conn, MHD_HTTP_GATEWAY_TIMEOUT,
                        "the broker did not confirm within %" PRId64 " ms: the records may or "
                        "may not be stored",
                        self->cfg->timeout_ms);
    }
    if (rc) {
        return s_error (conn, MHD_HTTP_BAD_GATEWAY, "%s", why);
    }
    char json[512];
    if (appended == count) {
        snprintf (json, sizeof json,
                  "{\"stream\":\"%s\",\"records\":%u,\"first\":%" PRIu64 ",\"last\":%" PRIu64 "}\n",
                  stream_name, count, first, first + count - 1);
    }
    else {
        //  Stored by an earlier send whose confirm was lost: the offsets are not known here.
        snprintf (json, sizeof json,
                  "{\"stream\":\"%s\",\"records\":%u,\"first\":null,\"last\":null}\n", stream_name,
                  count);
    }
    return s_reply (conn, MHD_HTTP_OK, json);
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void)version;
    s_server_t *self = cls;
    const char *prefix = "/streams/";
    const char *name = strncmp (url, prefix, strlen (prefix)) == 0 ? url + strlen (prefix) : NULL;
    s_request_t *req = *con_cls;
    if (!req) {
        if (!name || !sl_name_valid (name, strlen (name))) {
            return s_error (conn, MHD_HTTP_NOT_FOUND,
                            "POST /streams/NAME, NAME 1-%d characters "
                            "of A-Z a-z 0-9 . _ -",
                            SL_NAME_MAX);
        }
        if (strcmp (method, "POST") != 0) {
            return s_error (conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only POST");
        }
        unsigned int denied = s_auth (self, conn);
        if (denied) {
            return s_error (conn, denied,
                            denied == MHD_HTTP_UNAUTHORIZED ? "a bearer token is required"
                                                            : "this token is not allowed");
        }
        const char *length = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Content-Length");
        uint64_t n = 0;
        if (length && sl_parse_u64 (length, &n) == 0 && n > self->cfg->max_body) {
            return s_error (conn, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than %" PRIu64 " bytes",
                            self->cfg->max_body);
        }
        req = calloc (1, sizeof *req);
        if (!req) {
            return MHD_NO;
        }
        sl_buf_init (&req->body, 0);
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!req->too_big && req->body.len + *upload_data_size <= self->cfg->max_body) {
            if (sl_buf_append (&req->body, upload_data, *upload_data_size)) {
                req->too_big = true;
            }
        }
        else {
            req->too_big = true; //  the rest is read and dropped; 413 at the end
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return s_handle (self, conn, name, req);
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)conn;
    (void)code;
    s_request_t *req = *con_cls;
    if (req) {
        sl_buf_free (&req->body);
        free (req);
        *con_cls = NULL;
    }
}

//  HOST:PORT to a socket address (the last ':' separates the port).
static int
s_address (const char *listen, struct sockaddr_storage *addr)
{
    char host[256];
    const char *colon = strrchr (listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host) {
        return SL_EINVAL;
    }
    memcpy (host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    char *h = host;
    if (h[0] == '[' && h[strlen (h) - 1] == ']') {
        h[strlen (h) - 1] = 0;
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo (h, colon + 1, &hints, &res) != 0 || !res) {
        return SL_EINVAL;
    }
    memcpy (addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo (res);
    return 0;
}

int
sl_http_in_run (const sl_http_in_config_t *cfg)
{
    s_server_t server = {.cfg = cfg};
    s_server_t *self = &server;
    struct sockaddr_storage addr;
    memset (&addr, 0, sizeof addr);
    if (!cfg->listen || s_address (cfg->listen, &addr) != 0) {
        sl_error ("http", "--http %s: expected HOST:PORT", cfg->listen ? cfg->listen : "");
        return 2;
    }
    int code = 1;
    struct MHD_Daemon *daemon = NULL;
    pthread_mutex_init (&self->lock, NULL);
    self->streams = calloc (S_MAX_STREAMS, sizeof *self->streams);
    if (!self->streams) {
        goto done;
    }
    if (cfg->token_file && s_load_tokens (self, cfg->token_file) != 0) {
        code = 2;
        goto done;
    }
    uint8_t rnd[8] = {0};
    if (getrandom (rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        uint64_t mix = (uint64_t)sl_now_ms () ^ ((uint64_t)getpid () << 32);
        memcpy (rnd, &mix, sizeof rnd);
    }
    snprintf (self->producer, sizeof self->producer, "http-%02x%02x%02x%02x%02x%02x%02x%02x",
              rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    sl_client_opts_t opts = {.broker = cfg->broker,
                             .software = "sluice-source/" SLUICE_VERSION,
                             .timeout_ms = 5000,
                             .heartbeat_ms = 1000};
    self->client = sl_client_new (&opts);
    if (!self->client) {
        sl_error ("http", "cannot use broker address '%s'", cfg->broker);
        code = 2;
        goto done;
    }
    int64_t deadline = cfg->connect_timeout_ms > 0 ? sl_mono_ms () + cfg->connect_timeout_ms : 0;
    if (sl_client_hello (self->client, deadline) != 0) {
        sl_error ("http", "broker %s did not answer: is sluice-broker running there?", cfg->broker);
        goto done;
    }
    const sl_msg_t *welcome = sl_client_welcome (self->client);
    self->max_batch_bytes = welcome->max_batch_bytes ? welcome->max_batch_bytes : 16u << 20;
    self->max_batch_records = welcome->max_batch_records ? welcome->max_batch_records : 100000;
    self->max_depth = welcome->max_depth ? welcome->max_depth : SL_MP_MAX_DEPTH;
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_access, self, MHD_OPTION_SOCK_ADDR,
                               (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
                               (unsigned int)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
                               (unsigned int)30, MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
                               MHD_OPTION_END);
    if (!daemon) {
        sl_error ("http", "cannot listen on %s (in use? a valid address?)", cfg->listen);
        goto done;
    }
    sl_info ("http", "listening on http://%s/streams/NAME (broker %s, producer %s)", cfg->listen,
             cfg->broker, self->producer);
    while (!zsys_interrupted && !(cfg->stop && *cfg->stop)) {
        //  The session's heartbeats are read while requests publish; when idle, here.
        pthread_mutex_lock (&self->lock);
        sl_msg_t reply;
        sl_msg_init (&reply, SL_CMD_NONE);
        while (sl_client_recv (self->client, &reply, NULL, 0) == 0) {
        }
        sl_msg_reset (&reply);
        pthread_mutex_unlock (&self->lock);
        zclock_sleep (200);
    }
    sl_info ("http", "stopping");
    code = 0;

done:
    if (daemon) {
        MHD_stop_daemon (daemon);
    }
    sl_client_destroy (&self->client);
    for (uint32_t i = 0; i < self->ntokens; i++) {
        free (self->tokens[i]);
    }
    free (self->tokens);
    free (self->streams);
    pthread_mutex_destroy (&self->lock);
    return code;
}
