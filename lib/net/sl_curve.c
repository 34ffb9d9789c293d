/*  sl_curve.c - CURVE security: key files (load, keygen), socket setup and
    rights patterns. The broker's authenticator is sl_curve_auth.c.

    Key files are CZMQ certificates; they are read here with zconfig from
    memory (bounded by SL_CURVE_FILE_MAX), every key checked to be 40
    characters of Z85 that decode, so that a damaged or hostile file is an
    error code, never a partly decoded key.
*/
#include "sl_curve.h"
#include "sl_curve_int.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"

//  ---------------------------------------------------------------------
//  Key files

//  True when text is 40 characters of Z85 that decode to a key.
static bool
s_z85_key (const char *text, uint8_t key[32])
{
    return text && strlen (text) == 40 && zmq_z85_decode (key, text) != NULL;
}

bool
sl_curve_all_zero (const uint8_t *key)
{
    for (int i = 0; i < 32; i++) {
        if (key[i]) {
            return false;
        }
    }
    return true;
}

zcert_t *
sl_curve_load_cert (const char *path, bool want_secret, int *err)
{
    struct stat st;
    if (stat (path, &st) != 0) {
        *err = errno == ENOENT ? SL_ENOTFOUND : SL_EIO;
        return NULL;
    }
    if (!S_ISREG (st.st_mode)) {
        *err = SL_EINVAL;
        return NULL;
    }
    if ((uint64_t)st.st_size > SL_CURVE_FILE_MAX) {
        *err = SL_ETOOBIG;
        return NULL;
    }
    //  Read here and parsed from memory: zconfig_load leaks its zfile when
    //  a file does not parse (CZMQ 4.2.1).
    FILE *file = fopen (path, "rb");
    if (!file) {
        *err = SL_EIO;
        return NULL;
    }
    char buffer[SL_CURVE_FILE_MAX];
    size_t size = fread (buffer, 1, sizeof buffer, file);
    fclose (file);
    zchunk_t *chunk = zchunk_new (buffer, size);
    zconfig_t *root = chunk ? zconfig_chunk_load (chunk) : NULL;
    zchunk_destroy (&chunk);
    memset (buffer, 0, size);
    if (!root) {
        *err = SL_EINVAL;
        return NULL;
    }
    zcert_t *cert = NULL;
    uint8_t public_key[32], secret_key[32];
    memset (secret_key, 0, sizeof secret_key);
    if (!s_z85_key (zconfig_get (root, "/curve/public-key", NULL), public_key) ||
        sl_curve_all_zero (public_key)) {
        *err = SL_EINVAL;
        goto done;
    }
    if (want_secret && (!s_z85_key (zconfig_get (root, "/curve/secret-key", NULL), secret_key) ||
                        sl_curve_all_zero (secret_key))) {
        *err = SL_EINVAL;
        goto done;
    }
    cert = zcert_new_from (public_key, secret_key);
    if (!cert) {
        *err = SL_ENOMEM;
        goto done;
    }
    zconfig_t *meta = zconfig_locate (root, "/metadata");
    for (zconfig_t *item = meta ? zconfig_child (meta) : NULL; item; item = zconfig_next (item)) {
        const char *value = zconfig_value (item);
        zcert_set_meta (cert, zconfig_name (item), "%s", value ? value : "");
    }
    *err = 0;
done:
    memset (secret_key, 0, sizeof secret_key);
    zconfig_destroy (&root);
    return cert;
}

zcert_t *
sl_curve_load_secret (const char *path, int *err)
{
    int ignore;
    err = err ? err : &ignore;
    if (!path || !*path) {
        *err = SL_EINVAL;
        return NULL;
    }
    //  NAME.key names the pair; its secret half is in NAME.key_secret.
    char *secret_path = NULL;
    size_t len = strlen (path);
    if (len < 7 || strcmp (path + len - 7, "_secret") != 0) {
        secret_path = zsys_sprintf ("%s_secret", path);
        struct stat st;
        if (secret_path && stat (secret_path, &st) != 0) {
            zstr_free (&secret_path);
        }
    }
    const char *file = secret_path ? secret_path : path;
    zcert_t *cert = sl_curve_load_cert (file, true, err);
    if (cert) {
        struct stat st;
        if (stat (file, &st) == 0 && (st.st_mode & 077)) {
            sl_warn ("curve",
                     "secret key file %s can be read by group or others (mode %03o); "
                     "run: chmod 600 %s",
                     file, (unsigned)(st.st_mode & 0777), file);
        }
    }
    zstr_free (&secret_path);
    return cert;
}

zcert_t *
sl_curve_load_public (const char *path, int *err)
{
    int ignore;
    err = err ? err : &ignore;
    if (!path || !*path) {
        *err = SL_EINVAL;
        return NULL;
    }
    return sl_curve_load_cert (path, false, err);
}

//  Writes text to path, created with mode; never replaces a file.
static int
s_write_new (const char *path, const char *text, mode_t mode)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        return SL_EIO;
    }
    //  The mode given to open is masked by the umask; the secret's must not be.
    size_t len = strlen (text);
    bool ok = fchmod (fd, mode) == 0 && write (fd, text, len) == (ssize_t)len && fsync (fd) == 0;
    if (close (fd) != 0) {
        ok = false;
    }
    if (!ok) {
        unlink (path);
        return SL_EIO;
    }
    return 0;
}

//  A certificate file in CZMQ's format (as zcert_save writes it).
static char *
s_cert_text (zcert_t *cert, const char *name, bool secret)
{
    char date[32];
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *what =
        secret ? "ZeroMQ CURVE **Secret** Certificate" : "ZeroMQ CURVE Public Certificate";
    const char *advice = secret ? "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its "
                                  "permissions.\n"
                                : "#   Exchange securely, or use a secure mechanism to verify "
                                  "the contents\n#   of this file after exchange. Copy it into "
                                  "the broker's allow directory.\n";
    char *secret_line =
        secret ? zsys_sprintf ("    secret-key = \"%s\"\n", zcert_secret_txt (cert)) : strdup ("");
    if (!secret_line) {
        return NULL;
    }
    char *text = zsys_sprintf ("#   ****  Generated on %s by sluice keygen  ****\n"
                               "#   %s\n%s\n"
                               "metadata\n"
                               "    name = \"%s\"\n"
                               "curve\n"
                               "    public-key = \"%s\"\n%s",
                               date, what, advice, name, zcert_public_txt (cert), secret_line);
    memset (secret_line, 0, strlen (secret_line));
    free (secret_line);
    return text;
}

int
sl_curve_keygen (const char *base, const char **why)
{
    const char *ignore;
    why = why ? why : &ignore;
    *why = NULL;
    if (!base || !*base) {
        *why = "expected a NAME";
        return SL_EINVAL;
    }
    const char *name = strrchr (base, '/');
    name = name ? name + 1 : base;
    if (!sl_name_valid (name, strlen (name)) || strlen (name) > SL_CURVE_NAME_MAX) {
        *why = "NAME must be 1-200 characters of [A-Za-z0-9._-], not starting with '.'";
        return SL_EINVAL;
    }
    char *public_path = zsys_sprintf ("%s.key", base);
    char *secret_path = zsys_sprintf ("%s.key_secret", base);
    zcert_t *cert = zcert_new ();
    char *public_text = cert ? s_cert_text (cert, name, false) : NULL;
    char *secret_text = cert ? s_cert_text (cert, name, true) : NULL;
    int rc = 0;
    if (!public_path || !secret_path || !public_text || !secret_text) {
        rc = SL_ENOMEM;
        goto done;
    }
    struct stat st;
    if (stat (public_path, &st) == 0 || stat (secret_path, &st) == 0) {
        *why = "a key file of that name exists; remove it first or choose another NAME";
        rc = SL_EINVAL;
        goto done;
    }
    //  The secret first: a public file never exists without its pair.
    rc = s_write_new (secret_path, secret_text, 0600);
    if (rc == 0) {
        rc = s_write_new (public_path, public_text, 0644);
        if (rc) {
            unlink (secret_path);
        }
    }
    if (rc) {
        *why = strerror (errno);
    }
done:
    if (secret_text) {
        memset (secret_text, 0, strlen (secret_text));
    }
    free (secret_text);
    free (public_text);
    zcert_destroy (&cert);
    zstr_free (&public_path);
    zstr_free (&secret_path);
    return rc;
}

int
sl_curve_server (zsock_t *sock, zcert_t *cert, const char *domain)
{
    if (!sock || !cert || sl_curve_all_zero (zcert_secret_key (cert))) {
        return SL_EINVAL;
    }
    zcert_apply (cert, sock);
    zsock_set_curve_server (sock, 1);
    zsock_set_zap_domain (sock, domain ? domain : SL_CURVE_DOMAIN);
    return zsock_mechanism (sock) == ZMQ_CURVE ? 0 : SL_EINVAL;
}

int
sl_curve_client (zsock_t *sock, zcert_t *cert, zcert_t *server)
{
    if (!sock || !cert || !server || sl_curve_all_zero (zcert_secret_key (cert))) {
        return SL_EINVAL;
    }
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, zcert_public_txt (server));
    return zsock_mechanism (sock) == ZMQ_CURVE ? 0 : SL_EINVAL;
}

bool
sl_curve_patterns_match (const char *patterns, const char *stream)
{
    if (!patterns || !stream) {
        return false;
    }
    const char *p = patterns;
    while (*p) {
        while (*p == ',' || *p == ' ') {
            p++;
        }
        size_t len = strcspn (p, ", ");
        if (len > 0 && len <= SL_CURVE_NAME_MAX) {
            char pattern[SL_CURVE_NAME_MAX + 1];
            memcpy (pattern, p, len);
            pattern[len] = '\0';
            if (fnmatch (pattern, stream, 0) == 0) {
                return true;
            }
        }
        p += len;
    }
    return false;
}
