/*  post.c - webhook delivery with libcurl (post.h). One easy handle, reused
    so that connections are kept alive between batches; the answer's body is
    read and dropped (at most S_REPLY_MAX bytes kept for the log line).
*/
#include "post.h"
#include "post_auth.h"

#include <curl/curl.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"

#define S_BACKOFF_MIN_MS 200
#define S_BACKOFF_MAX_MS 10000
#define S_REPLY_MAX 200

struct _sl_post_t {
    sl_post_opts_t opts;
    CURL *curl;
    struct curl_slist *headers;
    char reply[S_REPLY_MAX + 1];
    size_t reply_len;
};

static size_t
s_on_reply (char *data, size_t size, size_t n, void *ctx)
{
    sl_post_t *self = ctx;
    size_t len = size * n;
    size_t room = S_REPLY_MAX - self->reply_len;
    size_t take = len < room ? len : room;
    memcpy (self->reply + self->reply_len, data, take);
    self->reply_len += take;
    self->reply[self->reply_len] = 0;
    return len;
}

sl_post_t *
sl_post_new (const sl_post_opts_t *opts)
{
    if (!opts->url ||
        (strncmp (opts->url, "http://", 7) != 0 && strncmp (opts->url, "https://", 8) != 0)) {
        sl_error ("post", "--post %s: expected an http:// or https:// URL",
                  opts->url ? opts->url : "");
        return NULL;
    }
    sl_post_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->opts = *opts;
    curl_global_init (CURL_GLOBAL_DEFAULT);
    self->curl = curl_easy_init ();
    self->headers = curl_slist_append (NULL, "Content-Type: application/x-ndjson");
    if (!self->curl || !self->headers) {
        sl_post_destroy (&self);
        return NULL;
    }
    char why[512];
    if (sl_post_auth_load (opts->token_file, opts->token, opts->header_file, &self->headers, why,
                           sizeof why)) {
        sl_error ("post", "--post: %s", why);
        sl_post_destroy (&self);
        return NULL;
    }
    curl_easy_setopt (self->curl, CURLOPT_URL, opts->url);
    curl_easy_setopt (self->curl, CURLOPT_HTTPHEADER, self->headers);
    curl_easy_setopt (self->curl, CURLOPT_TIMEOUT_MS, (long)opts->timeout_ms);
    curl_easy_setopt (self->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (self->curl, CURLOPT_WRITEFUNCTION, s_on_reply);
    curl_easy_setopt (self->curl, CURLOPT_WRITEDATA, self);
    curl_easy_setopt (self->curl, CURLOPT_USERAGENT, "sluice-sink");
    return self;
}

void
sl_post_destroy (sl_post_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    sl_post_t *self = *self_p;
    curl_slist_free_all (self->headers);
    if (self->curl) {
        curl_easy_cleanup (self->curl);
    }
    curl_global_cleanup ();
    free (self);
    *self_p = NULL;
}

//  Waits ms, waking every 100 ms to see a stop. false when stopping.
static bool
s_pause (int64_t ms, const volatile int *stop)
{
    int64_t until = sl_mono_ms () + ms;
    while (sl_mono_ms () < until) {
        if (zsys_interrupted || (stop && *stop)) {
            return false;
        }
        zclock_sleep (100);
    }
    return !(zsys_interrupted || (stop && *stop));
}

int
sl_post_send (sl_post_t *self, const uint8_t *body, size_t len, const volatile int *stop,
              long *status, char *why, size_t why_size)
{
    int64_t backoff = S_BACKOFF_MIN_MS;
    for (uint32_t attempt = 0;; attempt++) {
        self->reply_len = 0;
        self->reply[0] = 0;
        curl_easy_setopt (self->curl, CURLOPT_POSTFIELDS, (const char *)body);
        curl_easy_setopt (self->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        CURLcode rc = curl_easy_perform (self->curl);
        *status = 0;
        if (rc == CURLE_OK) {
            curl_easy_getinfo (self->curl, CURLINFO_RESPONSE_CODE, status);
            if (*status >= 200 && *status < 300) {
                if (attempt > 0) {
                    sl_info ("post", "%s accepted the batch after %u retries", self->opts.url,
                             attempt);
                }
                return 0;
            }
            snprintf (why, why_size, "HTTP %ld %s", *status, self->reply);
        }
        else {
            snprintf (why, why_size, "%s", curl_easy_strerror (rc));
        }
        bool retryable = rc != CURLE_OK || *status >= 500 || *status == 408 || *status == 429;
        if (!retryable || attempt >= self->opts.max_retries) {
            return SL_EINVAL;
        }
        sl_warn ("post", "%s: %s; retry %u of %u in %" PRId64 " ms", self->opts.url, why,
                 attempt + 1, self->opts.max_retries, backoff);
        if (!s_pause (backoff, stop)) {
            return SL_EAGAIN;
        }
        backoff = backoff * 2 > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : backoff * 2;
    }
}
