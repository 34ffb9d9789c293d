/*  sl_dlq.h - reading a dead letter back (docs/PROTOCOL.md §14.3): the
    record `sluice dlq resend` puts back into the group's input.

    A dead letter is a record whose value is the map
      {"error", "attempts", "group", "stream", "offset",
       "record": {"timestamp", "key", "headers", "value"}}
    (lib/group/sl_group_codec.c writes it). The decoder trusts nothing: the value
    has passed the record iterator's walk, and every field is type-checked.
*/
#ifndef SL_DLQ_H_INCLUDED
#define SL_DLQ_H_INCLUDED

#include "sl_batch.h"
#include "sl_buf.h"
#include "sl_util.h"

//  Appends the original record of dead letter `dead` to batch (a batch
//  being built: records concatenated), and copies the input stream it came
//  from into stream[SL_NAME_MAX + 1]. 0, SL_EPROTO (not a dead letter: a
//  field missing or of the wrong type), SL_ENOMEM / SL_ETOOBIG (batch).
int sl_dlq_original (const sl_record_t *dead, sl_buf_t *batch, char *stream);

#endif
