/*  fuzz_json.c - JSON text -> msgpack (lib/codec/sl_json.c) on hostile text.

    Input: one JSON text. A text the parser accepts must give exactly one
    well-formed msgpack object, which must print as JSON and parse back to
    the very same bytes (sl_json.h: JSON -> msgpack -> JSON is lossless). A
    text it refuses must leave the output buffer as it was and say why.
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
static sl_buf_t s_mp, s_text, s_mp2;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sl_log_set_level (SL_LOG_ERROR);
    s_json = sl_json_new ();
    FUZZ_CHECK (s_json);
    sl_buf_init (&s_mp, 64u << 20);
    sl_buf_init (&s_text, 64u << 20);
    sl_buf_init (&s_mp2, 64u << 20);
    return 0;
}

//  Hex of what differs, so that a crash report explains itself.
static void
s_dump (const char *what, const uint8_t *data, size_t len)
{
    fprintf (stderr, "%s (%zu bytes):", what, len);
    for (size_t i = 0; i < len && i < 512; i++) {
        fprintf (stderr, " %02x", data[i]);
    }
    fprintf (stderr, "\n");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char why[256] = "";
    sl_buf_reset (&s_mp);
    //  A prefix already in the buffer must survive a failure untouched.
    FUZZ_CHECK (sl_buf_append (&s_mp, "\xc0", 1) == 0);
    int rc = sl_json_to_msgpack (s_json, (const char *)data, size, &s_mp, why, sizeof why);
    if (rc != 0) {
        FUZZ_CHECK (rc == SL_EJSON || rc == SL_ERANGE || rc == SL_EDEPTH || rc == SL_ETOOBIG);
        FUZZ_CHECK (s_mp.len == 1 && s_mp.data[0] == 0xc0);
        FUZZ_CHECK (why[0] != '\0');
        return 0;
    }
    const uint8_t *obj = s_mp.data + 1;
    size_t obj_len = s_mp.len - 1;
    size_t used = 0;
    FUZZ_CHECK (sl_mp_skip (obj, obj_len, SL_MP_MAX_DEPTH, &used) == 0);
    FUZZ_CHECK (used == obj_len);

    sl_buf_reset (&s_text);
    FUZZ_CHECK (sl_msgpack_to_json (s_json, obj, obj_len, &s_text) == 0);
    sl_buf_reset (&s_mp2);
    rc =
        sl_json_to_msgpack (s_json, (const char *)s_text.data, s_text.len, &s_mp2, why, sizeof why);
    if (rc != 0) {
        fprintf (stderr, "printed JSON does not parse (%s): %.*s\n", why,
                 (int)(s_text.len > 2000 ? 2000 : s_text.len), (const char *)s_text.data);
    }
    FUZZ_CHECK (rc == 0);
    if (s_mp2.len != obj_len || memcmp (s_mp2.data, obj, obj_len) != 0) {
        s_dump ("msgpack from the input", obj, obj_len);
        s_dump ("JSON printed from it", s_text.data, s_text.len);
        s_dump ("msgpack from that JSON", s_mp2.data, s_mp2.len);
    }
    FUZZ_CHECK (s_mp2.len == obj_len && memcmp (s_mp2.data, obj, obj_len) == 0);
    return 0;
}
