/*  test_optables.c - the four programs' option tables (broker_opts.c,
    source_opts.c, sink_opts.c, worker_opts.c) and what is derived from them:
    --help, the defaults, `sluice run`'s stage keys, the typed parsing.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_opts.h"
#include "pipeline_int.h"
#include "sink_opts.h"
#include "sl_error.h"
#include "sl_opts.h"
#include "source_opts.h"
#include "worker_opts.h"

static const sl_opts_spec_t *s_specs[] = {&sl_broker_opts, &sl_source_opts, &sl_sink_opts,
                                          &sl_worker_opts};
static const sl_stage_kind_t s_kinds[] = {SL_STAGE_BROKER, SL_STAGE_SOURCE, SL_STAGE_SINK,
                                          SL_STAGE_GROUP};
#define S_N 4

//  What sl_opts_usage prints for spec (caller frees).
static char *
s_usage (const sl_opts_spec_t *spec)
{
    FILE *out = tmpfile ();
    cr_assert_not_null (out);
    fflush (stdout);
    int saved = dup (1);
    dup2 (fileno (out), 1);
    sl_opts_usage (spec);
    fflush (stdout);
    dup2 (saved, 1);
    close (saved);
    long size = ftell (out);
    rewind (out);
    char *text = calloc ((size_t)size + 1, 1);
    cr_assert_eq (fread (text, 1, (size_t)size, out), (size_t)size);
    fclose (out);
    return text;
}

Test (optables, help_lists_every_entry_with_its_short_flag_and_default)
{
    for (size_t s = 0; s < S_N; s++) {
        char *help = s_usage (s_specs[s]);
        for (const sl_opt_t *opt = s_specs[s]->opts; opt->name; opt++) {
            char want[128];
            if (opt->short_name) {
                snprintf (want, sizeof want, "  -%c, --%s%s%s", opt->short_name, opt->name,
                          opt->arg ? " " : "", opt->arg ? opt->arg : "");
            }
            else {
                snprintf (want, sizeof want, "      --%s%s%s", opt->name, opt->arg ? " " : "",
                          opt->arg ? opt->arg : "");
            }
            cr_expect_not_null (strstr (help, want), "%s --help lacks '%s'", s_specs[s]->program,
                                want);
            if (opt->def) {
                //  The help may wrap between "(default" and the value.
                snprintf (want, sizeof want, "%s)", opt->def);
                cr_expect_not_null (strstr (help, want), "%s --help lacks --%s's default",
                                    s_specs[s]->program, opt->name);
            }
        }
        free (help);
    }
}

Test (optables, a_short_flag_means_one_long_name_across_the_programs)
{
    const char *meaning[128] = {0};
    for (size_t s = 0; s < S_N; s++) {
        for (const sl_opt_t *opt = s_specs[s]->opts; opt->name; opt++) {
            unsigned char c = (unsigned char)opt->short_name;
            if (!c) {
                continue;
            }
            cr_assert_lt (c, 128);
            if (meaning[c]) {
                cr_expect_str_eq (meaning[c], opt->name, "-%c is --%s and --%s", c, meaning[c],
                                  opt->name);
            }
            meaning[c] = opt->name;
        }
    }
}

//  Compares the field of a typed entry in two config structs.
static void
s_expect_same_field (const sl_opt_t *opt, const void *a, const void *b, const char *program)
{
    const char *fa = (const char *)a + opt->offset;
    const char *fb = (const char *)b + opt->offset;
    if (opt->type == SL_ARG_STRING) {
        const char *sa;
        const char *sb;
        memcpy (&sa, fa, sizeof sa);
        memcpy (&sb, fb, sizeof sb);
        cr_expect (sa && sb && strcmp (sa, sb) == 0, "%s --%s: table default '%s', struct '%s'",
                   program, opt->name, sb ? sb : "(null)", sa ? sa : "(null)");
    }
    else {
        cr_expect_eq (memcmp (fa, fb, opt->size), 0,
                      "%s --%s: the table's default %s is not "
                      "the struct's",
                      program, opt->name, opt->def);
    }
}

//  The table's defaults, applied over the program's own defaults, change
//  nothing: the two cannot drift apart.
static void
s_check_defaults (const sl_opts_spec_t *spec, void *config, size_t size)
{
    void *copy = malloc (size);
    cr_assert_not_null (copy);
    memcpy (copy, config, size);
    cr_assert_eq (sl_opts_defaults (spec, copy), 0, "%s: a default does not parse", spec->program);
    int typed_defaults = 0;
    for (const sl_opt_t *opt = spec->opts; opt->name; opt++) {
        if (opt->def && opt->type != SL_ARG_CUSTOM && opt->type != SL_ARG_SWITCH) {
            s_expect_same_field (opt, config, copy, spec->program);
            typed_defaults++;
        }
    }
    cr_expect_gt (typed_defaults, 0, "%s has no typed default to check", spec->program);
    free (copy);
}

Test (optables, table_defaults_are_the_programs_defaults)
{
    static sl_broker_config_t broker;
    sl_broker_config_defaults (&broker);
    s_check_defaults (&sl_broker_opts, &broker, sizeof broker);
    static sl_sink_args_t sink;
    sl_sink_config_init (&sink.cfg);
    s_check_defaults (&sl_sink_opts, &sink, sizeof sink);
    static sl_source_args_t source;
    sl_source_config_defaults (&source.cfg);
    sl_http_in_config_defaults (&source.http);
    s_check_defaults (&sl_source_opts, &source, sizeof source);
    static sl_worker_args_t worker;
    sl_worker_config_defaults (&worker.cfg);
    s_check_defaults (&sl_worker_opts, &worker, sizeof worker);
}

Test (optables, every_pipeline_key_is_an_option_and_every_option_a_key)
{
    for (size_t s = 0; s < S_N; s++) {
        const sl_opts_spec_t *spec = s_specs[s];
        for (const sl_pl_flag_t *f = sl_pl_flags (s_kinds[s]); f->key; f++) {
            bool builtin = strcmp (f->flag, "verbose") == 0 || strcmp (f->flag, "quiet") == 0;
            int index = sl_opts_find (spec, f->flag);
            cr_expect (builtin || index >= 0, "%s key %s is no option", spec->program, f->key);
            if (index >= 0) {
                const sl_opt_t *opt = &spec->opts[index];
                cr_expect_eq (f->kind == SL_PL_SWITCH, opt->arg == NULL, "%s", f->key);
                cr_expect_eq (f->kind == SL_PL_REPEAT, opt->repeat, "%s", f->key);
                cr_expect_eq (f->path, (opt->flags & SL_OPT_PATH) != 0, "%s", f->key);
            }
        }
        for (const sl_opt_t *opt = spec->opts; opt->name; opt++) {
            const sl_pl_flag_t *f = sl_pl_flag_find (s_kinds[s], opt->key ? opt->key : opt->name);
            if (opt->flags & SL_OPT_NO_KEY) {
                cr_expect (!f || strcmp (f->flag, opt->name) != 0, "%s --%s has a key",
                           spec->program, opt->name);
            }
            else {
                cr_expect (f && strcmp (f->flag, opt->name) == 0, "%s --%s has no key",
                           spec->program, opt->name);
            }
        }
    }
    //  The renamed ones, because `name` and `output` mean something else in a file.
    cr_expect_str_eq (sl_pl_flag_find (SL_STAGE_SOURCE, "producer")->flag, "name");
    cr_expect_str_eq (sl_pl_flag_find (SL_STAGE_SINK, "reader")->flag, "name");
    cr_expect_str_eq (sl_pl_flag_find (SL_STAGE_SINK, "output-dir")->flag, "output");
    cr_expect_null (sl_pl_flag_find (SL_STAGE_SINK, "broker"));
    cr_expect_null (sl_pl_flag_find (SL_STAGE_GROUP, "group"));
}

static int
s_apply (const sl_opts_spec_t *spec, void *config, const char *name, const char *arg,
         const char **why)
{
    int index = sl_opts_find (spec, name);
    cr_assert_geq (index, 0, "%s", name);
    return sl_opts_apply (spec, NULL, config, index, arg, why);
}

Test (optables, typed_values_are_bounded_and_a_refused_one_changes_nothing)
{
    static sl_broker_config_t c;
    sl_broker_config_defaults (&c);
    const char *why = NULL;
    cr_expect_eq (s_apply (&sl_broker_opts, &c, "peer-budget", "2G", &why), 0);
    cr_expect_eq (c.peer_budget, 2ull << 30);
    const char *hostile[] = {
        "1k",   "65G", "",    "-1", "1x", "99999999999999999999999", "18446744073709551616",
        "0x10", " 5M", "5M ", NULL};
    for (size_t i = 0; hostile[i]; i++) {
        cr_expect_eq (s_apply (&sl_broker_opts, &c, "peer-budget", hostile[i], &why), SL_EINVAL,
                      "'%s' taken", hostile[i]);
        cr_expect_eq (c.peer_budget, 2ull << 30, "'%s' changed the field", hostile[i]);
    }
    cr_expect_str_eq (why, "expected a size such as 512k, 64M or 2G from 1M to 64G");
    //  A 32-bit field takes no more than its bound.
    cr_expect_eq (s_apply (&sl_broker_opts, &c, "max-groups", "10000001", &why), SL_EINVAL);
    cr_expect_eq (s_apply (&sl_broker_opts, &c, "max-groups", "4294967296", &why), SL_EINVAL);
    cr_expect_eq (c.max_groups, 1024);
    //  An unsigned 32-bit field takes up to UINT32_MAX, not one more.
    static sl_worker_args_t wd;
    cr_expect_eq (s_apply (&sl_worker_opts, &wd, "max-deliver", "4294967295", &why), 0);
    cr_expect_eq (wd.cfg.max_deliver, UINT32_MAX);
    cr_expect_eq (s_apply (&sl_worker_opts, &wd, "max-deliver", "4294967296", &why), SL_EINVAL);
    cr_expect_eq (wd.cfg.max_deliver, UINT32_MAX);
    cr_expect_eq (s_apply (&sl_broker_opts, &c, "handshake-timeout", "2h", &why), SL_EINVAL);
    cr_expect_str_eq (why, "expected a duration such as 500ms, 30s, 5m or 7d from 100ms to 1h");
    cr_expect_eq (s_apply (&sl_broker_opts, &c, "handshake-timeout", "250ms", &why), 0);
    cr_expect_eq (c.handshake_ms, 250);
    cr_expect_eq (s_apply (&sl_broker_opts, &c, "listen", "tcp://nowhere", &why), SL_EINVAL);
    cr_expect_str_eq (c.listen, "tcp://127.0.0.1:7600");
    static sl_worker_args_t w;
    cr_expect_eq (s_apply (&sl_worker_opts, &w, "in", ".hidden", &why), SL_ENAME);
    cr_expect_null (w.cfg.in);
    cr_expect_eq (s_apply (&sl_worker_opts, &w, "in", "orders", &why), 0);
    cr_expect_str_eq (w.cfg.in, "orders");
}

Test (optables, a_typed_option_comes_from_its_environment_variable_and_the_flag_wins)
{
    static sl_broker_config_t c;
    sl_broker_config_defaults (&c);
    setenv ("SLUICE_MAX_STREAMS", "77", 1);
    setenv ("SLUICE_RETAIN_AGE", "2d", 1);
    char *argv[] = {"sluice-broker", "--max-streams", "88", NULL};
    int code = -1;
    int first = sl_opts_parse (&sl_broker_opts, 3, argv, NULL, &c, &code);
    unsetenv ("SLUICE_MAX_STREAMS");
    unsetenv ("SLUICE_RETAIN_AGE");
    cr_assert_eq (first, 3);
    cr_expect_eq (c.max_streams, 88);
    cr_expect_eq (c.retention.max_age_ms, 2 * 86400000ll);
}
