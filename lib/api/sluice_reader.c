/*  sluice_reader.c - the public API's reader (sluice.h): the gapless
    reading algorithm of docs/PROTOCOL.md §6.4, one record per call.

    Subscribe first, SEEK, then FETCH from the next wanted offset until a
    reply is empty; then LIVE blobs, dropping what was already returned and
    fetching any gap from the log; after 1 s without LIVE a FETCH finds a
    lost tail (and notices a restarted broker). Holds at most one FETCH
    reply or one LIVE blob, plus the SUB's bounded queue.
*/
#include "sluice_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_proto.h"
#include "sl_proto_live.h"
#include "sl_util.h"
#include "sl_version.h"

#define S_IDLE_FETCH_MS 1000 //  FETCH after this long without LIVE
#define S_SUB_HWM 1000       //  LIVE blobs queued at most
#define S_FETCH_RECORDS 10000

struct _sluice_reader_t {
    sl_client_t *client;
    zsock_t *sub;
    char stream[SL_NAME_MAX + 1];
    char name[SL_NAME_MAX + 1]; //  durable reader, "" for none
    sl_from_t from;
    int64_t from_value;
    uint8_t topic[SL_NAME_MAX + 2];
    size_t topic_len;
    bool connected;
    uint64_t pos;  //  next offset to return
    zmsg_t *held;  //  blobs not yet walked (FETCH reply or one LIVE)
    zframe_t *cur; //  the blob being walked
    sl_record_iter_t it;
    bool caught_up; //  the last FETCH was empty: follow LIVE
    bool at_end;
    int64_t idle_since; //  last FETCH or LIVE
};

//  "beginning", "end", "1200", "-10", "@TIME". 0 or SL_EINVAL.
static int
s_parse_from (const char *text, sl_from_t *from, int64_t *value)
{
    *value = 0;
    if (!text || strcmp (text, "end") == 0) {
        *from = SL_FROM_END;
        return 0;
    }
    if (strcmp (text, "beginning") == 0) {
        *from = SL_FROM_BEGINNING;
        return 0;
    }
    if (text[0] == '@' && text[1] == '-') {
        //  "@-5m": that long before now.
        int64_t ago = 0;
        if (sl_parse_duration_ms (text + 2, &ago) || ago <= 0) {
            return SL_EINVAL;
        }
        *from = SL_FROM_TIME;
        *value = sl_now_ms () - ago;
        return 0;
    }
    if (text[0] == '@') {
        *from = SL_FROM_TIME;
        return sl_parse_time_ms (text + 1, value) ? SL_EINVAL : 0;
    }
    bool last = text[0] == '-';
    uint64_t n = 0;
    if (sl_parse_u64 (last ? text + 1 : text, &n) || n > INT64_MAX || (last && n == 0)) {
        return SL_EINVAL;
    }
    *from = last ? SL_FROM_LAST : SL_FROM_OFFSET;
    *value = (int64_t)n;
    return 0;
}

sluice_reader_t *
sluice_reader_new (const char *broker, const char *stream, const char *from, const char *name)
{
    if (!broker || !stream || !sl_name_valid (stream, strlen (stream)) || !sl_api_name_ok (name)) {
        return NULL;
    }
    sluice_reader_t *self = (sluice_reader_t *)calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    if (s_parse_from (from, &self->from, &self->from_value)) {
        free (self);
        return NULL;
    }
    snprintf (self->stream, sizeof self->stream, "%s", stream);
    snprintf (self->name, sizeof self->name, "%s", name ? name : "");
    self->topic_len = sl_topic (self->stream, self->topic);
    self->client = sl_api_client_new (broker, "libsluice/" SLUICE_VERSION, NULL, NULL);
    if (!self->client) {
        sluice_reader_destroy (&self);
    }
    return self;
}

void
sluice_reader_destroy (sluice_reader_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    sluice_reader_t *self = *self_p;
    zmsg_destroy (&self->held);
    zframe_destroy (&self->cur);
    zsock_destroy (&self->sub);
    sl_client_destroy (&self->client);
    free (self);
    *self_p = NULL;
}

static int
s_open_sub (sluice_reader_t *self)
{
    const char *endpoint = sl_client_pub_endpoint (self->client);
    if (!endpoint) {
        return SL_ESTATE;
    }
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (!sub) {
        return SL_ENOMEM;
    }
    zsock_set_linger (sub, 0);
    zsock_set_rcvhwm (sub, S_SUB_HWM);
    if (strchr (endpoint, '[')) {
        zsock_set_ipv6 (sub, 1);
    }
    int rc = sl_client_secure (self->client, sub);
    if (rc == 0 &&
        zmq_setsockopt (zsock_resolve (sub), ZMQ_SUBSCRIBE, self->topic, self->topic_len)) {
        rc = SL_EINVAL;
    }
    if (rc == 0 && zsock_connect (sub, "%s", endpoint)) {
        sl_error ("sluice", "cannot connect to the live feed %s", endpoint);
        rc = SL_EINVAL;
    }
    if (rc) {
        zsock_destroy (&sub);
        return rc;
    }
    self->sub = sub;
    return 0;
}

static int
s_seek (sluice_reader_t *self, sl_from_t from, int64_t value, bool *found, int timeout_ms)
{
    sl_msg_t req, reply;
    sl_msg_init (&req, SL_CMD_SEEK);
    sl_msg_init (&reply, SL_CMD_NONE);
    snprintf (req.stream, sizeof req.stream, "%s", self->stream);
    req.from = from;
    req.value = value;
    if (from == SL_FROM_COMMITTED) {
        snprintf (req.name, sizeof req.name, "%s", self->name);
    }
    int rc = sl_client_request (self->client, &req, &reply, NULL, sl_mono_ms () + timeout_ms);
    if (rc == 0 && reply.cmd != SL_CMD_POSITION) {
        rc = SL_EPROTO;
    }
    if (rc == 0) {
        self->pos = reply.offset;
        *found = reply.found;
    }
    sl_msg_reset (&req);
    sl_msg_reset (&reply);
    return rc;
}

int
sluice_reader_connect (sluice_reader_t *self, int timeout_ms)
{
    if (!self) {
        return SL_EINVAL;
    }
    if (timeout_ms <= 0) {
        timeout_ms = SLUICE_DEFAULT_TIMEOUT_MS;
    }
    if (self->connected) {
        return 0;
    }
    int rc = sl_api_hello (self->client, timeout_ms);
    if (rc) {
        return rc;
    }
    //  Subscribed before the position is read, so that nothing appended
    //  meanwhile is missed by both paths.
    if (!self->sub) {
        rc = s_open_sub (self);
        if (rc) {
            return rc;
        }
    }
    bool found = false;
    if (self->name[0]) {
        rc = s_seek (self, SL_FROM_COMMITTED, 0, &found, timeout_ms);
        if (rc) {
            return rc;
        }
    }
    if (!found) {
        rc = s_seek (self, self->from, self->from_value, &found, timeout_ms);
        if (rc) {
            return rc;
        }
    }
    self->connected = true;
    self->caught_up = false;
    self->idle_since = sl_mono_ms ();
    return 0;
}

uint64_t
sluice_reader_position (sluice_reader_t *self)
{
    return self ? self->pos : 0;
}

bool
sluice_reader_at_end (sluice_reader_t *self)
{
    return self && self->at_end;
}

//  FETCH from pos; the reply's blobs become held, an empty reply means
//  caught up.
static int
s_fetch (sluice_reader_t *self, int64_t deadline)
{
    sl_msg_t req, reply;
    sl_msg_init (&req, SL_CMD_FETCH);
    sl_msg_init (&reply, SL_CMD_NONE);
    snprintf (req.stream, sizeof req.stream, "%s", self->stream);
    req.offset = self->pos;
    req.max_records = S_FETCH_RECORDS;
    zmsg_t *data = NULL;
    int rc = sl_client_request (self->client, &req, &reply, &data, deadline);
    if (rc == 0 && reply.cmd != SL_CMD_RECORDS) {
        rc = SL_EPROTO;
    }
    if (rc == 0) {
        if (reply.offset > self->pos) {
            sl_warn ("sluice",
                     "stream %s: offsets %" PRIu64 "..%" PRIu64 " were removed by "
                     "retention before they were read",
                     self->stream, self->pos, reply.offset - 1);
            self->pos = reply.offset;
        }
        self->idle_since = sl_mono_ms ();
        if (data && zmsg_size (data) > 0) {
            zmsg_destroy (&self->held);
            self->held = data;
            data = NULL;
            self->at_end = false;
        }
        else {
            self->caught_up = true;
            self->at_end = true;
        }
    }
    zmsg_destroy (&data);
    sl_msg_reset (&req);
    sl_msg_reset (&reply);
    return rc;
}

//  One LIVE message: kept when it holds pos, a gap sends us to FETCH.
static void
s_on_live (sluice_reader_t *self, zmsg_t *zmsg)
{
    sl_live_t live;
    int rc = sl_live_decode (zmsg, self->topic, self->topic_len, &live);
    if (rc) {
        sl_warn ("sluice", "undecodable LIVE message skipped: %s", sl_strerror (rc));
        return;
    }
    self->idle_since = sl_mono_ms ();
    uint64_t offset = live.header.base_offset;
    if (offset + live.header.count <= self->pos) {
        //  Already returned (it was in a FETCH reply).
    }
    else if (offset > self->pos) {
        self->caught_up = false; //  LIVE lost something: the log fills the gap
    }
    else {
        //  The walk takes stored blobs whole, as FETCH replies hold them:
        //  the blob's two frames are joined (one copy, here in the client).
        zframe_t *blob = zframe_new (NULL, SL_BATCH_HEADER_SIZE + live.records_len);
        zmsg_t *held = blob ? zmsg_new () : NULL;
        if (!held) {
            zframe_destroy (&blob);
            self->caught_up = false; //  read it from the log instead
            return;
        }
        memcpy (zframe_data (blob), live.head, SL_BATCH_HEADER_SIZE);
        memcpy (zframe_data (blob) + SL_BATCH_HEADER_SIZE, live.records, live.records_len);
        zmsg_append (held, &blob);
        zmsg_destroy (&self->held);
        self->held = held;
        self->at_end = false;
    }
}

//  The next record of the blobs in hand: 1 found, 0 none left, <0 malformed.
static int
s_walk (sluice_reader_t *self, sluice_record_t *record)
{
    while (true) {
        if (self->cur) {
            sl_record_t rec;
            int rc = sl_record_iter_next (&self->it, &rec);
            if (rc == 1) {
                if (rec.offset < self->pos) {
                    continue;
                }
                if (rec.offset > self->pos) {
                    //  A blob that starts past pos: the records between are
                    //  fetched from the log first.
                    zframe_destroy (&self->cur);
                    zmsg_destroy (&self->held);
                    self->caught_up = false;
                    return 0;
                }
                self->pos = rec.offset + 1;
                sl_api_record_fill (record, &rec);
                return 1;
            }
            zframe_destroy (&self->cur);
            if (rc < 0) {
                sl_error ("sluice", "malformed records in stream %s at offset %" PRIu64 ": %s",
                          self->stream, self->pos, sl_strerror (rc));
                zmsg_destroy (&self->held);
                return rc;
            }
        }
        if (!self->held || zmsg_size (self->held) == 0) {
            zmsg_destroy (&self->held);
            return 0;
        }
        self->cur = zmsg_pop (self->held);
        sl_batch_header_t header;
        int rc = sl_record_iter_init_blob (&self->it, zframe_data (self->cur),
                                           zframe_size (self->cur), &header);
        if (rc) {
            zframe_destroy (&self->cur);
            zmsg_destroy (&self->held);
            return rc;
        }
    }
}

int
sluice_reader_next (sluice_reader_t *self, sluice_record_t *record, int timeout_ms)
{
    if (!self || !record) {
        return SL_EINVAL;
    }
    int64_t end = timeout_ms < 0 ? 0 : sl_mono_ms () + timeout_ms;
    if (!self->connected) {
        int rc = sluice_reader_connect (self, timeout_ms > 0 ? timeout_ms : 0);
        if (rc) {
            return rc;
        }
    }
    while (true) {
        int rc = s_walk (self, record);
        if (rc != 0) {
            return rc > 0 ? 0 : rc;
        }
        if (!self->caught_up) {
            int64_t deadline = sl_mono_ms () + SLUICE_DEFAULT_TIMEOUT_MS;
            if (end > deadline) {
                deadline = end;
            }
            rc = s_fetch (self, deadline);
            if (rc == SL_ETIMEOUT && end == 0) {
                continue; //  forever: the broker may come back
            }
            if (rc) {
                return rc;
            }
            continue;
        }
        int64_t now = sl_mono_ms ();
        int64_t wait = S_IDLE_FETCH_MS - (now - self->idle_since);
        if (end && end - now < wait) {
            wait = end - now;
        }
        zmq_pollitem_t item = {zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0};
        if (wait > 0 && zmq_poll (&item, 1, (long)wait) > 0 && (item.revents & ZMQ_POLLIN)) {
            zmsg_t *zmsg = zmsg_recv (self->sub);
            if (zmsg) {
                s_on_live (self, zmsg);
                zmsg_destroy (&zmsg);
            }
            continue;
        }
        now = sl_mono_ms ();
        if (now - self->idle_since >= S_IDLE_FETCH_MS) {
            self->caught_up = false;
        }
        if (end && now >= end) {
            return SL_ETIMEOUT;
        }
    }
}

int
sluice_reader_commit (sluice_reader_t *self, int timeout_ms)
{
    if (!self || !self->name[0]) {
        return SL_EINVAL;
    }
    if (timeout_ms <= 0) {
        timeout_ms = SLUICE_DEFAULT_TIMEOUT_MS;
    }
    sl_msg_t req, reply;
    sl_msg_init (&req, SL_CMD_COMMIT);
    sl_msg_init (&reply, SL_CMD_NONE);
    snprintf (req.stream, sizeof req.stream, "%s", self->stream);
    snprintf (req.name, sizeof req.name, "%s", self->name);
    req.offset = self->pos;
    int rc = sl_client_request (self->client, &req, &reply, NULL, sl_mono_ms () + timeout_ms);
    if (rc == 0 && reply.cmd != SL_CMD_COMMITTED) {
        rc = SL_EPROTO;
    }
    sl_msg_reset (&req);
    sl_msg_reset (&reply);
    return rc;
}
