/*  fuzz_lua.c - msgpack -> Lua -> msgpack (worker/lua_mp.c) on hostile
    bytes, through the Lua operator as the worker drives it (worker/op_lua.c
    via sl_op_resolve, the same path as `sluice-worker --lua FILE`).

    The script is a pass-through that also walks the value, so every input
    is pushed into Lua, read by the script and encoded back. Input: the
    record's value; then the same bytes as the record's headers. Checks: no
    crash or sanitizer report, every call returns an sl_op_rc_t, and every
    record emitted is one well-formed msgpack object.
*/
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "operator.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_mp.h"

static const char s_script[] = "local n = 0\n"
                               "local function walk(v, depth)\n"
                               "  if depth > 8 or type(v) ~= 'table' then return end\n"
                               "  for k, x in pairs(v) do n = n + 1; walk(x, depth + 1) end\n"
                               "end\n"
                               "function process(r)\n"
                               "  walk(r.value, 0)\n"
                               "  if r.headers then walk(r.headers, 0) end\n"
                               "  return r\n"
                               "end\n";

static sl_op_resolved_t s_resolved;
static void *s_state;
static int s_emitted;

static int
s_emit (void *ctx, const sl_op_record_t *out)
{
    (void)ctx;
    size_t used = 0;
    FUZZ_CHECK (out->value && out->value_len > 0);
    FUZZ_CHECK (sl_mp_skip (out->value, out->value_len, SL_MP_DEPTH_LIMIT, &used) == 0);
    FUZZ_CHECK (used == out->value_len);
    if (out->headers) {
        //  Not necessarily a map: the input's headers are not validated
        //  here (the worker does that before the operator sees them).
        FUZZ_CHECK (sl_mp_skip (out->headers, out->headers_len, SL_MP_DEPTH_LIMIT, &used) == 0);
        FUZZ_CHECK (used == out->headers_len);
    }
    s_emitted++;
    return 0;
}

static void
s_error (void *ctx, const char *text)
{
    (void)ctx;
    (void)text;
}

static void
s_log (void *ctx, sl_op_log_t level, const char *text)
{
    (void)ctx;
    (void)level;
    (void)text;
}

static sl_op_host_t s_host = {NULL, s_emit, s_error, s_log};

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sl_log_set_level (SL_LOG_ERROR);
    char path[] = "/tmp/sluice-fuzz-lua-XXXXXX";
    int fd = mkstemp (path);
    FUZZ_CHECK (fd >= 0);
    FUZZ_CHECK (write (fd, s_script, sizeof s_script - 1) == (ssize_t)(sizeof s_script - 1));
    close (fd);
    sl_op_spec_t spec = {.kind = SL_OPK_LUA, .arg = path};
    char why[256];
    if (sl_op_resolve (&spec, &s_resolved, why, sizeof why) != 0) {
        fprintf (stderr, "fuzz_lua: %s\n", why);
        abort ();
    }
    int rc =
        s_resolved.op->init (&s_state, &s_host, s_resolved.n, (const char *const *)s_resolved.keys,
                             (const char *const *)s_resolved.values);
    unlink (path);
    FUZZ_CHECK (rc == 0);
    return 0;
}

static void
s_run (const sl_op_record_t *in)
{
    s_emitted = 0;
    int rc = s_resolved.op->process (s_state, in, &s_host);
    FUZZ_CHECK (rc == SL_OP_OK || rc == SL_OP_DROP || rc == SL_OP_RETRY || rc == SL_OP_FAIL);
    if (rc == SL_OP_OK) {
        FUZZ_CHECK (s_emitted == 1);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static const uint8_t nil = 0xc0;
    sl_op_record_t in = {.offset = 7,
                         .timestamp = 1700000000123,
                         .key = (const uint8_t *)"k",
                         .key_len = 1,
                         .value = data,
                         .value_len = size};
    s_run (&in);
    in.value = &nil;
    in.value_len = 1;
    in.headers = data;
    in.headers_len = size;
    s_run (&in);
    return 0;
}
