/*  sl_store_state_drop.c - drops a keyed group's key states
    (sl_store_state_drop.h).

    sl_store_state.c keys each entry by the group name, a 0 byte, the
    share (4 bytes) and the key, and the group's counter is share
    SL_STATE_COUNTER: so all of one group's entries, counter included, are
    the one range of keys that begin with its name and the 0 byte. The cost
    is one cursor step per entry removed.
*/
#include "sl_store_state_drop.h"

#include <string.h>

#include "sl_error.h"
#include "sl_store_int.h"
#include "sl_store_state.h"

int
sl_store_state_drop (sl_store_t *self, const char *group, uint64_t *dropped)
{
    *dropped = 0;
    size_t len;
    if (!sl_store_name_ok (group, &len)) {
        return SL_ENAME;
    }
    if (!self->wtxn) {
        return SL_ESTATE;
    }
    if (!self->has_state) {
        return 0; //  a store from before the table holds no states
    }
    uint8_t prefix[SL_NAME_MAX + 1];
    memcpy (prefix, group, len);
    prefix[len] = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (self->wtxn, self->db_state, &cur);
    if (rc) {
        return sl_store_fail (self, self->wtxn, rc, "dropping key states");
    }
    MDB_val key = {len + 1, prefix}, val;
    int op = MDB_SET_RANGE;
    while ((rc = mdb_cursor_get (cur, &key, &val, op)) == 0) {
        op = MDB_NEXT;
        if (key.mv_size < len + 1 + 4 || memcmp (key.mv_data, prefix, len + 1) != 0) {
            break; //  past the group's range
        }
        bool counter = key.mv_size == len + 1 + 4 &&
                       sl_be32 ((const uint8_t *)key.mv_data + len + 1) == SL_STATE_COUNTER;
        rc = sl_store_jcursor_del (self, self->db_state, cur);
        if (rc) {
            break;
        }
        *dropped += counter ? 0 : 1;
    }
    mdb_cursor_close (cur);
    if (rc && rc != MDB_NOTFOUND) {
        return sl_store_fail (self, self->wtxn, rc, "dropping key states");
    }
    return 0;
}
