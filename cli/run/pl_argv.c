/*  pl_argv.c - which keys each stage takes, and the argument vectors and
    shell lines made from a pipeline.

    A stage's keys are its program's option table (broker_opts.c,
    source_opts.c, worker_opts.c, sink_opts.c), minus the entries marked
    SL_OPT_NO_KEY, which `sluice run` sets itself: --broker for every stage,
    --group for workers (from the group's name; --member is a prefix), --list
    for sinks and --check for the broker. An entry's `key` renames it where
    the flag's name means something else in a pipeline file: `name` is the
    stage's name, so a source's --name is `producer` and a sink's --name is
    `reader`; a sink's `output` key sends its standard output to a file, so
    its --output DIR is `output-dir`.
*/
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_opts.h"
#include "pipeline_int.h"
#include "sink_opts.h"
#include "source_opts.h"
#include "worker_opts.h"

//  The most keys a stage kind has (its program's table, plus --verbose and
//  --quiet, which sl_opts gives every program).
#define S_MAX_FLAGS 96

//  The table of kind's program, whose entries are the stage's keys.
static const sl_opts_spec_t *
s_spec (sl_stage_kind_t kind)
{
    switch (kind) {
    case SL_STAGE_BROKER:
        return &sl_broker_opts;
    case SL_STAGE_SOURCE:
        return &sl_source_opts;
    case SL_STAGE_GROUP:
        return &sl_worker_opts;
    case SL_STAGE_SINK:
        return &sl_sink_opts;
    }
    return &sl_broker_opts;
}

//  Fills flags[] from the program's option table: every entry but those
//  `sluice run` sets itself (SL_OPT_NO_KEY), under its pipeline key.
static void
s_derive (const sl_opts_spec_t *spec, sl_pl_flag_t *flags)
{
    size_t n = 0;
    for (const sl_opt_t *opt = spec->opts; opt->name; opt++) {
        if (opt->flags & SL_OPT_NO_KEY) {
            continue;
        }
        assert (n + 3 < S_MAX_FLAGS);
        flags[n++] = (sl_pl_flag_t){
            .key = opt->key ? opt->key : opt->name,
            .flag = opt->name,
            .kind = !opt->arg     ? SL_PL_SWITCH
                    : opt->repeat ? SL_PL_REPEAT
                                  : SL_PL_VALUE,
            .path = (opt->flags & SL_OPT_PATH) != 0,
        };
    }
    flags[n++] = (sl_pl_flag_t){"verbose", "verbose", SL_PL_SWITCH, false};
    flags[n++] = (sl_pl_flag_t){"quiet", "quiet", SL_PL_SWITCH, false};
    flags[n] = (sl_pl_flag_t){NULL, NULL, 0, false};
}

const sl_pl_flag_t *
sl_pl_flags (sl_stage_kind_t kind)
{
    static sl_pl_flag_t flags[4][S_MAX_FLAGS];
    int k = (int)kind >= 0 && (int)kind < 4 ? (int)kind : 0;
    if (!flags[k][0].key) {
        s_derive (s_spec ((sl_stage_kind_t)k), flags[k]);
    }
    return flags[k];
}

const sl_pl_flag_t *
sl_pl_flag_find (sl_stage_kind_t kind, const char *key)
{
    for (const sl_pl_flag_t *f = sl_pl_flags (kind); f->key; f++) {
        if (strcmp (f->key, key) == 0) {
            return f;
        }
    }
    return NULL;
}

//  The keys of a stage besides its flags, per kind.
static const char *const s_broker_keys[] = {NULL};
static const char *const s_source_keys[] = {"name", "files", NULL};
static const char *const s_group_keys[] = {"name", "members", NULL};
static const char *const s_sink_keys[] = {"name", "output", "append", NULL};

const char *const *
sl_pipeline_keys (sl_stage_kind_t kind)
{
    //  Built once per kind: the extra keys, then the flag keys.
    static const char *lists[4][64];
    int k = (int)kind;
    if (k < 0 || k > 3) {
        return NULL;
    }
    if (!lists[k][0]) {
        const char *const *extra = kind == SL_STAGE_BROKER   ? s_broker_keys
                                   : kind == SL_STAGE_SOURCE ? s_source_keys
                                   : kind == SL_STAGE_GROUP  ? s_group_keys
                                                             : s_sink_keys;
        size_t n = 0;
        for (size_t i = 0; extra[i] && n < 63; i++) {
            lists[k][n++] = extra[i];
        }
        for (const sl_pl_flag_t *f = sl_pl_flags (kind); f->key && n < 63; f++) {
            lists[k][n++] = f->key;
        }
        lists[k][n] = NULL;
    }
    return lists[k];
}

const char *
sl_stage_kind_name (sl_stage_kind_t kind)
{
    static const char *names[] = {"broker", "sink", "group", "source"};
    return (int)kind >= 0 && (int)kind < 4 ? names[kind] : "stage";
}

void
sl_argv_free (char ***argv_p)
{
    if (!argv_p || !*argv_p) {
        return;
    }
    for (char **a = *argv_p; *a; a++) {
        free (*a);
    }
    free (*argv_p);
    *argv_p = NULL;
}

//  A growing argument vector; any failure sets failed and is reported once.
typedef struct {
    char **argv;
    size_t n, cap;
    bool failed;
} s_args_t;

static void
s_push (s_args_t *a, const char *text)
{
    if (a->failed) {
        return;
    }
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        char **argv = realloc (a->argv, cap * sizeof *argv);
        if (!argv) {
            a->failed = true;
            return;
        }
        a->argv = argv;
        a->cap = cap;
    }
    a->argv[a->n] = strdup (text);
    if (!a->argv[a->n]) {
        a->failed = true;
        return;
    }
    a->argv[++a->n] = NULL;
}

static void
s_push_flag (s_args_t *a, const char *flag)
{
    size_t len = strlen (flag);
    char *text = malloc (len + 3);
    if (!text) {
        a->failed = true;
        return;
    }
    memcpy (text, "--", 2);
    memcpy (text + 2, flag, len + 1);
    s_push (a, text);
    free (text);
}

static const sl_pl_opt_t *
s_opt (const sl_stage_t *stage, const char *flag)
{
    for (size_t i = 0; i < stage->n_opts; i++) {
        if (strcmp (stage->opts[i].flag, flag) == 0) {
            return &stage->opts[i];
        }
    }
    return NULL;
}

const char *
sl_stage_value (const sl_stage_t *stage, const char *flag)
{
    const sl_pl_opt_t *opt = s_opt (stage, flag);
    return opt && opt->n_values ? opt->values[opt->n_values - 1] : opt ? "" : NULL;
}

char **
sl_pipeline_argv (const sl_pipeline_t *self, const sl_stage_t *stage, int member,
                  const char *program)
{
    s_args_t a = {0};
    s_push (&a, program);
    if (stage->kind != SL_STAGE_BROKER) {
        s_push (&a, "--broker");
        s_push (&a, sl_pipeline_endpoints (self));
    }
    if (stage->kind == SL_STAGE_GROUP) {
        //  Member names are stable across restarts: NAME-N, or MEMBER-N.
        const sl_pl_opt_t *prefix = s_opt (stage, "member");
        char buf[SL_PL_NAME_MAX + 256];
        snprintf (buf, sizeof buf, "%s-%d",
                  prefix && prefix->n_values ? prefix->values[0] : stage->name, member);
        s_push (&a, "--group");
        s_push (&a, stage->name);
        s_push (&a, "--member");
        s_push (&a, buf);
    }
    for (size_t i = 0; i < stage->n_opts; i++) {
        const sl_pl_opt_t *opt = &stage->opts[i];
        if (stage->kind == SL_STAGE_GROUP && strcmp (opt->flag, "member") == 0) {
            continue;
        }
        if (opt->is_switch) {
            s_push_flag (&a, opt->flag);
            continue;
        }
        for (size_t v = 0; v < opt->n_values; v++) {
            s_push_flag (&a, opt->flag);
            s_push (&a, opt->values[v]);
        }
    }
    if (stage->n_files) {
        //  "--" so that a file named like a flag stays a file.
        s_push (&a, "--");
        for (size_t i = 0; i < stage->n_files; i++) {
            s_push (&a, stage->files[i]);
        }
    }
    if (a.failed || !a.argv) {
        if (a.argv) {
            sl_argv_free (&a.argv);
        }
        return NULL;
    }
    return a.argv;
}

//  True when word needs no quoting for a POSIX shell.
static bool
s_shell_safe (const char *word)
{
    if (!*word) {
        return false;
    }
    for (const char *p = word; *p; p++) {
        if (!strchr ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                     "@%_+=:,./-",
                     *p)) {
            return false;
        }
    }
    return true;
}

char *
sl_shell_join (char *const *argv)
{
    //  Worst case: every byte a quote ('\'' is 4 bytes), plus quotes and a space.
    size_t size = 1;
    for (char *const *a = argv; *a; a++) {
        size_t len = strlen (*a);
        if (len > (SIZE_MAX - size) / 4 - 4) {
            return NULL;
        }
        size += len * 4 + 3;
    }
    char *out = malloc (size);
    if (!out) {
        return NULL;
    }
    char *p = out;
    for (char *const *a = argv; *a; a++) {
        if (a != argv) {
            *p++ = ' ';
        }
        if (s_shell_safe (*a)) {
            size_t len = strlen (*a);
            memcpy (p, *a, len);
            p += len;
            continue;
        }
        *p++ = '\'';
        for (const char *c = *a; *c; c++) {
            if (*c == '\'') {
                memcpy (p, "'\\''", 4);
                p += 4;
            }
            else {
                *p++ = *c;
            }
        }
        *p++ = '\'';
    }
    *p = '\0';
    return out;
}
