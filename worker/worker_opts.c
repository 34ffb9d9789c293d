/*  worker_opts.c - sluice-worker's option table (see worker_opts.h). One
    line per option; a custom one also gets a case in worker_args.c, which
    finds it by name.
*/
#include "worker_opts.h"

#define F(field) SL_OPT_FIELD (sl_worker_args_t, field)
#define CUSTOM .type = SL_ARG_CUSTOM
#define NAME .type = SL_ARG_STRING, .flags = SL_OPT_NAME

static const sl_opt_t s_opts[] = {
    {"broker", 'b', "tcp://HOST:PORT",
     "broker address (required); a primary and its replicas as a,b", F (cfg.broker),
     .type = SL_ARG_STRING, .flags = SL_OPT_CONNECTS | SL_OPT_NO_KEY},
    {"group", 'g', "NAME", "worker group to join, created on first use (required)", F (cfg.group),
     .type = SL_ARG_STRING, .flags = SL_OPT_NAME | SL_OPT_NO_KEY},
    {"in", 'i', "STREAM", "input stream (required)", F (cfg.in), NAME},
    {"out", 'o', "STREAM", "output stream, not the input (required)", F (cfg.out), NAME},
    {"member", 'm', "NAME", "member name, unique in the group (default HOSTNAME-PID)",
     F (cfg.member), NAME},
    {"window", 0, "SPEC",
     "event-time windows per key: tumbling:SIZE, hopping:SIZE/ADVANCE or "
     "session:GAP (needs --key; a bare number is --leases, deprecated)",
     CUSTOM},
    {"batch", 0, "N",
     "records per lease (default 1000; 65536 with --key: a keyed group holds "
     "one lease at a time per share)",
     F (cfg.batch), .type = SL_ARG_UINT, .min = 1, .max = 65536},
    {"from", 'f', "POS", "where a new group starts: beginning or end", .def = "beginning", CUSTOM},
    {"max-deliver", 0, "N", "attempts before a record is dead-lettered", F (cfg.max_deliver),
     .type = SL_ARG_UINT, .def = "5", .min = 1, .max = UINT32_MAX},
    {"lease", 0, "DURATION", "a lease not answered this long is redone", F (cfg.lease_ms),
     .type = SL_ARG_DURATION, .def = "30s", .min = 1, .max = UINT32_MAX},
    {"exec", 'x', "COMMAND", "operator: pipe values as JSON lines through COMMAND", CUSTOM},
    {"exec-timeout", 0, "DURATION",
     "--exec: time the command may take per record (default "
     "10s)",
     F (cfg.op.exec_timeout_ms), .type = SL_ARG_DURATION, .min = 1},
    {"lua", 0, "FILE", "operator: a Lua script (see docs/operators.md)", .flags = SL_OPT_PATH,
     CUSTOM},
    {"filter", 0, "EXPR", "operator: keep records for which EXPR is true", CUSTOM},
    {"map", 0, "EXPR", "operator: replace each value with EXPR", CUSTOM},
    {"plugin", 0, "FILE.so", "operator: a C plugin (include/sluice/plugin.h)", .flags = SL_OPT_PATH,
     CUSTOM},
    {"option", 'O', "KEY=VALUE", "an operator option (repeatable)", .repeat = true, CUSTOM},
    {"curve-secret", 0, "FILE",
     "this client's key pair (NAME.key_secret from `sluice keygen`): "
     "CURVE on",
     F (curve_secret), .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"broker-key", 0, "FILE", "the broker's public key (NAME.key), with --curve-secret",
     F (broker_key), .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"leases", 0, "N", "leases held at once (default 32; 1 in a keyed group)", F (cfg.window),
     .type = SL_ARG_UINT, .min = 1, .max = 64},
    {"key", 'k', "PATH",
     "keyed group: records of one key in offset order on one member; PATH "
     "is a value field (a.b for nested) or 'record' for the record's key",
     CUSTOM},
    {"shares", 0, "N",
     "with --key: shares of the key space a new keyed group is cut into, "
     "spread over its members (default 4; fixed when the group is created)",
     F (cfg.shares), .type = SL_ARG_UINT, .min = 1, .max = 256},
    {"agg", 0, "LIST",
     "with --window: count, sum:PATH, avg:PATH, min:PATH, max:PATH, "
     "first:PATH, last:PATH, comma-separated (default count)",
     CUSTOM},
    {"time", 0, "PATH",
     "with --window: event time, 'record' (the record's timestamp, default) "
     "or a value field (epoch ms or RFC 3339)",
     CUSTOM},
    {"lateness", 0, "DURATION",
     "with --window: a window closes when its key's stream time "
     "reaches end + this (default 0)",
     F (cfg.lateness_ms), .type = SL_ARG_DURATION, .max = (uint64_t)1 << 40},
    {"idle", 0, "DURATION",
     "with --window: also close a key's windows after this long without "
     "a record of it (processing time)",
     F (cfg.idle_ms), .type = SL_ARG_DURATION, .max = (uint64_t)1 << 40},
    {"state-cache", 0, "N",
     "with --key: key states held decoded in memory (default 100000); the "
     "least recently used others wait in a local LMDB file under $TMPDIR",
     F (cfg.state_cache), .type = SL_ARG_UINT, .def = "100000", .min = 1, .max = 1u << 30},
    {.name = NULL},
};

const sl_opts_spec_t sl_worker_opts = {
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
