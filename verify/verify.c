/*  verify.c - the counting core of sluice-verify (see verify.h).

    One open-addressing hash table (linear probing, power-of-two size, at
    most 3/4 full) maps each distinct match key, in canonical msgpack, to its
    counts on both sides and its first positions. A second table, only with
    a key field, holds the highest sent position delivered so far per order
    key. The hash is seeded per run, so crafted ids cannot pick collisions
    ahead of time.

    Canonical form (verify.h): the value as sl_json_to_msgpack writes it
    (smallest integer encodings, float64, str keys), with every map's
    members sorted by their canonical key bytes, then value bytes. Members
    are canonicalised straight into the output buffer and then permuted in
    place through one scratch buffer, so a value costs at most twice its
    size whatever its nesting; recursion is bounded by the JSON depth limit.

    The reports are in verify_report.c.
*/
#include "verify_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "sl_error.h"
#include "sl_mp.h"

#define S_MIN_SLOTS 1024
#define S_MALLOC_EXTRA 16 //  what malloc adds per block, for the memory estimate

//  ---------------------------------------------------------------- hashing

static inline uint64_t
s_fmix (uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

//  A seeded 64-bit hash (MurmurHash3-style mixing, 8 bytes a step).
static uint64_t
s_hash (uint64_t seed, const uint8_t *data, size_t len)
{
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t k;
        memcpy (&k, data + i, 8);
        k *= 0x87c37b91114253d5ULL;
        k = (k << 31) | (k >> 33);
        k *= 0x4cf5ad432745937fULL;
        h ^= k;
        h = ((h << 27) | (h >> 37)) * 5 + 0x52dce729;
    }
    uint64_t tail = 0;
    for (size_t j = 0; i + j < len; j++) {
        tail |= (uint64_t)data[i + j] << (8 * j);
    }
    h ^= s_fmix (tail ^ seed);
    return s_fmix (h);
}

//  ---------------------------------------------------------------- table

static void
s_table_free (s_table_t *table)
{
    for (size_t i = 0; i < table->slots; i++) {
        free (table->entry[i]);
    }
    free (table->entry);
    memset (table, 0, sizeof *table);
}

static int
s_table_grow (s_table_t *table)
{
    size_t slots = table->slots ? table->slots * 2 : S_MIN_SLOTS;
    s_entry_t **entry = (s_entry_t **)calloc (slots, sizeof *entry);
    if (!entry) {
        return SL_ENOMEM;
    }
    for (size_t i = 0; i < table->slots; i++) {
        s_entry_t *e = table->entry[i];
        if (e) {
            size_t at = e->hash & (slots - 1);
            while (entry[at]) {
                at = (at + 1) & (slots - 1);
            }
            entry[at] = e;
        }
    }
    free (table->entry);
    table->entry = entry;
    table->slots = slots;
    return 0;
}

//  The entry for key[0..len), made (zeroed) when missing. NULL on OOM.
static s_entry_t *
s_table_get (s_table_t *table, uint64_t seed, const uint8_t *key, size_t len, bool *made)
{
    *made = false;
    if ((table->count + 1) * 4 > table->slots * 3 && s_table_grow (table)) {
        return NULL;
    }
    uint64_t hash = s_hash (seed, key, len);
    size_t at = hash & (table->slots - 1);
    while (table->entry[at]) {
        s_entry_t *e = table->entry[at];
        if (e->hash == hash && e->len == len && memcmp (e->key, key, len) == 0) {
            return e;
        }
        at = (at + 1) & (table->slots - 1);
    }
    s_entry_t *e = (s_entry_t *)calloc (1, sizeof *e + len);
    if (!e) {
        return NULL;
    }
    e->hash = hash;
    e->len = len;
    memcpy (e->key, key, len);
    table->entry[at] = e;
    table->count++;
    table->key_bytes += len;
    *made = true;
    return e;
}

static uint64_t
s_table_memory (const s_table_t *table)
{
    return table->slots * sizeof (s_entry_t *) +
           table->count * (sizeof (s_entry_t) + S_MALLOC_EXTRA) + table->key_bytes;
}

//  ---------------------------------------------------------------- canonical form

typedef struct {
    size_t off; //  key's offset in the map's region
    size_t klen;
    size_t vlen;
} s_member_t;

static int
s_member_cmp (const void *a, const void *b, void *base_p)
{
    const uint8_t *base = (const uint8_t *)base_p;
    const s_member_t *x = (const s_member_t *)a;
    const s_member_t *y = (const s_member_t *)b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp (base + x->off, base + y->off, n);
    if (c || x->klen != y->klen) {
        return c ? c : (x->klen < y->klen ? -1 : 1);
    }
    n = x->vlen < y->vlen ? x->vlen : y->vlen;
    c = memcmp (base + x->off + x->klen, base + y->off + y->klen, n);
    if (c || x->vlen == y->vlen) {
        return c;
    }
    return x->vlen < y->vlen ? -1 : 1;
}

static int
s_canon (const uint8_t **p, const uint8_t *end, sl_buf_t *out, sl_buf_t *tmp, uint32_t depth)
{
    if (*p >= end) {
        return SL_ETRUNC;
    }
    if (depth > SL_MP_DEPTH_LIMIT) {
        return SL_EDEPTH;
    }
    const uint8_t *q = *p;
    sluice_mp_obj_t o;
    sluice_mp_next (&q, end, &o);
    bool is_array = o.type == SLUICE_MP_ARRAY;
    bool is_map = o.type == SLUICE_MP_MAP;
    int rc;
    if (!is_array && !is_map) {
        size_t used;
        rc = sl_mp_skip (*p, (size_t)(end - *p), 0, &used);
        if (rc == 0) {
            rc = sl_buf_append (out, *p, used);
            *p += used;
        }
        return rc;
    }
    uint32_t count;
    rc = is_array ? sl_mp_read_array (p, end, &count) : sl_mp_read_map (p, end, &count);
    if (rc) {
        return rc;
    }
    uint8_t head[5];
    size_t head_len = is_array ? sl_mp_write_array (head, sizeof head, count)
                               : sl_mp_write_map (head, sizeof head, count);
    rc = sl_buf_append (out, head, head_len);
    if (rc || is_array) {
        for (uint32_t i = 0; rc == 0 && i < count; i++) {
            rc = s_canon (p, end, out, tmp, depth + 1);
        }
        return rc;
    }
    //  The count was checked against the bytes left, so this is bounded by the input.
    size_t start = out->len;
    s_member_t *member = count > 1 ? (s_member_t *)malloc (count * sizeof *member) : NULL;
    if (count > 1 && !member) {
        return SL_ENOMEM;
    }
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        size_t at = out->len;
        rc = s_canon (p, end, out, tmp, depth + 1);
        size_t mid = out->len;
        if (rc == 0) {
            rc = s_canon (p, end, out, tmp, depth + 1);
        }
        if (rc == 0 && member) {
            member[i] = (s_member_t){at - start, mid - at, out->len - mid};
        }
    }
    if (rc == 0 && member) {
        qsort_r (member, count, sizeof *member, s_member_cmp, out->data + start);
        sl_buf_reset (tmp);
        rc = sl_buf_append (tmp, out->data + start, out->len - start);
        size_t at = start;
        for (uint32_t i = 0; rc == 0 && i < count; i++) {
            size_t n = member[i].klen + member[i].vlen;
            memcpy (out->data + at, tmp->data + member[i].off, n);
            at += n;
        }
    }
    free (member);
    return rc;
}

//  Appends the canonical form of the msgpack object data[0..len) to out.
static int
s_canonical (sl_verify_t *self, const uint8_t *data, size_t len, sl_buf_t *out)
{
    size_t used;
    int rc = sl_mp_skip (data, len, SL_MP_MAX_DEPTH, &used);
    if (rc == 0 && used != len) {
        rc = SL_EPROTO;
    }
    const uint8_t *p = data;
    if (rc == 0) {
        rc = s_canon (&p, data + len, out, &self->tmp, 0);
    }
    return rc;
}

//  Finds the member called name in the msgpack map value[0..len) (the first
//  one, in the value's own order). 1 found, 0 no such member, SL_ETYPE not
//  a map, another negative code for malformed input.
static int
s_member (const uint8_t *value, size_t len, const char *name, const uint8_t **member,
          size_t *member_len)
{
    const uint8_t *p = value;
    sluice_mp_obj_t top;
    int rc = sluice_mp_next (&p, value + len, &top);
    if (rc == 0 && top.type != SLUICE_MP_MAP) {
        return SL_ETYPE;
    }
    return rc ? rc
              : sluice_mp_map_find (value, len, name, strlen (name), false, member, member_len);
}

//  ---------------------------------------------------------------- object

sl_verify_t *
sl_verify_new (const sl_verify_opts_t *opts)
{
    assert (opts);
    if ((opts->id_field && !*opts->id_field) || (opts->key_field && !*opts->key_field)) {
        return NULL;
    }
    sl_verify_t *self = (sl_verify_t *)calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->opts = *opts;
    self->opts.examples = opts->examples ? opts->examples : 10;
    self->seed = opts->seed;
    if (!self->seed &&
        getrandom (&self->seed, sizeof self->seed, GRND_NONBLOCK) != (ssize_t)sizeof self->seed) {
        self->seed = (uint64_t)time (NULL) ^ ((uint64_t)getpid () << 32);
    }
    self->json = sl_json_new ();
    for (int k = 0; k < SL_VERIFY_KINDS; k++) {
        self->examples[k] = (s_example_t *)calloc (self->opts.examples, sizeof (s_example_t));
        if (!self->examples[k]) {
            sl_verify_destroy (&self);
            return NULL;
        }
    }
    if (!self->json) {
        sl_verify_destroy (&self);
        return NULL;
    }
    sl_buf_init (&self->mp, 0);
    sl_buf_init (&self->text, 0);
    sl_buf_init (&self->key, 0);
    sl_buf_init (&self->okey, 0);
    sl_buf_init (&self->tmp, 0);
    self->dirty = true;
    return self;
}

static void
s_examples_clear (sl_verify_t *self, int kind)
{
    for (size_t i = 0; i < self->n_examples[kind]; i++) {
        free (self->examples[kind][i].text);
    }
    self->n_examples[kind] = 0;
}

void
sl_verify_destroy (sl_verify_t **self_p)
{
    assert (self_p);
    sl_verify_t *self = *self_p;
    if (!self) {
        return;
    }
    s_table_free (&self->ids);
    s_table_free (&self->order);
    for (int k = 0; k < SL_VERIFY_KINDS; k++) {
        if (self->examples[k]) {
            s_examples_clear (self, k);
        }
        free (self->examples[k]);
        free (self->text_list[k]);
    }
    sl_json_destroy (&self->json);
    sl_buf_free (&self->mp);
    sl_buf_free (&self->text);
    sl_buf_free (&self->key);
    sl_buf_free (&self->okey);
    sl_buf_free (&self->tmp);
    free (self);
    *self_p = NULL;
}

static int
s_bad (sl_verify_t *self, bool got, int rc, char *why, size_t why_size, const char *fmt,
       const char *arg)
{
    if (got) {
        self->bad_got++;
    }
    else {
        self->bad_sent++;
    }
    if (why && why_size && fmt) {
        snprintf (why, why_size, fmt, arg ? arg : sl_strerror (rc));
    }
    return rc;
}

void
sl_verify_count_bad (sl_verify_t *self, bool got)
{
    assert (self);
    s_bad (self, got, 0, NULL, 0, NULL, NULL);
}

//  JSON text of the canonical msgpack key[0..len), as a new string.
char *
sl_verify_key_text (sl_verify_t *self, const uint8_t *key, size_t len)
{
    sl_buf_reset (&self->text);
    if (sl_msgpack_to_json (self->json, key, len, &self->text) ||
        sl_buf_append (&self->text, "", 1)) {
        return strdup ("?");
    }
    return strdup ((const char *)self->text.data);
}

//  Order check of a first delivery at sent position pos. value is the
//  delivered value (msgpack), for the key field.
static int
s_order (sl_verify_t *self, const s_entry_t *entry, const uint8_t *value, size_t len)
{
    uint64_t *max = &self->max_global;
    if (self->opts.key_field) {
        const uint8_t *member = NULL;
        size_t member_len = 0;
        sl_buf_reset (&self->okey);
        if (s_member (value, len, self->opts.key_field, &member, &member_len) == 1) {
            int rc = s_canonical (self, member, member_len, &self->okey);
            if (rc) {
                return rc;
            }
        }
        //  A value without the key field is ordered with the others that lack it (empty key).
        bool made;
        s_entry_t *k =
            s_table_get (&self->order, self->seed, self->okey.data, self->okey.len, &made);
        if (!k) {
            return SL_ENOMEM;
        }
        max = &k->got_pos;
    }
    //  *max is 1 + the highest sent position delivered so far (0: none).
    if (entry->sent_pos + 1 < *max) {
        self->out_of_order++;
        size_t n = self->n_examples[SL_VERIFY_OUT_OF_ORDER];
        if (n < self->opts.examples) {
            s_example_t *ex = &self->examples[SL_VERIFY_OUT_OF_ORDER][n];
            ex->text = sl_verify_key_text (self, entry->key, entry->len);
            ex->pos = entry->sent_pos;
            ex->copies = 1;
            if (ex->text) {
                self->n_examples[SL_VERIFY_OUT_OF_ORDER]++;
            }
        }
    }
    else {
        *max = entry->sent_pos + 1;
    }
    return 0;
}

//  Counts one value (msgpack as sl_json_to_msgpack wrote it) on one side.
static int
s_add (sl_verify_t *self, bool got, const uint8_t *value, size_t len, char *why, size_t why_size)
{
    const uint8_t *id = value;
    size_t id_len = len;
    if (self->opts.id_field) {
        int rc = s_member (value, len, self->opts.id_field, &id, &id_len);
        if (rc == SL_ETYPE) {
            return s_bad (self, got, SL_ETYPE, why, why_size,
                          "not a JSON object, so it has no member \"%s\"", self->opts.id_field);
        }
        if (rc == 0) {
            return s_bad (self, got, SL_ENOTFOUND, why, why_size, "no member \"%s\"",
                          self->opts.id_field);
        }
        if (rc < 0) {
            return s_bad (self, got, rc, why, why_size, "malformed value: %s", NULL);
        }
    }
    sl_buf_reset (&self->key);
    int rc = s_canonical (self, id, id_len, &self->key);
    if (rc) {
        return s_bad (self, got, rc, why, why_size, "malformed value: %s", NULL);
    }
    bool made;
    s_entry_t *entry = s_table_get (&self->ids, self->seed, self->key.data, self->key.len, &made);
    if (!entry) {
        return s_bad (self, got, SL_ENOMEM, why, why_size, "%s", NULL);
    }
    self->dirty = true;
    if (!got) {
        if (entry->sent++ == 0) {
            entry->sent_pos = self->sent;
        }
        self->sent++;
        return 0;
    }
    if (entry->got++ == 0) {
        entry->got_pos = self->got;
        self->got++;
        if (entry->sent > 0) {
            return s_order (self, entry, value, len);
        }
        return 0;
    }
    self->got++;
    return 0;
}

//  sl_json_to_msgpack, with a reason whenever it fails: every bad line is
//  reported with one, even if a parser error ever came without a text.
static int
s_parse (sl_verify_t *self, const char *text, size_t len, char *why, size_t why_size)
{
    sl_buf_reset (&self->mp);
    int rc = sl_json_to_msgpack (self->json, text, len, &self->mp, why, why_size);
    if (rc && why && why_size && !why[0]) {
        snprintf (why, why_size, "%s", sl_strerror (rc));
    }
    return rc;
}

int
sl_verify_sent_json (sl_verify_t *self, const char *text, size_t len, char *why, size_t why_size)
{
    assert (self);
    if (self->got_started) {
        return SL_ESTATE;
    }
    int rc = s_parse (self, text, len, why, why_size);
    if (rc) {
        return s_bad (self, false, rc, NULL, 0, NULL, NULL);
    }
    return s_add (self, false, self->mp.data, self->mp.len, why, why_size);
}

//  A msgpack value from a stream is seen as the JSON edge sees it: its JSON
//  text read back (the form a file of the same records would give).
static int
s_from_msgpack (sl_verify_t *self, bool got, const uint8_t *value, size_t len, char *why,
                size_t why_size)
{
    sl_buf_reset (&self->text);
    int rc = sl_msgpack_to_json (self->json, value, len, &self->text);
    if (rc) {
        return s_bad (self, got, rc, why, why_size, "malformed msgpack value: %s", NULL);
    }
    rc = s_parse (self, (const char *)self->text.data, self->text.len, why, why_size);
    if (rc) {
        return s_bad (self, got, rc, NULL, 0, NULL, NULL);
    }
    return s_add (self, got, self->mp.data, self->mp.len, why, why_size);
}

int
sl_verify_sent_msgpack (sl_verify_t *self, const uint8_t *value, size_t len, char *why,
                        size_t why_size)
{
    assert (self);
    if (self->got_started) {
        return SL_ESTATE;
    }
    return s_from_msgpack (self, false, value, len, why, why_size);
}

int
sl_verify_got_msgpack (sl_verify_t *self, const uint8_t *value, size_t len, char *why,
                       size_t why_size)
{
    assert (self);
    self->got_started = true;
    return s_from_msgpack (self, true, value, len, why, why_size);
}

//  True when the map's first member is "offset": how sluice-sink --format
//  json starts every line.
static bool
s_sink_envelope (const uint8_t *map, size_t len)
{
    const uint8_t *p = map;
    uint32_t count;
    const uint8_t *key;
    uint32_t key_len;
    return sl_mp_read_map (&p, map + len, &count) == 0 && count >= 2 &&
           sl_mp_read_str (&p, map + len, &key, &key_len) == 0 && key_len == 6 &&
           memcmp (key, "offset", 6) == 0;
}

int
sl_verify_got_line (sl_verify_t *self, const char *text, size_t len, sl_verify_got_format_t fmt,
                    char *why, size_t why_size)
{
    assert (self);
    self->got_started = true;
    int rc = s_parse (self, text, len, why, why_size);
    if (rc) {
        return s_bad (self, true, rc, NULL, 0, NULL, NULL);
    }
    const uint8_t *value = self->mp.data;
    size_t value_len = self->mp.len;
    if (fmt == SL_VERIFY_GOT_JSON ||
        (fmt == SL_VERIFY_GOT_AUTO && s_sink_envelope (value, value_len))) {
        rc = s_member (self->mp.data, self->mp.len, "value", &value, &value_len);
        if (rc != 1) {
            return s_bad (self, true, rc ? rc : SL_ENOTFOUND, why, why_size, "%s",
                          "no member \"value\": not a line of sluice-sink --format json");
        }
    }
    return s_add (self, true, value, value_len, why, why_size);
}

//  ---------------------------------------------------------------- counting

//  Keeps the examples[kind] array as the n smallest by pos (insertion into
//  a sorted array of at most opts.examples entries).
static void
s_keep (sl_verify_t *self, int kind, const s_entry_t *entry, uint64_t pos, uint64_t copies)
{
    s_example_t *ex = self->examples[kind];
    size_t n = self->n_examples[kind];
    size_t cap = self->opts.examples;
    if (n == cap && ex[n - 1].pos <= pos) {
        return;
    }
    size_t at = n < cap ? n : cap - 1;
    //  When full, the last (largest) one falls off: it holds no text yet, only a
    //  borrowed entry, so there is nothing to free.
    while (at > 0 && ex[at - 1].pos > pos) {
        ex[at] = ex[at - 1];
        at--;
    }
    if (n < cap) {
        self->n_examples[kind]++;
    }
    ex[at] = (s_example_t){.pos = pos, .copies = copies, .entry = entry};
}

static void
s_recount (sl_verify_t *self)
{
    if (!self->dirty) {
        return;
    }
    self->delivered = self->lost = self->duplicated = self->unexpected = 0;
    for (int k = SL_VERIFY_LOST; k <= SL_VERIFY_UNEXPECTED; k++) {
        s_examples_clear (self, k);
    }
    for (size_t i = 0; i < self->ids.slots; i++) {
        const s_entry_t *e = self->ids.entry[i];
        if (!e) {
            continue;
        }
        if (e->sent == 0) {
            self->unexpected += e->got;
            s_keep (self, SL_VERIFY_UNEXPECTED, e, e->got_pos, e->got);
            continue;
        }
        self->delivered += e->got < e->sent ? e->got : e->sent;
        if (e->sent > e->got) {
            self->lost += e->sent - e->got;
            s_keep (self, SL_VERIFY_LOST, e, e->sent_pos, e->sent - e->got);
        }
        else if (e->got > e->sent) {
            self->duplicated += e->got - e->sent;
            s_keep (self, SL_VERIFY_DUPLICATED, e, e->sent_pos, e->got);
        }
    }
    for (int k = SL_VERIFY_LOST; k <= SL_VERIFY_UNEXPECTED; k++) {
        for (size_t i = 0; i < self->n_examples[k]; i++) {
            s_example_t *ex = &self->examples[k][i];
            ex->text = sl_verify_key_text (self, ex->entry->key, ex->entry->len);
            ex->entry = NULL;
        }
    }
    self->dirty = false;
}

void
sl_verify_counts (sl_verify_t *self, sl_verify_counts_t *counts)
{
    assert (self);
    assert (counts);
    s_recount (self);
    *counts = (sl_verify_counts_t){
        .sent = self->sent,
        .got = self->got,
        .delivered = self->delivered,
        .lost = self->lost,
        .duplicated = self->duplicated,
        .unexpected = self->unexpected,
        .out_of_order = self->out_of_order,
        .bad_sent = self->bad_sent,
        .bad_got = self->bad_got,
        .distinct = self->ids.count,
        .memory = s_table_memory (&self->ids) + s_table_memory (&self->order),
    };
}

size_t
sl_verify_examples (sl_verify_t *self, sl_verify_kind_t kind, const char *const **texts)
{
    assert (self);
    assert (kind < SL_VERIFY_KINDS);
    s_recount (self);
    size_t n = self->n_examples[kind];
    free (self->text_list[kind]);
    self->text_list[kind] = (const char **)calloc (n ? n : 1, sizeof (char *));
    if (!self->text_list[kind]) {
        *texts = NULL;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const char *t = self->examples[kind][i].text;
        self->text_list[kind][i] = t ? t : "?";
    }
    *texts = self->text_list[kind];
    return n;
}

uint64_t
sl_verify_example_count (sl_verify_t *self, sl_verify_kind_t kind, size_t i)
{
    assert (self);
    assert (kind < SL_VERIFY_KINDS);
    s_recount (self);
    return i < self->n_examples[kind] ? self->examples[kind][i].copies : 0;
}

bool
sl_verify_passed (const sl_verify_counts_t *counts, bool ordered)
{
    return counts->lost == 0 && counts->duplicated == 0 && counts->unexpected == 0 &&
           (!ordered || counts->out_of_order == 0);
}
