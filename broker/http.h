/*  http.h - the broker's optional HTTP server (sluice-broker --http,
    docs/operate.md): /metrics (Prometheus text), /healthz, /api/stat (the
    progress document as JSON) and / (the live page). libmicrohttpd runs it
    in a thread of its own; the broker's loop hands it a snapshot of the
    progress document every HTTP_SNAPSHOT_MS, so that no request ever
    touches the store or the groups from another thread.

    Bounds: at most HTTP_MAX_CONNS connections (HTTP_MAX_PER_IP from one
    address), HTTP_CONN_MEMORY bytes per connection for the request (a
    longer request line or header is refused by libmicrohttpd with 431/413),
    a HTTP_TIMEOUT_S idle timeout, GET and HEAD only.
*/
#ifndef SL_BROKER_HTTP_H_INCLUDED
#define SL_BROKER_HTTP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define HTTP_SNAPSHOT_MS 500
#define HTTP_STALE_MS 5000 //  /healthz fails when the loop stopped refreshing
#define HTTP_MAX_CONNS 64
#define HTTP_MAX_PER_IP 16
#define HTTP_CONN_MEMORY (32u << 10)
#define HTTP_TIMEOUT_S 10

typedef struct _sl_http_t sl_http_t;

//  Starts serving on "HOST:PORT" ("[::1]:PORT" for IPv6; port 0 picks
//  one, see sl_http_port). NULL with *err (SL_EINVAL: bad address or cannot
//  bind, logged).
//  Whether "HOST:PORT" is an address one could serve on (logged if not):
//  checked before the broker opens or binds anything, so that a bad
//  --http is a usage error and not whatever failed first.
int sl_http_check (const char *hostport);
sl_http_t *sl_http_new (const char *hostport, int *err);
void sl_http_destroy (sl_http_t **self_p);
//  The port bound.
uint16_t sl_http_port (sl_http_t *self);
//  Replaces the snapshot: the encoded progress document (copied).
void sl_http_publish (sl_http_t *self, const uint8_t *doc, size_t len);

//  The live page (page.c): one self-contained HTML document, no CDN.
extern const char sl_http_page[];

#endif
