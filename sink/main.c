/*  sluice-sink - reads a stream from any position and follows it live.
*/
#include <czmq.h>
#include <string.h>
#include <sys/stat.h>

#include "sink.h"
#include "sl_client.h"
#include "sl_endpoint.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_opts.h"
#include "sl_util.h"

enum { OPT_BROKER, OPT_STREAM, OPT_FROM, OPT_NAME, OPT_EXIT_AT_END, OPT_COUNT, OPT_FORMAT, OPT_LIST,
       OPT_CONNECT_TIMEOUT, OPT_CURVE_SECRET, OPT_BROKER_KEY, OPT_OUTPUT, OPT_ROTATE_BYTES,
       OPT_ROTATE_AGE, OPT_COMPRESS, OPT_MQTT, OPT_MQTT_TOPIC,
       OPT_POST, OPT_MAX_RETRIES, OPT_DEAD_LETTER, OPT_UNTIL, OPT_KEY_FILTER,
       OPT_POST_TOKEN_FILE, OPT_POST_HEADER_FILE };


//  The message of a bad --broker (sl_endpoint_check).
static char s_endpoint_why[400];
static const sl_opt_t s_opts[] = {
    [OPT_BROKER] = {"broker", 'b', "ENDPOINT", "broker command endpoint, e.g. tcp://127.0.0.1:7600",
                    false},
    [OPT_STREAM] = {"stream", 's', "NAME", "stream to read", false},
    [OPT_FROM] = {"from", 'f', "POS",
                  "start at beginning, end (default), OFFSET, -N (the last N), @TIME or @-DURATION "
                  "(@-5m: five minutes ago)", false},
    [OPT_NAME] = {"name", 'n', "NAME", "durable reader: resume where NAME committed, else --from",
                  false},
    [OPT_EXIT_AT_END] = {"exit-at-end", 'e', NULL, "exit 0 once caught up instead of following",
                         false},
    [OPT_COUNT] = {"count", 'c', "N", "exit 0 after N records", false},
    [OPT_FORMAT] = {"format", 'o', "FORMAT", "json (default), value (JSON per line) or msgpack",
                    false},
    [OPT_LIST] = {"list", 'l', NULL, "list the broker's streams (JSON with --format json)", false},
    [OPT_CONNECT_TIMEOUT] = {"connect-timeout", 0, "DURATION",
                             "exit 1 if the broker is silent this long (default 30s)", false},
    [OPT_CURVE_SECRET] = {"curve-secret", 0, "FILE", "this client's key pair (NAME.key_secret from "
                                        "`sluice keygen`): CURVE on", false},
    [OPT_BROKER_KEY] = {"broker-key", 0, "FILE", "the broker's public key (NAME.key), with "
                                     "--curve-secret", false},
    [OPT_OUTPUT] = {"output", 0, "DIR", "write files STREAM.<first-offset>.jsonl into DIR "
                    "(needs --name; see docs/sink.md)", false},
    [OPT_ROTATE_BYTES] = {"rotate-bytes", 0, "SIZE", "with --output, complete a file at this "
                          "size before compression (default 64M)", false},
    [OPT_ROTATE_AGE] = {"rotate-age", 0, "DURATION", "with --output, complete a file this long "
                        "after its first record (default: never)", false},
    [OPT_COMPRESS] = {"compress", 0, "CODEC", "with --output: none (default), gzip or zstd",
                      false},
    [OPT_MQTT] = {"mqtt", 0, "URL", "publish each value (JSON) to mqtt://HOST:PORT/TOPIC, QoS 1, "
                  "at least once", false},
    [OPT_MQTT_TOPIC] = {"mqtt-topic", 0, "TEMPLATE", "with --mqtt: the topic, {key} is the "
                        "record's key (e.g. 'devices/{key}')", false},
    [OPT_POST] = {"post", 0, "URL", "POST batches of JSON lines to a webhook; with --name "
                  "committed after a 2xx: at least once", false},
    [OPT_MAX_RETRIES] = {"max-retries", 0, "N", "with --post: retries on 5xx/429/connection "
                         "errors before the dead letters (default 5)", false},
    [OPT_DEAD_LETTER] = {"dead-letter", 0, "STREAM", "with --post: where refused batches go "
                         "(default STREAM.dead)", false},
    [OPT_UNTIL] = {"until", 0, "POS", "exit 0 before OFFSET, or before the first record appended "
                   "at or after @TIME / @-DURATION", false},
    [OPT_KEY_FILTER] = {"key-filter", 0, "GLOB", "write only records whose key matches GLOB "
                        "(fnmatch: orders-*, user-4?)", false},
    [OPT_POST_TOKEN_FILE] = {"post-token-file", 0, "FILE", "with --post: send 'Authorization: "
                             "Bearer TOKEN', the token read from FILE (or $SLUICE_POST_TOKEN)",
                             false},
    [OPT_POST_HEADER_FILE] = {"post-header-file", 0, "FILE", "with --post: more headers, one "
                              "'Name: value' per line of FILE (e.g. X-Api-Key)", false},
    {NULL, 0, NULL, NULL, false},
};

//  --curve-secret and --broker-key: kept here, applied to every client of
//  the process (sl_client_set_security) once the flags are read.
static const char *s_curve_secret;
static const char *s_broker_key;

static int
s_apply (void *ctx, int index, const char *arg, const char **why)
{
    sl_sink_config_t *cfg = ctx;
    int rc = 0;
    switch (index) {
    case OPT_BROKER:
        cfg->broker = arg;
        if (sl_endpoint_check (arg, SL_ENDPOINT_CONNECT, s_endpoint_why,
                               sizeof s_endpoint_why)) {
            *why = s_endpoint_why;
            return SL_EINVAL;
        }
        break;
    case OPT_STREAM:
        cfg->stream = arg;
        if (!sl_name_valid (arg, strlen (arg))) {
            *why = "expected 1-200 characters of [A-Za-z0-9._-], not starting with '.'";
            rc = SL_ENAME;
        }
        break;
    case OPT_FROM:
        rc = sl_sink_parse_from (arg, &cfg->from, &cfg->from_value);
        *why = "expected beginning, end, OFFSET, -N or @TIME (ISO 8601 or epoch ms)";
        break;
    case OPT_NAME:
        cfg->name = arg;
        if (!sl_name_valid (arg, strlen (arg))) {
            *why = "expected 1-200 characters of [A-Za-z0-9._-], not starting with '.'";
            rc = SL_ENAME;
        }
        break;
    case OPT_EXIT_AT_END:
        cfg->exit_at_end = true;
        break;
    case OPT_COUNT:
        rc = sl_parse_u64 (arg, &cfg->count);
        *why = "expected a number of records, at least 1";
        if (rc == 0 && cfg->count == 0) {
            rc = SL_EINVAL;
        }
        break;
    case OPT_FORMAT:
        rc = sl_sink_parse_format (arg, &cfg->format);
        *why = "expected json, value or msgpack";
        break;
    case OPT_LIST:
        cfg->list = true;
        break;
    case OPT_CONNECT_TIMEOUT:
        rc = sl_parse_duration_ms (arg, &cfg->connect_timeout_ms);
        *why = "expected a duration such as 500ms, 30s or 2m";
        if (rc == 0 && cfg->connect_timeout_ms <= 0) {
            rc = SL_EINVAL;
        }
        break;
    case OPT_CURVE_SECRET:
        s_curve_secret = arg;
        break;
    case OPT_BROKER_KEY:
        s_broker_key = arg;
        break;
    case OPT_OUTPUT:
        cfg->output_dir = arg;
        break;
    case OPT_MQTT:
        cfg->mqtt_url = arg;
        break;
    case OPT_MQTT_TOPIC:
        cfg->mqtt_topic = arg;
        break;
    case OPT_POST:
        cfg->post_url = arg;
        break;
    case OPT_MAX_RETRIES: {
        uint64_t n = 0;
        rc = sl_parse_u64 (arg, &n);
        *why = "expected a number of retries, 0-1000";
        if (rc == 0 && n > 1000) {
            rc = SL_EINVAL;
        }
        cfg->max_retries = (uint32_t) n;
        break;
    }
    case OPT_DEAD_LETTER:
        cfg->dead_letter = arg;
        if (!sl_name_valid (arg, strlen (arg))) {
            *why = "expected 1-200 characters of [A-Za-z0-9._-], not starting with '.'";
            rc = SL_ENAME;
        }
        break;
    case OPT_ROTATE_BYTES:
        rc = sl_parse_size (arg, &cfg->rotate_bytes);
        *why = "expected a size such as 1M or 512k, at least 1";
        if (rc == 0 && cfg->rotate_bytes == 0) {
            rc = SL_EINVAL;
        }
        break;
    case OPT_ROTATE_AGE:
        rc = sl_parse_duration_ms (arg, &cfg->rotate_age_ms);
        *why = "expected a duration such as 30s, 5m or 1h";
        if (rc == 0 && cfg->rotate_age_ms <= 0) {
            rc = SL_EINVAL;
        }
        break;
    case OPT_COMPRESS:
        rc = sl_out_files_parse_compress (arg, &cfg->compress);
        *why = "expected none, gzip or zstd";
        break;
    case OPT_UNTIL:
        cfg->until = true;
        rc = sl_sink_parse_until (arg, &cfg->until_kind, &cfg->until_value);
        *why = "expected OFFSET, @TIME (ISO 8601 or epoch ms) or @-DURATION";
        break;
    case OPT_KEY_FILTER:
        cfg->key_filter = arg;
        break;
    case OPT_POST_TOKEN_FILE:
        cfg->post_token_file = arg;
        break;
    case OPT_POST_HEADER_FILE:
        cfg->post_header_file = arg;
        break;
    }
    return rc;
}

static const sl_opts_spec_t s_spec = {
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

int
main (int argc, char **argv)
{
    sl_log_set_program ("sluice-sink");
    sl_tune_malloc ();
    sl_sink_config_t cfg;
    sl_sink_config_init (&cfg);
    int exit_code = 0;
    int first = sl_opts_parse (&s_spec, argc, argv, s_apply, &cfg, &exit_code);
    if (first < 0) {
        return exit_code;
    }
    if (first < argc) {
        fprintf (stderr, "sluice-sink: unexpected argument '%s'; try --help\n", argv[first]);
        return 2;
    }
    if (!cfg.broker || (!cfg.list && !cfg.stream)) {
        fprintf (stderr, "sluice-sink: %s is required; try --help\n",
                 cfg.broker ? "--stream" : "--broker");
        return 2;
    }
    if (cfg.output_dir && (!cfg.name || cfg.list)) {
        fprintf (stderr, "sluice-sink: --output needs --name (the files are exact only with a "
                         "durable position) and no --list; try --help\n");
        return 2;
    }
    if ((cfg.mqtt_url != NULL) + (cfg.output_dir != NULL) + (cfg.post_url != NULL) > 1
        || ((cfg.mqtt_url || cfg.post_url) && cfg.list)) {
        fprintf (stderr, "sluice-sink: one of --output, --mqtt and --post, and none with "
                         "--list\n");
        return 2;
    }
    char dead[SL_NAME_MAX + 8];
    if ((cfg.post_token_file || cfg.post_header_file) && !cfg.post_url) {
        fprintf (stderr, "sluice-sink: --post-token-file and --post-header-file go with --post; "
                         "try --help\n");
        return 2;
    }
    if (cfg.post_url && !cfg.dead_letter) {
        snprintf (dead, sizeof dead, "%s.dead", cfg.stream);
        if (strlen (dead) > SL_NAME_MAX) {
            fprintf (stderr, "sluice-sink: the stream name is too long for STREAM.dead: give "
                             "--dead-letter\n");
            return 2;
        }
        cfg.dead_letter = dead;
    }
    if (cfg.output_dir) {
        struct stat st;
        if (stat (cfg.output_dir, &st) != 0 || !S_ISDIR (st.st_mode)) {
            fprintf (stderr, "sluice-sink: --output %s: not a directory\n", cfg.output_dir);
            return 2;
        }
    }
    if (cfg.list && cfg.format != SL_SINK_FORMAT_DEFAULT && cfg.format != SL_SINK_FORMAT_JSON) {
        fprintf (stderr, "sluice-sink: --list prints a table or, with --format json, JSON\n");
        return 2;
    }
    exit_code = sl_client_security_flags ("sluice-sink", s_curve_secret, s_broker_key);
    if (exit_code) {
        return exit_code;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    int rc = sl_sink_run (&cfg);
    zsys_shutdown ();
    return rc;
}
