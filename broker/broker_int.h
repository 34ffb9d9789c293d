/*  broker_int.h - the broker's internals, shared by broker.c (the loop and
    the reads), commit.c (the write path: group commit), live.c (the live
    feed), seqs.c (producer dedupe cache) and reply.c (replies).
*/
#ifndef SL_BROKER_INT_H_INCLUDED
#define SL_BROKER_INT_H_INCLUDED

#include <czmq.h>

#include "broker.h"
#include "groups.h"
#include "rights.h"
#include "seqs.h"
#include "sl_batch.h"
#include "sl_buf.h"
#include "sl_stat.h"
#include "sl_proto.h"

#define GATHER_MAX_MSGS 1024         //  commands taken per loop turn
#define GATHER_MAX_BYTES (64u << 20) //  batch bytes taken per loop turn
#define POLL_MS 100
#define RETAIN_EVERY_MS 1000
#define FETCH_DEFAULT_RECORDS 10000
#define FETCH_DEFAULT_BYTES (4u << 20)
#define FETCH_MAX_BYTES (16u << 20)
#define HEARTBEAT_MS 1000
#define BAD_PEERS_MAX 10000 //  peers already logged as bad
#define MAX_GROUP_RETRIES 8
#define TOUCHED_MAX GATHER_MAX_MSGS * 2 //  streams appended by one group
#define STAT_CACHE_MS 250               //  a progress document serves this long
#define CLIENTS_MAX 1024                //  clients whose PING counters are kept
#define CLIENTS_SILENT_MS 10000         //  ... until silent this long

//  A write waiting for the group commit: PUBLISH, COMMIT, JOIN or RESULT.
typedef struct {
    zframe_t *peer; //  routing id
    sl_msg_t msg;
    zframe_t *data; //  PUBLISH: the batch; RESULT: the output
    //  Outcome, filled while applying the group.
    int rc;         //  0 or SL_E*
    uint64_t acked; //  producer's acked seq after this publish
    sl_batch_header_t header;
    uint32_t appended;           //  records appended (0: duplicate, or not a PUBLISH)
    uint64_t next;               //  stream next after the append
    char key[64];                //  the sender's CURVE key (Z85), "" without CURVE
    char owner[SL_NAME_MAX + 1]; //  its key's name: PUBLISH binds the producer to it
    bool live_taken;             //  data is published live as it is (live.c)
} pending_t;

//  A batch appended by the current group, published live once the group
//  has committed (live.c): its records are either a pending write's whole
//  data frame, sent on without a copy, or a copy taken at the append.
typedef struct {
    size_t stream; //  index into touched
    sl_batch_header_t header;
    pending_t *src; //  the pending write whose data frame it is, or NULL
    zframe_t *copy; //  else its records
} appended_t;

//  A stream appended to by the current group, and its first new offset.
typedef struct {
    char name[SL_NAME_MAX + 1];
    uint64_t from;
} touched_t;

struct _sl_broker_t {
    sl_broker_config_t config;
    sl_store_t *store;
    sl_groups_t *groups;
    zsock_t *router;
    zsock_t *pub;
    char *endpoint;       //  bound command endpoint
    char *pub_endpoint;   //  bound live endpoint
    char *pub_advertised; //  what WELCOME says
    sl_seqs_t *seqs;      //  producer dedupe cache (seqs.c)
    zhashx_t *bad_peers;  //  peers already logged for a malformed message
    pending_t *pending;   //  writes of the current group
    size_t n_pending;
    size_t gathered_bytes;
    touched_t *touched; //  streams appended by the current group
    size_t n_touched;
    appended_t *appended; //  batches appended by the current group, in order
    size_t n_appended, cap_appended;
    pending_t *applying; //  the pending write being applied, NULL for dead letters
    bool stopping;
    bool disk_full; //  last commit failed for lack of space
    int64_t next_retain_ms;
    //  Counters, logged at exit.
    uint64_t n_malformed;
    uint64_t n_batches;
    uint64_t n_records;
    uint64_t n_duplicates;
    uint64_t n_commits;
    uint64_t n_commit_writes; //  pending writes those commits carried
    uint64_t commit_us;       //  time inside the store's commit (its writes and syncs)
    //  Security (sl_curve.h): NULL when the broker runs plain.
    struct _sl_curve_auth_t *auth;
    zhashx_t *denied_logged; //  "key/right/stream" denials already logged
    uint64_t n_denied;
    //  Lease holders (rights.c): tokens keyed with a secret of this run.
    uint8_t holder_secret[32];
    bool holder_ready;
    //  Limits (limits.c, docs/reliability.md "Limits").
    struct _sl_budget_t *budget; //  replies and work held per peer (sl_send.h)
    struct _sl_budget_t *live;   //  live feed held for subscribers
    struct _sl_conns_t *conns;   //  connection cap (conns.c), CURVE off
    uint32_t max_conns;          //  that cap, kept by the CURVE watcher when on
    zhashx_t *streams;           //  stream names known to exist or admitted
    int64_t next_sweep_ms;
    uint64_t n_busy;         //  requests answered EBUSY
    uint64_t n_live_skipped; //  live messages not published (over budget)
    uint64_t n_limited;      //  requests refused with ELIMIT
    //  Operating (stat.c, admin.c, http.c).
    zhashx_t *retain;        //  stream -> sl_retention_t set at run time (stored)
    sl_buf_t stat_doc;       //  the last progress document, encoded
    int64_t stat_at;         //  when it was made (mono ms)
    struct _sl_http_t *http; //  --http server, or NULL
    int64_t next_http_ms;    //  next snapshot for the HTTP server
    zhashx_t *clients;       //  peer hex -> counters reported with PING (clients.c)
    struct _sl_repl_t *repl; //  replication (replica.c), NULL when off
};

//  state_read.c: a STATE_READ (docs/PROTOCOL.md §14.5), answered from the
//  store's table of key states; data holds its cursor frame, if any.
void sl_broker_on_state_read (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg, zmsg_t *data);

//  reply.c: replies to one peer, sent within its budget (sl_broker_send).
void sl_broker_reply (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg);
void sl_broker_reply_error (sl_broker_t *self, zframe_t *peer, uint64_t req, int code,
                            const char *text, uint64_t seq);
//  The bytes a reply to a read (FETCH, STATE_READ) may hold: what msg asks
//  (max_bytes, by default FETCH_DEFAULT_BYTES), at most cap and the peer
//  budget. 0 when such a reply does not fit the peer's budget now: ERROR
//  EBUSY is answered (a peer that asks without reading gets no memory).
uint64_t sl_broker_read_budget (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg,
                                uint64_t cap);
//  ERROR for a PUBLISH: req = its seq, with its stream and producer, so that
//  the client can tell it from the answer to another request (PROTOCOL §5.2).
void sl_broker_reply_publish_error (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg,
                                    int code, const char *text, uint64_t seq);

//  reads.c: SEEK, FETCH and LIST, answered at once from the store.
void sl_broker_on_seek (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg);
void sl_broker_on_fetch (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg);
void sl_broker_on_list (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg);

//  limits.c
int sl_broker_limits_new (sl_broker_t *self);
void sl_broker_limits_destroy (sl_broker_t *self);
//  Admits a stream name: 0 if it exists or there is room for one more,
//  SL_ELIMIT (with *why) when the stream cap is reached.
int sl_broker_admit_stream (sl_broker_t *self, const char *stream, const char **why);
//  A commit appended to stream: it counts against the stream cap from now.
void sl_broker_stream_written (sl_broker_t *self, const char *stream);
//  Admits a PUBLISH or JOIN against the stream cap (every stream it may
//  create). 0, or SL_ELIMIT with *why.
int sl_broker_admit (sl_broker_t *self, const sl_msg_t *msg, const char **why);
//  Sends a reply within the peer's byte budget (sl_send.h); a reply that
//  does not fit becomes ERROR EBUSY for req. Takes *reply_p.
void sl_broker_send (sl_broker_t *self, zframe_t *peer, uint64_t req, zmsg_t **reply_p);
//  Once a second: forgets idle accounts, drops stuck peers' leases, reads
//  the connection monitor.
void sl_broker_limits_tick (sl_broker_t *self, int64_t now_ms);
void sl_broker_limits_log (sl_broker_t *self);

//  stat.c: the progress document (cached STAT_CACHE_MS); NULL with *err.
const sl_buf_t *sl_broker_stat_doc (sl_broker_t *self, int *err);
void sl_broker_on_stat (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg);
//  Hands the HTTP server a fresh snapshot (stat.c).
void sl_broker_http_snapshot (sl_broker_t *self);

//  clients.c: counters reported with PING; the document's "clients".
void sl_broker_client_report (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg);
int sl_broker_clients_stat (sl_broker_t *self, sl_stat_t *doc);

//  admin.c
int sl_broker_retain_load (sl_broker_t *self);
const sl_retention_t *sl_broker_retain_get (sl_broker_t *self, const char *stream);
void sl_broker_on_admin (sl_broker_t *self, zframe_t *peer, const sl_msg_t *msg);

//  live.c: the live feed of what a group appended.
//  Notes an append (sl_groups_appended_fn; ctx is the broker).
void sl_broker_live_appended (void *ctx, const char *stream, const sl_batch_header_t *header,
                              const uint8_t *records, size_t len);
//  Publishes every noted append, in order, then forgets them.
void sl_broker_live_publish (sl_broker_t *self);
//  Forgets the noted appends (a group that failed or is redone).
void sl_broker_live_clear (sl_broker_t *self);

//  commit.c
int sl_broker_check_publish (sl_broker_t *self, const sl_msg_t *msg, zframe_t *data,
                             const char **why);
void sl_broker_commit_group (sl_broker_t *self);
void sl_broker_pending_clear (sl_broker_t *self);
void sl_broker_retain_all (sl_broker_t *self);

#endif
