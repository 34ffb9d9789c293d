/*  manage.c - the manage commands (docs/operate.md): `sluice streams`,
    `sluice stream delete|purge|retain NAME`, `sluice readers`, `sluice
    reader reset|delete NAME`, `sluice groups`, `sluice group reset|delete
    NAME` and `sluice dlq show GROUP`. Lists come from the progress document
    (STAT); changes are ADMIN requests, which need the manage right under
    CURVE (docs/security.md).
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "opclient.h"
#include "sl_error.h"
#include "sl_opts.h"
#include "sl_util.h"

typedef struct {
    op_conn_t conn;
    bool json;
    const char *stream;
    const char *to;
    uint64_t records, bytes;
    int64_t age_ms;
} s_args_t;

#define F(field) SL_OPT_FIELD (s_args_t, field)
static const sl_opt_t s_opts[] = {
    OP_CONN_OPTS (s_args_t, "the broker"),
    {"json", 'j', NULL, "lists: one JSON object per line", F (json), .type = SL_ARG_SWITCH},
    {"stream", 's', "STREAM",
     "reader commands: the reader's stream (needed when the name is used on several streams)",
     F (stream), .type = SL_ARG_STRING, .flags = SL_OPT_NAME},
    {"to", 0, "POS", "reset: beginning, end, an OFFSET or @TIME (default beginning)", F (to),
     .type = SL_ARG_STRING},
    {"records", 0, "N", "retain: keep at least the newest N records", F (records),
     .type = SL_ARG_UINT},
    {"bytes", 0, "SIZE", "retain: keep at most SIZE bytes (64M, 2G)", F (bytes),
     .type = SL_ARG_SIZE},
    {"age", 0, "DURATION", "retain: remove records older than DURATION (30m, 7d)", F (age_ms),
     .type = SL_ARG_DURATION},
    {.name = NULL},
};
#undef F

static const char s_footer[] =
    "Commands:\n"
    "  sluice streams                         list streams\n"
    "  sluice stream delete NAME              remove a stream, its readers and producers\n"
    "  sluice stream purge NAME               remove its records; offsets keep counting\n"
    "  sluice stream retain NAME [--records N] [--bytes SIZE] [--age DUR]\n"
    "                                         retention from now on, kept across restarts\n"
    "                                         (no limit given: back to the broker's flags)\n"
    "  sluice readers                         list durable readers\n"
    "  sluice reader reset NAME [--stream S] --to POS\n"
    "  sluice reader delete NAME [--stream S]\n"
    "  sluice groups                          list worker groups\n"
    "  sluice group reset NAME --to POS       (the group must have no members; a keyed\n"
    "                                         group's shares and key states go along)\n"
    "  sluice group delete NAME               (no members; a keyed group's shares, key\n"
    "                                         states and NAME.state go along; its NAME.dlq\n"
    "                                         and NAME.late streams stay)\n"
    "  sluice dlq show GROUP [sink options]   the group's dead letters, then exit\n"
    "  sluice dlq resend GROUP                each dead letter's record back into the\n"
    "                                         group's input, once (attempts start again)\n"
    "  sluice dlq resend GROUP --filter EXPR  only the letters the Lua expression EXPR is\n"
    "                                         true for ('attempts > 2 and record.value.id')\n"
    "Exit codes: 0 done, 1 the broker refused or could not be asked (reason printed),\n"
    "2 usage. Under CURVE, changes need the `manage` right (docs/security.md); dlq resend\n"
    "needs `read` on GROUP.dlq and `publish` on the group's input instead.\n"
    "See docs/operate.md.\n";

static const sl_opts_spec_t s_spec = {
    .program = "sluice",
    .synopsis = "streams|stream|readers|reader|groups|group|dlq ... [options]",
    .about = "Lists and manages the broker's streams, durable readers and worker groups at\n"
             "run time.",
    .footer = s_footer,
    .opts = s_opts,
    .env_program = "MANAGE", //  SLUICE_MANAGE_STREAM ... (sl_opts_env.h)
};

void
sl_cli_manage_usage (void)
{
    sl_opts_usage (&s_spec);
}

static void
s_list_streams (const sl_stat_t *d, bool json)
{
    if (!json) {
        printf ("%-32s %12s %12s %12s %12s\n", "STREAM", "FIRST", "NEXT", "RECORDS", "BYTES");
    }
    for (uint32_t i = 0; i < d->n_streams; i++) {
        const sl_stat_stream_t *s = &d->streams[i];
        //  Names are [A-Za-z0-9._-]: safe in JSON as they are.
        printf (json ? "{\"name\":\"%s\",\"first\":%" PRIu64 ",\"next\":%" PRIu64
                       ",\"records\":%" PRIu64 ",\"bytes\":%" PRIu64 "}\n"
                     : "%-32s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n",
                s->name, s->first, s->next, s->records, s->bytes);
    }
}

static void
s_list_readers (const sl_stat_t *d, bool json)
{
    if (!json) {
        printf ("%-28s %-28s %12s %10s %9s\n", "READER", "STREAM", "POSITION", "LAG", "LAG(s)");
    }
    for (uint32_t i = 0; i < d->n_readers; i++) {
        const sl_stat_reader_t *r = &d->readers[i];
        printf (json ? "{\"name\":\"%s\",\"stream\":\"%s\",\"position\":%" PRIu64
                       ",\"lag_records\":%" PRIu64 ",\"lag_seconds\":%.3f}\n"
                     : "%-28s %-28s %12" PRIu64 " %10" PRIu64 " %9.1f\n",
                r->name, r->stream, r->position, r->lag_records, r->lag_seconds);
    }
}

static void
s_list_groups (const sl_stat_t *d, bool json)
{
    if (!json) {
        printf ("%-20s %-20s %-20s %10s %10s %9s %7s %5s\n", "GROUP", "IN", "OUT", "COMMITTED",
                "LAG", "LAG(s)", "MEMBERS", "DEAD");
    }
    for (uint32_t i = 0; i < d->n_groups; i++) {
        const sl_stat_group_t *g = &d->groups[i];
        printf (json ? "{\"name\":\"%s\",\"in\":\"%s\",\"out\":\"%s\",\"committed\":%" PRIu64
                       ",\"lag_records\":%" PRIu64 ",\"lag_seconds\":%.3f,\"members\":%u,"
                       "\"dead_letters\":%" PRIu64 "}\n"
                     : "%-20s %-20s %-20s %10" PRIu64 " %10" PRIu64 " %9.1f %7u %5" PRIu64 "\n",
                g->name, g->in, g->out, g->committed, g->lag_records, g->lag_seconds,
                g->members_total, g->dead_letters);
    }
}

//  The stream of reader NAME when --stream is not given: found in the
//  progress document, refused when the name is on several streams.
static int
s_reader_stream (s_args_t *a, const char *name, char *out)
{
    if (a->stream) {
        snprintf (out, SL_NAME_MAX + 1, "%s", a->stream);
        return 0;
    }
    sl_buf_t raw;
    sl_buf_init (&raw, 0);
    sl_stat_t doc;
    sl_stat_init (&doc);
    int code = op_stat (&a->conn, &raw, &doc);
    int found = 0;
    for (uint32_t i = 0; code == 0 && i < doc.n_readers; i++) {
        if (strcmp (doc.readers[i].name, name) == 0) {
            if (found++ == 0) {
                snprintf (out, SL_NAME_MAX + 1, "%s", doc.readers[i].stream);
            }
        }
    }
    sl_stat_free (&doc);
    sl_buf_free (&raw);
    if (code) {
        return code;
    }
    if (found == 0) {
        fprintf (stderr, "sluice reader: no durable reader named '%s'\n", name);
        return 1;
    }
    if (found > 1) {
        fprintf (stderr, "sluice reader: '%s' reads %d streams: say which with --stream\n", name,
                 found);
        return 2;
    }
    return 0;
}

static int
s_change (s_args_t *a, const char *noun, const char *verb, const char *name)
{
    sl_msg_t req, reply;
    sl_msg_init (&req, SL_CMD_ADMIN);
    sl_msg_init (&reply, SL_CMD_NONE);
    snprintf (req.op, sizeof req.op, "%s.%s", noun, verb);
    if (!sl_name_valid (name, strlen (name))) {
        fprintf (stderr, "sluice %s: '%s' is not a valid name\n", noun, name);
        return 2;
    }
    if (a->to) {
        if (strcmp (verb, "reset") != 0 || op_parse_position (a->to, &req.from, &req.value)) {
            fprintf (stderr, "sluice %s %s: --to expects beginning, end, OFFSET or @TIME\n", noun,
                     verb);
            return 2;
        }
    }
    int code = 0;
    if (strcmp (noun, "stream") == 0) {
        snprintf (req.stream, sizeof req.stream, "%s", name);
        req.ret_records = a->records;
        req.ret_bytes = a->bytes;
        req.ret_age_ms = a->age_ms > 0 ? (uint64_t)a->age_ms : 0;
    }
    else if (strcmp (noun, "reader") == 0) {
        snprintf (req.name, sizeof req.name, "%s", name);
        code = s_reader_stream (a, name, req.stream);
    }
    else {
        snprintf (req.group, sizeof req.group, "%s", name);
    }
    if (code == 0) {
        code = op_admin (&a->conn, &req, &reply);
    }
    if (code == 0) {
        bool group = strcmp (noun, "group") == 0;
        if (strcmp (verb, "reset") == 0) {
            printf ("%s %s reset to offset %" PRIu64, noun, name, reply.offset);
            //  A keyed group's key states go with a reset (docs/worker.md).
            if (group && reply.affected) {
                printf (" (%" PRIu64 " key states dropped)", reply.affected);
            }
            printf ("\n");
        }
        else if (group) {
            printf ("group %s: deleted (%" PRIu64 " key states dropped)\n", name, reply.affected);
        }
        else if (strcmp (verb, "retain") == 0) {
            printf ("stream %s: retention set (records %" PRIu64 ", bytes %" PRIu64 ", age %" PRId64
                    " ms; 0 = no limit)\n",
                    name, a->records, a->bytes, a->age_ms);
        }
        else {
            printf ("%s %s: %s (%" PRIu64 " records removed)\n", noun, name,
                    strcmp (verb, "delete") == 0 ? "deleted" : "purged", reply.affected);
        }
    }
    sl_msg_reset (&req);
    sl_msg_reset (&reply);
    return code;
}

int
sl_cli_manage (int argc, char **argv)
{
    const char *cmd = argv[0];
    if (strcmp (cmd, "dlq") == 0) {
        return sl_cli_dlq (argc, argv);
    }
    s_args_t a;
    memset (&a, 0, sizeof a);
    a.conn.program = "sluice";
    int exit_code = 0;
    int first = sl_opts_parse_typed (&s_spec, argc, argv, NULL, &a, &exit_code);
    if (first < 0) {
        return exit_code;
    }
    int npos = argc - first;
    char **pos = argv + first;
    bool list =
        strcmp (cmd, "streams") == 0 || strcmp (cmd, "readers") == 0 || strcmp (cmd, "groups") == 0;
    bool verb_ok = npos == 2 && (strcmp (pos[0], "delete") == 0 || strcmp (pos[0], "reset") == 0 ||
                                 strcmp (pos[0], "purge") == 0 || strcmp (pos[0], "retain") == 0);
    if (verb_ok && strcmp (cmd, "stream") != 0) {
        verb_ok = strcmp (pos[0], "delete") == 0 || strcmp (pos[0], "reset") == 0;
    }
    if (verb_ok && strcmp (cmd, "stream") == 0) {
        verb_ok = strcmp (pos[0], "reset") != 0;
    }
    if (list ? npos != 0 : !verb_ok) {
        fprintf (stderr, "sluice %s: expected %s; try sluice %s --help\n", cmd,
                 list                          ? "no arguments"
                 : strcmp (cmd, "stream") == 0 ? "delete|purge|retain NAME"
                                               : "reset|delete NAME",
                 cmd);
        return 2;
    }
    if (!list && a.to) {
        sl_from_t from;
        int64_t value;
        if (strcmp (pos[0], "reset") != 0 || op_parse_position (a.to, &from, &value)) {
            fprintf (stderr,
                     "sluice %s %s: --to is for reset, with beginning, end, OFFSET or "
                     "@TIME\n",
                     cmd, pos[0]);
            return 2;
        }
    }
    if (!list && !sl_name_valid (pos[1], strlen (pos[1]))) {
        fprintf (stderr, "sluice %s: '%s' is not a valid name\n", cmd, pos[1]);
        return 2;
    }
    int code = op_connect (&a.conn);
    if (code) {
        return code;
    }
    if (list) {
        sl_buf_t raw;
        sl_buf_init (&raw, 0);
        sl_stat_t doc;
        sl_stat_init (&doc);
        code = op_stat (&a.conn, &raw, &doc);
        if (code == 0) {
            if (cmd[0] == 's') {
                s_list_streams (&doc, a.json);
            }
            else if (cmd[0] == 'r') {
                s_list_readers (&doc, a.json);
            }
            else {
                s_list_groups (&doc, a.json);
            }
            if (doc.truncated) {
                fprintf (stderr,
                         "sluice %s: the list was cut at the broker's bound "
                         "(docs/operate.md)\n",
                         cmd);
            }
        }
        sl_stat_free (&doc);
        sl_buf_free (&raw);
    }
    else {
        code = s_change (&a, cmd, pos[0], pos[1]);
    }
    op_disconnect (&a.conn);
    return code;
}
