"""Guarantee 6: malformed, oversized and out-of-protocol input is answered and survived."""

import random
import socket
import struct
import time

import msgpack
import pytest
import zmq

from conftest import (ERROR, FETCH, HELLO, LIST, LIVE, PUBLISH, SEEK, WELCOME, T, Wire,
                      assert_records, header, now_ms, pack, read_stream, run_source, write_jsonl)
from hostile_util import assert_good_pipeline_unharmed, start_good_pipeline

EINVAL, EPROTO, EVERSION, ECOMMAND, ETOOBIG, EDEPTH, ETRUNC = 2, 3, 4, 5, 6, 7, 8
ENAME, ETYPE = 17, 21


def _record(value_bytes, ts=None):
    """One encoded record [timestamp, nil key, nil headers, value]."""
    return b"\x94" + msgpack.packb(ts or now_ms()) + b"\xc0\xc0" + value_bytes


def _publish(stream="hostile", producer="evil", seq=1, count=1, **extra):
    return pack(dict({"stream": stream, "producer": producer, "seq": seq, "count": count},
                     **extra))


DEEP_10K = b"\x91" * 10_000 + b"\xc0"       # [[[...nil...]]] 10,000 deep
GOOD_RECORD = _record(msgpack.packb({"ok": True}))

# PROTOCOL.md §8 answers a bad record with ERROR 3, while §9 lists ETYPE (21) for "a record
# element has the wrong type": both are accepted for a record of the wrong shape.
# name: (frames, accepted error codes, req the ERROR must echo or None). None among the codes:
# the broker may instead drop the connection (a frame past its transport size cap, which it
# sets so that a few bytes cannot make libzmq allocate gigabytes).
CASES = {
    "wrong signature": ([b"XX\x01\x0b", pack({"req": 1})], {EPROTO}, None),
    "short header": ([b"SL\x01", pack({"req": 1})], {EPROTO}, None),
    "header only": ([header(LIST)], {EPROTO}, None),
    "version 2": ([header(LIST, version=2), pack({"req": 2})], {EVERSION}, None),
    "unknown command": ([header(0x7F), pack({"req": 3})], {ECOMMAND}, None),
    "command 0": ([header(0x00), pack({"req": 3})], {ECOMMAND}, None),
    "broker-only command": ([header(WELCOME), pack({"req": 4})], {ECOMMAND, EPROTO}, None),
    "body not a map": ([header(LIST), pack([1, 2, 3])], {EPROTO}, None),
    "body empty": ([header(LIST), b""], {EPROTO, ETRUNC}, None),
    "truncated body": ([header(SEEK), pack({"req": 5, "stream": "s", "from": "end"})[:-3]],
                       {EPROTO, ETRUNC}, None),
    "body claiming 4 GiB map": ([header(LIST), b"\xdf\xff\xff\xff\xff"],
                                {EPROTO, ETRUNC, ETOOBIG}, None),
    "body claiming 4 GiB string": ([header(LIST), b"\x81\xa3req\xdb\xff\xff\xff\xff"],
                                   {EPROTO, ETRUNC, ETOOBIG}, None),
    "body over 1 MiB": ([header(LIST), pack({"req": 6, "pad": "x" * (1 << 20)})],
                        {ETOOBIG}, None),
    "body nested 10k deep": ([header(LIST), b"\x82\xa3req\x07\xa1x" + DEEP_10K],
                             {EPROTO, EDEPTH}, None),
    "body with trailing bytes": ([header(LIST), pack({"req": 8}) + b"\xc0"], {EPROTO}, None),
    "wrong field type": ([header(SEEK), pack({"req": 9, "stream": 5, "from": "end"})],
                         {EPROTO}, 9),
    "missing required field": ([header(SEEK), pack({"req": 10, "from": "end"})], {EPROTO}, 10),
    "bad from": ([header(SEEK), pack({"req": 11, "stream": "s", "from": "sideways"})],
                 {EPROTO, EINVAL}, 11),
    "invalid stream name": ([header(FETCH), pack({"req": 12, "stream": "../etc", "offset": 0})],
                            {ENAME}, 12),
    "extra data frame": ([header(LIST), pack({"req": 13}), b"surprise"], {EPROTO}, 13),
    "publish without data frame": ([header(PUBLISH), _publish(seq=21)], {EPROTO}, 21),
    "publish with garbage records": ([header(PUBLISH), _publish(seq=22), b"\xc1garbage\xff"],
                                     {EPROTO, ETRUNC}, 22),
    "publish with truncated record": ([header(PUBLISH), _publish(seq=23), GOOD_RECORD[:-2]],
                                      {EPROTO, ETRUNC}, 23),
    "publish count larger than data": ([header(PUBLISH), _publish(seq=24, count=2), GOOD_RECORD],
                                       {EPROTO, ETRUNC}, 24),
    "publish count smaller than data": ([header(PUBLISH), _publish(seq=25),
                                         GOOD_RECORD + GOOD_RECORD], {EPROTO}, 25),
    "publish record not an array": ([header(PUBLISH), _publish(seq=26), msgpack.packb(42)],
                                    {EPROTO, ETYPE}, 26),
    "publish record with a lying length": ([header(PUBLISH), _publish(seq=27),
                                            _record(b"\xdb\xff\xff\xff\xffabc")],
                                           {EPROTO, ETRUNC}, 27),
    "publish value nested 10k deep": ([header(PUBLISH), _publish(seq=28), _record(DEEP_10K)],
                                      {EDEPTH, EPROTO}, 28),
    "publish too many records": ([header(PUBLISH), _publish(seq=29, count=70_000),
                                  GOOD_RECORD * 70_000], {ETOOBIG}, 29),
    "publish oversized batch": ([header(PUBLISH), _publish(seq=30),
                                 _record(msgpack.packb("x" * (17 << 20)))],
                                {ETOOBIG, None}, 30),
    "publish seq 0": ([header(PUBLISH), _publish(seq=0), GOOD_RECORD], {EPROTO, EINVAL}, None),
    "publish count 0": ([header(PUBLISH), _publish(seq=31, count=0), b""], {EPROTO, EINVAL}, 31),
    "publish bad stream name": ([header(PUBLISH), _publish(stream=".hidden", seq=32),
                                 GOOD_RECORD], {ENAME}, 32),
    "publish bad headers": ([header(PUBLISH), _publish(seq=33),
                             b"\x94" + msgpack.packb(now_ms()) + b"\xc0" + msgpack.packb([1])
                             + b"\xc0"], {EPROTO, ETYPE}, 33),
}


def _ask(broker, frames):
    """Sends one hostile message on a fresh DEALER; returns the reply or None."""
    wire = Wire(broker.endpoint)
    try:
        wire.send_frames(frames)
        return wire.recv(T(5))
    finally:
        wire.close()


@pytest.fixture
def pipeline(procs, broker, tmp_path):
    """A good source and sink that run while the hostile frames arrive."""
    yield start_good_pipeline(procs, broker, tmp_path, 40_000, 10_000)


def test_hostile_frames_get_errors_and_harm_nothing(procs, broker, pipeline):
    values, src, sink = pipeline
    problems = []
    for name, (frames, codes, req) in CASES.items():
        reply = _ask(broker, frames)
        if reply is None:
            if None not in codes:
                problems.append(f"{name}: no reply")
            continue
        cmd, version, body, _ = reply
        if cmd != ERROR or version != 1:
            problems.append(f"{name}: answered 0x{cmd:02x} v{version} {body}")
        elif body.get("code") not in codes:
            problems.append(f"{name}: code {body.get('code')} ({body.get('text')}), "
                            f"expected one of {sorted(codes)}")
        elif req is not None and body.get("req") != req:
            problems.append(f"{name}: req {body.get('req')}, expected {req}")
        elif not isinstance(body.get("text"), str) or not body["text"]:
            problems.append(f"{name}: ERROR without text")
        if not broker.proc.alive():
            pytest.fail(f"broker died on '{name}':\n{broker.proc.stderr()[-4000:]}")
    assert broker.wire.ping(), "broker stopped answering PING"
    assert_good_pipeline_unharmed(procs, broker, values, src, sink)
    assert not problems, "\n".join(problems)


def _zmtp_greeting():
    """A ZMTP 3.0 greeting and READY for a DEALER, NULL security."""
    greeting = (b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00")
                + b"\x00" + b"\x00" * 31)
    prop = b"\x0bSocket-Type" + struct.pack(">I", 6) + b"DEALER"
    ready = b"\x05READY" + prop
    return greeting, b"\x04" + bytes([len(ready)]) + ready


def _raw(broker, chunks, hold=0.2):
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=T(5))
    try:
        for chunk in chunks:
            try:
                s.sendall(chunk)
            except OSError:
                break  # the broker hung up on us: that is allowed
        deadline = time.monotonic() + hold
        while time.monotonic() < deadline:
            assert broker.wire.ping(), "broker stopped answering while a raw peer was connected"
    finally:
        s.close()


def test_raw_tcp_garbage_is_survived(procs, broker, tmp_path):
    rng = random.Random(1234)
    greeting, ready = _zmtp_greeting()
    _raw(broker, [bytes(rng.randrange(256) for _ in range(65536))])
    _raw(broker, [b"GET / HTTP/1.1\r\nHost: sluice\r\n\r\n"])
    _raw(broker, [b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x09" + bytes(200)])
    _raw(broker, [greeting, bytes(rng.randrange(256) for _ in range(4096))])
    # A well-formed handshake, then one frame whose header claims 4 GiB.
    _raw(broker, [greeting, ready, b"\x02" + struct.pack(">Q", 4 << 30) + b"x" * 1000])
    # Half a message: a header frame with MORE set, then nothing.
    _raw(broker, [greeting, ready, b"\x01\x04SL\x01\x0b"], hold=0.5)
    for _ in range(50):  # connections opened and dropped at once
        socket.create_connection(("127.0.0.1", broker.port), timeout=T(5)).close()
    assert broker.proc.alive()
    assert broker.wire.ping()
    values = list(range(1000))
    run_source(procs, broker, "after", str(write_jsonl(tmp_path / "after.jsonl", values)))
    assert_records(read_stream(procs, broker, "after"), values)


def _live_subscriber(broker, topic):
    """A plain SUB on the live feed (the broker's listen port + 1)."""
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, topic)
    sub.connect(f"tcp://127.0.0.1:{broker.port + 1}")
    return sub


def _publish_until_live(procs, broker, stream, sub, tmp_path, what):
    """Publishes one record at a time until sub hears a LIVE message for stream."""
    path = write_jsonl(tmp_path / "one.jsonl", [{"probe": True}])
    deadline = time.monotonic() + T(20)
    while time.monotonic() < deadline:
        run_source(procs, broker, stream, str(path))
        if sub.poll(200):
            frames = sub.recv_multipart()
            assert frames[0] == stream.encode() + b"\x00" and frames[1][3] == LIVE, frames[:2]
            while sub.poll(0):      # later probes' messages, already queued
                sub.recv_multipart()
            return
    raise AssertionError(f"the live feed never reached the subscriber {what}")


def test_live_feed_ignores_strangers(procs, broker, tmp_path):
    """Garbage sent to the live feed's port (listen + 1) reaches no one: a real
    subscriber keeps getting LIVE messages, and the broker keeps answering."""
    sub = _live_subscriber(broker, b"feed\x00")
    try:
        _publish_until_live(procs, broker, "feed", sub, tmp_path, "before the strangers")
        rng = random.Random(99)
        for chunk in (bytes(range(256)) * 64, bytes(rng.randrange(256) for _ in range(8192)),
                      _zmtp_greeting()[0] + bytes(rng.randrange(256) for _ in range(512))):
            s = socket.create_connection(("127.0.0.1", broker.port + 1), timeout=T(5))
            try:
                s.sendall(chunk)
            except OSError:
                pass            # the broker hung up on us: that is allowed
            finally:
                s.close()
        assert broker.proc.alive()
        assert broker.wire.ping()
        _publish_until_live(procs, broker, "feed", sub, tmp_path, "after the strangers")
        cmd, _, _, _ = broker.wire.request(HELLO, {"client": "pytest"})
        assert cmd == WELCOME
    finally:
        sub.close(0)


def test_batch_limit_is_configurable_and_enforced(procs, make_broker, tmp_path):
    broker = make_broker(["--max-batch-bytes", "64K"])
    assert broker.welcome["max_batch_bytes"] == 64 * 1024
    big = _record(msgpack.packb("x" * (100 * 1024)))
    reply = _ask(broker, [header(PUBLISH), _publish(seq=40), big])
    assert reply is not None, "no reply to a 100 KiB batch with --max-batch-bytes 64K"
    assert reply[0] == ERROR and reply[2]["code"] == ETOOBIG, reply
    # A source keeps its batches under the limit the broker announced.
    values = [{"i": i, "pad": "p" * 1000} for i in range(500)]
    run_source(procs, broker, "limited", str(write_jsonl(tmp_path / "in.jsonl", values)))
    assert_records(read_stream(procs, broker, "limited"), values)
