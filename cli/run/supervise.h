/*  supervise.h - runs a checked pipeline's processes and watches them.

    Start order: the broker, and once it answers HELLO, the sinks and the
    groups' members, then the sources; a sink with exit-at-end waits until
    every source has finished. A stage that exits non-zero or by a signal is
    restarted after a backoff (0.5 s doubling to 30 s, back to 0.5 s after
    60 s of running); one that keeps crashing is reported. The run ends on
    SIGINT/SIGTERM/SIGHUP, when its stdout is closed, or when every source
    and sink has finished: then stages stop in order (sources, groups,
    sinks, the broker) within the stop deadline. Only PIDs it started are
    ever signalled. docs/run.md is the user's account of all this.
*/
#ifndef SL_SUPERVISE_H_INCLUDED
#define SL_SUPERVISE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "pipeline.h"

typedef struct {
    const char *programs[4]; //  path of each stage kind's program (by sl_stage_kind_t)
    bool color;              //  colour labels on whichever of stdout/stderr is a terminal
    int64_t stop_timeout_ms; //  whole orderly stop, all phases (default 15 s)
    int64_t backoff_min_ms;  //  first restart delay (500)
    int64_t backoff_max_ms;  //  longest restart delay (30000)
    int64_t healthy_ms;      //  running this long resets the delay (60000)
    int crash_limit;         //  crashes within healthy_ms that make it "keeps crashing" (5)
} sl_supervise_opts_t;

//  Defaults for the fields above (programs NULL, color false).
void sl_supervise_opts_init (sl_supervise_opts_t *opts);

//  Runs the pipeline until it ends. Returns the exit code of sluice run:
//  0 when every stage stopped cleanly (exit 0 within its deadline), else 1.
int sl_supervise (const sl_pipeline_t *pipeline, const sl_supervise_opts_t *opts);

#endif
