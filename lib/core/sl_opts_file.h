/*  sl_opts_file.h - a program's options from a file (sluice-broker
    --config FILE, docs/operate.md), read through the same option table and
    callback as the command line, so the file can say nothing the flags
    cannot.

    Format: one "name = value" per line, name being the long flag without
    dashes (retain-age = 7d); a switch takes true/false; blank lines and
    lines starting with '#' are skipped; a repeatable option may appear on
    several lines. Bounds: SL_OPTS_FILE_MAX bytes, lines of at most
    SL_OPTS_LINE_MAX bytes.
*/
#ifndef SL_OPTS_FILE_H_INCLUDED
#define SL_OPTS_FILE_H_INCLUDED

#include <stddef.h>

#include "sl_opts.h"

#define SL_OPTS_FILE_MAX (1u << 20)
#define SL_OPTS_LINE_MAX 4096

//  Reads path and calls fn for every setting, in file order. The values
//  point into *text, which the caller keeps for as long as it uses them
//  and then frees. Returns 0, or a negative code with a message
//  ("FILE:LINE: why") in why[size]; *text is set in both cases.
int sl_opts_file (const sl_opts_spec_t *spec, const char *path, sl_opt_fn *fn, void *ctx,
                  char **text, char *why, size_t size);

//  The value of --config (or of its environment mirror, env_name) in argv,
//  without parsing anything else; NULL when not given.
const char *sl_opts_find_config (int argc, char **argv, const char *env_name);

//  The same for any option: the last value of --NAME in argv, else of its
//  environment mirror env_name; NULL when not given.
const char *sl_opts_find_value (int argc, char **argv, const char *name, const char *env_name);

#endif
