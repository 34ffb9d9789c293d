/*  rights.h - what each key may do, request by request, with CURVE on
    (docs/security.md, docs/PROTOCOL.md §12). Internal to the broker.

    The allow table (lib/net/sl_curve_auth.c) says which rights a key has on
    which names; this module says which rights each command needs, binds
    producer names to keys, and decides whose RESULT may end a lease.
*/
#ifndef SL_BROKER_RIGHTS_H_INCLUDED
#define SL_BROKER_RIGHTS_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#include "broker.h"
#include "sl_group.h"
#include "sl_proto.h"

//  Checks a decoded request against its sender's key (ZAP's User-Id; ""
//  without CURVE, when every request passes). A denial is answered with
//  ERROR EDENIED naming the key and what it lacks, logged once per key,
//  right and name, and counted; true is returned and the request must be
//  dropped. When the request may go on, owner (owner_size > 200) receives
//  the key's name, which a PUBLISH binds its producer name to ("" without
//  CURVE).
bool sl_rights_denied (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg, const char *key,
                       char *owner, size_t owner_size);

//  Inside the group commit's transaction, before a PUBLISH is applied:
//  binds its producer name to owner if the name is free; SL_EDENIED (logged
//  and counted) when another key owns it. 0 without an owner (no CURVE).
int sl_rights_bind_producer (sl_broker_t *self, const sl_msg_t *msg, const char *owner);

//  The tokens that name a connection (peer) and its key, for lease holders.
//  Derived with a secret drawn at start, so they cannot be forged.
void sl_rights_holder (sl_broker_t *self, zframe_t *peer, const char *key, sl_holder_t *holder);

//  A RESULT may end a lease only when it comes from the connection, with
//  the key, that the lease was handed to. 0: go on (also for a lease the
//  group does not know: the group drops it as late). SL_EDENIED: another
//  key; answered, logged once and counted here. SL_ESTATE: the holder's key
//  on another connection (a reconnected member's late result): the caller
//  drops it quietly and the records are handed out again.
int sl_rights_result (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg, const char *key);

#endif
