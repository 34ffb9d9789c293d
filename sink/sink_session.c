/*  sink_session.c - the sink's session with the broker: requests sent
    without waiting and the wait for their replies (a reply that is not
    awaited, such as a COMMITTED, is taken on the way), HELLO again when
    the broker stops answering or was restarted (following a live endpoint
    that moved), and a durable reader's commits: at most every 200 ms while
    reading, and once more, confirmed and bounded in time, at exit.

    Part of the sink core with sink.c (the reading algorithm); sink_int.h
    holds the state they share.
*/
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sink_int.h"
#include "sl_client.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"

#define S_FINAL_COMMIT_MS 5000

//  Sends a request without waiting; *req receives its id. 0 or an error.
int
sl_sink_send (sink_t *self, sl_msg_t *msg, uint64_t *req)
{
    msg->req = sl_client_next_req (self->client);
    if (req) {
        *req = msg->req;
    }
    return sl_client_send (self->client, msg, NULL);
}

//  A durable reader commits what has been written out, at most every
//  200 ms, without waiting for COMMITTED (the reply is taken by whatever
//  reads the DEALER next).
void
sl_sink_commit_maybe (sink_t *self, bool force)
{
    //  On a pipe, only what its reader took is committed (the final commit,
    //  forced, has worked out its position already).
    if (!force) {
        sl_sink_out_taken (self->out, &self->written, false);
    }
    if (!self->cfg->name || (self->commit_any && self->written == self->commit_sent)) {
        return;
    }
    int64_t now = sl_mono_ms ();
    if (!force && self->commit_any && now - self->commit_ms < SINK_COMMIT_EVERY_MS) {
        return;
    }
    sl_msg_t msg = {.cmd = SL_CMD_NONE};
    sl_msg_init (&msg, SL_CMD_COMMIT);
    snprintf (msg.stream, sizeof msg.stream, "%s", self->cfg->stream);
    snprintf (msg.name, sizeof msg.name, "%s", self->cfg->name);
    msg.offset = self->written;
    if (sl_sink_send (self, &msg, &self->commit_req) == 0) {
        self->commit_sent = self->written;
        self->commit_any = true;
        self->commit_ms = now;
        sl_debug ("sink", "commit %s at %" PRIu64, self->cfg->name, self->written);
    }
    sl_msg_reset (&msg);
}

//  Handles a reply that is not the one being waited for: a COMMITTED, or
//  the answer to a request that was given up on.
void
sl_sink_stray_reply (sink_t *self, const sl_msg_t *reply)
{
    if (reply->cmd == SL_CMD_COMMITTED && reply->req == self->commit_req) {
        self->commit_done = reply->offset;
    }
    else if (reply->cmd == SL_CMD_ERROR && reply->req == self->commit_req) {
        sl_warn ("sink", "commit of reader %s failed: %s (%d)", self->cfg->name, reply->text,
                 reply->code);
    }
}

//  The broker stopped answering or was reconnected (restarted): say HELLO
//  until it answers or the connect timeout passes, and follow a live
//  endpoint that moved.
int
sl_sink_rehello (sink_t *self, bool reconnected)
{
    if (reconnected) {
        sl_info ("sink", "reconnected to broker %s; saying HELLO again", self->cfg->broker);
    }
    else {
        sl_warn ("sink", "broker %s does not answer; waiting up to %" PRId64 " ms for it",
                 self->cfg->broker, self->cfg->connect_timeout_ms);
    }
    int rc = sl_client_hello (self->client, sl_mono_ms () + self->cfg->connect_timeout_ms);
    if (rc == SL_ECLOSED || sl_sink_stopping (self)) {
        sl_sink_finish (self, 0);
        return SL_ECLOSED;
    }
    if (rc) {
        sl_error ("sink", "broker %s unreachable for %" PRId64 " ms: %s", self->cfg->broker,
                  self->cfg->connect_timeout_ms, sl_strerror (rc));
        sl_sink_finish (self, 1);
        return rc;
    }
    const char *endpoint = sl_client_pub_endpoint (self->client);
    if (endpoint && strcmp (endpoint, self->sub_endpoint) != 0) {
        zsock_disconnect (self->sub, "%s", self->sub_endpoint);
        if (zsock_connect (self->sub, "%s", endpoint)) {
            sl_warn ("sink", "cannot connect to the live feed %s", endpoint);
        }
        snprintf (self->sub_endpoint, sizeof self->sub_endpoint, "%s", endpoint);
    }
    self->connects = sl_client_connects (self->client);
    if (!reconnected) {
        sl_info ("sink", "broker %s answers again", self->cfg->broker);
    }
    self->commit_any = false; //  a COMMIT in flight may have been lost: send it again
    return 0;
}

//  Waits for the reply to one of reqs[0..n). 0 (reply in *reply, data
//  frames in *data), SL_ETIMEOUT (also: the connection is down), SL_EAGAIN
//  (the connection was made anew: what was in flight is probably lost) or
//  SL_ECLOSED.
int
sl_sink_wait (sink_t *self, const uint64_t *reqs, int n, sl_msg_t *reply, zmsg_t **data)
{
    int64_t deadline = sl_mono_ms () + self->cfg->request_timeout_ms;
    while (!sl_sink_stopping (self)) {
        int64_t left = deadline - sl_mono_ms ();
        if (left <= 0) {
            return SL_ETIMEOUT;
        }
        if (sl_client_connects (self->client) != self->connects) {
            return SL_EAGAIN;
        }
        if (!sl_client_connected (self->client)) {
            return SL_ETIMEOUT; //  no reply can come; wait for the broker in sl_sink_rehello
        }
        sl_msg_reset (reply);
        int rc = sl_client_recv (self->client, reply, data, (int)(left < 200 ? left : 200));
        if (rc == SL_ETIMEOUT || rc == SL_ECLOSED) {
            continue; //  loop: checks the deadline and the stop flags
        }
        if (rc) {
            return rc;
        }
        for (int i = 0; i < n; i++) {
            if (reply->req == reqs[i]) {
                return 0;
            }
        }
        sl_sink_stray_reply (self, reply);
        zmsg_destroy (data);
    }
    return SL_ECLOSED;
}

//  At exit a durable reader's last position is committed and confirmed,
//  bounded in time, so a restart resumes exactly there.
void
sl_sink_commit_final (sink_t *self)
{
    sl_sink_out_taken (self->out, &self->written, true);
    if (!self->cfg->name || (self->commit_any && self->commit_done == self->written &&
                             self->commit_sent == self->written)) {
        return;
    }
    //  A Ctrl-C must not cut the final commit short; a second one still ends it.
    zsys_interrupted = 0;
    int64_t deadline = sl_mono_ms () + S_FINAL_COMMIT_MS;
    for (int attempt = 0; !zsys_interrupted && sl_mono_ms () < deadline; attempt++) {
        if (attempt > 0 || !self->commit_any || self->commit_sent != self->written) {
            self->commit_any = false; //  (re)send, even if this offset went out before
            sl_sink_commit_maybe (self, true);
        }
        if (!self->commit_any) {
            break;
        }
        sl_msg_t reply = {.cmd = SL_CMD_NONE};
        int64_t until = sl_mono_ms () + 1000;
        while (!zsys_interrupted && sl_mono_ms () < until) {
            sl_msg_reset (&reply);
            if (sl_client_recv (self->client, &reply, NULL, 100) == 0) {
                sl_sink_stray_reply (self, &reply);
                if (reply.req == self->commit_req) {
                    break;
                }
            }
        }
        sl_msg_reset (&reply);
        if (self->commit_done == self->written) {
            sl_debug ("sink", "reader %s committed at %" PRIu64, self->cfg->name, self->written);
            return;
        }
    }
    sl_warn ("sink",
             "reader %s: final commit at %" PRIu64 " not confirmed; a restart may "
             "repeat records after %" PRIu64,
             self->cfg->name, self->written, self->commit_done);
}

void
sl_sink_say_unknown (sink_t *self)
{
    sl_msg_t req, reply;
    sl_msg_init (&req, SL_CMD_LIST);
    sl_msg_init (&reply, SL_CMD_NONE);
    //  Only to name the streams there are: not worth more than a second.
    int rc = sl_client_request (self->client, &req, &reply, NULL, sl_mono_ms () + 1000);
    bool known = false;
    char names[512] = "";
    size_t used = 0;
    for (uint32_t i = 0; rc == 0 && i < reply.n_streams && !known; i++) {
        known = strcmp (reply.streams[i].name, self->cfg->stream) == 0;
        if (used < sizeof names - 64) {
            int n = snprintf (names + used, sizeof names - used, "%s%s", i ? ", " : "",
                              reply.streams[i].name);
            used += n > 0 ? (size_t)n : 0;
        }
        else if (used < sizeof names - 5) {
            snprintf (names + used, sizeof names - used, ", ...");
            used = sizeof names;
        }
    }
    if (!known) {
        const char *has = rc ? "streams it did not list" : reply.n_streams ? names : "no streams";
        if (self->cfg->exit_at_end) {
            sl_warn ("sink", "stream '%s' does not exist (the broker has %s): nothing to read",
                     self->cfg->stream, has);
        }
        else {
            sl_info ("sink",
                     "stream '%s' does not exist yet (the broker has %s); waiting for "
                     "its first record (Ctrl-C stops)",
                     self->cfg->stream, has);
        }
    }
    sl_msg_reset (&req);
    sl_msg_reset (&reply);
}
