/*  test_stat.c - the progress document codec (lib/codec/sl_stat.c), the
    operating commands' wire encoding (STAT, STATS, ADMIN, ADMINED) against
    the examples of docs/PROTOCOL.md §15.4, the Prometheus writer, and
    options from a file (lib/core/sl_opts_file.c).
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_mp.h"
#include "sl_opts_file.h"
#include "sl_proto.h"
#include "sl_stat.h"

static void
s_sample (sl_stat_t *d)
{
    sl_stat_init (d);
    d->time_ms = 1795694400000;
    d->writable = false;
    strcpy (d->reason, "disk full");
    sl_stat_stream_t s = {0};
    strcpy (s.name, "orders");
    s.first = 5;
    s.next = 42;
    s.records = 37;
    s.bytes = 2048;
    s.last_ms = 1795694399000;
    s.rate = 0.5;
    cr_assert_eq (sl_stat_add_stream (d, &s), 0);
    sl_stat_group_t g = {0};
    strcpy (g.name, "enrich");
    strcpy (g.in, "orders");
    strcpy (g.out, "orders.enriched");
    g.committed = 30;
    g.lag_records = 12;
    g.lag_seconds = 1.25;
    g.in_flight = 2;
    g.redeliveries = 3;
    g.dead_letters = 4;
    g.members_total = 1;
    g.members = calloc (1, sizeof *g.members);
    strcpy (g.members[0].name, "w-1");
    strcpy (g.members[0].peer, "00a1b2");
    g.members[0].in_flight = 2;
    g.members[0].records = 99;
    g.members[0].last_heard_ms = 120;
    g.n_members = 1;
    cr_assert_eq (sl_stat_add_group (d, &g), 0);
    cr_assert_null (g.members, "the document took the members");
    sl_stat_reader_t r = {0};
    strcpy (r.name, "billing");
    strcpy (r.stream, "orders");
    r.position = 40;
    r.lag_records = 2;
    r.lag_seconds = 0.75;
    cr_assert_eq (sl_stat_add_reader (d, &r), 0);
}

Test (stat, round_trip)
{
    sl_stat_t d, back;
    s_sample (&d);
    sl_stat_init (&back);
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    cr_assert_eq (sl_stat_encode (&d, &buf), 0);
    cr_assert_eq (sl_stat_decode (&back, buf.data, buf.len), 0);
    cr_assert_eq (back.time_ms, d.time_ms);
    cr_assert_not (back.writable);
    cr_assert_str_eq (back.reason, "disk full");
    cr_assert_eq (back.n_streams, 1);
    cr_assert_eq (memcmp (&back.streams[0], &d.streams[0], sizeof d.streams[0]), 0);
    cr_assert_eq (back.n_groups, 1);
    const sl_stat_group_t *g = &back.groups[0];
    cr_assert_str_eq (g->out, "orders.enriched");
    cr_assert_eq (g->committed, 30);
    cr_assert_eq (g->lag_records, 12);
    cr_assert_float_eq (g->lag_seconds, 1.25, 1e-12);
    cr_assert_eq (g->redeliveries, 3);
    cr_assert_eq (g->dead_letters, 4);
    cr_assert_eq (g->n_members, 1);
    cr_assert_str_eq (g->members[0].peer, "00a1b2");
    cr_assert_eq (g->members[0].records, 99);
    cr_assert_eq (back.n_readers, 1);
    cr_assert_eq (memcmp (&back.readers[0], &d.readers[0], sizeof d.readers[0]), 0);
    sl_stat_free (&d);
    sl_stat_free (&back);
    sl_buf_free (&buf);
}

Test (stat, lists_are_bounded_and_marked_truncated)
{
    sl_stat_t d;
    sl_stat_init (&d);
    sl_stat_reader_t r = {0};
    strcpy (r.stream, "s");
    for (int i = 0; i < SL_STAT_MAX_READERS; i++) {
        snprintf (r.name, sizeof r.name, "r%d", i);
        cr_assert_eq (sl_stat_add_reader (&d, &r), 0);
    }
    cr_assert_not (d.truncated);
    cr_assert_eq (sl_stat_add_reader (&d, &r), SL_ETOOBIG);
    cr_assert (d.truncated);
    cr_assert_eq (d.n_readers, SL_STAT_MAX_READERS);
    sl_stat_free (&d);
}

Test (stat, decoder_refuses_bad_documents)
{
    sl_stat_t d;
    s_sample (&d);
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    cr_assert_eq (sl_stat_encode (&d, &buf), 0);
    sl_stat_t back;
    sl_stat_init (&back);
    //  Every truncation fails cleanly and leaves the document empty.
    for (size_t cut = 0; cut < buf.len; cut++) {
        cr_assert_neq (sl_stat_decode (&back, buf.data, cut), 0, "cut at %zu", cut);
        cr_assert_eq (back.n_streams + back.n_groups + back.n_readers, 0);
    }
    //  Trailing bytes, not a map, a wrong type, a list past its bound.
    uint8_t extra[4096];
    memcpy (extra, buf.data, buf.len);
    extra[buf.len] = 0xc0;
    cr_assert_eq (sl_stat_decode (&back, extra, buf.len + 1), SL_EPROTO);
    const uint8_t not_map[] = {0x91, 0x01};
    cr_assert_eq (sl_stat_decode (&back, not_map, sizeof not_map), SL_EPROTO);
    //  {"time_ms": "x"}
    const uint8_t wrong[] = {0x81, 0xa7, 't', 'i', 'm', 'e', '_', 'm', 's', 0xa1, 'x'};
    cr_assert_eq (sl_stat_decode (&back, wrong, sizeof wrong), SL_EPROTO);
    //  {"groups": [{"members": [33 x {}]}]}: more members than the bound.
    uint8_t many[128];
    size_t n = 0;
    many[n++] = 0x81;
    many[n++] = 0xa6;
    memcpy (many + n, "groups", 6);
    n += 6;
    many[n++] = 0x91;
    many[n++] = 0x81;
    many[n++] = 0xa7;
    memcpy (many + n, "members", 7);
    n += 7;
    many[n++] = 0xdc;
    many[n++] = 0;
    many[n++] = SL_STAT_MAX_MEMBERS + 1;
    for (int i = 0; i <= SL_STAT_MAX_MEMBERS; i++) {
        many[n++] = 0x80;
    }
    cr_assert_eq (sl_stat_decode (&back, many, n), SL_ETOOBIG);
    //  A name that is not a valid name.
    const uint8_t bad_name[] = {0x81, 0xa7, 's', 't', 'r', 'e', 'a',  'm', 's', 0x91,
                                0x81, 0xa4, 'n', 'a', 'm', 'e', 0xa2, 'a', '/'};
    cr_assert_eq (sl_stat_decode (&back, bad_name, sizeof bad_name), SL_EPROTO);
    //  Too big as a whole.
    cr_assert_eq (sl_stat_decode (&back, buf.data, SL_STAT_MAX_BYTES + 1), SL_ETOOBIG);
    //  Unknown keys are skipped.
    const uint8_t unknown[] = {0x82, 0xa3, 'n', 'e', 'w', 0x91, 0x01, 0xa8, 'w',
                               'r',  'i',  't', 'a', 'b', 'l',  'e',  0xc3};
    cr_assert_eq (sl_stat_decode (&back, unknown, sizeof unknown), 0);
    cr_assert (back.writable);
    sl_stat_free (&back);
    sl_stat_free (&d);
    sl_buf_free (&buf);
}

Test (stat, lag_seconds)
{
    cr_assert_float_eq (sl_stat_lag_seconds (10500, 10000), 0.5, 1e-12);
    cr_assert_float_eq (sl_stat_lag_seconds (10000, 10500), 0.0, 1e-12);
}

Test (stat, prometheus_text)
{
    sl_stat_t d;
    s_sample (&d);
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    cr_assert_eq (sl_stat_prometheus (&d, &buf), 0);
    cr_assert_eq (sl_buf_append (&buf, "", 1), 0);
    const char *text = (const char *)buf.data;
    const char *want[] = {
        "sluice_broker_writable 0\n",
        "sluice_stream_next_offset{stream=\"orders\"} 42\n",
        "sluice_stream_bytes{stream=\"orders\"} 2048\n",
        "sluice_records_in_total{stream=\"orders\"} 42\n",
        "sluice_group_lag_records{group=\"enrich\",stream=\"orders\"} 12\n",
        "sluice_group_lag_seconds{group=\"enrich\",stream=\"orders\"} 1.250\n",
        "sluice_group_members{group=\"enrich\"} 1\n",
        "sluice_group_dead_letters_total{group=\"enrich\"} 4\n",
        "sluice_reader_lag_records{reader=\"billing\",stream=\"orders\"} 2\n",
        "sluice_reader_lag_seconds{reader=\"billing\",stream=\"orders\"} 0.750\n",
        "# TYPE sluice_records_in_total counter\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cr_assert_not_null (strstr (text, want[i]), "missing %s in\n%s", want[i], text);
    }
    sl_stat_free (&d);
    sl_buf_free (&buf);
}

//  ---------------------------------------------------------------------
//  The examples of PROTOCOL.md §15.4

static char *
s_hex (const uint8_t *data, size_t len)
{
    char *out = calloc (1, len * 2 + 1);
    for (size_t i = 0; i < len; i++) {
        snprintf (out + 2 * i, 3, "%02x", data[i]);
    }
    return out;
}

//  Hex of the "header", "body" and "data" lines of example `name` in §15.4.
static void
s_example (const char *name, char out[3][4096])
{
    char path[4096];
    const char *root = getenv ("SLUICE_SOURCE_ROOT");
    const char *self = __FILE__;
    const char *tail = strstr (self, "tests/unit/test_stat.c");
    if (root) {
        snprintf (path, sizeof path, "%s/docs/PROTOCOL.md", root);
    }
    else {
        snprintf (path, sizeof path, "%.*sdocs/PROTOCOL.md", (int)(tail - self), self);
    }
    FILE *file = fopen (path, "r");
    if (!file) {
        file = fopen ("docs/PROTOCOL.md", "r");
    }
    cr_assert_not_null (file, "docs/PROTOCOL.md not found: set SLUICE_SOURCE_ROOT");
    memset (out, 0, 3 * 4096);
    static const char *labels[] = {"header", "body", "data"};
    char line[1024];
    bool in = false;
    int label = -1;
    while (fgets (line, sizeof line, file)) {
        if (strncmp (line, "#### 15.4.", 10) == 0) {
            char word[32] = "";
            sscanf (line, "#### 15.4.%*d %31s", word);
            in = strcmp (word, name) == 0;
            label = -1;
            continue;
        }
        if (!in || strncmp (line, "#", 1) == 0) {
            in = in && line[0] != '#';
            continue;
        }
        const char *p = line;
        if (line[0] != ' ') {
            label = -1;
            for (int l = 0; l < 3; l++) {
                size_t n = strlen (labels[l]);
                if (strncmp (line, labels[l], n) == 0 && line[n] == ' ') {
                    label = l;
                    p = line + n;
                }
            }
        }
        if (label < 0) {
            continue;
        }
        unsigned byte;
        int used;
        while (sscanf (p, " %2x%n", &byte, &used) == 1) {
            size_t len = strlen (out[label]);
            snprintf (out[label] + len, 3, "%02x", byte);
            p += used;
        }
    }
    fclose (file);
    cr_assert_neq (out[0][0], 0, "no example %s in §15.4", name);
}

static void
s_check (const char *name, const sl_msg_t *msg, const sl_buf_t *data)
{
    char doc[3][4096];
    s_example (name, doc);
    zmsg_t *zmsg = sl_msg_encode (msg);
    cr_assert_not_null (zmsg);
    zframe_t *f = zmsg_first (zmsg);
    char *hex = s_hex (zframe_data (f), zframe_size (f));
    cr_assert_str_eq (doc[0], hex, "%s header", name);
    free (hex);
    f = zmsg_next (zmsg);
    hex = s_hex (zframe_data (f), zframe_size (f));
    cr_assert_str_eq (doc[1], hex, "%s body", name);
    free (hex);
    hex = data ? s_hex (data->data, data->len) : calloc (1, 1);
    cr_assert_str_eq (doc[2], hex, "%s data", name);
    free (hex);
    //  And back: the decoder reads what the encoder wrote.
    if (data) {
        zmsg_addmem (zmsg, data->data, data->len);
    }
    sl_msg_t back;
    sl_msg_init (&back, SL_CMD_NONE);
    cr_assert_eq (sl_msg_decode (zmsg, &back), 0, "%s decodes", name);
    cr_assert_eq (back.cmd, msg->cmd);
    cr_assert_eq (back.req, msg->req);
    cr_assert_str_eq (back.op, msg->op);
    cr_assert_str_eq (back.name, msg->name);
    cr_assert_eq (back.from, msg->from);
    cr_assert_eq (back.value, msg->value);
    cr_assert_eq (back.offset, msg->offset);
    cr_assert_str_eq (back.role, msg->role);
    cr_assert_eq (back.ping_records, msg->ping_records);
    cr_assert_eq (back.ping_errors, msg->ping_errors);
    sl_msg_reset (&back);
    zmsg_destroy (&zmsg);
}

Test (stat, protocol_md_examples)
{
    sl_msg_t m;
    sl_msg_init (&m, SL_CMD_STAT);
    m.req = 7;
    s_check ("STAT", &m, NULL);
    sl_msg_init (&m, SL_CMD_STATS);
    m.req = 7;
    sl_stat_t d;
    sl_stat_init (&d);
    d.time_ms = 1795694400000;
    d.writable = true;
    sl_stat_stream_t s = {0};
    strcpy (s.name, "orders");
    s.next = 42;
    s.records = 42;
    s.bytes = 2048;
    s.last_ms = 1795694399000;
    s.rate = 0.5;
    sl_stat_add_stream (&d, &s);
    sl_buf_t doc;
    sl_buf_init (&doc, 0);
    cr_assert_eq (sl_stat_encode (&d, &doc), 0);
    s_check ("STATS", &m, &doc);
    sl_msg_init (&m, SL_CMD_ADMIN);
    m.req = 8;
    strcpy (m.op, "reader.reset");
    strcpy (m.stream, "orders");
    strcpy (m.name, "billing");
    m.from = SL_FROM_OFFSET;
    m.value = 10;
    s_check ("ADMIN", &m, NULL);
    sl_msg_init (&m, SL_CMD_ADMINED);
    m.req = 8;
    m.offset = 10;
    s_check ("ADMINED", &m, NULL);
    sl_msg_init (&m, SL_CMD_PING);
    m.req = 9;
    strcpy (m.stream, "orders");
    strcpy (m.client, "gen-1");
    strcpy (m.role, "source");
    m.ping_records = 1200;
    m.ping_errors = 3;
    s_check ("PING", &m, NULL);
    sl_stat_free (&d);
    sl_buf_free (&doc);
}

Test (stat, admin_needs_op_and_stats_its_document)
{
    //  ADMIN without "op": {"req": 1}
    const uint8_t body[] = {0x81, 0xa3, 'r', 'e', 'q', 0x01};
    const uint8_t admin[4] = {0x53, 0x4C, 1, SL_CMD_ADMIN};
    zmsg_t *zmsg = zmsg_new ();
    zmsg_addmem (zmsg, admin, 4);
    zmsg_addmem (zmsg, body, sizeof body);
    sl_msg_t msg;
    sl_msg_init (&msg, SL_CMD_NONE);
    cr_assert_eq (sl_msg_decode (zmsg, &msg), SL_EPROTO);
    zmsg_destroy (&zmsg);
    //  STATS without its data frame.
    const uint8_t stats[4] = {0x53, 0x4C, 1, SL_CMD_STATS};
    zmsg = zmsg_new ();
    zmsg_addmem (zmsg, stats, 4);
    zmsg_addmem (zmsg, body, sizeof body);
    cr_assert_eq (sl_msg_decode (zmsg, &msg), SL_EPROTO);
    zmsg_destroy (&zmsg);
    //  An op longer than 31 bytes.
    sl_msg_init (&msg, SL_CMD_ADMIN);
    memset (msg.op, 'x', sizeof msg.op);
    cr_assert_null (sl_msg_encode (&msg), "an unterminated op is not encoded");
}

//  ---------------------------------------------------------------------
//  Options from a file

typedef struct {
    char seen[8][64];
    int n;
} s_seen_t;

static const sl_opt_t s_file_opts[] = {
    {"listen", 'l', "EP", "", .repeat = false},
    {"fsync", 0, NULL, "", .repeat = false},
    {"stream-retention", 0, "P", "", .repeat = true},
    {"config", 0, "FILE", "", .repeat = false},
    {.name = NULL},
};
static const sl_opts_spec_t s_file_spec = {.program = "t", .opts = s_file_opts};

static int
s_record (void *ctx, int index, const char *arg, const char **why)
{
    s_seen_t *s = ctx;
    if (arg && strcmp (arg, "bad") == 0) {
        *why = "bad value";
        return SL_EINVAL;
    }
    snprintf (s->seen[s->n++], 64, "%d=%s", index, arg ? arg : "(switch)");
    return 0;
}

static int
s_file (const char *content, s_seen_t *seen, char *why)
{
    char path[] = "/tmp/sl_opts_file_XXXXXX";
    int fd = mkstemp (path);
    cr_assert_geq (fd, 0);
    FILE *f = fdopen (fd, "w");
    fputs (content, f);
    fclose (f);
    char *text = NULL;
    memset (seen, 0, sizeof *seen);
    int rc = sl_opts_file (&s_file_spec, path, s_record, seen, &text, why, 256);
    free (text);
    unlink (path);
    return rc;
}

Test (stat, options_file)
{
    s_seen_t seen;
    char why[256];
    cr_assert_eq (s_file ("# broker\n\nlisten = tcp://127.0.0.1:1\nfsync = true\n"
                          "stream-retention = 'a:age=1d'\nstream-retention = \"b:age=2d\"\n",
                          &seen, why),
                  0, "%s", why);
    cr_assert_eq (seen.n, 4);
    cr_assert_str_eq (seen.seen[0], "0=tcp://127.0.0.1:1");
    cr_assert_str_eq (seen.seen[1], "1=(switch)");
    cr_assert_str_eq (seen.seen[2], "2=a:age=1d");
    cr_assert_str_eq (seen.seen[3], "2=b:age=2d");
    cr_assert_eq (s_file ("fsync = false\n", &seen, why), 0);
    cr_assert_eq (seen.n, 0);
    cr_assert_eq (s_file ("listen\n", &seen, why), SL_EINVAL);
    cr_assert_not_null (strstr (why, ":1: expected NAME = VALUE"), "%s", why);
    cr_assert_eq (s_file ("\nnope = 1\n", &seen, why), SL_EINVAL);
    cr_assert_not_null (strstr (why, ":2: unknown setting 'nope'"), "%s", why);
    cr_assert_eq (s_file ("config = x\n", &seen, why), SL_EINVAL);
    cr_assert_eq (s_file ("fsync = maybe\n", &seen, why), SL_EINVAL);
    cr_assert_eq (s_file ("listen = bad\n", &seen, why), SL_EINVAL);
    cr_assert_not_null (strstr (why, "listen: bad value"), "%s", why);
    char *big = malloc (SL_OPTS_LINE_MAX + 20);
    memset (big, 'x', SL_OPTS_LINE_MAX + 10);
    big[SL_OPTS_LINE_MAX + 10] = 0;
    cr_assert_eq (s_file (big, &seen, why), SL_ETOOBIG);
    free (big);
    char *text = NULL;
    cr_assert_eq (sl_opts_file (&s_file_spec, "/nonexistent/x", s_record, &seen, &text, why, 256),
                  SL_ENOTFOUND);
    free (text);
}

Test (stat, find_config)
{
    char *argv[] = {"p", "--listen", "x", "--config", "a.conf", NULL};
    cr_assert_str_eq (sl_opts_find_config (5, argv, NULL), "a.conf");
    char *argv2[] = {"p", "--config=b.conf", NULL};
    cr_assert_str_eq (sl_opts_find_config (2, argv2, NULL), "b.conf");
    char *argv3[] = {"p", "--", "--config", "c", NULL};
    cr_assert_null (sl_opts_find_config (4, argv3, NULL));
}

Test (stat, replication_fields)
{
    sl_stat_t d;
    sl_stat_init (&d);
    sl_buf_t plain, repl, prom;
    sl_buf_init (&plain, 0);
    sl_buf_init (&repl, 0);
    sl_buf_init (&prom, 0);
    cr_assert_eq (sl_stat_encode (&d, &plain), 0);
    snprintf (d.repl_role, sizeof d.repl_role, "primary");
    d.repl_epoch = 2;
    d.repl_seq = 730;
    d.repl_lag = 5;
    d.repl_followers = 1;
    cr_assert_eq (sl_stat_encode (&d, &repl), 0);
    cr_assert_gt (repl.len, plain.len, "the keys are sent only when replicating");
    sl_stat_t back;
    sl_stat_init (&back);
    cr_assert_eq (sl_stat_decode (&back, repl.data, repl.len), 0);
    cr_assert_str_eq (back.repl_role, "primary");
    cr_assert_eq (back.repl_epoch, 2);
    cr_assert_eq (back.repl_seq, 730);
    cr_assert_eq (back.repl_lag, 5);
    cr_assert_eq (back.repl_followers, 1);
    cr_assert_eq (sl_stat_prometheus (&back, &prom), 0);
    cr_assert_eq (sl_buf_append (&prom, "", 1), 0);
    cr_assert (strstr ((char *)prom.data, "sluice_replication_lag_entries{role=\"primary\"} 5\n"),
               "%s", (char *)prom.data);
    sl_stat_free (&back);
    sl_stat_free (&d);
    sl_buf_free (&plain);
    sl_buf_free (&repl);
    sl_buf_free (&prom);
}
