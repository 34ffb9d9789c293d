/*  sl_proto_msg.c - the decoded message's memory (sl_msg_t in sl_proto.h):
    initialising and resetting it, the arrays it owns (STREAMS' entries,
    RESULT's failed list and its text arena), and the ERROR and PING
    report shortcuts. The
    frame layout is not here: that is sl_proto.c's.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_proto.h"
#include "sl_proto_int.h"
#include "sl_util.h"

void
sl_msg_init (sl_msg_t *msg, sl_cmd_t cmd)
{
    memset (msg, 0, sizeof *msg);
    msg->cmd = cmd;
}

void
sl_msg_reset (sl_msg_t *msg)
{
    free (msg->streams);
    free (msg->failed);
    free (msg->failed_text);
    sl_cmd_t cmd = msg->cmd;
    memset (msg, 0, sizeof *msg);
    msg->cmd = cmd;
}

void
sl_msg_init_report (sl_msg_t *ping, uint64_t req, const char *role, const char *client,
                    uint64_t records, uint64_t errors)
{
    sl_msg_init (ping, SL_CMD_PING);
    ping->req = req;
    snprintf (ping->role, sizeof ping->role, "%s", role);
    size_t len = strnlen (client, sizeof ping->client - 1);
    memcpy (ping->client, client, len);
    ping->client[len] = 0;
    ping->ping_records = records;
    ping->ping_errors = errors;
}

//  The array grows to the next power of two, so that no capacity field is
//  needed and appends stay amortised O(1).
int
sl_msg_add_stream (sl_msg_t *msg, const sl_stream_info_t *info)
{
    uint32_t n = msg->n_streams;
    if (n == UINT32_MAX) {
        return SL_ETOOBIG;
    }
    if ((n & (n - 1)) == 0) {
        size_t cap = n ? (size_t)n * 2 : 1;
        sl_stream_info_t *streams = realloc (msg->streams, cap * sizeof *streams);
        if (!streams) {
            return SL_ENOMEM;
        }
        msg->streams = streams;
    }
    msg->streams[n] = *info;
    msg->n_streams = n + 1;
    return 0;
}

size_t
sl_msg_cost (const sl_msg_t *msg)
{
    return sizeof *msg + (size_t)msg->n_failed * sizeof msg->failed[0] + msg->failed_text_cap +
           (size_t)msg->n_streams * sizeof msg->streams[0];
}

static const char s_no_text[] = "";

//  Copies a failed entry's text into the message's arena. The arena grows
//  by doubling into a new block, and the entries already pointing into the
//  old one are moved over before it is freed.
static int
s_failed_text (sl_msg_t *msg, const char *text, size_t len, const char **out)
{
    if (len == 0) {
        *out = s_no_text;
        return 0;
    }
    size_t need = msg->failed_text_len + len + 1;
    if (need > msg->failed_text_cap) {
        size_t cap = msg->failed_text_cap ? msg->failed_text_cap : 256;
        while (cap < need) {
            cap *= 2;
        }
        char *old = msg->failed_text;
        char *arena = malloc (cap);
        if (!arena) {
            return SL_ENOMEM;
        }
        if (old) {
            memcpy (arena, old, msg->failed_text_len);
        }
        for (uint32_t i = 0; i < msg->n_failed; i++) {
            if (msg->failed[i].error != s_no_text) {
                msg->failed[i].error = arena + (msg->failed[i].error - old);
            }
        }
        free (old);
        msg->failed_text = arena;
        msg->failed_text_cap = cap;
    }
    char *at = msg->failed_text + msg->failed_text_len;
    memcpy (at, text, len);
    at[len] = 0;
    msg->failed_text_len += len + 1;
    *out = at;
    return 0;
}

int
sl_msg_add_failed_n (sl_msg_t *msg, uint64_t offset, const char *error, size_t len)
{
    uint32_t n = msg->n_failed;
    if (n >= SL_MSG_MAX_FAILED) {
        return SL_ETOOBIG;
    }
    if ((n & (n - 1)) == 0) {
        size_t cap = n ? (size_t)n * 2 : 1;
        sl_failed_entry_t *failed = realloc (msg->failed, cap * sizeof *failed);
        if (!failed) {
            return SL_ENOMEM;
        }
        msg->failed = failed;
    }
    const char *text;
    int rc = s_failed_text (msg, error, len, &text);
    if (rc) {
        return rc;
    }
    sl_failed_entry_t *entry = &msg->failed[n];
    memset (entry, 0, sizeof *entry);
    entry->offset = offset;
    entry->error = text;
    msg->n_failed = n + 1;
    return 0;
}

int
sl_msg_add_failed (sl_msg_t *msg, uint64_t offset, const char *error)
{
    return sl_msg_add_failed_n (msg, offset, error ? error : "", error ? strnlen (error, 255) : 0);
}

void
sl_msg_init_error (sl_msg_t *msg, uint64_t req, int code, const char *text, uint64_t seq)
{
    sl_msg_init (msg, SL_CMD_ERROR);
    msg->req = req;
    msg->code = code == INT32_MIN ? INT32_MAX : code < 0 ? -code : code;
    sl_copy_text (msg->text, sizeof msg->text, text ? text : sl_strerror (-msg->code));
    msg->seq = seq;
}

zmsg_t *
sl_msg_error (uint64_t req, int code, const char *text)
{
    sl_msg_t msg;
    sl_msg_init_error (&msg, req, code, text, 0);
    return sl_msg_encode (&msg);
}
