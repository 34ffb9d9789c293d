/*  follow_state.c - the --follow state file and the exact resume from it.

    The file is text, one record per line (docs/source.md, "Following
    files"):

        sluice-follow 1
        base SEQ                        records up to SEQ are behind every offset below
        file ID DEV INO OFFSET FPHEX PATH
        run SEQ ID START END            END is "-" for the last run
        end

    It is written under a temporary name, fsync'ed and renamed, so a reader
    sees the old state or the new one, never a mix; a file without its "end"
    line is refused. Nothing read from it is trusted: counts, lengths and
    ids are bounded and checked before use.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "follow_int.h"
#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"

#define S_LINE_MAX (FOLLOW_PATH_MAX + 256)

static int
s_fsync_dir_of (const char *path)
{
    char copy[FOLLOW_PATH_MAX];
    snprintf (copy, sizeof copy, "%s", path);
    int fd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return SL_EIO;
    }
    int rc = fsync (fd) == 0 ? 0 : SL_EIO;
    close (fd);
    return rc;
}

int
follow_state_write (sl_follow_t *self)
{
    char temp[FOLLOW_PATH_MAX + 8];
    snprintf (temp, sizeof temp, "%s.tmp", self->opts.state_path);
    FILE *out = fopen (temp, "we");
    if (!out) {
        sl_error ("follow", "cannot write the state file %s: %s", temp, strerror (errno));
        return SL_EIO;
    }
    fprintf (out, "sluice-follow 1\nbase %" PRIu64 "\n", self->base);
    for (uint32_t i = 0; i < self->nfiles; i++) {
        follow_file_t *f = self->files[i];
        follow_fingerprint (f);
        fprintf (out, "file %" PRIu32 " %" PRIu64 " %" PRIu64 " %" PRIu64 " ", f->id,
                 (uint64_t)f->dev, (uint64_t)f->ino, f->confirmed_off);
        for (size_t k = 0; k < f->fp_len; k++) {
            fprintf (out, "%02x", f->fp[k]);
        }
        fprintf (out, "%s %s\n", f->fp_len ? "" : "-", f->path);
    }
    for (uint32_t r = 0; r < self->nruns; r++) {
        const follow_run_t *run = &self->runs[r];
        if (r + 1 < self->nruns) {
            fprintf (out, "run %" PRIu64 " %" PRIu32 " %" PRIu64 " %" PRIu64 "\n", run->seq,
                     run->id, run->start, run->end);
        }
        else {
            fprintf (out, "run %" PRIu64 " %" PRIu32 " %" PRIu64 " -\n", run->seq, run->id,
                     run->start);
        }
    }
    fprintf (out, "end\n");
    int rc = fflush (out) == 0 && fsync (fileno (out)) == 0 ? 0 : SL_EIO;
    int err = errno;
    if (fclose (out) != 0) {
        rc = SL_EIO;
    }
    if (rc == 0 && rename (temp, self->opts.state_path) != 0) {
        err = errno;
        rc = SL_EIO;
    }
    if (rc == 0) {
        rc = s_fsync_dir_of (self->opts.state_path);
        err = errno;
    }
    if (rc) {
        sl_error ("follow", "cannot write the state file %s: %s", self->opts.state_path,
                  strerror (err));
        return rc;
    }
    self->state_written = sl_mono_ms ();
    self->state_dirty = false;
    self->state_needed = false;
    return 0;
}

//  What one state file says, as parsed.
typedef struct {
    uint32_t id;
    uint64_t dev, ino, offset;
    uint8_t fp[FOLLOW_FP_MAX];
    size_t fp_len;
    char *path;
    uint64_t pos; //  where it resumes
} s_sfile_t;

typedef struct {
    uint64_t seq;
    uint32_t id;
    uint64_t start, end;
    bool open;
} s_srun_t;

typedef struct {
    uint64_t base;
    s_sfile_t *files;
    uint32_t nfiles;
    s_srun_t *runs;
    uint32_t nruns, maxruns;
} s_state_t;

static void
s_state_free (s_state_t *st)
{
    for (uint32_t i = 0; i < st->nfiles; i++) {
        free (st->files[i].path);
    }
    free (st->files);
    free (st->runs);
}

static int
s_hex (const char *text, uint8_t *out, size_t *len)
{
    *len = 0;
    if (strcmp (text, "-") == 0) {
        return 0;
    }
    size_t n = strlen (text);
    if (n % 2 || n / 2 > FOLLOW_FP_MAX) {
        return SL_EPROTO;
    }
    for (size_t i = 0; i < n; i += 2) {
        unsigned v;
        if (sscanf (text + i, "%2x", &v) != 1) {
            return SL_EPROTO;
        }
        out[i / 2] = (uint8_t)v;
    }
    *len = n / 2;
    return 0;
}

static s_sfile_t *
s_sfile (s_state_t *st, uint32_t id)
{
    for (uint32_t i = 0; i < st->nfiles; i++) {
        if (st->files[i].id == id) {
            return &st->files[i];
        }
    }
    return NULL;
}

//  Reads and checks a state file. 0, SL_ENOTFOUND or SL_EPROTO (logged).
static int
s_state_read (const char *path, s_state_t *st)
{
    FILE *in = fopen (path, "re");
    if (!in) {
        return errno == ENOENT ? SL_ENOTFOUND : SL_EIO;
    }
    st->files = calloc (FOLLOW_MAX_FILES, sizeof *st->files);
    char *line = malloc (S_LINE_MAX);
    int rc = st->files && line ? 0 : SL_ENOMEM;
    bool header = false, ended = false;
    uint64_t lineno = 0;
    while (rc == 0 && !ended && fgets (line, S_LINE_MAX, in)) {
        lineno++;
        size_t n = strlen (line);
        if (n == 0 || line[n - 1] != '\n') {
            rc = SL_EPROTO;
            break;
        }
        line[n - 1] = 0;
        char hex[2 * FOLLOW_FP_MAX + 2];
        int used = 0;
        if (!header) {
            header = strcmp (line, "sluice-follow 1") == 0;
            rc = header ? 0 : SL_EPROTO;
        }
        else if (strcmp (line, "end") == 0) {
            ended = true;
        }
        else if (strncmp (line, "base ", 5) == 0) {
            rc = sl_parse_u64 (line + 5, &st->base) ? SL_EPROTO : 0;
        }
        else if (strncmp (line, "file ", 5) == 0) {
            if (st->nfiles >= FOLLOW_MAX_FILES) {
                rc = SL_EPROTO;
                break;
            }
            s_sfile_t *f = &st->files[st->nfiles];
            if (sscanf (line, "file %" SCNu32 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %129s %n",
                        &f->id, &f->dev, &f->ino, &f->offset, hex, &used) != 5 ||
                used == 0 || !line[used] || s_hex (hex, f->fp, &f->fp_len) || s_sfile (st, f->id) ||
                !(f->path = strdup (line + used))) {
                rc = SL_EPROTO;
                break;
            }
            f->pos = f->offset;
            st->nfiles++;
        }
        else if (strncmp (line, "run ", 4) == 0) {
            if (st->nruns == st->maxruns) {
                uint32_t max = st->maxruns ? st->maxruns * 2 : 64;
                s_srun_t *runs =
                    max <= FOLLOW_MAX_RUNS ? realloc (st->runs, max * sizeof *runs) : NULL;
                if (!runs) {
                    rc = SL_EPROTO;
                    break;
                }
                st->runs = runs;
                st->maxruns = max;
            }
            s_srun_t *r = &st->runs[st->nruns];
            char end[24];
            if (sscanf (line, "run %" SCNu64 " %" SCNu32 " %" SCNu64 " %23s", &r->seq, &r->id,
                        &r->start, end) != 4 ||
                !s_sfile (st, r->id) || (st->nruns && r->seq <= st->runs[st->nruns - 1].seq) ||
                r->seq <= st->base) {
                rc = SL_EPROTO;
                break;
            }
            r->open = strcmp (end, "-") == 0;
            if (!r->open && (sl_parse_u64 (end, &r->end) || r->end < r->start)) {
                rc = SL_EPROTO;
                break;
            }
            st->nruns++;
        }
        else {
            rc = SL_EPROTO;
        }
    }
    if (rc == 0 && !ended) {
        rc = SL_EPROTO;
    }
    for (uint32_t r = 0; rc == 0 && r + 1 < st->nruns; r++) {
        rc = st->runs[r].open ? SL_EPROTO : 0; //  only the last run may be open
    }
    if (rc == SL_EPROTO) {
        sl_error ("follow",
                  "%s:%" PRIu64 ": malformed state file; move it away to start "
                  "over (with a new --name)",
                  path, lineno);
    }
    free (line);
    fclose (in);
    return rc;
}

//  True when fd holds the head bytes fp.
static bool
s_same_head (int fd, const uint8_t *fp, size_t fp_len)
{
    uint8_t head[FOLLOW_FP_MAX];
    return fp_len == 0 ||
           (pread (fd, head, fp_len, 0) == (ssize_t)fp_len && memcmp (head, fp, fp_len) == 0);
}

//  Opens the file a state entry names: under its path, else under another
//  name in the same directory (renamed while the source was down). -1 when
//  it is nowhere to be found.
static int
s_locate (const s_sfile_t *sf, char *found, size_t size)
{
    int fd = open (sf->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat (fd, &st) == 0 && (uint64_t)st.st_dev == sf->dev &&
        (uint64_t)st.st_ino == sf->ino && s_same_head (fd, sf->fp, sf->fp_len)) {
        snprintf (found, size, "%s", sf->path);
        return fd;
    }
    if (fd >= 0) {
        close (fd);
    }
    char copy[FOLLOW_PATH_MAX];
    snprintf (copy, sizeof copy, "%s", sf->path);
    const char *dirpath = dirname (copy);
    DIR *dir = opendir (dirpath);
    if (!dir) {
        return -1;
    }
    fd = -1;
    struct dirent *entry;
    while (fd < 0 && (entry = readdir (dir)) != NULL) {
        if ((uint64_t)entry->d_ino != sf->ino) {
            continue;
        }
        snprintf (found, size, "%s/%s", dirpath, entry->d_name);
        fd = open (found, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && (fstat (fd, &st) != 0 || (uint64_t)st.st_dev != sf->dev ||
                        (uint64_t)st.st_ino != sf->ino || !S_ISREG (st.st_mode) ||
                        !s_same_head (fd, sf->fp, sf->fp_len))) {
            close (fd);
            fd = -1;
        }
    }
    closedir (dir);
    return fd;
}

int
sl_follow_resume (sl_follow_t *self, uint64_t confirmed, uint64_t *next_base)
{
    *next_base = confirmed;
    if (!self->opts.state_path) {
        return 0;
    }
    s_state_t st;
    memset (&st, 0, sizeof st);
    int rc = s_state_read (self->opts.state_path, &st);
    if (rc == SL_ENOTFOUND) {
        s_state_free (&st);
        if (confirmed == 0) {
            return 0;
        }
        sl_error ("follow",
                  "the broker has %" PRIu64 " records of this producer but the state "
                  "file %s is missing: the byte positions are unknown (restore the "
                  "file, or start over with a new --name)",
                  confirmed, self->opts.state_path);
        return SL_ENOTFOUND;
    }
    if (rc) {
        s_state_free (&st);
        return rc;
    }
    if (confirmed < st.base) {
        sl_error ("follow",
                  "the broker has %" PRIu64 " records of this producer, fewer than the "
                  "%" PRIu64 " it confirmed before (was its data directory replaced?)",
                  confirmed, st.base);
        s_state_free (&st);
        return SL_EPROTO;
    }
    //  Every file after its last record up to `confirmed`; the run that holds
    //  `confirmed` is read again from its start, its first `skip` records dropped.
    uint32_t pin_id = UINT32_MAX;
    uint64_t skip = 0;
    for (uint32_t r = 0; r < st.nruns && st.runs[r].seq <= confirmed; r++) {
        s_srun_t *run = &st.runs[r];
        s_sfile_t *sf = s_sfile (&st, run->id);
        if (r + 1 < st.nruns && st.runs[r + 1].seq - 1 <= confirmed) {
            sf->pos = run->end;
            continue;
        }
        sf->pos = run->start;
        skip = confirmed - run->seq + 1;
        pin_id = run->id;
        break;
    }
    //  Newest entries first: of two entries for one inode (a truncation), the
    //  newer one is the file's content now.
    for (uint32_t i = st.nfiles; i > 0; i--) {
        s_sfile_t *sf = &st.files[i - 1];
        char found[FOLLOW_PATH_MAX + 256];
        int fd = -1;
        bool taken = false;
        for (uint32_t k = 0; k < self->nfiles; k++) {
            taken |= (uint64_t)self->files[k]->dev == sf->dev &&
                     (uint64_t)self->files[k]->ino == sf->ino;
        }
        if (!taken) {
            fd = s_locate (sf, found, sizeof found);
        }
        if (fd < 0) {
            if (!taken) {
                sl_warn ("follow",
                         "%s (inode %" PRIu64 ") is gone: whatever it held after byte "
                         "%" PRIu64 " is not read",
                         sf->path, sf->ino, sf->pos);
            }
            if (sf->id == pin_id) {
                skip = 0;
            }
            continue;
        }
        follow_file_t *f = follow_file_add (self, found, (dev_t)sf->dev, (ino_t)sf->ino);
        if (!f) {
            close (fd);
            continue;
        }
        f->fd = fd;
        memcpy (f->fp, sf->fp, sf->fp_len);
        f->fp_len = sf->fp_len;
        struct stat now;
        uint64_t pos = sf->pos;
        if (fstat (fd, &now) == 0 && (uint64_t)now.st_size < pos) {
            sl_warn ("follow",
                     "%s was truncated while the source was down: reading it from the "
                     "start",
                     found);
            pos = 0;
            f->fp_len = 0;
            if (sf->id == pin_id) {
                skip = 0;
            }
        }
        else if (sf->id == pin_id && skip > 0) {
            self->pin = f;
            self->pin_left = skip;
        }
        f->confirmed_off = pos;
        f->read_off = pos;
        lseek (fd, (off_t)pos, SEEK_SET);
        sl_debug ("follow", "%s resumes at byte %" PRIu64, found, pos);
    }
    s_state_free (&st);
    *next_base = confirmed - skip;
    self->base = *next_base;
    self->acked = *next_base;
    if (skip) {
        sl_info ("follow",
                 "resuming: reading %" PRIu64 " confirmed records of %s again to find "
                 "the byte after record %" PRIu64,
                 skip, self->pin ? self->pin->path : "?", confirmed);
    }
    return follow_state_write (self);
}
