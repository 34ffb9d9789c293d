/*  sl_store_owner.c - which key owns a producer name (docs/security.md,
    "Producer names").

    With CURVE on, a producer name belongs to the key that first published
    under it, so that no other key can push that producer's sequence ahead
    and have its later records dropped as duplicates. The binding is kept in
    the `meta` database under `owner/` + producer name (the stream entries
    use `stream/`, so the two never meet), with the key's name as value, and
    is written in the same transaction as the first PUBLISH that makes it.
*/
#include "sl_store_int.h"

#include "sl_error.h"
#include "sl_log.h"

#define S_PREFIX "owner/"
#define S_PREFIX_LEN (sizeof S_PREFIX - 1)

//  The meta key for producer, in buf. 0 or SL_ENAME.
static int
s_key (const char *producer, uint8_t *buf, MDB_val *key)
{
    size_t len;
    if (!sl_store_name_ok (producer, &len)) {
        return SL_ENAME;
    }
    memcpy (buf, S_PREFIX, S_PREFIX_LEN);
    memcpy (buf + S_PREFIX_LEN, producer, len);
    key->mv_size = S_PREFIX_LEN + len;
    key->mv_data = buf;
    return 0;
}

typedef struct {
    const char *producer; //  for the damage line
    char *owner;
    size_t owner_size;
} s_owner_ctx_t;

static int
s_owner_use (void *ctx, const MDB_val *val)
{
    s_owner_ctx_t *o = ctx;
    if (val->mv_size == 0 || val->mv_size > SL_STORE_OWNER_MAX ||
        memchr (val->mv_data, 0, val->mv_size)) {
        //  Stored bytes are not trusted: an owner that cannot be a key
        //  name is damage, not a name to compare with.
        sl_error ("store", "the owner of producer '%s' is damaged", o->producer);
        return SL_ESTORE;
    }
    if (val->mv_size >= o->owner_size) {
        return SL_ETOOBIG; //  the caller's buffer, not the data
    }
    memcpy (o->owner, val->mv_data, val->mv_size);
    o->owner[val->mv_size] = 0;
    return 0;
}

int
sl_store_owner_get (sl_store_t *self, const char *producer, char *owner, size_t owner_size)
{
    uint8_t buf[S_PREFIX_LEN + SL_NAME_MAX];
    MDB_val key;
    int rc = s_key (producer, buf, &key);
    if (rc) {
        return rc;
    }
    if (owner_size == 0) {
        return SL_EINVAL;
    }
    s_owner_ctx_t o = {producer, owner, owner_size};
    return sl_store_get (self, self->db_meta, &key, "producer owner", s_owner_use, &o);
}

int
sl_store_owner_set (sl_store_t *self, const char *producer, const char *owner)
{
    uint8_t buf[S_PREFIX_LEN + SL_NAME_MAX];
    MDB_val key;
    int rc = s_key (producer, buf, &key);
    if (rc) {
        return rc;
    }
    size_t len = owner ? strlen (owner) : 0;
    if (len == 0 || len > SL_STORE_OWNER_MAX) {
        return SL_EINVAL;
    }
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    MDB_val val = {len, (void *)owner};
    rc = sl_store_jput (self, self->db_meta, &key, &val, 0);
    return rc ? sl_store_fail (self, self->wtxn, rc, "producer owner") : 0;
}
