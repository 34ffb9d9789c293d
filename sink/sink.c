/*  sink.c - the sink core: gapless, duplicate-free reading of one stream.

    docs/PROTOCOL.md §6.4, step by step:
    1. The SUB socket is connected and subscribed before anything is read,
       so a record appended during the replay reaches us by one path or the
       other.
    2. SEEK resolves the start (a durable reader's checkpoint first), then
       FETCH runs from next_wanted until a reply has nothing more: caught up.
       While one reply is written out, the FETCH for what follows it is
       already in flight.
    3. Each LIVE blob: records below next_wanted are dropped; a blob that
       starts past next_wanted means LIVE lost something, and the gap is
       fetched from the log before the blob is delivered.
    4. After 1 s without LIVE, a FETCH at next_wanted finds a lost tail and
       notices a restarted broker (which is met with a new HELLO).
    Every record passes one gate, s_deliver: only the record at next_wanted
    is written, so neither path can duplicate or reorder. Memory stays at
    one FETCH reply, one held LIVE blob and the SUB high-water mark.

    sink_session.c holds the session with the broker (requests and their
    replies, HELLO again, the durable reader's commits); sink_int.h what
    the two files share.
*/
#include "sink.h"

#include <czmq.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink_int.h"
#include "mqtt_out.h"
#include "post.h"
#include "sink_out.h"
#include "sl_batch.h"
#include "sl_client.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_proto_live.h"
#include "sl_util.h"
#include "sl_version.h"

#define S_FETCH_RECORDS 10000
#define S_FETCH_BYTES (4u << 20)
#define S_SUB_HWM 64
#define S_IDLE_FETCH_MS 1000
#define S_LIVE_DRAIN_MAX 64 //  LIVE blobs gathered into one write
#define S_RETRY_PAUSE_MS 200

void
sl_sink_config_init (sl_sink_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->from = SL_FROM_END;
    cfg->format = SL_SINK_FORMAT_DEFAULT;
    cfg->connect_timeout_ms = 30000;
    cfg->request_timeout_ms = 5000;
    cfg->out_fd = STDOUT_FILENO;
    cfg->rotate_bytes = 64u << 20;
    cfg->max_retries = 5;
}

int
sl_sink_parse_from (const char *text, sl_from_t *from, int64_t *value)
{
    uint64_t n = 0;
    if (!text || !*text) {
        return SL_EINVAL;
    }
    if (strcmp (text, "beginning") == 0) {
        *from = SL_FROM_BEGINNING;
        *value = 0;
        return 0;
    }
    if (strcmp (text, "end") == 0) {
        *from = SL_FROM_END;
        *value = 0;
        return 0;
    }
    if (text[0] == '@') {
        *from = SL_FROM_TIME;
        return sl_sink_parse_time (text + 1, value);
    }
    bool last = text[0] == '-';
    if (sl_parse_u64 (last ? text + 1 : text, &n) || n > INT64_MAX || (last && n == 0)) {
        return SL_EINVAL;
    }
    *from = last ? SL_FROM_LAST : SL_FROM_OFFSET;
    *value = (int64_t)n;
    return 0;
}

int
sl_sink_parse_format (const char *text, sl_sink_format_t *format)
{
    if (strcmp (text, "json") == 0) {
        *format = SL_SINK_FORMAT_JSON;
    }
    else if (strcmp (text, "value") == 0) {
        *format = SL_SINK_FORMAT_VALUE;
    }
    else if (strcmp (text, "msgpack") == 0) {
        *format = SL_SINK_FORMAT_MSGPACK;
    }
    else {
        return SL_EINVAL;
    }
    return 0;
}

//  True with --output DIR: what may be committed is what complete files hold.
static bool
s_output (sink_t *self)
{
    return self->cfg->output_dir != NULL;
}

//  Writes the formatted batch out, then maybe commits. A reader gone away
//  (EPIPE) ends the run quietly with 0; other write errors with 1.
static void
s_flush (sink_t *self)
{
    int rc = sl_sink_out_flush (self->out, &self->written);
    sl_sink_out_taken (self->out, &self->written, false);
    if (rc == SL_ECLOSED) {
        sl_debug ("sink", "output closed by its reader; stopping");
        sl_sink_finish (self, 0);
    }
    else if (rc == SL_EAGAIN) {
        sl_sink_finish (self, 0);
    }
    else if (rc) {
        sl_error ("sink", "cannot write the output: %s", strerror (errno));
        sl_sink_finish (self, 1);
    }
    sl_sink_commit_maybe (self, false);
}

//  Writes the records of one stored blob from next_wanted on. The blob is
//  checked whole (header, exactly `count` bounded records) in the same walk
//  that formats it, and a malformed one is taken back out of the pending
//  output, so it stops the sink before any of it is written. A blob that
//  starts past next_wanted is a gap the caller should have filled.
//  The blob comes as its header (SL_BATCH_HEADER_SIZE bytes at head) and
//  its records: one buffer from a RECORDS reply, two frames from LIVE.
//  0, SL_EAGAIN (gap) or a decode error.
static int
s_deliver (sink_t *self, const uint8_t *head, const uint8_t *records, size_t records_len,
           const char *origin)
{
    sl_batch_header_t header;
    sl_record_iter_t it;
    size_t len = SL_BATCH_HEADER_SIZE + records_len;
    int rc = sl_batch_header_decode (head, SL_BATCH_HEADER_SIZE, &header);
    if (rc == 0) {
        sl_record_iter_init (&it, records, records_len, header.count, header.base_offset);
    }
    if (rc == 0 && header.base_offset > UINT64_MAX - header.count) {
        rc = SL_EPROTO;
    }
    if (rc) {
        sl_error ("sink", "malformed batch in %s from %s (%zu bytes): %s; stopping", origin,
                  self->cfg->broker, len, sl_strerror (rc));
        return rc;
    }
    if (header.base_offset > self->next_wanted) {
        return SL_EAGAIN;
    }
    if (header.base_offset + header.count <= self->next_wanted) {
        return 0;
    }
    it.max_depth = SL_MP_MAX_DEPTH;
    if (self->cfg->until && self->cfg->until_kind == SL_FROM_TIME &&
        header.append_ms >= self->cfg->until_value) {
        sl_sink_finish (self, 0); //  --until @TIME: this batch came after it
        return 0;
    }
    size_t pending = sl_sink_out_pending (self->out);
    uint64_t next_wanted = self->next_wanted, delivered = self->delivered;
    sl_record_t record;
    while (rc == 0 && !self->done) {
        int more = sl_record_iter_next (&it, &record);
        if (more <= 0) {
            rc = more;
            break;
        }
        if (record.offset < self->next_wanted) {
            continue;
        }
        if (self->cfg->until && self->cfg->until_kind == SL_FROM_OFFSET &&
            record.offset >= (uint64_t)self->cfg->until_value) {
            sl_sink_finish (self, 0);
            break;
        }
        if (!sl_sink_key_passes (self->cfg, record.key, record.key_len)) {
            self->next_wanted = record.offset + 1; //  read, not written
            continue;
        }
        rc = sl_sink_out_record (self->out, &record);
        if (rc) {
            break;
        }
        self->next_wanted = record.offset + 1;
        self->delivered++;
        if (self->cfg->count && self->delivered >= self->cfg->count) {
            sl_sink_finish (self, 0);
        }
    }
    if (rc) {
        sl_sink_out_truncate (self->out, pending);
        self->next_wanted = next_wanted;
        self->delivered = delivered;
    }
    if (rc) {
        sl_error ("sink",
                  "malformed record in %s at offset %" PRIu64 " (in the batch from %" PRIu64
                  ", none of which was written): %s; stopping",
                  origin, it.next_offset, header.base_offset, sl_strerror (rc));
    }
    return rc;
}

//  One stored blob in one buffer (a RECORDS reply's data frame).
static int
s_deliver_blob (sink_t *self, const uint8_t *blob, size_t len, const char *origin)
{
    if (len < SL_BATCH_HEADER_SIZE) {
        sl_error ("sink", "malformed batch in %s from %s (%zu bytes): %s; stopping", origin,
                  self->cfg->broker, len, sl_strerror (SL_ETRUNC));
        return SL_ETRUNC;
    }
    return s_deliver (self, blob, blob + SL_BATCH_HEADER_SIZE, len - SL_BATCH_HEADER_SIZE, origin);
}

//  Offset after the last blob of a RECORDS reply (0 when unreadable).
static uint64_t
s_reply_end (zmsg_t *data)
{
    zframe_t *last = zmsg_last (data);
    sl_batch_header_t header;
    if (!last || sl_batch_header_decode (zframe_data (last), zframe_size (last), &header)) {
        return 0;
    }
    return header.base_offset + header.count;
}

static int
s_fetch_send (sink_t *self, uint64_t offset, uint64_t stop_at, uint64_t *req)
{
    sl_msg_t msg = {.cmd = SL_CMD_NONE};
    sl_msg_init (&msg, SL_CMD_FETCH);
    snprintf (msg.stream, sizeof msg.stream, "%s", self->cfg->stream);
    msg.offset = offset;
    msg.max_records = S_FETCH_RECORDS;
    if (stop_at > offset && stop_at - offset < S_FETCH_RECORDS) {
        msg.max_records = (uint32_t)(stop_at - offset);
    }
    msg.max_bytes = S_FETCH_BYTES;
    int rc = sl_sink_send (self, &msg, req);
    sl_msg_reset (&msg);
    return rc;
}

//  Delivers one RECORDS reply that answers a FETCH at next_wanted. Sets
//  *caught_up when the reply shows nothing more to read as of its sending.
static void
s_records (sink_t *self, const sl_msg_t *reply, uint64_t requested, zmsg_t *data, bool *caught_up)
{
    if (reply->offset > requested) {
        //  Retention removed what we asked for; the reply starts at the first offset kept.
        if (!self->retention_warned) {
            sl_warn ("sink",
                     "records %" PRIu64 "..%" PRIu64 " were removed by retention; "
                     "continuing at %" PRIu64,
                     requested, reply->offset - 1, reply->offset);
            self->retention_warned = true;
        }
        self->next_wanted = reply->offset;
        if (sl_sink_out_pending (self->out) == 0 && !s_output (self)) {
            self->written = reply->offset;
        }
    }
    size_t frames = zmsg_size (data);
    uint64_t start = self->next_wanted;
    for (zframe_t *f = zmsg_first (data); f && !self->done; f = zmsg_next (data)) {
        int rc = s_deliver_blob (self, zframe_data (f), zframe_size (f), "RECORDS");
        if (rc == SL_EAGAIN) {
            sl_error ("sink",
                      "broker skipped records from %" PRIu64 " in a RECORDS reply; "
                      "stopping",
                      self->next_wanted);
        }
        if (rc) {
            s_flush (self);
            sl_sink_finish (self, 1);
            return;
        }
    }
    s_flush (self);
    if (frames > 0 && self->next_wanted == start && !self->done) {
        //  Asking again would get the same answer forever.
        sl_error ("sink",
                  "broker answered FETCH %" PRIu64 " with batches that do not hold it; "
                  "stopping",
                  start);
        sl_sink_finish (self, 1);
        return;
    }
    if (frames == 0 || self->next_wanted >= reply->next) {
        *caught_up = true;
        if (self->next_wanted > reply->next && !self->behind_warned) {
            sl_warn ("sink",
                     "stream %s ends at %" PRIu64 ", before our position %" PRIu64
                     ": was it recreated? waiting for it to reach our position",
                     self->cfg->stream, reply->next, self->next_wanted);
            self->behind_warned = true;
        }
    }
}

//  FETCHes from next_wanted until caught up, or until next_wanted reaches
//  stop_at (a gap before a held LIVE blob). While a reply is written out,
//  the FETCH for what follows it is already in flight (two at most); a
//  reply for any other offset than next_wanted is dropped and asked again.
static void
s_replay (sink_t *self, uint64_t stop_at)
{
    uint64_t reqs[2];
    uint64_t offsets[2];
    int n = 0;
    int64_t retry_until = 0;
    sl_msg_t reply = {.cmd = SL_CMD_NONE};
    sl_msg_init (&reply, SL_CMD_NONE);
    zmsg_t *data = NULL;
    while (!sl_sink_stopping (self) && self->next_wanted < stop_at) {
        if (n == 0) {
            if (s_fetch_send (self, self->next_wanted, stop_at, &reqs[0])) {
                sl_error ("sink", "cannot send FETCH");
                sl_sink_finish (self, 1);
                break;
            }
            offsets[0] = self->next_wanted;
            n = 1;
        }
        int rc = sl_sink_wait (self, reqs, n, &reply, &data);
        if (rc == SL_ETIMEOUT || rc == SL_EAGAIN) {
            n = 0;
            if (sl_sink_rehello (self, rc == SL_EAGAIN)) {
                break;
            }
            continue;
        }
        if (rc) {
            continue; //  stopping
        }
        int i = reply.req == reqs[0] ? 0 : 1;
        uint64_t requested = offsets[i];
        if (i == 0 && n == 2) {
            reqs[0] = reqs[1];
            offsets[0] = offsets[1];
        }
        n--;
        if (reply.cmd == SL_CMD_ERROR) {
            zmsg_destroy (&data);
            int code = -reply.code;
            if (!sl_error_retryable (code)) {
                sl_error ("sink", "FETCH %s at %" PRIu64 " failed: %s (error %d)",
                          self->cfg->stream, requested, reply.text, reply.code);
                sl_sink_finish (self, 1);
                break;
            }
            int64_t now = sl_mono_ms ();
            if (!retry_until) {
                retry_until = now + self->cfg->connect_timeout_ms;
                sl_warn ("sink", "FETCH failed: %s; retrying", reply.text);
            }
            if (now > retry_until) {
                sl_error ("sink", "FETCH keeps failing: %s", reply.text);
                sl_sink_finish (self, 1);
                break;
            }
            zclock_sleep (S_RETRY_PAUSE_MS);
            continue;
        }
        retry_until = 0;
        if (reply.cmd != SL_CMD_RECORDS || requested != self->next_wanted) {
            zmsg_destroy (&data); //  a prefetch that no longer fits: ask again
            continue;
        }
        //  Ask for what follows this reply before writing it out.
        uint64_t end = s_reply_end (data);
        uint64_t left = self->cfg->count ? self->cfg->count - self->delivered : UINT64_MAX;
        if (n == 0 && end > self->next_wanted && end < reply.next && end < stop_at &&
            end - self->next_wanted < left && s_fetch_send (self, end, stop_at, &reqs[0]) == 0) {
            offsets[0] = end;
            n = 1;
        }
        bool caught_up = false;
        s_records (self, &reply, requested, data, &caught_up);
        zmsg_destroy (&data);
        if (caught_up) {
            break;
        }
    }
    zmsg_destroy (&data);
    sl_msg_reset (&reply);
    self->live_ms = sl_mono_ms ();
}

//  One LIVE message from the SUB socket (sl_proto_live.h).
static void
s_live_one (sink_t *self, zmsg_t *zmsg)
{
    sl_live_t live;
    int rc = sl_live_decode (zmsg, self->topic, self->topic_len, &live);
    if (rc == SL_ENOTFOUND) {
        return;
    }
    if (rc) {
        //  Not a blob we can judge; the offset check of the next one finds
        //  what it held.
        sl_warn ("sink", "undecodable LIVE message from %s: %s", self->sub_endpoint,
                 sl_strerror (rc));
        return;
    }
    uint64_t offset = live.header.base_offset;
    if (offset > self->next_wanted) {
        //  LIVE lost something: fill [next_wanted, offset) from the log, then deliver.
        sl_debug ("sink", "gap %" PRIu64 "..%" PRIu64 " before LIVE; fetching", self->next_wanted,
                  offset - 1);
        s_flush (self);
        s_replay (self, offset);
    }
    if (!self->done && self->next_wanted >= offset) {
        rc = s_deliver (self, live.head, live.records, live.records_len, "LIVE");
        if (rc) {
            s_flush (self);
            sl_sink_finish (self, 1);
        }
    }
}

//  Follows the live feed until the run ends (step 3 and 4 of §6.4).
static void
s_follow (sink_t *self)
{
    void *sub = zsock_resolve (self->sub);
    void *dealer = zsock_resolve (sl_client_sock (self->client));
    self->live_ms = sl_mono_ms ();
    while (!sl_sink_stopping (self)) {
        int64_t now = sl_mono_ms ();
        sl_sink_out_taken (self->out, &self->written, false); //  a pipe's reader read on
        int64_t wait = self->live_ms + S_IDLE_FETCH_MS - now;
        if (self->cfg->name && self->written != self->commit_sent) {
            int64_t due = self->commit_ms + SINK_COMMIT_EVERY_MS - now;
            wait = due < wait ? due : wait;
        }
        wait = wait < 0 ? 0 : wait > 200 ? 200 : wait; //  200: notice *stop in time
        zmq_pollitem_t items[2] = {{sub, 0, ZMQ_POLLIN, 0}, {dealer, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll (items, 2, (long)wait) < 0) {
            continue; //  EINTR: the loop checks the stop flags
        }
        if (items[1].revents & ZMQ_POLLIN) {
            sl_msg_t reply = {.cmd = SL_CMD_NONE};
            zmsg_t *data = NULL;
            if (sl_client_recv (self->client, &reply, &data, 0) == 0) {
                sl_sink_stray_reply (self, &reply);
            }
            zmsg_destroy (&data);
            sl_msg_reset (&reply);
        }
        if (items[0].revents & ZMQ_POLLIN) {
            //  Gather what is waiting into one write.
            for (int i = 0; i < S_LIVE_DRAIN_MAX && !self->done; i++) {
                zmsg_t *zmsg = zmsg_recv_nowait (self->sub);
                if (!zmsg) {
                    break;
                }
                s_live_one (self, zmsg);
                zmsg_destroy (&zmsg);
            }
            s_flush (self);
            self->live_ms = sl_mono_ms ();
        }
        else if (sl_mono_ms () - self->live_ms >= S_IDLE_FETCH_MS) {
            s_replay (self, UINT64_MAX);
        }
        else if (s_output (self)) {
            s_flush (self); //  --rotate-age completes a file with no new records too
        }
        sl_sink_commit_maybe (self, false);
    }
}

//  SEEK, as a durable reader's checkpoint first. 0 or an error (logged).
static int
s_seek (sink_t *self)
{
    const sl_sink_config_t *cfg = self->cfg;
    sl_msg_t req = {.cmd = SL_CMD_NONE};
    sl_msg_t reply = {.cmd = SL_CMD_NONE};
    int rc = 0;
    for (int pass = cfg->name ? 0 : 1; pass < 2; pass++) {
        sl_msg_init (&req, SL_CMD_SEEK);
        snprintf (req.stream, sizeof req.stream, "%s", cfg->stream);
        if (pass == 0) {
            req.from = SL_FROM_COMMITTED;
            snprintf (req.name, sizeof req.name, "%s", cfg->name);
        }
        else {
            req.from = cfg->from;
            req.value = cfg->from_value;
        }
        sl_msg_reset (&reply);
        rc = sl_client_request (self->client, &req, &reply, NULL,
                                sl_mono_ms () + cfg->connect_timeout_ms);
        sl_msg_reset (&req);
        if (rc && zsys_interrupted) {
            break;
        }
        if (rc) {
            sl_error ("sink", "SEEK %s failed: %s%s%s", cfg->stream, sl_strerror (rc),
                      reply.cmd == SL_CMD_ERROR ? ": " : "",
                      reply.cmd == SL_CMD_ERROR ? reply.text : "");
            break;
        }
        if (pass == 0 && reply.found) {
            sl_info ("sink", "reader %s resumes %s at its committed offset %" PRIu64, cfg->name,
                     cfg->stream, reply.offset);
            break;
        }
        if (pass == 0) {
            sl_info ("sink", "reader %s has no checkpoint on %s; using --from", cfg->name,
                     cfg->stream);
        }
    }
    if (rc == 0 && cfg->from == SL_FROM_OFFSET && !reply.found &&
        reply.offset > (uint64_t)cfg->from_value) {
        sl_warn ("sink",
                 "records %" PRId64 "..%" PRIu64 " were removed by retention; starting "
                 "at %" PRIu64,
                 cfg->from_value, reply.offset - 1, reply.offset);
        self->retention_warned = true;
    }
    if (rc == 0) {
        self->next_wanted = reply.offset;
        self->written = reply.offset;
        self->stream_next = reply.next;
        sl_debug ("sink", "reading %s from %" PRIu64 " (first %" PRIu64 ", next %" PRIu64 ")",
                  cfg->stream, reply.offset, reply.first, reply.next);
    }
    sl_msg_reset (&reply);
    return rc;
}

static int
s_list (sink_t *self)
{
    sl_msg_t req = {.cmd = SL_CMD_NONE};
    sl_msg_t reply = {.cmd = SL_CMD_NONE};
    sl_msg_init (&req, SL_CMD_LIST);
    int rc = sl_client_request (self->client, &req, &reply, NULL,
                                sl_mono_ms () + self->cfg->connect_timeout_ms);
    int code = 0;
    if (rc) {
        sl_error ("sink", "LIST failed: %s", sl_strerror (rc));
        code = 1;
    }
    else {
        rc = sl_sink_out_streams (self->cfg->out_fd, self->cfg->format == SL_SINK_FORMAT_JSON,
                                  reply.streams, reply.n_streams, sl_now_ms ());
        code = rc && rc != SL_ECLOSED ? 1 : 0;
    }
    sl_msg_reset (&req);
    sl_msg_reset (&reply);
    return code;
}

//  Creates the SUB socket: bounded queue, our topic only.
static zsock_t *
s_sub_new (sink_t *self, const char *endpoint)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (!sub) {
        return NULL;
    }
    void *handle = zsock_resolve (sub);
    //  No ZMTP heartbeats here: a slow sink stops reading its full pipe,
    //  so it cannot see PONGs, times the connection out and libzmq 4.3.4
    //  then asserts (_input_stopped; libzmq issues #3596, #3937). A dead
    //  broker is noticed by the idle FETCH on the DEALER instead.
    int hwm = S_SUB_HWM;
    zmq_setsockopt (handle, ZMQ_RCVHWM, &hwm, sizeof hwm);
    self->topic_len = sl_topic (self->cfg->stream, self->topic);
    if (zmq_setsockopt (handle, ZMQ_SUBSCRIBE, self->topic, self->topic_len) ||
        sl_client_secure (self->client, sub) || zsock_connect (sub, "%s", endpoint)) {
        sl_error ("sink", "cannot subscribe to the live feed %s", endpoint);
        zsock_destroy (&sub);
        return NULL;
    }
    snprintf (self->sub_endpoint, sizeof self->sub_endpoint, "%s", endpoint);
    return sub;
}

int
sl_sink_run (const sl_sink_config_t *cfg)
{
    if (!cfg->broker || (!cfg->list && !cfg->stream)) {
        sl_error ("sink", "--broker and --stream are required");
        return 2;
    }
    if (cfg->stream && !sl_name_valid (cfg->stream, strlen (cfg->stream))) {
        sl_error ("sink", "invalid stream name '%s'", cfg->stream);
        return 2;
    }
    if (cfg->name && !sl_name_valid (cfg->name, strlen (cfg->name))) {
        sl_error ("sink", "invalid reader name '%s'", cfg->name);
        return 2;
    }
    //  A reader that closes the pipe is answered with EPIPE, not a signal.
    signal (SIGPIPE, SIG_IGN);

    sink_t sink = {.cfg = cfg};
    sink_t *self = &sink;
    sl_client_opts_t opts = {
        .broker = cfg->broker,
        .software = "sluice-sink/" SLUICE_VERSION,
        .timeout_ms = cfg->request_timeout_ms,
        .heartbeat_ms = 1000,
    };
    self->client = sl_client_new (&opts);
    if (!self->client) {
        sl_error ("sink", "cannot connect to %s", cfg->broker);
        return 1;
    }
    self->out = sl_sink_out_new (cfg->out_fd, cfg->format, cfg->stop);
    if (!self->out) {
        sl_error ("sink", "out of memory");
        sl_sink_finish (self, 1);
        goto done;
    }
    if (cfg->output_dir && !cfg->list) {
        sl_out_files_opts_t fo = {.dir = cfg->output_dir,
                                  .stream = cfg->stream,
                                  .ext =
                                      cfg->format == SL_SINK_FORMAT_MSGPACK ? "msgpack" : "jsonl",
                                  .rotate_bytes = cfg->rotate_bytes ? cfg->rotate_bytes : 1,
                                  .rotate_age_ms = cfg->rotate_age_ms,
                                  .compress = cfg->compress};
        sl_out_files_t *files = sl_out_files_new (&fo);
        if (!files) {
            sl_sink_finish (self, 1);
            goto done;
        }
        sl_sink_out_set_files (self->out, &files);
    }
    if (cfg->mqtt_url && !cfg->list) {
        sl_mqtt_out_t *mqtt = sl_mqtt_out_new (cfg->mqtt_url, cfg->mqtt_topic, cfg->name);
        if (!mqtt) {
            sl_sink_finish (self, 2);
            goto done;
        }
        sl_sink_out_set_mqtt (self->out, &mqtt);
    }
    if (cfg->post_url && !cfg->list) {
        sl_post_opts_t po = {.url = cfg->post_url,
                             .max_retries = cfg->max_retries,
                             .timeout_ms = 10000,
                             .token = getenv ("SLUICE_POST_TOKEN"),
                             .token_file = cfg->post_token_file,
                             .header_file = cfg->post_header_file};
        sl_post_t *post = sl_post_new (&po);
        if (!post) {
            sl_sink_finish (self, 2);
            goto done;
        }
        sl_sink_out_set_post (self->out, &post, sl_sink_dead_letter, self);
    }
    int rc = sl_client_hello (self->client, sl_mono_ms () + cfg->connect_timeout_ms);
    if (rc) {
        if (rc != SL_ECLOSED) {
            sl_error ("sink", "broker %s unreachable for %" PRId64 " ms: %s", cfg->broker,
                      cfg->connect_timeout_ms, sl_strerror (rc));
        }
        sl_sink_finish (self, rc == SL_ECLOSED ? 0 : 1);
        goto done;
    }
    self->connects = sl_client_connects (self->client);
    if (cfg->list) {
        sl_sink_finish (self, s_list (self));
        goto done;
    }
    const char *endpoint = sl_client_pub_endpoint (self->client);
    self->sub = endpoint ? s_sub_new (self, endpoint) : NULL;
    if (!self->sub) {
        sl_sink_finish (self, 1);
        goto done;
    }
    if (s_seek (self)) {
        sl_sink_finish (self, zsys_interrupted ? 0 : 1);
        goto done;
    }
    if (sl_sink_out_begin (self->out, self->next_wanted)) {
        sl_sink_finish (self, 1);
        goto done;
    }
    if (self->stream_next == 0) {
        sl_sink_say_unknown (self); //  never written: it does not exist (yet)
    }
    if (cfg->until && cfg->until_kind == SL_FROM_OFFSET &&
        self->next_wanted >= (uint64_t)cfg->until_value) {
        sl_sink_finish (self, 0); //  --until at or before the start: nothing to write
        goto done;
    }
    s_replay (self, UINT64_MAX);
    if (cfg->exit_at_end) {
        sl_sink_finish (self, 0);
    }
    s_follow (self);
    sl_sink_finish (self, 0);
    if (sl_sink_out_complete (self->out, &self->written)) {
        sl_sink_finish (self, 1);
    }
    sl_sink_commit_final (self);
done:
    zsock_destroy (&self->sub);
    sl_sink_out_destroy (&self->out);
    sl_client_destroy (&self->client);
    return self->exit_code;
}
