/*  verify_report.c - sluice-verify's reports: one JSON object for scripts,
    a table for people. Both say the same: the counts, how values were
    matched and ordered, whether the run passed, and the first keys of each
    anomaly.
*/
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sl_error.h"
#include "sl_mp.h"
#include "verify_int.h"

static const char *s_kind_name[SL_VERIFY_KINDS] = {"lost", "duplicated", "unexpected",
                                                   "out_of_order"};

static int s_printf (sl_buf_t *out, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static int
s_printf (sl_buf_t *out, const char *fmt, ...)
{
    char line[512];
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (line, sizeof line, fmt, args);
    va_end (args);
    if (n < 0) {
        return SL_EINVAL;
    }
    return sl_buf_append (out, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

//  A C string as a JSON string, or null.
static int
s_json_string (const char *text, sl_buf_t *out)
{
    return text ? sl_json_put_string (out, text, strlen (text)) : sl_buf_append_str (out, "null");
}

int
sl_verify_report_json (sl_verify_t *self, bool ordered, sl_buf_t *out)
{
    sl_verify_counts_t c;
    sl_verify_counts (self, &c);
    const struct {
        const char *name;
        uint64_t value;
    } counts[] = {
        {"sent", c.sent},
        {"got", c.got},
        {"delivered", c.delivered},
        {"lost", c.lost},
        {"duplicated", c.duplicated},
        {"unexpected", c.unexpected},
        {"out_of_order", c.out_of_order},
        {"bad_sent", c.bad_sent},
        {"bad_got", c.bad_got},
        {"distinct", c.distinct},
        {"memory_bytes", c.memory},
    };
    int rc = sl_buf_append_str (out, "{");
    rc = rc ? rc : sl_json_put_name (out, true, "passed");
    rc = rc ? rc : sl_json_put_bool (out, sl_verify_passed (&c, ordered));
    for (size_t i = 0; rc == 0 && i < sizeof counts / sizeof counts[0]; i++) {
        rc = sl_json_put_name (out, false, counts[i].name);
        rc = rc ? rc : sl_json_put_uint (out, counts[i].value);
    }
    rc = rc ? rc : sl_json_put_name (out, false, "ordered");
    rc = rc ? rc : sl_json_put_bool (out, ordered);
    rc = rc ? rc : sl_json_put_name (out, false, "id");
    rc = rc ? rc : s_json_string (self->opts.id_field, out);
    rc = rc ? rc : sl_json_put_name (out, false, "key");
    rc = rc ? rc : s_json_string (self->opts.key_field, out);
    for (int k = 0; rc == 0 && k < SL_VERIFY_KINDS; k++) {
        const char *const *texts;
        size_t n = sl_verify_examples (self, (sl_verify_kind_t)k, &texts);
        char name[32];
        snprintf (name, sizeof name, "%s_first", s_kind_name[k]);
        rc = sl_json_put_name (out, false, name);
        rc = rc ? rc : sl_buf_append_str (out, "[");
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (i) {
                rc = sl_buf_append_str (out, ",");
            }
            if (rc == 0 && k == SL_VERIFY_DUPLICATED) {
                rc = sl_buf_append_str (out, "{");
                rc = rc ? rc : sl_json_put_name (out, true, "copies");
                rc = rc ? rc
                        : sl_json_put_uint (
                              out, sl_verify_example_count (self, SL_VERIFY_DUPLICATED, i));
                rc = rc ? rc : sl_json_put_name (out, false, "id");
            }
            //  An example's text is already JSON (the id as sl_verify_key_text wrote it).
            rc = rc ? rc : sl_buf_append_str (out, texts[i]);
            if (rc == 0 && k == SL_VERIFY_DUPLICATED) {
                rc = sl_buf_append_str (out, "}");
            }
        }
        rc = rc ? rc : sl_buf_append_str (out, "]");
    }
    return rc ? rc : sl_buf_append_str (out, "}");
}

//  Human sizes: 512 B, 7.6 MiB.
static void
s_size (uint64_t bytes, char *out, size_t size)
{
    if (bytes < 1024) {
        snprintf (out, size, "%" PRIu64 " B", bytes);
    }
    else if (bytes < 1024 * 1024) {
        snprintf (out, size, "%.1f KiB", (double)bytes / 1024);
    }
    else {
        snprintf (out, size, "%.1f MiB", (double)bytes / (1024 * 1024));
    }
}

//  The first keys of one kind on one line, each cut at 60 characters.
static int
s_examples_line (sl_verify_t *self, sl_verify_kind_t kind, uint64_t total, sl_buf_t *out)
{
    const char *const *texts;
    size_t n = sl_verify_examples (self, kind, &texts);
    if (n == 0) {
        return sl_buf_append_str (out, "\n");
    }
    int rc = sl_buf_append_str (out, "   first: ");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t len = strlen (texts[i]);
        rc = i ? sl_buf_append_str (out, ", ") : 0;
        rc = rc ? rc : sl_buf_append (out, texts[i], len > 60 ? 57 : len);
        rc = rc ? rc : (len > 60 ? sl_buf_append_str (out, "...") : 0);
        if (rc == 0 && kind == SL_VERIFY_DUPLICATED) {
            rc = s_printf (out, " (x%" PRIu64 ")", sl_verify_example_count (self, kind, i));
        }
    }
    if (rc == 0 && total > n) {
        rc = sl_buf_append_str (out, ", ...");
    }
    return rc ? rc : sl_buf_append_str (out, "\n");
}

int
sl_verify_report_table (sl_verify_t *self, bool ordered, sl_buf_t *out)
{
    sl_verify_counts_t c;
    sl_verify_counts (self, &c);
    char mem[32];
    s_size (c.memory, mem, sizeof mem);
    int rc = 0;
    if (self->opts.id_field) {
        rc = s_printf (out, "matched by member \"%s\"", self->opts.id_field);
    }
    else {
        rc = sl_buf_append_str (out, "matched by whole value (a multiset)");
    }
    if (rc == 0 && self->opts.key_field) {
        rc = s_printf (out, ", order checked per \"%s\"\n", self->opts.key_field);
    }
    else if (rc == 0) {
        rc = sl_buf_append_str (out, ", order checked over the whole output\n");
    }
    rc = rc ? rc : s_printf (out, "  sent          %12" PRIu64 "\n", c.sent);
    rc = rc ? rc : s_printf (out, "  received      %12" PRIu64 "\n", c.got);
    rc = rc ? rc : s_printf (out, "  delivered     %12" PRIu64 "\n", c.delivered);
    rc = rc ? rc : s_printf (out, "  lost          %12" PRIu64, c.lost);
    rc = rc ? rc : s_examples_line (self, SL_VERIFY_LOST, c.lost, out);
    rc = rc ? rc : s_printf (out, "  duplicated    %12" PRIu64, c.duplicated);
    rc = rc ? rc : s_examples_line (self, SL_VERIFY_DUPLICATED, c.duplicated, out);
    rc = rc ? rc : s_printf (out, "  unexpected    %12" PRIu64, c.unexpected);
    rc = rc ? rc : s_examples_line (self, SL_VERIFY_UNEXPECTED, c.unexpected, out);
    rc = rc ? rc
            : s_printf (out, "  out of order  %12" PRIu64 "%s", c.out_of_order,
                        ordered ? "" : "   (reported only)");
    rc = rc ? rc : s_examples_line (self, SL_VERIFY_OUT_OF_ORDER, c.out_of_order, out);
    rc = rc ? rc
            : s_printf (
                  out, "  bad input     %12" PRIu64 "   (sent %" PRIu64 ", received %" PRIu64 ")\n",
                  c.bad_sent + c.bad_got, c.bad_sent, c.bad_got);
    rc =
        rc ? rc : s_printf (out, "  distinct keys %12" PRIu64 "   (tables: %s)\n", c.distinct, mem);
    if (rc == 0 && sl_verify_passed (&c, ordered)) {
        rc = sl_buf_append_str (out, "PASS: nothing lost, duplicated or unexpected\n");
    }
    else if (rc == 0) {
        rc = s_printf (
            out, "FAIL: %" PRIu64 " lost, %" PRIu64 " duplicated, %" PRIu64 " unexpected%s\n",
            c.lost, c.duplicated, c.unexpected, ordered && c.out_of_order ? ", out of order" : "");
    }
    return rc;
}
