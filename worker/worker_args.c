/*  worker_args.c - sluice-worker's options that the table cannot store by
    itself (the operator flags, --window, --key, --agg, --time, --from,
    --option) and the combinations it cannot check.
*/
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "sl_error.h"
#include "sl_opts_env.h"
#include "sl_opts_file.h"
#include "sl_util.h"
#include "sl_window.h"
#include "worker_args.h"
#include "worker_opts.h"

static const struct {
    const char *name;
    sl_op_kind_t kind;
} s_operators[] = {
    {"exec", SL_OPK_EXEC}, {"lua", SL_OPK_LUA},       {"filter", SL_OPK_FILTER},
    {"map", SL_OPK_MAP},   {"plugin", SL_OPK_PLUGIN},
};

static int
s_window (sl_worker_config_t *cfg, const char *arg, const char **why)
{
    if (arg[0] >= '0' && arg[0] <= '9') {
        //  The old meaning, kept for one release.
        uint64_t n = 0;
        if (sl_parse_u64 (arg, &n) || n < 1 || n > 64) {
            *why = "expected a number from 1 to 64";
            return SL_EINVAL;
        }
        cfg->window = (uint32_t)n;
        fprintf (stderr, "sluice-worker: warning: --window N is deprecated: it is --leases N "
                         "now (--window takes a window spec such as tumbling:10s)\n");
        return 0;
    }
    sl_win_spec_t spec;
    cfg->window_spec = arg;
    return sl_win_spec_parse (arg, &spec, why);
}

static int
s_custom (void *ctx, int index, const char *arg, const char **why)
{
    sl_worker_args_t *args = ctx;
    sl_worker_config_t *cfg = &args->cfg;
    const char *name = sl_worker_opts.opts[index].name;
    for (size_t i = 0; i < sizeof s_operators / sizeof s_operators[0]; i++) {
        if (strcmp (name, s_operators[i].name) == 0) {
            cfg->op.kind = s_operators[i].kind;
            cfg->op.arg = arg;
            args->operators++;
            return 0;
        }
    }
    size_t len = strlen (arg);
    if (strcmp (name, "window") == 0) {
        return s_window (cfg, arg, why);
    }
    if (strcmp (name, "key") == 0) {
        cfg->key = arg;
        if (!len || len > SL_WIN_MAX_PATH || arg[0] == '.' || arg[len - 1] == '.' ||
            strstr (arg, "..")) {
            *why = "expected 'record' or a field path such as user or user.id (1..128 bytes)";
            return SL_EINVAL;
        }
        return 0;
    }
    if (strcmp (name, "agg") == 0) {
        sl_agg_t aggs[SL_WIN_MAX_AGGS];
        size_t n;
        cfg->agg = arg;
        return sl_agg_parse (arg, aggs, &n, why);
    }
    if (strcmp (name, "time") == 0) {
        cfg->time = arg;
        *why = "expected 'record' or a field path such as ts";
        return !len || len > SL_WIN_MAX_PATH ? SL_EINVAL : 0;
    }
    if (strcmp (name, "from") == 0) {
        cfg->from_end = strcmp (arg, "end") == 0;
        *why = "expected beginning or end";
        return cfg->from_end || strcmp (arg, "beginning") == 0 ? 0 : SL_EINVAL;
    }
    //  option
    if (!strchr (arg, '=') || arg[0] == '=') {
        *why = "expected KEY=VALUE";
        return SL_EINVAL;
    }
    if (args->n_options >= SL_WORKER_MAX_OPTIONS) {
        *why = "too many options";
        return SL_EINVAL;
    }
    args->options[args->n_options++] = arg;
    return 0;
}

//  The combinations the table cannot say: NULL, or what is wrong.
static const char *
s_check (const sl_worker_args_t *args)
{
    const sl_worker_config_t *cfg = &args->cfg;
    if (!cfg->broker || !cfg->group || !cfg->in || !cfg->out) {
        return "--broker, --group, --in and --out are required; try --help";
    }
    if (strcmp (cfg->in, cfg->out) == 0) {
        return "--out must differ from --in";
    }
    if (args->operators > 1) {
        return "give one operator (--exec, --lua, --filter, --map or --plugin)";
    }
    if (cfg->shares && !cfg->key) {
        return "--shares needs --key (shares cut a keyed group's key space)";
    }
    if (cfg->window_spec && !cfg->key) {
        return "--window needs --key (windows are per key)";
    }
    if (!cfg->window_spec && (cfg->agg || cfg->time || cfg->lateness_ms || cfg->idle_ms)) {
        return "--agg, --time, --lateness and --idle need --window";
    }
    if (cfg->window_spec && args->operators > 0) {
        return "--window is the operator: give no --exec, --lua, --filter, --map or --plugin "
               "with it";
    }
    return NULL;
}

//  --plugin FILE --help: the plugin's own options, from its table, after
//  the worker's.
static void
s_plugin_help (int argc, char **argv)
{
    char env[SL_OPTS_ENV_MAX]; //  SLUICE_WORKER_PLUGIN or SLUICE_PLUGIN (sl_opts_env.h)
    const char *path = sl_opts_find_value (
        argc, argv, "plugin", sl_opts_env_get (&sl_worker_opts, "plugin", env) ? env : NULL);
    if (!path) {
        return;
    }
    static const char *types[] = {"TEXT", "INT", "BOOL"};
    const sl_operator_t *op = NULL;
    void *handle = NULL;
    char why[512];
    if (sl_op_plugin_load (path, &op, &handle, why, sizeof why)) {
        printf ("\n%s\n", why);
        return;
    }
    printf ("\nOptions of operator %s (%s), as --option KEY=VALUE:\n", op->name, path);
    for (const sl_op_option_t *o = op->options; o && o->key; o++) {
        char left[128];
        snprintf (left, sizeof left, "%s=%s", o->key, types[o->type]);
        printf ("  %-26s  %s (%s%s%s)\n", left, o->help ? o->help : "",
                o->default_value ? "default '" : "required",
                o->default_value ? o->default_value : "", o->default_value ? "'" : "");
    }
    if (!op->options || !op->options[0].key) {
        printf ("  (none)\n");
    }
    dlclose (handle);
}

int
sl_worker_args_parse (int argc, char **argv, sl_worker_args_t *args)
{
    int code = 0;
    sl_opts_spec_t spec = sl_worker_opts;
    spec.help_more = s_plugin_help;
    int first = sl_opts_parse (&spec, argc, argv, s_custom, args, &code);
    if (first < 0) {
        return code;
    }
    if (first < argc) {
        fprintf (stderr, "sluice-worker: unexpected argument '%s'; try --help\n", argv[first]);
        return 2;
    }
    const char *why = s_check (args);
    if (why) {
        fprintf (stderr, "sluice-worker: %s\n", why);
        return 2;
    }
    args->cfg.op.options = args->options;
    args->cfg.op.n_options = args->n_options;
    code = sl_client_security_flags ("sluice-worker", args->curve_secret, args->broker_key);
    return code ? code : -1;
}
