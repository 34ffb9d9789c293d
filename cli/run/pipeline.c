/*  pipeline.c - the pipeline model: stages built from a parsed YAML tree,
    command-line overrides, and the checks that run before anything starts.

    Every error names the file, line and column of the node at fault and
    says what was expected, so that a typo in a pipeline file is found
    before a process is started rather than as a stage that keeps crashing.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pipeline_int.h"
#include "sl_endpoint.h"
#include "sl_error.h"
#include "sl_util.h"

#define S_MAX_PROCESSES 1024 //  processes one pipeline may start
#define S_DEFAULT_DATA "sluice-data"
#define S_DEFAULT_LISTEN "tcp://127.0.0.1:7600"
#define S_DEFAULT_REPLICA_DATA "sluice-replica"

struct _sl_pipeline_t {
    char *file;         //  name used in errors
    char *basedir;      //  relative paths in the file resolve here; NULL for cwd
    sl_stage_t *stages; //  broker, sinks, groups, sources
    size_t n_stages;
    char endpoint[512];
    char endpoints[1024]; //  every stage's --broker: the broker's, then the replica's
    bool checked;
};

//  Where a key is being set from: the file (replace false: a key may appear
//  once) or --set (replace true: the new value replaces the old).
typedef struct {
    sl_pipeline_t *pl;
    char *err;
    size_t err_size;
    const char *basedir;
    bool replace;
} s_ctx_t;

static void
s_opt_free (sl_pl_opt_t *opt)
{
    for (size_t i = 0; i < opt->n_values; i++) {
        free (opt->values[i]);
    }
    free (opt->values);
    free (opt->flag);
    memset (opt, 0, sizeof *opt);
}

static void
s_stage_free (sl_stage_t *stage)
{
    for (size_t i = 0; i < stage->n_opts; i++) {
        s_opt_free (&stage->opts[i]);
    }
    free (stage->opts);
    for (size_t i = 0; i < stage->n_files; i++) {
        free (stage->files[i]);
    }
    free (stage->files);
    free (stage->output);
    memset (stage, 0, sizeof *stage);
}

void
sl_pipeline_destroy (sl_pipeline_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    sl_pipeline_t *self = *self_p;
    for (size_t i = 0; i < self->n_stages; i++) {
        s_stage_free (&self->stages[i]);
    }
    free (self->stages);
    free (self->file);
    free (self->basedir);
    free (self);
    *self_p = NULL;
}

static int
s_fail (s_ctx_t *ctx, const sl_pl_node_t *node, const char *fmt, const char *a, const char *b)
{
    char text[512];
    snprintf (text, sizeof text, fmt, a ? a : "", b ? b : "");
    sl_pl_error (ctx->err, ctx->err_size, ctx->pl->file, node ? node->line : 0,
                 node ? node->column : 0, "%s", text);
    return SL_EINVAL;
}

//  A copy of a path value, joined to the base directory when relative.
static char *
s_path (const char *basedir, const char *value)
{
    if (!basedir || value[0] == '/' || value[0] == '\0' || strcmp (basedir, ".") == 0) {
        return strdup (value);
    }
    size_t size = strlen (basedir) + strlen (value) + 2;
    char *out = malloc (size);
    if (out) {
        snprintf (out, size, "%s/%s", basedir, value);
    }
    return out;
}

//  A scalar that stands for a value: not null, not a map or a list.
static int
s_scalar (s_ctx_t *ctx, const char *key, const sl_pl_node_t *value)
{
    if (value->kind != SL_PL_SCALAR) {
        return s_fail (ctx, value, "'%s' takes one value, not a %s", key,
                       value->kind == SL_PL_MAP ? "map" : "list");
    }
    if (sl_pl_is_null (value)) {
        return s_fail (ctx, value, "'%s' has no value", key, NULL);
    }
    return 0;
}

//  Collects a scalar or a list of scalars into a new array of copies.
static int
s_values (s_ctx_t *ctx, const char *key, const sl_pl_node_t *value, bool path, char ***out,
          size_t *n_out)
{
    const sl_pl_node_t *const *items = (const sl_pl_node_t *const *)&value;
    size_t n = 1;
    if (value->kind == SL_PL_SEQ) {
        items = (const sl_pl_node_t *const *)value->items;
        n = value->n_items;
        if (n > SL_PL_MAX_VALUES) {
            return s_fail (ctx, value, "'%s' has more than 256 items", key, NULL);
        }
    }
    for (size_t i = 0; i < n; i++) {
        int rc = s_scalar (ctx, key, items[i]);
        if (rc) {
            return rc;
        }
    }
    char **values = calloc (n ? n : 1, sizeof *values);
    if (!values) {
        return s_fail (ctx, NULL, "out of memory", NULL, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        bool stdin_dash = strcmp (items[i]->text, "-") == 0;
        values[i] =
            path && !stdin_dash ? s_path (ctx->basedir, items[i]->text) : strdup (items[i]->text);
        if (!values[i]) {
            for (size_t j = 0; j < i; j++) {
                free (values[j]);
            }
            free (values);
            return s_fail (ctx, NULL, "out of memory", NULL, NULL);
        }
    }
    *out = values;
    *n_out = n;
    return 0;
}

static sl_pl_opt_t *
s_find_opt (sl_stage_t *stage, const char *flag)
{
    for (size_t i = 0; i < stage->n_opts; i++) {
        if (strcmp (stage->opts[i].flag, flag) == 0) {
            return &stage->opts[i];
        }
    }
    return NULL;
}

//  Sets a flag of stage from value (a scalar, a boolean or a list).
static int
s_set_flag (s_ctx_t *ctx, sl_stage_t *stage, const sl_pl_flag_t *flag, const sl_pl_node_t *key,
            const sl_pl_node_t *value)
{
    sl_pl_opt_t opt = {.line = key->line, .column = key->column};
    bool off = false;
    if (flag->kind == SL_PL_SWITCH) {
        int on = sl_pl_bool (value);
        if (on < 0) {
            return s_fail (ctx, value, "'%s' is a switch: expected true or false", flag->key, NULL);
        }
        opt.is_switch = true;
        off = on == 0;
    }
    else if (flag->kind == SL_PL_VALUE && value->kind == SL_PL_SEQ) {
        return s_fail (ctx, value, "'%s' takes one value, not a list", flag->key, NULL);
    }
    else {
        int rc = s_values (ctx, flag->key, value, flag->path, &opt.values, &opt.n_values);
        if (rc) {
            return rc;
        }
    }
    opt.flag = strdup (flag->flag);
    if (!opt.flag) {
        s_opt_free (&opt);
        return s_fail (ctx, NULL, "out of memory", NULL, NULL);
    }
    sl_pl_opt_t *old = s_find_opt (stage, flag->flag);
    if (old) {
        //  Only --set gets here (the file's duplicates are refused earlier).
        s_opt_free (old);
        *old = opt;
        if (off) {
            s_opt_free (old);
            *old = stage->opts[--stage->n_opts];
        }
        return 0;
    }
    if (off) {
        s_opt_free (&opt);
        return 0;
    }
    sl_pl_opt_t *opts = realloc (stage->opts, (stage->n_opts + 1) * sizeof *opts);
    if (!opts) {
        s_opt_free (&opt);
        return s_fail (ctx, NULL, "out of memory", NULL, NULL);
    }
    stage->opts = opts;
    stage->opts[stage->n_opts++] = opt;
    return 0;
}

//  Explains a key that is not in the table, with a hint for the usual slips.
static int
s_unknown_key (s_ctx_t *ctx, const sl_stage_t *stage, const sl_pl_node_t *key)
{
    const char *k = key->text;
    const char *what = sl_stage_kind_name (stage->kind);
    if (strcmp (k, "broker") == 0) {
        return s_fail (ctx, key,
                       "unknown key 'broker' in a %s: sluice run gives every stage "
                       "the broker's address itself",
                       what, NULL);
    }
    if (stage->kind == SL_STAGE_GROUP && strcmp (k, "group") == 0) {
        return s_fail (ctx, key, "unknown key 'group': a group's name is its 'name'", NULL, NULL);
    }
    static const char *programs[] = {"sluice-broker", "sluice-sink", "sluice-worker",
                                     "sluice-source"};
    char text[300];
    snprintf (text, sizeof text, "unknown key '%.64s' in %s '%.64s': not a %s flag", k, what,
              stage->name, programs[stage->kind]);
    return s_fail (ctx, key, "%s%s (docs/run.md lists the keys)", text, NULL);
}

//  One key of a stage's map.
static int
s_stage_key (s_ctx_t *ctx, sl_stage_t *stage, const sl_pl_node_t *key, const sl_pl_node_t *value)
{
    const char *k = key->text;
    if (stage->kind != SL_STAGE_BROKER && strcmp (k, "name") == 0) {
        if (ctx->replace) {
            return s_fail (ctx, key, "a stage's name cannot be set from the command line", NULL,
                           NULL);
        }
        int rc = s_scalar (ctx, k, value);
        if (rc) {
            return rc;
        }
        if (value->len > SL_PL_NAME_MAX || !sl_name_valid (value->text, value->len)) {
            return s_fail (ctx, value,
                           "bad name '%.80s': expected 1-64 characters of "
                           "[A-Za-z0-9._-], not starting with '.'",
                           value->text, NULL);
        }
        snprintf (stage->name, sizeof stage->name, "%s", value->text);
        return 0;
    }
    if (stage->kind == SL_STAGE_GROUP && strcmp (k, "members") == 0) {
        uint64_t n = 0;
        if (value->kind != SL_PL_SCALAR || sl_parse_u64 (value->text, &n) != 0 || n < 1 ||
            n > SL_PL_MAX_MEMBERS) {
            return s_fail (ctx, value, "'members' must be a number from 1 to 64", NULL, NULL);
        }
        stage->members = (int)n;
        return 0;
    }
    if (stage->kind == SL_STAGE_SOURCE && strcmp (k, "files") == 0) {
        char **files = NULL;
        size_t n = 0;
        int rc = s_values (ctx, k, value, true, &files, &n);
        if (rc) {
            return rc;
        }
        for (size_t i = 0; i < stage->n_files; i++) {
            free (stage->files[i]);
        }
        free (stage->files);
        stage->files = files;
        stage->n_files = n;
        return 0;
    }
    if (stage->kind == SL_STAGE_SINK && strcmp (k, "output") == 0) {
        int rc = s_scalar (ctx, k, value);
        if (rc) {
            return rc;
        }
        char *path = s_path (ctx->basedir, value->text);
        if (!path) {
            return s_fail (ctx, NULL, "out of memory", NULL, NULL);
        }
        free (stage->output);
        stage->output = path;
        return 0;
    }
    if (stage->kind == SL_STAGE_SINK && strcmp (k, "append") == 0) {
        int on = sl_pl_bool (value);
        if (on < 0) {
            return s_fail (ctx, value, "'append' is a switch: expected true or false", NULL, NULL);
        }
        stage->append = on == 1;
        return 0;
    }
    if (stage->kind == SL_STAGE_BROKER && strcmp (stage->name, "replica") == 0 &&
        strcmp (k, "replica-of") == 0) {
        return s_fail (ctx, key,
                       "the replica follows the broker: sluice run sets its 'replica-of' "
                       "from the broker's 'replication'",
                       NULL, NULL);
    }
    const sl_pl_flag_t *flag = sl_pl_flag_find (stage->kind, k);
    if (!flag) {
        return s_unknown_key (ctx, stage, key);
    }
    return s_set_flag (ctx, stage, flag, key, value);
}

//  A key node must be a plain or quoted scalar; its keys must be unique.
static int
s_check_key (s_ctx_t *ctx, const sl_pl_node_t *map, size_t i)
{
    const sl_pl_node_t *key = map->items[i];
    if (key->kind != SL_PL_SCALAR) {
        return s_fail (ctx, key, "a key must be a plain word", NULL, NULL);
    }
    for (size_t j = 0; j < i; j += 2) {
        if (strcmp (map->items[j]->text, key->text) == 0) {
            char where[32];
            snprintf (where, sizeof where, "%d", map->items[j]->line);
            return s_fail (ctx, key, "'%.64s' given twice (first on line %s)", key->text, where);
        }
    }
    return 0;
}

static int
s_add_stage (s_ctx_t *ctx, sl_stage_kind_t kind, const sl_pl_node_t *node, size_t index)
{
    sl_pipeline_t *pl = ctx->pl;
    if (pl->n_stages >= SL_PL_MAX_STAGES + 1) {
        return s_fail (ctx, node, "more than 256 stages", NULL, NULL);
    }
    sl_stage_t *stages = realloc (pl->stages, (pl->n_stages + 1) * sizeof *stages);
    if (!stages) {
        return s_fail (ctx, NULL, "out of memory", NULL, NULL);
    }
    pl->stages = stages;
    sl_stage_t *stage = &pl->stages[pl->n_stages++];
    memset (stage, 0, sizeof *stage);
    stage->kind = kind;
    stage->members = 1;
    stage->line = node ? node->line : 0;
    stage->column = node ? node->column : 0;
    if (kind == SL_STAGE_BROKER) {
        //  The second broker stage is the `replica` section's.
        snprintf (stage->name, sizeof stage->name, "%s", index ? "replica" : "broker");
    }
    else {
        snprintf (stage->name, sizeof stage->name, "%s-%zu", sl_stage_kind_name (kind), index + 1);
    }
    if (!node || sl_pl_is_null (node)) {
        return 0;
    }
    if (node->kind != SL_PL_MAP) {
        return s_fail (ctx, node, "a %s is a map of keys (its program's flags)",
                       sl_stage_kind_name (kind), NULL);
    }
    for (size_t i = 0; i + 1 < node->n_items; i += 2) {
        int rc = s_check_key (ctx, node, i);
        if (!rc) {
            rc = s_stage_key (ctx, stage, node->items[i], node->items[i + 1]);
        }
        if (rc) {
            return rc;
        }
    }
    return 0;
}

static const char *s_sections[] = {"broker", "sinks", "groups", "sources"};

//  Builds the stages of one section, in start order (broker first).
static int
s_section (s_ctx_t *ctx, const sl_pl_node_t *root, sl_stage_kind_t kind)
{
    const sl_pl_node_t *value = NULL;
    for (size_t i = 0; root && i + 1 < root->n_items; i += 2) {
        if (strcmp (root->items[i]->text, s_sections[kind]) == 0) {
            value = root->items[i + 1];
        }
    }
    if (kind == SL_STAGE_BROKER) {
        int rc = s_add_stage (ctx, kind, value, 0);
        //  A replica broker of the broker, when the file has a `replica`
        //  map (docs/run.md, "A replica").
        for (size_t i = 0; rc == 0 && root && i + 1 < root->n_items; i += 2) {
            if (strcmp (root->items[i]->text, "replica") == 0) {
                const sl_pl_node_t *r = root->items[i + 1];
                rc = r->kind == SL_PL_MAP
                         ? s_add_stage (ctx, kind, r, 1)
                         : s_fail (ctx, r,
                                   "'replica' is a map of sluice-broker flags (at least "
                                   "its own 'listen')",
                                   NULL, NULL);
            }
        }
        return rc;
    }
    if (!value || sl_pl_is_null (value)) {
        return 0;
    }
    if (value->kind != SL_PL_SEQ) {
        return s_fail (ctx, value, "'%s' is a list (each item starts with '- ')", s_sections[kind],
                       NULL);
    }
    for (size_t i = 0; i < value->n_items; i++) {
        int rc = s_add_stage (ctx, kind, value->items[i], i);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

static int
s_build (s_ctx_t *ctx, const sl_pl_node_t *root)
{
    if (!root) {
        return s_fail (ctx, NULL,
                       "the file is empty: a pipeline names at least a source, a "
                       "group or a sink",
                       NULL, NULL);
    }
    if (root->kind != SL_PL_MAP) {
        return s_fail (ctx, root,
                       "a pipeline is a map with the keys broker, sources, groups "
                       "and sinks",
                       NULL, NULL);
    }
    for (size_t i = 0; i + 1 < root->n_items; i += 2) {
        int rc = s_check_key (ctx, root, i);
        if (rc) {
            return rc;
        }
        bool known = false;
        for (size_t s = 0; s < 4; s++) {
            known = known || strcmp (root->items[i]->text, s_sections[s]) == 0;
        }
        known = known || strcmp (root->items[i]->text, "replica") == 0;
        if (!known) {
            return s_fail (ctx, root->items[i],
                           "unknown key '%.64s' (a pipeline has broker, replica, "
                           "sources, groups and sinks)",
                           root->items[i]->text, NULL);
        }
    }
    for (int kind = SL_STAGE_BROKER; kind <= SL_STAGE_SOURCE; kind++) {
        int rc = s_section (ctx, root, (sl_stage_kind_t)kind);
        if (rc) {
            return rc;
        }
    }
    //  Names label output and --set targets: they must be unique.
    for (size_t i = 0; i < ctx->pl->n_stages; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp (ctx->pl->stages[i].name, ctx->pl->stages[j].name) == 0) {
                const sl_stage_t *s = &ctx->pl->stages[i];
                sl_pl_error (ctx->err, ctx->err_size, ctx->pl->file, s->line, s->column,
                             "two stages are named '%s'", s->name);
                return SL_EINVAL;
            }
        }
    }
    return 0;
}

sl_pipeline_t *
sl_pipeline_parse (const char *text, size_t len, const char *file, const char *basedir, char *err,
                   size_t err_size)
{
    file = file ? file : "<pipeline>";
    sl_pipeline_t *self = calloc (1, sizeof *self);
    sl_pl_node_t *root = NULL;
    if (!self || !(self->file = strdup (file)) ||
        (basedir && !(self->basedir = strdup (basedir)))) {
        sl_pl_error (err, err_size, file, 0, 0, "out of memory");
        goto fail;
    }
    root = sl_pl_yaml_parse (text, len, file, err, err_size);
    if (!root && err && err[0]) {
        goto fail;
    }
    s_ctx_t ctx = {.pl = self, .err = err, .err_size = err_size, .basedir = self->basedir};
    if (s_build (&ctx, root)) {
        goto fail;
    }
    sl_pl_node_free (&root);
    return self;
fail:
    sl_pl_node_free (&root);
    sl_pipeline_destroy (&self);
    return NULL;
}

sl_pipeline_t *
sl_pipeline_load (const char *path, char *err, size_t err_size)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        sl_pl_error (err, err_size, path, 0, 0, "cannot open: %m");
        return NULL;
    }
    char *text = malloc (SL_PL_MAX_FILE + 1);
    size_t len = text ? fread (text, 1, SL_PL_MAX_FILE + 1, f) : 0;
    bool bad = !text || ferror (f);
    fclose (f);
    if (bad) {
        free (text);
        sl_pl_error (err, err_size, path, 0, 0, "cannot read");
        return NULL;
    }
    //  The directory part of path, for relative paths inside the file.
    char *dir = strdup (path);
    char *slash = dir ? strrchr (dir, '/') : NULL;
    if (dir && slash) {
        if (slash == dir) {
            slash[1] = '\0';
        }
        else {
            *slash = '\0';
        }
    }
    sl_pipeline_t *self = NULL;
    if (dir) {
        self = sl_pipeline_parse (text, len, path, slash ? dir : ".", err, err_size);
    }
    else {
        sl_pl_error (err, err_size, path, 0, 0, "out of memory");
    }
    free (dir);
    free (text);
    return self;
}

int
sl_pipeline_set (sl_pipeline_t *self, const char *assignment, char *err, size_t err_size)
{
    s_ctx_t ctx = {.pl = self, .err = err, .err_size = err_size, .basedir = NULL, .replace = true};
    const char *eq = strchr (assignment, '=');
    if (!eq) {
        sl_pl_error (err, err_size, NULL, 0, 0, "--set %s: expected STAGE.KEY=VALUE", assignment);
        return SL_EINVAL;
    }
    //  STAGE may hold dots itself: take the longest stage name that fits.
    sl_stage_t *stage = NULL;
    size_t best = 0;
    for (size_t i = 0; i < self->n_stages; i++) {
        size_t n = strlen (self->stages[i].name);
        if (n > best && assignment + n < eq && strncmp (assignment, self->stages[i].name, n) == 0 &&
            assignment[n] == '.') {
            stage = &self->stages[i];
            best = n;
        }
    }
    if (!stage) {
        sl_pl_error (err, err_size, NULL, 0, 0,
                     "--set %s: no stage of that name (the stages "
                     "are broker and the names in the file)",
                     assignment);
        return SL_EINVAL;
    }
    size_t key_len = (size_t)(eq - assignment) - best - 1;
    char key_text[128];
    if (key_len == 0 || key_len >= sizeof key_text || strlen (eq + 1) > SL_PL_MAX_SCALAR) {
        sl_pl_error (err, err_size, NULL, 0, 0, "--set %s: expected STAGE.KEY=VALUE", assignment);
        return SL_EINVAL;
    }
    memcpy (key_text, assignment + best + 1, key_len);
    key_text[key_len] = '\0';
    sl_pl_node_t key = {.kind = SL_PL_SCALAR, .text = key_text, .len = key_len, .plain = true};
    sl_pl_node_t value = {
        .kind = SL_PL_SCALAR, .text = (char *)eq + 1, .len = strlen (eq + 1), .plain = true};
    int rc = s_stage_key (&ctx, stage, &key, &value);
    if (rc) {
        //  Errors from --set have no line; name the assignment instead.
        char why[512];
        snprintf (why, sizeof why, "%s", err ? err : "");
        sl_pl_error (err, err_size, NULL, 0, 0, "--set %s: %s", assignment,
                     strncmp (why, self->file, strlen (self->file)) == 0
                         ? why + strlen (self->file) + 2
                         : why);
    }
    self->checked = false;
    return rc;
}

//  The address clients use for a broker listening on listen.
static void
s_client_endpoint (const char *listen, char *out, size_t size)
{
    const char *rest = NULL;
    if (strncmp (listen, "tcp://*:", 8) == 0) {
        rest = listen + 7;
        snprintf (out, size, "tcp://127.0.0.1%s", rest);
    }
    else if (strncmp (listen, "tcp://0.0.0.0:", 14) == 0) {
        snprintf (out, size, "tcp://127.0.0.1%s", listen + 13);
    }
    else if (strncmp (listen, "tcp://[::]:", 11) == 0) {
        snprintf (out, size, "tcp://[::1]%s", listen + 10);
    }
    else {
        snprintf (out, size, "%s", listen);
    }
}

static int
s_default (s_ctx_t *ctx, sl_stage_t *stage, const char *key, const char *text)
{
    const sl_pl_flag_t *flag = sl_pl_flag_find (stage->kind, key);
    if (s_find_opt (stage, flag->flag)) {
        return 0;
    }
    sl_pl_node_t k = {.kind = SL_PL_SCALAR, .text = (char *)key, .len = strlen (key)};
    sl_pl_node_t v = {.kind = SL_PL_SCALAR, .text = (char *)text, .len = strlen (text)};
    return s_set_flag (ctx, stage, flag, &k, &v);
}

//  The replica stage: its own data and listen, and --replica-of the
//  broker's replication endpoint (as a client dials it). Adds its address
//  to the endpoints every stage is given.
static int
s_check_replica (s_ctx_t *ctx, sl_stage_t *replica, sl_stage_t *broker)
{
    sl_pl_node_t at = {.line = replica->line, .column = replica->column};
    sl_pl_opt_t *listen = s_find_opt (replica, "listen");
    sl_pl_opt_t *repl = s_find_opt (broker, "replication");
    if (!listen) {
        return s_fail (ctx, &at, "the replica needs its own 'listen' (e.g. tcp://127.0.0.1:7610)",
                       NULL, NULL);
    }
    if (!repl) {
        return s_fail (ctx, &at,
                       "a replica needs the broker's 'replication' (where the replica follows "
                       "it, e.g. tcp://127.0.0.1:7602)",
                       NULL, NULL);
    }
    if (s_find_opt (broker, "curve-secret") && !s_find_opt (replica, "primary-key") &&
        !s_find_opt (replica, "replication-open")) {
        return s_fail (ctx, &at,
                       "the broker uses CURVE: give the replica 'primary-key' (the broker's "
                       "NAME.key) and 'curve-secret' or 'replica-key' (granted replicate), or "
                       "'replication-open' (docs/replication.md)",
                       NULL, NULL);
    }
    char why[400], client[512];
    if (sl_endpoint_check (listen->values[0], SL_ENDPOINT_BIND, why, sizeof why)) {
        return s_fail (ctx, &at, "replica 'listen': %s", why, NULL);
    }
    s_client_endpoint (listen->values[0], client, sizeof client);
    if (strcmp (client, ctx->pl->endpoint) == 0) {
        return s_fail (ctx, &at, "the replica's 'listen' is the broker's: give it another port",
                       NULL, NULL);
    }
    snprintf (ctx->pl->endpoints, sizeof ctx->pl->endpoints, "%s,%s", ctx->pl->endpoint, client);
    s_client_endpoint (repl->values[0], client, sizeof client);
    const sl_pl_flag_t *flag = sl_pl_flag_find (SL_STAGE_BROKER, "replica-of");
    sl_pl_node_t k = {.kind = SL_PL_SCALAR, .text = (char *)"replica-of", .len = 10};
    sl_pl_node_t v = {.kind = SL_PL_SCALAR, .text = client, .len = strlen (client)};
    return s_set_flag (ctx, replica, flag, &k, &v);
}

int
sl_pipeline_check (sl_pipeline_t *self, char *err, size_t err_size)
{
    s_ctx_t ctx = {.pl = self, .err = err, .err_size = err_size, .replace = true};
    size_t processes = 0;
    size_t stdin_readers = 0;
    for (size_t i = 0; i < self->n_stages; i++) {
        sl_stage_t *s = &self->stages[i];
        sl_pl_node_t at = {.line = s->line, .column = s->column};
        const char *missing = NULL;
        processes += (size_t)s->members;
        switch (s->kind) {
        case SL_STAGE_BROKER:
            if (i > 0) {
                int rc = s_default (&ctx, s, "data", S_DEFAULT_REPLICA_DATA);
                rc = rc ? rc : s_check_replica (&ctx, s, &self->stages[0]);
                if (rc) {
                    return rc;
                }
                break;
            }
            if (s_default (&ctx, s, "data", S_DEFAULT_DATA) ||
                s_default (&ctx, s, "listen", S_DEFAULT_LISTEN)) {
                return SL_ENOMEM;
            }
            {
                //  Checked here, so that `sluice run` names a bad address before
                //  it starts anything (and never reports one the broker wrapped).
                char why[400];
                const char *listen = s_find_opt (s, "listen")->values[0];
                if (sl_endpoint_check (listen, SL_ENDPOINT_BIND, why, sizeof why)) {
                    return s_fail (&ctx, &at, "broker 'listen': %s", why, NULL);
                }
                s_client_endpoint (listen, self->endpoint, sizeof self->endpoint);
                snprintf (self->endpoints, sizeof self->endpoints, "%s", self->endpoint);
            }
            break;
        case SL_STAGE_SOURCE: {
            //  An HTTP source takes the stream from each request's URL.
            bool http = s_find_opt (s, "http") != NULL;
            missing = s_find_opt (s, "stream") || http ? NULL : "stream";
            s->reads_stdin =
                s->n_files == 0 && !s_find_opt (s, "generate") && !http && !s_find_opt (s, "mqtt");
            for (size_t f = 0; f < s->n_files; f++) {
                s->reads_stdin = s->reads_stdin || strcmp (s->files[f], "-") == 0;
            }
            stdin_readers += s->reads_stdin;
            break;
        }
        case SL_STAGE_GROUP:
            missing = !s_find_opt (s, "in") ? "in" : !s_find_opt (s, "out") ? "out" : NULL;
            break;
        case SL_STAGE_SINK: {
            missing = s_find_opt (s, "stream") ? NULL : "stream";
            bool at_end = s_find_opt (s, "exit-at-end") != NULL;
            s->finite = at_end || s_find_opt (s, "count");
            s->after_sources = at_end;
            s->durable = s_find_opt (s, "name") != NULL;
            break;
        }
        }
        if (missing) {
            return s_fail (&ctx, &at, "'%s' needs '%s'", s->name, missing);
        }
    }
    if (stdin_readers > 1) {
        return s_fail (&ctx, NULL,
                       "more than one source reads standard input (a source "
                       "without files or generate, or with '-')",
                       NULL, NULL);
    }
    if (processes > S_MAX_PROCESSES) {
        return s_fail (&ctx, NULL, "more than 1024 processes", NULL, NULL);
    }
    self->checked = true;
    return 0;
}

size_t
sl_pipeline_size (const sl_pipeline_t *self)
{
    return self->n_stages;
}

const sl_stage_t *
sl_pipeline_stage (const sl_pipeline_t *self, size_t index)
{
    return index < self->n_stages ? &self->stages[index] : NULL;
}

const char *
sl_pipeline_endpoint (const sl_pipeline_t *self)
{
    return self->endpoint;
}

const char *
sl_pipeline_endpoints (const sl_pipeline_t *self)
{
    return self->endpoints;
}
