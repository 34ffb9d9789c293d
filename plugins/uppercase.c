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

    Built against sluice/plugin.h alone (header-only, nothing to link):
      cc -shared -fPIC $(pkg-config --cflags sluice-operator) \
         -o sluice-op-uppercase.so uppercase.c
    The value is never re-encoded: it is copied and the string's bytes are
    changed in place, so every other byte stays as it came. It is read with
    sluice/mp.h, Sluice's own bounded msgpack reader, which trusts no
    length it reads.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/plugin.h"

typedef struct {
    char *field;
    char *fail_on; //  NULL = never fail
    uint8_t *buf;  //  the output value, reused
    size_t cap;
} uppercase_t;

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
    size_t used = 0;
    if (!in->value ||
        sluice_mp_skip (in->value, in->value_len, SLUICE_MP_DEPTH_LIMIT, &used) != 0 ||
        used != in->value_len) {
        host->error (host->ctx, "uppercase: value is not one well-formed msgpack object");
        return SL_OP_FAIL;
    }
    //  The first member called field, if any (a repeated key's first).
    const uint8_t *member = NULL;
    size_t member_len = 0;
    int found = sluice_mp_map_find (in->value, in->value_len, self->field, strlen (self->field),
                                    false, &member, &member_len);
    sluice_mp_obj_t top;
    const uint8_t *at = in->value;
    sluice_mp_next (&at, in->value + in->value_len, &top);
    if (top.type != SLUICE_MP_MAP) {
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
    sluice_mp_obj_t str;
    const uint8_t *p = member;
    if (found == 1 && sluice_mp_next (&p, member + member_len, &str) == 0 &&
        str.type == SLUICE_MP_STR) {
        if (self->fail_on && str.size == strlen (self->fail_on) &&
            memcmp (str.data, self->fail_on, str.size) == 0) {
            char text[200];
            snprintf (text, sizeof text, "uppercase: %s is '%s' (fail_on)", self->field,
                      self->fail_on);
            host->error (host->ctx, text);
            return SL_OP_FAIL;
        }
        uint8_t *out = self->buf + (str.data - in->value);
        for (uint32_t j = 0; j < str.size; j++) {
            if (out[j] >= 'a' && out[j] <= 'z') {
                out[j] = (uint8_t)(out[j] - 'a' + 'A');
            }
        }
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
