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
    const char *bad[] = {"http://h/x",     "mqtt:/h/x",     "mqtt://",
                         "mqtt://:1883/x", "mqtt://h:0/x",  "mqtt://h:65536/x",
                         "mqtt://h:12a/x", "mqtt://[::1/x", NULL};
    for (int i = 0; bad[i]; i++) {
        cr_assert_eq (sl_url_parse (bad[i], "mqtt", 1883, &u), SL_EINVAL, "%s", bad[i]);
    }
    char longhost[600];
    memset (longhost, 'h', sizeof longhost);
    memcpy (longhost, "mqtt://", 7);
    longhost[sizeof longhost - 1] = 0;
    cr_assert_eq (sl_url_parse (longhost, "mqtt", 1883, &u), SL_EINVAL);
}

//  The one port reader of URLs and endpoints: digits only, 1..65535, 0
//  only where allowed (a port to bind), and "not a number" told apart from
//  "out of range".
Test (url, ports_are_digits_in_range)
{
    unsigned port = 7;
    cr_assert_eq (sl_port_parse ("1", 1, false, &port), 0);
    cr_assert_eq (port, 1);
    cr_assert_eq (sl_port_parse ("65535", 5, false, &port), 0);
    cr_assert_eq (port, 65535);
    cr_assert_eq (sl_port_parse ("0", 1, true, &port), 0);
    cr_assert_eq (port, 0);
    cr_assert_eq (sl_port_parse ("0", 1, false, &port), SL_ERANGE);
    cr_assert_eq (sl_port_parse ("65536", 5, false, &port), SL_ERANGE);
    cr_assert_eq (sl_port_parse ("123456", 6, false, &port), SL_ERANGE);
    const char *bad[] = {"", "+80", "-1", " 80", "80 ", "8o", "0x50"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq (sl_port_parse (bad[i], strlen (bad[i]), true, &port), SL_EINVAL, "'%s'",
                      bad[i]);
    }
    //  Only len bytes are read: the URL's port ends at its path.
    cr_assert_eq (sl_port_parse ("1883/topic", 4, false, &port), 0);
    cr_assert_eq (port, 1883);
    sl_url_t u;
    cr_assert_eq (sl_url_parse ("mqtt://h:+80/t", "mqtt", 1883, &u), SL_EINVAL);
    cr_assert_eq (sl_url_parse ("mqtt://h: 80", "mqtt", 1883, &u), SL_EINVAL);
}
