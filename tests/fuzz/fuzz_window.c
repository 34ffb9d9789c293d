/*  fuzz_window.c - a key's stored window state (lib/group/sl_window.c) on hostile
    bytes: what a keyed member reads back from GROUP.state on a take-over.

    Input: a state encoding. sl_win_key_decode must refuse it or give a state
    that (a) encodes to bytes that decode again and encode to the same bytes,
    and (b) takes a few more records (each closing windows) without breaking.
*/
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "sl_buf.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_window.h"

static sl_buf_t s_enc, s_enc2;
static sl_win_t *s_win;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sl_log_set_level (SL_LOG_ERROR);
    sl_buf_init (&s_enc, 0);
    sl_buf_init (&s_enc2, 0);
    sl_win_spec_t spec;
    sl_agg_t aggs[SL_WIN_MAX_AGGS];
    size_t n;
    const char *why;
    sl_win_spec_parse ("hopping:10s/5s", &spec, &why);
    sl_agg_parse ("count,sum:a,min:a,first:a", aggs, &n, &why);
    s_win = sl_win_new (&spec, 1000, aggs, n);
    return 0;
}

static int
s_emit (void *ctx, int64_t start, int64_t end, const uint8_t *value, size_t len)
{
    (void)ctx;
    FUZZ_CHECK (start < end && value && len > 0);
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    int err = 0;
    sl_win_key_t *key = sl_win_key_decode (s_win, data, size, &err);
    if (!key) {
        FUZZ_CHECK (err < 0);
        return 0;
    }
    sl_buf_reset (&s_enc);
    FUZZ_CHECK (sl_win_key_encode (s_win, key, &s_enc) == 0);
    sl_win_key_t *again = sl_win_key_decode (s_win, s_enc.data, s_enc.len, &err);
    FUZZ_CHECK (again);
    sl_buf_reset (&s_enc2);
    FUZZ_CHECK (sl_win_key_encode (s_win, again, &s_enc2) == 0);
    FUZZ_CHECK (s_enc.len == s_enc2.len && memcmp (s_enc.data, s_enc2.data, s_enc.len) == 0);
    static const uint8_t k[] = {0xa1, 'k'};
    static const uint8_t v[] = {0x81, 0xa1, 'a', 0x05};
    for (int64_t t = -20000; t < 40000; t += 7000) {
        bool late;
        sl_win_add (s_win, again, k, sizeof k, t, v, sizeof v, (uint64_t)(t + 20000), &late, s_emit,
                    NULL);
    }
    sl_win_close_all (s_win, again, k, sizeof k, s_emit, NULL);
    sl_win_key_destroy (&again);
    sl_win_key_destroy (&key);
    return 0;
}
