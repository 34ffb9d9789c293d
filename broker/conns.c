/*  conns.c - the broker's connection cap (see conns.h).

    The open connections are a set of descriptors: ACCEPTED adds one,
    DISCONNECTED removes it. A set rather than a counter, so that an event
    libzmq does not send for some path cannot make the count drift: a
    descriptor reused for a new connection is simply added again.
*/
#include "conns.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include "sl_error.h"
#include "sl_log.h"

#define S_MAX_WATCHED 4
#define S_FD_RESERVE 64 //  descriptors kept for LMDB, logs, the monitor, clients

struct _sl_conns_t {
    uint32_t cap;
    zsock_t *monitors[S_MAX_WATCHED];
    int n_monitors;
    uint8_t *open; //  open[fd]: a watched connection
    size_t fd_max;
    size_t n_open;
    uint64_t refused;
    bool warned;
};

uint32_t
sl_conns_raise_limit (uint32_t wanted)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0) {
        return wanted;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        struct rlimit raised = {limit.rlim_max, limit.rlim_max};
        if (setrlimit (RLIMIT_NOFILE, &raised) == 0) {
            limit = raised;
        }
    }
    uint64_t room =
        limit.rlim_cur > 2 * S_FD_RESERVE ? limit.rlim_cur - S_FD_RESERVE : limit.rlim_cur / 2;
    if (wanted > room) {
        sl_warn ("broker",
                 "--max-connections %u is above what the descriptor limit (%llu) "
                 "allows; using %llu (raise `ulimit -n` to allow more)",
                 wanted, (unsigned long long)limit.rlim_cur, (unsigned long long)room);
        return (uint32_t)room;
    }
    return wanted;
}

sl_conns_t *
sl_conns_new (uint32_t cap)
{
    sl_conns_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    struct rlimit limit;
    self->fd_max = getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < (1u << 24)
                       ? (size_t)limit.rlim_cur
                       : (1u << 24);
    self->open = calloc (self->fd_max, 1);
    if (!self->open) {
        free (self);
        return NULL;
    }
    self->cap = cap;
    return self;
}

void
sl_conns_destroy (sl_conns_t **self_p)
{
    sl_conns_t *self = *self_p;
    if (!self) {
        return;
    }
    for (int i = 0; i < self->n_monitors; i++) {
        zsock_destroy (&self->monitors[i]);
    }
    free (self->open);
    free (self);
    *self_p = NULL;
}

int
sl_conns_watch (sl_conns_t *self, zsock_t *sock)
{
    if (self->n_monitors == S_MAX_WATCHED) {
        return SL_EINVAL;
    }
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://sluice-conns-%p", (void *)sock);
    if (zmq_socket_monitor (zsock_resolve (sock), endpoint,
                            ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
        return SL_EINVAL;
    }
    zsock_t *monitor = zsock_new (ZMQ_PAIR);
    if (!monitor) {
        return SL_ENOMEM;
    }
    if (zsock_connect (monitor, "%s", endpoint) != 0) {
        zsock_destroy (&monitor);
        return SL_EINVAL;
    }
    self->monitors[self->n_monitors++] = monitor;
    return 0;
}

static void
s_event (sl_conns_t *self, uint16_t event, int fd)
{
    if (fd < 0 || (size_t)fd >= self->fd_max) {
        return;
    }
    if (event == ZMQ_EVENT_DISCONNECTED) {
        if (self->open[fd]) {
            self->open[fd] = 0;
            self->n_open--;
        }
        return;
    }
    //  ACCEPTED
    if (!self->open[fd]) {
        self->open[fd] = 1;
        self->n_open++;
    }
    if (self->n_open > self->cap) {
        //  libzmq owns the descriptor: end the connection, let it close.
        shutdown (fd, SHUT_RDWR);
        self->refused++;
        if (!self->warned) {
            self->warned = true;
            sl_warn ("broker",
                     "%u connections open: closing new ones (--max-connections; "
                     "logged once)",
                     self->cap);
        }
    }
    else if (self->warned && self->n_open < self->cap / 2) {
        self->warned = false;
    }
}

void
sl_conns_poll (sl_conns_t *self)
{
    for (int i = 0; i < self->n_monitors; i++) {
        zsock_t *monitor = self->monitors[i];
        //  Bounded: at most the events waiting now, and a few thousand.
        for (int n = 0; n < 4096 && (zsock_events (monitor) & ZMQ_POLLIN); n++) {
            zmsg_t *event = zmsg_recv (monitor);
            if (!event) {
                break;
            }
            zframe_t *head = zmsg_first (event);
            if (head && zframe_size (head) == 6) {
                const uint8_t *d = zframe_data (head);
                uint16_t id;
                int32_t value;
                memcpy (&id, d, 2);
                memcpy (&value, d + 2, 4);
                s_event (self, id, value);
            }
            zmsg_destroy (&event);
        }
    }
}

zsock_t *
sl_conns_socket (sl_conns_t *self, int index)
{
    return index < self->n_monitors ? self->monitors[index] : NULL;
}

int
sl_conns_sockets (sl_conns_t *self)
{
    return self->n_monitors;
}

size_t
sl_conns_open (sl_conns_t *self)
{
    return self->n_open;
}

uint64_t
sl_conns_refused (sl_conns_t *self)
{
    return self->refused;
}
