/*  out_files.c - sluice-sink --output DIR: rotating, optionally compressed
    files named by their first offset, complete only under their final name.

    Three writers share one shape: plain files go through stdio with a large
    buffer, gzip through zlib's gzdopen on a duplicate of the descriptor (so
    that the file can be fsync'ed after zlib closed its stream), zstd through
    ZSTD_compressStream2 into the same stdio buffer. Nothing here needs the
    bytes of a temporary file to survive a crash: a restart removes it and
    the records are read again from the broker.
*/
#include "out_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "sl_error.h"
#include "sl_log.h"
#include "sl_util.h"

#define S_STDIO_BUFFER (1u << 20)
#define S_NAME_MAX 512
#define S_OFFSET_DIGITS 20 //  zero-padded, so that names sort in offset order

struct _sl_out_files_t {
    sl_out_files_opts_t opts;
    char suffix[32]; //  ".jsonl", ".jsonl.gz", ".msgpack.zst"
    //  The open file, if any.
    bool open;
    int fd;
    FILE *file; //  plain and zstd
    gzFile gz;  //  gzip
    ZSTD_CCtx *zstd;
    uint8_t *zbuf; //  zstd output
    size_t zbuf_size;
    char *stdio_buf;
    uint64_t first; //  offset of its first record
    uint64_t next;  //  offset after its last record
    uint64_t bytes; //  uncompressed bytes in it
    int64_t opened_ms;
    char temp[S_NAME_MAX];
    char final[S_NAME_MAX];
    uint64_t done;
};

int
sl_out_files_parse_compress (const char *text, sl_out_compress_t *compress)
{
    if (strcmp (text, "none") == 0) {
        *compress = SL_OUT_COMPRESS_NONE;
    }
    else if (strcmp (text, "gzip") == 0) {
        *compress = SL_OUT_COMPRESS_GZIP;
    }
    else if (strcmp (text, "zstd") == 0) {
        *compress = SL_OUT_COMPRESS_ZSTD;
    }
    else {
        return SL_EINVAL;
    }
    return 0;
}

sl_out_files_t *
sl_out_files_new (const sl_out_files_opts_t *opts)
{
    sl_out_files_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->opts = *opts;
    self->fd = -1;
    const char *z = opts->compress == SL_OUT_COMPRESS_GZIP   ? ".gz"
                    : opts->compress == SL_OUT_COMPRESS_ZSTD ? ".zst"
                                                             : "";
    snprintf (self->suffix, sizeof self->suffix, ".%s%s", opts->ext, z);
    return self;
}

//  Frees what the open file holds, without renaming it.
static void
s_close_open (sl_out_files_t *self)
{
    if (self->gz) {
        gzclose (self->gz);
        self->gz = NULL;
    }
    if (self->file) {
        fclose (self->file);
        self->file = NULL;
        self->fd = -1;
    }
    if (self->fd >= 0) {
        close (self->fd);
        self->fd = -1;
    }
    free (self->stdio_buf);
    self->stdio_buf = NULL;
    ZSTD_freeCCtx (self->zstd);
    self->zstd = NULL;
    free (self->zbuf);
    self->zbuf = NULL;
    self->open = false;
}

void
sl_out_files_destroy (sl_out_files_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    s_close_open (*self_p);
    free (*self_p);
    *self_p = NULL;
}

uint64_t
sl_out_files_done (sl_out_files_t *self)
{
    return self->done;
}

//  The first offset of one of this stream's files, from its name, and
//  whether it is a temporary one. false for any other name.
static bool
s_parse_name (sl_out_files_t *self, const char *name, uint64_t *first, bool *temp)
{
    *temp = name[0] == '.';
    const char *p = *temp ? name + 1 : name;
    size_t slen = strlen (self->opts.stream);
    if (strncmp (p, self->opts.stream, slen) != 0 || p[slen] != '.') {
        return false;
    }
    p += slen + 1;
    uint64_t value = 0;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9' && digits < S_OFFSET_DIGITS) {
        value = value * 10 + (uint64_t)(*p - '0');
        p++;
        digits++;
    }
    if (digits != S_OFFSET_DIGITS) {
        return false;
    }
    size_t sfx = strlen (self->suffix);
    if (strncmp (p, self->suffix, sfx) != 0) {
        return false;
    }
    p += sfx;
    if (strcmp (p, *temp ? ".part" : "") != 0) {
        return false;
    }
    *first = value;
    return true;
}

static int
s_fsync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return SL_EIO;
    }
    int rc = fsync (fd) == 0 ? 0 : SL_EIO;
    close (fd);
    return rc;
}

int
sl_out_files_begin (sl_out_files_t *self, uint64_t offset)
{
    self->done = offset;
    DIR *dir = opendir (self->opts.dir);
    if (!dir) {
        sl_error ("output", "cannot open directory %s: %s", self->opts.dir, strerror (errno));
        return SL_EIO;
    }
    int rc = 0;
    int removed = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)) != NULL) {
        uint64_t first;
        bool temp;
        if (!s_parse_name (self, entry->d_name, &first, &temp) || (!temp && first < offset)) {
            continue;
        }
        char path[S_NAME_MAX + 256];
        snprintf (path, sizeof path, "%s/%s", self->opts.dir, entry->d_name);
        if (unlinkat (dirfd (dir), entry->d_name, 0) != 0) {
            sl_error ("output", "cannot remove %s: %s", path, strerror (errno));
            rc = SL_EIO;
            continue;
        }
        removed++;
        if (temp) {
            sl_info ("output", "removed %s, an incomplete file: its records are written again",
                     path);
        }
        else {
            sl_warn ("output",
                     "removed %s: it starts at offset %" PRIu64 ", at or after the "
                     "position %" PRIu64 " this run starts from, so its records are "
                     "written again",
                     path, first, offset);
        }
    }
    closedir (dir);
    if (rc == 0 && removed) {
        rc = s_fsync_dir (self->opts.dir);
    }
    return rc;
}

static int
s_open (sl_out_files_t *self, uint64_t first)
{
    snprintf (self->final, sizeof self->final, "%s/%s.%0*" PRIu64 "%s", self->opts.dir,
              self->opts.stream, S_OFFSET_DIGITS, first, self->suffix);
    snprintf (self->temp, sizeof self->temp, "%s/.%s.%0*" PRIu64 "%s.part", self->opts.dir,
              self->opts.stream, S_OFFSET_DIGITS, first, self->suffix);
    self->fd = open (self->temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (self->fd < 0) {
        sl_error ("output", "cannot create %s: %s", self->temp, strerror (errno));
        return SL_EIO;
    }
    self->open = true;
    self->first = first;
    self->next = first;
    self->bytes = 0;
    self->opened_ms = sl_mono_ms ();
    if (self->opts.compress == SL_OUT_COMPRESS_GZIP) {
        //  zlib closes the descriptor it is given; ours stays open for fsync.
        int dup_fd = dup (self->fd);
        self->gz = dup_fd >= 0 ? gzdopen (dup_fd, "wb6") : NULL;
        if (!self->gz) {
            if (dup_fd >= 0) {
                close (dup_fd);
            }
            goto fail;
        }
        gzbuffer (self->gz, 256u << 10);
        return 0;
    }
    self->file = fdopen (self->fd, "wb");
    self->stdio_buf = malloc (S_STDIO_BUFFER);
    if (!self->file || !self->stdio_buf) {
        goto fail;
    }
    setvbuf (self->file, self->stdio_buf, _IOFBF, S_STDIO_BUFFER);
    if (self->opts.compress == SL_OUT_COMPRESS_ZSTD) {
        self->zstd = ZSTD_createCCtx ();
        self->zbuf_size = ZSTD_CStreamOutSize ();
        self->zbuf = malloc (self->zbuf_size);
        if (!self->zstd || !self->zbuf) {
            goto fail;
        }
        ZSTD_CCtx_setParameter (self->zstd, ZSTD_c_compressionLevel, 3);
        ZSTD_CCtx_setParameter (self->zstd, ZSTD_c_checksumFlag, 1);
    }
    return 0;

fail:
    sl_error ("output", "out of memory for %s", self->temp);
    s_close_open (self);
    unlink (self->temp);
    return SL_ENOMEM;
}

//  Feeds zstd; with end, finishes the frame. 0 or SL_EIO.
static int
s_zstd (sl_out_files_t *self, const void *data, size_t len, bool end)
{
    ZSTD_inBuffer in = {data, len, 0};
    while (true) {
        ZSTD_outBuffer out = {self->zbuf, self->zbuf_size, 0};
        size_t left =
            ZSTD_compressStream2 (self->zstd, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError (left)) {
            sl_error ("output", "zstd: %s", ZSTD_getErrorName (left));
            return SL_EIO;
        }
        if (out.pos && fwrite (self->zbuf, 1, out.pos, self->file) != out.pos) {
            return SL_EIO;
        }
        if (end ? left == 0 : in.pos == in.size) {
            return 0;
        }
    }
}

static int
s_append (sl_out_files_t *self, const uint8_t *data, size_t len)
{
    switch (self->opts.compress) {
    case SL_OUT_COMPRESS_GZIP:
        return len == 0 || gzwrite (self->gz, data, (unsigned)len) == (int)len ? 0 : SL_EIO;
    case SL_OUT_COMPRESS_ZSTD:
        return s_zstd (self, data, len, false);
    default:
        return fwrite (data, 1, len, self->file) == len ? 0 : SL_EIO;
    }
}

int
sl_out_files_complete (sl_out_files_t *self)
{
    if (!self->open) {
        return 0;
    }
    int rc = 0;
    if (self->gz) {
        rc = gzclose (self->gz) == Z_OK ? 0 : SL_EIO;
        self->gz = NULL;
    }
    if (rc == 0 && self->zstd) {
        rc = s_zstd (self, NULL, 0, true);
    }
    if (rc == 0 && self->file && fflush (self->file) != 0) {
        rc = SL_EIO;
    }
    if (rc == 0 && fsync (self->fd) != 0) {
        rc = SL_EIO;
    }
    int err = errno;
    s_close_open (self);
    if (rc == 0 && rename (self->temp, self->final) != 0) {
        err = errno;
        rc = SL_EIO;
    }
    if (rc == 0) {
        rc = s_fsync_dir (self->opts.dir);
        err = errno;
    }
    if (rc) {
        sl_error ("output", "cannot complete %s: %s", self->final, strerror (err));
        return rc;
    }
    self->done = self->next;
    sl_debug ("output", "completed %s (%" PRIu64 " records)", self->final,
              self->next - self->first);
    return 0;
}

int
sl_out_files_write (sl_out_files_t *self, const uint8_t *data, size_t len, uint64_t offset)
{
    int rc = 0;
    if (self->open && offset != self->next) {
        //  Retention skipped records: a file holds a dense range, so start another.
        rc = sl_out_files_complete (self);
    }
    if (rc == 0 && !self->open) {
        rc = s_open (self, offset);
    }
    if (rc == 0) {
        rc = s_append (self, data, len);
        if (rc) {
            sl_error ("output", "cannot write %s: %s", self->temp, strerror (errno));
        }
    }
    if (rc) {
        return rc;
    }
    self->bytes += len;
    self->next = offset + 1;
    if (self->bytes >= self->opts.rotate_bytes) {
        rc = sl_out_files_complete (self);
    }
    return rc;
}

int
sl_out_files_tick (sl_out_files_t *self)
{
    if (self->open && self->opts.rotate_age_ms > 0 &&
        sl_mono_ms () - self->opened_ms >= self->opts.rotate_age_ms) {
        return sl_out_files_complete (self);
    }
    return 0;
}
