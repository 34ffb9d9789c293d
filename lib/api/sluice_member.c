/*  sluice_member.c - the public API's group member (sluice.h): JOIN, then
    one lease at a time: WORK in, the application's outputs and failures
    out as one RESULT (docs/PROTOCOL.md §14).

    The window is one lease, so the application sees a simple loop (work,
    records, emit, done). Nothing is acked: the broker commits a RESULT's
    outputs with the inputs' done marks in one transaction, and hands out
    again what it does not hear about, so a crash anywhere is redone, never
    duplicated. A member joins again by itself when the connection renews.
*/
#include "sluice_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <czmq.h>

#include "sl_error.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_proto.h"
#include "sl_util.h"
#include "sl_version.h"

#define S_PING_MS 1000 //  PING after this long without sending
#define S_MAX_BATCH 65536u
#define S_OUT_LIMIT (16u << 20) //  output bytes of one lease (the broker's batch bound)
#define S_SLICE_MS 250

struct _sluice_member_t {
    sl_client_t *client;
    char group[SL_NAME_MAX + 1];
    char in[SL_NAME_MAX + 1];
    char out[SL_NAME_MAX + 1];
    char member[SL_NAME_MAX + 1];
    uint32_t batch;
    bool joined;
    uint32_t connects; //  the client's connection count when JOINED
    int64_t sent_ms;
    //  The lease in hand.
    bool leased;
    sl_msg_t work;
    zmsg_t *data;
    sl_record_iter_t it;
    sl_buf_t output;
    uint32_t out_count;
    sl_msg_t result; //  collects the failed entries
    sl_json_t *json;
    sl_buf_t scratch;
};

sluice_member_t *
sluice_member_new (const char *broker, const char *group, const char *in, const char *out,
                   const char *member)
{
    if (!broker || !group || !in || !out || !sl_api_name_ok (group) || !sl_api_name_ok (in) ||
        !sl_api_name_ok (out) || !sl_api_name_ok (member) || strcmp (in, out) == 0) {
        return NULL;
    }
    sluice_member_t *self = (sluice_member_t *)calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    snprintf (self->group, sizeof self->group, "%s", group);
    snprintf (self->in, sizeof self->in, "%s", in);
    snprintf (self->out, sizeof self->out, "%s", out);
    if (member) {
        snprintf (self->member, sizeof self->member, "%s", member);
    }
    else {
        sl_default_member ("member", self->member, sizeof self->member);
    }
    self->batch = 1000;
    sl_msg_init (&self->work, SL_CMD_NONE);
    sl_msg_init (&self->result, SL_CMD_RESULT);
    sl_buf_init (&self->output, S_OUT_LIMIT);
    sl_buf_init (&self->scratch, 0);
    self->json = sl_json_new ();
    self->client = sl_api_client_new (broker, "libsluice/" SLUICE_VERSION, NULL, NULL);
    if (!self->client || !self->json) {
        sluice_member_destroy (&self);
    }
    return self;
}

static void
s_drop_lease (sluice_member_t *self)
{
    self->leased = false;
    zmsg_destroy (&self->data);
    sl_msg_reset (&self->work);
    sl_msg_reset (&self->result);
    self->result.cmd = SL_CMD_RESULT;
    sl_buf_reset (&self->output);
    self->out_count = 0;
}

void
sluice_member_destroy (sluice_member_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    sluice_member_t *self = *self_p;
    s_drop_lease (self);
    sl_client_destroy (&self->client);
    sl_json_destroy (&self->json);
    sl_buf_free (&self->output);
    sl_buf_free (&self->scratch);
    free (self);
    *self_p = NULL;
}

int
sluice_member_set_batch (sluice_member_t *self, uint32_t batch)
{
    if (!self || batch == 0 || batch > S_MAX_BATCH || self->joined) {
        return SL_EINVAL;
    }
    self->batch = batch;
    return 0;
}

static int
s_send (sluice_member_t *self, sl_msg_t *msg, zframe_t *frame)
{
    int rc = frame ? sl_client_send_frame (self->client, msg, frame)
                   : sl_client_send (self->client, msg, NULL);
    if (rc == 0) {
        self->sent_ms = sl_mono_ms ();
    }
    return rc;
}

//  Keeps the member alive: the broker ends the leases of a silent member.
static void
s_tick (sluice_member_t *self)
{
    if (sl_mono_ms () - self->sent_ms < S_PING_MS) {
        return;
    }
    sl_msg_t ping;
    sl_msg_init (&ping, SL_CMD_PING);
    ping.req = sl_client_next_req (self->client);
    //  Naming the group: a membership that ended is told (ERROR ESTATE).
    snprintf (ping.group, sizeof ping.group, "%s", self->group);
    s_send (self, &ping, NULL);
    sl_msg_reset (&ping);
}

int
sluice_member_join (sluice_member_t *self, int timeout_ms)
{
    if (!self) {
        return SL_EINVAL;
    }
    if (timeout_ms <= 0) {
        timeout_ms = SLUICE_DEFAULT_TIMEOUT_MS;
    }
    int rc = sl_api_hello (self->client, timeout_ms);
    if (rc) {
        return rc;
    }
    uint32_t connects = sl_client_connects (self->client);
    sl_msg_t join, reply;
    sl_msg_init (&join, SL_CMD_JOIN);
    sl_msg_init (&reply, SL_CMD_NONE);
    snprintf (join.group, sizeof join.group, "%s", self->group);
    snprintf (join.in, sizeof join.in, "%s", self->in);
    snprintf (join.out, sizeof join.out, "%s", self->out);
    snprintf (join.member, sizeof join.member, "%s", self->member);
    join.window = 1;
    join.batch = self->batch;
    join.from = SL_FROM_BEGINNING;
    rc = sl_client_request (self->client, &join, &reply, NULL, sl_mono_ms () + timeout_ms);
    if (rc == 0 && reply.cmd != SL_CMD_JOINED) {
        rc = SL_EPROTO;
    }
    if (rc && reply.cmd == SL_CMD_ERROR) {
        sl_error ("sluice", "broker refused JOIN of group %s: %s", self->group, reply.text);
    }
    if (rc == 0) {
        self->joined = true;
        self->connects = connects;
        self->sent_ms = sl_mono_ms ();
    }
    sl_msg_reset (&join);
    sl_msg_reset (&reply);
    return rc;
}

int
sluice_member_work (sluice_member_t *self, int timeout_ms)
{
    if (!self) {
        return SL_EINVAL;
    }
    if (self->leased) {
        //  Abandoned: the broker hands it out again at its deadline.
        s_drop_lease (self);
    }
    int64_t end = timeout_ms < 0 ? 0 : sl_mono_ms () + timeout_ms;
    while (true) {
        if (!self->joined || sl_client_connects (self->client) != self->connects) {
            //  A renewed connection: the broker may have restarted and
            //  forgotten us (its members are not durable).
            self->joined = false;
            int rc = sluice_member_join (self, SLUICE_DEFAULT_TIMEOUT_MS);
            if (rc && rc != SL_ETIMEOUT) {
                return rc;
            }
        }
        s_tick (self);
        int64_t now = sl_mono_ms ();
        if (end && now >= end) {
            return SL_ETIMEOUT;
        }
        int slice = S_SLICE_MS;
        if (end && end - now < slice) {
            slice = (int)(end - now);
        }
        zmsg_t *data = NULL;
        int rc = sl_client_recv (self->client, &self->work, &data, slice);
        if (rc == SL_ETIMEOUT) {
            continue;
        }
        if (rc) {
            return rc;
        }
        if (self->work.cmd == SL_CMD_ERROR) {
            sl_warn ("sluice", "broker says: %s", self->work.text);
            if (self->work.code == -SL_ESTATE || self->work.code == -SL_ENOTFOUND) {
                self->joined = false; //  no longer a member: join again
            }
        }
        else if (self->work.cmd == SL_CMD_WORK && strcmp (self->work.group, self->group) == 0 &&
                 data && zmsg_size (data) == 1 && self->work.count > 0 &&
                 self->work.count <= S_MAX_BATCH) {
            zframe_t *frame = zmsg_first (data);
            sl_record_iter_init (&self->it, zframe_data (frame), zframe_size (frame),
                                 self->work.count, self->work.offset);
            self->data = data;
            self->leased = true;
            return (int)self->work.count;
        }
        zmsg_destroy (&data);
        sl_msg_reset (&self->work);
    }
}

int
sluice_member_record (sluice_member_t *self, sluice_record_t *record)
{
    if (!self || !record || !self->leased) {
        return 0;
    }
    s_tick (self);
    sl_record_t rec;
    int rc = sl_record_iter_next (&self->it, &rec);
    if (rc == 1) {
        sl_api_record_fill (record, &rec);
        return 1;
    }
    if (rc < 0) {
        //  The records past a malformed one cannot be read: they are
        //  failed for retry, so the broker isolates the bad one.
        sl_warn ("sluice", "malformed record in lease %" PRIu64 ": %s", self->work.lease,
                 sl_strerror (rc));
        uint64_t from = self->it.next_offset;
        uint64_t stop = self->work.offset + self->work.count;
        for (uint64_t off = from; off < stop; off++) {
            sl_msg_add_failed (&self->result, off, "malformed record");
        }
        self->it.left = 0;
    }
    return 0;
}

int
sluice_member_emit (sluice_member_t *self, const void *key, size_t key_len, const void *value,
                    size_t value_len)
{
    if (!self) {
        return SL_EINVAL;
    }
    if (!self->leased) {
        return SL_ESTATE;
    }
    int rc = sl_api_record_append (&self->output, key, key_len, value, value_len);
    if (rc == 0) {
        self->out_count++;
    }
    s_tick (self);
    return rc;
}

int
sluice_member_emit_json (sluice_member_t *self, const char *key, const char *json)
{
    if (!self || !json) {
        return SL_EINVAL;
    }
    int rc = sl_api_json_value (self->json, json, &self->scratch);
    if (rc) {
        return rc;
    }
    return sluice_member_emit (self, key, key ? strlen (key) : 0, self->scratch.data,
                               self->scratch.len);
}

int
sluice_member_fail (sluice_member_t *self, uint64_t offset, const char *error, bool final)
{
    if (!self) {
        return SL_EINVAL;
    }
    if (!self->leased) {
        return SL_ESTATE;
    }
    if (offset < self->work.offset || offset >= self->work.offset + self->work.count) {
        return SL_EINVAL;
    }
    int rc = sl_msg_add_failed (&self->result, offset, error);
    if (rc == 0) {
        self->result.failed[self->result.n_failed - 1].final = final;
    }
    return rc;
}

int
sluice_member_done (sluice_member_t *self)
{
    if (!self) {
        return SL_EINVAL;
    }
    if (!self->leased) {
        return SL_ESTATE;
    }
    sl_msg_t *result = &self->result;
    result->cmd = SL_CMD_RESULT;
    snprintf (result->group, sizeof result->group, "%s", self->group);
    result->lease = self->work.lease;
    result->offset = self->work.offset;
    result->count = self->work.count;
    result->out_count = self->out_count;
    zframe_t *frame = zframe_new (self->output.len ? self->output.data : NULL, self->output.len);
    if (!frame) {
        return SL_ENOMEM;
    }
    int rc = SL_EAGAIN;
    int64_t end = sl_mono_ms () + SLUICE_DEFAULT_TIMEOUT_MS;
    while (rc == SL_EAGAIN && sl_mono_ms () < end) {
        rc = s_send (self, result, frame);
        if (rc == SL_EAGAIN) {
            zclock_sleep (50);
        }
    }
    zframe_destroy (&frame);
    s_drop_lease (self);
    return rc;
}

int
sluice_member_leave (sluice_member_t *self)
{
    if (!self) {
        return SL_EINVAL;
    }
    if (self->leased) {
        s_drop_lease (self);
    }
    sl_msg_t leave, reply;
    sl_msg_init (&leave, SL_CMD_LEAVE);
    sl_msg_init (&reply, SL_CMD_NONE);
    snprintf (leave.group, sizeof leave.group, "%s", self->group);
    snprintf (leave.member, sizeof leave.member, "%s", self->member);
    int rc = s_send (self, &leave, NULL);
    sl_msg_reset (&leave);
    if (rc == 0) {
        //  A PING's PONG says the LEAVE (and the RESULT before it) arrived.
        sl_msg_t ping;
        sl_msg_init (&ping, SL_CMD_PING);
        rc = sl_client_request (self->client, &ping, &reply, NULL,
                                sl_mono_ms () + SLUICE_DEFAULT_TIMEOUT_MS);
        sl_msg_reset (&ping);
    }
    sl_msg_reset (&reply);
    self->joined = false;
    return rc;
}
