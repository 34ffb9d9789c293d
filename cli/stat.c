/*  stat.c - `sluice stat` and `sluice top`: the broker's progress document
    (docs/operate.md) as a table, as JSON, or live in the terminal.

    Rates in `top` are computed here from two documents a refresh apart
    (records appended, records a group got done, records a member did), so
    the broker keeps no rate state for them.
*/
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "opclient.h"
#include "sl_error.h"
#include "sl_json.h"
#include "sl_opts.h"
#include "sl_util.h"

typedef struct {
    op_conn_t conn;
    bool json, watch;
    int64_t interval_ms;
    uint64_t count;
} s_args_t;

#define F(field) SL_OPT_FIELD (s_args_t, field)
static const sl_opt_t s_opts[] = {
    OP_CONN_OPTS (s_args_t, "the broker"),
    {"json", 'j', NULL, "print the document as one JSON object (per refresh)", F (json),
     .type = SL_ARG_SWITCH},
    {"watch", 'w', NULL, "refresh until Ctrl-C", F (watch), .type = SL_ARG_SWITCH},
    {"interval", 0, "DURATION", "time between refreshes", F (interval_ms), .type = SL_ARG_DURATION,
     .def = "1s", .min = 100},
    {"count", 'c', "N", "with --watch: stop after N refreshes", F (count), .type = SL_ARG_UINT},
    {.name = NULL},
};

//  top always refreshes and draws a table: no --watch, no --json.
static const sl_opt_t s_top_opts[] = {
    OP_CONN_OPTS (s_args_t, "the broker"),
    {"interval", 0, "DURATION", "time between refreshes", F (interval_ms), .type = SL_ARG_DURATION,
     .def = "1s", .min = 100},
    {"count", 'c', "N", "stop after N refreshes", F (count), .type = SL_ARG_UINT},
    {.name = NULL},
};
#undef F

static const sl_opts_spec_t s_stat_spec = {
    .program = "sluice stat",
    .synopsis = "[--broker ENDPOINT] [--json] [--watch]",
    .about = "Shows where records are: every stream (offsets, size, append rate), every worker\n"
             "group (committed position, lag in records and in seconds, leases in flight,\n"
             "redeliveries, dead letters, members) and every durable reader (position, lag).\n"
             "lag_seconds is exact: now minus the append time of the first record not yet\n"
             "done, read from the log. Exit code 1 when the broker cannot be asked.",
    .footer = "Examples:\n"
              "  sluice stat\n"
              "  sluice stat --json | jq '.groups[] | {name, lag_records, lag_seconds}'\n"
              "  sluice stat --watch --interval 2s\n"
              "See docs/operate.md.\n",
    .opts = s_opts,
};

static const sl_opts_spec_t s_top_spec = {
    .program = "sluice top",
    .synopsis = "[--broker ENDPOINT] [--interval 1s]",
    .about = "The progress of `sluice stat`, live in the terminal and refreshed every second,\n"
             "with rates: records in per stream, records done per group and per member.\n"
             "Ctrl-C ends it.",
    .footer = "Examples:\n"
              "  sluice top\n"
              "  sluice top -b tcp://10.0.0.5:7600 --interval 2s\n",
    .opts = s_top_opts,
};

static void
s_print_tables (const sl_stat_t *d, const sl_stat_t *prev, double dt)
{
    printf ("%-28s %12s %12s %12s %12s %10s\n", "STREAM", "FIRST", "NEXT", "RECORDS", "BYTES",
            "RATE/s");
    for (uint32_t i = 0; i < d->n_streams; i++) {
        const sl_stat_stream_t *s = &d->streams[i];
        double rate = s->rate;
        for (uint32_t k = 0; prev && dt > 0 && k < prev->n_streams; k++) {
            if (strcmp (prev->streams[k].name, s->name) == 0) {
                rate = (double)(s->next - prev->streams[k].next) / dt;
            }
        }
        printf ("%-28s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %10.1f\n", s->name,
                s->first, s->next, s->records, s->bytes, rate);
    }
    printf ("\n%-20s %-20s %-20s %10s %10s %9s %6s %7s %5s%s\n", "GROUP", "IN", "OUT", "COMMITTED",
            "LAG", "LAG(s)", "LEASES", "MEMBERS", "DEAD", prev ? "  DONE/s" : "");
    for (uint32_t i = 0; i < d->n_groups; i++) {
        const sl_stat_group_t *g = &d->groups[i];
        printf ("%-20s %-20s %-20s %10" PRIu64 " %10" PRIu64 " %9.1f %6u %7u %5" PRIu64, g->name,
                g->in, g->out, g->committed, g->lag_records, g->lag_seconds, g->in_flight,
                g->members_total, g->dead_letters);
        for (uint32_t k = 0; prev && k < prev->n_groups; k++) {
            if (strcmp (prev->groups[k].name, g->name) == 0 && dt > 0) {
                uint64_t was = prev->groups[k].committed;
                printf ("  %7.1f", g->committed >= was ? (double)(g->committed - was) / dt : 0.0);
            }
        }
        printf ("\n");
        for (uint32_t m = 0; m < g->n_members; m++) {
            const sl_stat_member_t *mb = &g->members[m];
            printf (
                "  member %-24s peer %-12.12s leases %3u  done %10" PRIu64 "  heard %5.1f s ago\n",
                mb->name, mb->peer, mb->in_flight, mb->records, (double)mb->last_heard_ms / 1000.0);
        }
        if (g->members_total > g->n_members) {
            printf ("  ... and %u more members\n", g->members_total - g->n_members);
        }
    }
    printf ("\n%-28s %-28s %12s %10s %9s\n", "READER", "STREAM", "POSITION", "LAG", "LAG(s)");
    for (uint32_t i = 0; i < d->n_readers; i++) {
        const sl_stat_reader_t *r = &d->readers[i];
        printf ("%-28s %-28s %12" PRIu64 " %10" PRIu64 " %9.1f\n", r->name, r->stream, r->position,
                r->lag_records, r->lag_seconds);
    }
    if (d->n_clients) {
        printf ("\n%-8s %-28s %-28s %12s %8s %9s\n", "CLIENT", "NAME", "STREAM/GROUP", "RECORDS",
                "ERRORS", "HEARD(s)");
    }
    for (uint32_t i = 0; i < d->n_clients; i++) {
        const sl_stat_client_t *c = &d->clients[i];
        printf ("%-8s %-28s %-28s %12" PRIu64 " %8" PRIu64 " %9.1f\n", c->role, c->name,
                c->stream[0] ? c->stream : c->group, c->records, c->errors,
                (double)c->last_heard_ms / 1000.0);
    }
    if (d->repl_role[0]) {
        printf ("\nREPLICATION: %s at epoch %" PRIu64 ", journal entry %" PRIu64 ", lag %" PRIu64
                " entries%s",
                d->repl_role, d->repl_epoch, d->repl_seq, d->repl_lag,
                streq (d->repl_role, "primary") ? "" : "\n");
        if (streq (d->repl_role, "primary")) {
            printf (", %u replica(s) following\n", d->repl_followers);
        }
    }
    if (!d->writable) {
        printf ("\nINTAKE STOPPED: %s\n", d->reason);
    }
    if (d->truncated) {
        printf ("\n(lists cut at their bound: see docs/operate.md)\n");
    }
}

static int
s_loop (s_args_t *a, bool top)
{
    int code = op_connect (&a->conn);
    if (code) {
        return code;
    }
    sl_buf_t raw, json;
    sl_buf_init (&raw, 0);
    sl_buf_init (&json, 0);
    sl_stat_t doc, prev;
    sl_stat_init (&doc);
    sl_stat_init (&prev);
    sl_json_t *conv = sl_json_new ();
    bool tty = isatty (STDOUT_FILENO);
    int64_t prev_ms = 0;
    for (uint64_t n = 0; !zsys_interrupted; n++) {
        code = op_stat (&a->conn, &raw, &doc);
        if (code) {
            break;
        }
        if (a->json) {
            sl_buf_reset (&json);
            if (!conv || sl_msgpack_to_json (conv, raw.data, raw.len, &json)) {
                fprintf (stderr, "%s: cannot write JSON\n", a->conn.program);
                code = 1;
                break;
            }
            fwrite (json.data, 1, json.len, stdout);
            fputc ('\n', stdout);
        }
        else {
            if (a->watch && tty) {
                fputs ("\033[H\033[2J", stdout);
            }
            if (a->watch) {
                char when[64];
                sl_format_time_ms (doc.time_ms, when, sizeof when);
                printf ("%s — %s  (every %.1f s, Ctrl-C ends)\n\n", a->conn.broker, when,
                        (double)a->interval_ms / 1000.0);
            }
            double dt = prev_ms ? (double)(doc.time_ms - prev_ms) / 1000.0 : 0;
            s_print_tables (&doc, top && prev_ms ? &prev : NULL, dt);
            if (a->watch && !tty) {
                printf ("\n");
            }
        }
        fflush (stdout);
        if (!a->watch || (a->count && n + 1 >= a->count)) {
            break;
        }
        sl_stat_free (&prev);
        prev = doc;
        prev_ms = doc.time_ms;
        sl_stat_init (&doc);
        zclock_sleep ((int)a->interval_ms);
    }
    sl_json_destroy (&conv);
    sl_stat_free (&doc);
    sl_stat_free (&prev);
    sl_buf_free (&raw);
    sl_buf_free (&json);
    op_disconnect (&a->conn);
    return code;
}

static int
s_main (const sl_opts_spec_t *spec, int argc, char **argv, bool top)
{
    s_args_t a = {.conn = {.program = spec->program}, .watch = top};
    int exit_code = 0;
    int first = sl_opts_parse_typed (spec, argc, argv, NULL, &a, &exit_code);
    if (first < 0) {
        return exit_code;
    }
    if (first < argc) {
        fprintf (stderr, "%s: unexpected argument '%s'; try --help\n", spec->program, argv[first]);
        return 2;
    }
    return s_loop (&a, top);
}

int
sl_cli_stat (int argc, char **argv)
{
    return s_main (&s_stat_spec, argc, argv, false);
}

int
sl_cli_top (int argc, char **argv)
{
    return s_main (&s_top_spec, argc, argv, true);
}
