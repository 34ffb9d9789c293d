/*  sl_mp.h - the bounded msgpack walker: the one gate that bytes from the
    network or the disk pass before anything unpacks or interprets them.

    msgpack-c's unpacker reserves memory from the sizes an input claims
    (five bytes can ask for gigabytes), so every msgpack object is first
    walked here: each claimed length and count is checked against the bytes
    that really remain, nesting is bounded, and only then may it be unpacked.
    The walker allocates nothing and never recurses (explicit stack).
    Walker and readers are built on the one msgpack reader, sluice_mp_next
    (include/sluice/mp.h, also a plugin's); the writers are msgpack-c's
    packer (sl_mp_pack.c).
*/
#ifndef SL_MP_H_INCLUDED
#define SL_MP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/mp.h"

//  Big-endian integers, as msgpack and the stored blob header write them.
static inline uint16_t
sl_be16 (const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t
sl_be32 (const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
sl_be64 (const uint8_t *p)
{
    return (uint64_t)sl_be32 (p) << 32 | sl_be32 (p + 4);
}

static inline void
sl_put_be16 (uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void
sl_put_be32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void
sl_put_be64 (uint8_t *p, uint64_t v)
{
    sl_put_be32 (p, (uint32_t)(v >> 32));
    sl_put_be32 (p + 4, (uint32_t)v);
}

#define SL_MP_MAX_DEPTH 512    //  default nesting bound for record values
#define SL_MP_DEPTH_LIMIT 1024 //  hard cap on any max_depth (the walker's fixed stack)

//  Walks exactly one msgpack object at data[0..len). On success stores its
//  encoded size in *used and returns 0. Errors: SL_ETRUNC (input ends inside
//  the object or a claimed length passes the end), SL_EDEPTH (nesting deeper
//  than max_depth), SL_EPROTO (reserved type byte 0xc1).
//  Depth counts containers: a scalar is depth 0, [1] and [] are depth 1,
//  [[1]] depth 2. max_depth above SL_MP_DEPTH_LIMIT is treated as the limit.
//  A count claiming more elements than bytes remain fails at once (each
//  element takes at least one byte), so work is O(len) whatever is claimed.
int sl_mp_skip (const uint8_t *data, size_t len, uint32_t max_depth, size_t *used);

//  Small readers for the hot path; each checks bounds and advances *p.
//  They return 0, SL_ETRUNC or SL_ETYPE, and leave *p alone on error.
//  An int outside the reader's range (a negative for read_uint, a uint above
//  INT64_MAX for read_int) is SL_ETYPE. read_array / read_map also fail with
//  SL_ETRUNC when the count claims more elements than bytes remain, so a
//  caller may size things from the count.
int sl_mp_read_array (const uint8_t **p, const uint8_t *end, uint32_t *count);
int sl_mp_read_map (const uint8_t **p, const uint8_t *end, uint32_t *count);
int sl_mp_read_int (const uint8_t **p, const uint8_t *end,
                    int64_t *value); //  any int fitting int64
int sl_mp_read_uint (const uint8_t **p, const uint8_t *end, uint64_t *value); //  non-negative ints
//  str or bin; *data points into the input.
int sl_mp_read_bytes (const uint8_t **p, const uint8_t *end, const uint8_t **data, uint32_t *size);
//  True (1) and advances when the next object is nil; 0 otherwise.
static inline int
sl_mp_read_nil (const uint8_t **p, const uint8_t *end)
{
    if (*p < end && **p == 0xc0) {
        (*p)++;
        return 1;
    }
    return 0;
}
//  Only str, only bin; *data points into the input.
int sl_mp_read_str (const uint8_t **p, const uint8_t *end, const uint8_t **data, uint32_t *size);
int sl_mp_read_bin (const uint8_t **p, const uint8_t *end, const uint8_t **data, uint32_t *size);
int sl_mp_read_bool (const uint8_t **p, const uint8_t *end, bool *value);

//  Writers into a caller buffer, through msgpack-c's packer (smallest
//  encodings): return bytes written (at most 9; a str/bin header at most 5),
//  or 0, writing nothing, if cap is too small.
size_t sl_mp_write_array (uint8_t *out, size_t cap, uint32_t count);
size_t sl_mp_write_map (uint8_t *out, size_t cap, uint32_t count);
size_t sl_mp_write_int (uint8_t *out, size_t cap, int64_t value);
size_t sl_mp_write_uint (uint8_t *out, size_t cap, uint64_t value);
size_t sl_mp_write_str_header (uint8_t *out, size_t cap, uint32_t size);
size_t sl_mp_write_bin_header (uint8_t *out, size_t cap, uint32_t size);
size_t sl_mp_write_nil (uint8_t *out, size_t cap);
size_t sl_mp_write_bool (uint8_t *out, size_t cap, bool value);
size_t sl_mp_write_double (uint8_t *out, size_t cap, double value); //  always float64

#endif
