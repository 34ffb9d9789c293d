/*  main.c - sluice-source: publishes JSON lines, text lines, msgpack or
    generated records to a Sluice stream. Flags in, core out (source.c).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_client.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_opts.h"
#include "sl_util.h"
#include "source.h"

enum {
    O_BROKER, O_STREAM, O_NAME, O_FORMAT, O_KEY, O_GENERATE, O_RATE, O_BATCH_RECORDS,
    O_BATCH_BYTES, O_LINGER, O_WINDOW, O_TIMEOUT, O_DRAIN_TIMEOUT, O_CONNECT_TIMEOUT, O_STRICT,
    O_PROGRESS, O_NO_PROGRESS, O_CURVE_SECRET, O_BROKER_KEY, O_FIXED_KEY, O_HEADER,
};

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
    [O_FIXED_KEY] = {"fixed-key", 0, "KEY", "the same key on every record (kcat -k)", false},
    [O_HEADER] = {"header", 'H', "NAME=VALUE", "a header on every record (repeatable)", true},
    {NULL, 0, NULL, NULL, false},
};

static const sl_opts_spec_t s_spec = {
    .program = "sluice-source",
    .synopsis = "--broker tcp://HOST:PORT --stream NAME [FILE...|-]",
    .about = "Publishes records to a Sluice stream: one JSON value per line (default), text\n"
             "lines, a msgpack stream, or generated records. Reads standard input when no\n"
             "FILE (or '-') is given. Every record is confirmed by the broker only once it is\n"
             "on disk; with --name, a rerun over the same input adds nothing twice.",
    .footer = "Examples:\n"
              "  sluice-source -b tcp://127.0.0.1:7600 -s orders orders.jsonl\n"
              "  sluice-source -b tcp://127.0.0.1:7600 -s orders --name import-1 --key customer "
              "a.jsonl b.jsonl\n"
              "  tail -F /var/log/app.log | sluice-source -b tcp://broker:7600 -s logs "
              "--format lines\n"
              "  sluice-source -b tcp://127.0.0.1:7600 -s sensors --generate 0 --rate 10000\n"
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
    int code = 0;
    int first = sl_opts_parse (&s_spec, argc, argv, s_option, &cfg, &code);
    if (first < 0) {
        return code;
    }
    if (!cfg.broker || !cfg.stream) {
        fprintf (stderr, "sluice-source: --broker and --stream are required; try --help\n");
        return 2;
    }
    if (cfg.generate && first < argc) {
        fprintf (stderr, "sluice-source: --generate reads no files; try --help\n");
        return 2;
    }
    code = sl_client_security_flags ("sluice-source", s_curve_secret, s_broker_key);
    if (code) {
        return code;
    }
    return sl_source_run (&cfg, argc - first, argv + first);
}
