/*  lua_mp_int.h - the internals of worker/lua_mp*.c, one module in two
    files: lua_mp_types.c (the sluice.* userdata types, their metamethods
    and the sluice module functions) and lua_mp.c (the msgpack <-> Lua
    walk). Nothing else includes this header; lua_mp.h is the interface.
*/
#ifndef SL_WORKER_LUA_MP_INT_H_INCLUDED
#define SL_WORKER_LUA_MP_INT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "lua_mp.h"

//  Metatable names (registry keys) of the userdata types and container marks.
#define MT_UINT64 "sluice.uint64"
#define MT_FLOAT32 "sluice.float32"
#define MT_BIN "sluice.bin"
#define MT_EXT "sluice.ext"
#define MT_ARRAY "sluice.array"
#define MT_MAP "sluice.map"

//  The payload of a sluice.bin and a sluice.ext userdata.
typedef struct {
    size_t len;
    char data[];
} lua_mp_bytes_t;

typedef struct {
    int8_t type;
    size_t len;
    char data[];
} lua_mp_ext_t;

//  lua_mp_types.c

//  Pushes sluice.null.
void sl_lua_mp_pushnull (lua_State *L);
//  Pushes the registry table that remembers decoded maps' key order.
void sl_lua_mp_pushorder (lua_State *L);
//  Pushes an integer, or a sluice.uint64 above INT64_MAX.
void sl_lua_mp_pushuint64 (lua_State *L, uint64_t value);
void sl_lua_mp_pushfloat32 (lua_State *L, float value);
void sl_lua_mp_pushext (lua_State *L, int8_t type, const void *data, size_t len);

//  lua_mp.c

//  How the table at idx encodes: "array" or "map" (see lua_mp.h).
const char *sl_lua_mp_tablekind (lua_State *L, int idx);

#endif
