/*  sl_dlq.c - a dead letter's original record (sl_dlq.h).
 */
#include "sl_dlq.h"

#include <string.h>

#include "sl_error.h"
#include "sl_mp.h"

static bool
s_key_is (const uint8_t *key, uint32_t len, const char *want)
{
    return strlen (want) == len && memcmp (key, want, len) == 0;
}

//  Skips one value (bounded: the record iterator walked it already).
static int
s_skip (const uint8_t **p, const uint8_t *end)
{
    size_t used;
    if (sl_mp_skip (*p, (size_t)(end - *p), SL_MP_DEPTH_LIMIT, &used)) {
        return SL_EPROTO;
    }
    *p += used;
    return 0;
}

int
sl_dlq_original (const sl_record_t *dead, sl_buf_t *batch, char *stream)
{
    const uint8_t *p = dead->value;
    const uint8_t *end = dead->value + dead->value_len;
    uint32_t pairs;
    if (sl_mp_read_map (&p, end, &pairs)) {
        return SL_EPROTO;
    }
    bool have_record = false, have_stream = false;
    int64_t timestamp = 0;
    const uint8_t *key = NULL, *headers = NULL, *value = NULL;
    uint32_t key_len = 0;
    size_t headers_len = 0, value_len = 0;
    bool key_bin = false, have_ts = false;
    for (uint32_t i = 0; i < pairs; i++) {
        const uint8_t *k;
        uint32_t klen;
        if (sl_mp_read_str (&p, end, &k, &klen)) {
            return SL_EPROTO;
        }
        if (s_key_is (k, klen, "stream")) {
            const uint8_t *s;
            uint32_t slen;
            if (sl_mp_read_str (&p, end, &s, &slen) || slen > SL_NAME_MAX ||
                !sl_name_valid ((const char *)s, slen)) {
                return SL_EPROTO;
            }
            memcpy (stream, s, slen);
            stream[slen] = 0;
            have_stream = true;
        }
        else if (s_key_is (k, klen, "record")) {
            uint32_t fields;
            if (sl_mp_read_map (&p, end, &fields)) {
                return SL_EPROTO;
            }
            for (uint32_t f = 0; f < fields; f++) {
                if (sl_mp_read_str (&p, end, &k, &klen)) {
                    return SL_EPROTO;
                }
                const uint8_t *at = p;
                if (s_skip (&p, end)) {
                    return SL_EPROTO;
                }
                if (s_key_is (k, klen, "timestamp")) {
                    const uint8_t *q = at;
                    if (sl_mp_read_int (&q, p, &timestamp)) {
                        return SL_EPROTO;
                    }
                    have_ts = true;
                }
                else if (s_key_is (k, klen, "key")) {
                    const uint8_t *q = at;
                    if (!sl_mp_read_nil (&q, p)) {
                        key_bin = *at == 0xc4 || *at == 0xc5 || *at == 0xc6;
                        if (sl_mp_read_bytes (&q, p, &key, &key_len)) {
                            return SL_EPROTO;
                        }
                    }
                }
                else if (s_key_is (k, klen, "headers")) {
                    if (*at != 0xc0) {
                        headers = at;
                        headers_len = (size_t)(p - at);
                    }
                }
                else if (s_key_is (k, klen, "value")) {
                    value = at;
                    value_len = (size_t)(p - at);
                }
            }
            have_record = true;
        }
        else if (s_skip (&p, end)) {
            return SL_EPROTO;
        }
    }
    if (!have_record || !have_stream || !have_ts || !value) {
        return SL_EPROTO;
    }
    return sl_record_encode (batch, timestamp, key, key_len, key_bin, headers, headers_len, value,
                             value_len);
}
