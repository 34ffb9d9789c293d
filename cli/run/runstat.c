/*  runstat.c - `sluice run`'s questions to the broker (runstat.h).
 */
#include "runstat.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_client.h"
#include "sl_error.h"
#include "sl_stat.h"
#include "sl_util.h"
#include "sl_version.h"

struct _sl_runstat_t {
    const sl_pipeline_t *pl;
    sl_client_t *client;
    sl_stat_t doc;
    bool have;         //  doc holds an answer
    int64_t asked_ms;  //  mono
    int64_t status_ms; //  the last status line (mono)
};

sl_runstat_t *
sl_runstat_new (const sl_pipeline_t *pl)
{
    sl_client_opts_t copts = {.broker = sl_pipeline_endpoint (pl),
                              .software = "sluice-run/" SLUICE_VERSION,
                              .timeout_ms = RUNSTAT_WAIT_MS};
    const sl_stage_t *broker = sl_pipeline_stage (pl, 0);
    if (sl_stage_value (broker, "curve-secret")) {
        for (size_t i = 1; i < sl_pipeline_size (pl); i++) {
            const sl_stage_t *s = sl_pipeline_stage (pl, i);
            if (sl_stage_value (s, "curve-secret") && sl_stage_value (s, "broker-key")) {
                copts.curve_secret = sl_stage_value (s, "curve-secret");
                copts.broker_key = sl_stage_value (s, "broker-key");
                break;
            }
        }
        if (!copts.curve_secret) {
            return NULL;
        }
    }
    sl_runstat_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->pl = pl;
    sl_stat_init (&self->doc);
    self->client = sl_client_new (&copts);
    if (!self->client) {
        free (self);
        return NULL;
    }
    return self;
}

void
sl_runstat_destroy (sl_runstat_t **self_p)
{
    sl_runstat_t *self = *self_p;
    if (self) {
        sl_client_destroy (&self->client);
        sl_stat_free (&self->doc);
        free (self);
        *self_p = NULL;
    }
}

//  One STAT, waiting at most RUNSTAT_WAIT_MS; keeps the last good answer.
static void
s_ask (sl_runstat_t *self)
{
    int64_t now = sl_mono_ms ();
    if (self->have && now - self->asked_ms < RUNSTAT_EVERY_MS) {
        return;
    }
    self->asked_ms = now;
    sl_msg_t request, reply;
    sl_msg_init (&request, SL_CMD_STAT);
    sl_msg_init (&reply, SL_CMD_NONE);
    zmsg_t *data = NULL;
    int rc = sl_client_request (self->client, &request, &reply, &data, now + RUNSTAT_WAIT_MS);
    zframe_t *frame = rc == 0 && data ? zmsg_first (data) : NULL;
    if (frame && reply.cmd == SL_CMD_STATS) {
        sl_stat_t doc;
        sl_stat_init (&doc);
        if (sl_stat_decode (&doc, zframe_data (frame), zframe_size (frame)) == 0) {
            sl_stat_free (&self->doc);
            self->doc = doc;
            self->have = true;
        }
    }
    zmsg_destroy (&data);
    sl_msg_reset (&reply);
}

static const sl_stat_group_t *
s_group (const sl_stat_t *doc, const char *name)
{
    for (uint32_t i = 0; i < doc->n_groups; i++) {
        if (strcmp (doc->groups[i].name, name) == 0) {
            return &doc->groups[i];
        }
    }
    return NULL;
}

bool
sl_runstat_drained (sl_runstat_t *self, int64_t since_wall_ms, char *waiting, size_t size)
{
    s_ask (self);
    if (waiting && size) {
        snprintf (waiting, size, "no answer from the broker yet");
    }
    if (!self->have || self->doc.time_ms <= since_wall_ms) {
        return false;
    }
    size_t used = 0;
    bool drained = true;
    for (size_t i = 0; i < sl_pipeline_size (self->pl); i++) {
        const sl_stage_t *s = sl_pipeline_stage (self->pl, i);
        if (s->kind != SL_STAGE_GROUP) {
            continue;
        }
        const sl_stat_group_t *g = s_group (&self->doc, s->name);
        //  A group not in the document has not joined yet: nothing done.
        if (!g || g->lag_records > 0 || g->in_flight > 0) {
            if (waiting && used < size) {
                int n = g ? snprintf (waiting + used, size - used, "%s%s lag %llu (%.1f s)",
                                      drained ? "" : ", ", s->name,
                                      (unsigned long long)g->lag_records, g->lag_seconds)
                          : snprintf (waiting + used, size - used, "%s%s not joined",
                                      drained ? "" : ", ", s->name);
                used += n > 0 ? (size_t)n : 0;
            }
            drained = false;
        }
    }
    return drained;
}

static double
s_rate (const sl_stat_t *doc, const char *stream)
{
    for (uint32_t i = 0; stream && i < doc->n_streams; i++) {
        if (strcmp (doc->streams[i].name, stream) == 0) {
            return doc->streams[i].rate;
        }
    }
    return 0;
}

static const sl_stat_reader_t *
s_reader (const sl_stat_t *doc, const char *name, const char *stream)
{
    for (uint32_t i = 0; name && stream && i < doc->n_readers; i++) {
        if (strcmp (doc->readers[i].name, name) == 0 &&
            strcmp (doc->readers[i].stream, stream) == 0) {
            return &doc->readers[i];
        }
    }
    return NULL;
}

//  One stage's part of the status line; the length snprintf gives.
static int
s_stage_part (const sl_stat_t *doc, const sl_stage_t *s, const char *sep, char *buf, size_t size)
{
    const char *stream = sl_stage_value (s, "stream");
    if (s->kind == SL_STAGE_SOURCE) {
        return snprintf (buf, size, "%s%s → %s %.1f/s", sep, s->name, stream ? stream : "?",
                         s_rate (doc, stream));
    }
    if (s->kind == SL_STAGE_GROUP) {
        const sl_stat_group_t *g = s_group (doc, s->name);
        if (!g) {
            return snprintf (buf, size, "%s%s not joined", sep, s->name);
        }
        return snprintf (buf, size, "%s%s lag %llu (%.1f s), %u members, out %.1f/s", sep, s->name,
                         (unsigned long long)g->lag_records, g->lag_seconds, g->members_total,
                         s_rate (doc, g->out));
    }
    //  A sink: its stream's rate, and its lag when it is a durable reader
    //  (the broker knows nothing of a plain sink's position).
    const sl_stat_reader_t *r = s_reader (doc, sl_stage_value (s, "name"), stream);
    if (r) {
        return snprintf (buf, size, "%s%s ← %s %.1f/s, lag %llu (%.1f s)", sep, s->name, stream,
                         s_rate (doc, stream), (unsigned long long)r->lag_records, r->lag_seconds);
    }
    return snprintf (buf, size, "%s%s ← %s %.1f/s", sep, s->name, stream ? stream : "?",
                     s_rate (doc, stream));
}

bool
sl_runstat_line (sl_runstat_t *self, char *buf, size_t size)
{
    s_ask (self);
    if (!self->have || size == 0) {
        return false;
    }
    size_t used = 0;
    buf[0] = 0;
    //  In the data's order: sources, groups, sinks.
    static const sl_stage_kind_t order[] = {SL_STAGE_SOURCE, SL_STAGE_GROUP, SL_STAGE_SINK};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        for (size_t i = 1; i < sl_pipeline_size (self->pl) && used < size; i++) {
            const sl_stage_t *s = sl_pipeline_stage (self->pl, i);
            if (s->kind != order[k]) {
                continue;
            }
            int n = s_stage_part (&self->doc, s, used ? " | " : "", buf + used, size - used);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    if (used >= size) {
        buf[size - 1] = 0;
    }
    return true;
}

bool
sl_runstat_status_due (sl_runstat_t **self_p, const sl_pipeline_t *pl, int64_t now, char *line,
                       size_t size)
{
    if (!*self_p) {
        *self_p = sl_runstat_new (pl);
    }
    sl_runstat_t *self = *self_p;
    if (!self || (self->status_ms && now - self->status_ms < RUNSTAT_STATUS_MS)) {
        return false;
    }
    if (!sl_runstat_line (self, line, size)) {
        return false;
    }
    self->status_ms = now;
    return true;
}
