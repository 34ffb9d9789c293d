/*  zmq-chain - the raw ZeroMQ baseline of BENCHMARKS.md: the same records
    over the same hops as a Sluice pipeline (source -> broker -> worker ->
    broker -> sink), one ZeroMQ message per record, no durability, no
    batching, no protocol. Five processes joined by PUSH/PULL over TCP on
    127.0.0.1; the sink times the records from the first to the last.

    zmq-chain [--count N] [--size BYTES] [--port P]

    Every loop is bounded by --count; each process exits when its share is
    through, and the parent waits for all of them.
*/
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void *
s_socket (void *ctx, int type, const char *verb, int port)
{
    void *sock = zmq_socket (ctx, type);
    int hwm = 10000, linger = 5000;
    zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    int rc = verb[0] == 'b' ? zmq_bind (sock, endpoint) : zmq_connect (sock, endpoint);
    if (rc != 0) {
        fprintf (stderr, "zmq-chain: %s %s: %s\n", verb, endpoint, zmq_strerror (zmq_errno ()));
        exit (1);
    }
    return sock;
}

//  Stage i of 5: 0 source, 1..3 relays (broker, worker, broker), 4 sink.
static int
s_stage (int i, long count, size_t size, int port)
{
    void *ctx = zmq_ctx_new ();
    void *in = i > 0 ? s_socket (ctx, ZMQ_PULL, "bind", port + i - 1) : NULL;
    void *out = i < 4 ? s_socket (ctx, ZMQ_PUSH, "connect", port + i) : NULL;
    char *buf = calloc (1, size > 64 ? size : 64);
    double start = 0;
    for (long n = 0; n < count; n++) {
        if (in) {
            int got = zmq_recv (in, buf, size, 0);
            if (got < 0) {
                return 1;
            }
            if (n == 0) {
                start = s_now ();
            }
        }
        if (out && zmq_send (out, buf, size, 0) < 0) {
            return 1;
        }
    }
    if (i == 4) {
        double secs = s_now () - start;
        printf ("zmq-chain records=%ld size=%zu hops=4 seconds=%.3f records_per_s=%.0f\n", count,
                size, secs, (double) count / secs);
        //  The stage ends with _exit, which does not flush stdio.
        fflush (stdout);
    }
    free (buf);
    if (in) {
        zmq_close (in);
    }
    if (out) {
        zmq_close (out);
    }
    zmq_ctx_term (ctx);
    return 0;
}

int
main (int argc, char **argv)
{
    long count = 2000000;
    size_t size = 100;
    int port = 29700;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--count") && i + 1 < argc) {
            count = atol (argv[++i]);
        }
        else if (!strcmp (argv[i], "--size") && i + 1 < argc) {
            size = (size_t) atol (argv[++i]);
        }
        else if (!strcmp (argv[i], "--port") && i + 1 < argc) {
            port = atoi (argv[++i]);
        }
        else {
            fprintf (stderr, "usage: zmq-chain [--count N] [--size BYTES] [--port P]\n");
            return 2;
        }
    }
    if (count <= 0 || size == 0 || size > (1 << 20) || port <= 0 || port > 65530) {
        fprintf (stderr, "zmq-chain: bad numbers\n");
        return 2;
    }
    pid_t pids[5];
    //  Downstream first, so that every PULL is bound before its PUSH sends.
    for (int i = 4; i >= 0; i--) {
        pids[i] = fork ();
        if (pids[i] == 0) {
            _exit (s_stage (i, count, size, port));
        }
        if (pids[i] < 0) {
            perror ("zmq-chain: fork");
            return 1;
        }
        usleep (50000);
    }
    int failed = 0;
    for (int i = 0; i < 5; i++) {
        int status = 0;
        waitpid (pids[i], &status, 0);
        failed |= !WIFEXITED (status) || WEXITSTATUS (status) != 0;
    }
    return failed;
}
