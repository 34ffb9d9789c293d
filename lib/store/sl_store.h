/*  sl_store.h - the broker's durable state in one LMDB environment.

    Named databases (docs/PROTOCOL.md, "Storage layout"):
      meta       "stream/<name>" -> stream record (id, first, next, records,
                 bytes, last_ms, crc_from, crc32c); "next_stream_id" -> u32;
                 "format" -> u32 (2)
      log        u32 stream id BE + u64 base offset BE -> stored batch blob
                 + its CRC32C (lib/codec/sl_batch.h)
      producers  <producer> 0x00 <stream> -> u64 acked seq BE, i64 updated ms BE
      readers    <stream> 0x00 <reader>  -> u64 next offset BE, i64 updated ms BE
      groups     <group> -> group state (lib/group/sl_group_codec.c's encoding, opaque here)
    Only this module includes lmdb.h. Writes happen inside one write
    transaction opened with sl_store_begin (the broker's group commit);
    reads open their own read-only transaction per call. Data handed to a
    callback lives only for that call.

    Views: sl_store_read, sl_store_find_time, sl_store_list and
    sl_store_group_list always see committed data only.
    sl_store_stream_info, sl_store_producer_get, sl_store_reader_get and
    sl_store_group_get see the open write transaction when there is one
    (so the broker's dedupe sees the batches it added in this group
    commit), committed data otherwise.

    Errors in a write transaction: when LMDB itself fails (map full, disk
    full, I/O), the transaction has been aborted when the call returns and
    sl_store_in_txn() is false; argument errors (SL_ENAME, SL_EINVAL) and
    damaged values read from disk (SL_ESTORE; SL_ECORRUPT when a checksum
    fails) leave it open. Writes without
    an open transaction return SL_ESTATE. When the map has reached max_map,
    a full map is reported as SL_ENOSPC (intake must stop), not SL_EMAPFULL.

    Durability (opts.sync, docs/reliability.md "Power cuts"): SL_SYNC_FULL,
    the default, syncs each commit (data, then the meta page) before
    sl_store_commit returns, so a committed write survives a power cut.
    SL_SYNC_DATA (MDB_NOMETASYNC) syncs the data but not the meta page: a
    power cut keeps the store intact and may undo the last commit.
    SL_SYNC_NONE (MDB_NOSYNC) survives only the death of the process
    (kill -9); after a power cut the store may not open at all.
*/
#ifndef SL_STORE_H_INCLUDED
#define SL_STORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sl_batch.h"
#include "sl_proto.h"

typedef struct _sl_store_t sl_store_t;

//  What a commit syncs before it returns. 0 is the default (full).
typedef enum {
    SL_SYNC_DEFAULT = 0,
    SL_SYNC_FULL, //  data and meta page: survives a power cut
    SL_SYNC_DATA, //  data only: a power cut may undo the last commit
    SL_SYNC_NONE, //  nothing: survives kill -9, not a power cut
} sl_store_sync_t;

//  Parses "full", "data" or "none". Returns 0 or SL_EINVAL.
int sl_store_sync_parse (const char *text, sl_store_sync_t *sync);

//  The name of a setting ("full", "data", "none").
const char *sl_store_sync_name (sl_store_sync_t sync);

typedef struct {
    bool read_only;       //  for checks: no lock, no writes (beside a running broker)
    sl_store_sync_t sync; //  SL_SYNC_DEFAULT = SL_SYNC_FULL
    uint64_t initial_map; //  initial map size in bytes (default 64 MiB)
    uint64_t max_map;     //  growth stops here (default 1 TiB)
} sl_store_opts_t;

typedef struct {
    uint64_t max_records; //  0 = unlimited
    uint64_t max_bytes;   //  0 = unlimited
    int64_t max_age_ms;   //  0 = unlimited
} sl_retention_t;

//  Opens (creating) the environment in dir, creating dir if needed.
//  opts may be NULL (defaults); zero fields take their defaults.
//  Clears stale reader slots left by killed processes. NULL on failure,
//  with the reason in *err (negative SL_E*) and one log line.
//  Unless read_only, takes the directory's lock first (sl_dirlock.h):
//  SL_ELOCKED when another broker holds it. Before LMDB reads a page the
//  store is checked (docs/broker.md, "Damaged stores"): a data.mdb of 0
//  bytes or shorter than LMDB's meta page says is SL_ECORRUPT; a format
//  newer than this code's is SL_EVERSION; a format-1 store is upgraded.
sl_store_t *sl_store_open (const char *dir, const sl_store_opts_t *opts, int *err);
void sl_store_close (sl_store_t **self_p);

//  Write transaction. begin grows the map first when it is over 80 % used.
int sl_store_begin (sl_store_t *self);
//  Commits; on failure the transaction is aborted and nothing of it stays.
//  SL_ENOSPC when the disk is full, SL_EMAPFULL when the map had to grow
//  (grown already: redo the whole transaction), SL_EIO / SL_ESTORE else.
int sl_store_commit (sl_store_t *self);
void sl_store_abort (sl_store_t *self);

//  Appends a batch of `count` records (validated by the caller) to stream,
//  creating it on first append. Assigns base offset = stream next and
//  append_ms = max(now_ms, the stream's last append_ms). Fills *header.
//  In a write transaction. SL_EMAPFULL: the transaction was aborted and
//  the map grown; redo it.
int sl_store_append (sl_store_t *self, const char *stream, const uint8_t *records, size_t len,
                     uint32_t count, int64_t now_ms, sl_batch_header_t *header);

//  Producer dedupe table. get: *seq = 0 when unknown. set: in a write txn.
int sl_store_producer_get (sl_store_t *self, const char *producer, const char *stream,
                           uint64_t *seq);
int sl_store_producer_set (sl_store_t *self, const char *producer, const char *stream, uint64_t seq,
                           int64_t now_ms);

//  Producer owners (lib/store/sl_store_owner.c): the name of the key that owns a
//  producer name, at most SL_STORE_OWNER_MAX bytes. get: copies it into
//  owner (NUL-terminated; owner_size > SL_STORE_OWNER_MAX), SL_ENOTFOUND
//  when the name is free. set: in a write txn.
#define SL_STORE_OWNER_MAX 255
int sl_store_owner_get (sl_store_t *self, const char *producer, char *owner, size_t owner_size);
int sl_store_owner_set (sl_store_t *self, const char *producer, const char *owner);

//  Durable reader positions. get: SL_ENOTFOUND when none. set: in a write txn.
int sl_store_reader_get (sl_store_t *self, const char *stream, const char *reader,
                         uint64_t *offset);
int sl_store_reader_set (sl_store_t *self, const char *stream, const char *reader, uint64_t offset,
                         int64_t now_ms);

//  Worker group state (an encoded sl_group_t; the store does not look inside).
//  get: replaces out's content with the stored bytes; SL_ENOTFOUND when
//  none, SL_ENAME for a bad name. set: in a write txn; len >= 1.
int sl_store_group_get (sl_store_t *self, const char *group, sl_buf_t *out);
int sl_store_group_set (sl_store_t *self, const char *group, const void *data, size_t len);
//  Calls fn for every group, in name order (committed data only). data
//  lives for the call only. Stops early if fn returns != 0, and returns it.
typedef int (sl_store_group_fn) (void *ctx, const char *group, const uint8_t *data, size_t len);
int sl_store_group_list (sl_store_t *self, sl_store_group_fn *fn, void *ctx);

//  Stream state; a stream never written reads as empty (exists = false).
int sl_store_stream_info (sl_store_t *self, const char *stream, sl_stream_info_t *info,
                          bool *exists);
//  Calls fn for every stream, in name order. Stops early if fn returns != 0,
//  and returns that value.
typedef int (sl_store_stream_fn) (void *ctx, const sl_stream_info_t *info);
int sl_store_list (sl_store_t *self, sl_store_stream_fn *fn, void *ctx);

//  Calls fn with the stored blobs that hold offsets from `offset` on, in
//  order, starting with the blob that contains `offset` (it may begin
//  before it), until max_records records or max_bytes bytes have been
//  passed (at least one blob is always passed when there is one).
//  The bounds are soft and cut at blob boundaries: a blob that would take
//  the records (counted from `offset`) or bytes past a bound is not passed,
//  unless it is the first. 0 means no bound. A non-zero return from fn
//  stops the walk and is returned. An offset below first reads from first.
//  *info (may be NULL) receives the stream bounds as seen by the same
//  transaction.
//  Every blob's CRC32C (and that its bytes lie in the file) is checked
//  before fn sees it, and fn gets the blob without the checksum. A damaged
//  batch is never passed: the read stops before it and returns 0 when
//  blobs were passed, SL_ECORRUPT when the read starts in it (its range via
//  sl_store_corrupt_stats); it is logged once and counted.
typedef int (sl_store_blob_fn) (void *ctx, const uint8_t *blob, size_t len);
int sl_store_read (sl_store_t *self, const char *stream, uint64_t offset, uint32_t max_records,
                   uint64_t max_bytes, sl_store_blob_fn *fn, void *ctx, sl_stream_info_t *info);

//  First offset whose batch was appended at or after time_ms (next when none).
int sl_store_find_time (sl_store_t *self, const char *stream, int64_t time_ms, uint64_t *offset);

//  Deletes the oldest whole batches of stream while a limit is exceeded:
//  records kept > max_records, bytes kept > max_bytes, or a batch's
//  append_ms older than now_ms - max_age_ms. Under the count limit a batch
//  is removed only if the stream still satisfies max_records without it
//  (at least max_records records stay); the byte and age limits may empty
//  the stream (first = next). Offsets never change; first moves. In a
//  write txn.
//  *removed receives the number of records removed.
int sl_store_retain (sl_store_t *self, const char *stream, const sl_retention_t *ret,
                     int64_t now_ms, uint64_t *removed);

//  Checksum failures met by reads so far (*count), and the range
//  [*from, *to) of the last damaged batch a read met: what a reader is
//  told after sl_store_read returned SL_ECORRUPT. Any pointer may be NULL.
void sl_store_corrupt_stats (sl_store_t *self, uint64_t *count, uint64_t *from, uint64_t *to);

//  Walks the whole store in dir, read-only and without the lock (it may
//  run beside the broker: it checks one consistent snapshot): every
//  stream's meta, every batch's header and checksum, offsets dense and
//  meta agreeing with the log, no log entry without a stream, the small
//  tables. Writes one line per finding and a summary to out. 0 = clean,
//  SL_ECORRUPT = damage found, another code = the store could not be
//  opened (said on out too).
int sl_store_check (const char *dir, FILE *out);

//  Current map size and bytes in use (for stats and tests).
void sl_store_usage (sl_store_t *self, uint64_t *map_size, uint64_t *used);

//  True while a write transaction is open (after an error: whether it is
//  still open, see "Errors in a write transaction" above).
bool sl_store_in_txn (sl_store_t *self);

//  Frees reader slots left by dead processes (open does this too; LMDB
//  advises doing it now and then). *cleared (may be NULL) gets how many.
int sl_store_readers_check (sl_store_t *self, int *cleared);

#endif
