/*  seqs.c - the broker's producer dedupe cache (see seqs.h).

    Two tables of "producer/stream" -> uint64_t: the committed copies and
    the open group's tentative values. '/' never occurs in a valid name,
    so the key is unambiguous.
*/
#include "seqs.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"

struct _sl_seqs_t {
    sl_store_t *store;
    size_t max;
    zhashx_t *committed;
    zhashx_t *tentative;
};

static void
s_free_value (void **item)
{
    free (*item);
    *item = NULL;
}

sl_seqs_t *
sl_seqs_new (sl_store_t *store, size_t max)
{
    sl_seqs_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->store = store;
    self->max = max;
    self->committed = zhashx_new ();
    self->tentative = zhashx_new ();
    if (!self->committed || !self->tentative) {
        sl_seqs_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->committed, s_free_value);
    zhashx_set_destructor (self->tentative, s_free_value);
    return self;
}

void
sl_seqs_destroy (sl_seqs_t **self_p)
{
    sl_seqs_t *self = *self_p;
    if (!self) {
        return;
    }
    zhashx_destroy (&self->committed);
    zhashx_destroy (&self->tentative);
    free (self);
    *self_p = NULL;
}

void
sl_seqs_trim (sl_seqs_t *self)
{
    if (zhashx_size (self->committed) >= self->max) {
        zhashx_purge (self->committed);
    }
}

void
sl_seqs_forget (sl_seqs_t *self)
{
    zhashx_purge (self->committed);
}

//  Stores seq under key in table: 0 or SL_ENOMEM.
static int
s_put (zhashx_t *table, const char *key, uint64_t seq)
{
    uint64_t *value = malloc (sizeof *value);
    if (!value) {
        return SL_ENOMEM;
    }
    *value = seq;
    zhashx_update (table, key, value);
    return 0;
}

int
sl_seqs_get (sl_seqs_t *self, const char *producer, const char *stream, uint64_t *seq)
{
    char *key = zsys_sprintf ("%s/%s", producer, stream);
    if (!key) {
        return SL_ENOMEM;
    }
    int rc = 0;
    uint64_t *value = zhashx_lookup (self->tentative, key);
    if (!value) {
        value = zhashx_lookup (self->committed, key);
    }
    if (value) {
        *seq = *value;
    }
    else {
        rc = sl_store_producer_get (self->store, producer, stream, seq);
        //  A copy that cannot be cached is only read again next time.
        if (rc == 0) {
            s_put (self->committed, key, *seq);
        }
    }
    zstr_free (&key);
    return rc;
}

void
sl_seqs_begin (sl_seqs_t *self)
{
    zhashx_purge (self->tentative);
}

int
sl_seqs_set (sl_seqs_t *self, const char *producer, const char *stream, uint64_t seq)
{
    char *key = zsys_sprintf ("%s/%s", producer, stream);
    int rc = key ? s_put (self->tentative, key, seq) : SL_ENOMEM;
    zstr_free (&key);
    return rc;
}

void
sl_seqs_end (sl_seqs_t *self, bool committed)
{
    if (committed) {
        for (uint64_t *value = zhashx_first (self->tentative); value;
             value = zhashx_next (self->tentative)) {
            const char *key = zhashx_cursor (self->tentative);
            //  An old copy must not outlive a failed update: without one
            //  the next read goes to the store.
            if (s_put (self->committed, key, *value) != 0) {
                zhashx_delete (self->committed, key);
            }
        }
    }
    zhashx_purge (self->tentative);
}
