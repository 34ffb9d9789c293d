/*  sl_opts.h - command-line flags with environment mirrors, from one table.

    Each program declares its options once, as a table (Fluent Bit's config
    map): name, short letter, type, default, the offset of the config field
    it fills, bounds and help. sl_opts_parse reads the environment first
    (flag --retain-age is mirrored by SLUICE_BROKER_RETAIN_AGE, and in the
    stage programs by SLUICE_RETAIN_AGE: sl_opts_env.h) and then argv
    (getopt_long), so a flag beats its variable; typed entries are parsed,
    bounded and stored by the table itself, custom ones go to the program's
    callback. --help (with each default), --version, --verbose and --quiet
    are handled here for every program. `sluice run`'s stage keys and the
    man pages' option lists follow the same tables (docs/options.md).
*/
#ifndef SL_OPTS_H_INCLUDED
#define SL_OPTS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  How an option's argument becomes a value (Fluent Bit's config map types).
//  Typed options are stored by sl_opts itself at the entry's offset in the
//  program's config struct; SL_ARG_CUSTOM ones go to the program's callback.
typedef enum {
    SL_ARG_CUSTOM = 0, //  the callback parses it
    SL_ARG_STRING,     //  const char *: the argument itself (borrowed, see below)
    SL_ARG_SWITCH,     //  bool: set to true
    SL_ARG_UINT,       //  uint32_t or uint64_t (by the field's size), within [min, max]
    SL_ARG_SIZE,       //  bytes as 64M or 2G: uint32_t or uint64_t, within [min, max]
    SL_ARG_DURATION,   //  milliseconds as 30s or 7d: int, int64_t, within [min, max]
} sl_opt_type_t;

//  Flags of an entry.
#define SL_OPT_PATH                                                                                \
    0x01u                    //  a file or directory: a pipeline file's relative path is
                             //  resolved against the file's directory
#define SL_OPT_NAME 0x02u    //  STRING: a stream/group/reader name (sl_name_valid)
#define SL_OPT_CONNECT 0x04u //  STRING: an endpoint to connect to (sl_endpoint_check)
#define SL_OPT_BIND 0x08u    //  STRING: an endpoint to bind
#define SL_OPT_NO_KEY 0x10u  //  no pipeline-file key: `sluice run` sets it itself
#define SL_OPT_CONNECTS                                                                            \
    0x20u //  STRING: endpoints to connect to, a,b,... (a primary and its
          //  replicas; sl_endpoint_check_list)

//  One option. Entries start positionally (name, short, arg, help) and go on
//  with designated fields, so that adding an option is one line:
//    {"retain-age", 0, "DURATION", "remove older records", SL_OPT_FIELD (cfg_t, max_age_ms),
//     .type = SL_ARG_DURATION},
typedef struct {
    const char *name; //  long name without dashes, e.g. "retain-age"
    char short_name;  //  0 when none; one meaning across all programs (docs/options.md)
    const char *arg;  //  argument placeholder ("DIR"), NULL for a switch
    const char *help; //  one line; --help adds "(default DEF)"
    bool repeat;      //  may be given more than once (env: ';'-separated list)
    sl_opt_type_t type;
    size_t offset;     //  typed: where the value goes in the config struct
    size_t size;       //  typed: the field's size
    const char *def;   //  the default, as a user would write it; NULL when none or
                       //  when it is not a plain value (then the help says it)
    uint64_t min, max; //  UINT, SIZE, DURATION: bounds (max 0: no upper bound)
    unsigned flags;    //  SL_OPT_PATH ...
    const char *key;   //  pipeline-file key when it is not the name
} sl_opt_t;

//  The designated fields of a typed entry's field: offset and size.
#define SL_OPT_FIELD(type, field)                                                                  \
    .offset = offsetof (type, field), .size = sizeof (((type *)0)->field)

//  Called for each option found, with its index in the table and its
//  argument (NULL for a switch). Returns 0, or a negative code to stop
//  parsing; sl_opts_parse then prints "PROGRAM: --NAME: <why>" and fails.
typedef int (sl_opt_fn) (void *ctx, int index, const char *arg, const char **why);

typedef struct {
    const char *program;  //  "sluice-broker"
    const char *synopsis; //  "--data DIR --listen tcp://HOST:PORT"
    const char *about;    //  paragraph printed by --help above the options
    const char *footer;   //  printed after the options (examples), may be NULL
    const sl_opt_t *opts; //  terminated by an entry with name == NULL
    //  Called after --help's text, with argv, to add what only the
    //  arguments can say (a plugin's options); may be NULL.
    void (*help_more) (int argc, char **argv);
    //  P of its SLUICE_P_NAME variables; NULL: the program's name without
    //  "sluice-" / "sluice " (sl_opts_env.h).
    const char *env_program;
} sl_opts_spec_t;

//  Parses env and argv. Returns the index of the first positional argument
//  in argv (>= 1), or -1 when the program should exit: *exit_code is then 0
//  (after --help / --version) or 2 (usage error, message printed).
int sl_opts_parse (const sl_opts_spec_t *spec, int argc, char **argv, sl_opt_fn *fn, void *ctx,
                   int *exit_code);

//  Prints the --help text to stdout.
void sl_opts_usage (const sl_opts_spec_t *spec);

//  Applies one value to option index: stores a typed option into ctx (the
//  config struct the table's offsets point into), or calls fn for a custom
//  one. The argument is kept by pointer, as argv's are. Returns 0, or a
//  negative code with *why saying what was expected.
int sl_opts_apply (const sl_opts_spec_t *spec, sl_opt_fn *fn, void *ctx, int index, const char *arg,
                   const char **why);

//  Applies every typed entry's default (def) to ctx. Custom entries are left
//  to fn's caller. Returns 0 or the first failure (a table defect).
int sl_opts_defaults (const sl_opts_spec_t *spec, void *ctx);

//  sl_opts_defaults into ctx, then sl_opts_parse: for a program whose config
//  starts from its table's defaults. A default that does not parse is a
//  defect of the table: it is said, and the result is -1 with *exit_code 2.
int sl_opts_parse_typed (const sl_opts_spec_t *spec, int argc, char **argv, sl_opt_fn *fn,
                         void *ctx, int *exit_code);

//  The index of the entry named name, or -1.
int sl_opts_find (const sl_opts_spec_t *spec, const char *name);

#endif
