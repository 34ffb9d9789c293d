"""The live feed's frames (docs/PROTOCOL.md §13.16): topic, header, body, the stored blob's
24-byte header, then its records. The broker publishes the records it received as they are
(a whole PUBLISH or RESULT frame), and a copy of the part it appended otherwise (a PUBLISH
whose head was a duplicate); either way the two blob frames are the stored blob."""

import struct
import time

import msgpack
import zmq

from conftest import (CONFIRM, LIVE, PUBLISH, T, Wire, assert_records, header, now_ms, pack,
                      read_stream, wait_for)

BLOB_HEADER = struct.Struct(">BBHIQq")


def _record(i):
    return b"\x94" + msgpack.packb(now_ms()) + b"\xc0\xc0" + msgpack.packb({"i": i})


def _subscriber(broker, *streams):
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    for stream in streams:
        sub.setsockopt(zmq.SUBSCRIBE, stream.encode() + b"\x00")
    sub.connect(f"tcp://127.0.0.1:{broker.port + 1}")
    return sub


def _publish(wire, stream, seq, records):
    wire.send(PUBLISH, {"stream": stream, "producer": "p", "seq": seq, "count": len(records)},
              b"".join(records))
    got = wire.recv(T(10))
    assert got is not None and got[0] == CONFIRM, got
    return got[2]


def _live(sub, stream=None):
    assert sub.poll(int(T(10) * 1000)), "no LIVE message"
    frames = sub.recv_multipart()
    assert len(frames) == 5, [len(f) for f in frames]
    if stream:
        assert frames[0] == stream.encode() + b"\x00", frames[0]
    assert frames[1][:2] == b"SL" and frames[1][3] == LIVE
    body = msgpack.unpackb(frames[2], raw=False)
    assert len(frames[3]) == BLOB_HEADER.size
    version, flags, _, count, base, _ = BLOB_HEADER.unpack(frames[3])
    assert (version, flags) == (1, 0)
    assert (body["offset"], body["count"], body["next"]) == (base, count, base + count)
    return base, count, frames[4]


def test_live_carries_the_received_records_and_the_appended_part(procs, broker):
    """A fresh PUBLISH goes live as sent; a resend whose head is a duplicate goes live with
    only the records appended; every LIVE's blob is what FETCH reads from the log."""
    sub = _subscriber(broker, "lf")
    wire = Wire(broker.endpoint)
    try:
        # The slow joiner: publish single records until the subscription is in place.
        seq = 1
        end = time.monotonic() + T(20)
        while not sub.poll(100):
            assert time.monotonic() < end, "the live feed never reached the subscriber"
            _publish(wire, "lf", seq, [_record(-seq)])
            seq += 1
        while sub.poll(200):
            sub.recv_multipart()
        first = broker.wire.stream("lf")["next"]

        records = [_record(i) for i in range(5)]
        confirm = _publish(wire, "lf", seq, records[:3])
        assert confirm["count"] == 3
        base, count, data = _live(sub)
        assert (base, count, data) == (first, 3, b"".join(records[:3]))

        # Records 1 and 2 again (a duplicate head), then 3 and 4: only 3 and 4 are new.
        confirm = _publish(wire, "lf", seq + 1, records[1:])
        assert confirm["count"] == 2
        base, count, data = _live(sub)
        assert (base, count, data) == (first + 3, 2, b"".join(records[3:]))

        # A full duplicate appends nothing and publishes nothing: the next LIVE is the
        # next new record's.
        confirm = _publish(wire, "lf", seq, records[:3])
        assert confirm["count"] == 0
        fresh = _record(5)
        _publish(wire, "lf", seq + 5, [fresh])
        assert _live(sub) == (first + 5, 1, fresh)
    finally:
        sub.close(0)
        wire.close()
    # And the log holds the same records, in order.
    got = read_stream(procs, broker, "lf")
    assert_records(got[first:], [{"i": i} for i in range(6)], first)


JOIN, JOINED, WORK, RESULT = 0x11, 0x12, 0x13, 0x14


def test_live_carries_a_groups_output_and_its_dead_letters(procs, broker):
    """A RESULT's output records go live as the worker sent them, on the output stream; the
    dead letters it causes go live on GROUP.dlq (copied at the append: the broker builds them)."""
    # One socket for all three topics: once the probe's messages arrive, the subscriptions
    # made before it on the same connection are in place too (the slow joiner).
    sub = _subscriber(broker, "g.out", "g.dlq", "probe")
    wire = Wire(broker.endpoint)
    member = Wire(broker.endpoint)
    try:
        seq, end = 1, time.monotonic() + T(20)
        while not sub.poll(100):
            assert time.monotonic() < end, "the live feed never reached the subscriber"
            _publish(wire, "probe", seq, [_record(-seq)])
            seq += 1
        while sub.poll(200):
            sub.recv_multipart()
        _publish(wire, "g.in", 1, [_record(i) for i in range(4)])
        cmd, _, body, _ = member.request(JOIN, {"group": "g", "in": "g.in", "out": "g.out",
                                                "member": "m", "window": 1, "batch": 4,
                                                "max_deliver": 1})
        assert cmd == JOINED, body
        work = wait_for(lambda: member.recv(T(1)), T(30), "WORK")
        assert work[0] == WORK and work[2]["count"] == 4, work[2]
        output = [_record(100 + i) for i in range(3)]
        body = pack({"group": "g", "lease": work[2]["lease"], "offset": 0, "count": 4,
                     "out_count": 3})
        failed = msgpack.packb([[3, "boom", True]])
        body = bytes([body[0] + 1]) + body[1:] + msgpack.packb("failed") + failed
        member.send_frames([header(RESULT), body, b"".join(output)])
        base, count, data = _live(sub, "g.out")
        assert (base, count, data) == (0, 3, b"".join(output))
        base, count, data = _live(sub, "g.dlq")
        assert (base, count) == (0, 1)
        dead = msgpack.unpackb(data, raw=False)
        assert dead[3]["offset"] == 3 and dead[3]["error"] == "boom"
    finally:
        sub.close(0)
        member.close()
        wire.close()
