/*  dlq.c - `sluice dlq show GROUP` and `sluice dlq resend GROUP`
    (docs/operate.md).

    resend puts each dead letter's original record back into the group's
    input stream, as a new record (so its attempts start again), exactly
    once: it publishes as the durable producer "resend.GROUP" with the
    sequence number = the dead letter's offset + 1, so the broker drops
    what an earlier resend already put back (PROTOCOL.md §6.1), and a rerun
    resumes after the last confirmed one. It resends what GROUP.dlq holds
    when it starts, not what arrives meanwhile.

    With --filter EXPR only the letters the expression is true for go back
    (dlq_filter.c). Their sequence numbers cannot be offsets then (the
    broker refuses a gap, PROTOCOL.md §6.1): the matching letters are
    numbered 1, 2, ... from GROUP.dlq's first offset, as the producer
    "resend.GROUP.HASH", HASH naming the expression and that first offset,
    so a rerun of the same filter over the same letters is exactly once too.

    Work per request is bounded: the letters are read a page at a time
    (FETCH of at most 1000 records, whose reply the broker bounds by bytes
    as well), and each page is evaluated and published before the next.
*/
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "dlq_filter.h"
#include "opclient.h"
#include "sl_batch.h"
#include "sl_dlq.h"
#include "sl_error.h"
#include "sl_util.h"
#include "sl_version.h"

#define S_BATCH_RECORDS 1000
#define S_BATCH_BYTES (1u << 20)

typedef struct {
    op_conn_t conn;
    const char *group;
    char dlq[SL_NAME_MAX + 1];
    char in[SL_NAME_MAX + 1];
    char producer[SL_NAME_MAX + 1];
    sl_client_t *pub; //  the durable producer
    sl_buf_t batch;
    uint32_t count;
    uint64_t first_seq; //  seq of the batch's first record (its dlq offset + 1)
    uint64_t resent;
    const char *expr; //  --filter, or NULL
    dlq_filter_t *filter;
    uint64_t matched;               //  letters the filter was true for (their number = seq)
    uint64_t acked;                 //  what earlier runs of this producer confirmed
    uint64_t skipped;               //  matching letters an earlier run resent already
    char group_in[SL_NAME_MAX + 1]; //  the group's input per the broker, "" if unknown
    bool numbered;                  //  no filter, but numbered as with one (s_start)
} s_resend_t;

//  FETCH of the dead-letter stream from offset: the reply's data frames in
//  *data, bounds in *first / *next. 0 or an exit code.
static int
s_fetch (s_resend_t *r, uint64_t offset, zmsg_t **data, uint64_t *first, uint64_t *next)
{
    sl_msg_t req, reply;
    sl_msg_init (&req, SL_CMD_FETCH);
    sl_msg_init (&reply, SL_CMD_NONE);
    snprintf (req.stream, sizeof req.stream, "%s", r->dlq);
    req.offset = offset;
    req.max_records = S_BATCH_RECORDS;
    int rc =
        sl_client_request (r->conn.client, &req, &reply, data, sl_mono_ms () + r->conn.timeout_ms);
    if (rc) {
        fprintf (stderr, "sluice dlq resend: reading %s: %s\n", r->dlq,
                 reply.cmd == SL_CMD_ERROR ? reply.text : sl_strerror (rc));
        sl_msg_reset (&reply);
        return 1;
    }
    *first = reply.first;
    *next = reply.next;
    sl_msg_reset (&reply);
    return 0;
}

//  Publishes the batch being built and waits for its CONFIRM.
static int
s_flush (s_resend_t *r)
{
    if (r->count == 0) {
        return 0;
    }
    sl_msg_t pub, reply;
    sl_msg_init (&pub, SL_CMD_PUBLISH);
    sl_msg_init (&reply, SL_CMD_NONE);
    snprintf (pub.stream, sizeof pub.stream, "%s", r->in);
    snprintf (pub.name, sizeof pub.name, "%s", r->producer);
    pub.seq = r->first_seq;
    pub.count = r->count;
    zmsg_t *data = zmsg_new ();
    int code = 1;
    if (!data || zmsg_addmem (data, r->batch.data, r->batch.len) ||
        sl_client_send (r->pub, &pub, &data)) {
        fprintf (stderr, "sluice dlq resend: cannot send to the broker\n");
        goto done;
    }
    int64_t deadline = sl_mono_ms () + r->conn.timeout_ms;
    while (sl_mono_ms () < deadline) {
        if (sl_client_recv (r->pub, &reply, NULL, 200) != 0) {
            continue;
        }
        if (reply.cmd == SL_CMD_CONFIRM && reply.seq >= r->first_seq + r->count - 1) {
            r->resent += reply.count;
            code = 0;
            goto done;
        }
        if (reply.cmd == SL_CMD_ERROR && reply.req == r->first_seq) {
            fprintf (stderr,
                     "sluice dlq resend: the broker refused the batch at dead letter "
                     "%" PRIu64 ": %s\n",
                     r->first_seq - 1, reply.text);
            goto done;
        }
    }
    fprintf (stderr, "sluice dlq resend: no confirm from the broker within %.1f s\n",
             (double)r->conn.timeout_ms / 1000.0);
done:
    zmsg_destroy (&data);
    sl_msg_reset (&reply);
    sl_buf_reset (&r->batch);
    r->count = 0;
    return code;
}

//  The filtered producer's name: resend.GROUP.HASH, HASH = FNV-1a of the
//  expression and the first offset its numbering starts from.
static void
s_filter_producer (s_resend_t *r, uint64_t first)
{
    uint64_t h = 14695981039346656037ull;
    char text[32];
    snprintf (text, sizeof text, "@%" PRIu64, first);
    for (const char *parts[] = {r->expr ? r->expr : "", text, NULL}, **q = parts; *q; q++) {
        for (const unsigned char *c = (const unsigned char *)*q; *c; c++) {
            h = (h ^ *c) * 1099511628211ull;
        }
    }
    snprintf (r->producer, sizeof r->producer, "resend.%s.%08" PRIx32, r->group,
              (uint32_t)(h ^ (h >> 32)));
}

//  The producer client, once the input stream is known: its WELCOME says
//  how far earlier resends got.
static int
s_producer (s_resend_t *r, uint64_t *acked)
{
    sl_client_opts_t opts = {.broker = r->conn.broker,
                             .software = "sluice-cli/" SLUICE_VERSION,
                             .producer = r->producer,
                             .stream = r->in,
                             .timeout_ms = 1000};
    r->pub = sl_client_new (&opts);
    if (!r->pub || sl_client_hello (r->pub, sl_mono_ms () + r->conn.timeout_ms)) {
        fprintf (stderr, "sluice dlq resend: the broker did not welcome producer %s\n",
                 r->producer);
        return 1;
    }
    *acked = sl_client_welcome (r->pub)->seq;
    return 0;
}

//  The first letter to resend: the input stream becomes known, the producer
//  is made, and its WELCOME says how far earlier runs got. Without a filter
//  that may move *offset past what they confirmed (then *skip).
static int
s_start (s_resend_t *r, const char *stream, uint64_t first, uint64_t *offset, bool *skip)
{
    if (r->group_in[0] && strcmp (stream, r->group_in) != 0) {
        //  Whoever may write GROUP.dlq must not steer the resend into another stream.
        fprintf (stderr,
                 "sluice dlq resend: a letter in %s names stream %s, but group %s "
                 "reads %s: nothing resent\n",
                 r->dlq, stream, r->group, r->group_in);
        return 1;
    }
    snprintf (r->in, sizeof r->in, "%s", stream);
    if (r->filter) {
        s_filter_producer (r, first);
    }
    int code = s_producer (r, &r->acked);
    *skip = false;
    if (code || r->filter) {
        return code;
    }
    if (r->acked > *offset) {
        //  An earlier resend got this far: skip what it confirmed.
        printf ("already resent: dead letters below offset %" PRIu64 "\n", r->acked);
        *offset = r->acked;
        *skip = true;
    }
    else if (r->acked < *offset && r->acked > 0) {
        fprintf (stderr,
                 "sluice dlq resend: dead letters %" PRIu64 "..%" PRIu64
                 " were removed by retention before they were resent\n",
                 r->acked, *offset - 1);
        code = 1;
    }
    else if (r->acked == 0 && *offset > 0) {
        //  Never resent, and the letters no longer start at offset 0 (retention, a
        //  purge): offset + 1 would be a gap the broker refuses (PROTOCOL.md §6.1).
        //  Numbered from this first offset instead, as a filter always true would be.
        sl_client_destroy (&r->pub);
        r->numbered = true;
        s_filter_producer (r, first);
        code = s_producer (r, &r->acked);
    }
    return code;
}

//  One dead letter: its original record joins the batch being built when it
//  is to be resent. 0 or an exit code.
static int
s_letter (s_resend_t *r, const sl_record_t *rec, uint64_t first, uint64_t *offset)
{
    char stream[SL_NAME_MAX + 1];
    size_t before = r->batch.len;
    if (sl_dlq_original (rec, &r->batch, stream)) {
        fprintf (stderr, "sluice dlq resend: %s offset %" PRIu64 " is not a dead letter\n", r->dlq,
                 rec->offset);
        return 1;
    }
    bool match = true;
    char why[300];
    if (r->filter && dlq_filter_match (r->filter, rec, &match, why, sizeof why)) {
        fprintf (stderr,
                 "sluice dlq resend: --filter on dead letter %" PRIu64 ": %s (nothing "
                 "from this letter on was resent; guard a field that may be missing with "
                 "`(x or 0)`)\n",
                 rec->offset, why);
        r->batch.len = before;
        return 1;
    }
    if (!match) {
        r->batch.len = before;
        *offset = rec->offset + 1;
        return 0;
    }
    if (!r->pub) {
        bool skip;
        int code = s_start (r, stream, first, offset, &skip);
        if (code || skip) {
            r->batch.len = before;
            return code;
        }
    }
    if (strcmp (stream, r->in) != 0) {
        fprintf (stderr, "sluice dlq resend: %s holds letters of streams %s and %s\n", r->dlq,
                 r->in, stream);
        r->batch.len = before;
        return 1;
    }
    *offset = rec->offset + 1;
    uint64_t seq = rec->offset + 1;
    if (r->filter || r->numbered) {
        seq = ++r->matched;
        if (seq <= r->acked) {
            r->skipped++;
            r->batch.len = before;
            return 0;
        }
    }
    if (r->count == 0) {
        r->first_seq = seq;
    }
    r->count++;
    if (r->count >= S_BATCH_RECORDS || r->batch.len >= S_BATCH_BYTES) {
        return s_flush (r);
    }
    return 0;
}

//  The group's input stream as the broker knows it (a deleted group's
//  letters can still be resent: then the letters say where).
static int
s_group_input (s_resend_t *r)
{
    sl_stat_t doc;
    sl_buf_t raw;
    sl_stat_init (&doc);
    sl_buf_init (&raw, 0);
    int code = op_stat (&r->conn, &raw, &doc);
    for (uint32_t i = 0; code == 0 && i < doc.n_groups; i++) {
        if (strcmp (doc.groups[i].name, r->group) == 0) {
            snprintf (r->group_in, sizeof r->group_in, "%s", doc.groups[i].in);
        }
    }
    sl_stat_free (&doc);
    sl_buf_free (&raw);
    return code;
}

static int
s_resend (s_resend_t *r)
{
    int code = op_connect (&r->conn);
    if (code == 0) {
        code = s_group_input (r);
    }
    if (code) {
        op_disconnect (&r->conn);
        return code;
    }
    uint64_t offset = 0, end = 0, first = 0, next = 0, start = 0;
    bool begun = false;
    zmsg_t *data = NULL;
    while (code == 0 && (!begun || offset < end)) {
        code = s_fetch (r, offset, &data, &first, &next);
        if (code) {
            break;
        }
        if (!begun) {
            begun = true;
            end = next;
            offset = start = first;
            if (first == next) {
                printf ("%s is empty: nothing to resend\n", r->dlq);
                break;
            }
        }
        for (zframe_t *f = data ? zmsg_first (data) : NULL; f && code == 0; f = zmsg_next (data)) {
            sl_record_iter_t it;
            sl_batch_header_t header;
            sl_record_t rec;
            if (sl_record_iter_init_blob (&it, zframe_data (f), zframe_size (f), &header)) {
                fprintf (stderr, "sluice dlq resend: a malformed batch in %s\n", r->dlq);
                code = 1;
                break;
            }
            while (code == 0 && sl_record_iter_next (&it, &rec) == 1) {
                if (rec.offset >= offset && rec.offset < end) {
                    code = s_letter (r, &rec, start, &offset);
                }
            }
        }
        zmsg_destroy (&data);
        if (code == 0) {
            code = s_flush (r);
        }
        else {
            //  What matched before the failing letter is still resent.
            int flushed = s_flush (r);
            code = flushed ? flushed : code;
        }
        if (offset < first) {
            offset = first;
        }
    }
    zmsg_destroy (&data);
    if (code == 0 && r->filter) {
        if (r->skipped) {
            printf ("already resent by this filter: %" PRIu64 " dead letters\n", r->skipped);
        }
        printf ("resent %" PRIu64 " of the %" PRIu64 " dead letters of %s matching the filter "
                "into %s (as producer %s)\n",
                r->resent, r->matched, r->group, r->in[0] ? r->in : "its input",
                r->pub ? r->producer : "-");
    }
    else if (code == 0 && r->pub) {
        if (r->skipped) {
            printf ("already resent: %" PRIu64 " dead letters\n", r->skipped);
        }
        printf ("resent %" PRIu64 " dead letters of %s into %s (as producer %s)\n", r->resent,
                r->group, r->in, r->producer);
    }
    sl_client_destroy (&r->pub);
    op_disconnect (&r->conn);
    return code;
}

//  `sluice dlq show GROUP [sink options]`: sluice-sink on GROUP.dlq from
//  the beginning, ending at the end.
static int
s_show (int argc, char **argv, const char *dlq)
{
    char **args = calloc ((size_t)argc + 10, sizeof *args);
    if (!args) {
        return 1;
    }
    int n = 0;
    args[n++] = "sink";
    const char *env = getenv ("SLUICE_BROKER");
    bool has_broker = env && *env;
    for (int i = 3; i < argc; i++) {
        has_broker = has_broker || strcmp (argv[i], "--broker") == 0 ||
                     strcmp (argv[i], "-b") == 0 || strncmp (argv[i], "--broker=", 9) == 0;
        args[n++] = argv[i];
    }
    if (!has_broker) {
        args[n++] = "--broker";
        args[n++] = OP_DEFAULT_BROKER;
    }
    args[n++] = "--stream";
    args[n++] = (char *)dlq;
    args[n++] = "--from";
    args[n++] = "beginning";
    args[n++] = "--exit-at-end";
    args[n] = NULL;
    int code = sl_cli_exec_stage (sl_cli_stage_find ("sink"), n, args);
    free (args);
    return code;
}

#define F(field) SL_OPT_FIELD (s_resend_t, field)
static const sl_opt_t s_resend_opts[] = {
    OP_CONN_OPTS (s_resend_t, "the broker"),
    {"filter", 0, "EXPR",
     "only the letters the Lua expression EXPR is true for ('attempts > 2 and record.value.id')",
     F (expr), .type = SL_ARG_STRING},
    {.name = NULL},
};
#undef F

static const sl_opts_spec_t s_resend_spec = {
    .program = "sluice dlq resend",
    .synopsis = "GROUP",
    .about = "Puts each dead letter of GROUP.dlq back into the group's input as a new record\n"
             "(its attempts start again), exactly once: a rerun resends nothing twice.\n"
             "Exit codes: 0 done, 1 the broker refused or could not be asked, 2 usage.",
    .footer = "Examples:\n"
              "  sluice dlq resend enrich\n"
              "  sluice dlq resend enrich --filter 'error:find(\"timeout\")'\n"
              "`sluice dlq show GROUP [sluice-sink options]` prints the letters. See "
              "docs/operate.md.\n",
    .opts = s_resend_opts,
};

//  GROUP.dlq and resend.GROUP into r, once GROUP is known to be a name
//  short enough for both. 0, or 2 (usage) with the reason printed.
static int
s_names (s_resend_t *r, const char *group)
{
    if (!sl_name_valid (group, strlen (group)) || strlen (group) + 7 > SL_NAME_MAX) {
        fprintf (stderr, "sluice dlq: '%s' is not a valid group name\n", group);
        return 2;
    }
    size_t glen = strlen (group);
    r->group = group;
    memcpy (r->dlq, group, glen);
    memcpy (r->dlq + glen, ".dlq", 5);
    memcpy (r->producer, "resend.", 7);
    memcpy (r->producer + 7, group, glen + 1);
    return 0;
}

int
sl_cli_dlq (int argc, char **argv)
{
    bool show = argc > 1 && strcmp (argv[1], "show") == 0;
    bool resend = argc > 1 && strcmp (argv[1], "resend") == 0;
    if (!show && !resend) {
        if (argc > 1 && (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)) {
            sl_cli_manage_usage ();
            return 0;
        }
        fprintf (stderr, "usage: sluice dlq show GROUP [sluice-sink options]\n"
                         "       sluice dlq resend GROUP [options] (sluice dlq resend --help)\n");
        return 2;
    }
    s_resend_t r;
    memset (&r, 0, sizeof r);
    if (show) {
        if (argc < 3 || argv[2][0] == '-') {
            fprintf (stderr, "usage: sluice dlq show GROUP [sluice-sink options]\n");
            return 2;
        }
        return s_names (&r, argv[2]) ? 2 : s_show (argc, argv, r.dlq);
    }
    r.conn.program = "sluice dlq resend";
    int code = 0;
    int first = sl_opts_parse_typed (&s_resend_spec, argc - 1, argv + 1, NULL, &r, &code);
    if (first < 0) {
        return code;
    }
    if (first + 1 != argc - 1) {
        fprintf (stderr, "sluice dlq resend: expected one GROUP; try sluice dlq resend --help\n");
        return 2;
    }
    if (s_names (&r, argv[1 + first])) {
        return 2;
    }
    const char *group = r.group;
    if (r.expr && strlen (group) + 16 > SL_NAME_MAX) {
        //  resend.GROUP.HASH must be a name too.
        fprintf (stderr,
                 "sluice dlq resend: --filter needs a group name of at most %d "
                 "bytes\n",
                 SL_NAME_MAX - 16);
        return 2;
    }
    if (r.expr) {
        char why[300];
        r.filter = dlq_filter_new (r.expr, why, sizeof why);
        if (!r.filter) {
            fprintf (stderr, "sluice dlq resend: --filter: %s\n", why);
            return 2;
        }
    }
    sl_buf_init (&r.batch, 0);
    code = s_resend (&r);
    dlq_filter_destroy (&r.filter);
    sl_buf_free (&r.batch);
    return code;
}
