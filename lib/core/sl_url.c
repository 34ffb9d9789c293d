/*  sl_url.c - SCHEME://HOST:PORT/PATH addresses of the edges.
 */
#include "sl_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"

int
sl_port_parse (const char *text, size_t len, bool allow_zero, unsigned *port)
{
    if (len == 0 || len > 5) {
        return len ? SL_ERANGE : SL_EINVAL;
    }
    unsigned value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return SL_EINVAL;
        }
        value = value * 10 + (unsigned)(text[i] - '0');
    }
    if (value > 65535 || (value == 0 && !allow_zero)) {
        return SL_ERANGE;
    }
    *port = value;
    return 0;
}

int
sl_url_parse (const char *text, const char *scheme, int default_port, sl_url_t *url)
{
    memset (url, 0, sizeof *url);
    size_t slen = strlen (scheme);
    if (!text || strncmp (text, scheme, slen) != 0 || strncmp (text + slen, "://", 3) != 0) {
        return SL_EINVAL;
    }
    const char *p = text + slen + 3;
    const char *slash = strchr (p, '/');
    size_t hostport = slash ? (size_t)(slash - p) : strlen (p);
    const char *port = NULL;
    size_t hlen = hostport;
    if (p[0] == '[') {
        const char *close = memchr (p, ']', hostport);
        if (!close) {
            return SL_EINVAL;
        }
        hlen = (size_t)(close - p - 1);
        p++;
        if (close + 1 < p - 1 + hostport && close[1] == ':') {
            port = close + 2;
        }
    }
    else {
        const char *colon = memchr (p, ':', hostport);
        if (colon) {
            hlen = (size_t)(colon - p);
            port = colon + 1;
        }
    }
    if (hlen == 0 || hlen >= sizeof url->host) {
        return SL_EINVAL;
    }
    memcpy (url->host, p, hlen);
    url->port = default_port;
    if (port) {
        unsigned n;
        size_t port_len = slash ? (size_t)(slash - port) : strlen (port);
        if (sl_port_parse (port, port_len, false, &n) != 0) {
            return SL_EINVAL;
        }
        url->port = (int)n;
    }
    if (slash && strlen (slash + 1) >= sizeof url->path) {
        return SL_EINVAL;
    }
    snprintf (url->path, sizeof url->path, "%s", slash ? slash + 1 : "");
    return 0;
}
