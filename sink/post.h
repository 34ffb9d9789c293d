/*  post.h - sluice-sink --post URL: batches of JSON lines POSTed to a
    webhook (libcurl), retried with backoff on 5xx, 429 and connection
    errors, given up after --max-retries (docs/sink.md, "Webhooks").
*/
#ifndef SL_POST_H_INCLUDED
#define SL_POST_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct _sl_post_t sl_post_t;

typedef struct {
    const char *url;         //  http:// or https://
    uint32_t max_retries;    //  attempts after the first (default 5)
    int64_t timeout_ms;      //  one attempt (default 10 s)
    const char *token;       //  NULL, or sent as "Authorization: Bearer TOKEN" ($SLUICE_POST_TOKEN)
    const char *token_file;  //  --post-token-file: the token, read from a file (wins over token)
    const char *header_file; //  --post-header-file: more headers, `Name: value` per line
} sl_post_opts_t;

//  NULL on failure, logged (a bad URL, an unreadable or malformed secret
//  file: post_auth.h).
sl_post_t *sl_post_new (const sl_post_opts_t *opts);
void sl_post_destroy (sl_post_t **self_p);

//  POSTs body (application/x-ndjson) until a 2xx or the retries are spent.
//  0 delivered; SL_EINVAL when the webhook refused it for good (another
//  4xx than 408/429) or the retries are spent: *status (0 for a connection
//  error) and why say the last answer; SL_EAGAIN when *stop or a signal
//  ended the waiting.
int sl_post_send (sl_post_t *self, const uint8_t *body, size_t len, const volatile int *stop,
                  long *status, char *why, size_t why_size);

#endif
