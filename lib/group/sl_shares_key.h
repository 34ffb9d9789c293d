/*  sl_shares_key.h - the group key of a record and its share: the one
    function the broker (cutting a share's WORK) and the keyed member
    (processing it) both use, so that they agree on every record.
*/
#ifndef SL_SHARES_KEY_H_INCLUDED
#define SL_SHARES_KEY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "sl_batch.h"
#include "sl_buf.h"

//  The group key of record under path ("record": the record's own key;
//  else a dotted path into the value), as its msgpack encoding: pointing
//  into the record, or built in tmp. 1 found, 0 absent (or nil), negative
//  for a malformed value or SL_ENOMEM.
int sl_shares_key (const char *path, const sl_record_t *record, sl_buf_t *tmp, const uint8_t **raw,
                   size_t *len);

//  The share of record: that of its group key (at most max_key bytes), or
//  0 for a record without one (or a malformed one), so that it fails once,
//  in share 0, not in every share.
uint32_t sl_shares_of_record (const char *path, const sl_record_t *record, uint32_t shares,
                              size_t max_key, sl_buf_t *tmp);

#endif
