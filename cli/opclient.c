/*  opclient.c - the connection of the operate commands (opclient.h).
 */
#include "opclient.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

#include "sl_error.h"
#include "sl_util.h"
#include "sl_version.h"

int
op_connect (op_conn_t *conn)
{
    if (!conn->broker || !*conn->broker) {
        conn->broker = OP_DEFAULT_BROKER;
    }
    if (conn->timeout_ms <= 0) {
        conn->timeout_ms = 5000;
    }
    int code = sl_client_security_flags (conn->program, conn->curve_secret, conn->broker_key);
    if (code) {
        return code;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    sl_client_opts_t opts = {
        .broker = conn->broker,
        .software = "sluice-cli/" SLUICE_VERSION,
        .timeout_ms = (int)(conn->timeout_ms < 1000 ? conn->timeout_ms : 1000),
    };
    conn->client = sl_client_new (&opts);
    if (!conn->client) {
        fprintf (stderr, "%s: cannot connect to %s (a tcp://HOST:PORT endpoint?)\n", conn->program,
                 conn->broker);
        return 1;
    }
    int rc = sl_client_hello (conn->client, sl_mono_ms () + conn->timeout_ms);
    if (rc) {
        if (rc == SL_ETIMEOUT) {
            fprintf (stderr,
                     "%s: no answer from the broker at %s within %.1f s (is it running? "
                     "with CURVE, are the keys right?)\n",
                     conn->program, conn->broker, (double)conn->timeout_ms / 1000.0);
        }
        else {
            fprintf (stderr, "%s: the broker at %s refused: %s\n", conn->program, conn->broker,
                     sl_strerror (rc));
        }
        op_disconnect (conn);
        return 1;
    }
    return 0;
}

void
op_disconnect (op_conn_t *conn)
{
    sl_client_destroy (&conn->client);
}

static int
s_request (op_conn_t *conn, sl_msg_t *request, sl_msg_t *reply, zmsg_t **data)
{
    int rc =
        sl_client_request (conn->client, request, reply, data, sl_mono_ms () + conn->timeout_ms);
    if (rc == 0) {
        return 0;
    }
    if (rc == SL_ETIMEOUT) {
        fprintf (stderr, "%s: no answer from the broker at %s within %.1f s\n", conn->program,
                 conn->broker, (double)conn->timeout_ms / 1000.0);
    }
    else if (rc == SL_ECLOSED) {
        fprintf (stderr, "%s: interrupted\n", conn->program);
    }
    else {
        fprintf (stderr, "%s: %s\n", conn->program,
                 reply->cmd == SL_CMD_ERROR && reply->text[0] ? reply->text : sl_strerror (rc));
    }
    return 1;
}

int
op_stat (op_conn_t *conn, sl_buf_t *raw, sl_stat_t *doc)
{
    sl_msg_t request, reply;
    sl_msg_init (&request, SL_CMD_STAT);
    sl_msg_init (&reply, SL_CMD_NONE);
    zmsg_t *data = NULL;
    int code = s_request (conn, &request, &reply, &data);
    if (code == 0) {
        zframe_t *frame = data ? zmsg_first (data) : NULL;
        int rc = SL_EPROTO;
        if (reply.cmd == SL_CMD_STATS && frame) {
            rc = sl_stat_decode (doc, zframe_data (frame), zframe_size (frame));
            sl_buf_reset (raw);
            if (rc == 0) {
                rc = sl_buf_append (raw, zframe_data (frame), zframe_size (frame));
            }
        }
        if (rc) {
            fprintf (stderr, "%s: the broker's progress document is unreadable: %s\n",
                     conn->program, sl_strerror (rc));
            code = 1;
        }
    }
    zmsg_destroy (&data);
    sl_msg_reset (&reply);
    return code;
}

int
op_admin (op_conn_t *conn, sl_msg_t *request, sl_msg_t *reply)
{
    request->cmd = SL_CMD_ADMIN;
    int code = s_request (conn, request, reply, NULL);
    if (code == 0 && reply->cmd != SL_CMD_ADMINED) {
        fprintf (stderr, "%s: unexpected %s reply\n", conn->program, sl_cmd_name (reply->cmd));
        code = 1;
    }
    return code;
}

int
op_parse_position (const char *text, sl_from_t *from, int64_t *value)
{
    *value = 0;
    if (strcmp (text, "beginning") == 0) {
        *from = SL_FROM_BEGINNING;
        return 0;
    }
    if (strcmp (text, "end") == 0) {
        *from = SL_FROM_END;
        return 0;
    }
    if (text[0] == '@') {
        *from = SL_FROM_TIME;
        return sl_parse_time_ms (text + 1, value) ? -1 : 0;
    }
    uint64_t offset;
    if (sl_parse_u64 (text, &offset) || offset > INT64_MAX) {
        return -1;
    }
    *from = SL_FROM_OFFSET;
    *value = (int64_t)offset;
    return 0;
}
