/*  keyed.c - keyed groups in the broker (docs/PROTOCOL.md §14.4).

    The broker does not look inside records for keyed groups: each share of
    the key space is an exclusive group (shares.c; lib/group/sl_group.c hands it
    one lease at a time, to its one owner), so a share's records reach the
    member holding its states in offset order, and the member says which of
    its outputs are results, late records and state changes. Their three appends share the result's
   transaction, so the state stream GROUP.state always matches what is in the output.
*/
#include "keyed.h"
#include "keyed_state.h"

#include <stdio.h>
#include <string.h>

#include "sl_error.h"
#include "sl_group.h"

int
sl_keyed_check_join (const sl_msg_t *msg, const char *group_key, const char **why)
{
    if (msg->key[0] && strlen (msg->group) + 6 > SL_NAME_MAX) {
        *why = "keyed group name too long for its state stream NAME.state";
        return SL_ENAME;
    }
    if (group_key && strcmp (group_key, msg->key) != 0) {
        *why = group_key[0] ? "the group's members use another --key"
                            : "the group's members run without --key";
        return SL_EINVAL;
    }
    return 0;
}

int
sl_keyed_check_result (const sl_msg_t *msg, const char *group_key, uint32_t *records,
                       const char **why)
{
    *records = msg->out_count;
    if (!group_key[0]) {
        if (msg->late_count || msg->state_count) {
            *why = "late_count / state_count in a RESULT of a group without a key";
            return SL_EPROTO;
        }
        return 0;
    }
    //  Each part is bounded as the output is: a lease of SL_GROUP_MAX_BATCH
    //  records has at most that many late records and changed keys.
    if (msg->late_count > SL_GROUP_MAX_BATCH || msg->state_count > SL_GROUP_MAX_BATCH) {
        *why = "late_count and state_count are at most 65536";
        return SL_ETOOBIG;
    }
    *records = msg->out_count + msg->late_count + msg->state_count;
    return 0;
}

static int
s_append_part (sl_store_t *store, const char *stream, const uint8_t *data, size_t len,
               uint32_t count, int64_t now_ms, sl_groups_appended_fn *appended, void *ctx)
{
    if (count == 0) {
        return 0;
    }
    sl_batch_header_t header;
    int rc = sl_store_append (store, stream, data, len, count, now_ms, &header);
    if (rc == 0) {
        appended (ctx, stream, &header, data, len);
    }
    return rc;
}

//  The parts are found once here, for the table and the three appends.
int
sl_keyed_append (sl_store_t *store, const char *group, uint32_t share, const char *out,
                 const sl_msg_t *msg, const uint8_t *data, size_t len, int64_t now_ms,
                 sl_groups_appended_fn *appended, void *ctx)
{
    size_t out_len = msg->out_bytes, late_len = msg->late_bytes;
    int rc = 0;
    //  Sizes checked by sl_keyed_state_check when given; walked otherwise.
    if (msg->out_count && !msg->out_bytes) {
        rc = sl_batch_skip (data, len, msg->out_count, &out_len);
    }
    if (rc == 0 && msg->late_count && !msg->late_bytes) {
        rc = sl_batch_skip (data + out_len, len - out_len, msg->late_count, &late_len);
    }
    rc = rc ? rc
            : sl_keyed_state_put (store, group, share, msg->state_count, data + out_len + late_len,
                                  len - out_len - late_len);
    if (rc) {
        return rc;
    }
    char late[SL_NAME_MAX + 1], state[SL_NAME_MAX + 1];
    snprintf (late, sizeof late, "%s.late", group);
    snprintf (state, sizeof state, "%s.state", group);
    rc = s_append_part (store, out, data, out_len, msg->out_count, now_ms, appended, ctx);
    rc = rc ? rc
            : s_append_part (store, late, data + out_len, late_len, msg->late_count, now_ms,
                             appended, ctx);
    rc = rc ? rc
            : s_append_part (store, state, data + out_len + late_len, len - out_len - late_len,
                             msg->state_count, now_ms, appended, ctx);
    return rc;
}
