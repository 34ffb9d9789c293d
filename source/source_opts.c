/*  source_opts.c - sluice-source's option table (see source_opts.h). One
    line per option; a custom one also gets a case in main.c, which finds it
    by name.
*/
#include "source_opts.h"

#define F(field) SL_OPT_FIELD (sl_source_args_t, field)
#define CUSTOM .type = SL_ARG_CUSTOM

static const sl_opt_t s_opts[] = {
    {"broker", 'b', "tcp://HOST:PORT",
     "broker address (required); a primary and its replicas as a,b", F (cfg.broker),
     .type = SL_ARG_STRING, .flags = SL_OPT_CONNECTS | SL_OPT_NO_KEY},
    {"stream", 's', "NAME", "stream to publish to, created on first use (required)", F (cfg.stream),
     .type = SL_ARG_STRING},
    {"name", 'n', "NAME", "durable producer name, makes reruns resume (default anon-<random>)",
     F (cfg.name), .type = SL_ARG_STRING, .key = "producer"},
    {"format", 0, "FORMAT", "input format: json, lines or msgpack", .def = "json", CUSTOM},
    {"key", 'k', "FIELD", "record key from this field of each value", F (cfg.key_field),
     .type = SL_ARG_STRING},
    {"generate", 0, "N", "publish N synthetic records instead of files (0 = endless)", CUSTOM},
    {"rate", 'r', "R", "at most R records per second (0 = unlimited)", .def = "0", CUSTOM},
    {"batch-records", 0, "N", "records per batch", F (cfg.batch_records), .type = SL_ARG_UINT,
     .def = "1000", .max = 1u << 20},
    {"batch-bytes", 0, "SIZE", "bytes per batch (at most the broker's limit)", F (cfg.batch_bytes),
     .type = SL_ARG_SIZE, .def = "1M", .min = 1},
    {"linger", 0, "TIME", "most a batch waits to fill while one is unconfirmed", F (cfg.linger_ms),
     .type = SL_ARG_DURATION, .def = "5ms"},
    {"window", 0, "N", "unconfirmed batches in flight", F (cfg.window), .type = SL_ARG_UINT,
     .def = "32", .max = 4096},
    {"timeout", 't', "TIME", "resend when nothing is confirmed for this long", F (cfg.timeout_ms),
     .type = SL_ARG_DURATION, .def = "5s"},
    {"drain-timeout", 0, "TIME", "on SIGINT/SIGTERM, wait this long for confirms",
     F (cfg.drain_timeout_ms), .type = SL_ARG_DURATION, .def = "10s"},
    {"connect-timeout", 0, "TIME", "give up when the broker does not answer (0 = never)",
     F (cfg.connect_timeout_ms), .type = SL_ARG_DURATION, .def = "30s"},
    {"strict", 0, NULL, "stop at the first bad line (exit 1)", F (cfg.strict),
     .type = SL_ARG_SWITCH},
    {"progress", 'p', NULL, "print a status line every second (default: on a terminal)", CUSTOM},
    {"no-progress", 0, NULL, "never print the status line", CUSTOM},
    {"curve-secret", 0, "FILE",
     "this client's key pair (NAME.key_secret from `sluice keygen`): "
     "CURVE on",
     F (curve_secret), .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"broker-key", 0, "FILE", "the broker's public key (NAME.key), with --curve-secret",
     F (broker_key), .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"follow", 'F', NULL,
     "read the FILEs (paths or quoted globs) as they grow, through "
     "rotation, like tail -F",
     F (cfg.follow), .type = SL_ARG_SWITCH},
    {"state-dir", 0, "DIR",
     "with --follow --name: keep the byte positions in "
     "DIR/NAME@STREAM.follow (default .)",
     F (cfg.state_dir), .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"http", 0, "HOST:PORT",
     "serve POST /streams/NAME (JSON lines or an array), answered after "
     "the confirm",
     F (http.listen), .type = SL_ARG_STRING},
    {"http-token-file", 0, "FILE",
     "with --http: require a bearer token from FILE (one per "
     "line)",
     F (http.token_file), .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"http-max-body", 0, "SIZE", "with --http: largest request body (more is 413)",
     F (http.max_body), .type = SL_ARG_SIZE, .def = "1M", .min = 1},
    {"http-max-connections", 0, "N", "with --http: open connections at once (more wait)",
     F (http.max_connections), .type = SL_ARG_UINT, .def = "64", .min = 1, .max = 4096},
    {"mqtt", 0, "URL", "subscribe to mqtt://HOST:PORT/TOPIC-FILTER (QoS 1); key = topic",
     F (cfg.mqtt_url), .type = SL_ARG_STRING},
    {"fixed-key", 0, "KEY", "the same key on every record (kcat -k)", F (cfg.fixed_key),
     .type = SL_ARG_STRING},
    {"header", 'H', "NAME=VALUE", "a header on every record (repeatable)", .repeat = true, CUSTOM},
    {.name = NULL},
};

const sl_opts_spec_t sl_source_opts = {
    .program = "sluice-source",
    .synopsis = "--broker tcp://HOST:PORT --stream NAME [FILE...|-]  |  --http HOST:PORT",
    .about = "Publishes records to a Sluice stream: one JSON value per line (default), text\n"
             "lines, a msgpack stream, or generated records. Reads standard input when no\n"
             "FILE (or '-') is given. Every record is confirmed by the broker only once it is\n"
             "on disk; with --name, a rerun over the same input adds nothing twice.\n"
             "Also: files followed as they grow (--follow), MQTT (--mqtt), HTTP (--http).",
    .footer = "Examples:\n"
              "  sluice-source -b tcp://127.0.0.1:7600 -s orders orders.jsonl\n"
              "  sluice-source -b tcp://127.0.0.1:7600 -s orders --name import-1 --key customer "
              "a.jsonl b.jsonl\n"
              "  tail -F /var/log/app.log | sluice-source -b tcp://broker:7600 -s logs "
              "--format lines\n"
              "  sluice-source -b tcp://127.0.0.1:7600 -s sensors --generate 0 --rate 10000\n"
              "  sluice-source -b tcp://127.0.0.1:7600 --http 127.0.0.1:8080 --http-token-file "
              "tokens\n"
              "  sluice-source -b tcp://127.0.0.1:7600 -s logs --format lines --follow --name "
              "app-logs \\\n      --state-dir /var/lib/sluice '/var/log/app/*.log'\n"
              "\n"
              "Exit status: 0 when every record read was confirmed, 1 otherwise (records not\n"
              "confirmed, a file unreadable, malformed msgpack, --strict stop), 2 usage error,\n"
              "3 all valid records confirmed but bad lines or too large records rejected.\n"
              "See docs/source.md.",
    .opts = s_opts,
};
