/*  sink_opts.c - sluice-sink's option table (see sink_opts.h). One line per
    option; a custom one also gets a case in main.c, which finds it by name.
*/
#include "sink_opts.h"

#define F(field) SL_OPT_FIELD (sl_sink_args_t, field)

static const sl_opt_t s_opts[] = {
    {"broker", 'b', "ENDPOINT",
     "broker command endpoint, e.g. tcp://127.0.0.1:7600; a primary and its replicas as a,b",
     F (cfg.broker), .type = SL_ARG_STRING, .flags = SL_OPT_CONNECTS | SL_OPT_NO_KEY},
    {"stream", 's', "NAME", "stream to read", F (cfg.stream), .type = SL_ARG_STRING,
     .flags = SL_OPT_NAME},
    {"from", 'f', "POS",
     "start at beginning, end, OFFSET, -N (the last N), @TIME or @-DURATION "
     "(@-5m: five minutes ago)",
     .def = "end"},
    {"name", 'n', "NAME", "durable reader: resume where NAME committed, else --from", F (cfg.name),
     .type = SL_ARG_STRING, .flags = SL_OPT_NAME, .key = "reader"},
    {"exit-at-end", 'e', NULL, "exit 0 once caught up instead of following", F (cfg.exit_at_end),
     .type = SL_ARG_SWITCH},
    {"count", 'c', "N", "exit 0 after N records", F (cfg.count), .type = SL_ARG_UINT, .min = 1},
    {"format", 0, "FORMAT", "json (default), value (JSON per line) or msgpack",
     .type = SL_ARG_CUSTOM},
    {"list", 0, NULL, "list the broker's streams (JSON with --format json)", F (cfg.list),
     .type = SL_ARG_SWITCH, .flags = SL_OPT_NO_KEY},
    {"connect-timeout", 0, "DURATION", "exit 1 if the broker is silent this long",
     F (cfg.connect_timeout_ms), .type = SL_ARG_DURATION, .def = "30s", .min = 1},
    {"curve-secret", 0, "FILE",
     "this client's key pair (NAME.key_secret from `sluice keygen`): "
     "CURVE on",
     F (curve_secret), .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"broker-key", 0, "FILE", "the broker's public key (NAME.key), with --curve-secret",
     F (broker_key), .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"output", 0, "DIR",
     "write files STREAM.<first-offset>.jsonl into DIR (needs --name; see "
     "docs/sink.md)",
     F (cfg.output_dir), .type = SL_ARG_STRING, .flags = SL_OPT_PATH, .key = "output-dir"},
    {"rotate-bytes", 0, "SIZE",
     "with --output, complete a file at this size before "
     "compression",
     F (cfg.rotate_bytes), .type = SL_ARG_SIZE, .def = "64M", .min = 1},
    {"rotate-age", 0, "DURATION",
     "with --output, complete a file this long after its first "
     "record (default: never)",
     F (cfg.rotate_age_ms), .type = SL_ARG_DURATION, .min = 1},
    {"compress", 0, "CODEC", "with --output: none, gzip or zstd", .def = "none"},
    {"mqtt", 0, "URL",
     "publish each value (JSON) to mqtt://HOST:PORT/TOPIC, QoS 1, at least "
     "once",
     F (cfg.mqtt_url), .type = SL_ARG_STRING},
    {"mqtt-topic", 0, "TEMPLATE",
     "with --mqtt: the topic, {key} is the record's key (e.g. "
     "'devices/{key}')",
     F (cfg.mqtt_topic), .type = SL_ARG_STRING},
    {"post", 0, "URL",
     "POST batches of JSON lines to a webhook; with --name committed after a "
     "2xx: at least once",
     F (cfg.post_url), .type = SL_ARG_STRING},
    {"max-retries", 0, "N",
     "with --post: retries on 5xx/429/connection errors before the dead "
     "letters",
     F (cfg.max_retries), .type = SL_ARG_UINT, .def = "5", .max = 1000},
    {"dead-letter", 0, "STREAM", "with --post: where refused batches go (default STREAM.dead)",
     F (cfg.dead_letter), .type = SL_ARG_STRING, .flags = SL_OPT_NAME},
    {"until", 0, "POS",
     "exit 0 before OFFSET, or before the first record appended at or after "
     "@TIME / @-DURATION",
     .type = SL_ARG_CUSTOM},
    {"key-filter", 0, "GLOB",
     "write only records whose key matches GLOB (fnmatch: orders-*, "
     "user-4?)",
     F (cfg.key_filter), .type = SL_ARG_STRING},
    {"post-token-file", 0, "FILE",
     "with --post: send 'Authorization: Bearer TOKEN', the token "
     "read from FILE (or $SLUICE_POST_TOKEN)",
     F (cfg.post_token_file), .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"post-header-file", 0, "FILE",
     "with --post: more headers, one 'Name: value' per line of "
     "FILE (e.g. X-Api-Key)",
     F (cfg.post_header_file), .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {.name = NULL},
};

const sl_opts_spec_t sl_sink_opts = {
    .program = "sluice-sink",
    .synopsis = "--broker tcp://HOST:PORT --stream NAME",
    .about = "Writes the records of a stream to stdout, in order, each exactly once: first\n"
             "from the broker's log, from the position --from names, then live as they are\n"
             "appended (like tail -f), filling any gap in the live feed from the log.\n"
             "With --name the position is committed to the broker as output is written, and\n"
             "a restarted sink resumes there. Instead of stdout: rotating files (--output DIR,\n"
             "exactly once), an MQTT broker (--mqtt) or a webhook (--post), at least once.\n"
             "Exit codes: 0 done (also SIGINT/SIGTERM and a\n"
             "closed pipe), 1 error (broker unreachable, malformed data), 2 usage.",
    .footer = "Examples:\n"
              "  sluice-sink -b tcp://127.0.0.1:7600 -s orders      # follow new records\n"
              "  sluice-sink -b tcp://127.0.0.1:7600 -s orders --from beginning --exit-at-end\n"
              "  sluice-sink -b tcp://127.0.0.1:7600 -s orders --from -10 --format value\n"
              "  sluice-sink -b tcp://127.0.0.1:7600 -s orders --from @2026-11-26T12:00:00Z\n"
              "  sluice-sink -b tcp://127.0.0.1:7600 -s orders --from @-5m --until @-1m "
              "--key-filter 'eu-*'\n"
              "  sluice-sink -b tcp://127.0.0.1:7600 -s orders --name billing --from beginning\n"
              "  sluice-sink -b tcp://127.0.0.1:7600 --list\n"
              "  SLUICE_BROKER=tcp://broker:7600 sluice-sink -s orders --from 0 | head -5\n"
              "  sluice-sink -b tcp://127.0.0.1:7600 -s orders --name archive --from beginning \\\n"
              "      --output /data/orders --rotate-bytes 256M --rotate-age 1h --compress zstd\n"
              "TIME is ISO 8601 or epoch ms. See docs/sink.md for the output formats.",
    .opts = s_opts,
};
