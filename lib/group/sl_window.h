/*  sl_window.h - event-time windows and their aggregates for keyed groups
    (docs/operators.md, "Windows"; docs/PROTOCOL.md §14.4 for the stored state).

    Pure logic, no I/O and no clock: the worker feeds one key's records in
    offset order and gets back the windows that closed. The rules, exactly:
    - a key's stream time is the largest event time seen for it so far;
    - a window [start, end) closes for a key when its stream time reaches
      end + lateness; its one result is then emitted;
    - a record all of whose windows are closed for its key is late (the
      caller writes it to GROUP.late unchanged); a record with some windows
      still open counts in those only.
    Tumbling windows start at multiples of SIZE, hopping ones at multiples
    of ADVANCE (epoch 0 aligned); a session is [first event, last event +
    GAP) and merges with every open session it overlaps.

    A key's state (stream time, open windows and their accumulators) is
    encoded to msgpack for the group's state stream and decoded back, every
    count and length bounded.
*/
#ifndef SL_WINDOW_H_INCLUDED
#define SL_WINDOW_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_buf.h"

#define SL_WIN_MAX_AGGS 16    //  --agg entries
#define SL_WIN_MAX_PATH 128   //  bytes of one dotted path
#define SL_WIN_MAX_OPEN 4096  //  open windows one key may hold
#define SL_WIN_MAX_VALUE 4096 //  bytes of a first/last value kept

typedef enum { SL_WIN_TUMBLING = 0, SL_WIN_HOPPING, SL_WIN_SESSION } sl_win_kind_t;

typedef struct {
    sl_win_kind_t kind;
    int64_t size;    //  tumbling, hopping: window length, ms
    int64_t advance; //  hopping: distance between window starts, ms
    int64_t gap;     //  session: inactivity that ends a session, ms
} sl_win_spec_t;

typedef enum {
    SL_AGG_COUNT = 0,
    SL_AGG_SUM,
    SL_AGG_AVG,
    SL_AGG_MIN,
    SL_AGG_MAX,
    SL_AGG_FIRST,
    SL_AGG_LAST,
    SL_AGG_KINDS
} sl_agg_kind_t;

typedef struct {
    sl_agg_kind_t kind;
    char path[SL_WIN_MAX_PATH + 1]; //  empty for count
} sl_agg_t;

//  "tumbling:10s", "hopping:1m/10s", "session:30s" (units ms s m h d).
//  0 or SL_EINVAL with *why.
int sl_win_spec_parse (const char *text, sl_win_spec_t *spec, const char **why);
//  "count,sum:amount,avg:a.b" into aggs[SL_WIN_MAX_AGGS]. 0 or SL_EINVAL with *why.
int sl_agg_parse (const char *text, sl_agg_t *aggs, size_t *n, const char **why);

//  Finds a dotted path ("a.b.c") in a msgpack value: each part is a str key
//  of a map. 1 with the raw member in *out/*out_len, 0 if absent, or an
//  error for a malformed value.
int sl_mp_path (const uint8_t *value, size_t len, const char *path, const uint8_t **out,
                size_t *out_len);
//  Event time from a raw msgpack value: an int (epoch ms), a float
//  (truncated) or an RFC 3339 / ISO 8601 string. 0 or SL_ETYPE.
int sl_win_time_of (const uint8_t *value, size_t len, int64_t *ms);

typedef struct _sl_win_t sl_win_t;         //  one operator's settings
typedef struct _sl_win_key_t sl_win_key_t; //  one key's state

sl_win_t *sl_win_new (const sl_win_spec_t *spec, int64_t lateness_ms, const sl_agg_t *aggs,
                      size_t n_aggs);
void sl_win_destroy (sl_win_t **self_p);

sl_win_key_t *sl_win_key_new (void);
void sl_win_key_destroy (sl_win_key_t **self_p);
//  The same through the operator, which keeps one released key's memory
//  and its windows' accumulators for the next key to take (a keyed member
//  over more keys than its cache writes one key out and reads or makes
//  one per record; BENCHMARKS.md).
sl_win_key_t *sl_win_key_take (sl_win_t *self);
void sl_win_key_release (sl_win_t *self, sl_win_key_t **key_p);
//  Open windows of the key.
size_t sl_win_key_open (const sl_win_key_t *key);
//  Approximate bytes the key's state holds in memory.
size_t sl_win_key_bytes (const sl_win_key_t *key);

//  Called for each window that closes, in order of end then start: the
//  result value (one msgpack map) and the window's bounds.
typedef int (sl_win_emit_fn) (void *ctx, int64_t start, int64_t end, const uint8_t *value,
                              size_t len);

//  Adds one record of the key: event time t, its value (for the
//  aggregates' paths) and its input offset (for first/last). *late is set
//  when every window of t is closed (nothing else changes then). Windows
//  that close as the stream time moves are emitted; key_raw is the key's
//  msgpack value for the results' "key". 0, SL_ETOOBIG past
//  SL_WIN_MAX_OPEN open windows (nothing changed), SL_ENOMEM, or the
//  emit's error.
int sl_win_add (sl_win_t *self, sl_win_key_t *key, const uint8_t *key_raw, size_t key_len,
                int64_t t, const uint8_t *value, size_t value_len, uint64_t offset, bool *late,
                sl_win_emit_fn *emit, void *ctx);
//  Closes every open window of the key (--idle): its stream time moves to
//  the largest open end + lateness, so records for those windows are late
//  from now on, exactly as if that event time had been seen.
int sl_win_close_all (sl_win_t *self, sl_win_key_t *key, const uint8_t *key_raw, size_t key_len,
                      sl_win_emit_fn *emit, void *ctx);

//  The key's state as one msgpack value, appended to out.
int sl_win_key_encode (const sl_win_t *self, const sl_win_key_t *key, sl_buf_t *out);
//  The inverse (untrusted bytes). NULL with *err = SL_EPROTO / SL_ETRUNC / SL_ETYPE /
//  SL_ETOOBIG / SL_ENOMEM.
//  (The key's memory is taken as by sl_win_key_take.)
sl_win_key_t *sl_win_key_decode (sl_win_t *self, const uint8_t *data, size_t len, int *err);

#endif
