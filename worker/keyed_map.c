/*  keyed_map.c - the key states in RAM by their encoding (keyed_map.h):
    linear probing over a power-of-two table of (hash, key) slots, at most
    half full (short runs: a lookup and a removal per record at 1,000,000
    keys were 4% of the member's time each at 3/4), deletion by shifting the following run back (no
   tombstones, so a table that sees a key in and another out per record does not fill up with them).
*/
#include "keyed_map.h"

#include <stdlib.h>
#include <string.h>

#include "keyed_int.h"
#include "sl_batch.h"
#include "sl_error.h"

#define S_MIN_SLOTS 1024

typedef struct {
    uint32_t hash;
    keyed_key_t *key; //  NULL: free
} s_slot_t;

struct _sl_keymap_t {
    s_slot_t *slots;
    size_t mask; //  slots - 1
    size_t size;
    void (*destroy) (void *ctx, keyed_key_t *key);
    void *ctx;
};

sl_keymap_t *
sl_keymap_new (void (*destroy) (void *ctx, keyed_key_t *key), void *ctx)
{
    sl_keymap_t *self = calloc (1, sizeof *self);
    if (self) {
        self->slots = calloc (S_MIN_SLOTS, sizeof *self->slots);
        self->mask = S_MIN_SLOTS - 1;
        self->destroy = destroy;
        self->ctx = ctx;
    }
    if (self && !self->slots) {
        free (self);
        self = NULL;
    }
    return self;
}

void
sl_keymap_destroy (sl_keymap_t **self_p)
{
    sl_keymap_t *self = *self_p;
    if (!self) {
        return;
    }
    sl_keymap_purge (self);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

size_t
sl_keymap_size (const sl_keymap_t *self)
{
    return self->size;
}

uint32_t
sl_keymap_hash (const uint8_t *raw, size_t len)
{
    return sl_crc32c (raw, len);
}

//  The home slot: the hash's high bits after a multiply (Fibonacci
//  hashing), so that a power-of-two table uses all of the CRC.
static size_t
s_home (const sl_keymap_t *self, uint32_t hash)
{
    return (size_t)(((uint64_t)hash * 0x9E3779B97F4A7C15ull) >> 32) & self->mask;
}

keyed_key_t *
sl_keymap_find (const sl_keymap_t *self, const uint8_t *raw, size_t len, uint32_t hash)
{
    for (size_t i = s_home (self, hash);; i = (i + 1) & self->mask) {
        const s_slot_t *slot = &self->slots[i];
        if (!slot->key) {
            return NULL;
        }
        if (slot->hash == hash && slot->key->raw_len == len &&
            memcmp (slot->key->raw, raw, len) == 0) {
            return slot->key;
        }
    }
}

static void
s_place (s_slot_t *slots, size_t mask, size_t home, uint32_t hash, keyed_key_t *key)
{
    size_t i = home;
    while (slots[i].key) {
        i = (i + 1) & mask;
    }
    slots[i].hash = hash;
    slots[i].key = key;
}

int
sl_keymap_insert (sl_keymap_t *self, keyed_key_t *key)
{
    if ((self->size + 1) * 2 > self->mask + 1) {
        size_t n = (self->mask + 1) * 2;
        s_slot_t *slots = calloc (n, sizeof *slots);
        if (!slots) {
            return SL_ENOMEM;
        }
        size_t old_n = self->mask + 1;
        self->mask = n - 1;
        for (size_t i = 0; i < old_n; i++) {
            if (self->slots[i].key) {
                s_place (slots, self->mask, s_home (self, self->slots[i].hash), self->slots[i].hash,
                         self->slots[i].key);
            }
        }
        free (self->slots);
        self->slots = slots;
    }
    s_place (self->slots, self->mask, s_home (self, key->hash), key->hash, key);
    self->size++;
    return 0;
}

void
sl_keymap_remove (sl_keymap_t *self, keyed_key_t *key)
{
    size_t i = s_home (self, key->hash);
    while (self->slots[i].key != key) {
        if (!self->slots[i].key) {
            return; //  not in the map
        }
        i = (i + 1) & self->mask;
    }
    //  Shift back each following entry whose home is not in (i, j]: the
    //  run stays unbroken for every key in it.
    for (size_t j = (i + 1) & self->mask; self->slots[j].key; j = (j + 1) & self->mask) {
        size_t home = s_home (self, self->slots[j].hash);
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            self->slots[i] = self->slots[j];
            i = j;
        }
    }
    self->slots[i].key = NULL;
    self->size--;
    if (self->destroy) {
        self->destroy (self->ctx, key);
    }
}

void
sl_keymap_purge (sl_keymap_t *self)
{
    for (size_t i = 0; i <= self->mask; i++) {
        keyed_key_t *key = self->slots[i].key;
        self->slots[i].key = NULL;
        if (key && self->destroy) {
            self->destroy (self->ctx, key);
        }
    }
    self->size = 0;
}

keyed_key_t *
sl_keymap_next (const sl_keymap_t *self, size_t *at)
{
    for (; *at <= self->mask; (*at)++) {
        if (self->slots[*at].key) {
            return self->slots[(*at)++].key;
        }
    }
    return NULL;
}
