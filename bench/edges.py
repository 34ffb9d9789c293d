#!/usr/bin/python3
"""Throughput of the edges (BENCHMARKS.md, "The edges"): each edge timed on its own against one
broker, with real processes and the real counterpart.

    bench/edges.py [--build build] [--records 200000] [--only follow,output,post,mqtt]

  follow      sluice-source --follow FILE (a file of N JSON lines written first), with and
              without --name, timed from the source's start until the broker holds N records;
  output      sluice-sink --output DIR --name R --exit-at-end on a stream of N records, with
              --compress none, gzip and zstd, timed from start to exit;
  post        sluice-sink --post URL --exit-at-end --format value to a webhook served by this
              script (Python's ThreadingHTTPServer, which reads and discards each body);
  mqtt-in     mosquitto_pub -l -q 1 (N lines) into a mosquitto, sluice-source --mqtt reading
              them into the broker: from the publisher's start until the broker holds N;
  mqtt-out    sluice-sink --mqtt (QoS 1) on a stream of N records, mosquitto_sub -q 1 -C N
              counting them: from the sink's start until the subscriber got N.

Records are ~80-byte JSON objects. Every process is started here and ended by PID; the data
directory and files are temporary. Prints one Markdown table.
"""
import argparse
import json
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchlib import Broker, free_port


def wait_count(broker, stream, n, procs, timeout=600):
    deadline = time.monotonic() + timeout
    while broker.next(stream) < n:
        for p in procs:
            if p.poll() is not None and p.returncode != 0:
                raise SystemExit(f"{p.args[0]} exited {p.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{stream}: {broker.next(stream)} of {n} after {timeout} s")
        time.sleep(0.02)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    p.wait(60)


def lines(n, tag):
    return "".join(json.dumps({"id": i, "sensor": f"s-{i % 16}", "temp": 20.5,
                               "ts": 1795000000000 + i, "note": tag}) + "\n" for i in range(n))


def load(build, broker, stream, path):
    subprocess.run([str(build / "source" / "sluice-source"), "--broker", broker.endpoint,
                    "--stream", stream, "--quiet", str(path)], check=True)


def bench_follow(build, broker, tmp, n, rows):
    path = tmp / "follow.log"
    path.write_text(lines(n, "abcdefghij"))
    for label, extra in (("without --name", []),
                         ("with --name (exact resume)", ["--name", "fb", "--state-dir", str(tmp)])):
        stream = "follow" + str(len(rows))
        start = time.monotonic()
        p = subprocess.Popen([str(build / "source" / "sluice-source"), "--broker", broker.endpoint,
                              "--stream", stream, "--follow", "--quiet", *extra, str(path)])
        wait_count(broker, stream, n, [p])
        elapsed = time.monotonic() - start
        stop(p)
        rows.append((f"`sluice-source --follow FILE` {label}", n, elapsed))


def bench_output(build, broker, tmp, n, rows):
    path = tmp / "out-in.jsonl"
    path.write_text(lines(n, "abcdefghij"))
    load(build, broker, "outsrc", path)
    for codec in ("none", "gzip", "zstd"):
        d = tmp / f"out-{codec}"
        d.mkdir()
        start = time.monotonic()
        subprocess.run([str(build / "sink" / "sluice-sink"), "--broker", broker.endpoint,
                        "--stream", "outsrc", "--from", "beginning", "--exit-at-end", "--quiet",
                        "--name", f"o-{codec}", "--output", str(d), "--compress", codec],
                       check=True)
        elapsed = time.monotonic() - start
        size = sum(f.stat().st_size for f in d.iterdir())
        rows.append((f"`sluice-sink --output DIR --compress {codec}` ({size / n:.0f} B/record "
                     "on disk)", n, elapsed))


def bench_post(build, broker, tmp, n, rows):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        path = tmp / "post-in.jsonl"
        path.write_text(lines(n, "abcdefghij"))
        load(build, broker, "postsrc", path)
        start = time.monotonic()
        subprocess.run([str(build / "sink" / "sluice-sink"), "--broker", broker.endpoint,
                        "--stream", "postsrc", "--from", "beginning", "--exit-at-end", "--quiet",
                        "--format", "value", "--post",
                        f"http://127.0.0.1:{server.server_address[1]}/hook"], check=True)
        rows.append(("`sluice-sink --post URL --format value` (Python webhook)", n,
                     time.monotonic() - start))
    finally:
        server.shutdown()
        server.server_close()


def mosquitto(tmp):
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"user root\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
                    "max_queued_messages 1000000\nmax_inflight_messages 1000\n")
    p = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)],
                         stderr=open(tmp / "mosquitto.log", "w"))
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return p, port
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("mosquitto did not start")
            time.sleep(0.05)


def bench_mqtt(build, broker, tmp, n, rows):
    # mosquitto 2.0.11 itself drops a QoS 1 subscriber "due to out of memory" when
    # mosquitto_pub -l pushes 100,000 messages at full speed (seen with mosquitto_sub as the
    # subscriber too): the MQTT runs move at most 20,000.
    n = min(n, 20_000)
    mq, port = mosquitto(tmp)
    try:
        # In: the source subscribes first, then mosquitto_pub publishes every line (QoS 1).
        src = subprocess.Popen([str(build / "source" / "sluice-source"), "--broker",
                                broker.endpoint, "--stream", "mqttin", "--quiet", "--mqtt",
                                f"mqtt://127.0.0.1:{port}/bench/#"])
        while broker.next("mqttin") == 0:      # subscribed once a probe lands
            subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", "bench/probe",
                            "-m", "{}"], check=True)
            time.sleep(0.1)
        path = tmp / "mqtt-in.jsonl"
        path.write_text(lines(n, "abcdefghij"))
        base = broker.next("mqttin")
        start = time.monotonic()
        pub = subprocess.Popen(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", "bench/in",
                                "-l"], stdin=open(path))
        wait_count(broker, "mqttin", base + n, [src])
        rows.append(("`mosquitto_pub -l -q 1` → mosquitto → `sluice-source --mqtt`", n,
                     time.monotonic() - start))
        pub.wait(60)
        stop(src)
        # Out: a stream of n records published by the sink, counted by mosquitto_sub.
        path = tmp / "mqtt-out.jsonl"
        path.write_text(lines(n, "abcdefghij"))
        load(build, broker, "mqttout", path)
        # A persistent session, subscribed before the sink starts (-E: exit at the SUBACK), so
        # mosquitto queues what comes before the counting subscriber connects.
        sub_args = ["mosquitto_sub", "-p", str(port), "-q", "1", "-t", "bench/out", "-c", "-i",
                    "bench-sub"]
        subprocess.run([*sub_args, "-E"], check=True)
        start = time.monotonic()
        sink = subprocess.Popen([str(build / "sink" / "sluice-sink"), "--broker",
                                 broker.endpoint, "--stream", "mqttout", "--from", "beginning",
                                 "--exit-at-end", "--quiet", "--mqtt",
                                 f"mqtt://127.0.0.1:{port}/bench/out"])
        sub = subprocess.Popen([*sub_args, "-C", str(n)], stdout=subprocess.DEVNULL)
        sub.wait(600)
        rows.append(("`sluice-sink --mqtt` (QoS 1) → mosquitto → `mosquitto_sub -q 1`", n,
                     time.monotonic() - start))
        sink.wait(60)
    finally:
        stop(mq)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--only", default="follow,output,post,mqtt")
    args = ap.parse_args()
    build = pathlib.Path(args.build).resolve()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sluice-edges-bench-"))
    broker = Broker(build, tmp)
    rows = []
    print("| edge | records | seconds | records/s |")
    print("|---|---|---|---|", flush=True)
    printed = 0
    try:
        for name, fn in (("follow", bench_follow), ("output", bench_output), ("post", bench_post),
                         ("mqtt", bench_mqtt)):
            if name in args.only.split(","):
                fn(build, broker, tmp, args.records, rows)
            for label, n, secs in rows[printed:]:
                print(f"| {label} | {n:,} | {secs:.2f} | {n / secs:,.0f} |", flush=True)
            printed = len(rows)
    finally:
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
