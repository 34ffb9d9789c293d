"""Keyed groups and event-time windows (docs/worker.md "Keyed groups and windows").

A generated event-time data set (many keys, records out of order, some late)
goes through `sluice-worker --key --window --agg --time --lateness` with real
brokers and workers; the expected window results and late records are computed
independently here, from the rules as docs/operators.md states them.
"""

import collections
import random
import re
import time

import msgpack
import pytest

from conftest import (ERROR, HELLO, WELCOME, T, Wire, run_source, wait_for, write_jsonl)
from groups_util import (records, start_worker, stop_workers, wait_joined, wait_stream)
from keyed_reference import (AGGS, LUA_COUNTER, check_lua, check_windows, generate,
                             reference)

def publish(procs, broker, tmp_path, part, name):
    run_source(procs, broker, "in", str(write_jsonl(tmp_path / f"{name}.jsonl", part)),
               "--no-progress")


def keyed_args(window, lateness, batch):
    return ["--key", "user", "--window", window, "--agg", AGGS, "--time", "ts", "--lateness",
            lateness, "--batch", str(batch), "--lease", "5s"]


def run_keyed(procs, broker, tmp_path, data, window, lateness, members=1, batch=50,
              group="win"):
    publish(procs, broker, tmp_path, data, "in")
    args = keyed_args(window, lateness, batch)
    workers = [start_worker(procs, broker, group, "in", "out", *args, name=f"w{i}")
               for i in range(members)]
    for w in workers:
        wait_joined(w)
    return workers, args


def check(procs, broker, data, expected, late, group="win"):
    got_late = [r["value"] for r in records(procs, broker, f"{group}.late")]
    check_windows(records(procs, broker, "out"), expected, got_late, late)


def restored_any(proc):
    return "restored " in proc.stderr()


def restored(proc):
    """The most key states a worker read back from GROUP.state (its log)."""
    found = re.findall(r"restored (\d+) key states", proc.stderr())
    return max((int(n) for n in found), default=0)


@pytest.mark.parametrize("members", [1, 2, 3])
def test_tumbling_members_kill_and_join(procs, broker, tmp_path, members):
    """1, 2 or 3 members; the input arrives in two parts. After the first, with windows
    open, every member is killed (kill -9) and new members join for the second."""
    data = generate(3000, keys=40, seed=members)
    expected, late = reference(data, "tumbling", 5000, size=10000, adv=10000)
    assert late and len(expected) > 500
    cut = len(data) * 3 // 5
    first, _ = reference(data[:cut], "tumbling", 5000, size=10000, adv=10000)
    args = keyed_args("tumbling:10s", "5s", 50)
    workers = [start_worker(procs, broker, "win", "in", "out", *args, name=f"w{i}")
               for i in range(members)]
    for w in workers:
        wait_joined(w)
    publish(procs, broker, tmp_path, data[:cut], "first")
    wait_stream(broker, "out", len(first), T(120), watch=workers)
    for w in workers:
        w.kill9()
    live = [start_worker(procs, broker, "win", "in", "out", *args, name=f"new{i}")
            for i in range(members)]
    for w in live:
        wait_joined(w)
    publish(procs, broker, tmp_path, data[cut:], "second")
    wait_stream(broker, "out", len(expected), T(180), watch=live)
    wait_stream(broker, "win.late", len(late), T(60), watch=live)
    # The member that took over went on from the killed one's committed states.
    assert max(restored(w) for w in live) > 0
    stop_workers(live)
    check(procs, broker, data, expected, late)


def test_kill_active_member_repeatedly(procs, broker, tmp_path):
    """Two members; after each quarter of the input the older one is killed and a
    new member joins; its shares move to the survivor (and then, balanced, some to the
    newcomer), each taken over from the committed states."""
    data = generate(2400, keys=25, seed=7)
    expected, late = reference(data, "tumbling", 2000, size=5000, adv=5000)
    args = keyed_args("tumbling:5s", "2s", 20)
    live = [start_worker(procs, broker, "win", "in", "out", *args, name=f"w{i}")
            for i in range(2)]
    for w in live:
        wait_joined(w)
    quarter = len(data) // 4
    for step in range(4):
        part = data[step * quarter:(step + 1) * quarter]
        publish(procs, broker, tmp_path, part, f"part{step}")
        done, _ = reference(data[:(step + 1) * quarter], "tumbling", 2000, size=5000, adv=5000)
        wait_stream(broker, "out", len(done), T(120), watch=live)
        if step < 3:
            # Both members own shares of the key space and work (each read its
            # shares' states at its first lease); the older one dies.
            assert all(restored_any(w) for w in live), "every member works on its shares"
            victim = live[0]
            victim.kill9()
            live.remove(victim)
            w = start_worker(procs, broker, "win", "in", "out", *args, name=f"r{step}")
            wait_joined(w)
            live.append(w)
    wait_stream(broker, "win.late", len(late), T(60), watch=live)
    stop_workers(live)
    check(procs, broker, data, expected, late)


def test_hopping(procs, broker, tmp_path):
    data = generate(1500, keys=10, seed=3)
    expected, late = reference(data, "hopping", 3000, size=20000, adv=5000)
    workers, _ = run_keyed(procs, broker, tmp_path, data, "hopping:20s/5s", "3s")
    wait_stream(broker, "out", len(expected), T(120), watch=workers)
    wait_stream(broker, "win.late", len(late), T(60), watch=workers)
    stop_workers(workers)
    check(procs, broker, data, expected, late)


def test_session(procs, broker, tmp_path):
    data = generate(1500, keys=30, seed=4, span_ms=3_000_000)
    expected, late = reference(data, "session", 4000, gap=30000)
    assert late and expected
    workers, _ = run_keyed(procs, broker, tmp_path, data, "session:30s", "4s")
    wait_stream(broker, "out", len(expected), T(120), watch=workers)
    wait_stream(broker, "win.late", len(late), T(60), watch=workers)
    stop_workers(workers)
    check(procs, broker, data, expected, late)


def test_per_key_order_without_windows(procs, broker, tmp_path):
    """--key alone: several members, pass-through; each key's records keep input order."""
    data = [{"user": f"u{i % 17}", "seq": i} for i in range(3000)]
    run_source(procs, broker, "in", str(write_jsonl(tmp_path / "in.jsonl", data)),
               "--no-progress")
    workers = [start_worker(procs, broker, "ord", "in", "out", "--key", "user", "--batch", "40",
                            name=f"w{i}") for i in range(3)]
    for w in workers:
        wait_joined(w)
    wait_stream(broker, "out", 1000, T(120), watch=workers)
    workers[0].kill9()
    live = workers[1:]
    wait_stream(broker, "out", len(data), T(120), watch=live)
    stop_workers(live)
    got = [r["value"] for r in records(procs, broker, "out")]
    seqs = collections.defaultdict(list)
    for v in got:
        seqs[v["user"]].append(v["seq"])
    for k, seq in seqs.items():
        assert seq == sorted(seq), f"key {k} out of order"
    # Exactly once up to a kill: a record redone after the kill is never
    # before one of its key's later records.
    assert sorted(set(v["seq"] for v in got)) == list(range(len(data)))


def test_records_without_key_or_time_are_dead_lettered(procs, broker, tmp_path):
    data = [{"user": "a", "ts": 1000, "amount": 1}, {"ts": 2000, "amount": 2},
            {"user": "a", "ts": "not a time"}, {"user": "a", "ts": "1970-01-01T00:00:25Z"}]
    run_source(procs, broker, "in", str(write_jsonl(tmp_path / "in.jsonl", data)),
               "--no-progress")
    w = start_worker(procs, broker, "win", "in", "out", "--key", "user", "--window",
                     "tumbling:10s", "--agg", "count,sum:amount", "--time", "ts")
    wait_stream(broker, "win.dlq", 2, T(60), watch=[w])
    wait_stream(broker, "out", 1, T(60), watch=[w])
    stop_workers([w])
    dead = [r["value"] for r in records(procs, broker, "win.dlq")]
    assert sorted(d["offset"] for d in dead) == [1, 2]
    assert "no group key 'user'" in dead[0]["error"]
    assert "no event time" in dead[1]["error"]
    out = [r["value"] for r in records(procs, broker, "out")]
    assert out == [{"key": "a", "start": 0, "end": 10000, "count": 1, "sum": {"amount": 1}}]


@pytest.mark.parametrize("args,text", [
    (["--window", "tumbling:10s"], "--window needs --key"),
    (["--key", "u", "--window", "tumbling:10"], "unit"),
    (["--key", "u", "--window", "hopping:10s/20s"], "ADVANCE"),
    (["--key", "u", "--window", "sliding:1s"], "expected tumbling"),
    (["--key", "u", "--window", "tumbling:1s", "--agg", "median:x"], "unknown aggregate"),
    (["--key", "u", "--agg", "count"], "need --window"),
    (["--key", "u", "--window", "tumbling:1s", "--lua", "x.lua"], "--window is the operator"),
])
def test_usage_errors(procs, broker, args, text):
    w = start_worker(procs, broker, "g", "in", "out", *args)
    w.expect_exit(2, T(30))
    assert text in w.stderr()


def test_bare_window_number_means_leases_with_a_warning(procs, broker):
    w = start_worker(procs, broker, "g", "in", "out", "--window", "4")
    wait_joined(w)
    assert "--window N is deprecated" in w.stderr()
    stop_workers([w])


def test_other_key_refused_while_members(procs, broker):
    a = start_worker(procs, broker, "g", "in", "out", "--key", "user", name="a")
    wait_joined(a)
    b = start_worker(procs, broker, "g", "in", "out", "--key", "other", name="b")
    b.expect_exit(1, T(30))
    assert "another --key" in b.stderr()
    stop_workers([a])


def test_lua_state_counters_exact_after_kills(procs, broker, tmp_path):
    """--key with --lua: state.get/set per key. A member is killed (kill -9)
    twice mid-run; every output carries the count and total of its key's records so
    far, exactly as if nothing had died, and the last state of each key is exact."""
    script = tmp_path / "counter.lua"
    script.write_text(LUA_COUNTER)
    rnd = random.Random(5)
    data = [{"user": f"u{rnd.randrange(30)}", "seq": i, "amount": rnd.randint(1, 100)}
            for i in range(3000)]
    data[1500]["reset"] = True
    args = ["--key", "user", "--lua", str(script), "--batch", "25", "--lease", "5s"]
    live = [start_worker(procs, broker, "cnt", "in", "out", *args, name=f"w{i}")
            for i in range(2)]
    for w in live:
        wait_joined(w)
    third = len(data) // 3
    for step in range(3):
        publish(procs, broker, tmp_path, data[step * third:(step + 1) * third], f"p{step}")
        wait_stream(broker, "out", (step + 1) * third, T(120), watch=live)
        if step < 2:
            assert all(restored_any(w) for w in live), "every member works on its shares"
            victim = live[0]
            victim.kill9()
            live.remove(victim)
            w = start_worker(procs, broker, "cnt", "in", "out", *args, name=f"r{step}")
            wait_joined(w)
            live.append(w)
    stop_workers(live)
    check_lua([r["value"] for r in records(procs, broker, "out")], data)


def test_lua_state_without_key_is_an_error(procs, broker, tmp_path):
    script = tmp_path / "counter.lua"
    script.write_text(LUA_COUNTER)
    publish(procs, broker, tmp_path, [{"user": "a", "seq": 0, "amount": 1}], "in")
    w = start_worker(procs, broker, "nokey", "in", "out", "--lua", str(script))
    wait_stream(broker, "nokey.dlq", 1, T(60), watch=[w])
    stop_workers([w])
    dead = records(procs, broker, "nokey.dlq")[0]["value"]
    assert "state.get needs a keyed group" in dead["error"]


JOIN, JOINED, WORK, RESULT = 0x11, 0x12, 0x13, 0x14


def _rec(value, key=None, ts=1):
    return msgpack.packb([ts, key, None, value], use_bin_type=True)


def _raw_member(broker, group, key, shares=None):
    wire = Wire(broker.endpoint)
    cmd, _, body, _ = wire.request(HELLO, {"client": "pytest"})
    assert cmd == WELCOME
    join = {"group": group, "in": "in", "out": "out", "member": "m", "window": 1, "key": key}
    if shares:
        join["shares"] = shares
    cmd, _, body, _ = wire.request(JOIN, join)
    assert cmd == JOINED, body
    return wire


def _next_reply(wire, cmd):
    """The next message of command cmd (RESULT has no req to match an ERROR by)."""
    while True:
        got = wire.recv(T(20))
        assert got is not None, f"no 0x{cmd:02x}"
        if got[0] == cmd:
            return got


def _next_work(wire):
    return _next_reply(wire, WORK)[2]


def test_hostile_result_parts_are_checked(procs, broker, tmp_path):
    """late_count / state_count are bounded and checked against the frame; a group
    without a key refuses them; nothing of a refused RESULT is stored."""
    publish(procs, broker, tmp_path, [{"user": "a"}], "in")
    # One share: every key is the lease's (test_keyed_state.py: a key of another share).
    wire = _raw_member(broker, "hk", "user", shares=1)
    work = _next_work(wire)
    base = {"group": "hk", "lease": work["lease"], "offset": work["offset"],
            "count": work["count"], "share": work.get("share", 0)}
    bad = [
        # claims one late record the frame does not hold
        (dict(base, out_count=1, late_count=1), _rec("r")),
        # more than 65536
        (dict(base, out_count=0, state_count=70000), b""),
        # bytes after the counted records
        (dict(base, out_count=1), _rec("r") + _rec("x")),
    ]
    for body, frame in bad:
        wire.send(RESULT, body, frame)
        cmd, _, reply, _ = _next_reply(wire, ERROR)
        assert reply["code"] in (3, 6, 8), reply
    for stream in ("out", "hk.late", "hk.state"):
        assert broker.next(stream) == 0
    frame = _rec({"r": 1}) + _rec({"late": 1}) + _rec([None, []], key=b"\xa1a")
    wire.send(RESULT, dict(base, out_count=1, late_count=1, state_count=1), frame)
    wait_for(lambda: broker.next("hk.state") == 1, T(20), "state appended")
    assert broker.next("out") == 1 and broker.next("hk.late") == 1
    wire.close()
    # A group without a key refuses the parts.
    wire = _raw_member(broker, "plain", "")
    work = _next_work(wire)
    wire.send(RESULT, {"group": "plain", "lease": work["lease"], "offset": work["offset"],
                       "count": work["count"], "out_count": 0, "late_count": 1}, _rec(1))
    cmd, _, reply, _ = _next_reply(wire, ERROR)
    assert "without a key" in reply["text"], reply
    wire.close()


def test_idle_closes_a_silent_keys_windows(procs, broker, tmp_path):
    """--idle 1s: key a's window closes at the first lease processed after a has been
    silent 1 s (here: a record of key b); a record for that window is late afterwards."""
    args = ["--key", "user", "--window", "tumbling:10s", "--agg", "count", "--time", "ts",
            "--idle", "1s"]
    w = start_worker(procs, broker, "idle", "in", "out", *args)
    wait_joined(w)
    publish(procs, broker, tmp_path, [{"user": "a", "ts": 1000}], "a")
    wait_stream(broker, "idle.state", 1, T(60), watch=[w])
    assert broker.next("out") == 0
    quiet_from = time.monotonic()
    wait_for(lambda: time.monotonic() - quiet_from > 1.2, T(10), "a's idle time")
    publish(procs, broker, tmp_path, [{"user": "b", "ts": 1000}], "b")
    wait_stream(broker, "out", 1, T(60), watch=[w])
    publish(procs, broker, tmp_path, [{"user": "a", "ts": 2000}], "a2")
    wait_stream(broker, "idle.late", 1, T(60), watch=[w])
    stop_workers([w])
    out = [r["value"] for r in records(procs, broker, "out")]
    assert out == [{"key": "a", "start": 0, "end": 10000, "count": 1}]
    assert [r["value"] for r in records(procs, broker, "idle.late")] == [{"user": "a", "ts": 2000}]


def test_key_record_uses_the_records_own_key(procs, broker, tmp_path):
    lines = tmp_path / "k.jsonl"
    write_jsonl(lines, [{"k": "x", "t": 0, "v": {"n": 1}}, {"k": "y", "t": 0, "v": {"n": 2}},
                        {"k": "x", "t": 1000, "v": {"n": 3}}, {"k": "x", "t": 20000}])
    run_source(procs, broker, "in", str(lines), "--key", "k", "--no-progress")
    w = start_worker(procs, broker, "rk", "in", "out", "--key", "record", "--window",
                     "tumbling:10s", "--agg", "count,sum:v.n", "--time", "t")
    wait_stream(broker, "out", 1, T(60), watch=[w])
    stop_workers([w])
    out = records(procs, broker, "out")
    assert [(r["key"], r["timestamp"], r["value"]) for r in out] == [
        ("x", 10000, {"key": "x", "start": 0, "end": 10000, "count": 2, "sum": {"v.n": 4}})]


def test_keyed_member_takes_leases_of_65536_by_default(procs, broker, tmp_path):
    # One key, 70,000 records 1 ms apart, tumbling 10 s windows: the six windows up to
    # [50000, 60000) close, each at the first record of the next. Each lease writes one
    # state record for the one key, so the state stream counts the leases: 2 at the
    # default batch of 65,536 ([0, 65536) and the rest); 4 at 20,000, 70 at 1,000 (the
    # default of an unkeyed group).
    data = [{"user": "a", "ts": i, "amount": 1} for i in range(70_000)]
    publish(procs, broker, tmp_path, data, "in")
    w = start_worker(procs, broker, "big", "in", "out", "--key", "user", "--window",
                     "tumbling:10s", "--agg", "count", "--time", "ts")
    wait_joined(w)
    wait_stream(broker, "out", 6, T(60), watch=[w])
    wait_stream(broker, "big.state", 2, T(60), watch=[w])
    got = [r["value"] for r in records(procs, broker, "out")]
    assert got == [{"key": "a", "start": s, "end": s + 10_000, "count": 10_000}
                   for s in range(0, 60_000, 10_000)]
    assert broker.next("big.state") == 2
