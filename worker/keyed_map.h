/*  keyed_map.h - the keyed member's index of the key states in RAM, by the
    key's msgpack encoding (keyed_int.h's keyed_key_t).

    An open-addressing table of its own rather than CZMQ's zhashx: the
    keys are bytes, not strings (zhashx wanted them as hex text), and at
    1,000,000 keys over a 100,000-key cache every record inserts one key
    and removes another, where zhashx allocates and frees a node each time
    (BENCHMARKS.md, "The member's state cache at 1,000,000 keys").
*/
#ifndef SL_WORKER_KEYED_MAP_H_INCLUDED
#define SL_WORKER_KEYED_MAP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct keyed_key keyed_key_t;
typedef struct _sl_keymap_t sl_keymap_t;

//  destroy frees a key the map drops (sl_keymap_remove, purge, destroy).
sl_keymap_t *sl_keymap_new (void (*destroy) (void *ctx, keyed_key_t *key), void *ctx);
void sl_keymap_destroy (sl_keymap_t **self_p);
size_t sl_keymap_size (const sl_keymap_t *self);
//  The hash of a key's encoding (CRC32C), kept in the key.
uint32_t sl_keymap_hash (const uint8_t *raw, size_t len);
keyed_key_t *sl_keymap_find (const sl_keymap_t *self, const uint8_t *raw, size_t len,
                             uint32_t hash);
//  Adds a key not in the map yet (key->hash set); 0 or SL_ENOMEM.
int sl_keymap_insert (sl_keymap_t *self, keyed_key_t *key);
//  Drops a key from the map and destroys it.
void sl_keymap_remove (sl_keymap_t *self, keyed_key_t *key);
void sl_keymap_purge (sl_keymap_t *self);
//  The keys one by one: *at = 0 first; NULL after the last. The map must
//  not change meanwhile.
keyed_key_t *sl_keymap_next (const sl_keymap_t *self, size_t *at);

#endif
