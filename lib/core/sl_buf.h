/*  sl_buf.h - a growable byte buffer, reused across batches on hot paths.

    A plain value type (fields are public) so that codecs can write into it
    without a call per byte. Reset keeps the allocation; the buffer never
    shrinks until destroyed. Every growth is bounded by `limit` when set.
*/
#ifndef SL_BUF_H_INCLUDED
#define SL_BUF_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit; //  0 = unlimited; otherwise growth past it fails with SL_ETOOBIG
} sl_buf_t;

void sl_buf_init (sl_buf_t *self, size_t limit);
void sl_buf_free (sl_buf_t *self);
static inline void
sl_buf_reset (sl_buf_t *self)
{
    self->len = 0;
}
//  The growing part of sl_buf_reserve (sl_buf.c).
int sl_buf_grow (sl_buf_t *self, size_t more);
//  Make room for `more` bytes past len. 0, SL_ENOMEM or SL_ETOOBIG.
//  Inline when there is room: codecs append a few bytes at a time, and a
//  call per piece showed in the keyed member's profile (BENCHMARKS.md).
static inline int
sl_buf_reserve (sl_buf_t *self, size_t more)
{
    return more <= self->cap - self->len ? 0 : sl_buf_grow (self, more);
}
static inline int
sl_buf_append (sl_buf_t *self, const void *data, size_t size)
{
    if (size > self->cap - self->len) {
        int rc = sl_buf_grow (self, size);
        if (rc) {
            return rc;
        }
    }
    if (size) {
        memcpy (self->data + self->len, data, size);
    }
    self->len += size;
    return 0;
}
int sl_buf_append_str (sl_buf_t *self, const char *str);

#endif
