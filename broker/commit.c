/*  commit.c - the broker's write path.

    Every write waiting on the socket (PUBLISH, COMMIT, JOIN, RESULT) goes
    into one LMDB transaction: the group commit. Producers are confirmed,
    members answered and new batches published live only after it has
    committed; a transaction that fails leaves nothing behind, in the log or
    in memory (worker groups are restored to their snapshots).
*/
#include <czmq.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <string.h>

#include "broker_int.h"
#include "replica.h"
#include "sl_batch.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_store.h"
#include "sl_send.h"
#include "sl_util.h"



void
sl_broker_pending_clear (sl_broker_t *self)
{
    for (size_t i = 0; i < self->n_pending; i++) {
        zframe_destroy (&self->pending[i].peer);
        zframe_destroy (&self->pending[i].data);
        sl_msg_reset (&self->pending[i].msg);
    }
    self->n_pending = 0;
    self->gathered_bytes = 0;
    self->n_touched = 0;
}

void
sl_broker_reply_publish_error (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg, int code,
                               const char *text, uint64_t seq)
{
    sl_msg_t err;
    sl_msg_init (&err, SL_CMD_ERROR);
    err.req = msg->seq;
    err.code = code < 0 ? -code : code;
    snprintf (err.text, sizeof err.text, "%s", text ? text : sl_strerror (code));
    err.seq = seq;
    //  Only what decoded as valid names is echoed: the encoder refuses
    //  anything else, and the error must still go out.
    snprintf (err.stream, sizeof err.stream, "%s", msg->stream);
    snprintf (err.name, sizeof err.name, "%s", msg->name);
    sl_broker_reply (self, peer, &err);
}

//  Checks a PUBLISH before it may join the group: limits, then every
//  record of the batch. Returns 0 or an error code with *why.
int
sl_broker_check_publish (sl_broker_t *self, const sl_msg_t *msg, zframe_t *data, const char **why)
{
    size_t size = zframe_size (data);
    //  Forbidden values of the right type are EINVAL, limits ETOOBIG, a
    //  sum past 2^64 ERANGE (docs/PROTOCOL.md §5.3).
    if (msg->count == 0 || msg->seq == 0) {
        *why = "PUBLISH needs count >= 1 and seq >= 1";
        return SL_EINVAL;
    }
    if (msg->count > self->config.max_batch_records) {
        *why = "too many records in one batch";
        return SL_ETOOBIG;
    }
    if (size > self->config.max_batch_bytes) {
        *why = "batch larger than max_batch_bytes";
        return SL_ETOOBIG;
    }
    if (msg->seq > UINT64_MAX - msg->count) {
        *why = "sequence overflows";
        return SL_ERANGE;
    }
    int rc = sl_batch_validate (zframe_data (data), size, msg->count, self->config.max_depth);
    if (rc) {
        *why = rc == SL_EDEPTH ? "a record nests deeper than max_depth"
                               : "the batch does not hold `count` well-formed records";
    }
    return rc;
}

//  Applies one PUBLISH inside the open transaction, following the dedupe
//  rules of docs/PROTOCOL.md §6.1. `seqs` holds the sequences as updated by
//  earlier writes of this group.
static int
s_apply_publish (sl_broker_t *self, pending_t *p, zhashx_t *seqs, int64_t now_ms)
{
    const sl_msg_t *msg = &p->msg;
    char *key = sl_broker_seq_key (msg->name, msg->stream);
    if (!key) {
        return SL_ENOMEM;
    }
    uint64_t acked;
    uint64_t *tentative = zhashx_lookup (seqs, key);
    int rc = 0;
    if (tentative) {
        acked = *tentative;
    }
    else {
        rc = sl_broker_acked_seq (self, msg->name, msg->stream, &acked);
    }
    if (rc) {
        goto done;
    }
    uint64_t last = msg->seq + msg->count - 1;
    p->acked = acked;
    if (msg->seq > acked + 1) {
        rc = SL_ESEQ;
        goto done;
    }
    if (last <= acked) {
        self->n_duplicates += msg->count;
        p->appended = 0;
        goto done;
    }
    //  Drop the records this producer already has, append the rest.
    uint32_t skip = (uint32_t) (acked + 1 - msg->seq);
    size_t consumed = 0;
    const uint8_t *records = zframe_data (p->data);
    size_t len = zframe_size (p->data);
    if (skip) {
        rc = sl_batch_skip (records, len, skip, &consumed);
        if (rc) {
            goto done;
        }
        self->n_duplicates += skip;
    }
    rc = sl_store_append (self->store, msg->stream, records + consumed, len - consumed,
                          msg->count - skip, now_ms, &p->header);
    if (rc) {
        goto done;
    }
    rc = sl_store_producer_set (self->store, msg->name, msg->stream, last, now_ms);
    if (rc) {
        goto done;
    }
    p->appended = msg->count - skip;
    p->acked = last;
    p->next = p->header.base_offset + p->appended;
    uint64_t *value = malloc (sizeof *value);
    if (!value) {
        rc = SL_ENOMEM;
        goto done;
    }
    *value = last;
    zhashx_update (seqs, key, value);
done:
    zstr_free (&key);
    return rc;
}

static const sl_retention_t *
s_retention_for (sl_broker_t *self, const char *stream)
{
    //  Set at run time (sluice stream retain): wins over the flags.
    const sl_retention_t *set = sl_broker_retain_get (self, stream);
    if (set) {
        return set;
    }
    for (int i = 0; i < self->config.n_overrides; i++) {
        if (fnmatch (self->config.overrides[i].pattern, stream, 0) == 0) {
            return &self->config.overrides[i].retention;
        }
    }
    return &self->config.retention;
}

static bool
s_has_limits (const sl_retention_t *r)
{
    return r->max_records || r->max_bytes || r->max_age_ms;
}

//  Remembers that a stream got new records in this group, from which
//  offset, so that they are published live once the group has committed.
static void
s_appended (void *ctx, const char *stream, const sl_batch_header_t *header)
{
    sl_broker_t *self = ctx;
    for (size_t i = 0; i < self->n_touched; i++) {
        if (streq (self->touched[i].name, stream)) {
            if (header->base_offset < self->touched[i].from) {
                self->touched[i].from = header->base_offset;
            }
            return;
        }
    }
    if (self->n_touched < TOUCHED_MAX) {
        touched_t *t = &self->touched[self->n_touched++];
        snprintf (t->name, sizeof t->name, "%s", stream);
        t->from = header->base_offset;
    }
}

typedef struct {
    sl_broker_t *self;
    const char *stream;
    uint64_t from;
} live_ctx_t;

static int
s_publish_blob (void *arg, const uint8_t *blob, size_t len)
{
    live_ctx_t *ctx = arg;
    sl_batch_header_t header;
    if (sl_batch_header_decode (blob, len, &header) != 0 || header.base_offset < ctx->from) {
        return 0;
    }
    sl_msg_t live;
    sl_msg_init (&live, SL_CMD_LIVE);
    snprintf (live.stream, sizeof live.stream, "%s", ctx->stream);
    live.offset = header.base_offset;
    live.count = header.count;
    live.next = header.base_offset + header.count;
    zmsg_t *out = sl_msg_encode (&live);
    if (!out) {
        return 0;
    }
    uint8_t topic[SL_NAME_MAX + 2];
    size_t topic_len = sl_topic (ctx->stream, topic);
    zmsg_pushmem (out, topic, topic_len);
    //  The blob lives in the read transaction: the frame takes a copy.
    zmsg_addmem (out, blob, len);
    //  PUB drops what a slow subscriber cannot take, and over the live
    //  budget (what libzmq still holds for subscribers) the broker skips
    //  the message itself; readers refill gaps from the log (§6.4).
    if (sl_send_pub (ctx->self->pub, ctx->self->live, &out) != 0) {
        ctx->self->n_live_skipped++;
        zmsg_destroy (&out);
    }
    return 0;
}

//  Publishes, in offset order, what the committed group appended: one
//  LIVE per stored blob, read back from the log, so that PUBLISH, group
//  results and dead letters all reach the live feed the same way.
static void
s_publish_live (sl_broker_t *self)
{
    for (size_t i = 0; i < self->n_touched; i++) {
        live_ctx_t ctx = {.self = self, .stream = self->touched[i].name,
                          .from = self->touched[i].from};
        sl_stream_info_t info;
        sl_store_read (self->store, ctx.stream, ctx.from, UINT32_MAX, 0, s_publish_blob, &ctx,
                       &info);
    }
}

//  Applies every pending write inside the open transaction. Returns 0, or
//  the error that aborted the transaction.
static int
s_apply_all (sl_broker_t *self, zhashx_t *seqs, int64_t now_ms)
{
    int rc = 0;
    for (size_t i = 0; i < self->n_pending; i++) {
        pending_t *p = &self->pending[i];
        p->appended = 0;
        switch (p->msg.cmd) {
        case SL_CMD_PUBLISH:
            p->rc = sl_rights_bind_producer (self, &p->msg, p->owner);
            if (p->rc == 0) {
                p->rc = s_apply_publish (self, p, seqs, now_ms);
            }
            if (p->rc == 0 && p->appended) {
                s_appended (self, p->msg.stream, &p->header);
            }
            break;
        case SL_CMD_COMMIT:
            p->rc = sl_store_reader_set (self->store, p->msg.stream, p->msg.name, p->msg.offset,
                                         now_ms);
            break;
        case SL_CMD_JOIN:
        case SL_CMD_RESULT:
        {
            sl_holder_t holder;
            sl_rights_holder (self, p->peer, p->key, &holder);
            p->rc = sl_groups_apply (self->groups, p->peer, &p->msg, p->data, &holder, now_ms,
                                     s_appended, self);
        }
            break;
        default:
            p->rc = SL_ECOMMAND;
            break;
        }
        //  When LMDB itself failed, the store has aborted the
        //  transaction: the whole group fails with that error.
        if (p->rc && !sl_store_in_txn (self->store)) {
            return p->rc;
        }
    }
    rc = sl_groups_apply_dead (self->groups, now_ms, s_appended, self);
    if (rc) {
        return rc;
    }
    //  Retention for the streams this group wrote, in the same transaction,
    //  so the log never holds more than a group past its limits.
    for (size_t i = 0; i < self->n_touched && rc == 0; i++) {
        const sl_retention_t *r = s_retention_for (self, self->touched[i].name);
        if (s_has_limits (r)) {
            uint64_t removed;
            rc = sl_store_retain (self->store, self->touched[i].name, r, now_ms, &removed);
        }
    }
    return rc;
}

//  Runs one group: every pending write in one transaction, then the
//  replies. Redone from the start when the store had to grow its map; the
//  worker groups it touched are restored to their state before it first.
void
sl_broker_commit_group (sl_broker_t *self)
{
    if (self->n_pending == 0 && !sl_groups_have_dead (self->groups)) {
        return;
    }
    int64_t now_ms = sl_now_ms ();
    int rc = 0;
    zhashx_t *seqs = NULL;
    for (int attempt = 0; attempt < MAX_GROUP_RETRIES; attempt++) {
        zhashx_destroy (&seqs);
        self->n_touched = 0;
        seqs = zhashx_new ();
        if (!seqs) {
            rc = SL_ENOMEM;
            break;
        }
        zhashx_set_destructor (seqs, (zhashx_destructor_fn *) zstr_free);
        //  Producer sequences are read before the write transaction opens,
        //  so no read transaction is needed while it is open. The cache is
        //  emptied, when too large, only here, before those reads.
        if (zhashx_size (self->seqs) >= self->config.max_producers) {
            zhashx_purge (self->seqs);
        }
        for (size_t i = 0; i < self->n_pending; i++) {
            pending_t *p = &self->pending[i];
            if (p->msg.cmd == SL_CMD_PUBLISH) {
                uint64_t seq;
                sl_broker_acked_seq (self, p->msg.name, p->msg.stream, &seq);
            }
        }
        sl_groups_begin (self->groups);
        rc = sl_store_begin (self->store);
        if (rc == 0) {
            rc = s_apply_all (self, seqs, now_ms);
        }
        if (rc == 0) {
            rc = sl_store_commit (self->store);
        }
        else if (sl_store_in_txn (self->store)) {
            sl_store_abort (self->store);
        }
        sl_groups_end (self->groups, rc == 0);
        if (rc != SL_EMAPFULL) {
            break;
        }
        sl_debug ("broker", "storage map grown; redoing the group");
    }
    zhashx_destroy (&seqs);

    if (rc == SL_ENOSPC) {
        if (!self->disk_full) {
            sl_error ("broker",
                      "disk full in %s: intake stopped, producers are told to retry; "
                      "free space or raise retention limits",
                      self->config.data_dir);
        }
        self->disk_full = true;
    }
    else if (rc == 0 && self->disk_full && self->n_touched > 0) {
        //  Only records really appended prove that space is back (a group of
        //  duplicates or commits that changed nothing writes no page).
        sl_info ("broker", "disk space available again: intake resumed");
        self->disk_full = false;
    }
    else if (rc) {
        sl_error ("broker", "commit failed: %s; producers will resend", sl_strerror (rc));
    }
    if (rc == 0) {
        self->n_commits++;
    }

    //  With --sync-replicas, only once the replicas hold it too (replica.c).
    //  ENOREPLICA: committed here, not confirmed; resends are dropped as
    //  duplicates once replicated. The sequence cache is reloaded from the
    //  store, which has them.
    int repl = rc == 0 ? sl_broker_repl_sync (self) : 0;
    if (repl) {
        zhashx_purge (self->seqs);
    }

    //  Replies, only now that the records are durable.
    for (size_t i = 0; i < self->n_pending; i++) {
        pending_t *p = &self->pending[i];
        int prc = rc ? rc : p->rc ? p->rc : repl;
        switch (p->msg.cmd) {
        case SL_CMD_PUBLISH: {
            if (prc) {
                char text[64];
                uint64_t expected = prc == SL_ESEQ ? p->acked + 1 : 0;
                snprintf (text, sizeof text, "sequence gap: expected seq %" PRIu64, expected);
                sl_broker_reply_publish_error (self, p->peer, &p->msg, prc,
                                               prc == SL_ESEQ ? text : NULL, expected);
                break;
            }
            if (p->appended) {
                //  Cache only committed sequences.
                sl_broker_cache_seq (self, p->msg.name, p->msg.stream, p->acked);
                self->n_batches++;
                self->n_records += p->appended;
            }
            else {
                //  A full duplicate: report where the stream stands now.
                sl_stream_info_t info;
                bool exists;
                if (sl_store_stream_info (self->store, p->msg.stream, &info, &exists) == 0) {
                    p->next = info.next;
                }
            }
            sl_msg_t c;
            sl_msg_init (&c, SL_CMD_CONFIRM);
            strcpy (c.stream, p->msg.stream);
            strcpy (c.name, p->msg.name);
            c.seq = p->acked;
            c.offset = p->appended ? p->header.base_offset : p->next;
            c.count = p->appended;
            sl_broker_reply (self, p->peer, &c);
            break;
        }
        case SL_CMD_COMMIT: {
            if (prc) {
                sl_broker_reply_error (self, p->peer, p->msg.req, prc, NULL, 0);
                break;
            }
            sl_msg_t c;
            sl_msg_init (&c, SL_CMD_COMMITTED);
            c.req = p->msg.req;
            strcpy (c.stream, p->msg.stream);
            strcpy (c.name, p->msg.name);
            c.offset = p->msg.offset;
            sl_broker_reply (self, p->peer, &c);
            break;
        }
        case SL_CMD_JOIN:
            if (prc == SL_EDENIED) {
                self->n_denied++;
                sl_broker_reply_error (self, p->peer, p->msg.req, prc,
                                       "permission denied: the member name belongs to a member "
                                       "of another key",
                                       0);
            }
            else if (prc) {
                sl_broker_reply_error (self, p->peer, p->msg.req, prc, NULL, 0);
            }
            else {
                sl_groups_joined (self->groups, p->peer, &p->msg);
            }
            break;
        default:
            //  RESULT has no reply (docs/PROTOCOL.md §14.3).
            break;
        }
    }
    if (rc == 0) {
        //  Also after ENOREPLICA: the records are committed here and go to
        //  the replica when it is back (docs/replication.md).
        s_publish_live (self);
        //  New records wake the groups that read them (groups.c).
        for (size_t i = 0; i < self->n_touched; i++) {
            sl_groups_wake_stream (self->groups, self->touched[i].name);
            sl_broker_stream_written (self, self->touched[i].name);
        }
    }
    sl_broker_pending_clear (self);
}

//  Time-based retention for every stream, once a second: age limits
//  remove records even when nothing is written.
typedef struct {
    char (*names)[SL_NAME_MAX + 1];
    size_t n, cap;
} names_t;

static int
s_collect_name (void *arg, const sl_stream_info_t *info)
{
    names_t *names = arg;
    if (names->n == names->cap) {
        size_t cap = names->cap ? names->cap * 2 : 16;
        void *grown = realloc (names->names, cap * sizeof *names->names);
        if (!grown) {
            return SL_ENOMEM;
        }
        names->names = grown;
        names->cap = cap;
    }
    strcpy (names->names[names->n++], info->name);
    return 0;
}

void
sl_broker_retain_all (sl_broker_t *self)
{
    bool any = s_has_limits (&self->config.retention) || self->config.n_overrides > 0
               || zhashx_size (self->retain) > 0;
    if (!any) {
        return;
    }
    names_t names = {0};
    if (sl_store_list (self->store, s_collect_name, &names) == 0 && names.n) {
        int64_t now_ms = sl_now_ms ();
        int rc = sl_store_begin (self->store);
        uint64_t total = 0;
        for (size_t i = 0; i < names.n && rc == 0; i++) {
            const sl_retention_t *r = s_retention_for (self, names.names[i]);
            if (s_has_limits (r)) {
                uint64_t removed = 0;
                rc = sl_store_retain (self->store, names.names[i], r, now_ms, &removed);
                total += removed;
            }
        }
        if (rc == 0) {
            rc = sl_store_commit (self->store);
        }
        else if (sl_store_in_txn (self->store)) {
            sl_store_abort (self->store);
        }
        if (rc == 0 && total) {
            sl_debug ("broker", "retention removed %" PRIu64 " records", total);
        }
    }
    free (names.names);
}
