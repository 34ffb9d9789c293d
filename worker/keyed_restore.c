/*  keyed_restore.c - a keyed member reads the key states of the share it
    takes over back from the broker (keyed.h sl_keyed_restore): from the
    broker's state table (STATE_READ, docs/PROTOCOL.md §14.5), or, for a
    group whose states were written before the broker had the table, from
    GROUP.state.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyed_int.h"
#include "sl_batch.h"
#include "sl_client.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_proto.h"
#include "sl_util.h"
#include "sl_version.h"

//  One key's state as restored (from the broker's table or GROUP.state):
//  replaces what the key had, in the local store (keyed_cache.c), not in
//  RAM: a share of a million keys restores in bounded memory. where names
//  it in a log line.
static int
s_restore_one (sl_keyed_t *self, const uint8_t *raw, size_t raw_len, const uint8_t *value,
               size_t value_len, const char *where)
{
    bool open = false;
    if (self->lua) {
        if (value_len > SL_LUA_STATE_MAX) {
            return SL_ETOOBIG;
        }
        if (value_len == 1 && value[0] == 0xc0) {
            //  Deleted: no record (a GROUP.state replay may have stored one).
            int64_t seen;
            int rc = sl_kstore_take (self->store, raw, raw_len, &seen, &open, &self->evict);
            return rc < 0 ? rc : 0;
        }
        return sl_kstore_put (self->store, raw, raw_len, 0, false, false, value, value_len);
    }
    //  Decoded once to check it fits this --window/--agg, and whether it
    //  has windows open (--idle finds it by that).
    int err = 0;
    sl_win_key_t *win = sl_win_key_decode (self->win, value, value_len, &err);
    if (!win) {
        sl_error ("worker", "state of a key in %s (group %s) does not fit this --window/--agg (%s)",
                  where, self->cfg->group, sl_strerror (err));
        return err;
    }
    open = sl_win_key_open (win) > 0;
    sl_win_key_release (self->win, &win);
    return sl_kstore_put (self->store, raw, raw_len, zclock_time (), open, self->cfg->idle_ms > 0,
                          value, value_len);
}

static bool
s_mine (void *ctx, const uint8_t *raw, size_t len)
{
    return sl_keyed_key_mine (ctx, raw, len);
}

//  One stored blob of GROUP.state: each record replaces its key's state.
static int
s_restore_blob (sl_keyed_t *self, zframe_t *frame, uint64_t *want)
{
    sl_record_iter_t it;
    sl_batch_header_t header;
    int rc = sl_record_iter_init_blob (&it, zframe_data (frame), zframe_size (frame), &header);
    if (rc) {
        return rc;
    }
    sl_record_t record;
    while ((rc = sl_record_iter_next (&it, &record)) == 1) {
        if (record.offset < *want) {
            continue;
        }
        *want = record.offset + 1;
        if (!record.key || record.key_len > SL_KEYED_MAX_KEY ||
            !sl_keyed_key_mine (self, record.key, record.key_len)) {
            continue;
        }
        rc = s_restore_one (self, record.key, record.key_len, record.value, record.value_len,
                            "GROUP.state");
        if (rc) {
            return rc;
        }
    }
    return rc;
}

//  The share in hand's states from the broker's table (STATE_READ, page by
//  page after the last key read): what a restore costs is the share's live
//  keys, not the history of their changes. *complete false: the broker's
//  table does not hold this group's states (written before it had one):
//  they are read from GROUP.state instead. *read: the states read.
static int
s_restore_table (sl_keyed_t *self, sl_client_t *client, bool *complete, uint64_t *read)
{
    const sl_worker_config_t *cfg = self->cfg;
    uint8_t cursor[SL_KEYED_MAX_KEY];
    size_t cursor_len = 0;
    int rc = 0;
    *complete = true;
    while (rc == 0) {
        sl_msg_t req, reply;
        sl_msg_init (&req, SL_CMD_STATE_READ);
        sl_msg_init (&reply, SL_CMD_NONE);
        snprintf (req.group, sizeof req.group, "%s", cfg->group);
        req.share = self->shares <= 1 ? 0 : self->share;
        zmsg_t *data = NULL;
        rc = sl_client_request_with (client, &req, cursor_len ? cursor : NULL, cursor_len, &reply,
                                     &data, sl_mono_ms () + cfg->timeout_ms * 4);
        if (rc == 0 && reply.cmd != SL_CMD_STATE) {
            rc = SL_EPROTO;
        }
        uint32_t count = rc == 0 ? reply.count : 0;
        *complete = rc == 0 ? reply.found : *complete;
        zframe_t *frame = data ? zmsg_first (data) : NULL;
        if (rc == 0 && count && !frame) {
            rc = SL_EPROTO;
        }
        sl_record_iter_t it;
        sl_record_t record;
        if (rc == 0 && count) {
            sl_record_iter_init (&it, zframe_data (frame), zframe_size (frame), count, 0);
        }
        for (uint32_t i = 0; rc == 0 && i < count; i++) {
            rc = sl_record_iter_next (&it, &record);
            rc = rc == 1 ? 0 : rc == 0 ? SL_EPROTO : rc;
            if (rc == 0 &&
                (!record.key || record.key_len == 0 || record.key_len > SL_KEYED_MAX_KEY)) {
                rc = SL_EPROTO;
            }
            if (rc == 0) {
                memcpy (cursor, record.key, record.key_len);
                cursor_len = record.key_len;
                rc = s_restore_one (self, record.key, record.key_len, record.value,
                                    record.value_len, "the broker's state table");
                *read += rc == 0;
            }
        }
        sl_msg_reset (&req);
        sl_msg_reset (&reply);
        zmsg_destroy (&data);
        if (count == 0 || !*complete) {
            break;
        }
    }
    return rc;
}

int
sl_keyed_restore (sl_keyed_t *self)
{
    const sl_worker_config_t *cfg = self->cfg;
    for (size_t i = 0; i < self->n_dirty; i++) {
        self->dirty[i]->dirty = false;
        sl_keyed_cache_touch (self, self->dirty[i]);
    }
    self->n_dirty = 0; //  the keys it points at may go now
    int rc = 0;
    if (self->shares <= 1) {
        sl_keyed_cache_forget_all (self);
        rc = sl_kstore_purge (self->store, NULL, NULL);
    }
    else {
        //  The share in hand only: the other shares' states in memory are
        //  what their committed results left (their leases come in order).
        zlistx_t *gone = zlistx_new ();
        if (!gone) {
            return SL_ENOMEM;
        }
        size_t at = 0;
        for (keyed_key_t *key; (key = sl_keymap_next (self->keys, &at));) {
            if (sl_keyed_key_mine (self, key->raw, key->raw_len)) {
                zlistx_add_end (gone, key);
            }
        }
        for (keyed_key_t *key = zlistx_first (gone); key; key = zlistx_next (gone)) {
            sl_keyed_cache_forget (self, key);
        }
        zlistx_destroy (&gone);
        rc = sl_kstore_purge (self->store, s_mine, self);
    }
    if (rc) {
        return sl_keyed_lose (self, rc);
    }
    char stream[SL_NAME_MAX + 1];
    snprintf (stream, sizeof stream, "%s.state", cfg->group);
    sl_client_opts_t opts = {.broker = cfg->broker,
                             .software = "sluice-worker/" SLUICE_VERSION,
                             .timeout_ms = cfg->timeout_ms};
    sl_client_t *client = sl_client_new (&opts);
    if (!client) {
        return SL_ENOMEM;
    }
    int64_t started = sl_mono_ms ();
    rc = sl_client_hello (client, sl_mono_ms () + cfg->timeout_ms * 4);
    bool complete = false;
    uint64_t from_table = 0;
    rc = rc ? rc : s_restore_table (self, client, &complete, &from_table);
    rc = rc ? rc : sl_kstore_commit (self->store);
    if (rc && rc != SL_ENOTFOUND) {
        sl_client_destroy (&client);
        sl_error ("worker", "cannot restore key states: %s", sl_strerror (rc));
        return sl_keyed_lose (self, rc);
    }
    if (rc == 0 && complete) {
        sl_client_destroy (&client);
        sl_info ("worker",
                 "restored %zu key states (%" PRIu64 " of share %u from the broker's table) "
                 "in %" PRId64 " ms",
                 sl_kstore_count (self->store) + sl_keymap_size (self->keys), from_table,
                 self->share, sl_mono_ms () - started);
        return 0;
    }
    uint64_t want = 0, blobs = 0;
    while (rc == 0) {
        sl_msg_t req, reply;
        sl_msg_init (&req, SL_CMD_FETCH);
        sl_msg_init (&reply, SL_CMD_NONE);
        snprintf (req.stream, sizeof req.stream, "%s", stream);
        req.offset = want;
        zmsg_t *data = NULL;
        rc = sl_client_request (client, &req, &reply, &data, sl_mono_ms () + cfg->timeout_ms * 4);
        if (rc == 0 && reply.cmd != SL_CMD_RECORDS) {
            rc = SL_EPROTO;
        }
        uint64_t before = want;
        if (rc == 0 && reply.offset > want) {
            want = reply.offset;
        }
        size_t frames = data ? zmsg_size (data) : 0;
        for (zframe_t *f = data ? zmsg_first (data) : NULL; f && rc == 0; f = zmsg_next (data)) {
            rc = s_restore_blob (self, f, &want);
            blobs++;
        }
        sl_msg_reset (&req);
        sl_msg_reset (&reply);
        zmsg_destroy (&data);
        if (frames == 0 || want == before) {
            break;
        }
    }
    sl_client_destroy (&client);
    rc = rc ? rc : sl_kstore_commit (self->store);
    if (rc) {
        sl_error ("worker", "cannot restore key states from %s: %s", stream, sl_strerror (rc));
        return sl_keyed_lose (self, rc);
    }
    sl_info ("worker", "restored %zu key states from %s (%" PRIu64 " records) in %" PRId64 " ms",
             sl_kstore_count (self->store) + sl_keymap_size (self->keys), stream, want,
             sl_mono_ms () - started);
    return 0;
}
