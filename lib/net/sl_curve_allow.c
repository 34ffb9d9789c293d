/*  sl_curve_allow.c - the broker's allow table: the keys of the allow
    directory and their rights, re-read when the directory changes, looked
    up by the broker's thread for every request and by the ZAP handler
    (sl_curve_auth.c) for every handshake, under the authenticator's lock.
*/
#include "sl_curve.h"
#include "sl_curve_int.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"

#define S_RIGHTS_MAX 1024 //  longest rights value kept

static const char *s_right_names[SL_RIGHT_COUNT] = {"publish", "read", "work", "manage",
                                                    "replicate"};

//  ---------------------------------------------------------------------
//  The allow table

typedef struct {
    char name[SL_CURVE_NAME_MAX + 1];
    bool restricted;              //  some right is listed: the others are denied
    char *rights[SL_RIGHT_COUNT]; //  patterns per sl_right_t; NULL = none (when restricted)
} s_entry_t;

static void
s_entry_destroy (s_entry_t **self_p)
{
    s_entry_t *self = *self_p;
    if (self) {
        for (int i = 0; i < SL_RIGHT_COUNT; i++) {
            free (self->rights[i]);
        }
        free (self);
        *self_p = NULL;
    }
}

//  Whether entry may hold a live-feed (PUB) connection: any key mode, a key
//  with every right, or read = "*".
static bool
s_live_ok (const s_entry_t *entry)
{
    return !entry->restricted ||
           (entry->rights[SL_RIGHT_READ] && streq (entry->rights[SL_RIGHT_READ], "*"));
}

//  Whether entry may follow the journal: replicate must be granted in so
//  many words (a key file without rights metadata does not imply it).
static bool
s_replicate_ok (const s_entry_t *entry)
{
    return entry->rights[SL_RIGHT_REPLICATE] && streq (entry->rights[SL_RIGHT_REPLICATE], "*");
}

//  Keys of old that lost access in new: removed, no longer allowed on the
//  live feed, or no longer allowed to replicate. Their open connections
//  must go (sl_curve_auth_watch_cut).
static size_t
s_count_revoked (zhashx_t *old, zhashx_t *new)
{
    size_t n = 0;
    if (!old) {
        return 0;
    }
    for (s_entry_t *entry = zhashx_first (old); entry; entry = zhashx_next (old)) {
        const char *key = zhashx_cursor (old);
        s_entry_t *now = new ? zhashx_lookup (new, key) : NULL;
        if (!now || (s_live_ok (entry) && !s_live_ok (now)) ||
            (s_replicate_ok (entry) && !s_replicate_ok (now))) {
            n++;
        }
    }
    return n;
}

//  An order-independent fingerprint of the directory: a change of any
//  entry's name, size, inode, mtime or ctime (in nanoseconds) changes it.
static uint64_t
s_fingerprint (const char *dir_path, bool *ok)
{
    *ok = false;
    DIR *dir = opendir (dir_path);
    if (!dir) {
        return 0;
    }
    struct stat st;
    uint64_t sum = 0;
    if (fstat (dirfd (dir), &st) == 0) {
        sum = (uint64_t)st.st_mtim.tv_sec * 1000000007u + (uint64_t)st.st_mtim.tv_nsec;
    }
    struct dirent *de;
    for (int n = 0; n < 4 * SL_CURVE_KEYS_MAX && (de = readdir (dir)); n++) {
        if (de->d_name[0] == '.') {
            continue;
        }
        uint64_t h = 1469598103934665603ull;
        for (const char *c = de->d_name; *c; c++) {
            h = (h ^ (uint8_t)*c) * 1099511628211ull;
        }
        if (fstatat (dirfd (dir), de->d_name, &st, 0) == 0) {
            uint64_t parts[6] = {(uint64_t)st.st_size,        (uint64_t)st.st_ino,
                                 (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec,
                                 (uint64_t)st.st_ctim.tv_sec, (uint64_t)st.st_ctim.tv_nsec};
            for (int i = 0; i < 6; i++) {
                h = (h ^ parts[i]) * 1099511628211ull;
            }
        }
        sum += h;
    }
    closedir (dir);
    *ok = true;
    return sum;
}

//  Builds a table from the directory's NAME.key files. Files that cannot
//  be used are skipped with a warning naming them.
static zhashx_t *
s_table_load (const char *dir_path)
{
    zhashx_t *table = zhashx_new ();
    if (!table) {
        return NULL;
    }
    zhashx_set_destructor (table, (zhashx_destructor_fn *)s_entry_destroy);
    DIR *dir = opendir (dir_path);
    if (!dir) {
        return table;
    }
    struct dirent *de;
    for (int n = 0; n < 4 * SL_CURVE_KEYS_MAX && (de = readdir (dir)); n++) {
        size_t len = strlen (de->d_name);
        if (de->d_name[0] == '.' || len < 5 || strcmp (de->d_name + len - 4, ".key") != 0) {
            if (len > 11 && strcmp (de->d_name + len - 11, ".key_secret") == 0) {
                sl_warn ("curve",
                         "%s/%s is a secret key: it does not belong in the allow "
                         "directory (only NAME.key files are read); move it away",
                         dir_path, de->d_name);
            }
            continue;
        }
        char name[SL_CURVE_NAME_MAX + 1];
        if (len - 4 > SL_CURVE_NAME_MAX || !sl_name_valid (de->d_name, len - 4)) {
            sl_warn ("curve",
                     "%s/%s skipped: a key's file name must be NAME.key with NAME of "
                     "[A-Za-z0-9._-]",
                     dir_path, de->d_name);
            continue;
        }
        memcpy (name, de->d_name, len - 4);
        name[len - 4] = '\0';
        if (zhashx_size (table) >= SL_CURVE_KEYS_MAX) {
            sl_warn ("curve", "more than %d keys in %s; the rest are ignored", SL_CURVE_KEYS_MAX,
                     dir_path);
            break;
        }
        char *path = zsys_sprintf ("%s/%s", dir_path, de->d_name);
        int err = 0;
        zcert_t *cert = path ? sl_curve_load_cert (path, false, &err) : NULL;
        if (!cert) {
            sl_warn ("curve",
                     "%s skipped: %s (expected a certificate as `sluice keygen` "
                     "writes it)",
                     path ? path : de->d_name, sl_strerror (err));
            zstr_free (&path);
            continue;
        }
        s_entry_t *entry = calloc (1, sizeof *entry);
        bool ok = entry != NULL;
        if (entry) {
            strcpy (entry->name, name);
            for (int r = 0; r < SL_RIGHT_COUNT; r++) {
                const char *value = zcert_meta (cert, s_right_names[r]);
                if (value) {
                    entry->restricted = true;
                    if (strlen (value) > S_RIGHTS_MAX) {
                        sl_warn ("curve",
                                 "%s: %s is longer than %d characters; that right is "
                                 "not granted",
                                 path, s_right_names[r], S_RIGHTS_MAX);
                        continue;
                    }
                    if (r == SL_RIGHT_REPLICATE && !streq (value, "*")) {
                        sl_warn ("curve",
                                 "%s: replicate is \"*\" or absent (a replica copies every "
                                 "stream); \"%s\" is not granted",
                                 path, value);
                        continue;
                    }
                    entry->rights[r] = strdup (value);
                    ok = ok && entry->rights[r];
                }
            }
        }
        if (ok && zhashx_lookup (table, zcert_public_txt (cert))) {
            sl_warn ("curve",
                     "%s holds the same key as another file; the first one read "
                     "names it",
                     path);
            ok = false;
        }
        else if (ok) {
            ok = zhashx_insert (table, zcert_public_txt (cert), entry) == 0;
            if (ok) {
                entry = NULL;
            }
        }
        s_entry_destroy (&entry);
        zcert_destroy (&cert);
        zstr_free (&path);
    }
    closedir (dir);
    return table;
}

//  Re-reads the directory when its fingerprint changed. Called with the
//  lock held.
static void
s_reload_locked (sl_curve_auth_t *self)
{
    if (!self->allow_dir) {
        return;
    }
    bool ok;
    uint64_t fingerprint = s_fingerprint (self->allow_dir, &ok);
    if (self->loaded && ok && fingerprint == self->fingerprint) {
        return;
    }
    if (!ok) {
        //  Gone or unreadable: nobody is allowed until it is back.
        if (!self->unreadable) {
            sl_warn ("curve",
                     "cannot read the allow directory %s: %s; no key is allowed "
                     "until it can be read again",
                     self->allow_dir, strerror (errno));
            self->unreadable = true;
        }
        if (self->table && zhashx_size (self->table)) {
            zhashx_purge (self->table);
            self->revoked++;
        }
        self->loaded = false;
        return;
    }
    self->unreadable = false;
    zhashx_t *table = s_table_load (self->allow_dir);
    if (!table) {
        return; //  out of memory: keep the old table, try again
    }
    size_t before = self->table ? zhashx_size (self->table) : 0;
    size_t revoked = s_count_revoked (self->table, table);
    if (revoked) {
        self->revoked++;
        sl_info ("curve",
                 "%zu key(s) lost their access: their open connections are cut "
                 "(allowed clients reconnect)",
                 revoked);
    }
    zhashx_destroy (&self->table);
    self->table = table;
    if (self->loaded) {
        sl_info ("curve", "allow directory %s changed: %zu keys allowed (%zu before)",
                 self->allow_dir, zhashx_size (table), before);
    }
    else {
        sl_info ("curve", "%zu client keys allowed from %s", zhashx_size (table), self->allow_dir);
    }
    self->fingerprint = fingerprint;
    self->loaded = true;
}

size_t
sl_curve_auth_reload (sl_curve_auth_t *self)
{
    pthread_mutex_lock (&self->lock);
    s_reload_locked (self);
    size_t n = self->table ? zhashx_size (self->table) : 0;
    pthread_mutex_unlock (&self->lock);
    return n;
}

uint64_t
sl_curve_auth_refused (sl_curve_auth_t *self)
{
    pthread_mutex_lock (&self->lock);
    uint64_t n = self->refused;
    pthread_mutex_unlock (&self->lock);
    return n;
}

//  Whether entry grants right on stream (a NULL entry: any key mode).
static bool
s_granted (const s_entry_t *entry, sl_right_t right, const char *stream)
{
    if (entry && right == SL_RIGHT_REPLICATE) {
        return s_replicate_ok (entry);
    }
    if (!entry || !entry->restricted || !stream) {
        return true;
    }
    return sl_curve_patterns_match (entry->rights[right], stream);
}

int
sl_curve_auth_check (sl_curve_auth_t *self, const char *key, sl_right_t right, const char *stream,
                     char *name, size_t name_size, const char **why)
{
    const char *ignore;
    why = why ? why : &ignore;
    *why = NULL;
    if (name && name_size) {
        snprintf (name, name_size, "%s", key ? key : "?");
    }
    if (!self->allow_dir) {
        return 0;
    }
    if (!key || (unsigned)right >= SL_RIGHT_COUNT) {
        *why = "no client key on this connection";
        return SL_EDENIED;
    }
    int rc = 0;
    pthread_mutex_lock (&self->lock);
    s_entry_t *entry = self->table ? zhashx_lookup (self->table, key) : NULL;
    if (!entry) {
        *why = "the key was removed from the allow list";
        rc = SL_EDENIED;
    }
    else {
        if (name && name_size) {
            snprintf (name, name_size, "%s", entry->name);
        }
        if (!s_granted (entry, right, stream)) {
            static const char *denials[SL_RIGHT_COUNT] = {
                "the key may not publish to this stream", "the key may not read this stream",
                "the key may not work in this group", "the key may not manage this",
                "the key lacks the replicate right"};
            *why = denials[right];
            rc = SL_EDENIED;
        }
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
sl_curve_auth_may_manage (sl_curve_auth_t *self, const char *key, const char *target, char *name,
                          size_t name_size, const char **why)
{
    return sl_curve_auth_check (self, key, SL_RIGHT_MANAGE, target ? target : "", name, name_size,
                                why);
}

bool
sl_curve_auth_admit (sl_curve_auth_t *self, const char *key, bool live, bool repl, const char **why)
{
    *why = NULL;
    pthread_mutex_lock (&self->lock);
    s_reload_locked (self);
    if (self->allow_dir) {
        s_entry_t *entry = self->table ? zhashx_lookup (self->table, key) : NULL;
        if (!entry) {
            *why = "not in the allow directory";
        }
        else if (live && !s_live_ok (entry)) {
            *why = "its read right is restricted, so it may not subscribe to the live feed "
                   "(its readers use FETCH)";
        }
        else if (repl && !s_replicate_ok (entry)) {
            *why = "it may not follow the replication journal: its key file lacks "
                   "replicate = \"*\"";
        }
    }
    if (*why) {
        self->refused++;
    }
    pthread_mutex_unlock (&self->lock);
    return *why == NULL;
}
