/*  keyed_state.c - the compacted key states of keyed groups in the broker
    (keyed_state.h).
*/
#include "keyed_state.h"

#include <stdio.h>
#include <string.h>

#include "sl_batch.h"
#include "sl_buf.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_shares.h"
#include "sl_store_state.h"

#define S_READ_MAX_BYTES (4u << 20) //  one STATE reply's records, at most

//  The state part of a RESULT's data frame: after the output and late records.
static int
s_states (const sl_msg_t *msg, const uint8_t *data, size_t len, sl_record_iter_t *it)
{
    size_t skip = 0;
    int rc = sl_batch_skip (data, len, msg->out_count + msg->late_count, &skip);
    if (rc) {
        return rc;
    }
    sl_record_iter_init (it, data + skip, len - skip, msg->state_count, 0);
    return 0;
}

static bool
s_is_nil (const sl_record_t *r)
{
    return r->value_len == 1 && r->value[0] == 0xc0;
}

//  One walk of the whole data frame: output and late records as
//  sl_batch_validate checks them, then each state record's key and size.
//  (A walk per check parsed every output record three times more.)
int
sl_keyed_state_check (const sl_msg_t *msg, uint32_t share, uint32_t of, const uint8_t *data,
                      size_t len, uint32_t max_depth, const char **why)
{
    uint32_t plain = msg->out_count + msg->late_count;
    sl_record_iter_t it;
    sl_record_iter_init (&it, data, len, plain + msg->state_count, 0);
    it.max_depth = max_depth;
    sl_record_t r;
    int rc;
    size_t out_end = 0, late_end = 0; //  where the output and late parts end
    for (uint32_t i = 0; (rc = sl_record_iter_next (&it, &r)) == 1; i++) {
        size_t at = (size_t)(it.p - data);
        out_end = i < msg->out_count ? at : out_end;
        late_end = i < plain ? at : late_end;
        if (i < plain) {
            continue;
        }
        if (!r.key || r.key_len == 0) {
            *why = "a state record without its key";
            return SL_EPROTO;
        }
        if (r.key_len > SL_STATE_MAX_KEY) {
            *why = "a state record's key is longer than 256 bytes";
            return SL_ETOOBIG;
        }
        if (r.value_len > SL_STATE_MAX_VALUE) {
            *why = "a key's state is larger than 1 MiB";
            return SL_ETOOBIG;
        }
        if (of > 1 && sl_shares_of (r.key, r.key_len, of) != share) {
            //  A member writes only the keys of the share it holds: any
            //  other would overwrite the state of a key another member owns.
            *why = "a state record of a key outside the result's share";
            return SL_EPROTO;
        }
    }
    if (rc < 0 || it.left > 0) {
        *why = "the output batch does not hold out_count well-formed records";
        return rc < 0 ? rc : SL_EPROTO;
    }
    //  The parts' sizes, when given, are what the commit appends without
    //  walking the records again (sl_keyed_append): they must be exact.
    if ((msg->out_bytes && msg->out_bytes != out_end) ||
        (msg->late_bytes && msg->late_bytes != late_end - out_end)) {
        *why = "out_bytes / late_bytes do not match the output and late records";
        return SL_EPROTO;
    }
    return 0;
}

int
sl_keyed_state_admit (sl_store_t *store, const char *group, uint32_t share, const sl_msg_t *msg,
                      const uint8_t *data, size_t len, uint64_t max_keys)
{
    if (msg->state_count == 0) {
        return 0;
    }
    uint64_t keys = 0;
    bool complete;
    int rc = sl_store_state_count (store, group, &keys, &complete);
    if (rc && rc != SL_ENOTFOUND) {
        return rc;
    }
    //  Only when the group is near its limit are the keys looked up: each
    //  new key counts, each deleted one is taken off (a key given twice
    //  counts twice: refused sooner, never later).
    if (keys + msg->state_count <= max_keys) {
        return 0;
    }
    sl_record_iter_t it;
    rc = s_states (msg, data, len, &it);
    uint64_t added = 0, removed = 0;
    sl_record_t r;
    while (rc == 0 && (rc = sl_record_iter_next (&it, &r)) == 1) {
        bool has = false;
        rc = sl_store_state_has (store, group, share, r.key, r.key_len, &has);
        added += !s_is_nil (&r) && !has;
        removed += s_is_nil (&r) && has;
    }
    if (rc < 0) {
        return rc;
    }
    if (keys + added > max_keys + removed) {
        sl_warn ("broker",
                 "keyed group '%s': a result would hold %" PRIu64 " key states, over "
                 "--max-state-keys %" PRIu64 ": refused (ELIMIT)",
                 group, keys + added - removed, max_keys);
        return SL_ELIMIT;
    }
    return 0;
}

int
sl_keyed_state_put (sl_store_t *store, const char *group, uint32_t share, uint32_t count,
                    const uint8_t *states, size_t len)
{
    if (count == 0) {
        return 0;
    }
    //  The table holds a group's whole state only when it began with the
    //  group: states in GROUP.state from before it are not in it.
    char stream[SL_NAME_MAX + 8];
    snprintf (stream, sizeof stream, "%s.state", group);
    sl_stream_info_t info;
    int rc = sl_store_stream_info (store, stream, &info, NULL);
    bool complete = rc == SL_ENOTFOUND || (rc == 0 && info.next == 0);
    if (rc && rc != SL_ENOTFOUND) {
        return rc;
    }
    rc = sl_store_state_start (store, group, complete);
    sl_record_iter_t it;
    sl_record_iter_init (&it, states, len, count, 0);
    sl_record_t r;
    while (rc == 0 && (rc = sl_record_iter_next (&it, &r)) == 1) {
        rc = s_is_nil (&r)
                 ? sl_store_state_put (store, group, share, r.key, r.key_len, NULL, 0)
                 : sl_store_state_put (store, group, share, r.key, r.key_len, r.value, r.value_len);
    }
    return rc < 0 ? rc : 0;
}

typedef struct {
    sl_buf_t *buf;
    uint64_t max_bytes;
    uint32_t count;
    int rc;
} s_read_t;

static int
s_read_one (void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len)
{
    s_read_t *r = ctx;
    //  At least one state a reply, however large (at most 1 MiB).
    if (r->count && r->buf->len + key_len + value_len + 16 > r->max_bytes) {
        return 1;
    }
    r->rc = sl_record_encode (r->buf, 0, key, (uint32_t)key_len, true, NULL, 0, value, value_len);
    if (r->rc) {
        return r->rc;
    }
    r->count++;
    return 0;
}

zmsg_t *
sl_keyed_state_read (sl_store_t *store, const sl_msg_t *msg, zframe_t *cursor, uint64_t max_bytes,
                     int *code, const char **why)
{
    if (cursor && zframe_size (cursor) > SL_STATE_MAX_KEY) {
        *code = SL_ETOOBIG;
        *why = "a STATE_READ cursor longer than a key (256 bytes)";
        return NULL;
    }
    if (cursor && zframe_size (cursor) == 0) {
        *code = SL_EPROTO;
        *why = "an empty STATE_READ cursor";
        return NULL;
    }
    uint64_t keys = 0;
    bool complete = true;
    int rc = sl_store_state_count (store, msg->group, &keys, &complete);
    if (rc && rc != SL_ENOTFOUND) {
        *code = rc;
        *why = NULL;
        return NULL;
    }
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    s_read_t r = {.buf = &buf,
                  .max_bytes =
                      max_bytes && max_bytes < S_READ_MAX_BYTES ? max_bytes : S_READ_MAX_BYTES};
    if (complete) {
        rc = sl_store_state_read (store, msg->group, msg->share,
                                  cursor ? zframe_data (cursor) : NULL,
                                  cursor ? zframe_size (cursor) : 0, s_read_one, &r);
        rc = rc ? rc : r.rc;
    }
    zmsg_t *reply = NULL;
    if (rc == 0) {
        sl_msg_t state;
        sl_msg_init (&state, SL_CMD_STATE);
        state.req = msg->req;
        state.count = r.count;
        state.found = complete; //  false: restore from GROUP.state
        reply = sl_msg_encode (&state);
        if (reply && r.count && zmsg_addmem (reply, buf.data, buf.len) != 0) {
            zmsg_destroy (&reply);
        }
        rc = reply ? 0 : SL_ENOMEM;
    }
    sl_buf_free (&buf);
    if (rc) {
        *code = rc;
        *why = NULL;
    }
    return reply;
}
