/*  sl_client.h - a client's connection to one broker, shared by the
    source, the sink and the worker.

    Holds a DEALER to the broker's one address and, once WELCOME names it,
    the live endpoint. Handles HELLO, ZMTP heartbeats, request ids,
    timeouts with retries, and reconnects (a restarted broker is met with a
    new HELLO). It is not thread-safe; one client per thread.
*/
#ifndef SL_CLIENT_H_INCLUDED
#define SL_CLIENT_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#include "sl_endpoint.h" //  sl_endpoint_with_host, for the callers of the client
#include "sl_proto.h"

typedef struct _sl_client_t sl_client_t;

typedef struct {
    const char *broker;   //  "tcp://127.0.0.1:7600"
    const char *software; //  "sluice-source/0.1.0", sent in HELLO
    const char *producer; //  durable producer name, or NULL
    const char *stream;   //  with producer: WELCOME returns its acked seq
    int timeout_ms;       //  per request attempt (default 5000)
    int heartbeat_ms;     //  ZMTP heartbeat interval (default 1000)
    //  CURVE (docs/security.md): both set, or neither (then the process
    //  default of sl_client_set_security applies, if any).
    const char *curve_secret; //  this client's NAME.key_secret
    const char *broker_key;   //  the broker's public key file
} sl_client_opts_t;

//  Security for every client of the process whose options name no keys:
//  a program's main calls it once, from --curve-secret and --broker-key,
//  before it creates clients. Loads both files now (problems are logged:
//  a missing file, no secret key, a secret readable by others). Both NULL
//  turns it off. 0, SL_EINVAL (only one given, or a file unusable) or
//  SL_ENOTFOUND.
int sl_client_set_security (const char *curve_secret, const char *broker_key);

//  The programs' --curve-secret / --broker-key pair: checks they come
//  together, then sl_client_set_security. Returns an exit code: 0, 2 after
//  a usage message naming program (only one flag given), or 1 when a key
//  file is unusable (the reason is logged).
int sl_client_security_flags (const char *program, const char *curve_secret,
                              const char *broker_key);

//  Creates the DEALER and connects; no traffic yet. NULL on failure.
sl_client_t *sl_client_new (const sl_client_opts_t *opts);
void sl_client_destroy (sl_client_t **self_p);

//  Sends HELLO and waits for WELCOME, retrying every timeout until
//  deadline_ms (sl_mono_ms() based; 0 = forever) or until zsys_interrupted.
//  Stores the WELCOME (see sl_client_welcome). 0, SL_ETIMEOUT, SL_ECLOSED
//  (interrupted) or the broker's ERROR code.
int sl_client_hello (sl_client_t *self, int64_t deadline_ms);
const sl_msg_t *sl_client_welcome (sl_client_t *self);

//  The live endpoint with a "*" host replaced by the broker's host; NULL
//  before WELCOME. Borrowed.
const char *sl_client_pub_endpoint (sl_client_t *self);

//  The DEALER, for zpoller / zmq_poll in callers that multiplex.
zsock_t *sl_client_sock (sl_client_t *self);

//  Gives sock (before it connects) the client's CURVE keys, so that all
//  sockets of a client use the same keys and none is left plain when
//  security is on (the sink's SUB to the live feed). Does nothing when the
//  client is plain. 0 or SL_EINVAL.
int sl_client_secure (sl_client_t *self, zsock_t *sock);
//  True when the client's sockets use CURVE.
bool sl_client_secured (sl_client_t *self);

//  Sends msg followed by the frames of *data (NULL for none). On success
//  *data is taken (set to NULL); on failure the caller still owns it.
int sl_client_send (sl_client_t *self, const sl_msg_t *msg, zmsg_t **data);

//  Messages passed as reply must have been initialised (sl_msg_init); they
//  are reset before use and, after a 0 return, hold the decoded message.
//  A WELCOME received by any call is kept (see sl_client_welcome).
//  Receives one message (waits up to timeout_ms; -1 forever). Malformed
//  replies are logged and skipped. 0, SL_ETIMEOUT, SL_ECLOSED. Data frames
//  go to *data (caller destroys) when data is not NULL, else are dropped.
int sl_client_recv (sl_client_t *self, sl_msg_t *reply, zmsg_t **data, int timeout_ms);

//  One request and its reply, matched by req (a fresh id is assigned):
//  resends after each timeout until deadline_ms (0 = 10 attempts), saying
//  HELLO again when the broker seems to have restarted. Replies to other
//  requests are discarded. An ERROR reply returns its negative code with
//  the reply in *reply. 0, SL_ETIMEOUT, SL_ECLOSED or -code.
int sl_client_request (sl_client_t *self, sl_msg_t *request, sl_msg_t *reply, zmsg_t **data,
                       int64_t deadline_ms);

//  The same with one data frame after the body (copied: NULL for none).
int sl_client_request_with (sl_client_t *self, sl_msg_t *request, const void *frame,
                            size_t frame_len, sl_msg_t *reply, zmsg_t **data, int64_t deadline_ms);

//  Next request id (monotonic per client).
uint64_t sl_client_next_req (sl_client_t *self);

//  Like sl_client_send with one data frame that is only borrowed: it is
//  sent by reference (no copy) and stays the caller's, so a producer can
//  keep a batch for resending. 0, SL_EAGAIN (high-water mark), SL_EINVAL
//  (msg could not be encoded) or SL_ECLOSED.
int sl_client_send_frame (sl_client_t *self, const sl_msg_t *msg, zframe_t *data);

//  Connections to the broker established so far (completed ZMTP
//  handshakes). When the number changes, the broker may have restarted and
//  lost what was in flight: a producer resends what is unconfirmed.
uint32_t sl_client_connects (sl_client_t *self);
//  True while a connection to the broker is up (as of the last event seen).
bool sl_client_connected (sl_client_t *self);
//  Malformed replies received and skipped so far.
uint64_t sl_client_malformed (sl_client_t *self);

#endif
