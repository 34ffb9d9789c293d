/*  tmpdir.h - a temporary directory for a unit test's store, removed with
    all it holds at teardown. Header-only: the store tests include it.
*/
#ifndef SL_TEST_TMPDIR_H_INCLUDED
#define SL_TEST_TMPDIR_H_INCLUDED

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static int
sl_test_rm_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove (path);
}

//  Removes dir and everything below it (no links followed).
static inline void
sl_test_rmtree (const char *dir)
{
    nftw (dir, sl_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
