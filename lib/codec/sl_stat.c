/*  sl_stat.c - the progress document (sl_stat.h, docs/PROTOCOL.md §15).

    One field table per kind of entry drives the encoder, the decoder and
    the Prometheus writer's labels, as sl_proto.c's table does for command
    bodies. The decoder walks the whole document with sl_mp_skip (small
    depth bound) before reading it, then checks every list against its
    bound before growing anything.
*/
#include "sl_stat.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_mp.h"

//  document > list > entry > members list > member: depth 5.
#define S_DEPTH 6

typedef enum { S_U64, S_U32, S_I64, S_F64, S_BOOL, S_STR, S_NAME } s_kind_t;

typedef struct {
    const char *key;
    s_kind_t kind;
    size_t offset;
    size_t size;
} s_field_t;

#define S_F(type, key, kind, member)                                                               \
    {                                                                                              \
        key, kind, offsetof (type, member), sizeof (((type *)0)->member)                           \
    }

static const s_field_t s_doc_fields[] = {
    S_F (sl_stat_t, "time_ms", S_I64, time_ms),
    S_F (sl_stat_t, "writable", S_BOOL, writable),
    S_F (sl_stat_t, "reason", S_STR, reason),
    S_F (sl_stat_t, "truncated", S_BOOL, truncated),
    S_F (sl_stat_t, "repl_role", S_STR, repl_role),
    S_F (sl_stat_t, "repl_epoch", S_U64, repl_epoch),
    S_F (sl_stat_t, "repl_seq", S_U64, repl_seq),
    S_F (sl_stat_t, "repl_lag", S_U64, repl_lag),
    S_F (sl_stat_t, "repl_followers", S_U32, repl_followers),
};
#define S_REPL_FIELDS 5
static const s_field_t s_stream_fields[] = {
    S_F (sl_stat_stream_t, "name", S_NAME, name),
    S_F (sl_stat_stream_t, "first", S_U64, first),
    S_F (sl_stat_stream_t, "next", S_U64, next),
    S_F (sl_stat_stream_t, "records", S_U64, records),
    S_F (sl_stat_stream_t, "bytes", S_U64, bytes),
    S_F (sl_stat_stream_t, "last_ms", S_I64, last_ms),
    S_F (sl_stat_stream_t, "rate", S_F64, rate),
};
static const s_field_t s_group_fields[] = {
    S_F (sl_stat_group_t, "name", S_NAME, name),
    S_F (sl_stat_group_t, "in", S_NAME, in),
    S_F (sl_stat_group_t, "out", S_NAME, out),
    S_F (sl_stat_group_t, "committed", S_U64, committed),
    S_F (sl_stat_group_t, "lag_records", S_U64, lag_records),
    S_F (sl_stat_group_t, "lag_seconds", S_F64, lag_seconds),
    S_F (sl_stat_group_t, "in_flight", S_U32, in_flight),
    S_F (sl_stat_group_t, "redeliveries", S_U64, redeliveries),
    S_F (sl_stat_group_t, "dead_letters", S_U64, dead_letters),
    S_F (sl_stat_group_t, "members_total", S_U32, members_total),
};
static const s_field_t s_member_fields[] = {
    S_F (sl_stat_member_t, "name", S_NAME, name),
    S_F (sl_stat_member_t, "peer", S_STR, peer),
    S_F (sl_stat_member_t, "in_flight", S_U32, in_flight),
    S_F (sl_stat_member_t, "records", S_U64, records),
    S_F (sl_stat_member_t, "last_heard_ms", S_I64, last_heard_ms),
};
static const s_field_t s_reader_fields[] = {
    S_F (sl_stat_reader_t, "name", S_NAME, name),
    S_F (sl_stat_reader_t, "stream", S_NAME, stream),
    S_F (sl_stat_reader_t, "position", S_U64, position),
    S_F (sl_stat_reader_t, "lag_records", S_U64, lag_records),
    S_F (sl_stat_reader_t, "lag_seconds", S_F64, lag_seconds),
};
static const s_field_t s_client_fields[] = {
    S_F (sl_stat_client_t, "role", S_STR, role),
    S_F (sl_stat_client_t, "name", S_STR, name),
    S_F (sl_stat_client_t, "stream", S_STR, stream),
    S_F (sl_stat_client_t, "group", S_STR, group),
    S_F (sl_stat_client_t, "records", S_U64, records),
    S_F (sl_stat_client_t, "errors", S_U64, errors),
    S_F (sl_stat_client_t, "last_heard_ms", S_I64, last_heard_ms),
};
#define S_N(a) (sizeof (a) / sizeof (a)[0])

void
sl_stat_init (sl_stat_t *self)
{
    memset (self, 0, sizeof *self);
}

void
sl_stat_free (sl_stat_t *self)
{
    for (uint32_t i = 0; i < self->n_groups; i++) {
        free (self->groups[i].members);
    }
    free (self->streams);
    free (self->groups);
    free (self->readers);
    free (self->clients);
    memset (self, 0, sizeof *self);
}

//  Grows *arr to hold n + 1 entries (capacity doubles at powers of two).
static int
s_grow (void **arr, uint32_t n, size_t size)
{
    if ((n & (n - 1)) == 0) {
        size_t cap = n ? (size_t)n * 2 : 1;
        void *grown = realloc (*arr, cap * size);
        if (!grown) {
            return SL_ENOMEM;
        }
        *arr = grown;
    }
    return 0;
}

int
sl_stat_add_stream (sl_stat_t *self, const sl_stat_stream_t *stream)
{
    if (self->n_streams >= SL_STAT_MAX_STREAMS) {
        self->truncated = true;
        return SL_ETOOBIG;
    }
    int rc = s_grow ((void **)&self->streams, self->n_streams, sizeof *stream);
    if (rc == 0) {
        self->streams[self->n_streams++] = *stream;
    }
    return rc;
}

int
sl_stat_add_group (sl_stat_t *self, sl_stat_group_t *group)
{
    if (self->n_groups >= SL_STAT_MAX_GROUPS) {
        self->truncated = true;
        return SL_ETOOBIG;
    }
    int rc = s_grow ((void **)&self->groups, self->n_groups, sizeof *group);
    if (rc == 0) {
        self->groups[self->n_groups++] = *group;
        group->members = NULL;
        group->n_members = 0;
    }
    return rc;
}

int
sl_stat_add_reader (sl_stat_t *self, const sl_stat_reader_t *reader)
{
    if (self->n_readers >= SL_STAT_MAX_READERS) {
        self->truncated = true;
        return SL_ETOOBIG;
    }
    int rc = s_grow ((void **)&self->readers, self->n_readers, sizeof *reader);
    if (rc == 0) {
        self->readers[self->n_readers++] = *reader;
    }
    return rc;
}

int
sl_stat_add_client (sl_stat_t *self, const sl_stat_client_t *client)
{
    if (self->n_clients >= SL_STAT_MAX_CLIENTS) {
        self->truncated = true;
        return SL_ETOOBIG;
    }
    int rc = s_grow ((void **)&self->clients, self->n_clients, sizeof *client);
    if (rc == 0) {
        self->clients[self->n_clients++] = *client;
    }
    return rc;
}

double
sl_stat_lag_seconds (int64_t now_ms, int64_t append_ms)
{
    return now_ms > append_ms ? (double)(now_ms - append_ms) / 1000.0 : 0.0;
}

//  ---------------------------------------------------------------------
//  Encoder

typedef struct {
    sl_buf_t *out;
    int rc;
} s_writer_t;

static void
s_put (s_writer_t *w, const void *data, size_t size)
{
    if (w->rc == 0) {
        w->rc = sl_buf_append (w->out, data, size);
    }
}

static void
s_put_str (s_writer_t *w, const char *str)
{
    uint8_t tmp[5];
    size_t len = strlen (str);
    s_put (w, tmp, sl_mp_write_str_header (tmp, sizeof tmp, (uint32_t)len));
    s_put (w, str, len);
}

static void
s_put_head (s_writer_t *w, bool map, uint32_t count)
{
    uint8_t tmp[5];
    s_put (w, tmp,
           map ? sl_mp_write_map (tmp, sizeof tmp, count)
               : sl_mp_write_array (tmp, sizeof tmp, count));
}

//  Writes the pairs of fields (not the map header).
static void
s_put_fields (s_writer_t *w, const void *base, const s_field_t *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const s_field_t *f = &fields[i];
        const uint8_t *p = (const uint8_t *)base + f->offset;
        uint8_t tmp[9];
        s_put_str (w, f->key);
        switch (f->kind) {
        case S_U64: {
            uint64_t v;
            memcpy (&v, p, sizeof v);
            s_put (w, tmp, sl_mp_write_uint (tmp, sizeof tmp, v));
            break;
        }
        case S_U32: {
            uint32_t v;
            memcpy (&v, p, sizeof v);
            s_put (w, tmp, sl_mp_write_uint (tmp, sizeof tmp, v));
            break;
        }
        case S_I64: {
            int64_t v;
            memcpy (&v, p, sizeof v);
            s_put (w, tmp, sl_mp_write_int (tmp, sizeof tmp, v));
            break;
        }
        case S_F64: {
            double v;
            memcpy (&v, p, sizeof v);
            s_put (w, tmp, sl_mp_write_double (tmp, sizeof tmp, isfinite (v) ? v : 0.0));
            break;
        }
        case S_BOOL:
            s_put (w, tmp, sl_mp_write_bool (tmp, sizeof tmp, *(const bool *)p));
            break;
        case S_STR:
        case S_NAME:
            s_put_str (w, (const char *)p);
            break;
        }
    }
}

int
sl_stat_encode (const sl_stat_t *self, sl_buf_t *out)
{
    size_t start = out->len;
    s_writer_t w = {out, 0};
    //  The replication keys (the last S_REPL_FIELDS) only from a broker
    //  that replicates: the document of one that does not stays as it was.
    size_t n_doc = self->repl_role[0] ? S_N (s_doc_fields) : S_N (s_doc_fields) - S_REPL_FIELDS;
    s_put_head (&w, true, (uint32_t)n_doc + 4);
    s_put_fields (&w, self, s_doc_fields, n_doc);
    s_put_str (&w, "streams");
    s_put_head (&w, false, self->n_streams);
    for (uint32_t i = 0; i < self->n_streams; i++) {
        s_put_head (&w, true, (uint32_t)S_N (s_stream_fields));
        s_put_fields (&w, &self->streams[i], s_stream_fields, S_N (s_stream_fields));
    }
    s_put_str (&w, "groups");
    s_put_head (&w, false, self->n_groups);
    for (uint32_t i = 0; i < self->n_groups; i++) {
        const sl_stat_group_t *g = &self->groups[i];
        s_put_head (&w, true, (uint32_t)S_N (s_group_fields) + 1);
        s_put_fields (&w, g, s_group_fields, S_N (s_group_fields));
        s_put_str (&w, "members");
        s_put_head (&w, false, g->n_members);
        for (uint32_t m = 0; m < g->n_members; m++) {
            s_put_head (&w, true, (uint32_t)S_N (s_member_fields));
            s_put_fields (&w, &g->members[m], s_member_fields, S_N (s_member_fields));
        }
    }
    s_put_str (&w, "readers");
    s_put_head (&w, false, self->n_readers);
    for (uint32_t i = 0; i < self->n_readers; i++) {
        s_put_head (&w, true, (uint32_t)S_N (s_reader_fields));
        s_put_fields (&w, &self->readers[i], s_reader_fields, S_N (s_reader_fields));
    }
    s_put_str (&w, "clients");
    s_put_head (&w, false, self->n_clients);
    for (uint32_t i = 0; i < self->n_clients; i++) {
        s_put_head (&w, true, (uint32_t)S_N (s_client_fields));
        s_put_fields (&w, &self->clients[i], s_client_fields, S_N (s_client_fields));
    }
    if (w.rc) {
        out->len = start;
    }
    return w.rc;
}

//  ---------------------------------------------------------------------
//  Decoder

static int
s_read_double (const uint8_t **p, const uint8_t *end, double *value)
{
    if (*p < end && **p == 0xcb) {
        if (end - *p < 9) {
            return SL_EPROTO;
        }
        uint64_t bits = sl_be64 (*p + 1);
        memcpy (value, &bits, sizeof bits);
        *p += 9;
        return isfinite (*value) ? 0 : SL_EPROTO;
    }
    int64_t i;
    if (sl_mp_read_int (p, end, &i) == 0) {
        *value = (double)i;
        return 0;
    }
    return SL_EPROTO;
}

static int
s_read_value (const uint8_t **p, const uint8_t *end, const s_field_t *f, void *base)
{
    uint8_t *member = (uint8_t *)base + f->offset;
    switch (f->kind) {
    case S_U64:
    case S_U32: {
        uint64_t v;
        if (sl_mp_read_uint (p, end, &v)) {
            return SL_EPROTO;
        }
        if (f->kind == S_U32) {
            if (v > UINT32_MAX) {
                return SL_ETOOBIG;
            }
            uint32_t v32 = (uint32_t)v;
            memcpy (member, &v32, sizeof v32);
        }
        else {
            memcpy (member, &v, sizeof v);
        }
        return 0;
    }
    case S_I64: {
        int64_t v;
        if (sl_mp_read_int (p, end, &v)) {
            return SL_EPROTO;
        }
        memcpy (member, &v, sizeof v);
        return 0;
    }
    case S_F64: {
        double v;
        if (s_read_double (p, end, &v)) {
            return SL_EPROTO;
        }
        memcpy (member, &v, sizeof v);
        return 0;
    }
    case S_BOOL:
        return sl_mp_read_bool (p, end, (bool *)member) ? SL_EPROTO : 0;
    case S_STR:
    case S_NAME: {
        const uint8_t *str;
        uint32_t len;
        if (sl_mp_read_str (p, end, &str, &len)) {
            return SL_EPROTO;
        }
        if (len >= f->size) {
            return SL_ETOOBIG;
        }
        if (memchr (str, 0, len) ||
            (f->kind == S_NAME && !sl_name_valid ((const char *)str, len))) {
            return SL_EPROTO;
        }
        memcpy (member, str, len);
        member[len] = 0;
        return 0;
    }
    }
    return SL_EPROTO;
}

static int
s_skip (const uint8_t **p, const uint8_t *end)
{
    size_t used;
    if (sl_mp_skip (*p, (size_t)(end - *p), S_DEPTH, &used)) {
        return SL_EPROTO;
    }
    *p += used;
    return 0;
}

//  The list reader for a key that holds entries: called with *p at the
//  value, it must consume it.
typedef int (s_list_fn) (const uint8_t **p, const uint8_t *end, const char *key, void *ctx);

//  Reads one map: known fields into base, lists through list_fn (keys
//  given in lists[]), unknown keys skipped.
static int
s_read_map (const uint8_t **p, const uint8_t *end, const s_field_t *fields, size_t n_fields,
            void *base, const char *const *lists, s_list_fn *list_fn, void *ctx)
{
    uint32_t pairs;
    if (sl_mp_read_map (p, end, &pairs)) {
        return SL_EPROTO;
    }
    for (uint32_t i = 0; i < pairs; i++) {
        const uint8_t *key;
        uint32_t key_len;
        if (sl_mp_read_str (p, end, &key, &key_len)) {
            return SL_EPROTO;
        }
        const s_field_t *f = NULL;
        for (size_t k = 0; k < n_fields && !f; k++) {
            if (strlen (fields[k].key) == key_len && memcmp (fields[k].key, key, key_len) == 0) {
                f = &fields[k];
            }
        }
        int rc = 0;
        if (f) {
            rc = s_read_value (p, end, f, base);
        }
        else {
            bool list = false;
            for (size_t k = 0; lists && lists[k] && !list; k++) {
                if (strlen (lists[k]) == key_len && memcmp (lists[k], key, key_len) == 0) {
                    list = true;
                    rc = list_fn (p, end, lists[k], ctx);
                }
            }
            if (!list) {
                rc = s_skip (p, end);
            }
        }
        if (rc) {
            return rc;
        }
    }
    return 0;
}

//  Members of the group being read; the context is the group.
static int
s_read_members (const uint8_t **p, const uint8_t *end, sl_stat_group_t *group)
{
    uint32_t count;
    if (sl_mp_read_array (p, end, &count)) {
        return SL_EPROTO;
    }
    if (count > SL_STAT_MAX_MEMBERS) {
        return SL_ETOOBIG;
    }
    free (group->members);
    group->members = count ? calloc (count, sizeof *group->members) : NULL;
    group->n_members = 0;
    if (count && !group->members) {
        return SL_ENOMEM;
    }
    for (uint32_t i = 0; i < count; i++) {
        int rc = s_read_map (p, end, s_member_fields, S_N (s_member_fields), &group->members[i],
                             NULL, NULL, NULL);
        if (rc) {
            return rc;
        }
        group->n_members++;
    }
    return 0;
}

typedef struct {
    sl_stat_t *doc;
    sl_stat_group_t *group; //  the group being read
} s_ctx_t;

static int
s_group_list (const uint8_t **p, const uint8_t *end, const char *key, void *ctx)
{
    (void)key;
    return s_read_members (p, end, ((s_ctx_t *)ctx)->group);
}

static int
s_doc_list (const uint8_t **p, const uint8_t *end, const char *key, void *arg)
{
    s_ctx_t *ctx = arg;
    sl_stat_t *doc = ctx->doc;
    uint32_t count;
    if (sl_mp_read_array (p, end, &count)) {
        return SL_EPROTO;
    }
    static const char *const group_lists[] = {"members", NULL};
    for (uint32_t i = 0; i < count; i++) {
        int rc;
        if (strcmp (key, "streams") == 0) {
            sl_stat_stream_t s;
            memset (&s, 0, sizeof s);
            rc = s_read_map (p, end, s_stream_fields, S_N (s_stream_fields), &s, NULL, NULL, NULL);
            rc = rc ? rc : sl_stat_add_stream (doc, &s);
        }
        else if (strcmp (key, "groups") == 0) {
            sl_stat_group_t g;
            memset (&g, 0, sizeof g);
            ctx->group = &g;
            rc = s_read_map (p, end, s_group_fields, S_N (s_group_fields), &g, group_lists,
                             s_group_list, ctx);
            ctx->group = NULL;
            rc = rc ? rc : sl_stat_add_group (doc, &g);
            free (g.members);
        }
        else if (strcmp (key, "clients") == 0) {
            sl_stat_client_t c;
            memset (&c, 0, sizeof c);
            rc = s_read_map (p, end, s_client_fields, S_N (s_client_fields), &c, NULL, NULL, NULL);
            rc = rc ? rc : sl_stat_add_client (doc, &c);
        }
        else {
            sl_stat_reader_t r;
            memset (&r, 0, sizeof r);
            rc = s_read_map (p, end, s_reader_fields, S_N (s_reader_fields), &r, NULL, NULL, NULL);
            rc = rc ? rc : sl_stat_add_reader (doc, &r);
        }
        if (rc) {
            return rc;
        }
    }
    return 0;
}

int
sl_stat_decode (sl_stat_t *self, const uint8_t *data, size_t len)
{
    sl_stat_free (self);
    if (len > SL_STAT_MAX_BYTES) {
        return SL_ETOOBIG;
    }
    size_t used;
    if (!data || len == 0 || sl_mp_skip (data, len, S_DEPTH, &used) || used != len) {
        return SL_EPROTO;
    }
    static const char *const lists[] = {"streams", "groups", "readers", "clients", NULL};
    s_ctx_t ctx = {self, NULL};
    const uint8_t *p = data;
    int rc = s_read_map (&p, data + len, s_doc_fields, S_N (s_doc_fields), self, lists, s_doc_list,
                         &ctx);
    if (rc) {
        sl_stat_free (self);
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  Prometheus text format

typedef struct {
    sl_buf_t *out;
    int rc;
} s_prom_t;

static void s_prom_printf (s_prom_t *w, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_prom_printf (s_prom_t *w, const char *fmt, ...)
{
    if (w->rc) {
        return;
    }
    char line[1024];
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (line, sizeof line, fmt, args);
    va_end (args);
    if (n < 0 || (size_t)n >= sizeof line) {
        w->rc = SL_ETOOBIG;
        return;
    }
    w->rc = sl_buf_append (w->out, line, (size_t)n);
}

//  A label value with \ " and newline escaped (names cannot hold them
//  today; the format requires it of any value).
static void
s_prom_label (const char *value, char *out, size_t size)
{
    size_t o = 0;
    for (const char *c = value; *c && o + 3 < size; c++) {
        if (*c == '\\' || *c == '"') {
            out[o++] = '\\';
            out[o++] = *c;
        }
        else if (*c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        }
        else {
            out[o++] = *c;
        }
    }
    out[o] = 0;
}

static void
s_prom_head (s_prom_t *w, const char *name, const char *type, const char *help)
{
    s_prom_printf (w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int
sl_stat_prometheus (const sl_stat_t *self, sl_buf_t *out)
{
    size_t start = out->len;
    s_prom_t w = {out, 0};
    char a[2 * SL_NAME_MAX + 4];
    char b[2 * SL_NAME_MAX + 4];

    s_prom_head (&w, "sluice_broker_writable", "gauge",
                 "1 while the broker takes new records, 0 while intake is stopped");
    s_prom_printf (&w, "sluice_broker_writable %d\n", self->writable ? 1 : 0);
    s_prom_head (&w, "sluice_stat_truncated", "gauge",
                 "1 when a list passed its bound and was cut (docs/operate.md)");
    s_prom_printf (&w, "sluice_stat_truncated %d\n", self->truncated ? 1 : 0);
    if (self->repl_role[0]) {
        s_prom_head (&w, "sluice_replication_lag_entries", "gauge",
                     "journal entries the slowest replica (on a replica: this one) lacks");
        s_prom_printf (&w, "sluice_replication_lag_entries{role=\"%s\"} %" PRIu64 "\n",
                       strcmp (self->repl_role, "replica") == 0 ? "replica" : "primary",
                       self->repl_lag);
        s_prom_head (&w, "sluice_replication_epoch", "gauge", "the epoch of the last entry");
        s_prom_printf (&w, "sluice_replication_epoch %" PRIu64 "\n", self->repl_epoch);
        s_prom_head (&w, "sluice_replication_followers", "gauge",
                     "replicas heard from in the last 3 s (primary)");
        s_prom_printf (&w, "sluice_replication_followers %u\n", self->repl_followers);
    }

    struct {
        const char *name, *type, *help;
        size_t offset;
    } stream_metrics[] = {
        {"sluice_stream_first_offset", "gauge", "first offset kept",
         offsetof (sl_stat_stream_t, first)},
        {"sluice_stream_next_offset", "gauge", "offset the next record will get",
         offsetof (sl_stat_stream_t, next)},
        {"sluice_stream_records", "gauge", "records kept", offsetof (sl_stat_stream_t, records)},
        {"sluice_stream_bytes", "gauge", "bytes kept", offsetof (sl_stat_stream_t, bytes)},
        {"sluice_records_in_total", "counter", "records ever appended to the stream",
         offsetof (sl_stat_stream_t, next)},
    };
    for (size_t m = 0; m < S_N (stream_metrics); m++) {
        s_prom_head (&w, stream_metrics[m].name, stream_metrics[m].type, stream_metrics[m].help);
        for (uint32_t i = 0; i < self->n_streams; i++) {
            uint64_t v;
            memcpy (&v, (const uint8_t *)&self->streams[i] + stream_metrics[m].offset, sizeof v);
            s_prom_label (self->streams[i].name, a, sizeof a);
            s_prom_printf (&w, "%s{stream=\"%s\"} %" PRIu64 "\n", stream_metrics[m].name, a, v);
        }
    }
    s_prom_head (&w, "sluice_stream_rate", "gauge",
                 "records appended per second over the last minute");
    for (uint32_t i = 0; i < self->n_streams; i++) {
        s_prom_label (self->streams[i].name, a, sizeof a);
        s_prom_printf (&w, "sluice_stream_rate{stream=\"%s\"} %.3f\n", a, self->streams[i].rate);
    }

    s_prom_head (&w, "sluice_group_committed_offset", "gauge",
                 "every input offset below it is done");
    for (uint32_t i = 0; i < self->n_groups; i++) {
        const sl_stat_group_t *g = &self->groups[i];
        s_prom_label (g->name, a, sizeof a);
        s_prom_label (g->in, b, sizeof b);
        s_prom_printf (&w,
                       "sluice_group_committed_offset{group=\"%s\",stream=\"%s\"} %" PRIu64 "\n", a,
                       b, g->committed);
    }
    s_prom_head (&w, "sluice_group_lag_records", "gauge", "input records not yet done");
    for (uint32_t i = 0; i < self->n_groups; i++) {
        const sl_stat_group_t *g = &self->groups[i];
        s_prom_label (g->name, a, sizeof a);
        s_prom_label (g->in, b, sizeof b);
        s_prom_printf (&w, "sluice_group_lag_records{group=\"%s\",stream=\"%s\"} %" PRIu64 "\n", a,
                       b, g->lag_records);
    }
    s_prom_head (&w, "sluice_group_lag_seconds", "gauge",
                 "now minus the append time of the first input record not yet done");
    for (uint32_t i = 0; i < self->n_groups; i++) {
        const sl_stat_group_t *g = &self->groups[i];
        s_prom_label (g->name, a, sizeof a);
        s_prom_label (g->in, b, sizeof b);
        s_prom_printf (&w, "sluice_group_lag_seconds{group=\"%s\",stream=\"%s\"} %.3f\n", a, b,
                       g->lag_seconds);
    }
    struct {
        const char *name, *type, *help;
        size_t offset;
        bool wide;
    } group_metrics[] = {
        {"sluice_group_members", "gauge", "members of the group",
         offsetof (sl_stat_group_t, members_total), false},
        {"sluice_group_in_flight", "gauge", "leases handed out and not ended",
         offsetof (sl_stat_group_t, in_flight), false},
        {"sluice_group_redeliveries_total", "counter",
         "leases handed out again since the broker started",
         offsetof (sl_stat_group_t, redeliveries), true},
        {"sluice_group_dead_letters_total", "counter", "records ever written to GROUP.dlq",
         offsetof (sl_stat_group_t, dead_letters), true},
    };
    for (size_t m = 0; m < S_N (group_metrics); m++) {
        s_prom_head (&w, group_metrics[m].name, group_metrics[m].type, group_metrics[m].help);
        for (uint32_t i = 0; i < self->n_groups; i++) {
            const uint8_t *p = (const uint8_t *)&self->groups[i] + group_metrics[m].offset;
            uint64_t v = 0;
            if (group_metrics[m].wide) {
                memcpy (&v, p, sizeof v);
            }
            else {
                uint32_t v32;
                memcpy (&v32, p, sizeof v32);
                v = v32;
            }
            s_prom_label (self->groups[i].name, a, sizeof a);
            s_prom_printf (&w, "%s{group=\"%s\"} %" PRIu64 "\n", group_metrics[m].name, a, v);
        }
    }
    s_prom_head (&w, "sluice_reader_lag_records", "gauge", "records past the reader's position");
    for (uint32_t i = 0; i < self->n_readers; i++) {
        s_prom_label (self->readers[i].name, a, sizeof a);
        s_prom_label (self->readers[i].stream, b, sizeof b);
        s_prom_printf (&w, "sluice_reader_lag_records{reader=\"%s\",stream=\"%s\"} %" PRIu64 "\n",
                       a, b, self->readers[i].lag_records);
    }
    s_prom_head (&w, "sluice_reader_lag_seconds", "gauge",
                 "now minus the append time of the record at the reader's position");
    for (uint32_t i = 0; i < self->n_readers; i++) {
        s_prom_label (self->readers[i].name, a, sizeof a);
        s_prom_label (self->readers[i].stream, b, sizeof b);
        s_prom_printf (&w, "sluice_reader_lag_seconds{reader=\"%s\",stream=\"%s\"} %.3f\n", a, b,
                       self->readers[i].lag_seconds);
    }
    s_prom_head (&w, "sluice_client_records_total", "counter",
                 "records a client reports it handled (its own claim, with its heartbeat)");
    for (uint32_t i = 0; i < self->n_clients; i++) {
        s_prom_label (self->clients[i].role, a, sizeof a);
        s_prom_label (self->clients[i].name, b, sizeof b);
        s_prom_printf (&w, "sluice_client_records_total{role=\"%s\",name=\"%s\"} %" PRIu64 "\n", a,
                       b, self->clients[i].records);
    }
    s_prom_head (&w, "sluice_client_errors_total", "counter",
                 "records a client reports it failed or found bad");
    for (uint32_t i = 0; i < self->n_clients; i++) {
        s_prom_label (self->clients[i].role, a, sizeof a);
        s_prom_label (self->clients[i].name, b, sizeof b);
        s_prom_printf (&w, "sluice_client_errors_total{role=\"%s\",name=\"%s\"} %" PRIu64 "\n", a,
                       b, self->clients[i].errors);
    }
    if (w.rc) {
        out->len = start;
    }
    return w.rc;
}
