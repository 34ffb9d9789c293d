/*  live.c - the broker's live feed: what a committed group appended.

    Every batch a group appends (PUBLISH, a group's output, dead letters)
    is noted at the append, in order, and published once the group has
    committed, one LIVE per batch (docs/PROTOCOL.md §13.16). When the
    appended records are a received data frame whole (a PUBLISH without
    duplicates, a RESULT's output), that frame itself becomes the LIVE's
    records frame: ZeroMQ sends it from the bytes the broker received,
    without reading the log back or copying. Anything else (a PUBLISH
    whose head was a duplicate, dead letters, a keyed group's parts) is
    copied at the append, while its bytes are still at hand.
*/
#include <czmq.h>
#include <string.h>

#include "broker_int.h"
#include "sl_log.h"
#include "sl_proto_live.h"
#include "sl_send.h"

//  Finds or adds stream in the group's touched list, keeping its first
//  new offset. Returns its index, or n_touched when the list is full.
static size_t
s_touch (sl_broker_t *self, const char *stream, uint64_t from)
{
    for (size_t i = 0; i < self->n_touched; i++) {
        if (streq (self->touched[i].name, stream)) {
            if (from < self->touched[i].from) {
                self->touched[i].from = from;
            }
            return i;
        }
    }
    if (self->n_touched < TOUCHED_MAX) {
        touched_t *t = &self->touched[self->n_touched];
        snprintf (t->name, sizeof t->name, "%s", stream);
        t->from = from;
        return self->n_touched++;
    }
    return self->n_touched;
}

void
sl_broker_live_appended (void *ctx, const char *stream, const sl_batch_header_t *header,
                         const uint8_t *records, size_t len)
{
    sl_broker_t *self = ctx;
    size_t index = s_touch (self, stream, header->base_offset);
    if (index == self->n_touched) {
        return;
    }
    if (self->n_appended == self->cap_appended) {
        size_t cap = self->cap_appended ? self->cap_appended * 2 : 64;
        appended_t *grown = realloc (self->appended, cap * sizeof *grown);
        if (!grown) {
            //  Not published: subscribers find the gap and read the log.
            self->n_live_skipped++;
            return;
        }
        self->appended = grown;
        self->cap_appended = cap;
    }
    appended_t *a = &self->appended[self->n_appended];
    a->stream = index;
    a->header = *header;
    a->src = NULL;
    a->copy = NULL;
    pending_t *p = self->applying;
    if (p && p->data && !p->live_taken && records == zframe_data (p->data) &&
        len == zframe_size (p->data)) {
        p->live_taken = true;
        a->src = p;
    }
    else {
        a->copy = zframe_new (records, len);
        if (!a->copy) {
            self->n_live_skipped++;
            return;
        }
    }
    self->n_appended++;
}

void
sl_broker_live_clear (sl_broker_t *self)
{
    for (size_t i = 0; i < self->n_appended; i++) {
        zframe_destroy (&self->appended[i].copy);
        if (self->appended[i].src) {
            self->appended[i].src->live_taken = false;
        }
    }
    self->n_appended = 0;
}

void
sl_broker_live_publish (sl_broker_t *self)
{
    for (size_t i = 0; i < self->n_appended; i++) {
        appended_t *a = &self->appended[i];
        zframe_t *records = a->copy;
        a->copy = NULL;
        if (a->src) {
            //  The pending write is answered already; its frame goes on.
            records = a->src->data;
            a->src->data = NULL;
            a->src = NULL;
        }
        if (!records) {
            continue;
        }
        zmsg_t *out = sl_live_encode (self->touched[a->stream].name, &a->header, &records);
        //  PUB drops what a slow subscriber cannot take, and over the live
        //  budget (what libzmq still holds for subscribers) the broker skips
        //  the message itself; readers refill gaps from the log (§6.4).
        if (!out || sl_send_pub (self->pub, self->live, &out) != 0) {
            self->n_live_skipped++;
            zmsg_destroy (&out);
        }
        zframe_destroy (&records);
    }
    self->n_appended = 0;
}
