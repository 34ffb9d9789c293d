/*  out_files.h - sluice-sink --output DIR: a stream written into files named
    by the offset of their first record, STREAM.<first>.<ext>, rotated by
    size or age, optionally compressed (gzip through zlib, zstd through
    libzstd).

    A file being written has a hidden temporary name (.STREAM.<first>.<ext>
    .part) and gets its final name only once it is complete (flushed,
    fsync'ed, renamed, the directory fsync'ed). The position that may be
    committed is the offset after the last record of the last complete file
    (sl_out_files_done), so after kill -9 a restart that resumes from the
    committed offset finds the partial file (and any complete file from that
    offset on) and removes it, and writes those records again: every record
    ends up in exactly one complete file (docs/sink.md).

    Internal to the sink; sink_out.c feeds it one formatted record at a time.
*/
#ifndef SL_OUT_FILES_H_INCLUDED
#define SL_OUT_FILES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SL_OUT_COMPRESS_NONE = 0,
    SL_OUT_COMPRESS_GZIP,
    SL_OUT_COMPRESS_ZSTD,
} sl_out_compress_t;

typedef struct {
    const char *dir;       //  an existing directory
    const char *stream;    //  a valid stream name (no '/')
    const char *ext;       //  "jsonl" or "msgpack"
    uint64_t rotate_bytes; //  complete a file once it holds this many bytes (uncompressed)
    int64_t rotate_age_ms; //  ... or once it is this old; 0 = no age limit
    sl_out_compress_t compress;
} sl_out_files_opts_t;

typedef struct _sl_out_files_t sl_out_files_t;

//  Parses a --compress value: "none", "gzip" or "zstd". 0 or SL_EINVAL.
int sl_out_files_parse_compress (const char *text, sl_out_compress_t *compress);

//  NULL on OOM. Nothing is touched on disk before sl_out_files_begin.
sl_out_files_t *sl_out_files_new (const sl_out_files_opts_t *opts);
//  Closes the open file without completing it: it keeps its temporary name
//  and is removed by the next begin.
void sl_out_files_destroy (sl_out_files_t **self_p);

//  The run starts at offset: removes this stream's temporary files and its
//  complete files whose first offset is offset or later (they hold records
//  the checkpoint does not cover and are written again). 0 or SL_EIO.
int sl_out_files_begin (sl_out_files_t *self, uint64_t offset);

//  Appends one record's bytes (offset is the record's); opens a file first
//  when none is open and completes it after the record when it reached
//  rotate_bytes. 0, SL_EIO or SL_ENOMEM (logged).
int sl_out_files_write (sl_out_files_t *self, const uint8_t *data, size_t len, uint64_t offset);

//  Completes the open file when it is older than rotate_age_ms.
int sl_out_files_tick (sl_out_files_t *self);

//  Completes the open file, if any (clean exit).
int sl_out_files_complete (sl_out_files_t *self);

//  Offset after the last record of the last complete file (at first, the
//  begin offset): the position a durable reader may commit.
uint64_t sl_out_files_done (sl_out_files_t *self);

#endif
