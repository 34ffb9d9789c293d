/*  main.c - sluice-worker: a member of a worker group, running one operator
    over an input stream into an output stream. Flags in, core out
    (worker.c).
*/
#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_client.h"
#include "sl_endpoint.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_opts.h"
#include "sl_util.h"
#include "sl_window.h"
#include "worker.h"

#define S_MAX_OPTIONS 256

enum {
    O_BROKER, O_GROUP, O_IN, O_OUT, O_MEMBER, O_WINDOW, O_BATCH, O_FROM, O_MAX_DELIVER, O_LEASE,
    O_EXEC, O_EXEC_TIMEOUT, O_LUA, O_FILTER, O_MAP, O_PLUGIN, O_OPTION, O_CURVE_SECRET,
    O_BROKER_KEY, O_LEASES, O_KEY, O_AGG, O_TIME, O_LATENESS, O_IDLE,
};


//  The message of a bad --broker (sl_endpoint_check).
static char s_endpoint_why[400];
static const sl_opt_t s_opts[] = {
    [O_BROKER] = {"broker", 'b', "tcp://HOST:PORT", "broker address (required)", false},
    [O_GROUP] = {"group", 'g', "NAME", "worker group to join, created on first use (required)",
                 false},
    [O_IN] = {"in", 'i', "STREAM", "input stream (required)", false},
    [O_OUT] = {"out", 'o', "STREAM", "output stream, not the input (required)", false},
    [O_MEMBER] = {"member", 'm', "NAME", "member name, unique in the group (default "
                                         "HOSTNAME-PID)", false},
    [O_WINDOW] = {"window", 'w', "SPEC", "event-time windows per key: tumbling:SIZE, "
                  "hopping:SIZE/ADVANCE or session:GAP (needs --key; a bare number is --leases, "
                  "deprecated)", false},
    [O_BATCH] = {"batch", 0, "N", "records per lease, 1..65536 (default 1000; 20000 with --key)", false},
    [O_FROM] = {"from", 'f', "POS", "where a new group starts: beginning (default) or end",
                false},
    [O_MAX_DELIVER] = {"max-deliver", 0, "N", "attempts before a record is dead-lettered "
                                              "(default 5)", false},
    [O_LEASE] = {"lease", 0, "DURATION", "a lease not answered this long is redone (default "
                                         "30s)", false},
    [O_EXEC] = {"exec", 'e', "COMMAND", "operator: pipe values as JSON lines through COMMAND",
                false},
    [O_EXEC_TIMEOUT] = {"exec-timeout", 0, "DURATION", "--exec: time the command may take per "
                                                       "record (default 10s)", false},
    [O_LUA] = {"lua", 0, "FILE", "operator: a Lua script (see docs/operators.md)", false},
    [O_FILTER] = {"filter", 0, "EXPR", "operator: keep records for which EXPR is true", false},
    [O_MAP] = {"map", 0, "EXPR", "operator: replace each value with EXPR", false},
    [O_PLUGIN] = {"plugin", 0, "FILE.so", "operator: a C plugin (lib/sluice_operator.h)", false},
    [O_OPTION] = {"option", 'O', "KEY=VALUE", "an operator option (repeatable)", true},
    [O_CURVE_SECRET] = {"curve-secret", 0, "FILE", "this client's key pair (NAME.key_secret from "
                                        "`sluice keygen`): CURVE on", false},
    [O_BROKER_KEY] = {"broker-key", 0, "FILE", "the broker's public key (NAME.key), with "
                                     "--curve-secret", false},
    [O_LEASES] = {"leases", 0, "N", "leases held at once, 1..64 (default 8; 1 in a keyed "
                                    "group)", false},
    [O_KEY] = {"key", 'k', "PATH", "keyed group: records of one key in offset order on one "
                                   "member; PATH is a value field (a.b for nested) or 'record' "
                                   "for the record's key", false},
    [O_AGG] = {"agg", 0, "LIST", "with --window: count, sum:PATH, avg:PATH, min:PATH, max:PATH, "
                                 "first:PATH, last:PATH, comma-separated (default count)", false},
    [O_TIME] = {"time", 0, "PATH", "with --window: event time, 'record' (the record's timestamp, "
                                   "default) or a value field (epoch ms or RFC 3339)", false},
    [O_LATENESS] = {"lateness", 0, "DURATION", "with --window: a window closes when its key's "
                                               "stream time reaches end + this (default 0)",
                    false},
    [O_IDLE] = {"idle", 0, "DURATION", "with --window: also close a key's windows after this "
                                       "long without a record of it (processing time)", false},
    {NULL, 0, NULL, NULL, false},
};

static const sl_opts_spec_t s_spec = {
    .program = "sluice-worker",
    .synopsis = "--broker tcp://HOST:PORT --group NAME --in STREAM --out STREAM [OPERATOR]",
    .about = "Joins a worker group: takes batches of the input stream from the broker, runs\n"
             "each record through an operator and sends the output back, which the broker\n"
             "appends to the output stream exactly once. Start more workers with the same\n"
             "--group to share the work. OPERATOR is one of --exec, --lua, --filter, --map or\n"
             "--plugin; without one, records are copied unchanged.",
    .footer = "Examples:\n"
              "  sluice-worker -b tcp://127.0.0.1:7600 -g copy -i orders -o orders-copy\n"
              "  sluice-worker -b tcp://127.0.0.1:7600 -g hot -i sensors -o hot \\\n"
              "      --exec \"jq -c --unbuffered '[select(.temp > 30) | {id, temp}]'\"\n"
              "  sluice-worker -b tcp://127.0.0.1:7600 -g enrich -i a -o b --lua enrich.lua\n"
              "  sluice-worker -b tcp://127.0.0.1:7600 -g peruser -i clicks -o clicks.10s \\\n"
              "      --key user --window tumbling:10s --agg count,sum:amount,avg:amount \\\n"
              "      --time ts --lateness 5s\n"
              "\n"
              "Exit status: 0 after SIGINT/SIGTERM (the batch in hand is finished first),\n"
              "1 fatal error (JOIN refused, operator failed to start), 2 usage error.\n"
              "See docs/worker.md.",
    .opts = s_opts,
};

typedef struct {
    sl_worker_config_t cfg;
    const char *options[S_MAX_OPTIONS];
    size_t n_options;
    int operators;          //  operator flags given
} s_args_t;

//  --curve-secret and --broker-key: kept here, applied to every client of
//  the process (sl_client_set_security) once the flags are read.
static const char *s_curve_secret;
static const char *s_broker_key;

static int
s_u32 (const char *arg, uint64_t min, uint64_t max, uint32_t *out, const char **why,
       const char *expect)
{
    uint64_t n = 0;
    if (sl_parse_u64 (arg, &n) || n < min || n > max) {
        *why = expect;
        return SL_EINVAL;
    }
    *out = (uint32_t) n;
    return 0;
}

static int
s_name (const char *arg, const char **why)
{
    if (!sl_name_valid (arg, strlen (arg))) {
        *why = "expected 1-200 characters of [A-Za-z0-9._-], not starting with '.'";
        return SL_ENAME;
    }
    return 0;
}

static int
s_operator (s_args_t *args, sl_op_kind_t kind, const char *arg)
{
    args->cfg.op.kind = kind;
    args->cfg.op.arg = arg;
    args->operators++;
    return 0;
}

static int
s_option (void *ctx, int index, const char *arg, const char **why)
{
    s_args_t *args = ctx;
    sl_worker_config_t *cfg = &args->cfg;
    int rc = 0;
    int64_t ms = 0;
    switch (index) {
    case O_BROKER:
        cfg->broker = arg;
        if (sl_endpoint_check (arg, SL_ENDPOINT_CONNECT, s_endpoint_why,
                               sizeof s_endpoint_why)) {
            *why = s_endpoint_why;
            return SL_EINVAL;
        }
        break;
    case O_GROUP:
        cfg->group = arg;
        rc = s_name (arg, why);
        break;
    case O_IN:
        cfg->in = arg;
        rc = s_name (arg, why);
        break;
    case O_OUT:
        cfg->out = arg;
        rc = s_name (arg, why);
        break;
    case O_MEMBER:
        cfg->member = arg;
        rc = s_name (arg, why);
        break;
    case O_WINDOW:
        if (arg[0] >= '0' && arg[0] <= '9') {
            //  The old meaning, kept for one release.
            rc = s_u32 (arg, 1, 64, &cfg->window, why, "expected a number from 1 to 64");
            if (rc == 0) {
                fprintf (stderr, "sluice-worker: warning: --window N is deprecated: it is "
                                 "--leases N now (--window takes a window spec such as "
                                 "tumbling:10s)\n");
            }
        }
        else {
            sl_win_spec_t spec;
            rc = sl_win_spec_parse (arg, &spec, why);
            cfg->window_spec = arg;
        }
        break;
    case O_LEASES:
        rc = s_u32 (arg, 1, 64, &cfg->window, why, "expected a number from 1 to 64");
        break;
    case O_KEY:
        cfg->key = arg;
        if (!arg[0] || strlen (arg) > SL_WIN_MAX_PATH || arg[0] == '.'
            || arg[strlen (arg) - 1] == '.' || strstr (arg, "..")) {
            *why = "expected 'record' or a field path such as user or user.id (1..128 bytes)";
            rc = SL_EINVAL;
        }
        break;
    case O_AGG: {
        sl_agg_t aggs[SL_WIN_MAX_AGGS];
        size_t n;
        rc = sl_agg_parse (arg, aggs, &n, why);
        cfg->agg = arg;
        break;
    }
    case O_TIME:
        cfg->time = arg;
        if (!arg[0] || strlen (arg) > SL_WIN_MAX_PATH) {
            *why = "expected 'record' or a field path such as ts";
            rc = SL_EINVAL;
        }
        break;
    case O_LATENESS:
    case O_IDLE:
        if (sl_parse_duration_ms (arg, &ms) || ms < 0 || ms > ((int64_t) 1 << 40)) {
            *why = "expected a duration such as 0s, 500ms, 5s or 2m";
            rc = SL_EINVAL;
        }
        *(index == O_LATENESS ? &cfg->lateness_ms : &cfg->idle_ms) = ms;
        break;
    case O_BATCH:
        rc = s_u32 (arg, 1, 65536, &cfg->batch, why, "expected a number from 1 to 65536");
        break;
    case O_FROM:
        if (strcmp (arg, "beginning") == 0) {
            cfg->from_end = false;
        }
        else if (strcmp (arg, "end") == 0) {
            cfg->from_end = true;
        }
        else {
            *why = "expected beginning or end";
            rc = SL_EINVAL;
        }
        break;
    case O_MAX_DELIVER:
        rc = s_u32 (arg, 1, UINT32_MAX, &cfg->max_deliver, why, "expected a number, at least 1");
        break;
    case O_LEASE:
        if (sl_parse_duration_ms (arg, &ms) || ms <= 0 || ms > UINT32_MAX) {
            *why = "expected a duration such as 500ms, 30s or 2m";
            rc = SL_EINVAL;
        }
        cfg->lease_ms = ms;
        break;
    case O_EXEC:
        rc = s_operator (args, SL_OPK_EXEC, arg);
        break;
    case O_EXEC_TIMEOUT:
        if (sl_parse_duration_ms (arg, &ms) || ms <= 0) {
            *why = "expected a duration such as 500ms, 10s or 1m";
            rc = SL_EINVAL;
        }
        cfg->op.exec_timeout_ms = ms;
        break;
    case O_LUA:
        rc = s_operator (args, SL_OPK_LUA, arg);
        break;
    case O_FILTER:
        rc = s_operator (args, SL_OPK_FILTER, arg);
        break;
    case O_MAP:
        rc = s_operator (args, SL_OPK_MAP, arg);
        break;
    case O_PLUGIN:
        rc = s_operator (args, SL_OPK_PLUGIN, arg);
        break;
    case O_OPTION:
        if (!strchr (arg, '=') || arg[0] == '=') {
            *why = "expected KEY=VALUE";
            rc = SL_EINVAL;
        }
        else if (args->n_options >= S_MAX_OPTIONS) {
            *why = "too many options";
            rc = SL_EINVAL;
        }
        else {
            args->options[args->n_options++] = arg;
        }
        break;
    case O_CURVE_SECRET:
        s_curve_secret = arg;
        break;
    case O_BROKER_KEY:
        s_broker_key = arg;
        break;
    default:
        break;
    }
    return rc;
}

int
main (int argc, char **argv)
{
    sl_log_set_program ("sluice-worker");
    sl_tune_malloc ();
    static s_args_t args;
    sl_worker_config_defaults (&args.cfg);
    int code = 0;
    int first = sl_opts_parse (&s_spec, argc, argv, s_option, &args, &code);
    if (first < 0) {
        return code;
    }
    if (first < argc) {
        fprintf (stderr, "sluice-worker: unexpected argument '%s'; try --help\n", argv[first]);
        return 2;
    }
    if (!args.cfg.broker || !args.cfg.group || !args.cfg.in || !args.cfg.out) {
        fprintf (stderr, "sluice-worker: --broker, --group, --in and --out are required; "
                         "try --help\n");
        return 2;
    }
    if (strcmp (args.cfg.in, args.cfg.out) == 0) {
        fprintf (stderr, "sluice-worker: --out must differ from --in\n");
        return 2;
    }
    if (args.operators > 1) {
        fprintf (stderr, "sluice-worker: give one operator (--exec, --lua, --filter, --map or "
                         "--plugin)\n");
        return 2;
    }
    if (args.cfg.window_spec && !args.cfg.key) {
        fprintf (stderr, "sluice-worker: --window needs --key (windows are per key)\n");
        return 2;
    }
    if (!args.cfg.window_spec && (args.cfg.agg || args.cfg.time || args.cfg.lateness_ms
                                  || args.cfg.idle_ms)) {
        fprintf (stderr, "sluice-worker: --agg, --time, --lateness and --idle need --window\n");
        return 2;
    }
    if (args.cfg.window_spec && args.operators > 0) {
        fprintf (stderr, "sluice-worker: --window is the operator: give no --exec, --lua, "
                         "--filter, --map or --plugin with it\n");
        return 2;
    }
    code = sl_client_security_flags ("sluice-worker", s_curve_secret, s_broker_key);
    if (code) {
        return code;
    }
    args.cfg.op.options = args.options;
    args.cfg.op.n_options = args.n_options;
    //  A child of the exec operator that dies while we write to it must
    //  give us EPIPE, not kill the worker.
    signal (SIGPIPE, SIG_IGN);
    zsys_init ();
    zsys_set_logstream (NULL);
    code = sl_worker_run (&args.cfg);
    zsys_shutdown ();
    return code;
}
