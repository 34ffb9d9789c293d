/*  sl_proto.c - the Sluice protocol codec (docs/PROTOCOL.md §3 and §5).

    Two tables drive everything: the command table (SL_COMMANDS in
    sl_proto.h: code, name, data frames) and the field table below (wire
    key, type, where it lives in sl_msg_t, and two bitmasks: the commands
    that carry the field and the commands that require it). The encoder and
    the decoder walk the field table; no command has code of its own, apart
    from the one rule a table cannot say (SEEK "committed" needs a reader).

    This file holds the tables and the encoder; the decoder, which walks
    the same tables, is sl_proto_decode.c.
*/
#include "sl_proto.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_mp.h"
#include "sl_proto_int.h"

static const sl_proto_cmd_t s_cmds[] = {
#define S_CMD_ROW(name, code, data) {SL_CMD_##name, #name, S_DATA_##data},
    SL_COMMANDS (S_CMD_ROW)
#undef S_CMD_ROW
};
#define S_N_CMDS (sizeof s_cmds / sizeof s_cmds[0])

#define S_MEMBER_SIZE(type, member) sizeof (((type *)0)->member)
#define S_FIELD(key, kind, member, max, carry, need)                                               \
    {                                                                                              \
        key, sizeof (key) - 1, kind, offsetof (sl_msg_t, member),                                  \
            S_MEMBER_SIZE (sl_msg_t, member), max, carry, need                                     \
    }

//  Requests and replies that carry "req" (PUBLISH, CONFIRM and LIVE do not:
//  PUBLISH replies go in order and are matched by seq).
#define S_REQ_CARRY                                                                                \
    (S_BIT (HELLO) | S_BIT (WELCOME) | S_BIT (SEEK) | S_BIT (POSITION) | S_BIT (FETCH) |           \
     S_BIT (RECORDS) | S_BIT (COMMIT) | S_BIT (COMMITTED) | S_BIT (LIST) | S_BIT (STREAMS) |       \
     S_BIT (PING) | S_BIT (PONG) | S_BIT (ERROR) | S_BIT (JOIN) | S_BIT (JOINED) | S_BIT (STAT) |  \
     S_BIT (STATS) | S_BIT (ADMIN) | S_BIT (ADMINED) | S_STATE_CMDS)
#define S_REQ_NEED (S_REQ_CARRY & ~(S_BIT (HELLO) | S_BIT (PING)))
#define S_STREAM_NEED                                                                              \
    (S_BIT (PUBLISH) | S_BIT (CONFIRM) | S_BIT (SEEK) | S_BIT (POSITION) | S_BIT (FETCH) |         \
     S_BIT (RECORDS) | S_BIT (COMMIT) | S_BIT (COMMITTED) | S_BIT (LIVE))
#define S_OFFSET_CMDS                                                                              \
    (S_BIT (CONFIRM) | S_BIT (POSITION) | S_BIT (FETCH) | S_BIT (RECORDS) | S_BIT (COMMIT) |       \
     S_BIT (COMMITTED) | S_BIT (LIVE) | S_BIT (JOINED) | S_BIT (WORK) | S_BIT (RESULT))
#define S_GROUP_CMDS (S_BIT (JOIN) | S_BIT (JOINED) | S_BIT (WORK) | S_BIT (RESULT) | S_BIT (LEAVE))
#define S_LEASE_CMDS (S_BIT (WORK) | S_BIT (RESULT))
#define S_COUNT_CMDS                                                                               \
    (S_BIT (PUBLISH) | S_BIT (CONFIRM) | S_BIT (LIVE) | S_BIT (WORK) | S_BIT (RESULT))
#define S_REPL_CMDS (S_BIT (REPLICATE) | S_BIT (REPLICATED))
#define S_STATE_CMDS (S_BIT (STATE_READ) | S_BIT (STATE))
#define S_U32 UINT32_MAX
#define S_U64 UINT64_MAX

const char *const sl_proto_from_names[] = {"beginning", "end",  "offset",
                                           "last",      "time", "committed"};
#define S_N_FROM (sizeof sl_proto_from_names / sizeof sl_proto_from_names[0])

//  The one field table. Its order is the order keys are written in.
static const sl_proto_field_t s_fields[] = {
    S_FIELD ("req", S_UINT, req, S_U64, S_REQ_CARRY, S_REQ_NEED),
    //  ERROR carries "stream" and "producer" only when it answers a PUBLISH
    //  (§5.2): that is how a client tells a PUBLISH's error from another's.
    S_FIELD ("stream", S_NAME, stream, 0,
             S_STREAM_NEED | S_BIT (HELLO) | S_BIT (ERROR) | S_BIT (ADMIN) | S_BIT (PING),
             S_STREAM_NEED),
    S_FIELD ("producer", S_NAME, name, 0,
             S_BIT (HELLO) | S_BIT (PUBLISH) | S_BIT (CONFIRM) | S_BIT (ERROR),
             S_BIT (PUBLISH) | S_BIT (CONFIRM)),
    S_FIELD ("reader", S_NAME, name, 0,
             S_BIT (SEEK) | S_BIT (COMMIT) | S_BIT (COMMITTED) | S_BIT (ADMIN),
             S_BIT (COMMIT) | S_BIT (COMMITTED)),
    S_FIELD ("client", S_STR, client, 0, S_BIT (HELLO) | S_BIT (PING), 0),
    S_FIELD ("broker", S_STR, broker, 0, S_BIT (WELCOME), S_BIT (WELCOME)),
    S_FIELD ("pub", S_STR, endpoint, 0, S_BIT (WELCOME) | S_BIT (REPLICATED), S_BIT (WELCOME)),
    S_FIELD ("seq", S_UINT, seq, S_U64,
             S_BIT (WELCOME) | S_BIT (PUBLISH) | S_BIT (CONFIRM) | S_BIT (ERROR) | S_REPL_CMDS,
             S_BIT (PUBLISH) | S_BIT (CONFIRM) | S_REPL_CMDS),
    S_FIELD ("count", S_UINT, count, S_U32, S_COUNT_CMDS | S_BIT (REPLICATED) | S_BIT (STATE),
             S_COUNT_CMDS | S_BIT (REPLICATED) | S_BIT (STATE)),
    S_FIELD ("offset", S_UINT, offset, S_U64, S_OFFSET_CMDS | S_BIT (ADMINED) | S_BIT (REPLICATED),
             S_OFFSET_CMDS),
    S_FIELD ("first", S_UINT, first, S_U64, S_BIT (POSITION) | S_BIT (RECORDS) | S_BIT (REPLICATED),
             S_BIT (POSITION) | S_BIT (RECORDS)),
    S_FIELD ("next", S_UINT, next, S_U64,
             S_BIT (POSITION) | S_BIT (RECORDS) | S_BIT (LIVE) | S_BIT (REPLICATED),
             S_BIT (POSITION) | S_BIT (RECORDS) | S_BIT (LIVE) | S_BIT (REPLICATED)),
    S_FIELD ("from", S_FROM, from, S_N_FROM, S_BIT (SEEK), S_BIT (SEEK)),
    S_FIELD ("value", S_INT, value, 0, S_BIT (SEEK) | S_BIT (ADMIN), 0),
    S_FIELD ("found", S_BOOL, found, 0, S_BIT (POSITION) | S_BIT (REPLICATED) | S_BIT (STATE),
             S_BIT (POSITION)),
    S_FIELD ("max_records", S_UINT, max_records, S_U32, S_BIT (FETCH), 0),
    S_FIELD ("max_bytes", S_UINT, max_bytes, S_U64,
             S_BIT (FETCH) | S_BIT (REPLICATE) | S_BIT (STATE_READ), 0),
    S_FIELD ("code", S_UINT, code, INT32_MAX, S_BIT (ERROR), S_BIT (ERROR)),
    S_FIELD ("text", S_STR, text, 0, S_BIT (ERROR) | S_BIT (ADMINED), S_BIT (ERROR)),
    S_FIELD ("heartbeat_ms", S_UINT, heartbeat_ms, S_U32, S_BIT (WELCOME), S_BIT (WELCOME)),
    S_FIELD ("max_batch_bytes", S_UINT, max_batch_bytes, S_U64, S_BIT (WELCOME), S_BIT (WELCOME)),
    S_FIELD ("max_batch_records", S_UINT, max_batch_records, S_U32, S_BIT (WELCOME),
             S_BIT (WELCOME)),
    S_FIELD ("max_depth", S_UINT, max_depth, S_U32, S_BIT (WELCOME), S_BIT (WELCOME)),
    S_FIELD ("streams", S_STREAMS, streams, 0, S_BIT (STREAMS), S_BIT (STREAMS)),
    S_FIELD ("group", S_NAME, group, 0,
             S_GROUP_CMDS | S_BIT (ADMIN) | S_BIT (PING) | S_BIT (STATE_READ),
             S_GROUP_CMDS | S_BIT (STATE_READ)),
    S_FIELD ("in", S_NAME, in, 0, S_BIT (JOIN) | S_BIT (JOINED), S_BIT (JOIN) | S_BIT (JOINED)),
    S_FIELD ("out", S_NAME, out, 0, S_BIT (JOIN) | S_BIT (JOINED), S_BIT (JOIN) | S_BIT (JOINED)),
    S_FIELD ("member", S_NAME, member, 0, S_BIT (JOIN) | S_BIT (LEAVE),
             S_BIT (JOIN) | S_BIT (LEAVE)),
    S_FIELD ("lease", S_UINT, lease, S_U64, S_LEASE_CMDS, S_LEASE_CMDS),
    S_FIELD ("attempt", S_UINT, attempt, S_U32, S_BIT (WORK), S_BIT (WORK)),
    S_FIELD ("out_count", S_UINT, out_count, S_U32, S_BIT (RESULT), S_BIT (RESULT)),
    S_FIELD ("failed", S_FAILED, failed, 0, S_BIT (RESULT), 0),
    S_FIELD ("window", S_UINT, window, S_U32, S_BIT (JOIN), 0),
    S_FIELD ("batch", S_UINT, batch, S_U32, S_BIT (JOIN), 0),
    S_FIELD ("from", S_FROM, from, SL_FROM_END + 1, S_BIT (JOIN), 0),
    S_FIELD ("max_deliver", S_UINT, max_deliver, S_U32, S_BIT (JOIN), 0),
    S_FIELD ("lease_ms", S_UINT, lease_ms, S_U32, S_BIT (JOIN), 0),
    S_FIELD ("op", S_STR, op, 0, S_BIT (ADMIN), S_BIT (ADMIN)),
    S_FIELD ("from", S_FROM, from, SL_FROM_TIME + 1, S_BIT (ADMIN), 0),
    S_FIELD ("records", S_UINT, ret_records, S_U64, S_BIT (ADMIN), 0),
    S_FIELD ("bytes", S_UINT, ret_bytes, S_U64, S_BIT (ADMIN), 0),
    S_FIELD ("age_ms", S_UINT, ret_age_ms, S_U64, S_BIT (ADMIN), 0),
    S_FIELD ("affected", S_UINT, affected, S_U64, S_BIT (ADMINED), 0),
    S_FIELD ("role", S_STR, role, 0, S_BIT (PING), 0),
    S_FIELD ("records", S_UINT, ping_records, S_U64, S_BIT (PING), 0),
    S_FIELD ("errors", S_UINT, ping_errors, S_U64, S_BIT (PING), 0),
    //  Keyed groups (§14.4).
    S_FIELD ("key", S_STR, key, 0, S_BIT (JOIN), 0),
    S_FIELD ("late_count", S_UINT, late_count, S_U32, S_BIT (RESULT), 0),
    S_FIELD ("state_count", S_UINT, state_count, S_U32, S_BIT (RESULT), 0),
    S_FIELD ("out_bytes", S_UINT, out_bytes, S_U32, S_BIT (RESULT), 0),
    S_FIELD ("late_bytes", S_UINT, late_bytes, S_U32, S_BIT (RESULT), 0),
    S_FIELD ("shares", S_UINT, shares, SL_SHARES_WIRE_MAX, S_BIT (JOIN) | S_BIT (WORK), 0),
    S_FIELD ("share", S_UINT, share, SL_SHARES_WIRE_MAX - 1,
             S_BIT (WORK) | S_BIT (RESULT) | S_BIT (STATE_READ), 0),
    S_FIELD ("holes", S_UINT, holes, S_U32, S_BIT (WORK), 0),
    //  Replication (§16).
    S_FIELD ("epoch", S_UINT, epoch, S_U64, S_REPL_CMDS, S_REPL_CMDS),
};
#define S_N_FIELDS (sizeof s_fields / sizeof s_fields[0])
//  The command bitmasks and the decoder's "seen" set are 64 bits.
_Static_assert(SL_CMD_STATE < 64, "command codes must fit the field bitmasks");
_Static_assert(S_N_FIELDS <= 64, "too many fields for the seen bitmask");

//  One STREAMS entry; every key is required. Walked with bit 1 as "command".
#define S_INFO(key, kind, member, max)                                                             \
    {                                                                                              \
        key, sizeof (key) - 1, kind, offsetof (sl_stream_info_t, member),                          \
            S_MEMBER_SIZE (sl_stream_info_t, member), max, 1, 1                                    \
    }
static const sl_proto_field_t s_stream_fields[] = {
    S_INFO ("name", S_NAME, name, 0),       S_INFO ("first", S_UINT, first, S_U64),
    S_INFO ("next", S_UINT, next, S_U64),   S_INFO ("records", S_UINT, records, S_U64),
    S_INFO ("bytes", S_UINT, bytes, S_U64), S_INFO ("last_ms", S_INT, last_ms, 0),
};
#define S_N_STREAM_FIELDS (sizeof s_stream_fields / sizeof s_stream_fields[0])

const sl_proto_field_t *
sl_proto_msg_fields (size_t *n)
{
    *n = S_N_FIELDS;
    return s_fields;
}

const sl_proto_field_t *
sl_proto_stream_fields (size_t *n)
{
    *n = S_N_STREAM_FIELDS;
    return s_stream_fields;
}

const sl_proto_cmd_t *
sl_proto_cmd_find (int code)
{
    for (size_t i = 0; i < S_N_CMDS; i++) {
        if ((int)s_cmds[i].cmd == code) {
            return &s_cmds[i];
        }
    }
    return NULL;
}

const char *
sl_cmd_name (sl_cmd_t cmd)
{
    const sl_proto_cmd_t *row = sl_proto_cmd_find ((int)cmd);
    return row ? row->name : "UNKNOWN";
}

bool
sl_cmd_from_broker (sl_cmd_t cmd)
{
    const uint64_t from_broker = S_BIT (WELCOME) | S_BIT (CONFIRM) | S_BIT (POSITION) |
                                 S_BIT (RECORDS) | S_BIT (COMMITTED) | S_BIT (STREAMS) |
                                 S_BIT (PONG) | S_BIT (ERROR) | S_BIT (LIVE) | S_BIT (JOINED) |
                                 S_BIT (WORK);
    return (cmd > SL_CMD_NONE && cmd <= SL_CMD_LEAVE && (from_broker & S_BIT_OF (cmd))) ||
           cmd == SL_CMD_STATE;
}

//  ---------------------------------------------------------------------
//  Field access

static uint64_t
s_get_uint (const void *base, const sl_proto_field_t *f)
{
    const uint8_t *p = (const uint8_t *)base + f->offset;
    if (f->size == 4) {
        uint32_t v;
        memcpy (&v, p, 4);
        return v;
    }
    uint64_t v;
    memcpy (&v, p, 8);
    return v;
}

//  ---------------------------------------------------------------------
//  Encoder: two passes over the same code, the first with no output to
//  size the body, the second straight into the body frame.

typedef struct {
    uint8_t *out; //  NULL while sizing
    size_t cap;
    size_t len;
} s_writer_t;

static void
s_put (s_writer_t *w, const void *data, size_t size)
{
    if (w->out) {
        assert (w->len + size <= w->cap);
        memcpy (w->out + w->len, data, size);
    }
    w->len += size;
}

static void
s_put_uint (s_writer_t *w, uint64_t value)
{
    uint8_t tmp[9];
    s_put (w, tmp, sl_mp_write_uint (tmp, sizeof tmp, value));
}

static void
s_put_int (s_writer_t *w, int64_t value)
{
    uint8_t tmp[9];
    s_put (w, tmp, sl_mp_write_int (tmp, sizeof tmp, value));
}

static void
s_put_str (s_writer_t *w, const char *str, size_t len)
{
    uint8_t tmp[5];
    s_put (w, tmp, sl_mp_write_str_header (tmp, sizeof tmp, (uint32_t)len));
    s_put (w, str, len);
}

static void
s_put_map (s_writer_t *w, uint32_t count)
{
    uint8_t tmp[5];
    s_put (w, tmp, sl_mp_write_map (tmp, sizeof tmp, count));
}

//  True when an optional field holds its "absent" value and is not sent.
static bool
s_is_empty (const void *base, const sl_proto_field_t *f)
{
    const uint8_t *p = (const uint8_t *)base + f->offset;
    switch (f->kind) {
    case S_UINT:
        return s_get_uint (base, f) == 0;
    case S_INT: {
        int64_t v;
        memcpy (&v, p, sizeof v);
        return v == 0;
    }
    case S_BOOL:
        return !*(const bool *)p;
    case S_STR:
    case S_NAME:
        return p[0] == '\0';
    case S_FROM:
        return *(const sl_from_t *)p == SL_FROM_BEGINNING;
    case S_FAILED:
        return ((const sl_msg_t *)base)->n_failed == 0;
    default:
        return false;
    }
}

static bool
s_sent (const void *base, const sl_proto_field_t *f, uint64_t bit)
{
    return (f->carry & bit) && ((f->need & bit) || !s_is_empty (base, f));
}

//  Writes one map of the fields that are sent for bit.
static void
s_put_fields (s_writer_t *w, const void *base, const sl_proto_field_t *fields, size_t n_fields,
              uint64_t bit, const sl_msg_t *msg)
{
    uint32_t count = 0;
    for (size_t i = 0; i < n_fields; i++) {
        count += s_sent (base, &fields[i], bit);
    }
    s_put_map (w, count);
    for (size_t i = 0; i < n_fields; i++) {
        const sl_proto_field_t *f = &fields[i];
        if (!s_sent (base, f, bit)) {
            continue;
        }
        const uint8_t *p = (const uint8_t *)base + f->offset;
        s_put_str (w, f->key, f->key_len);
        switch (f->kind) {
        case S_UINT:
            s_put_uint (w, s_get_uint (base, f));
            break;
        case S_INT: {
            int64_t v;
            memcpy (&v, p, sizeof v);
            s_put_int (w, v);
            break;
        }
        case S_BOOL: {
            uint8_t b = *(const bool *)p ? 0xc3 : 0xc2;
            s_put (w, &b, 1);
            break;
        }
        case S_STR:
        case S_NAME:
            s_put_str (w, (const char *)p, strlen ((const char *)p));
            break;
        case S_FROM: {
            const char *name = sl_proto_from_names[*(const sl_from_t *)p];
            s_put_str (w, name, strlen (name));
            break;
        }
        case S_STREAMS: {
            uint8_t tmp[5];
            s_put (w, tmp, sl_mp_write_array (tmp, sizeof tmp, msg->n_streams));
            for (uint32_t s = 0; s < msg->n_streams; s++) {
                s_put_fields (w, &msg->streams[s], s_stream_fields, S_N_STREAM_FIELDS, 1, NULL);
            }
            break;
        }
        case S_FAILED: {
            uint8_t tmp[5];
            s_put (w, tmp, sl_mp_write_array (tmp, sizeof tmp, msg->n_failed));
            for (uint32_t i = 0; i < msg->n_failed; i++) {
                const sl_failed_entry_t *e = &msg->failed[i];
                s_put (w, tmp, sl_mp_write_array (tmp, sizeof tmp, e->final ? 3 : 2));
                s_put_uint (w, e->offset);
                s_put_str (w, e->error, strlen (e->error));
                if (e->final) {
                    uint8_t yes = 0xc3;
                    s_put (w, &yes, 1);
                }
            }
            break;
        }
        }
    }
}

//  Checks what the encoder would send: strings terminated inside their
//  member, names valid, enums in range. The rules are the decoder's.
static bool
s_fields_valid (const void *base, const sl_proto_field_t *fields, size_t n_fields, uint64_t bit)
{
    for (size_t i = 0; i < n_fields; i++) {
        const sl_proto_field_t *f = &fields[i];
        if (!s_sent (base, f, bit)) {
            continue;
        }
        const uint8_t *p = (const uint8_t *)base + f->offset;
        if (f->kind == S_STR || f->kind == S_NAME) {
            const uint8_t *nul = memchr (p, 0, f->size);
            if (!nul) {
                return false;
            }
            if (f->kind == S_NAME && !sl_name_valid ((const char *)p, (size_t)(nul - p))) {
                return false;
            }
        }
        else if (f->kind == S_FROM) {
            sl_from_t from = *(const sl_from_t *)p;
            if ((unsigned)from >= f->max) {
                return false;
            }
        }
        else if (f->kind == S_FAILED) {
            const sl_msg_t *msg = base;
            if ((msg->n_failed && !msg->failed) || msg->n_failed > SL_MSG_MAX_FAILED) {
                return false;
            }
            for (uint32_t k = 0; k < msg->n_failed; k++) {
                if (!msg->failed[k].error || strnlen (msg->failed[k].error, 256) > 255) {
                    return false;
                }
            }
        }
        else if (f->kind == S_UINT && s_get_uint (base, f) > f->max) {
            return false;
        }
    }
    return true;
}

zmsg_t *
sl_msg_encode (const sl_msg_t *msg)
{
    const sl_proto_cmd_t *cmd = sl_proto_cmd_find ((int)msg->cmd);
    if (!cmd) {
        return NULL;
    }
    uint64_t bit = S_BIT_OF (cmd->cmd);
    //  ERROR carries the positive value of a code; accept either sign.
    sl_msg_t copy;
    if (msg->cmd == SL_CMD_ERROR && msg->code < 0) {
        memcpy (&copy, msg, sizeof copy);
        copy.code = msg->code == INT32_MIN ? INT32_MAX : -msg->code;
        msg = &copy;
    }
    if (!s_fields_valid (msg, s_fields, S_N_FIELDS, bit)) {
        return NULL;
    }
    if (msg->cmd == SL_CMD_SEEK && msg->from == SL_FROM_COMMITTED && !msg->name[0]) {
        return NULL;
    }
    if (msg->cmd == SL_CMD_STREAMS) {
        if (msg->n_streams && !msg->streams) {
            return NULL;
        }
        for (uint32_t i = 0; i < msg->n_streams; i++) {
            if (!s_fields_valid (&msg->streams[i], s_stream_fields, S_N_STREAM_FIELDS, 1)) {
                return NULL;
            }
        }
    }
    s_writer_t sizing = {NULL, 0, 0};
    s_put_fields (&sizing, msg, s_fields, S_N_FIELDS, bit, msg);
    if (sizing.len > SL_MAX_BODY) {
        return NULL;
    }
    uint8_t head[SL_HEADER_SIZE] = {SL_PROTO_SIG0, SL_PROTO_SIG1, SL_PROTO_VERSION,
                                    (uint8_t)cmd->cmd};
    zmsg_t *zmsg = zmsg_new ();
    zframe_t *header = zframe_new (head, sizeof head);
    zframe_t *body = zframe_new (NULL, sizing.len);
    if (!zmsg || !header || !body) {
        goto fail;
    }
    s_writer_t writer = {zframe_data (body), sizing.len, 0};
    s_put_fields (&writer, msg, s_fields, S_N_FIELDS, bit, msg);
    assert (writer.len == sizing.len);
    if (zmsg_append (zmsg, &header) || zmsg_append (zmsg, &body)) {
        goto fail;
    }
    return zmsg;
fail:
    zframe_destroy (&header);
    zframe_destroy (&body);
    zmsg_destroy (&zmsg);
    return NULL;
}
