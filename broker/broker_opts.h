/*  broker_opts.h - sluice-broker's option table: --help, the man page's
    option list, the SLUICE_* variables, --config's names and `sluice run`'s
    broker keys all come from it (docs/options.md).
*/
#ifndef SL_BROKER_OPTS_H_INCLUDED
#define SL_BROKER_OPTS_H_INCLUDED

#include "broker.h"
#include "sl_opts.h"

//  The table; typed entries' offsets are into sl_broker_config_t. The
//  custom ones (sync, stream-retention, config) are parsed by main.c.
extern const sl_opts_spec_t sl_broker_opts;

#endif
