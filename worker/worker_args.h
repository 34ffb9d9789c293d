/*  worker_args.h - sluice-worker's command line into its config.
 */
#ifndef SL_WORKER_ARGS_H_INCLUDED
#define SL_WORKER_ARGS_H_INCLUDED

#include "sl_client.h"
#include "worker_opts.h"

//  Reads the environment and argv into args (defaults set by the caller),
//  checks the combinations and applies the client keys. Returns -1 to go
//  on, or the exit code (0 after --help, 2 usage, ...), the reason printed.
int sl_worker_args_parse (int argc, char **argv, sl_worker_args_t *args);

#endif
