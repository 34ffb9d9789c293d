"""WORK carries a lease's records cut from the log (docs/PROTOCOL.md §14): the bytes of the
records [offset, offset + count) exactly, whether the lease covers whole stored batches, starts
or ends inside one, or is cut short by the byte bound of one WORK (--peer-budget)."""

import msgpack

from conftest import CONFIRM, PUBLISH, T, Wire, header, now_ms, pack, wait_for

JOIN, JOINED, WORK, RESULT = 0x11, 0x12, 0x13, 0x14


def _record(i, size):
    value = msgpack.packb({"i": i, "pad": "x" * size})
    return b"\x94" + msgpack.packb(now_ms()) + b"\xc0\xc0" + value


def _publish(wire, stream, seq, records):
    wire.send(PUBLISH, {"stream": stream, "producer": "p", "seq": seq, "count": len(records)},
              b"".join(records))
    got = wire.recv(T(10))
    assert got is not None and got[0] == CONFIRM, got


def _work(member):
    got = wait_for(lambda: member.recv(T(1)), T(30), "WORK")
    assert got[0] == WORK and len(got[3]) == 1, got[:3]
    return got[2], got[3][0]


def _ack(member, group, work):
    member.send_frames([header(RESULT), pack({"group": group, "lease": work["lease"],
                                              "offset": work["offset"], "count": work["count"],
                                              "out_count": 0}), b""])


def test_work_is_the_leased_records_exactly(make_broker):
    """Stored batches of 7 records; leases of 10 start and end inside them."""
    broker = make_broker()
    records = [_record(i, 10) for i in range(70)]
    for b in range(10):
        _publish(broker.wire, "wc.in", 1 + 7 * b, records[7 * b:7 * b + 7])
    member = Wire(broker.endpoint)
    try:
        cmd, _, body, _ = member.request(JOIN, {"group": "wc", "in": "wc.in", "out": "wc.out",
                                                "member": "m", "window": 1, "batch": 10})
        assert cmd == JOINED, body
        seen = 0
        while seen < 70:
            work, data = _work(member)
            assert work["offset"] == seen and 1 <= work["count"] <= 10, work
            assert data == b"".join(records[seen:seen + work["count"]])
            seen += work["count"]
            _ack(member, "wc", work)
    finally:
        member.close()


def test_work_over_the_byte_bound_is_cut_at_a_stored_batch(make_broker):
    """One WORK holds at most --peer-budget bytes of records (a stored batch more for the
    first): a lease of 2,000 records of ~1 KiB is cut to whole stored batches under 1 MiB, and
    the rest follows in the next WORK."""
    broker = make_broker(args=["--peer-budget", "1M"])
    records = [_record(i, 1000) for i in range(2000)]
    for b in range(10):
        _publish(broker.wire, "wb.in", 1 + 200 * b, records[200 * b:200 * b + 200])
    member = Wire(broker.endpoint)
    try:
        cmd, _, body, _ = member.request(JOIN, {"group": "wb", "in": "wb.in", "out": "wb.out",
                                                "member": "m", "window": 1, "batch": 2000})
        assert cmd == JOINED, body
        work, data = _work(member)
        assert work["offset"] == 0 and work["count"] % 200 == 0 and 0 < work["count"] < 2000
        assert len(data) <= 1 << 20
        assert data == b"".join(records[:work["count"]])
        first = work["count"]
        _ack(member, "wb", work)
        work, data = _work(member)
        assert work["offset"] == first, work
        assert data == b"".join(records[first:first + work["count"]])
    finally:
        member.close()
