/*  supervise.c - runs a pipeline's processes, relays their output, restarts
    what crashes and stops everything in order.

    One thread, one poll loop: a signalfd carries SIGCHLD, SIGINT, SIGTERM
    and SIGHUP (blocked otherwise, so no handler races the loop), and every
    stage pipe is read non-blocking into its relay. Children run in their
    own process groups, so a Ctrl-C at the terminal reaches sluice run alone,
    which then stops the stages in order; PR_SET_PDEATHSIG stops them too if
    sluice run itself is killed. Only PIDs started here are ever signalled.
*/
#include "supervise.h"
#include "runstat.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "relay.h"
#include "supervise_int.h"
#include "sl_client.h"
#include "sl_error.h"
#include "sl_util.h"
#include "sl_version.h"

static const sl_stage_kind_t s_stop_order[] = {SL_STAGE_SOURCE, SL_STAGE_GROUP, SL_STAGE_SINK,
                                               SL_STAGE_BROKER};
static const char *s_palette[] = {"34", "36", "32", "33", "35", "96", "92", "93", "95", "94"};

void
sl_supervise_opts_init (sl_supervise_opts_t *opts)
{
    memset (opts, 0, sizeof *opts);
    opts->stop_timeout_ms = 15000;
    opts->backoff_min_ms = 500;
    opts->backoff_max_ms = 30000;
    opts->healthy_ms = 60000;
    opts->crash_limit = 5;
}

//  "exit 1", "signal 9 (Killed)".
static const char *
s_status_text (int status, char *buf, size_t size)
{
    if (WIFEXITED (status)) {
        snprintf (buf, size, "exit %d", WEXITSTATUS (status));
    }
    else if (WIFSIGNALED (status)) {
        snprintf (buf, size, "signal %d (%s)", WTERMSIG (status), strsignal (WTERMSIG (status)));
    }
    else {
        snprintf (buf, size, "status %d", status);
    }
    return buf;
}

static const char *
s_seconds (int64_t ms, char *buf, size_t size)
{
    if (ms % 1000) {
        snprintf (buf, size, "%.1fs", (double)ms / 1000.0);
    }
    else {
        snprintf (buf, size, "%llds", (long long)(ms / 1000));
    }
    return buf;
}

static void
s_close_fds (s_proc_t *p)
{
    for (int i = 0; i < 2; i++) {
        if (p->fds[i] >= 0) {
            close (p->fds[i]);
            p->fds[i] = -1;
        }
        sl_relay_free (&p->relays[i]);
    }
}

//  Pumps one pipe; closes it at its end. A closed stdout ends the run.
static void
s_pump (s_sup_t *sup, s_proc_t *p, int i)
{
    if (p->fds[i] < 0) {
        return;
    }
    int rc = sl_relay_pump (&p->relays[i], p->fds[i]);
    if (rc == SL_ECLOSED) {
        sup->stdout_gone = true;
        //  Nobody reads these records any more; drop them from now on.
        p->relays[i].out_fd = -1;
    }
    if (rc == 1 || rc == SL_EIO) {
        close (p->fds[i]);
        p->fds[i] = -1;
        sl_relay_free (&p->relays[i]);
    }
}

//  Opens what the child's stdin, stdout and stderr will be. In the parent,
//  before fork, so that the child only has to dup2 and exec.
static int
s_open_stdio (s_sup_t *sup, s_proc_t *p, int child_fds[3])
{
    const sl_stage_t *s = p->stage;
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    child_fds[0] = s->reads_stdin ? STDIN_FILENO : open ("/dev/null", O_RDONLY | O_CLOEXEC);
    if (child_fds[0] < 0 || pipe2 (err, O_CLOEXEC) != 0) {
        goto fail;
    }
    if (s->output) {
        //  A sink writes its output again from its start position each time it
        //  starts, so the file is truncated; a durable reader resumes, so its
        //  file (and any with append) is appended to.
        int mode = s->append || s->durable ? O_APPEND : O_TRUNC;
        child_fds[1] = open (s->output, O_WRONLY | O_CREAT | O_CLOEXEC | mode, 0644);
        if (child_fds[1] < 0) {
            S_SAY (sup, "%s: cannot open %s: %s", p->label, s->output, strerror (errno));
            goto fail;
        }
    }
    else {
        if (pipe2 (out, O_CLOEXEC) != 0) {
            goto fail;
        }
        child_fds[1] = out[1];
    }
    child_fds[2] = err[1];
    p->fds[0] = out[0];
    p->fds[1] = err[0];
    //  Where each pipe's lines go: see docs/run.md, "Output".
    for (int i = 0; i < 2; i++) {
        if (p->fds[i] < 0) {
            continue;
        }
        fcntl (p->fds[i], F_SETFL, O_NONBLOCK);
        bool raw = !sup->out_tty && i == 0 && s->kind == SL_STAGE_SINK;
        int out_fd = sup->out_tty && i == 0 ? STDOUT_FILENO : raw ? STDOUT_FILENO : STDERR_FILENO;
        bool tty = out_fd == STDOUT_FILENO ? sup->out_tty : sup->err_tty;
        if (sl_relay_init (&p->relays[i], p->label, sup->opts->color && tty ? p->color : NULL,
                           out_fd, raw)) {
            goto fail;
        }
        if (raw && sup->stdout_gone) {
            p->relays[i].out_fd = -1;
        }
    }
    return 0;
fail:
    if (child_fds[0] >= 0 && child_fds[0] != STDIN_FILENO) {
        close (child_fds[0]);
    }
    if (s->output && child_fds[1] >= 0) {
        close (child_fds[1]);
    }
    int all[] = {out[0], out[1], err[0], err[1]};
    for (size_t i = 0; i < 4; i++) {
        if (all[i] >= 0) {
            close (all[i]);
        }
    }
    p->fds[0] = p->fds[1] = -1;
    sl_relay_free (&p->relays[0]);
    sl_relay_free (&p->relays[1]);
    return SL_EIO;
}

//  Starts p. In the child only async-signal-safe calls run before exec.
static int
s_start (s_sup_t *sup, s_proc_t *p, int64_t now)
{
    int child_fds[3] = {-1, -1, -1};
    if (s_open_stdio (sup, p, child_fds)) {
        return SL_EIO;
    }
    bool own_group = !p->stage->reads_stdin;
    pid_t pid = fork ();
    if (pid == 0) {
        if (own_group) {
            setpgid (0, 0);
        }
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        if (getppid () != sup->self_pid) {
            _exit (1);
        }
        for (int i = 0; i < 3; i++) {
            if (child_fds[i] != i && dup2 (child_fds[i], i) < 0) {
                _exit (126);
            }
        }
        signal (SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        execv (p->argv[0], p->argv);
        static const char msg[] = "sluice run: cannot execute the stage program\n";
        ssize_t ignored = write (STDERR_FILENO, msg, sizeof msg - 1);
        (void)ignored;
        _exit (127);
    }
    if (child_fds[0] != STDIN_FILENO) {
        close (child_fds[0]);
    }
    close (child_fds[1]);
    close (child_fds[2]);
    if (pid < 0) {
        S_SAY (sup, "%s: fork failed: %s", p->label, strerror (errno));
        s_close_fds (p);
        return SL_EIO;
    }
    if (own_group) {
        setpgid (pid, pid);
    }
    p->pid = pid;
    p->state = S_RUNNING;
    p->started_ms = now;
    return 0;
}

//  Schedules a restart after a crash (or a failed start) and says so.
static void
s_crashed (s_sup_t *sup, s_proc_t *p, const char *why, int64_t now)
{
    const sl_supervise_opts_t *o = sup->opts;
    if (p->state == S_RUNNING && now - p->started_ms >= o->healthy_ms) {
        p->backoff_ms = 0;
        p->warned = false;
    }
    p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : o->backoff_min_ms;
    if (p->backoff_ms > o->backoff_max_ms) {
        p->backoff_ms = o->backoff_max_ms;
    }
    p->crashes[p->n_crashes++ % S_CRASH_RING] = now;
    p->state = S_BACKOFF;
    p->restart_at_ms = now + p->backoff_ms;
    char delay[32];
    S_SAY (sup, "%s %s; restarting in %s", p->label, why,
           s_seconds (p->backoff_ms, delay, sizeof delay));
    //  Crashes within the healthy period: the ring holds the latest ones.
    size_t limit = (size_t)o->crash_limit;
    if (!p->warned && limit > 0 && limit <= S_CRASH_RING && p->n_crashes >= limit &&
        now - p->crashes[(p->n_crashes - limit) % S_CRASH_RING] < o->healthy_ms) {
        char max[32];
        S_SAY (sup,
               "%s keeps crashing (%s, %zu times within %s): see its output above; still "
               "retrying every %s at most",
               p->label, why, limit, s_seconds (o->healthy_ms, delay, sizeof delay),
               s_seconds (o->backoff_max_ms, max, sizeof max));
        p->warned = true;
    }
}

static void s_request_stop (s_sup_t *sup, const char *reason, int64_t now);

//  sluice-broker's exit status for a damaged store (docs/broker.md).
#define S_BROKER_DAMAGED 3

//  A child of ours has exited with status.
static void
s_exited (s_sup_t *sup, s_proc_t *p, int status, int64_t now)
{
    s_pump (sup, p, 0);
    s_pump (sup, p, 1);
    for (int i = 0; i < 2; i++) {
        if (p->fds[i] >= 0) {
            sl_relay_flush (&p->relays[i]);
        }
    }
    s_close_fds (p);
    p->status = status;
    char why[96];
    s_status_text (status, why, sizeof why);
    bool ok = WIFEXITED (status) && WEXITSTATUS (status) == 0;
    if (sup->stopping) {
        p->state = S_STOPPED;
        if (!ok || p->killed) {
            p->unclean = true;
        }
        else if (!p->stopping) {
            S_SAY (sup, "%s finished", p->label);
        }
        return;
    }
    sl_stage_kind_t kind = p->stage->kind;
    //  A damaged store stays damaged: restarting would only loop.
    if (kind == SL_STAGE_BROKER && WIFEXITED (status) && WEXITSTATUS (status) == S_BROKER_DAMAGED) {
        S_SAY (sup,
               "%s exit 3: its data directory is damaged (see its output above; "
               "docs/reliability.md); not restarting it",
               p->label);
        p->state = S_STOPPED;
        p->unclean = true;
        s_request_stop (sup, "the broker's store is damaged", now);
        return;
    }
    int code = WIFEXITED (status) ? WEXITSTATUS (status) : -1;
    if (code == 2) {
        //  A usage error or a missing file: the same command fails the same
        //  way, so restarting it would only loop. Counted in the exit code.
        p->state = S_DONE;
        p->gave_up = true;
        S_SAY (sup,
               "%s exit 2 (a usage error or a missing file: see its output above): not "
               "restarted",
               p->label);
        if (kind == SL_STAGE_BROKER) {
            s_request_stop (sup, "the broker cannot start", now);
        }
        return;
    }
    if (code == 3 && kind == SL_STAGE_SOURCE) {
        p->state = S_DONE;
        p->rejected = true;
        S_SAY (sup, "%s finished, but rejected some of its input (exit 3: see its output above)",
               p->label);
        return;
    }
    if (ok && (kind == SL_STAGE_SOURCE || kind == SL_STAGE_SINK)) {
        p->state = S_DONE;
        S_SAY (sup, "%s finished%s", p->label,
               kind == SL_STAGE_SOURCE ? ": everything it read is confirmed" : "");
        return;
    }
    s_crashed (sup, p, ok ? "exited 0 unexpectedly" : why, now);
}

static void
s_reap (s_sup_t *sup, int64_t now)
{
    //  Bounded: one pass per child of ours at most, plus a little.
    for (size_t i = 0; i < sup->n + 8; i++) {
        int status = 0;
        pid_t pid = waitpid (-1, &status, WNOHANG);
        if (pid <= 0) {
            return;
        }
        for (size_t k = 0; k < sup->n; k++) {
            if (sup->procs[k].pid == pid && sup->procs[k].state == S_RUNNING) {
                s_exited (sup, &sup->procs[k], status, now);
                break;
            }
        }
    }
}

static void
s_request_stop (s_sup_t *sup, const char *reason, int64_t now)
{
    if (sup->stopping) {
        return;
    }
    sup->stopping = true;
    sup->stop_index = 0;
    sup->phase_signalled = false;
    sup->stop_deadline = now + sup->opts->stop_timeout_ms;
    for (size_t i = 0; i < sup->n; i++) {
        s_proc_t *p = &sup->procs[i];
        if (p->state == S_IDLE || p->state == S_BACKOFF) {
            p->state = S_STOPPED;
        }
    }
    S_SAY (sup, "%s: stopping sources, groups, sinks, then the broker", reason);
}

static size_t
s_count (s_sup_t *sup, sl_stage_kind_t kind, s_state_t state)
{
    size_t n = 0;
    for (size_t i = 0; i < sup->n; i++) {
        n += sup->procs[i].stage->kind == kind && sup->procs[i].state == state;
    }
    return n;
}

static size_t
s_count_kind (s_sup_t *sup, sl_stage_kind_t kind)
{
    size_t n = 0;
    for (size_t i = 0; i < sup->n; i++) {
        n += sup->procs[i].stage->kind == kind;
    }
    return n;
}

static void
s_signal_kind (s_sup_t *sup, int kind, int sig)
{
    for (size_t i = 0; i < sup->n; i++) {
        s_proc_t *p = &sup->procs[i];
        if (p->state == S_RUNNING && (kind < 0 || (int)p->stage->kind == kind)) {
            kill (p->pid, sig);
            p->stopping = true;
            if (sig == SIGKILL) {
                p->killed = true;
            }
        }
    }
}

//  One step of the orderly stop: a phase per kind, each SIGTERMed and given
//  until its deadline, which keeps a second per later phase in reserve.
static void
s_stop_step (s_sup_t *sup, int64_t now)
{
    if (sup->hurry && !sup->kill_wait_until) {
        s_signal_kind (sup, -1, SIGKILL);
        sup->kill_wait_until = now + 5000;
    }
    while (!sup->hurry && sup->stop_index < 4) {
        sl_stage_kind_t kind = s_stop_order[sup->stop_index];
        if (!sup->phase_signalled) {
            int64_t reserve_each = sup->opts->stop_timeout_ms / 8;
            reserve_each = reserve_each > 1000 ? 1000 : reserve_each;
            int64_t reserve = 0;
            for (int later = sup->stop_index + 1; later < 4; later++) {
                reserve += s_count (sup, s_stop_order[later], S_RUNNING) ? reserve_each : 0;
            }
            sup->phase_deadline = sup->stop_deadline - reserve;
            sup->kill_wait_until = 0;
            s_signal_kind (sup, (int)kind, SIGTERM);
            sup->phase_signalled = true;
        }
        if (s_count (sup, kind, S_RUNNING) == 0) {
            sup->stop_index++;
            sup->phase_signalled = false;
            continue;
        }
        if (now >= sup->phase_deadline && !sup->kill_wait_until) {
            s_signal_kind (sup, (int)kind, SIGKILL);
            sup->kill_wait_until = now + 5000;
        }
        if (sup->kill_wait_until && now >= sup->kill_wait_until) {
            //  Killed and still not reaped: give up on it and go on.
            for (size_t i = 0; i < sup->n; i++) {
                if (sup->procs[i].stage->kind == kind && sup->procs[i].state == S_RUNNING) {
                    sup->procs[i].state = S_STOPPED;
                    sup->procs[i].unclean = true;
                }
            }
            continue;
        }
        return;
    }
    size_t running = 0;
    for (size_t i = 0; i < sup->n; i++) {
        running += sup->procs[i].state == S_RUNNING;
    }
    sup->finished = running == 0 || (sup->kill_wait_until && now >= sup->kill_wait_until);
}

//  An exit-at-end sink reads what is in its stream when it reads it, so it
//  starts only when the sources have finished and, after that, every group
//  of the pipeline has drained (lag 0, nothing in flight): otherwise it
//  could catch up with a group's output before the group is done. Says
//  every 5 s what it is waiting for.
static bool
s_upstream_done (s_sup_t *sup, bool sources_done, int64_t now)
{
    if (!sources_done) {
        return false;
    }
    if (s_count_kind (sup, SL_STAGE_GROUP) == 0) {
        return true;
    }
    if (sup->sources_done_ms == 0) {
        sup->sources_done_ms = sl_now_ms ();
        sup->said_waiting_ms = now;
    }
    if (!sup->stat) {
        sup->stat = sl_runstat_new (sup->pl);
        if (!sup->stat) {
            return true; //  cannot ask (CURVE without client keys): as before
        }
    }
    char waiting[512];
    if (sl_runstat_drained (sup->stat, sup->sources_done_ms, waiting, sizeof waiting)) {
        return true;
    }
    if (now - sup->said_waiting_ms >= 5000) {
        S_SAY (sup,
               "sources done; waiting for the groups to drain before the exit-at-end "
               "sinks: %s",
               waiting);
        sup->said_waiting_ms = now;
    }
    return false;
}

//  On a terminal, a status line every 10 s: rates and lag per stage.
static void
s_status (s_sup_t *sup, int64_t now)
{
    char line[1024];
    if (sup->err_tty && sl_runstat_status_due (&sup->stat, sup->pl, now, line, sizeof line)) {
        S_SAY (sup, "status: %s", line);
    }
}

//  Starts or restarts what is due; notices when the pipeline has finished.
static void
s_advance (s_sup_t *sup, int64_t now)
{
    s_proc_t *broker = &sup->procs[0];
    if (broker->state == S_BACKOFF && now >= broker->restart_at_ms && sl_sup_check_data_dir (sup)) {
        broker->unclean = true; //  the run fails (exit 1), as at start
        s_request_stop (sup, "the broker cannot start", now);
        return;
    }
    if (broker->state == S_IDLE || (broker->state == S_BACKOFF && now >= broker->restart_at_ms)) {
        if (s_start (sup, broker, now)) {
            s_crashed (sup, broker, "could not start", now);
        }
    }
    if (!sup->broker_ready) {
        if (broker->state != S_RUNNING || !sl_sup_broker_ready (sup)) {
            return;
        }
        sup->broker_ready = true;
        S_SAY (sup, "broker ready at %s", sl_pipeline_endpoint (sup->pl));
    }
    bool sources_done =
        s_count (sup, SL_STAGE_SOURCE, S_DONE) == s_count_kind (sup, SL_STAGE_SOURCE);
    //  Asked (and said) only while an exit-at-end sink is still held back.
    bool held = false;
    for (size_t i = 1; i < sup->n; i++) {
        s_state_t st = sup->procs[i].state;
        held = held || (sup->procs[i].stage->after_sources && (st == S_IDLE || st == S_BACKOFF));
    }
    bool upstream_done = held && s_upstream_done (sup, sources_done, now);
    s_status (sup, now);
    //  procs are in start order: sinks, groups, then sources.
    for (size_t i = 1; i < sup->n; i++) {
        s_proc_t *p = &sup->procs[i];
        bool due = p->state == S_IDLE || (p->state == S_BACKOFF && now >= p->restart_at_ms);
        if (!due || (p->stage->after_sources && !upstream_done)) {
            continue;
        }
        if (s_start (sup, p, now)) {
            s_crashed (sup, p, "could not start", now);
        }
    }
    size_t sources = s_count_kind (sup, SL_STAGE_SOURCE);
    size_t sinks = s_count_kind (sup, SL_STAGE_SINK);
    size_t groups = s_count_kind (sup, SL_STAGE_GROUP);
    bool sinks_done = s_count (sup, SL_STAGE_SINK, S_DONE) == sinks;
    if (sources + sinks > 0 && sources_done && sinks_done && (sinks > 0 || groups == 0)) {
        s_request_stop (sup, "every source and sink has finished", now);
    }
}

//  Reads the signals waiting on the signalfd.
static void
s_signals (s_sup_t *sup, int64_t now)
{
    for (int i = 0; i < 16; i++) {
        struct signalfd_siginfo si;
        ssize_t r = read (sup->sigfd, &si, sizeof si);
        if (r != (ssize_t)sizeof si) {
            return;
        }
        if (si.ssi_signo == SIGCHLD) {
            s_reap (sup, now);
            continue;
        }
        if (sup->stopping) {
            if (!sup->hurry) {
                S_SAY (sup, "second %s: killing what is left", strsignal ((int)si.ssi_signo));
                sup->hurry = true;
            }
            continue;
        }
        s_request_stop (sup, strsignal ((int)si.ssi_signo), now);
    }
}

//  Builds the process table: one entry per broker, sink, source and member.
static int
s_build (s_sup_t *sup)
{
    size_t n = 0;
    for (size_t i = 0; i < sl_pipeline_size (sup->pl); i++) {
        n += (size_t)sl_pipeline_stage (sup->pl, i)->members;
    }
    sup->procs = calloc (n, sizeof *sup->procs);
    sup->pfds = calloc (2 * n + 1, sizeof *sup->pfds);
    if (!sup->procs || !sup->pfds) {
        return SL_ENOMEM;
    }
    for (size_t i = 0; i < sl_pipeline_size (sup->pl); i++) {
        const sl_stage_t *s = sl_pipeline_stage (sup->pl, i);
        for (int m = 1; m <= s->members; m++) {
            s_proc_t *p = &sup->procs[sup->n++];
            p->stage = s;
            p->member = m;
            p->fds[0] = p->fds[1] = -1;
            p->color = s_palette[i % (sizeof s_palette / sizeof s_palette[0])];
            snprintf (p->label, sizeof p->label, "%s[%d]", s->name, m);
            p->argv = sl_pipeline_argv (sup->pl, s, m, sup->opts->programs[s->kind]);
            if (!p->argv) {
                return SL_ENOMEM;
            }
        }
    }
    return 0;
}

//  The final account: which stage did not stop cleanly, and the exit code.
static int
s_report (s_sup_t *sup)
{
    int bad = 0;
    int lost = 0;
    for (size_t i = 0; i < sup->n; i++) {
        s_proc_t *p = &sup->procs[i];
        if (p->gave_up) {
            S_SAY (sup, "%s was given up (exit 2: a usage error or a missing file)", p->label);
            lost++;
        }
        else if (p->rejected) {
            S_SAY (sup, "%s rejected some of its input (exit 3)", p->label);
            lost++;
        }
        if (!p->unclean) {
            continue;
        }
        char why[96];
        bad++;
        if (p->killed) {
            S_SAY (sup, "%s did not stop in time: killed", p->label);
        }
        else if (p->state == S_STOPPED && p->status == 0 && p->pid) {
            S_SAY (sup, "%s did not exit: given up on", p->label);
        }
        else {
            S_SAY (sup, "%s did not stop cleanly (%s)", p->label,
                   s_status_text (p->status, why, sizeof why));
        }
    }
    if (bad) {
        S_SAY (sup, "stopped; %d process%s did not stop cleanly", bad, bad == 1 ? "" : "es");
        return 1;
    }
    if (lost) {
        S_SAY (sup, "stopped; %d stage%s gave up or lost input", lost, lost == 1 ? "" : "s");
        return 1;
    }
    S_SAY (sup, "stopped cleanly");
    return 0;
}

int
sl_supervise (const sl_pipeline_t *pipeline, const sl_supervise_opts_t *opts)
{
    s_sup_t sup = {.pl = pipeline,
                   .opts = opts,
                   .sigfd = -1,
                   .self_pid = getpid (),
                   .out_tty = isatty (STDOUT_FILENO),
                   .err_tty = isatty (STDERR_FILENO)};
    int code = 1;
    sigset_t mask, old;
    sigemptyset (&mask);
    sigaddset (&mask, SIGCHLD);
    sigaddset (&mask, SIGINT);
    sigaddset (&mask, SIGTERM);
    sigaddset (&mask, SIGHUP);
    sigprocmask (SIG_BLOCK, &mask, &old);
    signal (SIGPIPE, SIG_IGN);
    sup.sigfd = signalfd (-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sup.sigfd < 0 || s_build (&sup) != 0) {
        S_SAY (&sup, "cannot start: %s", strerror (errno ? errno : ENOMEM));
        goto done;
    }
    if (sl_sup_check_port (&sup) || sl_sup_check_data_dir (&sup)) {
        goto done;
    }
    //  Every iteration is bounded; the loop ends when the orderly stop has.
    while (!sup.finished) {
        int64_t now = sl_mono_ms ();
        if (sup.stdout_gone) {
            s_request_stop (&sup, "stdout closed", now);
        }
        if (sup.stopping) {
            s_stop_step (&sup, now);
            if (sup.finished) {
                break;
            }
        }
        else {
            s_advance (&sup, now);
        }
        nfds_t n = 0;
        sup.pfds[n++] = (struct pollfd){.fd = sup.sigfd, .events = POLLIN};
        for (size_t i = 0; i < sup.n; i++) {
            for (int k = 0; k < 2; k++) {
                if (sup.procs[i].fds[k] >= 0) {
                    sup.pfds[n++] = (struct pollfd){.fd = sup.procs[i].fds[k], .events = POLLIN};
                }
            }
        }
        int ready = poll (sup.pfds, n, 100);
        now = sl_mono_ms ();
        if (ready > 0 && sup.pfds[0].revents) {
            s_signals (&sup, now);
        }
        for (size_t i = 0; ready > 0 && i < sup.n; i++) {
            s_pump (&sup, &sup.procs[i], 0);
            s_pump (&sup, &sup.procs[i], 1);
        }
        s_reap (&sup, now);
    }
    code = s_report (&sup);
done:
    sl_client_destroy (&sup.probe);
    sl_runstat_destroy (&sup.stat);
    for (size_t i = 0; i < sup.n; i++) {
        s_close_fds (&sup.procs[i]);
        sl_argv_free (&sup.procs[i].argv);
    }
    free (sup.procs);
    free (sup.pfds);
    if (sup.sigfd >= 0) {
        close (sup.sigfd);
    }
    sigprocmask (SIG_SETMASK, &old, NULL);
    return code;
}
