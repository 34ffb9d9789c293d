/*  sl_opts_env.c - which environment variable sets which option
    (sl_opts_env.h).
*/
#include "sl_opts_env.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_PREFIX "SLUICE_"

//  The same for every program in one environment: where the broker is, who
//  it is, who this program is, how long to wait for it, how much to log.
static const char *const s_common[] = {
    "broker", "broker-key", "curve-secret", "connect-timeout", "verbose", "quiet", NULL};

bool
sl_opts_env_common (const char *option)
{
    for (const char *const *c = s_common; *c; c++) {
        if (strcmp (*c, option) == 0) {
            return true;
        }
    }
    return false;
}

//  Appends text in capitals, '-' and ' ' as '_'; false when out is full.
static bool
s_append (char *out, size_t size, const char *text)
{
    size_t len = strlen (out);
    for (; *text; text++) {
        if (len + 1 >= size) {
            return false;
        }
        char c = *text;
        out[len++] = c == '-' || c == ' ' ? '_' : (char)toupper ((unsigned char)c);
    }
    out[len] = 0;
    return true;
}

//  The program's part of its variables: env_program if given, else its
//  name without "sluice-" or "sluice ": "SINK", "STAT", "DLQ_RESEND".
static const char *
s_program (const sl_opts_spec_t *spec)
{
    if (spec->env_program) {
        return spec->env_program;
    }
    const char *p = spec->program ? spec->program : "";
    if (strncmp (p, "sluice-", 7) == 0 || strncmp (p, "sluice ", 7) == 0) {
        p += 7;
    }
    return p;
}

//  A stage program: one that reads every option from SLUICE_NAME too.
static bool
s_stage (const sl_opts_spec_t *spec)
{
    return spec->program && strncmp (spec->program, "sluice-", 7) == 0;
}

static bool
s_strict (void)
{
    const char *v = getenv (SL_OPTS_ENV_STRICT);
    return v && *v && strcmp (v, "0") != 0 && strcasecmp (v, "false") != 0 &&
           strcasecmp (v, "no") != 0 && strcasecmp (v, "off") != 0;
}

static void
s_own_name (const sl_opts_spec_t *spec, const char *option, char *out, size_t size)
{
    snprintf (out, size, "%s", S_PREFIX);
    if (!s_append (out, size, s_program (spec)) || !s_append (out, size, "_") ||
        !s_append (out, size, option)) {
        out[0] = 0; //  too long to be a variable anyone sets
    }
}

static void
s_shared_name (const char *option, char *out, size_t size)
{
    snprintf (out, size, "%s", S_PREFIX);
    if (!s_append (out, size, option)) {
        out[0] = 0;
    }
}

static bool
s_shared_read (const sl_opts_spec_t *spec, const char *option)
{
    return sl_opts_env_common (option) || (s_stage (spec) && !s_strict ());
}

const char *
sl_opts_env_get (const sl_opts_spec_t *spec, const char *option, char *used)
{
    s_own_name (spec, option, used, SL_OPTS_ENV_MAX);
    const char *value = used[0] ? getenv (used) : NULL;
    if (value || !s_shared_read (spec, option)) {
        return value;
    }
    s_shared_name (option, used, SL_OPTS_ENV_MAX);
    return used[0] ? getenv (used) : NULL;
}

void
sl_opts_env_names (const sl_opts_spec_t *spec, const char *option, char *out, size_t size)
{
    char own[SL_OPTS_ENV_MAX], shared[SL_OPTS_ENV_MAX];
    s_own_name (spec, option, own, sizeof own);
    s_shared_name (option, shared, sizeof shared);
    //  --help shows what is read in the usual case (SLUICE_ENV_STRICT off).
    if (sl_opts_env_common (option) || s_stage (spec)) {
        snprintf (out, size, "%s or %s", shared, own);
    }
    else {
        snprintf (out, size, "%s", own);
    }
}
