/*  lua_mp.h - msgpack <-> Lua values, directly (no JSON in between), so that
    a record passing through a Lua operator unchanged keeps its bytes.

    The mapping (docs/operators.md has the user's view):
      nil          sluice.null (a light userdata; also the value of a nil
                   element or map value, since a Lua table cannot hold nil)
      bool         boolean
      int          integer (int64, native in Lua 5.4); a uint above
                   INT64_MAX is a "sluice.uint64" userdata
      float64      float; float32 is a "sluice.float32" userdata (so that
                   it is written back as float32)
      str          string
      bin          "sluice.bin" userdata (bytes; tostring gives them)
      ext          "sluice.ext" userdata (.type, .data)
      array        table with the sluice.array metatable
      map          table with the sluice.map metatable; the key order is
                   remembered (in a weak registry table) and written back
    Encoding a Lua table: the array mark -> array of 1..#t; the map mark ->
    map (original keys in their order, then new ones); unmarked -> array
    when its keys are exactly 1..n with n > 0, otherwise a map (so an empty
    unmarked table is an empty map).

    Everything here calls the Lua API and may raise a Lua error on memory
    exhaustion: call it in protected mode (inside lua_pcall).
    Depth: containers nest at most max_depth (<= SL_MP_DEPTH_LIMIT) both
    ways; a cycle in a Lua table is reported as too deep.
*/
#ifndef SL_WORKER_LUA_MP_H_INCLUDED
#define SL_WORKER_LUA_MP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "sl_buf.h"

//  Creates the metatables and the module table and leaves the module
//  table ("sluice": null, array, map, omap, bin, ext, uint64, float32,
//  tonumber, type) on the stack. Also sets it as the global `sluice`. Call once.
void sl_lua_mp_open (lua_State *L);

//  Pushes the value of the one msgpack object at data[0..len) (walked with
//  sl_mp_skip first: trailing bytes are SL_EPROTO). 0, or SL_ETRUNC /
//  SL_EDEPTH / SL_EPROTO / SL_ETYPE (a float NaN map key) with nothing pushed.
int sl_lua_mp_push (lua_State *L, const uint8_t *data, size_t len, uint32_t max_depth);

//  Appends the msgpack encoding of the value at idx to out. 0, or SL_ETYPE
//  (a function, thread or foreign userdata; a map key that cannot be one),
//  SL_EDEPTH (nesting or a cycle), SL_ETOOBIG / SL_ENOMEM (from out), with a
//  reason in why. out may hold a partial value on error: the caller resets.
int sl_lua_mp_encode (lua_State *L, int idx, sl_buf_t *out, uint32_t max_depth, char *why,
                      size_t why_size);

//  True when the value at idx is sluice.null.
int sl_lua_mp_isnull (lua_State *L, int idx);

//  When the value at idx is a string or a sluice.bin, returns its bytes
//  (and whether it is bin); otherwise NULL.
const char *sl_lua_mp_tobytes (lua_State *L, int idx, size_t *len, int *is_bin);

//  Pushes a Lua string or a sluice.bin holding data[0..len).
void sl_lua_mp_pushbytes (lua_State *L, const void *data, size_t len, int is_bin);

//  Sets the map mark on the table at idx (no key order is remembered).
void sl_lua_mp_markmap (lua_State *L, int idx);

#endif
