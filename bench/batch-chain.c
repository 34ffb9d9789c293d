/*  batch-chain - the bare batched prototype of BENCHMARKS.md: what the
    hardware allows for Sluice's shape without its protocol.

    Four processes, Sluice's own layout: source -> broker -> worker ->
    broker -> sink, joined by PUSH/PULL over TCP on 127.0.0.1. The source
    encodes records ([int64 ms, nil, nil, bin value], as Sluice's) into
    messages of --batch records; the broker takes every message waiting on
    either input, appends each as one LMDB value (no fsync: MDB_NOSYNC; with
    --sync 1 LMDB's full sync, Sluice's default) in one write transaction per
    turn, commits, and only then forwards them
    (the received frames as they are); the worker passes each message
    through; the sink counts records. No sequence numbers, no confirms, no
    leases, no checks: only the batching, the two commits and the hops.
    Memory is tuned as in Sluice's programs (sl_tune_malloc).

    batch-chain [--count N] [--size BYTES] [--batch B] [--port P] [--dir D]
                [--sync 0|1]

    Prints "records=N seconds=S records_per_s=R", timed from the source's
    first send to the sink's last record. Ports P .. P+3; the broker's LMDB
    environment is made in a new directory under D (default /tmp) and
    removed at the end. Every loop is bounded by the count and by an idle
    limit; the parent ends every child by PID.
*/
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <malloc.h>
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

#include "sl_opts.h"

//  Microseconds on CLOCK_MONOTONIC (system-wide: stamps compare across
//  processes), as bench_stats.h's bench_now_us.
static int64_t
bench_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#define IDLE_MS 10000   //  a stage that hears nothing this long fails
#define TURN_MAX 256    //  messages taken per broker turn, per input
#define HWM 64          //  messages queued per pipe (bounded memory)
#define SETTLE_US 20000 //  lets the TCP handshakes finish before timing

typedef struct {
    long count;
    size_t size;
    int batch;
    int port;
    const char *dir;
    int sync; //  1: every commit synced (LMDB's default), 0: MDB_NOSYNC
} chain_t;

typedef struct {
    atomic_int_least64_t start_us;
    atomic_int_least64_t end_us;
} shared_t;

static void
s_die (const char *what, const char *why)
{
    fprintf (stderr, "batch-chain: %s: %s\n", what, why);
    exit (1);
}

static void *
s_socket (void *ctx, int type, bool bind, int port)
{
    void *sock = zmq_socket (ctx, type);
    int hwm = HWM, linger = 5000, timeout = 100, sndtimeo = IDLE_MS;
    zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt (sock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    if ((bind ? zmq_bind (sock, endpoint) : zmq_connect (sock, endpoint)) != 0) {
        s_die (endpoint, zmq_strerror (zmq_errno ()));
    }
    return sock;
}

//  Receives one message, waiting at most IDLE_MS: 0, or exits the stage.
static void
s_recv (void *sock, zmq_msg_t *msg, const char *stage)
{
    int64_t deadline = bench_now_us () + (int64_t)IDLE_MS * 1000;
    while (zmq_msg_recv (msg, sock, 0) < 0) {
        if (zmq_errno () != EAGAIN || bench_now_us () > deadline) {
            s_die (stage, "nothing received for too long");
        }
    }
}

static void
s_send (void *sock, zmq_msg_t *msg, const char *stage)
{
    if (zmq_msg_send (msg, sock, 0) < 0) {
        s_die (stage, zmq_strerror (zmq_errno ()));
    }
}

static void
s_put_be (uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8) {
        p[i] = (uint8_t)v;
    }
}

//  Encodes the records of every message into a buffer reused for the run,
//  as a source would, and sends a copy (zmq_send) of each.
static void
s_source (void *ctx, const chain_t *c, shared_t *sh)
{
    void *out = s_socket (ctx, ZMQ_PUSH, false, c->port);
    usleep (SETTLE_US);
    size_t value_len = c->size > 16 ? c->size - 16 : 1;
    size_t record_len = 1 + 9 + 2 + 3 + value_len;
    uint8_t *buf = malloc (4 + (size_t)c->batch * record_len);
    uint8_t *value = malloc (value_len);
    if (!buf || !value) {
        s_die ("source", "out of memory");
    }
    memset (value, 'v', value_len);
    atomic_store (&sh->start_us, bench_now_us ());
    for (long sent = 0; sent < c->count;) {
        int n = c->count - sent < c->batch ? (int)(c->count - sent) : c->batch;
        int64_t ms = bench_now_us () / 1000;
        s_put_be (buf, (uint64_t)n, 4);
        uint8_t *p = buf + 4;
        for (int i = 0; i < n; i++) {
            *p++ = 0x94;
            *p++ = 0xd3;
            s_put_be (p, (uint64_t)ms, 8), p += 8;
            *p++ = 0xc0, *p++ = 0xc0;
            *p++ = 0xc5;
            s_put_be (p, value_len, 2), p += 2;
            memcpy (p, value, value_len), p += value_len;
        }
        if (zmq_send (out, buf, (size_t)(p - buf), 0) < 0) {
            s_die ("source", zmq_strerror (zmq_errno ()));
        }
        sent += n;
    }
    free (buf);
    free (value);
    zmq_close (out);
}

//  Takes every message waiting on in (at most TURN_MAX): how many.
static int
s_take (void *in, zmq_msg_t *msgs)
{
    int n = 0;
    while (n < TURN_MAX) {
        zmq_msg_init (&msgs[n]);
        if (zmq_msg_recv (&msgs[n], in, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&msgs[n]);
            break;
        }
        n++;
    }
    return n;
}

static void
s_check (int rc, const char *what)
{
    if (rc != 0) {
        s_die (what, mdb_strerror (rc));
    }
}

//  Both passes in one process, as Sluice's broker: one write transaction
//  per turn holds every message taken from either input, and nothing is
//  forwarded before it has committed.
static void
s_broker (void *ctx, const chain_t *c, const char *dir)
{
    void *from_source = s_socket (ctx, ZMQ_PULL, true, c->port);
    void *to_worker = s_socket (ctx, ZMQ_PUSH, true, c->port + 1);
    void *from_worker = s_socket (ctx, ZMQ_PULL, true, c->port + 2);
    void *to_sink = s_socket (ctx, ZMQ_PUSH, true, c->port + 3);
    MDB_env *env;
    s_check (mdb_env_create (&env), "mdb_env_create");
    s_check (mdb_env_set_mapsize (env, (size_t)64 << 30), "mapsize");
    s_check (mdb_env_set_maxdbs (env, 2), "maxdbs");
    s_check (mdb_env_open (env, dir, c->sync ? 0 : MDB_NOSYNC, 0600), "mdb_env_open");
    MDB_dbi dbi[2];
    MDB_txn *txn;
    s_check (mdb_txn_begin (env, NULL, 0, &txn), "begin");
    s_check (mdb_dbi_open (txn, "in", MDB_CREATE, &dbi[0]), "dbi in");
    s_check (mdb_dbi_open (txn, "out", MDB_CREATE, &dbi[1]), "dbi out");
    s_check (mdb_txn_commit (txn), "commit");
    static zmq_msg_t msgs[2][TURN_MAX];
    uint64_t next[2] = {0, 0};
    long forwarded = 0;
    int64_t heard = bench_now_us ();
    zmq_pollitem_t items[] = {{from_source, 0, ZMQ_POLLIN, 0}, {from_worker, 0, ZMQ_POLLIN, 0}};
    while (forwarded < c->count) {
        if (zmq_poll (items, 2, 100) < 0) {
            s_die ("broker", zmq_strerror (zmq_errno ()));
        }
        int n[2] = {s_take (from_source, msgs[0]), s_take (from_worker, msgs[1])};
        if (n[0] + n[1] == 0) {
            if (bench_now_us () - heard > (int64_t)IDLE_MS * 1000) {
                s_die ("broker", "nothing received for too long");
            }
            continue;
        }
        heard = bench_now_us ();
        s_check (mdb_txn_begin (env, NULL, 0, &txn), "begin");
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < n[pass]; i++) {
                uint8_t key[8];
                s_put_be (key, next[pass]++, 8);
                MDB_val k = {sizeof key, key};
                MDB_val v = {zmq_msg_size (&msgs[pass][i]), zmq_msg_data (&msgs[pass][i])};
                s_check (mdb_put (txn, dbi[pass], &k, &v, MDB_APPEND), "put");
            }
        }
        s_check (mdb_txn_commit (txn), "commit");
        for (int i = 0; i < n[0]; i++) {
            s_send (to_worker, &msgs[0][i], "broker");
        }
        for (int i = 0; i < n[1]; i++) {
            const uint8_t *d = zmq_msg_data (&msgs[1][i]);
            forwarded +=
                (long)((uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3]);
            s_send (to_sink, &msgs[1][i], "broker");
        }
    }
    mdb_env_close (env);
    zmq_close (from_source);
    zmq_close (to_worker);
    zmq_close (from_worker);
    zmq_close (to_sink);
}

static void
s_worker (void *ctx, const chain_t *c)
{
    void *in = s_socket (ctx, ZMQ_PULL, false, c->port + 1);
    void *out = s_socket (ctx, ZMQ_PUSH, false, c->port + 2);
    for (long seen = 0; seen < c->count;) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        s_recv (in, &msg, "worker");
        const uint8_t *d = zmq_msg_data (&msg);
        seen += (long)((uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3]);
        s_send (out, &msg, "worker");
    }
    zmq_close (in);
    zmq_close (out);
}

static void
s_sink (void *ctx, const chain_t *c, shared_t *sh)
{
    void *in = s_socket (ctx, ZMQ_PULL, false, c->port + 3);
    for (long seen = 0; seen < c->count;) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        s_recv (in, &msg, "sink");
        const uint8_t *d = zmq_msg_data (&msg);
        seen += (long)((uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3]);
        zmq_msg_close (&msg);
    }
    atomic_store (&sh->end_us, bench_now_us ());
    zmq_close (in);
}

static pid_t
s_fork (int role, const chain_t *c, shared_t *sh, const char *dir)
{
    pid_t pid = fork ();
    if (pid != 0) {
        return pid;
    }
    void *ctx = zmq_ctx_new ();
    switch (role) {
    case 0:
        s_broker (ctx, c, dir);
        break;
    case 1:
        s_worker (ctx, c);
        break;
    case 2:
        s_sink (ctx, c, sh);
        break;
    default:
        s_source (ctx, c, sh);
        break;
    }
    zmq_ctx_term (ctx);
    _exit (0);
}

//  The options, as the table fills them (sl_opts.h: --help, SLUICE_* and
//  the bounds come from it).
typedef struct {
    uint64_t count, size, batch, port, sync;
    const char *dir;
} s_opts_t;

#define F(field) SL_OPT_FIELD (s_opts_t, field)
static const sl_opt_t s_opts[] = {
    {"count", 0, "N", "records", F (count), .type = SL_ARG_UINT, .def = "2000000", .min = 1,
     .max = 1000000000},
    {"size", 0, "BYTES", "record size", F (size), .type = SL_ARG_UINT, .def = "100", .min = 17,
     .max = 65535},
    {"batch", 0, "B", "records a message", F (batch), .type = SL_ARG_UINT, .def = "1024", .min = 1,
     .max = 65536},
    {"port", 0, "P", "first of the chain's ports", F (port), .type = SL_ARG_UINT, .def = "27600",
     .min = 1024, .max = 65530},
    {"dir", 0, "DIR", "the LMDB environment goes in a new directory under DIR", F (dir),
     .type = SL_ARG_STRING, .def = "/tmp", .flags = SL_OPT_PATH},
    {"sync", 0, "0|1", "1: every commit fsync'ed (as sluice-broker --sync=full)", F (sync),
     .type = SL_ARG_UINT, .def = "0", .min = 0, .max = 1},
    {.name = NULL},
};
#undef F

static const sl_opts_spec_t s_spec = {
    .program = "batch-chain",
    .about = "The bare batched prototype: source -> broker -> worker -> broker -> sink with\n"
             "Sluice's batching and both LMDB commits, no protocol (BENCHMARKS.md).",
    .footer = "Exit 0 when every record came through, 1 on a failure, 2 on bad usage.",
    .opts = s_opts,
};

int
main (int argc, char **argv)
{
    s_opts_t o = {.dir = NULL};
    int code = 2;
    int first = sl_opts_parse_typed (&s_spec, argc, argv, NULL, &o, &code);
    if (first < 0) {
        return code;
    }
    if (first < argc) {
        fprintf (stderr, "batch-chain: unexpected argument '%s'; try --help\n", argv[first]);
        return 2;
    }
    chain_t c = {.count = (long)o.count,
                 .size = (size_t)o.size,
                 .batch = (int)o.batch,
                 .port = (int)o.port,
                 .dir = o.dir,
                 .sync = (int)o.sync};
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/batch-chain.XXXXXX", c.dir);
    if (!mkdtemp (dir)) {
        perror ("batch-chain: mkdtemp");
        return 1;
    }
    shared_t *sh =
        mmap (NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror ("batch-chain: mmap");
        return 1;
    }
    //  As every Sluice program does (sl_tune_malloc): ~100 KiB messages come
    //  from the heap and are reused, not mapped and faulted in each time.
    mallopt (M_MMAP_THRESHOLD, 4 << 20);
    mallopt (M_TRIM_THRESHOLD, 32 << 20);
    atomic_init (&sh->start_us, 0);
    atomic_init (&sh->end_us, 0);
    pid_t pids[4];
    for (int role = 0; role < 4; role++) {
        pids[role] = s_fork (role, &c, sh, dir);
    }
    //  Any child failing ends the run: the rest are ended by PID.
    int failed = 0;
    for (int left = 4; left > 0; left--) {
        int status;
        pid_t pid = wait (&status);
        if (pid < 0) {
            break;
        }
        for (int role = 0; role < 4; role++) {
            if (pids[role] == pid) {
                pids[role] = 0;
            }
        }
        if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
            failed = 1;
            for (int role = 0; role < 4; role++) {
                if (pids[role] > 0) {
                    kill (pids[role], SIGTERM);
                }
            }
        }
    }
    char cmd[4200];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system (cmd) != 0) {
        fprintf (stderr, "batch-chain: could not remove %s\n", dir);
    }
    if (failed) {
        fprintf (stderr, "batch-chain: a stage failed\n");
        return 1;
    }
    double secs = (double)(atomic_load (&sh->end_us) - atomic_load (&sh->start_us)) / 1e6;
    printf ("records=%ld seconds=%.3f records_per_s=%.0f\n", c.count, secs, c.count / secs);
    return 0;
}
