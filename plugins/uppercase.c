/*  uppercase.c - an example operator plugin: upper-cases (ASCII) one string
    field of each record's value.

    Options:
      field    the map key whose string value is upper-cased (default "name")
      fail_on  when the field's value equals this text, the record fails
               permanently (SL_OP_FAIL, straight to the dead-letter stream);
               empty = never (default)
    A value that is not a map is SL_OP_RETRY (to show the retry path: after
    --max-deliver attempts the record is dead-lettered). A map without the
    field, or whose field is not a string, passes unchanged.

    Built against sluice_operator.h alone:
      cc -shared -fPIC $(pkg-config --cflags sluice-operator) \
         -o sluice-op-uppercase.so uppercase.c
    The value is never re-encoded: it is copied and the string's bytes are
    changed in place, so every other byte stays as it came. The small
    msgpack walker below trusts no length it reads.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_operator.h"

typedef struct {
    char *field;
    char *fail_on;          //  NULL = never fail
    uint8_t *buf;           //  the output value, reused
    size_t cap;
} uppercase_t;

static uint32_t
s_be (const uint8_t *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

//  Reads one object header at p. Sets *skip to the bytes that follow the
//  header and belong to the object itself (a string's bytes), *items to
//  the objects it contains (array: n, map: 2n) and, for a str, *str to its
//  bytes. Returns the header's length, or 0 when it runs past end.
static size_t
s_header (const uint8_t *p, const uint8_t *end, uint64_t *skip, uint64_t *items,
          const uint8_t **str)
{
    size_t left = (size_t) (end - p);
    if (left < 1) {
        return 0;
    }
    uint8_t b = p[0];
    size_t h = 1;
    *skip = 0;
    *items = 0;
    *str = NULL;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        return 1;
    }
    if (b >= 0x80 && b <= 0x8f) {
        *items = 2u * (b & 0x0f);
        return 1;
    }
    if (b >= 0x90 && b <= 0x9f) {
        *items = b & 0x0f;
        return 1;
    }
    if (b >= 0xa0 && b <= 0xbf) {
        *skip = b & 0x1f;
        *str = p + 1;
        return 1;
    }
    switch (b) {
    case 0xcc: case 0xd0: *skip = 1; return 1;
    case 0xcd: case 0xd1: *skip = 2; return 1;
    case 0xca: case 0xce: case 0xd2: *skip = 4; return 1;
    case 0xcb: case 0xcf: case 0xd3: *skip = 8; return 1;
    case 0xd4: *skip = 2; return 1;
    case 0xd5: *skip = 3; return 1;
    case 0xd6: *skip = 5; return 1;
    case 0xd7: *skip = 9; return 1;
    case 0xd8: *skip = 17; return 1;
    case 0xc4: case 0xd9: h = 2; break;
    case 0xc5: case 0xda: h = 3; break;
    case 0xc6: case 0xdb: h = 5; break;
    case 0xc7: h = 2; break;
    case 0xc8: h = 3; break;
    case 0xc9: h = 5; break;
    case 0xdc: case 0xde: h = 3; break;
    case 0xdd: case 0xdf: h = 5; break;
    default:
        return 0;   //  0xc1, never used
    }
    if (left < h) {
        return 0;
    }
    uint32_t n = s_be (p + 1, h - 1);
    if (b == 0xdc || b == 0xdd) {
        *items = n;
    }
    else if (b == 0xde || b == 0xdf) {
        *items = 2ull * n;
    }
    else if (b >= 0xc7 && b <= 0xc9) {
        *skip = (uint64_t) n + 1;   //  the ext type byte, then the data
    }
    else {
        *skip = n;
        if (b >= 0xd9) {
            *str = p + h;
        }
    }
    return h;
}

//  Walks one whole object at p (without recursion: it counts the objects
//  still owed). Returns its length, or 0 when it is malformed or truncated.
static size_t
s_skip (const uint8_t *p, const uint8_t *end)
{
    const uint8_t *start = p;
    uint64_t owed = 1;
    while (owed) {
        uint64_t skip, items;
        const uint8_t *str;
        size_t h = s_header (p, end, &skip, &items, &str);
        if (!h || skip > (uint64_t) (end - p) - h) {
            return 0;
        }
        p += h + skip;
        owed = owed - 1 + items;
        //  Every owed object takes at least one byte: a lying count ends here.
        if (owed > (uint64_t) (end - p)) {
            return 0;
        }
    }
    return (size_t) (p - start);
}

static char *
s_option (int n, const char *const *keys, const char *const *values, const char *key,
          const char *fallback)
{
    for (int i = 0; i < n; i++) {
        if (strcmp (keys[i], key) == 0) {
            return strdup (values[i]);
        }
    }
    return strdup (fallback);
}

static void
s_destroy (void *state)
{
    uppercase_t *self = state;
    if (self) {
        free (self->field);
        free (self->fail_on);
        free (self->buf);
        free (self);
    }
}

static int
s_init (void **state, const sl_op_host_t *host, int n, const char *const *keys,
        const char *const *values)
{
    uppercase_t *self = calloc (1, sizeof *self);
    if (!self) {
        host->error (host->ctx, "uppercase: out of memory");
        return -1;
    }
    self->field = s_option (n, keys, values, "field", "name");
    self->fail_on = s_option (n, keys, values, "fail_on", "");
    if (!self->field || !self->fail_on || !self->field[0]) {
        host->error (host->ctx, self->field && self->fail_on ? "uppercase: field is empty"
                                                             : "uppercase: out of memory");
        s_destroy (self);
        return -1;
    }
    if (!self->fail_on[0]) {
        free (self->fail_on);
        self->fail_on = NULL;
    }
    *state = self;
    return 0;
}

static int
s_process (void *state, const sl_op_record_t *in, const sl_op_host_t *host)
{
    uppercase_t *self = state;
    const uint8_t *p = in->value;
    const uint8_t *end = p + in->value_len;
    if (!p || s_skip (p, end) != in->value_len) {
        host->error (host->ctx, "uppercase: value is not one well-formed msgpack object");
        return SL_OP_FAIL;
    }
    uint64_t skip, items;
    const uint8_t *str;
    size_t h = s_header (p, end, &skip, &items, &str);
    if (!((p[0] >= 0x80 && p[0] <= 0x8f) || p[0] == 0xde || p[0] == 0xdf)) {
        host->error (host->ctx, "uppercase: value is not a map");
        return SL_OP_RETRY;
    }
    if (in->value_len > self->cap) {
        uint8_t *buf = realloc (self->buf, in->value_len);
        if (!buf) {
            host->error (host->ctx, "uppercase: out of memory");
            return SL_OP_RETRY;
        }
        self->buf = buf;
        self->cap = in->value_len;
    }
    memcpy (self->buf, in->value, in->value_len);
    size_t field_len = strlen (self->field);
    p += h;
    uint64_t pairs = items / 2;
    for (uint64_t i = 0; i < pairs; i++) {
        //  The walk above checked every length, so these cannot run past end.
        const uint8_t *key = p;
        size_t key_size = s_skip (p, end);
        s_header (key, end, &skip, &items, &str);
        bool match = str && skip == field_len && memcmp (str, self->field, field_len) == 0;
        p += key_size;
        size_t value_size = s_skip (p, end);
        s_header (p, end, &skip, &items, &str);
        if (match && str) {
            if (self->fail_on && skip == strlen (self->fail_on)
                && memcmp (str, self->fail_on, skip) == 0) {
                char text[200];
                snprintf (text, sizeof text, "uppercase: %s is '%s' (fail_on)", self->field,
                          self->fail_on);
                host->error (host->ctx, text);
                return SL_OP_FAIL;
            }
            uint8_t *out = self->buf + (str - in->value);
            for (uint64_t j = 0; j < skip; j++) {
                if (out[j] >= 'a' && out[j] <= 'z') {
                    out[j] = (uint8_t) (out[j] - 'a' + 'A');
                }
            }
        }
        p += value_size;
    }
    sl_op_record_t out = *in;
    out.value = self->buf;
    if (host->emit (host->ctx, &out) != 0) {
        host->error (host->ctx, "uppercase: output refused");
        return SL_OP_RETRY;
    }
    return SL_OP_OK;
}

static const sl_op_option_t s_options[] = {
    {"field", SL_OPT_STRING, "name", "the map key whose string value is upper-cased"},
    {"fail_on", SL_OPT_STRING, "", "fail the record when the field equals this text"},
    {NULL, 0, NULL, NULL},
};

static const sl_operator_t s_operator = {
    .abi = SL_OPERATOR_ABI,
    .name = "uppercase",
    .description = "upper-cases one string field of each record's value",
    .options = s_options,
    .init = s_init,
    .process = s_process,
    .flush = NULL,
    .destroy = s_destroy,
};

const sl_operator_t *
sluice_operator (void)
{
    return &s_operator;
}
