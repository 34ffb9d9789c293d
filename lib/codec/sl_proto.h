/*  sl_proto.h - the Sluice protocol codec (docs/PROTOCOL.md is normative).

    Every message is a ZeroMQ multipart message:
      [topic]   only on the broker's PUB socket: stream name + one 0x00 byte
      header    4 bytes: 0x53 0x4C ("SL"), version (1), command code
      body      one msgpack map, str keys (table below); unknown keys ignored
      data...   zero or more data frames, per command
    The command table lives once, here; the enum, names, required fields
    and the codec all come from it. Only the codec (sl_proto.c, and
    sl_proto_live.c for the live feed's envelope) touches frame layout.
*/
#ifndef SL_PROTO_H_INCLUDED
#define SL_PROTO_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "sl_util.h"

#define SL_PROTO_SIG0 0x53
#define SL_PROTO_SIG1 0x4C
#define SL_PROTO_VERSION 1
#define SL_HEADER_SIZE 4
#define SL_MAX_BODY (1u << 20) //  body frame bound, both directions
#define SL_WIN_KEY_MAX 128     //  JOIN "key": bytes of the group key path
#define SL_SHARES_WIRE_MAX 256 //  JOIN "shares" at most (sl_shares.h SL_SHARES_MAX)

//  X(NAME, code, data frames: "none" / "one" / "two" / "any")
#define SL_COMMANDS(X)                                                                             \
    X (HELLO, 0x01, none)                                                                          \
    X (WELCOME, 0x02, none)                                                                        \
    X (PUBLISH, 0x03, one)                                                                         \
    X (CONFIRM, 0x04, none)                                                                        \
    X (SEEK, 0x05, none)                                                                           \
    X (POSITION, 0x06, none)                                                                       \
    X (FETCH, 0x07, none)                                                                          \
    X (RECORDS, 0x08, any)                                                                         \
    X (COMMIT, 0x09, none)                                                                         \
    X (COMMITTED, 0x0A, none)                                                                      \
    X (LIST, 0x0B, none)                                                                           \
    X (STREAMS, 0x0C, none)                                                                        \
    X (PING, 0x0D, none)                                                                           \
    X (PONG, 0x0E, none)                                                                           \
    X (ERROR, 0x0F, none)                                                                          \
    X (LIVE, 0x10, two)                                                                            \
    X (JOIN, 0x11, none)                                                                           \
    X (JOINED, 0x12, none)                                                                         \
    X (WORK, 0x13, one)                                                                            \
    X (RESULT, 0x14, one)                                                                          \
    X (LEAVE, 0x15, none)                                                                          \
    X (STAT, 0x16, none)                                                                           \
    X (STATS, 0x17, one)                                                                           \
    X (ADMIN, 0x18, none)                                                                          \
    X (ADMINED, 0x19, none)                                                                        \
    X (REPLICATE, 0x1A, none)                                                                      \
    X (REPLICATED, 0x1B, any)                                                                      \
    X (STATE_READ, 0x20, any)                                                                      \
    X (STATE, 0x21, any)

typedef enum {
    SL_CMD_NONE = 0,
#define SL_CMD_ENUM(name, code, data) SL_CMD_##name = code,
    SL_COMMANDS (SL_CMD_ENUM)
#undef SL_CMD_ENUM
} sl_cmd_t;

//  SEEK positions ("from" on the wire is the lower-case name).
typedef enum {
    SL_FROM_BEGINNING = 0, //  first offset kept
    SL_FROM_END,           //  next offset to be written (live only)
    SL_FROM_OFFSET,        //  value = offset
    SL_FROM_LAST,          //  value = N: the last N records
    SL_FROM_TIME,          //  value = epoch ms: first record appended at or after it
    SL_FROM_COMMITTED,     //  the reader's committed position; found=false if none
} sl_from_t;

typedef struct {
    char name[SL_NAME_MAX + 1];
    uint64_t first;   //  first offset kept
    uint64_t next;    //  offset the next record will get
    uint64_t records; //  records kept (next - first)
    uint64_t bytes;   //  bytes of batch blobs kept
    int64_t last_ms;  //  append time of the newest record, 0 if none
} sl_stream_info_t;

//  Most entries a RESULT's "failed" may hold: one per input record of a
//  lease at most (SL_GROUP_MAX_BATCH).
#define SL_MSG_MAX_FAILED 65536

//  One RESULT "failed" entry: on the wire [offset, error] or, when final,
//  [offset, error, true] (the operator said FAIL: dead-letter at once).
//  The text lives in the message's text arena (24 bytes an entry plus the
//  text, not 272: a 320 KiB body of 65,536 entries decodes to 1.5 MiB).
typedef struct {
    uint64_t offset;   //  input offset of the record that failed
    const char *error; //  why, at most 255 bytes, NUL-terminated; owned by the msg
    bool final;        //  no retry: dead-letter at once
} sl_failed_entry_t;

//  One decoded or to-be-encoded message: every command's fields in one
//  struct (zproto's model). Wire keys in brackets; which are required for
//  which command is in docs/PROTOCOL.md and enforced by sl_msg_decode.
typedef struct {
    sl_cmd_t cmd;
    uint8_t version;              //  header version received (decode)
    uint64_t req;                 //  ["req"] request id, echoed in replies
    char stream[SL_NAME_MAX + 1]; //  ["stream"]
    char name[SL_NAME_MAX +
              1];       //  ["producer"] HELLO/PUBLISH/CONFIRM, ["reader"] SEEK/COMMIT/COMMITTED
    char client[64];    //  ["client"] HELLO: software and version
    char endpoint[256]; //  ["pub"] WELCOME: live endpoint; host "*" = same host as the broker
                        //  address
    uint64_t
        seq; //  ["seq"] PUBLISH first record seq; CONFIRM/WELCOME acked seq; ERROR expected seq
    uint32_t count;             //  ["count"] PUBLISH/CONFIRM/LIVE records
    uint64_t offset;            //  ["offset"] FETCH/COMMIT/POSITION/RECORDS/CONFIRM/LIVE
    uint64_t first;             //  ["first"] POSITION/RECORDS
    uint64_t next;              //  ["next"] POSITION/RECORDS/LIVE
    sl_from_t from;             //  ["from"] SEEK
    int64_t value;              //  ["value"] SEEK
    bool found;                 //  ["found"] POSITION
    uint32_t max_records;       //  ["max_records"] FETCH
    uint64_t max_bytes;         //  ["max_bytes"] FETCH
    int32_t code;               //  ["code"] ERROR: the positive value of an SL_E* code
    char text[256];             //  ["text"] ERROR: human-readable reason
    uint32_t heartbeat_ms;      //  ["heartbeat_ms"] WELCOME
    uint64_t max_batch_bytes;   //  ["max_batch_bytes"] WELCOME: records frame bound
    uint32_t max_batch_records; //  ["max_batch_records"] WELCOME
    uint32_t max_depth;         //  ["max_depth"] WELCOME: value nesting bound
    char broker[64];            //  ["broker"] WELCOME: broker software and version
    sl_stream_info_t *streams;  //  ["streams"] STREAMS, owned by the message
    uint32_t n_streams;
    //  Worker groups (docs/PROTOCOL.md §14). JOIN's "from" is `from` above,
    //  limited to beginning / end.
    char group[SL_NAME_MAX + 1];  //  ["group"] JOIN/JOINED/WORK/RESULT/LEAVE
    char in[SL_NAME_MAX + 1];     //  ["in"] JOIN/JOINED: input stream
    char out[SL_NAME_MAX + 1];    //  ["out"] JOIN/JOINED: output stream
    char member[SL_NAME_MAX + 1]; //  ["member"] JOIN/LEAVE
    uint64_t lease;               //  ["lease"] WORK/RESULT
    uint32_t window;              //  ["window"] JOIN: leases held at once
    uint32_t batch;               //  ["batch"] JOIN: most records per lease
    uint32_t attempt;             //  ["attempt"] WORK: 1 on first delivery
    uint32_t out_count;           //  ["out_count"] RESULT: records in the data frame
    uint32_t max_deliver;         //  ["max_deliver"] JOIN
    uint32_t lease_ms;            //  ["lease_ms"] JOIN
    sl_failed_entry_t *failed;    //  ["failed"] RESULT, owned by the message
    uint32_t n_failed;
    char *failed_text; //  the entries' texts, owned by the message
    size_t failed_text_len;
    size_t failed_text_cap;
    //  Operating (docs/PROTOCOL.md §15). ADMIN names its target with
    //  "stream", "reader" and "group" above; "from"/"value" say where a
    //  reset goes; ADMINED's "offset" is the position after a reset.
    char op[32];          //  ["op"] ADMIN: what to do (§15.2)
    uint64_t ret_records; //  ["records"] ADMIN stream.retain: 0 = no limit
    uint64_t ret_bytes;   //  ["bytes"] ADMIN stream.retain
    uint64_t ret_age_ms;  //  ["age_ms"] ADMIN stream.retain
    uint64_t affected;    //  ["affected"] ADMINED: records or entries changed
    //  Counters a client reports with its heartbeat (PING, §15.5), all
    //  optional: its "role", its name in "client", its "stream" or "group".
    char role[16];         //  ["role"] PING: source, worker, sink
    uint64_t ping_records; //  ["records"] PING: records handled so far
    uint64_t ping_errors;  //  ["errors"] PING: records failed / bad so far
    //  Keyed groups (docs/PROTOCOL.md §14.4).
    char key[SL_WIN_KEY_MAX + 1]; //  ["key"] JOIN: the group key (a path, or "record")
    uint32_t late_count;          //  ["late_count"] RESULT: late records after the output
    uint32_t state_count;         //  ["state_count"] RESULT: state records after those
    uint32_t shares; //  ["shares"] JOIN: shares of a new keyed group (0 = 4); WORK: the group's
    uint32_t share;  //  ["share"] WORK/RESULT of a keyed group: the lease's share
    uint32_t holes;  //  ["holes"] WORK of a share: records left out (a lone nil each)
    //  RESULT of a keyed group: the sizes of its output and late parts
    //  (0: not given), so that the broker walks them once.
    uint32_t out_bytes;  //  ["out_bytes"]
    uint32_t late_bytes; //  ["late_bytes"]
    //  Replication (docs/PROTOCOL.md §16): REPLICATE's "seq" is the last
    //  journal entry the replica holds, REPLICATED's the first it carries.
    uint64_t epoch; //  ["epoch"] REPLICATE/REPLICATED
} sl_msg_t;

//  Zeroes msg and sets its command. For a fresh struct (it frees nothing).
void sl_msg_init (sl_msg_t *msg, sl_cmd_t cmd);
//  Frees streams and failed, zeroes every field except cmd. For an initialised msg.
void sl_msg_reset (sl_msg_t *msg);
//  A PING that carries a client's counters (PROTOCOL.md §15.5): role
//  ("source", "worker"), the client's name (cut to fit: names are ASCII),
//  records handled and records failed or bad so far. For a fresh struct.
void sl_msg_init_report (sl_msg_t *ping, uint64_t req, const char *role, const char *client,
                         uint64_t records, uint64_t errors);
//  "PUBLISH"; "UNKNOWN" for codes not in the table.
const char *sl_cmd_name (sl_cmd_t cmd);

//  True for the commands only the broker sends (docs/PROTOCOL.md §5.1):
//  the broker answers them ECOMMAND whatever their body holds.
bool sl_cmd_from_broker (sl_cmd_t cmd);

//  Appends a stream entry to a STREAMS message. 0 or SL_ENOMEM.
int sl_msg_add_stream (sl_msg_t *msg, const sl_stream_info_t *info);
//  Appends a failed entry to a RESULT message (final false; set
//  msg->failed[msg->n_failed - 1].final after). error may be NULL (empty)
//  and is cut at 255 bytes. 0, SL_ENOMEM, or SL_ETOOBIG past
//  SL_MSG_MAX_FAILED entries.
int sl_msg_add_failed (sl_msg_t *msg, uint64_t offset, const char *error);
//  The memory a decoded message holds (the struct and its lists): what a
//  budget counts, not the frame bytes it came from (a 320 KiB RESULT body
//  decodes to up to 17.8 MiB of failed entries).
size_t sl_msg_cost (const sl_msg_t *msg);

//  Encodes header and body as the first two frames of a new zmsg; the
//  caller appends data frames (and, for PUB, pushes the topic in front).
//  Required fields are always written; optional ones only when non-zero /
//  non-empty (zero is "absent" for every optional field). ERROR's code may
//  be given with either sign. NULL on OOM, for an unknown command, when a
//  string field is invalid for the command (unterminated, bad name), SEEK
//  "committed" has no reader, or the body would pass SL_MAX_BODY.
zmsg_t *sl_msg_encode (const sl_msg_t *msg);

//  Decodes (and removes) header and body frames at the front of zmsg,
//  leaving data frames in zmsg. Checks signature, version, command,
//  required fields, types, string lengths and the number of data frames.
//  Returns 0 or SL_EPROTO / SL_EVERSION / SL_ECOMMAND / SL_ETOOBIG /
//  SL_ENAME / SL_EINVAL (a `from` not allowed) (or SL_ENOMEM); msg->cmd and msg->req are filled
//  whenever they could be read, so that the error reply can name the request (and msg->seq and
//  msg->lease too, which name a failed PUBLISH or RESULT); other fields are zero after a failure.
//  msg must be initialised (sl_msg_init): it is reset first, so a msg may be reused for decode
//  after decode. Optional fields absent on the wire read as 0. zmsg is not destroyed; on failure
//  what is left in it is unspecified.
int sl_msg_decode (zmsg_t *zmsg, sl_msg_t *msg);

//  Convenience: an ERROR reply for req with code (negative SL_E*) and text.
zmsg_t *sl_msg_error (uint64_t req, int code, const char *text);
//  The same ERROR as a message to fill in further (a PUBLISH's names) or
//  send: code's sign is ignored, text NULL means sl_strerror's, seq as §5.2.
void sl_msg_init_error (sl_msg_t *msg, uint64_t req, int code, const char *text, uint64_t seq);

//  Receives one command from a ROUTER socket, the envelope included: the
//  routing id into *peer_p, the sender's CURVE key (the ZAP User-Id; ""
//  without CURVE) into key, the decoded command into msg, and the data
//  frames left in *rest_p. *peer_p and *rest_p are the caller's to destroy
//  whatever the outcome. 0; SL_EAGAIN when nothing was received; SL_EPROTO
//  without a routing id; else the decoder's error (msg then holds only
//  what names the request, for the ERROR reply).
int sl_msg_recv_router (zsock_t *router, zframe_t **peer_p, char *key, size_t key_size,
                        sl_msg_t *msg, zmsg_t **rest_p);

//  Topic frame for a stream on the PUB socket: name + 0x00, into out
//  (>= SL_NAME_MAX + 2 bytes). Returns its length.
size_t sl_topic (const char *stream, uint8_t *out);

#endif
