#!/usr/bin/python3
"""Windowed count+sum throughput of a keyed group against the stateless pass-through,
in the same run on the same broker (BENCHMARKS.md, "Keyed groups and windows").

    bench/keyed.py [--build build] [--records 2000000] [--keys 10000,1000000]

For each key count it loads one input stream (records round-robin over the keys,
event time rising 1 ms per record, {"user", "ts", "amount"}), then times, from the
worker's start until its output is complete:
  - pass-through, 1 member (every record copied),
  - --key user --window tumbling:10s --agg count,sum:amount --time ts, 1 member and 2
    members at the keyed default --batch (65,536) and the default 4 shares, 1 and 2
    members with --shares 1, 2 and 8 (some of them), and 1 member at --batch 1000 (the
    old default); --rows default-shares: only the first two.
The expected number of windows is computed here; the state stream's size per key,
the worker's peak memory (VmHWM, and the anonymous part sampled every 50 ms: VmHWM
also counts the mapped pages of a member's local state store) and the CPU time the broker
and the members used per input record (/proc/PID/stat) are reported too. Every process is
started here and ended by PID; the data directory is a temporary one.
"""
import argparse
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchlib import Broker


def status_kib(pid, field):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_kib(pid):
    return status_kib(pid, "VmHWM")


def cpu_s(pid):
    """CPU seconds (user + system) a process has used so far, from /proc/PID/stat."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def run_group(build, broker, name, inp, out, n_out, extra, members, tmp):
    procs = []
    broker_cpu = cpu_s(broker.proc.pid)
    start = time.monotonic()
    for i in range(members):
        procs.append(subprocess.Popen(
            [str(build / "worker" / "sluice-worker"), "--broker", broker.endpoint, "--group",
             name, "--in", inp, "--out", out, "--quiet", *extra],
            stderr=open(tmp / f"{name}-{i}.log", "w")))
    peak = anon = 0
    while broker.stream(out)["next"] < n_out:
        for p in procs:
            if p.poll() is not None:
                raise SystemExit(f"worker of {name} exited {p.returncode}: "
                                 f"{(tmp / f'{name}-0.log').read_text()[-2000:]}")
            peak = max(peak, peak_kib(p.pid))
            # Sampled: the kernel keeps no peak of the anonymous part alone (VmHWM
            # also counts mapped file pages, e.g. a member's local state store).
            anon = max(anon, status_kib(p.pid, "RssAnon"))
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    # CPU while the output was made: the broker's over the run, the members' until now
    # (under load the rates swing with the other sessions; CPU per record does not).
    cpu = (cpu_s(broker.proc.pid) - broker_cpu, sum(cpu_s(p.pid) for p in procs))
    for p in procs:
        peak = max(peak, peak_kib(p.pid))
        anon = max(anon, status_kib(p.pid, "RssAnon"))
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(60)
    return elapsed, (peak, anon), cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--records", type=int, default=2_000_000)
    ap.add_argument("--keys", default="10000,1000000")
    ap.add_argument("--rows", choices=("all", "default-shares"), default="all",
                    help="default-shares: only 1 and 2 members at the default shares (the "
                         "rows BENCHMARKS.md compares across builds)")
    args = ap.parse_args()
    build = pathlib.Path(args.build).resolve()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sluice-keyed-bench-"))
    broker = Broker(build, tmp)
    results = []
    try:
        n = args.records
        for keys in (int(k) for k in args.keys.split(",")):
            inp = f"in{keys}"
            path = tmp / f"{inp}.jsonl"
            with open(path, "w") as f:
                for i in range(n):
                    f.write(json.dumps({"user": f"u{i % keys}", "ts": i, "amount": i % 1000},
                                       separators=(",", ":")) + "\n")
            subprocess.run([str(build / "source" / "sluice-source"), "--broker",
                            broker.endpoint, "--stream", inp, "--no-progress", str(path)],
                           check=True)
            path.unlink()
            # Tumbling 10 s windows, lateness 0: a key's window closes at its first record
            # of a later window; the windows still open at the end are not emitted.
            closed = 0
            last = {}
            for i in range(n):
                k = i % keys
                w = i // 10_000
                if k in last and last[k] != w:
                    closed += 1
                last[k] = w
            t, mem, cpu = run_group(build, broker, f"pass{keys}", inp, f"pass{keys}.out", n, [],
                                    1, tmp)
            results.append((keys, "pass-through", 1, n / t, mem, None, None, cpu, n))
            win = ["--key", "user", "--window", "tumbling:10s", "--agg", "count,sum:amount",
                   "--time", "ts"]
            if closed == 0:
                raise SystemExit(f"--records {n} closes no window of {keys} keys: give more")
            # The default --batch of a keyed group (65,536), and the old default of 1,000.
            # Shares: the default (4), 1, 2 and 8.
            rows = ((1, None, None), (2, None, None), (1, None, 1), (2, None, 2),
                    (1, None, 8), (2, None, 8), (1, 1000, None))
            if args.rows == "default-shares":
                rows = rows[:2]
            for members, batch, shares in rows:
                group = f"win{keys}m{members}b{batch or 0}s{shares or 0}"
                extra = win + (["--batch", str(batch)] if batch else [])
                extra += ["--shares", str(shares)] if shares else []
                t, mem, cpu = run_group(build, broker, group, inp, f"{group}.out", closed,
                                        extra, members, tmp)
                state = broker.stream(f"{group}.state")
                per = state["bytes"] / state["records"] if state["records"] else 0
                what = (f"count+sum tumbling:10s, --batch {batch or 'default (65,536)'}, "
                        f"--shares {shares or 'default (4)'}")
                results.append((keys, what, members, n / t, mem, per,
                                state["records"] / n, cpu, n))
    finally:
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("| keys | group | members | records/s | worker peak RSS | worker peak anonymous RSS "
          "(sampled) | state bytes per changed key | state records per input record | "
          "broker CPU µs/record | members' CPU µs/record |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for keys, what, members, rate, (mem, anon), per, ratio, (bcpu, wcpu), n in results:
        print(f"| {keys:,} | {what} | {members} | {rate:,.0f} | {mem / 1024:.0f} MiB | "
              f"{anon / 1024:.0f} MiB | "
              f"{'' if per is None else f'{per:.0f}'} | {'' if ratio is None else f'{ratio:.2f}'} | "
              f"{bcpu * 1e6 / n:.2f} | {wcpu * 1e6 / n:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
