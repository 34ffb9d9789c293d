/*  sl_shares.h - the key space of a keyed group cut into shares, and who
    owns which (docs/worker.md "What moves on rebalance").

    A record of key K belongs to share crc32c(K) mod S, K being the key's
    msgpack encoding (the bytes a keyed member hashes its states by), so
    the broker and every member agree on it without talking. S is fixed
    when the group is created.

    The assignment is pure logic, no I/O: the caller says who owns each
    share now (or nobody, when its owner left or died) and which shares
    cannot move yet (a lease of theirs is live: handing a share over while
    its old owner still works on it would run its keys on two members),
    and sl_shares_assign changes as few owners as it can so that every
    member owns floor(S/n) or ceil(S/n) shares.
*/
#ifndef SL_SHARES_H_INCLUDED
#define SL_SHARES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_SHARES_DEFAULT 4       //  BENCHMARKS.md "Keyed groups in shares"
#define SL_SHARES_MAX 256         //  = SL_SHARES_WIRE_MAX (sl_proto.h)
#define SL_SHARES_NONE UINT32_MAX //  a share without an owner
//  A key state as the broker keeps it (docs/worker.md "State"): the key is
//  a record's encoded group key (an LMDB key holds it with the group name
//  of at most 194 bytes and the share), the value the key's state.
#define SL_STATE_MAX_KEY 256
#define SL_STATE_MAX_VALUE (1 << 20)

//  The share of a key (its msgpack encoding). shares 1..SL_SHARES_MAX.
uint32_t sl_shares_of (const void *key, size_t len, uint32_t shares);

//  owner[s] is a member index 0..members-1 (0 = the oldest member, which
//  wins ties) or SL_SHARES_NONE; busy[s] (NULL: none) marks a share whose
//  owner may not change now. Each member's target is floor(S/n) or, for
//  the S mod n members owning most now, one more. Every share without an
//  owner goes to the member furthest below its target; then shares that
//  are not busy move from members above their target to members below it,
//  never more than those excesses and deficits. So a join takes only the
//  shares the joiner needs (from those above target, never between the
//  others), a leave moves only the leaver's, and a busy share that could
//  not move now moves in a later call. Returns the number of owners
//  changed, or SL_EINVAL (shares or members out of range, an owner >=
//  members), SL_ENOMEM.
int sl_shares_assign (uint32_t *owner, const bool *busy, uint32_t shares, uint32_t members);

#endif
