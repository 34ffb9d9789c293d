/*  fuzz_mp_json.c - msgpack -> JSON (lib/codec/sl_json_write.c) on hostile bytes.

    Input: bytes claimed to be one msgpack object. The writer must walk
    them bounded (no overrun, no allocation from claimed sizes), leave the
    output untouched when it refuses them, and when it accepts them print
    one valid JSON text: the JSON reader must parse it (deeper than the
    reader's bound is the only excuse, since bin/ext add a level).
*/
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "sl_buf.h"
#include "sl_error.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_mp.h"

static sl_json_t *s_json;
static sl_buf_t s_text, s_mp;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sl_log_set_level (SL_LOG_ERROR);
    s_json = sl_json_new ();
    FUZZ_CHECK (s_json);
    sl_buf_init (&s_text, 256u << 20);
    sl_buf_init (&s_mp, 256u << 20);
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    size_t used = 0;
    int walk = sl_mp_skip (data, size, SL_MP_DEPTH_LIMIT, &used);

    sl_buf_reset (&s_text);
    FUZZ_CHECK (sl_buf_append (&s_text, "x", 1) == 0);
    int rc = sl_msgpack_to_json (s_json, data, size, &s_text);
    if (rc != 0) {
        FUZZ_CHECK (rc == SL_ETRUNC || rc == SL_EDEPTH || rc == SL_EPROTO);
        FUZZ_CHECK (s_text.len == 1 && s_text.data[0] == 'x');
        return 0;
    }
    //  Accepted input is exactly one object within the walker's bounds.
    FUZZ_CHECK (walk == 0 && used == size);

    char why[256] = "";
    sl_buf_reset (&s_mp);
    rc = sl_json_to_msgpack (s_json, (const char *)s_text.data + 1, s_text.len - 1, &s_mp, why,
                             sizeof why);
    if (rc != 0 && rc != SL_EDEPTH) {
        fprintf (stderr, "printed JSON does not parse (%s): %.*s\n", why,
                 (int)(s_text.len > 2000 ? 2000 : s_text.len), (const char *)s_text.data);
    }
    FUZZ_CHECK (rc == 0 || rc == SL_EDEPTH);
    return 0;
}
