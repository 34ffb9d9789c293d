/*  shares_cut.c - a keyed share's WORK cut from a lease's records
    (shares_cut.h).
*/
#include "shares_cut.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_batch.h"
#include "sl_error.h"
#include "sl_group.h"
#include "sl_proto.h"
#include "sl_shares.h"
#include "sl_shares_key.h"
#include "sl_util.h"

//  The notes of one lease range: each record's share and encoded length.
typedef struct {
    char group[SL_NAME_MAX + 1];
    //  The key path the shares were found by: a group deleted and made
    //  again by the same name over the same records with another --key
    //  must not follow notes taken with the old one.
    char key[SL_WIN_KEY_MAX + 1];
    uint32_t of;
    uint64_t from;
    uint64_t to; //  from == to: empty slot
    uint64_t print;
    uint64_t used; //  the last use, for replacing the least recently used
    uint8_t *share;
    uint32_t *len;
} slot_t;

struct _sl_shares_cut_t {
    slot_t slots[SL_SHARES_CUT_SLOTS];
    uint64_t tick;
    uint64_t hits;
    uint64_t walks;
    sl_buf_t tmp; //  a record key built by sl_shares_key
};

sl_shares_cut_t *
sl_shares_cut_new (void)
{
    sl_shares_cut_t *self = calloc (1, sizeof *self);
    if (self) {
        sl_buf_init (&self->tmp, 0);
    }
    return self;
}

void
sl_shares_cut_destroy (sl_shares_cut_t **self_p)
{
    sl_shares_cut_t *self = *self_p;
    if (!self) {
        return;
    }
    for (size_t i = 0; i < SL_SHARES_CUT_SLOTS; i++) {
        free (self->slots[i].share);
        free (self->slots[i].len);
    }
    sl_buf_free (&self->tmp);
    free (self);
    *self_p = NULL;
}

void
sl_shares_cut_stats (sl_shares_cut_t *self, uint64_t *hits, uint64_t *walks)
{
    *hits = self->hits;
    *walks = self->walks;
}

//  FNV-1a over the fields, 8 bytes each.
uint64_t
sl_shares_cut_print (uint64_t print, uint64_t base, uint32_t count, int64_t append_ms, size_t len,
                     size_t skip, size_t take)
{
    uint64_t v[6] = {base, count, (uint64_t)append_ms, len, skip, take};
    uint64_t h = print ? print : 0xcbf29ce484222325ull;
    for (size_t i = 0; i < 6; i++) {
        for (int b = 0; b < 64; b += 8) {
            h ^= (v[i] >> b) & 0xff;
            h *= 0x100000001b3ull;
        }
    }
    return h;
}

static slot_t *
s_find (sl_shares_cut_t *self, const sl_shares_cut_req_t *req)
{
    for (size_t i = 0; i < SL_SHARES_CUT_SLOTS; i++) {
        slot_t *slot = &self->slots[i];
        if (slot->from < slot->to && slot->from == req->from && slot->to == req->to &&
            slot->print == req->print && slot->of == req->of &&
            strcmp (slot->group, req->group) == 0 && strcmp (slot->key, req->key) == 0) {
            return slot;
        }
    }
    return NULL;
}

//  The least recently used slot, emptied, with room for n records; NULL
//  when there is no memory for it (the cut goes on without notes).
static slot_t *
s_take (sl_shares_cut_t *self, const sl_shares_cut_req_t *req, size_t n)
{
    slot_t *slot = &self->slots[0];
    for (size_t i = 1; i < SL_SHARES_CUT_SLOTS; i++) {
        if (self->slots[i].used < slot->used) {
            slot = &self->slots[i];
        }
    }
    slot->from = slot->to = 0;
    if (!slot->share) {
        slot->share = malloc (SL_GROUP_MAX_BATCH * sizeof *slot->share);
        slot->len = malloc (SL_GROUP_MAX_BATCH * sizeof *slot->len);
    }
    if (!slot->share || !slot->len || n > SL_GROUP_MAX_BATCH) {
        return NULL;
    }
    snprintf (slot->group, sizeof slot->group, "%s", req->group);
    snprintf (slot->key, sizeof slot->key, "%s", req->key);
    slot->of = req->of;
    slot->print = req->print;
    return slot;
}

//  The cut by the notes: false when they do not match the bytes.
static bool
s_cut_noted (const slot_t *slot, const sl_shares_cut_req_t *req, sl_buf_t *out, uint32_t *holes,
             int *rc)
{
    static const uint8_t hole = 0xc0;
    size_t n = (size_t)(req->to - req->from), i = 0;
    for (size_t s = 0; s < req->n; s++) {
        const uint8_t *p = req->slices[s].data;
        size_t left = req->slices[s].len;
        while (left > 0) {
            if (i == n || slot->len[i] > left) {
                return false;
            }
            size_t len = slot->len[i];
            bool mine = slot->share[i] == req->share;
            *rc = mine ? sl_buf_append (out, p, len) : sl_buf_append (out, &hole, 1);
            if (*rc) {
                return true;
            }
            *holes += !mine;
            p += len;
            left -= len;
            i++;
        }
    }
    return i == n;
}

int
sl_shares_cut (sl_shares_cut_t *self, const sl_shares_cut_req_t *req, sl_buf_t *out,
               uint32_t *holes)
{
    size_t n = (size_t)(req->to - req->from);
    size_t bytes = 0;
    for (size_t s = 0; s < req->n; s++) {
        bytes += req->slices[s].len;
    }
    sl_buf_reset (out);
    *holes = 0;
    int rc = sl_buf_reserve (out, bytes);
    if (rc) {
        return rc;
    }
    slot_t *slot = s_find (self, req);
    if (slot) {
        slot->used = ++self->tick;
        if (s_cut_noted (slot, req, out, holes, &rc)) {
            self->hits++;
            return rc;
        }
        //  Not the bytes the notes were taken from: walk them.
        slot->from = slot->to = 0;
        sl_buf_reset (out);
        *holes = 0;
    }
    self->walks++;
    slot = s_take (self, req, n);
    static const uint8_t hole = 0xc0;
    size_t i = 0;
    for (size_t s = 0; s < req->n && rc == 0; s++) {
        sl_record_iter_t it;
        //  The slice's records were walked when it was cut: count them as we go.
        sl_record_iter_init (&it, req->slices[s].data, req->slices[s].len, UINT32_MAX, 0);
        sl_record_t r;
        while (rc == 0 && it.p < it.end && (rc = sl_record_iter_next (&it, &r)) == 1) {
            uint32_t share =
                sl_shares_of_record (req->key, &r, req->of, SL_STATE_MAX_KEY, &self->tmp);
            bool mine = share == req->share;
            rc = mine ? sl_buf_append (out, r.raw, r.raw_len) : sl_buf_append (out, &hole, 1);
            *holes += !mine;
            if (slot && i < n) {
                slot->share[i] = (uint8_t)share;
                slot->len[i] = (uint32_t)r.raw_len;
            }
            i++;
        }
    }
    if (rc == 0 && slot && i == n) {
        slot->from = req->from;
        slot->to = req->to;
        slot->used = ++self->tick;
    }
    return rc;
}
