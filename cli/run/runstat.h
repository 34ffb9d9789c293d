/*  runstat.h - what `sluice run` asks the broker while it supervises
    (docs/run.md): whether the pipeline's groups have drained, so that a
    sink with exit-at-end starts only once everything upstream is done, and
    a status line (rates and lag per stage) for a terminal. Both come from
    the progress query (STAT, docs/PROTOCOL.md §15).

    Each call asks at most once per RUNSTAT_EVERY_MS and waits at most
    RUNSTAT_WAIT_MS for the answer, so the supervisor's loop (which relays
    the stages' output) is never held for long.
*/
#ifndef SL_CLI_RUNSTAT_H_INCLUDED
#define SL_CLI_RUNSTAT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline.h"

#define RUNSTAT_EVERY_MS 500
#define RUNSTAT_WAIT_MS 150

typedef struct _sl_runstat_t sl_runstat_t;

//  For pipeline; the client's keys are chosen as the supervisor's probe
//  chooses them. NULL on failure (or when CURVE is on and no client stage
//  has keys: then nothing can be asked).
sl_runstat_t *sl_runstat_new (const sl_pipeline_t *pl);
void sl_runstat_destroy (sl_runstat_t **self_p);

//  Asks again when the last answer is older than RUNSTAT_EVERY_MS. True
//  when a document made after since_wall_ms (the wall clock) shows every
//  group of the pipeline with nothing left: lag 0 and no lease in flight.
//  *waiting (may be NULL) gets a description of what is still behind.
bool sl_runstat_drained (sl_runstat_t *self, int64_t since_wall_ms, char *waiting, size_t size);

//  The status line from the last answer (asking first when due): for each
//  source stream its rate, for each group its lag in records and seconds
//  and its members. False when there is no answer yet.
bool sl_runstat_line (sl_runstat_t *self, char *buf, size_t size);

//  For a status line every RUNSTAT_STATUS_MS: creates *self_p when needed,
//  and fills line when one is due. False when none is due or there is no
//  answer.
#define RUNSTAT_STATUS_MS 10000
bool sl_runstat_status_due (sl_runstat_t **self_p, const sl_pipeline_t *pl, int64_t now, char *line,
                            size_t size);

#endif
