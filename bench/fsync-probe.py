#!/usr/bin/python3
"""bench/fsync-probe.py - what one synced commit costs on this disk (BENCHMARKS.md, "Records
per fsync").

    bench/fsync-probe.py [DIR] [--rounds N]

Appends blocks of 128 KiB, 1 MiB, 4 MiB and 16 MiB to a new file in DIR (default /tmp, where
the benchmarks put their brokers' data) and times the fdatasync after each append, the call
LMDB makes in every synced commit. Prints per size the median and 90th percentile and the
bytes per second they imply; removes its file at the end. Every loop is bounded by --rounds.
"""
import argparse
import os
import shutil
import tempfile
import time

SIZES = (128 << 10, 1 << 20, 4 << 20, 16 << 20)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?", default="/tmp")
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    if not 1 <= args.rounds <= 10000:
        ap.error("--rounds: 1..10000")
    d = tempfile.mkdtemp(dir=args.dir, prefix="fsync-probe.")
    try:
        for size in SIZES:
            block = os.urandom(size)
            fd = os.open(os.path.join(d, f"f{size}"), os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                ms = []
                for _ in range(args.rounds):
                    os.write(fd, block)
                    t = time.perf_counter()
                    os.fdatasync(fd)
                    ms.append((time.perf_counter() - t) * 1e3)
            finally:
                os.close(fd)
            ms.sort()
            p50, p90 = ms[len(ms) // 2], ms[int(len(ms) * 0.9)]
            print(f"{size >> 10:6d} KiB: fdatasync p50 {p50:6.2f} ms  p90 {p90:6.2f} ms  "
                  f"({size / 1e6 / (p50 / 1e3):,.0f} MB/s at p50)")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(f"load average: {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()
