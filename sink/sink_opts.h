/*  sink_opts.h - sluice-sink's option table: --help, the man page's option
    list, the SLUICE_* variables and `sluice run`'s sink keys all come from
    it (docs/options.md).
*/
#ifndef SL_SINK_OPTS_H_INCLUDED
#define SL_SINK_OPTS_H_INCLUDED

#include "sink.h"
#include "sl_opts.h"

//  What the flags fill: the sink's config and the client keys, which apply
//  to every client of the process (sl_client_security_flags).
typedef struct {
    sl_sink_config_t cfg;
    const char *curve_secret;
    const char *broker_key;
} sl_sink_args_t;

//  The table; typed entries' offsets are into sl_sink_args_t. The custom
//  ones (from, format, compress, until) are parsed by main.c.
extern const sl_opts_spec_t sl_sink_opts;

#endif
