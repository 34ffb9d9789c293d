/*  sl_shares.c - key shares and their sticky assignment (sl_shares.h). */
#include "sl_shares.h"

#include <isa-l/crc.h>
#include <stdlib.h>

#include "sl_error.h"

uint32_t
sl_shares_of (const void *key, size_t len, uint32_t shares)
{
    if (shares <= 1) {
        return 0;
    }
    //  CRC32C (ISA-L, as for stored batches): fast, and spreads msgpack
    //  encodings of counters and strings evenly over a small modulus.
    uint32_t crc = 0xFFFFFFFFu;
    const unsigned char *p = key;
    while (len > 0) {
        int n = len > (1u << 30) ? 1 << 30 : (int)len;
        crc = crc32_iscsi ((unsigned char *)p, n, crc);
        p += n;
        len -= (size_t)n;
    }
    return (crc ^ 0xFFFFFFFFu) % shares;
}

//  Each member's target: floor(S/n), and one more for the S mod n members
//  that own the most now (the oldest on a tie), so that what they own
//  already counts and as few shares as possible move.
static void
s_targets (const uint32_t *load, uint32_t shares, uint32_t members, uint32_t *target)
{
    uint32_t extra = shares % members;
    for (uint32_t m = 0; m < members; m++) {
        target[m] = shares / members;
    }
    for (uint32_t k = 0; k < extra; k++) {
        uint32_t best = members;
        for (uint32_t m = 0; m < members; m++) {
            if (target[m] == shares / members && (best == members || load[m] > load[best])) {
                best = m;
            }
        }
        target[best]++;
    }
}

//  The member furthest below its target (the oldest on a tie), or members.
static uint32_t
s_receiver (const uint32_t *load, const uint32_t *target, uint32_t members)
{
    uint32_t best = members;
    for (uint32_t m = 0; m < members; m++) {
        if (load[m] < target[m] &&
            (best == members || target[m] - load[m] > target[best] - load[best])) {
            best = m;
        }
    }
    return best;
}

//  The member furthest above its target with a share that may move (the
//  youngest on a tie), or members.
static uint32_t
s_donor (const uint32_t *load, const uint32_t *target, const uint32_t *movable, uint32_t members)
{
    uint32_t best = members;
    for (uint32_t m = 0; m < members; m++) {
        if (load[m] > target[m] && movable[m] > 0 &&
            (best == members || load[m] - target[m] >= load[best] - target[best])) {
            best = m;
        }
    }
    return best;
}

int
sl_shares_assign (uint32_t *owner, const bool *busy, uint32_t shares, uint32_t members)
{
    if (shares == 0 || shares > SL_SHARES_MAX || members == 0 || members > 1024) {
        return SL_EINVAL;
    }
    for (uint32_t s = 0; s < shares; s++) {
        if (owner[s] != SL_SHARES_NONE && owner[s] >= members) {
            return SL_EINVAL;
        }
    }
    uint32_t *load = calloc (members, sizeof *load);
    uint32_t *movable = calloc (members, sizeof *movable);
    uint32_t *target = calloc (members, sizeof *target);
    if (!load || !movable || !target) {
        free (load);
        free (movable);
        free (target);
        return SL_ENOMEM;
    }
    for (uint32_t s = 0; s < shares; s++) {
        if (owner[s] != SL_SHARES_NONE) {
            load[owner[s]]++;
            movable[owner[s]] += busy && busy[s] ? 0 : 1;
        }
    }
    s_targets (load, shares, members, target);
    int changed = 0;
    for (uint32_t s = 0; s < shares; s++) {
        if (owner[s] == SL_SHARES_NONE) {
            //  Someone is below target: the targets add up to S and fewer
            //  than S shares have owners.
            uint32_t to = s_receiver (load, target, members);
            owner[s] = to;
            load[to]++;
            changed++; //  just handed out: not moved again in this call
        }
    }
    //  Each move takes one share off a donor's excess: at most S moves.
    //  Busy shares stay; a later call moves them once they are free.
    for (uint32_t round = 0; round < shares; round++) {
        uint32_t to = s_receiver (load, target, members);
        uint32_t from = s_donor (load, target, movable, members);
        if (to == members || from == members) {
            break;
        }
        //  The donor's highest movable share: which one is arbitrary, but
        //  fixed, so that the same state gives the same answer.
        for (uint32_t s = shares; s-- > 0;) {
            if (owner[s] == from && !(busy && busy[s])) {
                owner[s] = to;
                break;
            }
        }
        load[from]--;
        movable[from]--;
        load[to]++;
        changed++;
    }
    free (load);
    free (movable);
    free (target);
    return changed;
}
