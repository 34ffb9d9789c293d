/*  sink_out.h - the sink's output: formats records into one reused buffer
    and writes each batch with as few write() calls as the descriptor takes,
    never through stdio buffering. Also renders --list.

    Internal to the sink; the core (sink.c) owns the reading algorithm.
*/
#ifndef SL_SINK_OUT_H_INCLUDED
#define SL_SINK_OUT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink.h"
#include "sl_batch.h"
#include "sl_proto.h"

typedef struct _sl_sink_out_t sl_sink_out_t;

//  An output to fd in format (DEFAULT means JSON). stop, when not NULL, is
//  checked when a blocked write is interrupted. NULL on OOM.
sl_sink_out_t *sl_sink_out_new (int fd, sl_sink_format_t format, const volatile int *stop);
void sl_sink_out_destroy (sl_sink_out_t **self_p);

//  Formats one record at the end of the pending batch. On failure the batch
//  is left as it was: SL_ETRUNC / SL_EDEPTH / SL_EPROTO / SL_ETYPE for a
//  malformed record, SL_ENOMEM.
int sl_sink_out_record (sl_sink_out_t *self, const sl_record_t *record);

//  Records in the pending batch.
size_t sl_sink_out_pending (sl_sink_out_t *self);

//  Takes back the pending records after the first `keep` (a blob found
//  malformed part-way is not written at all).
void sl_sink_out_truncate (sl_sink_out_t *self, size_t keep);

//  Writes the pending batch and empties it. *next is set to the offset after
//  the last record written whole (left alone when none was), so a reader
//  that went away mid-batch is committed exactly up to what it was given.
//  0, SL_ECLOSED (EPIPE: the reader is gone), SL_EAGAIN (interrupted by a
//  signal or *stop while blocked) or SL_EIO.
int sl_sink_out_flush (sl_sink_out_t *self, uint64_t *next);

//  --output DIR: records go to the files of out_files.h instead of the
//  descriptor; *files_p is taken. sl_sink_out_flush then sets *next to the
//  offset after the last complete file (what a durable reader may commit)
//  and completes a file that is older than its age limit.
typedef struct _sl_out_files_t sl_out_files_t;
void sl_sink_out_set_files (sl_sink_out_t *self, sl_out_files_t **files_p);
//  --mqtt URL: each record's value (JSON) is published, QoS 1 (mqtt_out.h);
//  flush returns once all are acknowledged and sets *next then. *mqtt_p is taken.
typedef struct _sl_mqtt_out_t sl_mqtt_out_t;
void sl_sink_out_set_mqtt (sl_sink_out_t *self, sl_mqtt_out_t **mqtt_p);
//  --post URL: each batch is POSTed as JSON lines (post.h); flush returns
//  once the webhook answered 2xx and sets *next then. A batch refused for
//  good (retries spent, a 4xx) is handed to dead(ctx, records, len, count,
//  first offset, reason) as encoded records; when that returns 0 the batch
//  counts as written too. *post_p is taken.
typedef struct _sl_post_t sl_post_t;
typedef int (sl_sink_dead_fn) (void *ctx, const uint8_t *records, size_t len, uint32_t count,
                               uint64_t first, const char *why);
void sl_sink_out_set_post (sl_sink_out_t *self, sl_post_t **post_p, sl_sink_dead_fn *dead,
                           void *ctx);
//  The run starts at offset (sl_out_files_begin); 0 without files.
int sl_sink_out_begin (sl_sink_out_t *self, uint64_t offset);
//  Completes the open file (clean exit) and sets *next as flush does.
int sl_sink_out_complete (sl_sink_out_t *self, uint64_t *next);
//  For a pipe: sets *next to the offset after the last record its reader
//  has read whole (what is still in the pipe's buffer was written but not
//  read; a reader that exited never reads it) and returns 1; *next is left
//  alone when no record written has been read yet but for the ones before
//  the first written. With final (the sink is exiting) and a reader still
//  there, *next is everything written: the reader gets the rest from the
//  pipe. Returns 0, changing nothing, for other outputs.
int sl_sink_out_taken (sl_sink_out_t *self, uint64_t *next, bool final);

//  Writes the --list answer to fd: an aligned table (STREAM FIRST NEXT
//  RECORDS BYTES NEWEST) or, with json, an array of objects holding the
//  raw numbers. 0, SL_ENOMEM, SL_ECLOSED or SL_EIO.
int sl_sink_out_streams (int fd, bool json, const sl_stream_info_t *streams, uint32_t n,
                         int64_t now_ms);

#endif
