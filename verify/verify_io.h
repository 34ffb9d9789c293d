/*  verify_io.h - where sluice-verify's inputs come from: files of JSON lines
    and streams read from a broker, each fed into the counting core.
*/
#ifndef SL_VERIFY_IO_H_INCLUDED
#define SL_VERIFY_IO_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "verify.h"

#define SL_VERIFY_MAX_LINE (64u << 20) //  longest line read; longer ones are bad input

typedef struct {
    sl_verify_t *verify;
    sl_verify_got_format_t got_format;
    const char *broker;
    int64_t connect_timeout_ms;
    uint64_t reported; //  bad input lines printed so far (then only counted)
} sl_verify_io_t;

//  Feeds every line of path ("-" for stdin) to one side. 0, or 2 when the
//  file cannot be read (message printed). Bad lines are printed as
//  "FILE:LINE: reason" (the first 100) and counted.
int sl_verify_read_file (sl_verify_io_t *io, const char *path, bool got);

//  Feeds every record's value of a stream, from its first kept offset to its
//  end as of the last read, to one side. 0, or 2 when the broker cannot be
//  reached or answers with an error (message printed). Records removed by
//  retention are reported (they show as lost on the sent side's account).
int sl_verify_read_stream (sl_verify_io_t *io, const char *stream, bool got);

#endif
