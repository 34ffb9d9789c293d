/*  sl_url.h - SCHEME://HOST:PORT/PATH addresses of the edges (mqtt://...).
*/
#ifndef SL_URL_H_INCLUDED
#define SL_URL_H_INCLUDED

#include <stddef.h>

typedef struct {
    char host[256];     //  without brackets for an IPv6 literal
    int port;           //  default_port when the address has none
    char path[1024];    //  after the first '/' behind the host (may be empty)
} sl_url_t;

//  Parses text as scheme "://" host [":" port] ["/" path]. 0, or SL_EINVAL
//  for another scheme, an empty host, a port outside 1..65535, or parts
//  longer than the fields above.
int sl_url_parse(const char *text, const char *scheme, int default_port, sl_url_t *url);

#endif
