/*  sl_store_admin.h - the store's operator views and changes (docs/operate.md):
    durable readers listed and deleted, groups deleted, streams deleted,
    run-time retention kept across restarts, and the append time of any
    offset (for lag in seconds). Part of the store module (lib/sl_store*.c):
    the writes happen in the broker's write transaction, like every other.

    On disk (docs/PROTOCOL.md, "Storage layout"): run-time retention is
    "retain/<stream>" in the meta database -> u64 max_records, u64
    max_bytes, i64 max_age_ms (big-endian); the rest uses the existing
    tables.
*/
#ifndef SL_STORE_ADMIN_H_INCLUDED
#define SL_STORE_ADMIN_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "sl_store.h"

//  The broker clock at append of the batch holding offset, read from the
//  stored batch's own header in O(log n) (one cursor MDB_SET_RANGE).
//  SL_ENOTFOUND when offset is not kept (below first or at/after next).
int sl_store_append_time (sl_store_t *self, const char *stream, uint64_t offset,
                          int64_t *append_ms);

//  Calls fn for every durable reader, in (stream, reader) order, committed
//  data only. Stops early when fn returns != 0 and returns that value.
typedef int (sl_store_reader_fn) (void *ctx, const char *stream, const char *reader,
                                  uint64_t offset, int64_t updated_ms);
int sl_store_reader_list (sl_store_t *self, sl_store_reader_fn *fn, void *ctx);

//  In a write transaction. SL_ENOTFOUND when there was none.
int sl_store_reader_delete (sl_store_t *self, const char *stream, const char *reader);
int sl_store_group_delete (sl_store_t *self, const char *group);

//  Removes every batch of stream, its meta record, its run-time retention,
//  the positions of its readers and the sequences of its producers, so the
//  name starts afresh at offset 0. In a write transaction. *records gets
//  the records removed. SL_ENOTFOUND when the stream does not exist.
int sl_store_stream_delete (sl_store_t *self, const char *stream, uint64_t *records);

//  Removes every batch of stream; offsets keep counting (first = next).
int sl_store_stream_purge (sl_store_t *self, const char *stream, uint64_t *records);

//  Run-time retention of a stream. set: in a write transaction; all-zero
//  limits remove the entry (back to the broker's flags). get: SL_ENOTFOUND
//  when none. list: every entry, in stream order, committed data only.
int sl_store_retention_set (sl_store_t *self, const char *stream, const sl_retention_t *ret);
int sl_store_retention_get (sl_store_t *self, const char *stream, sl_retention_t *ret);
typedef int (sl_store_retention_fn) (void *ctx, const char *stream, const sl_retention_t *ret);
int sl_store_retention_list (sl_store_t *self, sl_store_retention_fn *fn, void *ctx);

#endif
