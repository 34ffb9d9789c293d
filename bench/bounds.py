#!/usr/bin/python3
"""The worst cases of issue 11's classes 2-4, timed against one broker binary
(BENCHMARKS.md, "Bounds"). Each case starts a fresh broker on a temporary data directory.

    bench/bounds.py BROKER_BINARY [--cases deadletter,groups,failed]

  deadletter  one lease of 32,768 records, every one failed final in one RESULT: seconds from
              the RESULT to the broker's next PONG, and to all 32,768 dead letters stored
  groups      PING round trips per second (one at a time) with 0 groups, then after 1,000 JOINs
              of new groups
  failed      100 RESULTs of 65,536 `failed` entries each (~320 KiB on the wire): seconds to
              take them all, and the broker's peak RssAnon
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

PUBLISH, CONFIRM, LIST, STREAMS, PING, PONG, ERROR = 0x03, 0x04, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F
JOIN, JOINED, WORK, RESULT = 0x11, 0x12, 0x13, 0x14


def free_port():
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port < 60000:
            return port


class Broker:
    def __init__(self, binary, data=None):
        self.binary = binary
        self.keep = data is not None
        self.dir = data or tempfile.mkdtemp(prefix="bench-bounds-")
        self.port = free_port()
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([binary, "--data", self.dir, "--listen", self.endpoint],
                                     stderr=subprocess.DEVNULL)
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.endpoint)
        self.req = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                self.request(PING, {}, timeout=0.25)
                return
            except TimeoutError:
                pass
        raise RuntimeError("broker not answering")

    def send(self, cmd, body, *data):
        raw = body if isinstance(body, bytes) else msgpack.packb(body)
        self.sock.send_multipart([bytes([0x53, 0x4C, 1, cmd]), raw, *data])

    def recv(self, timeout):
        if not self.sock.poll(int(timeout * 1000)):
            raise TimeoutError
        frames = self.sock.recv_multipart()
        return frames[0][3], msgpack.unpackb(frames[1], raw=False), frames[2:]

    def request(self, cmd, body, timeout=60):
        self.req += 1
        self.send(cmd, dict(body, req=self.req))
        while True:
            reply = self.recv(timeout)
            if reply[1].get("req") == self.req:
                return reply

    def rss_anon_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
        return 0

    def stream_next(self, name):
        _, body, _ = self.request(LIST, {})
        return next((s["next"] for s in body["streams"] if s["name"] == name), 0)

    def close(self, keep=False):
        if self.proc.poll() is not None:
            return
        self.sock.close(0)
        self.proc.terminate()
        self.proc.wait(30)
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def record(value):
    return b"\x94" + msgpack.packb(int(time.time() * 1000)) + b"\xc0\xc0" + msgpack.packb(value)


def with_failed(body, failed):
    """body (a packed map) with one more key, "failed", already packed."""
    return bytes([body[0] + 1]) + body[1:] + msgpack.packb("failed") + failed


def case_deadletter(binary):
    n = 32768
    b = Broker(binary)
    try:
        b.send(PUBLISH, {"stream": "in", "producer": "p", "seq": 1, "count": n},
               b"".join(record({"i": i}) for i in range(n)))
        assert b.recv(60)[0] == CONFIRM
        cmd, _, _ = b.request(JOIN, {"group": "dl", "in": "in", "out": "out", "member": "m",
                                     "window": 1, "batch": n, "max_deliver": 1})
        assert cmd == JOINED
        cmd, work, _ = b.recv(60)
        assert cmd == WORK and work["count"] == n
        failed = msgpack.packb([[i, f"boom {i}", True] for i in range(n)])
        result = with_failed(msgpack.packb({"group": "dl", "lease": work["lease"], "offset": 0,
                                            "count": n, "out_count": 0}), failed)
        t0 = time.monotonic()
        b.send(RESULT, result, b"")
        b.request(PING, {}, timeout=600)
        pong = time.monotonic() - t0
        while b.stream_next("dl.dlq") < n:
            time.sleep(0.01)
        stored = time.monotonic() - t0
        print(f"deadletter: 32,768 final failures in one RESULT: next PONG after {pong:.3f} s, "
              f"all dead letters stored after {stored:.3f} s")
    finally:
        b.close()


def ping_rate(b, seconds=3.0):
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        b.request(PING, {})
        n += 1
    return n / (time.monotonic() - t0)


def case_groups(binary):
    """PINGs from one client while another, a member of every group, stays connected (it
    sends a PING every second, as a real member would)."""
    b = Broker(binary)
    member = zmq.Context.instance().socket(zmq.DEALER)
    member.setsockopt(zmq.LINGER, 0)
    member.connect(b.endpoint)
    try:
        before = ping_rate(b)
        for i in range(1000):
            member.send_multipart([bytes([0x53, 0x4C, 1, JOIN]),
                                   msgpack.packb({"req": i, "group": f"g{i}", "in": "in",
                                                  "out": f"out{i}", "member": "m"})])
            frames = member.recv_multipart()
            assert frames[0][3] == JOINED, msgpack.unpackb(frames[1])
        after = ping_rate(b)
        b.close(keep=True)
        b = Broker(b.binary, data=b.dir)     # restart: the groups are stored, nobody is a member
        restarted = ping_rate(b)
        print(f"groups: PING round trips/s with 0 groups {before:,.0f}; with 1,000 groups "
              f"(one member of each connected) {after:,.0f}; after a restart {restarted:,.0f}")
    finally:
        member.close(0)
        b.close()


def case_failed(binary):
    b = Broker(binary)
    try:
        cmd, _, _ = b.request(JOIN, {"group": "r", "in": "r.in", "out": "r.out", "member": "m"})
        assert cmd == JOINED
        failed = msgpack.packb([[i, ""] for i in range(65536)])
        result = with_failed(msgpack.packb({"group": "r", "lease": 999999, "offset": 0,
                                            "count": 65536, "out_count": 0}), failed)
        base = b.rss_anon_mib()
        peak = base
        t0 = time.monotonic()
        for _ in range(100):
            b.send(RESULT, result, b"")
            peak = max(peak, b.rss_anon_mib())
        while True:
            try:
                b.request(PING, {}, timeout=0.2)
                break
            except TimeoutError:
                peak = max(peak, b.rss_anon_mib())
        took = time.monotonic() - t0
        print(f"failed: 100 RESULTs of 65,536 entries ({len(result) / 1024:.0f} KiB each) taken "
              f"in {took:.2f} s; RssAnon {base:.0f} MiB before, peak {peak:.0f} MiB")
    finally:
        b.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("broker")
    ap.add_argument("--cases", default="deadletter,groups,failed")
    args = ap.parse_args()
    cases = {"deadletter": case_deadletter, "groups": case_groups, "failed": case_failed}
    for name in args.cases.split(","):
        cases[name](os.path.abspath(args.broker))
    return 0


if __name__ == "__main__":
    sys.exit(main())
