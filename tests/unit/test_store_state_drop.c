/*  test_store_state_drop.c - dropping one keyed group's key states
    (lib/store/sl_store_state_drop.c), against a real LMDB environment:
    every share's keys and the counter of that group go, a group whose name
    begins with the same letters keeps all of its own, and an aborted drop
    changes nothing.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpdir.h"
#include "sl_error.h"
#include "sl_store.h"
#include "sl_store_state.h"
#include "sl_store_state_drop.h"

static char s_dir[256];
static sl_store_t *s_store;

static void
setup (void)
{
    strcpy (s_dir, "/tmp/sl_test_state_drop_XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
    sl_store_opts_t opts = {.read_only = false};
    int err = 0;
    s_store = sl_store_open (s_dir, &opts, &err);
    cr_assert_not_null (s_store, "open: %s", sl_strerror (err));
}

static void
teardown (void)
{
    sl_store_close (&s_store);
    sl_test_rmtree (s_dir);
}

TestSuite (store_state_drop, .init = setup, .fini = teardown);

static int
s_count_one (void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len)
{
    (void)key, (void)key_len, (void)value, (void)value_len;
    (*(size_t *)ctx)++;
    return 0;
}

static size_t
s_keys_of (const char *group, uint32_t share)
{
    size_t n = 0;
    cr_assert_eq (sl_store_state_read (s_store, group, share, NULL, 0, s_count_one, &n), 0);
    return n;
}

//  Group g: 3 keys in share 0, 2 in share 3; group g2 (same first letter,
//  the name a prefix of it): 1 key.
static void
s_fill (void)
{
    cr_assert_eq (sl_store_begin (s_store), 0);
    cr_assert_eq (sl_store_state_start (s_store, "g", true), 0);
    cr_assert_eq (sl_store_state_start (s_store, "g2", true), 0);
    const char *keys[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq (sl_store_state_put (s_store, "g", i < 3 ? 0 : 3, keys[i], 1, "1", 1), 0);
    }
    cr_assert_eq (sl_store_state_put (s_store, "g2", 0, "a", 1, "1", 1), 0);
    cr_assert_eq (sl_store_commit (s_store), 0);
}

Test (store_state_drop, every_share_and_the_counter_go_and_only_that_group)
{
    s_fill ();
    uint64_t dropped = 99;
    cr_assert_eq (sl_store_begin (s_store), 0);
    cr_assert_eq (sl_store_state_drop (s_store, "g", &dropped), 0);
    cr_assert_eq (sl_store_commit (s_store), 0);
    cr_assert_eq (dropped, 5);
    cr_assert_eq (s_keys_of ("g", 0) + s_keys_of ("g", 3), 0);
    uint64_t keys;
    bool complete;
    cr_assert_eq (sl_store_state_count (s_store, "g", &keys, &complete), SL_ENOTFOUND);
    cr_assert_eq (s_keys_of ("g2", 0), 1);
    cr_assert_eq (sl_store_state_count (s_store, "g2", &keys, &complete), 0);
    cr_assert_eq (keys, 1);
    //  Nothing left to drop: 0 dropped, no error.
    cr_assert_eq (sl_store_begin (s_store), 0);
    cr_assert_eq (sl_store_state_drop (s_store, "g", &dropped), 0);
    cr_assert_eq (sl_store_commit (s_store), 0);
    cr_assert_eq (dropped, 0);
}

Test (store_state_drop, an_aborted_drop_changes_nothing)
{
    s_fill ();
    uint64_t dropped;
    cr_assert_eq (sl_store_begin (s_store), 0);
    cr_assert_eq (sl_store_state_drop (s_store, "g", &dropped), 0);
    sl_store_abort (s_store);
    cr_assert_eq (s_keys_of ("g", 0), 3);
    cr_assert_eq (s_keys_of ("g", 3), 2);
    uint64_t keys;
    bool complete;
    cr_assert_eq (sl_store_state_count (s_store, "g", &keys, &complete), 0);
    cr_assert_eq (keys, 5);
}

Test (store_state_drop, misuse_is_refused)
{
    uint64_t dropped;
    cr_assert_eq (sl_store_state_drop (s_store, "g", &dropped), SL_ESTATE);
    cr_assert_eq (sl_store_begin (s_store), 0);
    cr_assert_eq (sl_store_state_drop (s_store, "bad name", &dropped), SL_ENAME);
    sl_store_abort (s_store);
}
