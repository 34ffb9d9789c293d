/*  sluice-verify - compares what went into a pipeline with what came out:
    sent, delivered, lost, duplicated, unexpected and out-of-order records.
    Exit 0 when nothing was lost, duplicated or unexpected, 1 when something
    was, 2 when the inputs could not be read or the flags are wrong.
*/
#include <czmq.h>
#include <stdio.h>
#include <string.h>

#include "sl_endpoint.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_opts.h"
#include "sl_util.h"
#include "verify.h"
#include "verify_io.h"

enum { OPT_SENT, OPT_SENT_STREAM, OPT_GOT, OPT_GOT_STREAM, OPT_BROKER, OPT_ID, OPT_KEY,
       OPT_GOT_FORMAT, OPT_JSON, OPT_ORDERED, OPT_EXAMPLES, OPT_CONNECT_TIMEOUT };


//  The message of a bad --broker (sl_endpoint_check).
static char s_endpoint_why[400];
static const sl_opt_t s_opts[] = {
    [OPT_SENT] = {"sent", 0, "FILE", "what went in: JSON lines, as a source reads them ('-' = stdin)",
                  false},
    [OPT_SENT_STREAM] = {"sent-stream", 0, "NAME", "what went in: a stream, read from the broker",
                         false},
    [OPT_GOT] = {"got", 0, "FILE", "what came out: sluice-sink output, json or value lines", false},
    [OPT_GOT_STREAM] = {"got-stream", 0, "NAME", "what came out: a stream, read from the broker",
                        false},
    [OPT_BROKER] = {"broker", 'b', "ENDPOINT", "broker command endpoint, for the -stream inputs",
                    false},
    [OPT_ID] = {"id", 'i', "FIELD", "match records by this top-level member (default: whole values)",
                false},
    [OPT_KEY] = {"key", 'k', "FIELD", "check order per value of this member (default: globally)",
                 false},
    [OPT_GOT_FORMAT] = {"got-format", 0, "FORMAT",
                        "auto (default: per line), json (sink --format json) or value", false},
    [OPT_JSON] = {"json", 'j', NULL, "print the report as one JSON object", false},
    [OPT_ORDERED] = {"ordered", 0, NULL, "fail (exit 1) on out-of-order records too", false},
    [OPT_EXAMPLES] = {"examples", 0, "N", "keys listed per anomaly (default 10)", false},
    [OPT_CONNECT_TIMEOUT] = {"connect-timeout", 0, "DURATION",
                             "give up when the broker is silent this long (default 10s)", false},
    {NULL, 0, NULL, NULL, false},
};

typedef struct {
    const char *sent;
    const char *sent_stream;
    const char *got;
    const char *got_stream;
    const char *broker;
    sl_verify_opts_t opts;
    sl_verify_got_format_t got_format;
    bool json;
    bool ordered;
    int64_t connect_timeout_ms;
} s_config_t;

static const char *s_name_why = "expected 1-200 characters of [A-Za-z0-9._-], not starting with '.'";

static int
s_apply (void *ctx, int index, const char *arg, const char **why)
{
    s_config_t *cfg = (s_config_t *) ctx;
    uint64_t n = 0;
    int rc = 0;
    switch (index) {
    case OPT_SENT:
        cfg->sent = arg;
        break;
    case OPT_GOT:
        cfg->got = arg;
        break;
    case OPT_SENT_STREAM:
    case OPT_GOT_STREAM:
        *(index == OPT_SENT_STREAM ? &cfg->sent_stream : &cfg->got_stream) = arg;
        if (!sl_name_valid (arg, strlen (arg))) {
            *why = s_name_why;
            rc = SL_ENAME;
        }
        break;
    case OPT_BROKER:
        cfg->broker = arg;
        if (sl_endpoint_check_list (arg, s_endpoint_why,
                               sizeof s_endpoint_why)) {
            *why = s_endpoint_why;
            return SL_EINVAL;
        }
        break;
    case OPT_ID:
    case OPT_KEY:
        *(index == OPT_ID ? &cfg->opts.id_field : &cfg->opts.key_field) = arg;
        if (!*arg) {
            *why = "expected a member name";
            rc = SL_EINVAL;
        }
        break;
    case OPT_GOT_FORMAT:
        *why = "expected auto, json or value";
        if (strcmp (arg, "auto") == 0) {
            cfg->got_format = SL_VERIFY_GOT_AUTO;
        }
        else if (strcmp (arg, "json") == 0) {
            cfg->got_format = SL_VERIFY_GOT_JSON;
        }
        else if (strcmp (arg, "value") == 0) {
            cfg->got_format = SL_VERIFY_GOT_VALUE;
        }
        else {
            rc = SL_EINVAL;
        }
        break;
    case OPT_JSON:
        cfg->json = true;
        break;
    case OPT_ORDERED:
        cfg->ordered = true;
        break;
    case OPT_EXAMPLES:
        rc = sl_parse_u64 (arg, &n);
        *why = "expected a number from 1 to 1000";
        if (rc == 0 && (n < 1 || n > 1000)) {
            rc = SL_ERANGE;
        }
        cfg->opts.examples = (uint32_t) n;
        break;
    case OPT_CONNECT_TIMEOUT:
        rc = sl_parse_duration_ms (arg, &cfg->connect_timeout_ms);
        *why = "expected a duration such as 500ms, 10s or 2m";
        if (rc == 0 && cfg->connect_timeout_ms <= 0) {
            rc = SL_EINVAL;
        }
        break;
    }
    return rc;
}

static const sl_opts_spec_t s_spec = {
    .program = "sluice-verify",
    .synopsis = "(--sent FILE | --sent-stream NAME) (--got FILE | --got-stream NAME)",
    .about = "Compares what went into a pipeline with what came out, like Jepsen's queue\n"
             "checker: records sent, delivered, lost, duplicated, unexpected (nobody sent\n"
             "them) and out of order. Records match by a member (--id) or as whole values.\n"
             "Streams are read from the broker's log from the first record kept to the end.\n"
             "Exit codes: 0 nothing lost, duplicated or unexpected; 1 something was; 2 the\n"
             "inputs could not be read or bad usage. Bad lines are reported as FILE:LINE.",
    .footer = "Examples:\n"
              "  sluice-verify --sent orders.jsonl --got-stream orders -b tcp://127.0.0.1:7600\n"
              "  sluice-verify --sent in.jsonl --got out.jsonl --id id --key customer\n"
              "  sluice-verify --sent-stream in --got-stream out -b tcp://127.0.0.1:7600 --id id\n"
              "  sluice-verify --sent in.jsonl --got-stream out -b tcp://127.0.0.1:7600 --json\n"
              "See docs/verify.md.",
    .opts = s_opts,
};

int
main (int argc, char **argv)
{
    sl_log_set_program ("sluice-verify");
    s_config_t cfg = {.connect_timeout_ms = 10000};
    int exit_code = 0;
    int first = sl_opts_parse (&s_spec, argc, argv, s_apply, &cfg, &exit_code);
    if (first < 0) {
        return exit_code;
    }
    if (first < argc) {
        fprintf (stderr, "sluice-verify: unexpected argument '%s'; try --help\n", argv[first]);
        return 2;
    }
    if (!cfg.sent == !cfg.sent_stream || !cfg.got == !cfg.got_stream) {
        fprintf (stderr, "sluice-verify: give one of --sent/--sent-stream and one of "
                         "--got/--got-stream; try --help\n");
        return 2;
    }
    if ((cfg.sent_stream || cfg.got_stream) && !cfg.broker) {
        fprintf (stderr, "sluice-verify: --broker is required to read a stream\n");
        return 2;
    }
    if (cfg.sent && cfg.got && strcmp (cfg.sent, "-") == 0 && strcmp (cfg.got, "-") == 0) {
        fprintf (stderr, "sluice-verify: only one of --sent and --got can be stdin\n");
        return 2;
    }
    sl_verify_t *verify = sl_verify_new (&cfg.opts);
    if (!verify) {
        fprintf (stderr, "sluice-verify: out of memory\n");
        return 2;
    }
    if (cfg.sent_stream || cfg.got_stream) {
        //  Keep the default signal actions: Ctrl-C ends a long read at once.
        zsys_handler_set (NULL);
        zsys_init ();
        zsys_set_logstream (NULL);
    }
    sl_verify_io_t io = {.verify = verify, .got_format = cfg.got_format, .broker = cfg.broker,
                         .connect_timeout_ms = cfg.connect_timeout_ms};
    int rc = cfg.sent ? sl_verify_read_file (&io, cfg.sent, false)
                      : sl_verify_read_stream (&io, cfg.sent_stream, false);
    if (rc == 0) {
        rc = cfg.got ? sl_verify_read_file (&io, cfg.got, true)
                     : sl_verify_read_stream (&io, cfg.got_stream, true);
    }
    if (rc == 0) {
        sl_buf_t out;
        sl_buf_init (&out, 0);
        int wrc = cfg.json ? sl_verify_report_json (verify, cfg.ordered, &out)
                           : sl_verify_report_table (verify, cfg.ordered, &out);
        if (wrc == 0 && cfg.json) {
            wrc = sl_buf_append (&out, "\n", 1);
        }
        if (wrc || fwrite (out.data, 1, out.len, stdout) != out.len || fflush (stdout)) {
            fprintf (stderr, "sluice-verify: cannot write the report\n");
            rc = 2;
        }
        else {
            sl_verify_counts_t counts;
            sl_verify_counts (verify, &counts);
            rc = sl_verify_passed (&counts, cfg.ordered) ? 0 : 1;
        }
        sl_buf_free (&out);
    }
    sl_verify_destroy (&verify);
    if (cfg.sent_stream || cfg.got_stream) {
        zsys_shutdown ();
    }
    return rc;
}
