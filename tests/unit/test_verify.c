/*  test_verify.c - the counting core of sluice-verify (verify/verify.h):
    each anomaly kind, matching rules, order, examples, reports, and hostile
    input that must be counted as bad without a crash.
*/
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "sl_error.h"
#include "verify.h"

static sl_verify_t *
s_new (const char *id, const char *key)
{
    sl_verify_opts_t opts = {.id_field = id, .key_field = key, .examples = 3, .seed = 42};
    sl_verify_t *v = sl_verify_new (&opts);
    cr_assert_not_null (v);
    return v;
}

static void
s_sent (sl_verify_t *v, const char *json)
{
    char why[256];
    int rc = sl_verify_sent_json (v, json, strlen (json), why, sizeof why);
    cr_assert_eq (rc, 0, "sent %s: %d %s", json, rc, why);
}

static void
s_got (sl_verify_t *v, const char *json)
{
    char why[256];
    int rc = sl_verify_got_line (v, json, strlen (json), SL_VERIFY_GOT_AUTO, why, sizeof why);
    cr_assert_eq (rc, 0, "got %s: %d %s", json, rc, why);
}

static sl_verify_counts_t
s_counts (sl_verify_t *v)
{
    sl_verify_counts_t c;
    sl_verify_counts (v, &c);
    return c;
}

static void
s_ids (sl_verify_t *v, const char *fmt, int from, int to, bool got)
{
    char line[128];
    for (int i = from; i < to; i++) {
        snprintf (line, sizeof line, fmt, i);
        if (got) {
            s_got (v, line);
        }
        else {
            s_sent (v, line);
        }
    }
}

static void
s_assert_examples (sl_verify_t *v, sl_verify_kind_t kind, const char *expected)
{
    const char *const *texts;
    size_t n = sl_verify_examples (v, kind, &texts);
    char joined[512] = "";
    for (size_t i = 0; i < n; i++) {
        strncat (joined, i ? " " : "", sizeof joined - strlen (joined) - 1);
        strncat (joined, texts[i], sizeof joined - strlen (joined) - 1);
    }
    cr_assert_str_eq (joined, expected);
}

Test (verify, exact_copy_passes)
{
    sl_verify_t *v = s_new ("id", NULL);
    s_ids (v, "{\"id\":%d,\"x\":\"a\"}", 0, 100, false);
    s_ids (v, "{\"id\":%d,\"x\":\"a\"}", 0, 100, true);
    sl_verify_counts_t c = s_counts (v);
    cr_assert_eq (c.sent, 100);
    cr_assert_eq (c.got, 100);
    cr_assert_eq (c.delivered, 100);
    cr_assert_eq (c.lost + c.duplicated + c.unexpected + c.out_of_order, 0);
    cr_assert_eq (c.distinct, 100);
    cr_assert (sl_verify_passed (&c, true));
    sl_verify_destroy (&v);
    cr_assert_null (v);
    sl_verify_destroy (&v); //  idempotent
}

Test (verify, lost_records_counted_and_listed_in_sent_order)
{
    sl_verify_t *v = s_new ("id", NULL);
    s_ids (v, "{\"id\":%d}", 0, 10, false);
    s_got (v, "{\"id\":0}");
    s_got (v, "{\"id\":2}");
    s_got (v, "{\"id\":4}");
    sl_verify_counts_t c = s_counts (v);
    cr_assert_eq (c.lost, 7);
    cr_assert_eq (c.delivered, 3);
    cr_assert_eq (c.duplicated + c.unexpected, 0);
    cr_assert_not (sl_verify_passed (&c, false));
    s_assert_examples (v, SL_VERIFY_LOST, "1 3 5"); //  the first 3 (opts.examples)
    sl_verify_destroy (&v);
}

Test (verify, duplicates_counted_with_copies)
{
    sl_verify_t *v = s_new ("id", NULL);
    s_ids (v, "{\"id\":%d}", 0, 5, false);
    s_ids (v, "{\"id\":%d}", 0, 5, true);
    s_got (v, "{\"id\":3}");
    s_got (v, "{\"id\":3}");
    s_got (v, "{\"id\":1}");
    sl_verify_counts_t c = s_counts (v);
    cr_assert_eq (c.duplicated, 3);
    cr_assert_eq (c.lost, 0);
    cr_assert_eq (c.delivered, 5);
    cr_assert_eq (c.got, 8);
    cr_assert_eq (c.out_of_order, 0, "repeats are not order-checked");
    cr_assert_not (sl_verify_passed (&c, false));
    s_assert_examples (v, SL_VERIFY_DUPLICATED, "1 3");
    cr_assert_eq (sl_verify_example_count (v, SL_VERIFY_DUPLICATED, 0), 2);
    cr_assert_eq (sl_verify_example_count (v, SL_VERIFY_DUPLICATED, 1), 3);
    sl_verify_destroy (&v);
}

Test (verify, unexpected_records_fail)
{
    sl_verify_t *v = s_new ("id", NULL);
    s_sent (v, "{\"id\":1}");
    s_got (v, "{\"id\":1}");
    s_got (v, "{\"id\":\"1\"}"); //  the string "1" is not the number 1
    s_got (v, "{\"id\":7}");
    s_got (v, "{\"id\":7}");
    sl_verify_counts_t c = s_counts (v);
    cr_assert_eq (c.unexpected, 3);
    cr_assert_eq (c.duplicated, 0, "copies of unexpected records count as unexpected");
    cr_assert_eq (c.delivered, 1);
    cr_assert_not (sl_verify_passed (&c, false));
    s_assert_examples (v, SL_VERIFY_UNEXPECTED, "\"1\" 7");
    sl_verify_destroy (&v);
}

Test (verify, out_of_order_global_and_per_key)
{
    //  Per key a and b the output is in order; interleaved across keys it is not.
    const char *sent[] = {"{\"id\":1,\"k\":\"a\"}", "{\"id\":2,\"k\":\"b\"}",
                          "{\"id\":3,\"k\":\"a\"}", "{\"id\":4,\"k\":\"b\"}"};
    const char *got[] = {sent[0], sent[2], sent[1], sent[3]};
    sl_verify_t *global = s_new ("id", NULL);
    sl_verify_t *per_key = s_new ("id", "k");
    for (int i = 0; i < 4; i++) {
        s_sent (global, sent[i]);
        s_sent (per_key, sent[i]);
    }
    for (int i = 0; i < 4; i++) {
        s_got (global, got[i]);
        s_got (per_key, got[i]);
    }
    sl_verify_counts_t c = s_counts (global);
    cr_assert_eq (c.out_of_order, 1);
    s_assert_examples (global, SL_VERIFY_OUT_OF_ORDER, "2");
    cr_assert (sl_verify_passed (&c, false), "out of order alone passes without --ordered");
    cr_assert_not (sl_verify_passed (&c, true));
    c = s_counts (per_key);
    cr_assert_eq (c.out_of_order, 0);
    cr_assert (sl_verify_passed (&c, true));

    //  Now out of order within key a.
    sl_verify_t *v = s_new ("id", "k");
    for (int i = 0; i < 4; i++) {
        s_sent (v, sent[i]);
    }
    s_got (v, sent[2]);
    s_got (v, sent[0]);
    c = s_counts (v);
    cr_assert_eq (c.out_of_order, 1);
    cr_assert_eq (c.lost, 2);
    sl_verify_destroy (&v);
    sl_verify_destroy (&global);
    sl_verify_destroy (&per_key);
}

Test (verify, whole_values_are_a_multiset_in_canonical_form)
{
    sl_verify_t *v = s_new (NULL, NULL);
    s_sent (v, "{\"a\":1,\"b\":[1,{\"y\":2,\"x\":1}]}");
    s_sent (v, "\"twice\"");
    s_sent (v, "\"twice\"");
    s_sent (v, "1");
    //  Member order does not matter, at any depth; whitespace does not either.
    s_got (v, "{ \"b\" : [1, {\"x\":1,\"y\":2}], \"a\" : 1 }");
    s_got (v, "\"twice\"");
    s_got (v, "1.0"); //  a float is not the integer 1
    sl_verify_counts_t c = s_counts (v);
    cr_assert_eq (c.sent, 4);
    cr_assert_eq (c.delivered, 2);
    cr_assert_eq (c.lost, 2, "one \"twice\" and the integer 1");
    cr_assert_eq (c.unexpected, 1);
    cr_assert_eq (c.distinct, 4);
    s_assert_examples (v, SL_VERIFY_UNEXPECTED, "1.0");
    sl_verify_destroy (&v);
}

Test (verify, sink_json_lines_and_value_lines)
{
    sl_verify_t *v = s_new ("id", NULL);
    s_sent (v, "{\"id\":1}");
    s_sent (v, "{\"id\":2}");
    s_sent (v, "{\"id\":3}");
    char why[256];
    const char *json = "{\"offset\":0,\"timestamp\":5,\"key\":null,\"value\":{\"id\":1}}";
    cr_assert_eq (sl_verify_got_line (v, json, strlen (json), SL_VERIFY_GOT_JSON, why, sizeof why),
                  0);
    const char *plain = "{\"id\":2}";
    cr_assert_eq (
        sl_verify_got_line (v, plain, strlen (plain), SL_VERIFY_GOT_VALUE, why, sizeof why), 0);
    //  --got-format json refuses a line that is not a sink envelope.
    cr_assert_lt (
        sl_verify_got_line (v, plain, strlen (plain), SL_VERIFY_GOT_JSON, why, sizeof why), 0);
    cr_assert (strstr (why, "\"value\""), "%s", why);
    //  In value format an envelope is a value like any other: it has no "id" member... it
    //  has none at the top level, so it is bad input.
    cr_assert_lt (sl_verify_got_line (v, json, strlen (json), SL_VERIFY_GOT_VALUE, why, sizeof why),
                  0);
    s_got (v, "{\"offset\":9,\"timestamp\":5,\"key\":\"k\",\"headers\":{},\"value\":{\"id\":3}}");
    sl_verify_counts_t c = s_counts (v);
    cr_assert_eq (c.delivered, 3);
    cr_assert_eq (c.bad_got, 2);
    cr_assert (sl_verify_passed (&c, false));
    sl_verify_destroy (&v);
}

Test (verify, msgpack_values_compare_as_their_json)
{
    sl_verify_t *v = s_new ("id", NULL);
    s_sent (v, "{\"id\":5,\"b\":{\"$bin\":\"AQI=\"}}");
    //  {"id": 5 as uint16, "b": bin 01 02}: another width, and bin where the file has $bin.
    const uint8_t mp[] = {0x82, 0xa2, 'i', 'd', 0xcd, 0x00, 0x05, 0xa1, 'b', 0xc4, 0x02, 1, 2};
    char why[256];
    cr_assert_eq (sl_verify_got_msgpack (v, mp, sizeof mp, why, sizeof why), 0, "%s", why);
    sl_verify_counts_t c = s_counts (v);
    cr_assert_eq (c.delivered, 1);
    cr_assert (sl_verify_passed (&c, false));
    sl_verify_destroy (&v);

    v = s_new (NULL, NULL);
    s_sent (v, "{\"id\":5,\"b\":{\"$bin\":\"AQI=\"}}");
    cr_assert_eq (sl_verify_got_msgpack (v, mp, sizeof mp, why, sizeof why), 0, "%s", why);
    c = s_counts (v);
    cr_assert_eq (c.delivered, 1, "whole values: bin equals its $bin form");
    sl_verify_destroy (&v);
}

Test (verify, ids_that_are_objects_or_strings)
{
    sl_verify_t *v = s_new ("id", NULL);
    s_sent (v, "{\"id\":{\"a\":1,\"b\":2}}");
    s_sent (v, "{\"id\":\"x\\u0000y\"}");
    s_sent (v, "{\"id\":null}");
    s_got (v, "{\"id\":{\"b\":2,\"a\":1}}");
    s_got (v, "{\"id\":\"x\\u0000y\"}");
    s_got (v, "{\"id\":null}");
    sl_verify_counts_t c = s_counts (v);
    cr_assert_eq (c.delivered, 3);
    cr_assert (sl_verify_passed (&c, false));
    sl_verify_destroy (&v);
}

Test (verify, sent_after_got_is_refused)
{
    sl_verify_t *v = s_new ("id", NULL);
    s_got (v, "{\"id\":1}");
    char why[64];
    cr_assert_eq (sl_verify_sent_json (v, "{\"id\":1}", 8, why, sizeof why), SL_ESTATE);
    const uint8_t one = 0x01;
    cr_assert_eq (sl_verify_sent_msgpack (v, &one, 1, why, sizeof why), SL_ESTATE);
    sl_verify_counts_t c = s_counts (v);
    cr_assert_eq (c.sent, 0);
    cr_assert_eq (c.bad_sent, 0, "a programmer error is not bad input");
    cr_assert_eq (c.unexpected, 1);
    sl_verify_destroy (&v);
}

Test (verify, empty_field_names_are_refused)
{
    sl_verify_opts_t opts = {.id_field = ""};
    cr_assert_null (sl_verify_new (&opts));
    opts = (sl_verify_opts_t){.key_field = ""};
    cr_assert_null (sl_verify_new (&opts));
}

Test (verify, hostile_json_lines_are_counted_not_fatal)
{
    sl_verify_t *v = s_new ("id", NULL);
    static char deep[20002];
    memset (deep, '[', 10000);
    memset (deep + 10000, ']', 10000);
    deep[20000] = '\0';
    const char *bad[] = {
        "",                                        //  empty
        "{\"id\":1",                               //  truncated
        "{\"id\":1}}",                             //  trailing garbage
        "{\"id\":1} {\"id\":2}",                   //  two values
        "[1,2,3]",                                 //  not an object
        "42",                                      //  not an object
        "{\"name\":\"no id\"}",                    //  no id member
        "{\"id\":123456789012345678901234567890}", //  past 64 bits
        "{\"id\":\"\xff\xfe\"}",                   //  invalid UTF-8
        "{\"id\":\"\\ud800\"}",                    //  lone surrogate
        "{\"id\":NaN}",
        deep, //  10k deep
    };
    char why[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        int rc = sl_verify_sent_json (v, bad[i], strlen (bad[i]), why, sizeof why);
        cr_assert_lt (rc, 0, "line %zu accepted", i);
        cr_assert_neq (rc, SL_ESTATE);
        cr_assert_neq (why[0], '\0', "line %zu: no reason given", i);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        int rc =
            sl_verify_got_line (v, bad[i], strlen (bad[i]), SL_VERIFY_GOT_AUTO, why, sizeof why);
        cr_assert_lt (rc, 0, "got line %zu accepted", i);
        cr_assert_neq (why[0], '\0', "got line %zu: no reason given", i);
    }
    size_t n = sizeof bad / sizeof bad[0];
    //  A sink envelope whose "value" is missing, and --id on a non-object value.
    const char *envelope = "{\"offset\":1,\"timestamp\":2,\"key\":null}";
    cr_assert_lt (
        sl_verify_got_line (v, envelope, strlen (envelope), SL_VERIFY_GOT_JSON, why, sizeof why),
        0);
    sl_verify_counts_t c = s_counts (v);
    cr_assert_eq (c.bad_sent, n);
    cr_assert_eq (c.bad_got, n + 1);
    cr_assert_eq (c.sent + c.got, 0);
    cr_assert (sl_verify_passed (&c, true), "bad input alone does not fail the check");
    sl_verify_count_bad (v, true);
    c = s_counts (v);
    cr_assert_eq (c.bad_got, n + 2);
    sl_verify_destroy (&v);
}

Test (verify, hostile_msgpack_values_are_counted_not_fatal)
{
    sl_verify_t *v = s_new (NULL, NULL);
    static uint8_t deep[2000];
    memset (deep, 0x91, sizeof deep - 1);
    deep[sizeof deep - 1] = 0x01;
    struct {
        const uint8_t *data;
        size_t len;
    } bad[] = {
        {(const uint8_t *)"\xdb\xff\xff\xff\xff", 5},     //  str claiming 4 GiB
        {(const uint8_t *)"\xdd\xff\xff\xff\xff\x01", 6}, //  array claiming 4G items
        {(const uint8_t *)"\xdf\x7f\xff\xff\xff", 5},     //  map claiming 2G pairs
        {(const uint8_t *)"\xc1", 1},                     //  reserved byte
        {(const uint8_t *)"\x92\x01", 2},                 //  truncated array
        {(const uint8_t *)"\x01\x02", 2},                 //  trailing bytes
        {(const uint8_t *)"", 0},                         //  nothing
        {deep, sizeof deep},                              //  1999 deep
    };
    char why[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_lt (sl_verify_got_msgpack (v, bad[i].data, bad[i].len, why, sizeof why), 0,
                      "value %zu accepted", i);
    }
    sl_verify_counts_t c = s_counts (v);
    cr_assert_eq (c.bad_got, sizeof bad / sizeof bad[0]);
    cr_assert_eq (c.got, 0);
    sl_verify_destroy (&v);
}

Test (verify, many_ids_bounded_memory)
{
    sl_verify_t *v = s_new ("id", NULL);
    const int n = 200000;
    s_ids (v, "{\"id\":%d,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", 0, n, false);
    s_ids (v, "{\"id\":%d,\"pad\":\"yyyy\"}", 1, n, true);
    s_got (v, "{\"id\":77}");
    sl_verify_counts_t c = s_counts (v);
    cr_assert_eq (c.distinct, (uint64_t)n);
    cr_assert_eq (c.lost, 1);
    cr_assert_eq (c.duplicated, 1);
    s_assert_examples (v, SL_VERIFY_LOST, "0");
    //  Per id: the entry, its key bytes (here 1-5 bytes: the id only, not the value)
    //  and table slots; about 80 bytes, never the record.
    cr_assert_lt (c.memory / (uint64_t)n, 120, "%llu bytes per id",
                  (unsigned long long)(c.memory / (uint64_t)n));
    sl_verify_destroy (&v);
}

Test (verify, reports_are_valid_json_and_readable_tables)
{
    sl_verify_t *v = s_new ("id", NULL);
    s_sent (v, "{\"id\":\"a\\\"b\"}");
    s_sent (v, "{\"id\":2}");
    s_got (v, "{\"id\":2}");
    s_got (v, "{\"id\":2}");
    s_got (v, "{\"id\":[3]}");
    sl_buf_t out;
    sl_buf_init (&out, 0);
    cr_assert_eq (sl_verify_report_json (v, false, &out), 0);
    cr_assert_eq (sl_buf_append (&out, "", 1), 0);
    json_object *obj = json_tokener_parse ((const char *)out.data);
    cr_assert_not_null (obj, "not JSON: %s", out.data);
    json_object *f;
    cr_assert (json_object_object_get_ex (obj, "passed", &f));
    cr_assert_not (json_object_get_boolean (f));
    cr_assert (json_object_object_get_ex (obj, "lost", &f));
    cr_assert_eq (json_object_get_int64 (f), 1);
    cr_assert (json_object_object_get_ex (obj, "lost_first", &f));
    cr_assert_str_eq (json_object_get_string (json_object_array_get_idx (f, 0)), "a\"b");
    cr_assert (json_object_object_get_ex (obj, "duplicated_first", &f));
    json_object *d = json_object_array_get_idx (f, 0), *copies;
    cr_assert (json_object_object_get_ex (d, "copies", &copies));
    cr_assert_eq (json_object_get_int64 (copies), 2);
    cr_assert (json_object_object_get_ex (obj, "unexpected", &f));
    cr_assert_eq (json_object_get_int64 (f), 1);
    cr_assert (json_object_object_get_ex (obj, "id", &f));
    cr_assert_str_eq (json_object_get_string (f), "id");
    json_object_put (obj);

    sl_buf_reset (&out);
    cr_assert_eq (sl_verify_report_table (v, false, &out), 0);
    cr_assert_eq (sl_buf_append (&out, "", 1), 0);
    const char *t = (const char *)out.data;
    cr_assert (strstr (t, "FAIL: 1 lost, 1 duplicated, 1 unexpected"), "%s", t);
    cr_assert (strstr (t, "first: \"a\\\"b\""), "%s", t);
    cr_assert (strstr (t, "2 (x2)"), "%s", t);
    sl_buf_free (&out);
    sl_verify_destroy (&v);
}
