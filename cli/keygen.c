/*  keygen.c - `sluice keygen NAME`: makes a CURVE key pair for a broker or a
    client (docs/security.md).

    Writes NAME.key (the public key, to hand out) and NAME.key_secret (both
    keys, mode 0600, to keep) in CZMQ's certificate format, and never
    overwrites a key. The front command dispatches `keygen` here.
*/
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sl_curve.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_opts.h"

int sl_cli_keygen (int argc, char **argv);

static const sl_opt_t s_opts[] = {
    {.name = NULL},
};

static const sl_opts_spec_t s_spec = {
    .program = "sluice keygen",
    .synopsis = "NAME",
    .about = "Makes a CURVE key pair: NAME.key holds the public key, NAME.key_secret both keys\n"
             "(mode 0600). Give the broker its pair with --curve-secret and every client the\n"
             "broker's NAME.key with --broker-key; copy each client's NAME.key into the\n"
             "broker's --allow directory. NAME may include a directory, created (mode 0700) when "
             "missing. Never\n"
             "overwrites.",
    .footer = "Examples:\n"
              "  sluice keygen keys/broker\n"
              "  sluice keygen keys/orders-source && cp keys/orders-source.key keys/allow/\n"
              "  sluice keygen keys/replica-b   # a replica: replicate = \"*\" in its allowed "
              "NAME.key\n"
              "See docs/security.md (per-stream rights go in the metadata of NAME.key).\n",
    .opts = s_opts,
};

//  Creates the directory part of base ("keys/" of "keys/broker") when it
//  does not exist, each missing level with mode 0700: key directories hold
//  secrets. 0, or -1 with the reason on stderr.
static int
s_make_dirs (const char *base)
{
    char *path = strdup (base);
    if (!path) {
        return -1;
    }
    char *slash = strrchr (path, '/');
    int rc = 0;
    if (slash && slash != path) {
        *slash = '\0';
        for (char *p = path + 1; rc == 0; p++) {
            bool end = *p == '\0';
            if (*p == '/' || end) {
                *p = '\0';
                if (mkdir (path, 0700) == 0) {
                    printf ("created directory %s/ (mode 0700)\n", path);
                }
                else if (errno != EEXIST) {
                    fprintf (stderr, "sluice keygen: cannot create directory %s: %s\n", path,
                             strerror (errno));
                    rc = -1;
                }
                if (end) {
                    break;
                }
                *p = '/';
            }
        }
    }
    free (path);
    return rc;
}

int
sl_cli_keygen (int argc, char **argv)
{
    sl_log_set_program ("sluice");
    int code = 0;
    int first = sl_opts_parse (&s_spec, argc, argv, NULL, NULL, &code);
    if (first < 0) {
        return code;
    }
    if (argc - first != 1) {
        fprintf (stderr, "sluice keygen: expected one NAME; try --help\n");
        return 2;
    }
    const char *base = argv[first];
    if (s_make_dirs (base)) {
        return 1;
    }
    const char *why = NULL;
    int rc = sl_curve_keygen (base, &why);
    if (rc) {
        fprintf (stderr, "sluice keygen: %s: %s\n", base, why ? why : sl_strerror (rc));
        return 1;
    }
    printf ("%s.key         public key: give it out (--broker-key, or the broker's --allow "
            "directory)\n%s.key_secret  secret key pair, mode 0600: keep it (--curve-secret)\n",
            base, base);
    return 0;
}
