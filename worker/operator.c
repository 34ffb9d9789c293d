/*  operator.c - the worker's operator registry (see operator.h).

    The Lua, filter, map and plugin entries live in other files that a
    worker may be built without (no Lua library on the machine): they are
    referenced weakly, and a missing one is reported as "not built into
    this worker" instead of failing the link. The worker core is linked
    whole, so a present definition always wins over the weak reference.
*/
#include "operator.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sl_error.h"
#include "sl_util.h"

#define S_MAX_OPTIONS 256

extern const sl_operator_t *sl_op_lua (void) __attribute__ ((weak));
extern const sl_operator_t *sl_op_filter (void) __attribute__ ((weak));
extern const sl_operator_t *sl_op_map (void) __attribute__ ((weak));
extern int sl_op_plugin_load (const char *path, const sl_operator_t **op, void **handle, char *why,
                              size_t why_size) __attribute__ ((weak));

//  The option through which each kind receives its main argument.
static const char *
s_main_key (sl_op_kind_t kind)
{
    switch (kind) {
    case SL_OPK_EXEC:
        return "command";
    case SL_OPK_LUA:
        return "file";
    case SL_OPK_FILTER:
    case SL_OPK_MAP:
        return "expr";
    default:
        return NULL;
    }
}

static const char *
s_kind_flag (sl_op_kind_t kind)
{
    switch (kind) {
    case SL_OPK_EXEC:
        return "--exec";
    case SL_OPK_LUA:
        return "--lua";
    case SL_OPK_FILTER:
        return "--filter";
    case SL_OPK_MAP:
        return "--map";
    case SL_OPK_PLUGIN:
        return "--plugin";
    default:
        return "(pass-through)";
    }
}

static const sl_op_option_t *
s_find_option (const sl_operator_t *op, const char *key, size_t key_len)
{
    for (const sl_op_option_t *o = op->options; o && o->key; o++) {
        if (strlen (o->key) == key_len && strncmp (o->key, key, key_len) == 0) {
            return o;
        }
    }
    return NULL;
}

//  Checks a value against its declared type, as the ABI promises the
//  operator: ints are whole decimal numbers, bools one of the usual words.
static bool
s_value_ok (sl_op_opt_type_t type, const char *value)
{
    if (type == SL_OPT_INT) {
        int64_t n;
        return sl_parse_i64 (value, &n) == 0;
    }
    if (type == SL_OPT_BOOL) {
        static const char *const words[] = {"true", "false", "1", "0", "yes", "no", "on", "off"};
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
            if (strcasecmp (value, words[i]) == 0) {
                return true;
            }
        }
        return false;
    }
    return true;
}

//  Sets key to value in out, replacing an earlier value (a later --option
//  wins, as a later flag does).
static int
s_set (sl_op_resolved_t *out, const char *key, size_t key_len, const char *value)
{
    for (int i = 0; i < out->n; i++) {
        if (strlen (out->keys[i]) == key_len && strncmp (out->keys[i], key, key_len) == 0) {
            char *copy = strdup (value);
            if (!copy) {
                return SL_ENOMEM;
            }
            free (out->values[i]);
            out->values[i] = copy;
            return 0;
        }
    }
    if (out->n >= S_MAX_OPTIONS) {
        return SL_ETOOBIG;
    }
    char **keys = realloc (out->keys, (size_t)(out->n + 1) * sizeof *keys);
    if (!keys) {
        return SL_ENOMEM;
    }
    out->keys = keys;
    char **values = realloc (out->values, (size_t)(out->n + 1) * sizeof *values);
    if (!values) {
        return SL_ENOMEM;
    }
    out->values = values;
    out->keys[out->n] = strndup (key, key_len);
    out->values[out->n] = value ? strdup (value) : NULL;
    if (!out->keys[out->n] || (value && !out->values[out->n])) {
        free (out->keys[out->n]);
        free (out->values[out->n]);
        return SL_ENOMEM;
    }
    out->n++;
    return 0;
}

//  Finds the operator for spec's kind (loading a plugin).
static int
s_pick (const sl_op_spec_t *spec, sl_op_resolved_t *out, char *why, size_t why_size)
{
    const sl_operator_t *(*builtin) (void) = NULL;
    switch (spec->kind) {
    case SL_OPK_PASS:
        out->op = sl_op_pass ();
        return 0;
    case SL_OPK_EXEC:
        out->op = sl_op_exec ();
        out->process_batch = sl_op_exec_batch;
        return 0;
    case SL_OPK_LUA:
        builtin = sl_op_lua;
        break;
    case SL_OPK_FILTER:
        builtin = sl_op_filter;
        break;
    case SL_OPK_MAP:
        builtin = sl_op_map;
        break;
    case SL_OPK_PLUGIN:
        if (!sl_op_plugin_load) {
            snprintf (why, why_size, "--plugin: plugins are not supported by this worker build");
            return SL_ENOTFOUND;
        }
        if (!spec->arg) {
            snprintf (why, why_size, "--plugin needs a FILE.so");
            return SL_EINVAL;
        }
        why[0] = '\0';
        int rc = sl_op_plugin_load (spec->arg, &out->op, &out->handle, why, why_size);
        if (rc || !out->op) {
            if (!why[0]) {
                snprintf (why, why_size, "--plugin %s: cannot load", spec->arg);
            }
            return SL_ENOTFOUND;
        }
        return 0;
    }
    if (!builtin || !builtin ()) {
        snprintf (why, why_size, "%s: this worker was built without Lua", s_kind_flag (spec->kind));
        return SL_ENOTFOUND;
    }
    out->op = builtin ();
    return 0;
}

int
sl_op_resolve (const sl_op_spec_t *spec, sl_op_resolved_t *out, char *why, size_t why_size)
{
    memset (out, 0, sizeof *out);
    why[0] = '\0';
    int rc = s_pick (spec, out, why, why_size);
    if (rc) {
        goto fail;
    }
    const sl_operator_t *op = out->op;
    if (op->abi != SL_OPERATOR_ABI || !op->process || !op->name) {
        snprintf (why, why_size, "%s: operator '%s' has ABI %u, this worker speaks %d",
                  s_kind_flag (spec->kind), op->name ? op->name : "?", op->abi, SL_OPERATOR_ABI);
        rc = SL_ENOTFOUND;
        goto fail;
    }
    //  Every declared option first, with its default (NULL when required).
    for (const sl_op_option_t *o = op->options; o && o->key; o++) {
        rc = s_set (out, o->key, strlen (o->key), o->default_value);
        if (rc) {
            goto fail;
        }
    }
    const char *main_key = s_main_key (spec->kind);
    if (main_key) {
        if (!spec->arg || !spec->arg[0]) {
            snprintf (why, why_size, "%s needs an argument", s_kind_flag (spec->kind));
            rc = SL_EINVAL;
            goto fail;
        }
        rc = s_set (out, main_key, strlen (main_key), spec->arg);
        if (rc) {
            goto fail;
        }
    }
    if (spec->kind == SL_OPK_EXEC && spec->exec_timeout_ms > 0) {
        char text[32];
        snprintf (text, sizeof text, "%lld", (long long)spec->exec_timeout_ms);
        rc = s_set (out, "timeout", strlen ("timeout"), text);
        if (rc) {
            goto fail;
        }
    }
    for (size_t i = 0; i < spec->n_options; i++) {
        const char *kv = spec->options[i];
        const char *eq = strchr (kv, '=');
        if (!eq || eq == kv) {
            snprintf (why, why_size, "--option '%s': expected KEY=VALUE", kv);
            rc = SL_EINVAL;
            goto fail;
        }
        const sl_op_option_t *o = s_find_option (op, kv, (size_t)(eq - kv));
        if (!o) {
            snprintf (why, why_size, "--option '%.*s': operator '%s' has no such option",
                      (int)(eq - kv), kv, op->name);
            rc = SL_EINVAL;
            goto fail;
        }
        if (!s_value_ok (o->type, eq + 1)) {
            snprintf (why, why_size, "--option %s: expected %s", kv,
                      o->type == SL_OPT_INT ? "a whole number" : "true or false");
            rc = SL_EINVAL;
            goto fail;
        }
        rc = s_set (out, kv, (size_t)(eq - kv), eq + 1);
        if (rc) {
            goto fail;
        }
    }
    for (int i = 0; i < out->n; i++) {
        if (!out->values[i]) {
            snprintf (why, why_size, "operator '%s' needs --option %s=VALUE", op->name,
                      out->keys[i]);
            rc = SL_EINVAL;
            goto fail;
        }
    }
    return 0;

fail:
    if (rc == SL_ENOMEM || rc == SL_ETOOBIG) {
        snprintf (why, why_size, "%s", rc == SL_ENOMEM ? "out of memory" : "too many options");
        rc = rc == SL_ENOMEM ? SL_ENOMEM : SL_EINVAL;
    }
    sl_op_resolved_free (out);
    return rc;
}

void
sl_op_resolved_free (sl_op_resolved_t *self)
{
    if (!self) {
        return;
    }
    for (int i = 0; i < self->n; i++) {
        free (self->keys[i]);
        free (self->values[i]);
    }
    free (self->keys);
    free (self->values);
    if (self->handle) {
        dlclose (self->handle);
    }
    memset (self, 0, sizeof *self);
}
