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

//  The tables of sl_proto.c, walked by its encoder and by the decoder in
//  sl_proto_decode.c: a command's bit in a field's carry and need masks.
#define S_BIT(name) (UINT64_C (1) << SL_CMD_##name)
#define S_BIT_OF(cmd) (UINT64_C (1) << (cmd))

typedef enum { S_DATA_none, S_DATA_one, S_DATA_two, S_DATA_any } sl_proto_data_t;

typedef struct {
    sl_cmd_t cmd;
    const char *name;
    sl_proto_data_t data;
} sl_proto_cmd_t;

typedef enum {
    S_UINT, //  unsigned integer of `size` bytes, at most `max`
    S_INT,  //  signed integer of `size` bytes
    S_BOOL,
    S_STR,     //  char[size], NUL-terminated
    S_NAME,    //  as S_STR, and sl_name_valid
    S_FROM,    //  sl_from_t, on the wire as its lower-case name; below `max`
    S_STREAMS, //  array of maps, each decoded with sl_proto_stream_fields
    S_FAILED,  //  array of [offset, error(, final)]
} sl_proto_kind_t;

typedef struct {
    const char *key;
    size_t key_len;
    sl_proto_kind_t kind;
    size_t offset;
    size_t size;
    uint64_t max;   //  S_UINT: largest value the member holds; S_FROM: names allowed
    uint64_t carry; //  bit (1 << cmd) set: the command has this field
    uint64_t need;  //  bit set: the command requires it
} sl_proto_field_t;

//  The row of the command with this code, or NULL.
const sl_proto_cmd_t *sl_proto_cmd_find (int code);

//  The message field table and the STREAMS entry table; *n their length.
const sl_proto_field_t *sl_proto_msg_fields (size_t *n);
const sl_proto_field_t *sl_proto_stream_fields (size_t *n);

//  SEEK/JOIN/ADMIN "from" on the wire, indexed by sl_from_t.
extern const char *const sl_proto_from_names[];

#endif
