/*  plugin_fixture.c - broken plugins for test_plugin.c, one per FIXTURE:
      1  exports no sluice_operator symbol
      2  speaks another ABI
      3  has no process callback
      4  sluice_operator () returns NULL
*/
#include <stddef.h>

#include "sluice/plugin.h"

#if FIXTURE == 1
const sl_operator_t *
not_the_symbol (void)
{
    return NULL;
}
#else
static int
s_process (void *state, const sl_op_record_t *in, const sl_op_host_t *host)
{
    (void)state;
    (void)in;
    (void)host;
    return SL_OP_OK;
}

static const sl_operator_t s_op = {
#if FIXTURE == 2
    .abi = 99,
#else
    .abi = SL_OPERATOR_ABI,
#endif
    .name = "fixture",
#if FIXTURE != 3
    .process = s_process,
#endif
};

const sl_operator_t *
sluice_operator (void)
{
#if FIXTURE == 4
    (void)s_op;
    return NULL;
#else
    (void)s_process;
    return &s_op;
#endif
}
#endif
