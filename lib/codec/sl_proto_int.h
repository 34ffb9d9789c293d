/*  sl_proto_int.h - what the codec's files share and nothing else uses.
 */
#ifndef SL_PROTO_INT_H_INCLUDED
#define SL_PROTO_INT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "sl_proto.h"

//  Appends a failed entry whose error text is error[0..len) (not
//  NUL-terminated; at most 255 bytes, as the decoder bounds it). 0,
//  SL_ETOOBIG past SL_MSG_MAX_FAILED, or SL_ENOMEM.
int sl_msg_add_failed_n (sl_msg_t *msg, uint64_t offset, const char *error, size_t len);

#endif
