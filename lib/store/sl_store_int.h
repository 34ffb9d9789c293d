/*  sl_store_int.h - the store module's internals, shared by sl_store.c (the
    environment, its transactions and the small tables: producers, readers,
    groups) and sl_store_log.c (streams and their log: append, read,
    find_time, retain). Together the two files are the one module that
    includes lmdb.h; nothing outside lib/sl_store*.c includes this header.
*/
#ifndef SL_STORE_INT_H_INCLUDED
#define SL_STORE_INT_H_INCLUDED

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sl_buf.h"
#include "sl_dirlock.h"
#include "sl_mp.h" //  sl_be32/sl_put_be32 ...: every stored integer is big-endian
#include "sl_store.h"
#include "sl_util.h"

//  The on-disk format this code writes (meta key "format", u32 BE). A
//  store without the key was written by format 1: no checksums; it is
//  read, and upgraded to 2 on open (its batches stay without checksum,
//  see crc_from below). A greater number is refused.
#define SL_STORE_FORMAT 2
#define SL_STORE_FORMAT_KEY "format"

//  A stream's record in meta. Format 2 appends crc_from and a CRC32C of
//  the record; a format-1 record (44 bytes) reads as crc_from = next, as
//  every batch it has was stored without a checksum.
#define SL_STORE_META_V1_SIZE 44
#define SL_STORE_META_SIZE 56
#define SL_STORE_LOG_KEY_SIZE 12 //  stream id u32 ‖ base offset u64

typedef struct {
    uint32_t id;
    uint64_t first;
    uint64_t next;
    uint64_t records;
    uint64_t bytes;
    int64_t last_ms;
    uint64_t crc_from; //  batches with base >= crc_from end with a CRC32C
} sl_store_meta_t;

//  One log entry as read from disk, after its checks.
typedef struct {
    uint64_t base; //  from the key (trusted over the header)
    uint32_t count;
    int64_t append_ms;
} sl_store_blob_t;

struct _sl_store_t {
    MDB_env *env;
    MDB_dbi db_meta;
    MDB_dbi db_log;
    MDB_dbi db_producers;
    MDB_dbi db_readers;
    MDB_dbi db_groups;
    MDB_dbi db_state;  //  keyed groups' compacted key states (sl_store_state.c)
    bool has_state;    //  false: a read-only store from before that table
    MDB_txn *wtxn;     //  the open write transaction, or NULL
    MDB_txn *rtxn;     //  cached read transaction (reset while idle), or NULL
    int rdepth;        //  read calls in progress on rtxn (callbacks may re-enter)
    uint64_t map_size; //  current map size
    uint64_t want_map; //  growth deferred until no read is in progress
    uint64_t max_map;
    uint64_t page_size;
    sl_store_sync_t sync; //  never SL_SYNC_DEFAULT
    bool space_out;       //  the last write failed for lack of space (logged once)
    bool read_only;
    char *dir;
    sl_dirlock_t *lock;  //  one broker per directory (NULL when read-only)
    uint32_t format;     //  the format the store was found in
    uint64_t n_corrupt;  //  checksum failures met by reads
    uint32_t corrupt_id; //  the last damaged batch logged: stream id, base
    uint64_t corrupt_base;
    uint64_t corrupt_from; //  the last damaged range met by sl_store_read
    uint64_t corrupt_to;
    const uint8_t *map_lo; //  the mapped file's pages in use, for
    const uint8_t *map_hi; //  bounds checks of values (sl_store_map_bounds)
    uint64_t map_lo_size;  //  the map size map_lo was found for
    //  Replication journal (sl_store_repl.c), off until sl_store_journal_on.
    //  The j_* values are committed state; p_* those of the open write.
    bool journal;
    bool j_quiet;  //  writes not journaled (undoing entries)
    bool j_marker; //  write an entry even without changes (new epoch)
    bool j_failed; //  a change could not be journaled: the commit must fail
    MDB_dbi db_journal;
    sl_buf_t jbuf; //  the entry being built by the open write
    uint64_t j_max_bytes;
    uint64_t j_epoch, j_seq, j_first, j_bytes;
    uint64_t p_epoch, p_seq, p_first, p_bytes;
};

//  True when name is a valid stream, producer, reader or group name; sets
//  *len to its length.
static inline bool
sl_store_name_ok (const char *name, size_t *len)
{
    if (!name) {
        return false;
    }
    *len = strnlen (name, SL_NAME_MAX + 1);
    return sl_name_valid (name, *len);
}

//  sl_store_log.c: stream records and log entries, shared with the check.

//  sl_store_log.c: a batch's key in log (stream id, base offset, 12 bytes);
//  a stream's record in meta read (0, SL_ENOTFOUND, SL_ESTORE or an LMDB
//  failure) or written in the write transaction.
void sl_store_log_key (uint8_t *key, uint32_t id, uint64_t offset);
int sl_store_meta_get (sl_store_t *self, MDB_txn *txn, const char *stream, size_t len,
                       sl_store_meta_t *meta);
int sl_store_meta_put (sl_store_t *self, const char *stream, size_t len,
                       const sl_store_meta_t *meta);

//  Decodes a stream record read from disk. 0, SL_ESTORE (bad size or
//  values), SL_ECORRUPT (checksum).
int sl_store_meta_decode (const MDB_val *val, const char *stream, int name_len,
                          sl_store_meta_t *meta);
//  Checks one log entry: 1 = a good header of stream id, 0 = another
//  stream's key, SL_ECORRUPT = a damaged entry of stream id (blob->base
//  set from the key), SL_ESTORE = a damaged key.
int sl_store_blob_check (const MDB_val *key, const MDB_val *val, uint32_t id,
                         sl_store_blob_t *blob);
//  Checks a log entry's checksum (when meta says it has one) and that its
//  bytes lie in the file; *len gets the blob's length without the
//  checksum. 0 or SL_ECORRUPT.
int sl_store_blob_verify (sl_store_t *self, const sl_store_meta_t *meta, const MDB_val *val,
                          uint64_t base, size_t *len);
//  Notes where the file's pages in use lie in memory, for blob_verify:
//  call at the start of a read. A value read in a read transaction lies
//  in the map; one that claims to reach past the file is damaged, and
//  touching it would raise SIGBUS.
void sl_store_map_bounds (sl_store_t *self);

//  sl_store_check.c: checks at open.

//  Before LMDB opens dir: a data.mdb of 0 bytes is refused (LMDB would
//  take it for a new store). 0 or SL_ECORRUPT.
int sl_store_precheck (const char *dir);
//  After mdb_env_open and before any transaction: the file must hold every
//  page LMDB's meta page says is in use, or a read would SIGBUS.
int sl_store_size_check (sl_store_t *self);
//  Reads (and, writable, sets or upgrades) the format number. In txn.
int sl_store_format_open (sl_store_t *self, MDB_txn *txn);

//  sl_store.c: errors and transactions.

//  Maps an LMDB or errno code to SL_E* and logs it where it is decided.
int sl_store_error (sl_store_t *self, int rc, const char *what);
//  While the store is opened: LMDB's signs of a damaged tree (MDB_CORRUPTED,
//  MDB_PAGE_NOTFOUND, a missing table, MDB_INCOMPATIBLE) are SL_ECORRUPT,
//  said so; anything else as sl_store_error.
int sl_store_open_error (sl_store_t *self, int rc, const char *what);

//  The mdb_env_open flags of a sync setting (sl_store_sync.c).
unsigned int sl_store_sync_flags (sl_store_sync_t sync);
//  An LMDB call failed in txn: aborts the write transaction when txn is it
//  (growing the map after MDB_MAP_FULL), then maps rc as sl_store_error.
int sl_store_fail (sl_store_t *self, MDB_txn *txn, int rc, const char *what);

//  Journaled writes (sl_store_repl.c): every change to meta, log,
//  producers, readers or groups goes through these, so that the journal
//  sees it when it is on. They return LMDB codes, as mdb_put/mdb_del do
//  (SL_ETOOBIG / SL_ENOMEM when the entry cannot hold the change).
//  jput with MDB_RESERVE: the caller fills val, then calls jnote.
int sl_store_jput (sl_store_t *self, MDB_dbi dbi, MDB_val *key, MDB_val *val, unsigned flags);
void sl_store_jnote (sl_store_t *self, MDB_dbi dbi, const MDB_val *key, const MDB_val *val);
int sl_store_jdel (sl_store_t *self, MDB_dbi dbi, MDB_val *key);
int sl_store_jcursor_del (sl_store_t *self, MDB_dbi dbi, MDB_cursor *cur);
//  Transaction hooks: begin, before mdb_txn_commit (writes the entry), after.
void sl_store_journal_begin (sl_store_t *self);
int sl_store_journal_commit (sl_store_t *self);
void sl_store_journal_done (sl_store_t *self, bool committed);
void sl_store_journal_free (sl_store_t *self);
//  The cached read transaction (committed data); callbacks may re-enter.
int sl_store_rtxn_begin (sl_store_t *self, MDB_txn **txn_p);
void sl_store_rtxn_end (sl_store_t *self);
//  Visits the entries of dbi in key order, in the cached read transaction,
//  from the first key >= *from (NULL: the first key). fn returns 0 to go
//  on, or a code that ends the walk and is returned; it sets *stop to end
//  the walk with 0. what names the walk in an LMDB error.
typedef int (sl_store_walk_fn) (void *ctx, const MDB_val *key, const MDB_val *val, bool *stop);
int sl_store_walk (sl_store_t *self, MDB_dbi dbi, const MDB_val *from, const char *what,
                   sl_store_walk_fn *fn, void *ctx);
//  The writer's view: the open write transaction, else a read.
int sl_store_view_begin (sl_store_t *self, MDB_txn **txn_p, bool *is_read);
void sl_store_view_end (sl_store_t *self, bool is_read);

//  Reads the value under key in dbi, in the writer's view, and hands it to
//  use, which checks it (stored bytes are not trusted) and copies out what
//  it needs: the value lives no longer than this call. 0, SL_ENOTFOUND, an
//  LMDB failure (logged as what) or what use returns.
typedef int (sl_store_val_fn) (void *ctx, const MDB_val *val);
int sl_store_get (sl_store_t *self, MDB_dbi dbi, const MDB_val *key, const char *what,
                  sl_store_val_fn *use, void *ctx);

#endif
