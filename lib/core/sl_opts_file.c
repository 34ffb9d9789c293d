/*  sl_opts_file.c - options from a file (sl_opts_file.h).
 */
#include "sl_opts_file.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"

static char *
s_trim (char *s)
{
    while (*s && isspace ((unsigned char)*s)) {
        s++;
    }
    char *end = s + strlen (s);
    while (end > s && isspace ((unsigned char)end[-1])) {
        *--end = 0;
    }
    return s;
}

int
sl_opts_file (const sl_opts_spec_t *spec, const char *path, sl_opt_fn *fn, void *ctx, char **text,
              char *why, size_t size)
{
    *text = NULL;
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (why, size, "%s: cannot open it", path);
        return SL_ENOTFOUND;
    }
    char *buf = malloc (SL_OPTS_FILE_MAX + 1);
    size_t len = buf ? fread (buf, 1, SL_OPTS_FILE_MAX + 1, file) : 0;
    fclose (file);
    if (!buf) {
        snprintf (why, size, "%s: out of memory", path);
        return SL_ENOMEM;
    }
    *text = buf;
    if (len > SL_OPTS_FILE_MAX) {
        snprintf (why, size, "%s: longer than %u bytes", path, SL_OPTS_FILE_MAX);
        return SL_ETOOBIG;
    }
    buf[len] = 0;
    if (memchr (buf, 0, len)) {
        snprintf (why, size, "%s: holds a NUL byte: not a text file", path);
        return SL_EINVAL;
    }
    int line_no = 0;
    char *line = buf;
    while (line && *line) {
        line_no++;
        char *nl = strchr (line, '\n');
        if (nl) {
            *nl = 0;
        }
        char *next = nl ? nl + 1 : NULL;
        if (strlen (line) > SL_OPTS_LINE_MAX) {
            snprintf (why, size, "%s:%d: line longer than %d bytes", path, line_no,
                      SL_OPTS_LINE_MAX);
            return SL_ETOOBIG;
        }
        char *s = s_trim (line);
        if (*s && *s != '#') {
            char *eq = strchr (s, '=');
            if (!eq) {
                snprintf (why, size, "%s:%d: expected NAME = VALUE", path, line_no);
                return SL_EINVAL;
            }
            *eq = 0;
            char *name = s_trim (s);
            char *value = s_trim (eq + 1);
            size_t vlen = strlen (value);
            if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') && value[vlen - 1] == value[0]) {
                value[vlen - 1] = 0;
                value++;
            }
            int index = -1;
            for (int i = 0; spec->opts[i].name; i++) {
                if (strcmp (spec->opts[i].name, name) == 0) {
                    index = i;
                }
            }
            if (index < 0 || strcmp (name, "config") == 0) {
                snprintf (why, size,
                          "%s:%d: unknown setting '%.64s' (the settings are %s's long "
                          "flags without dashes)",
                          path, line_no, name, spec->program);
                return SL_EINVAL;
            }
            const char *arg = value;
            if (!spec->opts[index].arg) {
                if (strcmp (value, "false") == 0 || strcmp (value, "no") == 0) {
                    line = next;
                    continue;
                }
                if (strcmp (value, "true") != 0 && strcmp (value, "yes") != 0) {
                    snprintf (why, size, "%s:%d: %s is a switch: true or false", path, line_no,
                              name);
                    return SL_EINVAL;
                }
                arg = NULL;
            }
            const char *reason = "invalid value";
            int rc = sl_opts_apply (spec, fn, ctx, index, arg, &reason);
            if (rc) {
                snprintf (why, size, "%s:%d: %s: %s", path, line_no, name,
                          reason ? reason : sl_strerror (rc));
                return rc;
            }
        }
        line = next;
    }
    return 0;
}

const char *
sl_opts_find_value (int argc, char **argv, const char *name, const char *env_name)
{
    const char *found = env_name ? getenv (env_name) : NULL;
    size_t len = strlen (name);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp (arg, "--") == 0) {
            break;
        }
        if (strncmp (arg, "--", 2) != 0 || strncmp (arg + 2, name, len) != 0) {
            continue;
        }
        if (arg[2 + len] == '\0' && i + 1 < argc) {
            found = argv[++i];
        }
        else if (arg[2 + len] == '=') {
            found = arg + 3 + len;
        }
    }
    return found && *found ? found : NULL;
}

const char *
sl_opts_find_config (int argc, char **argv, const char *env_name)
{
    return sl_opts_find_value (argc, argv, "config", env_name);
}
