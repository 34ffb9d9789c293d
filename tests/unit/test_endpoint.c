/*  test_endpoint.c - the endpoint checker every program uses (sl_endpoint.h).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "sl_endpoint.h"
#include "sl_error.h"

static char why[400];

static int
s_check (const char *endpoint, sl_endpoint_use_t use)
{
    why[0] = 0;
    return sl_endpoint_check (endpoint, use, why, sizeof why);
}

Test (endpoint, accepts_the_documented_forms)
{
    const char *both[] = {"tcp://127.0.0.1:7600", "tcp://localhost:1",      "tcp://broker:65535",
                          "tcp://[::1]:7600",     "ipc:///tmp/sluice.sock", "ipc://rel/path"};
    for (size_t i = 0; i < sizeof both / sizeof both[0]; i++) {
        cr_expect_eq (s_check (both[i], SL_ENDPOINT_CONNECT), 0, "%s: %s", both[i], why);
        cr_expect_eq (s_check (both[i], SL_ENDPOINT_BIND), 0, "%s: %s", both[i], why);
    }
    //  Only a bind may ask for any interface or any free port.
    const char *bind_only[] = {"tcp://*:7600", "tcp://0.0.0.0:0", "tcp://127.0.0.1:*"};
    for (size_t i = 0; i < sizeof bind_only / sizeof bind_only[0]; i++) {
        cr_expect_eq (s_check (bind_only[i], SL_ENDPOINT_BIND), 0, "%s: %s", bind_only[i], why);
    }
    cr_expect_eq (s_check ("tcp://*:7600", SL_ENDPOINT_CONNECT), SL_EINVAL);
    cr_expect_eq (s_check ("tcp://0.0.0.0:0", SL_ENDPOINT_CONNECT), SL_EINVAL);
    cr_expect_eq (s_check ("tcp://127.0.0.1:*", SL_ENDPOINT_CONNECT), SL_EINVAL);
}

Test (endpoint, a_missing_scheme_names_the_forms_expected)
{
    const char *bad[] = {"127.0.0.1:7600", "localhost", "", "udp://h:1", "TCP://h:1", "tcp:/h:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq (s_check (bad[i], SL_ENDPOINT_CONNECT), SL_EINVAL, "%s", bad[i]);
        char expect[300];
        snprintf (expect, sizeof expect, "endpoint '%s': expected tcp://HOST:PORT or ipc://PATH",
                  bad[i]);
        cr_expect_str_eq (why, expect);
    }
    cr_expect_eq (s_check (NULL, SL_ENDPOINT_BIND), SL_EINVAL);
}

Test (endpoint, ports_outside_1_to_65535_are_refused_not_wrapped)
{
    //  libzmq binds 99999 as 34463 (the low 16 bits): never let it.
    const char *bad[] = {"tcp://127.0.0.1:99999",
                         "tcp://127.0.0.1:65536",
                         "tcp://h:4294967297",
                         "tcp://h:123456789012",
                         "tcp://h:-1",
                         "tcp://h:",
                         "tcp://h:7a",
                         "tcp://h: 7",
                         "tcp://h:+7",
                         "tcp://h:0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq (s_check (bad[i], SL_ENDPOINT_BIND), SL_EINVAL, "%s", bad[i]);
        cr_expect_eq (s_check (bad[i], SL_ENDPOINT_CONNECT), SL_EINVAL, "%s", bad[i]);
        cr_expect (strstr (why, "port") != NULL, "%s: %s", bad[i], why);
        cr_expect (strstr (why, bad[i]) != NULL, "the message names the endpoint: %s", why);
    }
    cr_expect_eq (s_check ("tcp://h:0", SL_ENDPOINT_CONNECT), SL_EINVAL);
    cr_expect_eq (sl_endpoint_port ("tcp://h:65535"), 65535u);
    cr_expect_eq (sl_endpoint_port ("tcp://[::1]:7600"), 7600u);
    cr_expect_eq (sl_endpoint_port ("tcp://h:99999"), 0u);
    cr_expect_eq (sl_endpoint_port ("ipc://x"), 0u);
}

Test (endpoint, hosts_and_paths_are_bounded)
{
    cr_expect_eq (s_check ("tcp://:7600", SL_ENDPOINT_CONNECT), SL_EINVAL);
    cr_expect_eq (s_check ("tcp://::1:7600", SL_ENDPOINT_CONNECT), SL_EINVAL);
    cr_expect_eq (s_check ("tcp://[::1:7600", SL_ENDPOINT_CONNECT), SL_EINVAL);
    cr_expect_eq (s_check ("tcp://[]:7600", SL_ENDPOINT_CONNECT), SL_EINVAL);
    cr_expect_eq (s_check ("ipc://", SL_ENDPOINT_BIND), SL_EINVAL);
    char path[200] = "ipc://";
    memset (path + 6, 'p', 107);
    cr_expect_eq (s_check (path, SL_ENDPOINT_BIND), 0, "%s", why);
    path[6 + 107] = 'p';
    cr_expect_eq (s_check (path, SL_ENDPOINT_BIND), SL_EINVAL);
    char longest[400] = "tcp://";
    memset (longest + 6, 'h', 300);
    strcat (longest, ":1");
    cr_expect_eq (s_check (longest, SL_ENDPOINT_CONNECT), SL_EINVAL);
    cr_expect_eq (sl_endpoint_port (longest), 0u);
    //  The message stays bounded whatever the input.
    cr_expect (strlen (why) < 300);
}

Test (endpoint, a_name_to_bind_is_resolved_to_its_address)
{
    char out[300];
    cr_assert_eq (sl_endpoint_bind_form ("tcp://localhost:7600", out, sizeof out, why, sizeof why),
                  0, "%s", why);
    cr_expect_str_eq (out, "tcp://127.0.0.1:7600");
    cr_assert_eq (sl_endpoint_bind_form ("tcp://*:0", out, sizeof out, why, sizeof why), 0);
    cr_expect_str_eq (out, "tcp://*:0");
    cr_assert_eq (sl_endpoint_bind_form ("tcp://[::1]:9", out, sizeof out, why, sizeof why), 0);
    cr_expect_str_eq (out, "tcp://[::1]:9");
    cr_assert_eq (sl_endpoint_bind_form ("tcp://lo:9", out, sizeof out, why, sizeof why), 0);
    cr_expect_str_eq (out, "tcp://lo:9");
    cr_assert_eq (sl_endpoint_bind_form ("ipc:///tmp/x", out, sizeof out, why, sizeof why), 0);
    cr_expect_str_eq (out, "ipc:///tmp/x");
    cr_expect_eq (
        sl_endpoint_bind_form ("tcp://no-such-host.invalid:9", out, sizeof out, why, sizeof why),
        SL_ENOTFOUND);
    cr_expect (strstr (why, "does not resolve") != NULL, "%s", why);
    cr_expect_eq (sl_endpoint_bind_form ("x", out, sizeof out, why, sizeof why), SL_EINVAL);
}

Test (endpoint, broker_lists)
{
    char why[256];
    cr_assert_eq (sl_endpoint_check_list ("tcp://a:7600", why, sizeof why), 0);
    cr_assert_eq (
        sl_endpoint_check_list ("tcp://a:7600,tcp://b:7600,ipc:///tmp/x", why, sizeof why), 0);
    cr_assert_eq (sl_endpoint_check_list ("tcp://a:7600,", why, sizeof why), SL_EINVAL);
    cr_assert_eq (sl_endpoint_check_list ("tcp://a:7600,b:1", why, sizeof why), SL_EINVAL);
    cr_assert (strstr (why, "b:1"), "the bad one is named: %s", why);
    cr_assert_eq (sl_endpoint_check_list ("", why, sizeof why), SL_EINVAL);
    cr_assert_eq (sl_endpoint_check_list ("tcp://*:7600", why, sizeof why), SL_EINVAL);
    char many[512] = "";
    for (int i = 0; i < 9; i++) {
        strcat (many, i ? ",tcp://h:1" : "tcp://h:1");
    }
    cr_assert_eq (sl_endpoint_check_list (many, why, sizeof why), SL_EINVAL);
}
