/*  test_lua.c - the Lua operators (worker/op_lua.c, worker/lua_mp.c): byte
    identity through a pass-through script for every msgpack type, the
    return / emit / error rules, filter and map expressions, the time and
    memory limits, and hostile input.
*/
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "operator.h"
#include "sl_error.h"

//  ---------------------------------------------------------------------
//  A host that records what the operator emits.

typedef struct {
    int64_t timestamp;
    uint8_t *key;
    uint32_t key_len;
    bool has_key;
    bool key_is_bin;
    uint8_t *headers;
    size_t headers_len;
    uint8_t *value;
    size_t value_len;
} out_t;

#define MAX_OUTS 64

static out_t s_outs[MAX_OUTS];
static int s_n_outs;
static char s_error[256];
static char s_log[1024];
static int s_refuse; //  emit fails when set

static uint8_t *
s_dup (const void *data, size_t len)
{
    uint8_t *copy = malloc (len ? len : 1);
    cr_assert (copy);
    if (len) {
        memcpy (copy, data, len);
    }
    return copy;
}

static int
s_emit (void *ctx, const sl_op_record_t *out)
{
    (void)ctx;
    if (s_refuse || s_n_outs == MAX_OUTS) {
        return SL_EINVAL;
    }
    out_t *o = &s_outs[s_n_outs++];
    o->timestamp = out->timestamp;
    o->has_key = out->key != NULL;
    o->key = s_dup (out->key, out->key_len);
    o->key_len = out->key_len;
    o->key_is_bin = out->key_is_bin;
    o->headers = out->headers ? s_dup (out->headers, out->headers_len) : NULL;
    o->headers_len = out->headers_len;
    o->value = s_dup (out->value, out->value_len);
    o->value_len = out->value_len;
    return 0;
}

static void
s_set_error (void *ctx, const char *text)
{
    (void)ctx;
    snprintf (s_error, sizeof s_error, "%s", text);
}

static void
s_set_log (void *ctx, sl_op_log_t level, const char *text)
{
    (void)ctx;
    (void)level;
    snprintf (s_log, sizeof s_log, "%s", text);
}

static sl_op_host_t s_host = {NULL, s_emit, s_set_error, s_set_log};

static void
s_clear (void)
{
    for (int i = 0; i < s_n_outs; i++) {
        free (s_outs[i].key);
        free (s_outs[i].headers);
        free (s_outs[i].value);
    }
    s_n_outs = 0;
    s_error[0] = '\0';
}

//  ---------------------------------------------------------------------
//  Operator set-up: a script in a temporary file, options as "k=v".

static const sl_operator_t *s_op;
static void *s_state;
static char s_path[64];

static void
s_teardown (void)
{
    if (s_op && s_state && s_op->destroy) {
        s_op->destroy (s_state);
    }
    s_op = NULL;
    s_state = NULL;
    if (s_path[0]) {
        unlink (s_path);
        s_path[0] = '\0';
    }
    s_clear ();
}

//  Inits op with NULL-terminated "key=value" options. Returns init's rc.
static int
s_init_op (const sl_operator_t *op, const char *const *kv)
{
    const char *keys[16];
    const char *values[16];
    static char store[16][512];
    int n = 0;
    for (; kv && kv[n]; n++) {
        cr_assert (n < 16);
        snprintf (store[n], sizeof store[n], "%s", kv[n]);
        char *eq = strchr (store[n], '=');
        cr_assert (eq);
        *eq = '\0';
        keys[n] = store[n];
        values[n] = eq + 1;
    }
    s_op = op;
    s_state = NULL;
    s_error[0] = '\0';
    return op->init (&s_state, &s_host, n, keys, values);
}

static void
s_write_script (const char *text)
{
    snprintf (s_path, sizeof s_path, "/tmp/sluice-test-XXXXXX");
    int fd = mkstemp (s_path);
    cr_assert (fd >= 0);
    size_t len = strlen (text);
    cr_assert_eq (write (fd, text, len), (ssize_t)len);
    close (fd);
}

//  Inits the Lua operator with a script and optional extra options.
static int
s_lua (const char *script, const char *opt1, const char *opt2)
{
    s_write_script (script);
    char file[128];
    snprintf (file, sizeof file, "file=%s", s_path);
    const char *kv[] = {file, opt1, opt2, NULL};
    return s_init_op (sl_op_lua (), kv);
}

static int
s_expr (const sl_operator_t *op, const char *expr)
{
    char opt[512];
    snprintf (opt, sizeof opt, "expr=%s", expr);
    const char *kv[] = {opt, NULL};
    return s_init_op (op, kv);
}

//  Hex text ("82 a1 61 01") to bytes.
static size_t
s_hex (const char *text, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*text) {
        if (isspace ((unsigned char)*text)) {
            text++;
            continue;
        }
        cr_assert (n < cap);
        unsigned v;
        cr_assert_eq (sscanf (text, "%2x", &v), 1, "bad hex at %s", text);
        out[n++] = (uint8_t)v;
        text += 2;
    }
    return n;
}

static sl_op_record_t
s_record (const uint8_t *value, size_t len)
{
    sl_op_record_t r = {.offset = 7,
                        .timestamp = 1700000000123,
                        .key = (const uint8_t *)"k1",
                        .key_len = 2,
                        .value = value,
                        .value_len = len};
    return r;
}

static int
s_run (const uint8_t *value, size_t len)
{
    s_clear ();
    sl_op_record_t r = s_record (value, len);
    return s_op->process (s_state, &r, &s_host);
}

static int
s_run_hex (const char *hex)
{
    static uint8_t buf[4096];
    size_t n = s_hex (hex, buf, sizeof buf);
    return s_run (buf, n);
}

static void
s_assert_value_hex (int i, const char *hex)
{
    uint8_t want[4096];
    size_t n = s_hex (hex, want, sizeof want);
    cr_assert (i < s_n_outs, "output %d missing (%d outputs)", i, s_n_outs);
    cr_assert_eq (s_outs[i].value_len, n, "output %d: %zu bytes, want %zu", i, s_outs[i].value_len,
                  n);
    cr_assert_arr_eq (s_outs[i].value, want, n, "output %d differs from %s", i, hex);
}

TestSuite (lua, .fini = s_teardown, .timeout = 60);

//  ---------------------------------------------------------------------
//  Byte identity.

static const char *const s_values[] = {
    "c0", //  nil
    "c2",
    "c3", //  false, true
    "00",
    "7f",
    "e0",
    "ff", //  fixints
    "cc 80",
    "cc ff",
    "cd 01 00",
    "ce 00 01 00 00",
    "cf 00 00 00 01 00 00 00 00",
    "cf 7f ff ff ff ff ff ff ff", //  INT64_MAX
    "cf 80 00 00 00 00 00 00 00", //  INT64_MAX + 1
    "cf ff ff ff ff ff ff ff ff", //  UINT64_MAX
    "d0 df",
    "d0 80",
    "d1 80 00",
    "d2 80 00 00 00",
    "d3 80 00 00 00 00 00 00 00", //  INT64_MIN
    "d3 ff ff ff ff 7f ff ff ff", //  -2^31 - 1
    "ca 3f c0 00 00",             //  float32 1.5
    "ca 7f c0 00 00",             //  float32 NaN
    "ca 80 00 00 00",             //  float32 -0
    "cb 3f b9 99 99 99 99 99 9a", //  0.1
    "cb 3f f0 00 00 00 00 00 00", //  1.0 stays a float
    "cb 80 00 00 00 00 00 00 00", //  -0.0
    "cb 7f f0 00 00 00 00 00 00", //  +inf
    "a0",
    "a2 68 69",    //  "", "hi"
    "a3 ff 00 fe", //  a str that is not UTF-8
    "d9 20 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61"
    " 61 61 61 61", //  str8 (32 bytes)
    "c4 00",
    "c4 03 00 ff 61", //  bin
    "d4 01 7f",
    "d5 fe 01 02",
    "d6 05 01 02 03 04",
    "d7 ff 00 00 00 00 00 00 00 01",
    "d8 02 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f",
    "c7 03 09 61 62 63",
    "c7 00 09", //  ext8
    "90",
    "80",          //  empty array, empty map
    "93 01 c0 03", //  [1, nil, 3]
    "92 c0 c0",    //  [nil, nil]
    "91 90",
    "91 80",                                              //  [[]], [{}]
    "82 a1 62 01 a1 61 02",                               //  {"b":1,"a":2}: order kept
    "83 a1 7a c0 a1 79 90 a1 78 80",                      //  {"z":nil,"y":[],"x":{}}
    "82 01 a1 61 02 a1 62",                               //  {1:"a",2:"b"}: a map, not an array
    "81 01 a1 61",                                        //  {1:"a"}
    "84 c3 01 c2 02 c0 03 ff 04",                         //  bool, nil and negative keys
    "82 ca 3f c0 00 00 01 cb 3f b9 99 99 99 99 99 9a 02", //  float keys
    "81 c4 01 00 a1 62",                                  //  a bin key
    "81 92 01 02 a1 61",                                  //  an array key
    "81 cf ff ff ff ff ff ff ff ff 01",                   //  a uint64 key
    "83 a5 76 61 6c 75 65 01 a3 6b 65 79 02 a7 68 65 61 64 65 72 73 03", //  record-like names
};

Test (lua, pass_through_keeps_every_type_byte_identical)
{
    cr_assert_eq (s_lua ("function process(r) return r end", NULL, NULL), 0, "%s", s_error);
    for (size_t i = 0; i < sizeof s_values / sizeof s_values[0]; i++) {
        cr_assert_eq (s_run_hex (s_values[i]), SL_OP_OK, "%s: %s", s_values[i], s_error);
        cr_assert_eq (s_n_outs, 1);
        s_assert_value_hex (0, s_values[i]);
        cr_assert_eq (s_outs[0].timestamp, 1700000000123);
        cr_assert (s_outs[0].has_key && s_outs[0].key_len == 2);
        cr_assert_eq (memcmp (s_outs[0].key, "k1", 2), 0);
        cr_assert (!s_outs[0].key_is_bin);
        cr_assert_null (s_outs[0].headers);
    }
}

Test (lua, value_sugar_and_emit_keep_bytes_too)
{
    const char *scripts[] = {"function process(r) return r.value end",
                             "function process(r) emit(r.value) end",
                             "function process(r) sluice.emit(r) end"};
    for (size_t s = 0; s < 3; s++) {
        cr_assert_eq (s_lua (scripts[s], NULL, NULL), 0, "%s", s_error);
        for (size_t i = 0; i < sizeof s_values / sizeof s_values[0]; i++) {
            cr_assert_eq (s_run_hex (s_values[i]), SL_OP_OK, "%s: %s", scripts[s], s_error);
            s_assert_value_hex (0, s_values[i]);
        }
        s_teardown ();
    }
}

Test (lua, long_strings_and_containers_round_trip)
{
    cr_assert_eq (s_lua ("function process(r) return r end", NULL, NULL), 0);
    //  str16, bin16, array16 and map16 with ordered keys.
    static uint8_t value[8192];
    size_t n = 0;
    value[n++] = 0x94;
    value[n++] = 0xda;
    value[n++] = 0x01;
    value[n++] = 0x2c;
    for (int i = 0; i < 300; i++) {
        value[n++] = (uint8_t)('a' + i % 26);
    }
    value[n++] = 0xc5;
    value[n++] = 0x01;
    value[n++] = 0x00;
    for (int i = 0; i < 256; i++) {
        value[n++] = (uint8_t)i;
    }
    value[n++] = 0xdc;
    value[n++] = 0x00;
    value[n++] = 0x14;
    for (int i = 0; i < 20; i++) {
        value[n++] = (uint8_t)i;
    }
    value[n++] = 0xde;
    value[n++] = 0x00;
    value[n++] = 0x14;
    for (int i = 0; i < 20; i++) {
        value[n++] = 0xa2;
        value[n++] = (uint8_t)('z' - i);
        value[n++] = (uint8_t)('0' + i % 10);
        value[n++] = (uint8_t)(0xe0 + i);
    }
    cr_assert_eq (s_run (value, n), SL_OP_OK, "%s", s_error);
    cr_assert_eq (s_outs[0].value_len, n);
    cr_assert_arr_eq (s_outs[0].value, value, n);
}

Test (lua, nesting_of_512_passes_through)
{
    cr_assert_eq (s_lua ("function process(r) return r end", NULL, NULL), 0);
    static uint8_t value[600];
    for (int i = 0; i < 512; i++) {
        value[i] = 0x91;
    }
    value[512] = 0x01;
    cr_assert_eq (s_run (value, 513), SL_OP_OK, "%s", s_error);
    cr_assert_eq (s_outs[0].value_len, 513);
    cr_assert_arr_eq (s_outs[0].value, value, 513);
}

Test (lua, key_headers_and_timestamp_pass_through)
{
    cr_assert_eq (s_lua ("function process(r) return r end", NULL, NULL), 0);
    uint8_t headers[64];
    size_t hn = s_hex ("82 a2 68 32 a1 76 a2 68 31 c4 02 00 ff", headers, sizeof headers);
    uint8_t value[] = {0x2a};
    uint8_t key[] = {0x00, 0xff, 0x10};
    sl_op_record_t r = s_record (value, 1);
    r.key = key;
    r.key_len = 3;
    r.key_is_bin = true;
    r.headers = headers;
    r.headers_len = hn;
    r.timestamp = -5;
    s_clear ();
    cr_assert_eq (s_op->process (s_state, &r, &s_host), SL_OP_OK, "%s", s_error);
    cr_assert_eq (s_outs[0].timestamp, -5);
    cr_assert (s_outs[0].key_is_bin);
    cr_assert_eq (s_outs[0].key_len, 3);
    cr_assert_arr_eq (s_outs[0].key, key, 3);
    cr_assert_eq (s_outs[0].headers_len, hn);
    cr_assert_arr_eq (s_outs[0].headers, headers, hn);
}

//  ---------------------------------------------------------------------
//  Lua's view of the values.

Test (lua, values_have_the_documented_lua_types)
{
    const char *script =
        "function process(r)\n"
        "  local v = r.value\n"
        "  return table.concat({sluice.type(v.i), sluice.type(v.f), sluice.type(v.u),\n"
        "    sluice.type(v.h), sluice.type(v.s), sluice.type(v.b), sluice.type(v.n),\n"
        "    sluice.type(v.a), sluice.type(v.m), sluice.type(v.x), math.type(v.i),\n"
        "    tostring(v.u), tostring(v.b), tostring(v.h), #v.b, v.x.type,\n"
        "    tostring(v.n == sluice.null),\n"
        "    tostring(r.offset), tostring(r.timestamp), r.key}, ',')\n"
        "end\n";
    cr_assert_eq (s_lua (script, NULL, NULL), 0, "%s", s_error);
    //  {"i":-3,"f":2.5,"u":UINT64_MAX,"h":float32 1.5,"s":"x","b":bin "ab","n":nil,
    //   "a":[],"m":{},"x":ext(5,"z")}
    cr_assert_eq (s_run_hex ("8a a1 69 fd a1 66 cb 40 04 00 00 00 00 00 00"
                             " a1 75 cf ff ff ff ff ff ff ff ff a1 68 ca 3f c0 00 00"
                             " a1 73 a1 78 a1 62 c4 02 61 62 a1 6e c0 a1 61 90 a1 6d 80"
                             " a1 78 d4 05 7a"),
                  SL_OP_OK, "%s", s_error);
    const char *want = "integer,float,uint64,float32,string,bin,null,array,map,ext,integer,"
                       "18446744073709551615,ab,1.5,2,5,true,7,1700000000123,k1";
    size_t len = strlen (want);
    cr_assert_eq (s_outs[0].value_len, len + 2, "got %.*s", (int)s_outs[0].value_len,
                  s_outs[0].value);
    cr_assert_eq (memcmp (s_outs[0].value + 2, want, len), 0, "got %.*s",
                  (int)s_outs[0].value_len - 2, s_outs[0].value + 2);
}

Test (lua, int64_arithmetic_is_exact_and_uint64_compares)
{
    const char *script = "function process(r)\n"
                         "  local v = r.value\n"
                         "  return {v[1] + 1, v[2] > 1, v[2] > v[1],\n"
                         "          v[2] == sluice.uint64('18446744073709551615'),\n"
                         "          sluice.uint64('9223372036854775808')}\n"
                         "end\n";
    cr_assert_eq (s_lua (script, NULL, NULL), 0, "%s", s_error);
    //  [INT64_MAX - 1, UINT64_MAX]
    cr_assert_eq (s_run_hex ("92 cf 7f ff ff ff ff ff ff fe cf ff ff ff ff ff ff ff ff"), SL_OP_OK,
                  "%s", s_error);
    s_assert_value_hex (0, "95 cf 7f ff ff ff ff ff ff ff c3 c3 c3 cf 80 00 00 00 00 00 00 00");
}

Test (lua, tables_encode_by_the_documented_rule)
{
    const char *script = "function process(r)\n"
                         "  return {}, sluice.array(), {1, 2, 3}, {[1] = 1, [3] = 3},\n"
                         "    sluice.map{5}, sluice.omap('b', 1, 'a', 2), {value = 1},\n"
                         "    sluice.bin('ab'), sluice.null, sluice.float32(0.5),\n"
                         "    sluice.ext(-1, 'xy')\n"
                         "end\n";
    cr_assert_eq (s_lua (script, NULL, NULL), 0, "%s", s_error);
    cr_assert_eq (s_run_hex ("c0"), SL_OP_OK, "%s", s_error);
    cr_assert_eq (s_n_outs, 11);
    s_assert_value_hex (0, "80");
    s_assert_value_hex (1, "90");
    s_assert_value_hex (2, "93 01 02 03");
    //  {[1]=1,[3]=3} is not a sequence: a map (either order).
    cr_assert_eq (s_outs[3].value[0], 0x82);
    s_assert_value_hex (4, "81 01 05");
    s_assert_value_hex (5, "82 a1 62 01 a1 61 02");
    //  A plain table with a value field is a value, not a record.
    s_assert_value_hex (6, "81 a5 76 61 6c 75 65 01");
    s_assert_value_hex (7, "c4 02 61 62");
    s_assert_value_hex (8, "c0");
    s_assert_value_hex (9, "ca 3f 00 00 00");
    s_assert_value_hex (10, "d5 ff 78 79");
}

Test (lua, new_keys_follow_the_original_order)
{
    cr_assert_eq (
        s_lua ("function process(r) r.value.c = 3; r.value.a = nil; return r end", NULL, NULL), 0);
    cr_assert_eq (s_run_hex ("83 a1 62 01 a1 61 02 a1 64 04"), SL_OP_OK, "%s", s_error);
    s_assert_value_hex (0, "83 a1 62 01 a1 64 04 a1 63 03");
}

//  ---------------------------------------------------------------------
//  Returns, emit, records, errors.

Test (lua, record_constructor_and_fields)
{
    const char *script =
        "function process(r)\n"
        "  emit(sluice.record{value = 5})\n"
        "  emit(sluice.record{value = 6, key = sluice.bin('\\0k'), timestamp = 42,\n"
        "                     headers = sluice.omap('h', 'v')})\n"
        "  r.key = nil; r.value = 'x'\n"
        "  return r\n"
        "end\n";
    cr_assert_eq (s_lua (script, NULL, NULL), 0, "%s", s_error);
    cr_assert_eq (s_run_hex ("01"), SL_OP_OK, "%s", s_error);
    cr_assert_eq (s_n_outs, 3);
    s_assert_value_hex (0, "05");
    cr_assert (s_outs[0].has_key && !s_outs[0].key_is_bin);
    cr_assert_eq (s_outs[0].timestamp, 1700000000123);
    s_assert_value_hex (1, "06");
    cr_assert (s_outs[1].key_is_bin && s_outs[1].key_len == 2);
    cr_assert_eq (memcmp (s_outs[1].key, "\0k", 2), 0);
    cr_assert_eq (s_outs[1].timestamp, 42);
    cr_assert_eq (s_outs[1].headers_len, 5);
    cr_assert_eq (memcmp (s_outs[1].headers, "\x81\xa1h\xa1v", 5), 0);
    s_assert_value_hex (2, "a1 78");
    cr_assert (!s_outs[2].has_key);
}

Test (lua, many_outputs_in_order)
{
    cr_assert_eq (s_lua ("function process(r) emit(1) emit(2, 3) return 4, nil, 5 end", NULL, NULL),
                  0);
    cr_assert_eq (s_run_hex ("c0"), SL_OP_OK);
    cr_assert_eq (s_n_outs, 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq (s_outs[i].value_len, 1);
        cr_assert_eq (s_outs[i].value[0], i + 1);
    }
}

Test (lua, nil_drops)
{
    cr_assert_eq (s_lua ("function process(r) if r.value > 5 then return r end end", NULL, NULL),
                  0);
    cr_assert_eq (s_run_hex ("01"), SL_OP_DROP);
    cr_assert_eq (s_n_outs, 0);
    cr_assert_eq (s_run_hex ("07"), SL_OP_OK);
    cr_assert_eq (s_n_outs, 1);
}

Test (lua, script_error_is_retry_with_message)
{
    cr_assert_eq (s_lua ("function process(r)\n  error('sensor offline')\nend\n", NULL, NULL), 0);
    cr_assert_eq (s_run_hex ("01"), SL_OP_RETRY);
    cr_assert_not_null (strstr (s_error, "sensor offline"), "%s", s_error);
    cr_assert_not_null (strstr (s_error, ":2:"), "no line in: %s", s_error);
    s_teardown ();
    cr_assert_eq (s_lua ("function process(r) return r.value.x.y end", NULL, NULL), 0);
    cr_assert_eq (s_run_hex ("80"), SL_OP_RETRY);
    cr_assert_not_null (strstr (s_error, "attempt to index"), "%s", s_error);
    //  Outputs emitted before the error are the host's to discard; the rc says so.
    s_teardown ();
    cr_assert_eq (s_lua ("function process(r) emit(1) error({}) end", NULL, NULL), 0);
    cr_assert_eq (s_run_hex ("01"), SL_OP_RETRY);
    cr_assert_neq (s_error[0], '\0');
}

Test (lua, fail_helper_and_fail_table_are_fail)
{
    cr_assert_eq (s_lua ("function process(r)\n"
                         "  if r.value == 1 then sluice.fail('bad reading') end\n"
                         "  if r.value == 2 then error({fail = true, msg = 'no such sensor'}) end\n"
                         "  if r.value == 3 then sluice.retry('later') end\n"
                         "end\n",
                         NULL, NULL),
                  0);
    cr_assert_eq (s_run_hex ("01"), SL_OP_FAIL);
    cr_assert_str_eq (s_error, "bad reading");
    cr_assert_eq (s_run_hex ("02"), SL_OP_FAIL);
    cr_assert_str_eq (s_error, "no such sensor");
    cr_assert_eq (s_run_hex ("03"), SL_OP_RETRY);
    cr_assert_str_eq (s_error, "later");
    cr_assert_eq (s_run_hex ("04"), SL_OP_DROP);
}

Test (lua, unencodable_output_is_retry)
{
    cr_assert_eq (s_lua ("function process(r)\n"
                         "  if r.value == 1 then return print end\n"
                         "  if r.value == 2 then local t = {} t.self = t return t end\n"
                         "  if r.value == 3 then\n"
                         "    local t = {} local c = t\n"
                         "    for i = 1, 600 do c[1] = {} c = c[1] end\n"
                         "    return t\n"
                         "  end\n"
                         "  return r\n"
                         "end\n",
                         NULL, NULL),
                  0);
    cr_assert_eq (s_run_hex ("01"), SL_OP_RETRY);
    cr_assert_not_null (strstr (s_error, "cannot encode a function"), "%s", s_error);
    cr_assert_eq (s_run_hex ("02"), SL_OP_RETRY);
    cr_assert_not_null (strstr (s_error, "nesting deeper than 512"), "%s", s_error);
    cr_assert_eq (s_run_hex ("03"), SL_OP_RETRY);
    cr_assert_not_null (strstr (s_error, "nesting deeper than 512"), "%s", s_error);
    //  And the state still works.
    cr_assert_eq (s_run_hex ("81 a1 61 01"), SL_OP_OK, "%s", s_error);
}

Test (lua, refused_emit_is_retry)
{
    cr_assert_eq (s_lua ("function process(r) return r end", NULL, NULL), 0);
    s_refuse = 1;
    cr_assert_eq (s_run_hex ("01"), SL_OP_RETRY);
    s_refuse = 0;
    cr_assert_not_null (strstr (s_error, "refused"), "%s", s_error);
}

Test (lua, bad_records_from_the_script_are_retry)
{
    cr_assert_eq (s_lua ("function process(r)\n"
                         "  if r.value == 1 then r.key = 5 end\n"
                         "  if r.value == 2 then r.headers = {h = 1} end\n"
                         "  if r.value == 3 then r.timestamp = 'now' end\n"
                         "  return r\n"
                         "end\n",
                         NULL, NULL),
                  0);
    cr_assert_eq (s_run_hex ("01"), SL_OP_RETRY);
    cr_assert_not_null (strstr (s_error, "record.key"), "%s", s_error);
    cr_assert_eq (s_run_hex ("02"), SL_OP_RETRY);
    cr_assert_not_null (strstr (s_error, "record.headers"), "%s", s_error);
    cr_assert_eq (s_run_hex ("03"), SL_OP_RETRY);
    cr_assert_not_null (strstr (s_error, "record.timestamp"), "%s", s_error);
}

Test (lua, init_flush_and_options)
{
    const char *script = "local prefix, count\n"
                         "function init(o) prefix = o.arg; count = 0 end\n"
                         "function process(r) count = count + 1 end\n"
                         "function flush()\n"
                         "  if count > 0 then emit(prefix .. count) end\n"
                         "  count = 0\n"
                         "end\n";
    cr_assert_eq (s_lua (script, "arg=seen ", NULL), 0, "%s", s_error);
    cr_assert_eq (s_run_hex ("01"), SL_OP_DROP);
    cr_assert_eq (s_run_hex ("02"), SL_OP_DROP);
    s_clear ();
    cr_assert_eq (s_op->flush (s_state, &s_host), SL_OP_OK, "%s", s_error);
    s_assert_value_hex (0, "a6 73 65 65 6e 20 32");
    cr_assert (!s_outs[0].has_key);
    cr_assert_null (s_outs[0].headers);
    s_clear ();
    cr_assert_eq (s_op->flush (s_state, &s_host), SL_OP_OK);
    cr_assert_eq (s_n_outs, 0);
}

Test (lua, print_and_log_go_to_the_host)
{
    cr_assert_eq (s_lua ("function process(r) print('hello', 1) end", NULL, NULL), 0);
    s_run_hex ("01");
    cr_assert_str_eq (s_log, "hello 1");
}

Test (lua, init_errors_are_reported)
{
    cr_assert_neq (s_lua ("function process(r) return r en", NULL, NULL), 0);
    cr_assert_not_null (strstr (s_error, s_path), "%s", s_error);
    cr_assert_not_null (strstr (s_error, ":1:"), "%s", s_error);
    s_teardown ();
    cr_assert_neq (s_lua ("x = 1", NULL, NULL), 0);
    cr_assert_not_null (strstr (s_error, "no function process"), "%s", s_error);
    s_teardown ();
    cr_assert_neq (
        s_lua ("function init() error('no config') end function process() end", NULL, NULL), 0);
    cr_assert_not_null (strstr (s_error, "no config"), "%s", s_error);
    s_teardown ();
    cr_assert_neq (s_lua ("function process() end", "timeout_ms=-1", NULL), 0);
    cr_assert_not_null (strstr (s_error, "timeout_ms"), "%s", s_error);
    s_teardown ();
    const char *kv[] = {"file=/nonexistent/sluice.lua", NULL};
    cr_assert_neq (s_init_op (sl_op_lua (), kv), 0);
    cr_assert_not_null (strstr (s_error, "/nonexistent/sluice.lua"), "%s", s_error);
    s_op = NULL;
}

Test (lua, emit_outside_process_is_an_error)
{
    cr_assert_neq (s_lua ("emit(1) function process() end", NULL, NULL), 0);
    cr_assert_not_null (strstr (s_error, "outside process"), "%s", s_error);
}

Test (lua, sandbox_removes_io_and_os_execute)
{
    cr_assert_eq (s_lua ("function process(r) return tostring(io) .. tostring(os.execute) .."
                         " tostring(load) .. type(os.time()) end",
                         "sandbox=true", NULL),
                  0, "%s", s_error);
    cr_assert_eq (s_run_hex ("c0"), SL_OP_OK, "%s", s_error);
    s_assert_value_hex (0, "af 6e 69 6c 6e 69 6c 6e 69 6c 6e 75 6d 62 65 72");
}

//  ---------------------------------------------------------------------
//  Limits.

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test (lua, runaway_loop_times_out)
{
    cr_assert_eq (s_lua ("function process(r)\n"
                         "  if r.value == 1 then while true do end end\n"
                         "  if r.value == 2 then\n"
                         "    while true do pcall(function() while true do end end) end\n"
                         "  end\n"
                         "  return r\n"
                         "end\n",
                         "timeout_ms=100", NULL),
                  0);
    for (int v = 1; v <= 2; v++) {
        double start = s_now ();
        cr_assert_eq (s_run_hex (v == 1 ? "01" : "02"), SL_OP_RETRY);
        cr_assert_not_null (strstr (s_error, "timed out"), "%s", s_error);
        cr_assert_lt (s_now () - start, 5.0);
    }
    //  The state is usable afterwards, with a fresh deadline.
    cr_assert_eq (s_run_hex ("03"), SL_OP_OK, "%s", s_error);
}

Test (lua, runaway_top_level_fails_init)
{
    cr_assert_neq (s_lua ("while true do end", "timeout_ms=50", NULL), 0);
    cr_assert_not_null (strstr (s_error, "timed out"), "%s", s_error);
}

Test (lua, memory_hog_fails_cleanly)
{
    cr_assert_eq (s_lua ("local keep = {}\n"
                         "function process(r)\n"
                         "  if r.value == 1 then\n"
                         "    local t = {}\n"
                         "    for i = 1, 1e9 do t[i] = string.rep('x', 100) .. i end\n"
                         "  end\n"
                         "  if r.value == 2 then return string.rep('x', 1 << 30) end\n"
                         "  return r\n"
                         "end\n",
                         "memory_mb=16", "timeout_ms=0"),
                  0, "%s", s_error);
    cr_assert_eq (s_run_hex ("01"), SL_OP_RETRY);
    cr_assert_not_null (strstr (s_error, "out of memory"), "%s", s_error);
    cr_assert_eq (s_run_hex ("02"), SL_OP_RETRY);
    cr_assert_not_null (strstr (s_error, "memory"), "%s", s_error);
    cr_assert_eq (s_run_hex ("03"), SL_OP_OK, "%s", s_error);
}

//  ---------------------------------------------------------------------
//  Hostile input.

Test (lua, hostile_msgpack_is_fail_not_a_crash)
{
    cr_assert_eq (s_lua ("function process(r) return r end", NULL, NULL), 0);
    static uint8_t deep[2000];
    for (int i = 0; i < 1999; i++) {
        deep[i] = 0x91;
    }
    deep[1999] = 0x01;
    cr_assert_eq (s_run (deep, sizeof deep), SL_OP_FAIL);
    cr_assert_not_null (strstr (s_error, "deep"), "%s", s_error);
    memset (deep, 0x81, sizeof deep); //  maps whose keys are maps ...
    cr_assert_eq (s_run (deep, sizeof deep), SL_OP_FAIL);
    const char *bad[] = {
        "dd ff ff ff ff",    //  an array claiming 4G elements
        "df 7f ff ff ff 01", //  a map claiming 2G pairs
        "db ff ff ff f0 61", //  a str claiming 4G bytes
        "c6 00 10 00 00",    //  bin past the end
        "c1",                //  reserved
        "92 01",             //  truncated
        "01 02",             //  trailing bytes
        "",                  //  nothing: treated as nil, not an error
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = s_run_hex (bad[i]);
        if (bad[i][0]) {
            cr_assert_eq (rc, SL_OP_FAIL, "%s: rc %d", bad[i], rc);
            cr_assert_not_null (strstr (s_error, "input value"), "%s", s_error);
        }
        else {
            cr_assert_eq (rc, SL_OP_OK);
            s_assert_value_hex (0, "c0");
        }
    }
    //  Malformed headers: FAIL too.
    uint8_t value = 0x01;
    sl_op_record_t r = s_record (&value, 1);
    r.headers = (const uint8_t *)"\x81\xa1";
    r.headers_len = 2;
    s_clear ();
    cr_assert_eq (s_op->process (s_state, &r, &s_host), SL_OP_FAIL);
}

Test (lua, nan_map_key_is_fail)
{
    cr_assert_eq (s_lua ("function process(r) return r end", NULL, NULL), 0);
    cr_assert_eq (s_run_hex ("81 cb 7f f8 00 00 00 00 00 00 01"), SL_OP_FAIL);
}

//  ---------------------------------------------------------------------
//  Filter and map.

static const char *s_hot = "83 a6 73 65 6e 73 6f 72 a3 73 2d 31 a4 74 65 6d 70"
                           " cb 40 3f 80 00 00 00 00 00 a2 69 64 07"; //  s-1, 31.5, id 7
static const char *s_cold = "83 a6 73 65 6e 73 6f 72 a3 73 2d 31 a4 74 65 6d 70"
                            " 14 a2 69 64 08"; //  s-1, 20, id 8
static const char *s_other = "83 a6 73 65 6e 73 6f 72 a3 73 2d 32 a4 74 65 6d 70"
                             " 28 a2 69 64 09"; //  s-2, 40, id 9

Test (lua, filter_keeps_true_records_byte_identical)
{
    cr_assert_eq (s_expr (sl_op_filter (), "temp > 30 and sensor == \"s-1\""), 0, "%s", s_error);
    uint8_t headers[] = {0x81, 0xa1, 0x68, 0xa1, 0x76};
    uint8_t value[128];
    size_t n = s_hex (s_hot, value, sizeof value);
    sl_op_record_t r = s_record (value, n);
    r.headers = headers;
    r.headers_len = sizeof headers;
    s_clear ();
    cr_assert_eq (s_op->process (s_state, &r, &s_host), SL_OP_OK, "%s", s_error);
    s_assert_value_hex (0, s_hot);
    cr_assert_eq (s_outs[0].headers_len, sizeof headers);
    cr_assert_arr_eq (s_outs[0].headers, headers, sizeof headers);
    cr_assert_eq (s_outs[0].timestamp, r.timestamp);
    cr_assert_eq (s_run_hex (s_cold), SL_OP_DROP);
    cr_assert_eq (s_n_outs, 0);
    cr_assert_eq (s_run_hex (s_other), SL_OP_DROP);
}

Test (lua, filter_sees_record_fields_and_libraries)
{
    cr_assert_eq (s_expr (sl_op_filter (), "key == 'k1' and offset == 7 and timestamp > 0 and "
                                           "math.floor(temp) == 31 and string.sub(sensor, 1, 1) "
                                           "== 's' and value.id == 7 and record.offset == 7"),
                  0, "%s", s_error);
    cr_assert_eq (s_run_hex (s_hot), SL_OP_OK, "%s", s_error);
    cr_assert_eq (s_run_hex (s_cold), SL_OP_DROP, "%s", s_error);
}

Test (lua, filter_value_fields_shadow_record_fields)
{
    cr_assert_eq (s_expr (sl_op_filter (), "key == 'inner'"), 0);
    cr_assert_eq (s_run_hex ("81 a3 6b 65 79 a5 69 6e 6e 65 72"), SL_OP_OK, "%s", s_error);
    cr_assert_eq (s_run_hex ("81 a1 78 01"), SL_OP_DROP, "%s", s_error);
}

Test (lua, filter_error_and_syntax_error)
{
    cr_assert_eq (s_expr (sl_op_filter (), "missing > 3"), 0);
    cr_assert_eq (s_run_hex (s_hot), SL_OP_RETRY);
    cr_assert_not_null (strstr (s_error, "compare"), "%s", s_error);
    s_teardown ();
    cr_assert_neq (s_expr (sl_op_filter (), "temp >"), 0);
    cr_assert_not_null (strstr (s_error, "expr:1:"), "%s", s_error);
    cr_assert_not_null (strstr (s_error, "filter"), "%s", s_error);
    s_op = NULL;
    cr_assert_neq (s_expr (sl_op_map (), "{id = }"), 0);
    cr_assert_not_null (strstr (s_error, "expr:1:"), "%s", s_error);
    s_op = NULL;
    //  A trailing comment does not swallow the closing parenthesis.
    cr_assert_eq (s_expr (sl_op_filter (), "temp > 30 -- hot ones"), 0, "%s", s_error);
    cr_assert_eq (s_run_hex (s_hot), SL_OP_OK, "%s", s_error);
}

Test (lua, filter_on_hostile_value_is_fail)
{
    cr_assert_eq (s_expr (sl_op_filter (), "temp > 30"), 0);
    cr_assert_eq (s_run_hex ("82 a4 74 65 6d 70 dd ff ff ff ff"), SL_OP_FAIL);
    //  Not a map: names fall through to the record and the libraries.
    cr_assert_eq (s_run_hex ("2a"), SL_OP_RETRY);
    s_teardown ();
    cr_assert_eq (s_expr (sl_op_filter (), "value == 42"), 0);
    cr_assert_eq (s_run_hex ("2a"), SL_OP_OK);
}

Test (lua, map_replaces_the_value_and_keeps_the_key)
{
    cr_assert_eq (s_expr (sl_op_map (), "{id = id, f = temp * 9 / 5 + 32}"), 0, "%s", s_error);
    cr_assert_eq (s_run_hex (s_cold), SL_OP_OK, "%s", s_error);
    //  {"id":8,"f":68.0} in either key order.
    uint8_t a[32], b[32];
    size_t na = s_hex ("82 a2 69 64 08 a1 66 cb 40 51 00 00 00 00 00 00", a, sizeof a);
    size_t nb = s_hex ("82 a1 66 cb 40 51 00 00 00 00 00 00 a2 69 64 08", b, sizeof b);
    cr_assert_eq (s_outs[0].value_len, na);
    cr_assert (memcmp (s_outs[0].value, a, na) == 0 || memcmp (s_outs[0].value, b, nb) == 0);
    cr_assert (s_outs[0].has_key && memcmp (s_outs[0].key, "k1", 2) == 0);
    cr_assert_eq (s_outs[0].timestamp, 1700000000123);
    s_teardown ();
    cr_assert_eq (s_expr (sl_op_map (), "sluice.omap('id', id, 'hot', temp > 30)"), 0);
    cr_assert_eq (s_run_hex (s_hot), SL_OP_OK, "%s", s_error);
    s_assert_value_hex (0, "82 a2 69 64 07 a3 68 6f 74 c3");
    s_teardown ();
    cr_assert_eq (s_expr (sl_op_map (), "nothing"), 0);
    cr_assert_eq (s_run_hex (s_hot), SL_OP_OK, "%s", s_error);
    s_assert_value_hex (0, "c0");
}

Test (lua, map_runaway_times_out)
{
    const char *kv[] = {"expr=(function() while true do end end)()", "timeout_ms=50", NULL};
    cr_assert_eq (s_init_op (sl_op_map (), kv), 0, "%s", s_error);
    cr_assert_eq (s_run_hex ("01"), SL_OP_RETRY);
    cr_assert_not_null (strstr (s_error, "timed out"), "%s", s_error);
}
