/*  op_lua_int.h - the Lua operators' internals, shared by op_lua.c (the
    Lua state with its limits, records in and out, the sluice library, the
    operator callbacks and the script operator) and op_expr.c (the filter
    and map operators). Nothing else includes this header.
*/
#ifndef SL_WORKER_OP_LUA_INT_H_INCLUDED
#define SL_WORKER_OP_LUA_INT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "operator.h"
#include "sl_buf.h"

typedef enum { OP_LUA_SCRIPT, OP_LUA_FILTER, OP_LUA_MAP } op_lua_kind_t;

typedef struct {
    op_lua_kind_t kind;
    lua_State *L;
    size_t mem_used;
    size_t mem_limit;
    int64_t timeout_ms; //  0 = no limit
    int64_t deadline;   //  sl_mono_ms () at which the running call times out
    bool timed_out;
    //  The call in progress (NULL outside process and flush).
    const sl_op_record_t *in;
    const sl_op_host_t *host;
    int emitted;
    bool emit_ok;       //  in process or flush
    bool value_checked; //  filter/map: the input value has been walked
    int fn_ref;         //  process, or the compiled expression
    int flush_ref;      //  LUA_NOREF when the script has no flush
    int builtins_ref;   //  filter/map: names visible after the record's
    sl_buf_t value;
    sl_buf_t headers;
    char why[256];
} op_lua_t;

//  Options common to all three operators, set before the state exists.
typedef struct {
    const char *main; //  file or expr
    int64_t timeout_ms;
    int64_t memory_mb;
    bool sandbox;
    int n;
    const char *const *keys;
    const char *const *values;
} op_lua_init_t;

//  The options every Lua operator takes: its time and memory limits.
#define OP_LUA_LIMIT_OPTIONS                                                                       \
    {"timeout_ms", SL_OPT_INT, "1000",                                                             \
     "abort a call (process, flush, init) running longer than this; 0 = no limit"},                \
    {                                                                                              \
        "memory_mb", SL_OPT_INT, "256", "memory the Lua state may use, in MiB"                     \
    }

//  op_lua.c

//  The operator state of a C function's first upvalue.
op_lua_t *sl_op_lua_self (lua_State *L);
//  Raises a FAIL (no retry) naming what was malformed and code.
void sl_op_lua_raise_fail (lua_State *L, const char *what, int code);
//  Pushes a raw msgpack object (nil when there is none), raising a FAIL
//  when it is malformed.
void sl_op_lua_push_raw (lua_State *L, const uint8_t *data, size_t len, const char *what);
//  Pushes the record table of input record in.
void sl_op_lua_push_record (lua_State *L, const sl_op_record_t *in);
//  Emits the value at idx: a record table as a record, anything else as the
//  value of a record with the input's key, headers and timestamp.
void sl_op_lua_emit (lua_State *L, op_lua_t *self, int idx);
//  The operator callbacks, shared by the three operators.
int sl_op_lua_init (op_lua_kind_t kind, void **state, const sl_op_host_t *host, int n,
                    const char *const *keys, const char *const *values);
int sl_op_lua_process (void *state, const sl_op_record_t *in, const sl_op_host_t *host);
void sl_op_lua_destroy (void *state);

//  op_expr.c: filter and map, both protected (lua_CFunction taking self and
//  the init options as light userdata).

//  Compiles the expression and makes the builtins table.
int sl_op_expr_setup (lua_State *L);
//  One record through the expression.
int sl_op_expr_body (lua_State *L);

#endif
