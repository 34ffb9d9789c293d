/*  stages.c - finding and running the stage programs for `sluice`.

    The front command is installed next to the stage programs, and in a
    build tree it sits in cli/ beside broker/, source/, sink/ and worker/;
    both layouts are found from /proc/self/exe, so `build/cli/sluice run`
    uses the programs of the same build rather than whatever is on PATH.
*/
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "sl_error.h"

static const sl_cli_stage_t s_stages[] = {
    {"broker", "sluice-broker", "broker", "the broker: durable streams in LMDB"},
    {"source", "sluice-source", "source", "publish files, stdin or generated records"},
    {"worker", "sluice-worker", "worker", "a member of a worker group (an operator)"},
    {"sink", "sluice-sink", "sink", "write a stream to stdout from any position"},
    {"verify", "sluice-verify", "verify",
     "compare what went in with what came out (lost, duplicated)"},
    {NULL, NULL, NULL, NULL},
};

const sl_cli_stage_t *
sl_cli_stages (void)
{
    return s_stages;
}

const sl_cli_stage_t *
sl_cli_stage_find (const char *command)
{
    for (const sl_cli_stage_t *s = s_stages; s->command; s++) {
        if (strcmp (s->command, command) == 0) {
            return s;
        }
    }
    return NULL;
}

static bool
s_try (char *out, size_t size, const char *dir, const char *middle, const char *program)
{
    int n = snprintf (out, size, "%s%s%s", dir, middle, program);
    return n > 0 && (size_t)n < size && access (out, X_OK) == 0;
}

int
sl_cli_find_program (const sl_cli_stage_t *stage, char *out, size_t size)
{
    char self[PATH_MAX];
    ssize_t len = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) {
        self[len] = '\0';
        char *slash = strrchr (self, '/');
        if (slash) {
            slash[1] = '\0';
            char middle[64];
            snprintf (middle, sizeof middle, "../%s/", stage->subdir);
            if (s_try (out, size, self, "", stage->program) ||
                s_try (out, size, self, middle, stage->program)) {
                //  Tidy "DIR/cli/../broker/x" into "DIR/broker/x" for messages.
                char *real = realpath (out, NULL);
                if (real && strlen (real) < size) {
                    snprintf (out, size, "%s", real);
                }
                free (real);
                return 0;
            }
        }
    }
    const char *path = getenv ("PATH");
    if (!path) {
        return SL_ENOTFOUND;
    }
    //  Each PATH entry in turn; at most 256 entries are looked at.
    const char *p = path;
    for (int i = 0; i < 256 && *p; i++) {
        const char *end = strchr (p, ':');
        size_t n = end ? (size_t)(end - p) : strlen (p);
        char dir[PATH_MAX];
        if (n > 0 && n < sizeof dir - 1) {
            memcpy (dir, p, n);
            dir[n] = '/';
            dir[n + 1] = '\0';
            if (s_try (out, size, dir, "", stage->program)) {
                return 0;
            }
        }
        if (!end) {
            break;
        }
        p = end + 1;
    }
    return SL_ENOTFOUND;
}

int
sl_cli_exec_stage (const sl_cli_stage_t *stage, int argc, char **argv)
{
    char path[PATH_MAX];
    if (sl_cli_find_program (stage, path, sizeof path) != 0) {
        fprintf (stderr, "sluice: %s not found next to sluice, in its build tree or on PATH\n",
                 stage->program);
        return 127;
    }
    char **args = calloc ((size_t)argc + 1, sizeof *args);
    if (!args) {
        fprintf (stderr, "sluice: out of memory\n");
        return 1;
    }
    args[0] = path;
    for (int i = 1; i < argc; i++) {
        args[i] = argv[i];
    }
    execv (path, args);
    fprintf (stderr, "sluice: cannot execute %s: %s\n", path, strerror (errno));
    free (args);
    return 126;
}
