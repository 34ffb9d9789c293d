/*  sl_window.c - window assignment, stream time and lateness per key, the
    result records, and a key's stored state (sl_window.h has the rules).
*/
#include "sl_window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_mp.h"
#include "sl_util.h"
#include "sl_window_int.h"

//  Durations are bounded so that end + lateness never overflows.
#define S_MAX_DURATION ((int64_t)1 << 46) //  about 2,200 years in ms

static const char *const s_agg_names[SL_AGG_KINDS] = {"count", "sum",   "avg", "min",
                                                      "max",   "first", "last"};

static int
s_duration (const char *text, size_t len, int64_t *ms)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf) {
        return SL_EINVAL;
    }
    memcpy (buf, text, len);
    buf[len] = '\0';
    //  A bare number would be seconds to sl_parse_duration_ms: a window
    //  size must say its unit.
    if (buf[len - 1] >= '0' && buf[len - 1] <= '9') {
        return SL_EINVAL;
    }
    int rc = sl_parse_duration_ms (buf, ms);
    if (rc == 0 && (*ms <= 0 || *ms > S_MAX_DURATION)) {
        rc = SL_ERANGE;
    }
    return rc;
}

int
sl_win_spec_parse (const char *text, sl_win_spec_t *spec, const char **why)
{
    memset (spec, 0, sizeof *spec);
    const char *colon = text ? strchr (text, ':') : NULL;
    if (!colon) {
        *why = "expected tumbling:SIZE, hopping:SIZE/ADVANCE or session:GAP";
        return SL_EINVAL;
    }
    size_t kind_len = (size_t)(colon - text);
    const char *arg = colon + 1;
    if (kind_len == 8 && strncmp (text, "tumbling", 8) == 0) {
        spec->kind = SL_WIN_TUMBLING;
        if (s_duration (arg, strlen (arg), &spec->size)) {
            *why = "tumbling:SIZE needs a duration with a unit (ms s m h d), e.g. tumbling:10s";
            return SL_EINVAL;
        }
        spec->advance = spec->size;
        return 0;
    }
    if (kind_len == 7 && strncmp (text, "hopping", 7) == 0) {
        spec->kind = SL_WIN_HOPPING;
        const char *slash = strchr (arg, '/');
        if (!slash || s_duration (arg, (size_t)(slash - arg), &spec->size) ||
            s_duration (slash + 1, strlen (slash + 1), &spec->advance)) {
            *why = "hopping:SIZE/ADVANCE needs two durations with units, e.g. hopping:1m/10s";
            return SL_EINVAL;
        }
        if (spec->advance > spec->size) {
            *why = "hopping: ADVANCE may not exceed SIZE (records would fall between windows)";
            return SL_EINVAL;
        }
        if (spec->size / spec->advance > 1000) {
            *why = "hopping: at most 1,000 windows per record (SIZE / ADVANCE)";
            return SL_EINVAL;
        }
        return 0;
    }
    if (kind_len == 7 && strncmp (text, "session", 7) == 0) {
        spec->kind = SL_WIN_SESSION;
        if (s_duration (arg, strlen (arg), &spec->gap)) {
            *why = "session:GAP needs a duration with a unit, e.g. session:30s";
            return SL_EINVAL;
        }
        return 0;
    }
    *why = "expected tumbling:SIZE, hopping:SIZE/ADVANCE or session:GAP";
    return SL_EINVAL;
}

int
sl_agg_parse (const char *text, sl_agg_t *aggs, size_t *n, const char **why)
{
    *n = 0;
    const char *p = text ? text : "";
    while (*p) {
        const char *comma = strchr (p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen (p);
        const char *colon = memchr (p, ':', len);
        size_t name_len = colon ? (size_t)(colon - p) : len;
        if (*n >= SL_WIN_MAX_AGGS) {
            *why = "at most 16 aggregates";
            return SL_EINVAL;
        }
        sl_agg_t *agg = &aggs[*n];
        memset (agg, 0, sizeof *agg);
        int kind = -1;
        for (int k = 0; k < SL_AGG_KINDS; k++) {
            if (strlen (s_agg_names[k]) == name_len && strncmp (p, s_agg_names[k], name_len) == 0) {
                kind = k;
            }
        }
        if (kind < 0) {
            *why = "unknown aggregate: expected count, sum:PATH, avg:PATH, min:PATH, max:PATH, "
                   "first:PATH or last:PATH";
            return SL_EINVAL;
        }
        agg->kind = (sl_agg_kind_t)kind;
        if (kind == SL_AGG_COUNT) {
            if (colon) {
                *why = "count takes no PATH";
                return SL_EINVAL;
            }
        }
        else {
            size_t path_len = colon ? len - name_len - 1 : 0;
            if (path_len == 0 || path_len > SL_WIN_MAX_PATH) {
                *why = "sum, avg, min, max, first and last need a PATH (1..128 bytes), e.g. "
                       "sum:amount";
                return SL_EINVAL;
            }
            memcpy (agg->path, colon + 1, path_len);
            agg->path[path_len] = '\0';
            if (agg->path[0] == '.' || agg->path[path_len - 1] == '.' || strstr (agg->path, "..")) {
                *why = "a PATH is field names joined by '.', e.g. order.amount";
                return SL_EINVAL;
            }
        }
        for (size_t i = 0; i < *n; i++) {
            if (aggs[i].kind == agg->kind && strcmp (aggs[i].path, agg->path) == 0) {
                *why = "an aggregate is given twice";
                return SL_EINVAL;
            }
        }
        (*n)++;
        p += len;
        if (*p == ',') {
            p++;
            if (!*p) {
                *why = "an empty aggregate after ','";
                return SL_EINVAL;
            }
        }
    }
    if (*n == 0) {
        *why = "--agg needs at least one aggregate";
        return SL_EINVAL;
    }
    return 0;
}

int
sl_mp_path (const uint8_t *value, size_t len, const char *path, const uint8_t **out,
            size_t *out_len)
{
    const uint8_t *p = value;
    size_t rest = len;
    const char *part = path;
    while (true) {
        const char *dot = strchr (part, '.');
        size_t part_len = dot ? (size_t)(dot - part) : strlen (part);
        const uint8_t *member = NULL;
        size_t member_len = 0;
        int rc = sluice_mp_map_find (p, rest, part, part_len, false, &member, &member_len);
        if (rc != 1) {
            return rc; //  0: not a map or no such member, the path is absent
        }
        if (!dot) {
            *out = member;
            *out_len = member_len;
            return 1;
        }
        p = member;
        rest = member_len;
        part = dot + 1;
    }
}

int
sl_win_time_of (const uint8_t *value, size_t len, int64_t *ms)
{
    const uint8_t *p = value, *end = value + len;
    sl_num_t num;
    if (sl_win_read_num (&p, end, &num) == 0) {
        if (num.is_int) {
            *ms = num.i;
            return 0;
        }
        if (num.d == num.d && num.d > -9.2e18 && num.d < 9.2e18) {
            *ms = (int64_t)num.d;
            return 0;
        }
        return SL_ETYPE;
    }
    const uint8_t *s;
    uint32_t s_len;
    char buf[64];
    if (sl_mp_read_str (&p, end, &s, &s_len) == 0 && s_len < sizeof buf) {
        memcpy (buf, s, s_len);
        buf[s_len] = '\0';
        if (sl_parse_time_ms (buf, ms) == 0) {
            return 0;
        }
    }
    return SL_ETYPE;
}

sl_win_t *
sl_win_new (const sl_win_spec_t *spec, int64_t lateness_ms, const sl_agg_t *aggs, size_t n_aggs)
{
    if (n_aggs > SL_WIN_MAX_AGGS || lateness_ms < 0 || lateness_ms > S_MAX_DURATION) {
        return NULL;
    }
    sl_win_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->spec = *spec;
    self->lateness = lateness_ms;
    memcpy (self->aggs, aggs, n_aggs * sizeof *aggs);
    self->n_aggs = n_aggs;
    sl_buf_init (&self->result, 0);
    return self;
}

void
sl_win_destroy (sl_win_t **self_p)
{
    if (*self_p) {
        sl_buf_free (&(*self_p)->result);
        for (size_t i = 0; i < (*self_p)->n_spare; i++) {
            free ((*self_p)->spare[i]);
        }
        sl_win_key_destroy (&(*self_p)->spare_key);
        free (*self_p);
        *self_p = NULL;
    }
}

sl_win_key_t *
sl_win_key_new (void)
{
    return calloc (1, sizeof (sl_win_key_t));
}

static void
s_w_free (sl_win_w_t *w, size_t n_aggs)
{
    (void)n_aggs;
    if (w->acc) {
        for (size_t i = 0; i < w->n_acc; i++) {
            sl_acc_free (&w->acc[i]);
        }
        free (w->acc);
        w->acc = NULL;
    }
}

void
sl_win_key_destroy (sl_win_key_t **self_p)
{
    sl_win_key_t *self = *self_p;
    if (!self) {
        return;
    }
    for (size_t i = 0; i < self->n; i++) {
        s_w_free (&self->w[i], SL_WIN_MAX_AGGS);
    }
    free (self->w);
    free (self);
    *self_p = NULL;
}

size_t
sl_win_key_open (const sl_win_key_t *key)
{
    return key->n;
}

size_t
sl_win_key_bytes (const sl_win_key_t *key)
{
    size_t bytes = sizeof *key + key->cap * sizeof *key->w;
    for (size_t i = 0; i < key->n; i++) {
        bytes += key->w[i].n_acc * sizeof (sl_acc_t);
    }
    return bytes;
}

static int64_t
s_floor_div (int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool
s_closed (const sl_win_t *self, const sl_win_key_t *key, int64_t end)
{
    return key->has_time && key->stream_time >= end + self->lateness;
}

//  Index where a window [start, end) sits in the key's sorted list, and
//  whether it is there.
static size_t
s_find (const sl_win_key_t *key, int64_t start, int64_t end, bool *found)
{
    size_t lo = 0, hi = key->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const sl_win_w_t *w = &key->w[mid];
        if (w->end < end || (w->end == end && w->start < start)) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    *found = lo < key->n && key->w[lo].start == start && key->w[lo].end == end;
    return lo;
}

//  A closed window's accumulators go to the spares when there is room;
//  s_insert takes them back (self NULL: a new array).
static void
s_w_release (sl_win_t *self, sl_win_w_t *w)
{
    if (!w->acc || w->n_acc != self->n_aggs || self->n_spare == SL_WIN_SPARE) {
        s_w_free (w, self->n_aggs);
        return;
    }
    for (size_t i = 0; i < w->n_acc; i++) {
        sl_acc_free (&w->acc[i]); //  and zeroed
    }
    self->spare[self->n_spare++] = w->acc;
    w->acc = NULL;
}

sl_win_key_t *
sl_win_key_take (sl_win_t *self)
{
    sl_win_key_t *key = self->spare_key;
    self->spare_key = NULL;
    return key ? key : sl_win_key_new ();
}

void
sl_win_key_release (sl_win_t *self, sl_win_key_t **key_p)
{
    sl_win_key_t *key = *key_p;
    if (!key) {
        return;
    }
    for (size_t i = 0; i < key->n; i++) {
        s_w_release (self, &key->w[i]);
    }
    *key_p = NULL;
    if (self->spare_key) {
        key->n = 0;
        sl_win_key_destroy (&key);
        return;
    }
    key->n = 0;
    key->has_time = false;
    key->stream_time = 0;
    self->spare_key = key;
}

static int
s_insert (sl_win_t *self, sl_win_key_t *key, size_t at, int64_t start, int64_t end, size_t n_aggs)
{
    if (key->n >= SL_WIN_MAX_OPEN) {
        return SL_ETOOBIG;
    }
    if (key->n == key->cap) {
        size_t cap = key->cap ? key->cap * 2 : 1;
        sl_win_w_t *w = realloc (key->w, cap * sizeof *w);
        if (!w) {
            return SL_ENOMEM;
        }
        key->w = w;
        key->cap = cap;
    }
    //  Only the aggregates asked for: a million keys' open windows add up.
    sl_acc_t *acc = self && n_aggs == self->n_aggs && n_aggs && self->n_spare
                        ? self->spare[--self->n_spare]
                        : calloc (n_aggs ? n_aggs : 1, sizeof *acc);
    if (!acc) {
        return SL_ENOMEM;
    }
    memmove (&key->w[at + 1], &key->w[at], (key->n - at) * sizeof *key->w);
    key->w[at] =
        (sl_win_w_t){.start = start, .end = end, .count = 0, .acc = acc, .n_acc = (uint32_t)n_aggs};
    key->n++;
    return 0;
}

static int
s_add_to (sl_win_t *self, sl_win_w_t *w, const uint8_t *value, size_t len, uint64_t offset)
{
    w->count++;
    for (size_t i = 0; i < self->n_aggs; i++) {
        int rc = sl_acc_add (&self->aggs[i], &w->acc[i], value, len, offset);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

//  The result value: {"key", "start", "end", then each kind asked for, in
//  the order count, sum, avg, min, max, first, last, as {PATH: X}}.
static int
s_result (sl_win_t *self, const sl_win_w_t *w, const uint8_t *key_raw, size_t key_len)
{
    sl_buf_t *out = &self->result;
    sl_buf_reset (out);
    bool has[SL_AGG_KINDS] = {false};
    uint32_t entries = 3;
    for (size_t i = 0; i < self->n_aggs; i++) {
        if (!has[self->aggs[i].kind]) {
            has[self->aggs[i].kind] = true;
            entries++;
        }
    }
    uint8_t tmp[9];
    int rc = sl_buf_append (out, tmp, sl_mp_write_map (tmp, sizeof tmp, entries));
    rc = rc ? rc : sl_win_put_str (out, "key", 3);
    rc = rc ? rc : sl_win_put_raw (out, key_raw, key_len);
    rc = rc ? rc : sl_win_put_str (out, "start", 5);
    rc = rc ? rc : sl_win_put_int (out, w->start);
    rc = rc ? rc : sl_win_put_str (out, "end", 3);
    rc = rc ? rc : sl_win_put_int (out, w->end);
    for (int k = 0; k < SL_AGG_KINDS && rc == 0; k++) {
        if (!has[k]) {
            continue;
        }
        rc = sl_win_put_str (out, s_agg_names[k], strlen (s_agg_names[k]));
        if (rc == 0 && k == SL_AGG_COUNT) {
            rc = sl_win_put_int (out, (int64_t)w->count);
            continue;
        }
        uint32_t paths = 0;
        for (size_t i = 0; i < self->n_aggs; i++) {
            paths += self->aggs[i].kind == (sl_agg_kind_t)k;
        }
        rc = rc ? rc : sl_buf_append (out, tmp, sl_mp_write_map (tmp, sizeof tmp, paths));
        for (size_t i = 0; i < self->n_aggs && rc == 0; i++) {
            if (self->aggs[i].kind == (sl_agg_kind_t)k) {
                rc = sl_win_put_str (out, self->aggs[i].path, strlen (self->aggs[i].path));
                rc = rc ? rc : sl_acc_result (&self->aggs[i], &w->acc[i], out);
            }
        }
    }
    return rc;
}

//  Emits and removes every window the stream time has closed: the list is
//  sorted by end, so they are at its front.
static int
s_close (sl_win_t *self, sl_win_key_t *key, const uint8_t *key_raw, size_t key_len,
         sl_win_emit_fn *emit, void *ctx)
{
    size_t n = 0;
    int rc = 0;
    while (n < key->n && s_closed (self, key, key->w[n].end) && rc == 0) {
        rc = s_result (self, &key->w[n], key_raw, key_len);
        rc = rc ? rc
                : emit (ctx, key->w[n].start, key->w[n].end, self->result.data, self->result.len);
        s_w_release (self, &key->w[n]);
        n++;
    }
    memmove (key->w, key->w + n, (key->n - n) * sizeof *key->w);
    key->n -= n;
    return rc;
}

//  Session: [t, t + gap) merged with every open session it overlaps.
static int
s_add_session (sl_win_t *self, sl_win_key_t *key, int64_t t, const uint8_t *value, size_t len,
               uint64_t offset)
{
    int64_t start = t, end = t + self->spec.gap;
    bool merges = false;
    for (size_t i = 0; i < key->n; i++) {
        if (key->w[i].start < t + self->spec.gap && t < key->w[i].end) {
            merges = true;
            start = key->w[i].start < start ? key->w[i].start : start;
            end = key->w[i].end > end ? key->w[i].end : end;
        }
    }
    //  The merged session collects the accumulators of those it covers.
    sl_win_w_t merged = {.start = start, .end = end, .n_acc = (uint32_t)self->n_aggs};
    merged.acc = calloc (self->n_aggs ? self->n_aggs : 1, sizeof *merged.acc);
    if (!merged.acc) {
        return SL_ENOMEM;
    }
    if (!merges && key->n >= SL_WIN_MAX_OPEN) {
        free (merged.acc);
        return SL_ETOOBIG;
    }
    size_t kept = 0;
    for (size_t i = 0; i < key->n; i++) {
        sl_win_w_t *w = &key->w[i];
        if (w->start < t + self->spec.gap && t < w->end) {
            merged.count += w->count;
            for (size_t a = 0; a < self->n_aggs; a++) {
                sl_acc_merge (&self->aggs[a], &merged.acc[a], &w->acc[a]);
            }
            s_w_free (w, self->n_aggs);
        }
        else {
            key->w[kept++] = *w;
        }
    }
    key->n = kept;
    bool found;
    size_t at = s_find (key, merged.start, merged.end, &found);
    int rc = s_insert (self, key, at, merged.start, merged.end, self->n_aggs);
    if (rc) {
        s_w_free (&merged, self->n_aggs);
        return rc;
    }
    free (key->w[at].acc);
    key->w[at] = merged;
    return s_add_to (self, &key->w[at], value, len, offset);
}

int
sl_win_add (sl_win_t *self, sl_win_key_t *key, const uint8_t *key_raw, size_t key_len, int64_t t,
            const uint8_t *value, size_t value_len, uint64_t offset, bool *late,
            sl_win_emit_fn *emit, void *ctx)
{
    *late = false;
    if (t < -S_MAX_DURATION * 100 || t > S_MAX_DURATION * 100) {
        return SL_ERANGE;
    }
    int rc = 0;
    if (self->spec.kind == SL_WIN_SESSION) {
        if (s_closed (self, key, t + self->spec.gap)) {
            *late = true;
            return 0;
        }
        rc = s_add_session (self, key, t, value, value_len, offset);
    }
    else {
        int64_t size = self->spec.size, adv = self->spec.advance;
        int64_t last_start = s_floor_div (t, adv) * adv;
        //  Windows of t: starts last_start, last_start - adv, ... > t - size.
        size_t n_open = 0, n_new = 0;
        for (int64_t s = last_start; s > t - size; s -= adv) {
            if (!s_closed (self, key, s + size)) {
                bool found;
                s_find (key, s, s + size, &found);
                n_open++;
                n_new += !found;
            }
        }
        if (n_open == 0) {
            *late = true;
            return 0;
        }
        if (key->n + n_new > SL_WIN_MAX_OPEN) {
            return SL_ETOOBIG;
        }
        for (int64_t s = last_start; s > t - size && rc == 0; s -= adv) {
            if (s_closed (self, key, s + size)) {
                continue;
            }
            bool found;
            size_t at = s_find (key, s, s + size, &found);
            if (!found) {
                rc = s_insert (self, key, at, s, s + size, self->n_aggs);
            }
            rc = rc ? rc : s_add_to (self, &key->w[at], value, value_len, offset);
        }
    }
    if (rc) {
        return rc;
    }
    if (!key->has_time || t > key->stream_time) {
        key->stream_time = t;
        key->has_time = true;
    }
    return s_close (self, key, key_raw, key_len, emit, ctx);
}

int
sl_win_close_all (sl_win_t *self, sl_win_key_t *key, const uint8_t *key_raw, size_t key_len,
                  sl_win_emit_fn *emit, void *ctx)
{
    if (key->n == 0) {
        return 0;
    }
    int64_t end = key->w[key->n - 1].end;
    for (size_t i = 0; i < key->n; i++) {
        end = key->w[i].end > end ? key->w[i].end : end;
    }
    if (!key->has_time || key->stream_time < end + self->lateness) {
        key->stream_time = end + self->lateness;
        key->has_time = true;
    }
    return s_close (self, key, key_raw, key_len, emit, ctx);
}

//  Stored as [stream_time or nil, [[start, end, count, [acc...]], ...]].
int
sl_win_key_encode (const sl_win_t *self, const sl_win_key_t *key, sl_buf_t *out)
{
    uint8_t tmp[9];
    int rc = sl_buf_append (out, tmp, sl_mp_write_array (tmp, sizeof tmp, 2));
    if (rc == 0) {
        rc = key->has_time ? sl_win_put_int (out, key->stream_time)
                           : sl_buf_append (out, tmp, sl_mp_write_nil (tmp, sizeof tmp));
    }
    rc = rc ? rc : sl_buf_append (out, tmp, sl_mp_write_array (tmp, sizeof tmp, (uint32_t)key->n));
    for (size_t i = 0; i < key->n && rc == 0; i++) {
        const sl_win_w_t *w = &key->w[i];
        rc = sl_buf_append (out, tmp, sl_mp_write_array (tmp, sizeof tmp, 4));
        rc = rc ? rc : sl_win_put_int (out, w->start);
        rc = rc ? rc : sl_win_put_int (out, w->end);
        rc = rc ? rc : sl_win_put_int (out, (int64_t)w->count);
        rc = rc ? rc
                : sl_buf_append (out, tmp,
                                 sl_mp_write_array (tmp, sizeof tmp, (uint32_t)self->n_aggs));
        for (size_t a = 0; a < self->n_aggs && rc == 0; a++) {
            rc = sl_acc_encode (&w->acc[a], out);
        }
    }
    return rc;
}

sl_win_key_t *
sl_win_key_decode (sl_win_t *self, const uint8_t *data, size_t len, int *err)
{
    const uint8_t *p = data, *end = data + len;
    sl_win_key_t *key = sl_win_key_take (self);
    if (!key) {
        *err = SL_ENOMEM;
        return NULL;
    }
    uint32_t n = 0, n_w = 0;
    int rc = sl_mp_read_array (&p, end, &n);
    if (rc == 0 && n != 2) {
        rc = SL_EPROTO;
    }
    if (rc == 0 && !sl_mp_read_nil (&p, end)) {
        rc = sl_mp_read_int (&p, end, &key->stream_time);
        key->has_time = rc == 0;
    }
    rc = rc ? rc : sl_mp_read_array (&p, end, &n_w);
    if (rc == 0 && n_w > SL_WIN_MAX_OPEN) {
        rc = SL_ETOOBIG;
    }
    for (uint32_t i = 0; i < n_w && rc == 0; i++) {
        int64_t start = 0, wend = 0, count = 0;
        uint32_t four = 0, n_acc = 0;
        rc = sl_mp_read_array (&p, end, &four);
        if (rc == 0 && four != 4) {
            rc = SL_EPROTO;
        }
        rc = rc ? rc : sl_mp_read_int (&p, end, &start);
        rc = rc ? rc : sl_mp_read_int (&p, end, &wend);
        rc = rc ? rc : sl_mp_read_int (&p, end, &count);
        rc = rc ? rc : sl_mp_read_array (&p, end, &n_acc);
        if (rc == 0 && (n_acc != self->n_aggs || wend <= start || count < 0)) {
            //  Stored by another --agg list: the state does not fit this operator.
            rc = SL_EPROTO;
        }
        bool found;
        size_t at = rc ? 0 : s_find (key, start, wend, &found);
        if (rc == 0 && found) {
            rc = SL_EPROTO;
        }
        rc = rc ? rc : s_insert (self, key, at, start, wend, self->n_aggs);
        if (rc == 0) {
            key->w[at].count = (uint64_t)count;
        }
        for (uint32_t a = 0; a < n_acc && rc == 0; a++) {
            rc = sl_acc_decode (&key->w[at].acc[a], &p, end);
        }
    }
    if (rc == 0 && p != end) {
        rc = SL_EPROTO;
    }
    if (rc) {
        sl_win_key_release (self, &key);
        *err = rc;
        return NULL;
    }
    return key;
}
