/*  source_opts.h - sluice-source's option table: --help, the man page's
    option list, the SLUICE_* variables and `sluice run`'s source keys all
    come from it (docs/options.md).
*/
#ifndef SL_SOURCE_OPTS_H_INCLUDED
#define SL_SOURCE_OPTS_H_INCLUDED

#include "http_in.h"
#include "sl_opts.h"
#include "source.h"

//  What the flags fill: the source's config, the HTTP server's (--http) and
//  the client keys, which apply to every client of the process.
typedef struct {
    sl_source_config_t cfg;
    sl_http_in_config_t http;
    const char *curve_secret;
    const char *broker_key;
} sl_source_args_t;

//  The table; typed entries' offsets are into sl_source_args_t. The custom
//  ones (format, generate, rate, progress, no-progress, header) are parsed
//  by main.c.
extern const sl_opts_spec_t sl_source_opts;

#endif
