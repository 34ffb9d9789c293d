/*  sl_repl.h - the replication journal entry (docs/PROTOCOL.md §16).

    A replica follows its primary by applying, in order, the changes every
    committed write transaction made to the store: one journal entry per
    transaction, numbered by a sequence (seq, dense from 1) and tagged with
    the epoch of the primary that wrote it. An entry is bytes, big-endian:

      magic "SLRJ" | epoch u64 | seq u64 | n_ops u32 | ops... | crc32c u32

    and each op is

      db u8 | flags u8 | key_len u16 | old_len u32 | new_len u32 | key | old | new

    flags: SL_REPL_OLD (old holds the value before: a put over a value or a
    delete), SL_REPL_NEW (new holds the value written: a put; absent = a
    delete), SL_REPL_ELIDED (there was an old value, not kept: a retention
    delete of a log batch; such an op cannot be undone). The checksum
    covers every byte before it. The before-images let a broker that comes
    back after a failover undo the entries it wrote but never replicated.
    Decoding trusts nothing: every length is checked against the bytes
    given before it is used.
*/
#ifndef SL_REPL_H_INCLUDED
#define SL_REPL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_buf.h"

//  The databases an op may name (sl_store.h).
typedef enum {
    SL_REPL_META = 0,
    SL_REPL_LOG,
    SL_REPL_PRODUCERS,
    SL_REPL_READERS,
    SL_REPL_GROUPS,
    SL_REPL_STATE, //  keyed groups' key states (sl_store_state.h)
    SL_REPL_N_DBS
} sl_repl_db_t;

#define SL_REPL_OLD 0x01
#define SL_REPL_NEW 0x02
#define SL_REPL_ELIDED 0x04
#define SL_REPL_HEADER 24 //  magic, epoch, seq, n_ops
#define SL_REPL_OP_HEADER 12
#define SL_REPL_TRAILER 4
#define SL_REPL_KEY_MAX 511            //  LMDB's default key bound
#define SL_REPL_ENTRY_MAX (512u << 20) //  one transaction's changes, at most

//  One op as decoded; pointers into the entry.
typedef struct {
    sl_repl_db_t db;
    uint8_t flags;
    const uint8_t *key;
    size_t key_len;
    const uint8_t *old;
    size_t old_len;
    const uint8_t *val;
    size_t val_len;
} sl_repl_op_t;

//  Starts an entry in buf (reset first).
int sl_repl_begin (sl_buf_t *buf, uint64_t epoch, uint64_t seq);
//  Appends an op's header, key and old value; the new value follows with
//  sl_repl_op_value (or none: a delete). *at receives where the op starts
//  (to patch the new length, or to drop the op with buf->len = *at).
int sl_repl_op_start (sl_buf_t *buf, sl_repl_db_t db, const void *key, size_t key_len,
                      const void *old, size_t old_len, uint8_t flags, size_t *at);
//  Appends the new value of the op that starts at `at`.
int sl_repl_op_value (sl_buf_t *buf, size_t at, const void *val, size_t val_len);
//  Sets seq and epoch in an entry being built (the seq is known at commit).
void sl_repl_set_seq (sl_buf_t *buf, uint64_t epoch, uint64_t seq);
//  Counts the ops and appends the checksum. 0 or SL_ENOMEM / SL_ETOOBIG.
int sl_repl_finish (sl_buf_t *buf);

//  Checks an entry: magic, checksum, every op's bounds and db. Fills
//  epoch, seq and n_ops (any may be NULL). 0, SL_ETRUNC (short), SL_EPROTO
//  (bad magic, bad op), SL_ECORRUPT (checksum), SL_ETOOBIG.
int sl_repl_check (const uint8_t *data, size_t len, uint64_t *epoch, uint64_t *seq,
                   uint32_t *n_ops);
//  The epoch and seq of an entry without checking it (len >= SL_REPL_HEADER).
int sl_repl_peek (const uint8_t *data, size_t len, uint64_t *epoch, uint64_t *seq);

//  Calls fn for every op of a checked entry, in order (or in reverse),
//  stopping at the first non-zero return, which it returns.
typedef int (sl_repl_op_fn) (void *ctx, const sl_repl_op_t *op);
int sl_repl_walk (const uint8_t *data, size_t len, bool reverse, sl_repl_op_fn *fn, void *ctx);

#endif
