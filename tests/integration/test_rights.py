"""Rights with CURVE on, for every command (docs/security.md, docs/PROTOCOL.md §12).

Raw pyzmq CURVE peers speak SLP/1 to a real broker; keys are made as in test_security.py. Each
test names one right and checks both sides of it: the request without the right gets ERROR 23
(EDENIED) and changes nothing, the same request with it is served.
"""

import os
import pathlib
import time

import msgpack
import pytest
import zmq

from conftest import (COMMIT, COMMITTED, CONFIRM, FETCH, HELLO, LIST, LIVE, PING, PONG, POSITION,
                      PUBLISH, RECORDS, SEEK, STREAMS, WELCOME, T, header, now_ms, pack,
                      wait_for)
from test_security import ERROR, DENIED, Secure, public_of

JOIN, JOINED, WORK, RESULT, LEAVE = 0x11, 0x12, 0x13, 0x14, 0x15


def batch(*values):
    return b"".join(msgpack.packb([now_ms(), None, None, v], use_bin_type=True) for v in values)


def publish(wire, stream, producer, seq, *values, timeout=None):
    """Sends a PUBLISH and returns (cmd, body) of the reply that names its seq."""
    wire.send(PUBLISH, {"stream": stream, "producer": producer, "seq": seq,
                        "count": len(values)}, batch(*values))
    deadline = time.monotonic() + (timeout or T(5))
    while time.monotonic() < deadline:
        reply = wire.recv(max(deadline - time.monotonic(), 0.01))
        if reply is None:
            break
        cmd, _, body, _ = reply
        if cmd == CONFIRM or (cmd == ERROR and body.get("req") == seq):
            return cmd, body
    raise AssertionError(f"no reply to PUBLISH {stream} {producer} {seq}")


def denied(reply, *words):
    cmd, body = reply[0], reply[-1] if len(reply) == 2 else reply[2]
    assert cmd == ERROR and body["code"] == DENIED, body
    for word in words:
        assert word in body["text"], body
    return body


def values_of(wire, stream):
    cmd, _, body, data = wire.request(FETCH, {"stream": stream, "offset": 0})
    assert cmd == RECORDS, body
    out = []
    for blob in data:
        unpacker = msgpack.Unpacker(raw=False)
        unpacker.feed(blob[24:])
        out += [rec[3] for rec in unpacker]
    return out


@pytest.fixture
def sec(make_broker, tmp_path):
    return Secure(make_broker, tmp_path)


def test_publish_read_and_commit_need_their_right(sec):
    admin = sec.client("admin")
    limited = sec.client("limited", rights={"publish": "mine.*", "read": "mine.*"})
    sec.wait_ready(admin)
    a, w = sec.wire(admin), sec.wire(limited)
    try:
        assert publish(a, "theirs", "admin-p", 1, "secret")[0] == CONFIRM
        # PUBLISH
        denied(publish(w, "theirs", "lim-p", 1, "x"), "limited", "publish", "theirs")
        assert publish(w, "mine.a", "lim-p", 1, "ok")[0] == CONFIRM
        # SEEK, FETCH, COMMIT
        for cmd, body in ((SEEK, {"stream": "theirs", "from": "beginning"}),
                          (FETCH, {"stream": "theirs", "offset": 0}),
                          (COMMIT, {"stream": "theirs", "reader": "r", "offset": 1})):
            denied(w.request(cmd, body), "read", "theirs")
        assert w.request(SEEK, {"stream": "mine.a", "from": "end"})[0] == POSITION
        assert w.request(FETCH, {"stream": "mine.a", "offset": 0})[0] == RECORDS
        assert w.request(COMMIT, {"stream": "mine.a", "reader": "r", "offset": 1})[0] == COMMITTED
        # HELLO, LIST and PING need only an allowed key.
        assert w.request(HELLO, {"client": "t"})[0] == WELCOME
        assert w.request(LIST, {})[0] == STREAMS
        assert w.request(PING, {})[0] == PONG
        # Nothing of the denied requests was stored.
        assert values_of(a, "theirs") == ["secret"]
        cmd, _, pos, _ = a.request(SEEK, {"stream": "theirs", "from": "committed",
                                          "reader": "r"})
        assert cmd == POSITION and pos["found"] is False
    finally:
        a.close()
        w.close()
    log = sec.log()
    assert log.count("may not publish to this stream ('theirs')") == 1, log


def _events(monitor, timeout):
    """The socket-monitor events that arrive within timeout seconds."""
    from zmq.utils.monitor import recv_monitor_message
    events = []
    deadline = time.monotonic() + timeout
    while monitor.poll(max(1, int((deadline - time.monotonic()) * 1000))):
        events.append(recv_monitor_message(monitor)["event"])
        if time.monotonic() > deadline:
            break
    return events


def test_a_revoked_key_is_cut_off_and_denied_every_command(sec):
    """Removing a key's file closes its open command connection (docs/security.md):
    its reconnect is refused at the handshake, and a request that still reaches
    the broker gets ERROR 23. Another key's connection is cut too, and comes back."""
    admin = sec.client("admin")
    gone = sec.client("gone")
    sec.wait_ready(admin)
    w = sec.wire(gone)
    a = sec.wire(admin)
    try:
        assert w.request(PING, {})[0] == PONG
        assert a.request(PING, {})[0] == PONG
        monitor = w.sock.get_monitor_socket(zmq.EVENT_DISCONNECTED
                                            | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        (sec.allow_dir / "gone.key").unlink()
        seen = []

        def cut_and_refused():
            seen.extend(_events(monitor, 0.25))
            return (zmq.EVENT_DISCONNECTED in seen
                    and zmq.EVENT_HANDSHAKE_FAILED_AUTH in seen)
        wait_for(cut_and_refused, T(10), "the removed key's connection to be cut and refused")
        w.sock.disable_monitor()
        monitor.close(0)
        # Whatever it sends now is refused: nothing, or ERROR 23, comes back.
        for cmd, body in ((PING, {}), (HELLO, {}), (LIST, {}),
                          (SEEK, {"stream": "s", "from": "end"}),
                          (FETCH, {"stream": "s", "offset": 0}),
                          (COMMIT, {"stream": "s", "reader": "r", "offset": 0}),
                          (JOIN, {"group": "g", "in": "s", "out": "o", "member": "m"})):
            try:        # a DEALER with no connection would block: the key has none
                w.sock.send_multipart([header(cmd), pack(dict(body, req=5))], zmq.NOBLOCK)
            except zmq.Again:
                continue
            reply = w.recv(0.3)
            assert reply is None or (reply[0] == ERROR and reply[2]["code"] == DENIED), reply
        # The allowed key was cut as well (one socket cannot tell keys apart) and is back.
        def admin_back():
            a.send(PING, {"req": 6})
            reply = a.recv(0.25)
            return reply is not None and reply[0] == PONG
        wait_for(admin_back, T(10), "the allowed key to reconnect")
    finally:
        w.close()
        a.close()
    log = sec.log()
    assert "connection(s) after a revocation" in log, log


def join(wire, group, inp, out, member, **extra):
    return wire.request(JOIN, dict({"group": group, "in": inp, "out": out, "member": member},
                                   **extra))


def test_join_needs_work_on_the_group_read_on_in_publish_on_out_and_dlq(sec):
    admin = sec.client("admin")
    sandbox = sec.client("sandbox", rights={"publish": "sandbox.*", "read": "*",
                                            "work": "*"})
    picky = sec.client("picky", rights={"publish": "*", "read": "in", "work": "jobs"})
    sec.wait_ready(admin)
    a, s, p = sec.wire(admin), sec.wire(sandbox), sec.wire(picky)
    try:
        # The example of issue 11: a key limited to sandbox.* names its group "billing" to
        # write billing.dlq. Denied; the operators' own group "billing" can then be made.
        denied(join(s, "billing", "in", "sandbox.out", "m"), "publish", "billing.dlq")
        assert join(a, "billing", "in", "billing.out", "ops")[0] == JOINED
        assert join(s, "sandbox.g", "in", "sandbox.out", "m")[0] == JOINED
        # Each need alone.
        denied(join(p, "other", "in", "out", "m"), "work", "other")
        denied(join(p, "jobs", "secret", "out", "m"), "read", "secret")
        denied(join(s, "sandbox.h", "in", "public", "m"), "publish", "public")
        assert join(p, "jobs", "in", "out", "m")[0] == JOINED
        # A member name belongs to the key that joined with it: another key may not take it.
        assert join(a, "sandbox.g", "in", "sandbox.out", "m2")[0] == JOINED
        denied(join(s, "sandbox.g", "in", "sandbox.out", "m2"))
    finally:
        for w in (a, s, p):
            w.close()


def next_work(wire, timeout=None):
    deadline = time.monotonic() + (timeout or T(10))
    while time.monotonic() < deadline:
        reply = wire.recv(0.2)
        if reply and reply[0] == WORK:
            return reply[2], reply[3][0]
    raise AssertionError("no WORK")


def test_a_result_is_accepted_only_from_the_lease_holder(sec):
    admin = sec.client("admin")
    member_key = sec.client("member")
    reader = sec.client("reader", rights={"read": "public"})
    sec.wait_ready(admin)
    a, m, r, m2 = sec.wire(admin), sec.wire(member_key), sec.wire(reader), sec.wire(member_key)
    try:
        assert publish(a, "in", "src", 1, *range(10))[0] == CONFIRM
        assert join(m, "copy", "in", "out", "m1", batch=10, window=1)[0] == JOINED
        work, data = next_work(m)
        assert work["count"] == 10
        # The lease ids do not count 1, 2, 3: they are scrambled per group.
        assert work["lease"] not in range(1, 1000)
        forged = {"group": "copy", "lease": work["lease"], "offset": work["offset"],
                  "count": work["count"], "out_count": 1}
        # Another key (one that may only read "public"): EDENIED, req = lease, logged once.
        for _ in range(5):
            r.send(RESULT, forged, batch("forged"))
            reply = r.recv(T(5))
            assert reply is not None
            assert denied(reply, "held by another member")["req"] == work["lease"]
        # The holder's key on another connection: dropped, no reply.
        m2.send(RESULT, forged, batch("other connection"))
        assert m2.recv(0.5) is None
        # The real member's lease was not disturbed: its result commits.
        real = dict(forged, out_count=10)
        m.send(RESULT, real, batch(*[f"ok{i}" for i in range(10)]))
        wait_for(lambda: len(values_of(a, "out")) == 10, T(10), "the member's output")
        assert values_of(a, "out") == [f"ok{i}" for i in range(10)]
    finally:
        for w in (a, m, r, m2):
            w.close()
    log = sec.log()
    assert log.count("the lease is held by another member") == 1, log


def test_a_producer_name_belongs_to_the_key_that_first_used_it(sec, tmp_path):
    admin = sec.client("admin")
    thief = sec.client("thief")
    sec.wait_ready(admin)
    a, t = sec.wire(admin), sec.wire(thief)
    try:
        assert publish(a, "orders", "orders-src", 1, "a1", "a2")[0] == CONFIRM
        # Another key may not push orders-src's sequence ahead, on any stream ...
        denied(publish(t, "orders", "orders-src", 3, "t3"), "belongs to another key",
               "orders-src")
        denied(publish(t, "other", "orders-src", 1, "t1"), "belongs to another key")
        # ... nor learn it from HELLO.
        denied(t.request(HELLO, {"producer": "orders-src", "stream": "orders"}), "another key")
        # Its own names work, and the owner goes on undisturbed.
        assert publish(t, "orders", "thief-src", 1, "t")[0] == CONFIRM
        cmd, body = publish(a, "orders", "orders-src", 3, "a3")
        assert cmd == CONFIRM and body["count"] == 1, body
    finally:
        a.close()
        t.close()
    # The binding is durable: after a restart the name is still the admin key's.
    assert sec.broker.stop() == 0
    sec.broker.start(wait=False)
    sec.wait_ready(admin)
    t = sec.wire(thief)
    try:
        denied(publish(t, "orders", "orders-src", 4, "t4"), "belongs to another key")
    finally:
        t.close()
    a = sec.wire(admin)
    try:
        assert values_of(a, "orders") == ["a1", "a2", "t", "a3"]
    finally:
        a.close()


class Sub:
    """A raw CURVE SUB on the broker's live feed, subscribed to one stream."""

    def __init__(self, sec, base, stream):
        ctx = zmq.Context.instance()
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        pub, secret = zmq.auth.load_certificate(f"{base}.key_secret")
        self.sock.curve_publickey = pub
        self.sock.curve_secretkey = secret
        self.sock.curve_serverkey = zmq.auth.load_certificate(f"{sec.broker_base}.key")[0]
        self.sock.setsockopt(zmq.SUBSCRIBE, stream.encode() + b"\0")
        host, port = sec.broker.endpoint.rsplit(":", 1)
        self.sock.connect(f"{host}:{int(port) + 1}")
        self.offsets = []

    def drain(self, timeout=0.05):
        while self.sock.poll(int(timeout * 1000)):
            frames = self.sock.recv_multipart()
            body = msgpack.unpackb(frames[2], raw=False)
            self.offsets.append(body["offset"])
            timeout = 0.0
        return self.offsets

    def close(self):
        self.sock.close(0)


def test_revocation_cuts_the_live_feed(sec):
    import zmq.auth  # noqa: F401  (Sub loads certificates)
    admin = sec.client("admin")
    keep = sec.client("keep")
    revoked = sec.client("revoked")
    sec.wait_ready(admin)
    a = sec.wire(admin)
    subs = {"keep": Sub(sec, keep, "feed"), "revoked": Sub(sec, revoked, "feed")}
    seq = [0]

    def push():
        seq[0] += 1
        assert publish(a, "feed", "feeder", seq[0], seq[0])[0] == CONFIRM
        return seq[0] - 1              # the offset just appended

    try:
        def both_live():
            push()
            return all(s.drain() for s in subs.values())
        wait_for(both_live, T(20), "both subscribers to get LIVE", interval=0.1)
        (sec.allow_dir / "revoked.key").unlink()
        wait_for(lambda: "connection(s) after a revocation" in sec.log(), T(10),
                 "the broker to cut the live feed")
        subs["revoked"].drain()
        cut_at = push()

        def keep_back():
            push()
            return any(o > cut_at for o in subs["keep"].drain())
        wait_for(keep_back, T(20), "the allowed subscriber to reconnect and get LIVE",
                 interval=0.1)
        for _ in range(5):
            push()
        subs["keep"].drain(0.5)
        assert not [o for o in subs["revoked"].drain(0.5) if o >= cut_at], subs["revoked"].offsets
    finally:
        a.close()
        for s in subs.values():
            s.close()
    log = sec.log()
    assert "refused client key" in log and public_of(revoked) in log, log


def test_the_connection_cap_holds_with_curve_on(make_broker, tmp_path):
    """With CURVE on the CURVE watcher keeps --max-connections (a socket has one
    monitor): connections over the cap are closed at once, long before the
    handshake deadline, and an allowed client is served once they are gone."""
    import socket
    sec = Secure(make_broker, tmp_path, extra=["--max-connections", "5",
                                                "--handshake-timeout", "60s"])
    admin = sec.client("admin")
    sec.wait_ready(admin)
    host, port = sec.broker.endpoint.replace("tcp://", "").rsplit(":", 1)
    raw = []
    try:
        for _ in range(20):
            s = socket.create_connection((host, int(port)), timeout=T(5))
            s.settimeout(0.05)
            raw.append(s)

        def closed():
            n = 0
            for s in raw:
                try:
                    n += s.recv(64) == b""
                except socket.timeout:
                    pass
                except OSError:
                    n += 1
            return n
        closed_now = []
        wait_for(lambda: closed_now.append(closed()) or sum(closed_now) >= 15, T(10),
                 "the connections over the cap to be closed")
    finally:
        for s in raw:
            s.close()
    sec.wait_ready(admin)
    assert "connections open: closing new ones (--max-connections" in sec.log()
