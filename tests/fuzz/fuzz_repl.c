/*  fuzz_repl.c - the replication journal entry codec (lib/codec/sl_repl.c) on
    hostile bytes, as a replica receives them from its primary.

    The input is tried twice: as it is (almost always refused by the
    checksum), and with a correct CRC32C appended, so that the structure
    checks behind the checksum are reached. An entry that checks must walk,
    forwards and backwards, over exactly n_ops ops whose bytes lie inside
    the entry.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "sl_batch.h"
#include "sl_log.h"
#include "sl_repl.h"

typedef struct {
    const uint8_t *lo, *hi;
    uint32_t n;
} s_walk_t;

static int
s_op (void *ctx, const sl_repl_op_t *op)
{
    s_walk_t *w = ctx;
    FUZZ_CHECK (op->key >= w->lo && op->key + op->key_len <= w->hi);
    FUZZ_CHECK (op->old >= w->lo && op->old + op->old_len <= w->hi);
    FUZZ_CHECK (op->val >= w->lo && op->val + op->val_len <= w->hi);
    FUZZ_CHECK (op->db < SL_REPL_N_DBS && op->key_len >= 1 && op->key_len <= SL_REPL_KEY_MAX);
    w->n++;
    return 0;
}

static void
s_try (const uint8_t *data, size_t len)
{
    uint32_t n_ops = 0;
    if (sl_repl_check (data, len, NULL, NULL, &n_ops) != 0) {
        return;
    }
    s_walk_t fwd = {data, data + len, 0}, back = {data, data + len, 0};
    FUZZ_CHECK (sl_repl_walk (data, len, false, s_op, &fwd) == 0);
    FUZZ_CHECK (sl_repl_walk (data, len, true, s_op, &back) == 0);
    FUZZ_CHECK (fwd.n == n_ops && back.n == n_ops);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sl_log_set_level (SL_LOG_ERROR);
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_try (data, size);
    uint8_t *copy = malloc (size + 4);
    if (!copy) {
        return 0;
    }
    memcpy (copy, data, size);
    uint32_t crc = sl_crc32c (copy, size);
    copy[size] = (uint8_t)(crc >> 24);
    copy[size + 1] = (uint8_t)(crc >> 16);
    copy[size + 2] = (uint8_t)(crc >> 8);
    copy[size + 3] = (uint8_t)crc;
    s_try (copy, size + 4);
    free (copy);
    return 0;
}
