/*  sl_send.c - sending with a byte budget (see sl_send.h).

    Counting happens in two places on two threads: the sender adds a
    frame's size before zmq_msg_send, and libzmq's I/O thread subtracts it
    in s_frame_free when the bytes have been written or dropped. Both
    counters (the peer's and the total) are atomics; everything else in an
    account (the table, the stuck clock) belongs to the sending thread.
*/
#include "sl_send.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sl_error.h"
#include "sl_util.h"

typedef struct _account_t account_t;

struct _sl_budget_t {
    atomic_uint_fast64_t held; //  bytes libzmq holds, all accounts
    atomic_int refs;           //  the owner + one per account
    uint64_t peer_max;
    uint64_t total_max;
    uint64_t refused;
    zhashx_t *accounts; //  hex routing id -> account_t (sending thread)
    account_t *live;    //  the PUB socket's one account
};

struct _account_t {
    atomic_uint_fast64_t held;  //  bytes libzmq holds for this peer
    atomic_uint_fast64_t freed; //  bytes libzmq let go of, ever: progress
    atomic_int refs;            //  the table + one per frame in flight
    sl_budget_t *budget;
    //  Sending thread only.
    int64_t active_ms; //  last send or progress
    uint64_t freed_seen;
    bool reported; //  told the owner it is stuck
    uint8_t peer[256];
    size_t peer_len;
};

//  A counted frame in libzmq's hands: its bytes stay in the zframe.
typedef struct {
    account_t *account;
    zframe_t *frame;
    size_t size;
} held_t;

static void
s_budget_unref (sl_budget_t *self)
{
    if (atomic_fetch_sub (&self->refs, 1) == 1) {
        free (self);
    }
}

static void
s_account_unref (account_t *account)
{
    if (atomic_fetch_sub (&account->refs, 1) == 1) {
        s_budget_unref (account->budget);
        free (account);
    }
}

static account_t *
s_account_new (sl_budget_t *budget, const void *peer, size_t peer_len)
{
    account_t *account = calloc (1, sizeof *account);
    if (!account) {
        return NULL;
    }
    atomic_init (&account->held, 0);
    atomic_init (&account->freed, 0);
    atomic_init (&account->refs, 1);
    account->budget = budget;
    atomic_fetch_add (&budget->refs, 1);
    account->peer_len = peer_len < sizeof account->peer ? peer_len : sizeof account->peer;
    memcpy (account->peer, peer, account->peer_len);
    return account;
}

static void
s_account_destroy (void **item)
{
    account_t *account = *item;
    if (account) {
        s_account_unref (account);
        *item = NULL;
    }
}

sl_budget_t *
sl_budget_new (uint64_t peer_max, uint64_t total_max)
{
    sl_budget_t *self = calloc (1, sizeof *self);
    if (!self) {
        return NULL;
    }
    atomic_init (&self->held, 0);
    atomic_init (&self->refs, 1);
    self->peer_max = peer_max;
    self->total_max = total_max;
    self->accounts = zhashx_new ();
    if (!self->accounts) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->accounts, s_account_destroy);
    self->live = s_account_new (self, "", 0);
    if (!self->live) {
        zhashx_destroy (&self->accounts);
        free (self);
        return NULL;
    }
    return self;
}

void
sl_budget_destroy (sl_budget_t **self_p)
{
    sl_budget_t *self = *self_p;
    if (!self) {
        return;
    }
    zhashx_destroy (&self->accounts);
    s_account_unref (self->live);
    s_budget_unref (self);
    *self_p = NULL;
}

//  The table's key for a routing id: its bytes in hex.
static void
s_key (const void *peer, size_t peer_len, char *key)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = peer;
    if (peer_len > 255) {
        peer_len = 255;
    }
    for (size_t i = 0; i < peer_len; i++) {
        key[2 * i] = hex[p[i] >> 4];
        key[2 * i + 1] = hex[p[i] & 15];
    }
    key[2 * peer_len] = 0;
}

static account_t *
s_account (sl_budget_t *self, const void *peer, size_t peer_len, bool create)
{
    char key[512];
    s_key (peer, peer_len, key);
    account_t *account = zhashx_lookup (self->accounts, key);
    if (!account && create) {
        account = s_account_new (self, peer, peer_len);
        if (account && zhashx_insert (self->accounts, key, account) != 0) {
            s_account_unref (account);
            account = NULL;
        }
    }
    return account;
}

uint64_t
sl_budget_total (sl_budget_t *self)
{
    return atomic_load (&self->held);
}

uint64_t
sl_budget_held (sl_budget_t *self, const void *peer, size_t peer_len)
{
    account_t *account = s_account (self, peer, peer_len, false);
    return account ? atomic_load (&account->held) : 0;
}

uint64_t
sl_budget_refused (sl_budget_t *self)
{
    return self->refused;
}

size_t
sl_budget_peers (sl_budget_t *self)
{
    return zhashx_size (self->accounts);
}

static bool
s_fits (sl_budget_t *self, account_t *account, uint64_t bytes)
{
    if (bytes == 0) {
        return true;
    }
    uint64_t total = atomic_load (&self->held);
    if (self->total_max && total > 0 && total + bytes > self->total_max) {
        return false;
    }
    uint64_t held = account ? atomic_load (&account->held) : 0;
    if (self->peer_max && held > 0 && held + bytes > self->peer_max) {
        return false;
    }
    return true;
}

bool
sl_budget_fits (sl_budget_t *self, const void *peer, size_t peer_len, uint64_t bytes)
{
    return s_fits (self, s_account (self, peer, peer_len, false), bytes);
}

bool
sl_budget_is_stuck (sl_budget_t *self, const void *peer, size_t peer_len)
{
    account_t *account = s_account (self, peer, peer_len, false);
    return account && account->reported;
}

void
sl_budget_sweep (sl_budget_t *self, int64_t now_ms, int64_t idle_ms)
{
    zlistx_t *gone = zlistx_new ();
    if (!gone) {
        return;
    }
    for (account_t *account = zhashx_first (self->accounts); account;
         account = zhashx_next (self->accounts)) {
        if (atomic_load (&account->held) == 0 && now_ms - account->active_ms > idle_ms) {
            zlistx_add_end (gone, (void *)zhashx_cursor (self->accounts));
        }
    }
    for (const char *key = zlistx_first (gone); key; key = zlistx_next (gone)) {
        zhashx_delete (self->accounts, key);
    }
    zlistx_destroy (&gone);
}

void
sl_budget_stuck (sl_budget_t *self, int64_t now_ms, int64_t stuck_ms, sl_budget_stuck_fn *fn,
                 void *ctx)
{
    for (account_t *account = zhashx_first (self->accounts); account;
         account = zhashx_next (self->accounts)) {
        uint64_t freed = atomic_load (&account->freed);
        if (freed != account->freed_seen || atomic_load (&account->held) == 0) {
            account->freed_seen = freed;
            account->active_ms = now_ms;
            account->reported = false;
        }
        else if (!account->reported && now_ms - account->active_ms > stuck_ms) {
            account->reported = true;
            fn (ctx, account->peer, account->peer_len);
        }
    }
}

uint64_t
sl_send_cost (zmsg_t *zmsg)
{
    uint64_t bytes = 0;
    for (zframe_t *f = zmsg_first (zmsg); f; f = zmsg_next (zmsg)) {
        if (zframe_size (f) >= SL_SEND_COUNTED) {
            bytes += zframe_size (f);
        }
    }
    return bytes;
}

//  libzmq is done with a counted frame: runs on its I/O thread.
static void
s_frame_free (void *data, void *hint)
{
    (void)data;
    held_t *held = hint;
    account_t *account = held->account;
    atomic_fetch_sub (&account->held, held->size);
    atomic_fetch_add (&account->freed, held->size);
    atomic_fetch_sub (&account->budget->held, held->size);
    zframe_destroy (&held->frame);
    free (held);
    s_account_unref (account);
}

//  Sends one frame: counted and zero-copy when large (the frame moves into
//  libzmq), copied otherwise. The frame is consumed either way. 0 or errno.
static int
s_send_frame (zsock_t *sock, account_t *account, zframe_t *frame, int flags)
{
    size_t size = zframe_size (frame);
    if (!account || size < SL_SEND_COUNTED) {
        int rc = zmq_send (zsock_resolve (sock), zframe_data (frame), size, flags);
        zframe_destroy (&frame);
        return rc < 0 ? zmq_errno () : 0;
    }
    held_t *held = malloc (sizeof *held);
    if (!held) {
        zframe_destroy (&frame);
        return ENOMEM;
    }
    held->account = account;
    held->frame = frame;
    held->size = size;
    atomic_fetch_add (&account->refs, 1);
    atomic_fetch_add (&account->held, size);
    atomic_fetch_add (&account->budget->held, size);
    zmq_msg_t msg;
    //  From here the free callback owns held (and undoes the counts).
    zmq_msg_init_data (&msg, zframe_data (frame), size, s_frame_free, held);
    if (zmq_msg_send (&msg, zsock_resolve (sock), flags) < 0) {
        int err = zmq_errno ();
        zmq_msg_close (&msg);
        return err;
    }
    return 0;
}

//  Sends every frame of *zmsg_p after the first has been accepted.
static void
s_send_rest (zsock_t *sock, account_t *account, zmsg_t **zmsg_p)
{
    zframe_t *frame;
    while ((frame = zmsg_pop (*zmsg_p))) {
        int flags = ZMQ_DONTWAIT | (zmsg_size (*zmsg_p) ? ZMQ_SNDMORE : 0);
        //  After the first frame a ROUTER or PUB does not refuse a part
        //  (it drops the whole message itself), so errors end nothing here.
        s_send_frame (sock, account, frame, flags);
    }
    zmsg_destroy (zmsg_p);
}

int
sl_send_router (zsock_t *router, sl_budget_t *budget, const void *peer, size_t peer_len,
                zmsg_t **zmsg_p)
{
    zmsg_t *zmsg = *zmsg_p;
    if (!zmsg || zmsg_size (zmsg) == 0) {
        return SL_EINVAL;
    }
    account_t *account = NULL;
    uint64_t cost = sl_send_cost (zmsg);
    if (budget && cost) {
        account = s_account (budget, peer, peer_len, true);
        if (!account) {
            return SL_ENOMEM;
        }
        if (!s_fits (budget, account, cost)) {
            budget->refused++;
            return SL_EBUSY;
        }
    }
    if (account && atomic_load (&account->held) == 0) {
        account->active_ms = sl_mono_ms ();
    }
    if (zmq_send (zsock_resolve (router), peer, peer_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        return zmq_errno () == EHOSTUNREACH ? SL_ECLOSED : SL_EAGAIN;
    }
    s_send_rest (router, account, zmsg_p);
    return 0;
}

int
sl_send_pub (zsock_t *pub, sl_budget_t *budget, zmsg_t **zmsg_p)
{
    zmsg_t *zmsg = *zmsg_p;
    if (!zmsg || zmsg_size (zmsg) == 0) {
        return SL_EINVAL;
    }
    account_t *account = budget ? budget->live : NULL;
    if (budget && !s_fits (budget, NULL, sl_send_cost (zmsg))) {
        budget->refused++;
        return SL_EBUSY;
    }
    s_send_rest (pub, account, zmsg_p);
    return 0;
}
