/*  test_store_sync.c - the store's sync setting (lib/store/sl_store_sync.c): names,
    parsing, and that every setting opens a real environment. What each one
    keeps after a power cut is tested on cutfs (tests/powercut).
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmpdir.h"
#include "sl_error.h"
#include "sl_store.h"

static char s_dir[64];

static void
setup (void)
{
    strcpy (s_dir, "/tmp/sl_test_sync_XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
teardown (void)
{
    sl_test_rmtree (s_dir);
}

TestSuite (store_sync, .init = setup, .fini = teardown);

Test (store_sync, names_round_trip)
{
    const char *names[] = {"full", "data", "none"};
    sl_store_sync_t want[] = {SL_SYNC_FULL, SL_SYNC_DATA, SL_SYNC_NONE};
    for (int i = 0; i < 3; i++) {
        sl_store_sync_t got = SL_SYNC_DEFAULT;
        cr_assert_eq (sl_store_sync_parse (names[i], &got), 0, "%s", names[i]);
        cr_assert_eq (got, want[i]);
        cr_assert_str_eq (sl_store_sync_name (got), names[i]);
    }
    //  The default is full.
    cr_assert_str_eq (sl_store_sync_name (SL_SYNC_DEFAULT), "full");
}

Test (store_sync, bad_names_are_refused)
{
    const char *bad[] = {"", "FULL", "fsync", "full ", "nosync", "dat", NULL};
    for (int i = 0; i < 7; i++) {
        sl_store_sync_t got = SL_SYNC_DATA;
        cr_assert_eq (sl_store_sync_parse (bad[i], &got), SL_EINVAL, "%s",
                      bad[i] ? bad[i] : "(null)");
        cr_assert_eq (got, SL_SYNC_DATA, "a refused name changed the setting");
    }
    cr_assert_str_eq (sl_store_sync_name ((sl_store_sync_t)42), "?");
}

Test (store_sync, every_setting_opens_and_reopens)
{
    sl_store_sync_t modes[] = {SL_SYNC_DEFAULT, SL_SYNC_FULL, SL_SYNC_DATA, SL_SYNC_NONE};
    for (int i = 0; i < 4; i++) {
        sl_store_opts_t opts = {.sync = modes[i]};
        for (int pass = 0; pass < 2; pass++) {
            int err = 1;
            sl_store_t *store = sl_store_open (s_dir, &opts, &err);
            cr_assert_not_null (store, "%s: %s", sl_store_sync_name (modes[i]), sl_strerror (err));
            cr_assert_eq (sl_store_begin (store), 0);
            cr_assert_eq (sl_store_commit (store), 0);
            sl_store_close (&store);
            cr_assert_null (store);
        }
    }
}

Test (store_sync, an_unknown_setting_is_refused_at_open)
{
    sl_store_opts_t opts = {.sync = (sl_store_sync_t)42};
    int err = 0;
    sl_store_t *store = sl_store_open (s_dir, &opts, &err);
    cr_assert_null (store);
    cr_assert_eq (err, SL_EINVAL);
}
