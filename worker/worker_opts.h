/*  worker_opts.h - sluice-worker's option table: --help, the man page's
    option list, the SLUICE_* variables and `sluice run`'s group keys all
    come from it (docs/options.md).
*/
#ifndef SL_WORKER_OPTS_H_INCLUDED
#define SL_WORKER_OPTS_H_INCLUDED

#include "sl_opts.h"
#include "worker.h"

#define SL_WORKER_MAX_OPTIONS 256

//  What the flags fill: the worker's config, the operator's --option list,
//  how many operator flags were given, and the client keys.
typedef struct {
    sl_worker_config_t cfg;
    const char *options[SL_WORKER_MAX_OPTIONS];
    size_t n_options;
    int operators;
    const char *curve_secret;
    const char *broker_key;
} sl_worker_args_t;

//  The table; typed entries' offsets are into sl_worker_args_t. The custom
//  ones (operators, window, key, agg, time, from, option) are parsed by
//  worker_args.c.
extern const sl_opts_spec_t sl_worker_opts;

#endif
