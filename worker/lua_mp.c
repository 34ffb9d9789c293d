/*  lua_mp.c - msgpack <-> Lua values (see lua_mp.h): the walk both ways.
    The types Lua lacks (uint64, float32, bin, ext, null) and the sluice
    module functions are in lua_mp_types.c; lua_mp_int.h is what the two
    files share.

    Decoding trusts nothing: the bytes are walked with sl_mp_skip first (every
    length bounded, nesting bounded), and the decoder still checks each read
    against the end. Both directions recurse, but only as deep as max_depth
    (at most SL_MP_DEPTH_LIMIT frames of a few dozen bytes), and check the
    Lua stack at each level.
*/
#include "lua_mp.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "lua_mp_int.h"
#include "sl_error.h"
#include "sl_mp.h"

// ---------------------------------------------------------------------------
//  msgpack -> Lua.

typedef struct {
    lua_State *L;
    const uint8_t *p;
    const uint8_t *end;
    int order; //  stack index of the key order table
} s_dec_t;

static int s_decode (s_dec_t *d, uint32_t depth);

static int
s_decode_array (s_dec_t *d, uint32_t count, uint32_t depth)
{
    lua_State *L = d->L;
    if (depth + 1 > SL_MP_DEPTH_LIMIT) {
        return SL_EDEPTH;
    }
    //  sluice_mp_next has bounded count by the bytes left (one or more each).
    lua_createtable (L, (int)(count > INT32_MAX ? 0 : count), 0);
    luaL_setmetatable (L, MT_ARRAY);
    for (uint32_t i = 0; i < count; i++) {
        int rc = s_decode (d, depth + 1);
        if (rc) {
            return rc;
        }
        lua_rawseti (L, -2, (lua_Integer)i + 1);
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
    //  sluice_mp_next has bounded count by the bytes left (two or more a pair).
    lua_createtable (L, 0, (int)(count > INT32_MAX ? 0 : count));
    luaL_setmetatable (L, MT_MAP);
    int t = lua_gettop (L);
    int order = 0;
    lua_Integer n_order = 0;
    if (count > 1) {
        lua_createtable (L, (int)count, 0);
        order = lua_gettop (L);
    }
    for (uint32_t i = 0; i < count; i++) {
        int rc = s_decode (d, depth + 1);
        if (rc) {
            return rc;
        }
        if (lua_type (L, -1) == LUA_TNUMBER && !lua_isinteger (L, -1) &&
            isnan (lua_tonumber (L, -1))) {
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
    sluice_mp_obj_t o = {0}; //  zeroed: gcc cannot see that next sets what the type uses
    int rc = sluice_mp_next (&d->p, d->end, &o);
    if (rc) {
        return rc;
    }
    switch (o.type) {
    case SLUICE_MP_NIL:
        sl_lua_mp_pushnull (L);
        return 0;
    case SLUICE_MP_BOOL:
        lua_pushboolean (L, o.v.b);
        return 0;
    case SLUICE_MP_UINT:
        sl_lua_mp_pushuint64 (L, o.v.u);
        return 0;
    case SLUICE_MP_INT:
        lua_pushinteger (L, o.v.i);
        return 0;
    case SLUICE_MP_FLOAT:
        if (o.size == 4) {
            sl_lua_mp_pushfloat32 (L, (float)o.v.f);
        }
        else {
            lua_pushnumber (L, o.v.f);
        }
        return 0;
    case SLUICE_MP_STR:
        lua_pushlstring (L, (const char *)o.data, o.size);
        return 0;
    case SLUICE_MP_BIN:
        sl_lua_mp_pushbytes (L, o.data, o.size, 1);
        return 0;
    case SLUICE_MP_EXT:
        sl_lua_mp_pushext (L, o.ext, o.data, o.size);
        return 0;
    case SLUICE_MP_ARRAY:
        return s_decode_array (d, o.count, depth);
    case SLUICE_MP_MAP:
        return s_decode_map (d, o.count, depth);
    default:
        return SL_EPROTO;
    }
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
    sl_lua_mp_pushorder (L);
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
    int order; //  stack index of the key order table
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
#define S_WRITE(e, call)                                                                           \
    do {                                                                                           \
        int s_rc_ = sl_buf_reserve ((e)->out, 9);                                                  \
        if (s_rc_) {                                                                               \
            return s_fail ((e), s_rc_, "output value too large");                                  \
        }                                                                                          \
        uint8_t *out = (e)->out->data + (e)->out->len;                                             \
        size_t cap = 9;                                                                            \
        (e)->out->len += call;                                                                     \
    } while (0)

static int
s_put_bytes (s_enc_t *e, const void *data, size_t len, bool bin)
{
    if (len > UINT32_MAX) {
        return s_fail (e, SL_ETOOBIG, "string longer than 4 GiB");
    }
    if (bin) {
        S_WRITE (e, sl_mp_write_bin_header (out, cap, (uint32_t)len));
    }
    else {
        S_WRITE (e, sl_mp_write_str_header (out, cap, (uint32_t)len));
    }
    return s_put (e, data, len);
}

static int
s_put_ext (s_enc_t *e, const lua_mp_ext_t *x)
{
    uint8_t head[6];
    size_t n;
    if (x->len > UINT32_MAX) {
        return s_fail (e, SL_ETOOBIG, "ext longer than 4 GiB");
    }
    if (x->len == 1 || x->len == 2 || x->len == 4 || x->len == 8 || x->len == 16) {
        head[0] = (uint8_t)(0xd4 + (x->len == 1   ? 0
                                    : x->len == 2 ? 1
                                    : x->len == 4 ? 2
                                    : x->len == 8 ? 3
                                                  : 4));
        head[1] = (uint8_t)x->type;
        n = 2;
    }
    else if (x->len <= 0xff) {
        head[0] = 0xc7;
        head[1] = (uint8_t)x->len;
        head[2] = (uint8_t)x->type;
        n = 3;
    }
    else if (x->len <= 0xffff) {
        head[0] = 0xc8;
        head[1] = (uint8_t)(x->len >> 8);
        head[2] = (uint8_t)x->len;
        head[3] = (uint8_t)x->type;
        n = 4;
    }
    else {
        head[0] = 0xc9;
        sl_put_be32 (head + 1, (uint32_t)x->len);
        head[5] = (uint8_t)x->type;
        n = 6;
    }
    int rc = s_put (e, head, n);
    return rc ? rc : s_put (e, x->data, x->len);
}

//  How a table encodes: "array" or "map" (see lua_mp.h).
const char *
sl_lua_mp_tablekind (lua_State *L, int idx)
{
    idx = lua_absindex (L, idx);
    if (lua_getmetatable (L, idx)) {
        luaL_getmetatable (L, MT_ARRAY);
        bool array = lua_rawequal (L, -1, -2);
        lua_pop (L, 1);
        luaL_getmetatable (L, MT_MAP);
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
        if (seq && (!lua_isinteger (L, -1) || lua_tointeger (L, -1) < 1 ||
                    (lua_Unsigned)lua_tointeger (L, -1) > n)) {
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
    S_WRITE (e, sl_mp_write_array (out, cap, (uint32_t)n));
    for (lua_Unsigned i = 1; i <= n; i++) {
        lua_rawgeti (L, t, (lua_Integer)i);
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
    S_WRITE (e, sl_mp_write_map (out, cap, (uint32_t)count));
    lua_pushvalue (L, t);
    int order = lua_rawget (L, e->order) == LUA_TTABLE ? lua_gettop (L) : 0;
    lua_Unsigned done = 0;
    int rc = 0;
    if (order) {
        lua_Unsigned n = lua_rawlen (L, order);
        for (lua_Unsigned i = 1; i <= n && rc == 0; i++) {
            lua_rawgeti (L, order, (lua_Integer)i);
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
            lua_createtable (L, 0, (int)lua_rawlen (L, order));
            seen = lua_gettop (L);
            lua_Unsigned n = lua_rawlen (L, order);
            for (lua_Unsigned i = 1; i <= n; i++) {
                lua_rawgeti (L, order, (lua_Integer)i);
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
            lua_pop (L, 1); //  the key lua_next left
        }
        if (seen) {
            lua_pop (L, 1);
        }
    }
    lua_pop (L, 1); //  the order table or nil
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
        if ((u = luaL_testudata (L, idx, MT_BIN))) {
            return s_put_bytes (e, ((lua_mp_bytes_t *)u)->data, ((lua_mp_bytes_t *)u)->len, true);
        }
        if ((u = luaL_testudata (L, idx, MT_UINT64))) {
            S_WRITE (e, sl_mp_write_uint (out, cap, *(uint64_t *)u));
            return 0;
        }
        if ((u = luaL_testudata (L, idx, MT_FLOAT32))) {
            uint8_t head[5] = {0xca};
            uint32_t bits;
            memcpy (&bits, u, sizeof bits);
            sl_put_be32 (head + 1, bits);
            return s_put (e, head, sizeof head);
        }
        if ((u = luaL_testudata (L, idx, MT_EXT))) {
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
        const char *kind = sl_lua_mp_tablekind (L, idx);
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
    sl_lua_mp_pushorder (L);
    s_enc_t e = {.L = L,
                 .out = out,
                 .max_depth = max_depth,
                 .why = why,
                 .why_size = why_size,
                 .order = lua_gettop (L)};
    if (why_size) {
        why[0] = '\0';
    }
    int rc = s_encode (&e, idx, 0);
    lua_pop (L, 1);
    return rc;
}
