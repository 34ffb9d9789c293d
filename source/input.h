/*  input.h - the record reader behind sluice-source: files or standard
    input in one of three formats, or a generator of synthetic records.

    It never blocks on a pipe or a terminal: when a record needs bytes that
    are not there yet, sl_input_next returns SL_EAGAIN and the caller polls
    sl_input_fd. Bad lines are reported as "FILE:LINE: reason" (msgpack:
    "FILE:offset N: reason"), counted, and skipped.
*/
#ifndef SL_INPUT_H_INCLUDED
#define SL_INPUT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h"

typedef struct _sl_input_t sl_input_t;

typedef struct {
    sl_source_format_t format;
    const char *key_field;   //  NULL: no key
    size_t max_record;       //  longest line / object and encoded record accepted
    uint32_t max_depth;      //  value nesting bound (WELCOME max_depth)
    bool strict;             //  the first bad line ends the input with an error
    bool generate;           //  generator instead of files
    uint64_t generate_count; //  0 = endless
    bool follow;             //  --follow: files (or globs) as they grow (follow.h)
    const char *state_path;  //  --follow with --name: the positions file
    const char *mqtt_url;    //  --mqtt: messages instead of files (mqtt_in.h)
    const char *mqtt_client; //  --mqtt with --name: the MQTT client id (persistent session)
} sl_input_opts_t;

//  One record. value and key point into the reader's buffers and live
//  until the next call of sl_input_next.
typedef struct {
    const uint8_t *value;
    size_t value_len;
    const uint8_t *key; //  NULL for nil
    uint32_t key_len;
    bool key_is_bin;
    uint64_t index; //  1 + its index among the valid records of the whole input
} sl_input_record_t;

//  files: nfiles paths ("-" is standard input); none means standard input.
sl_input_t *sl_input_new (const sl_input_opts_t *opts, int nfiles, char **files);
void sl_input_destroy (sl_input_t **self_p);

//  1 = a record in *rec; 0 = end of all input; SL_EAGAIN = poll
//  sl_input_fd for reading, then call again; a negative code = the input
//  stopped on an error (--strict), already reported.
int sl_input_next (sl_input_t *self, sl_input_record_t *rec);

//  The descriptor to poll after SL_EAGAIN.
int sl_input_fd (sl_input_t *self);

//  Stops reading: sl_input_next returns 0 from now on.
void sl_input_close (sl_input_t *self);

//  --follow with --name: the broker has `confirmed` records of this
//  producer; puts the files after the last of them (sl_follow_resume). The
//  records read again first get numbers up to `confirmed`. 0 or an error
//  (logged). With --mqtt the next message is numbered confirmed + 1. For
//  files and standard input: 0, nothing done (the rerun skips by number).
int sl_input_resume (sl_input_t *self, uint64_t confirmed);

//  Every record up to index is confirmed (--follow keeps its positions).
//  0 or an error (logged: the positions file could not be written).
int sl_input_confirmed (sl_input_t *self, uint64_t index);

//  Call before sending records read since the last call: --follow writes
//  its positions file first. 0 or an error (logged).
int sl_input_sync (sl_input_t *self);

//  Bad lines / objects reported so far.
uint64_t sl_input_bad (sl_input_t *self);
//  True when some input could not be read completely (a file that could
//  not be opened or read, a malformed msgpack stream, a --strict stop).
bool sl_input_failed (sl_input_t *self);

#endif
