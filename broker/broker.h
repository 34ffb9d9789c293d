/*  broker.h - the Sluice broker core: one ROUTER for commands, one PUB for
    the live feed, one LMDB store. Driven by sluice-broker's main.c and, in
    process, by tests.
*/
#ifndef SL_BROKER_H_INCLUDED
#define SL_BROKER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "sl_store.h"

#define SL_BROKER_MAX_OVERRIDES 64

//  Default limits (docs/reliability.md, "Limits"; each has a flag).
#define SL_BROKER_PEER_BUDGET (32u << 20)
#define SL_BROKER_TOTAL_BUDGET (512u << 20)
#define SL_BROKER_LIVE_BUDGET (64u << 20)
#define SL_BROKER_STUCK_MS 30000
#define SL_BROKER_MAX_GROUPS 1024
#define SL_BROKER_MAX_STREAMS 10000
#define SL_BROKER_MAX_PRODUCERS 16384
#define SL_BROKER_MAX_CONNECTIONS 4096
#define SL_BROKER_HANDSHAKE_MS 5000

typedef struct {
    char pattern[SL_NAME_MAX + 1]; //  stream name or fnmatch(3) pattern
    sl_retention_t retention;
} sl_retention_override_t;

typedef struct {
    const char *data_dir;       //  LMDB environment directory
    const char *listen;         //  command endpoint, "tcp://HOST:PORT"
    const char *pub;            //  live endpoint; NULL = listen port + 1
    bool fsync;                 //  --fsync: the same as sync = SL_SYNC_FULL
    sl_store_sync_t sync;       //  --sync; SL_SYNC_DEFAULT = full
    bool check;                 //  --check: walk the store, report, exit
    uint64_t initial_map;       //  initial LMDB map size, 0 = default
    uint64_t max_batch_bytes;   //  largest PUBLISH data frame
    uint32_t max_batch_records; //  largest PUBLISH count
    uint32_t max_depth;         //  deepest value nesting
    sl_retention_t retention;   //  defaults for every stream
    sl_retention_override_t overrides[SL_BROKER_MAX_OVERRIDES];
    int n_overrides;
    //  Security (docs/security.md): with curve_secret every socket is a
    //  CURVE server, and allow_dir (or, for testing, allow_any) is required.
    const char *curve_secret; //  the broker's NAME.key_secret
    const char *allow_dir;    //  allowed client keys (NAME.key), re-read on change
    bool allow_any;           //  accept any client key: encryption only
    //  Limits (docs/reliability.md, "Limits"): what any peer can make the
    //  broker hold. 0 means the default (SL_BROKER_*).
    uint64_t peer_budget;     //  bytes of replies and work libzmq may hold per peer
    uint64_t total_budget;    //  the same for all peers together
    uint64_t live_budget;     //  bytes of live feed libzmq may hold
    int64_t stuck_ms;         //  a peer whose replies do not move this long is dropped
    uint32_t max_groups;      //  worker groups
    uint32_t max_streams;     //  streams
    uint32_t max_state_keys;  //  key states per keyed group (keyed_state.c)
    uint32_t max_producers;   //  producer sequences cached in memory (the rest on disk)
    uint32_t max_connections; //  open connections (clamped below RLIMIT_NOFILE)
    int handshake_ms;         //  a connection that does not greet within this is closed
    //  Operating (docs/operate.md): HOST:PORT of the HTTP server (/metrics,
    //  /healthz, /api/stat, the live page); NULL = off.
    const char *http;
    //  Replication (docs/replication.md): NULL / 0 = off.
    const char *replication; //  where this broker serves its journal to replicas
    const char *replica_of;  //  the primary's --replication endpoint: follow it
    uint32_t sync_replicas;  //  confirm only what this many replicas committed
    int sync_timeout_ms;     //  ... waiting at most this long (0 = 1000)
    uint64_t journal_bytes;  //  journal kept for replicas (0 = 1 GiB)
    //  With curve_secret the replication socket is a CURVE server too, and
    //  a replica a CURVE client (replica_sec.c): its key pair (replica_key,
    //  else curve_secret) and the primary's public key (primary_key).
    //  replication_open keeps both plain, for a private network.
    const char *replica_key; //  this replica's NAME.key_secret
    const char *primary_key; //  the primary's NAME.key
    bool replication_open;
} sl_broker_config_t;

typedef struct _sl_broker_t sl_broker_t;

//  Fills config with the defaults.
void sl_broker_config_defaults (sl_broker_config_t *config);
//  Parses "PATTERN:records=N,bytes=SIZE,age=DURATION" (any subset) into an
//  override. 0 or SL_EINVAL with a reason in *why.
int sl_broker_parse_override (const char *text, sl_retention_override_t *out, const char **why);

//  Opens the store and binds both sockets. NULL on failure (logged), with
//  the reason in *err.
sl_broker_t *sl_broker_new (const sl_broker_config_t *config, int *err);
void sl_broker_destroy (sl_broker_t **self_p);

//  Serves until zsys_interrupted is set (SIGINT/SIGTERM) or sl_broker_stop.
//  Finishes the commit in progress before returning. 0 or an error code.
int sl_broker_run (sl_broker_t *self);
void sl_broker_stop (sl_broker_t *self);

//  Bound endpoints (after sl_broker_new): useful with port 0 / "*".
const char *sl_broker_endpoint (sl_broker_t *self);
const char *sl_broker_pub_endpoint (sl_broker_t *self);

#endif
