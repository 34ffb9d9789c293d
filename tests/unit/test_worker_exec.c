/*  test_worker_exec.c - the worker's operator host (worker/worker.c,
    sl_worker_proc_t), the exec operator (worker/op_exec.c), the
    pass-through and the registry (worker/operator.c), driven in-process.
*/
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "operator.h"
#include "sl_batch.h"
#include "sl_buf.h"
#include "sl_error.h"
#include "sl_json.h"
#include "sl_util.h"
#include "worker.h"

#define BASE_OFFSET 100
#define TS 1795694400000

static const uint8_t s_headers[] = {0x81, 0xa1, 'h', 0xa1, 'v'}; //  {"h": "v"}

//  A batch of records whose values are the JSON texts given, key "k<i>",
//  headers {"h": "v"}, timestamps TS + i.
static void
s_batch (sl_buf_t *batch, const char *const *values, size_t n)
{
    sl_json_t *json = sl_json_new ();
    sl_buf_t value;
    sl_buf_init (&value, 0);
    sl_buf_reset (batch);
    for (size_t i = 0; i < n; i++) {
        char why[128];
        sl_buf_reset (&value);
        cr_assert_eq (
            sl_json_to_msgpack (json, values[i], strlen (values[i]), &value, why, sizeof why), 0,
            "%s", why);
        char key[32];
        snprintf (key, sizeof key, "k%zu", i);
        cr_assert_eq (sl_record_encode (batch, TS + (int64_t)i, key, (uint32_t)strlen (key), false,
                                        s_headers, sizeof s_headers, value.data, value.len),
                      0);
    }
    sl_buf_free (&value);
    sl_json_destroy (&json);
}

//  The output's values as one JSON array text; also checks every output
//  record's key, headers and timestamp against the input it came from,
//  whose index is given by the key (k<i>).
static char *
s_values (sl_worker_proc_t *proc)
{
    size_t len = 0;
    uint32_t count = 0;
    const uint8_t *data = sl_worker_proc_output (proc, &len, &count);
    cr_assert_eq (sl_batch_validate (data, len, count, 512), 0, "output is a valid batch");
    sl_json_t *json = sl_json_new ();
    sl_buf_t text;
    sl_buf_init (&text, 0);
    sl_buf_append_str (&text, "[");
    sl_record_iter_t it;
    sl_record_iter_init (&it, data, len, count, 0);
    sl_record_t rec;
    for (uint32_t i = 0; i < count; i++) {
        cr_assert_eq (sl_record_iter_next (&it, &rec), 1);
        cr_assert_not_null (rec.key);
        cr_assert_eq (rec.key[0], 'k');
        int index = atoi ((const char *)rec.key + 1);
        cr_assert_eq (rec.timestamp, TS + index, "output keeps its input's timestamp");
        cr_assert_eq (rec.headers_len, sizeof s_headers);
        cr_assert_eq (memcmp (rec.headers, s_headers, sizeof s_headers), 0);
        if (i) {
            sl_buf_append_str (&text, ",");
        }
        cr_assert_eq (sl_msgpack_to_json (json, rec.value, rec.value_len, &text), 0);
    }
    sl_buf_append (&text, "]", 2);
    char *result = strdup ((const char *)text.data);
    sl_buf_free (&text);
    sl_json_destroy (&json);
    return result;
}

typedef struct {
    sl_op_resolved_t resolved;
    sl_worker_proc_t *proc;
    sl_buf_t batch;
} s_fixture_t;

static void
s_exec_open (s_fixture_t *f, const char *command, int64_t timeout_ms)
{
    sl_op_spec_t spec = {.kind = SL_OPK_EXEC, .arg = command, .exec_timeout_ms = timeout_ms};
    char why[256];
    cr_assert_eq (sl_op_resolve (&spec, &f->resolved, why, sizeof why), 0, "%s", why);
    f->proc = sl_worker_proc_new (&f->resolved, why, sizeof why);
    cr_assert_not_null (f->proc, "%s", why);
    sl_buf_init (&f->batch, 0);
}

static void
s_close (s_fixture_t *f)
{
    sl_worker_proc_destroy (&f->proc);
    cr_assert_null (f->proc);
    sl_op_resolved_free (&f->resolved);
    sl_buf_free (&f->batch);
}

static void
s_run (s_fixture_t *f, const char *const *values, size_t n)
{
    s_batch (&f->batch, values, n);
    cr_assert_eq (
        sl_worker_proc_batch (f->proc, f->batch.data, f->batch.len, (uint32_t)n, BASE_OFFSET), 0);
}

static void
s_expect_values (s_fixture_t *f, const char *expected)
{
    char *got = s_values (f->proc);
    cr_assert_str_eq (got, expected);
    free (got);
}

//  No child of ours is left running or unreaped.
static void
s_expect_no_children (void)
{
    int status;
    errno = 0;
    cr_assert_eq (waitpid (-1, &status, WNOHANG), -1, "a child is left");
    cr_assert_eq (errno, ECHILD);
}

#define ECHO "while read l; do echo \"[$l]\"; done"

Test (worker_exec, echo_one_output_per_record)
{
    s_fixture_t f;
    s_exec_open (&f, ECHO, 0);
    const char *values[] = {"{\"n\":1}", "\"two\"", "[3,4]", "null"};
    s_run (&f, values, 4);
    s_expect_values (&f, "[{\"n\":1},\"two\",[3,4],null]");
    cr_assert_eq (sl_worker_proc_n_failed (f.proc), 0);
    //  The same child serves the next batch.
    const char *more[] = {"5"};
    s_run (&f, more, 1);
    s_expect_values (&f, "[5]");
    s_close (&f);
    s_expect_no_children ();
}

Test (worker_exec, empty_array_drops)
{
    s_fixture_t f;
    s_exec_open (&f, "while read l; do echo '[]'; done", 0);
    const char *values[] = {"1", "2", "3"};
    s_run (&f, values, 3);
    s_expect_values (&f, "[]");
    cr_assert_eq (sl_worker_proc_n_failed (f.proc), 0);
    s_close (&f);
}

Test (worker_exec, many_outputs_in_order)
{
    s_fixture_t f;
    s_exec_open (&f, "while read l; do echo \"[$l, $l, {\\\"again\\\": $l}]\"; done", 0);
    const char *values[] = {"1", "\"b\""};
    s_run (&f, values, 2);
    s_expect_values (&f, "[1,1,{\"again\":1},\"b\",\"b\",{\"again\":\"b\"}]");
    s_close (&f);
}

Test (worker_exec, child_exit_fails_in_flight_record_and_restarts)
{
    s_fixture_t f;
    //  Each child answers two records, then exits with status 3.
    s_exec_open (&f, "read l; echo \"[$l]\"; read l; echo \"[$l]\"; exit 3", 0);
    const char *values[] = {"0", "1", "2", "3", "4"};
    s_run (&f, values, 5);
    s_expect_values (&f, "[0,1,3,4]");
    cr_assert_eq (sl_worker_proc_n_failed (f.proc), 1);
    const sl_worker_failure_t *fail = sl_worker_proc_failed (f.proc, 0);
    cr_assert_eq (fail->offset, BASE_OFFSET + 2);
    cr_assert_not (fail->final, "a dead child is a transient failure (RETRY)");
    cr_assert_str_eq (fail->text, "exec: child exited with status 3");
    s_close (&f);
    s_expect_no_children ();
}

Test (worker_exec, child_killed_by_signal)
{
    s_fixture_t f;
    s_exec_open (&f, "read l; kill -9 $$", 0);
    const char *values[] = {"0"};
    s_run (&f, values, 1);
    s_expect_values (&f, "[]");
    cr_assert_eq (sl_worker_proc_n_failed (f.proc), 1);
    cr_assert_str_eq (sl_worker_proc_failed (f.proc, 0)->text, "exec: child killed by signal 9");
    s_close (&f);
    s_expect_no_children ();
}

Test (worker_exec, garbage_and_non_array_answers)
{
    s_fixture_t f;
    s_exec_open (&f,
                 "while read l; do case \"$l\" in"
                 " *bad*) echo 'this is not json';;"
                 " *obj*) echo '{\"x\": 1}';;"
                 " *) echo \"[$l]\";; esac; done",
                 0);
    const char *values[] = {"\"a\"", "\"bad\"", "\"c\"", "\"obj\"", "\"e\""};
    s_run (&f, values, 5);
    s_expect_values (&f, "[\"a\",\"c\",\"e\"]");
    cr_assert_eq (sl_worker_proc_n_failed (f.proc), 2);
    const sl_worker_failure_t *a = sl_worker_proc_failed (f.proc, 0);
    const sl_worker_failure_t *b = sl_worker_proc_failed (f.proc, 1);
    cr_assert_eq (a->offset, BASE_OFFSET + 1);
    cr_assert (strncmp (a->text, "exec: answer is not JSON", 24) == 0, "%s", a->text);
    cr_assert_eq (b->offset, BASE_OFFSET + 3);
    cr_assert_str_eq (b->text, "exec: answer is not a JSON array: {\"x\": 1}");
    size_t a_len = strlen (a->text);
    const char *tail = ": this is not json";
    cr_assert (a_len > strlen (tail) && strcmp (a->text + a_len - strlen (tail), tail) == 0,
               "the error ends with the line, without its newline: '%s'", a->text);
    s_close (&f);
    s_expect_no_children ();
}

Test (worker_exec, timeout_fails_record_and_kills_child)
{
    s_fixture_t f;
    s_exec_open (&f, "while read l; do case \"$l\" in *slow*) sleep 30;; esac; echo \"[$l]\"; done",
                 300);
    const char *values[] = {"\"a\"", "\"slow\"", "\"c\""};
    int64_t start = sl_mono_ms ();
    s_run (&f, values, 3);
    int64_t took = sl_mono_ms () - start;
    s_expect_values (&f, "[\"a\",\"c\"]");
    cr_assert_eq (sl_worker_proc_n_failed (f.proc), 1);
    const sl_worker_failure_t *fail = sl_worker_proc_failed (f.proc, 0);
    cr_assert_eq (fail->offset, BASE_OFFSET + 1);
    cr_assert_str_eq (fail->text, "exec: no answer within 300 ms");
    cr_assert (took >= 300 && took < 5000, "took %lld ms", (long long)took);
    s_close (&f);
    s_expect_no_children ();
}

Test (worker_exec, child_that_never_starts)
{
    s_fixture_t f;
    s_exec_open (&f, "exec /nonexistent/command-that-is-not-there", 0);
    const char *values[] = {"1", "2"};
    s_run (&f, values, 2);
    s_expect_values (&f, "[]");
    cr_assert_eq (sl_worker_proc_n_failed (f.proc), 2);
    cr_assert_str_eq (sl_worker_proc_failed (f.proc, 0)->text,
                      "exec: child exited with status 127");
    s_close (&f);
    s_expect_no_children ();
}

//  A batch larger than a pipe's buffer both ways: the worker must read
//  answers while it writes, or both sides block.
Test (worker_exec, pipelined_large_batch)
{
    s_fixture_t f;
    s_exec_open (&f, "cat", 0);
    enum { N = 5000 };
    static char texts[N][64];
    static const char *values[N];
    for (int i = 0; i < N; i++) {
        snprintf (texts[i], sizeof texts[i], "[%d, \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]", i);
        values[i] = texts[i];
    }
    s_run (&f, values, N);
    size_t len = 0;
    uint32_t count = 0;
    sl_worker_proc_output (f.proc, &len, &count);
    cr_assert_eq (count, 2 * N, "cat answers [i, x]: two outputs per record");
    cr_assert_eq (sl_worker_proc_n_failed (f.proc), 0);
    s_close (&f);
}

Test (worker_exec, jq_example)
{
    if (access ("/usr/bin/jq", X_OK) != 0) {
        cr_skip_test ("jq is not installed (scripts/deps installs it)");
    }
    s_fixture_t f;
    s_exec_open (&f, "jq -c --unbuffered '[select(.temp > 30) | {id, temp}]'", 0);
    const char *values[] = {"{\"id\":1,\"temp\":25,\"x\":0}", "{\"id\":2,\"temp\":35,\"x\":0}",
                            "{\"id\":3,\"temp\":31.5}"};
    s_run (&f, values, 3);
    s_expect_values (&f, "[{\"id\":2,\"temp\":35},{\"id\":3,\"temp\":31.5}]");
    s_close (&f);
    s_expect_no_children ();
}

Test (worker_exec, pass_through_copies_records)
{
    sl_op_spec_t spec = {.kind = SL_OPK_PASS};
    sl_op_resolved_t resolved;
    char why[256];
    cr_assert_eq (sl_op_resolve (&spec, &resolved, why, sizeof why), 0, "%s", why);
    sl_worker_proc_t *proc = sl_worker_proc_new (&resolved, why, sizeof why);
    cr_assert_not_null (proc);
    sl_buf_t batch;
    sl_buf_init (&batch, 0);
    const char *values[] = {"{\"a\":[1,2,{\"b\":null}]}", "-7", "\"\""};
    s_batch (&batch, values, 3);
    cr_assert_eq (sl_worker_proc_batch (proc, batch.data, batch.len, 3, BASE_OFFSET), 0);
    size_t len = 0;
    uint32_t count = 0;
    const uint8_t *out = sl_worker_proc_output (proc, &len, &count);
    cr_assert_eq (count, 3);
    cr_assert_eq (len, batch.len);
    cr_assert_eq (memcmp (out, batch.data, len), 0, "pass-through is byte for byte");
    sl_worker_proc_destroy (&proc);
    sl_op_resolved_free (&resolved);
    sl_buf_free (&batch);
}

//  A test operator: for each record it emits "first" and "second", then
//  answers by the value: 1 OK, 2 RETRY, 3 FAIL, 4 DROP, 5 emits a value
//  with trailing bytes (refused) and says OK, 6 returns 99.
static int
s_test_process (void *state, const sl_op_record_t *in, const sl_op_host_t *host)
{
    (void)state;
    static const uint8_t first[] = {0xa5, 'f', 'i', 'r', 's', 't'};
    static const uint8_t second[] = {0xa6, 's', 'e', 'c', 'o', 'n', 'd'};
    sl_op_record_t out = *in;
    out.timestamp = 0;
    out.value = first;
    out.value_len = sizeof first;
    cr_assert_eq (host->emit (host->ctx, &out), 0);
    out.value = second;
    out.value_len = sizeof second;
    cr_assert_eq (host->emit (host->ctx, &out), 0);
    int which = in->value[0];
    switch (which) {
    case 2:
        host->error (host->ctx, "try later");
        return SL_OP_RETRY;
    case 3:
        host->error (host->ctx, "never");
        return SL_OP_FAIL;
    case 4:
        return SL_OP_DROP;
    case 5: {
        static const uint8_t bad[] = {0x01, 0x02};
        out.value = bad;
        out.value_len = sizeof bad;
        cr_assert_neq (host->emit (host->ctx, &out), 0, "trailing bytes are refused");
        return SL_OP_OK;
    }
    case 6:
        return 99;
    default:
        return SL_OP_OK;
    }
}

static int s_flush_rc = SL_OP_OK;

static int
s_test_flush (void *state, const sl_op_host_t *host)
{
    (void)state;
    static const uint8_t flushed[] = {0xa7, 'f', 'l', 'u', 's', 'h', 'e', 'd'};
    sl_op_record_t out = {.value = flushed, .value_len = sizeof flushed};
    out.key = (const uint8_t *)"k9";
    out.key_len = 2;
    out.headers = s_headers;
    out.headers_len = sizeof s_headers;
    if (host->emit (host->ctx, &out) != 0) {
        return SL_OP_OK; //  the host must still fail the record (incomplete output)
    }
    if (s_flush_rc != SL_OP_OK) {
        host->error (host->ctx, "flush failed");
    }
    return s_flush_rc;
}

static const sl_operator_t s_test_op = {
    .abi = SL_OPERATOR_ABI,
    .name = "test",
    .process = s_test_process,
    .flush = s_test_flush,
};

static sl_worker_proc_t *
s_test_proc (sl_op_resolved_t *resolved)
{
    memset (resolved, 0, sizeof *resolved);
    resolved->op = &s_test_op;
    char why[256];
    sl_worker_proc_t *proc = sl_worker_proc_new (resolved, why, sizeof why);
    cr_assert_not_null (proc, "%s", why);
    return proc;
}

Test (worker_exec, failed_records_leave_no_output)
{
    sl_op_resolved_t resolved;
    sl_worker_proc_t *proc = s_test_proc (&resolved);
    sl_buf_t batch;
    sl_buf_init (&batch, 0);
    //  Keys k0..k6 index the timestamps; k9 (flush) has no input: use TS+9.
    const char *values[] = {"1", "2", "3", "4", "5", "6", "1"};
    s_batch (&batch, values, 7);
    s_flush_rc = SL_OP_OK;
    cr_assert_eq (sl_worker_proc_batch (proc, batch.data, batch.len, 7, BASE_OFFSET), 0);
    //  Records 0 and 6 keep their two outputs; 3 (DROP) keeps nothing of
    //  what it emitted; 1, 2, 4, 5 failed; flush adds one.
    size_t len = 0;
    uint32_t count = 0;
    const uint8_t *out = sl_worker_proc_output (proc, &len, &count);
    cr_assert_eq (count, 5);
    sl_record_iter_t it;
    sl_record_iter_init (&it, out, len, count, 0);
    const char *keys[] = {"k0", "k0", "k6", "k6", "k9"};
    for (int i = 0; i < 5; i++) {
        sl_record_t rec;
        cr_assert_eq (sl_record_iter_next (&it, &rec), 1);
        cr_assert_eq (rec.key_len, 2);
        cr_assert_eq (memcmp (rec.key, keys[i], 2), 0, "output %d has key %s", i, keys[i]);
    }
    cr_assert_eq (sl_worker_proc_n_failed (proc), 4);
    const sl_worker_failure_t *f1 = sl_worker_proc_failed (proc, 0);
    const sl_worker_failure_t *f2 = sl_worker_proc_failed (proc, 1);
    const sl_worker_failure_t *f4 = sl_worker_proc_failed (proc, 2);
    const sl_worker_failure_t *f5 = sl_worker_proc_failed (proc, 3);
    cr_assert_eq (f1->offset, BASE_OFFSET + 1);
    cr_assert_not (f1->final);
    cr_assert_str_eq (f1->text, "try later");
    cr_assert_eq (f2->offset, BASE_OFFSET + 2);
    cr_assert (f2->final, "FAIL is final");
    cr_assert_str_eq (f2->text, "never");
    cr_assert_eq (f4->offset, BASE_OFFSET + 4);
    cr_assert_not (f4->final, "a refused emit turns OK into RETRY");
    cr_assert (strstr (f4->text, "output record refused") != NULL, "%s", f4->text);
    cr_assert_eq (f5->offset, BASE_OFFSET + 5);
    cr_assert_not (f5->final);
    cr_assert (strstr (f5->text, "unknown code 99") != NULL, "%s", f5->text);
    cr_assert_null (sl_worker_proc_failed (proc, 4));
    sl_worker_proc_destroy (&proc);
    sl_buf_free (&batch);
}

Test (worker_exec, failed_flush_fails_last_record)
{
    sl_op_resolved_t resolved;
    sl_worker_proc_t *proc = s_test_proc (&resolved);
    sl_buf_t batch;
    sl_buf_init (&batch, 0);
    const char *values[] = {"1", "1"};
    s_batch (&batch, values, 2);
    s_flush_rc = SL_OP_RETRY;
    cr_assert_eq (sl_worker_proc_batch (proc, batch.data, batch.len, 2, BASE_OFFSET), 0);
    size_t len = 0;
    uint32_t count = 0;
    sl_worker_proc_output (proc, &len, &count);
    cr_assert_eq (count, 2, "only record 0's outputs remain");
    cr_assert_eq (sl_worker_proc_n_failed (proc), 1);
    cr_assert_eq (sl_worker_proc_failed (proc, 0)->offset, BASE_OFFSET + 1);
    cr_assert_str_eq (sl_worker_proc_failed (proc, 0)->text, "flush failed");
    s_flush_rc = SL_OP_OK;
    sl_worker_proc_destroy (&proc);
    sl_buf_free (&batch);
}

Test (worker_exec, output_limits_fail_the_record_that_passes_them)
{
    sl_op_resolved_t resolved;
    sl_worker_proc_t *proc = s_test_proc (&resolved);
    sl_buf_t batch;
    sl_buf_init (&batch, 0);
    const char *values[] = {"1", "1"};
    s_batch (&batch, values, 2);
    s_flush_rc = SL_OP_OK;
    //  Two records of two outputs fit; the flush's fifth does not.
    sl_worker_proc_set_limits (proc, 0, 4);
    cr_assert_eq (sl_worker_proc_batch (proc, batch.data, batch.len, 2, BASE_OFFSET), 0);
    size_t len = 0;
    uint32_t count = 0;
    sl_worker_proc_output (proc, &len, &count);
    //  The flush's emit was refused and flush said OK: the last record fails
    //  anyway (its output would be incomplete), and its outputs go with it.
    cr_assert_eq (count, 2);
    cr_assert_eq (sl_worker_proc_n_failed (proc), 1);
    cr_assert_eq (sl_worker_proc_failed (proc, 0)->offset, BASE_OFFSET + 1);
    sl_worker_proc_destroy (&proc);
    sl_buf_free (&batch);
}

Test (worker_exec, malformed_batch_fails_unreadable_records)
{
    sl_op_resolved_t resolved;
    sl_op_spec_t spec = {.kind = SL_OPK_PASS};
    char why[256];
    cr_assert_eq (sl_op_resolve (&spec, &resolved, why, sizeof why), 0);
    sl_worker_proc_t *proc = sl_worker_proc_new (&resolved, why, sizeof why);
    sl_buf_t batch;
    sl_buf_init (&batch, 0);
    const char *values[] = {"1", "\"two\"", "3"};
    s_batch (&batch, values, 3);
    //  Cut inside the last record; and claim five records.
    cr_assert_eq (sl_worker_proc_batch (proc, batch.data, batch.len - 1, 5, BASE_OFFSET), 0);
    size_t len = 0;
    uint32_t count = 0;
    sl_worker_proc_output (proc, &len, &count);
    cr_assert_eq (count, 2);
    cr_assert_eq (sl_worker_proc_n_failed (proc), 3);
    for (size_t i = 0; i < 3; i++) {
        const sl_worker_failure_t *f = sl_worker_proc_failed (proc, i);
        cr_assert_eq (f->offset, BASE_OFFSET + 2 + i);
        cr_assert (strstr (f->text, "malformed input batch") != NULL, "%s", f->text);
    }
    //  Empty input, lying count.
    cr_assert_eq (sl_worker_proc_batch (proc, NULL, 0, 2, BASE_OFFSET), 0);
    cr_assert_eq (sl_worker_proc_n_failed (proc), 2);
    sl_worker_proc_destroy (&proc);
    sl_op_resolved_free (&resolved);
    sl_buf_free (&batch);
}

Test (worker_exec, registry_checks_options)
{
    sl_op_resolved_t resolved;
    char why[256];
    sl_op_spec_t none = {.kind = SL_OPK_EXEC};
    cr_assert_eq (sl_op_resolve (&none, &resolved, why, sizeof why), SL_EINVAL);
    cr_assert (strstr (why, "--exec") != NULL, "%s", why);

    const char *unknown[] = {"nope=1"};
    sl_op_spec_t bad = {.kind = SL_OPK_EXEC, .arg = "cat", .options = unknown, .n_options = 1};
    cr_assert_eq (sl_op_resolve (&bad, &resolved, why, sizeof why), SL_EINVAL);
    cr_assert (strstr (why, "nope") != NULL, "%s", why);

    const char *not_int[] = {"timeout=soon"};
    sl_op_spec_t bad_int = {.kind = SL_OPK_EXEC, .arg = "cat", .options = not_int, .n_options = 1};
    cr_assert_eq (sl_op_resolve (&bad_int, &resolved, why, sizeof why), SL_EINVAL);

    const char *no_eq[] = {"timeout"};
    sl_op_spec_t bad_kv = {.kind = SL_OPK_EXEC, .arg = "cat", .options = no_eq, .n_options = 1};
    cr_assert_eq (sl_op_resolve (&bad_kv, &resolved, why, sizeof why), SL_EINVAL);

    const char *good[] = {"timeout=1500"};
    sl_op_spec_t ok = {
        .kind = SL_OPK_EXEC, .arg = "cat", .exec_timeout_ms = 99, .options = good, .n_options = 1};
    cr_assert_eq (sl_op_resolve (&ok, &resolved, why, sizeof why), 0, "%s", why);
    cr_assert_not_null (resolved.process_batch);
    bool seen_command = false, seen_timeout = false;
    for (int i = 0; i < resolved.n; i++) {
        if (strcmp (resolved.keys[i], "command") == 0) {
            seen_command = strcmp (resolved.values[i], "cat") == 0;
        }
        if (strcmp (resolved.keys[i], "timeout") == 0) {
            seen_timeout = strcmp (resolved.values[i], "1500") == 0;
        }
    }
    cr_assert (seen_command && seen_timeout, "--option beats --exec-timeout; command given");
    sl_op_resolved_free (&resolved);
    sl_op_resolved_free (&resolved); //  idempotent

    sl_op_spec_t missing = {.kind = SL_OPK_PLUGIN, .arg = "/nonexistent/plugin.so"};
    cr_assert_eq (sl_op_resolve (&missing, &resolved, why, sizeof why), SL_ENOTFOUND);
}

Test (worker_exec, lease_deadline_fails_the_rest)
{
    s_fixture_t f;
    s_exec_open (&f, "while read l; do sleep 0.2; echo \"[$l]\"; done", 0);
    const char *values[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    int64_t start = sl_mono_ms ();
    sl_worker_proc_set_deadline (f.proc, start + 500);
    s_run (&f, values, 10);
    int64_t took = sl_mono_ms () - start;
    cr_assert (took < 2000, "gave up at the deadline, took %lld ms", (long long)took);
    size_t len = 0;
    uint32_t count = 0;
    sl_worker_proc_output (f.proc, &len, &count);
    cr_assert (count >= 1 && count <= 3, "%u answered before the deadline", count);
    cr_assert_eq (sl_worker_proc_n_failed (f.proc), 10 - count);
    const sl_worker_failure_t *first = sl_worker_proc_failed (f.proc, 0);
    cr_assert_eq (first->offset, BASE_OFFSET + count, "the records after the answered ones");
    cr_assert (strstr (first->text, "lease ran out") != NULL, "%s", first->text);
    s_close (&f);
    s_expect_no_children ();
}

Test (worker_exec, lease_deadline_per_record_operator)
{
    sl_op_spec_t spec = {.kind = SL_OPK_PASS};
    sl_op_resolved_t resolved;
    char why[256];
    cr_assert_eq (sl_op_resolve (&spec, &resolved, why, sizeof why), 0);
    sl_worker_proc_t *proc = sl_worker_proc_new (&resolved, why, sizeof why);
    sl_buf_t batch;
    sl_buf_init (&batch, 0);
    const char *values[] = {"1", "2", "3"};
    s_batch (&batch, values, 3);
    sl_worker_proc_set_deadline (proc, sl_mono_ms () - 1);
    cr_assert_eq (sl_worker_proc_batch (proc, batch.data, batch.len, 3, BASE_OFFSET), 0);
    cr_assert_eq (sl_worker_proc_n_failed (proc), 3);
    sl_worker_proc_set_deadline (proc, 0);
    cr_assert_eq (sl_worker_proc_batch (proc, batch.data, batch.len, 3, BASE_OFFSET), 0);
    cr_assert_eq (sl_worker_proc_n_failed (proc), 0, "deadline 0 is none");
    sl_worker_proc_destroy (&proc);
    sl_op_resolved_free (&resolved);
    sl_buf_free (&batch);
}
