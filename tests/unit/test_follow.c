/*  test_follow.c - source/follow.c in-process: lines as files grow, the runs
    and the state file, and the exact resume; hostile state files refused.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "follow.h"
#include "sl_error.h"

static char s_dir[256];

static void
s_setup (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/sl-follow-XXXXXX");
    cr_assert (mkdtemp (s_dir));
}

static void
s_teardown (void)
{
    char cmd[300];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    cr_assert_eq (system (cmd), 0);
}

static void
s_append (const char *name, const char *text)
{
    char path[300];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen (path, "a");
    cr_assert (f);
    fputs (text, f);
    fclose (f);
}

//  The follower borrows its pattern list (sl_follow_opts_t): it lives here,
//  for the test's whole run, one follower at a time.
static char *s_patterns[1];

static sl_follow_t *
s_new (char *pattern, char *state)
{
    s_patterns[0] = pattern;
    sl_follow_opts_t o = {
        .npatterns = 1, .patterns = s_patterns, .state_path = state, .max_line = 1000};
    sl_follow_t *f = sl_follow_new (&o);
    cr_assert (f);
    return f;
}

//  Reads every complete line there is now, marking them from seq on, then
//  writes the state as the source does before it sends them.
static int
s_drain (sl_follow_t *f, uint64_t *seq, char out[][64], int max)
{
    int n = 0;
    const uint8_t *line;
    size_t len;
    const char *name;
    uint64_t lineno;
    while (n < max && sl_follow_next (f, &line, &len, &name, &lineno) == 1) {
        snprintf (out[n], 64, "%.*s", (int)len, (const char *)line);
        cr_assert_eq (sl_follow_mark (f, ++*seq), 0);
        n++;
    }
    cr_assert_eq (sl_follow_sync (f), 0);
    return n;
}

Test (follow, partial_line_waits_for_its_newline, .init = s_setup, .fini = s_teardown)
{
    char pattern[300];
    snprintf (pattern, sizeof pattern, "%s/*.log", s_dir);
    s_append ("a.log", "one\ntw");
    sl_follow_t *f = s_new (pattern, NULL);
    char got[8][64];
    uint64_t seq = 0;
    cr_assert_eq (s_drain (f, &seq, got, 8), 1);
    cr_assert_str_eq (got[0], "one");
    s_append ("a.log", "o\n");
    cr_assert_eq (s_drain (f, &seq, got, 8), 1);
    cr_assert_str_eq (got[0], "two");
    sl_follow_destroy (&f);
    cr_assert_null (f);
}

Test (follow, resume_puts_the_file_after_the_confirmed_record, .init = s_setup, .fini = s_teardown)
{
    char pattern[300], state[300];
    snprintf (pattern, sizeof pattern, "%s/a.log", s_dir);
    snprintf (state, sizeof state, "%s/x.follow", s_dir);
    s_append ("a.log", "l1\nl2\nl3\nl4\nl5\n");
    sl_follow_t *f = s_new (pattern, state);
    uint64_t base = 99;
    cr_assert_eq (sl_follow_resume (f, 0, &base), 0);
    cr_assert_eq (base, 0);
    char got[8][64];
    uint64_t seq = 0;
    cr_assert_eq (s_drain (f, &seq, got, 8), 5);
    sl_follow_destroy (&f);
    //  The broker has 3 of them: the run is read again, l1..l3 come back with
    //  numbers 1..3 (to be dropped) and l4 is number 4.
    f = s_new (pattern, state);
    cr_assert_eq (sl_follow_resume (f, 3, &base), 0);
    cr_assert_eq (base, 0);
    seq = base;
    cr_assert_eq (s_drain (f, &seq, got, 8), 5);
    cr_assert_str_eq (got[3], "l4");
    cr_assert_eq (sl_follow_confirmed (f, 5), 0);
    sl_follow_destroy (&f);
    //  All 5 confirmed and compacted: nothing is read again.
    f = s_new (pattern, state);
    cr_assert_eq (sl_follow_resume (f, 5, &base), 0);
    cr_assert_eq (base, 5);
    seq = base;
    cr_assert_eq (s_drain (f, &seq, got, 8), 0);
    sl_follow_destroy (&f);
}

Test (follow, missing_or_hostile_state_is_refused, .init = s_setup, .fini = s_teardown)
{
    char pattern[300], state[300];
    snprintf (pattern, sizeof pattern, "%s/a.log", s_dir);
    snprintf (state, sizeof state, "%s/x.follow", s_dir);
    uint64_t base;
    sl_follow_t *f = s_new (pattern, state);
    cr_assert_eq (sl_follow_resume (f, 7, &base), SL_ENOTFOUND);
    sl_follow_destroy (&f);
    const char *bad[] = {
        "",                                                             //  empty
        "sluice-follow 2\nend\n",                                       //  wrong version
        "sluice-follow 1\nbase 0\n",                                    //  no end line
        "sluice-follow 1\nrun 1 0 0 -\nend\n",                          //  run of an unknown file
        "sluice-follow 1\nfile 0 1 2 0 zz /x\nend\n",                   //  bad hex
        "sluice-follow 1\nfile 0 1 2 0 - /x\nfile 0 1 2 0 - /y\nend\n", //  duplicate id
        "sluice-follow 1\nfile 0 1 2 0 - /x\nrun 2 0 0 -\nrun 1 0 0 -\nend\n", //  not in order
        "sluice-follow 1\nfile 0 1 2 0 - /x\nrun 1 0 9 -\nrun 2 0 0 5\nend\n", //  open not last
        "sluice-follow 1\nbase 18446744073709551616\nend\n",                   //  overflow
        "sluice-follow 1\nwhat\nend\n",
        NULL,
    };
    for (int i = 0; bad[i]; i++) {
        FILE *out = fopen (state, "w");
        fputs (bad[i], out);
        fclose (out);
        f = s_new (pattern, state);
        cr_assert_neq (sl_follow_resume (f, 1, &base), 0, "accepted: %s", bad[i]);
        sl_follow_destroy (&f);
    }
    //  A line without its newline, as long as a line may be.
    FILE *out = fopen (state, "w");
    fputs ("sluice-follow 1\nfile 0 1 2 0 - /", out);
    for (int i = 0; i < 10000; i++) {
        fputc ('x', out);
    }
    fclose (out);
    f = s_new (pattern, state);
    cr_assert_neq (sl_follow_resume (f, 1, &base), 0);
    sl_follow_destroy (&f);
}

Test (follow, state_is_written_once_for_the_runs_before_a_send, .init = s_setup, .fini = s_teardown)
{
    char pattern[300], state[300];
    snprintf (pattern, sizeof pattern, "%s/*.log", s_dir);
    snprintf (state, sizeof state, "%s/x.follow", s_dir);
    s_append ("a.log", "a1\n");
    s_append ("b.log", "b1\n");
    s_append ("c.log", "c1\n");
    sl_follow_t *f = s_new (pattern, state);
    uint64_t base;
    cr_assert_eq (sl_follow_resume (f, 0, &base), 0);
    unlink (state);
    //  Three files, three runs: marking them writes nothing yet...
    const uint8_t *line;
    size_t len;
    const char *name;
    uint64_t lineno, seq = 0;
    while (sl_follow_next (f, &line, &len, &name, &lineno) == 1) {
        cr_assert_eq (sl_follow_mark (f, ++seq), 0);
    }
    cr_assert_eq (seq, 3);
    struct stat st;
    cr_assert_neq (stat (state, &st), 0, "the state was written before the send");
    //  ...the sync before the send writes all three runs at once, and a
    //  second sync with no new run writes nothing.
    cr_assert_eq (sl_follow_sync (f), 0);
    cr_assert_eq (stat (state, &st), 0);
    FILE *in = fopen (state, "r");
    cr_assert_not_null (in);
    char text[4096];
    size_t got = fread (text, 1, sizeof text - 1, in);
    fclose (in);
    text[got] = '\0';
    int runs = 0;
    for (const char *p = text; (p = strstr (p, "\nrun ")); p++) {
        runs++;
    }
    cr_assert_eq (runs, 3, "%s", text);
    unlink (state);
    cr_assert_eq (sl_follow_sync (f), 0);
    cr_assert_neq (stat (state, &st), 0, "written again with no new run");
    sl_follow_destroy (&f);
}
