#!/usr/bin/python3
"""bench/ab.py - end to end A/B runs of several builds, interleaved, with the bare baseline.

    bench/ab.py --build before=DIR --build after=DIR [--reps 5] [--count 2000000]
                [--sync none] [--baseline]

For each repetition, in turn: Sluice end to end (the five processes of bench/run's e2e
scenario: source -> broker -> worker -> broker -> sink) on every build given, then (with
--baseline) bench/batch-chain, the bare batched prototype, from the first build (and when
the brokers sync, their default, the prototype once more with every commit synced:
`batch-chain --sync 1`). So the
machine's load falls on all of them alike: on a shared VM compare them with each other,
never with runs at other times. Prints one line per run and the medians; records/s from the
source's start to the sink's exit, and each Sluice process's CPU seconds (utime + stime).
"""
import argparse
import importlib.machinery
import importlib.util
import os
import statistics
import sys
import tempfile
import shutil
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load_run():
    loader = importlib.machinery.SourceFileLoader("bench_run", os.path.join(HERE, "run"))
    spec = importlib.util.spec_from_loader("bench_run", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def cpu_s(pid):
    """utime + stime of a live process, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def done(pid):
    """True once pid has exited (a zombie not yet reaped keeps its CPU times)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def sluice_e2e(run, r, path, count, sync):
    b = run.Broker(r, *([f"--sync={sync}"] if sync else []))
    cpu = {}
    try:
        worker = r.spawn([r.bin("worker/sluice-worker"), "--broker", b.ep, "--group", "g",
                          "--in", "in", "--out", "out", "--quiet"])
        sink = r.spawn([r.bin("sink/sluice-sink"), "--broker", b.ep, "--stream", "out",
                        "--from", "beginning", "--count", str(count), "--format", "msgpack",
                        "--quiet"])
        t0 = time.monotonic()
        source = r.spawn([r.bin("source/sluice-source"), "--broker", b.ep, "--stream", "in",
                          "--format", "msgpack", "--no-progress", "--quiet", path])
        # CPU of the processes still alive when the sink is done; the source's at its end.
        while not done(source.pid):
            time.sleep(0.01)
        cpu["source"] = cpu_s(source.pid)
        src_rc, _ = r.reap(source)
        while not done(sink.pid):
            time.sleep(0.01)
        secs = time.monotonic() - t0
        cpu["sink"] = cpu_s(sink.pid)
        sink_rc, _ = r.reap(sink)
        cpu["broker"] = cpu_s(b.p.pid)
        cpu["worker"] = cpu_s(worker.pid)
        r.stop(worker)
    finally:
        b.stop()
    ok = src_rc == 0 and sink_rc == 0
    return (count / secs if ok else 0), cpu


def latency(run, r, rate, secs, sync):
    """sluice-bench latency through a pass-through worker group: p50/p99 in ms."""
    b = run.Broker(r, *([f"--sync={sync}"] if sync else []))
    worker = None
    try:
        worker = r.spawn([r.bin("worker/sluice-worker"), "--broker", b.ep, "--group", "lat",
                          "--in", "lat-in", "--out", "lat-out", "--quiet"])
        out, rc, _ = r.run([r.bin("bench/sluice-bench"), "latency", "--broker", b.ep, "--rate",
                            str(rate), "--seconds", str(secs), "--stream", "lat-in", "--out",
                            "lat-out"], timeout=secs + 60)
    finally:
        if worker:
            r.stop(worker)
        b.stop()
    f = run.fields(out)
    return rc == 0, f.get("p50", 0) / 1000, f.get("p99", 0) / 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", action="append", required=True, help="LABEL=DIR, repeatable")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--count", type=int, default=2_000_000)
    ap.add_argument("--sync", help="the brokers' --sync (default: theirs)")
    ap.add_argument("--baseline", action="store_true", help="also run bench/batch-chain")
    ap.add_argument("--latency", type=int, metavar="RATE",
                    help="instead of throughput: latency through a worker at RATE records/s "
                         "for 10 s (sluice-bench latency)")
    args = ap.parse_args()
    run = load_run()
    builds = [b.split("=", 1) for b in args.build]
    tmp = tempfile.mkdtemp(prefix="sluice-ab.")
    results = {label: [] for label, _ in builds}
    # With Sluice syncing (its default), the prototype also runs syncing each commit.
    synced = args.sync in (None, "full", "data")
    if args.baseline:
        results["batch-chain"] = []
        if synced:
            results["batch-chain --sync 1"] = []
    try:
        first = run.Runner(builds[0][1], tmp)
        path = os.path.join(tmp, "values.mp")
        with open(path, "wb") as f:
            if args.latency:
                args.count = 1000
            p = first.spawn([first.bin("bench/sluice-bench"), "values", "--count",
                             str(args.count), "--size", "100"], stdout=f)
            if first.reap(p)[0] != 0:
                sys.exit("sluice-bench values failed")
        for rep in range(args.reps):
            for label, build in builds:
                r = run.Runner(build, tmp)
                if args.latency:
                    try:
                        ok, p50, p99 = latency(run, r, args.latency, 10, args.sync)
                    finally:
                        r.stop_all()
                    results[label].append(p99 if ok else 0)
                    print(f"rep {rep} {label}: latency p50 {p50:.3f} ms, p99 {p99:.3f} ms",
                          flush=True)
                    continue
                try:
                    rate, cpu = sluice_e2e(run, r, path, args.count, args.sync)
                finally:
                    r.stop_all()
                results[label].append(rate)
                print(f"rep {rep} {label}: {rate:,.0f} records/s  cpu " +
                      " ".join(f"{k}={v:.2f}s" for k, v in sorted(cpu.items())), flush=True)
            if args.baseline:
                out, rc, _ = first.run([first.bin("bench/batch-chain"), "--count",
                                        str(args.count), "--size", "100", "--batch", "1024",
                                        "--port", str(run.free_port(4)), "--dir", tmp])
                rate = run.fields(out).get("records_per_s", 0) if rc == 0 else 0
                results["batch-chain"].append(rate)
                print(f"rep {rep} batch-chain: {rate:,.0f} records/s", flush=True)
                if synced:
                    out, rc, _ = first.run([first.bin("bench/batch-chain"), "--count",
                                            str(args.count), "--size", "100", "--batch", "1024",
                                            "--port", str(run.free_port(4)), "--dir", tmp,
                                            "--sync", "1"])
                    rate = run.fields(out).get("records_per_s", 0) if rc == 0 else 0
                    results["batch-chain --sync 1"].append(rate)
                    print(f"rep {rep} batch-chain --sync 1: {rate:,.0f} records/s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average at the end: {open('/proc/loadavg').read().split()[:3]}")
    for label, rates in results.items():
        good = [x for x in rates if x]
        if good:
            unit, fmt = ("ms p99", ",.3f") if args.latency else ("records/s", ",.0f")
            print(f"median {label}: {statistics.median(good):{fmt}} {unit} "
                  f"({min(good):{fmt}} - {max(good):{fmt}}, {len(good)} of {len(rates)} runs)")


if __name__ == "__main__":
    main()
