/*  promote.c - `sluice promote --broker REPLICA`: makes a replica the
    primary (docs/replication.md, "Failover"). The replica records a new
    epoch in its journal before it answers, then serves as the primary.
    Promotion is explicit: Sluice does not elect a primary by itself, so a
    cut link between two brokers can never give two writers.
*/
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "opclient.h"
#include "sl_error.h"
#include "sl_opts.h"

typedef struct {
    op_conn_t conn;
} s_args_t;

static const sl_opt_t s_opts[] = {
    OP_CONN_OPTS (s_args_t, "the replica to promote"),
    {.name = NULL},
};

static const sl_opts_spec_t s_spec = {
    .program = "sluice promote",
    .synopsis = "--broker tcp://REPLICA:PORT [options]",
    .about = "Makes a replica (sluice-broker --replica-of) the primary: it starts a new epoch,\n"
             "recorded in its journal, and takes writes from then on. Do it only once the old\n"
             "primary is down or cut off (clients with several --broker endpoints find the new\n"
             "primary by themselves). The old primary must come back with --replica-of the new\n"
             "one: it then undoes what it wrote but never replicated (docs/replication.md).\n"
             "Exit status: 0 promoted; 1 refused (not a replica, no broker); 2 bad usage.",
    .footer = "Example:\n"
              "  sluice promote --broker tcp://10.0.0.2:7600\n",
    .opts = s_opts,
};

int
sl_cli_promote (int argc, char **argv)
{
    s_args_t a = {.conn = {.program = "sluice promote"}};
    op_conn_t *conn = &a.conn;
    int exit_code = 0;
    int first = sl_opts_parse_typed (&s_spec, argc, argv, NULL, &a, &exit_code);
    if (first < 0) {
        return exit_code;
    }
    if (first < argc) {
        fprintf (stderr, "sluice promote: unexpected argument '%s'; try --help\n", argv[first]);
        return 2;
    }
    int rc = op_connect (conn);
    if (rc) {
        return rc;
    }
    sl_msg_t req, reply;
    sl_msg_init (&req, SL_CMD_ADMIN);
    sl_msg_init (&reply, SL_CMD_NONE);
    snprintf (req.op, sizeof req.op, "promote");
    rc = op_admin (conn, &req, &reply);
    if (rc == 0) {
        printf ("%s: %s\n", conn->broker, reply.text[0] ? reply.text : "promoted");
    }
    sl_msg_reset (&reply);
    op_disconnect (conn);
    return rc;
}
