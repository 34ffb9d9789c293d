/*  test_keyed_cache.c - the keyed member's state cache (worker/keyed_cache.c):
    the local store (put, take, the --idle index, purge, map growth, nothing
    left in $TMPDIR) and the windowed operator giving byte-for-byte the same
    RESULTs whether its keys stay in RAM or are written out all the time.
*/
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyed.h"
#include "keyed_int.h"
#include "sl_batch.h"
#include "sl_buf.h"
#include "sl_error.h"
#include "worker.h"

static char s_tmp[] = "/tmp/test_keyed_cache-XXXXXX";

static void
s_setup (void)
{
    cr_assert_not_null (mkdtemp (s_tmp));
    setenv ("TMPDIR", s_tmp, 1);
}

static void
s_teardown (void)
{
    rmdir (s_tmp);
}

static size_t
s_entries (const char *dir)
{
    DIR *d = opendir (dir);
    cr_assert_not_null (d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir (d));) {
        n += strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0;
    }
    closedir (d);
    return n;
}

TestSuite (keyed_cache, .init = s_setup, .fini = s_teardown);

Test (keyed_cache, store_leaves_nothing_in_tmpdir)
{
    sl_kstore_t *store = sl_kstore_new ();
    cr_assert_not_null (store);
    cr_assert_eq (s_entries (s_tmp), 0, "the store's files are unlinked once open");
    cr_assert_eq (sl_kstore_put (store, (const uint8_t *)"\xa1k", 2, 5, false, false,
                                 (const uint8_t *)"x", 1),
                  0);
    cr_assert_eq (sl_kstore_commit (store), 0);
    cr_assert_eq (s_entries (s_tmp), 0);
    sl_kstore_destroy (&store);
    cr_assert_null (store);
}

Test (keyed_cache, put_take_and_count)
{
    sl_kstore_t *store = sl_kstore_new ();
    sl_buf_t out;
    sl_buf_init (&out, 0);
    const uint8_t key[] = {0xa1, 'a'};
    cr_assert_eq (sl_kstore_put (store, key, 2, -7, true, false, (const uint8_t *)"abc", 3), 0);
    //  Replacing a key counts it once.
    cr_assert_eq (sl_kstore_put (store, key, 2, 42, true, false, (const uint8_t *)"abcd", 4), 0);
    cr_assert_eq (sl_kstore_count (store), 1);
    int64_t seen = 0;
    bool open = false;
    cr_assert_eq (sl_kstore_take (store, key, 2, &seen, &open, &out), 1);
    cr_assert_eq (seen, 42);
    cr_assert (open);
    cr_assert_eq (out.len, 4);
    cr_assert_eq (memcmp (out.data, "abcd", 4), 0);
    //  Taken: gone.
    cr_assert_eq (sl_kstore_take (store, key, 2, &seen, &open, &out), 0);
    cr_assert_eq (sl_kstore_count (store), 0);
    sl_buf_free (&out);
    sl_kstore_destroy (&store);
}

Test (keyed_cache, idle_index_gives_due_keys_oldest_first_with_resume)
{
    sl_kstore_t *store = sl_kstore_new ();
    sl_buf_t keys, resume, out;
    sl_buf_init (&keys, 0);
    sl_buf_init (&resume, 0);
    sl_buf_init (&out, 0);
    //  k0..k9 seen at 100 * i; odd ones without open windows (not indexed).
    for (int i = 0; i < 10; i++) {
        uint8_t key[2] = {0xa1, (uint8_t)('0' + i)};
        cr_assert_eq (
            sl_kstore_put (store, key, 2, 100 * i, i % 2 == 0, true, (const uint8_t *)"s", 1), 0);
    }
    //  A key re-put with a later time is indexed by the new one only.
    uint8_t k0[2] = {0xa1, '0'};
    cr_assert_eq (sl_kstore_put (store, k0, 2, 10000, true, true, (const uint8_t *)"s", 1), 0);
    size_t n;
    //  Due at 500: k2, k4 (k0 moved to 10000), two per call.
    cr_assert_eq (sl_kstore_idle (store, 500, 1, &keys, &n, &resume), 0);
    cr_assert_eq (n, 1);
    cr_assert_eq (keys.data[0], 1); //  length - 1
    cr_assert_eq (keys.data[2], '2');
    cr_assert_eq (sl_kstore_idle (store, 500, 1, &keys, &n, &resume), 0);
    cr_assert_eq (n, 1);
    cr_assert_eq (keys.data[2], '4');
    cr_assert_eq (sl_kstore_idle (store, 500, 1, &keys, &n, &resume), 0);
    cr_assert_eq (n, 0);
    //  Taking a key removes its index entry.
    sl_buf_reset (&resume);
    int64_t seen;
    bool open;
    uint8_t k2[2] = {0xa1, '2'};
    cr_assert_eq (sl_kstore_take (store, k2, 2, &seen, &open, &out), 1);
    cr_assert_eq (sl_kstore_idle (store, 100000, 10, &keys, &n, &resume), 0);
    cr_assert_eq (n, 4); //  k4, k6, k8, k0
    cr_assert_eq (keys.data[2], '4');
    cr_assert_eq (keys.data[3 * 3 + 2], '0');
    sl_buf_free (&keys);
    sl_buf_free (&resume);
    sl_buf_free (&out);
    sl_kstore_destroy (&store);
}

static bool
s_even (void *ctx, const uint8_t *raw, size_t len)
{
    (void)ctx;
    return len == 2 && (raw[1] - '0') % 2 == 0;
}

Test (keyed_cache, purge_drops_a_share_or_everything)
{
    sl_kstore_t *store = sl_kstore_new ();
    sl_buf_t keys, resume;
    sl_buf_init (&keys, 0);
    sl_buf_init (&resume, 0);
    for (int i = 0; i < 10; i++) {
        uint8_t key[2] = {0xa1, (uint8_t)('0' + i)};
        cr_assert_eq (sl_kstore_put (store, key, 2, i, true, true, (const uint8_t *)"s", 1), 0);
    }
    cr_assert_eq (sl_kstore_purge (store, s_even, NULL), 0);
    cr_assert_eq (sl_kstore_count (store), 5);
    size_t n;
    cr_assert_eq (sl_kstore_idle (store, 100, 100, &keys, &n, &resume), 0);
    cr_assert_eq (n, 5, "the index lost the purged keys too");
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq ((keys.data[i * 3 + 2] - '0') % 2, 1);
    }
    cr_assert_eq (sl_kstore_purge (store, NULL, NULL), 0);
    cr_assert_eq (sl_kstore_count (store), 0);
    sl_buf_reset (&resume);
    cr_assert_eq (sl_kstore_idle (store, 100, 100, &keys, &n, &resume), 0);
    cr_assert_eq (n, 0);
    sl_buf_free (&keys);
    sl_buf_free (&resume);
    sl_kstore_destroy (&store);
}

Test (keyed_cache, map_grows_past_its_first_size)
{
    sl_kstore_t *store = sl_kstore_new ();
    //  64 KiB states, 2,000 keys: 128 MiB, twice the first map.
    size_t size = 65536;
    uint8_t *state = malloc (size);
    cr_assert_not_null (state);
    for (uint32_t i = 0; i < 2000; i++) {
        memset (state, (int)(i & 255), size);
        uint8_t key[5] = {0xce, (uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8),
                          (uint8_t)i};
        cr_assert_eq (sl_kstore_put (store, key, 5, 0, false, false, state, size), 0, "put %u", i);
    }
    cr_assert_eq (sl_kstore_commit (store), 0);
    cr_assert_eq (sl_kstore_count (store), 2000);
    sl_buf_t out;
    sl_buf_init (&out, 0);
    uint8_t key[5] = {0xce, 0, 0, 0x07, 0xcf}; //  1999
    int64_t seen;
    bool open;
    cr_assert_eq (sl_kstore_take (store, key, 5, &seen, &open, &out), 1);
    cr_assert_eq (out.len, size);
    cr_assert_eq (out.data[size - 1], 1999 & 255);
    sl_buf_free (&out);
    free (state);
    sl_kstore_destroy (&store);
}

//  ---------------------------------------------------------------------
//  The windowed operator with a cache of 1 key against one that holds all.

//  A lease of n records: key u<k>, event time (record timestamp) rising
//  with jitter, amount.
static void
s_lease (sl_buf_t *batch, unsigned *seed, uint32_t n, uint32_t keys, int64_t t0)
{
    sl_buf_reset (batch);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = (uint32_t)rand_r (seed) % keys;
        int amount = rand_r (seed) % 1000;
        int64_t t = t0 + (int64_t)i * 10 + rand_r (seed) % 5000;
        //  {"user": "u<k>", "amount": amount} as msgpack
        uint8_t value[64];
        char user[16];
        int ulen = snprintf (user, sizeof user, "u%u", k);
        size_t p = 0;
        value[p++] = 0x82;
        value[p++] = 0xa4;
        memcpy (value + p, "user", 4);
        p += 4;
        value[p++] = (uint8_t)(0xa0 | ulen);
        memcpy (value + p, user, (size_t)ulen);
        p += (size_t)ulen;
        value[p++] = 0xa6;
        memcpy (value + p, "amount", 6);
        p += 6;
        value[p++] = 0xcd;
        value[p++] = (uint8_t)(amount >> 8);
        value[p++] = (uint8_t)amount;
        cr_assert_eq (sl_record_encode (batch, t, NULL, 0, false, NULL, 0, value, p), 0);
    }
}

//  A keyed operator of group "g" keyed by "user" with its store open: a
//  windowed one when window_spec is given, else Lua state mode. It keeps
//  cfg, which must outlive it.
static sl_keyed_t *
s_keyed (sl_worker_config_t *cfg, const char *window_spec, const char *agg, uint32_t state_cache)
{
    sl_worker_config_defaults (cfg);
    cfg->group = "g";
    cfg->key = "user";
    cfg->window_spec = window_spec;
    cfg->agg = agg;
    cfg->state_cache = state_cache;
    char why[256];
    sl_keyed_t *k = sl_keyed_new (cfg, why, sizeof why);
    cr_assert_not_null (k, "%s", why);
    cr_assert_eq (sl_keyed_open_store (k), 0);
    return k;
}

Test (keyed_cache, results_identical_with_a_cache_of_one_key)
{
    sl_worker_config_t small, all;
    sl_worker_config_defaults (&small);
    small.group = "g";
    small.key = "user";
    small.window_spec = "tumbling:2s";
    small.agg = "count,sum:amount,min:amount,max:amount";
    small.lateness_ms = 1000;
    all = small;
    small.state_cache = 1;
    char why[256];
    sl_keyed_t *a = sl_keyed_new (&small, why, sizeof why);
    cr_assert_not_null (a, "%s", why);
    sl_keyed_t *b = sl_keyed_new (&all, why, sizeof why);
    cr_assert_not_null (b, "%s", why);
    cr_assert_eq (sl_keyed_open_store (a), 0);
    cr_assert_eq (sl_keyed_open_store (b), 0);
    sl_buf_t batch;
    sl_buf_init (&batch, 0);
    unsigned seed = 7;
    uint64_t offset = 0;
    uint32_t outs = 0;
    for (int lease = 0; lease < 20; lease++) {
        s_lease (&batch, &seed, 200, 300, 1000000 + lease * 2000);
        cr_assert_eq (sl_keyed_batch (a, batch.data, batch.len, 200, offset), 0);
        cr_assert_eq (sl_keyed_batch (b, batch.data, batch.len, 200, offset), 0);
        offset += 200;
        size_t la, lb;
        uint32_t oa, ob, lta, ltb, sa, sb;
        const uint8_t *da = sl_keyed_output (a, &la, &oa, &lta, &sa);
        const uint8_t *db = sl_keyed_output (b, &lb, &ob, &ltb, &sb);
        cr_assert_eq (oa, ob, "lease %d", lease);
        cr_assert_eq (lta, ltb);
        cr_assert_eq (sa, sb);
        cr_assert_eq (la, lb);
        cr_assert_eq (memcmp (da, db, la), 0, "lease %d: RESULTs differ", lease);
        cr_assert_leq (sl_keyed_keys (a), 1, "at most the cache in RAM after a lease");
        outs += oa;
    }
    cr_assert_gt (outs, 1000, "windows closed: %u", outs);
    cr_assert_gt (a->evicted, 1000);
    cr_assert_gt (a->loaded, 1000);
    cr_assert_eq (b->evicted, 0);
    sl_buf_free (&batch);
    sl_keyed_destroy (&a);
    sl_keyed_destroy (&b);
}

//  The store failing under a lease: the lease fails, every state is
//  dropped (RAM and store) and the member is told to restore every share.
Test (keyed_cache, a_failing_store_drops_every_state)
{
    sl_worker_config_t cfg;
    sl_keyed_t *k = s_keyed (&cfg, "tumbling:2s", NULL, 1);
    sl_buf_t batch;
    sl_buf_init (&batch, 0);
    unsigned seed = 3;
    s_lease (&batch, &seed, 50, 20, 1000000);
    cr_assert_eq (sl_keyed_batch (k, batch.data, batch.len, 50, 0), 0);
    cr_assert_not (sl_keyed_take_lost (k));
    cr_assert_gt (sl_kstore_count (k->store), 0);
    //  No store: writing a key out fails.
    sl_kstore_destroy (&k->store);
    s_lease (&batch, &seed, 50, 20, 1001000);
    cr_assert_eq (sl_keyed_batch (k, batch.data, batch.len, 50, 50), SL_ESTORE);
    cr_assert (sl_keyed_take_lost (k));
    cr_assert_not (sl_keyed_take_lost (k), "told once");
    cr_assert_eq (sl_keyed_keys (k), 0);
    cr_assert_not_null (k->store, "a fresh store");
    cr_assert_eq (sl_kstore_count (k->store), 0);
    //  And it works again (from empty states, as a restore would begin).
    cr_assert_eq (sl_keyed_batch (k, batch.data, batch.len, 50, 50), 0);
    sl_buf_free (&batch);
    sl_keyed_destroy (&k);
}

//  ---------------------------------------------------------------------
//  A key read back keeps its stored copy: the next write out overwrites
//  it, and the store counts the key once.

Test (keyed_cache, get_keeps_the_stored_copy)
{
    sl_kstore_t *store = sl_kstore_new ();
    const uint8_t key[2] = {0xa1, 'g'};
    sl_buf_t out;
    sl_buf_init (&out, 0);
    int64_t seen = 0;
    bool open = false;
    cr_assert_eq (sl_kstore_get (store, key, 2, &seen, &open, &out), 0, "not stored yet");
    cr_assert_eq (sl_kstore_put (store, key, 2, 9, true, true, (const uint8_t *)"one", 3), 0);
    cr_assert_eq (sl_kstore_get (store, key, 2, &seen, &open, &out), 1);
    cr_assert_eq (seen, 9);
    cr_assert (open);
    cr_assert_eq (out.len, 3);
    cr_assert_eq (memcmp (out.data, "one", 3), 0);
    cr_assert_eq (sl_kstore_count (store), 1, "still stored after a get");
    //  Written back changed: replaced, counted once, re-indexed once.
    cr_assert_eq (sl_kstore_put (store, key, 2, 20, true, true, (const uint8_t *)"two!", 4), 0);
    cr_assert_eq (sl_kstore_count (store), 1);
    sl_buf_t keys, resume;
    sl_buf_init (&keys, 0);
    sl_buf_init (&resume, 0);
    size_t n;
    cr_assert_eq (sl_kstore_idle (store, 100, 10, &keys, &n, &resume), 0);
    cr_assert_eq (n, 1, "one index entry, not the stale one besides");
    cr_assert_eq (sl_kstore_get (store, key, 2, &seen, &open, &out), 1);
    cr_assert_eq (seen, 20);
    cr_assert_eq (out.len, 4);
    cr_assert_eq (memcmp (out.data, "two!", 4), 0);
    //  take removes it (and its index entry).
    cr_assert_eq (sl_kstore_take (store, key, 2, &seen, &open, &out), 1);
    cr_assert_eq (sl_kstore_count (store), 0);
    cr_assert_eq (sl_kstore_get (store, key, 2, &seen, &open, &out), 0);
    sl_buf_reset (&resume);
    cr_assert_eq (sl_kstore_idle (store, 100, 10, &keys, &n, &resume), 0);
    cr_assert_eq (n, 0);
    sl_buf_free (&keys);
    sl_buf_free (&resume);
    sl_buf_free (&out);
    sl_kstore_destroy (&store);
}

//  The operator with a cache of 1 key over 50 keys: each key is written
//  out and read back many times, and the store holds each key once.
Test (keyed_cache, keys_read_back_are_stored_once)
{
    sl_worker_config_t cfg;
    sl_keyed_t *k = s_keyed (&cfg, "tumbling:2s", "count", 1);
    sl_buf_t batch;
    sl_buf_init (&batch, 0);
    unsigned seed = 11;
    for (int lease = 0; lease < 10; lease++) {
        s_lease (&batch, &seed, 300, 50, 1000000 + lease * 2000);
        cr_assert_eq (sl_keyed_batch (k, batch.data, batch.len, 300, (uint64_t)lease * 300), 0);
    }
    cr_assert_gt (k->loaded, 500);
    //  Each key once, the one in RAM too (its copy stays stored).
    cr_assert_eq (sl_keyed_keys (k), 1);
    cr_assert_eq (sl_kstore_count (k->store), 50, "%zu stored", sl_kstore_count (k->store));
    sl_buf_free (&batch);
    sl_keyed_destroy (&k);
}

//  ---------------------------------------------------------------------
//  The index of the keys in RAM (keyed_map.c).

static size_t s_destroyed;

static void
s_count_destroy (void *ctx, keyed_key_t *key)
{
    cr_assert_eq (ctx, &s_destroyed);
    s_destroyed++;
    free (key);
}

static keyed_key_t *
s_map_key (uint32_t i, uint32_t hash)
{
    keyed_key_t *key = calloc (1, sizeof *key + 5);
    cr_assert_not_null (key);
    key->raw = key->data;
    key->raw[0] = 0xce;
    key->raw[1] = (uint8_t)(i >> 24);
    key->raw[2] = (uint8_t)(i >> 16);
    key->raw[3] = (uint8_t)(i >> 8);
    key->raw[4] = (uint8_t)i;
    key->raw_len = 5;
    key->hash = hash;
    return key;
}

//  hash_of: 0 = the real hash; else every key gets hash i % hash_of, so
//  that long runs collide, wrap the table's end and shift on removal.
static void
s_map_run (uint32_t n, uint32_t hash_of)
{
    s_destroyed = 0;
    sl_keymap_t *map = sl_keymap_new (s_count_destroy, &s_destroyed);
    cr_assert_not_null (map);
    keyed_key_t **keys = calloc (n, sizeof *keys);
    for (uint32_t i = 0; i < n; i++) {
        keyed_key_t *key = s_map_key (i, 0);
        key->hash = hash_of ? 0xfffffff0u + i % hash_of : sl_keymap_hash (key->raw, key->raw_len);
        cr_assert_eq (sl_keymap_insert (map, key), 0);
        keys[i] = key;
    }
    cr_assert_eq (sl_keymap_size (map), n);
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq (sl_keymap_find (map, keys[i]->raw, 5, keys[i]->hash), keys[i], "key %u", i);
    }
    //  Every third out: the others are still found, those not.
    for (uint32_t i = 0; i < n; i += 3) {
        uint8_t raw[5];
        memcpy (raw, keys[i]->raw, 5);
        uint32_t hash = keys[i]->hash;
        sl_keymap_remove (map, keys[i]);
        cr_assert_null (sl_keymap_find (map, raw, 5, hash), "key %u removed", i);
        keys[i] = NULL;
    }
    size_t left = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (keys[i]) {
            left++;
            cr_assert_eq (sl_keymap_find (map, keys[i]->raw, 5, keys[i]->hash), keys[i],
                          "key %u after removals", i);
        }
    }
    cr_assert_eq (sl_keymap_size (map), left);
    cr_assert_eq (s_destroyed, n - left);
    //  Iteration sees each key once.
    size_t at = 0, seen = 0;
    for (keyed_key_t *key; (key = sl_keymap_next (map, &at));) {
        uint32_t i = ((uint32_t)key->raw[1] << 24) | ((uint32_t)key->raw[2] << 16) |
                     ((uint32_t)key->raw[3] << 8) | key->raw[4];
        cr_assert_eq (keys[i], key);
        keys[i] = NULL;
        seen++;
    }
    cr_assert_eq (seen, left);
    sl_keymap_purge (map);
    cr_assert_eq (sl_keymap_size (map), 0);
    cr_assert_eq (s_destroyed, n);
    at = 0;
    cr_assert_null (sl_keymap_next (map, &at));
    sl_keymap_destroy (&map);
    free (keys);
}

Test (keyed_cache, map_finds_removes_and_grows)
{
    s_map_run (100000, 0);
}

Test (keyed_cache, map_keeps_colliding_runs_whole)
{
    s_map_run (700, 7); //  seven hashes: runs of 100 around the table
    s_map_run (3000, 1);
}

//  Lua state mode: a key read back (its copy stays stored) whose state is
//  then deleted must not come back from that copy once it is written out.
Test (keyed_cache, a_deleted_lua_state_read_back_stays_deleted)
{
    sl_worker_config_t cfg;
    sl_keyed_t *k = s_keyed (&cfg, NULL, NULL, 1);
    cr_assert (k->lua);
    const uint8_t a[] = {0xa1, 'a'}, b[] = {0xa1, 'b'};
    int err = 0;
    keyed_key_t *key = sl_keyed_key_get (k, a, 2, true, &err);
    cr_assert_not_null (key);
    key->value = malloc (1);
    key->value[0] = 0x07;
    key->value_len = 1;
    cr_assert_not_null (sl_keyed_key_get (k, b, 2, true, &err)); //  a written out
    key = sl_keyed_key_get (k, a, 2, false, &err);
    cr_assert_not_null (key, "a read back");
    cr_assert_eq (key->value_len, 1);
    cr_assert_eq (key->value[0], 0x07);
    free (key->value); //  state.set (nil)
    key->value = NULL;
    key->value_len = 0;
    cr_assert_not_null (sl_keyed_key_get (k, b, 2, true, &err)); //  a out again
    cr_assert_eq (err, 0);
    cr_assert_null (sl_keyed_key_get (k, a, 2, false, &err), "a's deleted state came back");
    cr_assert_eq (err, 0);
    sl_keyed_destroy (&k);
}
