/*  op_exec.c - the exec operator: records through a long-running child.

    `--exec 'COMMAND'` starts COMMAND with /bin/sh -c, once, and keeps it.
    Each input value goes to the child's stdin as one JSON line; for each
    line the child answers exactly one line on its stdout, a JSON array of
    output values: [] drops the record, [v] replaces its value, [v1, v2]
    gives several records. Outputs keep the input's key and headers (and
    timestamp). jq fits as it is:

        --exec "jq -c --unbuffered '[select(.temp > 30) | {id, temp}]'"

    A whole batch is written ahead, as far as the pipe takes it, while the
    answers are read as they come: throughput is the child's, not one round
    trip per record. Answers are matched to records by order.

    Whatever goes wrong with the child is an error for the record whose
    answer is awaited (SL_OP_RETRY with the reason, so the broker delivers
    it again and, past --max-deliver, dead-letters it): the child exiting
    or closing its stdout, an answer that is not JSON or not an array, or
    no answer within the timeout. The child is then killed (its whole
    process group) and reaped, and a new one is started after a backoff
    that doubles from 50 ms up to 1 s while failures repeat; the records
    after the failed one are sent to the new child. The child runs in its
    own process group so that a Ctrl-C meant for the worker does not kill
    it in the middle of the batch the worker still finishes.
*/
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "operator.h"
#include "sl_buf.h"
#include "sl_error.h"
#include "sl_json.h"
#include "sl_mp.h"
#include "sl_util.h"

extern char **environ;

#define S_DEFAULT_TIMEOUT_MS 10000
#define S_TICK_MS 250
#define S_BACKOFF_FIRST_MS 50
#define S_BACKOFF_MAX_MS 1000
#define S_MAX_LINE (64u << 20) //  longest answer line accepted
#define S_READ_CHUNK 65536
#define S_EXIT_GRACE_MS 1000 //  on destroy: time to exit after stdin closes
#define S_EOF_GRACE_MS 200   //  after stdout closed: time to exit by itself

typedef struct {
    char *command;
    int64_t timeout_ms;
    pid_t pid;      //  0 when no child runs
    int to_child;   //  child's stdin (non-blocking), -1 when closed
    int from_child; //  child's stdout (non-blocking), -1 when closed
    bool eof;       //  the child's stdout reached end of file
    sl_buf_t rbuf;  //  bytes read from the child, from rpos not yet consumed
    size_t rpos;
    sl_buf_t lines;   //  the batch's input lines
    size_t *line_end; //  per record: end of its line in lines
    uint8_t *bad;     //  per record: its value could not become JSON
    size_t n_cap;
    sl_buf_t answer; //  one answer as msgpack
    sl_json_t *json;
    int64_t backoff_ms;    //  0 after a good answer
    int64_t next_start_ms; //  no child is started before this
    uint64_t restarts;
} s_exec_t;

static const sl_op_option_t s_options[] = {
    {"command", SL_OPT_STRING, NULL, "shell command, run with /bin/sh -c"},
    {"timeout", SL_OPT_INT, "10000", "milliseconds the child may take to answer one record"},
    {NULL, 0, NULL, NULL},
};

static void s_log (const sl_op_host_t *host, sl_op_log_t level, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_log (const sl_op_host_t *host, sl_op_log_t level, const char *fmt, ...)
{
    if (!host || !host->log) {
        return;
    }
    char text[512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    host->log (host->ctx, level, text);
}

static void s_set_error (const sl_op_host_t *host, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_set_error (const sl_op_host_t *host, const char *fmt, ...)
{
    char text[256];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    host->error (host->ctx, text);
}

static void
s_close_fd (int *fd)
{
    if (*fd >= 0) {
        close (*fd);
        *fd = -1;
    }
}

//  Waits up to grace_ms for the child to exit by itself, then kills its
//  process group and reaps it. Writes how it ended into why.
static void
s_reap (s_exec_t *self, int64_t grace_ms, char *why, size_t why_size)
{
    if (self->pid <= 0) {
        return;
    }
    int status = 0;
    pid_t got = 0;
    int64_t deadline = sl_mono_ms () + grace_ms;
    while (true) {
        got = waitpid (self->pid, &status, WNOHANG);
        if (got != 0 || sl_mono_ms () >= deadline) {
            break;
        }
        poll (NULL, 0, 5);
    }
    bool killed = false;
    if (got == 0) {
        kill (-self->pid, SIGKILL);
        kill (self->pid, SIGKILL);
        killed = true;
        do {
            got = waitpid (self->pid, &status, 0);
        } while (got < 0 && errno == EINTR);
    }
    if (why) {
        if (got < 0) {
            snprintf (why, why_size, "exec: child lost (%s)", strerror (errno));
        }
        else if (killed) {
            snprintf (why, why_size, "exec: child closed its stdout");
        }
        else if (WIFEXITED (status)) {
            snprintf (why, why_size, "exec: child exited with status %d", WEXITSTATUS (status));
        }
        else if (WIFSIGNALED (status)) {
            snprintf (why, why_size, "exec: child killed by signal %d", WTERMSIG (status));
        }
        else {
            snprintf (why, why_size, "exec: child ended");
        }
    }
    else if (!killed) {
        //  A process group may outlive its leader (a pipeline in COMMAND).
        kill (-self->pid, SIGKILL);
    }
    self->pid = 0;
}

//  Ends the child now (kill, reap) and schedules the next start.
static void
s_stop_child (s_exec_t *self, bool failed)
{
    s_close_fd (&self->to_child);
    s_close_fd (&self->from_child);
    if (self->pid > 0) {
        kill (-self->pid, SIGKILL);
        kill (self->pid, SIGKILL);
        s_reap (self, 0, NULL, 0);
    }
    self->eof = false;
    sl_buf_reset (&self->rbuf);
    self->rpos = 0;
    if (failed) {
        self->backoff_ms = self->backoff_ms ? self->backoff_ms * 2 : S_BACKOFF_FIRST_MS;
        if (self->backoff_ms > S_BACKOFF_MAX_MS) {
            self->backoff_ms = S_BACKOFF_MAX_MS;
        }
        self->next_start_ms = sl_mono_ms () + self->backoff_ms;
        self->restarts++;
    }
}

static int
s_nonblock (int fd)
{
    int flags = fcntl (fd, F_GETFL);
    return flags < 0 ? -1 : fcntl (fd, F_SETFL, flags | O_NONBLOCK);
}

//  Starts the child: /bin/sh -c COMMAND with pipes on stdin and stdout, in
//  its own process group, with default signal dispositions (SIGPIPE is
//  ignored in the worker and would otherwise stay ignored in the child).
static int
s_start_child (s_exec_t *self, const sl_op_host_t *host)
{
    int in_pipe[2] = {-1, -1};
    int out_pipe[2] = {-1, -1};
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    bool have_actions = false;
    bool have_attr = false;
    int rc = SL_EIO;
    if (pipe2 (in_pipe, O_CLOEXEC) || pipe2 (out_pipe, O_CLOEXEC)) {
        goto fail;
    }
    if (posix_spawn_file_actions_init (&actions)) {
        goto fail;
    }
    have_actions = true;
    if (posix_spawnattr_init (&attr)) {
        goto fail;
    }
    have_attr = true;
    sigset_t defaults, empty;
    sigemptyset (&empty);
    sigemptyset (&defaults);
    sigaddset (&defaults, SIGPIPE);
    sigaddset (&defaults, SIGINT);
    sigaddset (&defaults, SIGTERM);
    sigaddset (&defaults, SIGCHLD);
    if (posix_spawn_file_actions_adddup2 (&actions, in_pipe[0], STDIN_FILENO) ||
        posix_spawn_file_actions_adddup2 (&actions, out_pipe[1], STDOUT_FILENO) ||
        posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                             POSIX_SPAWN_SETSIGMASK) ||
        posix_spawnattr_setpgroup (&attr, 0) || posix_spawnattr_setsigdefault (&attr, &defaults) ||
        posix_spawnattr_setsigmask (&attr, &empty)) {
        goto fail;
    }
    char *argv[] = {"sh", "-c", self->command, NULL};
    pid_t pid = 0;
    int err = posix_spawn (&pid, "/bin/sh", &actions, &attr, argv, environ);
    if (err) {
        s_log (host, SL_OP_LOG_ERROR, "cannot start /bin/sh: %s", strerror (err));
        goto fail;
    }
    self->pid = pid;
    close (in_pipe[0]);
    close (out_pipe[1]);
    self->to_child = in_pipe[1];
    self->from_child = out_pipe[0];
    s_nonblock (self->to_child);
    s_nonblock (self->from_child);
    self->eof = false;
    sl_buf_reset (&self->rbuf);
    self->rpos = 0;
    posix_spawn_file_actions_destroy (&actions);
    posix_spawnattr_destroy (&attr);
    s_log (host, SL_OP_LOG_DEBUG, "started child %d: %s", (int)pid, self->command);
    return 0;

fail:
    if (have_actions) {
        posix_spawn_file_actions_destroy (&actions);
    }
    if (have_attr) {
        posix_spawnattr_destroy (&attr);
    }
    for (int i = 0; i < 2; i++) {
        s_close_fd (&in_pipe[i]);
        s_close_fd (&out_pipe[i]);
    }
    return rc;
}

//  True when the first word of a shell command names something that can
//  run: a shell keyword or builtin, an executable path, or a program found
//  in PATH. A command whose first word the shell would expand (quotes, $,
//  assignments, redirections) is not judged here and counts as runnable.
static bool
s_command_found (const char *command, char *word, size_t size)
{
    static const char *s_builtins[] = {
        "exec",  "cd",    "exit",    "echo",   "printf", "read", "test",   "[",    "true", "false",
        "while", "until", "for",     "if",     "case",   "set",  "export", "eval", ":",    ".",
        "trap",  "wait",  "command", "ulimit", "umask",  "{",    "(",      "!",    NULL};
    const char *p = command;
    while (*p == ' ' || *p == '\t' || *p == '\n') {
        p++;
    }
    size_t len = strcspn (p, " \t\n;|&");
    if (len == 0 || len >= size) {
        return true;
    }
    memcpy (word, p, len);
    word[len] = '\0';
    if (strpbrk (word, "'\"$`=<>(){}*?[\\~")) {
        return true;
    }
    for (size_t i = 0; s_builtins[i]; i++) {
        if (strcmp (word, s_builtins[i]) == 0) {
            return true;
        }
    }
    if (strchr (word, '/')) {
        return access (word, X_OK) == 0;
    }
    const char *path = getenv ("PATH");
    if (!path || !*path) {
        path = "/usr/local/bin:/usr/bin:/bin";
    }
    while (*path) {
        size_t dir_len = strcspn (path, ":");
        char full[4096];
        int n = snprintf (full, sizeof full, "%.*s/%s", (int)dir_len, dir_len ? path : ".", word);
        if (n > 0 && (size_t)n < sizeof full && access (full, X_OK) == 0) {
            return true;
        }
        path += dir_len;
        if (*path == ':') {
            path++;
        }
    }
    return false;
}

static int
s_exec_init (void **state, const sl_op_host_t *host, int n, const char *const *keys,
             const char *const *values)
{
    s_exec_t *self = calloc (1, sizeof *self);
    if (!self) {
        host->error (host->ctx, "exec: out of memory");
        return SL_ENOMEM;
    }
    self->to_child = -1;
    self->from_child = -1;
    self->timeout_ms = S_DEFAULT_TIMEOUT_MS;
    sl_buf_init (&self->rbuf, 0);
    sl_buf_init (&self->lines, 0);
    sl_buf_init (&self->answer, 0);
    for (int i = 0; i < n; i++) {
        if (strcmp (keys[i], "command") == 0 && values[i]) {
            free (self->command);
            self->command = strdup (values[i]);
        }
        else if (strcmp (keys[i], "timeout") == 0 && values[i]) {
            int64_t ms = 0;
            if (sl_parse_i64 (values[i], &ms) || ms <= 0) {
                host->error (host->ctx, "exec: timeout must be a positive number of ms");
                goto fail;
            }
            self->timeout_ms = ms;
        }
    }
    if (!self->command || !self->command[0]) {
        host->error (host->ctx, "exec: no command given");
        goto fail;
    }
    //  Said at start rather than as every record's error once the shell
    //  has failed to run it ("sh: 1: nosuchcmd: not found" per restart).
    char word[256];
    if (!s_command_found (self->command, word, sizeof word)) {
        char text[512];
        snprintf (text, sizeof text, "exec: '%s' not found (not in PATH, not executable)", word);
        host->error (host->ctx, text);
        goto fail;
    }
    self->json = sl_json_new ();
    if (!self->json) {
        host->error (host->ctx, "exec: out of memory");
        goto fail;
    }
    //  A child that dies while we write must give EPIPE, not kill us.
    struct sigaction old;
    if (sigaction (SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
        signal (SIGPIPE, SIG_IGN);
    }
    *state = self;
    return 0;

fail:
    sl_json_destroy (&self->json);
    sl_buf_free (&self->rbuf);
    sl_buf_free (&self->lines);
    sl_buf_free (&self->answer);
    free (self->command);
    free (self);
    return SL_EINVAL;
}

static void
s_exec_destroy (void *state)
{
    s_exec_t *self = state;
    if (!self) {
        return;
    }
    //  A well-behaved child exits when its stdin closes; others are killed.
    s_close_fd (&self->to_child);
    s_close_fd (&self->from_child);
    s_reap (self, S_EXIT_GRACE_MS, NULL, 0);
    sl_json_destroy (&self->json);
    sl_buf_free (&self->rbuf);
    sl_buf_free (&self->lines);
    sl_buf_free (&self->answer);
    free (self->line_end);
    free (self->bad);
    free (self->command);
    free (self);
}

//  Builds the batch's input lines; a value that cannot become JSON is
//  marked bad and gets an empty line (nothing is sent for it).
static int
s_prepare (s_exec_t *self, const sl_op_record_t *records, size_t n)
{
    if (n > self->n_cap) {
        size_t *ends = realloc (self->line_end, n * sizeof *ends);
        if (!ends) {
            return SL_ENOMEM;
        }
        self->line_end = ends;
        uint8_t *bad = realloc (self->bad, n);
        if (!bad) {
            return SL_ENOMEM;
        }
        self->bad = bad;
        self->n_cap = n;
    }
    sl_buf_reset (&self->lines);
    for (size_t i = 0; i < n; i++) {
        int rc =
            sl_msgpack_to_json (self->json, records[i].value, records[i].value_len, &self->lines);
        if (rc == SL_ENOMEM) {
            return rc;
        }
        self->bad[i] = rc != 0;
        if (rc == 0 && sl_buf_append (&self->lines, "\n", 1)) {
            return SL_ENOMEM;
        }
        self->line_end[i] = self->lines.len;
    }
    return 0;
}

//  Turns one answer line into the record's outputs. 0, or SL_OP_RETRY
//  with the error set (the child is out of step and must be restarted:
//  *restart), or SL_OP_RETRY without restart when an output was refused.
static int
s_answer (s_exec_t *self, const sl_op_record_t *in, const char *line, size_t len,
          const sl_op_host_t *host, bool *restart)
{
    *restart = false;
    int shown = len < 60 ? (int)len : 60; //  of the line, in error texts
    sl_buf_reset (&self->answer);
    char why[128];
    int rc = sl_json_to_msgpack (self->json, line, len, &self->answer, why, sizeof why);
    if (rc) {
        s_set_error (host, "exec: answer is not JSON (%s): %.*s", why, shown, line);
        *restart = true;
        return SL_OP_RETRY;
    }
    const uint8_t *p = self->answer.data;
    const uint8_t *end = p + self->answer.len;
    uint32_t count = 0;
    if (sl_mp_read_array (&p, end, &count)) {
        s_set_error (host, "exec: answer is not a JSON array: %.*s", shown, line);
        *restart = true;
        return SL_OP_RETRY;
    }
    for (uint32_t i = 0; i < count; i++) {
        size_t used = 0;
        rc = sl_mp_skip (p, (size_t)(end - p), SL_MP_MAX_DEPTH, &used);
        if (rc) {
            s_set_error (host, "exec: answer element %u: %s", i, sl_strerror (rc));
            return SL_OP_RETRY;
        }
        sl_op_record_t out = *in;
        out.timestamp = 0;
        out.value = p;
        out.value_len = used;
        if (host->emit (host->ctx, &out)) {
            s_set_error (host, "exec: output %u refused (too big or too many?)", i);
            return SL_OP_RETRY;
        }
        p += used;
    }
    return SL_OP_OK;
}

//  Writes what the pipe takes. A child that stopped reading (EPIPE) is
//  left to be noticed on its stdout, where its last answers may still be.
static void
s_write_some (s_exec_t *self, size_t *wpos)
{
    while (*wpos < self->lines.len && self->to_child >= 0) {
        ssize_t n = write (self->to_child, self->lines.data + *wpos, self->lines.len - *wpos);
        if (n > 0) {
            *wpos += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            s_close_fd (&self->to_child);
        }
        return;
    }
}

//  Reads what the child has written. Returns SL_ETOOBIG when a line grows
//  past S_MAX_LINE, SL_ENOMEM, else 0.
static int
s_read_some (s_exec_t *self)
{
    if (self->from_child < 0) {
        return 0;
    }
    if (self->rpos > 0 && self->rpos == self->rbuf.len) {
        sl_buf_reset (&self->rbuf);
        self->rpos = 0;
    }
    else if (self->rpos > S_READ_CHUNK && self->rpos * 2 > self->rbuf.len) {
        memmove (self->rbuf.data, self->rbuf.data + self->rpos, self->rbuf.len - self->rpos);
        self->rbuf.len -= self->rpos;
        self->rpos = 0;
    }
    for (int i = 0; i < 64; i++) {
        if (self->rbuf.len - self->rpos > S_MAX_LINE) {
            return SL_ETOOBIG;
        }
        if (sl_buf_reserve (&self->rbuf, S_READ_CHUNK)) {
            return SL_ENOMEM;
        }
        ssize_t n = read (self->from_child, self->rbuf.data + self->rbuf.len, S_READ_CHUNK);
        if (n > 0) {
            self->rbuf.len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            self->eof = true;
            s_close_fd (&self->from_child);
        }
        break;
    }
    return 0;
}

int
sl_op_exec_batch (void *state, const sl_op_record_t *records, size_t n, const sl_op_host_t *host,
                  const sl_op_batch_host_t *batch)
{
    s_exec_t *self = state;
    if (n == 0) {
        return 0;
    }
    int rc = s_prepare (self, records, n);
    if (rc) {
        return rc;
    }
    size_t head = 0;                  //  the record whose answer is awaited
    size_t wpos = 0;                  //  bytes of lines written to the current child
    int64_t clock_ms = sl_mono_ms (); //  head's answer is due timeout_ms after this
    int64_t tick_ms = clock_ms;
    //  A child that died or wrote more than it was asked between batches is
    //  replaced before any record is blamed for it.
    if (self->pid > 0) {
        int status = 0;
        if (waitpid (self->pid, &status, WNOHANG) == self->pid) {
            s_log (host, SL_OP_LOG_WARN, "child %d ended between batches; restarting it",
                   (int)self->pid);
            self->pid = 0;
            s_stop_child (self, true);
        }
        else if (self->eof || self->rpos < self->rbuf.len) {
            s_log (host, SL_OP_LOG_WARN,
                   "child %d answered more lines than it was given; "
                   "restarting it",
                   (int)self->pid);
            s_stop_child (self, true);
        }
    }
    while (head < n) {
        int64_t now = sl_mono_ms ();
        if (now - tick_ms >= S_TICK_MS) {
            tick_ms = now;
            if (batch->tick) {
                batch->tick (batch->ctx);
            }
        }
        if (batch->deadline_ms && now >= batch->deadline_ms) {
            s_set_error (host, "exec: the lease ran out before this record was answered");
            batch->done (batch->ctx, head, SL_OP_RETRY);
            head++;
            continue;
        }
        if (self->bad[head]) {
            host->error (host->ctx, "exec: value cannot be written as JSON");
            batch->done (batch->ctx, head, SL_OP_FAIL);
            head++;
            continue;
        }
        if (self->pid <= 0) {
            if (now < self->next_start_ms) {
                int64_t wait = self->next_start_ms - now;
                poll (NULL, 0, (int)(wait < S_TICK_MS ? wait : S_TICK_MS));
                continue;
            }
            rc = s_start_child (self, host);
            if (rc) {
                host->error (host->ctx, "exec: cannot start the child");
                batch->done (batch->ctx, head, SL_OP_RETRY);
                head++;
                s_stop_child (self, true);
                continue;
            }
            wpos = head ? self->line_end[head - 1] : 0;
            clock_ms = sl_mono_ms ();
        }
        //  An answer waiting in the buffer is the head's.
        const char *start = (const char *)self->rbuf.data + self->rpos;
        size_t avail = self->rbuf.len - self->rpos;
        const char *nl = avail ? memchr (start, '\n', avail) : NULL;
        if (nl) {
            size_t len = (size_t)(nl - start);
            self->rpos += len + 1;
            bool restart = false;
            int result = s_answer (self, &records[head], start, len, host, &restart);
            batch->done (batch->ctx, head, result);
            head++;
            clock_ms = sl_mono_ms ();
            if (restart) {
                s_log (host, SL_OP_LOG_WARN,
                       "child %d is out of step (offset %" PRIu64 "); restarting it",
                       (int)self->pid, records[head - 1].offset);
                s_stop_child (self, true);
            }
            else if (result == SL_OP_OK) {
                self->backoff_ms = 0;
            }
            continue;
        }
        if (self->eof) {
            char why[256];
            s_close_fd (&self->to_child);
            s_reap (self, S_EOF_GRACE_MS, why, sizeof why);
            host->error (host->ctx, why);
            s_log (host, SL_OP_LOG_WARN, "%s; restarting it", why + strlen ("exec: "));
            batch->done (batch->ctx, head, SL_OP_RETRY);
            head++;
            s_stop_child (self, true);
            continue;
        }
        if (now - clock_ms >= self->timeout_ms) {
            s_set_error (host, "exec: no answer within %" PRId64 " ms", self->timeout_ms);
            s_log (host, SL_OP_LOG_WARN,
                   "child %d gave no answer within %" PRId64 " ms; restarting it", (int)self->pid,
                   self->timeout_ms);
            batch->done (batch->ctx, head, SL_OP_RETRY);
            head++;
            s_stop_child (self, true);
            continue;
        }
        struct pollfd fds[2];
        nfds_t nfds = 0;
        fds[nfds++] = (struct pollfd){.fd = self->from_child, .events = POLLIN};
        if (self->to_child >= 0 && wpos < self->lines.len) {
            fds[nfds++] = (struct pollfd){.fd = self->to_child, .events = POLLOUT};
        }
        int64_t wait = clock_ms + self->timeout_ms - now;
        if (wait > S_TICK_MS) {
            wait = S_TICK_MS;
        }
        if (wait < 0) {
            wait = 0;
        }
        int ready = poll (fds, nfds, (int)wait);
        if (ready < 0 && errno != EINTR) {
            return SL_EIO;
        }
        if (ready <= 0) {
            continue;
        }
        if (nfds > 1 && fds[1].revents) {
            s_write_some (self, &wpos);
        }
        if (fds[0].revents) {
            rc = s_read_some (self);
            if (rc) {
                s_set_error (host, "exec: %s",
                             rc == SL_ETOOBIG ? "answer line too long" : "out of memory");
                batch->done (batch->ctx, head, SL_OP_RETRY);
                head++;
                s_stop_child (self, true);
            }
        }
    }
    return 0;
}

//  The per-record entry point of the ABI, for hosts that do not batch.
typedef struct {
    int rc;
} s_single_t;

static void
s_single_done (void *ctx, size_t index, int rc)
{
    (void)index;
    ((s_single_t *)ctx)->rc = rc;
}

static int
s_exec_process (void *state, const sl_op_record_t *in, const sl_op_host_t *host)
{
    s_single_t single = {SL_OP_RETRY};
    sl_op_batch_host_t batch = {&single, s_single_done, NULL, 0};
    int rc = sl_op_exec_batch (state, in, 1, host, &batch);
    if (rc) {
        host->error (host->ctx, sl_strerror (rc));
        return SL_OP_RETRY;
    }
    return single.rc;
}

static const sl_operator_t s_exec = {
    .abi = SL_OPERATOR_ABI,
    .name = "exec",
    .description = "pipes each value as a JSON line through a long-running command",
    .options = s_options,
    .init = s_exec_init,
    .process = s_exec_process,
    .flush = NULL,
    .destroy = s_exec_destroy,
};

const sl_operator_t *
sl_op_exec (void)
{
    return &s_exec;
}
