/*  sl_dirlock.c - one broker per data directory (see sl_dirlock.h).

    flock rather than fcntl locks: LMDB holds fcntl locks on its own lock
    file, and fcntl locks belong to the process (any close of any
    descriptor of the file drops them), while a flock belongs to the open
    file description we keep for the broker's life.
*/
#include "sl_dirlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "sl_error.h"

struct _sl_dirlock_t {
    int fd;
};

static char *
s_path (const char *dir)
{
    size_t len = strlen (dir) + sizeof SL_DIRLOCK_FILE + 1;
    char *path = malloc (len);
    if (path) {
        snprintf (path, len, "%s/%s", dir, SL_DIRLOCK_FILE);
    }
    return path;
}

//  The PID the holder wrote; 0 when the file holds none (yet). Bounded
//  read: the file is ours, but nothing on disk is trusted.
static long
s_read_pid (int fd)
{
    char text[24];
    ssize_t n = pread (fd, text, sizeof text - 1, 0);
    if (n <= 0) {
        return 0;
    }
    text[n] = 0;
    char *end;
    long pid = strtol (text, &end, 10);
    return pid > 0 && (*end == '\n' || *end == 0) ? pid : 0;
}

static int
s_errno_code (int e)
{
    return e == ENOSPC ? SL_ENOSPC : e == ENOMEM ? SL_ENOMEM : SL_EIO;
}

sl_dirlock_t *
sl_dirlock_new (const char *dir, int *err, long *holder)
{
    *holder = 0;
    sl_dirlock_t *self = calloc (1, sizeof *self);
    char *path = s_path (dir);
    if (self) {
        self->fd = -1;
    }
    if (!self || !path) {
        *err = SL_ENOMEM;
        goto fail;
    }
    self->fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (self->fd < 0) {
        *err = s_errno_code (errno);
        goto fail;
    }
    if (flock (self->fd, LOCK_EX | LOCK_NB) != 0) {
        *err = errno == EWOULDBLOCK ? SL_ELOCKED : s_errno_code (errno);
        if (*err == SL_ELOCKED) {
            *holder = s_read_pid (self->fd);
        }
        goto fail;
    }
    char text[24];
    int len = snprintf (text, sizeof text, "%ld\n", (long)getpid ());
    if (ftruncate (self->fd, 0) != 0 || pwrite (self->fd, text, (size_t)len, 0) != len) {
        *err = s_errno_code (errno);
        goto fail;
    }
    free (path);
    *err = 0;
    return self;

fail:
    if (self && self->fd >= 0) {
        close (self->fd);
    }
    free (self);
    free (path);
    return NULL;
}

void
sl_dirlock_destroy (sl_dirlock_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    close ((*self_p)->fd);
    free (*self_p);
    *self_p = NULL;
}

int
sl_dirlock_probe (const char *dir, long *holder)
{
    *holder = 0;
    char *path = s_path (dir);
    if (!path) {
        return SL_ENOMEM;
    }
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    free (path);
    if (fd < 0) {
        return errno == ENOENT ? 0 : s_errno_code (errno);
    }
    int rc = 0;
    if (flock (fd, LOCK_SH | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? SL_ELOCKED : s_errno_code (errno);
        if (rc == SL_ELOCKED) {
            *holder = s_read_pid (fd);
        }
    }
    close (fd); //  drops the shared lock, if it was taken
    return rc;
}
