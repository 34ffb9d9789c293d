/*  supervise_int.h - the supervisor's state, shared by supervise.c (the
    loop: start, reap, restart, stop in order) and sup_broker.c (is the
    pipeline's broker ready, is its address or data directory taken).
*/
#ifndef SL_SUPERVISE_INT_H_INCLUDED
#define SL_SUPERVISE_INT_H_INCLUDED

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pipeline.h"
#include "relay.h"
#include "runstat.h"
#include "sl_client.h"
#include "supervise.h"

#define S_CRASH_RING 16

typedef enum { S_IDLE, S_RUNNING, S_BACKOFF, S_DONE, S_STOPPED } s_state_t;

typedef struct {
    const sl_stage_t *stage;
    int member;
    char label[SL_PL_NAME_MAX + 16];
    const char *color;
    char **argv;
    pid_t pid;
    s_state_t state;
    int fds[2]; //  read ends of its stdout and stderr, -1 when closed
    sl_relay_t relays[2];
    int64_t started_ms;
    int64_t restart_at_ms;
    int64_t backoff_ms;
    int64_t crashes[S_CRASH_RING];
    size_t n_crashes;
    bool warned;   //  "keeps crashing" said for this episode
    bool stopping; //  signalled by the orderly stop
    bool killed;   //  SIGKILLed after a deadline
    bool unclean;
    bool gave_up;  //  exit 2 (usage, missing file): not restarted
    bool rejected; //  a source's exit 3: some input rejected
    int status;
} s_proc_t;

typedef struct {
    const sl_pipeline_t *pl;
    const sl_supervise_opts_t *opts;
    s_proc_t *procs;
    size_t n;
    struct pollfd *pfds;
    int sigfd;
    pid_t self_pid;
    bool out_tty, err_tty;
    bool broker_ready;
    sl_client_t *probe;
    bool stdout_gone;
    //  Progress (runstat.h): drain before exit-at-end sinks, the status line.
    sl_runstat_t *stat;
    int64_t sources_done_ms; //  wall clock when every source had finished, 0 before
    int64_t said_waiting_ms;
    //  The orderly stop.
    bool stopping;
    bool hurry; //  a second signal: kill what is left
    int stop_index;
    bool phase_signalled;
    int64_t phase_deadline;
    int64_t stop_deadline;
    int64_t kill_wait_until;
    bool finished;
} s_sup_t;

//  One line from sluice run itself, coloured when stderr is a terminal.
#define S_SAY(sup, ...) sl_relay_say ((sup)->opts->color && (sup)->err_tty, __VA_ARGS__)

//  True once the pipeline's broker answers HELLO (sup_broker.c).
bool sl_sup_broker_ready (s_sup_t *sup);

//  SL_ELOCKED, said, when another broker holds the pipeline's data directory.
int sl_sup_check_data_dir (s_sup_t *sup);

//  SL_EINVAL, said, when something already answers at the broker's address.
int sl_sup_check_port (s_sup_t *sup);

#endif
