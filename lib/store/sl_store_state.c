/*  sl_store_state.c - the compacted key states of keyed groups
    (sl_store_state.h).

    An entry's key is the group name, a 0 byte, the share (4 bytes, big
    endian) and the key's bytes, so that one share's keys are one range
    and a group's counter, share SL_STATE_COUNTER, sorts after them. The
    counter's value is the number of keys (8 bytes) and a flag byte, 1 when
    the table holds all of the group's state. Writes go through the
    journal (sl_store_jput), so a replica keeps the same table.
*/
#include "sl_store_state.h"

#include <string.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_store_int.h"

#define S_KEY_MAX (SL_NAME_MAX + 1 + 4 + SL_STATE_MAX_KEY)
#define S_COUNTER_LEN 9

//  Builds the entry key; false when the names or the key are out of bounds.
static bool
s_key (const char *group, uint32_t share, const void *key, size_t key_len, uint8_t *out,
       size_t *out_len)
{
    size_t name_len;
    if (!sl_store_name_ok (group, &name_len) || key_len > SL_STATE_MAX_KEY) {
        return false;
    }
    memcpy (out, group, name_len);
    out[name_len] = 0;
    sl_put_be32 (out + name_len + 1, share);
    if (key_len) {
        memcpy (out + name_len + 5, key, key_len);
    }
    *out_len = name_len + 5 + key_len;
    return true;
}

static int
s_counter_get (sl_store_t *self, MDB_txn *txn, const char *group, uint64_t *keys, bool *complete)
{
    uint8_t kbuf[S_KEY_MAX];
    size_t klen;
    if (!s_key (group, SL_STATE_COUNTER, NULL, 0, kbuf, &klen)) {
        return SL_ENAME;
    }
    MDB_val key = {klen, kbuf}, val;
    int rc = mdb_get (txn, self->db_state, &key, &val);
    if (rc == MDB_NOTFOUND) {
        return SL_ENOTFOUND;
    }
    if (rc) {
        return sl_store_fail (self, txn, rc, "state counter");
    }
    if (val.mv_size != S_COUNTER_LEN) {
        sl_error ("store", "the state counter of group '%s' is %zu bytes: data is damaged", group,
                  val.mv_size);
        return SL_ESTORE;
    }
    *keys = sl_be64 (val.mv_data);
    *complete = ((const uint8_t *)val.mv_data)[8] == 1;
    return 0;
}

static int
s_counter_set (sl_store_t *self, const char *group, uint64_t keys, bool complete)
{
    uint8_t kbuf[S_KEY_MAX], vbuf[S_COUNTER_LEN];
    size_t klen;
    if (!s_key (group, SL_STATE_COUNTER, NULL, 0, kbuf, &klen)) {
        return SL_ENAME;
    }
    sl_put_be64 (vbuf, keys);
    vbuf[8] = complete ? 1 : 0;
    MDB_val key = {klen, kbuf}, val = {S_COUNTER_LEN, vbuf};
    int rc = sl_store_jput (self, self->db_state, &key, &val, 0);
    return rc ? sl_store_fail (self, self->wtxn, rc, "state counter") : 0;
}

int
sl_store_state_count (sl_store_t *self, const char *group, uint64_t *keys, bool *complete)
{
    if (!self->has_state) {
        return SL_ENOTFOUND; //  a read-only store from before the table
    }
    MDB_txn *txn;
    bool is_read;
    int rc = sl_store_view_begin (self, &txn, &is_read);
    if (rc) {
        return rc;
    }
    rc = s_counter_get (self, txn, group, keys, complete);
    sl_store_view_end (self, is_read);
    return rc;
}

int
sl_store_state_start (sl_store_t *self, const char *group, bool complete)
{
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    uint64_t keys;
    bool was;
    int rc = s_counter_get (self, self->wtxn, group, &keys, &was);
    if (rc == SL_ENOTFOUND) {
        return s_counter_set (self, group, 0, complete);
    }
    return rc;
}

int
sl_store_state_has (sl_store_t *self, const char *group, uint32_t share, const void *key,
                    size_t key_len, bool *has)
{
    uint8_t kbuf[S_KEY_MAX];
    size_t klen;
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    if (!s_key (group, share, key, key_len, kbuf, &klen)) {
        return key_len > SL_STATE_MAX_KEY ? SL_ETOOBIG : SL_ENAME;
    }
    MDB_val k = {klen, kbuf}, val;
    int rc = mdb_get (self->wtxn, self->db_state, &k, &val);
    if (rc && rc != MDB_NOTFOUND) {
        return sl_store_fail (self, self->wtxn, rc, "state");
    }
    *has = rc == 0;
    return 0;
}

int
sl_store_state_put (sl_store_t *self, const char *group, uint32_t share, const void *key,
                    size_t key_len, const void *value, size_t value_len)
{
    uint8_t kbuf[S_KEY_MAX];
    size_t klen;
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    if (share == SL_STATE_COUNTER || key_len == 0) {
        return SL_EINVAL;
    }
    if (value_len > SL_STATE_MAX_VALUE) {
        return SL_ETOOBIG;
    }
    if (!s_key (group, share, key, key_len, kbuf, &klen)) {
        return key_len > SL_STATE_MAX_KEY ? SL_ETOOBIG : SL_ENAME;
    }
    uint64_t keys;
    bool complete;
    int rc = s_counter_get (self, self->wtxn, group, &keys, &complete);
    if (rc) {
        return rc == SL_ENOTFOUND ? SL_ESTATE : rc;
    }
    bool has;
    rc = sl_store_state_has (self, group, share, key, key_len, &has);
    if (rc) {
        return rc;
    }
    MDB_val k = {klen, kbuf};
    if (value && value_len) {
        MDB_val val = {value_len, (void *)value};
        rc = sl_store_jput (self, self->db_state, &k, &val, 0);
        keys += has ? 0 : 1;
    }
    else if (has) {
        rc = sl_store_jdel (self, self->db_state, &k);
        keys--;
    }
    else {
        return 0; //  deleting what is not there
    }
    if (rc) {
        return sl_store_fail (self, self->wtxn, rc, "state");
    }
    return s_counter_set (self, group, keys, complete);
}

typedef struct {
    const uint8_t *prefix; //  group, 0, share
    size_t prefix_len;
    const void *after;
    size_t after_len;
    sl_store_state_fn *fn;
    void *ctx;
} s_read_t;

static int
s_read_entry (void *ctx, const MDB_val *key, const MDB_val *val, bool *stop)
{
    s_read_t *r = ctx;
    if (key->mv_size <= r->prefix_len || memcmp (key->mv_data, r->prefix, r->prefix_len) != 0) {
        *stop = true; //  past the share's range
        return 0;
    }
    const uint8_t *k = (const uint8_t *)key->mv_data + r->prefix_len;
    size_t k_len = key->mv_size - r->prefix_len;
    if (r->after && k_len == r->after_len && memcmp (k, r->after, k_len) == 0) {
        return 0; //  the cursor's own key: already read
    }
    int rc = r->fn (r->ctx, k, k_len, val->mv_data, val->mv_size);
    if (rc == 1) {
        *stop = true;
        return 0;
    }
    return rc;
}

int
sl_store_state_read (sl_store_t *self, const char *group, uint32_t share, const void *after,
                     size_t after_len, sl_store_state_fn *fn, void *ctx)
{
    uint8_t kbuf[S_KEY_MAX];
    size_t klen, prefix_len;
    if (share == SL_STATE_COUNTER) {
        return SL_EINVAL;
    }
    if (!self->has_state) {
        return 0;
    }
    if (!s_key (group, share, after, after ? after_len : 0, kbuf, &klen)) {
        return after_len > SL_STATE_MAX_KEY ? SL_ETOOBIG : SL_ENAME;
    }
    prefix_len = klen - (after ? after_len : 0);
    s_read_t r = {.prefix = kbuf,
                  .prefix_len = prefix_len,
                  .after = after,
                  .after_len = after_len,
                  .fn = fn,
                  .ctx = ctx};
    MDB_val from = {klen, kbuf};
    return sl_store_walk (self, self->db_state, &from, "state", s_read_entry, &r);
}
