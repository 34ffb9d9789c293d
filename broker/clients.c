/*  clients.c - counters that clients report with their heartbeat (PING with
    "role", PROTOCOL.md §15.5), so that the progress document shows the
    whole pipeline in one place: sources (records published, bad input)
    and group members (records processed, failed).

    Bounded: at most CLIENTS_MAX peers are remembered (a new one replaces
    the one heard from longest ago) and a peer silent for CLIENTS_SILENT_MS
    is dropped; names are cut to printable ASCII, so that what a peer
    claims cannot break the JSON or the metrics built from it.
*/
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"
#include "sl_error.h"
#include "sl_stat.h"
#include "sl_util.h"

typedef struct {
    sl_stat_client_t info; //  last_heard_ms holds the mono time heard
} s_client_t;

static void
s_printable (char *dst, size_t size, const char *src)
{
    size_t n = 0;
    for (; src[n] && n + 1 < size; n++) {
        unsigned char c = (unsigned char)src[n];
        dst[n] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
    }
    dst[n] = 0;
}

void
sl_broker_client_report (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    if (!msg->role[0]) {
        return; //  a plain heartbeat
    }
    char *key = zframe_strhex (peer);
    if (!key) {
        return;
    }
    int64_t now = sl_mono_ms ();
    s_client_t *c = zhashx_lookup (self->clients, key);
    if (!c) {
        if (zhashx_size (self->clients) >= CLIENTS_MAX) {
            //  Full: the one heard from longest ago makes room.
            const char *oldest = NULL;
            int64_t oldest_ms = INT64_MAX;
            for (s_client_t *e = zhashx_first (self->clients); e; e = zhashx_next (self->clients)) {
                if (e->info.last_heard_ms < oldest_ms) {
                    oldest_ms = e->info.last_heard_ms;
                    oldest = zhashx_cursor (self->clients);
                }
            }
            if (oldest) {
                zhashx_delete (self->clients, oldest);
            }
        }
        c = calloc (1, sizeof *c);
        if (!c || zhashx_insert (self->clients, key, c)) {
            free (c);
            zstr_free (&key);
            return;
        }
    }
    s_printable (c->info.role, sizeof c->info.role, msg->role);
    s_printable (c->info.name, sizeof c->info.name, msg->client);
    snprintf (c->info.stream, sizeof c->info.stream, "%s", msg->stream);
    snprintf (c->info.group, sizeof c->info.group, "%s", msg->group);
    c->info.records = msg->ping_records;
    c->info.errors = msg->ping_errors;
    c->info.last_heard_ms = now;
    zstr_free (&key);
}

static int
s_cmp (const void *a, const void *b)
{
    const sl_stat_client_t *x = a, *y = b;
    int r = strcmp (x->role, y->role);
    return r ? r : strcmp (x->name, y->name);
}

int
sl_broker_clients_stat (sl_broker_t *self, sl_stat_t *doc)
{
    int64_t now = sl_mono_ms ();
    size_t n = zhashx_size (self->clients);
    sl_stat_client_t *all = n ? calloc (n, sizeof *all) : NULL;
    if (n && !all) {
        return SL_ENOMEM;
    }
    size_t k = 0;
    zlist_t *gone = zlist_new ();
    for (s_client_t *c = zhashx_first (self->clients); c; c = zhashx_next (self->clients)) {
        if (now - c->info.last_heard_ms > CLIENTS_SILENT_MS) {
            if (gone) {
                zlist_append (gone, (void *)zhashx_cursor (self->clients));
            }
            continue;
        }
        all[k] = c->info;
        all[k].last_heard_ms = now - c->info.last_heard_ms;
        k++;
    }
    for (const char *key = gone ? zlist_first (gone) : NULL; key; key = zlist_next (gone)) {
        zhashx_delete (self->clients, key);
    }
    zlist_destroy (&gone);
    if (k > 1) {
        qsort (all, k, sizeof *all, s_cmp);
    }
    int rc = 0;
    for (size_t i = 0; i < k && rc == 0; i++) {
        rc = sl_stat_add_client (doc, &all[i]);
    }
    free (all);
    return rc == SL_ETOOBIG ? 0 : rc;
}
