/*  http.c - the broker's optional HTTP server (http.h).

    Every answer comes from the last snapshot of the progress document,
    copied in under a mutex by the broker's loop; the handler decodes it
    (lib/codec/sl_stat.c, which trusts nothing, though the bytes are our own) and
    writes JSON, Prometheus text or the health verdict.
*/
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_buf.h"
#include "sl_error.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_stat.h"
#include "sl_util.h"

struct _sl_http_t {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    uint8_t *doc; //  the snapshot, or NULL before the first
    size_t len;
    int64_t at; //  when it came (mono ms)
    uint16_t port;
};

static enum MHD_Result
s_send (struct MHD_Connection *conn, unsigned status, const char *type, const void *body,
        size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer (len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        return MHD_NO;
    }
    MHD_add_response_header (resp, "Content-Type", type);
    MHD_add_response_header (resp, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response (conn, status, resp);
    MHD_destroy_response (resp);
    return rc;
}

static enum MHD_Result
s_text (struct MHD_Connection *conn, unsigned status, const char *text)
{
    return s_send (conn, status, "text/plain; charset=utf-8", text, strlen (text));
}

//  Copies the snapshot out, so that the handler works without the lock.
static int
s_snapshot (sl_http_t *self, sl_buf_t *out, int64_t *age_ms)
{
    pthread_mutex_lock (&self->lock);
    int rc = self->doc ? sl_buf_append (out, self->doc, self->len) : SL_ENOTFOUND;
    *age_ms = sl_mono_ms () - self->at;
    pthread_mutex_unlock (&self->lock);
    return rc;
}

static enum MHD_Result
s_handle (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_size, void **state)
{
    (void)version;
    (void)upload_data;
    (void)upload_size;
    (void)state;
    sl_http_t *self = cls;
    //  Answered on the first call, from the headers alone: a request body
    //  is never read (libmicrohttpd discards it and closes).
    if (strcmp (method, "GET") != 0 && strcmp (method, "HEAD") != 0) {
        return s_text (conn, 405, "GET or HEAD only\n");
    }
    if (strcmp (url, "/") == 0 || strcmp (url, "/index.html") == 0) {
        return s_send (conn, 200, "text/html; charset=utf-8", sl_http_page, strlen (sl_http_page));
    }
    bool metrics = strcmp (url, "/metrics") == 0;
    bool health = strcmp (url, "/healthz") == 0;
    bool api = strcmp (url, "/api/stat") == 0;
    if (!metrics && !health && !api) {
        return s_text (conn, 404, "not found: try /, /metrics, /healthz or /api/stat\n");
    }
    sl_buf_t raw, out;
    sl_buf_init (&raw, 0);
    sl_buf_init (&out, 0);
    int64_t age_ms = 0;
    sl_stat_t doc;
    sl_stat_init (&doc);
    enum MHD_Result result;
    int rc = s_snapshot (self, &raw, &age_ms);
    if (rc == 0) {
        rc = sl_stat_decode (&doc, raw.data, raw.len);
    }
    if (rc) {
        result = s_text (conn, 503, "starting: no progress snapshot yet\n");
    }
    else if (health) {
        char text[512];
        if (age_ms > HTTP_STALE_MS) {
            snprintf (text, sizeof text,
                      "unhealthy: the broker loop has not answered for %lld ms\n",
                      (long long)age_ms);
            result = s_text (conn, 503, text);
        }
        else if (!doc.writable) {
            snprintf (text, sizeof text, "unhealthy: intake stopped: %s\n", doc.reason);
            result = s_text (conn, 503, text);
        }
        else {
            result = s_text (conn, 200, "ok: serving and writable\n");
        }
    }
    else if (metrics) {
        rc = sl_stat_prometheus (&doc, &out);
        result =
            rc ? s_text (conn, 500, "cannot format metrics\n")
               : s_send (conn, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
    }
    else {
        sl_json_t *json = sl_json_new ();
        rc = json ? sl_msgpack_to_json (json, raw.data, raw.len, &out) : SL_ENOMEM;
        sl_json_destroy (&json);
        result = rc ? s_text (conn, 500, "cannot format the document\n")
                    : s_send (conn, 200, "application/json", out.data, out.len);
    }
    sl_stat_free (&doc);
    sl_buf_free (&raw);
    sl_buf_free (&out);
    return result;
}

//  "HOST:PORT" or "[V6]:PORT" into a socket address.
static int
s_parse (const char *hostport, struct sockaddr_storage *addr, bool *v6)
{
    char host[256];
    const char *colon = strrchr (hostport, ':');
    if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof host) {
        return SL_EINVAL;
    }
    size_t hlen = (size_t)(colon - hostport);
    memcpy (host, hostport, hlen);
    host[hlen] = 0;
    if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
        memmove (host, host + 1, hlen - 2);
        host[hlen - 2] = 0;
    }
    uint64_t port;
    if (sl_parse_u64 (colon + 1, &port) || port > 65535) {
        return SL_EINVAL;
    }
    struct addrinfo hints = {.ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo (host, colon + 1, &hints, &res) || !res) {
        return SL_EINVAL;
    }
    memcpy (addr, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo (res);
    return 0;
}

int
sl_http_check (const char *hostport)
{
    struct sockaddr_storage addr;
    bool v6 = false;
    if (s_parse (hostport, &addr, &v6)) {
        sl_error ("http", "--http %s: expected HOST:PORT (e.g. 127.0.0.1:7680)", hostport);
        return SL_EINVAL;
    }
    return 0;
}

sl_http_t *
sl_http_new (const char *hostport, int *err)
{
    *err = 0;
    struct sockaddr_storage addr;
    bool v6 = false;
    if (s_parse (hostport, &addr, &v6)) {
        *err = sl_http_check (hostport);
        return NULL;
    }
    sl_http_t *self = calloc (1, sizeof *self);
    if (!self) {
        *err = SL_ENOMEM;
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | (v6 ? MHD_USE_IPv6 : 0);
    self->daemon = MHD_start_daemon (
        flags, 0, NULL, NULL, s_handle, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)HTTP_MAX_PER_IP, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_END);
    if (!self->daemon) {
        sl_error ("http", "cannot serve HTTP on %s (address in use or not local?)", hostport);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *err = SL_EINVAL;
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    sl_info ("http", "serving /metrics, /healthz, /api/stat and the live page on %s (port %u)",
             hostport, (unsigned)self->port);
    return self;
}

void
sl_http_destroy (sl_http_t **self_p)
{
    sl_http_t *self = *self_p;
    if (!self) {
        return;
    }
    MHD_stop_daemon (self->daemon);
    pthread_mutex_destroy (&self->lock);
    free (self->doc);
    free (self);
    *self_p = NULL;
}

uint16_t
sl_http_port (sl_http_t *self)
{
    return self->port;
}

void
sl_http_publish (sl_http_t *self, const uint8_t *doc, size_t len)
{
    uint8_t *copy = malloc (len ? len : 1);
    if (!copy) {
        return; //  the old snapshot serves on; /healthz sees its age
    }
    memcpy (copy, doc, len);
    pthread_mutex_lock (&self->lock);
    free (self->doc);
    self->doc = copy;
    self->len = len;
    self->at = sl_mono_ms ();
    pthread_mutex_unlock (&self->lock);
}
