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

//  The least loaded member (the oldest on a tie).
static uint32_t
s_least (const uint32_t *load, uint32_t members)
{
    uint32_t best = 0;
    for (uint32_t m = 1; m < members; m++) {
        if (load[m] < load[best]) {
            best = m;
        }
    }
    return best;
}

//  The most loaded member with a share that may move (the youngest on a
//  tie), or members when none is.
static uint32_t
s_donor (const uint32_t *load, const uint32_t *movable, uint32_t members)
{
    uint32_t best = members;
    for (uint32_t m = 0; m < members; m++) {
        if (movable[m] > 0 && (best == members || load[m] >= load[best])) {
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
    if (!load || !movable) {
        free (load);
        free (movable);
        return SL_ENOMEM;
    }
    for (uint32_t s = 0; s < shares; s++) {
        if (owner[s] != SL_SHARES_NONE) {
            load[owner[s]]++;
            movable[owner[s]] += busy && busy[s] ? 0 : 1;
        }
    }
    int changed = 0;
    for (uint32_t s = 0; s < shares; s++) {
        if (owner[s] == SL_SHARES_NONE) {
            uint32_t to = s_least (load, members);
            owner[s] = to;
            load[to]++;
            //  Just handed out: not moved again in this call.
            changed++;
        }
    }
    //  Each move lowers the spread or stops, so at most shares moves.
    for (uint32_t round = 0; round < shares; round++) {
        uint32_t to = s_least (load, members);
        uint32_t from = s_donor (load, movable, members);
        if (from == members || load[from] < load[to] + 2) {
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
    return changed;
}
