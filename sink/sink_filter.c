/*  sink_filter.c - the sink's kcat-class reading: relative times,
    --until (an end position) and --key-filter. Kept apart from the reading
    algorithm in sink.c, which only asks whether a record passes.
*/
#include "sink.h"

#include <fnmatch.h>
#include <string.h>

#include "sl_error.h"
#include "sl_util.h"

#define S_KEY_MAX 1024 //  longest key matched against a pattern

int
sl_sink_parse_time (const char *text, int64_t *ms)
{
    if (!text || !*text) {
        return SL_EINVAL;
    }
    if (text[0] == '-') {
        int64_t ago = 0;
        if (sl_parse_duration_ms (text + 1, &ago) || ago <= 0) {
            return SL_EINVAL;
        }
        *ms = sl_now_ms () - ago;
        return 0;
    }
    return sl_parse_time_ms (text, ms) ? SL_EINVAL : 0;
}

int
sl_sink_parse_until (const char *text, sl_from_t *kind, int64_t *value)
{
    if (!text || !*text) {
        return SL_EINVAL;
    }
    if (text[0] == '@') {
        *kind = SL_FROM_TIME;
        return sl_sink_parse_time (text + 1, value);
    }
    uint64_t n = 0;
    if (sl_parse_u64 (text, &n) || n > INT64_MAX) {
        return SL_EINVAL;
    }
    *kind = SL_FROM_OFFSET;
    *value = (int64_t)n;
    return 0;
}

bool
sl_sink_key_passes (const sl_sink_config_t *cfg, const uint8_t *key, uint32_t key_len)
{
    if (!cfg->key_filter) {
        return true;
    }
    if (!key || key_len > S_KEY_MAX || memchr (key, '\0', key_len)) {
        return false;
    }
    char text[S_KEY_MAX + 1];
    memcpy (text, key, key_len);
    text[key_len] = '\0';
    return fnmatch (cfg->key_filter, text, 0) == 0;
}
