/*  sl_store_sync.c - what a commit syncs before it returns (the --sync setting).

    LMDB without MDB_WRITEMAP writes a commit's pages with pwrite, then, in
    mdb_txn_commit: fdatasync(data file) unless MDB_NOSYNC; then the meta
    page, written through a second descriptor opened with O_DSYNC unless
    MDB_NOSYNC or MDB_NOMETASYNC (then through the plain descriptor, left to
    the next commit's fdatasync or the kernel's writeback). So:

    full  no flag         data synced, then meta synced: a returned commit
                          survives a power cut.
    data  MDB_NOMETASYNC  data synced, meta not: the meta page always points
                          at synced pages, so the store stays intact; a power
                          cut may undo the last commit (the meta page written
                          after the last sync).
    none  MDB_NOSYNC      nothing synced: survives kill -9 (the kernel holds
                          the pages); a power cut that lets some pages reach
                          the disk and not others can leave a meta page that
                          points at pages never written: the store may not
                          open (tests/powercut shows both).
*/
#include <lmdb.h>
#include <string.h>

#include "sl_error.h"
#include "sl_store.h"
#include "sl_store_int.h"

static const char *s_names[] = {
    [SL_SYNC_DEFAULT] = "full",
    [SL_SYNC_FULL] = "full",
    [SL_SYNC_DATA] = "data",
    [SL_SYNC_NONE] = "none",
};

int
sl_store_sync_parse (const char *text, sl_store_sync_t *sync)
{
    for (int i = SL_SYNC_FULL; i <= SL_SYNC_NONE; i++) {
        if (text && strcmp (text, s_names[i]) == 0) {
            *sync = (sl_store_sync_t)i;
            return 0;
        }
    }
    return SL_EINVAL;
}

const char *
sl_store_sync_name (sl_store_sync_t sync)
{
    return sync >= SL_SYNC_DEFAULT && sync <= SL_SYNC_NONE ? s_names[sync] : "?";
}

unsigned int
sl_store_sync_flags (sl_store_sync_t sync)
{
    switch (sync) {
    case SL_SYNC_DATA:
        return MDB_NOMETASYNC;
    case SL_SYNC_NONE:
        return MDB_NOSYNC;
    default:
        return 0;
    }
}
