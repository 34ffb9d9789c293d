/*  sluice-broker - keeps every stream as a durable log and serves it.
    The options are a table (broker_opts.c); this file parses the few that
    are not plain values, runs --check, and runs the broker until a signal.
*/
#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker.h"
#include "broker_opts.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_opts.h"
#include "sl_opts_env.h"
#include "sl_opts_file.h"
#include "sl_store.h"
#include "sl_util.h"

//  The store is damaged: refused at start, or found so by --check.
#define S_EXIT_DAMAGED 3

//  The options the table cannot store by itself.
static int
s_custom (void *ctx, int index, const char *arg, const char **why)
{
    sl_broker_config_t *config = ctx;
    const char *name = sl_broker_opts.opts[index].name;
    if (strcmp (name, "sync") == 0) {
        *why = "expected full, data or none";
        return sl_store_sync_parse (arg, &config->sync);
    }
    if (strcmp (name, "stream-retention") == 0) {
        if (config->n_overrides == SL_BROKER_MAX_OVERRIDES) {
            *why = "too many overrides";
            return SL_EINVAL;
        }
        int rc = sl_broker_parse_override (arg, &config->overrides[config->n_overrides], why);
        config->n_overrides += rc == 0;
        return rc;
    }
    return 0; //  config: read before the flags (main)
}

//  --check walks the store in a child process: LMDB has no page checksums,
//  and a damaged tree page can send its walk outside the page (SIGSEGV).
//  A walk killed by a signal is reported as damage, not as a crash.
static int
s_check (const char *data_dir)
{
    fflush (stdout);
    pid_t pid = fork ();
    if (pid == 0) {
        //  The walk may fault on a damaged page: that is its answer, so it
        //  dies of the signal plainly (no sanitizer report, no core file).
        struct rlimit no_core = {0, 0};
        setrlimit (RLIMIT_CORE, &no_core);
        signal (SIGSEGV, SIG_DFL);
        signal (SIGBUS, SIG_DFL);
    }
    if (pid <= 0) {
        int rc = sl_store_check (data_dir, stdout);
        rc = rc == 0 ? 0 : rc == SL_ECORRUPT ? S_EXIT_DAMAGED : 1;
        if (pid < 0) {
            return rc;
        }
        fflush (stdout);
        _exit (rc);
    }
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED (status)) {
        printf ("DAMAGED: the walk of %s stopped on signal %d (%s): a tree page of data.mdb "
                "is damaged (LMDB keeps no page checksums); restore the directory from a "
                "backup (docs/reliability.md)\n",
                data_dir, WTERMSIG (status), strsignal (WTERMSIG (status)));
        return S_EXIT_DAMAGED;
    }
    return WIFEXITED (status) ? WEXITSTATUS (status) : 1;
}

//  The file (--config, SLUICE_BROKER_CONFIG or SLUICE_CONFIG), then the environment and the flags,
//  which override it. Returns -1 to go on, else the exit code.
static int
s_options (int argc, char **argv, sl_broker_config_t *config, char **file_text)
{
    char env[SL_OPTS_ENV_MAX]; //  SLUICE_BROKER_CONFIG or SLUICE_CONFIG (sl_opts_env.h)
    const char *config_path = sl_opts_find_config (
        argc, argv, sl_opts_env_get (&sl_broker_opts, "config", env) ? env : NULL);
    char why[512];
    if (config_path &&
        sl_opts_file (&sl_broker_opts, config_path, s_custom, config, file_text, why, sizeof why)) {
        fprintf (stderr, "sluice-broker: --config %s\n", why);
        return 2;
    }
    int exit_code = 0;
    int first = sl_opts_parse (&sl_broker_opts, argc, argv, s_custom, config, &exit_code);
    if (first < 0) {
        return exit_code;
    }
    if (first < argc) {
        fprintf (stderr, "sluice-broker: unexpected argument '%s'; try --help\n", argv[first]);
        return 2;
    }
    return -1;
}

int
main (int argc, char **argv)
{
    sl_log_set_program ("sluice-broker");
    sl_tune_malloc ();
    sl_broker_config_t config;
    sl_broker_config_defaults (&config);
    char *file_text = NULL;
    int code = s_options (argc, argv, &config, &file_text);
    if (code < 0 && config.check) {
        code = s_check (config.data_dir);
    }
    if (code >= 0) {
        free (file_text);
        return code;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    int err = 0;
    sl_broker_t *broker = sl_broker_new (&config, &err);
    if (broker) {
        code = sl_broker_run (broker) == 0 ? 0 : 1;
        sl_broker_destroy (&broker);
    }
    else {
        code = err == SL_ECORRUPT ? S_EXIT_DAMAGED : 1;
    }
    free (file_text);
    zsys_shutdown ();
    return code;
}
