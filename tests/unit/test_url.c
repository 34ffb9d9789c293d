/*  test_url.c - SCHEME://HOST:PORT/PATH addresses of the edges.
*/
#include <criterion/criterion.h>
#include <string.h>

#include "sl_error.h"
#include "sl_url.h"

Test (url, host_port_and_path)
{
    sl_url_t u;
    cr_assert_eq (sl_url_parse ("mqtt://127.0.0.1:1884/devices/+/temp", "mqtt", 1883, &u), 0);
    cr_assert_str_eq (u.host, "127.0.0.1");
    cr_assert_eq (u.port, 1884);
    cr_assert_str_eq (u.path, "devices/+/temp");
}

Test (url, default_port_empty_path_and_ipv6)
{
    sl_url_t u;
    cr_assert_eq (sl_url_parse ("mqtt://broker", "mqtt", 1883, &u), 0);
    cr_assert_str_eq (u.host, "broker");
    cr_assert_eq (u.port, 1883);
    cr_assert_str_eq (u.path, "");
    cr_assert_eq (sl_url_parse ("mqtt://[::1]:9/#", "mqtt", 1883, &u), 0);
    cr_assert_str_eq (u.host, "::1");
    cr_assert_eq (u.port, 9);
    cr_assert_str_eq (u.path, "#");
}

Test (url, malformed_addresses_are_refused)
{
    sl_url_t u;
    const char *bad[] = {"http://h/x", "mqtt:/h/x", "mqtt://", "mqtt://:1883/x", "mqtt://h:0/x",
                         "mqtt://h:65536/x", "mqtt://h:12a/x", "mqtt://[::1/x", NULL};
    for (int i = 0; bad[i]; i++) {
        cr_assert_eq (sl_url_parse (bad[i], "mqtt", 1883, &u), SL_EINVAL, "%s", bad[i]);
    }
    char longhost[600];
    memset (longhost, 'h', sizeof longhost);
    memcpy (longhost, "mqtt://", 7);
    longhost[sizeof longhost - 1] = 0;
    cr_assert_eq (sl_url_parse (longhost, "mqtt", 1883, &u), SL_EINVAL);
}
