/*  sl_endpoint.c - the endpoint checker (sl_endpoint.h).

    Without it each program learnt about a bad address from ZeroMQ, late
    and differently: tcp://127.0.0.1:99999 bound port 34463 (libzmq keeps
    the low 16 bits), tcp://localhost:P failed to bind with "No such
    device" while clients accepted it, and a missing scheme gave a bare
    "Invalid argument".
*/
#include "sl_endpoint.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sl_error.h"
#include "sl_url.h"

#define S_EXPECTED "expected tcp://HOST:PORT or ipc://PATH"

//  The parts of a tcp:// endpoint. Host without brackets.
typedef struct {
    char host[SL_ENDPOINT_MAX + 1];
    bool bracketed;
    bool any_port; //  "*" or 0
    unsigned port;
} s_tcp_t;

static int
s_fail (const char *endpoint, char *why, size_t why_size, const char *what)
{
    if (why && why_size) {
        snprintf (why, why_size, "endpoint '%.*s': %s", SL_ENDPOINT_MAX, endpoint ? endpoint : "",
                  what);
    }
    return SL_EINVAL;
}

static int
s_parse_tcp (const char *endpoint, sl_endpoint_use_t use, s_tcp_t *tcp, char *why, size_t why_size)
{
    const char *rest = endpoint + 6;
    const char *colon = strrchr (rest, ':');
    if (!colon || colon == rest) {
        return s_fail (endpoint, why, why_size, "expected tcp://HOST:PORT (host and port)");
    }
    size_t host_len = (size_t)(colon - rest);
    memset (tcp, 0, sizeof *tcp);
    if (host_len > SL_ENDPOINT_MAX) {
        return s_fail (endpoint, why, why_size, "longer than 255 bytes");
    }
    if (rest[0] == '[') {
        if (host_len < 3 || rest[host_len - 1] != ']') {
            return s_fail (endpoint, why, why_size, "an IPv6 host is written [ADDRESS]");
        }
        tcp->bracketed = true;
        memcpy (tcp->host, rest + 1, host_len - 2);
    }
    else {
        if (memchr (rest, ']', host_len) || memchr (rest, '[', host_len) ||
            memchr (rest, ':', host_len)) {
            return s_fail (endpoint, why, why_size, "an IPv6 host is written [ADDRESS]");
        }
        memcpy (tcp->host, rest, host_len);
    }
    if (strcmp (tcp->host, "*") == 0 && use != SL_ENDPOINT_BIND) {
        return s_fail (endpoint, why, why_size,
                       "host '*' only makes sense to listen; "
                       "give the broker's host name or address");
    }
    const char *port = colon + 1;
    if (strcmp (port, "*") == 0 && use == SL_ENDPOINT_BIND) {
        tcp->any_port = true;
        return 0;
    }
    unsigned value;
    int rc = sl_port_parse (port, strlen (port), use == SL_ENDPOINT_BIND, &value);
    if (rc) {
        return s_fail (endpoint, why, why_size,
                       rc == SL_ERANGE ? "the port is out of range (1-65535)"
                                       : "the port must be a number (1-65535)");
    }
    tcp->port = value;
    tcp->any_port = value == 0;
    return 0;
}

int
sl_endpoint_check_list (const char *list, char *why, size_t why_size)
{
    if (!list || !list[0]) {
        return s_fail ("", why, why_size, S_EXPECTED);
    }
    int n = 0;
    const char *at = list;
    while (true) {
        const char *comma = strchr (at, ',');
        size_t len = comma ? (size_t)(comma - at) : strlen (at);
        if (++n > SL_ENDPOINT_LIST_MAX) {
            return s_fail (list, why, why_size, "more than 8 endpoints");
        }
        char one[SL_ENDPOINT_MAX + 2];
        if (len > SL_ENDPOINT_MAX) {
            return s_fail (list, why, why_size, "an endpoint longer than 255 bytes");
        }
        memcpy (one, at, len);
        one[len] = 0;
        int rc = sl_endpoint_check (one, SL_ENDPOINT_CONNECT, why, why_size);
        if (rc) {
            return rc;
        }
        if (!comma) {
            return 0;
        }
        at = comma + 1;
    }
}

int
sl_endpoint_check (const char *endpoint, sl_endpoint_use_t use, char *why, size_t why_size)
{
    if (!endpoint || !endpoint[0]) {
        return s_fail ("", why, why_size, S_EXPECTED);
    }
    if (strlen (endpoint) > SL_ENDPOINT_MAX) {
        return s_fail (endpoint, why, why_size, "longer than 255 bytes");
    }
    if (strncmp (endpoint, "tcp://", 6) == 0) {
        s_tcp_t tcp;
        return s_parse_tcp (endpoint, use, &tcp, why, why_size);
    }
    if (strncmp (endpoint, "ipc://", 6) == 0) {
        size_t len = strlen (endpoint + 6);
        if (len == 0) {
            return s_fail (endpoint, why, why_size, "expected ipc://PATH (a path)");
        }
        if (len > SL_ENDPOINT_IPC_MAX) {
            return s_fail (endpoint, why, why_size, "the path is longer than 107 bytes");
        }
        return 0;
    }
    return s_fail (endpoint, why, why_size, S_EXPECTED);
}

int
sl_endpoint_bind_form (const char *endpoint, char *out, size_t out_size, char *why, size_t why_size)
{
    int rc = sl_endpoint_check (endpoint, SL_ENDPOINT_BIND, why, why_size);
    if (rc) {
        return rc;
    }
    s_tcp_t tcp;
    if (strncmp (endpoint, "tcp://", 6) != 0 ||
        s_parse_tcp (endpoint, SL_ENDPOINT_BIND, &tcp, why, why_size) != 0 ||
        strcmp (tcp.host, "*") == 0) {
        snprintf (out, out_size, "%s", endpoint);
        return 0;
    }
    //  An address literal binds as it is.
    unsigned char probe[sizeof (struct in6_addr)];
    if (inet_pton (AF_INET, tcp.host, probe) == 1 || inet_pton (AF_INET6, tcp.host, probe) == 1) {
        snprintf (out, out_size, "%s", endpoint);
        return 0;
    }
    //  A network interface's name (tcp://eth0:7600) is ZeroMQ's to bind.
    if (if_nametoindex (tcp.host) != 0) {
        snprintf (out, out_size, "%s", endpoint);
        return 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
    struct addrinfo *res = NULL;
    if (getaddrinfo (tcp.host, NULL, &hints, &res) != 0 || !res) {
        s_fail (endpoint, why, why_size, "the host name does not resolve");
        return SL_ENOTFOUND;
    }
    //  The first IPv4 address if there is one: "localhost" means
    //  127.0.0.1 to most clients, whatever order the resolver gives.
    const struct addrinfo *pick = res;
    for (const struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    }
    char text[INET6_ADDRSTRLEN] = "";
    const void *addr = pick->ai_family == AF_INET
                           ? (const void *)&((struct sockaddr_in *)pick->ai_addr)->sin_addr
                           : (const void *)&((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr;
    bool v6 = pick->ai_family == AF_INET6;
    inet_ntop (pick->ai_family, addr, text, sizeof text);
    freeaddrinfo (res);
    const char *port = strrchr (endpoint + 6, ':') + 1;
    int n = snprintf (out, out_size, "tcp://%s%s%s:%s", v6 ? "[" : "", text, v6 ? "]" : "", port);
    if (n < 0 || (size_t)n >= out_size) {
        return s_fail (endpoint, why, why_size, "too long once resolved");
    }
    return 0;
}

unsigned
sl_endpoint_port (const char *endpoint)
{
    s_tcp_t tcp;
    if (!endpoint || strncmp (endpoint, "tcp://", 6) != 0 ||
        s_parse_tcp (endpoint, SL_ENDPOINT_BIND, &tcp, NULL, 0) != 0) {
        return 0;
    }
    return tcp.port;
}

//  Splits "tcp://HOST:PORT" into its host ("127.0.0.1", "[::1]", "name"),
//  so that "*" in an announced endpoint can be replaced by it.
int
sl_endpoint_tcp_host (const char *broker, char *host, size_t size)
{
    if (!broker || strncmp (broker, "tcp://", 6) != 0) {
        return SL_EINVAL;
    }
    const char *start = broker + 6;
    const char *colon;
    if (*start == '[') {
        const char *close = strchr (start, ']');
        if (!close || close[1] != ':') {
            return SL_EINVAL;
        }
        colon = close + 1;
    }
    else {
        colon = strrchr (start, ':');
        if (!colon) {
            return SL_EINVAL;
        }
    }
    size_t len = (size_t)(colon - start);
    if (len == 0 || colon[1] == '\0') {
        return SL_EINVAL;
    }
    if (len + 1 > size) {
        return SL_ETOOBIG;
    }
    memcpy (host, start, len);
    host[len] = '\0';
    return 0;
}

int
sl_endpoint_with_host (const char *endpoint, const char *broker, char *out, size_t size)
{
    if (!endpoint || !out || size == 0) {
        return SL_EINVAL;
    }
    if (strncmp (endpoint, "tcp://*:", 8) != 0) {
        if (strlen (endpoint) + 1 > size) {
            return SL_ETOOBIG;
        }
        strcpy (out, endpoint);
        return 0;
    }
    char host[256];
    int rc = sl_endpoint_tcp_host (broker, host, sizeof host);
    if (rc) {
        return rc;
    }
    const char *port = endpoint + 8;
    if (*port == '\0') {
        return SL_EINVAL;
    }
    int n = snprintf (out, size, "tcp://%s:%s", host, port);
    if (n < 0 || (size_t)n >= size) {
        return SL_ETOOBIG;
    }
    return 0;
}
