/*  sluice - the front command: `sluice run`, `sluice tail`, and the stage
    programs behind `sluice broker|source|worker|sink`.
*/
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "sl_opts_env.h"
#include "sl_version.h"

static void
s_usage (void)
{
    printf ("Usage: sluice COMMAND [ARGS...]\n"
            "\n"
            "Sluice is a stream-processing pipeline: sources publish records to a broker that\n"
            "keeps every stream as a durable log; worker groups turn streams into streams;\n"
            "sinks read them from any position.\n"
            "\n"
            "Commands:\n"
            "  run PIPELINE.yaml   run a whole pipeline, supervised (sluice help run)\n"
            "  tail STREAM         print a stream's records as they arrive\n"
            "  stat [--json]       where records are: streams, groups, readers, lag\n"
            "  top                 the same, live, with rates\n"
            "  streams, readers, groups     list them\n"
            "  stream|reader|group VERB NAME   delete, purge, retain, reset at run time\n"
            "  dlq show GROUP      a group's dead letters\n"
            "  promote             make a replica broker the primary (docs/replication.md)\n");
    for (const sl_cli_stage_t *s = sl_cli_stages (); s->command; s++) {
        printf ("  %-19s %s (%s)\n", s->command, s->about, s->program);
    }
    printf ("  keygen              make CURVE keys for the broker and clients\n"
            "  help [COMMAND]      this text, or a command's --help\n"
            "\n"
            "  sluice COMMAND --help shows each command's options; the stage commands pass\n"
            "  their arguments unchanged to the program named.\n"
            "  --version           print the version and exit\n"
            "\n"
            "Examples:\n"
            "  sluice run examples/demo.yaml\n"
            "  sluice tail demo.enriched --from beginning\n"
            "  sluice source --broker tcp://127.0.0.1:7600 --stream orders orders.jsonl\n"
            "  sluice sink --broker tcp://127.0.0.1:7600 --list\n");
    fflush (stdout);
}

//  Runs COMMAND with argv (argv[0] is the command's name).
static int
s_dispatch (const char *command, int argc, char **argv)
{
    //  The stage commands are the stage programs, environment included. The
    //  programs the others start (sluice run's stages, tail's and dlq show's
    //  sink) take their settings from their own SLUICE_PROGRAM_NAME and the
    //  shared variables only, not from a SLUICE_NAME meant for another
    //  program in this shell (lib/core/sl_opts_env.h, docs/options.md).
    if (!sl_cli_stage_find (command)) {
        setenv (SL_OPTS_ENV_STRICT, "1", 1);
    }
    if (strcmp (command, "run") == 0) {
        return sl_cli_run (argc, argv);
    }
    if (strcmp (command, "tail") == 0) {
        return sl_cli_tail (argc, argv);
    }
    if (strcmp (command, "keygen") == 0) {
        return sl_cli_keygen (argc, argv);
    }
    if (strcmp (command, "stat") == 0) {
        return sl_cli_stat (argc, argv);
    }
    if (strcmp (command, "top") == 0) {
        return sl_cli_top (argc, argv);
    }
    if (strcmp (command, "promote") == 0) {
        return sl_cli_promote (argc, argv);
    }
    static const char *manage[] = {"streams", "stream", "readers", "reader",
                                   "groups",  "group",  "dlq",     NULL};
    for (int i = 0; manage[i]; i++) {
        if (strcmp (command, manage[i]) == 0) {
            return sl_cli_manage (argc, argv);
        }
    }
    const sl_cli_stage_t *stage = sl_cli_stage_find (command);
    if (stage) {
        return sl_cli_exec_stage (stage, argc, argv);
    }
    fprintf (stderr, "sluice: unknown command '%s'; try sluice --help\n", command);
    return 2;
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        s_usage ();
        return 2;
    }
    const char *command = argv[1];
    if (strcmp (command, "--help") == 0 || strcmp (command, "-h") == 0) {
        s_usage ();
        return 0;
    }
    if (strcmp (command, "--version") == 0) {
        printf ("sluice %s\n", SLUICE_VERSION);
        return 0;
    }
    if (strcmp (command, "help") == 0) {
        if (argc < 3) {
            s_usage ();
            return 0;
        }
        char *help_argv[] = {argv[2], "--help", NULL};
        return s_dispatch (argv[2], 2, help_argv);
    }
    return s_dispatch (command, argc - 1, argv + 1);
}
