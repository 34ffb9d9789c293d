/*  follow.c - sluice-source --follow: reading files as they grow, through
    rename rotation and copytruncate, and the runs that map record numbers
    to byte positions (follow.h). The state file and the resume are in
    follow_state.c.

    There is no inotify here: the source's loop looks at its input at least
    every 100 ms, and a scan of the patterns (glob, stat, fstat) every
    S_SCAN_MS notices new, renamed, deleted and truncated files.
*/
#include "follow.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "follow_int.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"

#define S_SCAN_MS 250        //  patterns and open files looked at again
#define S_GONE_GRACE_MS 1000 //  a file renamed away may still be written this long
#define S_READ_SIZE (256u << 10)
#define S_TURN_LINES 10000    //  lines of one file before the next file's turn
#define S_RUN_SPLIT_MS 1000   //  a run ends after this long: bounds what a resume reads again
#define S_STATE_EVERY_MS 1000 //  the state is rewritten after confirms at most this often

sl_follow_t *
sl_follow_new (const sl_follow_opts_t *opts)
{
    sl_follow_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->opts = *opts;
    self->files = calloc (FOLLOW_MAX_FILES, sizeof *self->files);
    if (!self->files) {
        free (self);
        return NULL;
    }
    return self;
}

static void
s_file_free (follow_file_t *f)
{
    if (f->fd >= 0) {
        close (f->fd);
    }
    sl_buf_free (&f->buf);
    free (f->path);
    free (f);
}

void
sl_follow_destroy (sl_follow_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    sl_follow_t *self = *self_p;
    if (self->opts.state_path && self->state_dirty) {
        follow_state_write (self); //  the confirms since the last write: a shorter resume
    }
    for (uint32_t i = 0; i < self->nfiles; i++) {
        s_file_free (self->files[i]);
    }
    free (self->files);
    free (self->runs);
    free (self);
    *self_p = NULL;
}

uint64_t
sl_follow_bad (sl_follow_t *self)
{
    return self->bad;
}

follow_file_t *
follow_file_add (sl_follow_t *self, const char *path, dev_t dev, ino_t ino)
{
    if (strchr (path, '\n') || strlen (path) >= FOLLOW_PATH_MAX) {
        sl_warn ("follow", "%s: not followed: its name holds a newline or is too long", path);
        return NULL;
    }
    if (self->nfiles >= FOLLOW_MAX_FILES) {
        sl_warn ("follow", "%s: not followed: already following %d files", path, FOLLOW_MAX_FILES);
        return NULL;
    }
    follow_file_t *f = calloc (1, sizeof *f);
    if (!f || !(f->path = strdup (path))) {
        free (f);
        return NULL;
    }
    f->id = self->next_id++;
    f->dev = dev;
    f->ino = ino;
    f->fd = -1;
    sl_buf_init (&f->buf, 0);
    self->files[self->nfiles++] = f;
    return f;
}

follow_file_t *
follow_file_by_id (sl_follow_t *self, uint32_t id)
{
    for (uint32_t i = 0; i < self->nfiles; i++) {
        if (self->files[i]->id == id) {
            return self->files[i];
        }
    }
    return NULL;
}

void
follow_fingerprint (follow_file_t *f)
{
    if (f->fd < 0 || f->fp_len == FOLLOW_FP_MAX) {
        return;
    }
    ssize_t n = pread (f->fd, f->fp, FOLLOW_FP_MAX, 0);
    if (n > (ssize_t)f->fp_len) {
        f->fp_len = (size_t)n;
    }
}

//  True when an open file is no longer what was read from it: shorter than
//  what was read, or with other head bytes (copytruncate, then as many bytes
//  written again as it held before).
static bool
s_replaced (follow_file_t *f)
{
    struct stat st;
    if (fstat (f->fd, &st) != 0) {
        return false;
    }
    if ((uint64_t)st.st_size < f->read_off) {
        return true;
    }
    uint8_t head[FOLLOW_FP_MAX];
    size_t n = f->fp_len;
    if (n && (pread (f->fd, head, n, 0) != (ssize_t)n || memcmp (head, f->fp, n) != 0)) {
        return true;
    }
    follow_fingerprint (f);
    return false;
}

//  The live entry (not dead) for a device and inode, if any.
static follow_file_t *
s_find (sl_follow_t *self, dev_t dev, ino_t ino)
{
    for (uint32_t i = self->nfiles; i > 0; i--) {
        follow_file_t *f = self->files[i - 1];
        if (!f->dead && f->dev == dev && f->ino == ino) {
            return f;
        }
    }
    return NULL;
}

static void
s_reset_read (follow_file_t *f, uint64_t offset)
{
    f->read_off = offset;
    sl_buf_reset (&f->buf);
    f->start = f->scan = 0;
    f->skipping = false;
}

//  A file truncated in place (copytruncate): what it held before is gone,
//  so it becomes a new entry that is read from byte 0; runs of the old entry
//  keep their meaning until confirmed.
static void
s_truncated (sl_follow_t *self, follow_file_t *f)
{
    sl_info ("follow", "%s was truncated (copytruncate?): reading it again from the start",
             f->path);
    follow_file_t *g = follow_file_add (self, f->path, f->dev, f->ino);
    if (!g) {
        g = f; //  no room for an entry: go on in place (only positions before suffer)
    }
    else {
        g->fd = f->fd;
        g->matched = f->matched;
        f->fd = -1;
        f->dead = true;
    }
    g->fp_len = 0;
    g->at_eof = false;
    g->line = 0;
    s_reset_read (g, 0);
    lseek (g->fd, 0, SEEK_SET);
    if (self->pin == f) {
        sl_warn ("follow", "%s changed before the resume read its confirmed lines again", f->path);
        self->pin = NULL;
    }
}

//  Opens a file found by a scan, from its start.
static void
s_open_new (sl_follow_t *self, const char *path, const struct stat *st)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sl_warn ("follow", "%s: cannot open: %s", path, strerror (errno));
        return;
    }
    struct stat now;
    if (fstat (fd, &now) != 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
        close (fd); //  renamed between stat and open: the next scan sees it
        return;
    }
    follow_file_t *f = follow_file_add (self, path, st->st_dev, st->st_ino);
    if (!f) {
        close (fd);
        return;
    }
    f->fd = fd;
    f->matched = true;
    sl_debug ("follow", "following %s", path);
}

//  Files past the limit are looked at again by every scan (they are taken
//  as soon as followed files are dropped), but said only when their number
//  changes or once a minute, not four times a second.
static void
s_say_refused (sl_follow_t *self, uint32_t refused, const char *first, int64_t now)
{
    if (refused && (refused != self->refused_said || now - self->refused_said_ms >= 60000)) {
        sl_warn ("follow",
                 "%" PRIu32 " matching file%s not followed (%s%s): already following "
                 "%d files, the limit; taken when followed files are deleted or rotated away",
                 refused, refused == 1 ? "" : "s", first, refused == 1 ? "" : ", ...",
                 FOLLOW_MAX_FILES);
        self->refused_said_ms = now;
    }
    else if (!refused && self->refused_said) {
        sl_info ("follow", "every matching file is followed again");
    }
    self->refused = refused;
    self->refused_said = refused;
}

static void s_gc (sl_follow_t *self);

//  Looks at the patterns and the open files again.
static void
s_scan (sl_follow_t *self, int64_t now)
{
    if (self->nfiles >= FOLLOW_MAX_FILES) {
        //  Confirms collect dropped files too, but none may come: at the limit,
        //  the files left out must not wait for the next record.
        s_gc (self);
    }
    uint32_t refused = 0;
    char first_refused[256] = "";
    for (uint32_t i = 0; i < self->nfiles; i++) {
        self->files[i]->matched = false;
    }
    for (int p = 0; p < self->opts.npatterns; p++) {
        glob_t g;
        memset (&g, 0, sizeof g);
        if (glob (self->opts.patterns[p], 0, NULL, &g) != 0) {
            globfree (&g);
            continue;
        }
        for (size_t k = 0; k < g.gl_pathc; k++) {
            const char *path = g.gl_pathv[k];
            struct stat st;
            if (stat (path, &st) != 0 || !S_ISREG (st.st_mode)) {
                continue;
            }
            follow_file_t *f = s_find (self, st.st_dev, st.st_ino);
            if (!f && self->nfiles >= FOLLOW_MAX_FILES) {
                //  Not even opened: counted, and said once (s_say_refused).
                if (refused++ == 0) {
                    snprintf (first_refused, sizeof first_refused, "%s", path);
                }
                continue;
            }
            if (!f) {
                s_open_new (self, path, &st);
                continue;
            }
            f->matched = true;
            if (strcmp (f->path, path) != 0 && !strchr (path, '\n')) {
                char *copy = strdup (path);
                if (copy) {
                    free (f->path);
                    f->path = copy;
                }
            }
        }
        globfree (&g);
    }
    for (uint32_t i = 0; i < self->nfiles; i++) {
        follow_file_t *f = self->files[i];
        if (f->fd < 0) {
            continue;
        }
        struct stat st;
        if (fstat (f->fd, &st) == 0 && st.st_nlink == 0) {
            f->matched = false; //  deleted: read what is left, then drop
        }
        else if (s_replaced (f)) {
            s_truncated (self, f);
        }
    }
    for (uint32_t i = 0; i < self->nfiles; i++) {
        follow_file_t *f = self->files[i];
        if (f->fd >= 0 && !f->matched && f->gone_ms == 0) {
            sl_debug ("follow", "%s was renamed away or deleted: reading it to its end", f->path);
            f->gone_ms = now;
        }
        else if (f->matched) {
            f->gone_ms = 0;
        }
    }
    s_say_refused (self, refused, first_refused, now);
}

//  Closes a file that was renamed away or deleted and has been read.
static void
s_drop (sl_follow_t *self, follow_file_t *f)
{
    sl_debug ("follow", "%s: finished (rotated away or deleted)", f->path);
    close (f->fd);
    f->fd = -1;
    f->dead = true;
    sl_buf_free (&f->buf);
    sl_buf_init (&f->buf, 0);
    if (self->pin == f) {
        self->pin = NULL;
    }
}

//  Sets the line being returned: [start, stop) of the buffer, plus the
//  newline when there is one.
static void
s_emit (follow_file_t *f, size_t start, size_t stop, bool newline, const uint8_t **line,
        size_t *len)
{
    uint64_t buf_base = f->read_off - f->buf.len;
    f->line_start = buf_base + start;
    f->line_end = buf_base + stop + (newline ? 1 : 0);
    *line = f->buf.data + start;
    *len = stop - start;
    f->line++;
}

//  The next complete line of one file: 1, or SL_EAGAIN when it has none now.
static int
s_file_line (sl_follow_t *self, follow_file_t *f, int64_t now, const uint8_t **line, size_t *len)
{
    while (true) {
        uint8_t *data = f->buf.data;
        size_t end = f->buf.len;
        const uint8_t *nl = f->scan < end ? memchr (data + f->scan, '\n', end - f->scan) : NULL;
        if (nl) {
            size_t start = f->start;
            size_t stop = (size_t)(nl - data);
            f->start = f->scan = stop + 1;
            if (f->skipping) {
                f->skipping = false;
                continue;
            }
            s_emit (f, start, stop, true, line, len);
            return 1;
        }
        f->scan = end;
        if (!f->skipping && end - f->start > self->opts.max_line) {
            f->line++;
            self->bad++;
            sl_warn ("follow", "%s:%" PRIu64 ": line longer than %zu bytes, skipped", f->path,
                     f->line, self->opts.max_line);
            f->skipping = true;
        }
        if (f->skipping) {
            f->start = f->scan = end;
        }
        if (f->start > 0) {
            size_t left = end - f->start;
            memmove (data, data + f->start, left);
            f->buf.len = left;
            f->scan -= f->start;
            f->start = 0;
        }
        if (sl_buf_reserve (&f->buf, S_READ_SIZE)) {
            return SL_EAGAIN;
        }
        //  After an end of file, make sure new bytes are not those of a file
        //  truncated and written again meanwhile.
        if (f->at_eof && s_replaced (f)) {
            s_truncated (self, f);
            return SL_EAGAIN;
        }
        ssize_t n = read (f->fd, f->buf.data + f->buf.len, f->buf.cap - f->buf.len);
        if (n > 0) {
            f->buf.len += (size_t)n;
            f->read_off += (uint64_t)n;
            f->at_eof = false;
            continue;
        }
        f->at_eof = true;
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            sl_warn ("follow", "%s: read failed: %s", f->path, strerror (errno));
        }
        if (f->gone_ms && now - f->gone_ms >= S_GONE_GRACE_MS) {
            //  Nobody writes it any more: a last line without newline is complete.
            if (f->buf.len > f->start && !f->skipping) {
                size_t start = f->start;
                f->start = f->scan = f->buf.len;
                s_emit (f, start, f->buf.len, false, line, len);
                return 1;
            }
            s_drop (self, f);
        }
        return SL_EAGAIN;
    }
}

int
sl_follow_next (sl_follow_t *self, const uint8_t **line, size_t *len, const char **name,
                uint64_t *lineno)
{
    int64_t now = sl_mono_ms ();
    if (now >= self->next_scan) {
        s_scan (self, now);
        self->next_scan = now + S_SCAN_MS;
    }
    follow_file_t *f = NULL;
    int rc = SL_EAGAIN;
    if (self->pin) {
        f = self->pin;
        rc = f->fd >= 0 ? s_file_line (self, f, now, line, len) : SL_EAGAIN;
        if (rc != 1) {
            sl_warn ("follow",
                     "%s holds fewer lines than were confirmed from it: resuming "
                     "with the other files",
                     f->path);
            self->pin = NULL;
        }
    }
    for (uint32_t i = 0; rc != 1 && i < self->nfiles; i++) {
        uint32_t at = (self->cur + i) % self->nfiles;
        f = self->files[at];
        if (f->fd < 0) {
            continue;
        }
        rc = s_file_line (self, f, now, line, len);
        if (rc == 1) {
            if (at != self->cur) {
                self->turn = 0;
            }
            self->cur = at;
            if (++self->turn >= S_TURN_LINES) {
                self->turn = 0;
                self->cur = (at + 1) % self->nfiles;
            }
        }
    }
    if (rc != 1) {
        return SL_EAGAIN;
    }
    self->last_file = f;
    *name = f->path;
    *lineno = f->line;
    return 1;
}

int
sl_follow_mark (sl_follow_t *self, uint64_t seq)
{
    follow_file_t *f = self->last_file;
    if (!f) {
        return 0;
    }
    if (self->pin == f && self->pin_left > 0 && --self->pin_left == 0) {
        self->pin = NULL;
    }
    int64_t now = sl_mono_ms ();
    follow_run_t *tail = self->nruns ? &self->runs[self->nruns - 1] : NULL;
    if (tail && tail->id == f->id && tail->last + 1 == seq &&
        now - tail->started_ms < S_RUN_SPLIT_MS) {
        tail->end = f->line_end;
        tail->last = seq;
        return 0;
    }
    if (self->nruns == self->maxruns) {
        uint32_t max = self->maxruns ? self->maxruns * 2 : 64;
        follow_run_t *runs =
            max <= FOLLOW_MAX_RUNS ? realloc (self->runs, max * sizeof *runs) : NULL;
        if (!runs) {
            sl_error ("follow", "cannot keep the positions of more unconfirmed records");
            return SL_ENOMEM;
        }
        self->runs = runs;
        self->maxruns = max;
    }
    if (self->nruns == 0) {
        self->base = seq - 1;
    }
    self->runs[self->nruns++] = (follow_run_t){.seq = seq,
                                               .id = f->id,
                                               .start = f->line_start,
                                               .end = f->line_end,
                                               .last = seq,
                                               .started_ms = now};
    //  Before this record is sent, the state must say where it comes from:
    //  sl_follow_sync writes it, once for all the runs a batch starts.
    self->state_needed = self->opts.state_path != NULL;
    return 0;
}

int
sl_follow_sync (sl_follow_t *self)
{
    return self->state_needed ? follow_state_write (self) : 0;
}

//  Forgets dropped files that no unconfirmed run refers to.
static void
s_gc (sl_follow_t *self)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < self->nfiles; i++) {
        follow_file_t *f = self->files[i];
        bool used = !f->dead || f == self->last_file;
        for (uint32_t r = 0; r < self->nruns && !used; r++) {
            used = self->runs[r].id == f->id;
        }
        if (!used) {
            s_file_free (f);
            self->state_dirty = true;
            continue;
        }
        self->files[kept++] = f;
    }
    self->nfiles = kept;
    if (self->cur >= kept) {
        self->cur = 0;
    }
}

int
sl_follow_confirmed (sl_follow_t *self, uint64_t seq)
{
    if (seq <= self->acked) {
        return 0;
    }
    self->acked = seq;
    uint32_t pop = 0;
    while (pop < self->nruns && self->runs[pop].last <= seq) {
        follow_file_t *f = follow_file_by_id (self, self->runs[pop].id);
        if (f) {
            f->confirmed_off = self->runs[pop].end;
        }
        pop++;
    }
    if (pop) {
        memmove (self->runs, self->runs + pop, (self->nruns - pop) * sizeof *self->runs);
        self->nruns -= pop;
        self->state_dirty = true;
    }
    self->base = self->nruns ? self->runs[0].seq - 1 : seq;
    s_gc (self);
    int64_t now = sl_mono_ms ();
    if (self->opts.state_path && self->state_dirty &&
        now - self->state_written >= S_STATE_EVERY_MS) {
        return follow_state_write (self);
    }
    return 0;
}
