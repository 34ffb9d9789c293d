/*  sl_opts.c - command-line flags with environment mirrors, from one table.

    Parsing runs in three steps so that a flag always beats its variable:
    argv is scanned first (getopt_long) and its options are recorded without
    being applied; then the environment is applied for every option that
    argv did not name; then argv's options are applied in order. A
    non-repeatable option given twice on argv ends with the later value (the
    callback is called for each), and a repeatable one given on argv replaces
    its environment list rather than adding to it.
*/
#include "sl_opts.h"

#include <assert.h>
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_opts_env.h"
#include "sl_version.h"

#define S_ENV_MAX 128
#define S_OPT_BASE 256 //  getopt value of table entry i is S_OPT_BASE + i
#define S_HELP 2000
#define S_VERSION 2001
#define S_VERBOSE 2002
#define S_QUIET 2003
#define S_HELP_COLUMN 30
#define S_HELP_WIDTH 100

//  One option found on argv, applied after the environment.
typedef struct {
    int index;       //  table index, or S_VERBOSE / S_QUIET
    const char *arg; //  points into argv
} s_event_t;

//  Copies of environment values handed to callbacks. Callbacks may keep the
//  pointer they get (as they may keep argv's), so the copies live as long as
//  the process; they stay reachable from here.
static char **s_env_copies = NULL;
static size_t s_env_copies_n = 0;

static char *
s_keep_copy (const char *text)
{
    char **list = realloc (s_env_copies, (s_env_copies_n + 1) * sizeof *list);
    if (!list) {
        return NULL;
    }
    s_env_copies = list;
    char *copy = strdup (text);
    if (!copy) {
        return NULL;
    }
    s_env_copies[s_env_copies_n++] = copy;
    return copy;
}

//  A switch's variable: 1 when set, 0 when off or empty, SL_EINVAL otherwise.
static int
s_env_switch (const char *value)
{
    static const char *on[] = {"1", "true", "yes", "on"};
    static const char *off[] = {"", "0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
        if (strcasecmp (value, on[i]) == 0) {
            return 1;
        }
    }
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
        if (strcasecmp (value, off[i]) == 0) {
            return 0;
        }
    }
    return SL_EINVAL;
}

static size_t
s_count (const sl_opts_spec_t *spec)
{
    size_t n = 0;
    while (spec->opts && spec->opts[n].name) {
        n++;
    }
    return n;
}

static bool
s_short_taken (const sl_opts_spec_t *spec, char c)
{
    for (size_t i = 0; spec->opts && spec->opts[i].name; i++) {
        if (spec->opts[i].short_name == c) {
            return true;
        }
    }
    return false;
}

//  Prints help from column S_HELP_COLUMN, wrapped at S_HELP_WIDTH.
static void
s_usage_wrap (const char *text, int width)
{
    while (*text) {
        size_t room = (size_t)(S_HELP_WIDTH - S_HELP_COLUMN);
        size_t len = strlen (text);
        size_t cut = len;
        if (len > room) {
            cut = room;
            while (cut > 0 && text[cut] != ' ') {
                cut--;
            }
            cut = cut ? cut : room;
        }
        printf ("%*s%.*s\n", S_HELP_COLUMN - width, "", (int)cut, text);
        width = 0;
        text += cut;
        while (*text == ' ') {
            text++;
        }
    }
}

static void
s_usage_line (const char *left, const char *help, const char *env, bool repeat)
{
    int width = printf ("  %s", left);
    if (width >= S_HELP_COLUMN) {
        printf ("\n");
        width = 0;
    }
    if (help && *help) {
        s_usage_wrap (help, width);
    }
    else {
        printf ("\n");
    }
    if (env) {
        printf ("%*s[%senv %s%s]\n", S_HELP_COLUMN, "", repeat ? "repeatable; " : "", env,
                repeat ? ", ';'-separated list" : "");
    }
}

void
sl_opts_usage (const sl_opts_spec_t *spec)
{
    printf ("Usage: %s [OPTIONS]%s%s\n", spec->program, spec->synopsis ? " " : "",
            spec->synopsis ? spec->synopsis : "");
    if (spec->about) {
        printf ("\n%s\n", spec->about);
    }
    printf ("\nOptions:\n");
    char left[256];
    char env[2 * SL_OPTS_ENV_MAX + 8];
    for (size_t i = 0; spec->opts && spec->opts[i].name; i++) {
        const sl_opt_t *opt = &spec->opts[i];
        if (opt->short_name) {
            snprintf (left, sizeof left, "-%c, --%s%s%s", opt->short_name, opt->name,
                      opt->arg ? " " : "", opt->arg ? opt->arg : "");
        }
        else {
            snprintf (left, sizeof left, "    --%s%s%s", opt->name, opt->arg ? " " : "",
                      opt->arg ? opt->arg : "");
        }
        sl_opts_env_names (spec, opt->name, env, sizeof env);
        char help[512];
        snprintf (help, sizeof help, "%s%s%s%s", opt->help ? opt->help : "",
                  opt->def ? " (default " : "", opt->def ? opt->def : "", opt->def ? ")" : "");
        s_usage_line (left, help, env, opt->repeat);
    }
    s_usage_line (s_short_taken (spec, 'h') ? "    --help" : "-h, --help",
                  "print this help and exit", NULL, false);
    s_usage_line ("    --version", "print the version and exit", NULL, false);
    sl_opts_env_names (spec, "verbose", env, sizeof env);
    s_usage_line ("-v, --verbose", "log debug lines too", env, false);
    sl_opts_env_names (spec, "quiet", env, sizeof env);
    s_usage_line ("-q, --quiet", "log warnings and errors only", env, false);
    if (spec->footer) {
        printf ("\n%s\n", spec->footer);
    }
    fflush (stdout);
}

//  Names an option for a message: "--name" for table entries.
static void
s_fail_option (const sl_opts_spec_t *spec, const char *source, const char *name, int rc,
               const char *why)
{
    fprintf (stderr, "%s: --%s%s%s: %s\n", spec->program, name, source ? " from " : "",
             source ? source : "", why ? why : sl_strerror (rc));
}

static int
s_apply (const sl_opts_spec_t *spec, sl_opt_fn *fn, void *ctx, int index, const char *arg,
         const char *source)
{
    if (index == S_VERBOSE) {
        sl_log_set_level (SL_LOG_DEBUG);
        return 0;
    }
    if (index == S_QUIET) {
        sl_log_set_level (SL_LOG_WARN);
        return 0;
    }
    const char *why = NULL;
    int rc = sl_opts_apply (spec, fn, ctx, index, arg, &why);
    if (rc < 0) {
        s_fail_option (spec, source, spec->opts[index].name, rc, why);
        return rc;
    }
    return 0;
}

//  Applies one environment variable. Returns 0 or a negative code after
//  printing why.
static int
s_apply_env (const sl_opts_spec_t *spec, sl_opt_fn *fn, void *ctx, int index)
{
    char env[SL_OPTS_ENV_MAX];
    const char *name = index == S_VERBOSE ? "verbose"
                       : index == S_QUIET ? "quiet"
                                          : spec->opts[index].name;
    const char *value = sl_opts_env_get (spec, name, env);
    if (!value) {
        return 0;
    }
    bool is_switch = index == S_VERBOSE || index == S_QUIET || !spec->opts[index].arg;
    if (is_switch) {
        int on = s_env_switch (value);
        if (on < 0) {
            fprintf (stderr, "%s: %s: expected 1/true/yes/on or 0/false/no/off, got '%s'\n",
                     spec->program, env, value);
            return SL_EINVAL;
        }
        return on ? s_apply (spec, fn, ctx, index, NULL, env) : 0;
    }
    //  An empty variable means unset, as compose files often write "NAME=".
    if (*value == '\0') {
        return 0;
    }
    char *copy = s_keep_copy (value);
    if (!copy) {
        fprintf (stderr, "%s: %s: %s\n", spec->program, env, sl_strerror (SL_ENOMEM));
        return SL_ENOMEM;
    }
    if (!spec->opts[index].repeat) {
        return s_apply (spec, fn, ctx, index, copy, env);
    }
    //  Repeatable: a ';'-separated list, empty items skipped.
    char *save = NULL;
    for (char *item = strtok_r (copy, ";", &save); item; item = strtok_r (NULL, ";", &save)) {
        int rc = s_apply (spec, fn, ctx, index, item, env);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

//  Prints a getopt error: names the option as the user typed it.
static void
s_getopt_error (const sl_opts_spec_t *spec, int code, char **argv, const struct option *longopts)
{
    char typed[S_ENV_MAX];
    int val = optopt;
    if (val >= S_OPT_BASE) {
        //  A long option we know: find its name in the getopt table.
        const char *name = "?";
        for (const struct option *lo = longopts; lo->name; lo++) {
            if (lo->val == val) {
                name = lo->name;
                break;
            }
        }
        snprintf (typed, sizeof typed, "--%s", name);
    }
    else if (val > 0) {
        snprintf (typed, sizeof typed, "-%c", val);
    }
    else {
        //  Unknown long option: getopt leaves it at argv[optind - 1].
        const char *text = argv[optind - 1];
        size_t len = strcspn (text, "=");
        snprintf (typed, sizeof typed, "%.*s", (int)len, text);
    }
    if (code == ':') {
        fprintf (stderr, "%s: option '%s' requires an argument; try --help\n", spec->program,
                 typed);
    }
    else if (val >= S_OPT_BASE) {
        fprintf (stderr, "%s: option '%s' takes no argument; try --help\n", spec->program, typed);
    }
    else {
        fprintf (stderr, "%s: unknown option '%s'; try --help\n", spec->program, typed);
    }
}

int
sl_opts_parse (const sl_opts_spec_t *spec, int argc, char **argv, sl_opt_fn *fn, void *ctx,
               int *exit_code)
{
    assert (spec && spec->program && argv && exit_code);
    size_t n = s_count (spec);
    assert (n < S_HELP - S_OPT_BASE);
    assert (!s_short_taken (spec, 'v') && !s_short_taken (spec, 'q'));
    bool help_short = !s_short_taken (spec, 'h');

    int result = -1;
    *exit_code = 2;
    struct option *longopts = calloc (n + 5, sizeof *longopts);
    char *shorts = calloc (n * 2 + 8, 1);
    s_event_t *events = calloc ((size_t)argc + 1, sizeof *events);
    bool *seen = calloc (n + 1, sizeof *seen);
    if (!longopts || !shorts || !events || !seen) {
        fprintf (stderr, "%s: %s\n", spec->program, sl_strerror (SL_ENOMEM));
        goto fail;
    }
    size_t s = 0;
    shorts[s++] = ':';
    for (size_t i = 0; i < n; i++) {
        const sl_opt_t *opt = &spec->opts[i];
        longopts[i].name = opt->name;
        longopts[i].has_arg = opt->arg ? required_argument : no_argument;
        longopts[i].val = S_OPT_BASE + (int)i;
        if (opt->short_name) {
            shorts[s++] = opt->short_name;
            if (opt->arg) {
                shorts[s++] = ':';
            }
        }
    }
    longopts[n + 0] = (struct option){"help", no_argument, NULL, S_HELP};
    longopts[n + 1] = (struct option){"version", no_argument, NULL, S_VERSION};
    longopts[n + 2] = (struct option){"verbose", no_argument, NULL, S_VERBOSE};
    longopts[n + 3] = (struct option){"quiet", no_argument, NULL, S_QUIET};
    if (help_short) {
        shorts[s++] = 'h';
    }
    shorts[s++] = 'v';
    shorts[s++] = 'q';

    //  Step 1: scan argv, recording options; --help and --version end here.
    size_t n_events = 0;
    optind = 0; //  full reinitialisation (GNU), so that parse may run again
    opterr = 0;
    int c;
    while ((c = getopt_long (argc, argv, shorts, longopts, NULL)) != -1) {
        int index = -1;
        if (c == '?' || c == ':') {
            s_getopt_error (spec, c, argv, longopts);
            goto fail;
        }
        else if (c == S_HELP || (c == 'h' && help_short)) {
            sl_opts_usage (spec);
            if (spec->help_more) {
                spec->help_more (argc, argv);
                fflush (stdout);
            }
            *exit_code = 0;
            goto fail;
        }
        else if (c == S_VERSION) {
            printf ("%s %s\n", spec->program, SLUICE_VERSION);
            fflush (stdout);
            *exit_code = 0;
            goto fail;
        }
        else if (c == S_VERBOSE || c == 'v') {
            index = S_VERBOSE;
        }
        else if (c == S_QUIET || c == 'q') {
            index = S_QUIET;
        }
        else if (c >= S_OPT_BASE && c < S_OPT_BASE + (int)n) {
            index = c - S_OPT_BASE;
        }
        else {
            for (size_t i = 0; i < n; i++) {
                if (spec->opts[i].short_name == c) {
                    index = (int)i;
                    break;
                }
            }
        }
        assert (index != -1);
        if (index >= 0 && index < (int)n) {
            seen[index] = true;
        }
        events[n_events].index = index;
        events[n_events].arg = optarg;
        n_events++;
    }
    int first_positional = optind;

    //  Step 2: the environment, for options argv did not name.
    if (s_apply_env (spec, fn, ctx, S_VERBOSE) || s_apply_env (spec, fn, ctx, S_QUIET)) {
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (!seen[i] && s_apply_env (spec, fn, ctx, (int)i)) {
            goto fail;
        }
    }
    //  Step 3: argv, in order, so that a later value overrides an earlier one.
    for (size_t i = 0; i < n_events; i++) {
        if (s_apply (spec, fn, ctx, events[i].index, events[i].arg, NULL)) {
            goto fail;
        }
    }
    *exit_code = 0;
    result = first_positional;
fail:
    free (longopts);
    free (shorts);
    free (events);
    free (seen);
    if (result < 0 && *exit_code == 2) {
        fflush (stderr);
    }
    return result;
}
