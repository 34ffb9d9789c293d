/*  test_window.c - event-time windows (lib/group/sl_window.c, lib/group/sl_agg.c):
    spec and --agg parsing, window assignment (tumbling, hopping, session
    merging), stream time and lateness at their boundaries, the result
    record, and the stored state's round trip and hostile decoding.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lib/core/sl_error.h"
#include "lib/codec/sl_json.h"
#include "lib/codec/sl_mp.h"
#include "lib/group/sl_window.h"

#define MAX_EMITS 64

typedef struct {
    int n;
    int64_t start[MAX_EMITS], end[MAX_EMITS];
    char json[MAX_EMITS][512];
} emits_t;

static sl_json_t *s_json;

static int
s_emit (void *ctx, int64_t start, int64_t end, const uint8_t *value, size_t len)
{
    emits_t *e = ctx;
    cr_assert_lt (e->n, MAX_EMITS);
    e->start[e->n] = start;
    e->end[e->n] = end;
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    cr_assert_eq (sl_msgpack_to_json (s_json, value, len, &buf), 0);
    snprintf (e->json[e->n], sizeof e->json[e->n], "%.*s", (int)buf.len, (char *)buf.data);
    sl_buf_free (&buf);
    e->n++;
    return 0;
}

//  A value {"amount": a} as msgpack (a < 0: no amount).
static size_t
s_value (uint8_t *out, int64_t amount)
{
    size_t n = 0;
    if (amount < 0) {
        return sl_mp_write_map (out, 16, 0);
    }
    n += sl_mp_write_map (out + n, 16, 1);
    n += sl_mp_write_str_header (out + n, 16, 6);
    memcpy (out + n, "amount", 6);
    n += 6;
    n += sl_mp_write_int (out + n, 16, amount);
    return n;
}

static const uint8_t KEY[] = {0xa1, 'k'}; //  "k"

static sl_win_t *
s_win (const char *spec_text, int64_t lateness, const char *aggs_text)
{
    sl_win_spec_t spec;
    const char *why = NULL;
    cr_assert_eq (sl_win_spec_parse (spec_text, &spec, &why), 0, "%s", why);
    sl_agg_t aggs[SL_WIN_MAX_AGGS];
    size_t n;
    cr_assert_eq (sl_agg_parse (aggs_text, aggs, &n, &why), 0, "%s", why);
    sl_win_t *win = sl_win_new (&spec, lateness, aggs, n);
    cr_assert_not_null (win);
    return win;
}

static bool
s_add (sl_win_t *win, sl_win_key_t *key, int64_t t, int64_t amount, uint64_t offset, emits_t *e)
{
    uint8_t value[32];
    size_t len = s_value (value, amount);
    bool late = false;
    cr_assert_eq (sl_win_add (win, key, KEY, sizeof KEY, t, value, len, offset, &late, s_emit, e),
                  0);
    return late;
}

static void
setup (void)
{
    s_json = sl_json_new ();
}

static void
teardown (void)
{
    sl_json_destroy (&s_json);
}

TestSuite (window, .init = setup, .fini = teardown);

Test (window, spec_parse)
{
    sl_win_spec_t spec;
    const char *why;
    cr_assert_eq (sl_win_spec_parse ("tumbling:10s", &spec, &why), 0);
    cr_assert_eq (spec.kind, SL_WIN_TUMBLING);
    cr_assert_eq (spec.size, 10000);
    cr_assert_eq (sl_win_spec_parse ("hopping:1m/15s", &spec, &why), 0);
    cr_assert_eq (spec.size, 60000);
    cr_assert_eq (spec.advance, 15000);
    cr_assert_eq (sl_win_spec_parse ("session:500ms", &spec, &why), 0);
    cr_assert_eq (spec.gap, 500);
    cr_assert_eq (sl_win_spec_parse ("tumbling:1d", &spec, &why), 0);
    cr_assert_eq (spec.size, 86400000);
    const char *bad[] = {
        "tumbling:10",    "tumbling:",   "tumbling:0s", "hopping:10s", "hopping:5s/10s",
        "hopping:1h/1ms", "session:-1s", "sliding:1s",  "10s",         "",
        "tumbling:1x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq (sl_win_spec_parse (bad[i], &spec, &why), SL_EINVAL, "%s", bad[i]);
        cr_assert_not_null (why);
    }
}

Test (window, agg_parse)
{
    sl_agg_t aggs[SL_WIN_MAX_AGGS];
    size_t n;
    const char *why;
    cr_assert_eq (
        sl_agg_parse ("count,sum:amount,avg:a.b,min:x,max:x,first:y,last:y", aggs, &n, &why), 0);
    cr_assert_eq (n, 7);
    cr_assert_eq (aggs[2].kind, SL_AGG_AVG);
    cr_assert_str_eq (aggs[2].path, "a.b");
    const char *bad[] = {"",       "sum",         "sum:",   "count:x",  "median:x", "count,,sum:a",
                         "count,", "count,count", "sum:.a", "sum:a..b", "sum:a."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq (sl_agg_parse (bad[i], aggs, &n, &why), SL_EINVAL, "%s", bad[i]);
    }
}

Test (window, tumbling_closes_at_end_plus_lateness_exactly)
{
    sl_win_t *win = s_win ("tumbling:10s", 5000, "count,sum:amount");
    sl_win_key_t *key = sl_win_key_new ();
    emits_t e = {0};
    cr_assert_not (s_add (win, key, 1000, 1, 0, &e));
    cr_assert_not (s_add (win, key, 9999, 2, 1, &e));  //  last ms of [0, 10000)
    cr_assert_not (s_add (win, key, 14999, 4, 2, &e)); //  stream time 14999 < 15000
    cr_assert_eq (e.n, 0);
    cr_assert_not (s_add (win, key, 5000, 8, 3, &e));   //  out of order, still open
    cr_assert_not (s_add (win, key, 15000, 16, 4, &e)); //  reaches 10000 + 5000: closes
    cr_assert_eq (e.n, 1);
    cr_assert_eq (e.start[0], 0);
    cr_assert_eq (e.end[0], 10000);
    cr_assert_str_eq (e.json[0], "{\"key\":\"k\",\"start\":0,\"end\":10000,\"count\":3,"
                                 "\"sum\":{\"amount\":11}}");
    //  Now [0, 10000) is closed for the key: a record for it is late.
    cr_assert (s_add (win, key, 9999, 100, 5, &e));
    cr_assert_eq (e.n, 1);
    //  [10000, 20000) is open until stream time 25000.
    cr_assert_not (s_add (win, key, 10000, 32, 6, &e));
    cr_assert_not (s_add (win, key, 24999, 0, 7, &e));
    cr_assert_eq (e.n, 1);
    cr_assert_not (s_add (win, key, 25000, 0, 8, &e));
    cr_assert_eq (e.n, 2);
    cr_assert_str_eq (e.json[1], "{\"key\":\"k\",\"start\":10000,\"end\":20000,\"count\":3,"
                                 "\"sum\":{\"amount\":52}}");
    sl_win_key_destroy (&key);
    sl_win_destroy (&win);
}

Test (window, zero_lateness_and_negative_times)
{
    sl_win_t *win = s_win ("tumbling:1s", 0, "count");
    sl_win_key_t *key = sl_win_key_new ();
    emits_t e = {0};
    cr_assert_not (s_add (win, key, -1, -1, 0, &e)); //  window [-1000, 0)
    cr_assert_not (s_add (win, key, 0, -1, 1, &e));  //  closes [-1000, 0)
    cr_assert_eq (e.n, 1);
    cr_assert_eq (e.start[0], -1000);
    cr_assert_eq (e.end[0], 0);
    cr_assert (s_add (win, key, -500, -1, 2, &e)); //  late
    sl_win_key_destroy (&key);
    sl_win_destroy (&win);
}

Test (window, hopping_assigns_every_window_and_late_only_when_all_closed)
{
    sl_win_t *win = s_win ("hopping:10s/5s", 0, "count");
    sl_win_key_t *key = sl_win_key_new ();
    emits_t e = {0};
    cr_assert_not (s_add (win, key, 7000, -1, 0, &e)); //  [0,10000) and [5000,15000)
    cr_assert_eq (sl_win_key_open (key), 2);
    cr_assert_not (s_add (win, key, 10000, -1, 1, &e)); //  closes [0,10000); adds [10000,20000)
    cr_assert_eq (e.n, 1);
    cr_assert_eq (e.start[0], 0);
    //  6000 is in [0,10000) (closed) and [5000,15000) (open): counted in the open one only.
    cr_assert_not (s_add (win, key, 6000, -1, 2, &e));
    cr_assert_not (s_add (win, key, 15000, -1, 3, &e));
    cr_assert_eq (e.n, 2);
    cr_assert_eq (e.start[1], 5000);
    cr_assert_str_eq (e.json[1], "{\"key\":\"k\",\"start\":5000,\"end\":15000,\"count\":3}");
    //  4000 is in [-5000,5000) and [0,10000): both closed, late.
    cr_assert (s_add (win, key, 4000, -1, 4, &e));
    sl_win_key_destroy (&key);
    sl_win_destroy (&win);
}

Test (window, session_merges_and_closes)
{
    sl_win_t *win = s_win ("session:10s", 5000, "count,first:amount,last:amount");
    sl_win_key_t *key = sl_win_key_new ();
    emits_t e = {0};
    cr_assert_not (s_add (win, key, 0, 1, 0, &e));     //  [0, 10000)
    cr_assert_not (s_add (win, key, 25000, 2, 1, &e)); //  closes [0,10000); [25000, 35000)
    cr_assert_eq (e.n, 1);
    cr_assert_str_eq (e.json[0], "{\"key\":\"k\",\"start\":0,\"end\":10000,\"count\":1,"
                                 "\"first\":{\"amount\":1},\"last\":{\"amount\":1}}");
    //  Open at stream time 25000: [12000, 22000) does not touch [25000, 35000).
    cr_assert_not (s_add (win, key, 12000, 3, 2, &e));
    cr_assert_eq (sl_win_key_open (key), 2);
    //  20000 -> [20000, 30000) overlaps both: one session [12000, 35000).
    cr_assert_not (s_add (win, key, 20000, 4, 3, &e));
    cr_assert_eq (sl_win_key_open (key), 1);
    cr_assert_not (s_add (win, key, 45000, 5, 4, &e)); //  closes [12000, 35000)
    cr_assert_eq (e.n, 2);
    cr_assert_str_eq (e.json[1], "{\"key\":\"k\",\"start\":12000,\"end\":35000,\"count\":3,"
                                 "\"first\":{\"amount\":2},\"last\":{\"amount\":4}}");
    //  A record whose own session [t, t + 10000) closes by stream time 45000 is late.
    cr_assert (s_add (win, key, 30000, 6, 5, &e));
    cr_assert_not (s_add (win, key, 30001, 6, 6, &e)); //  [30001, 40001): open
    sl_win_key_destroy (&key);
    sl_win_destroy (&win);
}

Test (window, aggregates_types_missing_fields_and_overflow)
{
    sl_win_t *win = s_win ("tumbling:10s", 0, "count,sum:amount,avg:amount,min:amount,max:amount");
    sl_win_key_t *key = sl_win_key_new ();
    emits_t e = {0};
    s_add (win, key, 1, 3, 0, &e);
    s_add (win, key, 2, -1, 1, &e); //  no amount: counted only
    s_add (win, key, 3, 10, 2, &e);
    s_add (win, key, 10000, -1, 3, &e);
    cr_assert_eq (e.n, 1);
    cr_assert_str_eq (e.json[0], "{\"key\":\"k\",\"start\":0,\"end\":10000,\"count\":3,"
                                 "\"sum\":{\"amount\":13},\"avg\":{\"amount\":6.5},"
                                 "\"min\":{\"amount\":3},\"max\":{\"amount\":10}}");
    //  A window whose records have no amount: sum 0, the others null.
    s_add (win, key, 20000, -1, 4, &e);
    cr_assert_eq (e.n, 2);
    cr_assert_str_eq (e.json[1], "{\"key\":\"k\",\"start\":10000,\"end\":20000,\"count\":1,"
                                 "\"sum\":{\"amount\":0},\"avg\":{\"amount\":null},"
                                 "\"min\":{\"amount\":null},\"max\":{\"amount\":null}}");
    //  Past 64 bits the sum goes on as a float.
    s_add (win, key, 20001, INT64_MAX, 5, &e);
    s_add (win, key, 20002, INT64_MAX, 6, &e);
    s_add (win, key, 30000, -1, 7, &e);
    cr_assert_eq (e.n, 3);
    cr_assert (strstr (e.json[2], "\"sum\":{\"amount\":1.8446744073709552e+19}"), "%s", e.json[2]);
    sl_win_key_destroy (&key);
    sl_win_destroy (&win);
}

Test (window, idle_close_all_moves_stream_time)
{
    sl_win_t *win = s_win ("tumbling:10s", 5000, "count");
    sl_win_key_t *key = sl_win_key_new ();
    emits_t e = {0};
    s_add (win, key, 1000, -1, 0, &e);
    s_add (win, key, 12000, -1, 1, &e);
    cr_assert_eq (sl_win_close_all (win, key, KEY, sizeof KEY, s_emit, &e), 0);
    cr_assert_eq (e.n, 2);
    cr_assert_eq (sl_win_key_open (key), 0);
    cr_assert (s_add (win, key, 19999, -1, 2, &e)); //  its window was closed: late
    cr_assert_not (s_add (win, key, 20000, -1, 3, &e));
    sl_win_key_destroy (&key);
    sl_win_destroy (&win);
}

Test (window, state_round_trip_continues_identically)
{
    sl_win_t *win = s_win ("hopping:10s/5s", 2000, "count,sum:amount,first:amount,min:amount");
    sl_win_key_t *a = sl_win_key_new ();
    emits_t ea = {0}, eb = {0};
    s_add (win, a, 1000, 5, 0, &ea);
    s_add (win, a, 7000, 6, 1, &ea);
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    cr_assert_eq (sl_win_key_encode (win, a, &buf), 0);
    int err = 0;
    sl_win_key_t *b = sl_win_key_decode (win, buf.data, buf.len, &err);
    cr_assert_not_null (b, "%d", err);
    ea.n = 0; //  what closed before the copy is not compared
    for (int64_t t = 9000; t < 40000; t += 3000) {
        s_add (win, a, t, t / 1000, (uint64_t)t, &ea);
        s_add (win, b, t, t / 1000, (uint64_t)t, &eb);
    }
    cr_assert_gt (ea.n, 3);
    cr_assert_eq (ea.n, eb.n, "%d %d: %s / %s", ea.n, eb.n, ea.json[0], eb.json[0]);
    for (int i = 0; i < ea.n; i++) {
        cr_assert_str_eq (ea.json[i], eb.json[i]);
    }
    //  Every truncation of the state is refused, never read past.
    for (size_t cut = 0; cut < buf.len; cut++) {
        cr_assert_null (sl_win_key_decode (win, buf.data, cut, &err), "cut %zu", cut);
    }
    //  A state of another --agg list does not fit.
    sl_win_t *other = s_win ("hopping:10s/5s", 2000, "count");
    cr_assert_null (sl_win_key_decode (other, buf.data, buf.len, &err));
    //  A count claiming more windows than allowed.
    const uint8_t hostile[] = {0x92, 0x01, 0xdd, 0x7f, 0xff, 0xff, 0xff};
    cr_assert_null (sl_win_key_decode (win, hostile, sizeof hostile, &err));
    sl_win_destroy (&other);
    sl_buf_free (&buf);
    sl_win_key_destroy (&a);
    sl_win_key_destroy (&b);
    sl_win_destroy (&win);
}

//  A released key's memory is what the next take or decode gets, empty:
//  no windows, no stream time left over from the key it was.
Test (window, released_keys_come_back_empty)
{
    sl_win_t *win = s_win ("tumbling:10s", 0, "count,sum:amount,first:amount");
    sl_win_key_t *a = sl_win_key_take (win);
    emits_t ea = {0}, eb = {0};
    s_add (win, a, 1000, 5, 0, &ea);
    s_add (win, a, 15000, 6, 1, &ea); //  closes [0,10s): stream time 15s
    cr_assert_eq (sl_win_key_open (a), 1);
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    cr_assert_eq (sl_win_key_encode (win, a, &buf), 0);
    sl_win_key_t *was = a;
    sl_win_key_release (win, &a);
    cr_assert_null (a);
    sl_win_key_t *b = sl_win_key_take (win);
    cr_assert_eq (b, was, "the released key's memory");
    cr_assert_eq (sl_win_key_open (b), 0);
    //  Empty: a record at 1s opens a window (not late for stream time 15s).
    s_add (win, b, 1000, 7, 2, &eb);
    cr_assert_eq (sl_win_key_open (b), 1, "a fresh key takes a record of [0,10s)");
    sl_win_key_release (win, &b);
    //  Decoded into the released memory: the state as encoded.
    int err = 0;
    sl_win_key_t *c = sl_win_key_decode (win, buf.data, buf.len, &err);
    cr_assert_eq (c, was);
    sl_buf_t again;
    sl_buf_init (&again, 0);
    cr_assert_eq (sl_win_key_encode (win, c, &again), 0);
    cr_assert_eq (again.len, buf.len);
    cr_assert_eq (memcmp (again.data, buf.data, buf.len), 0);
    //  A refused state gives its memory back too; the next take is empty.
    cr_assert_null (sl_win_key_decode (win, buf.data, buf.len - 1, &err));
    sl_win_key_t *d = sl_win_key_take (win);
    cr_assert_eq (sl_win_key_open (d), 0);
    sl_win_key_release (win, &c);
    sl_win_key_release (win, &d); //  one kept, the other freed
    sl_buf_free (&buf);
    sl_buf_free (&again);
    cr_assert_eq (ea.n, 1);
    cr_assert_eq (eb.n, 0);
    sl_win_destroy (&win);
}

Test (window, path_and_time)
{
    //  {"x": 1, "a": {"b": 7}}
    const uint8_t v[] = {0x82, 0xa1, 'x', 0x01, 0xa1, 'a', 0x81, 0xa1, 'b', 0x07};
    size_t n = sizeof v;
    const uint8_t *out;
    size_t len;
    cr_assert_eq (sl_mp_path (v, n, "a.b", &out, &len), 1);
    cr_assert_eq (out[0], 7);
    cr_assert_eq (sl_mp_path (v, n, "a.c", &out, &len), 0);
    cr_assert_eq (sl_mp_path (v, n, "a.b.c", &out, &len), 0);
    int64_t ms;
    const uint8_t str[] = {0xb4, '2', '0', '2', '6', '-', '0', '1', '-', '0', '1',
                           'T',  '0', '0', ':', '0', '0', ':', '0', '1', 'Z'};
    cr_assert_eq (sl_win_time_of (str, sizeof str, &ms), 0);
    cr_assert_eq (ms, 1767225601000);
    const uint8_t i[] = {0xcd, 0x01, 0x00};
    cr_assert_eq (sl_win_time_of (i, sizeof i, &ms), 0);
    cr_assert_eq (ms, 256);
    const uint8_t nil[] = {0xc0};
    cr_assert_eq (sl_win_time_of (nil, 1, &ms), SL_ETYPE);
}

//  A closed window's accumulators are reused for the next window opened
//  (sl_window.c's spares): every window starts from nothing, whatever the
//  closed one held (counts, sums, min/max, first/last values), over more
//  windows than the spares hold.
Test (window, reused_accumulators_start_empty)
{
    sl_win_t *win = s_win ("tumbling:1s", 0,
                           "count,sum:amount,min:amount,max:amount,"
                           "first:amount,last:amount");
    sl_win_key_t *keys[3] = {sl_win_key_new (), sl_win_key_new (), sl_win_key_new ()};
    emits_t e = {0};
    uint64_t offset = 0;
    for (int w = 0; w < 20; w++) {
        for (int k = 0; k < 3; k++) {
            //  Window w: one record (amount w) for key 0, none for the rest of
            //  its keys in odd windows, so a reused array's old values would show.
            if (k == 0 || w % 2 == 0) {
                cr_assert_not (s_add (win, keys[k], w * 1000 + k, w, offset++, &e));
            }
        }
        if (e.n > MAX_EMITS - 4) {
            e.n = 0;
        }
    }
    //  The last closed window of key 0: [18000, 19000) with its one record.
    cr_assert_geq (e.n, 1);
    char want[512];
    snprintf (want, sizeof want,
              "{\"key\":\"k\",\"start\":18000,\"end\":19000,\"count\":1,\"sum\":{\"amount\":18},"
              "\"min\":{\"amount\":18},\"max\":{\"amount\":18},\"first\":{\"amount\":18},"
              "\"last\":{\"amount\":18}}");
    cr_assert_str_eq (e.json[e.n - 1], want);
    //  A window of only records without the field: empty aggregates (sum 0,
    //  the others nil), nothing carried over from a reused array.
    cr_assert_not (s_add (win, keys[0], 30000, -1, offset++, &e));
    cr_assert_not (s_add (win, keys[0], 31000, -1, offset++, &e));
    cr_assert_str_eq (e.json[e.n - 1],
                      "{\"key\":\"k\",\"start\":30000,\"end\":31000,\"count\":1,\"sum\":{"
                      "\"amount\":0},\"min\":{\"amount\":null},\"max\":{\"amount\":null},"
                      "\"first\":{\"amount\":null},\"last\":{\"amount\":null}}");
    for (int k = 0; k < 3; k++) {
        sl_win_key_destroy (&keys[k]);
    }
    sl_win_destroy (&win);
}
