/*  run.c - `sluice run PIPELINE.yaml`: loads a pipeline file, applies the
    command line's overrides, and either prints the commands (--dry-run) or
    hands the pipeline to the supervisor.
*/
#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <czmq.h>

#include "commands.h"
#include "pipeline.h"
#include "sl_error.h"
#include "sl_opts.h"
#include "sl_util.h"
#include "supervise.h"

typedef struct {
    bool dry_run;
    const char **sets;
    size_t n_sets;
    bool no_color;
    int64_t stop_timeout_ms;
    bool failed;
} s_run_opts_t;

enum { OPT_DRY_RUN, OPT_SET, OPT_NO_COLOR, OPT_STOP_TIMEOUT };

#define F(field) SL_OPT_FIELD (s_run_opts_t, field)
static const sl_opt_t s_opts[] = {
    [OPT_DRY_RUN] = {"dry-run", 0, NULL,
                     "print the commands it would start, one per line, and exit", F (dry_run),
                     .type = SL_ARG_SWITCH},
    //  Custom: each goes on the list of overrides (s_apply).
    [OPT_SET] = {"set", 0, "STAGE.KEY=VALUE",
                 "override a key of the file, e.g. broker.listen=tcp://127.0.0.1:7700",
                 .repeat = true},
    [OPT_NO_COLOR] = {"no-color", 0, NULL, "no colours in the stage labels (also: NO_COLOR set)",
                      F (no_color), .type = SL_ARG_SWITCH},
    [OPT_STOP_TIMEOUT] = {"stop-timeout", 0, "DURATION",
                          "the whole orderly stop may take this long, then what is left is killed",
                          F (stop_timeout_ms), .type = SL_ARG_DURATION, .def = "15s", .min = 1},
    {.name = NULL},
};
#undef F

//  The one custom option: --set, kept in order for sl_pipeline_set.
static int
s_apply (void *ctx, int index, const char *arg, const char **why)
{
    s_run_opts_t *o = ctx;
    assert (index == OPT_SET);
    (void)index;
    if (!strchr (arg, '.') || !strchr (arg, '=')) {
        *why = "expected STAGE.KEY=VALUE, e.g. broker.data=/tmp/data";
        return SL_EINVAL;
    }
    const char **sets = realloc (o->sets, (o->n_sets + 1) * sizeof *sets);
    if (!sets) {
        return SL_ENOMEM;
    }
    o->sets = sets;
    o->sets[o->n_sets++] = arg;
    return 0;
}

static const sl_opts_spec_t s_spec = {
    .program = "sluice run",
    .synopsis = "PIPELINE.yaml",
    .about = "Runs a whole pipeline on this machine, each stage its own process: the broker,\n"
             "then sinks and worker groups, then sources. Every stage's output is shown with\n"
             "a 'name[n] |' label; a stage that crashes is restarted with backoff (0.5s\n"
             "doubling to 30s), but not one that exits 2 (a usage error or a missing file)\n"
             "nor a source that exits 3 (it rejected input). Ctrl-C or SIGTERM stops sources, "
             "groups, sinks, then the\n"
             "broker, within --stop-timeout. The run also ends, exit 0, once every source\n"
             "and every sink (with exit-at-end or count) has finished.\n"
             "\n"
             "When stdout is not a terminal, it carries only the sinks' records, unlabelled,\n"
             "and everything else goes to stderr. The file's keys are the stage programs'\n"
             "flags; see docs/run.md.",
    .footer = "Examples:\n"
              "  sluice run examples/demo.yaml\n"
              "  sluice run pipeline.yaml --dry-run\n"
              "  sluice run pipeline.yaml --set broker.listen=tcp://127.0.0.1:7700 \\\n"
              "      --set broker.data=/tmp/sluice --set enrich.members=4\n"
              "  sluice run pipeline.yaml > records.jsonl    # sink records only on stdout\n"
              "\n"
              "Exit status: 0 when everything stopped cleanly, 1 when a stage was given up\n"
              "(exit 2), a source rejected input (exit 3), a stage did not stop cleanly\n"
              "(each is named) or the pipeline could not start, 2 for a bad command\n"
              "line or pipeline file (reported as FILE:LINE:COLUMN: reason).",
    .opts = s_opts,
};

void
sl_cli_run_usage (void)
{
    sl_opts_usage (&s_spec);
}

//  Finds the program of each stage kind.
static int
s_programs (char paths[4][PATH_MAX], sl_supervise_opts_t *sopts)
{
    static const char *commands[4] = {"broker", "sink", "worker", "source"};
    for (int k = 0; k < 4; k++) {
        const sl_cli_stage_t *stage = sl_cli_stage_find (commands[k]);
        if (sl_cli_find_program (stage, paths[k], PATH_MAX) != 0) {
            fprintf (stderr,
                     "sluice run: %s not found next to sluice, in its build tree or "
                     "on PATH\n",
                     stage->program);
            return SL_ENOTFOUND;
        }
        sopts->programs[k] = paths[k];
    }
    return 0;
}

//  Prints every command in start order, one per line.
static int
s_dry_run (const sl_pipeline_t *pl, const sl_supervise_opts_t *sopts)
{
    for (size_t i = 0; i < sl_pipeline_size (pl); i++) {
        const sl_stage_t *s = sl_pipeline_stage (pl, i);
        for (int m = 1; m <= s->members; m++) {
            char **argv = sl_pipeline_argv (pl, s, m, sopts->programs[s->kind]);
            char *line = argv ? sl_shell_join (argv) : NULL;
            if (!line) {
                sl_argv_free (&argv);
                fprintf (stderr, "sluice run: out of memory\n");
                return 1;
            }
            char *out = NULL;
            if (s->output) {
                char *words[] = {s->output, NULL};
                out = sl_shell_join (words);
            }
            printf ("%s%s%s\n", line, out ? (s->append ? " >> " : " > ") : "", out ? out : "");
            free (out);
            free (line);
            sl_argv_free (&argv);
        }
    }
    fflush (stdout);
    return 0;
}

int
sl_cli_run (int argc, char **argv)
{
    s_run_opts_t o = {.dry_run = false};
    int code = 2;
    sl_pipeline_t *pl = NULL;
    int first = sl_opts_parse_typed (&s_spec, argc, argv, s_apply, &o, &code);
    if (first < 0) {
        goto done;
    }
    code = 2;
    if (first >= argc) {
        fprintf (stderr, "sluice run: which pipeline file? usage: sluice run PIPELINE.yaml "
                         "(try --help)\n");
        goto done;
    }
    if (first + 1 < argc) {
        fprintf (stderr, "sluice run: unexpected argument '%s' (one pipeline file per run)\n",
                 argv[first + 1]);
        goto done;
    }
    char err[1024];
    pl = sl_pipeline_load (argv[first], err, sizeof err);
    if (!pl) {
        fprintf (stderr, "%s\n", err);
        goto done;
    }
    for (size_t i = 0; i < o.n_sets; i++) {
        if (sl_pipeline_set (pl, o.sets[i], err, sizeof err) != 0) {
            fprintf (stderr, "sluice run: %s\n", err);
            goto done;
        }
    }
    if (sl_pipeline_check (pl, err, sizeof err) != 0) {
        fprintf (stderr, "%s\n", err);
        goto done;
    }
    sl_supervise_opts_t sopts;
    sl_supervise_opts_init (&sopts);
    sopts.stop_timeout_ms = o.stop_timeout_ms;
    const char *no_color = getenv ("NO_COLOR");
    sopts.color = !o.no_color && !(no_color && *no_color);
    char paths[4][PATH_MAX];
    if (s_programs (paths, &sopts) != 0) {
        code = 1;
        goto done;
    }
    if (o.dry_run) {
        code = s_dry_run (pl, &sopts);
        goto done;
    }
    //  The readiness probe uses CZMQ: no CZMQ signal handlers, the
    //  supervisor reads signals itself.
    zsys_handler_set (NULL);
    zsys_init ();
    zsys_set_logstream (NULL);
    code = sl_supervise (pl, &sopts);
    zsys_shutdown ();
done:
    free (o.sets);
    sl_pipeline_destroy (&pl);
    return code;
}
