"""Keyed groups' compacted state in the broker (docs/worker.md "State: how big it may grow and
what a restore costs"; docs/PROTOCOL.md §14.5): a member taking over a share reads that
share's live keys from the broker's table (STATE_READ), not the history of GROUP.state; what
a member can make the broker keep is bounded (key length, share, --max-state-keys), checked
here with a hostile member on the wire.
"""

import re

import msgpack

from conftest import ERROR, T, Wire, wait_for
from groups_util import records, start_worker, stop_workers, wait_joined, wait_stream
from keyed_reference import LUA_COUNTER, check_lua
from test_keyed import RESULT, WORK, _next_reply, _next_work, _raw_member, _rec, publish

STATE_READ, STATE = 0x20, 0x21
TABLE = re.compile(r"restored \d+ key states \((\d+) of share (\d+) from the broker's table\)")


def test_restore_reads_live_keys_not_history(procs, broker, tmp_path):
    """5 keys changed in 300 leases: GROUP.state holds hundreds of changes, the member that
    takes over reads each live key once from the table (and the counters go on exactly)."""
    script = tmp_path / "counter.lua"
    script.write_text(LUA_COUNTER)
    data = [{"user": f"u{i % 5}", "seq": i, "amount": i} for i in range(3000)]
    data[2000]["reset"] = True          # u0's state deleted: nil removes the key
    args = ["--key", "user", "--lua", str(script), "--batch", "10", "--lease", "5s"]
    first = start_worker(procs, broker, "cnt", "in", "out", *args, name="first")
    wait_joined(first)
    publish(procs, broker, tmp_path, data[:2500], "a")
    wait_stream(broker, "out", 2500, T(120), watch=[first])
    changes = broker.next("cnt.state")
    assert changes > 200, f"only {changes} state changes"
    first.kill9()
    second = start_worker(procs, broker, "cnt", "in", "out", *args, name="second")
    wait_joined(second)
    publish(procs, broker, tmp_path, data[2500:], "b")
    wait_stream(broker, "out", len(data), T(120), watch=[second])
    # Shares without a key of the second part move too (after the dead member's silence).
    wait_for(lambda: {s for _, s in TABLE.findall(second.stderr())} == {"0", "1", "2", "3"},
             T(60), "every share restored by the second member")
    stop_workers([second])
    restores = [(int(n), int(s)) for n, s in TABLE.findall(second.stderr())]
    print(f"{changes} changes in cnt.state; restores {restores}")
    per_share = {s: n for n, s in restores}
    assert sorted(per_share) == [0, 1, 2, 3], second.stderr()[-2000:]
    # A share is read at each restore of it (the member reads again after it lost a lease),
    # always just its live keys: u0 was reset at 2000 and counted again since, so all 5.
    assert all(per_share[s] == n for n, s in restores)
    assert sum(per_share.values()) == 5
    check_lua([r["value"] for r in records(procs, broker, "out")], data)


def _work_of(wire, group):
    work = _next_work(wire)
    return {"group": group, "lease": work["lease"], "offset": work["offset"],
            "count": work["count"], "share": work.get("share", 0)}


def _state(key, value):
    return _rec(value, key=msgpack.packb(key))


def _refused(wire, body, frame, code, text):
    wire.send(RESULT, body, frame)
    _, _, reply, _ = _next_reply(wire, ERROR)
    assert reply["code"] == code and text in reply["text"], reply


def test_hostile_state_records_are_refused(procs, broker, tmp_path):
    """Keys outside the lease's share, keys over 256 bytes, states over 1 MiB and states
    without a key are refused whole; nothing of a refused RESULT is stored."""
    publish(procs, broker, tmp_path, [{"user": "a"}], "in")
    wire = _raw_member(broker, "hs", "user", shares=4)
    base = _work_of(wire, "hs")
    # 8 keys cannot all be of one share of 4 (crc32c spreads them): the RESULT is refused.
    eight = b"".join(_state(f"k{i}", 1) for i in range(8))
    _refused(wire, dict(base, out_count=0, state_count=8), eight, 3, "outside the result's share")
    _refused(wire, dict(base, out_count=0, state_count=1), _state("k" * 300, 1), 6,
             "longer than 256 bytes")
    _refused(wire, dict(base, out_count=0, state_count=1), _rec(1), 3, "without its key")
    _refused(wire, dict(base, out_count=0, state_count=1), _state("k", "x" * (1 << 20)), 6,
             "larger than 1 MiB")
    for stream in ("out", "hs.state"):
        assert broker.next(stream) == 0
    # Nothing in the table: the share reads empty.
    cmd, _, body, data = wire.request(STATE_READ, {"group": "hs", "share": base["share"]})
    assert (cmd, body["count"], body["found"], data) == (STATE, 0, True, [])
    wire.close()


def test_state_keys_per_group_are_bounded(procs, make_broker, tmp_path):
    """--max-state-keys 3: a RESULT that would keep a 4th key gets ELIMIT and stores nothing;
    a delete makes room; STATE_READ pages through the keys after a cursor and refuses
    hostile cursors."""
    broker = make_broker(args=["--max-state-keys", "3"])
    publish(procs, broker, tmp_path, [{"user": "a"}], "in")
    wire = _raw_member(broker, "hb", "user", shares=1)
    base = _work_of(wire, "hb")
    four = b"".join(_state(k, {"v": k}) for k in "abcd")
    _refused(wire, dict(base, out_count=0, state_count=4), four, 25, "")
    assert broker.next("hb.state") == 0 and broker.next("out") == 0
    assert "over --max-state-keys 3" in broker.proc.stderr()
    # The same lease with three keys, one of them deleted at once (nil), and one more.
    frame = _rec({"r": 1}) + b"".join(_state(k, {"v": k}) for k in "abc")
    wire.send(RESULT, dict(base, out_count=1, state_count=3), frame)
    wait_for(lambda: broker.next("hb.state") == 3, T(20), "3 states stored")
    publish(procs, broker, tmp_path, [{"user": "b"}], "in2")
    base = _work_of(wire, "hb")
    frame = _state("a", None) + _state("d", {"v": "d"})
    wire.send(RESULT, dict(base, out_count=0, state_count=2), frame)
    wait_for(lambda: broker.next("hb.state") == 5, T(20), "a deleted, d stored")
    # Pages of one state: each after the last key read.
    got, cursor = [], []
    while True:
        cmd, _, body, data = wire.request(STATE_READ, {"group": "hb", "max_bytes": 1}, *cursor)
        assert cmd == STATE and body["found"] is True, body
        if body["count"] == 0:
            break
        assert body["count"] == 1 and len(data) == 1
        ts, key, headers, value = msgpack.unpackb(data[0], raw=False)
        got.append((msgpack.unpackb(key), value))
        cursor = [key]
    assert got == [("b", {"v": "b"}), ("c", {"v": "c"}), ("d", {"v": "d"})]
    for frames, code in (([b"x" * 300], 6), ([b"a", b"b"], 3), ([b""], 3)):
        cmd, _, body, _ = wire.request(STATE_READ, {"group": "hb"}, *frames)
        assert cmd == ERROR and body["code"] == code, body
    # STATE is the broker's to send: sent to it, ECOMMAND.
    cmd, _, body, _ = wire.request(STATE, {"count": 0})
    assert cmd == ERROR and body["code"] == 5, body
    wire.close()


def _read_table(broker, group, shares):
    """{(share, key bytes): value} of a keyed group, read with STATE_READ page by page."""
    wire = Wire(broker.endpoint)
    got = {}
    try:
        for share in range(shares):
            cursor = []
            while True:
                cmd, _, body, data = wire.request(STATE_READ, {"group": group, "share": share,
                                                               "max_bytes": 200}, *cursor)
                assert cmd == STATE and body.get("found") is True, body
                if body["count"] == 0:
                    break
                unpacker = msgpack.Unpacker(raw=False)
                unpacker.feed(data[0])
                recs = list(unpacker)
                assert len(recs) == body["count"]
                for _, key, _, value in recs:
                    got[(share, key)] = value
                cursor = [recs[-1][1]]
    finally:
        wire.close()
    return got


def test_replica_keeps_the_state_table(procs, make_broker, tmp_path):
    """The table's writes are journaled: a replica holds the same key states as its primary,
    so a member restores the same state after a failover."""
    from test_replica import pair
    primary, replica, _, _ = pair(make_broker)
    script = tmp_path / "counter.lua"
    script.write_text(LUA_COUNTER)
    data = [{"user": f"u{i % 40}", "seq": i, "amount": i} for i in range(2000)]
    w = start_worker(procs, primary, "cnt", "in", "out", "--key", "user", "--lua", str(script),
                     "--batch", "50")
    wait_joined(w)
    publish(procs, primary, tmp_path, data, "in")
    wait_stream(primary, "out", len(data), T(120), watch=[w])
    stop_workers([w])
    wait_for(lambda: replica.next("cnt.state") == primary.next("cnt.state"), T(60),
             "the replica at the primary's cnt.state")
    on_primary = _read_table(primary, "cnt", 4)
    assert len(on_primary) == 40
    assert sorted(v["n"] for v in on_primary.values()) == [50] * 40
    assert _read_table(replica, "cnt", 4) == on_primary


def test_each_share_gets_only_its_keys_bytes(procs, broker, tmp_path):
    """A keyed group's WORK for share N carries only the records of share N's keys; every other
    record is a one-byte hole (nil), counted in "holes": across the 4 shares each record is
    sent once, all of one key to one share, and a record without the key goes to share 0."""
    data = [{"user": f"u{i % 8}", "seq": i, "pad": "p" * 50} for i in range(40)]
    data.append({"seq": 40})                     # no key: share 0's, to fail there once
    publish(procs, broker, tmp_path, data, "in")
    wire = _raw_member(broker, "hf", "user", shares=4)
    frames, sizes = {}, []
    while len(frames) < 4:
        _, _, work, data_frames = _next_reply(wire, WORK)
        assert (work["offset"], work["count"]) == (0, len(data)), work
        unpacker = msgpack.Unpacker(raw=False)
        unpacker.feed(data_frames[0])
        items = list(unpacker)
        assert len(items) == len(data)
        assert work.get("holes", 0) == sum(1 for x in items if x is None), work
        frames[work.get("share", 0)] = items
        sizes.append(len(data_frames[0]))
    wire.close()
    owner = {}
    for i, rec in enumerate(data):
        sent = [s for s, items in frames.items() if items[i] is not None]
        assert len(sent) == 1, f"record {i} sent to shares {sent}"
        assert frames[sent[0]][i][3] == rec
        owner.setdefault(rec.get("user"), set()).add(sent[0])
    assert all(len(s) == 1 for s in owner.values()), owner
    assert owner[None] == {0}
    # The bytes: the range once over the 4 shares, plus a byte a hole (not 4 times the range).
    once = sum(len(msgpack.packb(x)) for items in frames.values() for x in items if x is not None)
    assert sum(sizes) == once + 3 * len(data), (sizes, once)


def test_result_part_sizes_are_checked_then_used(procs, broker, tmp_path):
    """A RESULT's out_bytes / late_bytes (docs/PROTOCOL.md §14.4) that do not match its
    records are refused whole (EPROTO, nothing stored); sizes that match cut the parts
    exactly: each output record in `out`, each late one in GROUP.late, as sent."""
    publish(procs, broker, tmp_path, [{"user": "a"}], "in")
    wire = _raw_member(broker, "pb", "user", shares=4)
    base = _work_of(wire, "pb")
    outs = [_rec({"n": i}, key=b"o") for i in range(2)]
    late = [_rec({"late": True, "pad": "x" * 40}, key=b"l")]
    frame = b"".join(outs + late)
    size = len(outs[0]) + len(outs[1])
    parts = dict(base, out_count=2, late_count=1)
    for bad in (dict(out_bytes=size - 1), dict(out_bytes=size + 1),
                dict(out_bytes=size, late_bytes=len(late[0]) + 1),
                dict(late_bytes=len(frame))):
        _refused(wire, dict(parts, **bad), frame, 3, "out_bytes / late_bytes do not match")
    for stream in ("out", "pb.late"):
        assert broker.next(stream) == 0
    # Right sizes: the one commit appends both parts, cut where the sizes say.
    wire.send(RESULT, dict(parts, out_bytes=size, late_bytes=len(late[0])), frame)
    wait_stream(broker, "pb.late", 1, T(30))
    assert [r["value"] for r in records(procs, broker, "out")] == [{"n": 0}, {"n": 1}]
    assert [r["value"] for r in records(procs, broker, "pb.late")] == [
        {"late": True, "pad": "x" * 40}]
    wire.close()
