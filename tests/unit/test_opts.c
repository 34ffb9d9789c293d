/*  test_opts.c - flag table, environment mirrors, built-ins, usage errors.

    Criterion runs every test in its own process, so setenv and the log
    level do not leak from one test to the next.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_opts.h"
#include "sl_opts_file.h"
#include "sl_version.h"

enum { OPT_DATA, OPT_RETAIN_AGE, OPT_DRY_RUN, OPT_TAG, OPT_COUNT };

static const sl_opt_t s_opts[] = {
    {"data", 'd', "DIR", "data directory", .repeat = false},
    {"retain-age", 0, "AGE", "drop batches older than AGE", .repeat = false},
    {"dry-run", 'n', NULL, "do nothing", .repeat = false},
    {"tag", 't', "TAG", "add a tag", .repeat = true},
    {.name = NULL},
};

static const sl_opts_spec_t s_spec = {
    .program = "sluice-test",
    .synopsis = "STREAM...",
    .about = "Tests the option parser.",
    .footer = "Example: sluice-test --data /tmp/x orders",
    .opts = s_opts,
};

typedef struct {
    int calls[OPT_COUNT];
    char data[64];
    char age[64];
    bool dry_run;
    char tags[8][32];
    int n_tags;
    bool fail_age; //  reject every --retain-age value
} ctx_t;

static int
s_on_opt (void *arg, int index, const char *value, const char **why)
{
    ctx_t *ctx = arg;
    cr_assert (index >= 0 && index < OPT_COUNT);
    ctx->calls[index]++;
    switch (index) {
    case OPT_DATA:
        snprintf (ctx->data, sizeof ctx->data, "%s", value);
        break;
    case OPT_RETAIN_AGE:
        if (ctx->fail_age) {
            *why = "not a duration";
            return SL_EINVAL;
        }
        snprintf (ctx->age, sizeof ctx->age, "%s", value);
        break;
    case OPT_DRY_RUN:
        cr_assert_null (value);
        ctx->dry_run = true;
        break;
    case OPT_TAG:
        cr_assert_lt (ctx->n_tags, 8);
        snprintf (ctx->tags[ctx->n_tags++], 32, "%s", value);
        break;
    }
    return 0;
}

//  Runs sl_opts_parse with fd 1 and fd 2 sent to temp files, and returns
//  what was written to each (caller frees).
typedef struct {
    int rc;
    int exit_code;
    char *out;
    char *err;
} result_t;

static char *
s_slurp (FILE *file)
{
    fflush (file);
    long size = ftell (file);
    cr_assert_geq (size, 0);
    rewind (file);
    char *text = calloc ((size_t)size + 1, 1);
    cr_assert_not_null (text);
    size_t got = fread (text, 1, (size_t)size, file);
    cr_assert_eq (got, (size_t)size);
    fclose (file);
    return text;
}

static result_t
s_parse (int argc, char **argv, ctx_t *ctx)
{
    result_t result = {0};
    FILE *out = tmpfile ();
    FILE *err = tmpfile ();
    cr_assert (out && err);
    fflush (stdout);
    fflush (stderr);
    int saved_out = dup (1);
    int saved_err = dup (2);
    dup2 (fileno (out), 1);
    dup2 (fileno (err), 2);
    result.exit_code = -99;
    result.rc = sl_opts_parse (&s_spec, argc, argv, s_on_opt, ctx, &result.exit_code);
    fflush (stdout);
    fflush (stderr);
    dup2 (saved_out, 1);
    dup2 (saved_err, 2);
    close (saved_out);
    close (saved_err);
    fseek (out, 0, SEEK_END);
    fseek (err, 0, SEEK_END);
    result.out = s_slurp (out);
    result.err = s_slurp (err);
    return result;
}

static void
s_result_free (result_t *result)
{
    free (result->out);
    free (result->err);
}

#define ARGV(...) ((char *[]){"sluice-test", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof ((char *[]){"sluice-test", __VA_ARGS__}) / sizeof (char *)))
#define PARSE(ctx, ...) s_parse (ARGC (__VA_ARGS__), ARGV (__VA_ARGS__), ctx)

Test (opts, long_short_and_positional)
{
    ctx_t ctx = {0};
    char *argv[] = {"sluice-test", "orders", "--data=/d1", "-n", "--retain-age", "7d", "-t",
                    "a",           "-tb",    "payments",   NULL};
    result_t r = s_parse (10, argv, &ctx);
    cr_assert_eq (r.exit_code, 0, "%s", r.err);
    cr_assert_geq (r.rc, 1);
    //  getopt_long moves positional arguments behind the options.
    cr_assert_eq (r.rc, 8);
    cr_assert_str_eq (argv[r.rc], "orders");
    cr_assert_str_eq (argv[r.rc + 1], "payments");
    cr_assert_str_eq (ctx.data, "/d1");
    cr_assert_str_eq (ctx.age, "7d");
    cr_assert (ctx.dry_run);
    cr_assert_eq (ctx.n_tags, 2);
    cr_assert_str_eq (ctx.tags[0], "a");
    cr_assert_str_eq (ctx.tags[1], "b");
    cr_assert_str_empty (r.err);
    s_result_free (&r);
}

Test (opts, no_arguments_returns_one)
{
    ctx_t ctx = {0};
    char *argv[] = {"sluice-test", NULL};
    result_t r = s_parse (1, argv, &ctx);
    cr_assert_eq (r.rc, 1);
    cr_assert_eq (r.exit_code, 0);
    for (int i = 0; i < OPT_COUNT; i++) {
        cr_assert_eq (ctx.calls[i], 0);
    }
    s_result_free (&r);
}

Test (opts, double_dash_ends_options)
{
    ctx_t ctx = {0};
    result_t r = PARSE (&ctx, "--", "--data");
    cr_assert_eq (r.rc, 2);
    cr_assert_eq (ctx.calls[OPT_DATA], 0);
    s_result_free (&r);
}

Test (opts, env_mirrors_every_option)
{
    setenv ("SLUICE_RETAIN_AGE", "30d", 1);
    setenv ("SLUICE_DATA", "/from-env", 1);
    setenv ("SLUICE_DRY_RUN", "yes", 1);
    ctx_t ctx = {0};
    char *argv[] = {"sluice-test", NULL};
    result_t r = s_parse (1, argv, &ctx);
    cr_assert_eq (r.rc, 1, "%s", r.err);
    cr_assert_str_eq (ctx.age, "30d");
    cr_assert_str_eq (ctx.data, "/from-env");
    cr_assert (ctx.dry_run);
    s_result_free (&r);
}

Test (opts, argv_beats_env)
{
    setenv ("SLUICE_RETAIN_AGE", "30d", 1);
    ctx_t ctx = {0};
    result_t r = PARSE (&ctx, "--retain-age", "1h");
    cr_assert_eq (r.rc, 3, "%s", r.err);
    cr_assert_str_eq (ctx.age, "1h");
    s_result_free (&r);
}

Test (opts, later_argv_value_overrides)
{
    ctx_t ctx = {0};
    result_t r = PARSE (&ctx, "-d", "/one", "--data", "/two");
    cr_assert_eq (r.exit_code, 0);
    cr_assert_str_eq (ctx.data, "/two");
    s_result_free (&r);
}

Test (opts, env_switch_true_values)
{
    const char *on[] = {"1", "true", "TRUE", "yes", "on", "On"};
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
        setenv ("SLUICE_DRY_RUN", on[i], 1);
        ctx_t ctx = {0};
        char *argv[] = {"sluice-test", NULL};
        result_t r = s_parse (1, argv, &ctx);
        cr_assert_eq (r.rc, 1, "%s: %s", on[i], r.err);
        cr_assert (ctx.dry_run, "%s", on[i]);
        s_result_free (&r);
    }
}

Test (opts, env_switch_false_values_are_ignored)
{
    const char *off[] = {"0", "false", "no", "off", "OFF", ""};
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
        setenv ("SLUICE_DRY_RUN", off[i], 1);
        ctx_t ctx = {0};
        char *argv[] = {"sluice-test", NULL};
        result_t r = s_parse (1, argv, &ctx);
        cr_assert_eq (r.rc, 1, "'%s': %s", off[i], r.err);
        cr_assert_eq (ctx.calls[OPT_DRY_RUN], 0, "'%s'", off[i]);
        s_result_free (&r);
    }
}

Test (opts, env_switch_garbage_is_usage_error)
{
    setenv ("SLUICE_DRY_RUN", "maybe", 1);
    ctx_t ctx = {0};
    char *argv[] = {"sluice-test", NULL};
    result_t r = s_parse (1, argv, &ctx);
    cr_assert_eq (r.rc, -1);
    cr_assert_eq (r.exit_code, 2);
    cr_assert_not_null (strstr (r.err, "SLUICE_DRY_RUN"), "%s", r.err);
    cr_assert_not_null (strstr (r.err, "maybe"), "%s", r.err);
    cr_assert_eq (ctx.calls[OPT_DRY_RUN], 0);
    s_result_free (&r);
}

Test (opts, env_repeatable_is_semicolon_list)
{
    setenv ("SLUICE_TAG", "a;b;;c;", 1);
    ctx_t ctx = {0};
    char *argv[] = {"sluice-test", NULL};
    result_t r = s_parse (1, argv, &ctx);
    cr_assert_eq (r.rc, 1, "%s", r.err);
    cr_assert_eq (ctx.n_tags, 3);
    cr_assert_str_eq (ctx.tags[0], "a");
    cr_assert_str_eq (ctx.tags[1], "b");
    cr_assert_str_eq (ctx.tags[2], "c");
    s_result_free (&r);
}

Test (opts, argv_repeatable_replaces_env_list)
{
    setenv ("SLUICE_TAG", "a;b", 1);
    ctx_t ctx = {0};
    result_t r = PARSE (&ctx, "--tag", "x", "-t", "y");
    cr_assert_eq (r.exit_code, 0);
    cr_assert_eq (ctx.n_tags, 2);
    cr_assert_str_eq (ctx.tags[0], "x");
    cr_assert_str_eq (ctx.tags[1], "y");
    s_result_free (&r);
}

Test (opts, env_empty_value_means_unset)
{
    setenv ("SLUICE_DATA", "", 1);
    ctx_t ctx = {0};
    char *argv[] = {"sluice-test", NULL};
    result_t r = s_parse (1, argv, &ctx);
    cr_assert_eq (r.rc, 1);
    cr_assert_eq (ctx.calls[OPT_DATA], 0);
    s_result_free (&r);
}

Test (opts, help_lists_every_option_and_env)
{
    ctx_t ctx = {0};
    result_t r = PARSE (&ctx, "--data", "/x", "--help");
    cr_assert_eq (r.rc, -1);
    cr_assert_eq (r.exit_code, 0);
    cr_assert_eq (ctx.calls[OPT_DATA], 0, "nothing is applied when --help is given");
    const char *want[] = {"Usage: sluice-test [OPTIONS] STREAM...",
                          "Tests the option parser.",
                          "-d, --data DIR",
                          "data directory",
                          "SLUICE_DATA",
                          "--retain-age AGE",
                          "SLUICE_RETAIN_AGE",
                          "-n, --dry-run",
                          "SLUICE_DRY_RUN",
                          "-t, --tag TAG",
                          "SLUICE_TAG",
                          "';'-separated",
                          "--help",
                          "--version",
                          "-v, --verbose",
                          "-q, --quiet",
                          "Example: sluice-test --data /tmp/x orders"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cr_assert_not_null (strstr (r.out, want[i]), "missing '%s' in:\n%s", want[i], r.out);
    }
    cr_assert_str_empty (r.err);
    s_result_free (&r);
}

Test (opts, short_help)
{
    ctx_t ctx = {0};
    result_t r = PARSE (&ctx, "-h");
    cr_assert_eq (r.rc, -1);
    cr_assert_eq (r.exit_code, 0);
    cr_assert_not_null (strstr (r.out, "Usage:"));
    s_result_free (&r);
}

Test (opts, version)
{
    ctx_t ctx = {0};
    result_t r = PARSE (&ctx, "--version");
    cr_assert_eq (r.rc, -1);
    cr_assert_eq (r.exit_code, 0);
    char want[64];
    snprintf (want, sizeof want, "sluice-test %s\n", SLUICE_VERSION);
    cr_assert_str_eq (r.out, want);
    s_result_free (&r);
}

Test (opts, verbose_and_quiet_set_log_level)
{
    ctx_t ctx = {0};
    result_t r = PARSE (&ctx, "-v");
    cr_assert_eq (sl_log_level (), SL_LOG_DEBUG);
    s_result_free (&r);
    r = PARSE (&ctx, "--quiet");
    cr_assert_eq (sl_log_level (), SL_LOG_WARN);
    s_result_free (&r);
    r = PARSE (&ctx, "--verbose");
    cr_assert_eq (sl_log_level (), SL_LOG_DEBUG);
    s_result_free (&r);
    r = PARSE (&ctx, "-q");
    cr_assert_eq (sl_log_level (), SL_LOG_WARN);
    s_result_free (&r);
}

Test (opts, quiet_from_env_loses_to_verbose_flag)
{
    setenv ("SLUICE_QUIET", "1", 1);
    ctx_t ctx = {0};
    char *argv[] = {"sluice-test", NULL};
    result_t r = s_parse (1, argv, &ctx);
    cr_assert_eq (sl_log_level (), SL_LOG_WARN);
    s_result_free (&r);
    r = PARSE (&ctx, "-v");
    cr_assert_eq (sl_log_level (), SL_LOG_DEBUG);
    s_result_free (&r);
}

Test (opts, unknown_long_option)
{
    ctx_t ctx = {0};
    result_t r = PARSE (&ctx, "--data", "/x", "--bogus=3");
    cr_assert_eq (r.rc, -1);
    cr_assert_eq (r.exit_code, 2);
    cr_assert_not_null (strstr (r.err, "'--bogus'"), "%s", r.err);
    cr_assert_not_null (strstr (r.err, "try --help"), "%s", r.err);
    cr_assert_eq (ctx.calls[OPT_DATA], 0, "nothing applied after a usage error");
    cr_assert_str_empty (r.out);
    s_result_free (&r);
}

Test (opts, unknown_short_option)
{
    ctx_t ctx = {0};
    result_t r = PARSE (&ctx, "-x");
    cr_assert_eq (r.exit_code, 2);
    cr_assert_not_null (strstr (r.err, "'-x'"), "%s", r.err);
    cr_assert_not_null (strstr (r.err, "try --help"), "%s", r.err);
    s_result_free (&r);
}

Test (opts, missing_argument_long_and_short)
{
    ctx_t ctx = {0};
    result_t r = PARSE (&ctx, "--retain-age");
    cr_assert_eq (r.rc, -1);
    cr_assert_eq (r.exit_code, 2);
    cr_assert_not_null (strstr (r.err, "'--retain-age'"), "%s", r.err);
    cr_assert_not_null (strstr (r.err, "requires an argument"), "%s", r.err);
    cr_assert_not_null (strstr (r.err, "try --help"), "%s", r.err);
    s_result_free (&r);
    r = PARSE (&ctx, "-d");
    cr_assert_eq (r.exit_code, 2);
    cr_assert_not_null (strstr (r.err, "'-d'"), "%s", r.err);
    cr_assert_not_null (strstr (r.err, "try --help"), "%s", r.err);
    s_result_free (&r);
}

Test (opts, switch_with_argument)
{
    ctx_t ctx = {0};
    result_t r = PARSE (&ctx, "--dry-run=1");
    cr_assert_eq (r.exit_code, 2);
    cr_assert_not_null (strstr (r.err, "'--dry-run'"), "%s", r.err);
    cr_assert_not_null (strstr (r.err, "try --help"), "%s", r.err);
    s_result_free (&r);
}

Test (opts, callback_error_names_option)
{
    ctx_t ctx = {.fail_age = true};
    result_t r = PARSE (&ctx, "--retain-age", "soon");
    cr_assert_eq (r.rc, -1);
    cr_assert_eq (r.exit_code, 2);
    cr_assert_not_null (strstr (r.err, "sluice-test: --retain-age"), "%s", r.err);
    cr_assert_not_null (strstr (r.err, "not a duration"), "%s", r.err);
    s_result_free (&r);
}

Test (opts, callback_error_from_env_names_variable)
{
    setenv ("SLUICE_RETAIN_AGE", "soon", 1);
    ctx_t ctx = {.fail_age = true};
    char *argv[] = {"sluice-test", NULL};
    result_t r = s_parse (1, argv, &ctx);
    cr_assert_eq (r.rc, -1);
    cr_assert_eq (r.exit_code, 2);
    cr_assert_not_null (strstr (r.err, "--retain-age"), "%s", r.err);
    cr_assert_not_null (strstr (r.err, "SLUICE_RETAIN_AGE"), "%s", r.err);
    cr_assert_not_null (strstr (r.err, "not a duration"), "%s", r.err);
    s_result_free (&r);
}

Test (opts, parse_runs_twice_in_one_process)
{
    ctx_t a = {0};
    result_t r = PARSE (&a, "-d", "/a", "pos");
    cr_assert_eq (r.rc, 3);
    s_result_free (&r);
    ctx_t b = {0};
    r = PARSE (&b, "--data", "/b");
    cr_assert_eq (r.rc, 3);
    cr_assert_str_eq (b.data, "/b");
    s_result_free (&r);
}

Test (opts, usage_goes_to_stdout)
{
    FILE *out = tmpfile ();
    cr_assert_not_null (out);
    fflush (stdout);
    int saved = dup (1);
    dup2 (fileno (out), 1);
    sl_opts_usage (&s_spec);
    fflush (stdout);
    dup2 (saved, 1);
    close (saved);
    fseek (out, 0, SEEK_END);
    char *text = s_slurp (out);
    cr_assert_not_null (strstr (text, "--retain-age AGE"), "%s", text);
    free (text);
}

Test (opts, find_value_takes_the_last_and_stops_at_dashes)
{
    char *argv[] = {"p",  "--plugin", "a.so", "--plugins", "x", "--plugin=b.so",
                    "--", "--plugin", "c.so", NULL};
    cr_assert_str_eq (sl_opts_find_value (9, argv, "plugin", NULL), "b.so");
    char *argv2[] = {"p", "--plugin", NULL};
    cr_assert_null (sl_opts_find_value (2, argv2, "plugin", NULL));
    char *argv3[] = {"p", "--pluginx=a", NULL};
    cr_assert_null (sl_opts_find_value (2, argv3, "plugin", NULL));
}

//  sl_opts_parse_typed: the table's defaults first, then argv over them; a
//  table whose default does not parse is refused (exit 2), not half-applied.
typedef struct {
    uint64_t size;
    int64_t wait_ms;
} s_typed_t;

static const sl_opt_t s_typed_opts[] = {
    {"size", 0, "SIZE", "a size", SL_OPT_FIELD (s_typed_t, size), .type = SL_ARG_SIZE,
     .def = "64k"},
    {"wait", 0, "DURATION", "a wait", SL_OPT_FIELD (s_typed_t, wait_ms), .type = SL_ARG_DURATION,
     .def = "2s"},
    {.name = NULL},
};

static const sl_opt_t s_bad_default_opts[] = {
    {"size", 0, "SIZE", "a size", SL_OPT_FIELD (s_typed_t, size), .type = SL_ARG_SIZE,
     .def = "lots"},
    {.name = NULL},
};

Test (opts, parse_typed_applies_defaults_then_argv)
{
    sl_opts_spec_t spec = {.program = "sluice-test", .opts = s_typed_opts};
    s_typed_t t = {0, 0};
    int code = -1;
    int first =
        sl_opts_parse_typed (&spec, ARGC ("--wait", "5m"), ARGV ("--wait", "5m"), NULL, &t, &code);
    cr_assert_eq (first, 3);
    cr_assert_eq (t.size, 64 * 1024, "the default");
    cr_assert_eq (t.wait_ms, 5 * 60 * 1000, "argv over the default");
}

Test (opts, parse_typed_refuses_a_table_whose_default_does_not_parse)
{
    sl_opts_spec_t spec = {.program = "sluice-test", .opts = s_bad_default_opts};
    s_typed_t t = {0, 0};
    int code = -1;
    fflush (stderr);
    int saved_err = dup (2);
    FILE *err = tmpfile ();
    dup2 (fileno (err), 2);
    int first = sl_opts_parse_typed (&spec, ARGC ("x"), ARGV ("x"), NULL, &t, &code);
    fflush (stderr);
    dup2 (saved_err, 2);
    close (saved_err);
    fseek (err, 0, SEEK_END);
    char *text = s_slurp (err);
    cr_assert_eq (first, -1);
    cr_assert_eq (code, 2);
    cr_assert (strstr (text, "a default of the option table does not parse"), "%s", text);
    free (text);
}
