"""The broker follows the points docs/PROTOCOL.md decides (§3, §5.1-5.3, §14.2), as a client
written from the spec alone would see them: raw SLP/1 over a DEALER to a real broker."""

import msgpack

from conftest import (CONFIRM, ERROR, HELLO, PING, PONG, PUBLISH, SEEK, WELCOME, T, Wire,
                      now_ms)

JOIN, JOINED, RESULT, LEAVE = 0x11, 0x12, 0x14, 0x15
EINVAL, EPROTO, ECOMMAND, ETOOBIG, ENOTFOUND, ESEQ, ERANGE, ENAME = 2, 3, 5, 6, 12, 13, 16, 17


def batch(n):
    return b"".join(msgpack.packb([now_ms(), None, None, i]) for i in range(n))


def reply(wire):
    got = wire.recv(T(5))
    assert got is not None, "no reply"
    return got[0], got[2]


def error(wire, code):
    cmd, body = reply(wire)
    assert cmd == ERROR and body["code"] == code, body
    return body


def test_publish_errors_name_the_publish_and_use_the_decided_codes(broker):
    w = Wire(broker.endpoint)
    try:
        def pub(seq, count, frame):
            w.send(PUBLISH, {"stream": "c", "producer": "p", "seq": seq, "count": count}, frame)
        pub(0, 1, batch(1))
        body = error(w, EINVAL)
        assert body["req"] == 0 and body["producer"] == "p" and body["stream"] == "c"
        pub(5, 0, b"")
        assert error(w, EINVAL)["req"] == 5
        pub(2**64 - 1, 2, batch(2))
        assert error(w, ERANGE)["req"] == 2**64 - 1
        pub(7, 3, batch(2))                     # fewer records than count
        assert error(w, 8)["producer"] == "p"   # ETRUNC
        pub(7, 1, batch(2))                     # more records than count
        error(w, EPROTO)
        pub(1, 1, batch(1))
        assert reply(w)[0] == CONFIRM
        pub(5, 1, batch(1))                     # a gap: ESEQ names the sequence expected
        body = error(w, ESEQ)
        assert body["seq"] == 2 and body["req"] == 5 and "expected seq 2" in body["text"], body
        # No other ERROR carries producer.
        w.send(SEEK, {"req": 9, "stream": "c", "from": "middle"})
        body = error(w, EINVAL)
        assert body["req"] == 9 and "producer" not in body and "stream" not in body
    finally:
        w.close()


def test_names_values_and_directions(broker):
    w = Wire(broker.endpoint)
    try:
        w.send(SEEK, {"req": 1, "stream": "x" * 201, "from": "end"})
        assert error(w, ENAME)["req"] == 1
        for frm in ("offset", "last"):
            w.send(SEEK, {"req": 2, "stream": "c", "from": frm, "value": -1})
            assert error(w, EINVAL)["req"] == 2
        w.send(SEEK, {"req": 3, "stream": "c", "from": "time", "value": -1})
        assert reply(w)[0] == 0x06                  # POSITION: a time before 1970 is fine
        # A broker-to-client command sent to the broker: ECOMMAND, req echoed.
        for cmd in (WELCOME, PONG, JOINED):
            w.send(cmd, {"req": 4})
            assert error(w, ECOMMAND)["req"] == 4
    finally:
        w.close()


def test_group_decisions(broker):
    w = Wire(broker.endpoint)
    try:
        def join(**extra):
            body = dict({"req": 1, "group": "g", "in": "a", "out": "b", "member": "m"}, **extra)
            w.send(JOIN, body)
        join(group="g" * 197)
        error(w, ENAME)
        join(window=65)
        error(w, ETOOBIG)
        join(out="a")
        error(w, EINVAL)
        join(**{"from": "offset"})
        error(w, EINVAL)
        join(window=0)                               # 0 selects the default
        cmd, body = reply(w)
        assert cmd == JOINED and set(body) >= {"req", "group", "in", "out", "offset"}, body
        # RESULT for an unknown group: ENOTFOUND with req = lease.
        w.send(RESULT, {"group": "nope", "lease": 99, "offset": 0, "count": 1,
                        "out_count": 0}, b"")
        body = error(w, ENOTFOUND)
        assert body["req"] == 99
        # LEAVE is not answered; the connection goes on.
        w.send(LEAVE, {"group": "g", "member": "m"})
        w.send(PING, {"req": 5})
        cmd, body = reply(w)
        assert cmd == PONG and body["req"] == 5
        w.send(HELLO, {"req": 6})
        assert reply(w)[0] == WELCOME
    finally:
        w.close()
