/*  post_auth.h - the secret headers of sluice-sink --post (docs/sink.md,
    "Webhook authentication"): a bearer token from --post-token-file or
    $SLUICE_POST_TOKEN, and any headers from --post-header-file. Secrets
    never come from argv, where every user of the machine can read them.

    Nothing in the files is trusted: each is at most 64 KiB, a token is one
    line of visible ASCII of at most 4096 bytes, a header file has at most
    32 `Name: value` lines of at most 8 KiB, names are RFC 9110 tokens and
    values have no control characters (no CR/LF: no header injection).
    Errors name the file and line, never the secret.
*/
#ifndef SL_POST_AUTH_H_INCLUDED
#define SL_POST_AUTH_H_INCLUDED

#include <stddef.h>

#include <curl/curl.h>

#define SL_POST_AUTH_FILE_MAX (64 * 1024)
#define SL_POST_TOKEN_MAX 4096
#define SL_POST_HEADER_MAX (8 * 1024)
#define SL_POST_HEADERS_MAX 32

//  Appends "Authorization: Bearer TOKEN" (token_file, else token: the
//  value of $SLUICE_POST_TOKEN; both may be NULL) and header_file's
//  headers to *list. 0, or SL_EINVAL / SL_EIO / SL_ENOMEM with the reason
//  in why (*list then holds what was appended before, for the caller to
//  free).
int sl_post_auth_load (const char *token_file, const char *token, const char *header_file,
                       struct curl_slist **list, char *why, size_t why_size);

#endif
