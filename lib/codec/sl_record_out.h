/*  sl_record_out.h - a record as the sink writes it out: one msgpack map
    or one JSON object with the same members,
      {offset, timestamp, key, headers (only when present), value}
    The JSON form is sl_record_to_json (sl_json.h, beside the rest of
    msgpack -> JSON); the msgpack form is here.
*/
#ifndef SL_RECORD_OUT_H_INCLUDED
#define SL_RECORD_OUT_H_INCLUDED

#include "sl_batch.h"
#include "sl_buf.h"

//  Appends the record as a msgpack map {"offset", "timestamp", "key",
//  "headers"?, "value"}: the key keeps its str/bin type (nil when absent);
//  headers and value are copied as they are (the caller has them from a
//  validated batch). 0, SL_ENOMEM or SL_ETOOBIG; out is unchanged on error.
int sl_record_to_msgpack (const sl_record_t *record, sl_buf_t *out);

#endif
