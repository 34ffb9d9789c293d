/*  lua_mp.c - msgpack <-> Lua values (see lua_mp.h).

    Decoding trusts nothing: the bytes are walked with sl_mp_skip first (every
    length bounded, nesting bounded), and the decoder still checks each read
    against the end. Both directions recurse, but only as deep as max_depth
    (at most SL_MP_DEPTH_LIMIT frames of a few dozen bytes), and check the
    Lua stack at each level.
*/
#include "lua_mp.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "sl_error.h"
#include "sl_mp.h"

#define S_UINT64  "sluice.uint64"
#define S_FLOAT32 "sluice.float32"
#define S_BIN     "sluice.bin"
#define S_EXT     "sluice.ext"
#define S_ARRAY   "sluice.array"
#define S_MAP     "sluice.map"

//  Addresses used as unique registry keys and as the null value.
static char s_null;
static char s_order_key;

typedef struct {
    size_t len;
    char data[];
} s_bytes_t;

typedef struct {
    int8_t type;
    size_t len;
    char data[];
} s_ext_t;

static uint16_t
s_get16 (const uint8_t *p)
{
    return (uint16_t) ((uint16_t) p[0] << 8 | p[1]);
}

static uint32_t
s_get32 (const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static uint64_t
s_get64 (const uint8_t *p)
{
    return (uint64_t) s_get32 (p) << 32 | s_get32 (p + 4);
}

static void
s_put32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

// ---------------------------------------------------------------------------
//  The userdata types.

static void
s_push_uint64 (lua_State *L, uint64_t value)
{
    if (value <= INT64_MAX) {
        lua_pushinteger (L, (lua_Integer) value);
        return;
    }
    uint64_t *u = lua_newuserdatauv (L, sizeof *u, 0);
    *u = value;
    luaL_setmetatable (L, S_UINT64);
}

static void
s_push_float32 (lua_State *L, float value)
{
    float *f = lua_newuserdatauv (L, sizeof *f, 0);
    *f = value;
    luaL_setmetatable (L, S_FLOAT32);
}

void
sl_lua_mp_pushbytes (lua_State *L, const void *data, size_t len, int is_bin)
{
    if (!is_bin) {
        lua_pushlstring (L, (const char *) data, len);
        return;
    }
    s_bytes_t *b = lua_newuserdatauv (L, sizeof *b + len, 0);
    b->len = len;
    if (len) {
        memcpy (b->data, data, len);
    }
    luaL_setmetatable (L, S_BIN);
}

static void
s_push_ext (lua_State *L, int8_t type, const void *data, size_t len)
{
    s_ext_t *x = lua_newuserdatauv (L, sizeof *x + len, 0);
    x->type = type;
    x->len = len;
    if (len) {
        memcpy (x->data, data, len);
    }
    luaL_setmetatable (L, S_EXT);
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
    s_bytes_t *b = luaL_testudata (L, idx, S_BIN);
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
    luaL_getmetatable (L, S_MAP);
    lua_setmetatable (L, idx);
}

//  The numeric view of a value for the metamethods: an exact integer (as
//  uint64 with a sign flag) or a double. 0 when it is not a number.
typedef struct {
    bool is_int;
    bool negative;      //  is_int: the value is i (< 0)
    int64_t i;
    uint64_t u;         //  is_int and !negative: the value is u
    double d;
} s_num_t;

static int
s_num (lua_State *L, int idx, s_num_t *n)
{
    memset (n, 0, sizeof *n);
    uint64_t *u = luaL_testudata (L, idx, S_UINT64);
    if (u) {
        n->is_int = true;
        n->u = *u;
        n->d = (double) *u;
        return 1;
    }
    float *f = luaL_testudata (L, idx, S_FLOAT32);
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
        n->u = n->negative ? 0 : (uint64_t) n->i;
        n->d = (double) n->i;
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
    long double x = a->is_int ? (a->negative ? (long double) a->i : (long double) a->u)
                              : (long double) a->d;
    long double y = b->is_int ? (b->negative ? (long double) b->i : (long double) b->u)
                              : (long double) b->d;
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

static int s_num_add (lua_State *L) { return s_num_arith (L, LUA_OPADD); }
static int s_num_sub (lua_State *L) { return s_num_arith (L, LUA_OPSUB); }
static int s_num_mul (lua_State *L) { return s_num_arith (L, LUA_OPMUL); }
static int s_num_div (lua_State *L) { return s_num_arith (L, LUA_OPDIV); }
static int s_num_mod (lua_State *L) { return s_num_arith (L, LUA_OPMOD); }
static int s_num_pow (lua_State *L) { return s_num_arith (L, LUA_OPPOW); }
static int s_num_idiv (lua_State *L) { return s_num_arith (L, LUA_OPIDIV); }
static int s_num_unm (lua_State *L) { return s_num_arith (L, LUA_OPUNM); }

static int
s_uint64_tostring (lua_State *L)
{
    uint64_t *u = luaL_checkudata (L, 1, S_UINT64);
    char text[24];
    snprintf (text, sizeof text, "%llu", (unsigned long long) *u);
    lua_pushstring (L, text);
    return 1;
}

static int
s_float32_tostring (lua_State *L)
{
    float *f = luaL_checkudata (L, 1, S_FLOAT32);
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
    s_bytes_t *b = luaL_checkudata (L, 1, S_BIN);
    lua_pushlstring (L, b->data, b->len);
    return 1;
}

static int
s_bin_len (lua_State *L)
{
    s_bytes_t *b = luaL_checkudata (L, 1, S_BIN);
    lua_pushinteger (L, (lua_Integer) b->len);
    return 1;
}

static int
s_bin_eq (lua_State *L)
{
    s_bytes_t *a = luaL_testudata (L, 1, S_BIN);
    s_bytes_t *b = luaL_testudata (L, 2, S_BIN);
    lua_pushboolean (L, a && b && a->len == b->len && memcmp (a->data, b->data, a->len) == 0);
    return 1;
}

static int
s_ext_index (lua_State *L)
{
    s_ext_t *x = luaL_checkudata (L, 1, S_EXT);
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
    s_ext_t *x = luaL_checkudata (L, 1, S_EXT);
    lua_pushfstring (L, "ext(%d, %d bytes)", (int) x->type, (int) x->len);
    return 1;
}

static int
s_ext_eq (lua_State *L)
{
    s_ext_t *a = luaL_testudata (L, 1, S_EXT);
    s_ext_t *b = luaL_testudata (L, 2, S_EXT);
    lua_pushboolean (L, a && b && a->type == b->type && a->len == b->len
                            && memcmp (a->data, b->data, a->len) == 0);
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

static int s_f_array (lua_State *L) { return s_f_mark (L, S_ARRAY); }
static int s_f_map (lua_State *L) { return s_f_mark (L, S_MAP); }

//  sluice.omap (k1, v1, k2, v2, ...): a map that keeps the order given (a
//  table constructor's keys come out in Lua's hash order). Pairs whose
//  value is nil are left out; a repeated key keeps its first place.
static int
s_f_omap (lua_State *L)
{
    int n = lua_gettop (L);
    luaL_argcheck (L, n % 2 == 0, n, "keys and values must come in pairs");
    lua_createtable (L, 0, n / 2);
    luaL_setmetatable (L, S_MAP);
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
    s_push_ext (L, (int8_t) type, data, len);
    return 1;
}

static int
s_f_uint64 (lua_State *L)
{
    if (luaL_testudata (L, 1, S_UINT64)) {
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
    s_push_uint64 (L, (uint64_t) v);
    return 1;
}

static int
s_f_float32 (lua_State *L)
{
    s_num_t n;
    if (!s_num (L, 1, &n)) {
        return luaL_typeerror (L, 1, "number");
    }
    s_push_float32 (L, (float) n.d);
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
            lua_pushinteger (L, (lua_Integer) n.u);
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

static const char *s_table_kind (lua_State *L, int idx);

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
    else if (luaL_testudata (L, 1, S_UINT64)) {
        name = "uint64";
    }
    else if (luaL_testudata (L, 1, S_FLOAT32)) {
        name = "float32";
    }
    else if (luaL_testudata (L, 1, S_BIN)) {
        name = "bin";
    }
    else if (luaL_testudata (L, 1, S_EXT)) {
        name = "ext";
    }
    else if (lua_type (L, 1) == LUA_TTABLE) {
        name = s_table_kind (L, 1);
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
        {"__lt", s_num_lt},     {"__le", s_num_le},     {"__eq", s_num_eq},
        {"__add", s_num_add},   {"__sub", s_num_sub},   {"__mul", s_num_mul},
        {"__div", s_num_div},   {"__mod", s_num_mod},   {"__pow", s_num_pow},
        {"__idiv", s_num_idiv}, {"__unm", s_num_unm},   {"__concat", s_concat},
        {NULL, NULL}};
    s_new_mt (L, S_UINT64, num_methods);
    luaL_getmetatable (L, S_UINT64);
    lua_pushcfunction (L, s_uint64_tostring);
    lua_setfield (L, -2, "__tostring");
    lua_pop (L, 1);
    s_new_mt (L, S_FLOAT32, num_methods);
    luaL_getmetatable (L, S_FLOAT32);
    lua_pushcfunction (L, s_float32_tostring);
    lua_setfield (L, -2, "__tostring");
    lua_pop (L, 1);

    static const luaL_Reg bin_methods[] = {{"__tostring", s_bin_tostring},
                                           {"__len", s_bin_len},
                                           {"__eq", s_bin_eq},
                                           {"__concat", s_concat},
                                           {NULL, NULL}};
    s_new_mt (L, S_BIN, bin_methods);
    static const luaL_Reg ext_methods[] = {
        {"__index", s_ext_index}, {"__tostring", s_ext_tostring}, {"__eq", s_ext_eq}, {NULL, NULL}};
    s_new_mt (L, S_EXT, ext_methods);
    //  The container marks are plain metatables: scripts may index and
    //  extend marked tables as any other.
    luaL_newmetatable (L, S_ARRAY);
    lua_pop (L, 1);
    luaL_newmetatable (L, S_MAP);
    lua_pop (L, 1);

    //  Key order of decoded maps, weak in its keys: forgotten with the map.
    lua_newtable (L);
    lua_newtable (L);
    lua_pushliteral (L, "k");
    lua_setfield (L, -2, "__mode");
    lua_setmetatable (L, -2);
    lua_rawsetp (L, LUA_REGISTRYINDEX, &s_order_key);

    static const luaL_Reg functions[] = {
        {"array", s_f_array},     {"map", s_f_map},       {"omap", s_f_omap},
        {"bin", s_f_bin},
        {"ext", s_f_ext},         {"uint64", s_f_uint64}, {"float32", s_f_float32},
        {"tonumber", s_f_tonumber}, {"type", s_f_type},   {NULL, NULL}};
    luaL_newlib (L, functions);
    lua_pushlightuserdata (L, &s_null);
    lua_setfield (L, -2, "null");
    lua_pushvalue (L, -1);
    lua_setglobal (L, "sluice");
}

// ---------------------------------------------------------------------------
//  msgpack -> Lua.

typedef struct {
    lua_State *L;
    const uint8_t *p;
    const uint8_t *end;
    int order;          //  stack index of the key order table
} s_dec_t;

static int s_decode (s_dec_t *d, uint32_t depth);

static int
s_need (s_dec_t *d, size_t n)
{
    return (size_t) (d->end - d->p) >= n ? 0 : SL_ETRUNC;
}

static int
s_decode_array (s_dec_t *d, uint32_t count, uint32_t depth)
{
    lua_State *L = d->L;
    if (depth + 1 > SL_MP_DEPTH_LIMIT) {
        return SL_EDEPTH;
    }
    //  Each element takes at least one byte: the count is bounded by the input.
    if (count > (size_t) (d->end - d->p)) {
        return SL_ETRUNC;
    }
    lua_createtable (L, (int) (count > INT32_MAX ? 0 : count), 0);
    luaL_setmetatable (L, S_ARRAY);
    for (uint32_t i = 0; i < count; i++) {
        int rc = s_decode (d, depth + 1);
        if (rc) {
            return rc;
        }
        lua_rawseti (L, -2, (lua_Integer) i + 1);
    }
    return 0;
}

static int
s_decode_map (s_dec_t *d, uint32_t count, uint32_t depth)
{
    lua_State *L = d->L;
    if (depth + 1 > SL_MP_DEPTH_LIMIT) {
        return SL_EDEPTH;
    }
    if (count > (size_t) (d->end - d->p) / 2) {
        return SL_ETRUNC;
    }
    lua_createtable (L, 0, (int) (count > INT32_MAX ? 0 : count));
    luaL_setmetatable (L, S_MAP);
    int t = lua_gettop (L);
    int order = 0;
    lua_Integer n_order = 0;
    if (count > 1) {
        lua_createtable (L, (int) count, 0);
        order = lua_gettop (L);
    }
    for (uint32_t i = 0; i < count; i++) {
        int rc = s_decode (d, depth + 1);
        if (rc) {
            return rc;
        }
        if (lua_type (L, -1) == LUA_TNUMBER && !lua_isinteger (L, -1)
            && isnan (lua_tonumber (L, -1))) {
            return SL_ETYPE;
        }
        rc = s_decode (d, depth + 1);
        if (rc) {
            return rc;
        }
        //  A repeated key keeps its first place and its last value.
        if (order) {
            lua_pushvalue (L, -2);
            if (lua_rawget (L, t) == LUA_TNIL) {
                lua_pushvalue (L, -3);
                lua_rawseti (L, order, ++n_order);
            }
            lua_pop (L, 1);
        }
        lua_rawset (L, t);
    }
    if (order) {
        lua_pushvalue (L, t);
        lua_pushvalue (L, order);
        lua_rawset (L, d->order);
        lua_pop (L, 1);
    }
    return 0;
}

//  Pushes one object. The input has been walked, so lengths fit; they are
//  checked again anyway, since this is cheap and keeps the decoder honest.
static int
s_decode (s_dec_t *d, uint32_t depth)
{
    lua_State *L = d->L;
    if (!lua_checkstack (L, 8)) {
        return SL_EDEPTH;
    }
    if (s_need (d, 1)) {
        return SL_ETRUNC;
    }
    uint8_t b = *d->p++;
    size_t len = 0;
    if (b <= 0x7f) {
        lua_pushinteger (L, b);
        return 0;
    }
    if (b >= 0xe0) {
        lua_pushinteger (L, (int8_t) b);
        return 0;
    }
    if (b >= 0x80 && b <= 0x8f) {
        return s_decode_map (d, b & 0x0f, depth);
    }
    if (b >= 0x90 && b <= 0x9f) {
        return s_decode_array (d, b & 0x0f, depth);
    }
    if (b >= 0xa0 && b <= 0xbf) {
        len = b & 0x1f;
        goto str;
    }
    switch (b) {
    case 0xc0:
        lua_pushlightuserdata (L, &s_null);
        return 0;
    case 0xc2:
    case 0xc3:
        lua_pushboolean (L, b == 0xc3);
        return 0;
    case 0xc4:
    case 0xc5:
    case 0xc6: {
        size_t w = b == 0xc4 ? 1 : b == 0xc5 ? 2 : 4;
        if (s_need (d, w)) {
            return SL_ETRUNC;
        }
        len = w == 1 ? d->p[0] : w == 2 ? s_get16 (d->p) : s_get32 (d->p);
        d->p += w;
        if (s_need (d, len)) {
            return SL_ETRUNC;
        }
        sl_lua_mp_pushbytes (L, d->p, len, 1);
        d->p += len;
        return 0;
    }
    case 0xc7:
    case 0xc8:
    case 0xc9: {
        size_t w = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;
        if (s_need (d, w + 1)) {
            return SL_ETRUNC;
        }
        len = w == 1 ? d->p[0] : w == 2 ? s_get16 (d->p) : s_get32 (d->p);
        d->p += w;
        int8_t type = (int8_t) *d->p++;
        if (s_need (d, len)) {
            return SL_ETRUNC;
        }
        s_push_ext (L, type, d->p, len);
        d->p += len;
        return 0;
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: {
        len = (size_t) 1 << (b - 0xd4);
        if (s_need (d, len + 1)) {
            return SL_ETRUNC;
        }
        int8_t type = (int8_t) *d->p++;
        s_push_ext (L, type, d->p, len);
        d->p += len;
        return 0;
    }
    case 0xca: {
        if (s_need (d, 4)) {
            return SL_ETRUNC;
        }
        uint32_t bits = s_get32 (d->p);
        float f;
        memcpy (&f, &bits, sizeof f);
        d->p += 4;
        s_push_float32 (L, f);
        return 0;
    }
    case 0xcb: {
        if (s_need (d, 8)) {
            return SL_ETRUNC;
        }
        uint64_t bits = s_get64 (d->p);
        double f;
        memcpy (&f, &bits, sizeof f);
        d->p += 8;
        lua_pushnumber (L, f);
        return 0;
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        size_t w = (size_t) 1 << ((b - 0xcc) & 3);
        if (s_need (d, w)) {
            return SL_ETRUNC;
        }
        uint64_t u = w == 1 ? d->p[0] : w == 2 ? s_get16 (d->p) : w == 4 ? s_get32 (d->p)
                                                                          : s_get64 (d->p);
        d->p += w;
        if (b <= 0xcf) {
            s_push_uint64 (L, u);
        }
        else {
            int64_t i = w == 1 ? (int8_t) u : w == 2 ? (int16_t) u : w == 4 ? (int32_t) u
                                                                            : (int64_t) u;
            lua_pushinteger (L, i);
        }
        return 0;
    }
    case 0xd9:
    case 0xda:
    case 0xdb: {
        size_t w = b == 0xd9 ? 1 : b == 0xda ? 2 : 4;
        if (s_need (d, w)) {
            return SL_ETRUNC;
        }
        len = w == 1 ? d->p[0] : w == 2 ? s_get16 (d->p) : s_get32 (d->p);
        d->p += w;
        goto str;
    }
    case 0xdc:
    case 0xdd:
    case 0xde:
    case 0xdf: {
        size_t w = (b & 1) ? 4 : 2;
        if (s_need (d, w)) {
            return SL_ETRUNC;
        }
        uint32_t count = w == 2 ? s_get16 (d->p) : s_get32 (d->p);
        d->p += w;
        return b <= 0xdd ? s_decode_array (d, count, depth) : s_decode_map (d, count, depth);
    }
    default:
        return SL_EPROTO;
    }
str:
    if (s_need (d, len)) {
        return SL_ETRUNC;
    }
    lua_pushlstring (L, (const char *) d->p, len);
    d->p += len;
    return 0;
}

int
sl_lua_mp_push (lua_State *L, const uint8_t *data, size_t len, uint32_t max_depth)
{
    size_t used;
    int rc = sl_mp_skip (data, len, max_depth, &used);
    if (rc) {
        return rc;
    }
    if (used != len) {
        return SL_EPROTO;
    }
    int top = lua_gettop (L);
    luaL_checkstack (L, 8, "decoding a record");
    lua_rawgetp (L, LUA_REGISTRYINDEX, &s_order_key);
    s_dec_t d = {.L = L, .p = data, .end = data + len, .order = lua_gettop (L)};
    rc = s_decode (&d, 0);
    if (rc) {
        lua_settop (L, top);
        return rc;
    }
    lua_remove (L, d.order);
    return 0;
}

// ---------------------------------------------------------------------------
//  Lua -> msgpack.

typedef struct {
    lua_State *L;
    sl_buf_t *out;
    uint32_t max_depth;
    char *why;
    size_t why_size;
    int order;          //  stack index of the key order table
} s_enc_t;

static int s_encode (s_enc_t *e, int idx, uint32_t depth);

static int
s_fail (s_enc_t *e, int rc, const char *text)
{
    snprintf (e->why, e->why_size, "%s", text);
    return rc;
}

static int
s_put (s_enc_t *e, const void *data, size_t len)
{
    int rc = sl_buf_append (e->out, data, len);
    return rc ? s_fail (e, rc, "output value too large") : 0;
}

//  Writes with one of sl_mp's writers after making room for its longest form.
#define S_WRITE(e, call)                                                            \
    do {                                                                            \
        int s_rc_ = sl_buf_reserve ((e)->out, 9);                                   \
        if (s_rc_) {                                                                \
            return s_fail ((e), s_rc_, "output value too large");                   \
        }                                                                           \
        uint8_t *out = (e)->out->data + (e)->out->len;                              \
        size_t cap = 9;                                                             \
        (e)->out->len += call;                                                      \
    } while (0)

static int
s_put_bytes (s_enc_t *e, const void *data, size_t len, bool bin)
{
    if (len > UINT32_MAX) {
        return s_fail (e, SL_ETOOBIG, "string longer than 4 GiB");
    }
    if (bin) {
        S_WRITE (e, sl_mp_write_bin_header (out, cap, (uint32_t) len));
    }
    else {
        S_WRITE (e, sl_mp_write_str_header (out, cap, (uint32_t) len));
    }
    return s_put (e, data, len);
}

static int
s_put_ext (s_enc_t *e, const s_ext_t *x)
{
    uint8_t head[6];
    size_t n;
    if (x->len > UINT32_MAX) {
        return s_fail (e, SL_ETOOBIG, "ext longer than 4 GiB");
    }
    if (x->len == 1 || x->len == 2 || x->len == 4 || x->len == 8 || x->len == 16) {
        head[0] = (uint8_t) (0xd4 + (x->len == 1 ? 0 : x->len == 2 ? 1 : x->len == 4 ? 2
                                                    : x->len == 8 ? 3 : 4));
        head[1] = (uint8_t) x->type;
        n = 2;
    }
    else if (x->len <= 0xff) {
        head[0] = 0xc7;
        head[1] = (uint8_t) x->len;
        head[2] = (uint8_t) x->type;
        n = 3;
    }
    else if (x->len <= 0xffff) {
        head[0] = 0xc8;
        head[1] = (uint8_t) (x->len >> 8);
        head[2] = (uint8_t) x->len;
        head[3] = (uint8_t) x->type;
        n = 4;
    }
    else {
        head[0] = 0xc9;
        s_put32 (head + 1, (uint32_t) x->len);
        head[5] = (uint8_t) x->type;
        n = 6;
    }
    int rc = s_put (e, head, n);
    return rc ? rc : s_put (e, x->data, x->len);
}

//  How a table encodes: "array" or "map" (see lua_mp.h).
static const char *
s_table_kind (lua_State *L, int idx)
{
    idx = lua_absindex (L, idx);
    if (lua_getmetatable (L, idx)) {
        luaL_getmetatable (L, S_ARRAY);
        bool array = lua_rawequal (L, -1, -2);
        lua_pop (L, 1);
        luaL_getmetatable (L, S_MAP);
        bool map = lua_rawequal (L, -1, -2);
        lua_pop (L, 2);
        if (array) {
            return "array";
        }
        if (map) {
            return "map";
        }
    }
    lua_Unsigned n = lua_rawlen (L, idx);
    if (n == 0) {
        return "map";
    }
    lua_Unsigned count = 0;
    bool seq = true;
    lua_pushnil (L);
    while (lua_next (L, idx)) {
        lua_pop (L, 1);
        count++;
        if (seq && (!lua_isinteger (L, -1) || lua_tointeger (L, -1) < 1
                    || (lua_Unsigned) lua_tointeger (L, -1) > n)) {
            seq = false;
        }
    }
    return seq && count == n ? "array" : "map";
}

static int
s_encode_array (s_enc_t *e, int t, uint32_t depth)
{
    lua_State *L = e->L;
    lua_Unsigned n = lua_rawlen (L, t);
    if (n > UINT32_MAX) {
        return s_fail (e, SL_ETOOBIG, "array too long");
    }
    S_WRITE (e, sl_mp_write_array (out, cap, (uint32_t) n));
    for (lua_Unsigned i = 1; i <= n; i++) {
        lua_rawgeti (L, t, (lua_Integer) i);
        int rc = s_encode (e, lua_gettop (L), depth + 1);
        lua_pop (L, 1);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

static int
s_encode_pair (s_enc_t *e, int key, int value, uint32_t depth)
{
    int rc = s_encode (e, key, depth + 1);
    return rc ? rc : s_encode (e, value, depth + 1);
}

//  A map: its decoded keys first, in their original order, then any others.
static int
s_encode_map (s_enc_t *e, int t, uint32_t depth)
{
    lua_State *L = e->L;
    lua_Unsigned count = 0;
    lua_pushnil (L);
    while (lua_next (L, t)) {
        lua_pop (L, 1);
        count++;
    }
    if (count > UINT32_MAX) {
        return s_fail (e, SL_ETOOBIG, "map too large");
    }
    S_WRITE (e, sl_mp_write_map (out, cap, (uint32_t) count));
    lua_pushvalue (L, t);
    int order = lua_rawget (L, e->order) == LUA_TTABLE ? lua_gettop (L) : 0;
    lua_Unsigned done = 0;
    int rc = 0;
    if (order) {
        lua_Unsigned n = lua_rawlen (L, order);
        for (lua_Unsigned i = 1; i <= n && rc == 0; i++) {
            lua_rawgeti (L, order, (lua_Integer) i);
            lua_pushvalue (L, -1);
            if (lua_rawget (L, t) != LUA_TNIL) {
                rc = s_encode_pair (e, lua_gettop (L) - 1, lua_gettop (L), depth);
                done++;
            }
            lua_pop (L, 2);
        }
    }
    if (rc == 0 && done < count) {
        int seen = 0;
        if (order) {
            lua_createtable (L, 0, (int) lua_rawlen (L, order));
            seen = lua_gettop (L);
            lua_Unsigned n = lua_rawlen (L, order);
            for (lua_Unsigned i = 1; i <= n; i++) {
                lua_rawgeti (L, order, (lua_Integer) i);
                lua_pushboolean (L, 1);
                lua_rawset (L, seen);
            }
        }
        lua_pushnil (L);
        while (rc == 0 && lua_next (L, t)) {
            bool skip = false;
            if (seen) {
                lua_pushvalue (L, -2);
                skip = lua_rawget (L, seen) != LUA_TNIL;
                lua_pop (L, 1);
            }
            if (!skip) {
                rc = s_encode_pair (e, lua_gettop (L) - 1, lua_gettop (L), depth);
            }
            lua_pop (L, 1);
        }
        if (rc) {
            lua_pop (L, 1);     //  the key lua_next left
        }
        if (seen) {
            lua_pop (L, 1);
        }
    }
    lua_pop (L, 1);             //  the order table or nil
    return rc;
}

static int
s_encode (s_enc_t *e, int idx, uint32_t depth)
{
    lua_State *L = e->L;
    if (!lua_checkstack (L, 8)) {
        return s_fail (e, SL_EDEPTH, "Lua stack exhausted");
    }
    switch (lua_type (L, idx)) {
    case LUA_TNIL:
        S_WRITE (e, sl_mp_write_nil (out, cap));
        return 0;
    case LUA_TBOOLEAN:
        S_WRITE (e, sl_mp_write_bool (out, cap, lua_toboolean (L, idx)));
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger (L, idx)) {
            S_WRITE (e, sl_mp_write_int (out, cap, lua_tointeger (L, idx)));
        }
        else {
            S_WRITE (e, sl_mp_write_double (out, cap, lua_tonumber (L, idx)));
        }
        return 0;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring (L, idx, &len);
        return s_put_bytes (e, s, len, false);
    }
    case LUA_TLIGHTUSERDATA:
        if (sl_lua_mp_isnull (L, idx)) {
            S_WRITE (e, sl_mp_write_nil (out, cap));
            return 0;
        }
        return s_fail (e, SL_ETYPE, "cannot encode a light userdata");
    case LUA_TUSERDATA: {
        void *u;
        if ((u = luaL_testudata (L, idx, S_BIN))) {
            return s_put_bytes (e, ((s_bytes_t *) u)->data, ((s_bytes_t *) u)->len, true);
        }
        if ((u = luaL_testudata (L, idx, S_UINT64))) {
            S_WRITE (e, sl_mp_write_uint (out, cap, *(uint64_t *) u));
            return 0;
        }
        if ((u = luaL_testudata (L, idx, S_FLOAT32))) {
            uint8_t head[5] = {0xca};
            uint32_t bits;
            memcpy (&bits, u, sizeof bits);
            s_put32 (head + 1, bits);
            return s_put (e, head, sizeof head);
        }
        if ((u = luaL_testudata (L, idx, S_EXT))) {
            return s_put_ext (e, u);
        }
        return s_fail (e, SL_ETYPE, "cannot encode a userdata");
    }
    case LUA_TTABLE: {
        if (depth + 1 > e->max_depth) {
            char text[80];
            snprintf (text, sizeof text, "nesting deeper than %u (a table containing itself?)",
                      e->max_depth);
            return s_fail (e, SL_EDEPTH, text);
        }
        const char *kind = s_table_kind (L, idx);
        return kind[0] == 'a' ? s_encode_array (e, idx, depth) : s_encode_map (e, idx, depth);
    }
    default: {
        char text[64];
        snprintf (text, sizeof text, "cannot encode a %s", luaL_typename (L, idx));
        return s_fail (e, SL_ETYPE, text);
    }
    }
}

int
sl_lua_mp_encode (lua_State *L, int idx, sl_buf_t *out, uint32_t max_depth, char *why,
                  size_t why_size)
{
    idx = lua_absindex (L, idx);
    if (max_depth > SL_MP_DEPTH_LIMIT) {
        max_depth = SL_MP_DEPTH_LIMIT;
    }
    luaL_checkstack (L, 8, "encoding a value");
    lua_rawgetp (L, LUA_REGISTRYINDEX, &s_order_key);
    s_enc_t e = {.L = L, .out = out, .max_depth = max_depth, .why = why,
                 .why_size = why_size, .order = lua_gettop (L)};
    if (why_size) {
        why[0] = '\0';
    }
    int rc = s_encode (&e, idx, 0);
    lua_pop (L, 1);
    return rc;
}
