/*  sluice/mp.h - the one msgpack reader: a bounded, allocation-free walk
    over msgpack bytes that no length or count in them can lead astray.

    Header-only, so that an operator plugin needs no library to read the
    records it is given (sluice/plugin.h includes it); libsluice's codec
    (lib/codec/sl_mp.c), the JSON writer, the Lua bridge and the plugins all read
    msgpack through sluice_mp_next, so the type-byte table lives here once.

    msgpack-c's unpacker reserves memory from the sizes an input claims
    (five bytes can ask for gigabytes), so bytes from the network or the
    disk go through sluice_mp_skip first; writing is msgpack-c's packer
    (lib/codec/sl_mp_pack.c).

    Error codes are Sluice's (docs/PROTOCOL.md section 9, negated).
*/
#ifndef SLUICE_MP_H_INCLUDED
#define SLUICE_MP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_MP_EPROTO (-3) //  the reserved type byte 0xc1
#define SLUICE_MP_EDEPTH (-7) //  nested deeper than allowed
#define SLUICE_MP_ETRUNC (-8) //  the input ends inside the object, or a length/count lies

#define SLUICE_MP_DEPTH_LIMIT 1024 //  hard cap on any walk's nesting (its fixed stack)

typedef enum {
    SLUICE_MP_NONE = 0, //  nothing read: empty input or the reserved byte 0xc1
    SLUICE_MP_NIL,
    SLUICE_MP_BOOL,  //  v.b
    SLUICE_MP_UINT,  //  v.u: a positive fixint or uint 8..64
    SLUICE_MP_INT,   //  v.i: a negative fixint or int 8..64 (which may hold >= 0)
    SLUICE_MP_FLOAT, //  v.f; size is 4 (float32) or 8 (float64)
    SLUICE_MP_STR,   //  data, size
    SLUICE_MP_BIN,   //  data, size
    SLUICE_MP_EXT,   //  ext, data, size
    SLUICE_MP_ARRAY, //  count elements follow
    SLUICE_MP_MAP,   //  count pairs (2 * count objects) follow
} sluice_mp_type_t;

//  One object's head as sluice_mp_next read it: only the fields its type
//  names (below) are set. data points into the input and lives as long as
//  the input does.
typedef struct {
    sluice_mp_type_t type;
    uint32_t count;      //  ARRAY: elements; MAP: pairs
    uint32_t size;       //  STR, BIN, EXT: payload bytes; FLOAT: 4 or 8
    int8_t ext;          //  EXT: its type
    const uint8_t *data; //  STR, BIN, EXT: the payload
    union {
        bool b;
        uint64_t u;
        int64_t i;
        double f;
    } v;
} sluice_mp_obj_t;

//  A big-endian integer of n (1, 2, 4 or 8) bytes.
static inline uint64_t
sluice_mp_be (const uint8_t *p, unsigned n)
{
    switch (n) {
    case 1:
        return p[0];
    case 2:
        return (uint64_t)p[0] << 8 | p[1];
    case 4:
        return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
    default:
        return sluice_mp_be (p, 4) << 32 | sluice_mp_be (p + 4, 4);
    }
}

//  Reads the object at *p: a scalar, str, bin or ext whole, an array or map
//  by its header only (its elements follow). On success fills *o, advances
//  *p and returns 0. SLUICE_MP_ETRUNC when the input ends inside what was
//  read or a length passes the end, or when a container's count claims
//  more elements than bytes remain (each takes at least one), so a caller
//  may size things from a count; SLUICE_MP_EPROTO for the byte 0xc1. On
//  error *p is unchanged and o->type still says what the type byte was
//  (SLUICE_MP_NONE for empty input and 0xc1), so a reader wanting another
//  type can say "wrong type" before "truncated".
static inline int
sluice_mp_next (const uint8_t **p, const uint8_t *end, sluice_mp_obj_t *o)
{
    const uint8_t *q = *p;
    o->type = SLUICE_MP_NONE;
    if (q >= end) {
        return SLUICE_MP_ETRUNC;
    }
    size_t rest = (size_t)(end - q);
    uint8_t b = q[0];
    //  The one-byte heads first: they are most of what records hold.
    if (b <= 0x7f) {
        o->type = SLUICE_MP_UINT;
        o->v.u = b;
        *p = q + 1;
        return 0;
    }
    if (b >= 0xe0) {
        o->type = SLUICE_MP_INT;
        o->v.i = (int8_t)b;
        *p = q + 1;
        return 0;
    }
    if (b >= 0xa0 && b <= 0xbf) {
        o->type = SLUICE_MP_STR;
        o->size = b & 0x1f;
        if (o->size > rest - 1) {
            return SLUICE_MP_ETRUNC;
        }
        o->data = q + 1;
        *p = q + 1 + o->size;
        return 0;
    }
    if (b <= 0x9f) {
        o->type = b <= 0x8f ? SLUICE_MP_MAP : SLUICE_MP_ARRAY;
        o->count = b & 0x0f;
        if ((size_t)o->count * (b <= 0x8f ? 2 : 1) > rest - 1) {
            return SLUICE_MP_ETRUNC;
        }
        *p = q + 1;
        return 0;
    }
    o->count = 0;
    o->size = 0;
    o->ext = 0;
    o->data = NULL;
    o->v.u = 0;
    unsigned lenw = 0;  //  width of a length or count field after the type byte
    unsigned fixed = 0; //  payload bytes of a fixed-size scalar
    switch (b) {        //  0xc0..0xdf
    case 0xc0:
        o->type = SLUICE_MP_NIL;
        break;
    case 0xc1:
        return SLUICE_MP_EPROTO;
    case 0xc2:
    case 0xc3:
        o->type = SLUICE_MP_BOOL;
        o->v.b = b == 0xc3;
        break;
    case 0xc4:
        o->type = SLUICE_MP_BIN;
        lenw = 1;
        break;
    case 0xc5:
        o->type = SLUICE_MP_BIN;
        lenw = 2;
        break;
    case 0xc6:
        o->type = SLUICE_MP_BIN;
        lenw = 4;
        break;
    case 0xc7:
        o->type = SLUICE_MP_EXT;
        lenw = 1;
        break;
    case 0xc8:
        o->type = SLUICE_MP_EXT;
        lenw = 2;
        break;
    case 0xc9:
        o->type = SLUICE_MP_EXT;
        lenw = 4;
        break;
    case 0xca:
        o->type = SLUICE_MP_FLOAT;
        fixed = 4;
        break;
    case 0xcb:
        o->type = SLUICE_MP_FLOAT;
        fixed = 8;
        break;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        o->type = SLUICE_MP_UINT;
        fixed = 1u << (b - 0xcc);
        break;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
        o->type = SLUICE_MP_INT;
        fixed = 1u << (b - 0xd0);
        break;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        o->type = SLUICE_MP_EXT;
        o->size = 1u << (b - 0xd4);
        break;
    case 0xd9:
        o->type = SLUICE_MP_STR;
        lenw = 1;
        break;
    case 0xda:
        o->type = SLUICE_MP_STR;
        lenw = 2;
        break;
    case 0xdb:
        o->type = SLUICE_MP_STR;
        lenw = 4;
        break;
    case 0xdc:
        o->type = SLUICE_MP_ARRAY;
        lenw = 2;
        break;
    case 0xdd:
        o->type = SLUICE_MP_ARRAY;
        lenw = 4;
        break;
    case 0xde:
        o->type = SLUICE_MP_MAP;
        lenw = 2;
        break;
    default:
        o->type = SLUICE_MP_MAP;
        lenw = 4;
        break; //  0xdf
    }
    size_t head = 1 + lenw;
    if (head > rest) {
        return SLUICE_MP_ETRUNC;
    }
    if (lenw) {
        uint32_t n = (uint32_t)sluice_mp_be (q + 1, lenw);
        if (o->type == SLUICE_MP_ARRAY || o->type == SLUICE_MP_MAP) {
            o->count = n;
        }
        else {
            o->size = n;
        }
    }
    switch (o->type) {
    case SLUICE_MP_ARRAY:
    case SLUICE_MP_MAP:
        //  Each element takes at least one byte: a count above what is
        //  left is a lie, found before any element is read.
        if ((uint64_t)o->count * (o->type == SLUICE_MP_MAP ? 2 : 1) > rest - head) {
            return SLUICE_MP_ETRUNC;
        }
        *p = q + head;
        return 0;
    case SLUICE_MP_EXT:
    case SLUICE_MP_STR:
    case SLUICE_MP_BIN:
        if (o->type == SLUICE_MP_EXT) {
            //  The ext's type byte comes between its length and its data.
            if (head + 1 > rest) {
                return SLUICE_MP_ETRUNC;
            }
            o->ext = (int8_t)q[head];
            head++;
        }
        if (o->size > rest - head) {
            return SLUICE_MP_ETRUNC;
        }
        o->data = q + head;
        *p = q + head + o->size;
        return 0;
    default:
        break;
    }
    if (fixed) {
        if (fixed > rest - 1) {
            return SLUICE_MP_ETRUNC;
        }
        uint64_t bits = sluice_mp_be (q + 1, fixed);
        if (o->type == SLUICE_MP_UINT) {
            o->v.u = bits;
        }
        else if (o->type == SLUICE_MP_INT) {
            o->v.i = fixed == 1   ? (int8_t)bits
                     : fixed == 2 ? (int16_t)bits
                     : fixed == 4 ? (int32_t)bits
                                  : (int64_t)bits;
        }
        else if (fixed == 4) {
            uint32_t bits32 = (uint32_t)bits;
            float f;
            memcpy (&f, &bits32, sizeof f);
            o->v.f = f;
            o->size = 4;
        }
        else {
            memcpy (&o->v.f, &bits, sizeof o->v.f);
            o->size = 8;
        }
    }
    *p = q + 1 + fixed;
    return 0;
}

//  Walks exactly one whole object at data[0..len), containers included,
//  with an explicit stack (hostile nesting costs no C stack) and no
//  allocation; every iteration consumes at least one byte, so the work is
//  O(len) whatever the input claims. On success stores its encoded size in
//  *used (when not NULL) and returns 0; SLUICE_MP_ETRUNC, SLUICE_MP_EPROTO,
//  or SLUICE_MP_EDEPTH when containers nest deeper than max_depth (a scalar
//  is depth 0, [1] depth 1; above SLUICE_MP_DEPTH_LIMIT means the limit).
static inline int
sluice_mp_skip (const uint8_t *data, size_t len, uint32_t max_depth, size_t *used)
{
    uint64_t stack[SLUICE_MP_DEPTH_LIMIT];
    if (max_depth > SLUICE_MP_DEPTH_LIMIT) {
        max_depth = SLUICE_MP_DEPTH_LIMIT;
    }
    const uint8_t *p = data;
    const uint8_t *end = data + len;
    uint32_t depth = 0;
    uint64_t left = 1; //  objects still to walk at the current level
    while (true) {
        while (left == 0) {
            if (depth == 0) {
                if (used) {
                    *used = (size_t)(p - data);
                }
                return 0;
            }
            left = stack[--depth];
        }
        left--;
        sluice_mp_obj_t o;
        int rc = sluice_mp_next (&p, end, &o);
        if (rc) {
            return rc;
        }
        if (o.type == SLUICE_MP_ARRAY || o.type == SLUICE_MP_MAP) {
            if (depth >= max_depth) {
                return SLUICE_MP_EDEPTH;
            }
            stack[depth++] = left;
            left = o.type == SLUICE_MP_MAP ? 2 * (uint64_t)o.count : o.count;
        }
    }
}

//  In the map map[0..len), finds the value whose key is the str
//  key[0..key_len): the first such member, or with last the last one (as a
//  Lua table or a JSON parser keeps a repeated key). Keys that are not str
//  never match. Returns 1 and points *value and *value_len at it; 0 when
//  the object is not a map or has no such key; a negative SLUICE_MP_E* code
//  when the bytes are malformed (every length is checked against len).
static inline int
sluice_mp_map_find (const uint8_t *map, size_t len, const char *key, size_t key_len, bool last,
                    const uint8_t **value, size_t *value_len)
{
    const uint8_t *p = map;
    const uint8_t *end = map + len;
    sluice_mp_obj_t o;
    int rc = sluice_mp_next (&p, end, &o);
    if (rc) {
        return rc;
    }
    if (o.type != SLUICE_MP_MAP) {
        return 0;
    }
    int found = 0;
    for (uint32_t i = 0; i < o.count; i++) {
        //  A str key is read whole; any other key is walked over.
        sluice_mp_obj_t k = {SLUICE_MP_NONE, 0, 0, 0, NULL, {0}};
        const uint8_t *at = p;
        size_t size = 0;
        rc = sluice_mp_next (&at, end, &k);
        if (rc == 0 && k.type != SLUICE_MP_STR) {
            rc = sluice_mp_skip (p, (size_t)(end - p), SLUICE_MP_DEPTH_LIMIT, &size);
            at = p + size;
        }
        if (rc) {
            return rc;
        }
        bool match =
            k.type == SLUICE_MP_STR && k.size == key_len && memcmp (k.data, key, key_len) == 0;
        p = at;
        rc = sluice_mp_skip (p, (size_t)(end - p), SLUICE_MP_DEPTH_LIMIT, &size);
        if (rc) {
            return rc;
        }
        if (match) {
            *value = p;
            *value_len = size;
            found = 1;
            if (!last) {
                break;
            }
        }
        p += size;
    }
    return found;
}

#ifdef __cplusplus
}
#endif

#endif
