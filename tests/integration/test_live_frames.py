"""The live feed's frames (docs/PROTOCOL.md §13.16): topic, header, body, the stored blob's
24-byte header, then its records. The broker publishes the records it received as they are
(a whole PUBLISH or RESULT frame), and a copy of the part it appended otherwise (a PUBLISH
whose head was a duplicate); either way the two blob frames are the stored blob."""

import struct
import time

import msgpack
import zmq

from conftest import CONFIRM, LIVE, PUBLISH, T, Wire, assert_records, now_ms, read_stream

BLOB_HEADER = struct.Struct(">BBHIQq")


def _record(i):
    return b"\x94" + msgpack.packb(now_ms()) + b"\xc0\xc0" + msgpack.packb({"i": i})


def _subscriber(broker, stream):
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, stream.encode() + b"\x00")
    sub.connect(f"tcp://127.0.0.1:{broker.port + 1}")
    return sub


def _publish(wire, stream, seq, records):
    wire.send(PUBLISH, {"stream": stream, "producer": "p", "seq": seq, "count": len(records)},
              b"".join(records))
    got = wire.recv(T(10))
    assert got is not None and got[0] == CONFIRM, got
    return got[2]


def _live(sub):
    assert sub.poll(int(T(10) * 1000)), "no LIVE message"
    frames = sub.recv_multipart()
    assert len(frames) == 5, [len(f) for f in frames]
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
