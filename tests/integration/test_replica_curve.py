"""The replication link with CURVE (docs/replication.md "Security", docs/PROTOCOL.md §16).

A primary with --curve-secret serves its journal over CURVE in ZAP domain "sluice-repl": only a
key whose file in --allow grants replicate = "*" may follow. Real brokers on loopback, keys from
`sluice keygen`; the replica itself runs plain so that the harness can read it."""

import msgpack
import pytest
import zmq

from conftest import T, free_port_pair, wait_for
from test_security import Secure, keygen, public_of, source as secure_source

REPLICATE = 0x1A


def repl_ep():
    return f"tcp://127.0.0.1:{free_port_pair()}"


class Pair:
    """A CURVE primary with --replication, one writer key, and a way to start replicas."""

    def __init__(self, procs, make_broker, tmp_path, extra=()):
        self.procs, self.make_broker, self.tmp = procs, make_broker, tmp_path
        self.repl = repl_ep()
        self.sec = Secure(make_broker, tmp_path, extra=["--replication", self.repl, *extra])
        self.writer = self.sec.client("writer")          # every client right, not replicate
        self.sec.wait_ready(self.writer)

    def write(self, stream, n, name="source"):
        path = self.tmp / f"{name}.jsonl"
        path.write_text("".join(f'{{"i": {i}}}\n' for i in range(n)))
        src = secure_source(self.procs, self.sec, stream, path, self.writer, "--name", name,
                            name=name)
        assert src.wait(T(60)) == 0, src.stderr()[-2000:]

    def replica(self, key_base=None, args=()):
        flags = ["--replica-of", self.repl, *args]
        if key_base is not None:
            flags += ["--replica-key", f"{key_base}.key_secret",
                      "--primary-key", f"{self.sec.broker_base}.key"]
        return self.make_broker(args=flags)

    def log(self):
        return self.sec.broker.proc.stderr()


@pytest.fixture
def curved(procs, make_broker, tmp_path):
    return Pair(procs, make_broker, tmp_path)


def held(replica, stream):
    return (replica.info(stream) or {}).get("next")


def test_a_replica_with_the_replicate_right_follows(curved):
    curved.write("s", 2000)
    key = curved.sec.client("replica", rights={"replicate": "*"})
    replica = curved.replica(key)
    wait_for(lambda: held(replica, "s") == 2000, T(30), "the replica to hold all 2000 records")
    curved.write("s", 500, name="more")
    wait_for(lambda: held(replica, "s") == 2500, T(30), "the replica to follow new writes")
    assert 'only keys granted replicate = "*"' in curved.log()
    assert "following" in replica.proc.stderr() and "over CURVE" in replica.proc.stderr()
    assert "the primary" not in replica.proc.stderr().split("following")[-1]
    assert "refused this replica" not in replica.proc.stderr()


@pytest.mark.parametrize("case", ["no-key", "not-allowed", "no-right"])
def test_a_replica_without_the_right_is_refused_and_told_once(curved, case):
    """Without a key, with a key the primary does not know, or with an allowed key that lacks
    replicate: the replica holds nothing, says so once (with what to do) while ZeroMQ retries,
    and the primary names the refused key."""
    curved.write("s", 300)
    if case == "no-key":
        replica = curved.replica(args=["--verbose"])
        said = "refused a plain connection"
        todo = "--primary-key"
    else:
        key = curved.sec.client("replica", allowed=(case == "no-right"))
        replica = curved.replica(key, args=["--verbose"])
        said = "refused this replica's key " + public_of(key)
        todo = 'replicate = "*"'
    wait_for(lambda: said in replica.proc.stderr(), T(20), "the replica to say it is refused")
    assert todo in replica.proc.stderr()
    if case == "no-right":
        wait_for(lambda: f"refused client key {public_of(key)}" in curved.log(), T(10),
                 "the primary to name the refused key")
        assert "lacks replicate" in curved.log()
    elif case == "no-key":
        wait_for(lambda: "refused a connection" in curved.log(), T(10),
                 "the primary to log the refused plain peer")
    assert not replica.wire.streams(), "a refused replica holds a stream"
    # ZeroMQ retries about every 100 ms (each retry is a debug line with --verbose): after
    # several, the replica has still said it once.
    wait_for(lambda: "refused this replica again (4 so far)" in replica.proc.stderr(), T(20),
             "the replica's retries")
    assert replica.proc.stderr().count(said) == 1, replica.proc.stderr()
    assert not replica.wire.streams()


def test_granting_replicate_lets_a_refused_replica_follow(curved):
    """What the refusal says to do works: the right added to the key's file in --allow (re-read
    within a quarter second) and the same replica follows, without a restart."""
    curved.write("s", 400)
    key = curved.sec.client("replica")
    replica = curved.replica(key)
    wait_for(lambda: "refused this replica's key" in replica.proc.stderr(), T(20),
             "the refusal")
    allowed = curved.sec.allow_dir / "replica.key"
    text = allowed.read_text().replace("curve\n", 'metadata\n    replicate = "*"\ncurve\n', 1)
    if "\nmetadata\n" in "\n" + allowed.read_text():
        text = allowed.read_text().replace("metadata\n", 'metadata\n    replicate = "*"\n', 1)
    allowed.write_text(text)
    wait_for(lambda: held(replica, "s") == 400, T(30), "the replica to follow once granted")
    assert "accepted this replica" in replica.proc.stderr()


def test_revoking_replicate_stops_a_following_replica(curved):
    key = curved.sec.client("replica", rights={"replicate": "*"})
    replica = curved.replica(key)
    curved.write("s", 100)
    wait_for(lambda: held(replica, "s") == 100, T(30), "the replica to follow")
    allowed = curved.sec.allow_dir / "replica.key"
    allowed.write_text(allowed.read_text().replace('replicate = "*"', 'read = "*"'))
    wait_for(lambda: "refused this replica's key" in replica.proc.stderr(), T(20),
             "the replica to be cut off and refused")
    curved.write("s", 100, name="after")
    assert held(replica, "s") == 100


def hostile(curved, base):
    """A raw DEALER on the replication socket (plain, or CURVE with base's keys) asking for the
    whole journal. Returns the socket."""
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if base is not None:
        pub, secret = zmq.auth.load_certificate(f"{base}.key_secret")
        s.curve_publickey, s.curve_secretkey = pub, secret
        s.curve_serverkey = zmq.auth.load_certificate(f"{curved.sec.broker_base}.key")[0]
    s.connect(curved.repl)
    s.send_multipart([bytes([0x53, 0x4C, 1, REPLICATE]),
                      msgpack.packb({"epoch": 0, "seq": 0, "max_bytes": 1 << 20})],
                     flags=zmq.NOBLOCK)
    return s


@pytest.mark.parametrize("case", ["plain", "client-key"])
def test_a_hostile_peer_without_the_right_gets_no_journal_bytes(curved, case):
    """A peer without a key, or with an allowed client key lacking replicate, asks the
    replication socket for everything: its handshake is refused, no byte of the journal comes
    back, and the primary logs it."""
    curved.write("secret", 500)
    base = None if case == "plain" else curved.writer
    s = hostile(curved, base)
    try:
        if case == "plain":
            wait_for(lambda: "refused a connection: " in curved.log(), T(10),
                     "the primary to log the plain peer")
        else:
            wait_for(lambda: f"refused client key {public_of(base)}" in curved.log(), T(10),
                     "the primary to log the key")
        # A legitimate replica asked after it is served: the primary was not stuck, and the
        # hostile peer, asked first, has still received nothing.
        key = curved.sec.client("replica", rights={"replicate": "*"})
        replica = curved.replica(key)
        wait_for(lambda: held(replica, "secret") == 500, T(30), "the real replica")
        assert s.poll(0) == 0, s.recv_multipart()
    finally:
        s.close()


def test_a_curve_replica_must_choose_keys_or_open(procs, make_broker, tmp_path):
    """A broker with --curve-secret given --replica-of without --primary-key does not start in
    the clear by itself: it says what to give."""
    keys = tmp_path / "keys"
    base = keygen(keys, "broker")
    allow = tmp_path / "allow"
    allow.mkdir()
    b = make_broker(args=["--curve-secret", f"{base}.key_secret", "--allow", allow,
                          "--replica-of", repl_ep()], start=False)
    b.start(wait=False)
    assert b.proc.wait(T(20)) == 1
    assert "--primary-key" in b.proc.stderr() and "--replication-open" in b.proc.stderr()
    b2 = make_broker(args=["--replica-key", f"{base}.key_secret", "--replica-of", repl_ep()],
                     start=False)
    b2.start(wait=False)
    assert b2.proc.wait(T(20)) == 1
    assert "--replica-key needs --primary-key" in b2.proc.stderr()
