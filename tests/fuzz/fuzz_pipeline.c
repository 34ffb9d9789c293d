/*  fuzz_pipeline.c - the pipeline file of `sluice run` (cli/run/pipeline.c,
    cli/run/pl_yaml.c, cli/run/pl_argv.c) on hostile YAML.

    Input: a pipeline file. sl_pipeline_parse must give a pipeline or NULL
    with a "FILE:LINE:COLUMN: reason" error; a pipeline that also passes
    sl_pipeline_check must give an argument vector for every member of
    every stage, and each must join into one shell line.
*/
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "pipeline.h"
#include "sl_log.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sl_log_set_level (SL_LOG_ERROR);
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[512] = "";
    sl_pipeline_t *pl =
        sl_pipeline_parse ((const char *)data, size, "fuzz.yaml", "/fuzz", err, sizeof err);
    if (!pl) {
        FUZZ_CHECK (strncmp (err, "fuzz.yaml:", 10) == 0);
        return 0;
    }
    if (sl_pipeline_set (pl, "broker.fsync=true", err, sizeof err) != 0) {
        err[0] = '\0';
    }
    if (sl_pipeline_check (pl, err, sizeof err) == 0) {
        FUZZ_CHECK (sl_pipeline_size (pl) >= 1);
        FUZZ_CHECK (sl_pipeline_endpoint (pl) != NULL);
        for (size_t i = 0; i < sl_pipeline_size (pl); i++) {
            const sl_stage_t *stage = sl_pipeline_stage (pl, i);
            FUZZ_CHECK (stage);
            int members = stage->members < 4 ? stage->members : 4;
            for (int m = 1; m <= members; m++) {
                char **argv = sl_pipeline_argv (pl, stage, m, "/bin/prog");
                FUZZ_CHECK (argv && argv[0]);
                char *line = sl_shell_join (argv);
                FUZZ_CHECK (line);
                free (line);
                sl_argv_free (&argv);
                FUZZ_CHECK (argv == NULL);
            }
        }
    }
    sl_pipeline_destroy (&pl);
    FUZZ_CHECK (pl == NULL);
    return 0;
}
