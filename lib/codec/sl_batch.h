/*  sl_batch.h - the record codec: records, batches and stored batch blobs.

    A record is a msgpack array of four: [timestamp, key, headers, value]
      timestamp  int, milliseconds since the epoch (set by the producer)
      key        nil, str or bin
      headers    nil, or a map of str -> str|bin
      value      any msgpack object (nesting <= SL_MP_MAX_DEPTH)
    A batch is `count` records concatenated (no outer array), as carried in
    the records frame of PUBLISH.

    A stored batch blob (log value on disk, RECORDS and LIVE data frames) is
    a 24-byte header followed by the batch:
      0  u8   format version (1)
      1  u8   flags (0)
      2  u16  reserved (0)
      4  u32  count        records in the batch, >= 1
      8  u64  base_offset  offset of the first record; record i has base + i
      16 i64  append_ms    broker clock at append, non-decreasing per stream
    Integers are big-endian. The broker writes the header and never looks
    inside records beyond validating them.

    On disk (store format 2) the log value is the blob followed by a
    4-byte big-endian CRC32C (Castagnoli, as Kafka's record batches) of
    the whole blob, header included; the store checks it on every read
    and hands out the blob without it (lib/store/sl_store_log.c).

    Lifetimes: an sl_record_t points into the buffer it was read from and
    lives no longer than it (an MDB_val: its transaction; a frame: its zmsg).
*/
#ifndef SL_BATCH_H_INCLUDED
#define SL_BATCH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_buf.h"

#define SL_BATCH_HEADER_SIZE 24
#define SL_BATCH_VERSION 1
#define SL_BATCH_CRC_SIZE 4

//  CRC32C (Castagnoli) of data[0..len): the standard check value of
//  "123456789" is 0xe3069283. ISA-L's SSE4.2/PCLMUL code does the work.
uint32_t sl_crc32c (const void *data, size_t len);

typedef struct {
    uint8_t version;
    uint8_t flags;
    uint32_t count;
    uint64_t base_offset;
    int64_t append_ms;
} sl_batch_header_t;

typedef struct {
    uint64_t offset; //  base_offset + index (0 for unstored batches)
    int64_t timestamp;
    const uint8_t *key; //  NULL when the key is nil
    uint32_t key_len;
    bool key_is_bin;        //  key was bin, not str
    const uint8_t *headers; //  raw msgpack map, NULL when nil
    size_t headers_len;
    const uint8_t *value; //  raw msgpack object
    size_t value_len;
    const uint8_t *raw; //  the whole encoded record
    size_t raw_len;
} sl_record_t;

//  Encodes the header into out[SL_BATCH_HEADER_SIZE].
void sl_batch_header_encode (const sl_batch_header_t *header, uint8_t *out);
//  Decodes and checks a header (version 1, count >= 1). 0, SL_ETRUNC, SL_EVERSION, SL_EPROTO.
//  Non-zero flags or reserved bytes are SL_EPROTO: version 1 defines none.
int sl_batch_header_decode (const uint8_t *data, size_t len, sl_batch_header_t *header);

//  The producer's batching rule (docs/source.md, "Batching"): an open batch
//  goes when it is full, when nothing this producer sent is unconfirmed (a
//  lone record never waits: latency is one round trip), or when its first
//  record has waited `linger`. While confirms are outstanding, records
//  gather, so batches grow with the load by themselves.
static inline bool
sl_batch_due (bool full, bool in_flight, int64_t waited, int64_t linger)
{
    return full || !in_flight || waited >= linger;
}

//  Appends one encoded record to buf. value must be one msgpack object,
//  headers a msgpack map or NULL, key NULL for nil (value NULL encodes nil).
//  The bytes are copied as given (validation is the receiver's job).
//  0 or SL_ENOMEM/SL_ETOOBIG; buf is unchanged on failure.
int sl_record_encode (sl_buf_t *buf, int64_t timestamp, const void *key, uint32_t key_len,
                      bool key_is_bin, const void *headers, size_t headers_len, const void *value,
                      size_t value_len);

//  Checks that data[0..len) is exactly `count` well-formed records (every
//  length bounded by len, nesting <= max_depth, headers a map of str->str|bin).
//  0, or SL_ETRUNC / SL_EDEPTH / SL_EPROTO / SL_ETYPE: SL_EPROTO when a record
//  is not an array of 4, on 0xc1, or for bytes left after `count` records;
//  SL_ETYPE for a field of the wrong type (timestamp not an int64, key not
//  nil/str/bin, headers not nil/map of str -> str|bin).
int sl_batch_validate (const uint8_t *data, size_t len, uint32_t count, uint32_t max_depth);

//  Iterates the records of a batch (already validated, or not: the
//  iterator checks bounds and returns an error instead of overrunning).
typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    uint64_t next_offset;
    uint32_t left;
    uint32_t max_depth; //  values nested deeper are SL_EDEPTH
    bool holes;         //  a lone nil stands for a record left out (a keyed share's WORK)
} sl_record_iter_t;

void sl_record_iter_init (sl_record_iter_t *it, const uint8_t *data, size_t len, uint32_t count,
                          uint64_t base_offset);
//  Initialises from a stored blob (header + batch). 0 or a decode error.
int sl_record_iter_init_blob (sl_record_iter_t *it, const uint8_t *blob, size_t len,
                              sl_batch_header_t *header);
//  1 = a record in *out, 0 = no more records, negative = malformed input
//  (bytes left after the last counted record are SL_EPROTO). After an error
//  the iterator does not move: later calls return the same error. Values
//  are walked with SL_MP_DEPTH_LIMIT unless it->max_depth is set lower
//  after init. Walking every record with next checks a batch as
//  sl_batch_validate does.
//  With it->holes set (after init), a lone nil (0xc0) in a record's place
//  is a record left out: its offset is passed over, it is not returned.
int sl_record_iter_next (sl_record_iter_t *it, sl_record_t *out);

//  Byte length of the first n records of a batch (to drop records already
//  held). 0 or an error as sl_batch_validate (fewer than n records: SL_ETRUNC).
int sl_batch_skip (const uint8_t *data, size_t len, uint32_t n, size_t *consumed);

#endif
