/*  test_plugin.c - the plugin loader (worker/op_plugin.c) and the example
    plugin (plugins/uppercase.c), loaded from the build directory.
    SL_TEST_PLUGIN and SL_TEST_FIXTURE_DIR come from tests/unit/meson.build.
*/
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "operator.h"
#include "sl_error.h"

static const sl_operator_t *s_op;
static void *s_handle;
static void *s_state;
static char s_why[512];
static char s_error[256];
static uint8_t s_out[256];
static size_t s_out_len;
static sl_op_record_t s_out_record;
static int s_n_outs;

static int
s_emit (void *ctx, const sl_op_record_t *out)
{
    (void)ctx;
    cr_assert (out->value_len <= sizeof s_out);
    memcpy (s_out, out->value, out->value_len);
    s_out_len = out->value_len;
    s_out_record = *out;
    s_n_outs++;
    return 0;
}

static void
s_set_error (void *ctx, const char *text)
{
    (void)ctx;
    snprintf (s_error, sizeof s_error, "%s", text);
}

static sl_op_host_t s_host = {NULL, s_emit, s_set_error, NULL};

static void
s_teardown (void)
{
    if (s_op && s_state && s_op->destroy) {
        s_op->destroy (s_state);
    }
    s_state = NULL;
    s_op = NULL;
    if (s_handle) {
        dlclose (s_handle);
        s_handle = NULL;
    }
}

TestSuite (plugin, .fini = s_teardown, .timeout = 60);

static int
s_load (const char *path)
{
    s_why[0] = '\0';
    return sl_op_plugin_load (path, &s_op, &s_handle, s_why, sizeof s_why);
}

static int
s_process (const uint8_t *value, size_t len)
{
    sl_op_record_t in = {.offset = 3,
                         .timestamp = 99,
                         .key = (const uint8_t *)"k",
                         .key_len = 1,
                         .value = value,
                         .value_len = len};
    s_n_outs = 0;
    s_error[0] = '\0';
    return s_op->process (s_state, &in, &s_host);
}

static void
s_init_uppercase (const char *field, const char *fail_on)
{
    cr_assert_eq (s_load (SL_TEST_PLUGIN), 0, "%s", s_why);
    cr_assert_not_null (s_op);
    cr_assert_not_null (s_handle);
    cr_assert_str_eq (s_op->name, "uppercase");
    const char *keys[] = {"field", "fail_on"};
    const char *values[] = {field, fail_on};
    cr_assert_eq (s_op->init (&s_state, &s_host, 2, keys, values), 0, "%s", s_error);
}

Test (plugin, uppercases_the_field_and_keeps_other_bytes)
{
    s_init_uppercase ("name", "");
    //  {"id": 300, "name": "ab-c", "tags": ["x"]}
    const uint8_t in[] = {0x83, 0xa2, 'i', 'd', 0xcd, 0x01, 0x2c, 0xa4, 'n', 'a',  'm',  'e', 0xa4,
                          'a',  'b',  '-', 'c', 0xa4, 't',  'a',  'g',  's', 0x91, 0xa1, 'x'};
    uint8_t want[sizeof in];
    memcpy (want, in, sizeof in);
    want[13] = 'A';
    want[14] = 'B';
    want[16] = 'C';
    cr_assert_eq (s_process (in, sizeof in), SL_OP_OK, "%s", s_error);
    cr_assert_eq (s_n_outs, 1);
    cr_assert_eq (s_out_len, sizeof want);
    cr_assert_arr_eq (s_out, want, sizeof want);
    cr_assert_eq (s_out_record.timestamp, 99);
    cr_assert_eq (s_out_record.key_len, 1);
}

Test (plugin, map_without_the_field_passes_unchanged)
{
    s_init_uppercase ("name", "");
    const uint8_t in[] = {0x82, 0xa1, 'x', 0xa1, 'a', 0xa4, 'n', 'a', 'm', 'e', 0x05};
    cr_assert_eq (s_process (in, sizeof in), SL_OP_OK);
    cr_assert_eq (s_out_len, sizeof in);
    cr_assert_arr_eq (s_out, in, sizeof in);
}

Test (plugin, each_return_code)
{
    s_init_uppercase ("name", "BAD");
    const uint8_t not_map[] = {0x92, 0x01, 0x02};
    cr_assert_eq (s_process (not_map, sizeof not_map), SL_OP_RETRY);
    cr_assert_not_null (strstr (s_error, "not a map"), "%s", s_error);
    cr_assert_eq (s_n_outs, 0);
    const uint8_t bad[] = {0x81, 0xa4, 'n', 'a', 'm', 'e', 0xa3, 'B', 'A', 'D'};
    cr_assert_eq (s_process (bad, sizeof bad), SL_OP_FAIL);
    cr_assert_not_null (strstr (s_error, "fail_on"), "%s", s_error);
    const uint8_t lying[] = {0x81, 0xa4, 'n', 'a', 'm', 'e', 0xdb, 0xff, 0xff, 0xff, 0xf0};
    cr_assert_eq (s_process (lying, sizeof lying), SL_OP_FAIL);
    const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq (s_process (huge_map, sizeof huge_map), SL_OP_FAIL);
    const uint8_t ok[] = {0x81, 0xa4, 'n', 'a', 'm', 'e', 0xa3, 'b', 'a', 'd'};
    cr_assert_eq (s_process (ok, sizeof ok), SL_OP_OK);
    cr_assert_eq (memcmp (s_out + 7, "BAD", 3), 0);
}

Test (plugin, bare_file_name_is_looked_up_in_the_current_directory)
{
    char dir[1024];
    snprintf (dir, sizeof dir, "%s", SL_TEST_PLUGIN);
    char base[1024];
    snprintf (base, sizeof base, "%s", basename (dir));
    snprintf (dir, sizeof dir, "%s", SL_TEST_PLUGIN);
    cr_assert_eq (chdir (dirname (dir)), 0);
    cr_assert_eq (s_load (base), 0, "%s", s_why);
    cr_assert_str_eq (s_op->name, "uppercase");
}

Test (plugin, bad_path_is_a_clear_error)
{
    cr_assert_neq (s_load ("/nonexistent/dir/op.so"), 0);
    cr_assert_null (s_op);
    cr_assert_null (s_handle);
    cr_assert_not_null (strstr (s_why, "/nonexistent/dir/op.so"), "%s", s_why);
    cr_assert_not_null (strstr (s_why, "cannot load"), "%s", s_why);
    cr_assert_neq (s_load (""), 0);
    cr_assert_neq (s_why[0], '\0');
}

Test (plugin, a_file_that_is_not_a_shared_object)
{
    char path[] = "/tmp/sluice-plugin-XXXXXX";
    int fd = mkstemp (path);
    cr_assert (fd >= 0);
    cr_assert_eq (write (fd, "not an ELF file\n", 16), 16);
    close (fd);
    int rc = s_load (path);
    unlink (path);
    cr_assert_neq (rc, 0);
    cr_assert_not_null (strstr (s_why, "cannot load"), "%s", s_why);
}

static void
s_fixture (int n, char *path, size_t size)
{
    snprintf (path, size, "%s/plugin_fixture_%d.so", SL_TEST_FIXTURE_DIR, n);
}

Test (plugin, missing_symbol)
{
    char path[1024];
    s_fixture (1, path, sizeof path);
    cr_assert_eq (access (path, R_OK), 0, "fixture %s not built", path);
    cr_assert_eq (s_load (path), SL_ENOTFOUND);
    cr_assert_not_null (strstr (s_why, "sluice_operator"), "%s", s_why);
    cr_assert_null (s_handle);
}

Test (plugin, wrong_abi)
{
    char path[1024];
    s_fixture (2, path, sizeof path);
    cr_assert_eq (s_load (path), SL_EVERSION);
    cr_assert_not_null (strstr (s_why, "ABI 99"), "%s", s_why);
    cr_assert_null (s_op);
    cr_assert_null (s_handle);
}

Test (plugin, missing_process_callback)
{
    char path[1024];
    s_fixture (3, path, sizeof path);
    cr_assert_eq (s_load (path), SL_EINVAL);
    cr_assert_not_null (strstr (s_why, "no process"), "%s", s_why);
}

Test (plugin, null_operator)
{
    char path[1024];
    s_fixture (4, path, sizeof path);
    cr_assert_eq (s_load (path), SL_EINVAL);
    cr_assert_not_null (strstr (s_why, "NULL"), "%s", s_why);
}
