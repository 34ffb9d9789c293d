/*  sluice-broker - keeps every stream as a durable log and serves it.
*/
#include <czmq.h>
#include <string.h>

#include "broker.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_opts.h"
#include "sl_util.h"

enum { OPT_DATA, OPT_LISTEN, OPT_PUB, OPT_FSYNC, OPT_SYNC, OPT_RETAIN_RECORDS, OPT_RETAIN_BYTES, OPT_RETAIN_AGE,
       OPT_STREAM_RETENTION, OPT_MAX_BATCH_BYTES, OPT_INITIAL_MAP, OPT_CURVE_SECRET, OPT_ALLOW,
       OPT_ALLOW_ANY };

static const sl_opt_t s_opts[] = {
    [OPT_DATA] = {"data", 'd', "DIR", "data directory for the LMDB log (default ./sluice-data)", false},
    [OPT_LISTEN] = {"listen", 'l', "ENDPOINT",
                  "command endpoint clients are given (default tcp://127.0.0.1:7600)", false},
    [OPT_PUB] = {"pub", 0, "ENDPOINT", "live feed endpoint (default: listen port + 1)", false},
    [OPT_FSYNC] = {"fsync", 0, NULL,
                 "the same as --sync=full (the default)", false},
    [OPT_SYNC] = {"sync", 0, "MODE", "what each commit syncs to the disk: full (default: a "
                "confirmed record survives a power cut), data (the last commit may be undone), "
                "none (survives kill -9 only; a power cut may leave a store that cannot open)",
                false},
    [OPT_RETAIN_RECORDS] = {"retain-records", 0, "N", "keep at least the newest N records per stream "
                          "and remove older batches (default: keep all)", false},
    [OPT_RETAIN_BYTES] = {"retain-bytes", 0, "SIZE", "keep at most SIZE bytes per stream (64M, 2G)",
                        false},
    [OPT_RETAIN_AGE] = {"retain-age", 0, "DURATION", "remove records older than DURATION (30m, 7d)",
                      false},
    [OPT_STREAM_RETENTION] = {"stream-retention", 0, "PATTERN:SETTINGS",
                            "per-stream override, e.g. 'logs.*:age=1d,bytes=1G' (repeatable; "
                            "first match wins)", true},
    [OPT_MAX_BATCH_BYTES] = {"max-batch-bytes", 0, "SIZE", "largest batch accepted (default 16M)",
                           false},
    [OPT_INITIAL_MAP] = {"initial-map", 0, "SIZE",
                       "initial LMDB map size; it grows by itself (default 64M)", false},
    [OPT_CURVE_SECRET] = {"curve-secret", 0, "FILE", "the broker's key pair (NAME.key_secret "
                          "from `sluice keygen`): CURVE on every socket", false},
    [OPT_ALLOW] = {"allow", 0, "DIR", "with --curve-secret: directory of allowed client keys "
                   "(NAME.key), re-read when it changes", false},
    [OPT_ALLOW_ANY] = {"allow-any", 0, NULL, "with --curve-secret: accept any client key "
                       "(encryption only; for testing)", false},
    {NULL, 0, NULL, NULL, false},
};

static int
s_apply (void *ctx, int index, const char *arg, const char **why)
{
    sl_broker_config_t *config = ctx;
    int rc = 0;
    switch (index) {
    case OPT_DATA:
        config->data_dir = arg;
        break;
    case OPT_LISTEN:
        config->listen = arg;
        break;
    case OPT_PUB:
        config->pub = arg;
        break;
    case OPT_FSYNC:
        config->fsync = true;
        break;
    case OPT_SYNC:
        rc = sl_store_sync_parse (arg, &config->sync);
        *why = "expected full, data or none";
        break;
    case OPT_RETAIN_RECORDS:
        rc = sl_parse_u64 (arg, &config->retention.max_records);
        *why = "expected a number of records";
        break;
    case OPT_RETAIN_BYTES:
        rc = sl_parse_size (arg, &config->retention.max_bytes);
        *why = "expected a size such as 512M or 2G";
        break;
    case OPT_RETAIN_AGE:
        rc = sl_parse_duration_ms (arg, &config->retention.max_age_ms);
        *why = "expected a duration such as 30m, 12h or 7d";
        break;
    case OPT_STREAM_RETENTION:
        if (config->n_overrides == SL_BROKER_MAX_OVERRIDES) {
            *why = "too many overrides";
            return SL_EINVAL;
        }
        rc = sl_broker_parse_override (arg, &config->overrides[config->n_overrides], why);
        if (rc == 0) {
            config->n_overrides++;
        }
        break;
    case OPT_MAX_BATCH_BYTES:
        rc = sl_parse_size (arg, &config->max_batch_bytes);
        *why = "expected a size such as 16M";
        if (rc == 0 && (config->max_batch_bytes < 1024 || config->max_batch_bytes > (256u << 20))) {
            *why = "must be between 1K and 256M";
            rc = SL_EINVAL;
        }
        break;
    case OPT_INITIAL_MAP:
        rc = sl_parse_size (arg, &config->initial_map);
        *why = "expected a size such as 64M";
        break;
    case OPT_CURVE_SECRET:
        config->curve_secret = arg;
        break;
    case OPT_ALLOW:
        config->allow_dir = arg;
        break;
    case OPT_ALLOW_ANY:
        config->allow_any = true;
        break;
    }
    return rc;
}

static const sl_opts_spec_t s_spec = {
    .program = "sluice-broker",
    .synopsis = "[--data DIR] [--listen tcp://HOST:PORT] [options]",
    .about = "Keeps every stream as a durable log in LMDB and serves sources, sinks and workers.\n"
             "A record is confirmed to its source only after the transaction holding it has\n"
             "committed and synced to the disk: it survives kill -9 of the broker and a power\n"
             "cut (--sync weakens this for speed). SIGINT/SIGTERM finish the commit in progress and exit 0.",
    .footer = "Examples:\n"
              "  sluice-broker --data /var/lib/sluice --listen tcp://0.0.0.0:7600\n"
              "  sluice-broker --retain-age 7d --stream-retention 'debug.*:age=1h'\n"
              "  sluice-broker --curve-secret keys/broker.key_secret --allow keys/clients\n"
              "See docs/security.md for keys and per-stream rights.\n",
    .opts = s_opts,
};

int
main (int argc, char **argv)
{
    sl_log_set_program ("sluice-broker");
    sl_tune_malloc ();
    sl_broker_config_t config;
    sl_broker_config_defaults (&config);
    int exit_code = 0;
    int first = sl_opts_parse (&s_spec, argc, argv, s_apply, &config, &exit_code);
    if (first < 0) {
        return exit_code;
    }
    if (first < argc) {
        fprintf (stderr, "sluice-broker: unexpected argument '%s'; try --help\n", argv[first]);
        return 2;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    int err = 0;
    sl_broker_t *broker = sl_broker_new (&config, &err);
    if (!broker) {
        return 1;
    }
    int rc = sl_broker_run (broker);
    sl_broker_destroy (&broker);
    zsys_shutdown ();
    return rc == 0 ? 0 : 1;
}
