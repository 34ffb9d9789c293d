/*  sl_stat.h - the progress document: what the broker answers to STAT
    (docs/PROTOCOL.md §15) and serves on /api/stat and /metrics.

    The document travels as one msgpack map in the data frame of STATS:
      {"time_ms": i64, "writable": bool, "reason": str, "truncated": bool,
       "repl_role": str, "repl_epoch", "repl_seq", "repl_lag", "repl_followers": uint,
       "streams": [{"name", "first", "next", "records", "bytes", "last_ms",
                    "rate"}...],
       "groups":  [{"name", "in", "out", "committed", "lag_records",
                    "lag_seconds", "in_flight", "redeliveries",
                    "dead_letters", "members_total",
                    "members": [{"name", "peer", "in_flight", "records",
                                 "last_heard_ms"}...]}...],
       "readers": [{"name", "stream", "position", "lag_records",
                    "lag_seconds"}...],
       "clients": [{"role", "name", "stream", "group", "records", "errors",
                    "last_heard_ms"}...]}
    Every list is bounded (SL_STAT_MAX_*); when the broker holds more, the
    first ones in name order are sent and "truncated" is true. The decoder
    trusts nothing: counts are checked against those bounds and against the
    bytes left before anything is kept; unknown keys are skipped.

    Lifetimes: an sl_stat_t owns its arrays; sl_stat_free releases them.
*/
#ifndef SL_STAT_H_INCLUDED
#define SL_STAT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_buf.h"
#include "sl_util.h"

#define SL_STAT_MAX_STREAMS 1024     //  streams in one document
#define SL_STAT_MAX_GROUPS 256       //  groups in one document
#define SL_STAT_MAX_MEMBERS 32       //  members listed per group (members_total counts all)
#define SL_STAT_MAX_READERS 1024     //  durable readers in one document
#define SL_STAT_MAX_CLIENTS 256      //  clients reporting counters (PING) in one document
#define SL_STAT_PEER_MAX 64          //  hex characters of a member's routing id kept
#define SL_STAT_MAX_BYTES (4u << 20) //  largest document accepted by the decoder

typedef struct {
    char name[SL_NAME_MAX + 1];
    uint64_t first;   //  first offset kept
    uint64_t next;    //  offset of the next record
    uint64_t records; //  records kept
    uint64_t bytes;   //  bytes kept
    int64_t last_ms;  //  append time of the newest record, 0 if none
    double rate;      //  records appended per second over the last minute
} sl_stat_stream_t;

typedef struct {
    char name[SL_NAME_MAX + 1];
    char peer[SL_STAT_PEER_MAX + 1]; //  routing id in hex (cut)
    uint32_t in_flight;              //  leases held
    uint64_t records;                //  records of its committed results since it joined
    int64_t last_heard_ms;           //  milliseconds since the broker last heard from it
} sl_stat_member_t;

typedef struct sl_stat_group_s {
    char name[SL_NAME_MAX + 1];
    char in[SL_NAME_MAX + 1];
    char out[SL_NAME_MAX + 1];
    uint64_t committed;        //  every input offset below it is done
    uint64_t lag_records;      //  input records not yet done
    double lag_seconds;        //  now - append time of the first record not done; 0 if none
    uint32_t in_flight;        //  live leases
    uint64_t redeliveries;     //  leases handed out again since the broker started
    uint64_t dead_letters;     //  records ever written to GROUP.dlq
    uint32_t members_total;    //  members, all of them
    sl_stat_member_t *members; //  at most SL_STAT_MAX_MEMBERS
    uint32_t n_members;
} sl_stat_group_t;

typedef struct {
    char name[SL_NAME_MAX + 1];
    char stream[SL_NAME_MAX + 1];
    uint64_t position; //  committed next offset to read
    uint64_t lag_records;
    double lag_seconds;
} sl_stat_reader_t;

//  A client that reports its counters with its heartbeat (PING, PROTOCOL.md
//  §15.5): sources, group members. What it says is its own claim.
typedef struct {
    char role[16];                //  "source", "worker", ...
    char name[64];                //  its producer or member name (printable ASCII)
    char stream[SL_NAME_MAX + 1]; //  a source's stream, or ""
    char group[SL_NAME_MAX + 1];  //  a member's group, or ""
    uint64_t records;             //  records it handled so far
    uint64_t errors;              //  records it failed or found bad so far
    int64_t last_heard_ms;        //  milliseconds since its last report
} sl_stat_client_t;

typedef struct {
    int64_t time_ms;  //  broker clock when the document was made
    bool writable;    //  intake running (false: disk full, ...)
    char reason[256]; //  why not writable
    bool truncated;   //  some list was cut at its bound
    //  Replication (docs/replication.md): role "" when off, else "primary"
    //  or "replica"; the last journal entry (epoch, seq); lag in entries
    //  (primary: its slowest follower's; replica: its own); followers heard
    //  from lately (primary).
    char repl_role[16];
    uint64_t repl_epoch;
    uint64_t repl_seq;
    uint64_t repl_lag;
    uint32_t repl_followers;
    sl_stat_stream_t *streams;
    uint32_t n_streams;
    sl_stat_group_t *groups;
    uint32_t n_groups;
    sl_stat_reader_t *readers;
    uint32_t n_readers;
    sl_stat_client_t *clients;
    uint32_t n_clients;
} sl_stat_t;

//  A fresh empty document (zeroed).
void sl_stat_init (sl_stat_t *self);
//  Frees every array and zeroes the document.
void sl_stat_free (sl_stat_t *self);

//  Appends an entry; past its bound sets truncated and returns SL_ETOOBIG
//  (nothing added). 0 or SL_ENOMEM. The group's members array is taken
//  over by the document (the caller's pointer is cleared).
int sl_stat_add_stream (sl_stat_t *self, const sl_stat_stream_t *stream);
int sl_stat_add_group (sl_stat_t *self, sl_stat_group_t *group);
int sl_stat_add_reader (sl_stat_t *self, const sl_stat_reader_t *reader);
int sl_stat_add_client (sl_stat_t *self, const sl_stat_client_t *client);

//  Lag in seconds from an append time: (now_ms - append_ms) / 1000, never
//  negative.
double sl_stat_lag_seconds (int64_t now_ms, int64_t append_ms);

//  Appends the msgpack document to out. 0, SL_ENOMEM or SL_ETOOBIG.
int sl_stat_encode (const sl_stat_t *self, sl_buf_t *out);
//  Decodes a document (untrusted) into self (initialised; emptied first).
//  0, SL_EPROTO (malformed, wrong type), SL_ETOOBIG (a list past its bound,
//  a string too long, len > SL_STAT_MAX_BYTES) or SL_ENOMEM. On failure
//  self is empty.
int sl_stat_decode (sl_stat_t *self, const uint8_t *data, size_t len);

//  Appends the document as Prometheus text exposition format (version
//  0.0.4) to out: sluice_stream_*, sluice_group_*, sluice_reader_*,
//  sluice_broker_writable. 0, SL_ENOMEM or SL_ETOOBIG.
int sl_stat_prometheus (const sl_stat_t *self, sl_buf_t *out);

#endif
