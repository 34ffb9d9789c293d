/*  verify_opts.c - sluice-verify's option table (see verify_opts.h). One
    line per option; a custom one also gets a case in main.c, which finds it
    by name.
*/
#include "verify_opts.h"

#define F(field) SL_OPT_FIELD (sl_verify_args_t, field)

static const sl_opt_t s_opts[] = {
    {"sent", 0, "FILE", "what went in: JSON lines, as a source reads them ('-' = stdin)", F (sent),
     .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"sent-stream", 0, "NAME", "what went in: a stream, read from the broker", F (sent_stream),
     .type = SL_ARG_STRING, .flags = SL_OPT_NAME},
    {"got", 0, "FILE", "what came out: sluice-sink output, json or value lines", F (got),
     .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {"got-stream", 0, "NAME", "what came out: a stream, read from the broker", F (got_stream),
     .type = SL_ARG_STRING, .flags = SL_OPT_NAME},
    {"broker", 'b', "ENDPOINT", "broker command endpoint, for the -stream inputs", F (broker),
     .type = SL_ARG_STRING, .flags = SL_OPT_CONNECTS},
    {"id", 0, "FIELD", "match records by this top-level member (default: whole values)",
     .type = SL_ARG_CUSTOM},
    {"key", 'k', "FIELD", "check order per value of this member (default: globally)",
     .type = SL_ARG_CUSTOM},
    {"got-format", 0, "FORMAT", "auto (per line), json (sink --format json) or value",
     .def = "auto", .type = SL_ARG_CUSTOM},
    {"json", 'j', NULL, "print the report as one JSON object", F (json), .type = SL_ARG_SWITCH},
    {"ordered", 0, NULL, "fail (exit 1) on out-of-order records too", F (ordered),
     .type = SL_ARG_SWITCH},
    {"examples", 0, "N", "keys listed per anomaly (default 10)", F (opts.examples),
     .type = SL_ARG_UINT, .min = 1, .max = 1000},
    {"connect-timeout", 0, "DURATION", "give up when the broker is silent this long",
     F (connect_timeout_ms), .type = SL_ARG_DURATION, .def = "10s", .min = 1},
    {.name = NULL},
};

const sl_opts_spec_t sl_verify_opts = {
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
