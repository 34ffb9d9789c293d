/*  dlq_filter.c - the filter expression of `sluice dlq resend` (dlq_filter.h).
    It drives the worker's own filter operator (worker/op_expr.c) through
    the operator ABI, so the language, its environment and its limits are
    the worker's, not a second dialect.
*/
#include "dlq_filter.h"

#include <stdio.h>
#include <stdlib.h>

#include "operator.h"
#include "sl_error.h"

struct _dlq_filter_t {
    const sl_operator_t *op;
    void *state;
    sl_op_host_t host;
    bool emitted;    //  the record being evaluated passed
    char error[256]; //  the last error the operator set
};

//  The filter emits its input unchanged when the expression is true: that
//  emit is the answer.
static int
s_emit (void *ctx, const sl_op_record_t *out)
{
    (void)out;
    ((dlq_filter_t *)ctx)->emitted = true;
    return 0;
}

static void
s_error (void *ctx, const char *text)
{
    dlq_filter_t *self = ctx;
    snprintf (self->error, sizeof self->error, "%s", text ? text : "");
}

static void
s_log (void *ctx, sl_op_log_t level, const char *text)
{
    (void)ctx;
    (void)level;
    fprintf (stderr, "sluice dlq resend: filter: %s\n", text);
}

dlq_filter_t *
dlq_filter_new (const char *expr, char *why, size_t why_size)
{
    dlq_filter_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (why, why_size, "out of memory");
        return NULL;
    }
    self->op = sl_op_filter ();
    self->host = (sl_op_host_t){.ctx = self, .emit = s_emit, .error = s_error, .log = s_log};
    const char *keys[] = {"expr"};
    const char *values[] = {expr};
    if (self->op->init (&self->state, &self->host, 1, keys, values) != 0) {
        snprintf (why, why_size, "%s", self->error[0] ? self->error : "cannot compile it");
        free (self);
        return NULL;
    }
    return self;
}

int
dlq_filter_match (dlq_filter_t *self, const sl_record_t *letter, bool *match, char *why,
                  size_t why_size)
{
    sl_op_record_t in = {.offset = letter->offset,
                         .timestamp = letter->timestamp,
                         .key = letter->key,
                         .key_len = letter->key_len,
                         .key_is_bin = letter->key_is_bin,
                         .headers = letter->headers,
                         .headers_len = letter->headers_len,
                         .value = letter->value,
                         .value_len = letter->value_len};
    self->emitted = false;
    self->error[0] = '\0';
    int rc = self->op->process (self->state, &in, &self->host);
    if (rc == SL_OP_OK || rc == SL_OP_DROP) {
        *match = rc == SL_OP_OK && self->emitted;
        return 0;
    }
    snprintf (why, why_size, "%s", self->error[0] ? self->error : "the expression failed");
    return SL_EINVAL;
}

void
dlq_filter_destroy (dlq_filter_t **self_p)
{
    if (*self_p) {
        dlq_filter_t *self = *self_p;
        if (self->state) {
            self->op->destroy (self->state);
        }
        free (self);
        *self_p = NULL;
    }
}
