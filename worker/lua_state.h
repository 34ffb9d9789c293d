/*  lua_state.h - `state.get()` / `state.set(v)` for Lua operators in a keyed
    group (docs/operators.md, "Key state"): the current record's key state,
    any msgpack value, kept and committed by keyed.c. One worker process
    runs one operator on one thread, so the hook is process-wide.
*/
#ifndef SL_WORKER_LUA_STATE_H_INCLUDED
#define SL_WORKER_LUA_STATE_H_INCLUDED

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#define SL_LUA_STATE_MAX 65536 //  bytes of one key's encoded state

typedef struct {
    void *ctx;
    //  1 with the state's msgpack bytes, 0 when the key has none, or
    //  negative with *why (no group key in this record).
    int (*get) (void *ctx, const uint8_t **data, size_t *len, const char **why);
    //  Replaces the state (data NULL: deletes it). 0 or negative with *why.
    int (*set) (void *ctx, const uint8_t *data, size_t len, const char **why);
} sl_lua_state_hook_t;

//  NULL: not a keyed group; state.get/set then raise an error.
void sl_lua_state_set_hook (const sl_lua_state_hook_t *hook);
//  Sets the global table `state` with get and set.
void sl_lua_state_open (lua_State *L);

#endif
