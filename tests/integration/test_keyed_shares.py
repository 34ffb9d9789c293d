"""Keyed groups cut into shares of the key space (docs/worker.md "What moves on
rebalance"): several members work in parallel, each on the shares the broker gave
it; a share moves only when its owner leaves or dies, or to balance a join; results
stay exactly once and each key's in offset order.

The data and the independent Python reference are test_keyed.py's.
"""

import collections
import re

import pytest

from conftest import ERROR, HELLO, WELCOME, T, Wire, wait_for
from groups_util import records, start_worker, stop_workers, wait_joined, wait_stream
from test_keyed import (JOIN, JOINED, RESULT, WORK, _next_reply, _rec, check, generate,
                        keyed_args, publish, reference)

MOVE = re.compile(r"keyed group '(\S+)': share (\d+) to member '(\S+)'")


def moves(broker, group="win"):
    """[(share, member)] in the order the broker handed shares over."""
    return [(int(s), m) for g, s, m in MOVE.findall(broker.proc.stderr()) if g == group]


def owners(broker, group="win"):
    """share -> its member now, from the broker's log."""
    return dict(moves(broker, group))


def out_count(proc):
    """Records a stopped member wrote (its exit line)."""
    found = re.findall(r"records in, (\d+) out", proc.stderr())
    assert found, proc.stderr()[-2000:]
    return int(found[-1])


def start_members(procs, broker, names, args, group="win"):
    workers = [start_worker(procs, broker, group, "in", "out", *args, "--member", n, name=n)
               for n in names]
    for w in workers:
        wait_joined(w)
    return workers


@pytest.mark.parametrize("members", [2, 3])
def test_members_work_in_parallel(procs, broker, tmp_path, members):
    """All members join first, then the input comes: each owns S/n shares (S = 16
    here), each writes results, and together they write the reference's exactly once."""
    data = generate(3000, keys=60, seed=21)
    expected, late = reference(data, "tumbling", 2000, size=5000, adv=5000)
    args = keyed_args("tumbling:5s", "2s", 50) + ["--shares", "16"]
    names = [f"w{i}" for i in range(members)]
    workers = start_members(procs, broker, names, args)
    wait_for(lambda: set(owners(broker).values()) == set(names) and len(owners(broker)) == 16,
             T(30), "every member owns shares")
    load = collections.Counter(owners(broker).values())
    assert max(load.values()) - min(load.values()) <= 1, load
    publish(procs, broker, tmp_path, data, "in")
    wait_stream(broker, "out", len(expected), T(120), watch=workers)
    wait_stream(broker, "win.late", len(late), T(60), watch=workers)
    stop_workers(workers)
    counts = {w.label: out_count(w) for w in workers}
    assert all(n > 0 for n in counts.values()), f"a member wrote nothing: {counts}"
    check(procs, broker, data, expected, late)


def test_kill9_mid_window_moves_only_the_dead_members_shares(procs, broker, tmp_path):
    """Three members; one is killed (kill -9) with windows open: only its shares move
    (to the two others), and every (key, window) result is still there exactly once."""
    data = generate(3000, keys=40, seed=22)
    expected, late = reference(data, "tumbling", 2000, size=5000, adv=5000)
    args = keyed_args("tumbling:5s", "2s", 40) + ["--shares", "16"]
    workers = start_members(procs, broker, ["w0", "w1", "w2"], args)
    wait_for(lambda: len(set(owners(broker).values())) == 3, T(30), "three owners")
    publish(procs, broker, tmp_path, data[:1500], "a")
    done, _ = reference(data[:1500], "tumbling", 2000, size=5000, adv=5000)
    wait_stream(broker, "out", len(done) // 2, T(120), watch=workers)
    before = owners(broker)
    n_moves = len(moves(broker))
    victim = workers[1]
    victim.kill9()
    live = [workers[0], workers[2]]
    gone = {s for s, m in before.items() if m == "w1"}
    wait_for(lambda: all(owners(broker)[s] != "w1" for s in gone), T(30),
             "the dead member's shares moved")
    after = owners(broker)
    moved = {s for s, _ in moves(broker)[n_moves:]}
    assert moved == gone, f"moved {sorted(moved)}, the dead member owned {sorted(gone)}"
    assert all(after[s] == before[s] for s in before if s not in gone), "a live owner's share moved"
    publish(procs, broker, tmp_path, data[1500:], "b")
    wait_stream(broker, "out", len(expected), T(120), watch=live)
    wait_stream(broker, "win.late", len(late), T(60), watch=live)
    stop_workers(live)
    assert all(out_count(w) > 0 for w in live)
    check(procs, broker, data, expected, late)


def test_join_mid_run_takes_only_some_shares(procs, broker, tmp_path):
    """Two members are working when a third joins: it takes 5 of the 16 shares (from
    both), nothing else moves, and the results are exactly once."""
    data = generate(3000, keys=40, seed=23)
    expected, late = reference(data, "tumbling", 2000, size=5000, adv=5000)
    args = keyed_args("tumbling:5s", "2s", 40) + ["--shares", "16"]
    workers = start_members(procs, broker, ["w0", "w1"], args)
    wait_for(lambda: len(set(owners(broker).values())) == 2, T(30), "two owners")
    publish(procs, broker, tmp_path, data[:1500], "a")
    done, _ = reference(data[:1500], "tumbling", 2000, size=5000, adv=5000)
    wait_stream(broker, "out", len(done) // 2, T(120), watch=workers)
    before = owners(broker)
    n_moves = len(moves(broker))
    workers += start_members(procs, broker, ["w2"], args)
    wait_for(lambda: sum(1 for m in owners(broker).values() if m == "w2") == 5, T(60),
             "the joiner took its shares")
    new = moves(broker)[n_moves:]
    assert len(new) == 5 and all(m == "w2" for _, m in new), new
    assert {before[s] for s, _ in new} == {"w0", "w1"}, "taken from both"
    publish(procs, broker, tmp_path, data[1500:], "b")
    wait_stream(broker, "out", len(expected), T(120), watch=workers)
    wait_stream(broker, "win.late", len(late), T(60), watch=workers)
    stop_workers(workers)
    assert all(out_count(w) > 0 for w in workers), [out_count(w) for w in workers]
    check(procs, broker, data, expected, late)


def test_per_key_order_without_windows_in_parallel(procs, broker, tmp_path):
    """--key with a stateless operator: three members each pass their shares' records
    through, all three write, each record once, each key's in input order."""
    data = [{"user": f"u{i % 23}", "seq": i} for i in range(4000)]
    workers = start_members(procs, broker, ["w0", "w1", "w2"],
                            ["--key", "user", "--batch", "50"], group="ord")
    wait_for(lambda: len(set(owners(broker, "ord").values())) == 3, T(30), "three owners")
    publish(procs, broker, tmp_path, data, "in")
    wait_stream(broker, "out", len(data), T(120), watch=workers)
    stop_workers(workers)
    assert all(out_count(w) > 0 for w in workers), [out_count(w) for w in workers]
    got = [r["value"] for r in records(procs, broker, "out")]
    assert sorted(v["seq"] for v in got) == list(range(len(data)))
    seqs = collections.defaultdict(list)
    for v in got:
        seqs[v["user"]].append(v["seq"])
    for k, seq in seqs.items():
        assert seq == sorted(seq), f"key {k} out of order"


def _join(broker, group, key, **extra):
    wire = Wire(broker.endpoint)
    cmd, _, body, _ = wire.request(HELLO, {"client": "pytest"})
    assert cmd == WELCOME
    cmd, _, body, _ = wire.request(JOIN, {"group": group, "in": "in", "out": "out",
                                          "member": "m", "window": 1, "key": key, **extra})
    return wire, cmd, body


def test_shares_fixed_at_creation_and_bounded(procs, broker):
    """--shares sets a new group's count; a JOIN asking for another count while it
    exists, more than 256, or shares without a key gets EINVAL / a decode error; once
    it has no members, a JOIN without a key is refused too."""
    a = start_worker(procs, broker, "g4", "in", "out", "--key", "user", "--shares", "4",
                     name="a")
    wait_joined(a)
    wait_for(lambda: len(owners(broker, "g4")) == 4, T(30), "4 shares handed out")
    for extra, key in (({"shares": 8}, "user"), ({"shares": 300}, "user"), ({"shares": 4}, "")):
        wire, cmd, body = _join(broker, "g4", key, **extra)
        assert cmd == ERROR, body
        wire.close()
    stop_workers([a])
    # Without members, a JOIN without a key would start the group over: refused.
    wire, cmd, body = _join(broker, "g4", "")
    assert cmd == ERROR and "the group is keyed" in body["text"], body
    wire.close()
    w = start_worker(procs, broker, "g", "in", "out", "--shares", "4")
    w.expect_exit(2, T(30))
    assert "--shares needs --key" in w.stderr()


def test_hostile_result_for_a_share_out_of_range(procs, broker, tmp_path):
    """A RESULT naming a share the group does not have is refused (EPROTO) and
    stores nothing; one naming another share than its lease's is not committed."""
    publish(procs, broker, tmp_path, [{"user": "a"}], "in")
    wire, cmd, body = _join(broker, "hs", "user", shares=2)
    assert cmd == JOINED, body
    work = _next_reply(wire, WORK)[2]
    work.setdefault("share", 0)     # 0 may be left out, as every optional 0
    assert work["shares"] == 2 and work["share"] in (0, 1)
    base = {"group": "hs", "lease": work["lease"], "offset": work["offset"],
            "count": work["count"], "out_count": 1}
    wire.send(RESULT, dict(base, share=2), _rec("r"))
    cmd, _, reply, _ = _next_reply(wire, ERROR)
    assert "no such share" in reply["text"], reply
    wire.send(RESULT, dict(base, share=1 - work["share"]), _rec("r"))
    wire.send(RESULT, dict(base, share=work["share"]), _rec("ok"))
    wait_for(lambda: broker.next("out") == 1, T(20), "the right share's result committed")
    assert [r["value"] for r in records(procs, broker, "out")] == ["ok"]
    wire.close()


def test_keyed_group_counts_its_shares_in_max_groups(procs, make_broker):
    """A new keyed group brings S share groups: with --max-groups 10, 16 shares are
    refused (ELIMIT, saying why) and the default 4 fit."""
    broker = make_broker(args=["--max-groups", "10"])
    wire, cmd, body = _join(broker, "big", "user", shares=16)
    assert cmd == ERROR and "counts 1 + its shares" in body["text"], body
    wire.close()
    wire, cmd, body = _join(broker, "small", "user")
    assert cmd == JOINED, body
    from test_operate import group_of, stat
    doc = stat(procs, broker)
    assert [g["name"] for g in doc["groups"]] == ["small"] + [f"small.s{i}" for i in range(4)]
    wire.close()


def test_broker_restart_keeps_shares_and_exactly_once(procs, broker, tmp_path):
    """The broker is killed (kill -9) mid-run and restarted: the group keeps the share
    count it was created with (the members' JOINs ask for none), each share resumes at
    its own checkpoint, and the results are exactly once."""
    data = generate(2000, keys=30, seed=24)
    expected, late = reference(data, "tumbling", 2000, size=5000, adv=5000)
    args = keyed_args("tumbling:5s", "2s", 40)
    workers = start_members(procs, broker, ["w0"], args + ["--shares", "6"])
    workers += start_members(procs, broker, ["w1"], args)
    wait_for(lambda: len(owners(broker)) == 6, T(30), "6 shares handed out")
    publish(procs, broker, tmp_path, data[:1000], "a")
    done, _ = reference(data[:1000], "tumbling", 2000, size=5000, adv=5000)
    wait_stream(broker, "out", len(done) // 2, T(120), watch=workers)
    broker.kill9()
    broker.restart()
    for w in workers:
        wait_joined(w, times=2, timeout=T(60))
    wait_for(lambda: len(owners(broker)) == 6, T(30), "the 6 shares handed out again")
    assert "keyed group 'win': 6 shares" in broker.proc.stderr()
    publish(procs, broker, tmp_path, data[1000:], "b")
    wait_stream(broker, "out", len(expected), T(120), watch=workers)
    wait_stream(broker, "win.late", len(late), T(60), watch=workers)
    stop_workers(workers)
    check(procs, broker, data, expected, late)


def test_group_reset_and_delete_take_the_shares_along(procs, broker, tmp_path):
    """`sluice group reset/delete G` of a keyed group acts on its shares G.sN too: a reset
    one rewinds every share's checkpoint, a deleted one leaves no share behind, and
    publishing to its input afterwards is harmless."""
    from test_operate import group_of, sluice, stat
    data = [{"user": f"u{i % 7}", "seq": i} for i in range(200)]
    workers = start_members(procs, broker, ["w0", "w1"], ["--key", "user", "--shares", "3"],
                            group="kg")
    publish(procs, broker, tmp_path, data, "in")
    wait_stream(broker, "out", len(data), T(60), watch=workers)
    stop_workers(workers)
    wait_for(lambda: all(group_of(stat(procs, broker), f"kg.s{i}")["members_total"] == 0
                         for i in range(3)), T(30), "the members to leave every share")
    doc = stat(procs, broker)
    assert all(group_of(doc, f"kg.s{i}")["committed"] == 200 for i in range(3))
    # The keyed group's own progress is its slowest share's.
    assert (group_of(doc, "kg")["committed"], group_of(doc, "kg")["lag_records"]) == (200, 0)
    sluice(procs, "group", "reset", "kg", "--to", "beginning", "-b", broker.endpoint)
    doc = stat(procs, broker)
    assert [group_of(doc, f"kg.s{i}")["committed"] for i in range(3)] == [0, 0, 0]
    assert group_of(doc, "kg")["lag_records"] == 200
    sluice(procs, "group", "delete", "kg", "-b", broker.endpoint)
    doc = stat(procs, broker)
    assert not [g["name"] for g in doc["groups"] if g["name"].startswith("kg")]
    publish(procs, broker, tmp_path, data[:5], "more")
    assert broker.next("in") == 205
