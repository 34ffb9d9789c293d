/*  sl_record_out.c - a record as a msgpack map, packed by msgpack-c's
    packer straight into the caller's sl_buf (a write callback of ours).
*/
#include "sl_record_out.h"

#include <msgpack.h>

#include "sl_error.h"

typedef struct {
    sl_buf_t *buf;
    int rc; //  the first error, kept for the caller
} s_writer_t;

//  msgpack-c's write callback: appends to the sl_buf, bounded by its limit.
static int
s_write (void *data, const char *bytes, size_t size)
{
    s_writer_t *w = (s_writer_t *)data;
    if (w->rc == 0) {
        w->rc = sl_buf_append (w->buf, bytes, size);
    }
    return w->rc;
}

static void
s_pack_name (msgpack_packer *pk, const char *name, size_t len)
{
    msgpack_pack_str_with_body (pk, name, len);
}

int
sl_record_to_msgpack (const sl_record_t *record, sl_buf_t *out)
{
    size_t start = out->len;
    //  One reservation for the whole map, so the appends below do not grow
    //  the buffer piece by piece on the sink's hot path.
    int rc = sl_buf_reserve (out, 64 + (size_t)record->key_len + record->headers_len +
                                      record->value_len);
    if (rc) {
        return rc;
    }
    s_writer_t w = {out, 0};
    msgpack_packer pk;
    msgpack_packer_init (&pk, &w, s_write);
    msgpack_pack_map (&pk, record->headers ? 5 : 4);
    s_pack_name (&pk, "offset", 6);
    msgpack_pack_uint64 (&pk, record->offset);
    s_pack_name (&pk, "timestamp", 9);
    msgpack_pack_int64 (&pk, record->timestamp);
    s_pack_name (&pk, "key", 3);
    if (!record->key) {
        msgpack_pack_nil (&pk);
    }
    else if (record->key_is_bin) {
        msgpack_pack_bin_with_body (&pk, record->key, record->key_len);
    }
    else {
        msgpack_pack_str_with_body (&pk, record->key, record->key_len);
    }
    if (record->headers) {
        s_pack_name (&pk, "headers", 7);
        s_write (&w, (const char *)record->headers, record->headers_len);
    }
    s_pack_name (&pk, "value", 5);
    s_write (&w, (const char *)record->value, record->value_len);
    if (w.rc) {
        out->len = start;
    }
    return w.rc;
}
