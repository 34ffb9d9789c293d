/*  test_opts_env.c - which environment variable sets which option
    (lib/core/sl_opts_env.c, docs/options.md "Environment variables"): a
    program's own SLUICE_PROGRAM_NAME always, the shared SLUICE_NAME for the
    common options everywhere and for the others only in a stage program
    without SLUICE_ENV_STRICT; a variable meant for another program is not
    taken. Each test parses a real table with sl_opts_parse_typed; Criterion
    runs every test in its own process, so setenv does not leak.
*/
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_opts.h"
#include "sl_opts_env.h"

typedef struct {
    const char *broker;
    uint32_t count;
} s_cfg_t;

#define F(field) SL_OPT_FIELD (s_cfg_t, field)
static const sl_opt_t s_opts[] = {
    {"broker", 'b', "ENDPOINT", "the broker", F (broker), .type = SL_ARG_STRING},
    {"count", 'c', "N", "how many", F (count), .type = SL_ARG_UINT, .def = "7"},
    {.name = NULL},
};
#undef F

static const sl_opts_spec_t s_stage = {.program = "sluice-sink", .opts = s_opts};
static const sl_opts_spec_t s_command = {.program = "sluice stat", .opts = s_opts};
static const sl_opts_spec_t s_named = {
    .program = "sluice", .opts = s_opts, .env_program = "MANAGE"};

static s_cfg_t
s_parse (const sl_opts_spec_t *spec, int want_code)
{
    s_cfg_t cfg;
    memset (&cfg, 0, sizeof cfg);
    char *argv[] = {"prog", NULL};
    int code = 0;
    int first = sl_opts_parse_typed (spec, 1, argv, NULL, &cfg, &code);
    cr_assert_eq (first < 0 ? code : 0, want_code, "exit code %d", code);
    return cfg;
}

Test (opts_env, a_command_does_not_take_another_programs_variable)
{
    setenv ("SLUICE_COUNT", "3", 1); //  meant for a sink
    cr_assert_eq (s_parse (&s_command, 0).count, 7);
    setenv ("SLUICE_STAT_COUNT", "4", 1);
    cr_assert_eq (s_parse (&s_command, 0).count, 4);
}

Test (opts_env, the_common_options_are_shared_by_every_program)
{
    setenv ("SLUICE_BROKER", "tcp://b:1", 1);
    cr_assert_str_eq (s_parse (&s_command, 0).broker, "tcp://b:1");
    cr_assert_str_eq (s_parse (&s_stage, 0).broker, "tcp://b:1");
    setenv (SL_OPTS_ENV_STRICT, "1", 1);
    cr_assert_str_eq (s_parse (&s_stage, 0).broker, "tcp://b:1");
    //  The program's own variable wins over the shared one.
    setenv ("SLUICE_SINK_BROKER", "tcp://s:2", 1);
    cr_assert_str_eq (s_parse (&s_stage, 0).broker, "tcp://s:2");
}

Test (opts_env, a_stage_program_takes_the_plain_name_unless_strict)
{
    setenv ("SLUICE_COUNT", "3", 1);
    cr_assert_eq (s_parse (&s_stage, 0).count, 3);
    setenv ("SLUICE_SINK_COUNT", "5", 1);
    cr_assert_eq (s_parse (&s_stage, 0).count, 5);
    unsetenv ("SLUICE_SINK_COUNT");
    setenv (SL_OPTS_ENV_STRICT, "1", 1);
    cr_assert_eq (s_parse (&s_stage, 0).count, 7);
    setenv (SL_OPTS_ENV_STRICT, "off", 1);
    cr_assert_eq (s_parse (&s_stage, 0).count, 3);
}

Test (opts_env, a_bad_value_names_the_variable_it_came_from, .init = cr_redirect_stderr)
{
    setenv ("SLUICE_MANAGE_COUNT", "many", 1);
    s_parse (&s_named, 2);
    fflush (stderr);
    cr_assert_stderr_eq_str ("sluice: --count from SLUICE_MANAGE_COUNT: expected a whole number\n");
}

Test (opts_env, help_names_the_variables_each_program_reads)
{
    char names[2 * SL_OPTS_ENV_MAX + 8];
    sl_opts_env_names (&s_command, "count", names, sizeof names);
    cr_assert_str_eq (names, "SLUICE_STAT_COUNT");
    sl_opts_env_names (&s_stage, "count", names, sizeof names);
    cr_assert_str_eq (names, "SLUICE_COUNT or SLUICE_SINK_COUNT");
    sl_opts_env_names (&s_command, "broker", names, sizeof names);
    cr_assert_str_eq (names, "SLUICE_BROKER or SLUICE_STAT_BROKER");
    sl_opts_env_names (&s_named, "count", names, sizeof names);
    cr_assert_str_eq (names, "SLUICE_MANAGE_COUNT");
    cr_assert (sl_opts_env_common ("curve-secret") && !sl_opts_env_common ("count"));
}
