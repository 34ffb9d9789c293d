"""Guarantee 6, the classes test_hostile.py leaves out (issue 5, "Hostile input"): ZeroMQ peers
that are not Sluice clients (other socket types, a DEALER sending thousands of random multipart
messages), the 13-byte frames that claim gigabytes, repeated, while a real pipeline runs; the
broker's memory stays bounded (VmRSS sampled from /proc), each bad peer is logged once and
counted, and the good pipeline loses nothing.
"""

import random
import re
import time

import pytest
import zmq

from conftest import (ERROR, LIST, PUBLISH, T, Wire, assert_records, header, pack, read_stream,
                      start_sink, start_source, write_jsonl)

# 13 bytes each, every one claiming about 4 GiB: a body map with a str32 length, a record whose
# value is an array32 count, a record whose value is a bin32 length.
BODY_13 = b"\x81\xa3req\xdb\xff\xff\xff\xff" + b"abc"
RECORD_ARRAY_13 = b"\x94\x01\xc0\xc0\xdd\xff\xff\xff\xff" + b"\x01\x02\x03\x04"
RECORD_BIN_13 = b"\x94\x01\xc0\xc0\xc6\xff\xff\xff\xff" + b"abcd"
assert len(BODY_13) == len(RECORD_ARRAY_13) == len(RECORD_BIN_13) == 13

# Growth of the broker's VmRSS allowed between the second and the last of several identical
# rounds of hostile traffic: any per-message leak or retained buffer shows up as a trend.
LEAK_MARGIN_KIB = 8 * 1024
BUDGET_KIB = 256 * 1024


def _rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _sanitized(pid):
    """True when the process runs with AddressSanitizer, whose quarantine and shadow memory
    make its RSS say nothing about the program's own memory."""
    with open(f"/proc/{pid}/maps") as f:
        return any("libasan" in line or "libclang_rt.asan" in line for line in f)


def _publish_body(seq):
    return pack({"stream": "hostile", "producer": "evil", "seq": seq, "count": 1})


def _random_message(rng, seq):
    """One random multipart message: some look almost like SLP, most are noise."""
    kind = rng.randrange(6)
    if kind == 0:
        return [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
                for _ in range(rng.randrange(1, 6))]
    if kind == 1:
        return [header(rng.randrange(256)), bytes(rng.randrange(256)
                                                  for _ in range(rng.randrange(0, 32)))]
    if kind == 2:
        return [header(PUBLISH), _publish_body(seq),
                bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))]
    if kind == 3:
        return [header(LIST), BODY_13]
    if kind == 4:
        return [header(PUBLISH), _publish_body(seq), rng.choice([RECORD_ARRAY_13, RECORD_BIN_13])]
    return [b"SL", b"\x01", header(rng.randrange(1, 0x16)), b""]


def _barrage(endpoint, rng, n):
    """Sends n random messages from one DEALER and drains its replies; returns the replies."""
    wire = Wire(endpoint)
    replies = 0
    try:
        for i in range(n):
            wire.send_frames(_random_message(rng, i + 1))
            while wire.sock.poll(0):
                wire.sock.recv_multipart()
                replies += 1
        deadline = time.monotonic() + T(10)
        while replies < n and time.monotonic() < deadline:
            if wire.sock.poll(200):
                wire.sock.recv_multipart()
                replies += 1
    finally:
        wire.close()
    return replies


def _strangers(endpoint):
    """ZeroMQ peers of the wrong socket types: each says something and goes away."""
    ctx = zmq.Context.instance()
    for kind in (zmq.REQ, zmq.PUSH, zmq.PUB, zmq.PAIR, zmq.STREAM, zmq.ROUTER):
        s = ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        try:
            if kind == zmq.STREAM:
                s.send_multipart([b"", b""], zmq.NOBLOCK)       # the connection id is unknown
            elif kind == zmq.ROUTER:
                s.send_multipart([b"nobody", b"hello"], zmq.NOBLOCK)
            else:
                s.send_multipart([b"hello", b"from", b"a stranger"], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass
        if kind == zmq.REQ:
            s.poll(int(T(2) * 1000))                            # an ERROR reply, maybe
        s.close(0)


def test_foreign_peers_and_random_frames_keep_memory_bounded(procs, broker, tmp_path):
    values = [{"i": i, "s": "good"} for i in range(30_000)]
    path = write_jsonl(tmp_path / "good.jsonl", values)
    sink = start_sink(procs, broker, "good", "--from", "beginning", "--count", str(len(values)),
                      "--format", "json")
    src = start_source(procs, broker, "good", "--name", "good-src", "--rate", "5000", str(path))

    rng = random.Random(20261126)
    pid = broker.proc.pid
    rss = [_rss_kib(pid)]
    replies = 0
    rounds, per_round = 5, 1500
    for _ in range(rounds):
        _strangers(broker.endpoint)
        replies += _barrage(broker.endpoint, rng, per_round)
        assert broker.proc.alive(), f"broker died:\n{broker.proc.stderr()[-4000:]}"
        assert broker.wire.ping(), "broker stopped answering PING"
        rss.append(_rss_kib(pid))

    # Every bad message from a Sluice-speaking peer got an ERROR (none were dropped unseen).
    assert replies == rounds * per_round, f"{replies} replies to {rounds * per_round} messages"
    # Memory: under the budget, and no trend from round to round once warm (not judged
    # under ASan: LeakSanitizer at exit judges leaks there).
    if not _sanitized(pid):
        assert max(rss) < BUDGET_KIB, f"broker VmRSS {max(rss) // 1024} MiB"
        assert rss[-1] <= rss[1] + LEAK_MARGIN_KIB, f"broker VmRSS by round (KiB): {rss}"

    src.expect_exit(0, T(120))
    sink.expect_exit(0, T(120))
    assert_records(sink.json_lines(), values)
    assert_records(read_stream(procs, broker, "good"), values)
    assert "hostile" not in broker.wire.streams(), "a rejected PUBLISH created its stream"

    # Each bad peer is logged once, however many bad messages it sent; all are counted.
    broker.close()
    assert broker.stop() == 0
    err = broker.proc.stderr()
    bad_lines = [l for l in err.splitlines() if "sent a bad" in l]
    assert len(bad_lines) <= rounds * 3, "bad peers are logged once each:\n" + "\n".join(
        bad_lines[:20])
    m = re.search(r"(\d+) malformed messages", err)
    assert m and int(m.group(1)) >= rounds * per_round * 0.9, err[-2000:]
    print(f"broker VmRSS by round (KiB): {rss}; {m.group(1)} malformed messages counted, "
          f"{len(bad_lines)} log lines")


@pytest.mark.parametrize("frames", [
    [header(LIST), BODY_13],
    [header(PUBLISH), _publish_body(1), RECORD_ARRAY_13],
    [header(PUBLISH), _publish_body(1), RECORD_BIN_13],
], ids=["body-str32", "record-array32", "record-bin32"])
def test_thirteen_bytes_claiming_gigabytes(broker, frames):
    pid = broker.proc.pid
    wire = Wire(broker.endpoint)
    try:
        before = _rss_kib(pid)
        for _ in range(200):
            wire.send_frames(frames)
            reply = wire.recv(T(5))
            assert reply is not None, "no reply"
            assert reply[0] == ERROR and reply[2]["code"] in (3, 6, 8), reply
        after = _rss_kib(pid)
    finally:
        wire.close()
    if not _sanitized(pid):
        assert after - before < 16 * 1024, f"VmRSS {before} -> {after} KiB after 200 messages"
    assert broker.wire.ping()
