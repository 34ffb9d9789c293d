/*  tail.c - `sluice tail STREAM`: sluice-sink for a person at a terminal.

    The stream is a positional word rather than --stream, and the broker
    defaults to the one `sluice run` and sluice-broker use by default
    (tcp://127.0.0.1:7600) when neither --broker nor SLUICE_BROKER says
    otherwise. Everything else is sluice-sink's own options, passed as they
    are; its defaults already suit a terminal (--from end, --format json).
*/
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "sink_opts.h"

#define S_DEFAULT_BROKER "tcp://127.0.0.1:7600"

//  True when sluice-sink's option named name (long) or letter (short)
//  takes a value, so that the value is not taken for the stream name.
static bool
s_sink_value (const char *name, char letter)
{
    for (const sl_opt_t *opt = sl_sink_opts.opts; opt->name; opt++) {
        if (name ? strcmp (opt->name, name) == 0 : opt->short_name == letter) {
            return opt->arg != NULL;
        }
    }
    return false;
}

//  The sink options tail's --help shows, in this order; their letters,
//  placeholders and help come from sluice-sink's table.
static const char *const s_shown[] = {"broker", "from",        "until", "key-filter", "format",
                                      "count",  "exit-at-end", "name",  "list",       NULL};

void
sl_cli_tail_usage (void)
{
    printf ("Usage: sluice tail [OPTIONS] STREAM [sluice-sink options]\n"
            "\n"
            "Prints the records of STREAM as they arrive, one JSON object per line, like\n"
            "tail -f: this is sluice-sink with --stream STREAM. It starts at the end (only new\n"
            "records) unless --from says otherwise, and follows until Ctrl-C. The broker is\n"
            "$SLUICE_BROKER, else %s, unless --broker says otherwise.\n"
            "\n"
            "Options:\n",
            S_DEFAULT_BROKER);
    for (const char *const *name = s_shown; *name; name++) {
        int i = sl_opts_find (&sl_sink_opts, *name);
        assert (i >= 0); //  a name of sluice-sink's table (tests/integration/test_options.py)
        const sl_opt_t *opt = &sl_sink_opts.opts[i];
        char left[64];
        snprintf (left, sizeof left, "%c%c%c --%s%s%s", opt->short_name ? '-' : ' ',
                  opt->short_name ? opt->short_name : ' ', opt->short_name ? ',' : ' ', opt->name,
                  opt->arg ? " " : "", opt->arg ? opt->arg : "");
        printf ("  %-26s %s\n", left, opt->help);
    }
    printf ("  -h, --help                  print this help and exit\n"
            "  ...                         every other sluice-sink option (sluice sink --help)\n"
            "\n"
            "Examples:\n"
            "  sluice tail orders                      # new records of 'orders'\n"
            "  sluice tail orders --from -10           # the last 10, then follow\n"
            "  sluice tail -b tcp://10.0.0.5:7600 demo.enriched --format value\n"
            "  sluice tail --list                      # the broker's streams\n");
    fflush (stdout);
}

static bool
s_takes_value (const char *arg)
{
    if (arg[0] != '-' || arg[1] == '\0') {
        return false;
    }
    if (arg[1] == '-') {
        if (strchr (arg, '=')) {
            return false;
        }
        return s_sink_value (arg + 2, 0);
    }
    //  A short option cluster: the value follows when the last letter takes
    //  one and nothing is attached to it.
    size_t len = strlen (arg);
    for (size_t i = 1; i < len; i++) {
        if (s_sink_value (NULL, arg[i])) {
            return i == len - 1;
        }
    }
    return false;
}

int
sl_cli_tail (int argc, char **argv)
{
    const sl_cli_stage_t *sink = sl_cli_stage_find ("sink");
    bool has_broker = getenv ("SLUICE_BROKER") && *getenv ("SLUICE_BROKER");
    const char *stream = NULL;
    //  The new argv: sink, [--broker DEFAULT], the arguments, --stream STREAM.
    char **args = calloc ((size_t)argc + 6, sizeof *args);
    if (!args) {
        fprintf (stderr, "sluice tail: out of memory\n");
        return 1;
    }
    int n = 1;
    bool after_dashes = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!after_dashes && (strcmp (a, "--help") == 0 || strcmp (a, "-h") == 0)) {
            free (args);
            sl_cli_tail_usage ();
            return 0;
        }
        if (!after_dashes && strcmp (a, "--") == 0) {
            after_dashes = true;
            continue;
        }
        bool option = !after_dashes && a[0] == '-' && a[1] != '\0';
        if (option) {
            has_broker = has_broker || strcmp (a, "-b") == 0 || strncmp (a, "--broker", 8) == 0 ||
                         (a[1] != '-' && strchr (a, 'b'));
            args[n++] = argv[i];
            if (s_takes_value (a) && i + 1 < argc) {
                args[n++] = argv[++i];
            }
            continue;
        }
        if (stream) {
            fprintf (stderr, "sluice tail: one stream at a time ('%s' and '%s'); try --help\n",
                     stream, a);
            free (args);
            return 2;
        }
        stream = a;
    }
    bool list = false;
    for (int i = 1; i < n; i++) {
        list = list || strcmp (args[i], "--list") == 0;
    }
    if (!stream && !list) {
        //  Said here, in tail's words, rather than by the sink ("--stream is
        //  required"), which a tail user never typed.
        fprintf (stderr, "sluice tail: which stream? usage: sluice tail STREAM "
                         "(sluice tail --list shows the broker's streams)\n");
        free (args);
        return 2;
    }
    if (!has_broker) {
        args[n++] = "--broker";
        args[n++] = S_DEFAULT_BROKER;
    }
    if (stream) {
        args[n++] = "--stream";
        args[n++] = (char *)stream;
    }
    args[n] = NULL;
    int code = sl_cli_exec_stage (sink, n, args);
    free (args);
    return code;
}
