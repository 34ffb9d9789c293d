/*  worker.h - sluice-worker's core: a member of a worker group
    (docs/PROTOCOL.md §14).

    Two layers, both drivable in-process:
    - sl_worker_proc_t (proc.c) runs one operator over input batches: it turns each
      WORK batch into an output batch and a list of failed records, applying
      the operator ABI's retry contract (include/sluice/plugin.h). No I/O.
    - sl_worker_run (worker.c) is the member's session: HELLO, JOIN, then WORK in,
      RESULT out, PING when idle, JOIN again after a reconnect, and on
      SIGINT/SIGTERM (zsys_interrupted) or *stop: finish the batch in hand,
      send its RESULT, LEAVE, return 0.
*/
#ifndef SL_WORKER_H_INCLUDED
#define SL_WORKER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "operator.h"

//  What a run did, for callers and tests.
typedef struct {
    uint64_t joins;       //  JOINED received (1 + rejoins)
    uint64_t batches;     //  WORK batches answered with a RESULT
    uint64_t records_in;  //  input records processed
    uint64_t records_out; //  output records sent
    uint64_t failed;      //  input records reported as failed (retry or fail)
} sl_worker_stats_t;

typedef struct {
    const char *broker; //  tcp://HOST:PORT
    const char *group;
    const char *in;       //  input stream
    const char *out;      //  output stream
    const char *member;   //  NULL: HOSTNAME-PID
    uint32_t window;      //  leases held at once, 1..64 (default 32)
    uint32_t batch;       //  records per lease, 1..65536 (0: 1000, 20000 with key)
    uint32_t shares;      //  --shares: of a new keyed group's key space (0: 16)
    bool from_end;        //  a new group starts at the input's end
    uint32_t max_deliver; //  attempts before the dead-letter stream (default 5)
    int64_t lease_ms;     //  lease deadline (default 30000)
    sl_op_spec_t op;      //  the operator (default: pass-through)
    int timeout_ms;       //  one request attempt (default 5000)
    //  Keyed groups (keyed.h): key NULL = not keyed.
    const char *key;          //  --key PATH, or "record" for the record's own key
    const char *window_spec;  //  --window tumbling:SIZE | hopping:SIZE/ADVANCE | session:GAP
    const char *agg;          //  --agg count,sum:PATH,...
    const char *time;         //  --time record (default) or PATH
    int64_t lateness_ms;      //  --lateness
    int64_t idle_ms;          //  --idle, 0 = never
    uint32_t state_cache;     //  --state-cache: key states in RAM (0: 100000)
    volatile int *stop;       //  optional: set non-zero to stop as on SIGINT
    sl_worker_stats_t *stats; //  optional: filled at the end of the run
} sl_worker_config_t;

//  Fills cfg with the defaults above (broker, group, in, out NULL).
void sl_worker_config_defaults (sl_worker_config_t *cfg);

//  Runs the member until stopped. Returns the exit code: 0 after a stop,
//  1 on a fatal error (JOIN refused, operator failed to start), 2 for a bad
//  configuration (a usage error, such as an unknown --option).
int sl_worker_run (const sl_worker_config_t *cfg);

//  One input record that failed: its offset, whether it is final (the
//  operator said FAIL: dead-letter at once) and the error text.
typedef struct {
    uint64_t offset;
    bool final;
    char text[256];
} sl_worker_failure_t;

typedef struct _sl_worker_proc_t sl_worker_proc_t;

//  Initialises the operator (resolved stays the caller's and must outlive
//  the processor). NULL on failure with the operator's reason in why.
sl_worker_proc_t *sl_worker_proc_new (const sl_op_resolved_t *resolved, char *why, size_t why_size);
void sl_worker_proc_destroy (sl_worker_proc_t **self_p);

//  Bounds the output of one batch (0 = no bound): an emit past them is
//  refused, and the record that made it is failed for retry, so that it is
//  retried alone in a smaller result.
void sl_worker_proc_set_limits (sl_worker_proc_t *self, uint64_t max_bytes, uint32_t max_records);
//  The next batch is given up at deadline_ms (sl_mono_ms; 0 = never): the
//  records not processed by then are failed for retry, since the lease is
//  being handed to another member anyway.
void sl_worker_proc_set_deadline (sl_worker_proc_t *self, int64_t deadline_ms);
//  Called with result -1 before each record goes to a per-record
//  operator, then with SL_OP_OK (it stands) or SL_OP_FAIL (it failed: undo
//  what it changed) after it. Keyed groups keep Lua state with it.
typedef void (sl_worker_record_hook_t) (void *ctx, const sl_op_record_t *record, int result);
void sl_worker_proc_set_record_hook (sl_worker_proc_t *self, sl_worker_record_hook_t *hook,
                                     void *ctx);
//  Before an operator sees a batch: records for which filter returns false
//  are left out (done with the lease, no output, no failure).
typedef bool (sl_worker_filter_t) (void *ctx, const sl_op_record_t *record);
void sl_worker_proc_set_filter (sl_worker_proc_t *self, sl_worker_filter_t *filter, void *ctx);
//  The next batches may hold holes: lone nils for records of other shares.
void sl_worker_proc_set_holes (sl_worker_proc_t *self, bool holes);
//  Called at least every 250 ms while a batch is processed (heartbeats).
void sl_worker_proc_set_tick (sl_worker_proc_t *self, void (*tick) (void *ctx), void *ctx);

//  Processes a batch of count records (PROTOCOL §4, untrusted) whose first
//  has input offset `offset`: every record through the operator, then its
//  flush. Outputs of failed records are discarded. Records the batch does
//  not hold (malformed) are failed for retry. 0, or SL_ENOMEM / SL_EIO when
//  the batch could not be processed at all (send no RESULT).
int sl_worker_proc_batch (sl_worker_proc_t *self, const uint8_t *data, size_t len, uint32_t count,
                          uint64_t offset);

//  The last batch's result; valid until the next sl_worker_proc_batch.
const uint8_t *sl_worker_proc_output (sl_worker_proc_t *self, size_t *len, uint32_t *count);
size_t sl_worker_proc_n_failed (sl_worker_proc_t *self);
const sl_worker_failure_t *sl_worker_proc_failed (sl_worker_proc_t *self, size_t index);

#endif
