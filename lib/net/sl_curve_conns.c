/*  sl_curve_conns.c - the open TCP connections of one broker socket, as its
    monitor reports them, so that they can be cut when a key is revoked
    (sl_curve_auth_watch_cut).

    CURVE authenticates a connection once, at its handshake; ZeroMQ has no
    call to close one connection of a PUB socket. So the authenticator
    keeps the descriptors the monitor reports (ACCEPTED adds, CLOSED and
    DISCONNECTED remove) and, on a revocation, calls shutdown(2) on each:
    libzmq's I/O thread then sees the connection end, closes it itself and
    the peer reconnects through a new handshake, where ZAP decides again.

    A descriptor is libzmq's, not ours, and the monitor's events arrive
    late: between a CLOSED and our reading of it, the number may already
    name a new connection. So each entry keeps both ends' addresses from
    the ACCEPTED event, and a descriptor is cut only while getsockname and
    getpeername still give those addresses. Used only by the authenticator
    actor's thread.
*/
#include "sl_curve_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "sl_error.h"

typedef struct {
    int fd;
    struct sockaddr_storage local;
    struct sockaddr_storage peer;
    socklen_t local_len;
    socklen_t peer_len;
} s_conn_t;

struct _sl_curve_conns_t {
    s_conn_t *conns;
    size_t n;
    size_t cap;
};

sl_curve_conns_t *
sl_curve_conns_new (void)
{
    return calloc (1, sizeof (sl_curve_conns_t));
}

void
sl_curve_conns_destroy (sl_curve_conns_t **self_p)
{
    sl_curve_conns_t *self = *self_p;
    if (self) {
        free (self->conns);
        free (self);
        *self_p = NULL;
    }
}

static ssize_t
s_find (const sl_curve_conns_t *self, int fd)
{
    for (size_t i = 0; i < self->n; i++) {
        if (self->conns[i].fd == fd) {
            return (ssize_t)i;
        }
    }
    return -1;
}

//  Both ends of fd, as they are now. false when fd is no connected socket.
static bool
s_ends (int fd, s_conn_t *out)
{
    out->fd = fd;
    out->local_len = sizeof out->local;
    out->peer_len = sizeof out->peer;
    memset (&out->local, 0, sizeof out->local);
    memset (&out->peer, 0, sizeof out->peer);
    return getsockname (fd, (struct sockaddr *)&out->local, &out->local_len) == 0 &&
           getpeername (fd, (struct sockaddr *)&out->peer, &out->peer_len) == 0;
}

int
sl_curve_conns_add (sl_curve_conns_t *self, int fd)
{
    s_conn_t conn;
    if (fd < 0 || !s_ends (fd, &conn)) {
        return SL_EINVAL; //  gone already: nothing to cut later
    }
    ssize_t at = s_find (self, fd);
    if (at >= 0) {
        self->conns[at] = conn; //  a reused number whose CLOSED we missed
        return 0;
    }
    //  Bounded by the process's descriptors: one entry per open connection.
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        s_conn_t *grown = realloc (self->conns, cap * sizeof *grown);
        if (!grown) {
            return SL_ENOMEM;
        }
        self->conns = grown;
        self->cap = cap;
    }
    self->conns[self->n++] = conn;
    return 0;
}

void
sl_curve_conns_remove (sl_curve_conns_t *self, int fd)
{
    ssize_t at = s_find (self, fd);
    if (at >= 0) {
        self->conns[at] = self->conns[--self->n];
    }
}

size_t
sl_curve_conns_size (const sl_curve_conns_t *self)
{
    return self->n;
}

size_t
sl_curve_conns_cut (sl_curve_conns_t *self)
{
    size_t cut = 0;
    for (size_t i = 0; i < self->n; i++) {
        const s_conn_t *was = &self->conns[i];
        s_conn_t now;
        if (s_ends (was->fd, &now) && now.local_len == was->local_len &&
            now.peer_len == was->peer_len &&
            memcmp (&now.local, &was->local, was->local_len) == 0 &&
            memcmp (&now.peer, &was->peer, was->peer_len) == 0 &&
            shutdown (was->fd, SHUT_RDWR) == 0) {
            cut++;
        }
    }
    //  Every entry is done with: libzmq reports the closes, and a number
    //  reused meanwhile is added again by its own ACCEPTED.
    self->n = 0;
    return cut;
}
