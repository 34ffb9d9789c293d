/*  sl_opts.h - command-line flags with environment mirrors, from one table.

    Each program declares its options once, as a table; sl_opts_parse reads
    the environment first (flag --retain-age is mirrored by SLUICE_RETAIN_AGE)
    and then argv (getopt_long), so a flag beats its variable. --help,
    --version, --verbose and --quiet are handled here for every program.
*/
#ifndef SL_OPTS_H_INCLUDED
#define SL_OPTS_H_INCLUDED

#include <stdbool.h>

typedef struct {
    const char *name;       //  long name without dashes, e.g. "retain-age"
    char short_name;        //  0 when none
    const char *arg;        //  argument placeholder ("DIR"), NULL for a switch
    const char *help;       //  one line
    bool repeat;            //  may be given more than once (env: ';'-separated list)
} sl_opt_t;

//  Called for each option found, with its index in the table and its
//  argument (NULL for a switch). Returns 0, or a negative code to stop
//  parsing; sl_opts_parse then prints "PROGRAM: --NAME: <why>" and fails.
typedef int (sl_opt_fn) (void *ctx, int index, const char *arg, const char **why);

typedef struct {
    const char *program;    //  "sluice-broker"
    const char *synopsis;   //  "--data DIR --listen tcp://HOST:PORT"
    const char *about;      //  paragraph printed by --help above the options
    const char *footer;     //  printed after the options (examples), may be NULL
    const sl_opt_t *opts;   //  terminated by an entry with name == NULL
} sl_opts_spec_t;

//  Parses env and argv. Returns the index of the first positional argument
//  in argv (>= 1), or -1 when the program should exit: *exit_code is then 0
//  (after --help / --version) or 2 (usage error, message printed).
int sl_opts_parse(const sl_opts_spec_t *spec, int argc, char **argv, sl_opt_fn *fn, void *ctx,
                  int *exit_code);

//  Prints the --help text to stdout.
void sl_opts_usage(const sl_opts_spec_t *spec);

#endif
