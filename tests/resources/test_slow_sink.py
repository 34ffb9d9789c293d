"""Guarantee 5 (bounded memory) with a slow consumer: a sink whose output is drained at a fifth
of the rate the source publishes, for SLUICE_RESOURCES_SECONDS (default 60; the long run uses
several minutes). Every process's memory is sampled from /proc: each stays under the budget
(256 MiB VmRSS) and flat after warm-up; the sink's output has no gap and no duplicate; when the
reader speeds up, the sink's lag goes back to zero.

VmRSS includes the broker's LMDB pages mapped from the page cache (file-backed, reclaimable,
growing with the log); the flatness check is therefore on RssAnon (heap and stacks), the
budget on VmRSS.
"""

import json
import signal
import subprocess
import threading
import time


from conftest import RESOURCES_RATE, RESOURCES_SECONDS, sluice_it

T = sluice_it.T
BUDGET_KIB = 256 * 1024
# Growth of RssAnon allowed between the first and the last third of the overload phase.
FLAT_MARGIN_KIB = 16 * 1024


def _status(pid):
    """(VmRSS, RssAnon) in KiB, or None when the process is gone."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "RssAnon:")):
                    key, value = line.split()[:2]
                    values[key] = int(value)
    except (FileNotFoundError, ProcessLookupError):
        return None
    return values.get("VmRSS:"), values.get("RssAnon:")


class SlowReader(threading.Thread):
    """Reads the sink's stdout at `rate` lines per second (None: as fast as it can) and checks
    that offsets are dense from 0 and that each generated value's id is its offset."""

    def __init__(self, pipe, rate):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.rate = rate
        self.next_offset = 0
        self.problems = []
        self._epoch = (time.monotonic(), 0)

    def set_rate(self, rate):
        self._epoch = (time.monotonic(), self.next_offset)
        self.rate = rate

    def run(self):
        for line in self.pipe:
            try:
                rec = json.loads(line)
            except ValueError:
                self.problems.append(f"not JSON after offset {self.next_offset}: {line[:200]!r}")
                return
            if rec["offset"] != self.next_offset:
                self.problems.append(f"offset {rec['offset']} where {self.next_offset} was due")
                if len(self.problems) > 20:
                    return
            if rec["value"]["id"] != rec["offset"]:
                self.problems.append(f"offset {rec['offset']} holds id {rec['value']['id']}")
            self.next_offset = rec["offset"] + 1
            rate = self.rate
            if rate and self.next_offset % 20 == 0:
                t0, n0 = self._epoch
                due = t0 + (self.next_offset - n0) / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)


def test_slow_sink_at_5x_overload(procs, make_broker, tmp_path):
    broker = make_broker()
    rate = RESOURCES_RATE
    seconds = RESOURCES_SECONDS
    src = procs.start("source", sluice_it.source_args(
        broker, "load", "--name", "load", "--generate", "0", "--rate", str(rate),
        "--no-progress"))
    err = open(tmp_path / "slow-sink.err", "wb")
    sink = subprocess.Popen(sluice_it.sink_args(broker, "load", "--from", "beginning",
                                                "--format", "json"),
                            stdout=subprocess.PIPE, stderr=err, env=sluice_it.child_env())
    reader = SlowReader(sink.stdout, rate / 5)
    reader.start()
    samples = {"broker": [], "source": [], "sink": []}
    pids = {"broker": broker.proc.pid, "source": src.pid, "sink": sink.pid}
    try:
        warmup = max(5.0, seconds / 10)
        start = time.monotonic()
        lag_max = 0
        while time.monotonic() - start < warmup + seconds:
            time.sleep(1.0)
            elapsed = time.monotonic() - start
            assert sink.poll() is None, (
                f"the sink exited {sink.poll()} after {elapsed:.0f}s of overload:\n"
                f"{(tmp_path / 'slow-sink.err').read_text(errors='replace')[-3000:]}")
            assert src.alive() and broker.proc.alive()
            for name, pid in pids.items():
                st = _status(pid)
                assert st is not None and st[0] is not None, f"{name} exited under overload"
                samples[name].append((elapsed, st[0], st[1]))
            assert not reader.problems, "\n".join(reader.problems[:20])
            lag_max = max(lag_max, broker.next("load") - reader.next_offset)
        published = broker.next("load")
        # The reader really was the bottleneck: the backlog is most of what was published.
        assert lag_max > published / 2, (
            f"no overload: lag at most {lag_max} of {published} records")

        # The reader speeds up while the source keeps publishing: the lag comes back to
        # (almost) nothing.
        reader.set_rate(None)
        deadline = time.monotonic() + T(180)
        while broker.next("load") - reader.next_offset > rate:
            assert time.monotonic() < deadline, (
                f"lag did not recover: {broker.next('load') - reader.next_offset} records behind")
            assert not reader.problems, "\n".join(reader.problems[:20])
            time.sleep(0.2)
        recovered_s = T(180) - (deadline - time.monotonic())

        src.signal(signal.SIGTERM)
        src.expect_exit(0, T(60))
        total = broker.next("load")
        sluice_it.wait_for(lambda: reader.next_offset >= total or reader.problems, T(120),
                           f"the sink to deliver all {total} records")
        assert not reader.problems, "\n".join(reader.problems[:20])
        assert reader.next_offset == total
        sink.send_signal(signal.SIGTERM)
        assert sink.wait(timeout=T(30)) == 0, (tmp_path / "slow-sink.err").read_text()[-3000:]
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait(timeout=10)
        err.close()
        reader.join(timeout=10)

    report = [f"overload {seconds:.0f}s at {rate}/s, reader at {rate / 5:.0f}/s: "
              f"{total} records, lag peak {lag_max}, recovered in {recovered_s:.1f}s"]
    problems = []
    for name, rows in samples.items():
        after = [r for r in rows if r[0] >= warmup]
        peak_rss = max(r[1] for r in rows)
        third = max(1, len(after) // 3)
        early = max(r[2] for r in after[:third])
        late = max(r[2] for r in after[-third:])
        report.append(f"{name}: VmRSS peak {peak_rss // 1024} MiB; RssAnon first third "
                      f"{early // 1024} MiB, last third {late // 1024} MiB")
        if peak_rss > BUDGET_KIB:
            problems.append(f"{name}: VmRSS {peak_rss // 1024} MiB over the 256 MiB budget")
        if late > early + FLAT_MARGIN_KIB:
            problems.append(f"{name}: RssAnon grew from {early // 1024} to {late // 1024} MiB")
    print("\n".join(report))
    (tmp_path / "figures.txt").write_text("\n".join(report) + "\n")
    assert not problems, "\n".join(problems + report)
