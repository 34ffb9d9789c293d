"""The pipeline the chaos runs torture, and sluice-verify to judge it.

    in.jsonl --source(--name src)--> in --group A (3 members, Lua map)--> mid
             --group B (2 members, Lua map)--> out --sink(--name snk)--> files

Every stage can be killed (kill -9 or SIGTERM) and started again; every process goes
through the `procs` tracker, so teardown kills by PID whatever is left.
"""

import collections
import json
import re
import signal
import time

from sluice_it import BUILD, SINK_BIN, SOURCE_BIN, WORKER_BIN, T

VERIFY_BIN = BUILD / "verify" / "sluice-verify"
STAGES = ("broker", "source", "A", "B", "sink")

MAP_A = "{id = id, k = k, a = id * 2}"
MAP_B = "{id = id, k = k, a = a, b = a + 1}"


def write_input(path, n):
    """n records {"id": i, "k": "k<i%8>", "pad": "..."}: id i is the i-th line."""
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": i, "k": f"k{i % 8}", "pad": "p" * 24},
                               separators=(",", ":")))
            f.write("\n")
    return path


class Pipeline:
    def __init__(self, procs, make_broker, tmp, n, rate, members=(("A", 3), ("B", 2))):
        self.procs = procs
        self.tmp = tmp
        self.n = n
        self.rate = rate
        self.broker = make_broker()
        self.input = write_input(tmp / "in.jsonl", n)
        self.members = dict(members)
        self.source = None
        self.workers = {group: [] for group in self.members}
        self.sink = None
        self.sink_runs = []     # every sink process, in order (their outputs together)
        self.source_runs = []

    # ------------------------------------------------------------ starting

    def start_source(self):
        args = [SOURCE_BIN, "--broker", self.broker.endpoint, "--stream", "in", "--name", "src",
                "--rate", str(self.rate), "--no-progress", self.input]
        self.source = self.procs.start("source", args)
        self.source_runs.append(self.source)
        return self.source

    def start_worker(self, group):
        inp, out, expr = ("in", "mid", MAP_A) if group == "A" else ("mid", "out", MAP_B)
        args = [WORKER_BIN, "--broker", self.broker.endpoint, "--group", group, "--in", inp,
                "--out", out, "--map", expr, "--lease", "10s"]
        proc = self.procs.start(f"worker{group}", args)
        self.workers[group].append(proc)
        return proc

    def start_sink(self):
        args = [SINK_BIN, "--broker", self.broker.endpoint, "--stream", "out", "--name", "snk",
                "--from", "beginning", "--format", "json"]
        self.sink = self.procs.start("sink", args)
        self.sink_runs.append(self.sink)
        return self.sink

    def start_all(self):
        for group, count in self.members.items():
            for _ in range(count):
                self.start_worker(group)
        self.start_sink()
        self.start_source()

    # ------------------------------------------------------------ state

    def live_workers(self, group=None):
        groups = [group] if group else list(self.workers)
        return [w for g in groups for w in self.workers[g] if w.alive()]

    def running(self):
        """The processes that must be running now (the source may have finished)."""
        procs = [self.broker.proc, self.sink] + self.live_workers()
        if self.source.alive():
            procs.append(self.source)
        return procs

    def check(self, killed):
        """Fails when a process died that nobody killed (or a source that failed)."""
        current = [self.broker.proc, self.sink, self.source]
        current += [w for g in self.workers.values() for w in g]
        for proc in current:
            if proc in killed or proc.alive():
                continue
            if proc is self.source and proc.returncode == 0:
                continue
            raise AssertionError(f"{proc.label} exited {proc.returncode} on its own: "
                                 f"{' '.join(proc.args)}\n--- stderr tail:\n"
                                 f"{proc.stderr()[-3000:]}")

    def can_kill(self, stage):
        if stage == "source":
            return self.source.alive()
        if stage in self.workers:
            return bool(self.live_workers(stage))
        return True

    # ------------------------------------------------------------ faults

    def kill(self, stage, rng, sig=signal.SIGKILL, killed=None, downtime=(0.0, 0.5)):
        """Sends sig to one process of stage (a random member for a group), waits for it to
        exit (exit 0 expected after SIGTERM), then starts it again after a random pause."""
        if stage == "broker":
            victim = self.broker.proc
        elif stage == "source":
            victim = self.source
        elif stage == "sink":
            victim = self.sink
        else:
            victim = rng.choice(self.live_workers(stage))
        if killed is not None:
            killed.add(victim)
        if stage == "broker":
            self.broker.close()
        if sig == signal.SIGKILL:
            victim.kill9()
        else:
            victim.signal(sig)
            victim.expect_exit(0, T(60))
        pause = rng.uniform(*downtime)
        if pause:
            time.sleep(pause)       # the stage stays down for a random moment (chaos timing)
        if stage == "broker":
            self.broker.restart()
        elif stage == "source":
            self.start_source()
        elif stage == "sink":
            self.start_sink()
        else:
            self.start_worker(stage)
        return victim

    # ------------------------------------------------------------ finishing

    def sink_last_offset(self):
        lines = self.sink.lines()
        return json.loads(lines[-1])["offset"] if lines else -1

    def finish(self, timeout):
        """Waits for the source to finish and every record to reach the sink, then stops the
        sink and the workers with SIGTERM (each must exit 0)."""
        deadline = time.monotonic() + timeout

        def left():
            return max(deadline - time.monotonic(), 1.0)

        self.source.expect_exit(0, left())
        for stream in ("in", "mid", "out"):
            while self.broker.next(stream) < self.n:
                self.check(set())
                if time.monotonic() > deadline:
                    raise AssertionError(f"{stream} holds {self.broker.next(stream)} of "
                                         f"{self.n} records after {timeout:.0f}s")
                time.sleep(0.05)
        while self.sink_last_offset() < self.n - 1:
            self.check(set())
            if time.monotonic() > deadline:
                raise AssertionError(f"the sink is at offset {self.sink_last_offset()} of "
                                     f"{self.n - 1} after {timeout:.0f}s")
            time.sleep(0.05)
        self.sink.signal(signal.SIGTERM)
        self.sink.expect_exit(0, T(30))
        workers = self.live_workers()
        for w in workers:
            w.signal(signal.SIGTERM)
        for w in workers:
            w.expect_exit(0, T(30))

    def sink_output(self):
        """Every sink run's output, concatenated, and a check that each run on its own was
        gapless: its offsets consecutive from where it started."""
        path = self.tmp / "sink-all.jsonl"
        runs = []
        with open(path, "wb") as out:
            for proc in self.sink_runs:
                data = proc.stdout()
                cut = data.rfind(b"\n") + 1     # a line cut by kill -9 is not output
                out.write(data[:cut])
                offsets = [json.loads(line)["offset"] for line in data[:cut].splitlines()]
                if offsets:
                    want = list(range(offsets[0], offsets[0] + len(offsets)))
                    assert offsets == want, f"{proc.label}: offsets not consecutive"
                    runs.append((offsets[0], offsets[-1]))
        return path, runs


def verify(procs, *args):
    """Runs sluice-verify --json and returns its report (exit 0 or 1 only)."""
    proc = procs.start("verify", [VERIFY_BIN, "--json", *args])
    rc = proc.wait(T(120))
    assert rc in (0, 1), f"sluice-verify exited {rc}:\n{proc.stderr()[-3000:]}"
    report = json.loads(proc.stdout())
    assert report["passed"] == (rc == 0)
    return report


def verify_streams(procs, pipe):
    """The input file against each stream of the pipeline, matched by id."""
    reports = {}
    for stream in ("in", "mid", "out"):
        reports[stream] = verify(procs, "--sent", pipe.input, "--got-stream", stream,
                                 "--broker", pipe.broker.endpoint, "--id", "id", "--key", "k")
    return reports


def summary(reports):
    return {name: {k: r[k] for k in ("sent", "got", "lost", "duplicated", "unexpected",
                                      "out_of_order", "bad_got")}
            for name, r in reports.items()}


def confirmed_by(source_proc):
    """The source's own count at exit: 'done: N records confirmed'."""
    found = re.findall(r"done: (\d+) records confirmed", source_proc.stderr())
    assert found, f"{source_proc.label} did not log its confirmed count:\n" \
                  f"{source_proc.stderr()[-2000:]}"
    return int(found[-1])


def kills_by_stage(events):
    return dict(collections.Counter(stage for stage, _ in events))
