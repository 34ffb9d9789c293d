/*  pipeline.h - the pipeline file of `sluice run`: YAML in, stages out.

    A pipeline file names a broker, sources, worker groups and sinks; every
    key of a stage is the flag of its program (docs/run.md). This module is
    the only YAML reader in Sluice. The file is untrusted input: its size,
    nesting, counts and string lengths are bounded before anything is kept,
    aliases are refused, and every error is reported as
    "FILE:LINE:COLUMN: reason" with the position of the offending node.

    Use: sl_pipeline_load (or _parse), then any number of sl_pipeline_set
    (command-line overrides), then sl_pipeline_check once; only then read
    stages and build argument vectors.
*/
#ifndef SL_PIPELINE_H_INCLUDED
#define SL_PIPELINE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  Bounds on what a pipeline file may hold.
#define SL_PL_MAX_FILE (1024 * 1024) //  bytes in the file
#define SL_PL_MAX_DEPTH 8            //  nesting of maps and lists
#define SL_PL_MAX_NODES 20000        //  scalars, maps and lists together
#define SL_PL_MAX_SCALAR 65536       //  bytes in one scalar
#define SL_PL_MAX_STAGES 256         //  sources + groups + sinks
#define SL_PL_MAX_MEMBERS 64         //  members of one group
#define SL_PL_MAX_VALUES 256         //  items of one repeated flag or of files
#define SL_PL_NAME_MAX 64            //  bytes in a stage name

//  Stage kinds, in start order (the stop order is the reverse).
typedef enum {
    SL_STAGE_BROKER = 0,
    SL_STAGE_SINK,
    SL_STAGE_GROUP,
    SL_STAGE_SOURCE,
} sl_stage_kind_t;

//  One flag of a stage as the file (or --set) gave it. A switch that is
//  true has no values; a repeated flag has one value per occurrence.
typedef struct {
    char *flag; //  the program's flag without dashes ("retain-age")
    char **values;
    size_t n_values;
    bool is_switch;
    int line, column; //  where it was given (0 for --set)
} sl_pl_opt_t;

//  One stage. Strings are owned by the pipeline and live as long as it.
typedef struct {
    sl_stage_kind_t kind;
    char name[SL_PL_NAME_MAX + 1]; //  label in output; for a group, the group name
    int members;                   //  processes: a group's members, else 1
    sl_pl_opt_t *opts;
    size_t n_opts;
    char **files; //  a source's positional arguments ("-" is stdin)
    size_t n_files;
    char *output;       //  a sink's output file, or NULL (the terminal)
    bool append;        //  open output for appending rather than truncating
    bool reads_stdin;   //  a source given "-": it reads sluice run's stdin
    bool finite;        //  a sink with exit-at-end or count: exit 0 means done
    bool after_sources; //  a sink with exit-at-end: start once sources are done
    bool durable;       //  a sink with a reader name (output is appended on restart)
    int line, column;
} sl_stage_t;

typedef struct _sl_pipeline_t sl_pipeline_t;

//  Parses a pipeline from text. file names it in errors; relative paths in
//  it resolve against basedir (NULL or "." for the current directory).
//  NULL on failure with "FILE:LINE:COLUMN: reason" in err.
sl_pipeline_t *sl_pipeline_parse (const char *text, size_t len, const char *file,
                                  const char *basedir, char *err, size_t err_size);

//  Reads and parses path; relative paths resolve against its directory.
sl_pipeline_t *sl_pipeline_load (const char *path, char *err, size_t err_size);

void sl_pipeline_destroy (sl_pipeline_t **self_p);

//  Applies one override "STAGE.KEY=VALUE" (STAGE is "broker" or a stage's
//  name, KEY any key that stage takes; VALUE a scalar, "true"/"false" for a
//  switch). Relative paths in VALUE stay relative to the current directory.
//  0 or SL_EINVAL with the reason in err.
int sl_pipeline_set (sl_pipeline_t *self, const char *assignment, char *err, size_t err_size);

//  Checks required keys and computes derived fields (finite, endpoint...).
//  0 or SL_EINVAL with "FILE:LINE:COLUMN: reason" in err.
int sl_pipeline_check (sl_pipeline_t *self, char *err, size_t err_size);

//  Stages: index 0 is the broker, then the replica (a broker stage named
//  "replica", when the file has one), then sinks, groups and sources in
//  file order within each kind.
size_t sl_pipeline_size (const sl_pipeline_t *self);
const sl_stage_t *sl_pipeline_stage (const sl_pipeline_t *self, size_t index);

//  The endpoint every stage is given as --broker (the broker's listen
//  address, with a wildcard host made 127.0.0.1). Borrowed.
const char *sl_pipeline_endpoint (const sl_pipeline_t *self);
//  What every client stage is given as --broker: the endpoint above, then,
//  with a `replica` section, the replica's ("A,B"). Borrowed.
const char *sl_pipeline_endpoints (const sl_pipeline_t *self);

//  The argument vector that starts member (1-based) of stage with program:
//  NULL-terminated, every string malloc'd; free with sl_argv_free. NULL on
//  out of memory.
char **sl_pipeline_argv (const sl_pipeline_t *self, const sl_stage_t *stage, int member,
                         const char *program);
void sl_argv_free (char ***argv_p);

//  argv as one line a POSIX shell reads back into the same words. Caller
//  frees; NULL on out of memory.
char *sl_shell_join (char *const *argv);

//  The flags a stage of kind accepts in a pipeline file, for docs and tests:
//  a NULL-terminated list of names.
const char *const *sl_pipeline_keys (sl_stage_kind_t kind);

//  The value of a stage's program flag ("curve-secret"; a renamed key is
//  looked up by its flag, "name"): the last value of a repeated flag, ""
//  for a switch that is on, NULL when not given. Borrowed.
const char *sl_stage_value (const sl_stage_t *stage, const char *flag);

//  "broker", "sink", "group", "source".
const char *sl_stage_kind_name (sl_stage_kind_t kind);

#endif
