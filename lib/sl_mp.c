/*  sl_mp.c - the bounded msgpack walker and the hot-path readers/writers.

    Pure byte code, no msgpack-c: this runs once per record on every path,
    and it is the gate in front of msgpack-c's unpacker, so it must neither
    allocate nor trust a claimed size. All multi-byte values are big-endian
    as the msgpack spec says.
*/
#include "sl_mp.h"

#include <string.h>

#include "sl_error.h"







//  Walks one object with an explicit stack of "elements left" per open
//  container, so hostile nesting costs no C stack. Every iteration consumes
//  at least one byte, and every claimed count or size is compared with the
//  bytes that remain before it is used, so the loop runs at most len times.
int
sl_mp_skip (const uint8_t *data, size_t len, uint32_t max_depth, size_t *used)
{
    uint64_t stack[SL_MP_DEPTH_LIMIT];
    if (max_depth > SL_MP_DEPTH_LIMIT) {
        max_depth = SL_MP_DEPTH_LIMIT;
    }
    uint32_t depth = 0;
    uint64_t left = 1;          //  objects still to walk at the current level
    size_t pos = 0;

    while (true) {
        while (left == 0) {
            if (depth == 0) {
                if (used) {
                    *used = pos;
                }
                return 0;
            }
            left = stack[--depth];
        }
        left--;
        if (pos >= len) {
            return SL_ETRUNC;
        }
        size_t rest = len - pos;        //  bytes from the type byte on
        uint8_t b = data[pos];
        size_t head = 1;                //  type byte plus length field
        uint64_t payload = 0;           //  bytes after the head (scalars)
        uint64_t count = 0;             //  elements (containers)
        bool container = false;

        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            //  fixint, nil, bool: one byte
        }
        else
        if (b <= 0x8f) {
            container = true;
            count = 2u * (b & 0x0f);
        }
        else
        if (b <= 0x9f) {
            container = true;
            count = b & 0x0f;
        }
        else
        if (b <= 0xbf) {
            payload = b & 0x1f;
        }
        else {
            switch (b) {
                case 0xc1:
                    return SL_EPROTO;
                case 0xc4: case 0xd9:   //  bin8, str8
                    head = 2;
                    break;
                case 0xc5: case 0xda:   //  bin16, str16
                    head = 3;
                    break;
                case 0xc6: case 0xdb:   //  bin32, str32
                    head = 5;
                    break;
                case 0xc7:              //  ext8: size, type
                    head = 3;
                    break;
                case 0xc8:
                    head = 4;
                    break;
                case 0xc9:
                    head = 6;
                    break;
                case 0xca: case 0xce: case 0xd2:
                    payload = 4;
                    break;
                case 0xcb: case 0xcf: case 0xd3:
                    payload = 8;
                    break;
                case 0xcc: case 0xd0:
                    payload = 1;
                    break;
                case 0xcd: case 0xd1:
                    payload = 2;
                    break;
                case 0xd4:              //  fixext 1, 2, 4, 8, 16: type byte + data
                    payload = 2;
                    break;
                case 0xd5:
                    payload = 3;
                    break;
                case 0xd6:
                    payload = 5;
                    break;
                case 0xd7:
                    payload = 9;
                    break;
                case 0xd8:
                    payload = 17;
                    break;
                case 0xdc: case 0xde:
                    head = 3;
                    container = true;
                    break;
                case 0xdd: case 0xdf:
                    head = 5;
                    container = true;
                    break;
                default:
                    return SL_EPROTO;   //  unreachable: every byte is covered above
            }
            if (head > rest) {
                return SL_ETRUNC;
            }
            const uint8_t *h = data + pos + 1;
            switch (b) {
                case 0xc4: case 0xd9: case 0xc7:
                    payload = h[0];
                    break;
                case 0xc5: case 0xda: case 0xc8:
                    payload = sl_be16 (h);
                    break;
                case 0xc6: case 0xdb: case 0xc9:
                    payload = sl_be32 (h);
                    break;
                case 0xdc:
                    count = sl_be16 (h);
                    break;
                case 0xde:
                    count = 2u * (uint64_t) sl_be16 (h);
                    break;
                case 0xdd:
                    count = sl_be32 (h);
                    break;
                case 0xdf:
                    count = 2u * (uint64_t) sl_be32 (h);
                    break;
                default:
                    break;
            }
        }
        if (container) {
            //  Each element takes at least one byte: a count above what is
            //  left is a lie, found before any element is walked.
            if (count > rest - head) {
                return SL_ETRUNC;
            }
            if (depth >= max_depth) {
                return SL_EDEPTH;
            }
            stack[depth++] = left;
            left = count;
            pos += head;
        }
        else {
            if (head > rest || payload > rest - head) {
                return SL_ETRUNC;
            }
            pos += head + (size_t) payload;
        }
    }
}

//  Reads a container header of either kind; fix_base is 0x90 or 0x80.
static int
s_read_container (const uint8_t **p, const uint8_t *end, uint32_t *count, uint8_t fix_base,
                  uint8_t b16, uint8_t b32, unsigned per_element)
{
    const uint8_t *q = *p;
    if (q >= end) {
        return SL_ETRUNC;
    }
    size_t rest = (size_t) (end - q);
    uint8_t b = q[0];
    uint32_t n;
    size_t head;
    if ((b & 0xf0) == fix_base) {
        n = b & 0x0f;
        head = 1;
    }
    else
    if (b == b16) {
        if (rest < 3) {
            return SL_ETRUNC;
        }
        n = sl_be16 (q + 1);
        head = 3;
    }
    else
    if (b == b32) {
        if (rest < 5) {
            return SL_ETRUNC;
        }
        n = sl_be32 (q + 1);
        head = 5;
    }
    else {
        return SL_ETYPE;
    }
    if ((uint64_t) n * per_element > rest - head) {
        return SL_ETRUNC;
    }
    *count = n;
    *p = q + head;
    return 0;
}

int
sl_mp_read_array (const uint8_t **p, const uint8_t *end, uint32_t *count)
{
    return s_read_container (p, end, count, 0x90, 0xdc, 0xdd, 1);
}

int
sl_mp_read_map (const uint8_t **p, const uint8_t *end, uint32_t *count)
{
    return s_read_container (p, end, count, 0x80, 0xde, 0xdf, 2);
}

//  Decodes any msgpack int into sign and magnitude, so that both readers
//  accept every encoding of a value (a uint field sent as int8 is legal).
static int
s_read_integer (const uint8_t **p, const uint8_t *end, bool *negative, uint64_t *magnitude,
                int64_t *signed_value)
{
    const uint8_t *q = *p;
    if (q >= end) {
        return SL_ETRUNC;
    }
    size_t rest = (size_t) (end - q);
    uint8_t b = q[0];
    size_t need;
    int64_t s = 0;
    uint64_t u = 0;
    bool is_signed = false;
    if (b <= 0x7f) {
        u = b;
        need = 1;
    }
    else
    if (b >= 0xe0) {
        s = (int8_t) b;
        is_signed = true;
        need = 1;
    }
    else {
        switch (b) {
            case 0xcc: need = 2; break;
            case 0xcd: need = 3; break;
            case 0xce: need = 5; break;
            case 0xcf: need = 9; break;
            case 0xd0: need = 2; break;
            case 0xd1: need = 3; break;
            case 0xd2: need = 5; break;
            case 0xd3: need = 9; break;
            default: return SL_ETYPE;
        }
        if (rest < need) {
            return SL_ETRUNC;
        }
        switch (b) {
            case 0xcc: u = q[1]; break;
            case 0xcd: u = sl_be16 (q + 1); break;
            case 0xce: u = sl_be32 (q + 1); break;
            case 0xcf: u = sl_be64 (q + 1); break;
            case 0xd0: s = (int8_t) q[1]; is_signed = true; break;
            case 0xd1: s = (int16_t) sl_be16 (q + 1); is_signed = true; break;
            case 0xd2: s = (int32_t) sl_be32 (q + 1); is_signed = true; break;
            default: s = (int64_t) sl_be64 (q + 1); is_signed = true; break;
        }
    }
    if (is_signed) {
        *negative = s < 0;
        *magnitude = s < 0 ? (uint64_t) 0 - (uint64_t) s : (uint64_t) s;
        *signed_value = s;
    }
    else {
        *negative = false;
        *magnitude = u;
        *signed_value = (int64_t) u;    //  only meaningful when u <= INT64_MAX
    }
    *p = q + need;
    return 0;
}

int
sl_mp_read_int (const uint8_t **p, const uint8_t *end, int64_t *value)
{
    const uint8_t *q = *p;
    bool negative;
    uint64_t magnitude;
    int64_t s;
    int rc = s_read_integer (&q, end, &negative, &magnitude, &s);
    if (rc) {
        return rc;
    }
    if (!negative && magnitude > (uint64_t) INT64_MAX) {
        return SL_ETYPE;
    }
    *value = s;
    *p = q;
    return 0;
}

int
sl_mp_read_uint (const uint8_t **p, const uint8_t *end, uint64_t *value)
{
    const uint8_t *q = *p;
    bool negative;
    uint64_t magnitude;
    int64_t s;
    int rc = s_read_integer (&q, end, &negative, &magnitude, &s);
    if (rc) {
        return rc;
    }
    if (negative) {
        return SL_ETYPE;
    }
    *value = magnitude;
    *p = q;
    return 0;
}

//  Reads a str (want & 1) and/or bin (want & 2) header and payload.
static int
s_read_raw (const uint8_t **p, const uint8_t *end, const uint8_t **data, uint32_t *size,
            int want)
{
    const uint8_t *q = *p;
    if (q >= end) {
        return SL_ETRUNC;
    }
    size_t rest = (size_t) (end - q);
    uint8_t b = q[0];
    size_t head;
    uint32_t n;
    bool is_str;
    if ((b & 0xe0) == 0xa0) {
        is_str = true;
        head = 1;
        n = b & 0x1f;
    }
    else {
        switch (b) {
            case 0xd9: case 0xc4: head = 2; break;
            case 0xda: case 0xc5: head = 3; break;
            case 0xdb: case 0xc6: head = 5; break;
            default: return SL_ETYPE;
        }
        is_str = b >= 0xd9;
        if (rest < head) {
            return SL_ETRUNC;
        }
        n = head == 2 ? q[1] : head == 3 ? sl_be16 (q + 1) : sl_be32 (q + 1);
    }
    if (!(want & (is_str ? 1 : 2))) {
        return SL_ETYPE;
    }
    if (n > rest - head) {
        return SL_ETRUNC;
    }
    *data = q + head;
    *size = n;
    *p = q + head + n;
    return 0;
}

int
sl_mp_read_bytes (const uint8_t **p, const uint8_t *end, const uint8_t **data, uint32_t *size)
{
    return s_read_raw (p, end, data, size, 3);
}

int
sl_mp_read_str (const uint8_t **p, const uint8_t *end, const uint8_t **data, uint32_t *size)
{
    return s_read_raw (p, end, data, size, 1);
}

int
sl_mp_read_bin (const uint8_t **p, const uint8_t *end, const uint8_t **data, uint32_t *size)
{
    return s_read_raw (p, end, data, size, 2);
}

int
sl_mp_read_bool (const uint8_t **p, const uint8_t *end, bool *value)
{
    if (*p >= end) {
        return SL_ETRUNC;
    }
    if (**p != 0xc2 && **p != 0xc3) {
        return SL_ETYPE;
    }
    *value = **p == 0xc3;
    (*p)++;
    return 0;
}

//  Writes a header of 1, 3 or 5 bytes: a fix form when n fits under
//  fix_max, else the 16- or 32-bit form (or an 8-bit one when b8 is set).
static size_t
s_write_head (uint8_t *out, size_t cap, uint32_t n, uint8_t fix_base, uint32_t fix_max,
              uint8_t b8, uint8_t b16, uint8_t b32)
{
    if (fix_max && n <= fix_max) {
        if (cap < 1) {
            return 0;
        }
        out[0] = (uint8_t) (fix_base | n);
        return 1;
    }
    if (b8 && n <= 0xff) {
        if (cap < 2) {
            return 0;
        }
        out[0] = b8;
        out[1] = (uint8_t) n;
        return 2;
    }
    if (n <= 0xffff) {
        if (cap < 3) {
            return 0;
        }
        out[0] = b16;
        sl_put_be16 (out + 1, (uint16_t) n);
        return 3;
    }
    if (cap < 5) {
        return 0;
    }
    out[0] = b32;
    sl_put_be32 (out + 1, n);
    return 5;
}

size_t
sl_mp_write_array (uint8_t *out, size_t cap, uint32_t count)
{
    return s_write_head (out, cap, count, 0x90, 15, 0, 0xdc, 0xdd);
}

size_t
sl_mp_write_map (uint8_t *out, size_t cap, uint32_t count)
{
    return s_write_head (out, cap, count, 0x80, 15, 0, 0xde, 0xdf);
}

size_t
sl_mp_write_str_header (uint8_t *out, size_t cap, uint32_t size)
{
    return s_write_head (out, cap, size, 0xa0, 31, 0xd9, 0xda, 0xdb);
}

size_t
sl_mp_write_bin_header (uint8_t *out, size_t cap, uint32_t size)
{
    return s_write_head (out, cap, size, 0, 0, 0xc4, 0xc5, 0xc6);
}

size_t
sl_mp_write_uint (uint8_t *out, size_t cap, uint64_t value)
{
    if (value <= 0x7f) {
        if (cap < 1) {
            return 0;
        }
        out[0] = (uint8_t) value;
        return 1;
    }
    if (value <= 0xff) {
        if (cap < 2) {
            return 0;
        }
        out[0] = 0xcc;
        out[1] = (uint8_t) value;
        return 2;
    }
    if (value <= 0xffff) {
        if (cap < 3) {
            return 0;
        }
        out[0] = 0xcd;
        sl_put_be16 (out + 1, (uint16_t) value);
        return 3;
    }
    if (value <= 0xffffffffu) {
        if (cap < 5) {
            return 0;
        }
        out[0] = 0xce;
        sl_put_be32 (out + 1, (uint32_t) value);
        return 5;
    }
    if (cap < 9) {
        return 0;
    }
    out[0] = 0xcf;
    sl_put_be64 (out + 1, value);
    return 9;
}

size_t
sl_mp_write_int (uint8_t *out, size_t cap, int64_t value)
{
    if (value >= 0) {
        return sl_mp_write_uint (out, cap, (uint64_t) value);
    }
    if (value >= -32) {
        if (cap < 1) {
            return 0;
        }
        out[0] = (uint8_t) (int8_t) value;
        return 1;
    }
    if (value >= INT8_MIN) {
        if (cap < 2) {
            return 0;
        }
        out[0] = 0xd0;
        out[1] = (uint8_t) (int8_t) value;
        return 2;
    }
    if (value >= INT16_MIN) {
        if (cap < 3) {
            return 0;
        }
        out[0] = 0xd1;
        sl_put_be16 (out + 1, (uint16_t) (int16_t) value);
        return 3;
    }
    if (value >= INT32_MIN) {
        if (cap < 5) {
            return 0;
        }
        out[0] = 0xd2;
        sl_put_be32 (out + 1, (uint32_t) (int32_t) value);
        return 5;
    }
    if (cap < 9) {
        return 0;
    }
    out[0] = 0xd3;
    sl_put_be64 (out + 1, (uint64_t) value);
    return 9;
}

size_t
sl_mp_write_nil (uint8_t *out, size_t cap)
{
    if (cap < 1) {
        return 0;
    }
    out[0] = 0xc0;
    return 1;
}

size_t
sl_mp_write_bool (uint8_t *out, size_t cap, bool value)
{
    if (cap < 1) {
        return 0;
    }
    out[0] = value ? 0xc3 : 0xc2;
    return 1;
}

size_t
sl_mp_write_double (uint8_t *out, size_t cap, double value)
{
    if (cap < 9) {
        return 0;
    }
    uint64_t bits;
    memcpy (&bits, &value, sizeof bits);
    out[0] = 0xcb;
    sl_put_be64 (out + 1, bits);
    return 9;
}
