/*  groups_log.c - what the broker's worker groups read from the log: the
    records of a lease, cut into one WORK message bounded in bytes, and the
    original records of dead letters, collected in one linear walk.
*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "groups.h"
#include "groups_int.h"
#include "sl_error.h"
#include "sl_group.h"
#include "sl_log.h"
#include "sl_send.h"
#include "sl_shares.h"
#include "sl_shares_key.h"
#include "shares_cut.h"

//  Collects the records of a set of dead letters in one walk of the input
//  log: the dead letters, in offset order (idx), are matched against the
//  records as the walk passes them, and each found record's bytes are
//  copied out of the read transaction. Linear in the records walked plus
//  the dead letters, whatever their number: a lookup from the start of the
//  stored batch per dead letter was quadratic (32,768 final failures in one
//  batch stalled the broker for 11 s).
typedef struct {
    const sl_dead_t *dead;
    const size_t *idx; //  dead letters sorted by offset
    size_t n;
    size_t next;    //  next in idx to match
    sl_buf_t *copy; //  the found records' bytes
    size_t *at;     //  per dead letter: where its bytes are in copy, SIZE_MAX none
    size_t *len;
} walk_ctx_t;

static int
s_walk_dead (void *arg, const uint8_t *blob, size_t len)
{
    walk_ctx_t *ctx = arg;
    sl_record_iter_t it;
    sl_batch_header_t header;
    if (sl_record_iter_init_blob (&it, blob, len, &header) != 0) {
        return 0;
    }
    sl_record_t record;
    while (ctx->next < ctx->n && sl_record_iter_next (&it, &record) == 1) {
        while (ctx->next < ctx->n && ctx->dead[ctx->idx[ctx->next]].offset < record.offset) {
            ctx->next++; //  not in the log (removed by retention)
        }
        while (ctx->next < ctx->n && ctx->dead[ctx->idx[ctx->next]].offset == record.offset) {
            size_t i = ctx->idx[ctx->next++];
            ctx->at[i] = ctx->copy->len;
            ctx->len[i] = record.raw_len;
            if (sl_buf_append (ctx->copy, record.raw, record.raw_len) != 0) {
                return SL_ENOMEM;
            }
        }
    }
    //  A positive return ends the read: every dead letter is matched.
    return ctx->next == ctx->n ? 1 : 0;
}

static int
s_cmp_dead (const void *a, const void *b, void *arg)
{
    const sl_dead_t *dead = arg;
    uint64_t x = dead[*(const size_t *)a].offset;
    uint64_t y = dead[*(const size_t *)b].offset;
    return x < y ? -1 : x > y;
}

//  Appends dead letters to GROUP.dlq, each with its original record read
//  back from the input log, in the open transaction.
int
sl_groups_dead_letters (sl_groups_t *self, entry_t *entry, const sl_dead_t *dead, size_t n_dead,
                        int64_t now_ms, sl_groups_appended_fn *appended, void *ctx)
{
    const sl_group_config_t *config = sl_group_config (entry->group);
    char dlq[SL_NAME_MAX + 1];
    snprintf (dlq, sizeof dlq, "%s.dlq", sl_groups_base (entry));
    sl_buf_reset (&self->dlq);
    sl_buf_t copy;
    sl_buf_init (&copy, 0);
    size_t *idx = malloc (n_dead * sizeof *idx);
    size_t *at = malloc (n_dead * sizeof *at);
    size_t *len = malloc (n_dead * sizeof *len);
    int rc = idx && at && len ? 0 : SL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n_dead; i++) {
        idx[i] = i;
        at[i] = SIZE_MAX;
        len[i] = 0;
    }
    if (rc == 0) {
        qsort_r (idx, n_dead, sizeof *idx, s_cmp_dead, (void *)dead);
        uint64_t first = dead[idx[0]].offset;
        uint64_t span = dead[idx[n_dead - 1]].offset - first + 1;
        //  The record bound counts whole blobs from the first one, which
        //  may begin up to a batch before `first`.
        uint64_t bound = span + SL_GROUP_MAX_BATCH;
        walk_ctx_t walk = {
            .dead = dead, .idx = idx, .n = n_dead, .copy = &copy, .at = at, .len = len};
        sl_stream_info_t info;
        uint64_t from = first;
        while (rc == 0 && walk.next < walk.n) {
            uint64_t damaged_before = 0, damaged_after = 0, damaged_from = 0, damaged_to = 0;
            sl_store_corrupt_stats (self->store, &damaged_before, NULL, NULL);
            rc = sl_store_read (self->store, config->in, from,
                                bound > UINT32_MAX ? UINT32_MAX : (uint32_t)bound, 0, s_walk_dead,
                                &walk, &info);
            if (rc == 1) {
                rc = 0; //  every dead letter matched
                break;
            }
            sl_store_corrupt_stats (self->store, &damaged_after, &damaged_from, &damaged_to);
            if ((rc != 0 && rc != SL_ECORRUPT) || damaged_after == damaged_before ||
                damaged_to <= from) {
                rc = rc == SL_ECORRUPT ? 0 : rc;
                break; //  the end of the log, or an error
            }
            //  A damaged stored batch (logged by the store): its dead letters
            //  go without their records; the walk goes on after it.
            rc = 0;
            while (walk.next < walk.n && dead[idx[walk.next]].offset < damaged_to) {
                walk.next++;
            }
            from = damaged_to;
        }
    }
    for (size_t i = 0; i < n_dead && rc == 0; i++) {
        sl_record_t record;
        memset (&record, 0, sizeof record);
        bool found = false;
        if (at[i] != SIZE_MAX) {
            sl_record_iter_t again;
            sl_record_iter_init (&again, copy.data + at[i], len[i], 1, dead[i].offset);
            found = sl_record_iter_next (&again, &record) == 1;
        }
        if (!found) {
            //  Removed by retention meanwhile (or its batch is damaged): the
            //  dead letter says so with a nil value rather than being lost.
            static const uint8_t nil = 0xc0;
            memset (&record, 0, sizeof record);
            record.offset = dead[i].offset;
            record.value = &nil;
            record.value_len = 1;
        }
        rc = sl_group_dlq_encode (&self->dlq, entry->group, &dead[i], &record, now_ms);
    }
    free (idx);
    free (at);
    free (len);
    sl_buf_free (&copy);
    if (rc) {
        return rc;
    }
    sl_batch_header_t header;
    rc = sl_store_append (self->store, dlq, self->dlq.data, self->dlq.len, (uint32_t)n_dead, now_ms,
                          &header);
    if (rc) {
        return rc;
    }
    appended (ctx, dlq, &header, self->dlq.data, self->dlq.len);
    self->n_dead += n_dead;
    sl_warn ("groups",
             "group '%s': %zu record(s) failed %u times and went to '%s' (first: offset %" PRIu64
             ": %s)",
             sl_group_name (entry->group), n_dead, dead[0].attempts, dlq, dead[0].offset,
             dead[0].error);
    return 0;
}

//  Cuts the records [from, to) out of the stored blobs of one read. The
//  parts are noted as slices of the log (valid while the read lasts) and
//  copied once, straight into the WORK frame, when the cut is complete.
typedef sl_cut_slice_t slice_t;

typedef struct {
    sl_buf_t *slices; //  slice_t[], the parts cut so far
    size_t bytes;     //  their total
    zframe_t *frame;  //  the records, once the cut is complete
    uint64_t from;
    uint64_t to;
    uint32_t taken;
    uint64_t max_bytes; //  the WORK message's bound (0: none)
    bool full;          //  stopped at max_bytes before the lease's end
    int rc;
    //  A keyed group's share (of > 1): only the share's records are sent,
    //  each other one is a lone nil (a hole, docs/PROTOCOL.md §14.4).
    const char *key;
    uint32_t share, of;
    uint32_t holes;
    const char *group;      //  the keyed group
    sl_shares_cut_t *notes; //  its records' shares, found once per range (shares_cut.c)
    sl_buf_t *out;          //  the share's records and holes
    uint64_t print;         //  the stored batches cut (sl_shares_cut_print)
} cut_ctx_t;

//  The parts cut so far, each record of the share in hand copied and each
//  other one a hole, into one frame. 0 or an error.
static int
s_cut_share (cut_ctx_t *ctx)
{
    sl_shares_cut_req_t req = {.group = ctx->group,
                               .key = ctx->key,
                               .share = ctx->share,
                               .of = ctx->of,
                               .from = ctx->from,
                               .to = ctx->from + ctx->taken,
                               .print = ctx->print,
                               .slices = (const slice_t *)ctx->slices->data,
                               .n = ctx->slices->len / sizeof (slice_t)};
    int rc = sl_shares_cut (ctx->notes, &req, ctx->out, &ctx->holes);
    if (rc == 0) {
        ctx->frame = zframe_new (ctx->out->data, ctx->out->len);
        rc = ctx->frame ? 0 : SL_ENOMEM;
    }
    return rc;
}

//  The parts cut so far, copied into one frame. 1 (ends the read), or an error.
static int
s_cut_done (cut_ctx_t *ctx)
{
    if (ctx->of > 1 && ctx->key && ctx->key[0]) {
        ctx->rc = s_cut_share (ctx);
        return ctx->rc ? ctx->rc : 1;
    }
    ctx->frame = zframe_new (NULL, ctx->bytes);
    if (!ctx->frame) {
        ctx->rc = SL_ENOMEM;
        return SL_ENOMEM;
    }
    uint8_t *p = zframe_data (ctx->frame);
    const slice_t *slices = (const slice_t *)ctx->slices->data;
    size_t n = ctx->slices->len / sizeof (slice_t);
    for (size_t i = 0; i < n; i++) {
        memcpy (p, slices[i].data, slices[i].len);
        p += slices[i].len;
    }
    return 1;
}

static int
s_cut (void *arg, const uint8_t *blob, size_t len)
{
    cut_ctx_t *ctx = arg;
    sl_batch_header_t header;
    int rc = sl_batch_header_decode (blob, len, &header);
    if (rc) {
        ctx->rc = rc;
        return rc;
    }
    uint64_t base = header.base_offset;
    uint64_t end = base + header.count;
    uint64_t from = ctx->from > base ? ctx->from : base;
    uint64_t to = ctx->to < end ? ctx->to : end;
    if (from >= to) {
        return 0;
    }
    const uint8_t *records = blob + SL_BATCH_HEADER_SIZE;
    size_t size = len - SL_BATCH_HEADER_SIZE;
    size_t skip = 0, take = size;
    //  A lease of whole stored batches (the usual case: leases are cut at
    //  batch boundaries while the group keeps up) takes the bytes as they
    //  are; only a part of a batch needs its records walked. The member
    //  checks every record it receives either way.
    if (from != base || to != end) {
        rc = sl_batch_skip (records, size, (uint32_t)(from - base), &skip);
        if (rc == 0) {
            rc = sl_batch_skip (records + skip, size - skip, (uint32_t)(to - from), &take);
        }
    }
    if (rc == 0 && ctx->max_bytes && ctx->bytes > 0 && ctx->bytes + take > ctx->max_bytes) {
        //  At least one stored batch, then no more than the bound.
        ctx->full = true;
        return s_cut_done (ctx);
    }
    if (rc == 0) {
        slice_t slice = {records + skip, take};
        rc = sl_buf_append (ctx->slices, &slice, sizeof slice);
        ctx->print =
            sl_shares_cut_print (ctx->print, base, header.count, header.append_ms, len, skip, take);
    }
    if (rc) {
        ctx->rc = rc;
        return rc;
    }
    ctx->bytes += take;
    ctx->taken += (uint32_t)(to - from);
    //  A positive return ends the read early: the lease is complete.
    return ctx->taken == ctx->to - ctx->from ? s_cut_done (ctx) : 0;
}

//  Sends one lease's records to its member: 0, SL_EBUSY/SL_EAGAIN/SL_ECLOSED
//  when the member cannot take it now, another error when the lease cannot
//  be cut.
int
sl_groups_send_work (sl_groups_t *self, entry_t *entry, sl_lease_t *lease, const void *peer,
                     size_t peer_len)
{
    const sl_group_config_t *config = sl_group_config (entry->group);
    sl_buf_reset (&self->work);
    bool keyed = entry->base[0] && entry->of > 1 && entry->key[0];
    if (keyed && !self->cuts && !(self->cuts = sl_shares_cut_new ())) {
        return SL_ENOMEM;
    }
    cut_ctx_t cut = {.slices = &self->work,
                     .group = entry->base,
                     .notes = self->cuts,
                     .out = &self->cut,
                     .from = lease->offset,
                     .to = lease->offset + lease->count,
                     .max_bytes = self->max_work_bytes,
                     .key = entry->key,
                     .share = entry->share,
                     .of = entry->base[0] ? entry->of : 1};
    sl_stream_info_t info;
    //  The read's record bound counts whole blobs, and the first blob may
    //  begin up to a batch before the lease: allow for it, and let s_cut
    //  stop the read as soon as the lease is complete.
    uint32_t bound = lease->count + SL_GROUP_MAX_BATCH;
    int rc = sl_store_read (self->store, config->in, lease->offset, bound, 0, s_cut, &cut, &info);
    if (rc == 1) {
        rc = 0;
    }
    if (rc == 0 && cut.rc == 0 && cut.full && cut.taken > 0 && cut.taken < lease->count) {
        //  Bounded in bytes: the lease becomes what was cut, the rest
        //  goes back to the queue for the next lease.
        rc = sl_group_shrink (entry->group, lease->id, cut.taken);
        if (rc == 0) {
            lease->count = cut.taken;
        }
    }
    if (rc || cut.rc || cut.taken != lease->count || !cut.frame) {
        sl_debug ("groups", "group '%s': cannot cut lease [%" PRIu64 ", +%u) from '%s' (%s)",
                  sl_group_name (entry->group), lease->offset, lease->count, config->in,
                  rc || cut.rc ? sl_strerror (rc ? rc : cut.rc) : "records removed");
        //  Retention removed part of it after the lease was cut: the next
        //  dispatch sees the new first offset and skips what is gone.
        zframe_destroy (&cut.frame);
        return SL_ENOTFOUND;
    }
    sl_msg_t work;
    sl_msg_init (&work, SL_CMD_WORK);
    snprintf (work.group, sizeof work.group, "%s", sl_groups_base (entry));
    work.share = entry->share;
    work.shares = entry->of;
    work.lease = lease->id;
    work.offset = lease->offset;
    work.count = lease->count;
    work.attempt = lease->attempt;
    work.holes = cut.holes;
    zmsg_t *out = sl_msg_encode (&work);
    if (!out || zmsg_append (out, &cut.frame) != 0) {
        zmsg_destroy (&out);
        zframe_destroy (&cut.frame);
        return SL_ENOMEM;
    }
    //  WORK counts into the member's byte budget like any reply.
    rc = sl_send_router (self->router, self->budget, peer, peer_len, &out);
    if (rc) {
        zmsg_destroy (&out);
        return rc;
    }
    self->n_work++;
    return 0;
}
