/*  lua_mp_types.c - the Lua side of the msgpack types Lua lacks: the
    sluice.uint64, sluice.float32, sluice.bin and sluice.ext userdata (with
    metamethods, so that they compare, compute and print like the values
    they stand for), sluice.null, the array and map marks, and the sluice
    module functions (array, map, omap, bin, ext, uint64, float32,
    tonumber, type). lua_mp.h describes the mapping.

    Part of the lua_mp module: lua_mp.c walks msgpack <-> Lua values with
    these types; lua_mp_int.h is what the two files share.
*/
#include "lua_mp.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "lua_mp_int.h"

//  Addresses used as unique registry keys and as the null value.
static char s_null;
static char s_order_key;

void
sl_lua_mp_pushnull (lua_State *L)
{
    lua_pushlightuserdata (L, &s_null);
}

void
sl_lua_mp_pushorder (lua_State *L)
{
    lua_rawgetp (L, LUA_REGISTRYINDEX, &s_order_key);
}

// ---------------------------------------------------------------------------
//  The userdata types.

void
sl_lua_mp_pushuint64 (lua_State *L, uint64_t value)
{
    if (value <= INT64_MAX) {
        lua_pushinteger (L, (lua_Integer)value);
        return;
    }
    uint64_t *u = lua_newuserdatauv (L, sizeof *u, 0);
    *u = value;
    luaL_setmetatable (L, MT_UINT64);
}

void
sl_lua_mp_pushfloat32 (lua_State *L, float value)
{
    float *f = lua_newuserdatauv (L, sizeof *f, 0);
    *f = value;
    luaL_setmetatable (L, MT_FLOAT32);
}

void
sl_lua_mp_pushbytes (lua_State *L, const void *data, size_t len, int is_bin)
{
    if (!is_bin) {
        lua_pushlstring (L, (const char *)data, len);
        return;
    }
    lua_mp_bytes_t *b = lua_newuserdatauv (L, sizeof *b + len, 0);
    b->len = len;
    if (len) {
        memcpy (b->data, data, len);
    }
    luaL_setmetatable (L, MT_BIN);
}

void
sl_lua_mp_pushext (lua_State *L, int8_t type, const void *data, size_t len)
{
    lua_mp_ext_t *x = lua_newuserdatauv (L, sizeof *x + len, 0);
    x->type = type;
    x->len = len;
    if (len) {
        memcpy (x->data, data, len);
    }
    luaL_setmetatable (L, MT_EXT);
}

int
sl_lua_mp_isnull (lua_State *L, int idx)
{
    return lua_type (L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata (L, idx) == &s_null;
}

const char *
sl_lua_mp_tobytes (lua_State *L, int idx, size_t *len, int *is_bin)
{
    if (lua_type (L, idx) == LUA_TSTRING) {
        *is_bin = 0;
        return lua_tolstring (L, idx, len);
    }
    lua_mp_bytes_t *b = luaL_testudata (L, idx, MT_BIN);
    if (b) {
        *is_bin = 1;
        *len = b->len;
        return b->data;
    }
    return NULL;
}

void
sl_lua_mp_markmap (lua_State *L, int idx)
{
    idx = lua_absindex (L, idx);
    luaL_getmetatable (L, MT_MAP);
    lua_setmetatable (L, idx);
}

//  The numeric view of a value for the metamethods: an exact integer (as
//  uint64 with a sign flag) or a double. 0 when it is not a number.
typedef struct {
    bool is_int;
    bool negative; //  is_int: the value is i (< 0)
    int64_t i;
    uint64_t u; //  is_int and !negative: the value is u
    double d;
} s_num_t;

static int
s_num (lua_State *L, int idx, s_num_t *n)
{
    memset (n, 0, sizeof *n);
    uint64_t *u = luaL_testudata (L, idx, MT_UINT64);
    if (u) {
        n->is_int = true;
        n->u = *u;
        n->d = (double)*u;
        return 1;
    }
    float *f = luaL_testudata (L, idx, MT_FLOAT32);
    if (f) {
        n->d = *f;
        return 1;
    }
    if (lua_type (L, idx) != LUA_TNUMBER) {
        return 0;
    }
    if (lua_isinteger (L, idx)) {
        n->is_int = true;
        n->i = lua_tointeger (L, idx);
        n->negative = n->i < 0;
        n->u = n->negative ? 0 : (uint64_t)n->i;
        n->d = (double)n->i;
        return 1;
    }
    n->d = lua_tonumber (L, idx);
    return 1;
}

//  -1, 0 or 1; 2 when unordered (a NaN). Integers compare exactly.
static int
s_compare (const s_num_t *a, const s_num_t *b)
{
    if (a->is_int && b->is_int) {
        if (a->negative != b->negative) {
            return a->negative ? -1 : 1;
        }
        if (a->negative) {
            return a->i < b->i ? -1 : a->i > b->i;
        }
        return a->u < b->u ? -1 : a->u > b->u;
    }
    long double x =
        a->is_int ? (a->negative ? (long double)a->i : (long double)a->u) : (long double)a->d;
    long double y =
        b->is_int ? (b->negative ? (long double)b->i : (long double)b->u) : (long double)b->d;
    if (x < y) {
        return -1;
    }
    if (x > y) {
        return 1;
    }
    return x == y ? 0 : 2;
}

static void
s_check_num (lua_State *L, int idx, s_num_t *n, const char *what)
{
    if (!s_num (L, idx, n)) {
        luaL_error (L, "attempt to %s a %s with a sluice number", what, luaL_typename (L, idx));
    }
}

static int
s_num_lt (lua_State *L)
{
    s_num_t a, b;
    s_check_num (L, 1, &a, "compare");
    s_check_num (L, 2, &b, "compare");
    lua_pushboolean (L, s_compare (&a, &b) == -1);
    return 1;
}

static int
s_num_le (lua_State *L)
{
    s_num_t a, b;
    s_check_num (L, 1, &a, "compare");
    s_check_num (L, 2, &b, "compare");
    int c = s_compare (&a, &b);
    lua_pushboolean (L, c == -1 || c == 0);
    return 1;
}

static int
s_num_eq (lua_State *L)
{
    s_num_t a, b;
    lua_pushboolean (L, s_num (L, 1, &a) && s_num (L, 2, &b) && s_compare (&a, &b) == 0);
    return 1;
}

//  Arithmetic on a uint64 or float32 is done on doubles, as Lua does with an
//  integer too large for int64 (tonumber("18446744073709551615") is a float).
static int
s_num_arith (lua_State *L, int op)
{
    s_num_t a, b;
    s_check_num (L, 1, &a, "do arithmetic on");
    s_check_num (L, 2, &b, "do arithmetic on");
    lua_pushnumber (L, a.d);
    if (op == LUA_OPUNM) {
        lua_arith (L, op);
        return 1;
    }
    lua_pushnumber (L, b.d);
    lua_arith (L, op);
    return 1;
}

static int
s_num_add (lua_State *L)
{
    return s_num_arith (L, LUA_OPADD);
}
static int
s_num_sub (lua_State *L)
{
    return s_num_arith (L, LUA_OPSUB);
}
static int
s_num_mul (lua_State *L)
{
    return s_num_arith (L, LUA_OPMUL);
}
static int
s_num_div (lua_State *L)
{
    return s_num_arith (L, LUA_OPDIV);
}
static int
s_num_mod (lua_State *L)
{
    return s_num_arith (L, LUA_OPMOD);
}
static int
s_num_pow (lua_State *L)
{
    return s_num_arith (L, LUA_OPPOW);
}
static int
s_num_idiv (lua_State *L)
{
    return s_num_arith (L, LUA_OPIDIV);
}
static int
s_num_unm (lua_State *L)
{
    return s_num_arith (L, LUA_OPUNM);
}

static int
s_uint64_tostring (lua_State *L)
{
    uint64_t *u = luaL_checkudata (L, 1, MT_UINT64);
    char text[24];
    snprintf (text, sizeof text, "%llu", (unsigned long long)*u);
    lua_pushstring (L, text);
    return 1;
}

static int
s_float32_tostring (lua_State *L)
{
    float *f = luaL_checkudata (L, 1, MT_FLOAT32);
    lua_pushnumber (L, *f);
    luaL_tolstring (L, -1, NULL);
    return 1;
}

//  "a" .. x for uint64 and float32: their tostring.
static int
s_concat (lua_State *L)
{
    luaL_tolstring (L, 1, NULL);
    luaL_tolstring (L, 2, NULL);
    lua_concat (L, 2);
    return 1;
}

static int
s_bin_tostring (lua_State *L)
{
    lua_mp_bytes_t *b = luaL_checkudata (L, 1, MT_BIN);
    lua_pushlstring (L, b->data, b->len);
    return 1;
}

static int
s_bin_len (lua_State *L)
{
    lua_mp_bytes_t *b = luaL_checkudata (L, 1, MT_BIN);
    lua_pushinteger (L, (lua_Integer)b->len);
    return 1;
}

static int
s_bin_eq (lua_State *L)
{
    lua_mp_bytes_t *a = luaL_testudata (L, 1, MT_BIN);
    lua_mp_bytes_t *b = luaL_testudata (L, 2, MT_BIN);
    lua_pushboolean (L, a && b && a->len == b->len && memcmp (a->data, b->data, a->len) == 0);
    return 1;
}

static int
s_ext_index (lua_State *L)
{
    lua_mp_ext_t *x = luaL_checkudata (L, 1, MT_EXT);
    const char *key = lua_tostring (L, 2);
    if (key && strcmp (key, "type") == 0) {
        lua_pushinteger (L, x->type);
    }
    else if (key && strcmp (key, "data") == 0) {
        lua_pushlstring (L, x->data, x->len);
    }
    else {
        lua_pushnil (L);
    }
    return 1;
}

static int
s_ext_tostring (lua_State *L)
{
    lua_mp_ext_t *x = luaL_checkudata (L, 1, MT_EXT);
    lua_pushfstring (L, "ext(%d, %d bytes)", (int)x->type, (int)x->len);
    return 1;
}

static int
s_ext_eq (lua_State *L)
{
    lua_mp_ext_t *a = luaL_testudata (L, 1, MT_EXT);
    lua_mp_ext_t *b = luaL_testudata (L, 2, MT_EXT);
    lua_pushboolean (L, a && b && a->type == b->type && a->len == b->len &&
                            memcmp (a->data, b->data, a->len) == 0);
    return 1;
}

// ---------------------------------------------------------------------------
//  The sluice module functions.

static int
s_f_mark (lua_State *L, const char *mt)
{
    if (lua_isnoneornil (L, 1)) {
        lua_newtable (L);
    }
    else {
        luaL_checktype (L, 1, LUA_TTABLE);
        lua_settop (L, 1);
    }
    luaL_setmetatable (L, mt);
    return 1;
}

static int
s_f_array (lua_State *L)
{
    return s_f_mark (L, MT_ARRAY);
}
static int
s_f_map (lua_State *L)
{
    return s_f_mark (L, MT_MAP);
}

//  sluice.omap (k1, v1, k2, v2, ...): a map that keeps the order given (a
//  table constructor's keys come out in Lua's hash order). Pairs whose
//  value is nil are left out; a repeated key keeps its first place.
static int
s_f_omap (lua_State *L)
{
    int n = lua_gettop (L);
    luaL_argcheck (L, n % 2 == 0, n, "keys and values must come in pairs");
    lua_createtable (L, 0, n / 2);
    luaL_setmetatable (L, MT_MAP);
    int t = n + 1;
    lua_createtable (L, n / 2, 0);
    int order = n + 2;
    lua_Integer n_order = 0;
    for (int i = 1; i < n; i += 2) {
        if (lua_isnil (L, i + 1)) {
            continue;
        }
        luaL_argcheck (L, !lua_isnil (L, i), i, "a map key cannot be nil (use sluice.null)");
        if (lua_type (L, i) == LUA_TNUMBER && !lua_isinteger (L, i)) {
            luaL_argcheck (L, !isnan (lua_tonumber (L, i)), i, "a map key cannot be NaN");
        }
        lua_pushvalue (L, i);
        if (lua_rawget (L, t) == LUA_TNIL) {
            lua_pushvalue (L, i);
            lua_rawseti (L, order, ++n_order);
        }
        lua_pop (L, 1);
        lua_pushvalue (L, i);
        lua_pushvalue (L, i + 1);
        lua_rawset (L, t);
    }
    if (n_order > 1) {
        lua_rawgetp (L, LUA_REGISTRYINDEX, &s_order_key);
        lua_pushvalue (L, t);
        lua_pushvalue (L, order);
        lua_rawset (L, -3);
        lua_pop (L, 1);
    }
    lua_settop (L, t);
    return 1;
}

static int
s_f_bin (lua_State *L)
{
    size_t len;
    int is_bin;
    const char *data = sl_lua_mp_tobytes (L, 1, &len, &is_bin);
    if (!data) {
        return luaL_typeerror (L, 1, "string");
    }
    sl_lua_mp_pushbytes (L, data, len, 1);
    return 1;
}

static int
s_f_ext (lua_State *L)
{
    lua_Integer type = luaL_checkinteger (L, 1);
    size_t len;
    const char *data = luaL_checklstring (L, 2, &len);
    luaL_argcheck (L, type >= -128 && type <= 127, 1, "ext type must be -128..127");
    sl_lua_mp_pushext (L, (int8_t)type, data, len);
    return 1;
}

static int
s_f_uint64 (lua_State *L)
{
    if (luaL_testudata (L, 1, MT_UINT64)) {
        lua_settop (L, 1);
        return 1;
    }
    if (lua_isinteger (L, 1)) {
        luaL_argcheck (L, lua_tointeger (L, 1) >= 0, 1, "negative");
        lua_settop (L, 1);
        return 1;
    }
    const char *text = luaL_checkstring (L, 1);
    char *end;
    errno = 0;
    unsigned long long v = strtoull (text, &end, 10);
    luaL_argcheck (L, *text >= '0' && *text <= '9' && *end == '\0' && errno == 0, 1,
                   "not a decimal 64-bit unsigned integer");
    sl_lua_mp_pushuint64 (L, (uint64_t)v);
    return 1;
}

static int
s_f_float32 (lua_State *L)
{
    s_num_t n;
    if (!s_num (L, 1, &n)) {
        return luaL_typeerror (L, 1, "number");
    }
    sl_lua_mp_pushfloat32 (L, (float)n.d);
    return 1;
}

static int
s_f_tonumber (lua_State *L)
{
    s_num_t n;
    if (s_num (L, 1, &n)) {
        if (n.is_int && n.negative) {
            lua_pushinteger (L, n.i);
        }
        else if (n.is_int && n.u <= INT64_MAX) {
            lua_pushinteger (L, (lua_Integer)n.u);
        }
        else {
            lua_pushnumber (L, n.d);
        }
        return 1;
    }
    if (lua_type (L, 1) == LUA_TSTRING && lua_stringtonumber (L, lua_tostring (L, 1))) {
        return 1;
    }
    lua_pushnil (L);
    return 1;
}

static int
s_f_type (lua_State *L)
{
    luaL_checkany (L, 1);
    const char *name;
    if (sl_lua_mp_isnull (L, 1)) {
        name = "null";
    }
    else if (lua_type (L, 1) == LUA_TNUMBER) {
        name = lua_isinteger (L, 1) ? "integer" : "float";
    }
    else if (luaL_testudata (L, 1, MT_UINT64)) {
        name = "uint64";
    }
    else if (luaL_testudata (L, 1, MT_FLOAT32)) {
        name = "float32";
    }
    else if (luaL_testudata (L, 1, MT_BIN)) {
        name = "bin";
    }
    else if (luaL_testudata (L, 1, MT_EXT)) {
        name = "ext";
    }
    else if (lua_type (L, 1) == LUA_TTABLE) {
        name = sl_lua_mp_tablekind (L, 1);
    }
    else {
        name = luaL_typename (L, 1);
    }
    lua_pushstring (L, name);
    return 1;
}

static void
s_new_mt (lua_State *L, const char *name, const luaL_Reg *methods)
{
    luaL_newmetatable (L, name);
    luaL_setfuncs (L, methods, 0);
    lua_pushliteral (L, "sluice");
    lua_setfield (L, -2, "__metatable");
    lua_pop (L, 1);
}

void
sl_lua_mp_open (lua_State *L)
{
    static const luaL_Reg num_methods[] = {
        {"__lt", s_num_lt},   {"__le", s_num_le},     {"__eq", s_num_eq},   {"__add", s_num_add},
        {"__sub", s_num_sub}, {"__mul", s_num_mul},   {"__div", s_num_div}, {"__mod", s_num_mod},
        {"__pow", s_num_pow}, {"__idiv", s_num_idiv}, {"__unm", s_num_unm}, {"__concat", s_concat},
        {NULL, NULL}};
    s_new_mt (L, MT_UINT64, num_methods);
    luaL_getmetatable (L, MT_UINT64);
    lua_pushcfunction (L, s_uint64_tostring);
    lua_setfield (L, -2, "__tostring");
    lua_pop (L, 1);
    s_new_mt (L, MT_FLOAT32, num_methods);
    luaL_getmetatable (L, MT_FLOAT32);
    lua_pushcfunction (L, s_float32_tostring);
    lua_setfield (L, -2, "__tostring");
    lua_pop (L, 1);

    static const luaL_Reg bin_methods[] = {{"__tostring", s_bin_tostring},
                                           {"__len", s_bin_len},
                                           {"__eq", s_bin_eq},
                                           {"__concat", s_concat},
                                           {NULL, NULL}};
    s_new_mt (L, MT_BIN, bin_methods);
    static const luaL_Reg ext_methods[] = {
        {"__index", s_ext_index}, {"__tostring", s_ext_tostring}, {"__eq", s_ext_eq}, {NULL, NULL}};
    s_new_mt (L, MT_EXT, ext_methods);
    //  The container marks are plain metatables: scripts may index and
    //  extend marked tables as any other.
    luaL_newmetatable (L, MT_ARRAY);
    lua_pop (L, 1);
    luaL_newmetatable (L, MT_MAP);
    lua_pop (L, 1);

    //  Key order of decoded maps, weak in its keys: forgotten with the map.
    lua_newtable (L);
    lua_newtable (L);
    lua_pushliteral (L, "k");
    lua_setfield (L, -2, "__mode");
    lua_setmetatable (L, -2);
    lua_rawsetp (L, LUA_REGISTRYINDEX, &s_order_key);

    static const luaL_Reg functions[] = {{"array", s_f_array},     {"map", s_f_map},
                                         {"omap", s_f_omap},       {"bin", s_f_bin},
                                         {"ext", s_f_ext},         {"uint64", s_f_uint64},
                                         {"float32", s_f_float32}, {"tonumber", s_f_tonumber},
                                         {"type", s_f_type},       {NULL, NULL}};
    luaL_newlib (L, functions);
    lua_pushlightuserdata (L, &s_null);
    lua_setfield (L, -2, "null");
    lua_pushvalue (L, -1);
    lua_setglobal (L, "sluice");
}
