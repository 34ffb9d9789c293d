/*  redis-chain - the Redis Streams baseline of BENCHMARKS.md: the same records
    over the same hops as a Sluice pipeline (source -> broker -> worker ->
    broker -> sink), with Redis in the broker's place. The source XADDs to
    the stream `in`; one or two workers in the consumer group `g` read `in`
    with XREADGROUP, XADD each value to `out` and XACK what they read (the
    consumer-group pattern Redis documents for at-least-once processing);
    the sink XREADs `out`. Redis is started by the caller (with or without
    AOF) on 127.0.0.1; this program only connects to it.

    redis-chain [--port P] [--count N] [--size BYTES] [--members M]
                [--pipeline N] [--batch N]
    redis-chain --rate R --seconds S [--cdf FILE] [--port P] [--size BYTES] ...

    Throughput mode (the default) prints one line, timed from the release of
    the stages (just before the source's first XADD) to the sink's receipt
    of the last record. Latency mode publishes R records a second for S
    seconds, each value carrying its creation time in its first 8 bytes, and
    prints the same two lines as `sluice-bench latency`.

    Every loop is bounded: the source by its record count, the sink by the
    count and a deadline, the workers by the parent's SIGTERM (sent when the
    sink is done, or at once when any stage fails) and an idle limit.
*/
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <hiredis.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_stats.h"
#include "sl_opts.h"

#define MAX_SIZE 65536
#define MAX_MEMBERS 8
#define MAX_RECORDS 100000000LL
//  A stage gives up when Redis has not answered for this long.
#define IO_TIMEOUT_S 15
//  A worker gives up when it has read nothing for this long.
#define IDLE_US 30000000LL
//  The sink stops waiting this long after the last record is due (latency) or
//  after the last record it received (throughput).
#define GRACE_US 10000000LL

typedef struct {
    long long count;    //  throughput: records to send
    long long rate;     //  latency: records per second; 0 in throughput mode
    long long seconds;  //  latency: seconds to publish
    long long size;     //  value size in bytes
    long long members;  //  workers in the consumer group
    long long pipeline; //  source: commands written before reading replies
    long long batch;    //  worker and sink: COUNT of each read
    long long port;     //  Redis on 127.0.0.1
    const char *cdf;    //  latency: write the distribution here, or NULL
} chain_config_t;

enum { STAGE_SOURCE, STAGE_SINK, STAGE_WORKER };

static volatile sig_atomic_t s_stop = 0;

//  Child i of the parent: 0 is the source, 1 the sink, 2.. the workers.
static int
s_stage_of (int i)
{
    return i == 0 ? STAGE_SOURCE : i == 1 ? STAGE_SINK : STAGE_WORKER;
}

//  Workers run until the parent says the sink is done; the handler only sets
//  a flag, so a worker ends between two reads and acknowledges what it took.
static void
s_on_term (int sig)
{
    (void)sig;
    s_stop = 1;
}

//  Connects with a bounded connect and bounded reads, so a stage whose Redis
//  is gone or wedged says why and ends instead of hanging.
static redisContext *
s_connect (const char *who, long long port)
{
    struct timeval connect_tv = {2, 0}, io_tv = {IO_TIMEOUT_S, 0};
    redisContext *c = redisConnectWithTimeout ("127.0.0.1", (int)port, connect_tv);
    if (!c || c->err) {
        fprintf (stderr, "redis-chain: %s: cannot connect to 127.0.0.1:%lld: %s\n", who, port,
                 c ? c->errstr : "out of memory");
        redisFree (c);
        return NULL;
    }
    if (redisSetTimeout (c, io_tv) != REDIS_OK) {
        fprintf (stderr, "redis-chain: %s: cannot set timeout: %s\n", who, c->errstr);
        redisFree (c);
        return NULL;
    }
    return c;
}

//  Every reply goes through here: a NULL reply is a connection error, an
//  error reply is Redis refusing the command, and anything but the expected
//  type means we do not understand the server. Frees the reply on failure.
static int
s_check (redisContext *c, redisReply *reply, int type, const char *who, const char *what)
{
    if (!reply) {
        fprintf (stderr, "redis-chain: %s: %s: %s\n", who, what,
                 c->errstr[0] ? c->errstr : "no reply");
        return -1;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        fprintf (stderr, "redis-chain: %s: %s: %s\n", who, what, reply->str);
        freeReplyObject (reply);
        return -1;
    }
    if (reply->type != type) {
        fprintf (stderr, "redis-chain: %s: %s: unexpected reply type %d\n", who, what, reply->type);
        freeReplyObject (reply);
        return -1;
    }
    return 0;
}

//  Reads the next pipelined reply and checks it as s_check does.
static int
s_get_reply (redisContext *c, int type, const char *who, const char *what)
{
    void *reply = NULL;
    if (redisGetReply (c, &reply) != REDIS_OK) {
        reply = NULL;
    }
    if (s_check (c, reply, type, who, what) != 0) {
        return -1;
    }
    freeReplyObject (reply);
    return 0;
}

//  Finds the entries in an XREAD or XREADGROUP reply for one stream:
//  [[stream, [[id, [field, value, ...]], ...]]]. A nil reply is a BLOCK
//  timeout and yields no entries. The shape and the entry count are checked,
//  since the reply comes from the network: at most `max` entries were asked
//  for.
static int
s_entries (const redisReply *reply, long long max, redisReply **entries)
{
    *entries = NULL;
    if (reply->type == REDIS_REPLY_NIL) {
        return 0;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1) {
        return -1;
    }
    const redisReply *stream = reply->element[0];
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2 ||
        stream->element[1]->type != REDIS_REPLY_ARRAY ||
        stream->element[1]->elements > (size_t)max) {
        return -1;
    }
    *entries = stream->element[1];
    return 0;
}

//  One entry as this program writes it: an id and the single field `v`
//  holding exactly `size` bytes. Anything else is somebody else's data.
static int
s_entry (const redisReply *entry, long long size, const redisReply **id, const redisReply **value)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) {
        return -1;
    }
    const redisReply *fields = entry->element[1];
    if (entry->element[0]->type != REDIS_REPLY_STRING || entry->element[0]->len >= 64 ||
        fields->type != REDIS_REPLY_ARRAY || fields->elements != 2 ||
        fields->element[0]->type != REDIS_REPLY_STRING || fields->element[0]->len != 1 ||
        fields->element[0]->str[0] != 'v' || fields->element[1]->type != REDIS_REPLY_STRING ||
        fields->element[1]->len != (size_t)size) {
        return -1;
    }
    *id = entry->element[0];
    *value = fields->element[1];
    return 0;
}

//  Writes k XADDs of value to `in`, then reads their k replies: one round
//  trip. With stamp, each value first gets its creation time.
static int
s_xadd_pipelined (redisContext *c, const chain_config_t *cfg, char *value, long long k, bool stamp)
{
    for (long long i = 0; i < k; i++) {
        if (stamp) {
            int64_t now = bench_now_us ();
            memcpy (value, &now, sizeof now);
        }
        if (redisAppendCommand (c, "XADD in * v %b", value, (size_t)cfg->size) != REDIS_OK) {
            fprintf (stderr, "redis-chain: source: XADD: %s\n", c->errstr);
            return 1;
        }
    }
    for (long long i = 0; i < k; i++) {
        if (s_get_reply (c, REDIS_REPLY_STRING, "source", "XADD") != 0) {
            return 1;
        }
    }
    return 0;
}

//  Throughput source: XADDs --count records, pipelined. Writing up to
//  --pipeline commands before reading their replies is how Redis's own
//  documentation ("Redis pipelining") says to go fast: it saves a round trip
//  and a read/write system call pair per command.
static int
s_source_throughput (redisContext *c, const chain_config_t *cfg, char *value)
{
    memset (value, 'x', (size_t)cfg->size);
    for (long long sent = 0; sent < cfg->count;) {
        long long k = cfg->count - sent < cfg->pipeline ? cfg->count - sent : cfg->pipeline;
        if (s_xadd_pipelined (c, cfg, value, k, false) != 0) {
            return 1;
        }
        sent += k;
    }
    return 0;
}

//  Latency source: record i is due at t0 + i / rate. Whatever is due by now
//  is sent, pipelined when several are (after a stall), one at a time
//  otherwise; each value is stamped when it is created, as Kafka's
//  EndToEndLatency does, so the latency holds any backlog.
static int
s_source_latency (redisContext *c, const chain_config_t *cfg, char *value, int64_t t0)
{
    long long total = cfg->rate * cfg->seconds;
    memset (value, 'x', (size_t)cfg->size);
    for (long long created = 0; created < total;) {
        int64_t now = bench_now_us ();
        long long due = now < t0 ? 0 : (long long)((now - t0) * cfg->rate / 1000000) + 1;
        if (due > total) {
            due = total;
        }
        if (due <= created) {
            int64_t next = t0 + (int64_t)(created * 1000000 / cfg->rate);
            int64_t wait_us = next - now < 100000 ? next - now : 100000;
            struct timespec ts = {0, (long)(wait_us > 0 ? wait_us : 0) * 1000};
            nanosleep (&ts, NULL);
            continue;
        }
        long long k = due - created < cfg->pipeline ? due - created : cfg->pipeline;
        if (s_xadd_pipelined (c, cfg, value, k, true) != 0) {
            return 1;
        }
        created += k;
    }
    return 0;
}

//  One member of the group: reads a batch of new entries, then pipelines an
//  XADD to `out` per entry and one XACK for the whole batch, and reads all
//  their replies before the next read. Ends when the parent says so, or on
//  any error, or after IDLE_US with nothing to read.
static int
s_worker (redisContext *c, const chain_config_t *cfg, int member)
{
    char who[32], name[16];
    snprintf (who, sizeof who, "worker %d", member);
    snprintf (name, sizeof name, "w%d", member);
    const char **argv = calloc ((size_t)cfg->batch + 3, sizeof *argv);
    size_t *argvlen = calloc ((size_t)cfg->batch + 3, sizeof *argvlen);
    int rc = 1;
    if (!argv || !argvlen) {
        fprintf (stderr, "redis-chain: %s: out of memory\n", who);
        goto done;
    }
    //  XACK in g <id>...: the ids of each batch go from argv[3] on.
    argv[0] = "XACK";
    argv[1] = "in";
    argv[2] = "g";
    argvlen[0] = 4;
    argvlen[1] = 2;
    argvlen[2] = 1;
    int64_t last_read = bench_now_us ();
    while (!s_stop) {
        redisReply *reply = redisCommand (c,
                                          "XREADGROUP GROUP g %s COUNT %lld BLOCK 100 "
                                          "STREAMS in >",
                                          name, cfg->batch);
        if (reply && reply->type == REDIS_REPLY_NIL) {
            freeReplyObject (reply);
            if (bench_now_us () - last_read > IDLE_US) {
                fprintf (stderr, "redis-chain: %s: nothing to read for %lld s\n", who,
                         IDLE_US / 1000000);
                goto done;
            }
            continue;
        }
        if (s_check (c, reply, REDIS_REPLY_ARRAY, who, "XREADGROUP") != 0) {
            goto done;
        }
        redisReply *entries;
        if (s_entries (reply, cfg->batch, &entries) != 0 || !entries) {
            fprintf (stderr, "redis-chain: %s: malformed XREADGROUP reply\n", who);
            freeReplyObject (reply);
            goto done;
        }
        size_t n = entries->elements;
        for (size_t i = 0; i < n; i++) {
            const redisReply *id, *value;
            if (s_entry (entries->element[i], cfg->size, &id, &value) != 0) {
                fprintf (stderr, "redis-chain: %s: malformed entry in `in`\n", who);
                freeReplyObject (reply);
                goto done;
            }
            if (redisAppendCommand (c, "XADD out * v %b", value->str, value->len) != REDIS_OK) {
                fprintf (stderr, "redis-chain: %s: XADD: %s\n", who, c->errstr);
                freeReplyObject (reply);
                goto done;
            }
            argv[3 + i] = id->str;
            argvlen[3 + i] = id->len;
        }
        //  hiredis copies the command into its output buffer, so the reply
        //  the ids point into can go once the XACK is appended.
        int appended = n ? redisAppendCommandArgv (c, (int)n + 3, argv, argvlen) : REDIS_OK;
        freeReplyObject (reply);
        if (appended != REDIS_OK) {
            fprintf (stderr, "redis-chain: %s: XACK: %s\n", who, c->errstr);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            if (s_get_reply (c, REDIS_REPLY_STRING, who, "XADD") != 0) {
                goto done;
            }
        }
        if (n) {
            void *ack = NULL;
            if (redisGetReply (c, &ack) != REDIS_OK) {
                ack = NULL;
            }
            if (s_check (c, ack, REDIS_REPLY_INTEGER, who, "XACK") != 0) {
                goto done;
            }
            if (((redisReply *)ack)->integer != (long long)n) {
                fprintf (stderr, "redis-chain: %s: XACK acknowledged %lld of %zu\n", who,
                         ((redisReply *)ack)->integer, n);
            }
            freeReplyObject (ack);
            last_read = bench_now_us ();
        }
    }
    rc = 0;
done:
    free (argv);
    free (argvlen);
    return rc;
}

//  Prints the latency lines in the format of `sluice-bench latency` and
//  zmq-chain, through the header they share.
static int
s_print_latency (const chain_config_t *cfg, int64_t *lat, long long received, int64_t elapsed)
{
    printf ("records=%lld received=%lld rate=%lld/s elapsed=%.2fs path=redis\n",
            cfg->rate * cfg->seconds, received, cfg->rate, (double)elapsed / 1e6);
    if (received == 0) {
        fprintf (stderr, "redis-chain: sink: no record came through\n");
        return -1;
    }
    return bench_latency_report (lat, (size_t)received, cfg->cdf);
}

//  The sink reads `out` from its start with XREAD and counts records until
//  all have come; in latency mode it keeps arrival - creation per record.
//  It gives up GRACE_US after the last record is due (latency) or after the
//  last progress (throughput).
static int
s_sink (redisContext *c, const chain_config_t *cfg, int64_t t0)
{
    bool latency = cfg->rate > 0;
    long long total = latency ? cfg->rate * cfg->seconds : cfg->count;
    int64_t *lat = NULL;
    if (latency && !(lat = calloc ((size_t)total, sizeof *lat))) {
        fprintf (stderr, "redis-chain: sink: out of memory\n");
        return 1;
    }
    char last[64] = "0-0";
    long long received = 0;
    int64_t last_due = t0 + (int64_t)((total - 1) * 1000000 / (cfg->rate ? cfg->rate : 1));
    int64_t deadline = latency ? last_due + GRACE_US : bench_now_us () + GRACE_US;
    int rc = 1;
    while (received < total) {
        if (bench_now_us () > deadline) {
            fprintf (stderr, "redis-chain: sink: gave up with %lld of %lld records\n", received,
                     total);
            break;
        }
        redisReply *reply =
            redisCommand (c, "XREAD COUNT %lld BLOCK 1000 STREAMS out %s", cfg->batch, last);
        int64_t arrived = bench_now_us ();
        if (reply && reply->type == REDIS_REPLY_NIL) {
            freeReplyObject (reply);
            continue;
        }
        if (s_check (c, reply, REDIS_REPLY_ARRAY, "sink", "XREAD") != 0) {
            goto done;
        }
        redisReply *entries;
        if (s_entries (reply, cfg->batch, &entries) != 0 || !entries) {
            fprintf (stderr, "redis-chain: sink: malformed XREAD reply\n");
            freeReplyObject (reply);
            goto done;
        }
        for (size_t i = 0; i < entries->elements && received < total; i++) {
            const redisReply *id, *value;
            if (s_entry (entries->element[i], cfg->size, &id, &value) != 0) {
                fprintf (stderr, "redis-chain: sink: malformed entry in `out`\n");
                freeReplyObject (reply);
                goto done;
            }
            if (latency) {
                int64_t created;
                memcpy (&created, value->str, sizeof created);
                lat[received] = arrived - created;
            }
            memcpy (last, id->str, id->len);
            last[id->len] = '\0';
            received++;
        }
        freeReplyObject (reply);
        if (!latency) {
            deadline = arrived + GRACE_US;
        }
    }
    int64_t elapsed = bench_now_us () - t0;
    if (latency) {
        if (s_print_latency (cfg, lat, received, elapsed) != 0) {
            goto done;
        }
    }
    else if (received == total) {
        double secs = (double)elapsed / 1e6;
        printf ("redis-chain records=%lld size=%lld members=%lld seconds=%.3f "
                "records_per_s=%.0f\n",
                total, cfg->size, cfg->members, secs, (double)total / secs);
    }
    rc = received == total ? 0 : 1;
done:
    //  The stage ends with _exit, which does not flush stdio.
    fflush (stdout);
    free (lat);
    return rc;
}

//  Names a stage in messages: "source", "sink" or "worker N".
static void
s_stage_name (char *out, size_t size, int stage, int member)
{
    if (stage == STAGE_WORKER) {
        snprintf (out, size, "worker %d", member);
    }
    else {
        snprintf (out, size, "%s", stage == STAGE_SOURCE ? "source" : "sink");
    }
}

//  A child: connects, tells the parent it is ready, waits for the start time
//  (8 bytes on the `go` pipe; EOF without them means abort), then runs its
//  stage. Dies with the parent, so no stage outlives an interrupted run.
static int
s_stage (int stage, int member, const chain_config_t *cfg, int ready_fd, int go_fd)
{
    char who[32];
    s_stage_name (who, sizeof who, stage, member);
    signal (SIGPIPE, SIG_IGN);
    if (stage == STAGE_WORKER) {
        struct sigaction sa;
        memset (&sa, 0, sizeof sa);
        sa.sa_handler = s_on_term;
        sigemptyset (&sa.sa_mask);
        sigaction (SIGTERM, &sa, NULL);
    }
    redisContext *c = s_connect (who, cfg->port);
    if (!c) {
        return 1;
    }
    int rc = 1;
    char *value = NULL;
    int64_t t0 = 0;
    size_t got = 0;
    if (write (ready_fd, "r", 1) != 1) {
        goto done;
    }
    while (got < sizeof t0) {
        ssize_t n = read (go_fd, (char *)&t0 + got, sizeof t0 - got);
        if (n <= 0) {
            //  EOF, or a signal while waiting: the parent called the run off.
            goto done;
        }
        got += (size_t)n;
    }
    if (stage == STAGE_SOURCE) {
        if (!(value = malloc ((size_t)cfg->size))) {
            fprintf (stderr, "redis-chain: source: out of memory\n");
            goto done;
        }
        rc = cfg->rate ? s_source_latency (c, cfg, value, t0) : s_source_throughput (c, cfg, value);
    }
    else if (stage == STAGE_SINK) {
        rc = s_sink (c, cfg, t0);
    }
    else {
        rc = s_worker (c, cfg, member);
    }
done:
    free (value);
    redisFree (c);
    return rc;
}

//  Empties both streams and creates the group, so every run starts clean
//  and the workers find `g` in place.
static int
s_setup (long long port, bool recreate)
{
    redisContext *c = s_connect ("setup", port);
    if (!c) {
        return -1;
    }
    int rc = -1;
    redisReply *reply = redisCommand (c, "DEL in out");
    if (s_check (c, reply, REDIS_REPLY_INTEGER, "setup", "DEL") != 0) {
        goto done;
    }
    freeReplyObject (reply);
    if (recreate) {
        reply = redisCommand (c, "XGROUP CREATE in g 0 MKSTREAM");
        if (s_check (c, reply, REDIS_REPLY_STATUS, "setup", "XGROUP CREATE") != 0) {
            goto done;
        }
        freeReplyObject (reply);
    }
    rc = 0;
done:
    redisFree (c);
    return rc;
}

//  Ends every stage still running; the workers take SIGTERM as "finish the
//  batch in hand and exit 0", the others just end.
static void
s_terminate (const pid_t *pids, const bool *alive, int n)
{
    for (int i = 0; i < n; i++) {
        if (alive[i]) {
            kill (pids[i], SIGTERM);
        }
    }
}

//  --help goes to stdout and exits 0; a wrong option shows it on stderr.
//  The options, as the table fills them (sl_opts.h: --help, SLUICE_* and
//  the bounds come from it), before they become chain_config_t's.
typedef struct {
    uint64_t count, size, members, pipeline, batch, port, rate, seconds;
    const char *cdf;
} s_opts_t;

#define F(field) SL_OPT_FIELD (s_opts_t, field)
static const sl_opt_t s_opts[] = {
    {"port", 0, "P", "Redis on 127.0.0.1:P", F (port), .type = SL_ARG_UINT, .def = "6379", .min = 1,
     .max = 65535},
    {"count", 0, "N", "throughput: records to send", F (count), .type = SL_ARG_UINT,
     .def = "1000000", .min = 1, .max = MAX_RECORDS},
    {"size", 0, "BYTES", "value size (latency needs >= 8)", F (size), .type = SL_ARG_UINT,
     .def = "100", .min = 1, .max = MAX_SIZE},
    {"members", 0, "M", "workers in the consumer group", F (members), .type = SL_ARG_UINT,
     .def = "1", .min = 1, .max = MAX_MEMBERS},
    {"pipeline", 0, "N", "source: commands written before reading replies", F (pipeline),
     .type = SL_ARG_UINT, .def = "100", .min = 1, .max = 100000},
    {"batch", 0, "N", "worker and sink: COUNT of each read", F (batch), .type = SL_ARG_UINT,
     .def = "1000", .min = 1, .max = 100000},
    {"rate", 0, "R", "latency mode: records per second", F (rate), .type = SL_ARG_UINT, .min = 1,
     .max = 1000000},
    {"seconds", 0, "S", "latency mode: seconds to publish", F (seconds), .type = SL_ARG_UINT,
     .def = "10", .min = 1, .max = 3600},
    {"cdf", 0, "FILE", "latency mode: write the distribution (latency_us fraction)", F (cdf),
     .type = SL_ARG_STRING, .flags = SL_OPT_PATH},
    {.name = NULL},
};
#undef F

static const sl_opts_spec_t s_spec = {
    .program = "redis-chain",
    .about = "The Redis Streams baseline: XADD -> XREADGROUP/XACK workers -> XADD -> sink.",
    .footer = "Uses and empties the keys `in` and `out`. Exits 0 only when every record "
              "arrived.",
    .opts = s_opts,
};

//  The command line into cfg. 0, or -1 (the reason said) with *code the
//  exit code: 0 after --help, 2 for bad usage.
static int
s_parse (int argc, char **argv, chain_config_t *cfg, int *code)
{
    s_opts_t o = {.cdf = NULL};
    *code = 2;
    int first = sl_opts_parse_typed (&s_spec, argc, argv, NULL, &o, code);
    if (first < 0) {
        return -1;
    }
    *code = 2; //  from here on, every refusal is bad usage
    if (first < argc) {
        fprintf (stderr, "redis-chain: unexpected argument '%s'; try --help\n", argv[first]);
        return -1;
    }
    //  The table's bounds keep every value far below LLONG_MAX.
    cfg->count = (long long)o.count;
    cfg->size = (long long)o.size;
    cfg->members = (long long)o.members;
    cfg->pipeline = (long long)o.pipeline;
    cfg->batch = (long long)o.batch;
    cfg->port = (long long)o.port;
    cfg->rate = (long long)o.rate;
    cfg->seconds = (long long)o.seconds;
    cfg->cdf = o.cdf;
    if (cfg->rate && cfg->size < 8) {
        fprintf (stderr, "redis-chain: latency mode needs --size of at least 8 (the stamp)\n");
        return -1;
    }
    if (cfg->rate && cfg->rate * cfg->seconds > MAX_RECORDS) {
        fprintf (stderr, "redis-chain: --rate times --seconds is over %lld records\n", MAX_RECORDS);
        return -1;
    }
    return 0;
}

//  Waits until every stage has connected (one byte each on `ready`), so
//  that connection set-up is not timed. Fails when a stage exits first or
//  after 10 s.
static int
s_wait_ready (int ready_fd, int n, const pid_t *pids, bool *alive)
{
    int64_t deadline = bench_now_us () + 10000000;
    int ready = 0;
    while (ready < n && bench_now_us () < deadline) {
        struct pollfd pfd = {ready_fd, POLLIN, 0};
        if (poll (&pfd, 1, 100) > 0) {
            char buf[MAX_MEMBERS + 2];
            ssize_t got = read (ready_fd, buf, (size_t)(n - ready));
            if (got <= 0) {
                return -1;
            }
            ready += (int)got;
        }
        int status;
        pid_t pid = waitpid (-1, &status, WNOHANG);
        if (pid > 0) {
            for (int i = 0; i < n; i++) {
                if (pids[i] == pid) {
                    alive[i] = false;
                }
            }
            return -1;
        }
    }
    if (ready < n) {
        fprintf (stderr, "redis-chain: the stages were not ready within 10 s\n");
    }
    return ready == n ? 0 : -1;
}

//  Sets up the streams, forks the stages, releases them together once all
//  have connected, and reaps them: exit 0 only when the sink got everything
//  and no stage failed.
int
main (int argc, char **argv)
{
    chain_config_t cfg;
    int code;
    if (s_parse (argc, argv, &cfg, &code) != 0) {
        return code;
    }
    if (s_setup (cfg.port, true) != 0) {
        return 1;
    }
    //  pids[0] the source, pids[1] the sink, then the workers.
    int n = 2 + (int)cfg.members;
    pid_t pids[2 + MAX_MEMBERS];
    bool alive[2 + MAX_MEMBERS] = {false};
    int ready[2], go[2];
    if (pipe (ready) != 0 || pipe (go) != 0) {
        perror ("redis-chain: pipe");
        return 1;
    }
    pid_t parent = getpid ();
    int failed = 0;
    for (int i = 0; i < n; i++) {
        pids[i] = fork ();
        if (pids[i] == 0) {
            close (ready[0]);
            close (go[1]);
            prctl (PR_SET_PDEATHSIG, SIGTERM);
            if (getppid () != parent) {
                _exit (1);
            }
            _exit (s_stage (s_stage_of (i), i - 1, &cfg, ready[1], go[0]));
        }
        if (pids[i] < 0) {
            perror ("redis-chain: fork");
            failed = 1;
            n = i;
            break;
        }
        alive[i] = true;
    }
    close (ready[1]);
    close (go[0]);
    if (!failed && s_wait_ready (ready[0], n, pids, alive) != 0) {
        failed = 1;
    }
    if (!failed) {
        //  Every stage reads the same start time; 8-byte writes to a pipe
        //  are atomic, so each reader gets one whole copy.
        int64_t t0 = bench_now_us ();
        for (int i = 0; i < n; i++) {
            if (write (go[1], &t0, sizeof t0) != (ssize_t)sizeof t0) {
                failed = 1;
            }
        }
    }
    close (go[1]);
    close (ready[0]);
    bool stopping = false;
    if (failed) {
        s_terminate (pids, alive, n);
        stopping = true;
    }
    //  Each stage is bounded by itself (count, deadline, idle limit), and the
    //  workers by the SIGTERM sent once the sink is done or anything failed.
    int left = 0;
    for (int i = 0; i < n; i++) {
        left += alive[i];
    }
    while (left > 0) {
        int status = 0;
        pid_t pid = waitpid (-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        int i = 0;
        while (i < n && pids[i] != pid) {
            i++;
        }
        if (i == n || !alive[i]) {
            continue;
        }
        alive[i] = false;
        left--;
        if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
            if (!stopping) {
                char who[32];
                s_stage_name (who, sizeof who, s_stage_of (i), i - 1);
                fprintf (stderr, "redis-chain: %s failed; ending the others\n", who);
            }
            failed = 1;
        }
        if (!stopping && (failed || i == 1)) {
            s_terminate (pids, alive, n);
            stopping = true;
        }
    }
    //  Leave Redis as small as we found it; this is after the timing.
    if (s_setup (cfg.port, false) != 0) {
        failed = 1;
    }
    return failed;
}
