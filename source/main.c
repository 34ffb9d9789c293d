/*  main.c - sluice-source: publishes JSON lines, text lines, msgpack or
    generated records to a Sluice stream. Flags in, core out (source.c).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_in.h"
#include "sl_client.h"
#include "sl_endpoint.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_opts.h"
#include "sl_util.h"
#include "source.h"

enum {
    O_BROKER, O_STREAM, O_NAME, O_FORMAT, O_KEY, O_GENERATE, O_RATE, O_BATCH_RECORDS,
    O_BATCH_BYTES, O_LINGER, O_WINDOW, O_TIMEOUT, O_DRAIN_TIMEOUT, O_CONNECT_TIMEOUT, O_STRICT,
    O_PROGRESS, O_NO_PROGRESS, O_CURVE_SECRET, O_BROKER_KEY, O_FOLLOW, O_STATE_DIR,
    O_HTTP, O_HTTP_TOKEN_FILE, O_HTTP_MAX_BODY, O_HTTP_MAX_CONNECTIONS, O_MQTT, O_FIXED_KEY,
    O_HEADER,
};


//  The message of a bad --broker (sl_endpoint_check).
static char s_endpoint_why[400];
static const sl_opt_t s_opts[] = {
    [O_BROKER] = {"broker", 'b', "tcp://HOST:PORT", "broker address (required)", false},
    [O_STREAM] = {"stream", 's', "NAME", "stream to publish to, created on first use (required)",
                  false},
    [O_NAME] = {"name", 'n', "NAME", "durable producer name, makes reruns resume (default "
                                      "anon-<random>)", false},
    [O_FORMAT] = {"format", 'f', "FORMAT", "input format: json (default), lines or msgpack",
                  false},
    [O_KEY] = {"key", 'k', "FIELD", "record key from this field of each value", false},
    [O_GENERATE] = {"generate", 'g', "N", "publish N synthetic records instead of files "
                                          "(0 = endless)", false},
    [O_RATE] = {"rate", 'r', "R", "at most R records per second (default 0 = unlimited)", false},
    [O_BATCH_RECORDS] = {"batch-records", 0, "N", "records per batch (default 1000)", false},
    [O_BATCH_BYTES] = {"batch-bytes", 0, "SIZE", "bytes per batch (default 1M, at most the "
                                                  "broker's limit)", false},
    [O_LINGER] = {"linger", 0, "TIME", "most a batch waits to fill while one is unconfirmed "
                                       "(default 5ms)", false},
    [O_WINDOW] = {"window", 'w', "N", "unconfirmed batches in flight (default 32)", false},
    [O_TIMEOUT] = {"timeout", 't', "TIME", "resend when nothing is confirmed for this long "
                                           "(default 5s)", false},
    [O_DRAIN_TIMEOUT] = {"drain-timeout", 0, "TIME", "on SIGINT/SIGTERM, wait this long for "
                                                     "confirms (default 10s)", false},
    [O_CONNECT_TIMEOUT] = {"connect-timeout", 0, "TIME", "give up when the broker does not "
                                                         "answer (default 30s, 0 = never)",
                           false},
    [O_STRICT] = {"strict", 0, NULL, "stop at the first bad line (exit 1)", false},
    [O_PROGRESS] = {"progress", 'p', NULL, "print a status line every second (default: on a "
                                           "terminal)", false},
    [O_NO_PROGRESS] = {"no-progress", 0, NULL, "never print the status line", false},
    [O_CURVE_SECRET] = {"curve-secret", 0, "FILE", "this client's key pair (NAME.key_secret from "
                                        "`sluice keygen`): CURVE on", false},
    [O_BROKER_KEY] = {"broker-key", 0, "FILE", "the broker's public key (NAME.key), with "
                                     "--curve-secret", false},
    [O_FOLLOW] = {"follow", 'F', NULL, "read the FILEs (paths or quoted globs) as they grow, "
                                       "through rotation, like tail -F", false},
    [O_STATE_DIR] = {"state-dir", 0, "DIR", "with --follow --name: keep the byte positions in "
                                            "DIR/NAME@STREAM.follow (default .)", false},
    [O_HTTP] = {"http", 0, "HOST:PORT", "serve POST /streams/NAME (JSON lines or an array), "
                                        "answered after the confirm", false},
    [O_HTTP_TOKEN_FILE] = {"http-token-file", 0, "FILE", "with --http: require a bearer token "
                                                         "from FILE (one per line)", false},
    [O_HTTP_MAX_BODY] = {"http-max-body", 0, "SIZE", "with --http: largest request body "
                                                     "(default 1M; more is 413)", false},
    [O_HTTP_MAX_CONNECTIONS] = {"http-max-connections", 0, "N", "with --http: open connections "
                                "at once (default 64; more wait)", false},
    [O_MQTT] = {"mqtt", 0, "URL", "subscribe to mqtt://HOST:PORT/TOPIC-FILTER (QoS 1); key = "
                                  "topic", false},
    [O_FIXED_KEY] = {"fixed-key", 0, "KEY", "the same key on every record (kcat -k)", false},
    [O_HEADER] = {"header", 'H', "NAME=VALUE", "a header on every record (repeatable)", true},
    {NULL, 0, NULL, NULL, false},
};

static const sl_opts_spec_t s_spec = {
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

//  --curve-secret and --broker-key: kept here, applied to every client of
//  the process (sl_client_set_security) once the flags are read.
static const char *s_curve_secret;
static const char *s_broker_key;

//  --http: a server instead of the file reader (http_in.c).
static sl_http_in_config_t s_http;

static int
s_u64 (const char *arg, uint64_t max, uint64_t *out, const char **why)
{
    if (sl_parse_u64 (arg, out) || *out > max) {
        *why = "expected a whole number";
        return SL_EINVAL;
    }
    return 0;
}

static int
s_duration (const char *arg, int64_t *out, const char **why)
{
    if (sl_parse_duration_ms (arg, out) || *out < 0) {
        *why = "expected a duration such as 500ms, 5s or 2m";
        return SL_EINVAL;
    }
    return 0;
}

static int
s_option (void *ctx, int index, const char *arg, const char **why)
{
    sl_source_config_t *cfg = (sl_source_config_t *) ctx;
    uint64_t n = 0;
    int rc = 0;
    switch (index) {
        case O_BROKER:
            cfg->broker = arg;
            if (sl_endpoint_check_list (arg, s_endpoint_why,
                                   sizeof s_endpoint_why)) {
                *why = s_endpoint_why;
                return SL_EINVAL;
            }
            break;
        case O_STREAM:
            cfg->stream = arg;
            break;
        case O_NAME:
            cfg->name = arg;
            break;
        case O_FORMAT:
            if (strcmp (arg, "json") == 0) {
                cfg->format = SL_FORMAT_JSON;
            }
            else if (strcmp (arg, "lines") == 0) {
                cfg->format = SL_FORMAT_LINES;
            }
            else if (strcmp (arg, "msgpack") == 0) {
                cfg->format = SL_FORMAT_MSGPACK;
            }
            else {
                *why = "expected json, lines or msgpack";
                rc = SL_EINVAL;
            }
            break;
        case O_KEY:
            cfg->key_field = arg;
            break;
        case O_FIXED_KEY:
            cfg->fixed_key = arg;
            break;
        case O_HEADER:
            if (cfg->n_headers >= SL_SOURCE_MAX_HEADERS) {
                *why = "at most 32 headers";
                rc = SL_ETOOBIG;
            }
            else {
                cfg->headers[cfg->n_headers++] = arg;
            }
            break;
        case O_GENERATE:
            rc = s_u64 (arg, UINT64_MAX, &cfg->generate_count, why);
            cfg->generate = true;
            break;
        case O_RATE: {
            char *end = NULL;
            cfg->rate = strtod (arg, &end);
            if (!*arg || *end || !(cfg->rate >= 0) || cfg->rate > 1e12) {
                *why = "expected records per second, such as 1000 or 0.5";
                rc = SL_EINVAL;
            }
            break;
        }
        case O_BATCH_RECORDS:
            rc = s_u64 (arg, 1u << 20, &n, why);
            cfg->batch_records = (uint32_t) n;
            break;
        case O_BATCH_BYTES:
            if (sl_parse_size (arg, &cfg->batch_bytes) || cfg->batch_bytes == 0) {
                *why = "expected a size such as 256k or 1M";
                rc = SL_EINVAL;
            }
            break;
        case O_LINGER:
            rc = s_duration (arg, &cfg->linger_ms, why);
            break;
        case O_WINDOW:
            rc = s_u64 (arg, 4096, &n, why);
            cfg->window = (uint32_t) n;
            break;
        case O_TIMEOUT:
            rc = s_duration (arg, &cfg->timeout_ms, why);
            break;
        case O_DRAIN_TIMEOUT:
            rc = s_duration (arg, &cfg->drain_timeout_ms, why);
            break;
        case O_CONNECT_TIMEOUT:
            rc = s_duration (arg, &cfg->connect_timeout_ms, why);
            break;
        case O_STRICT:
            cfg->strict = true;
            break;
        case O_PROGRESS:
            cfg->progress = 1;
            break;
        case O_NO_PROGRESS:
            cfg->progress = 0;
            break;
        case O_CURVE_SECRET:
            s_curve_secret = arg;
            break;
        case O_BROKER_KEY:
            s_broker_key = arg;
            break;
        case O_FOLLOW:
            cfg->follow = true;
            break;
        case O_STATE_DIR:
            cfg->state_dir = arg;
            break;
        case O_HTTP:
            s_http.listen = arg;
            break;
        case O_MQTT:
            cfg->mqtt_url = arg;
            break;
        case O_HTTP_MAX_CONNECTIONS:
            rc = s_u64 (arg, 4096, &n, why);
            s_http.max_connections = (uint32_t) n;
            if (rc == 0 && n == 0) {
                *why = "expected 1-4096";
                rc = SL_EINVAL;
            }
            break;
        case O_HTTP_TOKEN_FILE:
            s_http.token_file = arg;
            break;
        case O_HTTP_MAX_BODY:
            if (sl_parse_size (arg, &s_http.max_body) || s_http.max_body == 0) {
                *why = "expected a size such as 256k or 1M";
                rc = SL_EINVAL;
            }
            break;
        default:
            break;
    }
    return rc;
}

int
main (int argc, char **argv)
{
    sl_log_set_program ("sluice-source");
    sl_tune_malloc ();
    sl_source_config_t cfg;
    sl_source_config_defaults (&cfg);
    sl_http_in_config_defaults (&s_http);
    int code = 0;
    int first = sl_opts_parse (&s_spec, argc, argv, s_option, &cfg, &code);
    if (first < 0) {
        return code;
    }
    if (s_http.listen) {
        if (!cfg.broker || first < argc || cfg.follow || cfg.generate) {
            fprintf (stderr, "sluice-source: --http needs --broker and reads no files, "
                             "--follow or --generate (the stream is in the URL); try --help\n");
            return 2;
        }
        code = sl_client_security_flags ("sluice-source", s_curve_secret, s_broker_key);
        if (code) {
            return code;
        }
        s_http.broker = cfg.broker;
        s_http.key_field = cfg.key_field;
        s_http.connect_timeout_ms = cfg.connect_timeout_ms;
        return sl_http_in_run (&s_http);
    }
    if (!cfg.broker || !cfg.stream) {
        fprintf (stderr, "sluice-source: --broker and --stream are required; try --help\n");
        return 2;
    }
    if (cfg.generate && first < argc) {
        fprintf (stderr, "sluice-source: --generate reads no files; try --help\n");
        return 2;
    }
    if (cfg.mqtt_url && (first < argc || cfg.follow || cfg.generate
                         || cfg.format == SL_FORMAT_MSGPACK)) {
        fprintf (stderr, "sluice-source: --mqtt reads no files, --follow, --generate or msgpack; "
                         "try --help\n");
        return 2;
    }
    if (cfg.follow) {
        bool stdin_named = false;
        for (int i = first; i < argc; i++) {
            stdin_named |= strcmp (argv[i], "-") == 0;
        }
        if (first == argc || stdin_named || cfg.generate || cfg.format == SL_FORMAT_MSGPACK) {
            fprintf (stderr, "sluice-source: --follow reads named files (not stdin, --generate "
                             "or msgpack); try --help\n");
            return 2;
        }
    }
    code = sl_client_security_flags ("sluice-source", s_curve_secret, s_broker_key);
    if (code) {
        return code;
    }
    return sl_source_run (&cfg, argc - first, argv + first);
}
