/*  test_store_state.c - keyed groups' compacted key states in the store
    (lib/store/sl_store_state.c), against a real LMDB environment.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpdir.h"
#include "sl_error.h"
#include "sl_store.h"
#include "sl_store_state.h"

static char s_dir[256];

static void
setup (void)
{
    strcpy (s_dir, "/tmp/sl_test_state_XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
teardown (void)
{
    sl_test_rmtree (s_dir);
}

TestSuite (store_state, .init = setup, .fini = teardown);

static sl_store_t *
s_open (bool read_only)
{
    sl_store_opts_t opts = {.read_only = read_only};
    int err = 0;
    sl_store_t *store = sl_store_open (s_dir, &opts, &err);
    cr_assert_not_null (store, "open: %s", sl_strerror (err));
    return store;
}

typedef struct {
    char keys[64][32];
    char values[64][32];
    size_t n;
    size_t stop_at; //  fn returns 1 after this many (0: never)
} s_got_t;

static int
s_collect (void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len)
{
    s_got_t *got = ctx;
    cr_assert_lt (got->n, 64);
    cr_assert_lt (key_len, 32);
    cr_assert_lt (value_len, 32);
    memcpy (got->keys[got->n], key, key_len);
    got->keys[got->n][key_len] = 0;
    memcpy (got->values[got->n], value, value_len);
    got->values[got->n][value_len] = 0;
    got->n++;
    return got->stop_at && got->n == got->stop_at ? 1 : 0;
}

static void
s_put (sl_store_t *store, const char *group, uint32_t share, const char *key, const char *value)
{
    cr_assert_eq (sl_store_state_put (store, group, share, key, strlen (key), value,
                                      value ? strlen (value) : 0),
                  0);
}

Test (store_state, latest_value_per_key_nil_deletes_and_counts)
{
    sl_store_t *store = s_open (false);
    uint64_t keys;
    bool complete;
    cr_assert_eq (sl_store_state_count (store, "g", &keys, &complete), SL_ENOTFOUND);
    cr_assert_eq (sl_store_begin (store), 0);
    //  Without a counter nothing is put: the caller must say whether the table is complete.
    cr_assert_eq (sl_store_state_put (store, "g", 0, "a", 1, "1", 1), SL_ESTATE);
    cr_assert_eq (sl_store_state_start (store, "g", true), 0);
    cr_assert_eq (sl_store_state_start (store, "g", false), 0); //  exists: unchanged
    for (int i = 0; i < 100; i++) {
        char v[16];
        snprintf (v, sizeof v, "v%d", i);
        s_put (store, "g", 1, "a", v); //  history: only the last stays
    }
    s_put (store, "g", 1, "b", "B");
    s_put (store, "g", 1, "c", "C");
    s_put (store, "g", 1, "c", NULL); //  nil deletes
    s_put (store, "g", 1, "x", NULL); //  deleting what is not there
    s_put (store, "g", 0, "z", "Z0");
    s_put (store, "g", 2, "a", "A2");
    cr_assert_eq (sl_store_state_put (store, "g2", 1, "a", 1, NULL, 0), SL_ESTATE);
    cr_assert_eq (sl_store_state_start (store, "h", false), 0);
    s_put (store, "h", 1, "q", "Q");
    cr_assert_eq (sl_store_commit (store), 0);

    cr_assert_eq (sl_store_state_count (store, "g", &keys, &complete), 0);
    cr_assert_eq (keys, 4);
    cr_assert (complete);
    cr_assert_eq (sl_store_state_count (store, "h", &keys, &complete), 0);
    cr_assert_eq (keys, 1);
    cr_assert_not (complete);

    //  Share 1 of g: its keys only, in key order, each once with its last value.
    s_got_t got = {0};
    cr_assert_eq (sl_store_state_read (store, "g", 1, NULL, 0, s_collect, &got), 0);
    cr_assert_eq (got.n, 2);
    cr_assert_str_eq (got.keys[0], "a");
    cr_assert_str_eq (got.values[0], "v99");
    cr_assert_str_eq (got.keys[1], "b");
    //  Paged: after the cursor's key.
    got = (s_got_t){.stop_at = 1};
    cr_assert_eq (sl_store_state_read (store, "g", 1, "a", 1, s_collect, &got), 0);
    cr_assert_eq (got.n, 1);
    cr_assert_str_eq (got.keys[0], "b");
    got = (s_got_t){0};
    cr_assert_eq (sl_store_state_read (store, "g", 1, "b", 1, s_collect, &got), 0);
    cr_assert_eq (got.n, 0);
    //  A share without keys, a group without a table.
    got = (s_got_t){0};
    cr_assert_eq (sl_store_state_read (store, "g", 3, NULL, 0, s_collect, &got), 0);
    cr_assert_eq (got.n, 0);
    cr_assert_eq (sl_store_state_read (store, "nope", 0, NULL, 0, s_collect, &got), 0);
    cr_assert_eq (got.n, 0);
    //  Deleting the last key of share 2 leaves share 1 alone.
    cr_assert_eq (sl_store_begin (store), 0);
    s_put (store, "g", 2, "a", NULL);
    cr_assert_eq (sl_store_commit (store), 0);
    cr_assert_eq (sl_store_state_count (store, "g", &keys, &complete), 0);
    cr_assert_eq (keys, 3);
    sl_store_close (&store);

    //  Durable, and readable read-only.
    store = s_open (true);
    got = (s_got_t){0};
    cr_assert_eq (sl_store_state_read (store, "g", 1, NULL, 0, s_collect, &got), 0);
    cr_assert_eq (got.n, 2);
    cr_assert_str_eq (got.values[0], "v99");
    sl_store_close (&store);
}

Test (store_state, an_aborted_transaction_changes_nothing)
{
    sl_store_t *store = s_open (false);
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_state_start (store, "g", true), 0);
    s_put (store, "g", 0, "a", "1");
    cr_assert_eq (sl_store_commit (store), 0);
    cr_assert_eq (sl_store_begin (store), 0);
    s_put (store, "g", 0, "a", "2");
    s_put (store, "g", 0, "b", "3");
    sl_store_abort (store);
    uint64_t keys;
    bool complete;
    cr_assert_eq (sl_store_state_count (store, "g", &keys, &complete), 0);
    cr_assert_eq (keys, 1);
    s_got_t got = {0};
    cr_assert_eq (sl_store_state_read (store, "g", 0, NULL, 0, s_collect, &got), 0);
    cr_assert_eq (got.n, 1);
    cr_assert_str_eq (got.values[0], "1");
    sl_store_close (&store);
}

Test (store_state, bounds_and_misuse_are_refused)
{
    sl_store_t *store = s_open (false);
    static uint8_t big[SL_STATE_MAX_VALUE + 1];
    uint8_t key[SL_STATE_MAX_KEY + 1];
    memset (key, 'k', sizeof key);
    //  Outside a write transaction.
    cr_assert_eq (sl_store_state_put (store, "g", 0, "a", 1, "1", 1), SL_ESTATE);
    cr_assert_eq (sl_store_state_start (store, "g", true), SL_ESTATE);
    cr_assert_eq (sl_store_begin (store), 0);
    cr_assert_eq (sl_store_state_start (store, "g", true), 0);
    cr_assert_eq (sl_store_state_put (store, "g", 0, key, sizeof key, "1", 1), SL_ETOOBIG);
    cr_assert_eq (sl_store_state_put (store, "g", 0, key, sizeof key - 1, "1", 1), 0);
    cr_assert_eq (sl_store_state_put (store, "g", 0, "a", 1, big, sizeof big), SL_ETOOBIG);
    cr_assert_eq (sl_store_state_put (store, "g", 0, "a", 1, big, sizeof big - 1), 0);
    cr_assert_eq (sl_store_state_put (store, "g", SL_STATE_COUNTER, "a", 1, "1", 1), SL_EINVAL);
    cr_assert_eq (sl_store_state_put (store, "g", 0, "", 0, "1", 1), SL_EINVAL);
    cr_assert_eq (sl_store_state_put (store, "", 0, "a", 1, "1", 1), SL_ENAME);
    cr_assert_eq (sl_store_commit (store), 0);
    uint64_t keys;
    bool complete;
    cr_assert_eq (sl_store_state_count (store, "g", &keys, &complete), 0);
    cr_assert_eq (keys, 2);
    s_got_t got = {0};
    cr_assert_eq (sl_store_state_read (store, "g", SL_STATE_COUNTER, NULL, 0, s_collect, &got),
                  SL_EINVAL);
    cr_assert_eq (sl_store_state_read (store, "g", 0, key, sizeof key, s_collect, &got),
                  SL_ETOOBIG);
    sl_store_close (&store);
}
