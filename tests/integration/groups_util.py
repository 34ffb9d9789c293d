"""Helpers for the worker-group tests (test_groups.py) on top of conftest's harness.

Everything here only starts processes through the `procs` tracker (so they are
killed by PID at teardown) and waits on conditions with deadlines.
"""

import collections
import re
import sys
import time

from conftest import BUILD, T, WORKER_BIN, read_stream

PLUGIN_UPPERCASE = BUILD / "plugins" / "sluice-op-uppercase.so"

# The exec operators below run under Debian's python (the one running the
# tests): `python3` on PATH may be another build.
PYTHON = sys.executable


def worker_args(broker, group, inp, out, *args):
    return [WORKER_BIN, "--broker", broker.endpoint, "--group", group, "--in", inp,
            "--out", out, *args]


def start_worker(procs, broker, group, inp, out, *args, name="worker"):
    return procs.start(name, worker_args(broker, group, inp, out, *args))


def joins(proc):
    """How many times a worker has logged a successful JOIN."""
    return proc.stderr().count(" joined group ")


def wait_joined(proc, times=1, timeout=None):
    """Waits until proc has joined its group `times` times (fails early if it exits)."""
    deadline = time.monotonic() + (timeout or T(30))
    while joins(proc) < times:
        if not proc.alive():
            raise AssertionError(f"{proc.label} exited {proc.returncode} before joining:\n"
                                 f"{proc.stderr()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{proc.label} did not join {times} time(s):\n"
                                 f"{proc.stderr()[-3000:]}")
        time.sleep(0.02)


def wait_stream(broker, stream, n, timeout, watch=(), what=None, on_poll=None):
    """Waits until `stream` holds at least n records (its `next`), and returns `next`.

    Fails at once if a process in `watch` exits meanwhile (with its stderr),
    rather than waiting out the deadline. on_poll() runs at each poll."""
    deadline = time.monotonic() + timeout
    last = 0
    while True:
        if on_poll:
            on_poll()
        last = broker.next(stream)
        if last >= n:
            return last
        for proc in watch:
            if not proc.alive():
                raise AssertionError(f"{proc.label} exited {proc.returncode} while waiting for "
                                     f"{n} records in '{stream}' (have {last}):\n"
                                     f"{proc.stderr()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for "
                                 f"{what or f'{n} records in {stream!r}'} (have {last})")
        time.sleep(0.02)


def stop_workers(workers, timeout=None):
    """SIGTERM every live worker and expect exit 0 (finish lease, RESULT, LEAVE)."""
    for w in workers:
        if w.alive():
            w.signal(15)
    for w in workers:
        if w.returncode is None or w.returncode == 0:
            w.expect_exit(0, timeout or T(30))


def values(procs, broker, stream):
    """Every value of `stream`, from the beginning to its current end."""
    return read_stream(procs, broker, stream, fmt="value")


def records(procs, broker, stream):
    """Every record of `stream` (sink json: offset, timestamp, key, headers, value)."""
    return read_stream(procs, broker, stream, fmt="json")


def assert_exactly_once(got_ids, expected_ids, what="output"):
    """got_ids equals expected_ids as a multiset: nothing lost, duplicated or unexpected."""
    got = collections.Counter(got_ids)
    want = collections.Counter(expected_ids)
    lost = sorted(k for k in want if got[k] < want[k])
    dups = sorted(k for k in got if k in want and got[k] > want[k])
    extra = sorted(k for k in got if k not in want)
    assert not (lost or dups or extra), (
        f"{what}: {len(got_ids)} records for {len(expected_ids)} expected; "
        f"{len(lost)} lost (first {lost[:10]}), {len(dups)} duplicated "
        f"(first {[(k, got[k]) for k in dups[:10]]}), {len(extra)} unexpected "
        f"(first {extra[:10]})")


def vm_kib(pid, field):
    """A /proc/PID/status field in KiB (VmRSS, VmHWM), or 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


_GROUP_STATS = re.compile(r"groups: (\d+) work batches sent, (\d+) results \((\d+) late or "
                          r"repeated, dropped\), (\d+) records dead-lettered")


def broker_group_stats(broker_proc):
    """The counters the broker logs when it stops: (work sent, results, dropped, dead)."""
    found = _GROUP_STATS.findall(broker_proc.stderr())
    assert found, f"no group statistics in the broker's log:\n{broker_proc.stderr()[-2000:]}"
    return tuple(int(x) for x in found[-1])


def exec_script(path, body):
    """Writes an exec operator (python, one JSON line in, one JSON array out)."""
    path.write_text("import json, os, sys, time\n" + body)
    return f"{PYTHON} -u {path}"
