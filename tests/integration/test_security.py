"""Security: CURVE on every connection, an allow-list of client keys, per-stream rights.

Real binaries on loopback. Keys are made by `sluice keygen` when the front command is built,
otherwise by pyzmq's zmq.auth.create_certificates, which writes the same CZMQ certificate
format (tests/unit/test_curve.c covers sluice's own key writer).
"""

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid

import msgpack
import pytest
import zmq
import zmq.auth

from conftest import (BUILD, LIST, LIVE, PING, PONG, SINK_BIN, SOURCE_BIN, STREAMS, T,
                      WORKER_BIN, Wire, wait_for, write_jsonl)

SLUICE_BIN = BUILD / "cli" / "sluice"
ERROR = 0x0F
DENIED = 23


# ---------------------------------------------------------------- keys

def keygen(directory, name, rights=None):
    """Makes NAME.key / NAME.key_secret in directory; returns the base path.

    rights: dict such as {"publish": "orders.*"}, written into the public file's metadata."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / name
    if SLUICE_BIN.exists():
        subprocess.run([SLUICE_BIN, "keygen", base], check=True, capture_output=True,
                       timeout=T(20))
    else:
        zmq.auth.create_certificates(str(directory), name)
        os.chmod(f"{base}.key_secret", 0o600)
    if rights:
        text = pathlib.Path(f"{base}.key").read_text()
        lines = "".join(f'    {k} = "{v}"\n' for k, v in rights.items())
        if "\nmetadata\n" in "\n" + text:
            text = text.replace("metadata\n", "metadata\n" + lines, 1)
        else:
            text = text.replace("curve\n", "metadata\n" + lines + "curve\n", 1)
        pathlib.Path(f"{base}.key").write_text(text)
    return base


def allow(base, allow_dir):
    """Copies a client's public key into the broker's allow directory."""
    shutil.copy(f"{base}.key", pathlib.Path(allow_dir) / pathlib.Path(f"{base}.key").name)


def public_of(base):
    return zmq.auth.load_certificate(f"{base}.key")[0].decode()


class CurveWire(Wire):
    """The harness's raw SLP client, over CURVE (or plain when base is None)."""

    def __init__(self, endpoint, base=None, broker_base=None):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if base is not None:
            pub, sec = zmq.auth.load_certificate(f"{base}.key_secret")
            self.sock.curve_publickey = pub
            self.sock.curve_secretkey = sec
            self.sock.curve_serverkey = zmq.auth.load_certificate(f"{broker_base}.key")[0]
        self.sock.connect(endpoint)
        self.req = 0


class Secure:
    """A broker with CURVE on, its keys and allow directory."""

    def __init__(self, make_broker, tmp_path, extra=(), allow_arg=True):
        self.keys = tmp_path / "keys"
        self.allow_dir = tmp_path / "allow"
        self.allow_dir.mkdir()
        self.broker_base = keygen(self.keys, "broker")
        args = ["--curve-secret", f"{self.broker_base}.key_secret"]
        if allow_arg:
            args += ["--allow", self.allow_dir]
        self.broker = make_broker(args=[*args, *extra], start=False)
        self.broker.start(wait=False)

    def client(self, name, rights=None, allowed=True):
        base = keygen(self.keys, name, rights)
        if allowed:
            allow(base, self.allow_dir)
        return base

    def flags(self, base):
        return ["--curve-secret", f"{base}.key_secret", "--broker-key", f"{self.broker_base}.key"]

    def wire(self, base):
        return CurveWire(self.broker.endpoint, base, self.broker_base)

    def wait_ready(self, base):
        wire = self.wire(base)
        try:
            def pong():
                assert self.broker.proc.alive(), self.broker.proc.stderr()[-3000:]
                wire.send(PING, {"req": 1})
                reply = wire.recv(0.25)
                return reply is not None and reply[0] == PONG
            wait_for(pong, T(20), "the secure broker to answer PING")
        finally:
            wire.close()

    def log(self):
        return self.broker.proc.stderr()


def source(procs, sec, stream, values_path, base, *extra, name="source"):
    args = [SOURCE_BIN, "--broker", sec.broker.endpoint, "--stream", stream, *extra]
    if base is not None:
        args += sec.flags(base)
    return procs.start(name, [*args, values_path])


def sink(procs, sec, stream, base, *extra, name="sink"):
    args = [SINK_BIN, "--broker", sec.broker.endpoint, "--stream", stream, *extra]
    if base is not None:
        args += sec.flags(base)
    return procs.start(name, args)


def refused(proc, timeout=T(30)):
    """The client gave up: exit 1, with the broker's refusal in its log."""
    rc = proc.wait(timeout)
    assert rc == 1, f"{proc.label} exited {rc}, expected 1\n{proc.stderr()[-2000:]}"
    return proc.stderr()


# ---------------------------------------------------------------- end to end

def curve_sub(sec, base, live_ep, topic):
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    if base is not None:
        pub, secret = zmq.auth.load_certificate(f"{base}.key_secret")
        sub.curve_publickey, sub.curve_secretkey = pub, secret
        sub.curve_serverkey = zmq.auth.load_certificate(f"{sec.broker_base}.key")[0]
    sub.setsockopt(zmq.SUBSCRIBE, topic)
    sub.connect(live_ep)
    return sub


def warm_up(procs, sec, base, stream, sub, tmp_path):
    """Publishes one record at a time until sub hears LIVE (the slow joiner is past)."""
    path = write_jsonl(tmp_path / "warm.jsonl", [{"warm": True}])
    deadline = time.monotonic() + T(20)
    n = 0
    while time.monotonic() < deadline:
        n += 1
        source(procs, sec, stream, path, base, name="warm").expect_exit(0)
        if sub.poll(200):
            return n
    raise AssertionError("the live feed never reached the CURVE subscriber")


def test_allowed_key_end_to_end_including_the_live_feed(procs, make_broker, tmp_path):
    sec = Secure(make_broker, tmp_path)
    alice = sec.client("alice")
    sec.wait_ready(alice)
    # A follower started first reads from offset 0 and then follows the live feed.
    follower = sink(procs, sec, "orders", alice, "--from", "0", name="follower")
    # A raw CURVE subscriber on the announced live endpoint sees LIVE messages.
    wire = sec.wire(alice)
    cmd, _, welcome, _ = wire.request(0x01, {"client": "pytest"})
    live_ep = welcome["pub"].replace("*", "127.0.0.1")
    sub = curve_sub(sec, alice, live_ep, b"orders\x00")
    plain_sub = curve_sub(sec, None, live_ep, b"")
    try:
        warm = warm_up(procs, sec, alice, "orders", sub, tmp_path)
        frames = sub.recv_multipart()
        assert frames[0] == b"orders\x00" and frames[1][3] == LIVE
        values = [{"n": i, "secret": "x" * 20} for i in range(50)]
        path = write_jsonl(tmp_path / "in.jsonl", values)
        source(procs, sec, "orders", path, alice).expect_exit(0)
        wait_for(lambda: len(follower.lines()) >= warm + 50, T(20), "the follower's records")
        follower.signal(signal.SIGTERM)
        follower.expect_exit(0)
        got = [r["value"] for r in follower.json_lines()]
        assert got[warm:] == values
        assert plain_sub.poll(100) == 0, "a plain subscriber got the live feed"
    finally:
        sub.close(0)
        plain_sub.close(0)
        wire.close()
    # Environment variables mirror the flags.
    env = {"SLUICE_CURVE_SECRET": f"{alice}.key_secret",
           "SLUICE_BROKER_KEY": f"{sec.broker_base}.key"}
    reader = procs.start("env-reader", [SINK_BIN, "--broker", sec.broker.endpoint, "--stream",
                                        "orders", "--from", "beginning", "--exit-at-end"],
                         env=env)
    reader.expect_exit(0)
    assert len(reader.lines()) == warm + 50


def test_unknown_no_key_and_plain_clients_are_refused_and_logged_once(procs, make_broker,
                                                                        tmp_path):
    sec = Secure(make_broker, tmp_path)
    alice = sec.client("alice")
    mallory = sec.client("mallory", allowed=False)
    sec.wait_ready(alice)
    path = write_jsonl(tmp_path / "in.jsonl", [{"a": 1}])
    # Unknown key: retried by ZeroMQ every 100 ms for 2 s, logged once.
    err = refused(source(procs, sec, "s", path, mallory, "--connect-timeout", "2s"))
    assert "not in its allow list" in err
    # No key: a plain client.
    err = refused(source(procs, sec, "s", path, None, "--connect-timeout", "2s",
                         name="nokey"))
    # Refused either way: the client's monitor usually sees the broker's CURVE greeting and
    # says so, but when the broker hangs up first the client only sees no answer.
    assert "uses CURVE" in err or "did not answer" in err, err
    # A raw plain ZeroMQ client gets nothing back.
    plain = Wire(sec.broker.endpoint)
    try:
        plain.send(PING, {"req": 1})
        assert plain.recv(T(1.5)) is None
    finally:
        plain.close()
    # A client with the wrong broker key.
    other = keygen(sec.keys, "other-broker")
    args = [SOURCE_BIN, "--broker", sec.broker.endpoint, "--stream", "s", "--connect-timeout",
            "2s", "--curve-secret", f"{alice}.key_secret", "--broker-key", f"{other}.key", path]
    refused(procs.start("wrongkey", args))
    # And the allowed key still works.
    source(procs, sec, "s", path, alice).expect_exit(0)
    log = sec.log()
    assert log.count(public_of(mallory)) == 1, log
    # A plain client is refused one of two ways, depending on who notices
    # first: the broker sees its NULL greeting, or the client hangs up when
    # it sees the broker's CURVE one. Either kind is logged once.
    plain_kinds = (log.count("does not use CURVE"), log.count("hung up during the handshake"))
    assert 1 <= sum(plain_kinds) and max(plain_kinds) == 1, log
    assert log.count("could not be decrypted") == 1, log
    assert public_of(alice) not in log.replace(f"broker key {public_of(sec.broker_base)}", "")
    assert sec.broker.stop() == 0
    assert "connections refused" in sec.log()


def test_removed_key_is_refused_on_its_next_connect(procs, make_broker, tmp_path):
    sec = Secure(make_broker, tmp_path)
    alice = sec.client("alice")
    bob = sec.client("bob")
    sec.wait_ready(alice)
    path = write_jsonl(tmp_path / "in.jsonl", [{"a": 1}])
    source(procs, sec, "s", path, bob).expect_exit(0)
    wire = sec.wire(bob)                      # a connection open before the removal
    try:
        assert wire.ping()
        (sec.allow_dir / "bob.key").unlink()
        err = refused(source(procs, sec, "s", path, bob, "--connect-timeout", "2s"))
        assert "not in its allow list" in err
        # The open connection loses its rights within a moment too: the broker cuts
        # it, and its new handshake is refused, so it is never served again. A
        # request that beats the cut is denied instead.
        wait_for(lambda: "after a revocation" in sec.log(), T(5),
                 "the broker to cut the open connection")
        wire.sock.setsockopt(zmq.SNDTIMEO, int(T(2) * 1000))
        try:
            cmd, _, body, _ = wire.request(LIST, {}, timeout=T(2))
        except (AssertionError, zmq.Again):
            pass                               # cut: no reply (or no pipe to send on)
        else:
            assert cmd == ERROR and body.get("code") == DENIED, (cmd, body)
            assert "removed" in body["text"]
    finally:
        wire.close()
    source(procs, sec, "s", path, alice).expect_exit(0)
    # Put back, it works again.
    allow(bob, sec.allow_dir)
    source(procs, sec, "s", path, bob).expect_exit(0)


def test_broker_refuses_to_run_open(procs, make_broker, tmp_path):
    keys = tmp_path / "keys"
    base = keygen(keys, "broker")
    b = make_broker(args=["--curve-secret", f"{base}.key_secret"], start=False)
    b.start(wait=False)
    assert b.proc.wait(T(20)) != 0
    assert "--allow" in b.proc.stderr()
    b2 = make_broker(args=["--allow", tmp_path], start=False)
    b2.start(wait=False)
    assert b2.proc.wait(T(20)) != 0
    b3 = make_broker(args=["--curve-secret", tmp_path / "missing.key_secret", "--allow",
                           tmp_path], start=False)
    b3.start(wait=False)
    assert b3.proc.wait(T(20)) != 0
    assert "missing.key_secret" in b3.proc.stderr()


def test_allow_any_encrypts_but_accepts_any_key(procs, make_broker, tmp_path):
    sec = Secure(make_broker, tmp_path, extra=["--allow-any"], allow_arg=False)
    anyone = sec.client("anyone", allowed=False)
    sec.wait_ready(anyone)
    assert "for testing only" in sec.log()
    path = write_jsonl(tmp_path / "in.jsonl", [{"a": 1}])
    source(procs, sec, "s", path, anyone).expect_exit(0)
    refused(source(procs, sec, "s", path, None, "--connect-timeout", "2s", name="plain"))


# ---------------------------------------------------------------- per-stream rights

def test_per_stream_rights(procs, make_broker, tmp_path):
    sec = Secure(make_broker, tmp_path)
    admin = sec.client("admin")
    writer = sec.client("writer", rights={"publish": "orders.*"})
    reader = sec.client("reader", rights={"read": "orders.eu"})
    sec.wait_ready(admin)
    path = write_jsonl(tmp_path / "in.jsonl", [{"a": i} for i in range(5)])
    # Allowed publish.
    source(procs, sec, "orders.eu", path, writer).expect_exit(0)
    source(procs, sec, "logs", path, admin).expect_exit(0)
    # Denied publish: a clear error, nothing appended.
    denied = source(procs, sec, "logs", path, writer, "--connect-timeout", "5s", name="denied")
    assert denied.wait(T(30)) != 0
    assert "permission denied" in denied.stderr(), denied.stderr()
    wire = sec.wire(admin)
    try:
        cmd, _, body, _ = wire.request(LIST, {})
        assert cmd == STREAMS
        counts = {s["name"]: s["next"] for s in body["streams"]}
        assert counts == {"orders.eu": 5, "logs": 5}
    finally:
        wire.close()
    # Allowed read (restricted readers are kept off the live feed and poll with FETCH).
    ok = sink(procs, sec, "orders.eu", reader, "--from", "beginning", "--exit-at-end")
    ok.expect_exit(0)
    assert len(ok.lines()) == 5
    # Denied read.
    bad = sink(procs, sec, "logs", reader, "--from", "beginning", "--exit-at-end",
               name="denied-reader")
    assert bad.wait(T(30)) == 1
    assert "permission denied" in bad.stderr(), bad.stderr()
    # The writer may not read at all.
    raw = sec.wire(writer)
    try:
        cmd, _, body, _ = raw.request(0x07, {"stream": "orders.eu", "offset": 0})
        assert cmd == ERROR and body["code"] == DENIED, body
        assert "writer" in body["text"] and "read" in body["text"]
    finally:
        raw.close()
    log = sec.log()
    assert log.count("may not publish to this stream ('logs')") == 1, log


def test_worker_with_keys_and_the_work_right(procs, make_broker, tmp_path):
    sec = Secure(make_broker, tmp_path)
    admin = sec.client("admin")
    # JOIN needs work on the group, read on its input, publish on its output and dead letters.
    enrich = sec.client("enrich", rights={"work": "copy,leak", "read": "in.*",
                                          "publish": "out.*,copy.dlq,leak.dlq"})
    sec.wait_ready(admin)
    values = [{"n": i} for i in range(10)]
    path = write_jsonl(tmp_path / "in.jsonl", values)
    source(procs, sec, "in.a", path, admin).expect_exit(0)

    def worker(group, inp, out, name):
        return procs.start(name, [WORKER_BIN, "--broker", sec.broker.endpoint, "--group", group,
                                  "--in", inp, "--out", out, *sec.flags(enrich)])

    ok = worker("copy", "in.a", "out.a", "worker")
    def copied():
        reader = sink(procs, sec, "out.a", admin, "--from", "beginning", "--exit-at-end",
                      name="reader")
        reader.expect_exit(0)
        return len(reader.lines()) == 10 and reader
    reader = wait_for(copied, T(30), "the worker's output", interval=0.2)
    assert [r["value"] for r in reader.json_lines()] == values
    ok.signal(signal.SIGTERM)
    ok.expect_exit(0)
    # JOIN with an output stream outside the publish right: refused with a clear error.
    bad = worker("leak", "in.a", "public", "denied-worker")
    assert bad.wait(T(30)) == 1
    assert "permission denied" in bad.stderr(), bad.stderr()


# ---------------------------------------------------------------- traffic capture

class Capture:
    """Raw AF_PACKET capture on lo of TCP segments to or from the given ports."""

    def __init__(self, ports):
        self.ports = set(ports)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.1)
        self.data = bytearray()
        self.packets = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                frame = self.sock.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(frame) < 14 + 20 or frame[12:14] != b"\x08\x00":
                continue
            ip = frame[14:]
            ihl = (ip[0] & 0x0F) * 4
            if ip[9] != 6 or len(ip) < ihl + 20:
                continue
            tcp = ip[ihl:]
            sport, dport = int.from_bytes(tcp[0:2], "big"), int.from_bytes(tcp[2:4], "big")
            if sport in self.ports or dport in self.ports:
                self.packets += 1
                self.data += tcp[(tcp[12] >> 4) * 4:]

    def close(self):
        self.stop = True
        self.thread.join(timeout=5)
        self.sock.close()


def _capture_run(procs, make_broker, tmp_path, secure):
    marker = f"MARKER-{uuid.uuid4().hex}"
    values = [{"n": i, "text": f"{marker} record {i}"} for i in range(20)]
    path = write_jsonl(tmp_path / "in.jsonl", values)
    if secure:
        sec = Secure(make_broker, tmp_path)
        alice = sec.client("alice")
        broker, flags = sec.broker, sec.flags(alice)
        sec.wait_ready(alice)
    else:
        broker, flags = make_broker(), []
    cap = Capture([broker.port, broker.port + 1])
    try:
        follower = procs.start("follower", [SINK_BIN, "--broker", broker.endpoint, "--stream", "m",
                                            "--from", "0", *flags])
        procs.start("source", [SOURCE_BIN, "--broker", broker.endpoint, "--stream", "m", *flags,
                               path]).expect_exit(0)
        wait_for(lambda: len(follower.lines()) >= 20, T(20), "the follower's records")
        follower.signal(signal.SIGTERM)
        follower.expect_exit(0)
        reader = procs.start("reader", [SINK_BIN, "--broker", broker.endpoint, "--stream", "m",
                                        "--from", "beginning", "--exit-at-end", *flags])
        reader.expect_exit(0)
        assert len(reader.lines()) == 20
    finally:
        cap.close()
    assert cap.packets > 0, "nothing captured on lo"
    return marker.encode(), bytes(cap.data)


@pytest.mark.skipif(os.geteuid() != 0, reason="a raw AF_PACKET capture needs root")
def test_capture_shows_no_plaintext_with_security_on(procs, make_broker, tmp_path):
    marker, data = _capture_run(procs, make_broker, tmp_path, secure=True)
    assert marker not in data
    assert b"record 1" not in data


@pytest.mark.skipif(os.geteuid() != 0, reason="a raw AF_PACKET capture needs root")
def test_capture_control_shows_plaintext_with_security_off(procs, make_broker, tmp_path):
    marker, data = _capture_run(procs, make_broker, tmp_path, secure=False)
    assert marker in data
