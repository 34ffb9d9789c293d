/*  sl_mp_pack.c - msgpack writing through msgpack-c's packer.

    Every sl_mp_write_* call packs one value with msgpack-c's msgpack_pack_*
    (the smallest encoding the msgpack spec allows, float64 for doubles),
    through a msgpack_packer whose write callback is ours: it copies into
    the caller's fixed buffer and refuses, writing nothing, when the value
    does not fit. msgpack-c's packer functions are static inline and the
    callback is known at each call, so the compiler folds each into one
    function with no indirect call (BENCHMARKS.md, "msgpack-c's packer", measured no slower
    than the hand-written writers this replaced). Reading stays sl_mp.c's
    bounded walker: msgpack-c's unpacker trusts the sizes an input claims.
*/
#include "sl_mp.h"

#include <msgpack.h>
#include <string.h>

//  The caller's buffer, as msgpack-c's write callback sees it.
typedef struct {
    uint8_t *out;
    size_t cap;
    size_t len;
} s_fixed_t;

//  msgpack-c's write callback: all of the bytes or none (a value is packed
//  with one call, so a refused value leaves nothing half written).
static inline int
s_fixed_write (void *data, const char *buf, size_t size)
{
    s_fixed_t *fixed = (s_fixed_t *)data;
    if (size > fixed->cap - fixed->len) {
        return -1;
    }
    memcpy (fixed->out + fixed->len, buf, size);
    fixed->len += size;
    return 0;
}

//  Packs one value into out[0..cap) with msgpack-c; the bytes written, or
//  0 when cap is too small.
#define S_PACK(out, cap, call)                                                                     \
    do {                                                                                           \
        s_fixed_t fixed_ = {(out), (cap), 0};                                                      \
        msgpack_packer pk_;                                                                        \
        msgpack_packer_init (&pk_, &fixed_, s_fixed_write);                                        \
        msgpack_packer *pk = &pk_;                                                                 \
        return (call) == 0 ? fixed_.len : 0;                                                       \
    } while (0)

size_t
sl_mp_write_array (uint8_t *out, size_t cap, uint32_t count)
{
    S_PACK (out, cap, msgpack_pack_array (pk, count));
}

size_t
sl_mp_write_map (uint8_t *out, size_t cap, uint32_t count)
{
    S_PACK (out, cap, msgpack_pack_map (pk, count));
}

size_t
sl_mp_write_str_header (uint8_t *out, size_t cap, uint32_t size)
{
    S_PACK (out, cap, msgpack_pack_str (pk, size));
}

size_t
sl_mp_write_bin_header (uint8_t *out, size_t cap, uint32_t size)
{
    S_PACK (out, cap, msgpack_pack_bin (pk, size));
}

size_t
sl_mp_write_uint (uint8_t *out, size_t cap, uint64_t value)
{
    S_PACK (out, cap, msgpack_pack_uint64 (pk, value));
}

size_t
sl_mp_write_int (uint8_t *out, size_t cap, int64_t value)
{
    S_PACK (out, cap, msgpack_pack_int64 (pk, value));
}

size_t
sl_mp_write_nil (uint8_t *out, size_t cap)
{
    S_PACK (out, cap, msgpack_pack_nil (pk));
}

size_t
sl_mp_write_bool (uint8_t *out, size_t cap, bool value)
{
    S_PACK (out, cap, value ? msgpack_pack_true (pk) : msgpack_pack_false (pk));
}

size_t
sl_mp_write_double (uint8_t *out, size_t cap, double value)
{
    S_PACK (out, cap, msgpack_pack_double (pk, value));
}
