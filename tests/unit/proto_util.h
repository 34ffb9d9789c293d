/*  proto_util.h - helpers shared by the protocol codec's tests
    (test_proto.c: table and round trips; test_proto_hostile.c: hostile
    frames and bodies; test_proto_vectors.c: PROTOCOL.md §13 byte for
    byte; test_proto_group.c: the worker group commands). Failures assert
    with Criterion, so these run inside a test only.
*/
#ifndef PROTO_UTIL_H_INCLUDED
#define PROTO_UTIL_H_INCLUDED

#include <stdbool.h>
#include <stdio.h>

#include "sl_buf.h"
#include "sl_proto.h"

//  The commands of PROTOCOL.md §5, 0x01..0x10 in order.
#define N_CMDS 16
extern const sl_cmd_t pt_all_cmds[];

//  The example batch of PROTOCOL.md §13 (two records), as hex.
#define PT_BATCH_HEX "94cf000001a217ba1200a26b31c081a16e0194cf000001a217ba1201c0c0a26869"

//  A body builder for hostile bodies.
typedef struct {
    uint8_t data[4096];
    size_t len;
} pt_body_t;

//  A message of the given header and body frames (either may be NULL) and
//  n_data data frames.
zmsg_t *pt_raw (const void *header, size_t header_size, const void *body, size_t body_size,
                int n_data);
//  Decodes header + body bytes with n_data data frames; returns the code.
int pt_decode_raw (uint8_t cmd, const void *body, size_t body_size, int n_data, sl_msg_t *msg);
//  The data frames cmd carries (PROTOCOL.md §5).
int pt_data_frames (sl_cmd_t cmd);
//  Encodes msg, adds its data frames, decodes into out; asserts success.
void pt_round_trip (const sl_msg_t *msg, sl_msg_t *out);
//  Compares two messages field by field (streams and failed by content).
void pt_assert_msg_eq (const sl_msg_t *a, const sl_msg_t *b);
//  Fills out with size - 1 copies of c and a NUL.
void pt_fill (char *out, size_t size, char c);
//  Every field of cmd (per PROTOCOL.md §5.2), with values that use the
//  widest encodings when big is set.
void pt_full (sl_msg_t *msg, sl_cmd_t cmd, bool big);
//  Required keys per command, from PROTOCOL.md §5.2.
const char *pt_required (sl_cmd_t cmd);
//  True when key[0..len) is one of the space-separated words.
bool pt_word_in (const char *words, const uint8_t *key, uint32_t len);
//  Copies body without pair number skip into out (map header rewritten).
//  Returns the new size and the removed key.
size_t pt_drop_pair (const uint8_t *body, size_t size, uint32_t skip, uint8_t *out, char *key_out);
//  Appends to a hostile body: raw bytes, a map header, a str, ints.
void pt_b_raw (pt_body_t *b, const void *data, size_t size);
void pt_b_map (pt_body_t *b, uint32_t n);
void pt_b_str (pt_body_t *b, const char *s);
void pt_b_uint (pt_body_t *b, uint64_t v);
void pt_b_int (pt_body_t *b, int64_t v);
//  A valid FETCH body {req, stream, offset} with one key's value replaced
//  by raw bytes.
void pt_b_fetch (pt_body_t *b, const char *bad_key, const void *bad, size_t bad_size);
//  Hex of data (the caller frees it).
char *pt_hex (const uint8_t *data, size_t size);
//  Encodes msg and compares with the documented hex; decodes the
//  documented bytes back and compares with msg.
void pt_check_vector (const sl_msg_t *msg, const char *header_hex, const char *body_hex);
//  Hex of a documented frame or of a buffer, for comparison.
char *pt_buf_hex (const sl_buf_t *buf);
//  A frame of the bytes that hex spells.
zframe_t *pt_unhex (const char *hex);
//  Finds docs/PROTOCOL.md: $SLUICE_SOURCE_ROOT, else from this file's
//  compiled path (relative to the build directory, where meson runs tests).
FILE *pt_open_protocol_md (void);
//  Collects the hex of the labelled frames of §13's examples into
//  doc[cmd][label], labels: 0 topic, 1 header, 2 body, 3 data.
void pt_read_examples (char doc[SL_CMD_LEAVE + 1][4][4096]);
//  Drops each key of a full cmd message in turn: a key PROTOCOL.md §5.2
//  requires must make the decode fail with SL_EPROTO, any other must not.
void pt_check_required (sl_cmd_t cmd);

#endif
