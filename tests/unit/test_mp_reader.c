/*  test_mp_reader.c - the one msgpack reader, include/sluice/mp.h, alone:
    built with nothing but the header (no libsluice), as a plugin is.
    msgpack-c's unpacker is the reference for what each object means.
*/
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/mp.h"

//  One object of every type and every width of length, packed by msgpack-c.
static void
s_pack_all (msgpack_packer *pk)
{
    static char big[70000];
    memset (big, 'x', sizeof big);
    msgpack_pack_nil (pk);
    msgpack_pack_true (pk);
    msgpack_pack_false (pk);
    const uint64_t uints[] = {0,     127,   128,         255,         256,
                              65535, 65536, 4294967295u, 4294967296u, UINT64_MAX};
    for (size_t i = 0; i < sizeof uints / sizeof uints[0]; i++) {
        msgpack_pack_uint64 (pk, uints[i]);
    }
    const int64_t ints[] = {
        -1, -32, -33, -128, -129, -32768, -32769, INT32_MIN, (int64_t)INT32_MIN - 1, INT64_MIN};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        msgpack_pack_int64 (pk, ints[i]);
    }
    msgpack_pack_float (pk, 1.5f);
    msgpack_pack_double (pk, -2.25);
    const size_t sizes[] = {0, 31, 32, 255, 256, 65535, 65536};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        msgpack_pack_str_with_body (pk, big, sizes[i]);
        msgpack_pack_bin_with_body (pk, big, sizes[i]);
        msgpack_pack_ext_with_body (pk, big, sizes[i], (int8_t)(i - 3));
    }
    const size_t fixed[] = {1, 2, 4, 8, 16};
    for (size_t i = 0; i < 5; i++) {
        msgpack_pack_ext_with_body (pk, big, fixed[i], 5);
    }
    const uint32_t counts[] = {0, 15, 16, 65535, 65536};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        msgpack_pack_array (pk, counts[i]);
        for (uint32_t j = 0; j < counts[i]; j++) {
            msgpack_pack_nil (pk);
        }
        msgpack_pack_map (pk, counts[i]);
        for (uint32_t j = 0; j < 2 * counts[i]; j++) {
            msgpack_pack_nil (pk);
        }
    }
}

//  Checks one head read by sluice_mp_next against msgpack-c's object.
static void
s_agree (const sluice_mp_obj_t *o, const msgpack_object *m)
{
    switch (m->type) {
    case MSGPACK_OBJECT_NIL:
        cr_assert_eq (o->type, SLUICE_MP_NIL);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        cr_assert_eq (o->type, SLUICE_MP_BOOL);
        cr_assert_eq (o->v.b, m->via.boolean);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        cr_assert_eq (o->type, SLUICE_MP_UINT);
        cr_assert_eq (o->v.u, m->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        cr_assert_eq (o->type, SLUICE_MP_INT);
        cr_assert_eq (o->v.i, m->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
        cr_assert_eq (o->type, SLUICE_MP_FLOAT);
        cr_assert_eq (o->size, 4);
        cr_assert_eq (o->v.f, m->via.f64);
        break;
    case MSGPACK_OBJECT_FLOAT64:
        cr_assert_eq (o->type, SLUICE_MP_FLOAT);
        cr_assert_eq (o->size, 8);
        cr_assert_eq (o->v.f, m->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        cr_assert_eq (o->type, SLUICE_MP_STR);
        cr_assert_eq (o->size, m->via.str.size);
        cr_assert (o->size == 0 || memcmp (o->data, m->via.str.ptr, o->size) == 0);
        break;
    case MSGPACK_OBJECT_BIN:
        cr_assert_eq (o->type, SLUICE_MP_BIN);
        cr_assert_eq (o->size, m->via.bin.size);
        cr_assert (o->size == 0 || memcmp (o->data, m->via.bin.ptr, o->size) == 0);
        break;
    case MSGPACK_OBJECT_EXT:
        cr_assert_eq (o->type, SLUICE_MP_EXT);
        cr_assert_eq (o->ext, m->via.ext.type);
        cr_assert_eq (o->size, m->via.ext.size);
        cr_assert (o->size == 0 || memcmp (o->data, m->via.ext.ptr, o->size) == 0);
        break;
    case MSGPACK_OBJECT_ARRAY:
        cr_assert_eq (o->type, SLUICE_MP_ARRAY);
        cr_assert_eq (o->count, m->via.array.size);
        break;
    case MSGPACK_OBJECT_MAP:
        cr_assert_eq (o->type, SLUICE_MP_MAP);
        cr_assert_eq (o->count, m->via.map.size);
        break;
    }
}

//  Every object, read by the walk and by msgpack-c, means the same; every
//  proper prefix of a scalar, str, bin, ext or container head is reported
//  truncated, with the input position unchanged and the type still named.
Test (mp_reader, every_type_agrees_with_msgpack_c_and_every_prefix_is_truncated)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    s_pack_all (&pk);
    const uint8_t *data = (const uint8_t *)sbuf.data;
    const uint8_t *end = data + sbuf.size;
    size_t off = 0;
    int objects = 0;
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    while (off < sbuf.size) {
        size_t before = off;
        cr_assert_eq (msgpack_unpack_next (&result, sbuf.data, sbuf.size, &off),
                      MSGPACK_UNPACK_SUCCESS);
        const uint8_t *p = data + before;
        size_t used = 0;
        cr_assert_eq (sluice_mp_skip (p, (size_t)(end - p), SLUICE_MP_DEPTH_LIMIT, &used), 0);
        cr_assert_eq (used, off - before, "object %d: walk %zu, msgpack-c %zu", objects, used,
                      off - before);
        sluice_mp_obj_t o;
        cr_assert_eq (sluice_mp_next (&p, end, &o), 0);
        s_agree (&o, &result.data);
        size_t head = (size_t)(p - (data + before));
        if (o.type == SLUICE_MP_ARRAY || o.type == SLUICE_MP_MAP) {
            cr_assert_eq (used, head + (o.type == SLUICE_MP_MAP ? 2 : 1) * (size_t)o.count);
        }
        else {
            cr_assert_eq (head, used);
        }
        //  Prefixes: the head alone for containers (their count then lies),
        //  the whole object otherwise; a sample of long ones.
        size_t whole = o.type == SLUICE_MP_ARRAY || o.type == SLUICE_MP_MAP ? used : head;
        for (size_t cut = 0; cut < whole; cut += cut < 64 ? 1 : 997) {
            const uint8_t *q = data + before;
            sluice_mp_obj_t t;
            cr_assert_eq (sluice_mp_next (&q, q + cut, &t), SLUICE_MP_ETRUNC,
                          "object %d cut at %zu", objects, cut);
            cr_assert_eq (q, data + before);
            cr_assert_eq (t.type, cut == 0 ? SLUICE_MP_NONE : o.type);
        }
        objects++;
    }
    cr_assert_gt (objects, 50);
    msgpack_unpacked_destroy (&result);
    msgpack_sbuffer_destroy (&sbuf);
}

Test (mp_reader, reserved_byte_and_lying_counts)
{
    const uint8_t c1[] = {0xc1};
    const uint8_t *p = c1;
    sluice_mp_obj_t o;
    cr_assert_eq (sluice_mp_next (&p, c1 + 1, &o), SLUICE_MP_EPROTO);
    cr_assert_eq (o.type, SLUICE_MP_NONE);
    cr_assert_eq (p, c1);
    //  map32 claiming 2^31 pairs in 7 bytes, array32 claiming 4 billion.
    const uint8_t map[] = {0xdf, 0x80, 0, 0, 0, 0xc0, 0xc0};
    p = map;
    cr_assert_eq (sluice_mp_next (&p, map + sizeof map, &o), SLUICE_MP_ETRUNC);
    cr_assert_eq (o.type, SLUICE_MP_MAP);
    const uint8_t array[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0};
    p = array;
    cr_assert_eq (sluice_mp_next (&p, array + sizeof array, &o), SLUICE_MP_ETRUNC);
    //  A fixmap of one pair with one byte after it: a pair takes two.
    const uint8_t fixmap[] = {0x81, 0xc0};
    p = fixmap;
    cr_assert_eq (sluice_mp_next (&p, fixmap + sizeof fixmap, &o), SLUICE_MP_ETRUNC);
    //  str32 claiming 4 GiB.
    const uint8_t str[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    p = str;
    cr_assert_eq (sluice_mp_next (&p, str + sizeof str, &o), SLUICE_MP_ETRUNC);
    cr_assert_eq (o.type, SLUICE_MP_STR);
}

Test (mp_reader, skip_bounds_depth)
{
    uint8_t deep[40];
    memset (deep, 0x91, sizeof deep);
    deep[sizeof deep - 1] = 0xc0; //  [[[...[nil]...]]], 39 deep
    size_t used;
    cr_assert_eq (sluice_mp_skip (deep, sizeof deep, 39, &used), 0);
    cr_assert_eq (used, sizeof deep);
    cr_assert_eq (sluice_mp_skip (deep, sizeof deep, 38, &used), SLUICE_MP_EDEPTH);
    cr_assert_eq (sluice_mp_skip (deep, sizeof deep - 1, 100, &used), SLUICE_MP_ETRUNC);
}

//  {"a": 1, 7: "x", ["k"]: 2, "name": "bob", "name": "second"}
static const uint8_t s_map[] = {0x85, 0xa1, 'a', 0x01, 0x07, 0xa1, 'x', 0x91, 0xa1, 'k',  0x02,
                                0xa4, 'n',  'a', 'm',  'e',  0xa3, 'b', 'o',  'b',  0xa4, 'n',
                                'a',  'm',  'e', 0xa6, 's',  'e',  'c', 'o',  'n',  'd'};

Test (mp_reader, map_find_finds_the_first_or_last_str_key)
{
    const uint8_t *value = NULL;
    size_t len = 0;
    cr_assert_eq (sluice_mp_map_find (s_map, sizeof s_map, "name", 4, false, &value, &len), 1);
    cr_assert_eq (len, 4);
    cr_assert (memcmp (value,
                       "\xa3"
                       "bob",
                       4) == 0);
    cr_assert_eq (sluice_mp_map_find (s_map, sizeof s_map, "name", 4, true, &value, &len), 1);
    cr_assert_eq (len, 7);
    cr_assert (memcmp (value,
                       "\xa6"
                       "second",
                       7) == 0);
    cr_assert_eq (sluice_mp_map_find (s_map, sizeof s_map, "a", 1, false, &value, &len), 1);
    cr_assert_eq (len, 1);
    cr_assert_eq (value[0], 0x01);
    //  Keys that are not str never match, even when their text would.
    cr_assert_eq (sluice_mp_map_find (s_map, sizeof s_map, "k", 1, false, &value, &len), 0);
    cr_assert_eq (sluice_mp_map_find (s_map, sizeof s_map, "nam", 3, false, &value, &len), 0);
}

Test (mp_reader, map_find_on_other_types_and_bad_bytes)
{
    const uint8_t *value = NULL;
    size_t len = 0;
    const uint8_t array[] = {0x91, 0xa1, 'a'};
    cr_assert_eq (sluice_mp_map_find (array, sizeof array, "a", 1, false, &value, &len), 0);
    //  Cut before "name"'s value ends (byte 20): the walk stops at the lie,
    //  never past the end.
    for (size_t cut = 0; cut < 20; cut++) {
        int rc = sluice_mp_map_find (s_map, cut, "name", 4, false, &value, &len);
        cr_assert_eq (rc, SLUICE_MP_ETRUNC, "cut at %zu gave %d", cut, rc);
    }
    const uint8_t reserved[] = {0x81, 0xc1, 0xc0};
    cr_assert_eq (sluice_mp_map_find (reserved, sizeof reserved, "a", 1, false, &value, &len),
                  SLUICE_MP_EPROTO);
}
