/*  commit.c - the broker's write path.

    Every write waiting on the socket (PUBLISH, COMMIT, JOIN, RESULT) goes
    into one LMDB transaction: the group commit. Producers are confirmed,
    members answered and new batches published live only after it has
    committed; a transaction that fails leaves nothing behind, in the log or
    in memory (worker groups are restored to their snapshots, producer
    sequences and live batches noted by it are dropped).

    The one place where a group's writes become committed and the world is
    told is s_committed: confirms and answers, then the live feed, then the
    groups woken for new leases. Anything that must hold those back (a
    replica's acknowledgement) belongs there.
*/
#include <czmq.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "broker_int.h"
#include "replica.h"
#include "sl_batch.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_store.h"
#include "sl_util.h"

void
sl_broker_pending_clear (sl_broker_t *self)
{
    for (size_t i = 0; i < self->n_pending; i++) {
        zframe_destroy (&self->pending[i].peer);
        zframe_destroy (&self->pending[i].data);
        sl_msg_reset (&self->pending[i].msg);
        self->pending[i].live_taken = false;
    }
    self->n_pending = 0;
    self->gathered_bytes = 0;
    self->n_touched = 0;
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
//  rules of docs/PROTOCOL.md §6.1: the producer's acked sequence is the
//  one this group set, else the committed one (seqs.c).
static int
s_apply_publish (sl_broker_t *self, pending_t *p, int64_t now_ms)
{
    const sl_msg_t *msg = &p->msg;
    uint64_t acked;
    int rc = sl_seqs_get (self->seqs, msg->name, msg->stream, &acked);
    if (rc) {
        return rc;
    }
    uint64_t last = msg->seq + msg->count - 1;
    p->acked = acked;
    if (msg->seq > acked + 1) {
        return SL_ESEQ;
    }
    if (last <= acked) {
        self->n_duplicates += msg->count;
        p->appended = 0;
        return 0;
    }
    //  Drop the records this producer already has, append the rest.
    uint32_t skip = (uint32_t)(acked + 1 - msg->seq);
    size_t consumed = 0;
    const uint8_t *records = zframe_data (p->data);
    size_t len = zframe_size (p->data);
    if (skip) {
        rc = sl_batch_skip (records, len, skip, &consumed);
        if (rc) {
            return rc;
        }
        self->n_duplicates += skip;
    }
    rc = sl_store_append (self->store, msg->stream, records + consumed, len - consumed,
                          msg->count - skip, now_ms, &p->header);
    if (rc == 0) {
        rc = sl_store_producer_set (self->store, msg->name, msg->stream, last, now_ms);
    }
    if (rc == 0) {
        rc = sl_seqs_set (self->seqs, msg->name, msg->stream, last);
    }
    if (rc) {
        return rc;
    }
    p->appended = msg->count - skip;
    p->acked = last;
    p->next = p->header.base_offset + p->appended;
    sl_broker_live_appended (self, msg->stream, &p->header, records + consumed, len - consumed);
    return 0;
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

//  Applies every pending write inside the open transaction. Returns 0, or
//  the error that aborted the transaction.
static int
s_apply_all (sl_broker_t *self, int64_t now_ms)
{
    int rc = 0;
    for (size_t i = 0; i < self->n_pending; i++) {
        pending_t *p = &self->pending[i];
        p->appended = 0;
        self->applying = p;
        switch (p->msg.cmd) {
        case SL_CMD_PUBLISH:
            p->rc = sl_rights_bind_producer (self, &p->msg, p->owner);
            if (p->rc == 0) {
                p->rc = s_apply_publish (self, p, now_ms);
            }
            break;
        case SL_CMD_COMMIT:
            p->rc = sl_store_reader_set (self->store, p->msg.stream, p->msg.name, p->msg.offset,
                                         now_ms);
            break;
        case SL_CMD_JOIN:
        case SL_CMD_RESULT: {
            sl_holder_t holder;
            sl_rights_holder (self, p->peer, p->key, &holder);
            p->rc = sl_groups_apply (self->groups, p->peer, &p->msg, p->data, &holder, now_ms,
                                     sl_broker_live_appended, self);
        } break;
        default:
            p->rc = SL_ECOMMAND;
            break;
        }
        //  When LMDB itself failed, the store has aborted the
        //  transaction: the whole group fails with that error.
        if (p->rc && !sl_store_in_txn (self->store)) {
            self->applying = NULL;
            return p->rc;
        }
    }
    self->applying = NULL;
    rc = sl_groups_apply_dead (self->groups, now_ms, sl_broker_live_appended, self);
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

static int64_t
s_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  The group's transaction: every pending write applied, then committed.
//  Redone from the start when the store had to grow its map; the worker
//  groups it touched are restored to their state before it first, and
//  nothing it noted (sequences, live batches) survives a failed attempt.
static int
s_transaction (sl_broker_t *self, int64_t now_ms)
{
    int rc = 0;
    for (int attempt = 0; attempt < MAX_GROUP_RETRIES; attempt++) {
        self->n_touched = 0;
        sl_broker_live_clear (self);
        sl_seqs_begin (self->seqs);
        //  Producer sequences are read before the write transaction opens,
        //  so no read transaction is needed while it is open. The cache is
        //  emptied, when too large, only here, before those reads.
        sl_seqs_trim (self->seqs);
        for (size_t i = 0; i < self->n_pending; i++) {
            pending_t *p = &self->pending[i];
            if (p->msg.cmd == SL_CMD_PUBLISH) {
                uint64_t seq;
                sl_seqs_get (self->seqs, p->msg.name, p->msg.stream, &seq);
            }
        }
        sl_groups_begin (self->groups);
        rc = sl_store_begin (self->store);
        if (rc == 0) {
            rc = s_apply_all (self, now_ms);
        }
        if (rc == 0) {
            //  Timed: with --sync=full the commit's sync is what bounds
            //  a busy broker, and records per commit what amortises it
            //  (logged at exit; BENCHMARKS.md, "Records per fsync").
            int64_t t0 = s_mono_us ();
            rc = sl_store_commit (self->store);
            self->commit_us += (uint64_t)(s_mono_us () - t0);
        }
        else if (sl_store_in_txn (self->store)) {
            sl_store_abort (self->store);
        }
        sl_groups_end (self->groups, rc == 0);
        sl_seqs_end (self->seqs, rc == 0);
        if (rc != SL_EMAPFULL) {
            break;
        }
        sl_debug ("broker", "storage map grown; redoing the group");
    }
    if (rc) {
        sl_broker_live_clear (self);
    }
    return rc;
}

//  The disk-full state follows the group's outcome: set by ENOSPC, cleared
//  by a group that really appended.
static void
s_note_outcome (sl_broker_t *self, int rc)
{
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
        self->n_commit_writes += self->n_pending;
    }
}

//  CONFIRM (or ERROR) for a PUBLISH; prc is the group's or its own error.
static void
s_reply_publish (sl_broker_t *self, pending_t *p, int prc)
{
    if (prc) {
        char text[64];
        uint64_t expected = prc == SL_ESEQ ? p->acked + 1 : 0;
        snprintf (text, sizeof text, "sequence gap: expected seq %" PRIu64, expected);
        sl_broker_reply_publish_error (self, p->peer, &p->msg, prc, prc == SL_ESEQ ? text : NULL,
                                       expected);
        return;
    }
    if (p->appended) {
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
}

//  The answer to every pending write: rc is the group's outcome, each
//  write's own in p->rc, else repl (ENOREPLICA: committed here but not
//  held by enough replicas). RESULT has no reply (docs/PROTOCOL.md §14.3).
static void
s_reply_all (sl_broker_t *self, int rc, int repl)
{
    for (size_t i = 0; i < self->n_pending; i++) {
        pending_t *p = &self->pending[i];
        int prc = rc ? rc : p->rc ? p->rc : repl;
        switch (p->msg.cmd) {
        case SL_CMD_PUBLISH:
            s_reply_publish (self, p, prc);
            break;
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
        case SL_CMD_RESULT:
            //  A RESULT has no reply, but a limit met in the transaction is
            //  told (as one met before it): its lease was not acked.
            if (!rc && p->rc == SL_ELIMIT) {
                sl_broker_reply_error (self, p->peer, p->msg.lease, p->rc,
                                       "the keyed group's key states would pass --max-state-keys",
                                       0);
            }
            break;
        default:
            break;
        }
    }
}

//  THE point where a group's writes become committed: everything that
//  tells the world about them happens here and nowhere else, in this
//  order: producers confirmed and members answered, the new batches
//  published live, the groups that read the streams woken (new leases).
static void
s_committed (sl_broker_t *self)
{
    //  With --sync-replicas, only once the replicas hold it too (replica.c).
    //  ENOREPLICA: committed here, not confirmed; resends are dropped as
    //  duplicates once replicated, the sequences read back from the store.
    int repl = sl_broker_repl_sync (self);
    if (repl) {
        sl_seqs_forget (self->seqs);
    }
    s_reply_all (self, 0, repl);
    //  Also after ENOREPLICA: the records are committed here and go to the
    //  replica when it is back (docs/replication.md).
    sl_broker_live_publish (self);
    for (size_t i = 0; i < self->n_touched; i++) {
        sl_groups_wake_stream (self->groups, self->touched[i].name);
        sl_broker_stream_written (self, self->touched[i].name);
    }
}

//  Runs one group: every pending write in one transaction, then either
//  s_committed or, when it failed, the error to every write.
void
sl_broker_commit_group (sl_broker_t *self)
{
    if (self->n_pending == 0 && !sl_groups_have_dead (self->groups)) {
        return;
    }
    int rc = s_transaction (self, sl_now_ms ());
    s_note_outcome (self, rc);
    if (rc == 0) {
        s_committed (self);
    }
    else {
        s_reply_all (self, rc, 0);
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
    bool any = s_has_limits (&self->config.retention) || self->config.n_overrides > 0 ||
               zhashx_size (self->retain) > 0;
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
