/*  sl_store_repl.h - the store's replication journal (docs/replication.md).

    With the journal on, every write transaction also writes one journal
    entry (lib/codec/sl_repl.h) into the named database "journal" (key: seq u64
    BE), in the same transaction: what it changed in meta, log, producers,
    readers and groups, with the values it replaced. A replica applies the
    primary's entries in order (sl_store_repl_apply) and so holds the same
    keys and values, and the same journal (same seq, same epoch). Entries
    are kept up to a byte bound (oldest dropped first); the last one always
    stays, and its epoch and seq are the store's position.
*/
#ifndef SL_STORE_REPL_H_INCLUDED
#define SL_STORE_REPL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_store.h"

#define SL_STORE_JOURNAL_BYTES (1ull << 30) //  default bound of the journal

//  Turns the journal on (opens or creates its database); max_bytes 0 =
//  the default. Outside a write transaction. 0 or an SL_E* code.
int sl_store_journal_on (sl_store_t *self, uint64_t max_bytes);
bool sl_store_journal_is_on (sl_store_t *self);

//  The position: epoch and seq of the last committed entry (epoch 1, seq 0
//  when there is none yet), and the oldest entry kept (0 when none).
void sl_store_repl_position (sl_store_t *self, uint64_t *epoch, uint64_t *seq, uint64_t *first);

//  Calls fn with the committed entries from seq `from` on, in order, until
//  max_bytes have been passed (at least one entry when there is one). The
//  data lives for the call only. 0, SL_ENOTFOUND when `from` is no longer
//  (or not yet) kept, or fn's non-zero return.
typedef int (sl_store_entry_fn) (void *ctx, const uint8_t *entry, size_t len);
int sl_store_repl_read (sl_store_t *self, uint64_t from, uint64_t max_bytes, sl_store_entry_fn *fn,
                        void *ctx);

//  Where a follower at (epoch, seq) agrees with this store's history:
//  *agree = seq when this store holds that entry with that epoch; else the
//  seq before the first entry of a later epoch (what the follower must
//  undo its journal down to), capped by this store's last seq. SL_EEPOCH
//  when the follower has seen a newer epoch than this store (this store is
//  the stale one); SL_ENOTFOUND when the entries needed were trimmed.
int sl_store_repl_agree (sl_store_t *self, uint64_t epoch, uint64_t seq, uint64_t *agree);

//  In a write transaction: applies one entry received from the primary.
//  It must be the next one (seq = position + 1: SL_ESEQ otherwise) and of
//  an epoch not older than the position's (SL_EEPOCH). Checks it first
//  (sl_repl_check: SL_ECORRUPT for a bad checksum). The store's own
//  journal gets the same entry (seq, epoch) when committed.
int sl_store_repl_apply (sl_store_t *self, const uint8_t *entry, size_t len);

//  In a write transaction: undoes every entry after seq `to`, newest
//  first, using their before-images, and removes them from the journal.
//  SL_ENOTFOUND when an entry needed is trimmed, SL_ESTATE when one holds a
//  change that cannot be undone (a retention delete, kept without its
//  value).
int sl_store_repl_truncate (sl_store_t *self, uint64_t to);

//  In a write transaction: starts epoch (position's epoch + 1); the commit
//  records it as an entry without changes. *epoch receives it.
int sl_store_repl_new_epoch (sl_store_t *self, uint64_t *epoch);

#endif
