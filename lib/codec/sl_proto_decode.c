/*  sl_proto_decode.c - the protocol decoder (docs/PROTOCOL.md §3 and §5):
    a message's frames into sl_msg_t, walking sl_proto.c's tables.

    Decoding trusts nothing: frame sizes are checked first, the body is
    walked by sl_mp_skip with a small depth bound before any field is read,
    and every string, integer and array count is bounded by its field.
*/
#include "sl_proto.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_mp.h"
#include "sl_proto_int.h"
#include "sl_util.h"

//  Bodies are flat maps; STREAMS (map > array > map) and RESULT's failed
//  (map > array > array) are the deepest.
#define S_BODY_DEPTH 4

static void
s_set_uint (void *base, const sl_proto_field_t *f, uint64_t value)
{
    uint8_t *p = (uint8_t *)base + f->offset;
    if (f->size == 4) {
        uint32_t v = (uint32_t)value;
        memcpy (p, &v, 4);
    }
    else {
        memcpy (p, &value, 8);
    }
}

static const sl_proto_field_t *
s_field_find (const sl_proto_field_t *fields, size_t n_fields, uint64_t bit, const uint8_t *key,
              uint32_t key_len, size_t *index)
{
    for (size_t i = 0; i < n_fields; i++) {
        const sl_proto_field_t *f = &fields[i];
        if ((f->carry & bit) && f->key_len == key_len && memcmp (f->key, key, key_len) == 0) {
            *index = i;
            return f;
        }
    }
    return NULL;
}

static int s_read_streams (const uint8_t **p, const uint8_t *end, sl_msg_t *msg);
static int s_read_failed (const uint8_t **p, const uint8_t *end, sl_msg_t *msg);

//  Reads one value into its member. The input has passed sl_mp_skip, so a
//  reader failure here means the wrong type, never a truncation.
static int
s_read_value (const uint8_t **p, const uint8_t *end, const sl_proto_field_t *f, void *base,
              sl_msg_t *msg)
{
    uint8_t *member = (uint8_t *)base + f->offset;
    switch (f->kind) {
    case S_UINT: {
        uint64_t v;
        if (sl_mp_read_uint (p, end, &v)) {
            return SL_EPROTO;
        }
        if (v > f->max) {
            return SL_ETOOBIG;
        }
        s_set_uint (base, f, v);
        return 0;
    }
    case S_INT: {
        int64_t v;
        if (sl_mp_read_int (p, end, &v)) {
            uint64_t u;
            return sl_mp_read_uint (p, end, &u) == 0 ? SL_ETOOBIG : SL_EPROTO;
        }
        memcpy (member, &v, sizeof v);
        return 0;
    }
    case S_BOOL:
        return sl_mp_read_bool (p, end, (bool *)member) ? SL_EPROTO : 0;
    case S_STR:
    case S_NAME:
    case S_FROM: {
        const uint8_t *str;
        uint32_t len;
        if (sl_mp_read_str (p, end, &str, &len)) {
            return SL_EPROTO;
        }
        if (f->kind == S_FROM) {
            for (size_t i = 0; i < f->max; i++) {
                if (strlen (sl_proto_from_names[i]) == len &&
                    memcmp (sl_proto_from_names[i], str, len) == 0) {
                    *(sl_from_t *)member = (sl_from_t)i;
                    return 0;
                }
            }
            //  A str, so the type is right: a value the field does not
            //  allow is EINVAL (§3), whatever its length.
            return SL_EINVAL;
        }
        if (len >= f->size) {
            //  A name longer than SL_NAME_MAX is not a name (§3: ENAME); other
            //  strings past their bound are ETOOBIG.
            return f->kind == S_NAME ? SL_ENAME : SL_ETOOBIG;
        }
        if (memchr (str, 0, len)) {
            return f->kind == S_NAME ? SL_ENAME : SL_EPROTO;
        }
        if (f->kind == S_NAME && !sl_name_valid ((const char *)str, len)) {
            return SL_ENAME;
        }
        memcpy (member, str, len);
        member[len] = 0;
        return 0;
    }
    case S_STREAMS:
        return s_read_streams (p, end, msg);
    case S_FAILED:
        return s_read_failed (p, end, msg);
    }
    return SL_EPROTO;
}

//  Walks one map, filling the fields carried by bit, ignoring other keys,
//  rejecting a known key given twice, and checking the required ones.
static int
s_read_fields (const uint8_t **p, const uint8_t *end, const sl_proto_field_t *fields,
               size_t n_fields, uint64_t bit, void *base, sl_msg_t *msg)
{
    uint32_t pairs;
    if (sl_mp_read_map (p, end, &pairs)) {
        return SL_EPROTO;
    }
    uint64_t seen = 0;
    for (uint32_t i = 0; i < pairs; i++) {
        const uint8_t *key;
        uint32_t key_len;
        if (sl_mp_read_str (p, end, &key, &key_len)) {
            return SL_EPROTO;
        }
        size_t index;
        const sl_proto_field_t *f = s_field_find (fields, n_fields, bit, key, key_len, &index);
        if (!f) {
            size_t used;
            if (sl_mp_skip (*p, (size_t)(end - *p), S_BODY_DEPTH, &used)) {
                return SL_EPROTO;
            }
            *p += used;
            continue;
        }
        if (seen & (1ull << index)) {
            return SL_EPROTO;
        }
        seen |= 1ull << index;
        int rc = s_read_value (p, end, f, base, msg);
        if (rc) {
            return rc;
        }
    }
    for (size_t i = 0; i < n_fields; i++) {
        if ((fields[i].need & bit) && !(seen & (1ull << i))) {
            return SL_EPROTO;
        }
    }
    return 0;
}

//  STREAMS: sl_mp_read_array has checked the count against the bytes left,
//  and the array grows only as entries really decode, so a lying count
//  costs nothing.
static int
s_read_streams (const uint8_t **p, const uint8_t *end, sl_msg_t *msg)
{
    uint32_t count;
    if (sl_mp_read_array (p, end, &count)) {
        return SL_EPROTO;
    }
    for (uint32_t i = 0; i < count; i++) {
        sl_stream_info_t info;
        memset (&info, 0, sizeof info);
        size_t n_fields;
        const sl_proto_field_t *fields = sl_proto_stream_fields (&n_fields);
        int rc = s_read_fields (p, end, fields, n_fields, 1, &info, NULL);
        if (rc) {
            return rc;
        }
        rc = sl_msg_add_stream (msg, &info);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

//  RESULT failed: an array of [offset, error] or [offset, error, final].
//  The count is checked against the bytes left (sl_mp_read_array) and
//  against SL_MSG_MAX_FAILED, and the array grows only as entries decode.
static int
s_read_failed (const uint8_t **p, const uint8_t *end, sl_msg_t *msg)
{
    uint32_t count;
    if (sl_mp_read_array (p, end, &count)) {
        return SL_EPROTO;
    }
    if (count > SL_MSG_MAX_FAILED) {
        return SL_ETOOBIG;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint32_t n, len;
        uint64_t offset;
        const uint8_t *text;
        bool final = false;
        if (sl_mp_read_array (p, end, &n) || (n != 2 && n != 3) ||
            sl_mp_read_uint (p, end, &offset) || sl_mp_read_str (p, end, &text, &len)) {
            return SL_EPROTO;
        }
        if (len > 255) {
            return SL_ETOOBIG;
        }
        if (memchr (text, 0, len) || (n == 3 && sl_mp_read_bool (p, end, &final))) {
            return SL_EPROTO;
        }
        int rc = sl_msg_add_failed_n (msg, offset, (const char *)text, len);
        if (rc) {
            return rc;
        }
        msg->failed[msg->n_failed - 1].final = final;
    }
    return 0;
}

//  Best effort after a failure: reads "req" (and "seq", which names a
//  failed PUBLISH, and "lease", which names a failed RESULT) from a body
//  that at least walks, so that the error reply can name the request.
static void
s_peek_ids (const uint8_t *data, size_t size, sl_msg_t *msg)
{
    size_t used;
    if (sl_mp_skip (data, size, S_BODY_DEPTH, &used)) {
        return;
    }
    const uint8_t *p = data;
    const uint8_t *end = data + used;
    uint32_t pairs;
    if (sl_mp_read_map (&p, end, &pairs)) {
        return;
    }
    for (uint32_t i = 0; i < pairs; i++) {
        const uint8_t *key;
        uint32_t key_len;
        if (sl_mp_read_str (&p, end, &key, &key_len)) {
            return;
        }
        uint64_t value;
        const uint8_t *q = p;
        if (sl_mp_read_uint (&q, end, &value) == 0) {
            if (key_len == 3 && memcmp (key, "req", 3) == 0) {
                msg->req = value;
            }
            else if (key_len == 3 && memcmp (key, "seq", 3) == 0) {
                msg->seq = value;
            }
            else if (key_len == 5 && memcmp (key, "lease", 5) == 0) {
                msg->lease = value;
            }
        }
        if (sl_mp_skip (p, (size_t)(end - p), S_BODY_DEPTH, &used)) {
            return;
        }
        p += used;
    }
}

static int
s_decode (zframe_t *header, zframe_t *body, zmsg_t *zmsg, sl_msg_t *msg)
{
    if (!header || zframe_size (header) != SL_HEADER_SIZE) {
        return SL_EPROTO;
    }
    const uint8_t *h = zframe_data (header);
    if (h[0] != SL_PROTO_SIG0 || h[1] != SL_PROTO_SIG1) {
        return SL_EPROTO;
    }
    msg->version = h[2];
    const sl_proto_cmd_t *cmd = sl_proto_cmd_find (h[3]);
    if (cmd) {
        msg->cmd = cmd->cmd;
    }
    if (h[2] != SL_PROTO_VERSION) {
        return SL_EVERSION;
    }
    if (!cmd) {
        return SL_ECOMMAND;
    }
    if (!body) {
        return SL_EPROTO;
    }
    size_t size = zframe_size (body);
    if (size > SL_MAX_BODY) {
        return SL_ETOOBIG;
    }
    const uint8_t *data = zframe_data (body);
    size_t used;
    if (size == 0 || sl_mp_skip (data, size, S_BODY_DEPTH, &used) || used != size) {
        return SL_EPROTO;
    }
    const uint8_t *p = data;
    size_t n_fields;
    const sl_proto_field_t *fields = sl_proto_msg_fields (&n_fields);
    int rc = s_read_fields (&p, data + size, fields, n_fields, S_BIT_OF (cmd->cmd), msg, msg);
    if (rc) {
        return rc;
    }
    if (msg->cmd == SL_CMD_SEEK && msg->from == SL_FROM_COMMITTED && !msg->name[0]) {
        return SL_EPROTO;
    }
    size_t frames = zmsg_size (zmsg);
    if ((cmd->data == S_DATA_none && frames != 0) || (cmd->data == S_DATA_one && frames != 1) ||
        (cmd->data == S_DATA_two && frames != 2)) {
        return SL_EPROTO;
    }
    return 0;
}

int
sl_msg_decode (zmsg_t *zmsg, sl_msg_t *msg)
{
    sl_msg_reset (msg);
    msg->cmd = SL_CMD_NONE;
    if (!zmsg) {
        return SL_EPROTO;
    }
    zframe_t *header = zmsg_pop (zmsg);
    zframe_t *body = header ? zmsg_pop (zmsg) : NULL;
    int rc = s_decode (header, body, zmsg, msg);
    if (rc) {
        //  Keep only what names the request; nothing half-decoded survives.
        sl_cmd_t cmd = msg->cmd;
        uint8_t version = msg->version;
        sl_msg_reset (msg);
        msg->cmd = cmd;
        msg->version = version;
        if (body && zframe_size (body) <= SL_MAX_BODY) {
            s_peek_ids (zframe_data (body), zframe_size (body), msg);
        }
    }
    zframe_destroy (&header);
    zframe_destroy (&body);
    return rc;
}
