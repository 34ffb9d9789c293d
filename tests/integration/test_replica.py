"""A primary and its replica (docs/replication.md): the replica follows the
primary's journal, refuses writes naming the primary, is promoted
explicitly, and an old primary that comes back as a replica undoes what it
had not replicated. Real brokers, sources and sinks on loopback; every
count checked with sluice-verify or the log itself."""

import json
import subprocess

import msgpack

from conftest import (BUILD, ERROR, HELLO, PUBLISH, T, WELCOME, free_port_pair,
                      wait_for)

SLUICE_BIN = BUILD / "cli" / "sluice"
VERIFY_BIN = BUILD / "verify" / "sluice-verify"
SOURCE_BIN = BUILD / "source" / "sluice-source"
REPLICATE, REPLICATED = 0x1A, 0x1B
EREADONLY, ENOREPLICA = 26, 30


ONE = msgpack.packb([1, None, None, 1])    # one record: [ms, key, headers, value]


def repl_ep():
    return f"tcp://127.0.0.1:{free_port_pair()}"


def pair(make_broker, sync=0, primary_args=(), replica_args=()):
    """A primary with --replication and a replica following it."""
    p_repl, r_repl = repl_ep(), repl_ep()
    args = ["--replication", p_repl, *primary_args]
    if sync:
        args += ["--sync-replicas", str(sync), "--sync-timeout", "2s"]
    primary = make_broker(args=args)
    replica = make_broker(args=["--replica-of", p_repl, "--replication", r_repl,
                                *replica_args])
    return primary, replica, p_repl, r_repl


def write_input(path, n, tag="n"):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({tag: i}) + "\n")


def source(procs, label, broker_ep, stream, name, path, extra=()):
    return procs.start(label, [SOURCE_BIN, "--broker", broker_ep, "--stream", stream,
                               "--name", name, "--batch-records", "100", *extra, path])


def verify(procs, label, broker_ep, stream, sent):
    v = procs.start(label, [VERIFY_BIN, "--broker", broker_ep, "--sent", sent,
                            "--got-stream", stream, "--json"])
    rc = v.wait(T(60))
    report = json.loads(v.stdout().decode().strip().splitlines()[-1])
    return rc, report


def test_replica_follows_and_refuses_writes(procs, make_broker, tmp_path):
    primary, replica, _, _ = pair(make_broker)
    sent = tmp_path / "in.jsonl"
    write_input(sent, 3000)
    src = source(procs, "src", primary.endpoint, "s", "p1", sent)
    assert src.wait(T(60)) == 0, src.stderr()[-2000:]
    wait_for(lambda: (replica.info("s") or {}).get("next") == 3000, T(20),
             "the replica to hold all 3000 records")
    # The replica's log reads back what was sent: nothing lost or doubled.
    rc, report = verify(procs, "verify", replica.endpoint, "s", sent)
    assert rc == 0 and report["lost"] == 0 and report["duplicated"] == 0, report
    # A write to the replica: EREADONLY, naming the primary.
    wire = replica.wire
    wire.send(PUBLISH, {"stream": "s", "producer": "x", "seq": 1, "count": 1}, ONE)
    reply = wire.recv(T(5))
    assert reply[0] == ERROR and reply[2]["code"] == EREADONLY, reply
    assert primary.endpoint.split(":")[-1] in reply[2]["text"], reply
    # ... and so does a group's JOIN, and an ADMIN other than promote.
    reply = wire.request(0x11, {"req": 7, "group": "g", "in": "s", "out": "o", "member": "m"})
    assert reply[0] == ERROR and reply[2]["code"] == EREADONLY, reply
    # `sluice stat` on both: role, epoch, lag (0 once caught up), followers.
    def stat(broker):
        res = procs.start("stat", [SLUICE_BIN, "stat", "--broker", broker.endpoint])
        assert res.wait(T(30)) == 0, res.stderr()
        return res.stdout().decode()
    out = wait_for(lambda: (lambda o: "lag 0 entries, 1 replica(s) following" in o and o)(
        stat(primary)), T(20), "the primary's stat to show its replica")
    assert "REPLICATION: primary at epoch 1" in out, out
    assert "REPLICATION: replica at epoch 1" in stat(replica)
    # The replica says what it is in WELCOME.
    wire.send(HELLO, {"req": 9, "client": "pytest"})
    reply = wire.recv(T(5))
    assert reply[0] == WELCOME and "(replica)" in reply[2]["broker"], reply


def test_sync_replicas_refuses_confirm_without_replica(procs, make_broker, tmp_path):
    """--sync-replicas 1 with no replica: the write commits locally but is
    not confirmed (ENOREPLICA); once a replica follows, the resend is
    confirmed and the log holds each record once."""
    p_repl = repl_ep()
    primary = make_broker(args=["--replication", p_repl, "--sync-replicas", "1",
                                "--sync-timeout", "500ms"])
    wire = primary.wire
    wire.send(PUBLISH, {"stream": "s", "producer": "p", "seq": 1, "count": 1}, ONE)
    reply = wire.recv(T(10))
    assert reply[0] == ERROR and reply[2]["code"] == ENOREPLICA, reply
    make_broker(args=["--replica-of", p_repl])
    wire.send(PUBLISH, {"stream": "s", "producer": "p", "seq": 1, "count": 1}, ONE)
    reply = wire_confirm(wire)
    assert reply[2]["seq"] == 1
    assert primary.info("s")["next"] == 1


def wire_confirm(wire):
    deadline_reply = None
    for _ in range(40):
        reply = wire.recv(T(5))
        if reply and reply[0] == 0x04:
            return reply
        deadline_reply = reply
        wire.send(PUBLISH, {"stream": "s", "producer": "p", "seq": 1, "count": 1}, ONE)
    raise AssertionError(f"no CONFIRM, last {deadline_reply}")


def test_failover_kill9_promote_no_loss(procs, make_broker, tmp_path):
    """kill -9 of the primary under load with --sync-replicas 1; the replica
    is promoted; the source (given both endpoints) finds it and finishes;
    every record is in the new primary's log exactly once."""
    primary, replica, p_repl, r_repl = pair(make_broker, sync=1)
    sent = tmp_path / "in.jsonl"
    write_input(sent, 200000)
    both = f"{primary.endpoint},{replica.endpoint}"
    src = source(procs, "src", both, "s", "p1", sent, extra=["--rate", "40000"])
    wait_for(lambda: (replica.info("s") or {}).get("next", 0) >= 20000, T(30),
             "records to reach the replica")
    primary.kill9()
    promote = procs.start("promote", [SLUICE_BIN, "promote", "--broker", replica.endpoint])
    assert promote.wait(T(30)) == 0, promote.stderr()
    assert b"epoch 2" in promote.stdout()
    assert src.wait(T(120)) == 0, src.stderr()[-3000:]
    rc, report = verify(procs, "verify", replica.endpoint, "s", sent)
    assert rc == 0 and report["lost"] == 0 and report["duplicated"] == 0, report


def test_old_primary_rejoins_and_undoes(procs, make_broker, tmp_path):
    """An old primary that wrote without its replica (no --sync-replicas)
    comes back with --replica-of the promoted one: it undoes what it had
    not replicated and then holds exactly the new primary's log."""
    primary, replica, p_repl, r_repl = pair(make_broker)
    sent = tmp_path / "in.jsonl"
    write_input(sent, 1000)
    src = source(procs, "src1", primary.endpoint, "s", "p1", sent)
    assert src.wait(T(60)) == 0
    wait_for(lambda: (replica.info("s") or {}).get("next") == 1000, T(20), "replication")
    # The replica goes away; the primary takes 500 more it never replicates.
    replica.stop()
    extra = tmp_path / "extra.jsonl"
    write_input(extra, 500, tag="lost")
    src = source(procs, "src2", primary.endpoint, "s", "p2", extra)
    assert src.wait(T(60)) == 0
    assert primary.info("s")["next"] == 1500
    primary.kill9()
    # The replica comes back, is promoted, and takes new writes.
    replica.start()
    promote = procs.start("promote", [SLUICE_BIN, "promote", "--broker", replica.endpoint])
    assert promote.wait(T(30)) == 0, promote.stderr()
    wait_for(lambda: "(replica)" not in hello_broker(replica), T(20), "the promoted primary")
    more = tmp_path / "more.jsonl"
    write_input(more, 200, tag="m")
    src = source(procs, "src3", replica.endpoint, "t", "p3", more)
    assert src.wait(T(60)) == 0, src.stderr()[-2000:]
    # The old primary rejoins as a replica of the new one.
    primary.args = ["--replica-of", r_repl, "--replication", p_repl]
    primary.start()
    wait_for(lambda: (primary.info("t") or {}).get("next") == 200, T(30),
             "the old primary to follow the new one")
    assert primary.info("s")["next"] == 1000, "the unreplicated 500 were undone"
    assert "undoing entries" in primary.proc.stderr()
    rc, report = verify(procs, "verify", primary.endpoint, "s", sent)
    assert rc == 0 and report["lost"] == 0 and report["duplicated"] == 0, report
    # Writes to it are refused: it is a replica now.
    primary.wire.send(PUBLISH, {"stream": "s", "producer": "x", "seq": 1, "count": 1}, ONE)
    reply = primary.wire.recv(T(5))
    assert reply[0] == ERROR and reply[2]["code"] == EREADONLY, reply


def test_old_primary_cannot_undo_a_retention_delete_and_says_so(procs, make_broker, tmp_path):
    """An old primary whose unreplicated entries include a retention delete (journaled without
    the batches it removed) cannot undo them: it says so, with what to do, changes nothing and
    stays up serving what it holds (docs/replication.md, "The old primary comes back")."""
    primary, replica, p_repl, r_repl = pair(make_broker,
                                            primary_args=["--retain-records", "300"])
    sent = tmp_path / "in.jsonl"
    write_input(sent, 200)
    assert source(procs, "src1", primary.endpoint, "s", "p1", sent).wait(T(60)) == 0
    wait_for(lambda: (replica.info("s") or {}).get("next") == 200, T(20), "replication")
    replica.stop()
    extra = tmp_path / "extra.jsonl"
    write_input(extra, 1000, tag="lost")
    assert source(procs, "src2", primary.endpoint, "s", "p2", extra).wait(T(60)) == 0
    wait_for(lambda: primary.info("s")["first"] > 0, T(30), "retention to remove old batches")
    held = primary.info("s")
    primary.kill9()
    replica.start()
    promote = procs.start("promote", [SLUICE_BIN, "promote", "--broker", replica.endpoint])
    assert promote.wait(T(30)) == 0, promote.stderr()
    primary.args = ["--replica-of", r_repl, "--replication", p_repl, "--retain-records", "300",
                    "--verbose"]
    primary.start()
    wait_for(lambda: "a retention delete among them" in primary.proc.stderr(), T(30),
             "the old primary to say it cannot undo")
    assert "Move this broker's --data directory aside" in primary.proc.stderr()
    # It tries again every 10 s; the retry is a debug line, the error is said once.
    wait_for(lambda: primary.proc.stderr().count("a retention delete among them") >= 2, T(40),
             "the old primary to try the undo again")
    said = [line for line in primary.proc.stderr().splitlines()
            if "a retention delete among them" in line]
    assert [" E " in line for line in said[:2]] == [True, False], said
    assert primary.proc.alive()
    now = primary.info("s")
    assert (now["first"], now["next"]) == (held["first"], held["next"]), (held, now)


def hello_broker(broker):
    broker.close()
    wire = broker.wire
    wire.send(HELLO, {"req": 99, "client": "pytest"})
    reply = wire.recv(T(2))
    return reply[2]["broker"] if reply and reply[0] == WELCOME else "(replica)"


def test_promote_refused_on_primary(procs, make_broker):
    primary = make_broker(args=["--replication", repl_ep()])
    p = procs.start("promote", [SLUICE_BIN, "promote", "--broker", primary.endpoint])
    assert p.wait(T(30)) == 1
    assert "primary already" in p.stderr()


def test_hostile_replication_peer(procs, make_broker):
    """Garbage and out-of-protocol messages on the replication endpoint are
    answered with an error and change nothing; a follower asking for more
    than the cap gets at most the cap."""
    import zmq
    p_repl = repl_ep()
    primary = make_broker(args=["--replication", p_repl])
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(p_repl)
    try:
        s.send_multipart([b"garbage"])
        assert s.poll(int(T(5) * 1000)), "no answer to garbage"
        frames = s.recv_multipart()
        assert frames[0][3] == ERROR
        # An entry position from the future, at an epoch never seen: EEPOCH.
        s.send_multipart([bytes([0x53, 0x4C, 1, REPLICATE]),
                          msgpack.packb({"epoch": 7, "seq": 5, "max_bytes": 1 << 40})])
        assert s.poll(int(T(5) * 1000))
        frames = s.recv_multipart()
        body = msgpack.unpackb(frames[1])
        assert frames[0][3] == ERROR and body["code"] == 27, body
    finally:
        s.close()
    assert primary.proc.alive()
    primary.wait_ready()


def test_replica_survives_a_hostile_primary(procs, make_broker):
    """A "primary" that answers with damaged, oversized-claim and out-of-order entries: the
    replica applies none of them, says why once, keeps asking, and stays up and empty."""
    import struct
    ctx = __import__("zmq").Context.instance()
    fake = ctx.socket(__import__("zmq").ROUTER)
    fake.setsockopt(__import__("zmq").LINGER, 0)
    port = free_port_pair()
    fake.bind(f"tcp://127.0.0.1:{port}")
    replica = make_broker(args=["--replica-of", f"tcp://127.0.0.1:{port}"])
    try:
        def entry(epoch, seq, claim_len=1):
            body = b"SLRJ" + struct.pack(">QQI", epoch, seq, 1)
            body += struct.pack(">BBHII", 0, 2, 1, 0, claim_len) + b"k" + b"v"
            return body + b"\0\0\0\0"     # a checksum that does not match
        answers = [
            [entry(1, 1)],                              # bad checksum
            [entry(1, 1, claim_len=0xFFFFFFF0)],        # a length past the frame
            [entry(1, 5)],                              # not the next entry
            [b"garbage"],
        ]
        for data in answers:
            assert fake.poll(int(T(10) * 1000)), "the replica stopped asking"
            peer, header, body = fake.recv_multipart()[:3]
            assert header[3] == REPLICATE
            ask = msgpack.unpackb(body)
            assert ask["seq"] == 0, ask
            fake.send_multipart([peer, bytes([0x53, 0x4C, 1, REPLICATED]),
                                 msgpack.packb({"epoch": 1, "seq": 1, "count": len(data),
                                                "next": 6}), *data])
        assert fake.poll(int(T(10) * 1000)), "the replica stopped asking"
        assert replica.proc.alive()
        assert not replica.wire.streams()
        assert "cannot apply the primary's entries" in replica.proc.stderr()
    finally:
        fake.close()


def test_python_producer_finds_the_primary(procs, make_broker):
    """The Python client given the replica first and the primary second: its HELLO meets a
    replica's WELCOME, it moves on, and its records are confirmed by the primary."""
    import sys
    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "python"))
    import sluice
    primary, replica, _, _ = pair(make_broker)
    with sluice.Producer(f"{replica.endpoint},{primary.endpoint}", "py", name="pyp") as p:
        for i in range(100):
            p.send({"i": i})
        p.flush(timeout=T(30))
    assert primary.info("py")["next"] == 100
    wait_for(lambda: (replica.info("py") or {}).get("next") == 100, T(20), "replication")


def test_stale_primary_is_left_for_the_promoted_one(procs, make_broker, tmp_path):
    """After a promotion, the old primary is started again as a primary by mistake (no
    --replica-of). With --sync-replicas 1 nobody follows it, so it confirms nothing
    (ENOREPLICA); a source given both endpoints leaves it for the promoted broker, where
    every record is confirmed once."""
    primary, replica, p_repl, r_repl = pair(make_broker, sync=1)
    primary.kill9()
    promote = procs.start("promote", [SLUICE_BIN, "promote", "--broker", replica.endpoint])
    assert promote.wait(T(30)) == 0, promote.stderr()
    primary.start()             # same flags: a primary with --sync-replicas 1, stale
    sent = tmp_path / "in.jsonl"
    write_input(sent, 5000)
    src = source(procs, "src", f"{primary.endpoint},{replica.endpoint}", "s", "p1", sent)
    assert src.wait(T(120)) == 0, src.stderr()[-3000:]
    assert "has no replica following it" in src.stderr()
    rc, report = verify(procs, "verify", replica.endpoint, "s", sent)
    assert rc == 0 and report["lost"] == 0 and report["duplicated"] == 0, report


def test_open_replication_socket_beside_curve_only_when_asked_and_said_loudly(procs, make_broker,
                                                                              tmp_path):
    """With CURVE on, the replication socket is a CURVE server too (test_replica_curve.py);
    --replication-open keeps it plain, which the broker says loudly at start, and a plain
    replica then follows it. A broker without CURVE says neither."""
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run([SLUICE_BIN, "keygen", keys / "broker"], check=True, capture_output=True,
                   timeout=T(20))
    allow = tmp_path / "allow"
    allow.mkdir()
    p_repl = repl_ep()
    curved = make_broker(args=["--replication", p_repl, "--curve-secret",
                               keys / "broker.key_secret", "--allow", allow], start=False)
    curved.start(wait=False)             # a plain client cannot ask a CURVE broker if it is up
    wait_for(lambda: "only keys granted replicate" in curved.proc.stderr(), T(10), "CURVE")
    assert "is OPEN" not in curved.proc.stderr()
    opened_repl = repl_ep()
    opened = make_broker(args=["--replication", opened_repl, "--replication-open",
                               "--curve-secret", keys / "broker.key_secret", "--allow", allow],
                         start=False)
    opened.start(wait=False)
    wait_for(lambda: "is OPEN (--replication-open)" in opened.proc.stderr(), T(10),
             "the loud warning")
    subprocess.run([SLUICE_BIN, "keygen", keys / "writer"], check=True, capture_output=True,
                   timeout=T(20))
    (allow / "writer.key").write_bytes((keys / "writer.key").read_bytes())
    replica = make_broker(args=["--replica-of", opened_repl])
    sent = tmp_path / "in.jsonl"
    write_input(sent, 100)
    src = source(procs, "src", opened.endpoint, "s", "p1", sent,
                 extra=["--curve-secret", keys / "writer.key_secret",
                        "--broker-key", keys / "broker.key"])
    assert src.wait(T(60)) == 0, src.stderr()[-2000:]
    wait_for(lambda: (replica.info("s") or {}).get("next") == 100, T(20),
             "the plain replica to follow the open socket")
    plain = make_broker(args=["--replication", repl_ep()])
    assert "OPEN" not in plain.proc.stderr()
    assert "CURVE" not in plain.proc.stderr()
