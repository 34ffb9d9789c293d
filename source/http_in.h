/*  http_in.h - sluice-source --http HOST:PORT: an HTTP endpoint (libmicrohttpd)
    that publishes the JSON lines (or the one JSON array) of each
    `POST /streams/NAME` and answers only once the broker confirmed them:

        200 {"stream":S,"records":N,"first":F,"last":L}   all stored, offsets F..L
        400 {"error":"line 3: ..."}                       nothing of the request stored
        401 / 403                                         no / an unknown bearer token
        404 / 405                                         other paths / methods
        413                                               body or record count over the limit
        503                                               broker not connected: nothing sent
        504                                               sent but not confirmed in time: the
                                                          records may be stored (a retry may
                                                          duplicate them)

    Requests are published one at a time over one broker session, as one
    batch each (docs/source.md, "HTTP"). Drivable in-process, like
    sl_source_run.
*/
#ifndef SL_HTTP_IN_H_INCLUDED
#define SL_HTTP_IN_H_INCLUDED

#include <stdint.h>

typedef struct {
    const char *broker;         //  tcp://HOST:PORT
    const char *listen;         //  HOST:PORT (HOST numeric or a name)
    const char *token_file;     //  NULL: no authentication
    const char *key_field;      //  NULL: records have no key
    uint64_t max_body;          //  bytes per request body (default 1 MiB)
    uint32_t max_connections;   //  open connections at once (default 64)
    int64_t timeout_ms;         //  wait for a confirm before 504 (default 10 s)
    int64_t connect_timeout_ms; //  broker at start (default 30 s, 0 = forever)
    volatile int *stop;         //  optional: non-zero stops the server
} sl_http_in_config_t;

void sl_http_in_config_defaults (sl_http_in_config_t *cfg);

//  Serves until SIGINT/SIGTERM or *stop. Returns the exit code: 0 after a
//  signal, 1 when the broker was not reached or the port could not be
//  bound, 2 for a bad configuration (unreadable token file, bad address).
int sl_http_in_run (const sl_http_in_config_t *cfg);

#endif
