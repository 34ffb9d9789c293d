"""Harness for the hostile-peer suite: the integration harness (tests/integration/conftest.py:
process tracking, brokers, deadlines, result counting for scripts/test) plus what every test here
needs: the broker's anonymous memory, its CPU time, raw peers that never read, a legitimate
source -> sink pipeline to run while a hostile peer acts, and raw publishing of big streams.
"""

import pathlib
import sys
import time

import msgpack
import zmq

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))
import suites  # noqa: E402

# The integration harness, importable as `sluice_it`; its fixtures, result-counting hooks, T and
# wait_for land here so that pytest (and this directory's tests) find them.
sluice_it = suites.integration(globals())

Wire = sluice_it.Wire
header = sluice_it.header
pack = sluice_it.pack
now_ms = sluice_it.now_ms
(HELLO, WELCOME, PUBLISH, CONFIRM, FETCH, RECORDS, LIST, STREAMS, PING, PONG, ERROR) = (
    sluice_it.HELLO, sluice_it.WELCOME, sluice_it.PUBLISH, sluice_it.CONFIRM, sluice_it.FETCH,
    sluice_it.RECORDS, sluice_it.LIST, sluice_it.STREAMS, sluice_it.PING, sluice_it.PONG,
    sluice_it.ERROR)
JOIN, JOINED, WORK, RESULT, LEAVE = 0x11, 0x12, 0x13, 0x14, 0x15
EBUSY, ELIMIT = 24, 25
MIB = 1024 * 1024


def rss_anon_kib(pid):
    """RssAnon of a process in KiB: the heap and anonymous mappings, not its files (LMDB's map
    is a file mapping and does not count)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def sanitized(pid):
    """True under AddressSanitizer, whose quarantine and shadow memory make RSS meaningless."""
    with open(f"/proc/{pid}/maps") as f:
        return any("libasan" in line or "libclang_rt.asan" in line for line in f)


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    import os
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemoryWatch:
    """Samples a process's RssAnon; peak() is the highest seen since start."""

    def __init__(self, pid):
        self.pid = pid
        self.base = rss_anon_kib(pid)
        self.top = self.base

    def sample(self):
        self.top = max(self.top, rss_anon_kib(self.pid))
        return self.top

    def growth_mib(self):
        self.sample()
        return (self.top - self.base) / 1024


def record(value, ts=None):
    """One encoded record [timestamp, nil key, nil headers, value]."""
    return b"\x94" + msgpack.packb(ts or now_ms()) + b"\xc0\xc0" + msgpack.packb(value)


def publish_batches(wire, stream, batches, per_batch, value_size, producer="filler"):
    """Publishes batches of per_batch records of about value_size bytes each, waiting for every
    CONFIRM. Returns the number of records."""
    pad = "x" * value_size
    seq = 1                     # a producer numbers records, not batches
    for b in range(batches):
        data = b"".join(record({"b": b, "i": i, "pad": pad}) for i in range(per_batch))
        body = {"stream": stream, "producer": producer, "seq": seq, "count": per_batch}
        wire.send(PUBLISH, body, data)
        last = seq + per_batch - 1
        seq += per_batch
        deadline = time.monotonic() + T(30)
        while True:
            reply = wire.recv(max(deadline - time.monotonic(), 0.01))
            assert reply is not None, f"no CONFIRM for batch {b}"
            if reply[0] == CONFIRM and reply[2].get("seq") == last:
                break
            assert reply[0] != ERROR, f"PUBLISH refused: {reply[2]}"
    return batches * per_batch


def never_reading_dealer(endpoint, identity=None):
    """A DEALER that takes as little as it can off the wire: one message in its queue and a small
    kernel buffer, so that what the broker sends it stays with the broker."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 1)
    sock.setsockopt(zmq.RCVBUF, 4096)
    if identity:
        sock.setsockopt(zmq.IDENTITY, identity)
    sock.connect(endpoint)
    return sock


def drain(sock, timeout):
    """Reads everything sock has until nothing comes for timeout seconds: [(cmd, body)]."""
    got = []
    while sock.poll(int(timeout * 1000)):
        frames = sock.recv_multipart()
        body = msgpack.unpackb(frames[1], raw=False, strict_map_key=False)
        got.append((frames[0][3], body))
    return got


def legit_pipeline(procs, broker, stream, n, tmp_path, name="legit"):
    """A real source -> sink pipeline of n records; asserts the sink got every record once, in
    order, and that the source had every batch confirmed (exit 0)."""
    values = [{"n": i, "who": name} for i in range(n)]
    path = sluice_it.write_jsonl(tmp_path / f"{name}.jsonl", values)
    sink = procs.start(f"{name}-sink", sluice_it.sink_args(broker, stream, "--from=beginning",
                                                            "--count", str(n)))
    source = procs.start(f"{name}-source", sluice_it.source_args(broker, stream, path))
    source.expect_exit(0, T(120))
    sink.expect_exit(0, T(120))
    sluice_it.assert_records(sink.json_lines(), values)
