/*  source_headers.c - the source's --header NAME=VALUE list as the headers
    map every record carries (docs/PROTOCOL.md §4: str -> str), encoded
    once at start. Bounded: at most SL_SOURCE_MAX_HEADERS entries and
    SL_SOURCE_HEADERS_MAX bytes.
*/
#include "source.h"

#include <string.h>

#include "sl_error.h"
#include "sl_mp.h"

int
sl_source_headers (const sl_source_config_t *cfg, sl_buf_t *out, const char **why)
{
    sl_buf_reset (out);
    if (cfg->n_headers == 0) {
        return 0;
    }
    if (cfg->n_headers > SL_SOURCE_MAX_HEADERS) {
        *why = "too many --header options";
        return SL_ETOOBIG;
    }
    size_t total = 0;
    for (size_t i = 0; i < cfg->n_headers; i++) {
        const char *eq = strchr (cfg->headers[i], '=');
        if (!eq || eq == cfg->headers[i]) {
            *why = "expected NAME=VALUE with a NAME";
            return SL_EINVAL;
        }
        size_t name_len = (size_t)(eq - cfg->headers[i]);
        for (size_t k = 0; k < i; k++) {
            if (strncmp (cfg->headers[k], cfg->headers[i], name_len + 1) == 0) {
                *why = "a header NAME given twice";
                return SL_EINVAL;
            }
        }
        total += strlen (cfg->headers[i]) + 16;
    }
    if (total > SL_SOURCE_HEADERS_MAX) {
        *why = "headers larger than 64 KiB";
        return SL_ETOOBIG;
    }
    int rc = sl_buf_reserve (out, total + 8);
    if (rc) {
        return rc;
    }
    uint8_t *p = out->data, *end = out->data + out->cap;
    p += sl_mp_write_map (p, (size_t)(end - p), (uint32_t)cfg->n_headers);
    for (size_t i = 0; i < cfg->n_headers; i++) {
        const char *eq = strchr (cfg->headers[i], '=');
        uint32_t name_len = (uint32_t)(eq - cfg->headers[i]);
        uint32_t value_len = (uint32_t)strlen (eq + 1);
        p += sl_mp_write_str_header (p, (size_t)(end - p), name_len);
        memcpy (p, cfg->headers[i], name_len);
        p += name_len;
        p += sl_mp_write_str_header (p, (size_t)(end - p), value_len);
        memcpy (p, eq + 1, value_len);
        p += value_len;
    }
    out->len = (size_t)(p - out->data);
    return 0;
}
