/*  conns.h - the broker's connection cap (docs/reliability.md, "Limits").

    libzmq accepts every TCP connection on a bound socket and gives the
    application no say. A socket monitor reports each accepted connection
    with its descriptor; a connection over the cap is shut down (shutdown(2),
    never close(2): the descriptor stays libzmq's, which then sees the
    connection end and closes it). The cap is kept below the descriptor
    limit, so libzmq's accept never fails for want of a descriptor (in
    libzmq 4.3.4 a failing accept leaves the listener readable and its I/O
    thread spinning).
*/
#ifndef SL_BROKER_CONNS_H_INCLUDED
#define SL_BROKER_CONNS_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

typedef struct _sl_conns_t sl_conns_t;

//  Raises RLIMIT_NOFILE to its hard limit and returns the cap that fits
//  under it: wanted, or fewer (logged) when the limit is lower.
uint32_t sl_conns_raise_limit (uint32_t wanted);

//  Watches the connections of every socket given to sl_conns_watch,
//  together at most cap open at once. NULL on failure.
sl_conns_t *sl_conns_new (uint32_t cap);
void sl_conns_destroy (sl_conns_t **self_p);
//  Starts watching sock (before it binds). 0 or an error.
int sl_conns_watch (sl_conns_t *self, zsock_t *sock);
//  Reads every event waiting and enforces the cap. Cheap when idle.
void sl_conns_poll (sl_conns_t *self);
//  A socket to wait on: readable when events are waiting (index 0..n-1).
zsock_t *sl_conns_socket (sl_conns_t *self, int index);
int sl_conns_sockets (sl_conns_t *self);

size_t sl_conns_open (sl_conns_t *self);
uint64_t sl_conns_refused (sl_conns_t *self);

#endif
