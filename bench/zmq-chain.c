/*  zmq-chain - the raw ZeroMQ baseline of BENCHMARKS.md: the same records
    over the same hops as a Sluice pipeline (source -> broker -> worker ->
    broker -> sink), one ZeroMQ message per record, no durability, no
    batching, no protocol. Processes joined by PUSH/PULL over TCP on
    127.0.0.1; the worker stage runs as --members processes, fed round-robin
    by the relay before it and fair-queued into the relay after it.

    zmq-chain [--count N] [--size BYTES] [--members M] [--port P]
    zmq-chain --rate R --seconds S [--size BYTES] [--members M] [--port P]

    Throughput mode times from the source's first send to the sink's last
    receive. Latency mode sends R records a second for S seconds, each
    stamped with its creation time, and the sink reports the percentiles of
    arrival minus creation.

    Ports P .. P+2M+1 are used; relay A binds P, worker k binds P+1+k (in)
    and P+1+M+k (out), the sink binds P+1+2M. Everything that sends
    connects, so every PUSH has all its pipes from the start and the first
    records are dealt round-robin over all the workers.

    Every loop is bounded: by the count, by a receive timeout that fails a
    stage whose peer went quiet, and by a send timeout. Workers do not
    know their share: the parent ends them with SIGTERM once the sink has
    every record. The parent waits for every child, and on failure ends
    the rest by PID.
*/
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench_stats.h"
#include "sl_opts.h"

#define MEMBERS_MAX 8
#define SIZE_MIN 16
#define SIZE_MAX_ (1 << 20)
#define IDLE_MS 10000   //  a stage that hears nothing this long fails
#define SETTLE_US 20000 //  lets the TCP handshakes finish before timing
#define EXIT_INUSE 3    //  a child could not bind: the parent may retry

typedef enum { SOURCE, RELAY_A, WORKER, RELAY_B, SINK } role_t;

//  The parent's choices, handed to every stage.
typedef struct {
    long count;      //  records in all
    size_t size;     //  bytes a record
    int members;     //  worker processes
    int port;        //  first of 2 * members + 2 ports
    long rate;       //  records a second; 0 for throughput mode
    long seconds;    //  latency mode's length
    const char *cdf; //  latency mode: write the distribution here
    bool quiet;      //  say nothing of a port in use: the parent retries
} chain_t;

//  Mapped shared before the fork: the start line and the source's clock.
typedef struct {
    atomic_int bound;              //  stages that have bound their sockets
    atomic_int ready;              //  stages that have connected too
    atomic_int_least64_t start_us; //  the source's first send, CLOCK_MONOTONIC
} shared_t;

static volatile sig_atomic_t s_stop = 0;

//  Only sets a flag: the blocked ZeroMQ call returns EINTR and the loop
//  looks at it.
static void
s_on_term (int sig)
{
    (void)sig;
    s_stop = 1;
}

//  Installed without SA_RESTART, so that a blocked receive is woken.
static void
s_catch (int sig)
{
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_term;
    sigemptyset (&sa.sa_mask);
    sigaction (sig, &sa, NULL);
}

//  Names a stage in messages the way the suite speaks of it.
static const char *
s_role_name (role_t role)
{
    static const char *names[] = {"source", "broker-in", "worker", "broker-out", "sink"};
    return names[role];
}

//  One socket with the chain's options. The queues are capped in bytes as
//  well as in messages, so that large records do not fill the memory. A
//  port in use is reported by exit code, so the parent can try other ports.
static void *
s_socket (void *ctx, const chain_t *c, int type)
{
    void *sock = zmq_socket (ctx, type);
    if (!sock) {
        fprintf (stderr, "zmq-chain: socket: %s\n", zmq_strerror (zmq_errno ()));
        exit (1);
    }
    int hwm = (int)((64u << 20) / c->size);
    hwm = hwm > 10000 ? 10000 : hwm < 64 ? 64 : hwm;
    int linger = 5000, timeout = 100, sndtimeo = IDLE_MS;
    zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt (sock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
    return sock;
}

//  Binds or connects to 127.0.0.1 at port; exits the stage on failure.
static void
s_attach (void *sock, const chain_t *c, bool bind, int port)
{
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    int rc = bind ? zmq_bind (sock, endpoint) : zmq_connect (sock, endpoint);
    if (rc != 0) {
        int err = zmq_errno ();
        if (!(err == EADDRINUSE && c->quiet)) {
            fprintf (stderr, "zmq-chain: %s %s: %s\n", bind ? "bind" : "connect", endpoint,
                     zmq_strerror (err));
        }
        exit (bind && err == EADDRINUSE ? EXIT_INUSE : 1);
    }
}

//  Waits, bounded, until every one of the stages has passed a point.
static int
s_barrier (atomic_int *counter, int stages)
{
    int64_t deadline = bench_now_us () + (int64_t)IDLE_MS * 1000;
    while (atomic_load (counter) < stages) {
        if (s_stop || bench_now_us () > deadline) {
            return -1;
        }
        usleep (1000);
    }
    return 0;
}

//  Receives one record into msg, waiting at most until the stage's idle
//  limit (or, if deadline is set, until then). 0 on a record, 1 when the
//  wait ran out or the stage was told to stop, -1 on a bad record.
static int
s_recv (void *sock, zmq_msg_t *msg, const chain_t *c, int64_t deadline)
{
    int64_t limit = deadline ? deadline : bench_now_us () + (int64_t)IDLE_MS * 1000;
    while (!s_stop) {
        if (zmq_msg_recv (msg, sock, 0) >= 0) {
            if (zmq_msg_size (msg) != c->size) {
                fprintf (stderr, "zmq-chain: record of %zu bytes, expected %zu\n",
                         zmq_msg_size (msg), c->size);
                return -1;
            }
            return 0;
        }
        if (zmq_errno () != EAGAIN && zmq_errno () != EINTR) {
            fprintf (stderr, "zmq-chain: recv: %s\n", zmq_strerror (zmq_errno ()));
            return -1;
        }
        if (bench_now_us () > limit) {
            return 1;
        }
    }
    return 1;
}

//  The source: count records as fast as the chain takes them, or at the
//  fixed rate, each stamped with its creation time in its first 8 bytes.
//  It writes its start time where the sink can read it.
static int
s_source (void *out, const chain_t *c, shared_t *shared)
{
    char *buf = calloc (1, c->size);
    if (!buf) {
        return 1;
    }
    int64_t start = bench_now_us ();
    atomic_store (&shared->start_us, start);
    int rc = 0;
    for (long n = 0; n < c->count && !rc; n++) {
        if (c->rate) {
            //  Sends every record due by now; otherwise sleeps until the next.
            int64_t due = start + (int64_t)((double)n * 1e6 / (double)c->rate);
            int64_t now = bench_now_us ();
            if (due > now) {
                struct timespec ts = {(time_t)(due / 1000000), (long)(due % 1000000) * 1000};
                while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR &&
                       !s_stop) {
                }
            }
        }
        int64_t created = bench_now_us ();
        memcpy (buf, &created, sizeof created);
        if (s_stop || zmq_send (out, buf, c->size, 0) != (int)c->size) {
            if (!s_stop) {
                fprintf (stderr, "zmq-chain: source: send %ld: %s\n", n,
                         zmq_strerror (zmq_errno ()));
            }
            rc = 1;
        }
    }
    free (buf);
    return rc;
}

//  A relay (either broker, or one worker): forwards each record as it
//  came, without a copy. The brokers know the count; a worker does not
//  know its share and runs until the parent's SIGTERM.
static int
s_relay (void *in, void *out, const chain_t *c, role_t role)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    int rc = 0;
    for (long n = 0; role == WORKER || n < c->count; n++) {
        int got = s_recv (in, &msg, c, 0);
        //  A worker told to stop is done; a broker told to stop has failed,
        //  and the parent says why.
        if (got != 0) {
            rc = !(role == WORKER && s_stop);
            if (!s_stop) {
                fprintf (stderr, "zmq-chain: %s: %s after %ld records\n", s_role_name (role),
                         got < 0 ? "failed" : "no record for 10 s", n);
            }
            break;
        }
        if (zmq_msg_send (&msg, out, 0) < 0) {
            rc = !(role == WORKER && s_stop);
            if (!s_stop) {
                fprintf (stderr, "zmq-chain: %s: send: %s\n", s_role_name (role),
                         zmq_strerror (zmq_errno ()));
            }
            break;
        }
    }
    zmq_msg_close (&msg);
    return rc;
}

//  The sink in throughput mode: times from the source's first send to its
//  own last receive.
static int
s_sink_throughput (void *in, const chain_t *c, shared_t *shared)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    long n = 0;
    while (n < c->count && s_recv (in, &msg, c, 0) == 0) {
        n++;
    }
    int64_t end = bench_now_us ();
    zmq_msg_close (&msg);
    if (n < c->count) {
        fprintf (stderr, "zmq-chain: sink: %ld of %ld records\n", n, c->count);
        return 1;
    }
    double secs = (double)(end - atomic_load (&shared->start_us)) / 1e6;
    printf ("zmq-chain records=%ld size=%zu hops=4 members=%d seconds=%.3f records_per_s=%.0f\n",
            c->count, c->size, c->members, secs, (double)c->count / secs);
    //  The stage ends with _exit, which does not flush stdio.
    fflush (stdout);
    return 0;
}

//  The sink in latency mode: arrival minus creation for every record, in
//  the format of sluice-bench latency. It gives up 10 s after the last
//  record was due, and reports what it got.
static int
s_sink_latency (void *in, const chain_t *c, shared_t *shared)
{
    int64_t *lat = calloc ((size_t)c->count, sizeof *lat);
    if (!lat) {
        fprintf (stderr, "zmq-chain: sink: out of memory\n");
        return 1;
    }
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    long received = 0;
    int64_t start = 0, deadline = 0;
    while (received < c->count) {
        //  The source stamps its start before its first send; until then
        //  the deadline is the idle limit.
        if (!start && (start = atomic_load (&shared->start_us)) != 0) {
            deadline = start + (int64_t)((double)(c->count - 1) * 1e6 / (double)c->rate) +
                       (int64_t)IDLE_MS * 1000;
        }
        int got = s_recv (in, &msg, c, deadline);
        if (got != 0) {
            break;
        }
        int64_t arrived = bench_now_us (), created;
        memcpy (&created, zmq_msg_data (&msg), sizeof created);
        lat[received++] = arrived - created;
    }
    zmq_msg_close (&msg);
    int64_t elapsed = start ? bench_now_us () - start : 0;
    if (received == 0) {
        fprintf (stderr, "zmq-chain: sink: no record came through\n");
        free (lat);
        return 1;
    }
    printf ("records=%ld received=%ld rate=%ld/s elapsed=%.2fs path=zmq-chain\n", c->count,
            received, c->rate, (double)elapsed / 1e6);
    if (bench_latency_report (lat, (size_t)received, c->cdf) != 0) {
        free (lat);
        return 1;
    }
    fflush (stdout);
    free (lat);
    if (received < c->count) {
        fprintf (stderr, "zmq-chain: sink: %ld of %ld records\n", received, c->count);
        return 1;
    }
    return 0;
}

//  One stage, in a child: binds what it binds, waits for every stage to
//  have bound, connects, waits for every stage to be ready, then runs.
//  Binding first means no connect waits on a reconnect interval.
static int
s_stage (role_t role, int k, const chain_t *c, shared_t *shared)
{
    if (role == WORKER) {
        s_catch (SIGTERM);
    }
    int m = c->members, stages = m + 4, p = c->port;
    void *ctx = zmq_ctx_new ();
    void *in = role != SOURCE ? s_socket (ctx, c, ZMQ_PULL) : NULL;
    void *out = role != SINK ? s_socket (ctx, c, ZMQ_PUSH) : NULL;
    if (role == RELAY_A) {
        s_attach (in, c, true, p);
    }
    else if (role == WORKER) {
        s_attach (in, c, true, p + 1 + k);
        s_attach (out, c, true, p + 1 + m + k);
    }
    else if (role == SINK) {
        s_attach (in, c, true, p + 1 + 2 * m);
    }
    atomic_fetch_add (&shared->bound, 1);
    int rc = s_barrier (&shared->bound, stages);
    if (rc == 0) {
        if (role == SOURCE) {
            s_attach (out, c, false, p);
        }
        else if (role == RELAY_A) {
            for (int i = 0; i < m; i++) {
                s_attach (out, c, false, p + 1 + i);
            }
        }
        else if (role == RELAY_B) {
            for (int i = 0; i < m; i++) {
                s_attach (in, c, false, p + 1 + m + i);
            }
            s_attach (out, c, false, p + 1 + 2 * m);
        }
        atomic_fetch_add (&shared->ready, 1);
        rc = s_barrier (&shared->ready, stages);
    }
    if (rc != 0) {
        //  Told to stop, the stage goes quietly: the parent reports why.
        if (!s_stop) {
            fprintf (stderr, "zmq-chain: %s: the other stages did not start\n", s_role_name (role));
        }
    }
    else if (role == SOURCE) {
        usleep (SETTLE_US);
        rc = s_source (out, c, shared);
    }
    else if (role == SINK) {
        rc = c->rate ? s_sink_latency (in, c, shared) : s_sink_throughput (in, c, shared);
    }
    else {
        rc = s_relay (in, out, c, role);
    }
    if (rc != 0) {
        //  Nothing queued is worth waiting for once the stage has failed.
        int zero = 0;
        if (out) {
            zmq_setsockopt (out, ZMQ_LINGER, &zero, sizeof zero);
        }
    }
    if (in) {
        zmq_close (in);
    }
    if (out) {
        zmq_close (out);
    }
    zmq_ctx_term (ctx);
    return rc;
}

//  Ends every child still running: SIGTERM, then SIGKILL for any that has
//  not gone within the grace period. Reaps them all.
static void
s_end_all (pid_t *pids, int n, int grace_ms)
{
    for (int i = 0; i < n; i++) {
        if (pids[i] > 0) {
            kill (pids[i], SIGTERM);
        }
    }
    int64_t deadline = bench_now_us () + (int64_t)grace_ms * 1000;
    for (int i = 0; i < n; i++) {
        while (pids[i] > 0) {
            if (waitpid (pids[i], NULL, WNOHANG) != 0) {
                pids[i] = 0;
            }
            else if (bench_now_us () > deadline) {
                kill (pids[i], SIGKILL);
                waitpid (pids[i], NULL, 0);
                pids[i] = 0;
            }
            else {
                usleep (5000);
            }
        }
    }
}

//  One run of the whole chain. Returns 0 on success, 1 on a failure,
//  EXIT_INUSE when a port was taken (and nothing was printed).
static int
s_run (const chain_t *c)
{
    int stages = c->members + 4;
    shared_t *shared =
        mmap (NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
        perror ("zmq-chain: mmap");
        return 1;
    }
    atomic_init (&shared->bound, 0);
    atomic_init (&shared->ready, 0);
    atomic_init (&shared->start_us, 0);
    //  pids[0] source, [1] broker-in, [2 .. m+1] workers, [m+2] broker-out,
    //  [m+3] sink.
    pid_t pids[MEMBERS_MAX + 4] = {0};
    role_t roles[MEMBERS_MAX + 4];
    int failed = 0;
    fflush (stdout);
    for (int i = 0; i < stages; i++) {
        roles[i] = i == 0            ? SOURCE
                   : i == 1          ? RELAY_A
                   : i == stages - 2 ? RELAY_B
                   : i == stages - 1 ? SINK
                                     : WORKER;
        pids[i] = fork ();
        if (pids[i] == 0) {
            _exit (s_stage (roles[i], i - 2, c, shared));
        }
        if (pids[i] < 0) {
            perror ("zmq-chain: fork");
            pids[i] = 0;
            failed = 1;
            break;
        }
    }
    //  Waits for the children. Once the source and the sink are through,
    //  the workers are told to stop; the brokers end by their count. A
    //  failed child, or a signal to the parent, ends all the rest.
    int sink = stages - 1, inuse = 0;
    int64_t deadline = 0;
    while (!failed) {
        bool left = false;
        for (int i = 0; i < stages; i++) {
            int status = 0;
            if (pids[i] > 0 && waitpid (pids[i], &status, WNOHANG) == pids[i]) {
                pids[i] = 0;
                if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
                    inuse |= WIFEXITED (status) && WEXITSTATUS (status) == EXIT_INUSE;
                    if (!inuse) {
                        fprintf (stderr, "zmq-chain: %s %s\n", s_role_name (roles[i]),
                                 WIFEXITED (status) ? "failed" : "was killed");
                    }
                    failed = 1;
                }
            }
            left |= pids[i] > 0;
        }
        if (!left || failed) {
            break;
        }
        if (s_stop) {
            fprintf (stderr, "zmq-chain: interrupted\n");
            failed = 1;
            break;
        }
        if (!pids[0] && !pids[sink] && !deadline) {
            for (int i = 2; i < sink - 1; i++) {
                if (pids[i] > 0) {
                    kill (pids[i], SIGTERM);
                }
            }
            //  Everything left should be gone well within this.
            deadline = bench_now_us () + (int64_t)(IDLE_MS + 5000) * 1000;
        }
        if (deadline && bench_now_us () > deadline) {
            fprintf (stderr, "zmq-chain: stages still running after the sink finished\n");
            failed = 1;
            break;
        }
        usleep (10000);
    }
    s_end_all (pids, stages, 6000);
    munmap (shared, sizeof *shared);
    return inuse ? EXIT_INUSE : failed;
}

//  The two forms after a mistake; the whole text on --help.
//  The options, as the table fills them (sl_opts.h: --help, SLUICE_* and
//  the bounds come from it).
typedef struct {
    uint64_t count, size, members, port, rate, seconds;
    const char *cdf;
} s_opts_t;

#define F(field) SL_OPT_FIELD (s_opts_t, field)
static const sl_opt_t s_opts[] = {
    {"count", 0, "N", "records in throughput mode (default 2000000)", F (count),
     .type = SL_ARG_UINT, .min = 1, .max = 1000000000},
    {"size", 0, "BYTES", "record size", F (size), .type = SL_ARG_UINT, .def = "100",
     .min = SIZE_MIN, .max = SIZE_MAX_},
    {"members", 0, "M", "worker processes", F (members), .type = SL_ARG_UINT, .def = "1", .min = 1,
     .max = MEMBERS_MAX},
    {"port", 0, "P", "first of 2M+2 ports (default: random free ports)", F (port),
     .type = SL_ARG_UINT, .min = 1024, .max = 65535 - 2 * MEMBERS_MAX - 2},
    {"rate", 0, "R", "latency mode: R records a second", F (rate), .type = SL_ARG_UINT, .min = 1,
     .max = 1000000},
    {"seconds", 0, "S", "latency mode: for S seconds", F (seconds), .type = SL_ARG_UINT, .min = 1,
     .max = 3600},
    {"cdf", 0, "FILE", "latency mode: write the distribution (latency_us fraction)", F (cdf),
     .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {.name = NULL},
};
#undef F

static const sl_opts_spec_t s_spec = {
    .program = "zmq-chain",
    .synopsis = "[--count N] | --rate R --seconds S",
    .about = "The raw ZeroMQ baseline: source -> broker -> M workers -> broker -> sink,\n"
             "PUSH/PULL over TCP on 127.0.0.1, one message per record.",
    .footer = "Throughput prints: zmq-chain records=N size=S hops=4 members=M seconds=X "
              "records_per_s=R\n"
              "Latency prints:    records=N received=M rate=R/s elapsed=X.XXs path=zmq-chain\n"
              "                   latency_us p50=.. p90=.. p99=.. p99.9=.. max=.. mean=..\n"
              "Exit 0 when every record came through, 1 on a failure, 2 on bad usage.",
    .opts = s_opts,
};

int
main (int argc, char **argv)
{
    chain_t c = {.count = 2000000};
    s_opts_t o = {.cdf = NULL};
    int code = 2;
    int first = sl_opts_parse_typed (&s_spec, argc, argv, NULL, &o, &code);
    if (first < 0) {
        return code;
    }
    if (first < argc) {
        fprintf (stderr, "zmq-chain: unexpected argument '%s'; try --help\n", argv[first]);
        return 2;
    }
    long count = (long)o.count, size = (long)o.size, members = (long)o.members;
    long port = (long)o.port, rate = (long)o.rate, seconds = (long)o.seconds;
    c.cdf = o.cdf;
    if ((rate != 0) != (seconds != 0) || (rate && count)) {
        fprintf (stderr, "zmq-chain: --rate and --seconds go together, and not with --count; "
                         "try --help\n");
        return 2;
    }
    if (rate && rate * seconds > 100000000L) {
        fprintf (stderr, "zmq-chain: --rate times --seconds is over 100000000 records\n");
        return 2;
    }
    c.count = rate ? rate * seconds : count ? count : c.count;
    c.size = (size_t)size;
    c.members = (int)members;
    c.rate = rate;
    c.seconds = seconds;
    s_catch (SIGTERM);
    s_catch (SIGINT);
    //  Given no port, picks a random base below the ephemeral range and
    //  tries again if some port of it is taken.
    srand ((unsigned)(bench_now_us () ^ getpid ()));
    int rc = EXIT_INUSE;
    for (int attempt = 0; attempt < 8 && rc == EXIT_INUSE && !s_stop; attempt++) {
        c.port = port ? (int)port : 20000 + rand () % 12000;
        c.quiet = !port && attempt < 7;
        rc = s_run (&c);
        if (port) {
            break;
        }
    }
    if (rc == EXIT_INUSE) {
        //  With --port the child has said which port was taken.
        if (!port) {
            fprintf (stderr, "zmq-chain: no free ports after 8 tries\n");
        }
        rc = 1;
    }
    return rc;
}
