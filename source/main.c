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
#include "source_opts.h"
#include "sl_util.h"
#include "source.h"

//  The options the table cannot store by itself.
static int
s_custom (void *ctx, int index, const char *arg, const char **why)
{
    sl_source_config_t *cfg = &((sl_source_args_t *)ctx)->cfg;
    const char *name = sl_source_opts.opts[index].name;
    if (strcmp (name, "format") == 0) {
        static const char *formats[] = {"json", "lines", "msgpack"};
        static const sl_source_format_t values[] = {SL_FORMAT_JSON, SL_FORMAT_LINES,
                                                    SL_FORMAT_MSGPACK};
        for (size_t i = 0; i < 3; i++) {
            if (strcmp (arg, formats[i]) == 0) {
                cfg->format = values[i];
                return 0;
            }
        }
        *why = "expected json, lines or msgpack";
        return SL_EINVAL;
    }
    if (strcmp (name, "header") == 0) {
        if (cfg->n_headers >= SL_SOURCE_MAX_HEADERS) {
            *why = "at most 32 headers";
            return SL_ETOOBIG;
        }
        cfg->headers[cfg->n_headers++] = arg;
        return 0;
    }
    if (strcmp (name, "generate") == 0) {
        cfg->generate = true;
        *why = "expected a whole number";
        return sl_parse_u64 (arg, &cfg->generate_count);
    }
    if (strcmp (name, "rate") == 0) {
        char *end = NULL;
        cfg->rate = strtod (arg, &end);
        if (!*arg || *end || !(cfg->rate >= 0) || cfg->rate > 1e12) {
            *why = "expected records per second, such as 1000 or 0.5";
            return SL_EINVAL;
        }
        return 0;
    }
    //  progress, no-progress
    cfg->progress = strcmp (name, "progress") == 0;
    return 0;
}

//  The combinations the table cannot say. 0 or the usage exit code (2).
static int
s_check (const sl_source_args_t *args, int first, int argc, char **argv)
{
    const sl_source_config_t *cfg = &args->cfg;
    const char *why = NULL;
    bool stdin_named = false;
    for (int i = first; i < argc; i++) {
        stdin_named |= strcmp (argv[i], "-") == 0;
    }
    if (args->http.listen) {
        if (!cfg->broker || first < argc || cfg->follow || cfg->generate) {
            why = "--http needs --broker and reads no files, --follow or --generate (the stream "
                  "is in the URL)";
        }
    }
    else if (!cfg->broker || !cfg->stream) {
        why = "--broker and --stream are required";
    }
    else if (cfg->generate && first < argc) {
        why = "--generate reads no files";
    }
    else if (cfg->mqtt_url &&
             (first < argc || cfg->follow || cfg->generate || cfg->format == SL_FORMAT_MSGPACK)) {
        why = "--mqtt reads no files, --follow, --generate or msgpack";
    }
    else if (cfg->follow &&
             (first == argc || stdin_named || cfg->generate || cfg->format == SL_FORMAT_MSGPACK)) {
        why = "--follow reads named files (not stdin, --generate or msgpack)";
    }
    if (why) {
        fprintf (stderr, "sluice-source: %s; try --help\n", why);
        return 2;
    }
    return 0;
}

int
main (int argc, char **argv)
{
    sl_log_set_program ("sluice-source");
    sl_tune_malloc ();
    static sl_source_args_t args;
    sl_source_config_defaults (&args.cfg);
    sl_http_in_config_defaults (&args.http);
    int code = 0;
    int first = sl_opts_parse (&sl_source_opts, argc, argv, s_custom, &args, &code);
    if (first < 0) {
        return code;
    }
    code = s_check (&args, first, argc, argv);
    if (code == 0) {
        code = sl_client_security_flags ("sluice-source", args.curve_secret, args.broker_key);
    }
    if (code) {
        return code;
    }
    if (args.http.listen) {
        args.http.broker = args.cfg.broker;
        args.http.key_field = args.cfg.key_field;
        args.http.connect_timeout_ms = args.cfg.connect_timeout_ms;
        return sl_http_in_run (&args.http);
    }
    return sl_source_run (&args.cfg, argc - first, argv + first);
}
