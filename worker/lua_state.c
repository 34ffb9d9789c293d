/*  lua_state.c - the Lua side of key state (lua_state.h). */
#include "lua_state.h"

#include <lauxlib.h>

#include "lua_mp.h"
#include "sl_buf.h"
#include "sl_mp.h"

static const sl_lua_state_hook_t *s_hook;

void
sl_lua_state_set_hook (const sl_lua_state_hook_t *hook)
{
    s_hook = hook;
}

static int
s_get (lua_State *L)
{
    if (!s_hook) {
        return luaL_error (L, "state.get needs a keyed group (sluice-worker --key)");
    }
    const uint8_t *data = NULL;
    size_t len = 0;
    const char *why = "no key state";
    int rc = s_hook->get (s_hook->ctx, &data, &len, &why);
    if (rc < 0) {
        return luaL_error (L, "state.get: %s", why);
    }
    if (rc == 0) {
        lua_pushnil (L);
        return 1;
    }
    if (sl_lua_mp_push (L, data, len, SL_MP_MAX_DEPTH) != 0) {
        return luaL_error (L, "state.get: the stored state is malformed");
    }
    return 1;
}

static int
s_set (lua_State *L)
{
    if (!s_hook) {
        return luaL_error (L, "state.set needs a keyed group (sluice-worker --key)");
    }
    const char *why = "cannot keep the state";
    int rc;
    if (lua_isnoneornil (L, 1) || sl_lua_mp_isnull (L, 1)) {
        rc = s_hook->set (s_hook->ctx, NULL, 0, &why);
    }
    else {
        sl_buf_t buf;
        sl_buf_init (&buf, SL_LUA_STATE_MAX);
        char text[256];
        rc = sl_lua_mp_encode (L, 1, &buf, SL_MP_MAX_DEPTH, text, sizeof text);
        if (rc) {
            sl_buf_free (&buf);
            return luaL_error (L, "state.set: %s (at most 65536 bytes)", text);
        }
        rc = s_hook->set (s_hook->ctx, buf.data, buf.len, &why);
        sl_buf_free (&buf);
    }
    if (rc) {
        return luaL_error (L, "state.set: %s", why);
    }
    return 0;
}

void
sl_lua_state_open (lua_State *L)
{
    static const luaL_Reg functions[] = {{"get", s_get}, {"set", s_set}, {NULL, NULL}};
    luaL_newlib (L, functions);
    lua_setglobal (L, "state");
}
