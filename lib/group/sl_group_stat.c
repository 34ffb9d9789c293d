/*  sl_group_stat.c - one group's part of the progress document
    (sl_stat.h): what only the group's memory knows (members, leases,
    redeliveries). The broker adds what the log knows (lag, dead letters).
    Part of the group module: it reads sl_group_int.h and changes nothing.
*/
#include <stdio.h>
#include <stdlib.h>

#include "sl_error.h"
#include "sl_group_int.h"
#include "sl_stat.h"

int
sl_group_stat (const sl_group_t *self, int64_t mono_ms, sl_stat_group_t *out)
{
    memset (out, 0, sizeof *out);
    snprintf (out->name, sizeof out->name, "%s", self->name);
    snprintf (out->in, sizeof out->in, "%s", self->config.in);
    snprintf (out->out, sizeof out->out, "%s", self->config.out);
    out->committed = self->checkpoint;
    out->in_flight = (uint32_t)self->n_live;
    out->redeliveries = self->redeliveries;
    out->members_total = (uint32_t)self->n_members;
    size_t n = self->n_members < SL_STAT_MAX_MEMBERS ? self->n_members : SL_STAT_MAX_MEMBERS;
    if (n == 0) {
        return 0;
    }
    out->members = calloc (n, sizeof *out->members);
    if (!out->members) {
        return SL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const member_t *m = self->members[i];
        sl_stat_member_t *s = &out->members[i];
        snprintf (s->name, sizeof s->name, "%s", m->name);
        size_t bytes = m->peer_len < SL_STAT_PEER_MAX / 2 ? m->peer_len : SL_STAT_PEER_MAX / 2;
        for (size_t b = 0; b < bytes; b++) {
            snprintf (s->peer + 2 * b, 3, "%02x", m->peer[b]);
        }
        s->in_flight = m->held;
        s->records = m->records;
        s->last_heard_ms = mono_ms > m->last_seen ? mono_ms - m->last_seen : 0;
    }
    out->n_members = (uint32_t)n;
    return 0;
}

int
sl_group_member (const sl_group_t *self, size_t index, sl_group_member_t *out)
{
    if (index >= self->n_members) {
        return SL_ENOTFOUND;
    }
    const member_t *m = self->members[index];
    *out = (sl_group_member_t){.id = m->id,
                               .peer = m->peer,
                               .peer_len = m->peer_len,
                               .name = m->name,
                               .batch = m->batch,
                               .holder = m->holder};
    return 0;
}
