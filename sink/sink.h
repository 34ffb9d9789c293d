/*  sink.h - the sink core: reads one stream from a position, gaplessly and
    without duplicates, and writes its records to a file descriptor.

    The reading algorithm is docs/PROTOCOL.md §6.4: subscribe to the live
    feed first, SEEK, FETCH until caught up, then follow LIVE and fill every
    offset gap from the log. main.c is a thin shell over sl_sink_run, so
    tests can drive a sink in-process.
*/
#ifndef SL_SINK_H_INCLUDED
#define SL_SINK_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "out_files.h"
#include "sl_proto.h"

typedef enum {
    SL_SINK_FORMAT_DEFAULT = 0, //  json for records; a table for --list
    SL_SINK_FORMAT_JSON,        //  one JSON object per record and line
    SL_SINK_FORMAT_VALUE,       //  the value alone as JSON, one per line
    SL_SINK_FORMAT_MSGPACK,     //  one msgpack map per record, raw, no separator
} sl_sink_format_t;

typedef struct {
    const char *broker; //  "tcp://127.0.0.1:7600"
    const char *stream; //  stream to read (not needed with list)
    sl_from_t from;     //  BEGINNING, END, OFFSET, LAST or TIME (default END)
    int64_t from_value; //  offset, N or epoch ms for OFFSET, LAST, TIME
    const char *name;   //  durable reader name, or NULL
    bool exit_at_end;   //  stop when caught up
    uint64_t count;     //  stop after this many records; 0 = no limit
    sl_sink_format_t format;
    bool list;                    //  print the broker's streams and exit
    int64_t connect_timeout_ms;   //  broker unreachable this long -> exit 1 (default 30 s)
    int request_timeout_ms;       //  one request attempt (default 5 s)
    int out_fd;                   //  where records go (default STDOUT_FILENO)
    const volatile int *stop;     //  optional: the run ends when *stop becomes non-zero
    const char *output_dir;       //  --output DIR: files instead of out_fd (needs name)
    uint64_t rotate_bytes;        //  --rotate-bytes (default 64 MiB)
    int64_t rotate_age_ms;        //  --rotate-age, 0 = none
    sl_out_compress_t compress;   //  --compress
    const char *mqtt_url;         //  --mqtt mqtt://HOST:PORT/TOPIC: publish instead of out_fd
    const char *mqtt_topic;       //  --mqtt-topic, may hold {key}
    const char *post_url;         //  --post URL: batches to a webhook instead of out_fd
    uint32_t max_retries;         //  --max-retries (default 5)
    const char *post_token_file;  //  --post-token-file FILE (else $SLUICE_POST_TOKEN)
    const char *post_header_file; //  --post-header-file FILE
    const char *dead_letter;      //  --dead-letter STREAM (default STREAM.dead)
    //  kcat-class reading (sink_filter.c): stop before a position, keys.
    bool until;             //  --until given
    sl_from_t until_kind;   //  SL_FROM_OFFSET or SL_FROM_TIME
    int64_t until_value;    //  offset, or epoch ms (append time)
    const char *key_filter; //  fnmatch(3) pattern for str keys, NULL: all records
} sl_sink_config_t;

//  Fills cfg with the defaults above.
void sl_sink_config_init (sl_sink_config_t *cfg);

//  Parses a --from value: "beginning", "end", an offset ("1200"), the last
//  N records ("-100"), a time ("@2026-11-26T12:00:00Z", "@1795000000000")
//  or a time relative to now ("@-5m", "@-2h", "@-30s"). 0 or SL_EINVAL.
int sl_sink_parse_from (const char *text, sl_from_t *from, int64_t *value);

//  Parses an --until value: an offset ("1200": records below it) or a time
//  ("@TIME", "@-5m": records appended before it). 0 or SL_EINVAL.
int sl_sink_parse_until (const char *text, sl_from_t *kind, int64_t *value);

//  A time for --from / --until: ISO 8601 or epoch ms, or "-DURATION"
//  ("-5m": that long before now). 0 or SL_EINVAL.
int sl_sink_parse_time (const char *text, int64_t *ms);

//  True when a record with this key passes --key-filter: always without a
//  filter; with one, a record without a key never does, and a key (str or
//  bin, up to 1 KiB; longer never matches) is matched as its bytes.
bool sl_sink_key_passes (const sl_sink_config_t *cfg, const uint8_t *key, uint32_t key_len);

//  Parses a --format value: "json", "value" or "msgpack". 0 or SL_EINVAL.
int sl_sink_parse_format (const char *text, sl_sink_format_t *format);

//  Runs the sink until its end condition (--exit-at-end, --count, the
//  reader of out_fd gone), SIGINT/SIGTERM (zsys_interrupted) or *stop.
//  Returns the process exit code: 0 ok, 1 error (broker unreachable past
//  the connect timeout, malformed data, output error), 2 bad configuration.
int sl_sink_run (const sl_sink_config_t *cfg);

#endif
