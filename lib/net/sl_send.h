/*  sl_send.h - sending with a byte budget (docs/reliability.md, "Limits").

    What the broker sends is held by libzmq until it is written to the
    kernel or dropped, and a peer that never reads can make that grow
    without bound. Every frame of at least SL_SEND_COUNTED bytes is handed
    to libzmq without a copy (zmq_msg_init_data with a free callback); its
    size is added to the peer's account and to the budget's total when it
    is sent, and taken off again by the free callback, which libzmq runs on
    its I/O thread when it is done with the bytes (hence the atomics). So
    the accounts say truthfully what libzmq still holds, and a send that
    would pass the peer's share or the total is refused with SL_EBUSY
    before anything is queued.

    Smaller frames (headers, short bodies, errors) are copied and not
    counted: the socket's send high-water mark bounds how many there are.

    The budget is reference counted: frames still in libzmq's queues keep
    it (and their account) alive after sl_budget_destroy, so it may be
    destroyed before the socket is closed.
*/
#ifndef SL_SEND_H_INCLUDED
#define SL_SEND_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define SL_SEND_COUNTED 256 //  frames this size or larger are zero-copy and counted

typedef struct _sl_budget_t sl_budget_t;

//  A budget of peer_max bytes per peer (0: no per-peer bound) and total_max
//  for all peers together (0: none).
sl_budget_t *sl_budget_new (uint64_t peer_max, uint64_t total_max);
void sl_budget_destroy (sl_budget_t **self_p);

//  Bytes libzmq holds for every peer together, and for one peer.
uint64_t sl_budget_total (sl_budget_t *self);
uint64_t sl_budget_held (sl_budget_t *self, const void *peer, size_t peer_len);
//  True when `bytes` more for peer fit both the peer's share and the total.
//  A peer that holds nothing may always take one message (a FETCH reply
//  larger than the share is still served, one at a time), unless the total
//  is used up.
bool sl_budget_fits (sl_budget_t *self, const void *peer, size_t peer_len, uint64_t bytes);
//  True from the time sl_budget_stuck reported peer until its bytes move.
bool sl_budget_is_stuck (sl_budget_t *self, const void *peer, size_t peer_len);
//  Sends refused for lack of budget, since the start.
uint64_t sl_budget_refused (sl_budget_t *self);
//  Peers with an account (bounded by sl_budget_sweep).
size_t sl_budget_peers (sl_budget_t *self);
//  Forgets the accounts of peers that hold nothing and sent nothing for
//  idle_ms. Linear in the accounts; call it about once a second.
void sl_budget_sweep (sl_budget_t *self, int64_t now_ms, int64_t idle_ms);
//  Peers that hold bytes and whose bytes have not moved for stuck_ms:
//  calls fn for each (at most once per peer until it drains).
typedef void (sl_budget_stuck_fn) (void *ctx, const void *peer, size_t peer_len);
void sl_budget_stuck (sl_budget_t *self, int64_t now_ms, int64_t stuck_ms, sl_budget_stuck_fn *fn,
                      void *ctx);

//  The bytes zmsg would count (frames of at least SL_SEND_COUNTED bytes).
uint64_t sl_send_cost (zmsg_t *zmsg);

//  Sends *zmsg_p to peer on a ROUTER socket (ZMQ_ROUTER_MANDATORY set),
//  routing id first, never blocking. On success *zmsg_p is taken and set
//  to NULL. On failure the caller still owns it: SL_EBUSY (over budget,
//  nothing queued), SL_EAGAIN (the peer's queue is full), SL_ECLOSED (no
//  such peer). budget may be NULL (nothing counted).
int sl_send_router (zsock_t *router, sl_budget_t *budget, const void *peer, size_t peer_len,
                    zmsg_t **zmsg_p);

//  Publishes *zmsg_p (topic frame first) on a PUB socket, counted against
//  budget's total (PUB shares one copy among subscribers, so it is counted
//  once). SL_EBUSY when over budget: the message is not published and the
//  caller still owns it; 0 when taken.
int sl_send_pub (zsock_t *pub, sl_budget_t *budget, zmsg_t **zmsg_p);

#endif
