/*  broker_opts.c - sluice-broker's option table (see broker_opts.h). One
    line per option: adding an option is adding a line (and, for a custom
    one, a case in main.c, which finds it by name).
*/
#include "broker_opts.h"

#define F(field) SL_OPT_FIELD (sl_broker_config_t, field)
#define K1 ((uint64_t)1 << 10)
#define M1 ((uint64_t)1 << 20)
#define G64 ((uint64_t)64 << 30)

static const sl_opt_t s_opts[] = {
    {"data", 'd', "DIR", "data directory for the LMDB log", F (data_dir), .type = SL_ARG_STRING,
     .def = "sluice-data", .flags = SL_OPT_PATH},
    {"listen", 'l', "ENDPOINT", "command endpoint clients are given", F (listen),
     .type = SL_ARG_STRING, .def = "tcp://127.0.0.1:7600", .flags = SL_OPT_BIND},
    {"pub", 0, "ENDPOINT", "live feed endpoint (default: listen port + 1)", F (pub),
     .type = SL_ARG_STRING, .flags = SL_OPT_BIND},
    {"fsync", 0, NULL, "the same as --sync=full (the default)", F (fsync), .type = SL_ARG_SWITCH},
    {"sync", 0, "MODE",
     "what each commit syncs to the disk: full (a "
     "confirmed record survives a power cut), data (the last commit may be undone), none "
     "(survives kill -9 only; a power cut may leave a store that cannot open)",
     .def = "full"},
    {"retain-records", 0, "N",
     "keep at least the newest N records per stream and remove older "
     "batches (default: keep all)",
     F (retention.max_records), .type = SL_ARG_UINT},
    {"retain-bytes", 0, "SIZE", "keep at most SIZE bytes per stream (64M, 2G)",
     F (retention.max_bytes), .type = SL_ARG_SIZE},
    {"retain-age", 0, "DURATION", "remove records older than DURATION (30m, 7d)",
     F (retention.max_age_ms), .type = SL_ARG_DURATION},
    {"stream-retention", 0, "PATTERN:SETTINGS",
     "per-stream "
     "override, e.g. 'logs.*:age=1d,bytes=1G' (repeatable; first match wins)",
     .repeat = true},
    {"max-batch-bytes", 0, "SIZE", "largest batch accepted", F (max_batch_bytes),
     .type = SL_ARG_SIZE, .def = "16M", .min = K1, .max = 256 * M1},
    {"initial-map", 0, "SIZE", "initial LMDB map size; it grows by itself (default 64M)",
     F (initial_map), .type = SL_ARG_SIZE},
    {"curve-secret", 0, "FILE",
     "the broker's key pair (NAME.key_secret from `sluice keygen`): "
     "CURVE on every socket",
     F (curve_secret), .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"allow", 0, "DIR",
     "with --curve-secret: directory of allowed client keys (NAME.key), "
     "re-read when it changes",
     F (allow_dir), .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"allow-any", 0, NULL,
     "with --curve-secret: accept any client key (encryption only; for "
     "testing)",
     F (allow_any), .type = SL_ARG_SWITCH},
    {"check", 0, NULL,
     "check the store in --data (every stream, batch and checksum), report "
     "and exit: 0 clean, 3 damaged; runs beside a running broker",
     F (check), .type = SL_ARG_SWITCH, .flags = SL_OPT_NO_KEY},
    {"peer-budget", 0, "SIZE",
     "replies and work the broker holds for one peer that does not "
     "read them; over it a request gets ERROR EBUSY and a member no work",
     F (peer_budget), .type = SL_ARG_SIZE, .def = "32M", .min = M1, .max = G64},
    {"total-budget", 0, "SIZE", "the same for all peers together", F (total_budget),
     .type = SL_ARG_SIZE, .def = "512M", .min = M1, .max = G64},
    {"live-budget", 0, "SIZE",
     "live feed the broker holds for slow subscribers; over it live "
     "messages are skipped and sinks refill them from the log",
     F (live_budget), .type = SL_ARG_SIZE, .def = "64M", .min = M1, .max = G64},
    {"stuck-timeout", 0, "DURATION",
     "a peer whose replies have not moved this long loses its "
     "work leases",
     F (stuck_ms), .type = SL_ARG_DURATION, .def = "30s", .min = 100, .max = 3600000},
    {"max-groups", 0, "N", "worker groups; a JOIN creating one more gets ERROR ELIMIT",
     F (max_groups), .type = SL_ARG_UINT, .def = "1024", .min = 1, .max = 10000000},
    {"max-state-keys", 0, "N",
     "key states one keyed group may keep in the broker; a RESULT adding more gets ERROR ELIMIT",
     F (max_state_keys), .type = SL_ARG_UINT, .def = "10000000", .min = 1, .max = 4000000000},
    {"max-streams", 0, "N", "streams; a PUBLISH or JOIN creating one more gets ERROR ELIMIT",
     F (max_streams), .type = SL_ARG_UINT, .def = "10000", .min = 1, .max = 10000000},
    {"max-producers", 0, "N",
     "producer sequences cached in memory; the rest are read from "
     "disk",
     F (max_producers), .type = SL_ARG_UINT, .def = "16384", .min = 1, .max = 10000000},
    {"max-connections", 0, "N",
     "open connections; more are closed at once (kept below the "
     "descriptor limit)",
     F (max_connections), .type = SL_ARG_UINT, .def = "4096", .min = 1, .max = 10000000},
    {"handshake-timeout", 0, "DURATION",
     "a connection that has not completed the ZeroMQ "
     "handshake in this time is closed",
     F (handshake_ms), .type = SL_ARG_DURATION, .def = "5s", .min = 100, .max = 3600000},
    {"http", 0, "HOST:PORT",
     "serve /metrics, /healthz, /api/stat and a live page over HTTP "
     "(off by default; e.g. 127.0.0.1:7680)",
     F (http), .type = SL_ARG_STRING},
    {"replication", 0, "ENDPOINT",
     "serve the replication journal to replicas at ENDPOINT "
     "(tcp://*:7602); docs/replication.md",
     F (replication), .type = SL_ARG_STRING, .flags = SL_OPT_BIND},
    {"replica-of", 0, "ENDPOINT",
     "run as a read-only replica following the primary's "
     "--replication ENDPOINT; writes get EREADONLY",
     F (replica_of), .type = SL_ARG_STRING, .flags = SL_OPT_CONNECT},
    {"sync-replicas", 0, "N",
     "confirm a write only after N replicas committed it (default 0: "
     "replicas lag)",
     F (sync_replicas), .type = SL_ARG_UINT, .max = 16},
    {"sync-timeout", 0, "DURATION",
     "with --sync-replicas: answer ENOREPLICA after waiting this "
     "long (100ms-2s, default 1s)",
     F (sync_timeout_ms), .type = SL_ARG_DURATION, .min = 100, .max = 2000},
    {"primary-key", 0, "FILE",
     "with --replica-of: the primary's public key (its NAME.key); the "
     "journal is then followed over CURVE",
     F (primary_key), .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"replica-key", 0, "FILE",
     "with --primary-key: this replica's key pair (NAME.key_secret), which "
     "the primary's allow list grants replicate (default: --curve-secret)",
     F (replica_key), .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"replication-open", 0, NULL,
     "with --curve-secret: serve and follow replication without CURVE, "
     "keys or rights (any peer that reaches it reads every stream: a private "
     "network only)",
     F (replication_open), .type = SL_ARG_SWITCH},
    {"journal-bytes", 0, "SIZE",
     "replication journal kept for replicas that fall behind "
     "(default 1G)",
     F (journal_bytes), .type = SL_ARG_SIZE},
    {"config", 0, "FILE",
     "read settings from FILE first: NAME = VALUE "
     "lines, NAME a flag without dashes; flags and SLUICE_* override it",
     .flags = SL_OPT_PATH},
    {.name = NULL},
};

const sl_opts_spec_t sl_broker_opts = {
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
