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

//  The four connection flags every operating command has first in its
//  option table, in this order (indices 0-3): --broker, --curve-secret,
//  --broker-key, --timeout. Fills conn for one of them and returns its parse
//  result (0 or SL_E* with *why); 1 when index is another option.
enum { OP_O_BROKER, OP_O_CURVE_SECRET, OP_O_BROKER_KEY, OP_O_TIMEOUT, OP_O_COUNT };
int op_conn_option (op_conn_t *conn, int index, const char *arg, const char **why);

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
