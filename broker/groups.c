/*  groups.c - the broker's side of worker groups (docs/PROTOCOL.md §14).

    Every group is an sl_group_t (lib/sl_group.c: leases, done ranges,
    attempts). This file connects it to the world: it reads work from the
    log and sends it to members over the ROUTER, and it applies results in
    the broker's write transaction, so that a result's output, its dead
    letters and the group's new state commit together or not at all. A
    group touched by a transaction is snapshotted first and restored if the
    transaction does not commit, so memory never runs ahead of the disk.
*/
#include "groups.h"

#include "keyed.h"

#include <inttypes.h>
#include <string.h>

#include "sl_error.h"
#include "sl_group.h"
#include "sl_log.h"
#include "sl_util.h"

#define SILENCE_MS        3000      //  a member silent this long is gone
#define DEFAULT_WINDOW    8
#define DEFAULT_BATCH     1000
#define DEFAULT_DELIVER   5
#define DEFAULT_LEASE_MS  30000

typedef struct {
    sl_group_t *group;
    sl_group_t *snapshot;       //  state before this transaction touched it
    sl_dead_t *dead;            //  dead letters from expiries, not yet stored
    size_t n_dead;
    bool touched;
    bool created;               //  created in this transaction
    bool joined_ok;             //  a JOIN of this transaction was applied
    char key[SL_WIN_KEY_MAX + 1];   //  keyed group: its key path (keyed.c), "" = not keyed
} entry_t;

struct _sl_groups_t {
    sl_store_t *store;
    zsock_t *router;
    uint32_t max_depth;
    zhashx_t *groups;           //  name -> entry_t
    sl_buf_t state;             //  encoded group state
    sl_buf_t work;              //  WORK batch being cut from the log
    sl_buf_t dlq;               //  dead letters of one result
    uint64_t n_work;
    uint64_t n_results;
    uint64_t n_dropped;
    uint64_t n_dead;
};

static void
s_entry_destroy (void **item)
{
    entry_t *entry = *item;
    if (entry) {
        sl_group_destroy (&entry->group);
        sl_group_destroy (&entry->snapshot);
        free (entry->dead);
        free (entry);
        *item = NULL;
    }
}

sl_groups_t *
sl_groups_new (sl_store_t *store, zsock_t *router, uint32_t max_depth)
{
    sl_groups_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->store = store;
    self->router = router;
    self->max_depth = max_depth;
    self->groups = zhashx_new ();
    if (!self->groups) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->groups, s_entry_destroy);
    sl_buf_init (&self->state, 0);
    sl_buf_init (&self->work, 0);
    sl_buf_init (&self->dlq, 0);
    return self;
}

void
sl_groups_destroy (sl_groups_t **self_p)
{
    sl_groups_t *self = *self_p;
    if (!self) {
        return;
    }
    zhashx_destroy (&self->groups);
    sl_buf_free (&self->state);
    sl_buf_free (&self->work);
    sl_buf_free (&self->dlq);
    free (self);
    *self_p = NULL;
}

static int
s_load_one (void *ctx, const char *name, const uint8_t *data, size_t len)
{
    sl_groups_t *self = ctx;
    int err = 0;
    sl_group_t *group = sl_group_decode (name, data, len, &err);
    if (!group) {
        //  A damaged state must not stop the broker; the group is left
        //  out and the operator is told what to do.
        sl_error ("groups", "stored state of group '%s' is damaged (%s); the group is not "
                  "served: inspect the data directory or delete the group's entry",
                  name, sl_strerror (err));
        return 0;
    }
    entry_t *entry = calloc (1, sizeof *entry);
    if (!entry) {
        sl_group_destroy (&group);
        return SL_ENOMEM;
    }
    entry->group = group;
    zhashx_update (self->groups, name, entry);
    sl_info ("groups", "group '%s' resumes at offset %" PRIu64 " of '%s'", name,
             sl_group_checkpoint (group), sl_group_config (group)->in);
    return 0;
}

int
sl_groups_load (sl_groups_t *self)
{
    return sl_store_group_list (self->store, s_load_one, self);
}

void
sl_groups_seen (sl_groups_t *self, zframe_t *peer, int64_t now_ms)
{
    for (entry_t *entry = zhashx_first (self->groups); entry;
         entry = zhashx_next (self->groups)) {
        sl_group_seen (entry->group, zframe_data (peer), zframe_size (peer), now_ms);
    }
}

static entry_t *
s_lookup (sl_groups_t *self, const char *name)
{
    return zhashx_lookup (self->groups, name);
}

int
sl_groups_check (sl_groups_t *self, const sl_msg_t *msg, zframe_t *data, const char **why)
{
    if (msg->cmd == SL_CMD_JOIN) {
        if (strlen (msg->group) + 4 > SL_NAME_MAX) {
            *why = "group name too long for its dead-letter stream NAME.dlq";
            return SL_ENAME;
        }
        if (streq (msg->in, msg->out)) {
            *why = "a group's input and output must be different streams";
            return SL_EINVAL;
        }
        if (msg->window > SL_GROUP_MAX_WINDOW || msg->batch > SL_GROUP_MAX_BATCH) {
            *why = "window is 1..64, batch 1..65536";
            return SL_ETOOBIG;
        }
        if (msg->from != SL_FROM_BEGINNING && msg->from != SL_FROM_END) {
            *why = "a group starts from beginning or end";
            return SL_EINVAL;
        }
        entry_t *entry = s_lookup (self, msg->group);
        if (entry) {
            const sl_group_config_t *config = sl_group_config (entry->group);
            if (!streq (config->in, msg->in) || !streq (config->out, msg->out)) {
                *why = "the group exists with another input or output stream";
                return SL_EINVAL;
            }
        }
        return sl_keyed_check_join (msg, entry && sl_group_members (entry->group) ? entry->key
                                                                                 : NULL, why);
    }
    //  RESULT
    entry_t *entry = s_lookup (self, msg->group);
    if (!entry) {
        *why = "no such group";
        return SL_ENOTFOUND;
    }
    if (!data) {
        *why = "RESULT without its output batch";
        return SL_EPROTO;
    }
    if (msg->count == 0 || msg->n_failed > msg->count) {
        *why = "RESULT count must be >= 1 and cover its failed records";
        return SL_EPROTO;
    }
    for (uint32_t i = 0; i < msg->n_failed; i++) {
        uint64_t offset = msg->failed[i].offset;
        if (offset < msg->offset || offset - msg->offset >= msg->count) {
            *why = "a failed record outside the lease's range";
            return SL_EPROTO;
        }
    }
    if (msg->out_count > SL_GROUP_MAX_BATCH * 16) {
        *why = "too many output records for one result";
        return SL_ETOOBIG;
    }
    uint32_t records;
    int krc = sl_keyed_check_result (msg, entry->key, &records, why);
    if (krc) {
        return krc;
    }
    size_t size = zframe_size (data);
    if (records == 0) {
        if (size != 0) {
            *why = "output bytes with out_count 0";
            return SL_EPROTO;
        }
        return 0;
    }
    int rc = sl_batch_validate (zframe_data (data), size, records, self->max_depth);
    if (rc) {
        *why = "the output batch does not hold out_count well-formed records";
    }
    return rc;
}

void
sl_groups_begin (sl_groups_t *self)
{
    for (entry_t *entry = zhashx_first (self->groups); entry;
         entry = zhashx_next (self->groups)) {
        entry->touched = false;
        entry->created = false;
        entry->joined_ok = false;
        sl_group_destroy (&entry->snapshot);
    }
}

//  Snapshots a group the first time a transaction touches it.
static int
s_touch (entry_t *entry)
{
    if (entry->touched) {
        return 0;
    }
    if (!entry->created) {
        entry->snapshot = sl_group_dup (entry->group);
        if (!entry->snapshot) {
            return SL_ENOMEM;
        }
    }
    entry->touched = true;
    return 0;
}

static int
s_save (sl_groups_t *self, entry_t *entry)
{
    sl_buf_reset (&self->state);
    int rc = sl_group_encode (entry->group, &self->state);
    if (rc == 0) {
        rc = sl_store_group_set (self->store, sl_group_name (entry->group), self->state.data,
                                 self->state.len);
    }
    return rc;
}

//  Group logic runs on the monotonic clock (leases, liveness); now_ms, the
//  wall clock, is only for what is stored.
static int
s_apply_join (sl_groups_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    entry_t *entry = s_lookup (self, msg->group);
    if (!entry) {
        sl_stream_info_t info;
        bool exists;
        int rc = sl_store_stream_info (self->store, msg->in, &info, &exists);
        if (rc) {
            return rc;
        }
        sl_group_config_t config;
        memset (&config, 0, sizeof config);
        snprintf (config.in, sizeof config.in, "%s", msg->in);
        snprintf (config.out, sizeof config.out, "%s", msg->out);
        config.max_deliver = msg->max_deliver ? msg->max_deliver : DEFAULT_DELIVER;
        config.lease_ms = msg->lease_ms ? msg->lease_ms : DEFAULT_LEASE_MS;
        uint64_t start = msg->from == SL_FROM_END ? info.next : info.first;
        entry = calloc (1, sizeof *entry);
        if (!entry) {
            return SL_ENOMEM;
        }
        entry->group = sl_group_new (msg->group, &config, start);
        if (!entry->group) {
            free (entry);
            return SL_ENOMEM;
        }
        entry->created = true;
        entry->touched = true;
        zhashx_update (self->groups, msg->group, entry);
        rc = s_save (self, entry);
        if (rc) {
            return rc;
        }
        sl_info ("groups", "group '%s' created: '%s' -> '%s' from offset %" PRIu64, msg->group,
                 msg->in, msg->out, start);
    }
    else {
        int rc = s_touch (entry);
        if (rc) {
            return rc;
        }
    }
    //  sl_groups_check refused another key while the group has members.
    snprintf (entry->key, sizeof entry->key, "%s", msg->key);
    sl_group_set_exclusive (entry->group, msg->key[0] != '\0');
    int rc = sl_group_join (entry->group, zframe_data (peer), zframe_size (peer), msg->member,
                            msg->window ? msg->window : DEFAULT_WINDOW,
                            msg->batch ? msg->batch : DEFAULT_BATCH, sl_mono_ms ());
    if (rc == 0) {
        entry->joined_ok = true;
    }
    return rc;
}

//  Finds the record at `offset` in the blobs of one read.
typedef struct {
    uint64_t offset;
    sl_buf_t *copy;             //  the record's bytes, copied out of the read txn
    sl_record_t record;
    bool found;
} find_ctx_t;

static int
s_find_record (void *arg, const uint8_t *blob, size_t len)
{
    find_ctx_t *ctx = arg;
    sl_record_iter_t it;
    sl_batch_header_t header;
    if (ctx->found || sl_record_iter_init_blob (&it, blob, len, &header) != 0) {
        return 0;
    }
    sl_record_t record;
    while (sl_record_iter_next (&it, &record) == 1) {
        if (record.offset == ctx->offset) {
            sl_buf_reset (ctx->copy);
            if (sl_buf_append (ctx->copy, record.raw, record.raw_len) != 0) {
                return SL_ENOMEM;
            }
            //  Re-read the copy so that the record points at bytes that
            //  outlive the read transaction.
            sl_record_iter_t again;
            sl_record_iter_init (&again, ctx->copy->data, ctx->copy->len, 1, ctx->offset);
            ctx->found = sl_record_iter_next (&again, &ctx->record) == 1;
            return 0;
        }
    }
    return 0;
}

//  Appends dead letters to GROUP.dlq, each with its original record read
//  back from the input log, in the open transaction.
static int
s_dead_letters (sl_groups_t *self, entry_t *entry, const sl_dead_t *dead, size_t n_dead,
                int64_t now_ms, sl_groups_appended_fn *appended, void *ctx)
{
    const sl_group_config_t *config = sl_group_config (entry->group);
    char dlq[SL_NAME_MAX + 1];
    snprintf (dlq, sizeof dlq, "%s.dlq", sl_group_name (entry->group));
    sl_buf_reset (&self->dlq);
    sl_buf_t copy;
    sl_buf_init (&copy, 0);
    int rc = 0;
    for (size_t i = 0; i < n_dead && rc == 0; i++) {
        find_ctx_t find = {.offset = dead[i].offset, .copy = &copy};
        sl_stream_info_t info;
        rc = sl_store_read (self->store, config->in, find.offset, 1, 0, s_find_record, &find,
                            &info);
        if (rc) {
            break;
        }
        if (!find.found) {
            //  Removed by retention meanwhile: the dead letter says so
            //  with a nil value rather than being lost.
            static const uint8_t nil = 0xc0;
            memset (&find.record, 0, sizeof find.record);
            find.record.offset = find.offset;
            find.record.value = &nil;
            find.record.value_len = 1;
        }
        rc = sl_group_dlq_encode (&self->dlq, entry->group, &dead[i], &find.record, now_ms);
    }
    sl_buf_free (&copy);
    if (rc) {
        return rc;
    }
    sl_batch_header_t header;
    rc = sl_store_append (self->store, dlq, self->dlq.data, self->dlq.len, (uint32_t) n_dead,
                          now_ms, &header);
    if (rc) {
        return rc;
    }
    appended (ctx, dlq, &header);
    self->n_dead += n_dead;
    sl_warn ("groups",
             "group '%s': %zu record(s) failed %u times and went to '%s' (first: offset %" PRIu64
             ": %s)",
             sl_group_name (entry->group), n_dead, dead[0].attempts, dlq, dead[0].offset,
             dead[0].error);
    return 0;
}

static int
s_apply_result (sl_groups_t *self, const sl_msg_t *msg, zframe_t *data, int64_t now_ms,
                sl_groups_appended_fn *appended, void *ctx)
{
    entry_t *entry = s_lookup (self, msg->group);
    if (!entry) {
        return SL_ENOTFOUND;
    }
    int rc = s_touch (entry);
    if (rc) {
        return rc;
    }
    sl_failed_t *failed = NULL;
    if (msg->n_failed) {
        failed = calloc (msg->n_failed, sizeof *failed);
        if (!failed) {
            return SL_ENOMEM;
        }
        for (uint32_t i = 0; i < msg->n_failed; i++) {
            failed[i].offset = msg->failed[i].offset;
            failed[i].error = msg->failed[i].error;
            failed[i].error_len = strlen (msg->failed[i].error);
            failed[i].final = msg->failed[i].final;
        }
    }
    sl_outcome_t outcome;
    rc = sl_group_result (entry->group, msg->lease, msg->offset, msg->count, failed,
                          msg->n_failed, sl_mono_ms (), &outcome);
    free (failed);
    if (rc) {
        return rc;
    }
    self->n_results++;
    if (!outcome.commit) {
        //  A late or repeated result: its range is done already.
        self->n_dropped++;
        return 0;
    }
    const sl_group_config_t *config = sl_group_config (entry->group);
    if (entry->key[0]) {
        //  Output, late records and state changes in this transaction (keyed.c).
        rc = sl_keyed_append (self->store, sl_group_name (entry->group), config->out, msg,
                              zframe_data (data), zframe_size (data), now_ms, appended, ctx);
        if (rc) {
            return rc;
        }
    }
    else if (msg->out_count) {
        sl_batch_header_t header;
        rc = sl_store_append (self->store, config->out, zframe_data (data), zframe_size (data),
                              msg->out_count, now_ms, &header);
        if (rc) {
            return rc;
        }
        appended (ctx, config->out, &header);
    }
    if (outcome.n_dead) {
        rc = s_dead_letters (self, entry, outcome.dead, outcome.n_dead, now_ms, appended, ctx);
        if (rc) {
            return rc;
        }
    }
    return s_save (self, entry);
}

int
sl_groups_apply (sl_groups_t *self, zframe_t *peer, const sl_msg_t *msg, zframe_t *data,
                 int64_t now_ms, sl_groups_appended_fn *appended, void *ctx)
{
    if (msg->cmd == SL_CMD_JOIN) {
        return s_apply_join (self, peer, msg);
    }
    return s_apply_result (self, msg, data, now_ms, appended, ctx);
}

bool
sl_groups_have_dead (sl_groups_t *self)
{
    for (entry_t *entry = zhashx_first (self->groups); entry;
         entry = zhashx_next (self->groups)) {
        if (entry->n_dead) {
            return true;
        }
    }
    return false;
}

int
sl_groups_apply_dead (sl_groups_t *self, int64_t now_ms, sl_groups_appended_fn *appended,
                      void *ctx)
{
    for (entry_t *entry = zhashx_first (self->groups); entry;
         entry = zhashx_next (self->groups)) {
        if (entry->n_dead == 0) {
            continue;
        }
        int rc = s_touch (entry);
        if (rc == 0) {
            rc = s_dead_letters (self, entry, entry->dead, entry->n_dead, now_ms, appended, ctx);
        }
        if (rc == 0) {
            rc = s_save (self, entry);
        }
        if (rc) {
            return rc;
        }
    }
    return 0;
}

void
sl_groups_end (sl_groups_t *self, bool committed)
{
    zlistx_t *gone = zlistx_new ();
    for (entry_t *entry = zhashx_first (self->groups); entry;
         entry = zhashx_next (self->groups)) {
        if (!entry->touched) {
            continue;
        }
        if (committed) {
            sl_group_destroy (&entry->snapshot);
            //  Dead letters from expiries are stored now.
            free (entry->dead);
            entry->dead = NULL;
            entry->n_dead = 0;
        }
        else if (entry->created) {
            zlistx_add_end (gone, (void *) zhashx_cursor (self->groups));
        }
        else {
            sl_group_destroy (&entry->group);
            entry->group = entry->snapshot;
            entry->snapshot = NULL;
            entry->joined_ok = false;
        }
        entry->touched = false;
        entry->created = false;
    }
    if (gone) {
        for (const char *name = zlistx_first (gone); name; name = zlistx_next (gone)) {
            zhashx_delete (self->groups, name);
        }
        zlistx_destroy (&gone);
    }
}

void
sl_groups_joined (sl_groups_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    entry_t *entry = s_lookup (self, msg->group);
    sl_msg_t reply;
    sl_msg_init (&reply, SL_CMD_JOINED);
    reply.req = msg->req;
    snprintf (reply.group, sizeof reply.group, "%s", msg->group);
    snprintf (reply.in, sizeof reply.in, "%s", msg->in);
    snprintf (reply.out, sizeof reply.out, "%s", msg->out);
    reply.offset = entry ? sl_group_checkpoint (entry->group) : 0;
    zmsg_t *out = sl_msg_encode (&reply);
    if (!out) {
        return;
    }
    zframe_t *id = zframe_dup (peer);
    zmsg_prepend (out, &id);
    if (zmsg_send (&out, self->router) != 0) {
        zmsg_destroy (&out);
    }
}

void
sl_groups_leave (sl_groups_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    entry_t *entry = s_lookup (self, msg->group);
    if (entry) {
        sl_group_leave (entry->group, zframe_data (peer), zframe_size (peer));
        sl_info ("groups", "member '%s' left group '%s'", msg->member, msg->group);
    }
}

//  Cuts the records [from, to) out of the stored blobs of one read.
typedef struct {
    sl_buf_t *out;
    uint64_t from;
    uint64_t to;
    uint32_t taken;
    int rc;
} cut_ctx_t;

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
        rc = sl_batch_skip (records, size, (uint32_t) (from - base), &skip);
        if (rc == 0) {
            rc = sl_batch_skip (records + skip, size - skip, (uint32_t) (to - from), &take);
        }
    }
    if (rc == 0) {
        rc = sl_buf_append (ctx->out, records + skip, take);
    }
    if (rc) {
        ctx->rc = rc;
        return rc;
    }
    ctx->taken += (uint32_t) (to - from);
    //  A positive return ends the read early: the lease is complete.
    return ctx->taken == ctx->to - ctx->from ? 1 : 0;
}

//  Sends one lease's records to its member. false if it could not.
static bool
s_send_work (sl_groups_t *self, entry_t *entry, const sl_lease_t *lease, const void *peer,
             size_t peer_len)
{
    const sl_group_config_t *config = sl_group_config (entry->group);
    sl_buf_reset (&self->work);
    cut_ctx_t cut = {.out = &self->work, .from = lease->offset,
                     .to = lease->offset + lease->count};
    sl_stream_info_t info;
    //  The read's record bound counts whole blobs, and the first blob may
    //  begin up to a batch before the lease: allow for it, and let s_cut
    //  stop the read as soon as the lease is complete.
    uint32_t bound = lease->count + SL_GROUP_MAX_BATCH;
    int rc = sl_store_read (self->store, config->in, lease->offset, bound, 0, s_cut, &cut, &info);
    if (rc == 1) {
        rc = 0;
    }
    if (rc || cut.rc || cut.taken != lease->count) {
        sl_debug ("groups", "group '%s': cannot cut lease [%" PRIu64 ", +%u) from '%s' (%s)",
                  sl_group_name (entry->group), lease->offset, lease->count, config->in,
                  rc || cut.rc ? sl_strerror (rc ? rc : cut.rc) : "records removed");
        //  Retention removed part of it after the lease was cut: the next
        //  dispatch sees the new first offset and skips what is gone.
        return false;
    }
    sl_msg_t work;
    sl_msg_init (&work, SL_CMD_WORK);
    snprintf (work.group, sizeof work.group, "%s", sl_group_name (entry->group));
    work.lease = lease->id;
    work.offset = lease->offset;
    work.count = lease->count;
    work.attempt = lease->attempt;
    zmsg_t *out = sl_msg_encode (&work);
    if (!out) {
        return false;
    }
    zmsg_addmem (out, self->work.data, self->work.len);
    zmsg_pushmem (out, peer, peer_len);
    if (zmsg_send (&out, self->router) != 0) {
        zmsg_destroy (&out);
        return false;
    }
    self->n_work++;
    return true;
}

//  Takes the dead letters that expiries produced into the entry, where
//  they wait for the next group commit to store them.
static void
s_collect_dead (entry_t *entry)
{
    sl_outcome_t outcome;
    if (sl_group_take_dead (entry->group, &outcome) != 0 || outcome.n_dead == 0) {
        return;
    }
    sl_dead_t *dead = realloc (entry->dead, (entry->n_dead + outcome.n_dead) * sizeof *dead);
    if (!dead) {
        return;
    }
    memcpy (dead + entry->n_dead, outcome.dead, outcome.n_dead * sizeof *dead);
    entry->dead = dead;
    entry->n_dead += outcome.n_dead;
}

void
sl_groups_dispatch (sl_groups_t *self, int64_t now_ms)
{
    for (entry_t *entry = zhashx_first (self->groups); entry;
         entry = zhashx_next (self->groups)) {
        sl_group_t *group = entry->group;
        sl_group_tick (group, now_ms, SILENCE_MS);
        s_collect_dead (entry);
        if (sl_group_members (group) == 0) {
            continue;
        }
        sl_stream_info_t info;
        bool exists;
        int irc = sl_store_stream_info (self->store, sl_group_config (group)->in, &info, &exists);
        if (irc != 0) {
            sl_debug ("groups", "group '%s': cannot read its input: %s", sl_group_name (group),
                      sl_strerror (irc));
            continue;
        }
        sl_lease_t lease;
        const void *peer;
        size_t peer_len;
        //  Bounded: each member holds at most its window of leases.
        while (sl_group_next (group, info.first, info.next, now_ms, &lease, &peer, &peer_len) ==
               1) {
            if (!s_send_work (self, entry, &lease, peer, peer_len)) {
                sl_group_unlease (group, lease.id);
                break;
            }
        }
    }
}

void
sl_groups_stats (sl_groups_t *self, uint64_t *work, uint64_t *results, uint64_t *dropped,
                 uint64_t *dead)
{
    *work = self->n_work;
    *results = self->n_results;
    *dropped = self->n_dropped;
    *dead = self->n_dead;
}
