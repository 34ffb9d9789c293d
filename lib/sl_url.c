/*  sl_url.c - SCHEME://HOST:PORT/PATH addresses of the edges.
*/
#include "sl_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"

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
    size_t hostport = slash ? (size_t) (slash - p) : strlen (p);
    const char *port = NULL;
    size_t hlen = hostport;
    if (p[0] == '[') {
        const char *close = memchr (p, ']', hostport);
        if (!close) {
            return SL_EINVAL;
        }
        hlen = (size_t) (close - p - 1);
        p++;
        if (close + 1 < p - 1 + hostport && close[1] == ':') {
            port = close + 2;
        }
    }
    else {
        const char *colon = memchr (p, ':', hostport);
        if (colon) {
            hlen = (size_t) (colon - p);
            port = colon + 1;
        }
    }
    if (hlen == 0 || hlen >= sizeof url->host) {
        return SL_EINVAL;
    }
    memcpy (url->host, p, hlen);
    url->port = default_port;
    if (port) {
        char *end = NULL;
        long n = strtol (port, &end, 10);
        if (end == port || (slash ? end != slash : *end != 0) || n < 1 || n > 65535) {
            return SL_EINVAL;
        }
        url->port = (int) n;
    }
    if (slash && strlen (slash + 1) >= sizeof url->path) {
        return SL_EINVAL;
    }
    snprintf (url->path, sizeof url->path, "%s", slash ? slash + 1 : "");
    return 0;
}
