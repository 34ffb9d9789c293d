/*  sl_buf.c - growable byte buffer.
 */
#include "sl_buf.h"

#include <stdlib.h>
#include <string.h>

#include "sl_error.h"

void
sl_buf_init (sl_buf_t *self, size_t limit)
{
    self->data = NULL;
    self->len = 0;
    self->cap = 0;
    self->limit = limit;
}

void
sl_buf_free (sl_buf_t *self)
{
    free (self->data);
    self->data = NULL;
    self->len = 0;
    self->cap = 0;
}

int
sl_buf_grow (sl_buf_t *self, size_t more)
{
    if (more > SIZE_MAX - self->len) {
        return SL_ETOOBIG;
    }
    size_t need = self->len + more;
    if (need <= self->cap) {
        return 0;
    }
    if (self->limit && need > self->limit) {
        return SL_ETOOBIG;
    }
    //  Grow geometrically so that appends are amortised O(1).
    size_t cap = self->cap ? self->cap : 256;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    if (self->limit && cap > self->limit) {
        cap = self->limit;
    }
    uint8_t *data = realloc (self->data, cap);
    if (!data) {
        return SL_ENOMEM;
    }
    self->data = data;
    self->cap = cap;
    return 0;
}

int
sl_buf_append_str (sl_buf_t *self, const char *str)
{
    return sl_buf_append (self, str, strlen (str));
}
