/*  sl_opts_typed.c - typed options: an entry of the table says what its
    argument is (a size, a duration, a bounded number, a name, an endpoint)
    and where it goes in the program's config struct, so that the program
    writes no parsing code for it (Fluent Bit's config map).
*/
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "sl_endpoint.h"
#include "sl_error.h"
#include "sl_opts.h"
#include "sl_util.h"

//  The reason of the last failed typed option. Options are parsed by one
//  thread at start, and the caller prints the reason before the next parse.
static char s_why[448];

int
sl_opts_find (const sl_opts_spec_t *spec, const char *name)
{
    for (int i = 0; spec->opts && spec->opts[i].name; i++) {
        if (strcmp (spec->opts[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

//  Stores value into the integer field of opt: 4 or 8 bytes.
static void
s_store (void *ctx, const sl_opt_t *opt, uint64_t value)
{
    char *field = (char *)ctx + opt->offset;
    if (opt->size == sizeof (uint64_t)) {
        memcpy (field, &value, sizeof value);
    }
    else {
        assert (opt->size == sizeof (uint32_t) && value <= UINT32_MAX);
        uint32_t narrow = (uint32_t)value;
        memcpy (field, &narrow, sizeof narrow);
    }
}

//  The largest value a field of opt can hold, for a table without max.
static uint64_t
s_max (const sl_opt_t *opt)
{
    //  Numbers and sizes are unsigned; durations may sit in an int or int64_t.
    bool is_signed = opt->type == SL_ARG_DURATION;
    uint64_t field_max = opt->size == sizeof (uint64_t) ? (is_signed ? INT64_MAX : UINT64_MAX)
                                                        : (is_signed ? INT32_MAX : UINT32_MAX);
    return opt->max && opt->max < field_max ? opt->max : field_max;
}

//  value as a user writes it: 64M, 1G, 30s, 1h; exact, else in the base unit.
static void
s_human (sl_opt_type_t type, uint64_t value, char *out, size_t size)
{
    static const char *size_units[] = {"G", "M", "K"};
    static const uint64_t size_scale[] = {1ull << 30, 1ull << 20, 1ull << 10};
    static const char *time_units[] = {"d", "h", "m", "s"};
    static const uint64_t time_scale[] = {86400000, 3600000, 60000, 1000};
    bool is_size = type == SL_ARG_SIZE;
    const char *const *units = is_size ? size_units : time_units;
    const uint64_t *scale = is_size ? size_scale : time_scale;
    size_t n = is_size ? 3 : 4;
    for (size_t i = 0; type != SL_ARG_UINT && value && i < n; i++) {
        if (value % scale[i] == 0) {
            snprintf (out, size, "%llu%s", (unsigned long long)(value / scale[i]), units[i]);
            return;
        }
    }
    snprintf (out, size, "%llu%s", (unsigned long long)value, type == SL_ARG_DURATION ? "ms" : "");
}

static int
s_number (const sl_opt_t *opt, void *ctx, const char *arg, const char **why)
{
    uint64_t value = 0;
    int rc = 0;
    const char *kind = "";
    if (opt->type == SL_ARG_UINT) {
        rc = sl_parse_u64 (arg, &value);
        kind = "a whole number";
    }
    else if (opt->type == SL_ARG_SIZE) {
        rc = sl_parse_size (arg, &value);
        kind = "a size such as 512k, 64M or 2G";
    }
    else {
        int64_t ms = 0;
        rc = sl_parse_duration_ms (arg, &ms);
        rc = rc == 0 && ms < 0 ? SL_EINVAL : rc;
        value = (uint64_t)ms;
        kind = "a duration such as 500ms, 30s, 5m or 7d";
    }
    uint64_t max = s_max (opt);
    if (rc == 0 && value >= opt->min && value <= max) {
        s_store (ctx, opt, value);
        return 0;
    }
    bool unbounded = max == s_max (&(sl_opt_t){.size = opt->size, .type = opt->type});
    char low[32];
    s_human (opt->type, opt->min, low, sizeof low);
    if (opt->min == 0 && unbounded) {
        snprintf (s_why, sizeof s_why, "expected %s", kind);
    }
    else if (unbounded) {
        snprintf (s_why, sizeof s_why, "expected %s, at least %s", kind, low);
    }
    else {
        char high[32];
        s_human (opt->type, max, high, sizeof high);
        snprintf (s_why, sizeof s_why, "expected %s from %s to %s", kind, low, high);
    }
    *why = s_why;
    return SL_EINVAL;
}

static int
s_string (const sl_opt_t *opt, void *ctx, const char *arg, const char **why)
{
    if ((opt->flags & SL_OPT_NAME) && !sl_name_valid (arg, strlen (arg))) {
        *why = "expected 1-200 characters of [A-Za-z0-9._-], not starting with '.'";
        return SL_ENAME;
    }
    if ((opt->flags & SL_OPT_CONNECTS) && sl_endpoint_check_list (arg, s_why, sizeof s_why)) {
        *why = s_why;
        return SL_EINVAL;
    }
    if (opt->flags & (SL_OPT_CONNECT | SL_OPT_BIND)) {
        sl_endpoint_use_t use = opt->flags & SL_OPT_BIND ? SL_ENDPOINT_BIND : SL_ENDPOINT_CONNECT;
        if (sl_endpoint_check (arg, use, s_why, sizeof s_why)) {
            *why = s_why;
            return SL_EINVAL;
        }
    }
    memcpy ((char *)ctx + opt->offset, &arg, sizeof arg);
    return 0;
}

int
sl_opts_apply (const sl_opts_spec_t *spec, sl_opt_fn *fn, void *ctx, int index, const char *arg,
               const char **why)
{
    const sl_opt_t *opt = &spec->opts[index];
    *why = NULL;
    switch (opt->type) {
    case SL_ARG_CUSTOM:
        return fn ? fn (ctx, index, arg, why) : 0;
    case SL_ARG_STRING:
        assert (opt->size == sizeof (const char *));
        return s_string (opt, ctx, arg, why);
    case SL_ARG_SWITCH: {
        assert (opt->size == sizeof (bool));
        bool on = true;
        memcpy ((char *)ctx + opt->offset, &on, sizeof on);
        return 0;
    }
    case SL_ARG_UINT:
    case SL_ARG_SIZE:
    case SL_ARG_DURATION:
        return s_number (opt, ctx, arg, why);
    }
    return SL_EINVAL;
}

int
sl_opts_defaults (const sl_opts_spec_t *spec, void *ctx)
{
    for (int i = 0; spec->opts && spec->opts[i].name; i++) {
        const sl_opt_t *opt = &spec->opts[i];
        if (!opt->def || opt->type == SL_ARG_CUSTOM || opt->type == SL_ARG_SWITCH) {
            continue;
        }
        const char *why = NULL;
        int rc = sl_opts_apply (spec, NULL, ctx, i, opt->def, &why);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

int
sl_opts_parse_typed (const sl_opts_spec_t *spec, int argc, char **argv, sl_opt_fn *fn, void *ctx,
                     int *exit_code)
{
    if (sl_opts_defaults (spec, ctx) != 0) {
        fprintf (stderr, "%s: a default of the option table does not parse\n", spec->program);
        *exit_code = 2;
        return -1;
    }
    return sl_opts_parse (spec, argc, argv, fn, ctx, exit_code);
}
