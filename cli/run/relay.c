/*  relay.c - a stage's output, line by line, onto sluice run's terminal.

    Writes are plain blocking write(2)s of whole lines (prefix and line in
    one writev), so lines of different stages never interleave mid-line and
    a slow reader of sluice run's output slows the stages through their
    pipes instead of growing a buffer here.
*/
#include "relay.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sl_error.h"

int
sl_relay_init (sl_relay_t *self, const char *label, const char *color, int out_fd, bool raw)
{
    memset (self, 0, sizeof *self);
    self->out_fd = out_fd;
    self->raw = raw;
    self->buf = malloc (SL_RELAY_LINE_MAX);
    if (!self->buf) {
        return SL_ENOMEM;
    }
    if (!raw) {
        int n = color ? snprintf (self->prefix, sizeof self->prefix, "\033[%sm%s |\033[0m ", color,
                                  label)
                      : snprintf (self->prefix, sizeof self->prefix, "%s | ", label);
        self->prefix_len = n > 0 && (size_t)n < sizeof self->prefix ? (size_t)n : 0;
    }
    return 0;
}

void
sl_relay_free (sl_relay_t *self)
{
    free (self->buf);
    self->buf = NULL;
    self->len = 0;
}

//  Writes all iovecs, riding out EINTR and short writes.
//  A closed stdout is the one error reported (it ends the run); otherwise a
//  line that cannot be written is dropped, as is everything for fd -1.
static int
s_write_all (int fd, struct iovec *iov, int n)
{
    while (fd >= 0 && n > 0) {
        ssize_t w = writev (fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fd == STDOUT_FILENO && errno == EPIPE ? SL_ECLOSED : 0;
        }
        size_t left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

//  One line (without its newline) in prefixed mode.
static int
s_line (sl_relay_t *self, const char *line, size_t len)
{
    struct iovec iov[3] = {
        {self->prefix, self->prefix_len},
        {(void *)line, len},
        {"\n", 1},
    };
    return s_write_all (self->out_fd, iov, 3);
}

//  Writes the complete lines in buf and keeps the rest; a full buffer with
//  no newline is written as a line of its own.
static int
s_emit (sl_relay_t *self, bool at_end)
{
    int rc = 0;
    size_t start = 0;
    if (self->raw) {
        //  Raw: everything up to the last newline (all of it at the end).
        const char *nl = self->len ? memrchr (self->buf, '\n', self->len) : NULL;
        size_t upto = at_end || self->len == SL_RELAY_LINE_MAX ? self->len
                      : nl                                     ? (size_t)(nl - self->buf) + 1
                                                               : 0;
        if (upto) {
            struct iovec iov = {self->buf, upto};
            rc = s_write_all (self->out_fd, &iov, 1);
        }
        start = upto;
    }
    else {
        while (rc == 0 && start < self->len) {
            char *nl = memchr (self->buf + start, '\n', self->len - start);
            if (!nl) {
                break;
            }
            rc = s_line (self, self->buf + start, (size_t)(nl - (self->buf + start)));
            start = (size_t)(nl - self->buf) + 1;
        }
        if (rc == 0 && start < self->len &&
            (at_end || (start == 0 && self->len == SL_RELAY_LINE_MAX))) {
            rc = s_line (self, self->buf + start, self->len - start);
            start = self->len;
        }
    }
    memmove (self->buf, self->buf + start, self->len - start);
    self->len -= start;
    return rc;
}

int
sl_relay_pump (sl_relay_t *self, int fd)
{
    //  Bounded: at most 64 reads per call, so that one chatty stage cannot
    //  starve the others or the signals.
    for (int i = 0; i < 64; i++) {
        ssize_t r = read (fd, self->buf + self->len, SL_RELAY_LINE_MAX - self->len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (r <= 0) {
            int rc = s_emit (self, true);
            return rc ? rc : r == 0 ? 1 : SL_EIO;
        }
        self->len += (size_t)r;
        int rc = s_emit (self, false);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

int
sl_relay_flush (sl_relay_t *self)
{
    return self->buf ? s_emit (self, true) : 0;
}

void
sl_relay_say (bool color, const char *fmt, ...)
{
    char text[1024];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    if (color) {
        fprintf (stderr, "\033[1msluice |\033[0m %s\n", text);
    }
    else {
        fprintf (stderr, "sluice | %s\n", text);
    }
    fflush (stderr);
}
