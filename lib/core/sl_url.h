/*  sl_url.h - SCHEME://HOST:PORT/PATH addresses of the edges (mqtt://...).
 */
#ifndef SL_URL_H_INCLUDED
#define SL_URL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char host[256];  //  without brackets for an IPv6 literal
    int port;        //  default_port when the address has none
    char path[1024]; //  after the first '/' behind the host (may be empty)
} sl_url_t;

//  Parses text as scheme "://" host [":" port] ["/" path]. 0, or SL_EINVAL
//  for another scheme, an empty host, a port outside 1..65535, or parts
//  longer than the fields above.
int sl_url_parse (const char *text, const char *scheme, int default_port, sl_url_t *url);

//  A port number as text[0..len): 1 to 5 decimal digits and nothing else
//  (no sign, no spaces), at most 65535, and 0 only when allow_zero. 0 and
//  *port set; SL_EINVAL when it is not such a number, SL_ERANGE when it is
//  one outside the range. The one port reader of URLs and endpoints.
int sl_port_parse (const char *text, size_t len, bool allow_zero, unsigned *port);

#endif
