/*  sl_batch.c - the record codec: records, batches and stored batch blobs.

    Everything here walks bytes with the sl_mp readers: no msgpack object
    trees and no allocation per record, because the broker validates every
    record it stores and sinks iterate every record they read.
*/
#include "sl_batch.h"

#include <assert.h>
#include <isa-l/crc.h>
#include <string.h>

#include "sl_error.h"
#include "sl_mp.h"

//  crc32_iscsi takes an int length and works on the inverted register:
//  feed it at most 1 GiB at a time, starting from and ending with ~0.
uint32_t
sl_crc32c (const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t crc = 0xffffffffu;
    while (len > 0) {
        size_t n = len > (1u << 30) ? (1u << 30) : len;
        crc = crc32_iscsi ((unsigned char *)p, (int)n, crc);
        p += n;
        len -= n;
    }
    return crc ^ 0xffffffffu;
}

void
sl_batch_header_encode (const sl_batch_header_t *header, uint8_t *out)
{
    out[0] = header->version;
    out[1] = header->flags;
    out[2] = 0;
    out[3] = 0;
    sl_put_be32 (out + 4, header->count);
    sl_put_be64 (out + 8, header->base_offset);
    sl_put_be64 (out + 16, (uint64_t)header->append_ms);
}

//  Strict on purpose: flags and reserved are 0 in version 1, and a reader
//  that meets a flag it does not know (say, compression) must not guess.
int
sl_batch_header_decode (const uint8_t *data, size_t len, sl_batch_header_t *header)
{
    if (len < SL_BATCH_HEADER_SIZE) {
        return SL_ETRUNC;
    }
    if (data[0] != SL_BATCH_VERSION) {
        return SL_EVERSION;
    }
    if (data[1] != 0 || data[2] != 0 || data[3] != 0) {
        return SL_EPROTO;
    }
    uint32_t count = sl_be32 (data + 4);
    if (count == 0) {
        return SL_EPROTO;
    }
    header->version = data[0];
    header->flags = data[1];
    header->count = count;
    header->base_offset = sl_be64 (data + 8);
    header->append_ms = (int64_t)sl_be64 (data + 16);
    return 0;
}

//  Reserves the whole record first, so that a failure leaves buf as it was.
int
sl_record_encode (sl_buf_t *buf, int64_t timestamp, const void *key, uint32_t key_len,
                  bool key_is_bin, const void *headers, size_t headers_len, const void *value,
                  size_t value_len)
{
    assert (buf);
    assert (value || value_len == 0);
    assert (headers || headers_len == 0);
    size_t need = 1 + 9 + (key ? 5 + (size_t)key_len : 1) + (headers ? headers_len : 1) +
                  (value ? value_len : 1);
    int rc = sl_buf_reserve (buf, need);
    if (rc) {
        return rc;
    }
    uint8_t *out = buf->data + buf->len;
    size_t cap = buf->cap - buf->len;
    size_t n = sl_mp_write_array (out, cap, 4);
    n += sl_mp_write_int (out + n, cap - n, timestamp);
    if (key) {
        n += key_is_bin ? sl_mp_write_bin_header (out + n, cap - n, key_len)
                        : sl_mp_write_str_header (out + n, cap - n, key_len);
        memcpy (out + n, key, key_len);
        n += key_len;
    }
    else {
        n += sl_mp_write_nil (out + n, cap - n);
    }
    if (headers && headers_len) {
        memcpy (out + n, headers, headers_len);
        n += headers_len;
    }
    else {
        n += sl_mp_write_nil (out + n, cap - n);
    }
    if (value && value_len) {
        memcpy (out + n, value, value_len);
        n += value_len;
    }
    else {
        n += sl_mp_write_nil (out + n, cap - n);
    }
    buf->len += n;
    return 0;
}

//  Checks a headers map (str -> str|bin) and steps over it.
static int
s_headers_check (const uint8_t **p, const uint8_t *end)
{
    uint32_t pairs;
    int rc = sl_mp_read_map (p, end, &pairs);
    if (rc) {
        return rc;
    }
    for (uint32_t i = 0; i < pairs; i++) {
        const uint8_t *data;
        uint32_t size;
        rc = sl_mp_read_str (p, end, &data, &size);
        if (rc) {
            return rc;
        }
        rc = sl_mp_read_bytes (p, end, &data, &size);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

//  Parses one record at *p. Leaves *p alone on failure. A record that is
//  not an array of four is SL_EPROTO; a field of the wrong type SL_ETYPE.
static int
s_record_parse (const uint8_t **p, const uint8_t *end, uint32_t max_depth, sl_record_t *out)
{
    const uint8_t *q = *p;
    int rc;
    //  The shape Sluice's own producers write, [uint64 ms, ...], read in
    //  place (every record of every batch passes here, at the broker twice);
    //  anything else takes the general readers below.
    if (end - q >= 10 && q[0] == 0x94 && q[1] == 0xcf && q[2] < 0x80) {
        out->timestamp = (int64_t)sl_be64 (q + 2);
        q += 10;
    }
    else {
        uint32_t fields;
        rc = sl_mp_read_array (&q, end, &fields);
        if (rc) {
            return rc == SL_ETYPE ? SL_EPROTO : rc;
        }
        if (fields != 4) {
            return SL_EPROTO;
        }
        rc = sl_mp_read_int (&q, end, &out->timestamp);
        if (rc) {
            return rc;
        }
    }
    if (sl_mp_read_nil (&q, end)) {
        out->key = NULL;
        out->key_len = 0;
        out->key_is_bin = false;
    }
    else {
        if (q >= end) {
            return SL_ETRUNC;
        }
        //  bin8/16/32 are 0xc4..0xc6; everything else read_bytes accepts is str.
        out->key_is_bin = *q >= 0xc4 && *q <= 0xc6;
        rc = sl_mp_read_bytes (&q, end, &out->key, &out->key_len);
        if (rc) {
            return rc;
        }
    }
    if (sl_mp_read_nil (&q, end)) {
        out->headers = NULL;
        out->headers_len = 0;
    }
    else {
        const uint8_t *h = q;
        rc = s_headers_check (&q, end);
        if (rc) {
            return rc;
        }
        out->headers = h;
        out->headers_len = (size_t)(q - h);
    }
    size_t used;
    rc = sl_mp_skip (q, (size_t)(end - q), max_depth, &used);
    if (rc) {
        return rc;
    }
    out->value = q;
    out->value_len = used;
    q += used;
    out->raw = *p;
    out->raw_len = (size_t)(q - *p);
    *p = q;
    return 0;
}

int
sl_batch_validate (const uint8_t *data, size_t len, uint32_t count, uint32_t max_depth)
{
    const uint8_t *p = data;
    const uint8_t *end = data + len;
    sl_record_t record;
    for (uint32_t i = 0; i < count; i++) {
        int rc = s_record_parse (&p, end, max_depth, &record);
        if (rc) {
            return rc;
        }
    }
    //  Bytes after the last record would be stored and served as if they
    //  were records: refuse them.
    return p == end ? 0 : SL_EPROTO;
}

void
sl_record_iter_init (sl_record_iter_t *it, const uint8_t *data, size_t len, uint32_t count,
                     uint64_t base_offset)
{
    it->p = data;
    it->end = data + len;
    it->next_offset = base_offset;
    it->left = count;
    it->max_depth = SL_MP_DEPTH_LIMIT;
    it->holes = false;
}

int
sl_record_iter_init_blob (sl_record_iter_t *it, const uint8_t *blob, size_t len,
                          sl_batch_header_t *header)
{
    sl_batch_header_t local;
    if (!header) {
        header = &local;
    }
    int rc = sl_batch_header_decode (blob, len, header);
    if (rc) {
        return rc;
    }
    sl_record_iter_init (it, blob + SL_BATCH_HEADER_SIZE, len - SL_BATCH_HEADER_SIZE, header->count,
                         header->base_offset);
    return 0;
}

//  On malformed input the iterator does not move, so every further call
//  returns the same error rather than resynchronising on garbage.
int
sl_record_iter_next (sl_record_iter_t *it, sl_record_t *out)
{
    while (it->holes && it->left > 0 && it->p < it->end && *it->p == 0xc0) {
        it->p++;
        it->next_offset++;
        it->left--;
    }
    if (it->left == 0) {
        return it->p == it->end ? 0 : SL_EPROTO;
    }
    int rc = s_record_parse (&it->p, it->end, it->max_depth, out);
    if (rc) {
        return rc;
    }
    out->offset = it->next_offset++;
    it->left--;
    return 1;
}

int
sl_batch_skip (const uint8_t *data, size_t len, uint32_t n, size_t *consumed)
{
    const uint8_t *p = data;
    const uint8_t *end = data + len;
    sl_record_t record;
    for (uint32_t i = 0; i < n; i++) {
        int rc = s_record_parse (&p, end, SL_MP_DEPTH_LIMIT, &record);
        if (rc) {
            return rc;
        }
    }
    *consumed = (size_t)(p - data);
    return 0;
}
