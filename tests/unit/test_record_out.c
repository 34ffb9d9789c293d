/*  test_record_out.c - a record as the sink writes it in msgpack
    (sl_record_to_msgpack), read back by msgpack-c.
*/
#include <criterion/criterion.h>
#include <msgpack.h>
#include <string.h>

#include "sl_error.h"
#include "sl_record_out.h"

//  The member called name in map m, or NULL.
static const msgpack_object *
s_get (const msgpack_object *m, const char *name)
{
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object_kv *kv = &m->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen (name) &&
            memcmp (kv->key.via.str.ptr, name, kv->key.via.str.size) == 0) {
            return &kv->val;
        }
    }
    return NULL;
}

Test (record_out, every_member_reads_back_with_its_type)
{
    const uint8_t headers[] = {0x81, 0xa1, 'h', 0xa1, 'v'};
    const uint8_t value[] = {0x92, 0x01, 0xa2, 'h', 'i'};
    sl_record_t record = {.offset = 1ull << 40,
                          .timestamp = -5,
                          .key = (const uint8_t *)"\x00k",
                          .key_len = 2,
                          .key_is_bin = true,
                          .headers = headers,
                          .headers_len = sizeof headers,
                          .value = value,
                          .value_len = sizeof value};
    sl_buf_t out;
    sl_buf_init (&out, 0);
    cr_assert_eq (sl_buf_append (&out, "x", 1), 0); //  appends after what is there
    cr_assert_eq (sl_record_to_msgpack (&record, &out), 0);
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    size_t off = 0;
    cr_assert_eq (msgpack_unpack_next (&u, (const char *)out.data + 1, out.len - 1, &off),
                  MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq (off, out.len - 1, "one map, nothing after it");
    const msgpack_object *m = &u.data;
    cr_assert_eq (m->type, MSGPACK_OBJECT_MAP);
    cr_assert_eq (m->via.map.size, 5);
    cr_assert_eq (s_get (m, "offset")->via.u64, 1ull << 40);
    cr_assert_eq (s_get (m, "timestamp")->via.i64, -5);
    const msgpack_object *key = s_get (m, "key");
    cr_assert_eq (key->type, MSGPACK_OBJECT_BIN);
    cr_assert_eq (key->via.bin.size, 2);
    cr_assert_eq (memcmp (key->via.bin.ptr, "\x00k", 2), 0);
    cr_assert_eq (s_get (m, "headers")->type, MSGPACK_OBJECT_MAP);
    const msgpack_object *v = s_get (m, "value");
    cr_assert_eq (v->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq (v->via.array.size, 2);
    msgpack_unpacked_destroy (&u);

    //  No headers: four members; a nil key; a str key keeps str.
    record.headers = NULL;
    record.headers_len = 0;
    record.key = NULL;
    sl_buf_reset (&out);
    cr_assert_eq (sl_record_to_msgpack (&record, &out), 0);
    msgpack_unpacked_init (&u);
    off = 0;
    cr_assert_eq (msgpack_unpack_next (&u, (const char *)out.data, out.len, &off),
                  MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq (u.data.via.map.size, 4);
    cr_assert_null (s_get (&u.data, "headers"));
    cr_assert_eq (s_get (&u.data, "key")->type, MSGPACK_OBJECT_NIL);
    msgpack_unpacked_destroy (&u);
    record.key = (const uint8_t *)"ab";
    record.key_is_bin = false;
    sl_buf_reset (&out);
    cr_assert_eq (sl_record_to_msgpack (&record, &out), 0);
    cr_assert_not_null (memmem (out.data, out.len,
                                "\xa2"
                                "ab",
                                3));
    sl_buf_free (&out);
}

//  A buffer whose limit cannot take the record refuses it whole and keeps
//  what it held.
Test (record_out, over_the_limit_is_refused_and_out_unchanged)
{
    uint8_t value[200];
    memset (value, 0xc0, sizeof value);
    value[0] = 0xdc; //  array16 of 197 nils
    value[1] = 0;
    value[2] = 197;
    sl_record_t record = {.offset = 1, .value = value, .value_len = sizeof value};
    sl_buf_t out;
    sl_buf_init (&out, 100);
    cr_assert_eq (sl_buf_append (&out, "keep", 4), 0);
    cr_assert_eq (sl_record_to_msgpack (&record, &out), SL_ETOOBIG);
    cr_assert_eq (out.len, 4);
    cr_assert_eq (memcmp (out.data, "keep", 4), 0);
    sl_buf_free (&out);
}
