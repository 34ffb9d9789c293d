/*  operator.h - the worker's operator registry: turns the command line's
    choice of operator (--lua FILE, --exec CMD, --filter EXPR, --map EXPR,
    --plugin FILE.so or none) into one sl_operator_t and its option values.

    Every operator, built in or loaded, implements include/sluice/plugin.h.
    The registry passes the operator's main argument as one of its options:

        --exec CMD      option "command" (and "timeout", ms, from --exec-timeout)
        --lua FILE      option "file"
        --filter EXPR   option "expr"
        --map EXPR      option "expr"
        --plugin FILE   the plugin's own options, from --option KEY=VALUE

    --option KEY=VALUE pairs are checked against the operator's declared
    table (unknown keys, bad ints or bools are usage errors), defaults are
    filled in, and a required option left unset is a usage error.

    A built-in operator may also process a whole input batch in one call
    (sl_op_batch_fn): the exec operator uses that to keep its child's pipe
    full instead of paying one round trip per record.
*/
#ifndef SL_WORKER_OPERATOR_H_INCLUDED
#define SL_WORKER_OPERATOR_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "sluice/plugin.h"

typedef enum {
    SL_OPK_PASS = 0, //  no operator: each input record is its own output
    SL_OPK_EXEC,     //  a long-running child process speaking JSON lines
    SL_OPK_LUA,      //  a Lua script (op_lua.c)
    SL_OPK_FILTER,   //  keep records for which an expression is true (op_expr.c)
    SL_OPK_MAP,      //  replace each value with an expression (op_expr.c)
    SL_OPK_PLUGIN,   //  a shared object exporting sluice_operator (op_plugin.c)
} sl_op_kind_t;

//  What the command line asked for. Strings are borrowed.
typedef struct {
    sl_op_kind_t kind;
    const char *arg;            //  command, file, expression or plugin path
    int64_t exec_timeout_ms;    //  --exec-timeout; 0 = the default (10 s)
    const char *const *options; //  --option values, each "KEY=VALUE"
    size_t n_options;
} sl_op_spec_t;

//  A host for batch-at-once operators. For each input record, in order, the
//  operator emits the record's outputs through the sl_op_host_t and then
//  calls done (index into the batch, an sl_op_rc_t); every record gets
//  exactly one done. tick is called at least every 250 ms while the
//  operator waits, so that the worker can keep its broker session alive.
//  Past deadline_ms (sl_mono_ms; 0 = none) the lease is lost anyway: the
//  operator settles every record left with SL_OP_RETRY and returns.
typedef struct {
    void *ctx;
    void (*done) (void *ctx, size_t index, int rc);
    void (*tick) (void *ctx);
    int64_t deadline_ms;
} sl_op_batch_host_t;

typedef int (sl_op_batch_fn) (void *state, const sl_op_record_t *records, size_t n,
                              const sl_op_host_t *host, const sl_op_batch_host_t *batch);

//  A resolved operator: what sl_op_resolve returns, ready for init.
typedef struct {
    const sl_operator_t *op;
    sl_op_batch_fn *process_batch; //  NULL: the worker calls process per record
    void *handle;                  //  plugin handle (dlclose'd by sl_op_resolved_free)
    int n;                         //  option count: every declared option, then extras
    char **keys;
    char **values;
} sl_op_resolved_t;

//  Resolves spec. 0, or SL_EINVAL (usage error: why says what is wrong and
//  the worker exits 2), SL_ENOTFOUND (the operator is not built into this
//  worker, or the plugin cannot be loaded: exit 1) or SL_ENOMEM.
int sl_op_resolve (const sl_op_spec_t *spec, sl_op_resolved_t *out, char *why, size_t why_size);
//  Frees the option arrays and closes a plugin. Idempotent.
void sl_op_resolved_free (sl_op_resolved_t *self);

//  Built-in operators. The pass-through and exec operators live here
//  (op_pass.c, op_exec.c); Lua, filter, map and the plugin loader are in
//  op_lua.c and op_plugin.c.
const sl_operator_t *sl_op_pass (void);
const sl_operator_t *sl_op_exec (void);
sl_op_batch_fn sl_op_exec_batch;
const sl_operator_t *sl_op_lua (void);
const sl_operator_t *sl_op_filter (void);
const sl_operator_t *sl_op_map (void);
//  Loads path with dlopen and finds its sluice_operator symbol; checks the
//  ABI. 0 with *op and *handle, or negative with a reason in why.
int sl_op_plugin_load (const char *path, const sl_operator_t **op, void **handle, char *why,
                       size_t why_size);

#endif
