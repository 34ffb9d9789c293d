/*  replica.h - replication between a primary broker and its replicas
    (docs/replication.md; the wire in docs/PROTOCOL.md §16).

    A broker given --replication EP serves its journal there: a replica's
    REPLICATE says which entry it holds last and is answered with the
    entries after it (REPLICATED, at most max_bytes, one answer per
    request: the replica's next request is its ack, so the primary holds at
    most one answer per replica). A broker given --replica-of EP is such a
    replica: it follows the primary, applies every entry in one write
    transaction of its own, serves reads and refuses writes with EREADONLY
    naming the primary, until `sluice promote` starts a new epoch on it.
*/
#ifndef SL_BROKER_REPLICA_H_INCLUDED
#define SL_BROKER_REPLICA_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#include "broker.h"
#include "sl_proto.h"
#include "sl_stat.h"

#define SL_REPL_MAX_REPLICAS 16       //  followers served at once
#define SL_REPL_MAX_BYTES (8u << 20)  //  default bytes of entries per answer
#define SL_REPL_CAP_BYTES (64u << 20) //  most a replica may ask for
#define SL_REPL_PARK_MS 1000          //  an idle follower hears from us this often
#define SL_REPL_RETRY_MS 3000         //  a request unanswered this long is resent
#define SL_REPL_SYNC_MS 1000          //  default --sync-timeout
//  The wait blocks the broker's loop: it stays well below the 3 s after
//  which a silent group member is dropped (groups_int.h SILENCE_MS).
#define SL_REPL_SYNC_MAX_MS 2000

//  Sets up what config asks for (journal, sockets). 0 or an SL_E* code.
int sl_broker_repl_new (sl_broker_t *self);
void sl_broker_repl_destroy (sl_broker_t *self);
//  Adds the replication sockets to the broker's poller.
void sl_broker_repl_poll (sl_broker_t *self, zpoller_t *poller);
//  One turn: answer followers, follow the primary. Never blocks.
void sl_broker_repl_tick (sl_broker_t *self);
//  After a commit: with --sync-replicas N, waits until N followers hold
//  everything committed so far. 0, or SL_ENOREPLICA after the timeout.
int sl_broker_repl_sync (sl_broker_t *self);
//  True while this broker follows a primary (takes no writes).
bool sl_broker_is_replica (sl_broker_t *self);
//  Answers a write sent to a replica: EREADONLY, naming the primary.
void sl_broker_repl_refuse (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg);
//  ADMIN "promote": a replica starts a new epoch and becomes the primary
//  in place (groups, sequences and retention are loaded from the store).
void sl_broker_repl_promote (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg);
//  Where replication stands, for logs and the progress document: role,
//  epoch, last entry, and the entries the slowest follower (primary) or
//  this replica (replica) lags behind.
typedef struct {
    bool replica;
    uint64_t epoch;
    uint64_t seq;
    uint64_t lag;       //  entries
    uint32_t followers; //  primary: followers heard from lately
} sl_repl_info_t;
void sl_broker_repl_info (sl_broker_t *self, sl_repl_info_t *info);

#endif
