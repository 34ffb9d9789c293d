/*  sup_broker.c - what `sluice run` asks about its broker: is it up (HELLO,
    or with CURVE and no client keys a TCP connection), is its address
    already taken, is its data directory held by another broker.
*/
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sl_dirlock.h"
#include "sl_error.h"
#include "sl_util.h"
#include "sl_version.h"
#include "supervise_int.h"

//  True when a TCP connection to the broker's address is accepted.
static bool
s_tcp_answers (const char *endpoint)
{
    if (strncmp (endpoint, "tcp://", 6) != 0) {
        return false;
    }
    char host[256];
    const char *h = endpoint + 6;
    const char *colon = strrchr (h, ':');
    if (!colon || (size_t)(colon - h) >= sizeof host) {
        return false;
    }
    snprintf (host, sizeof host, "%.*s", (int)(colon - h), h);
    if (host[0] == '[' && host[strlen (host) - 1] == ']') {
        memmove (host, host + 1, strlen (host));
        host[strlen (host) - 1] = '\0';
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo (host, colon + 1, &hints, &res) != 0) {
        return false;
    }
    bool taken = false;
    for (struct addrinfo *a = res; a && !taken; a = a->ai_next) {
        int fd = socket (a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0) {
            taken = connect (fd, a->ai_addr, a->ai_addrlen) == 0;
            close (fd);
        }
    }
    freeaddrinfo (res);
    return taken;
}

//  Asks the broker for HELLO, briefly; true once it answers. With CURVE on
//  (the broker has curve-secret) the probe uses the keys of the first client
//  stage that has both of its own; when none has, a broker accepting TCP
//  connections counts as ready, since a plain HELLO would never be answered.
bool
sl_sup_broker_ready (s_sup_t *sup)
{
    if (!sup->probe) {
        sl_client_opts_t copts = {.broker = sl_pipeline_endpoint (sup->pl),
                                  .software = "sluice-run/" SLUICE_VERSION,
                                  .timeout_ms = 200};
        const sl_stage_t *broker = sl_pipeline_stage (sup->pl, 0);
        if (sl_stage_value (broker, "curve-secret")) {
            for (size_t i = 1; i < sl_pipeline_size (sup->pl); i++) {
                const sl_stage_t *s = sl_pipeline_stage (sup->pl, i);
                if (sl_stage_value (s, "curve-secret") && sl_stage_value (s, "broker-key")) {
                    copts.curve_secret = sl_stage_value (s, "curve-secret");
                    copts.broker_key = sl_stage_value (s, "broker-key");
                    break;
                }
            }
            if (!copts.curve_secret) {
                return s_tcp_answers (copts.broker);
            }
        }
        sup->probe = sl_client_new (&copts);
        if (!sup->probe) {
            return false;
        }
    }
    if (sl_client_hello (sup->probe, sl_mono_ms () + 200) != 0) {
        return false;
    }
    sl_client_destroy (&sup->probe);
    return true;
}

//  Fails when another broker holds the pipeline's data directory: the
//  broker would exit at once, and restarting it would not help.
int
sl_sup_check_data_dir (s_sup_t *sup)
{
    const char *dir = sl_stage_value (sup->procs[0].stage, "data");
    long pid = 0;
    if (dir && sl_dirlock_probe (dir, &pid) == SL_ELOCKED) {
        S_SAY (sup,
               "data directory %s is in use by another broker (pid %ld): stop it, or give "
               "this pipeline another one, e.g. --set broker.data=DIR",
               dir, pid);
        return SL_ELOCKED;
    }
    return 0;
}

//  Fails when something already answers at the broker's address: it would
//  be taken for the pipeline's broker.
int
sl_sup_check_port (s_sup_t *sup)
{
    const char *ep = sl_pipeline_endpoint (sup->pl);
    if (s_tcp_answers (ep)) {
        S_SAY (sup,
               "something already listens at %s: another broker? Set another address, "
               "e.g. --set broker.listen=tcp://127.0.0.1:7700",
               ep);
        return SL_EINVAL;
    }
    return 0;
}
