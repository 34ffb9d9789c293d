/*  seqs.h - the broker's producer dedupe cache (docs/PROTOCOL.md §6.1).

    The acked sequence of every (producer, stream) lives in the store's
    producer table; this cache keeps copies of the committed values so that
    a PUBLISH does not cost a read, and a group commit's tentative values
    beside them until the group's transaction has committed.

    Bounded by max entries (--max-producers): the committed cache is
    emptied when full, at the points the caller chooses (sl_seqs_trim), so
    a peer naming ever new producers costs disk reads, not memory.
*/
#ifndef SL_BROKER_SEQS_H_INCLUDED
#define SL_BROKER_SEQS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "sl_store.h"

typedef struct _sl_seqs_t sl_seqs_t;

//  The store is borrowed and must outlive the cache.
sl_seqs_t *sl_seqs_new (sl_store_t *store, size_t max);
void sl_seqs_destroy (sl_seqs_t **self_p);

//  Empties the committed cache when it holds max entries or more.
void sl_seqs_trim (sl_seqs_t *self);
//  Forgets every cached value (the store's table changed underneath).
void sl_seqs_forget (sl_seqs_t *self);

//  The acked sequence: this group's tentative value, else the committed
//  one (cache, else the store, which inside a write transaction sees it).
//  0, or the store's error.
int sl_seqs_get (sl_seqs_t *self, const char *producer, const char *stream, uint64_t *seq);

//  A group commit: begin forgets tentative values; set records one; end
//  moves them into the committed cache when the transaction committed and
//  drops them otherwise. set: 0 or SL_ENOMEM.
void sl_seqs_begin (sl_seqs_t *self);
int sl_seqs_set (sl_seqs_t *self, const char *producer, const char *stream, uint64_t seq);
void sl_seqs_end (sl_seqs_t *self, bool committed);

#endif
