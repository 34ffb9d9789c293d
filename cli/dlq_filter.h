/*  dlq_filter.h - `sluice dlq resend --filter EXPR`: the worker's filter
    expression (docs/operators.md, "Filter and map expressions") evaluated
    on dead letters in the command's own process.

    The expression sees the dead letter as `sluice dlq show` prints it: its
    value's fields `error`, `attempts`, `group`, `stream`, `offset` (the
    original record's offset in the input) and `record` (the original
    record: `record.value.temp`, `record.key`, ...). The Lua state has the
    worker's limits (1 s per call, 256 MiB).
*/
#ifndef SL_CLI_DLQ_FILTER_H_INCLUDED
#define SL_CLI_DLQ_FILTER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "sl_batch.h"

typedef struct _dlq_filter_t dlq_filter_t;

//  Compiles expr. NULL on failure, with the reason (Lua's message and
//  position for a syntax error) in why.
dlq_filter_t *dlq_filter_new (const char *expr, char *why, size_t why_size);
//  Evaluates the expression on one dead letter: 0 with *match (true when
//  the result is neither nil nor false), or SL_EINVAL when the expression
//  raised an error (its message in why).
int dlq_filter_match (dlq_filter_t *self, const sl_record_t *letter, bool *match, char *why,
                      size_t why_size);
void dlq_filter_destroy (dlq_filter_t **self_p);

#endif
