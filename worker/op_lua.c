/*  op_lua.c - the Lua operators: --lua FILE (a script defining process),
    --filter EXPR and --map EXPR (one Lua expression per record).

    Lua 5.4, not LuaJIT: 5.4 has native 64-bit integers, so an int64 value
    passes through a script unchanged; LuaJIT has only doubles (or boxed
    cdata), which lose integers above 2^53.

    Each operator instance owns one lua_State, made with our allocator (it
    enforces memory_mb) and a count hook (it enforces timeout_ms per call).
    Every Lua API call that may raise runs inside lua_pcall: a script error,
    a memory error and a timeout all come back here as an error object,
    which is then turned into the operator's return code and error text.
    docs/operators.md is the user's manual for all of this.

    This file holds what the three share (the state and its limits,
    protected calls, records in and out, the sluice library additions, the
    operator callbacks) and the script operator; op_expr.c holds filter and
    map, and op_lua_int.h what the two files share.
*/
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua_mp.h"
#include "lua_state.h"
#include "op_lua_int.h"
#include "operator.h"
#include "sl_buf.h"
#include "sl_error.h"
#include "sl_mp.h"
#include "sl_util.h"

#define S_RECORD "sluice.record"
#define S_OUT_LIMIT (16u << 20) //  bytes in one output value (a batch's limit)
#define S_HOOK_COUNT 1000       //  VM instructions between clock checks

// ---------------------------------------------------------------------------
//  Limits: memory through the allocator, time through a count hook.

//  Refuses growth past mem_limit; Lua then raises a memory error, which
//  unwinds the call like any other error.
static void *
s_alloc (void *ud, void *ptr, size_t osize, size_t nsize)
{
    op_lua_t *self = ud;
    if (!ptr) {
        osize = 0;
    }
    if (nsize == 0) {
        free (ptr);
        self->mem_used -= osize;
        return NULL;
    }
    if (nsize > osize && nsize - osize > self->mem_limit - self->mem_used) {
        return NULL;
    }
    void *p = realloc (ptr, nsize);
    if (!p) {
        //  Lua assumes a shrink never fails: keep the old block.
        return nsize <= osize ? ptr : NULL;
    }
    self->mem_used = self->mem_used - osize + nsize;
    return p;
}

//  Once a call is past its deadline, every instruction raises, so that a
//  script that catches the error with pcall cannot keep running.
static void
s_hook (lua_State *L, lua_Debug *ar)
{
    (void)ar;
    void *ud;
    lua_getallocf (L, &ud);
    op_lua_t *self = ud;
    if (self->timed_out || sl_mono_ms () > self->deadline) {
        self->timed_out = true;
        lua_sethook (L, s_hook, LUA_MASKCOUNT, 1);
        luaL_error (L, "script timed out (timeout_ms=%d)", (int)self->timeout_ms);
    }
}

static void
s_arm (op_lua_t *self)
{
    self->timed_out = false;
    if (self->timeout_ms > 0) {
        self->deadline = sl_mono_ms () + self->timeout_ms;
        lua_sethook (self->L, s_hook, LUA_MASKCOUNT, S_HOOK_COUNT);
    }
}

static void
s_disarm (op_lua_t *self)
{
    lua_sethook (self->L, NULL, 0, 0);
}

// ---------------------------------------------------------------------------
//  Running protected calls and classifying their errors.

//  (protected) Turns the error object at 1 into (fail?, message).
static int
s_describe (lua_State *L)
{
    bool fail = false;
    if (lua_type (L, 1) == LUA_TTABLE) {
        lua_getfield (L, 1, "fail");
        fail = lua_toboolean (L, -1);
        lua_pop (L, 1);
        lua_getfield (L, 1, "msg");
        luaL_tolstring (L, lua_isnil (L, -1) ? 1 : -1, NULL);
    }
    else if (lua_isnil (L, 1)) {
        lua_pushliteral (L, "script raised an error with no message");
    }
    else {
        luaL_tolstring (L, 1, NULL);
    }
    lua_pushboolean (L, fail);
    return 2;
}

//  Runs body (a lua_CFunction taking self and arg as light userdata)
//  protected, under the time limit. 0 on success, else SL_OP_RETRY or
//  SL_OP_FAIL with the reason in self->why.
static int
s_call (op_lua_t *self, lua_CFunction body, void *arg)
{
    lua_State *L = self->L;
    lua_settop (L, 0);
    lua_pushcfunction (L, body);
    lua_pushlightuserdata (L, self);
    lua_pushlightuserdata (L, arg);
    s_arm (self);
    int status = lua_pcall (L, 2, 0, 0);
    int rc = 0;
    if (status == LUA_OK) {
        goto done;
    }
    rc = SL_OP_RETRY;
    if (self->timed_out) {
        snprintf (self->why, sizeof self->why, "script timed out (timeout_ms=%lld)",
                  (long long)self->timeout_ms);
    }
    else if (status == LUA_ERRMEM) {
        snprintf (self->why, sizeof self->why, "script out of memory (memory_mb=%zu)",
                  self->mem_limit >> 20);
    }
    else {
        snprintf (self->why, sizeof self->why, "script error");
        lua_pushcfunction (L, s_describe);
        lua_insert (L, -2);
        s_arm (self);
        if (lua_pcall (L, 1, 2, 0) == LUA_OK) {
            if (lua_toboolean (L, -1)) {
                rc = SL_OP_FAIL;
            }
            const char *text = lua_tostring (L, -2);
            snprintf (self->why, sizeof self->why, "%s", text ? text : "script error");
        }
    }
done:
    s_disarm (self);
    lua_settop (L, 0);
    if (rc && status == LUA_ERRMEM) {
        lua_gc (L, LUA_GCCOLLECT);
    }
    return rc;
}

op_lua_t *
sl_op_lua_self (lua_State *L)
{
    return lua_touserdata (L, lua_upvalueindex (1));
}

// ---------------------------------------------------------------------------
//  Records: input to Lua, Lua to output.

static bool
s_is_record (lua_State *L, int idx)
{
    if (lua_type (L, idx) != LUA_TTABLE || !lua_getmetatable (L, idx)) {
        return false;
    }
    luaL_getmetatable (L, S_RECORD);
    bool is = lua_rawequal (L, -1, -2);
    lua_pop (L, 2);
    return is;
}

void
sl_op_lua_raise_fail (lua_State *L, const char *what, int code)
{
    lua_createtable (L, 0, 2);
    lua_pushboolean (L, 1);
    lua_setfield (L, -2, "fail");
    lua_pushfstring (L, "%s: %s", what, sl_strerror (code));
    lua_setfield (L, -2, "msg");
    lua_error (L);
}

//  Pushes a raw msgpack object, raising a FAIL when it is malformed (input
//  bytes do not get better by retrying).
void
sl_op_lua_push_raw (lua_State *L, const uint8_t *data, size_t len, const char *what)
{
    static const uint8_t nil = 0xc0;
    if (!data || !len) {
        data = &nil;
        len = 1;
    }
    int rc = sl_lua_mp_push (L, data, len, SL_MP_MAX_DEPTH);
    if (rc) {
        sl_op_lua_raise_fail (L, what, rc);
    }
}

//  Sets the key, headers and timestamp fields of the table at idx from the
//  input record, each only where the table has none.
static void
s_fill_from_input (lua_State *L, int idx, const sl_op_record_t *in)
{
    if (!in) {
        return;
    }
    if (in->key) {
        if (lua_getfield (L, idx, "key") == LUA_TNIL) {
            sl_lua_mp_pushbytes (L, in->key, in->key_len, in->key_is_bin);
            lua_setfield (L, idx, "key");
        }
        lua_pop (L, 1);
    }
    if (in->headers) {
        if (lua_getfield (L, idx, "headers") == LUA_TNIL) {
            sl_op_lua_push_raw (L, in->headers, in->headers_len, "input headers");
            lua_setfield (L, idx, "headers");
        }
        lua_pop (L, 1);
    }
    if (lua_getfield (L, idx, "timestamp") == LUA_TNIL) {
        lua_pushinteger (L, in->timestamp);
        lua_setfield (L, idx, "timestamp");
    }
    lua_pop (L, 1);
}

void
sl_op_lua_push_record (lua_State *L, const sl_op_record_t *in)
{
    lua_createtable (L, 0, 6);
    luaL_setmetatable (L, S_RECORD);
    sl_op_lua_push_raw (L, in->value, in->value_len, "input value");
    lua_setfield (L, -2, "value");
    lua_pushinteger (L, (lua_Integer)in->offset);
    lua_setfield (L, -2, "offset");
    s_fill_from_input (L, lua_gettop (L), in);
}

static void
s_encode (lua_State *L, op_lua_t *self, int idx, sl_buf_t *out, const char *what)
{
    sl_buf_reset (out);
    if (sl_lua_mp_encode (L, idx, out, SL_MP_MAX_DEPTH, self->why, sizeof self->why)) {
        luaL_error (L, "cannot emit %s: %s", what, self->why);
    }
}

//  Emits the value at idx: a record table as a record, anything else as the
//  value of a record with the input's key, headers and timestamp.
void
sl_op_lua_emit (lua_State *L, op_lua_t *self, int idx)
{
    idx = lua_absindex (L, idx);
    int top = lua_gettop (L);
    if (!self->emit_ok) {
        luaL_error (L, "emit called outside process or flush");
    }
    const sl_op_record_t *in = self->in;
    sl_op_record_t out = {0};
    if (!s_is_record (L, idx)) {
        s_encode (L, self, idx, &self->value, "value");
        if (in) {
            out.timestamp = in->timestamp;
            out.key = in->key;
            out.key_len = in->key_len;
            out.key_is_bin = in->key_is_bin;
            out.headers = in->headers;
            out.headers_len = in->headers_len;
        }
    }
    else {
        lua_pushliteral (L, "value");
        lua_rawget (L, idx);
        s_encode (L, self, -1, &self->value, "record.value");
        lua_pop (L, 1);
        lua_pushliteral (L, "timestamp");
        lua_rawget (L, idx);
        if (!lua_isnil (L, -1) && !lua_isinteger (L, -1)) {
            luaL_error (L, "record.timestamp must be an integer (ms since the epoch)");
        }
        out.timestamp = lua_tointeger (L, -1);
        lua_pop (L, 1);
        lua_pushliteral (L, "key");
        lua_rawget (L, idx);
        int is_bin = 0;
        size_t len = 0;
        const char *key = sl_lua_mp_tobytes (L, -1, &len, &is_bin);
        if (!key && !lua_isnil (L, -1) && !sl_lua_mp_isnull (L, -1)) {
            luaL_error (L, "record.key must be a string, a sluice.bin or nil");
        }
        if (len > UINT32_MAX) {
            luaL_error (L, "record.key is too long");
        }
        out.key = (const uint8_t *)key;
        out.key_len = (uint32_t)len;
        out.key_is_bin = is_bin;
        //  The key stays on the stack (so its bytes stay alive) until emitted.
        lua_pushliteral (L, "headers");
        lua_rawget (L, idx);
        if (lua_type (L, -1) == LUA_TTABLE) {
            lua_pushnil (L);
            while (lua_next (L, -2)) {
                int b;
                size_t n;
                if (lua_type (L, -2) != LUA_TSTRING || !sl_lua_mp_tobytes (L, -1, &n, &b)) {
                    luaL_error (L, "record.headers must map strings to strings or sluice.bin");
                }
                lua_pop (L, 1);
            }
            s_encode (L, self, -1, &self->headers, "record.headers");
            out.headers = self->headers.data;
            out.headers_len = self->headers.len;
        }
        else if (!lua_isnil (L, -1) && !sl_lua_mp_isnull (L, -1)) {
            luaL_error (L, "record.headers must be a table or nil");
        }
    }
    out.value = self->value.data;
    out.value_len = self->value.len;
    if (self->host->emit (self->host->ctx, &out) != 0) {
        luaL_error (L, "output record refused by the worker");
    }
    self->emitted++;
    lua_settop (L, top);
}

// ---------------------------------------------------------------------------
//  The sluice library additions and the script operator.

//  emit (v, ...): one output per argument.
static int
s_l_emit (lua_State *L)
{
    op_lua_t *self = sl_op_lua_self (L);
    int n = lua_gettop (L);
    luaL_argcheck (L, n > 0, 1, "emit needs a value");
    for (int i = 1; i <= n; i++) {
        sl_op_lua_emit (L, self, i);
    }
    return 0;
}

//  sluice.record (t): marks t as a record; key, headers and timestamp it
//  does not set are taken from the record being processed.
static int
s_l_record (lua_State *L)
{
    op_lua_t *self = sl_op_lua_self (L);
    if (lua_isnoneornil (L, 1)) {
        lua_newtable (L);
    }
    luaL_checktype (L, 1, LUA_TTABLE);
    lua_settop (L, 1);
    luaL_setmetatable (L, S_RECORD);
    s_fill_from_input (L, 1, self->in);
    return 1;
}

static int
s_l_fail (lua_State *L)
{
    luaL_tolstring (L, 1, NULL);
    lua_createtable (L, 0, 2);
    lua_pushboolean (L, 1);
    lua_setfield (L, -2, "fail");
    lua_insert (L, -2);
    lua_setfield (L, -2, "msg");
    return lua_error (L);
}

static int
s_l_retry (lua_State *L)
{
    luaL_tolstring (L, 1, NULL);
    return lua_error (L);
}

static void
s_host_log (op_lua_t *self, sl_op_log_t level, const char *text)
{
    if (self->host && self->host->log) {
        self->host->log (self->host->ctx, level, text);
    }
}

//  sluice.log (level, text...): level "error", "warn", "info" or "debug".
static int
s_l_log (lua_State *L)
{
    static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
    int level = luaL_checkoption (L, 1, "info", levels);
    int n = lua_gettop (L);
    luaL_Buffer b;
    luaL_buffinit (L, &b);
    for (int i = 2; i <= n; i++) {
        if (i > 2) {
            luaL_addchar (&b, ' ');
        }
        luaL_tolstring (L, i, NULL);
        luaL_addvalue (&b);
    }
    luaL_pushresult (&b);
    s_host_log (sl_op_lua_self (L), (sl_op_log_t)level, lua_tostring (L, -1));
    return 0;
}

//  print (...) goes to the worker's log at info, not to its stdout.
static int
s_l_print (lua_State *L)
{
    lua_pushliteral (L, "info");
    lua_insert (L, 1);
    return s_l_log (L);
}

static const char *
s_option (int n, const char *const *keys, const char *const *values, const char *key)
{
    for (int i = 0; i < n; i++) {
        if (keys[i] && strcmp (keys[i], key) == 0) {
            return values[i];
        }
    }
    return NULL;
}

//  (protected) Libraries, the sluice table and the record metatable.
static int
s_setup_state (lua_State *L)
{
    op_lua_t *self = lua_touserdata (L, 1);
    op_lua_init_t *init = lua_touserdata (L, 2);
    luaL_openlibs (L);
    sl_lua_mp_open (L);
    int sluice = lua_gettop (L);
    static const luaL_Reg functions[] = {{"emit", s_l_emit}, {"record", s_l_record},
                                         {"fail", s_l_fail}, {"retry", s_l_retry},
                                         {"log", s_l_log},   {NULL, NULL}};
    lua_pushlightuserdata (L, self);
    luaL_setfuncs (L, functions, 1);
    lua_getfield (L, sluice, "emit");
    lua_setglobal (L, "emit");
    lua_pushlightuserdata (L, self);
    lua_pushcclosure (L, s_l_print, 1);
    lua_setglobal (L, "print");
    sl_lua_state_open (L);
    luaL_newmetatable (L, S_RECORD);
    lua_pop (L, 1);
    if (init->sandbox) {
        static const char *const drop[] = {"io",     "package",  "require", "debug",
                                           "dofile", "loadfile", "load",    NULL};
        for (int i = 0; drop[i]; i++) {
            lua_pushnil (L);
            lua_setglobal (L, drop[i]);
        }
        static const char *const os_keep[] = {"time", "clock", "date", "difftime", NULL};
        lua_getglobal (L, "os");
        lua_createtable (L, 0, 4);
        for (int i = 0; os_keep[i]; i++) {
            lua_getfield (L, -2, os_keep[i]);
            lua_setfield (L, -2, os_keep[i]);
        }
        lua_setglobal (L, "os");
        lua_pop (L, 1);
    }
    return 0;
}

//  (protected) Loads and runs the script, finds process / flush, calls init.
static int
s_setup_script (lua_State *L)
{
    op_lua_t *self = lua_touserdata (L, 1);
    op_lua_init_t *init = lua_touserdata (L, 2);
    if (luaL_loadfilex (L, init->main, "t") != LUA_OK) {
        return lua_error (L);
    }
    lua_call (L, 0, 0);
    if (lua_getglobal (L, "process") != LUA_TFUNCTION) {
        return luaL_error (L, "%s: defines no function process(record)", init->main);
    }
    self->fn_ref = luaL_ref (L, LUA_REGISTRYINDEX);
    int type = lua_getglobal (L, "flush");
    if (type == LUA_TFUNCTION) {
        self->flush_ref = luaL_ref (L, LUA_REGISTRYINDEX);
    }
    else if (type != LUA_TNIL) {
        return luaL_error (L, "%s: flush must be a function", init->main);
    }
    else {
        lua_pop (L, 1);
    }
    type = lua_getglobal (L, "init");
    if (type == LUA_TFUNCTION) {
        lua_createtable (L, 0, init->n);
        for (int i = 0; i < init->n; i++) {
            if (init->keys[i] && init->values[i]) {
                lua_pushstring (L, init->values[i]);
                lua_setfield (L, -2, init->keys[i]);
            }
        }
        lua_call (L, 1, 0);
    }
    else if (type != LUA_TNIL) {
        return luaL_error (L, "%s: init must be a function", init->main);
    }
    return 0;
}

//  Emits every non-nil value from base to the top of the stack.
static void
s_emit_returns (lua_State *L, op_lua_t *self, int base)
{
    int top = lua_gettop (L);
    for (int i = base; i <= top; i++) {
        if (!lua_isnil (L, i)) {
            sl_op_lua_emit (L, self, i);
        }
    }
}

//  (protected) process (record) for a script.
static int
s_body_process (lua_State *L)
{
    op_lua_t *self = lua_touserdata (L, 1);
    lua_rawgeti (L, LUA_REGISTRYINDEX, self->fn_ref);
    sl_op_lua_push_record (L, self->in);
    lua_call (L, 1, LUA_MULTRET);
    s_emit_returns (L, self, 3);
    return 0;
}

//  (protected) flush () for a script.
static int
s_body_flush (lua_State *L)
{
    op_lua_t *self = lua_touserdata (L, 1);
    lua_rawgeti (L, LUA_REGISTRYINDEX, self->flush_ref);
    lua_call (L, 0, LUA_MULTRET);
    s_emit_returns (L, self, 3);
    return 0;
}

// ---------------------------------------------------------------------------
//  The operator callbacks.

void
sl_op_lua_destroy (void *state)
{
    op_lua_t *self = state;
    if (!self) {
        return;
    }
    if (self->L) {
        //  Finalizers a script set run now: keep them under the time limit.
        s_arm (self);
        lua_close (self->L);
    }
    sl_buf_free (&self->value);
    sl_buf_free (&self->headers);
    free (self);
}

static bool
s_parse_bool (const char *text, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on", NULL};
    static const char *const no[] = {"false", "0", "no", "off", NULL};
    for (int i = 0; yes[i]; i++) {
        if (strcasecmp (text, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp (text, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

int
sl_op_lua_init (op_lua_kind_t kind, void **state, const sl_op_host_t *host, int n,
                const char *const *keys, const char *const *values)
{
    static const char *const names[] = {"lua", "filter", "map"};
    char why[300];
    op_lua_t *self = NULL;
    op_lua_init_t init = {
        .n = n, .keys = keys, .values = values, .timeout_ms = 1000, .memory_mb = 256};
    init.main = s_option (n, keys, values, kind == OP_LUA_SCRIPT ? "file" : "expr");
    const char *text;
    if (!init.main || !init.main[0]) {
        snprintf (why, sizeof why, "%s: needs its %s", names[kind],
                  kind == OP_LUA_SCRIPT ? "script file" : "expression");
        goto fail;
    }
    if ((text = s_option (n, keys, values, "timeout_ms")) &&
        (sl_parse_i64 (text, &init.timeout_ms) || init.timeout_ms < 0)) {
        snprintf (why, sizeof why, "%s: timeout_ms must be 0 (none) or more", names[kind]);
        goto fail;
    }
    if ((text = s_option (n, keys, values, "memory_mb")) &&
        (sl_parse_i64 (text, &init.memory_mb) || init.memory_mb < 1 ||
         init.memory_mb > 1024 * 1024)) {
        snprintf (why, sizeof why, "%s: memory_mb must be 1..1048576", names[kind]);
        goto fail;
    }
    if ((text = s_option (n, keys, values, "sandbox")) && !s_parse_bool (text, &init.sandbox)) {
        snprintf (why, sizeof why, "%s: sandbox must be true or false", names[kind]);
        goto fail;
    }
    self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (why, sizeof why, "%s: out of memory", names[kind]);
        goto fail;
    }
    self->kind = kind;
    self->mem_limit = (size_t)init.memory_mb << 20;
    self->timeout_ms = init.timeout_ms;
    self->fn_ref = self->flush_ref = self->builtins_ref = LUA_NOREF;
    self->host = host;
    sl_buf_init (&self->value, S_OUT_LIMIT);
    sl_buf_init (&self->headers, S_OUT_LIMIT);
    self->L = lua_newstate (s_alloc, self);
    if (!self->L) {
        snprintf (why, sizeof why, "%s: cannot create a Lua state", names[kind]);
        goto fail;
    }
    if (s_call (self, s_setup_state, &init) ||
        s_call (self, kind == OP_LUA_SCRIPT ? s_setup_script : sl_op_expr_setup, &init)) {
        snprintf (why, sizeof why, "%s: %s", names[kind], self->why);
        goto fail;
    }
    *state = self;
    return 0;

fail:
    if (host && host->error) {
        host->error (host->ctx, why);
    }
    sl_op_lua_destroy (self);
    return SL_EINVAL;
}

int
sl_op_lua_process (void *state, const sl_op_record_t *in, const sl_op_host_t *host)
{
    op_lua_t *self = state;
    self->in = in;
    self->host = host;
    self->emitted = 0;
    self->emit_ok = true;
    int rc = s_call (self, self->kind == OP_LUA_SCRIPT ? s_body_process : sl_op_expr_body, NULL);
    self->in = NULL;
    self->emit_ok = false;
    if (rc) {
        host->error (host->ctx, self->why);
        return rc;
    }
    return self->emitted ? SL_OP_OK : SL_OP_DROP;
}

static int
s_flush (void *state, const sl_op_host_t *host)
{
    op_lua_t *self = state;
    if (self->flush_ref == LUA_NOREF) {
        return SL_OP_OK;
    }
    self->in = NULL;
    self->host = host;
    self->emitted = 0;
    self->emit_ok = true;
    int rc = s_call (self, s_body_flush, NULL);
    self->emit_ok = false;
    if (rc) {
        host->error (host->ctx, self->why);
        return rc;
    }
    return SL_OP_OK;
}

static int
s_init_lua (void **state, const sl_op_host_t *host, int n, const char *const *keys,
            const char *const *values)
{
    return sl_op_lua_init (OP_LUA_SCRIPT, state, host, n, keys, values);
}

static const sl_op_option_t s_lua_options[] = {
    {"file", SL_OPT_STRING, NULL, "the Lua script (defines process(record))"},
    {"arg", SL_OPT_STRING, "", "free text for the script, in init(options).arg"},
    {"sandbox", SL_OPT_BOOL, "false", "remove io, os (but time/clock/date), load, require, debug"},
    OP_LUA_LIMIT_OPTIONS,
    {NULL, 0, NULL, NULL}};

static const sl_operator_t s_lua_op = {
    .abi = SL_OPERATOR_ABI,
    .name = "lua",
    .description = "runs a Lua script's process(record) on every record",
    .options = s_lua_options,
    .init = s_init_lua,
    .process = sl_op_lua_process,
    .flush = s_flush,
    .destroy = sl_op_lua_destroy,
};

const sl_operator_t *
sl_op_lua (void)
{
    return &s_lua_op;
}
