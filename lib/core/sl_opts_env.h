/*  sl_opts_env.h - which environment variable sets which option
    (docs/options.md "Environment variables").

    Every option of a program P is read from SLUICE_P_NAME (P and NAME in
    capitals, '-' as '_': SLUICE_SINK_COUNT, SLUICE_STAT_INTERVAL). The
    options every program shares, the broker endpoint, its public key, the
    program's own CURVE key pair, the connect timeout and the log level, are
    also read from SLUICE_NAME (SLUICE_BROKER, SLUICE_CURVE_SECRET). The
    stage programs (sluice-broker, -source, -worker, -sink, -verify: each
    runs alone in its container) read every option from SLUICE_NAME too,
    as the deploy files do (SLUICE_DATA, SLUICE_STREAM), unless
    SLUICE_ENV_STRICT is on: the `sluice` command sets it for itself and
    for what it starts (sluice run's stages, tail's and dlq show's sink), so
    that a variable meant for one program does not reach another. The
    program's own form wins over the shared one.
*/
#ifndef SL_OPTS_ENV_H_INCLUDED
#define SL_OPTS_ENV_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "sl_opts.h"

#define SL_OPTS_ENV_MAX 160 //  a variable's name, at most
#define SL_OPTS_ENV_STRICT "SLUICE_ENV_STRICT"

//  The value for option (a long name, "verbose" or "quiet") of spec's
//  program, or NULL; the variable it came from into used[SL_OPTS_ENV_MAX].
const char *sl_opts_env_get (const sl_opts_spec_t *spec, const char *option, char *used);

//  The variables option can be given in, for --help: "SLUICE_SINK_COUNT or
//  SLUICE_COUNT" into out.
void sl_opts_env_names (const sl_opts_spec_t *spec, const char *option, char *out, size_t size);

//  Whether option is one of the shared ones (SLUICE_NAME in every program).
bool sl_opts_env_common (const char *option);

#endif
