/*  post_auth.c - the webhook's secret headers (post_auth.h).
 */
#include "post_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sl_error.h"

//  Reads the whole of path (at most SL_POST_AUTH_FILE_MAX bytes) into a
//  NUL-terminated buffer the caller frees. A NUL byte inside is refused.
static int
s_read_file (const char *path, char **text, size_t *len, char *why, size_t why_size)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf (why, why_size, "%s: %s", path, strerror (errno));
        return SL_EIO;
    }
    int rc = 0;
    char *buf = malloc (SL_POST_AUTH_FILE_MAX + 1);
    size_t used = 0;
    if (!buf) {
        rc = SL_ENOMEM;
        snprintf (why, why_size, "%s: out of memory", path);
        goto done;
    }
    //  One byte more than the limit tells a file that is too big.
    while (used <= SL_POST_AUTH_FILE_MAX) {
        ssize_t n = read (fd, buf + used, SL_POST_AUTH_FILE_MAX + 1 - used);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            snprintf (why, why_size, "%s: %s", path, strerror (errno));
            rc = SL_EIO;
            goto done;
        }
        if (n == 0) {
            break;
        }
        used += (size_t)n;
    }
    if (used > SL_POST_AUTH_FILE_MAX) {
        snprintf (why, why_size, "%s: larger than %d bytes", path, SL_POST_AUTH_FILE_MAX);
        rc = SL_EINVAL;
    }
    else if (memchr (buf, '\0', used)) {
        snprintf (why, why_size, "%s: holds a NUL byte", path);
        rc = SL_EINVAL;
    }
done:
    close (fd);
    if (rc) {
        free (buf);
        return rc;
    }
    buf[used] = '\0';
    *text = buf;
    *len = used;
    return 0;
}

//  A bearer token: visible ASCII only (RFC 6750's b64token is a subset).
static bool
s_token_ok (const char *t, size_t len)
{
    if (len == 0 || len > SL_POST_TOKEN_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (t[i] < 0x21 || t[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

static int
s_append (struct curl_slist **list, const char *line, char *why, size_t why_size)
{
    struct curl_slist *next = curl_slist_append (*list, line);
    if (!next) {
        snprintf (why, why_size, "out of memory");
        return SL_ENOMEM;
    }
    *list = next;
    return 0;
}

static int
s_bearer (const char *token, size_t len, struct curl_slist **list, char *why, size_t why_size)
{
    char line[SL_POST_TOKEN_MAX + 32];
    snprintf (line, sizeof line, "Authorization: Bearer %.*s", (int)len, token);
    int rc = s_append (list, line, why, why_size);
    explicit_bzero (line, sizeof line);
    return rc;
}

//  The token file: one line; trailing whitespace (the editor's newline) is
//  not part of it.
static int
s_token_file (const char *path, struct curl_slist **list, char *why, size_t why_size)
{
    char *text = NULL;
    size_t len = 0;
    int rc = s_read_file (path, &text, &len, why, why_size);
    if (rc) {
        return rc;
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' ||
                       text[len - 1] == '\t')) {
        len--;
    }
    if (!s_token_ok (text, len)) {
        snprintf (why, why_size,
                  "%s: expected one line holding the token (1-%d visible ASCII "
                  "characters, no spaces)",
                  path, SL_POST_TOKEN_MAX);
        rc = SL_EINVAL;
    }
    else {
        rc = s_bearer (text, len, list, why, why_size);
    }
    explicit_bzero (text, len);
    free (text);
    return rc;
}

//  RFC 9110 token characters, for a header name.
static bool
s_tchar (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr ("!#$%&'*+-.^_`|~", c) != NULL);
}

//  Headers the sink sets itself, or that would change the framing.
static bool
s_reserved (const char *name, size_t len)
{
    static const char *const names[] = {"content-type",
                                        "content-length",
                                        "transfer-encoding",
                                        "host",
                                        "expect",
                                        "connection",
                                        NULL};
    for (int i = 0; names[i]; i++) {
        if (strlen (names[i]) == len && strncasecmp (name, names[i], len) == 0) {
            return true;
        }
    }
    return false;
}

//  One "Name: value" line of the header file (line has no newline).
static int
s_header_line (const char *path, int lineno, char *line, size_t len, struct curl_slist **list,
               char *why, size_t why_size)
{
    const char *colon = memchr (line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : 0;
    for (size_t i = 0; i < name_len; i++) {
        if (!s_tchar (line[i])) {
            name_len = 0;
            break;
        }
    }
    if (name_len == 0) {
        snprintf (why, why_size,
                  "%s:%d: expected `Name: value` (a header name of letters, "
                  "digits and !#$%%&'*+-.^_`|~, then a colon)",
                  path, lineno);
        return SL_EINVAL;
    }
    if (len > SL_POST_HEADER_MAX) {
        snprintf (why, why_size, "%s:%d: longer than %d bytes", path, lineno, SL_POST_HEADER_MAX);
        return SL_EINVAL;
    }
    for (size_t i = name_len + 1; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            snprintf (why, why_size, "%s:%d: the value of %.*s holds a control character", path,
                      lineno, (int)name_len, line);
            return SL_EINVAL;
        }
    }
    if (s_reserved (line, name_len)) {
        snprintf (why, why_size, "%s:%d: %.*s is set by sluice-sink itself", path, lineno,
                  (int)name_len, line);
        return SL_EINVAL;
    }
    const char *value = colon + 1;
    while (*value == ' ' || *value == '\t') {
        value++;
    }
    if (*value == '\0') {
        snprintf (why, why_size, "%s:%d: %.*s has no value", path, lineno, (int)name_len, line);
        return SL_EINVAL;
    }
    return s_append (list, line, why, why_size);
}

static int
s_header_file (const char *path, struct curl_slist **list, char *why, size_t why_size)
{
    char *text = NULL;
    size_t len = 0;
    int rc = s_read_file (path, &text, &len, why, why_size);
    if (rc) {
        return rc;
    }
    int lineno = 0, count = 0;
    char *p = text;
    while (rc == 0 && *p) {
        char *end = strchr (p, '\n');
        char *next = end ? end + 1 : p + strlen (p);
        if (end) {
            *end = '\0';
        }
        size_t n = strlen (p);
        if (n > 0 && p[n - 1] == '\r') {
            p[--n] = '\0';
        }
        lineno++;
        if (n > 0 && p[0] != '#') {
            if (++count > SL_POST_HEADERS_MAX) {
                snprintf (why, why_size, "%s:%d: more than %d headers", path, lineno,
                          SL_POST_HEADERS_MAX);
                rc = SL_EINVAL;
            }
            else {
                rc = s_header_line (path, lineno, p, n, list, why, why_size);
            }
        }
        p = next;
    }
    explicit_bzero (text, len);
    free (text);
    return rc;
}

int
sl_post_auth_load (const char *token_file, const char *token, const char *header_file,
                   struct curl_slist **list, char *why, size_t why_size)
{
    int rc = 0;
    if (token_file) {
        rc = s_token_file (token_file, list, why, why_size);
    }
    else if (token && *token) {
        if (!s_token_ok (token, strlen (token))) {
            snprintf (why, why_size,
                      "$SLUICE_POST_TOKEN: expected 1-%d visible ASCII "
                      "characters, no spaces",
                      SL_POST_TOKEN_MAX);
            return SL_EINVAL;
        }
        rc = s_bearer (token, strlen (token), list, why, why_size);
    }
    if (rc == 0 && header_file) {
        rc = s_header_file (header_file, list, why, why_size);
    }
    return rc;
}
