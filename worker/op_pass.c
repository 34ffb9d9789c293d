/*  op_pass.c - the pass-through operator: what runs when no operator is
    given. Each input record is emitted unchanged (same timestamp, key,
    headers and value), so a group without an operator copies its input
    stream into its output stream exactly once.
*/
#include <stddef.h>

#include "operator.h"

static int
s_pass_process (void *state, const sl_op_record_t *in, const sl_op_host_t *host)
{
    (void)state;
    if (host->emit (host->ctx, in) != 0) {
        host->error (host->ctx, "pass: output record refused");
        return SL_OP_RETRY;
    }
    return SL_OP_OK;
}

static const sl_operator_t s_pass = {
    .abi = SL_OPERATOR_ABI,
    .name = "pass",
    .description = "emits every input record unchanged",
    .options = NULL,
    .init = NULL,
    .process = s_pass_process,
    .flush = NULL,
    .destroy = NULL,
};

const sl_operator_t *
sl_op_pass (void)
{
    return &s_pass;
}
