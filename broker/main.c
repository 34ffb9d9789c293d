/*  sluice-broker - keeps every stream as a durable log and serves it.
*/
#include <czmq.h>
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker.h"
#include "sl_endpoint.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_opts.h"
#include "sl_store.h"
#include "sl_opts_file.h"
#include "sl_util.h"

//  The store is damaged: refused at start, or found so by --check.
#define S_EXIT_DAMAGED 3

enum { OPT_DATA, OPT_LISTEN, OPT_PUB, OPT_FSYNC, OPT_SYNC, OPT_RETAIN_RECORDS, OPT_RETAIN_BYTES, OPT_RETAIN_AGE,
       OPT_STREAM_RETENTION, OPT_MAX_BATCH_BYTES, OPT_INITIAL_MAP, OPT_CURVE_SECRET, OPT_ALLOW,
       OPT_ALLOW_ANY, OPT_CHECK, OPT_PEER_BUDGET, OPT_TOTAL_BUDGET, OPT_LIVE_BUDGET, OPT_STUCK,
       OPT_MAX_GROUPS, OPT_MAX_STREAMS, OPT_MAX_PRODUCERS, OPT_MAX_CONNECTIONS, OPT_HANDSHAKE,
       OPT_HTTP, OPT_REPLICATION, OPT_REPLICA_OF, OPT_SYNC_REPLICAS, OPT_SYNC_TIMEOUT,
       OPT_JOURNAL_BYTES, OPT_CONFIG };

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
    [OPT_CHECK] = {"check", 0, NULL, "check the store in --data (every stream, batch and "
                   "checksum), report and exit: 0 clean, 3 damaged; runs beside a running broker",
                   false},
    [OPT_PEER_BUDGET] = {"peer-budget", 0, "SIZE", "replies and work the broker holds for one "
                         "peer that does not read them; over it a request gets ERROR EBUSY "
                         "and a member no work (default 32M)", false},
    [OPT_TOTAL_BUDGET] = {"total-budget", 0, "SIZE", "the same for all peers together "
                          "(default 512M)", false},
    [OPT_LIVE_BUDGET] = {"live-budget", 0, "SIZE", "live feed the broker holds for slow "
                         "subscribers; over it live messages are skipped and sinks refill "
                         "them from the log (default 64M)", false},
    [OPT_STUCK] = {"stuck-timeout", 0, "DURATION", "a peer whose replies have not moved this "
                   "long loses its work leases (default 30s)", false},
    [OPT_MAX_GROUPS] = {"max-groups", 0, "N", "worker groups; a JOIN creating one more gets "
                        "ERROR ELIMIT (default 1024)", false},
    [OPT_MAX_STREAMS] = {"max-streams", 0, "N", "streams; a PUBLISH or JOIN creating one more "
                         "gets ERROR ELIMIT (default 10000)", false},
    [OPT_MAX_PRODUCERS] = {"max-producers", 0, "N", "producer sequences cached in memory; the "
                           "rest are read from disk (default 16384)", false},
    [OPT_MAX_CONNECTIONS] = {"max-connections", 0, "N", "open connections; more are closed at "
                             "once (default 4096, kept below the descriptor limit)", false},
    [OPT_HANDSHAKE] = {"handshake-timeout", 0, "DURATION", "a connection that has not "
                       "completed the ZeroMQ handshake in this time is closed (default 5s)",
                       false},
    [OPT_HTTP] = {"http", 0, "HOST:PORT", "serve /metrics, /healthz, /api/stat and a live page "
                  "over HTTP (off by default; e.g. 127.0.0.1:7680)", false},
    [OPT_REPLICATION] = {"replication", 0, "ENDPOINT", "serve the replication journal to "
                         "replicas at ENDPOINT (tcp://*:7602); docs/replication.md", false},
    [OPT_REPLICA_OF] = {"replica-of", 0, "ENDPOINT", "run as a read-only replica following the "
                        "primary's --replication ENDPOINT; writes get EREADONLY", false},
    [OPT_SYNC_REPLICAS] = {"sync-replicas", 0, "N", "confirm a write only after N replicas "
                           "committed it (default 0: replicas lag)", false},
    [OPT_SYNC_TIMEOUT] = {"sync-timeout", 0, "DURATION", "with --sync-replicas: answer "
                          "ENOREPLICA after waiting this long (100ms-2s, default 1s)", false},
    [OPT_JOURNAL_BYTES] = {"journal-bytes", 0, "SIZE", "replication journal kept for "
                           "replicas that fall behind (default 1G)", false},
    [OPT_CONFIG] = {"config", 0, "FILE", "read settings from FILE first: NAME = VALUE lines, "
                    "NAME a flag without dashes; flags and SLUICE_* override it", false},
    {NULL, 0, NULL, NULL, false},
};

static char s_why[400];       //  an endpoint's message (sl_endpoint_check)

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
    case OPT_PUB:
        rc = sl_endpoint_check (arg, SL_ENDPOINT_BIND, s_why, sizeof s_why);
        *why = s_why;
        if (index == OPT_LISTEN) {
            config->listen = arg;
        }
        else {
            config->pub = arg;
        }
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
    case OPT_CHECK:
        config->check = true;
        break;
    case OPT_PEER_BUDGET:
    case OPT_TOTAL_BUDGET:
    case OPT_LIVE_BUDGET: {
        uint64_t *field = index == OPT_PEER_BUDGET    ? &config->peer_budget
                          : index == OPT_TOTAL_BUDGET ? &config->total_budget
                                                      : &config->live_budget;
        rc = sl_parse_size (arg, field);
        *why = "expected a size between 1M and 64G, such as 32M";
        if (rc == 0 && (*field < (1u << 20) || *field > (64ull << 30))) {
            rc = SL_EINVAL;
        }
        break;
    }
    case OPT_STUCK:
    case OPT_HANDSHAKE: {
        int64_t ms = 0;
        rc = sl_parse_duration_ms (arg, &ms);
        *why = "expected a duration between 100ms and 1h, such as 30s";
        if (rc == 0 && (ms < 100 || ms > 3600000)) {
            rc = SL_EINVAL;
        }
        if (index == OPT_STUCK) {
            config->stuck_ms = ms;
        }
        else {
            config->handshake_ms = (int) ms;
        }
        break;
    }
    case OPT_MAX_GROUPS:
    case OPT_MAX_STREAMS:
    case OPT_MAX_PRODUCERS:
    case OPT_MAX_CONNECTIONS: {
        uint64_t n = 0;
        rc = sl_parse_u64 (arg, &n);
        *why = "expected a number between 1 and 10000000";
        if (rc == 0 && (n < 1 || n > 10000000)) {
            rc = SL_EINVAL;
        }
        uint32_t *field = index == OPT_MAX_GROUPS      ? &config->max_groups
                          : index == OPT_MAX_STREAMS   ? &config->max_streams
                          : index == OPT_MAX_PRODUCERS ? &config->max_producers
                                                       : &config->max_connections;
        *field = (uint32_t) n;
        break;
    }
    case OPT_HTTP:
        config->http = arg;
        break;
    case OPT_REPLICATION:
        rc = sl_endpoint_check (arg, SL_ENDPOINT_BIND, s_why, sizeof s_why);
        *why = s_why;
        config->replication = arg;
        break;
    case OPT_REPLICA_OF:
        rc = sl_endpoint_check (arg, SL_ENDPOINT_CONNECT, s_why, sizeof s_why);
        *why = s_why;
        config->replica_of = arg;
        break;
    case OPT_SYNC_REPLICAS: {
        uint64_t n = 0;
        rc = sl_parse_u64 (arg, &n);
        *why = "expected a number of replicas between 0 and 16";
        if (rc == 0 && n > 16) {
            rc = SL_EINVAL;
        }
        config->sync_replicas = (uint32_t) n;
        break;
    }
    case OPT_SYNC_TIMEOUT: {
        int64_t ms = 0;
        rc = sl_parse_duration_ms (arg, &ms);
        *why = "expected a duration between 100ms and 2s (the wait holds up the broker)";
        if (rc == 0 && (ms < 100 || ms > 2000)) {
            rc = SL_EINVAL;
        }
        config->sync_timeout_ms = (int) ms;
        break;
    }
    case OPT_JOURNAL_BYTES:
        rc = sl_parse_size (arg, &config->journal_bytes);
        *why = "expected a size such as 1G";
        break;
    case OPT_CONFIG:
        break;                  //  read before the flags (main)
    }
    return rc;
}

static const sl_opts_spec_t s_spec = {
    .program = "sluice-broker",
    .synopsis = "[--data DIR] [--listen tcp://HOST:PORT] [options]",
    .about = "Keeps every stream as a durable log in LMDB and serves sources, sinks and workers.\n"
             "A record is confirmed to its source only after the transaction holding it has\n"
             "committed and synced to the disk: it survives kill -9 of the broker and a power\n"
             "cut (--sync weakens this for speed). SIGINT/SIGTERM finish the commit in progress\n"
             "and exit 0.\n"
             "One broker per data directory (a lock in DIR/broker.lock). The store is checked\n"
             "at start and every stored batch carries a CRC32C checked on every read.\n"
             "Exit status: 0 stopped by a signal; 1 failed (the directory is in use by another\n"
             "broker, an endpoint cannot be bound, ...); 2 bad usage; 3 the store is damaged\n"
             "(refused at start, or found by --check).",
    .footer = "Examples:\n"
              "  sluice-broker --data /var/lib/sluice --listen tcp://0.0.0.0:7600\n"
              "  sluice-broker --retain-age 7d --stream-retention 'debug.*:age=1h'\n"
              "  sluice-broker --curve-secret keys/broker.key_secret --allow keys/clients\n"
              "  sluice-broker --check --data /var/lib/sluice\n"
              "  sluice-broker --http 127.0.0.1:7680      # then curl 127.0.0.1:7680/metrics\n"
              "  sluice-broker --config /etc/sluice/broker.conf --listen tcp://0.0.0.0:7600\n"
              "  sluice-broker --replication tcp://*:7602 --sync-replicas 1   # a primary\n"
              "  sluice-broker --replica-of tcp://primary:7602 --replication tcp://*:7602\n"
              "See docs/security.md for keys and per-stream rights, docs/reliability.md for\n"
              "damaged stores, docs/operate.md for --http, --config and the stat and manage\n"
              "commands.\n",
    .opts = s_opts,
};

//  --check walks the store in a child process: LMDB has no page checksums,
//  and a damaged tree page can send its walk outside the page (SIGSEGV).
//  A walk killed by a signal is reported as damage, not as a crash.
static int
s_check (const char *data_dir)
{
    fflush (stdout);
    pid_t pid = fork ();
    if (pid < 0) {
        int rc = sl_store_check (data_dir, stdout);
        return rc == 0 ? 0 : rc == SL_ECORRUPT ? S_EXIT_DAMAGED : 1;
    }
    if (pid == 0) {
        int rc = sl_store_check (data_dir, stdout);
        fflush (stdout);
        _exit (rc == 0 ? 0 : rc == SL_ECORRUPT ? S_EXIT_DAMAGED : 1);
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

int
main (int argc, char **argv)
{
    sl_log_set_program ("sluice-broker");
    sl_tune_malloc ();
    sl_broker_config_t config;
    sl_broker_config_defaults (&config);
    int exit_code = 0;
    //  The file first, so that the environment and the flags override it.
    char *file_text = NULL;
    const char *config_path = sl_opts_find_config (argc, argv, "SLUICE_CONFIG");
    if (config_path) {
        char why[512];
        if (sl_opts_file (&s_spec, config_path, s_apply, &config, &file_text, why, sizeof why)) {
            fprintf (stderr, "sluice-broker: --config %s\n", why);
            free (file_text);
            return 2;
        }
    }
    int first = sl_opts_parse (&s_spec, argc, argv, s_apply, &config, &exit_code);
    if (first < 0) {
        free (file_text);
        return exit_code;
    }
    if (first < argc) {
        fprintf (stderr, "sluice-broker: unexpected argument '%s'; try --help\n", argv[first]);
        free (file_text);
        return 2;
    }
    if (config.check) {
        free (file_text);
        return s_check (config.data_dir);
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    int err = 0;
    sl_broker_t *broker = sl_broker_new (&config, &err);
    if (!broker) {
        free (file_text);
        return err == SL_ECORRUPT ? S_EXIT_DAMAGED : 1;
    }
    int rc = sl_broker_run (broker);
    sl_broker_destroy (&broker);
    free (file_text);
    zsys_shutdown ();
    return rc == 0 ? 0 : 1;
}
