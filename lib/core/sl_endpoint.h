/*  sl_endpoint.h - one checker for the ZeroMQ endpoints a user gives
    (--listen, --pub, --broker, a pipeline file's `listen`), so that every
    program accepts and refuses the same addresses with the same message.

    Accepted: tcp://HOST:PORT and ipc://PATH. HOST is a name, an IPv4
    address or an IPv6 address in brackets; to bind it may also be `*`.
    PORT is 1-65535 (to bind also 0 or `*`: any free port). PATH is 1-107
    bytes (the size of a Unix socket address). A name given to bind (such
    as `localhost`) is resolved to its address first, because ZeroMQ would
    take it for a network interface name ("No such device"); the name of
    an interface (`lo`, `eth0`) is left to ZeroMQ.
*/
#ifndef SL_ENDPOINT_H_INCLUDED
#define SL_ENDPOINT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    SL_ENDPOINT_CONNECT = 0, //  a client's --broker
    SL_ENDPOINT_BIND = 1,    //  the broker's --listen / --pub
} sl_endpoint_use_t;

#define SL_ENDPOINT_MAX 255     //  longest endpoint accepted
#define SL_ENDPOINT_IPC_MAX 107 //  sun_path holds 108 bytes with the NUL

//  Checks endpoint for use. 0, or SL_EINVAL with a message for the user in
//  why (it names the endpoint and says what is expected), e.g.
//  "endpoint 'x:1': expected tcp://HOST:PORT or ipc://PATH".
int sl_endpoint_check (const char *endpoint, sl_endpoint_use_t use, char *why, size_t why_size);

//  A client's --broker: one endpoint, or several separated by commas
//  (a primary and its replicas, docs/replication.md), each checked as
//  SL_ENDPOINT_CONNECT; at most SL_ENDPOINT_LIST_MAX. 0 or SL_EINVAL.
#define SL_ENDPOINT_LIST_MAX 8
int sl_endpoint_check_list (const char *list, char *why, size_t why_size);

//  The form ZeroMQ can bind: endpoint itself, or with its host name
//  resolved to the first address it has (IPv6 in brackets). 0, SL_EINVAL
//  (see sl_endpoint_check) or SL_ENOTFOUND (the name does not resolve),
//  with why set.
int sl_endpoint_bind_form (const char *endpoint, char *out, size_t out_size, char *why,
                           size_t why_size);

//  The port of a tcp:// endpoint, 0 for `*` or another scheme.
unsigned sl_endpoint_port (const char *endpoint);

//  The host of "tcp://HOST:PORT" ("127.0.0.1", "[::1]", "name") into
//  host. 0, SL_EINVAL (not such an endpoint) or SL_ETOOBIG (host too small).
int sl_endpoint_tcp_host (const char *broker, char *host, size_t size);

//  Writes endpoint into out, with a "*" host ("tcp://*:7601") replaced by
//  the host of broker ("tcp://HOST:PORT", HOST may be "[::1]"). Other
//  endpoints are copied as they are. 0, SL_EINVAL (broker or endpoint
//  malformed) or SL_ETOOBIG (out too small).
int sl_endpoint_with_host (const char *endpoint, const char *broker, char *out, size_t size);

#endif
