/*  commands.h - the subcommands of the `sluice` front command.

    Each takes its own argv (argv[0] is the subcommand's name) and returns
    the process exit code. main.c dispatches to them.
*/
#ifndef SL_COMMANDS_H_INCLUDED
#define SL_COMMANDS_H_INCLUDED

#include <stddef.h>

//  sluice run PIPELINE.yaml [options]: run.c.
int sl_cli_run (int argc, char **argv);
void sl_cli_run_usage (void);

//  sluice tail [--broker EP] STREAM [sink options]: tail.c.
int sl_cli_tail (int argc, char **argv);
void sl_cli_tail_usage (void);

//  sluice stat / sluice top: stat.c (docs/operate.md).
int sl_cli_stat (int argc, char **argv);
int sl_cli_top (int argc, char **argv);

//  sluice streams|stream|readers|reader|groups|group|dlq: manage.c.
int sl_cli_manage (int argc, char **argv);
void sl_cli_manage_usage (void);
//  sluice promote --broker REPLICA: promote.c (docs/replication.md).
int sl_cli_promote (int argc, char **argv);
//  sluice dlq show|resend GROUP: dlq.c.
int sl_cli_dlq (int argc, char **argv);

//  sluice keygen NAME (keygen.c).
int sl_cli_keygen (int argc, char **argv);

//  The stage programs, by the word that names them after `sluice`.
typedef struct {
    const char *command; //  "broker"
    const char *program; //  "sluice-broker"
    const char *subdir;  //  its directory in the build tree, "broker"
    const char *about;   //  one line for `sluice --help`
} sl_cli_stage_t;

//  The table of stage programs, terminated by a NULL command.
const sl_cli_stage_t *sl_cli_stages (void);
const sl_cli_stage_t *sl_cli_stage_find (const char *command);

//  Finds a stage program: next to the sluice binary, then in the build tree
//  (../SUBDIR/PROGRAM from the binary's directory), then on PATH. Writes the
//  path to out. 0, or SL_ENOTFOUND (SL_ETOOBIG if out is too small).
int sl_cli_find_program (const sl_cli_stage_t *stage, char *out, size_t size);

//  Replaces this process with the stage program, argv[1..] passed as they
//  are (argv[0] is ignored). Returns only on failure, with an exit code.
int sl_cli_exec_stage (const sl_cli_stage_t *stage, int argc, char **argv);

#endif
