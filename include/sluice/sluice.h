/*  sluice/sluice.h - libsluice, the C client library of Sluice.

    Three roles, each an opaque object over one connection to a broker:
      sluice_producer_t  publishes records, confirmed and exactly once
      sluice_reader_t    reads a stream from a position, then live, with
                         optional durable commits (a named reader)
      sluice_member_t    joins a worker group: receives work, returns results
    docs/client-c.md is the manual; docs/PROTOCOL.md the wire it speaks.

    Conventions (the same in every function):
    - int returns are 0 on success or a negative SLUICE_E* code; the codes
      are the wire's error codes (docs/PROTOCOL.md section 9), negated, and
      sluice_strerror names them.
    - sluice_x_new returns NULL on a bad argument or out of memory and does
      no network traffic; sluice_x_destroy is idempotent and sets the
      caller's pointer to NULL.
    - Values are msgpack bytes (exactly one msgpack object); the *_json
      variants take and give JSON text instead. Keys are bytes (NULL: none).
    - An object is not thread-safe: one thread uses it at a time.
    - The library does not install signal handlers (the application owns
      SIGINT); a blocking call ends at its timeout.

    Stability: the functions and constants below keep their meaning for
    every 0.x release of soname libsluice.so.0; new functions may be added.
*/
#ifndef SLUICE_H_INCLUDED
#define SLUICE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_VERSION_MAJOR 0
#define SLUICE_VERSION_MINOR 1
#define SLUICE_VERSION_PATCH 0

//  Error codes (docs/PROTOCOL.md section 9).
#define SLUICE_OK 0
#define SLUICE_ENOMEM (-1)
#define SLUICE_EINVAL (-2)
#define SLUICE_EPROTO (-3)
#define SLUICE_ETOOBIG (-6)
#define SLUICE_EDEPTH (-7)
#define SLUICE_ENOSPC (-10)
#define SLUICE_ENOTFOUND (-12)
#define SLUICE_ETIMEOUT (-14)
#define SLUICE_EJSON (-15)
#define SLUICE_ERANGE (-16)
#define SLUICE_ENAME (-17)
#define SLUICE_ECLOSED (-19)
#define SLUICE_ETYPE (-21)
#define SLUICE_ESTATE (-22)
#define SLUICE_EDENIED (-23)

//  The text of a code; never NULL.
const char *sluice_strerror (int code);
//  "0.1.0": the library's version.
const char *sluice_version (void);

//  CURVE for every object created afterwards in this process: the client's
//  secret key file (made by `sluice keygen NAME`) and the broker's public
//  key file; both NULL turns it off. 0, SLUICE_EINVAL or SLUICE_ENOTFOUND.
int sluice_set_security (const char *curve_secret_file, const char *broker_key_file);

//  A record as read. The pointers point into the library's buffers and are
//  valid until the next call on the object that returned the record.
typedef struct {
    uint64_t offset;   //  position in its stream
    int64_t timestamp; //  ms since the epoch, set by its producer
    const void *key;   //  NULL when the record has no key
    size_t key_len;
    const void *headers; //  msgpack map of str -> str|bin, NULL when none
    size_t headers_len;
    const void *value; //  one msgpack object
    size_t value_len;
} sluice_record_t;

//  Writes the record's value as JSON text (NUL-terminated) into a new
//  string the caller frees. NULL on malformed input or out of memory.
char *sluice_record_value_json (const sluice_record_t *record);

// ---------------------------------------------------------------------------
//  Producer

typedef struct _sluice_producer_t sluice_producer_t;

//  A producer of records into stream at broker ("tcp://HOST:PORT"). With a
//  name it is durable: record n sent by this object (counting from 1) has
//  sequence n, and the broker drops a sequence it already holds for this
//  name, so a program that restarts and sends its input again from the
//  start stores every record exactly once. Without a name (NULL), it gets
//  a random one and only resends within this object are deduplicated.
sluice_producer_t *sluice_producer_new (const char *broker, const char *stream, const char *name);
void sluice_producer_destroy (sluice_producer_t **self_p);

//  Says HELLO and learns the broker's limits and, for a named producer, the
//  highest sequence the broker already holds (sluice_producer_acked).
//  Waits up to timeout_ms. 0, SLUICE_ETIMEOUT (no broker answered),
//  SLUICE_EDENIED or another refusal. Sends connect by themselves.
int sluice_producer_connect (sluice_producer_t *self, int timeout_ms);
//  The highest sequence of this named producer the broker held when it
//  connected (0: none): a restarting program may skip that many records of
//  its input instead of sending them again.
uint64_t sluice_producer_acked (sluice_producer_t *self);

//  Adds one record (value: one msgpack object; key may be NULL) to the open
//  batch. A batch goes out when it is full, when nothing is in flight, or
//  at flush. Blocks while the window of unconfirmed batches is full (up to
//  the producer's timeout). 0, SLUICE_EINVAL (value is not one msgpack
//  object), SLUICE_ETOOBIG, SLUICE_ETIMEOUT, or the error the broker gave a
//  batch for good (then the producer is failed: destroy it).
int sluice_producer_send (sluice_producer_t *self, const void *key, size_t key_len,
                          const void *value, size_t value_len);
//  The same with a JSON value (one JSON text) and a string key (or NULL).
//  SLUICE_EJSON / SLUICE_ERANGE / SLUICE_EDEPTH for a bad JSON text.
int sluice_producer_send_json (sluice_producer_t *self, const char *key, const char *json);

//  Sends the open batch and waits until the broker confirmed every record
//  sent, resending what was lost (broker restart, timeout) as needed. 0
//  when all is durable, SLUICE_ETIMEOUT after timeout_ms (nothing is lost:
//  call flush again), or the broker's error for a batch it refused.
int sluice_producer_flush (sluice_producer_t *self, int timeout_ms);

//  Records sent (the last sequence assigned) and records confirmed durable
//  (the broker's cumulative confirm) so far.
uint64_t sluice_producer_sent (sluice_producer_t *self);
uint64_t sluice_producer_confirmed (sluice_producer_t *self);

// ---------------------------------------------------------------------------
//  Reader

typedef struct _sluice_reader_t sluice_reader_t;

//  A reader of stream. from: "beginning", "end", an offset ("1200"), the
//  last N records ("-10"), a time ("@2026-11-26T12:00:00Z", "@<epoch
//  ms>") or a time before now ("@-5m", "@-2h"). With a name the reader is durable: it starts at its
//  committed position when it has one (else at from), and sluice_reader_commit stores its position.
//  NULL for a bad argument.
sluice_reader_t *sluice_reader_new (const char *broker, const char *stream, const char *from,
                                    const char *name);
void sluice_reader_destroy (sluice_reader_t **self_p);

//  Says HELLO, subscribes to the live feed and resolves the start
//  position. 0, SLUICE_ETIMEOUT, SLUICE_EDENIED... next connects by itself.
int sluice_reader_connect (sluice_reader_t *self, int timeout_ms);

//  The next record, in offset order, each exactly once, replay then live
//  (gapless across a broker restart). Waits up to timeout_ms (0: do not
//  wait, -1: forever). 0 with *record filled, SLUICE_ETIMEOUT when no
//  record came in time, or an error.
int sluice_reader_next (sluice_reader_t *self, sluice_record_t *record, int timeout_ms);

//  The offset of the next record to be returned: everything below it was
//  returned.
uint64_t sluice_reader_position (sluice_reader_t *self);
//  True when the last sluice_reader_next found nothing more in the stream.
bool sluice_reader_at_end (sluice_reader_t *self);

//  Stores the position durably for the named reader (a later reader of
//  that name resumes there). 0, SLUICE_EINVAL (no name), SLUICE_ETIMEOUT.
int sluice_reader_commit (sluice_reader_t *self, int timeout_ms);

// ---------------------------------------------------------------------------
//  Group member

typedef struct _sluice_member_t sluice_member_t;

//  A member of group, which turns stream in into stream out exactly once
//  (docs/worker.md). member: a name unique in the group, NULL for
//  HOSTNAME-PID. The first member to join creates the group.
sluice_member_t *sluice_member_new (const char *broker, const char *group, const char *in,
                                    const char *out, const char *member);
void sluice_member_destroy (sluice_member_t **self_p);

//  Most records per lease (1..65536, default 1000); before join.
int sluice_member_set_batch (sluice_member_t *self, uint32_t batch);

//  HELLO and JOIN. 0, SLUICE_ETIMEOUT, SLUICE_EINVAL (the group exists with
//  other streams), SLUICE_EDENIED...
int sluice_member_join (sluice_member_t *self, int timeout_ms);

//  Waits up to timeout_ms (-1: forever) for a lease: a batch of input
//  records. Returns the number of records (> 0), SLUICE_ETIMEOUT, or an
//  error. Joins again by itself after a broker restart. A lease not
//  finished with sluice_member_done is abandoned (the broker hands it out
//  again after its deadline).
int sluice_member_work (sluice_member_t *self, int timeout_ms);
//  The next input record of the lease: 1 with *record filled, 0 at the end
//  of the lease.
int sluice_member_record (sluice_member_t *self, sluice_record_t *record);
//  Adds an output record for the current lease (zero, one or many per
//  input record). 0, SLUICE_EINVAL, SLUICE_ETOOBIG, SLUICE_ESTATE (no lease).
int sluice_member_emit (sluice_member_t *self, const void *key, size_t key_len, const void *value,
                        size_t value_len);
int sluice_member_emit_json (sluice_member_t *self, const char *key, const char *json);
//  Marks input record offset as failed with a reason: it is retried (on
//  any member) or, when final is true or after the group's max_deliver
//  attempts, moved to the stream GROUP.dlq.
int sluice_member_fail (sluice_member_t *self, uint64_t offset, const char *error, bool final);
//  Returns the lease's result (its outputs and failures) to the broker,
//  which stores the outputs and marks the inputs done in one transaction.
//  0 or an error (the lease is then redone, elsewhere or here).
int sluice_member_done (sluice_member_t *self);
//  Leaves the group (its leases go to other members at once).
int sluice_member_leave (sluice_member_t *self);

#ifdef __cplusplus
}
#endif

#endif
