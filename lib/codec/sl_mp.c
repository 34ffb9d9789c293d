/*  sl_mp.c - the bounded msgpack walker and the hot-path readers, over
    the one msgpack reader (include/sluice/mp.h's sluice_mp_next).

    No msgpack-c here: this runs once per record on every path, and it is
    the gate in front of msgpack-c's unpacker, so it must neither allocate
    nor trust a claimed size (msgpack-c 4.0's unpacker reserves memory from
    the sizes an input claims). Writing is msgpack-c's packer (sl_mp_pack.c).
*/
#include "sl_mp.h"

#include <string.h>

#include "sl_error.h"

_Static_assert(SLUICE_MP_ETRUNC == SL_ETRUNC && SLUICE_MP_EPROTO == SL_EPROTO &&
                   SLUICE_MP_EDEPTH == SL_EDEPTH,
               "sluice/mp.h's codes are Sluice's");
_Static_assert(SLUICE_MP_DEPTH_LIMIT == SL_MP_DEPTH_LIMIT, "one depth cap");

int
sl_mp_skip (const uint8_t *data, size_t len, uint32_t max_depth, size_t *used)
{
    return sluice_mp_skip (data, len, max_depth, used);
}

//  Reads one object that must be of type want (or also2, when not NONE).
//  A wrong type byte is SL_ETYPE even when the object is also truncated,
//  and 0xc1 is a wrong type, as a reader asking for one type sees it; on
//  any error *p stays where it was.
static int
s_read (const uint8_t **p, const uint8_t *end, sluice_mp_obj_t *o, sluice_mp_type_t want,
        sluice_mp_type_t also)
{
    const uint8_t *q = *p;
    int rc = sluice_mp_next (&q, end, o);
    if (rc == SL_ETRUNC && o->type == SLUICE_MP_NONE) {
        return SL_ETRUNC;
    }
    if (o->type != want && (also == SLUICE_MP_NONE || o->type != also)) {
        return SL_ETYPE;
    }
    if (rc) {
        return rc;
    }
    *p = q;
    return 0;
}

int
sl_mp_read_array (const uint8_t **p, const uint8_t *end, uint32_t *count)
{
    sluice_mp_obj_t o;
    int rc = s_read (p, end, &o, SLUICE_MP_ARRAY, SLUICE_MP_NONE);
    if (rc == 0) {
        *count = o.count;
    }
    return rc;
}

int
sl_mp_read_map (const uint8_t **p, const uint8_t *end, uint32_t *count)
{
    sluice_mp_obj_t o;
    int rc = s_read (p, end, &o, SLUICE_MP_MAP, SLUICE_MP_NONE);
    if (rc == 0) {
        *count = o.count;
    }
    return rc;
}

int
sl_mp_read_int (const uint8_t **p, const uint8_t *end, int64_t *value)
{
    const uint8_t *q = *p;
    sluice_mp_obj_t o;
    int rc = s_read (&q, end, &o, SLUICE_MP_INT, SLUICE_MP_UINT);
    if (rc) {
        return rc;
    }
    if (o.type == SLUICE_MP_UINT && o.v.u > (uint64_t)INT64_MAX) {
        return SL_ETYPE;
    }
    *value = o.type == SLUICE_MP_UINT ? (int64_t)o.v.u : o.v.i;
    *p = q;
    return 0;
}

int
sl_mp_read_uint (const uint8_t **p, const uint8_t *end, uint64_t *value)
{
    const uint8_t *q = *p;
    sluice_mp_obj_t o;
    int rc = s_read (&q, end, &o, SLUICE_MP_INT, SLUICE_MP_UINT);
    if (rc) {
        return rc;
    }
    if (o.type == SLUICE_MP_INT && o.v.i < 0) {
        return SL_ETYPE;
    }
    *value = o.type == SLUICE_MP_UINT ? o.v.u : (uint64_t)o.v.i;
    *p = q;
    return 0;
}

static int
s_read_raw (const uint8_t **p, const uint8_t *end, const uint8_t **data, uint32_t *size,
            sluice_mp_type_t want, sluice_mp_type_t also)
{
    sluice_mp_obj_t o;
    int rc = s_read (p, end, &o, want, also);
    if (rc == 0) {
        *data = o.data;
        *size = o.size;
    }
    return rc;
}

int
sl_mp_read_bytes (const uint8_t **p, const uint8_t *end, const uint8_t **data, uint32_t *size)
{
    return s_read_raw (p, end, data, size, SLUICE_MP_STR, SLUICE_MP_BIN);
}

int
sl_mp_read_str (const uint8_t **p, const uint8_t *end, const uint8_t **data, uint32_t *size)
{
    return s_read_raw (p, end, data, size, SLUICE_MP_STR, SLUICE_MP_NONE);
}

int
sl_mp_read_bin (const uint8_t **p, const uint8_t *end, const uint8_t **data, uint32_t *size)
{
    return s_read_raw (p, end, data, size, SLUICE_MP_BIN, SLUICE_MP_NONE);
}

int
sl_mp_read_bool (const uint8_t **p, const uint8_t *end, bool *value)
{
    sluice_mp_obj_t o;
    int rc = s_read (p, end, &o, SLUICE_MP_BOOL, SLUICE_MP_NONE);
    if (rc == 0) {
        *value = o.v.b;
    }
    return rc;
}
