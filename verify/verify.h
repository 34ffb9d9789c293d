/*  verify.h - the counting core of sluice-verify: what went in against what
    came out, in the style of Jepsen's queue checker.

    Values are fed in as JSON texts or msgpack objects, first every value of
    the sent side, then every value of the received ("got") side. Each value
    is reduced to a match key:
      - with an id field (opts.id_field): the value must be a JSON object
        (msgpack map) with that member; the key is the member's value;
      - without one: the key is the whole value (a multiset of values).
    Keys compare in canonical form: the value as the JSON edge sees it (a
    msgpack value from a stream goes through its JSON text first, so bin
    and {"$bin": ...} agree, as do every width of one integer) with the
    members of every object sorted by key, so member order does not matter.
    Object members with the same name are all kept (and sorted).

    Counting, per distinct key k with s sends and g deliveries:
      delivered  += min(s, g)
      lost       += s - g       when s > g
      duplicated += g - s       when g > s > 0
      unexpected += g           when s = 0 (nobody sent it)
    Out-of-order: a first delivery of k whose first position in the sent
    order is below that of a key already delivered (per value of
    opts.key_field when given, else over the whole output). Repeats and
    unexpected values are not order-checked (they are counted already).

    Memory: one table entry per distinct key (sent or got), about 80 bytes
    plus the key's canonical msgpack size (see sl_verify_memory), and one
    per distinct order key with opts.key_field. Nothing else grows with the
    input: each value is converted in reused buffers.

    Lines that are not JSON, values without the id field and the like are
    bad input: the call returns a negative code with a reason in why, the
    value is counted (bad_sent / bad_got) and otherwise ignored.
*/
#ifndef SL_VERIFY_H_INCLUDED
#define SL_VERIFY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_buf.h"

typedef struct _sl_verify_t sl_verify_t;

//  How a line of the got side is read.
typedef enum {
    SL_VERIFY_GOT_AUTO = 0, //  per line: a sink --format json object (a JSON object whose
                            //  first member is "offset" and that has a "value"), else a value
    SL_VERIFY_GOT_JSON,     //  always a sluice-sink --format json object: its "value"
    SL_VERIFY_GOT_VALUE,    //  always the value itself (sluice-sink --format value)
} sl_verify_got_format_t;

typedef enum {
    SL_VERIFY_LOST = 0,
    SL_VERIFY_DUPLICATED,
    SL_VERIFY_UNEXPECTED,
    SL_VERIFY_OUT_OF_ORDER,
    SL_VERIFY_KINDS
} sl_verify_kind_t;

typedef struct {
    const char *id_field;  //  match by this top-level member; NULL: whole values
    const char *key_field; //  check order per value of this member; NULL: globally
    uint32_t examples;     //  keys listed per anomaly kind; 0 means 10
    uint64_t seed;         //  hash seed; 0 picks a random one
} sl_verify_opts_t;

typedef struct {
    uint64_t sent;      //  values of the sent side (bad ones not counted)
    uint64_t got;       //  values of the got side (bad ones not counted)
    uint64_t delivered; //  sent values that came out (at least once)
    uint64_t lost;
    uint64_t duplicated;
    uint64_t unexpected;
    uint64_t out_of_order;
    uint64_t bad_sent; //  sent-side input that could not be read or matched
    uint64_t bad_got;
    uint64_t distinct; //  distinct keys held
    uint64_t memory;   //  bytes held by the tables (approximate, see above)
} sl_verify_counts_t;

//  NULL on OOM or when a field name is empty.
sl_verify_t *sl_verify_new (const sl_verify_opts_t *opts);
void sl_verify_destroy (sl_verify_t **self_p);

//  One sent value, as one JSON text or one msgpack object. 0; SL_ESTATE
//  once the got side has begun (a programmer error, not counted); another
//  negative code for bad input (counted in bad_sent, reason in why).
int sl_verify_sent_json (sl_verify_t *self, const char *text, size_t len, char *why,
                         size_t why_size);
int sl_verify_sent_msgpack (sl_verify_t *self, const uint8_t *value, size_t len, char *why,
                            size_t why_size);

//  One received value: a line of a sink's output in format fmt, or one
//  msgpack object (a record's value). 0 or a negative code as above
//  (counted in bad_got).
int sl_verify_got_line (sl_verify_t *self, const char *text, size_t len, sl_verify_got_format_t fmt,
                        char *why, size_t why_size);
int sl_verify_got_msgpack (sl_verify_t *self, const uint8_t *value, size_t len, char *why,
                           size_t why_size);

//  Counts a bad input item found by the caller (an overlong line, a record
//  that did not decode): got false for the sent side.
void sl_verify_count_bad (sl_verify_t *self, bool got);

//  The counts so far; lost, duplicated, unexpected and delivered are worked
//  out over the whole table (a pass over it, O(distinct)).
void sl_verify_counts (sl_verify_t *self, sl_verify_counts_t *counts);

//  The first keys of an anomaly kind, as JSON texts, into *texts (borrowed:
//  valid until the next call that feeds a value or destroy). Lost and
//  duplicated keys come in sent order, unexpected ones in got order,
//  out-of-order ones as they were met. Returns how many (<= opts.examples).
size_t sl_verify_examples (sl_verify_t *self, sl_verify_kind_t kind, const char *const **texts);
//  How many copies of a duplicated key came out (for the i-th example).
uint64_t sl_verify_example_count (sl_verify_t *self, sl_verify_kind_t kind, size_t i);

//  True when nothing was lost, duplicated or unexpected (and, with ordered,
//  nothing came out of order).
bool sl_verify_passed (const sl_verify_counts_t *counts, bool ordered);

//  The report as one JSON object (no newline) / as a table for people.
int sl_verify_report_json (sl_verify_t *self, bool ordered, sl_buf_t *out);
int sl_verify_report_table (sl_verify_t *self, bool ordered, sl_buf_t *out);

#endif
