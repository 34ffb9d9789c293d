/*  verify_opts.h - sluice-verify's option table: --help, the man page's
    option list and the SLUICE_* variables come from it (docs/options.md).
*/
#ifndef SL_VERIFY_OPTS_H_INCLUDED
#define SL_VERIFY_OPTS_H_INCLUDED

#include "sl_opts.h"
#include "verify.h"
#include "verify_io.h"

//  What the flags fill.
typedef struct {
    const char *sent;
    const char *sent_stream;
    const char *got;
    const char *got_stream;
    const char *broker;
    sl_verify_opts_t opts;
    sl_verify_got_format_t got_format;
    bool json;
    bool ordered;
    int64_t connect_timeout_ms;
} sl_verify_args_t;

//  The table; typed entries' offsets are into sl_verify_args_t. The custom
//  ones (id, key, got-format) are parsed by main.c.
extern const sl_opts_spec_t sl_verify_opts;

#endif
