/*  op_expr.c - the --filter EXPR and --map EXPR operators: one Lua
    expression, compiled once, evaluated per record in an environment that
    looks names up in the record's value, then in the record's own fields
    (value, record, key, headers, timestamp, offset), then in a small set of
    builtins. filter keeps the input byte for byte when the result is true;
    map emits the result as the new value.

    They share the Lua state, its limits and the operator callbacks with
    the script operator (op_lua.c, through op_lua_int.h): only the setup
    and the per-record body are theirs. docs/operators.md is the manual.
*/
#include <stdbool.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "lua_mp.h"
#include "op_lua_int.h"
#include "operator.h"
#include "sl_error.h"
#include "sl_mp.h"

#define S_ENV "sluice.env"

//  Pushes member `name` of the input value when the value is a map that has
//  it (the last such member, as a Lua table would keep), decoding only that
//  member. False when the value is not a map or has no such member.
static bool
s_value_field (lua_State *L, op_lua_t *self, const char *name, size_t name_len)
{
    const sl_op_record_t *in = self->in;
    if (!in->value || !in->value_len) {
        return false;
    }
    if (!self->value_checked) {
        size_t used;
        int rc = sl_mp_skip (in->value, in->value_len, SL_MP_MAX_DEPTH, &used);
        if (rc || used != in->value_len) {
            sl_op_lua_raise_fail (L, "input value", rc ? rc : SL_EPROTO);
        }
        self->value_checked = true;
    }
    const uint8_t *found = NULL;
    size_t found_len = 0;
    if (sluice_mp_map_find (in->value, in->value_len, name, name_len, true, &found, &found_len) !=
        1) {
        return false;
    }
    if (!found) {
        return false;
    }
    sl_op_lua_push_raw (L, found, found_len, "input value");
    return true;
}

//  __index of the expression's environment: value fields, then the record's
//  own fields, then the builtins. Found values are cached in the (per-record)
//  environment table.
static int
s_env_index (lua_State *L)
{
    op_lua_t *self = sl_op_lua_self (L);
    const sl_op_record_t *in = self->in;
    size_t len;
    const char *name = lua_type (L, 2) == LUA_TSTRING ? lua_tolstring (L, 2, &len) : NULL;
    if (in && name) {
        bool found = s_value_field (L, self, name, len);
        if (!found) {
            found = true;
            if (strcmp (name, "value") == 0) {
                sl_op_lua_push_raw (L, in->value, in->value_len, "input value");
            }
            else if (strcmp (name, "record") == 0) {
                sl_op_lua_push_record (L, in);
            }
            else if (strcmp (name, "key") == 0 && in->key) {
                sl_lua_mp_pushbytes (L, in->key, in->key_len, in->key_is_bin);
            }
            else if (strcmp (name, "headers") == 0 && in->headers) {
                sl_op_lua_push_raw (L, in->headers, in->headers_len, "input headers");
            }
            else if (strcmp (name, "timestamp") == 0) {
                lua_pushinteger (L, in->timestamp);
            }
            else if (strcmp (name, "offset") == 0) {
                lua_pushinteger (L, (lua_Integer)in->offset);
            }
            else {
                found = false;
            }
        }
        if (found) {
            lua_pushvalue (L, 2);
            lua_pushvalue (L, -2);
            lua_rawset (L, 1);
            return 1;
        }
    }
    lua_rawgeti (L, LUA_REGISTRYINDEX, self->builtins_ref);
    lua_pushvalue (L, 2);
    lua_rawget (L, -2);
    return 1;
}

//  (protected) Compiles the expression and makes the builtins table.
int
sl_op_expr_setup (lua_State *L)
{
    op_lua_t *self = lua_touserdata (L, 1);
    op_lua_init_t *init = lua_touserdata (L, 2);
    //  A newline ends a trailing "--" comment before the parenthesis; without
    //  one, errors keep pointing at line 1.
    lua_pushfstring (L, strstr (init->main, "--") ? "return (%s\n)" : "return (%s)", init->main);
    size_t len;
    const char *code = lua_tolstring (L, -1, &len);
    if (luaL_loadbufferx (L, code, len, "=expr", "t") != LUA_OK) {
        return lua_error (L);
    }
    self->fn_ref = luaL_ref (L, LUA_REGISTRYINDEX);

    static const char *const names[] = {"math",     "string", "table",  "utf8",   "tostring",
                                        "tonumber", "type",   "pairs",  "ipairs", "select",
                                        "next",     "error",  "assert", "sluice", NULL};
    lua_newtable (L);
    for (int i = 0; names[i]; i++) {
        lua_getglobal (L, names[i]);
        lua_setfield (L, -2, names[i]);
    }
    lua_getglobal (L, "sluice");
    lua_getfield (L, -1, "null");
    lua_setfield (L, -3, "null");
    lua_pop (L, 1);
    self->builtins_ref = luaL_ref (L, LUA_REGISTRYINDEX);

    luaL_newmetatable (L, S_ENV);
    lua_pushlightuserdata (L, self);
    lua_pushcclosure (L, s_env_index, 1);
    lua_setfield (L, -2, "__index");
    lua_pop (L, 1);
    return 0;
}

//  (protected) One record through the expression.
int
sl_op_expr_body (lua_State *L)
{
    op_lua_t *self = lua_touserdata (L, 1);
    self->value_checked = false;
    lua_rawgeti (L, LUA_REGISTRYINDEX, self->fn_ref);
    lua_createtable (L, 0, 4);
    luaL_setmetatable (L, S_ENV);
    lua_setupvalue (L, -2, 1);
    lua_call (L, 0, 1);
    if (self->kind == OP_LUA_MAP) {
        sl_op_lua_emit (L, self, -1);
    }
    else if (lua_toboolean (L, -1)) {
        //  The input as it came, byte for byte.
        if (self->host->emit (self->host->ctx, self->in) != 0) {
            return luaL_error (L, "output record refused by the worker");
        }
        self->emitted++;
    }
    return 0;
}

static int
s_init_filter (void **state, const sl_op_host_t *host, int n, const char *const *keys,
               const char *const *values)
{
    return sl_op_lua_init (OP_LUA_FILTER, state, host, n, keys, values);
}

static int
s_init_map (void **state, const sl_op_host_t *host, int n, const char *const *keys,
            const char *const *values)
{
    return sl_op_lua_init (OP_LUA_MAP, state, host, n, keys, values);
}

static const sl_op_option_t s_expr_options[] = {
    {"expr", SL_OPT_STRING, NULL, "a Lua expression"}, OP_LUA_LIMIT_OPTIONS, {NULL, 0, NULL, NULL}};

static const sl_operator_t s_filter_op = {
    .abi = SL_OPERATOR_ABI,
    .name = "filter",
    .description = "keeps the records for which a Lua expression is true",
    .options = s_expr_options,
    .init = s_init_filter,
    .process = sl_op_lua_process,
    .flush = NULL,
    .destroy = sl_op_lua_destroy,
};

static const sl_operator_t s_map_op = {
    .abi = SL_OPERATOR_ABI,
    .name = "map",
    .description = "replaces each record's value with a Lua expression's result",
    .options = s_expr_options,
    .init = s_init_map,
    .process = sl_op_lua_process,
    .flush = NULL,
    .destroy = sl_op_lua_destroy,
};

const sl_operator_t *
sl_op_filter (void)
{
    return &s_filter_op;
}

const sl_operator_t *
sl_op_map (void)
{
    return &s_map_op;
}
