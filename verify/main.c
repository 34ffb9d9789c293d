/*  sluice-verify - compares what went into a pipeline with what came out:
    sent, delivered, lost, duplicated, unexpected and out-of-order records.
    Exit 0 when nothing was lost, duplicated or unexpected, 1 when something
    was, 2 when the inputs could not be read or the flags are wrong.
*/
#include <czmq.h>
#include <stdio.h>
#include <string.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_opts.h"
#include "sl_util.h"
#include "verify.h"
#include "verify_io.h"
#include "verify_opts.h"

//  The options the table cannot store by itself.
static int
s_custom (void *ctx, int index, const char *arg, const char **why)
{
    sl_verify_args_t *cfg = ctx;
    const char *name = sl_verify_opts.opts[index].name;
    if (strcmp (name, "got-format") == 0) {
        static const char *names[] = {"auto", "json", "value"};
        static const sl_verify_got_format_t values[] = {SL_VERIFY_GOT_AUTO, SL_VERIFY_GOT_JSON,
                                                        SL_VERIFY_GOT_VALUE};
        for (size_t i = 0; i < 3; i++) {
            if (strcmp (arg, names[i]) == 0) {
                cfg->got_format = values[i];
                return 0;
            }
        }
        *why = "expected auto, json or value";
        return SL_EINVAL;
    }
    //  id, key
    *(strcmp (name, "id") == 0 ? &cfg->opts.id_field : &cfg->opts.key_field) = arg;
    *why = "expected a member name";
    return *arg ? 0 : SL_EINVAL;
}

int
main (int argc, char **argv)
{
    sl_log_set_program ("sluice-verify");
    sl_verify_args_t cfg = {.connect_timeout_ms = 10000};
    int exit_code = 0;
    int first = sl_opts_parse (&sl_verify_opts, argc, argv, s_custom, &cfg, &exit_code);
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
    sl_verify_io_t io = {.verify = verify,
                         .got_format = cfg.got_format,
                         .broker = cfg.broker,
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
