/*  fuzz_group.c - a worker group's stored state (lib/group/sl_group_codec.c) on
    hostile bytes: what the broker reads back from LMDB's `groups` database
    after a restart.

    Input: a group encoding. sl_group_decode must refuse it with an error or
    give a group that (a) encodes to bytes that decode again and encode to
    the same bytes, and (b) survives a member joining, taking a few leases,
    returning one with a failed record, and a tick: no assertion inside the
    group's logic may depend on the encoding having been honest.
*/
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "sl_buf.h"
#include "sl_error.h"
#include "sl_group.h"
#include "sl_log.h"

static sl_buf_t s_enc, s_enc2;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sl_log_set_level (SL_LOG_ERROR);
    sl_buf_init (&s_enc, 0);
    sl_buf_init (&s_enc2, 0);
    return 0;
}

//  Drives the group through the broker's calls for a short while.
static void
s_exercise (sl_group_t *group)
{
    int64_t now = 1000;
    uint64_t first = sl_group_checkpoint (group);
    uint64_t next = first + 5000 < first ? UINT64_MAX : first + 5000;
    FUZZ_CHECK (sl_group_join (group, "peer-a", 6, "a", 4, 100, now) == 0);
    FUZZ_CHECK (sl_group_join (group, "peer-b", 6, "b", 2, 7, now) == 0);
    sl_lease_t leases[8];
    int n = 0;
    while (n < 8) {
        const void *peer = NULL;
        size_t peer_len = 0;
        int rc = sl_group_next (group, first, next, now, &leases[n], &peer, &peer_len);
        FUZZ_CHECK (rc == 0 || rc == 1);
        if (rc == 0) {
            break;
        }
        FUZZ_CHECK (peer && peer_len == 6);
        FUZZ_CHECK (leases[n].count >= 1);
        FUZZ_CHECK (leases[n].offset >= first && leases[n].offset < next);
        n++;
    }
    for (int i = 0; i < n; i++) {
        sl_outcome_t outcome;
        sl_failed_t failed = {leases[i].offset, "bad", 3, i % 3 == 0};
        int rc = sl_group_result (group, leases[i].id, leases[i].offset, leases[i].count,
                                  i % 2 ? &failed : NULL, i % 2 ? 1 : 0, now, &outcome);
        FUZZ_CHECK (rc == 0 || rc == SL_ENOMEM);
        uint64_t checkpoint = sl_group_checkpoint (group);
        FUZZ_CHECK (checkpoint >= first);
    }
    (void)sl_group_tick (group, now + 10 * 60 * 1000, 1);
    sl_outcome_t outcome;
    FUZZ_CHECK (sl_group_take_dead (group, &outcome) == 0);
    sl_buf_reset (&s_enc2);
    FUZZ_CHECK (sl_group_encode (group, &s_enc2) == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    int err = 0;
    sl_group_t *group = sl_group_decode ("fuzz", data, size, &err);
    if (!group) {
        FUZZ_CHECK (err == SL_EPROTO || err == SL_ETRUNC || err == SL_ENOMEM);
        return 0;
    }
    sl_buf_reset (&s_enc);
    FUZZ_CHECK (sl_group_encode (group, &s_enc) == 0);
    sl_group_t *again = sl_group_decode ("fuzz", s_enc.data, s_enc.len, &err);
    FUZZ_CHECK (again);
    sl_buf_reset (&s_enc2);
    FUZZ_CHECK (sl_group_encode (again, &s_enc2) == 0);
    FUZZ_CHECK (s_enc2.len == s_enc.len && memcmp (s_enc2.data, s_enc.data, s_enc.len) == 0);
    FUZZ_CHECK (sl_group_checkpoint (again) == sl_group_checkpoint (group));
    sl_group_destroy (&again);

    sl_group_t *dup = sl_group_dup (group);
    FUZZ_CHECK (dup);
    s_exercise (dup);
    sl_group_destroy (&dup);
    sl_group_destroy (&group);
    return 0;
}
