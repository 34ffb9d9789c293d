/*  shares_cut.h - a keyed share's WORK cut from a lease's records
    (docs/PROTOCOL.md §14.4: the share's own records, a one-byte hole for
    each other one).

    Every share of a keyed group reads the same input, usually in the same
    leases (they start together and are cut at the same stored batches),
    so the share of each record is found once per lease range, not once
    per share: the first share to cut a range notes each record's share
    and length, and the others copy their records by those notes without
    parsing a record or hashing a key. A few ranges are kept (bounded: at
    most SL_SHARES_CUT_SLOTS of SL_GROUP_MAX_BATCH records, 5 bytes each),
    each known by its group, range and a fingerprint of the stored batches
    it came from (offsets, counts, append times and sizes), and the notes
    are checked against the bytes as they are used: a mismatch drops them
    and the records are walked as before. Internal to the broker
    (groups_log.c).
*/
#ifndef SL_BROKER_SHARES_CUT_H_INCLUDED
#define SL_BROKER_SHARES_CUT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "sl_buf.h"

#define SL_SHARES_CUT_SLOTS 4

typedef struct _sl_shares_cut_t sl_shares_cut_t;

//  A part of the log cut for a lease (valid while its read lasts).
typedef struct {
    const uint8_t *data;
    size_t len;
} sl_cut_slice_t;

//  What is cut: the lease range [from, to) of share `share` of `of` in
//  keyed group `group` (key path `key`), from `n` slices whose stored
//  batches have the fingerprint `print` (sl_shares_cut_print).
typedef struct {
    const char *group;
    const char *key;
    uint32_t share;
    uint32_t of;
    uint64_t from;
    uint64_t to;
    uint64_t print;
    const sl_cut_slice_t *slices;
    size_t n;
} sl_shares_cut_req_t;

sl_shares_cut_t *sl_shares_cut_new (void);
void sl_shares_cut_destroy (sl_shares_cut_t **self_p);

//  Folds one stored batch (its header's fields, its size, and the part of
//  it that was cut) into a fingerprint (start from 0).
uint64_t sl_shares_cut_print (uint64_t print, uint64_t base, uint32_t count, int64_t append_ms,
                              size_t len, size_t skip, size_t take);

//  Appends the share's WORK records to out (reset first): each of its
//  records as it is, each other one a hole; *holes = how many holes. 0 or
//  an error (out of memory, or malformed records in the log).
int sl_shares_cut (sl_shares_cut_t *self, const sl_shares_cut_req_t *req, sl_buf_t *out,
                   uint32_t *holes);

//  Ranges found in the notes, and ranges walked (for tests and STAT).
void sl_shares_cut_stats (sl_shares_cut_t *self, uint64_t *hits, uint64_t *walks);

#endif
