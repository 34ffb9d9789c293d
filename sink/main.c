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
#include "sink_opts.h"
#include "sl_opts.h"
#include "sl_util.h"

//  The options the table cannot store by itself.
static int
s_custom (void *ctx, int index, const char *arg, const char **why)
{
    sl_sink_config_t *cfg = &((sl_sink_args_t *)ctx)->cfg;
    const char *name = sl_sink_opts.opts[index].name;
    if (strcmp (name, "from") == 0) {
        *why = "expected beginning, end, OFFSET, -N or @TIME (ISO 8601 or epoch ms)";
        return sl_sink_parse_from (arg, &cfg->from, &cfg->from_value);
    }
    if (strcmp (name, "format") == 0) {
        *why = "expected json, value or msgpack";
        return sl_sink_parse_format (arg, &cfg->format);
    }
    if (strcmp (name, "compress") == 0) {
        *why = "expected none, gzip or zstd";
        return sl_out_files_parse_compress (arg, &cfg->compress);
    }
    if (strcmp (name, "until") == 0) {
        cfg->until = true;
        *why = "expected OFFSET, @TIME (ISO 8601 or epoch ms) or @-DURATION";
        return sl_sink_parse_until (arg, &cfg->until_kind, &cfg->until_value);
    }
    return 0;
}

int
main (int argc, char **argv)
{
    sl_log_set_program ("sluice-sink");
    sl_tune_malloc ();
    static sl_sink_args_t args;
    sl_sink_config_t *cfgp = &args.cfg;
    sl_sink_config_init (cfgp);
    int exit_code = 0;
    int first = sl_opts_parse (&sl_sink_opts, argc, argv, s_custom, &args, &exit_code);
    if (first < 0) {
        return exit_code;
    }
    if (first < argc) {
        fprintf (stderr, "sluice-sink: unexpected argument '%s'; try --help\n", argv[first]);
        return 2;
    }
    if (!cfgp->broker || (!cfgp->list && !cfgp->stream)) {
        fprintf (stderr, "sluice-sink: %s is required; try --help\n",
                 cfgp->broker ? "--stream" : "--broker");
        return 2;
    }
    if (cfgp->output_dir && (!cfgp->name || cfgp->list)) {
        fprintf (stderr, "sluice-sink: --output needs --name (the files are exact only with a "
                         "durable position) and no --list; try --help\n");
        return 2;
    }
    if ((cfgp->mqtt_url != NULL) + (cfgp->output_dir != NULL) + (cfgp->post_url != NULL) > 1 ||
        ((cfgp->mqtt_url || cfgp->post_url) && cfgp->list)) {
        fprintf (stderr, "sluice-sink: one of --output, --mqtt and --post, and none with "
                         "--list\n");
        return 2;
    }
    if ((cfgp->post_token_file || cfgp->post_header_file) && !cfgp->post_url) {
        fprintf (stderr, "sluice-sink: --post-token-file and --post-header-file go with --post; "
                         "try --help\n");
        return 2;
    }
    char dead[SL_NAME_MAX + 8];
    if (cfgp->post_url && !cfgp->dead_letter) {
        snprintf (dead, sizeof dead, "%s.dead", cfgp->stream);
        if (strlen (dead) > SL_NAME_MAX) {
            fprintf (stderr, "sluice-sink: the stream name is too long for STREAM.dead: give "
                             "--dead-letter\n");
            return 2;
        }
        cfgp->dead_letter = dead;
    }
    if (cfgp->output_dir) {
        struct stat st;
        if (stat (cfgp->output_dir, &st) != 0 || !S_ISDIR (st.st_mode)) {
            fprintf (stderr, "sluice-sink: --output %s: not a directory\n", cfgp->output_dir);
            return 2;
        }
    }
    if (cfgp->list && cfgp->format != SL_SINK_FORMAT_DEFAULT &&
        cfgp->format != SL_SINK_FORMAT_JSON) {
        fprintf (stderr, "sluice-sink: --list prints a table or, with --format json, JSON\n");
        return 2;
    }
    exit_code = sl_client_security_flags ("sluice-sink", args.curve_secret, args.broker_key);
    if (exit_code) {
        return exit_code;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    int rc = sl_sink_run (cfgp);
    zsys_shutdown ();
    return rc;
}
