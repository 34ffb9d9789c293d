/*  main.c - sluice-worker: a member of a worker group, running one operator
    over an input stream into an output stream. Flags in (worker_opts.c,
    worker_args.c), core out (worker.c).
*/
#include <czmq.h>
#include <signal.h>

#include "sl_log.h"
#include "sl_util.h"
#include "worker_args.h"

int
main (int argc, char **argv)
{
    sl_log_set_program ("sluice-worker");
    sl_tune_malloc ();
    static sl_worker_args_t args;
    sl_worker_config_defaults (&args.cfg);
    int code = sl_worker_args_parse (argc, argv, &args);
    if (code >= 0) {
        return code;
    }
    //  A child of the exec operator that dies while we write to it must
    //  give us EPIPE, not kill the worker.
    signal (SIGPIPE, SIG_IGN);
    zsys_init ();
    zsys_set_logstream (NULL);
    code = sl_worker_run (&args.cfg);
    zsys_shutdown ();
    return code;
}
