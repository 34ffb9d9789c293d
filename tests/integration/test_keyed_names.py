"""The names a keyed group owns (docs/worker.md "Names a keyed group owns"): while the keyed
group G exists, G.late and G.state are the broker's to write (no PUBLISH, no group's --out)
and G.s0 ... are its shares (no group of its own); a keyed group is not created over such
names already in use. Each refusal is an ERROR whose text says why and what to do; the
broker's own writes to G.late go on (test_keyed.py checks the late records in full).
"""

from conftest import ERROR, HELLO, PUBLISH, WELCOME, T, Wire, run_source, write_jsonl
from groups_util import start_worker, stop_workers, wait_joined, wait_stream
from test_keyed import JOIN, JOINED, _rec, keyed_args, publish
from test_operate import sluice

EINVAL = 2


def _wire(broker):
    wire = Wire(broker.endpoint)
    cmd, _, body, _ = wire.request(HELLO, {"client": "pytest"})
    assert cmd == WELCOME, body
    return wire


def _publish(wire, stream, seq=1):
    wire.send(PUBLISH, {"stream": stream, "producer": "p", "seq": seq, "count": 1},
              _rec({"x": 1}))
    got = wire.recv(T(20))
    assert got is not None, f"no reply to PUBLISH {stream}"
    return got[0], got[2]


def _join(wire, group, key="", inp="in", out="out", shares=None):
    join = {"group": group, "in": inp, "out": out, "member": "m", "window": 1, "key": key}
    if shares:
        join["shares"] = shares
    cmd, _, body, _ = wire.request(JOIN, join)
    return cmd, body


def _refused(got, *texts):
    cmd, body = got
    assert cmd == ERROR and body["code"] == EINVAL, body
    for text in texts:
        assert text in body["text"], body["text"]


def test_publish_to_a_keyed_groups_streams_is_refused_while_it_exists(procs, broker, tmp_path):
    """A producer writing win.late or win.state while the keyed group win exists gets ERROR 2
    naming the group and what to do; nothing is appended; after `sluice group delete win` the
    names are free again. The broker's own late records still land in win.late."""
    # Two keys, one record of k1 late by 10 s against its stream time: one late record.
    data = [{"user": "k1", "ts": 30_000, "amount": 1}, {"user": "k1", "ts": 1_000, "amount": 2},
            {"user": "k2", "ts": 40_000, "amount": 3}]
    w = start_worker(procs, broker, "win", "in", "out", *keyed_args("tumbling:5s", "1s", 10),
                     name="win")
    wait_joined(w)
    publish(procs, broker, tmp_path, data, "in")
    wait_stream(broker, "win.late", 1, T(60), watch=[w])
    wire = _wire(broker)
    try:
        _refused(_publish(wire, "win.late"), "stream 'win.late' belongs to keyed group 'win'",
                 "late records", "sluice group delete win")
        _refused(_publish(wire, "win.state"), "stream 'win.state' belongs to keyed group 'win'",
                 "key-state changelog")
        assert broker.next("win.late") == 1
        # sluice-source stops with the broker's reason (exit 1: input not taken).
        changes = broker.next("win.state")
        src = run_source(procs, broker, "win.state", str(write_jsonl(tmp_path / "x.jsonl",
                                                                     [{"x": 1}])),
                         "--no-progress", code=1)
        assert "stream 'win.state' belongs to keyed group 'win'" in src.stderr()
        assert broker.next("win.state") == changes
        # A name that only looks alike is anyone's.
        cmd, body = _publish(wire, "win.lately")
        assert cmd != ERROR, body
        stop_workers([w])
        sluice(procs, "group", "delete", "win", "-b", broker.endpoint)
        cmd, body = _publish(wire, "win.late")
        assert cmd != ERROR, body
        assert broker.next("win.late") == 2
    finally:
        wire.close()


def test_a_group_cannot_write_or_take_a_keyed_groups_names(procs, broker, tmp_path):
    """No JOIN names win.late or win.state as --out, nor takes the share group win.s0."""
    w = start_worker(procs, broker, "win", "in", "out", *keyed_args("tumbling:5s", "1s", 10),
                     name="win")
    wait_joined(w)
    wire = _wire(broker)
    try:
        _refused(_join(wire, "other", out="win.late"),
                 "--out 'win.late' belongs to keyed group 'win'", "name another output stream")
        _refused(_join(wire, "other2", out="win.state"),
                 "--out 'win.state' belongs to keyed group 'win'")
        _refused(_join(wire, "win.s0"), "group 'win.s0' is a share of keyed group 'win'",
                 "join 'win' with its --key")
        # Reading them is allowed: a group may process the late records.
        cmd, body = _join(wire, "relate", inp="win.late", out="late.fixed")
        assert cmd == JOINED, body
    finally:
        wire.close()
    # A worker given such an --out exits 1 (JOIN refused) with the broker's reason.
    bad = start_worker(procs, broker, "other", "in", "win.late", "--map", "value", name="bad")
    bad.expect_exit(1, T(30))
    assert "--out 'win.late' belongs to keyed group 'win'" in bad.stderr()
    stop_workers([w])


def test_a_keyed_group_is_not_created_over_names_in_use(procs, broker, tmp_path):
    """A user stream kg.late with records, a group named kg.s1, or a group writing kg.state
    keeps a keyed group kg from being created, with the name and the way out in the text;
    once they are out of the way it is created."""
    wire = _wire(broker)
    try:
        cmd, body = _publish(wire, "kg.late")
        assert cmd != ERROR, body
        _refused(_join(wire, "kg", key="user"), "stream 'kg.late' exists with records",
                 "sluice stream delete kg.late")
        sluice(procs, "stream", "delete", "kg.late", "-b", broker.endpoint)
        cmd, body = _join(wire, "kg.s1")          # a plain group, before any keyed kg
        assert cmd == JOINED, body
        _refused(_join(wire, "kg", key="user", shares=2),
                 "group 'kg.s1' exists: a keyed group 'kg' would make it one of its shares")
        _refused(_join(wire, "kj", key="user", out="kj.state"),
                 "reads or writes 'kj.state', a stream the keyed group 'kj' would write")
        cmd, body = _join(wire, "kg2", key="user")
        assert cmd == JOINED, body
        # Nothing of the refused keyed group was made.
        assert broker.next("kg.state") == 0
    finally:
        wire.close()
