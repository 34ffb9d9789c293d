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

#include "sl_store.h"
#include "sl_util.h"

struct _sl_store_t {
    MDB_env *env;
    MDB_dbi db_meta;
    MDB_dbi db_log;
    MDB_dbi db_producers;
    MDB_dbi db_readers;
    MDB_dbi db_groups;
    MDB_txn *wtxn;              //  the open write transaction, or NULL
    MDB_txn *rtxn;              //  cached read transaction (reset while idle), or NULL
    int rdepth;                 //  read calls in progress on rtxn (callbacks may re-enter)
    uint64_t map_size;          //  current map size
    uint64_t want_map;          //  growth deferred until no read is in progress
    uint64_t max_map;
    uint64_t page_size;
    sl_store_sync_t sync;       //  never SL_SYNC_DEFAULT
    bool space_out;             //  the last write failed for lack of space (logged once)
    char *dir;
};

//  --------------------------------------------------------------------------
//  Big-endian helpers

static inline void
sl_store_put_u32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

static inline void
sl_store_put_u64 (uint8_t *p, uint64_t v)
{
    sl_store_put_u32 (p, (uint32_t) (v >> 32));
    sl_store_put_u32 (p + 4, (uint32_t) v);
}

static inline uint32_t
sl_store_get_u32 (const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static inline uint64_t
sl_store_get_u64 (const uint8_t *p)
{
    return ((uint64_t) sl_store_get_u32 (p) << 32) | sl_store_get_u32 (p + 4);
}

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

//  sl_store.c: errors and transactions.

//  Maps an LMDB or errno code to SL_E* and logs it where it is decided.
int sl_store_error (sl_store_t *self, int rc, const char *what);

//  The mdb_env_open flags of a sync setting (sl_store_sync.c).
unsigned int sl_store_sync_flags (sl_store_sync_t sync);
//  An LMDB call failed in txn: aborts the write transaction when txn is it
//  (growing the map after MDB_MAP_FULL), then maps rc as sl_store_error.
int sl_store_fail (sl_store_t *self, MDB_txn *txn, int rc, const char *what);
//  The cached read transaction (committed data); callbacks may re-enter.
int sl_store_rtxn_begin (sl_store_t *self, MDB_txn **txn_p);
void sl_store_rtxn_end (sl_store_t *self);
//  The writer's view: the open write transaction, else a read.
int sl_store_view_begin (sl_store_t *self, MDB_txn **txn_p, bool *is_read);
void sl_store_view_end (sl_store_t *self, bool is_read);

#endif
