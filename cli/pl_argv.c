/*  pl_argv.c - which keys each stage takes, and the argument vectors and
    shell lines made from a pipeline.

    The tables list each program's flags as its --help shows them (the
    integration test test_run.py compares them), minus the ones `sluice run`
    sets itself: --broker for every stage, --group and --member for workers
    (from the group's name), and --list for sinks. Three flags are renamed,
    because `name` is the stage's name in a pipeline file: a source's --name
    is `producer`, a sink's --name is `reader`; and because a sink's `output`
    key sends its standard output to a file, its --output DIR is `output-dir`.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_int.h"

#define S_COMMON {"verbose", "verbose", SL_PL_SWITCH, false}, \
                 {"quiet", "quiet", SL_PL_SWITCH, false}

//  CURVE keys of a client stage (docs/security.md).
#define S_CLIENT_KEYS {"curve-secret", "curve-secret", SL_PL_VALUE, true}, \
                      {"broker-key", "broker-key", SL_PL_VALUE, true}

static const sl_pl_flag_t s_broker_flags[] = {
    {"data", "data", SL_PL_VALUE, true},
    {"listen", "listen", SL_PL_VALUE, false},
    {"pub", "pub", SL_PL_VALUE, false},
    {"fsync", "fsync", SL_PL_SWITCH, false},
    {"sync", "sync", SL_PL_VALUE, false},
    {"retain-records", "retain-records", SL_PL_VALUE, false},
    {"retain-bytes", "retain-bytes", SL_PL_VALUE, false},
    {"retain-age", "retain-age", SL_PL_VALUE, false},
    {"stream-retention", "stream-retention", SL_PL_REPEAT, false},
    {"max-batch-bytes", "max-batch-bytes", SL_PL_VALUE, false},
    {"initial-map", "initial-map", SL_PL_VALUE, false},
    {"curve-secret", "curve-secret", SL_PL_VALUE, true},
    {"allow", "allow", SL_PL_VALUE, true},
    {"allow-any", "allow-any", SL_PL_SWITCH, false},
    //  Limits (docs/reliability.md, "Limits").
    {"peer-budget", "peer-budget", SL_PL_VALUE, false},
    {"total-budget", "total-budget", SL_PL_VALUE, false},
    {"live-budget", "live-budget", SL_PL_VALUE, false},
    {"stuck-timeout", "stuck-timeout", SL_PL_VALUE, false},
    {"max-groups", "max-groups", SL_PL_VALUE, false},
    {"max-streams", "max-streams", SL_PL_VALUE, false},
    {"max-producers", "max-producers", SL_PL_VALUE, false},
    {"max-connections", "max-connections", SL_PL_VALUE, false},
    {"handshake-timeout", "handshake-timeout", SL_PL_VALUE, false},
    {"http", "http", SL_PL_VALUE, false},
    {"config", "config", SL_PL_VALUE, true},
    S_COMMON,
    {NULL, NULL, 0, false},
};

static const sl_pl_flag_t s_source_flags[] = {
    {"stream", "stream", SL_PL_VALUE, false},
    {"producer", "name", SL_PL_VALUE, false},
    {"format", "format", SL_PL_VALUE, false},
    {"key", "key", SL_PL_VALUE, false},
    {"fixed-key", "fixed-key", SL_PL_VALUE, false},
    {"header", "header", SL_PL_REPEAT, false},
    {"generate", "generate", SL_PL_VALUE, false},
    {"rate", "rate", SL_PL_VALUE, false},
    {"batch-records", "batch-records", SL_PL_VALUE, false},
    {"batch-bytes", "batch-bytes", SL_PL_VALUE, false},
    {"linger", "linger", SL_PL_VALUE, false},
    {"window", "window", SL_PL_VALUE, false},
    {"timeout", "timeout", SL_PL_VALUE, false},
    {"drain-timeout", "drain-timeout", SL_PL_VALUE, false},
    {"connect-timeout", "connect-timeout", SL_PL_VALUE, false},
    {"strict", "strict", SL_PL_SWITCH, false},
    {"progress", "progress", SL_PL_SWITCH, false},
    {"no-progress", "no-progress", SL_PL_SWITCH, false},
    {"follow", "follow", SL_PL_SWITCH, false},
    {"state-dir", "state-dir", SL_PL_VALUE, true},
    {"http", "http", SL_PL_VALUE, false},
    {"http-token-file", "http-token-file", SL_PL_VALUE, true},
    {"http-max-body", "http-max-body", SL_PL_VALUE, false},
    {"http-max-connections", "http-max-connections", SL_PL_VALUE, false},
    {"mqtt", "mqtt", SL_PL_VALUE, false},
    S_CLIENT_KEYS,
    S_COMMON,
    {NULL, NULL, 0, false},
};

static const sl_pl_flag_t s_group_flags[] = {
    {"in", "in", SL_PL_VALUE, false},
    {"out", "out", SL_PL_VALUE, false},
    {"member", "member", SL_PL_VALUE, false},
    {"window", "window", SL_PL_VALUE, false},
    {"leases", "leases", SL_PL_VALUE, false},
    {"key", "key", SL_PL_VALUE, false},
    {"agg", "agg", SL_PL_VALUE, false},
    {"time", "time", SL_PL_VALUE, false},
    {"lateness", "lateness", SL_PL_VALUE, false},
    {"idle", "idle", SL_PL_VALUE, false},
    {"batch", "batch", SL_PL_VALUE, false},
    {"from", "from", SL_PL_VALUE, false},
    {"max-deliver", "max-deliver", SL_PL_VALUE, false},
    {"lease", "lease", SL_PL_VALUE, false},
    {"exec", "exec", SL_PL_VALUE, false},
    {"exec-timeout", "exec-timeout", SL_PL_VALUE, false},
    {"lua", "lua", SL_PL_VALUE, true},
    {"filter", "filter", SL_PL_VALUE, false},
    {"map", "map", SL_PL_VALUE, false},
    {"plugin", "plugin", SL_PL_VALUE, true},
    {"option", "option", SL_PL_REPEAT, false},
    S_CLIENT_KEYS,
    S_COMMON,
    {NULL, NULL, 0, false},
};

static const sl_pl_flag_t s_sink_flags[] = {
    {"stream", "stream", SL_PL_VALUE, false},
    {"from", "from", SL_PL_VALUE, false},
    {"reader", "name", SL_PL_VALUE, false},
    {"exit-at-end", "exit-at-end", SL_PL_SWITCH, false},
    {"count", "count", SL_PL_VALUE, false},
    {"format", "format", SL_PL_VALUE, false},
    {"connect-timeout", "connect-timeout", SL_PL_VALUE, false},
    {"output-dir", "output", SL_PL_VALUE, true},
    {"rotate-bytes", "rotate-bytes", SL_PL_VALUE, false},
    {"rotate-age", "rotate-age", SL_PL_VALUE, false},
    {"compress", "compress", SL_PL_VALUE, false},
    {"mqtt", "mqtt", SL_PL_VALUE, false},
    {"mqtt-topic", "mqtt-topic", SL_PL_VALUE, false},
    {"post", "post", SL_PL_VALUE, false},
    {"max-retries", "max-retries", SL_PL_VALUE, false},
    {"dead-letter", "dead-letter", SL_PL_VALUE, false},
    {"until", "until", SL_PL_VALUE, false},
    {"key-filter", "key-filter", SL_PL_VALUE, false},
    {"post-token-file", "post-token-file", SL_PL_VALUE, false},
    {"post-header-file", "post-header-file", SL_PL_VALUE, false},
    S_CLIENT_KEYS,
    S_COMMON,
    {NULL, NULL, 0, false},
};

const sl_pl_flag_t *
sl_pl_flags (sl_stage_kind_t kind)
{
    switch (kind) {
    case SL_STAGE_BROKER:
        return s_broker_flags;
    case SL_STAGE_SOURCE:
        return s_source_flags;
    case SL_STAGE_GROUP:
        return s_group_flags;
    case SL_STAGE_SINK:
        return s_sink_flags;
    }
    return s_broker_flags;
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
    int k = (int) kind;
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
    return (int) kind >= 0 && (int) kind < 4 ? names[kind] : "stage";
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
        s_push (&a, sl_pipeline_endpoint (self));
    }
    if (stage->kind == SL_STAGE_GROUP) {
        //  Member names are stable across restarts: NAME-N, or MEMBER-N.
        const sl_pl_opt_t *prefix = s_opt (stage, "member");
        char buf[SL_PL_NAME_MAX + 256];
        snprintf (buf, sizeof buf, "%s-%d", prefix && prefix->n_values ? prefix->values[0]
                                                                       : stage->name, member);
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
