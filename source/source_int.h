/*  source_int.h - sluice-source's state, shared by the files of its core:
    source.c (reading, batching, the window, sending), source_reply.c (the
    broker's answers) and source_status.c (counters and progress).
*/
#ifndef SOURCE_INT_H_INCLUDED
#define SOURCE_INT_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "input.h"
#include "sl_buf.h"
#include "sl_client.h"
#include "sl_proto.h"
#include "source.h"

//  Back-off of a retryable ERROR, in ms: doubles from MIN up to MAX.
#define S_BACKOFF_MIN 100
#define S_BACKOFF_MAX 2000

//  One batch in the window: its first seq, its records, and its bytes as a
//  frame that is sent by reference each time.
typedef struct {
    uint64_t seq;
    uint32_t count;
    bool sent;
    zframe_t *frame;
} s_batch_t;

//  One running source (sl_source_run), touched by one thread.
typedef struct {
    const sl_source_config_t *cfg;
    sl_client_t *client;
    sl_input_t *input;
    char producer[SL_NAME_MAX + 1];
    sl_msg_t publish; //  PUBLISH template: stream and producer set once

    uint64_t batch_bytes;
    uint32_t batch_records;
    size_t max_record;

    //  The open batch.
    sl_buf_t batch;
    sl_buf_t headers; //  --header: every record's headers map (empty: none)
    uint32_t batch_count;
    uint64_t batch_seq;
    int64_t batch_start;
    int64_t stamp_ms;    //  timestamp of the records being read
    uint32_t stamp_left; //  records that may still use it

    //  The window: ring[head .. head + n), the first next_send of them sent.
    s_batch_t *ring;
    uint32_t ring_size;
    uint32_t head;
    uint32_t n;
    uint32_t next_send;
    bool send_blocked; //  the DEALER refused: wait for POLLOUT

    uint64_t skip;       //  records the broker already had (--name resume)
    uint64_t last_index; //  index of the last valid record read, skipped or not
    uint64_t last_seq;   //  highest seq put into a batch
    uint64_t acked;      //  highest seq confirmed

    int64_t last_progress;
    int64_t hold_until; //  no sends before this (retryable error back-off)
    int64_t backoff;
    bool warned; //  the retry warning of this episode was logged
    uint64_t eseq_expected;
    int64_t eseq_at;
    uint32_t connects;
    bool beyond_warned;

    bool input_done;
    bool want_input; //  the input waits for its descriptor
    bool more_ready; //  the input has records ready now
    bool stopping;
    int64_t drain_deadline;
    bool fatal;
    bool killed;

    int64_t rate_start;
    int64_t rate_wake;

    bool progress;
    bool tty;
    int64_t next_progress;
    int64_t progress_tick;
    uint64_t progress_read;
    bool progress_shown;
    int64_t reported_ms; //  when the counters last went with a PING

    sl_source_stats_t stats;
} s_source_t;

//  The i-th batch of the window, from the oldest.
static inline s_batch_t *
s_at (s_source_t *self, uint32_t i)
{
    return &self->ring[(self->head + i) % self->ring_size];
}

//  Resends everything unconfirmed, from the oldest batch.
static inline void
s_resend_all (s_source_t *self, int64_t now)
{
    self->next_send = 0;
    self->last_progress = now;
}

//  Handles every reply waiting, without blocking (source_reply.c).
void sl_source_read_replies (s_source_t *self);

//  Sends our counters on a PING every few seconds (source_status.c).
void sl_source_report (s_source_t *self, int64_t now);

//  Prints the progress line when it is due, or now when last.
void sl_source_progress (s_source_t *self, int64_t now, bool last);

#endif
