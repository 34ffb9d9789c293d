/*  opclient.h - what `sluice stat`, `top` and the manage commands share:
    their common flags, one connection to the broker, and the STAT and
    ADMIN requests (docs/operate.md, docs/PROTOCOL.md §15).
*/
#ifndef SL_CLI_OPCLIENT_H_INCLUDED
#define SL_CLI_OPCLIENT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "sl_buf.h"
#include "sl_client.h"
#include "sl_opts.h"
#include "sl_stat.h"

#define OP_DEFAULT_BROKER "tcp://127.0.0.1:7600"

typedef struct {
    const char *program; //  "sluice stat", for messages
    const char *broker;
    const char *curve_secret;
    const char *broker_key;
    int64_t timeout_ms;
    sl_client_t *client;
} op_conn_t;

//  The four connection options every operating command's table starts
//  with, in this order: --broker, --curve-secret, --broker-key, --timeout.
//  Typed entries (sl_opts.h) that fill the op_conn_t field `conn` of the
//  command's argument struct TYPE; WHAT is the help of --broker.
enum { OP_O_BROKER, OP_O_CURVE_SECRET, OP_O_BROKER_KEY, OP_O_TIMEOUT, OP_O_COUNT };
#define OP_CONN_OPTS(TYPE, WHAT)                                                                   \
    {"broker",                                                                                     \
     'b',                                                                                          \
     "ENDPOINT",                                                                                   \
     WHAT,                                                                                         \
     SL_OPT_FIELD (TYPE, conn.broker),                                                             \
     .type = SL_ARG_STRING,                                                                        \
     .def = OP_DEFAULT_BROKER,                                                                     \
     .flags = SL_OPT_CONNECTS},                                                                    \
        {"curve-secret",                                                                           \
         0,                                                                                        \
         "FILE",                                                                                   \
         "this client's key pair (CURVE)",                                                         \
         SL_OPT_FIELD (TYPE, conn.curve_secret),                                                   \
         .type = SL_ARG_STRING,                                                                    \
         .flags = SL_OPT_PATH},                                                                    \
        {"broker-key",                                                                             \
         0,                                                                                        \
         "FILE",                                                                                   \
         "the broker's public key (CURVE)",                                                        \
         SL_OPT_FIELD (TYPE, conn.broker_key),                                                     \
         .type = SL_ARG_STRING,                                                                    \
         .flags = SL_OPT_PATH},                                                                    \
    {                                                                                              \
        "timeout", 0, "DURATION", "give up on the broker after this",                              \
            SL_OPT_FIELD (TYPE, conn.timeout_ms), .type = SL_ARG_DURATION, .def = "5s", .min = 1   \
    }

//  Connects and says HELLO, telling the user what it is doing when it
//  takes more than a moment. Returns 0 or an exit code (1: no broker,
//  refused; 2: bad key flags), with the reason printed.
int op_connect (op_conn_t *conn);
void op_disconnect (op_conn_t *conn);

//  STAT: the progress document, raw (for --json) and decoded.
//  0 or an exit code, with the reason printed.
int op_stat (op_conn_t *conn, sl_buf_t *raw, sl_stat_t *doc);

//  ADMIN with the fields of request (op, stream, reader, group, ...).
//  0 with *reply filled, or an exit code with the broker's reason printed.
int op_admin (op_conn_t *conn, sl_msg_t *request, sl_msg_t *reply);

//  A reset target: beginning, end, an offset, or @TIME (ISO 8601 or epoch
//  ms). 0 or -1.
int op_parse_position (const char *text, sl_from_t *from, int64_t *value);

#endif
