/*  test_buf.c - growable buffer: growth, limit, append, reuse.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "sl_buf.h"
#include "sl_error.h"

Test (buf, init_is_empty)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    cr_assert_null (buf.data);
    cr_assert_eq (buf.len, 0);
    cr_assert_eq (buf.cap, 0);
    sl_buf_free (&buf);
    sl_buf_free (&buf); //  idempotent
    cr_assert_null (buf.data);
}

Test (buf, append_and_grow_keeps_bytes)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    for (int i = 0; i < 100000; i++) {
        uint8_t byte = (uint8_t)(i * 7);
        cr_assert_eq (sl_buf_append (&buf, &byte, 1), 0);
    }
    cr_assert_eq (buf.len, 100000);
    cr_assert_geq (buf.cap, buf.len);
    for (int i = 0; i < 100000; i++) {
        cr_assert_eq (buf.data[i], (uint8_t)(i * 7), "byte %d", i);
    }
    sl_buf_free (&buf);
}

Test (buf, append_str_and_empty)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    cr_assert_eq (sl_buf_append_str (&buf, "hello "), 0);
    cr_assert_eq (sl_buf_append_str (&buf, ""), 0);
    cr_assert_eq (sl_buf_append (&buf, NULL, 0), 0);
    cr_assert_eq (sl_buf_append_str (&buf, "world"), 0);
    cr_assert_eq (buf.len, 11);
    cr_assert_eq (memcmp (buf.data, "hello world", 11), 0);
    sl_buf_free (&buf);
}

Test (buf, reserve_makes_room_without_len)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    cr_assert_eq (sl_buf_reserve (&buf, 5000), 0);
    cr_assert_geq (buf.cap, 5000);
    cr_assert_eq (buf.len, 0);
    uint8_t *data = buf.data;
    size_t cap = buf.cap;
    memset (buf.data, 0xAB, 5000); //  ASan would flag it if the room were not there
    cr_assert_eq (sl_buf_reserve (&buf, 10), 0);
    cr_assert_eq (buf.data, data, "no realloc when room is there");
    cr_assert_eq (buf.cap, cap);
    sl_buf_free (&buf);
}

Test (buf, reset_keeps_allocation)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    cr_assert_eq (sl_buf_append_str (&buf, "some bytes to keep"), 0);
    uint8_t *data = buf.data;
    size_t cap = buf.cap;
    sl_buf_reset (&buf);
    cr_assert_eq (buf.len, 0);
    cr_assert_eq (buf.data, data);
    cr_assert_eq (buf.cap, cap);
    cr_assert_eq (sl_buf_append_str (&buf, "again"), 0);
    cr_assert_eq (buf.data, data);
    cr_assert_eq (memcmp (buf.data, "again", 5), 0);
    sl_buf_free (&buf);
}

Test (buf, limit_is_enforced)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 1000);
    uint8_t block[300];
    memset (block, 1, sizeof block);
    cr_assert_eq (sl_buf_append (&buf, block, 300), 0);
    cr_assert_eq (sl_buf_append (&buf, block, 300), 0);
    cr_assert_eq (sl_buf_append (&buf, block, 300), 0);
    cr_assert_eq (sl_buf_append (&buf, block, 300), SL_ETOOBIG);
    cr_assert_eq (buf.len, 900, "failed append changes nothing");
    cr_assert_leq (buf.cap, 1000, "never allocates past the limit");
    cr_assert_eq (sl_buf_append (&buf, block, 100), 0);
    cr_assert_eq (buf.len, 1000);
    cr_assert_eq (sl_buf_append (&buf, block, 1), SL_ETOOBIG);
    cr_assert_eq (sl_buf_reserve (&buf, 0), 0);
    sl_buf_free (&buf);
}

Test (buf, huge_reserve_fails_cleanly)
{
    sl_buf_t buf;
    sl_buf_init (&buf, 0);
    cr_assert_eq (sl_buf_append_str (&buf, "x"), 0);
    cr_assert_eq (sl_buf_reserve (&buf, SIZE_MAX), SL_ETOOBIG);
    cr_assert_eq (buf.len, 1);
    sl_buf_t limited;
    sl_buf_init (&limited, 1 << 20);
    cr_assert_eq (sl_buf_reserve (&limited, (size_t)1 << 40), SL_ETOOBIG);
    cr_assert_null (limited.data);
    sl_buf_free (&limited);
    sl_buf_free (&buf);
}
