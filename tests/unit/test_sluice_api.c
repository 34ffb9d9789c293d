/*  test_sluice_api.c - libsluice's public API (include/sluice/sluice.h)
    without a broker: argument checks, positions, values, error texts and
    the calls that must fail before any traffic. The roles against a real
    broker are tests/integration/test_client_c.py.
*/
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/sluice.h"

//  Nobody listens here: calls that would need the broker time out.
#define NOWHERE "tcp://127.0.0.1:9"

Test (sluice_api, constructors_refuse_bad_arguments)
{
    cr_assert_null (sluice_producer_new (NULL, "s", NULL));
    cr_assert_null (sluice_producer_new (NOWHERE, "bad/name", NULL));
    cr_assert_null (sluice_producer_new (NOWHERE, ".hidden", NULL));
    cr_assert_null (sluice_producer_new (NOWHERE, "s", "no spaces"));
    cr_assert_null (sluice_producer_new ("not-an-endpoint", "s", NULL));
    cr_assert_null (sluice_reader_new (NOWHERE, "s", "sideways", NULL));
    cr_assert_null (sluice_reader_new (NOWHERE, "s", "-0", NULL));
    cr_assert_null (sluice_reader_new (NOWHERE, "s", "@yesterday", NULL));
    cr_assert_null (sluice_member_new (NOWHERE, "g", "same", "same", NULL));
    cr_assert_null (sluice_member_new (NOWHERE, "g", "a", "b", "x/y"));
    sluice_producer_t *p = NULL;
    sluice_producer_destroy (&p); //  idempotent on NULL
    sluice_producer_destroy (NULL);
}

Test (sluice_api, positions_parse)
{
    const char *good[] = {"beginning",      "end",  "0",     "1200", "-10", "@2026-11-26T12:00:00Z",
                          "@1795000000000", "@-5m", "@-30s", NULL};
    for (int i = 0; good[i]; i++) {
        sluice_reader_t *r = sluice_reader_new (NOWHERE, "s", good[i], NULL);
        cr_assert_not_null (r, "%s", good[i]);
        cr_assert_eq (sluice_reader_position (r), 0);
        cr_assert_not (sluice_reader_at_end (r));
        cr_assert_eq (sluice_reader_commit (r, 10), SLUICE_EINVAL, "no name: nothing to commit");
        sluice_reader_destroy (&r);
        cr_assert_null (r);
    }
    cr_assert_null (sluice_reader_new (NOWHERE, "s", "@-", NULL));
    cr_assert_null (sluice_reader_new (NOWHERE, "s", "@-5parsecs", NULL));
}

Test (sluice_api, values_are_checked_before_sending, .timeout = 30)
{
    sluice_producer_t *p = sluice_producer_new (NOWHERE, "s", "p1");
    cr_assert_not_null (p);
    //  No broker: connecting times out, and says which error.
    cr_assert_eq (sluice_producer_connect (p, 300), SLUICE_ETIMEOUT);
    cr_assert_str_eq (sluice_strerror (SLUICE_ETIMEOUT), "timed out");
    cr_assert_eq (sluice_producer_sent (p), 0);
    cr_assert_eq (sluice_producer_confirmed (p), 0);
    sluice_producer_destroy (&p);
    cr_assert_null (p);

    sluice_member_t *m = sluice_member_new (NOWHERE, "g", "a", "b", NULL);
    cr_assert_not_null (m);
    cr_assert_eq (sluice_member_set_batch (m, 0), SLUICE_EINVAL);
    cr_assert_eq (sluice_member_set_batch (m, 65537), SLUICE_EINVAL);
    cr_assert_eq (sluice_member_set_batch (m, 10), 0);
    cr_assert_eq (sluice_member_emit_json (m, NULL, "1"), SLUICE_ESTATE, "no lease");
    cr_assert_eq (sluice_member_fail (m, 0, "x", false), SLUICE_ESTATE);
    cr_assert_eq (sluice_member_done (m), SLUICE_ESTATE);
    sluice_record_t rec;
    cr_assert_eq (sluice_member_record (m, &rec), 0);
    cr_assert_eq (sluice_member_join (m, 300), SLUICE_ETIMEOUT);
    sluice_member_destroy (&m);
}

Test (sluice_api, record_value_as_json)
{
    //  {"n": 1, "s": "x"} in msgpack.
    const unsigned char value[] = {0x82, 0xa1, 'n', 0x01, 0xa1, 's', 0xa1, 'x'};
    sluice_record_t rec = {.offset = 3, .value = value, .value_len = sizeof value};
    char *json = sluice_record_value_json (&rec);
    cr_assert_str_eq (json, "{\"n\":1,\"s\":\"x\"}");
    free (json);
    //  Truncated: no text, no crash.
    rec.value_len = 5;
    cr_assert_null (sluice_record_value_json (&rec));
    cr_assert_null (sluice_record_value_json (NULL));
    cr_assert_str_eq (sluice_version (), "0.1.0");
}
