/*  source.h - sluice-source's core: reads records (JSON lines, text lines,
    msgpack or a generator), batches them and publishes them to a stream,
    exactly once into the log (docs/PROTOCOL.md section 6.1).

    Drivable in-process: sl_source_run returns the exit code and stops on
    zsys_interrupted (SIGINT/SIGTERM with CZMQ's handler) or when *stop
    becomes non-zero, then drains what is in flight.
*/
#ifndef SL_SOURCE_H_INCLUDED
#define SL_SOURCE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "sl_buf.h"

#define SL_SOURCE_MAX_HEADERS 32          //  --header given at most this often
#define SL_SOURCE_HEADERS_MAX (64u << 10) //  their encoded size, at most

typedef enum {
    SL_FORMAT_JSON = 0, //  one JSON value per line; blank lines skipped
    SL_FORMAT_LINES,    //  each line is a string value, newline stripped
    SL_FORMAT_MSGPACK,  //  a stream of msgpack objects, each a value
} sl_source_format_t;

//  What a run did, for callers and tests.
typedef struct {
    uint64_t read;      //  valid records read and sent by this run
    uint64_t skipped;   //  valid records skipped because the broker had them (--name)
    uint64_t confirmed; //  records of this run confirmed by the broker
    uint64_t bad;       //  bad lines / objects reported and skipped
    uint64_t batches;   //  batches published (first sends)
    uint64_t resent;    //  batches sent again
} sl_source_stats_t;

typedef struct {
    const char *broker; //  tcp://HOST:PORT
    const char *stream;
    const char *name; //  durable producer name, NULL for anon-<random>
    sl_source_format_t format;
    const char *key_field;      //  NULL: records have no key
    bool generate;              //  synthetic records instead of files
    uint64_t generate_count;    //  with generate: 0 = endless
    double rate;                //  records per second, 0 = unlimited
    uint32_t batch_records;     //  default 1000
    uint64_t batch_bytes;       //  default 1 MiB, capped at the broker's max_batch_bytes
    int64_t linger_ms;          //  default 5
    uint32_t window;            //  unconfirmed batches in flight, default 32
    int64_t timeout_ms;         //  resend after this long without progress, default 5000
    int64_t drain_timeout_ms;   //  after a signal, wait this long for confirms, default 10000
    int64_t connect_timeout_ms; //  give up when the broker is not reached, 0 = never; 30000
    bool strict;                //  stop at the first bad line, exit 1
    int progress;               //  1 on, 0 off, -1 when stderr is a terminal
    bool follow;                //  --follow: files as they grow, never ending (follow.h)
    const char *state_dir;      //  --follow --name: where NAME@STREAM.follow is kept
    const char *mqtt_url;       //  --mqtt mqtt://HOST:PORT/FILTER: messages, never ending
    volatile int *stop;         //  optional: set non-zero to stop as on SIGINT
    sl_source_stats_t *stats;   //  optional: filled at the end of the run
    //  kcat-class publishing (source_headers.c): the same key and headers on
    //  every record, from the command line.
    const char *fixed_key; //  --fixed-key: every record's key (not with key_field)
    const char *headers[SL_SOURCE_MAX_HEADERS]; //  --header NAME=VALUE
    size_t n_headers;
} sl_source_config_t;

//  Encodes cfg's --header list as the msgpack map of a record's headers
//  into out (reset first; empty when there are none). 0, or SL_EINVAL with
//  the reason in why (not NAME=VALUE, an empty or repeated NAME), SL_ETOOBIG
//  past SL_SOURCE_HEADERS_MAX, SL_ENOMEM.
int sl_source_headers (const sl_source_config_t *cfg, sl_buf_t *out, const char **why);

//  Fills cfg with the defaults above (broker and stream NULL).
void sl_source_config_defaults (sl_source_config_t *cfg);

//  Publishes the records of files (nfiles == 0, or "-": standard input)
//  or of the generator. Returns the exit code: 0 when every record read was
//  confirmed, 1 otherwise (see docs/source.md), 2 for a bad configuration.
int sl_source_run (const sl_source_config_t *cfg, int nfiles, char **files);

#endif
