/*  sl_shares_key.c - a record's group key and share (sl_shares_key.h). */
#include "sl_shares_key.h"

#include <string.h>

#include "sl_error.h"
#include "sl_mp.h"
#include "sl_shares.h"
#include "sl_window.h"

int
sl_shares_key (const char *path, const sl_record_t *record, sl_buf_t *tmp, const uint8_t **raw,
               size_t *len)
{
    if (strcmp (path, "record") == 0) {
        if (!record->key) {
            return 0;
        }
        sl_buf_reset (tmp);
        uint8_t head[9];
        size_t h = record->key_is_bin ? sl_mp_write_bin_header (head, sizeof head, record->key_len)
                                      : sl_mp_write_str_header (head, sizeof head, record->key_len);
        if (sl_buf_append (tmp, head, h) || sl_buf_append (tmp, record->key, record->key_len)) {
            return SL_ENOMEM;
        }
        *raw = tmp->data;
        *len = tmp->len;
        return 1;
    }
    int rc = sl_mp_path (record->value, record->value_len, path, raw, len);
    if (rc == 1 && **raw == 0xc0) {
        return 0; //  nil is no key
    }
    return rc;
}

uint32_t
sl_shares_of_record (const char *path, const sl_record_t *record, uint32_t shares, size_t max_key,
                     sl_buf_t *tmp)
{
    const uint8_t *raw;
    size_t len;
    if (shares <= 1 || sl_shares_key (path, record, tmp, &raw, &len) != 1 || len > max_key) {
        return 0;
    }
    return sl_shares_of (raw, len, shares);
}
