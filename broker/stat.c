/*  stat.c - the broker's progress view (docs/operate.md, docs/PROTOCOL.md
    §15): streams, groups and durable readers with their lag in records and
    in seconds, built from the store and the groups' memory.

    lag_seconds is exact: the append time of the first record not yet done
    is read from the header of the stored batch that holds it (one cursor
    seek, O(log n)), never interpolated from rates. A document is cached for
    STAT_CACHE_MS so that a peer asking in a loop costs the broker one
    build per interval, whatever its rate.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"
#include "replica.h"
#include "sl_error.h"
#include "sl_group.h"
#include "sl_log.h"
#include "sl_stat.h"
#include "sl_store_admin.h"
#include "http.h"

#define RATE_WINDOW_MS 60000

//  Lag of a consumer at position on stream: what is kept from position on,
//  and how long ago the first of it was appended.
static void
s_lag (sl_broker_t *self, const char *stream, uint64_t position, int64_t now_ms, uint64_t *records,
       double *seconds)
{
    *records = 0;
    *seconds = 0;
    sl_stream_info_t info;
    bool exists;
    if (sl_store_stream_info (self->store, stream, &info, &exists) || !exists) {
        return;
    }
    //  Records removed by retention can no longer be done: they are not lag.
    uint64_t from = position < info.first ? info.first : position;
    if (from >= info.next) {
        return;
    }
    *records = info.next - from;
    int64_t append_ms;
    if (sl_store_append_time (self->store, stream, from, &append_ms) == 0) {
        *seconds = sl_stat_lag_seconds (now_ms, append_ms);
    }
}

typedef struct {
    sl_broker_t *broker;
    sl_stat_t *doc;
    int64_t now_ms;
    sl_stat_group_t *groups;
    size_t n_groups, cap_groups;
    int rc;
} s_build_t;

static int
s_add_stream (void *arg, const sl_stream_info_t *info)
{
    s_build_t *b = arg;
    sl_stat_stream_t s;
    memset (&s, 0, sizeof s);
    memcpy (s.name, info->name, sizeof s.name);
    s.first = info->first;
    s.next = info->next;
    s.records = info->records;
    s.bytes = info->bytes;
    s.last_ms = info->last_ms;
    uint64_t since = info->next;
    if (info->records &&
        sl_store_find_time (b->broker->store, info->name, b->now_ms - RATE_WINDOW_MS, &since) ==
            0 &&
        since < info->next) {
        s.rate = (double)(info->next - since) / (RATE_WINDOW_MS / 1000.0);
    }
    int rc = sl_stat_add_stream (b->doc, &s);
    return rc == SL_ETOOBIG ? 1 : rc; //  full: stop listing
}

static void
s_add_group (void *arg, const sl_group_t *group)
{
    s_build_t *b = arg;
    if (b->rc) {
        return;
    }
    if (b->n_groups == b->cap_groups) {
        size_t cap = b->cap_groups ? b->cap_groups * 2 : 16;
        sl_stat_group_t *grown = realloc (b->groups, cap * sizeof *grown);
        if (!grown) {
            b->rc = SL_ENOMEM;
            return;
        }
        b->groups = grown;
        b->cap_groups = cap;
    }
    sl_stat_group_t *g = &b->groups[b->n_groups];
    if (sl_group_stat (group, sl_mono_ms (), g)) {
        b->rc = SL_ENOMEM;
        return;
    }
    b->n_groups++;
    s_lag (b->broker, g->in, g->committed, b->now_ms, &g->lag_records, &g->lag_seconds);
    char dlq[SL_NAME_MAX + 8];
    snprintf (dlq, sizeof dlq, "%s.dlq", g->name);
    sl_stream_info_t info;
    bool exists;
    if (strlen (dlq) <= SL_NAME_MAX &&
        sl_store_stream_info (b->broker->store, dlq, &info, &exists) == 0 && exists) {
        g->dead_letters = info.next;
    }
}

static int
s_cmp_group (const void *a, const void *b)
{
    return strcmp (((const sl_stat_group_t *)a)->name, ((const sl_stat_group_t *)b)->name);
}

static int
s_add_reader (void *arg, const char *stream, const char *reader, uint64_t offset,
              int64_t updated_ms)
{
    (void)updated_ms;
    s_build_t *b = arg;
    sl_stat_reader_t r;
    memset (&r, 0, sizeof r);
    snprintf (r.name, sizeof r.name, "%s", reader);
    snprintf (r.stream, sizeof r.stream, "%s", stream);
    r.position = offset;
    s_lag (b->broker, stream, offset, b->now_ms, &r.lag_records, &r.lag_seconds);
    int rc = sl_stat_add_reader (b->doc, &r);
    return rc == SL_ETOOBIG ? 1 : rc;
}

//  A keyed group's own entry hands out no leases: its progress is that of
//  its slowest share, GROUP.sN (broker/shares.c). The groups are sorted by
//  name, so a group's shares follow it among the names it begins.
static void
s_keyed_progress (s_build_t *b)
{
    for (size_t i = 0; i < b->n_groups; i++) {
        sl_stat_group_t *g = &b->groups[i];
        size_t len = strlen (g->name);
        uint64_t slowest = UINT64_MAX;
        for (size_t j = i + 1; j < b->n_groups && strncmp (b->groups[j].name, g->name, len) == 0;
             j++) {
            const char *rest = b->groups[j].name + len;
            if (rest[0] == '.' && rest[1] == 's' && rest[2] &&
                strspn (rest + 2, "0123456789") == strlen (rest + 2) &&
                b->groups[j].committed < slowest) {
                slowest = b->groups[j].committed;
            }
        }
        if (slowest != UINT64_MAX) {
            g->committed = slowest;
            s_lag (b->broker, g->in, g->committed, b->now_ms, &g->lag_records, &g->lag_seconds);
        }
    }
}

static int
s_build (sl_broker_t *self, sl_stat_t *doc)
{
    sl_stat_free (doc);
    s_build_t b = {self, doc, sl_now_ms (), NULL, 0, 0, 0};
    doc->time_ms = b.now_ms;
    doc->writable = !self->disk_full;
    sl_repl_info_t repl;
    sl_broker_repl_info (self, &repl);
    if (self->repl) {
        snprintf (doc->repl_role, sizeof doc->repl_role, "%s",
                  repl.replica ? "replica" : "primary");
        doc->repl_epoch = repl.epoch;
        doc->repl_seq = repl.seq;
        doc->repl_lag = repl.lag;
        doc->repl_followers = repl.followers;
    }
    if (self->disk_full) {
        snprintf (doc->reason, sizeof doc->reason, "%s", sl_strerror (SL_ENOSPC));
    }
    int rc = sl_store_list (self->store, s_add_stream, &b);
    if (rc >= 0) {
        sl_groups_each (self->groups, s_add_group, &b);
        rc = b.rc;
    }
    if (rc >= 0) {
        if (b.n_groups > 1) {
            qsort (b.groups, b.n_groups, sizeof *b.groups, s_cmp_group);
        }
        s_keyed_progress (&b);
        for (size_t i = 0; i < b.n_groups && rc >= 0; i++) {
            rc = sl_stat_add_group (doc, &b.groups[i]);
            rc = rc == SL_ETOOBIG ? 0 : rc;
        }
    }
    for (size_t i = 0; i < b.n_groups; i++) {
        free (b.groups[i].members);
    }
    free (b.groups);
    if (rc >= 0) {
        rc = sl_store_reader_list (self->store, s_add_reader, &b);
    }
    if (rc >= 0) {
        rc = sl_broker_clients_stat (self, doc);
    }
    if (rc < 0) {
        sl_stat_free (doc);
        return rc;
    }
    return 0;
}

const sl_buf_t *
sl_broker_stat_doc (sl_broker_t *self, int *err)
{
    int64_t now = sl_mono_ms ();
    *err = 0;
    if (self->stat_doc.len && now - self->stat_at < STAT_CACHE_MS) {
        return &self->stat_doc;
    }
    sl_stat_t doc;
    sl_stat_init (&doc);
    int rc = s_build (self, &doc);
    sl_buf_reset (&self->stat_doc);
    if (rc == 0) {
        rc = sl_stat_encode (&doc, &self->stat_doc);
    }
    sl_stat_free (&doc);
    if (rc) {
        sl_buf_reset (&self->stat_doc);
        *err = rc;
        return NULL;
    }
    self->stat_at = now;
    return &self->stat_doc;
}

void
sl_broker_on_stat (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    int rc;
    const sl_buf_t *doc = sl_broker_stat_doc (self, &rc);
    if (!doc) {
        sl_broker_reply_error (self, peer, msg->req, rc, "cannot build the progress document", 0);
        return;
    }
    sl_msg_t reply;
    sl_msg_init (&reply, SL_CMD_STATS);
    reply.req = msg->req;
    zmsg_t *zmsg = sl_msg_encode (&reply);
    if (!zmsg || zmsg_addmem (zmsg, doc->data, doc->len)) {
        zmsg_destroy (&zmsg);
        sl_broker_reply_error (self, peer, msg->req, SL_ENOMEM, NULL, 0);
        return;
    }
    sl_broker_send (self, peer, msg->req, &zmsg);
}

void
sl_broker_http_snapshot (sl_broker_t *self)
{
    int rc;
    const sl_buf_t *doc = sl_broker_stat_doc (self, &rc);
    if (doc) {
        sl_http_publish (self->http, doc->data, doc->len);
    }
}
