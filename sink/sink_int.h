/*  sink_int.h - the sink core's internals, shared by sink.c (the reading
    algorithm of docs/PROTOCOL.md §6.4 and the run) and sink_session.c (the
    session with the broker: requests, replies, HELLO again, and a durable
    reader's commits). Nothing outside the sink includes this header.
*/
#ifndef SL_SINK_INT_H_INCLUDED
#define SL_SINK_INT_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "sink.h"
#include "sink_out.h"
#include "sl_client.h"
#include "sl_proto.h"
#include "sl_util.h"

#define SINK_COMMIT_EVERY_MS 200

typedef struct {
    const sl_sink_config_t *cfg;
    sl_client_t *client;
    sl_sink_out_t *out;
    zsock_t *sub;
    char sub_endpoint[256];
    uint8_t topic[SL_NAME_MAX + 2];
    size_t topic_len;
    uint64_t next_wanted; //  offset of the next record to format
    uint64_t stream_next; //  the stream's next offset at SEEK: 0 = never written
    uint64_t written;     //  offset after the last record written out
    uint64_t delivered;   //  records written (for --count)
    uint64_t commit_sent; //  offset of the last COMMIT sent
    uint64_t commit_req;  //  its request id
    uint64_t commit_done; //  offset the broker last confirmed (COMMITTED)
    bool commit_any;      //  a COMMIT was sent at least once
    int64_t commit_ms;    //  when it was sent
    int64_t live_ms;      //  when we last heard LIVE or caught up
    uint32_t connects;    //  the client's connection count at the last HELLO
    bool retention_warned;
    bool behind_warned;
    bool done; //  finished: see exit_code
    int exit_code;
    char dlq_producer[SL_NAME_MAX + 1]; //  --post dead letters (sink_dlq.c)
    uint64_t dlq_seq;
} sink_t;

//  True once the run is to end: finished, interrupted or *stop set.
static inline bool
sl_sink_stopping (sink_t *self)
{
    return self->done || zsys_interrupted || (self->cfg->stop && *self->cfg->stop);
}

//  Ends the run with code; the first reason wins.
static inline void
sl_sink_finish (sink_t *self, int exit_code)
{
    if (!self->done) {
        self->done = true;
        self->exit_code = exit_code;
    }
}

//  sink_session.c

//  Sends a request without waiting; *req receives its id. 0 or an error.
int sl_sink_send (sink_t *self, sl_msg_t *msg, uint64_t *req);
//  A durable reader commits what has been written out, at most every
//  SINK_COMMIT_EVERY_MS unless force, without waiting for COMMITTED.
void sl_sink_commit_maybe (sink_t *self, bool force);
//  Handles a reply that is not the one being waited for.
void sl_sink_stray_reply (sink_t *self, const sl_msg_t *reply);
//  Says HELLO until the broker answers or the connect timeout passes. 0 or
//  an error (the run is finished).
int sl_sink_rehello (sink_t *self, bool reconnected);
//  Waits for the reply to one of reqs[0..n). 0, SL_ETIMEOUT, SL_EAGAIN
//  (the connection was made anew) or SL_ECLOSED.
int sl_sink_wait (sink_t *self, const uint64_t *reqs, int n, sl_msg_t *reply, zmsg_t **data);
//  sink_dlq.c: publishes a batch the webhook refused to cfg->dead_letter
//  (an sl_sink_dead_fn). 0, or SL_EIO (logged): the batch is not written.
int sl_sink_dead_letter (void *ctx, const uint8_t *records, size_t len, uint32_t count,
                         uint64_t first, const char *why);

//  Commits a durable reader's last position at exit and waits, bounded,
//  for the broker to confirm it.
void sl_sink_commit_final (sink_t *self);
//  Says, for a stream never written (SEEK's next is 0: streams are made by
//  their first record), that it does not exist (yet), what the sink will do
//  and which streams the broker has, so a misspelt name is not a silent
//  wait. Nothing changes otherwise (a stream never written reads as empty).
void sl_sink_say_unknown (sink_t *self);

#endif
