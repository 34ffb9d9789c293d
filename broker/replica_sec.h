/*  replica_sec.h - the replication link's security: CURVE on the primary's
    --replication socket, the replicate right, and the replica's key
    (docs/replication.md "Security", docs/PROTOCOL.md §16).

    With --curve-secret the primary's replication socket is a CURVE server
    with the broker's key in ZAP domain "sluice-repl", where only keys whose
    file in --allow grants replicate = "*" pass the handshake; each request
    is checked again, so a key that loses the right is refused at once. A
    replica follows over CURVE when given --primary-key, with --replica-key
    (or its --curve-secret) as its own key pair. --replication-open keeps
    both ends plain, loudly. The replica watches its handshakes with the
    primary and says a refusal once, with what to do.
*/
#ifndef SL_BROKER_REPLICA_SEC_H_INCLUDED
#define SL_BROKER_REPLICA_SEC_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#include "broker.h"

typedef struct _sl_repl_sec_t sl_repl_sec_t;

//  Checks the replication options together. NULL with *err on failure
//  (SL_EINVAL: a key option without its partner, or --curve-secret on a
//  replica with neither --primary-key nor --replication-open; the reason
//  is logged).
sl_repl_sec_t *sl_repl_sec_new (sl_broker_t *broker, int *err);
void sl_repl_sec_destroy (sl_repl_sec_t **self_p);

//  Primary side, before serve binds: a CURVE server in SL_CURVE_DOMAIN_REPL
//  whose handshakes the broker's authenticator watches, or plain (said
//  loudly when the broker's other sockets are CURVE). 0 or an SL_E* code.
int sl_repl_sec_serve (sl_repl_sec_t *self, zsock_t *serve);

//  May the sender of a request on the serve socket follow? first is the
//  request's first frame after the routing id (it carries ZAP's User-Id).
//  True on a plain socket. False with *why (static) when the key lost the
//  replicate right; the first denial per key is logged.
bool sl_repl_sec_may_follow (sl_repl_sec_t *self, zframe_t *first, const char **why);

//  Replica side, before follow connects: a CURVE client with the replica's
//  keys when --primary-key is given, and a watch on its handshakes. 0 or
//  an SL_E* code (a key file unusable: logged).
int sl_repl_sec_follow (sl_repl_sec_t *self, zsock_t *follow, const char *primary);

//  Reads the follow socket's handshake events: a refusal by the primary is
//  logged once (until a handshake succeeds again), with what to do. Never
//  blocks.
void sl_repl_sec_tick (sl_repl_sec_t *self);

//  True while the primary refuses this replica's handshakes.
bool sl_repl_sec_refused (sl_repl_sec_t *self);

#endif
