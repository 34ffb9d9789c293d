#!/usr/bin/python3
"""bench/broker-cpu.py - the broker's CPU time per record for confirmed ingest and replay,
two builds interleaved (BENCHMARKS.md, "The cost of the stored-batch checksum").

    bench/broker-cpu.py [COUNT [REPS]]    # builds in $BEFORE and $AFTER (release builds)

Each run starts a fresh broker on a free loopback port and a temporary data directory,
runs `sluice-bench ingest --count COUNT` then `sluice-bench replay`, reads the broker's
utime+stime from /proc before and after each, and stops the broker by its PID.
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILDS = {"before": os.environ.get("BEFORE", "/tmp/store-before/build-bench"),
          "after": os.environ.get("AFTER", os.path.join(ROOT, "build-bench"))}
N = int(sys.argv[1]) if len(sys.argv) > 1 else 4_000_000
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
def port():
    while True:
        s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
        s2 = socket.socket()
        try:
            s2.bind(("127.0.0.1", p + 1)); s2.close(); return p
        except OSError:
            s2.close()
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
res = {k: {"ingest": [], "replay": [], "ingest_rate": [], "replay_rate": []} for k in BUILDS}
for rep in range(REPS):
    for name, b in BUILDS.items():
        d = tempfile.mkdtemp(prefix="store-cpu-")
        p = port(); ep = f"tcp://127.0.0.1:{p}"
        br = subprocess.Popen([f"{b}/broker/sluice-broker", "--data", d, "--listen", ep, "-q"])
        try:
            for _ in range(200):            # bounded: 10 s for the broker to answer
                if subprocess.run([f"{b}/sink/sluice-sink", "--broker", ep, "--list"], capture_output=True).returncode == 0:
                    break
                time.sleep(0.05)
            c0 = cpu(br.pid)
            out = subprocess.run([f"{b}/bench/sluice-bench", "ingest", "--broker", ep, "--count", str(N)], capture_output=True, text=True, timeout=600).stdout
            c1 = cpu(br.pid)
            out2 = subprocess.run([f"{b}/bench/sluice-bench", "replay", "--broker", ep], capture_output=True, text=True, timeout=600).stdout
            c2 = cpu(br.pid)
        finally:
            br.terminate(); br.wait(60); shutil.rmtree(d)
        def rate(o):
            for w in o.split():
                if w.startswith("records_per_s="): return float(w.split("=")[1])
            return 0.0
        res[name]["ingest"].append((c1 - c0) / N * 1e6)
        res[name]["replay"].append((c2 - c1) / N * 1e6)
        res[name]["ingest_rate"].append(rate(out)); res[name]["replay_rate"].append(rate(out2))
        print(name, rep, f"ingest {res[name]['ingest'][-1]:.3f} us/rec cpu, {rate(out):.0f}/s; replay {res[name]['replay'][-1]:.3f} us/rec cpu, {rate(out2):.0f}/s", flush=True)
print(json.dumps({k: {m: statistics.median(v) for m, v in d.items()} for k, d in res.items()}, indent=1))
