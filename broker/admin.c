/*  admin.c - the broker's manage commands (ADMIN, docs/PROTOCOL.md §15.2,
    docs/operate.md): streams deleted, purged and retained at run time,
    durable readers and groups reset and deleted.

    Every operation runs between group commits (the caller commits what it
    has gathered first, so an ADMIN never overtakes a write sent before it)
    in a transaction of its own, and answers ADMINED or ERROR. Run-time
    retention is kept in the store and cached here, so it survives restarts
    and overrides the broker's flags for that stream.
*/
#include <inttypes.h>
#include <string.h>

#include "broker_int.h"
#include "sl_error.h"
#include "sl_group.h"
#include "sl_log.h"
#include "sl_store_admin.h"

static int
s_cache_one (void *ctx, const char *stream, const sl_retention_t *ret)
{
    sl_broker_t *self = ctx;
    sl_retention_t *copy = malloc (sizeof *copy);
    if (!copy) {
        return SL_ENOMEM;
    }
    *copy = *ret;
    zhashx_update (self->retain, stream, copy);
    return 0;
}

int
sl_broker_retain_load (sl_broker_t *self)
{
    zhashx_purge (self->retain);
    return sl_store_retention_list (self->store, s_cache_one, self);
}

const sl_retention_t *
sl_broker_retain_get (sl_broker_t *self, const char *stream)
{
    return zhashx_lookup (self->retain, stream);
}

//  Runs op's store change in one transaction.
typedef int (s_change_fn) (sl_broker_t *self, const sl_msg_t *msg, uint64_t *affected);

static int
s_in_txn (sl_broker_t *self, const sl_msg_t *msg, s_change_fn *fn, uint64_t *affected)
{
    int rc = sl_store_begin (self->store);
    if (rc) {
        return rc;
    }
    rc = fn (self, msg, affected);
    if (rc == 0) {
        return sl_store_commit (self->store);
    }
    if (sl_store_in_txn (self->store)) {
        sl_store_abort (self->store);
    }
    return rc;
}

static int
s_delete (sl_broker_t *self, const sl_msg_t *msg, uint64_t *affected)
{
    return sl_store_stream_delete (self->store, msg->stream, affected);
}

static int
s_purge (sl_broker_t *self, const sl_msg_t *msg, uint64_t *affected)
{
    return sl_store_stream_purge (self->store, msg->stream, affected);
}

static int
s_retain (sl_broker_t *self, const sl_msg_t *msg, uint64_t *affected)
{
    (void)affected;
    sl_retention_t ret = {msg->ret_records, msg->ret_bytes, (int64_t)msg->ret_age_ms};
    return sl_store_retention_set (self->store, msg->stream, &ret);
}

static int
s_reader_delete (sl_broker_t *self, const sl_msg_t *msg, uint64_t *affected)
{
    *affected = 1;
    return sl_store_reader_delete (self->store, msg->stream, msg->name);
}

static int
s_reader_reset (sl_broker_t *self, const sl_msg_t *msg, uint64_t *offset)
{
    return sl_store_reader_set (self->store, msg->stream, msg->name, *offset, sl_now_ms ());
}

//  Where a reset goes: beginning, end, an offset or a time, clamped into
//  what the stream holds (as SEEK does).
static int
s_position (sl_broker_t *self, const sl_msg_t *msg, const char *stream, uint64_t *offset)
{
    sl_stream_info_t info;
    bool exists;
    int rc = sl_store_stream_info (self->store, stream, &info, &exists);
    if (rc) {
        return rc;
    }
    switch (msg->from) {
    case SL_FROM_END:
        *offset = info.next;
        break;
    case SL_FROM_OFFSET:
        *offset = msg->value < 0 ? 0 : (uint64_t)msg->value;
        break;
    case SL_FROM_TIME:
        rc = sl_store_find_time (self->store, stream, msg->value, offset);
        break;
    default:
        *offset = info.first;
        break;
    }
    if (*offset < info.first) {
        *offset = info.first;
    }
    if (*offset > info.next) {
        *offset = info.next;
    }
    return rc;
}

typedef struct {
    const char *stream;
    const char *user; //  a group using it, if any
} s_user_t;

static void
s_find_user (void *arg, const struct _sl_group_t *group)
{
    s_user_t *u = arg;
    const sl_group_config_t *c = sl_group_config (group);
    if (!u->user && (streq (c->in, u->stream) || streq (c->out, u->stream))) {
        u->user = sl_group_name (group);
    }
}

void
sl_broker_on_admin (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg)
{
    //  What was gathered before this command commits first: order holds.
    sl_broker_commit_group (self);
    sl_msg_t reply;
    sl_msg_init (&reply, SL_CMD_ADMINED);
    reply.req = msg->req;
    const char *why = NULL;
    char text[SL_NAME_MAX + 128];
    text[0] = 0;
    int rc = 0;
    const char *op = msg->op;
    bool stream_op = strncmp (op, "stream.", 7) == 0 || strncmp (op, "reader.", 7) == 0;
    bool reader_op = strncmp (op, "reader.", 7) == 0;
    if (stream_op && !msg->stream[0]) {
        rc = SL_EPROTO;
        why = "this operation needs \"stream\"";
    }
    else if (reader_op && !msg->name[0]) {
        rc = SL_EPROTO;
        why = "this operation needs \"reader\"";
    }
    else if (strncmp (op, "group.", 6) == 0 && !msg->group[0]) {
        rc = SL_EPROTO;
        why = "this operation needs \"group\"";
    }
    else if (streq (op, "stream.delete") || streq (op, "stream.purge")) {
        bool del = streq (op, "stream.delete");
        s_user_t u = {msg->stream, NULL};
        sl_groups_each (self->groups, s_find_user, &u);
        if (del && u.user) {
            rc = SL_ESTATE;
            snprintf (text, sizeof text,
                      "group '%s' reads or writes this stream: delete the "
                      "group first",
                      u.user);
        }
        else {
            rc = s_in_txn (self, msg, del ? s_delete : s_purge, &reply.affected);
            if (rc == SL_ENOTFOUND) {
                why = "no such stream";
            }
            else if (rc == 0 && del) {
                //  Producer sequences of the stream are gone from the store;
                //  the cache holds only copies, so it can be dropped whole.
                sl_seqs_forget (self->seqs);
                zhashx_delete (self->retain, msg->stream);
            }
        }
    }
    else if (streq (op, "stream.retain")) {
        bool exists;
        sl_stream_info_t info;
        rc = sl_store_stream_info (self->store, msg->stream, &info, &exists);
        if (rc == 0 && !exists) {
            rc = SL_ENOTFOUND;
            why = "no such stream";
        }
        if (rc == 0) {
            rc = s_in_txn (self, msg, s_retain, &reply.affected);
        }
        if (rc == 0) {
            zhashx_delete (self->retain, msg->stream);
            sl_retention_t ret = {msg->ret_records, msg->ret_bytes, (int64_t)msg->ret_age_ms};
            if (ret.max_records || ret.max_bytes || ret.max_age_ms) {
                s_cache_one (self, msg->stream, &ret);
            }
            self->next_retain_ms = 0; //  apply it at the next loop turn
        }
    }
    else if (streq (op, "reader.reset")) {
        uint64_t old;
        rc = sl_store_reader_get (self->store, msg->stream, msg->name, &old);
        if (rc == SL_ENOTFOUND) {
            why = "no such reader on this stream";
        }
        uint64_t offset = 0;
        if (rc == 0) {
            rc = s_position (self, msg, msg->stream, &offset);
        }
        if (rc == 0) {
            rc = s_in_txn (self, msg, s_reader_reset, &offset);
            reply.offset = offset;
        }
    }
    else if (streq (op, "reader.delete")) {
        rc = s_in_txn (self, msg, s_reader_delete, &reply.affected);
        if (rc == SL_ENOTFOUND) {
            why = "no such reader on this stream";
        }
    }
    else if (streq (op, "group.reset")) {
        char in[SL_NAME_MAX + 1];
        rc = sl_groups_input (self->groups, msg->group, in);
        uint64_t offset = 0;
        if (rc == SL_ENOTFOUND) {
            why = "no such group";
        }
        else if (rc == 0) {
            rc = s_position (self, msg, in, &offset);
            if (rc == 0) {
                rc = sl_groups_reset (self->groups, msg->group, offset, &reply.affected, &why);
            }
            reply.offset = offset;
        }
    }
    else if (streq (op, "group.delete")) {
        rc = sl_groups_delete (self->groups, msg->group, &reply.affected, &why);
        if (rc == 0) {
            //  A keyed group's GROUP.state went with it (groups_admin.c).
            char state[SL_NAME_MAX + 8];
            snprintf (state, sizeof state, "%s.state", msg->group);
            sl_seqs_forget (self->seqs);
            zhashx_delete (self->retain, state);
        }
    }
    else {
        rc = SL_EINVAL;
        why = "unknown op (stream.delete, stream.purge, stream.retain, reader.reset, "
              "reader.delete, group.reset, group.delete)";
    }
    //  The next STAT shows what this command changed.
    sl_buf_reset (&self->stat_doc);
    if (rc) {
        sl_broker_reply_error (self, peer, msg->req, rc, text[0] ? text : why, 0);
        return;
    }
    sl_info ("broker", "admin %s %s%s%s done (%" PRIu64 " affected)", op,
             msg->group[0] ? msg->group : msg->stream, msg->name[0] ? "/" : "", msg->name,
             reply.affected);
    sl_broker_reply (self, peer, &reply);
}
