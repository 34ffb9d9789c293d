"""`sluice group reset` and `sluice group delete` of a keyed group (docs/operate.md, docs/worker.md
"Reset and delete of a keyed group"): both take the group's shares (G.sN), its key states (the
broker's state table) and its changelog G.state along, in one transaction, so that a group
started again under the same name, or from the reset offset, counts every key from nothing.
A Lua counter per key shows it: a restored old state would count on from the old values.
"""

from conftest import T, wait_for
from groups_util import records, start_worker, stop_workers, wait_joined, wait_stream
from keyed_reference import LUA_COUNTER, check_lua
from test_keyed import publish
from test_operate import group_of, sluice, stat

SHARES = 2


def _data(n=300, users=5):
    return [{"user": f"u{i % users}", "seq": i, "amount": i} for i in range(n)]


def _counter(procs, broker, tmp_path, out, name, group="cnt"):
    script = tmp_path / "counter.lua"
    script.write_text(LUA_COUNTER)
    w = start_worker(procs, broker, group, "in", out, "--key", "user", "--lua", str(script),
                     "--shares", str(SHARES), "--batch", "20", "--lease", "5s", name=name)
    wait_joined(w)
    return w


def _stop(procs, broker, workers, group="cnt"):
    """Stops the members and waits until neither the group nor any share has one."""
    stop_workers(workers)

    def idle():
        doc = stat(procs, broker)
        names = [group] + [f"{group}.s{i}" for i in range(SHARES)]
        return all(group_of(doc, n)["members_total"] == 0 for n in names)
    wait_for(idle, T(30), "the members to leave the group and its shares")


def _counted_once(procs, broker, tmp_path, out):
    """A keyed Lua counter group `cnt` that counted _data() once into out, then stopped."""
    data = _data()
    w = _counter(procs, broker, tmp_path, out, "first")
    publish(procs, broker, tmp_path, data, "a")
    wait_stream(broker, out, len(data), T(120), watch=[w])
    _stop(procs, broker, [w])
    assert broker.next("cnt.state") > 0
    return data


def test_delete_of_a_keyed_group_leaves_no_state_behind(procs, broker, tmp_path):
    """After `sluice group delete cnt`, no share, no key state and no cnt.state is left: a
    new group cnt counts every key from 1 again (also after a broker restart)."""
    data = _counted_once(procs, broker, tmp_path, "out")
    deleted = sluice(procs, "group", "delete", "cnt", "-b", broker.endpoint)
    # Confirmed means committed, all of it in one transaction: a kill -9 now loses nothing of it.
    broker.kill9()
    broker.restart()
    doc = stat(procs, broker)
    assert not [g["name"] for g in doc["groups"] if g["name"].startswith("cnt")]
    assert "cnt.state" not in broker.wire.streams()
    again = _counter(procs, broker, tmp_path, "out2", "again")
    wait_stream(broker, "out2", len(data), T(120), watch=[again])
    stop_workers([again])
    check_lua([r["value"] for r in records(procs, broker, "out2")], data)
    assert "group cnt: deleted (5 key states dropped)" in deleted.stdout().decode()
    assert "restored 0 key states" in again.stderr()
    # The new group's changelog starts afresh at offset 0.
    assert broker.info("cnt.state")["first"] == 0


def test_reset_of_a_keyed_group_drops_its_key_states(procs, broker, tmp_path):
    """`sluice group reset cnt --to beginning` rewinds every share and drops the key states
    (as Kafka Streams' application reset tool deletes the changelog topics): the records
    read again are counted from nothing, exactly once."""
    data = _counted_once(procs, broker, tmp_path, "out")
    out = sluice(procs, "group", "reset", "cnt", "--to", "beginning", "-b", broker.endpoint)
    doc = stat(procs, broker)
    assert [group_of(doc, f"cnt.s{i}")["committed"] for i in range(SHARES)] == [0] * SHARES
    changes = broker.info("cnt.state")
    again = _counter(procs, broker, tmp_path, "out", "again")
    wait_stream(broker, "out", 2 * len(data), T(120), watch=[again])
    stop_workers([again])
    got = [r["value"] for r in records(procs, broker, "out")]
    check_lua(got[:len(data)], data)
    check_lua(got[len(data):], data)
    assert "(5 key states dropped)" in out.stdout().decode()
    # The changelog was emptied; its offsets count on (its readers and retention stay).
    assert changes["records"] == 0 and changes["first"] == changes["next"] > 0, changes


def test_a_share_is_not_reset_or_deleted_alone(procs, broker, tmp_path):
    """A share G.sN is part of its keyed group: reset or delete of it alone is refused (it
    would leave the share's keys with states that no longer match its checkpoint)."""
    _counted_once(procs, broker, tmp_path, "out")
    for op in (["reset", "cnt.s0", "--to", "beginning"], ["delete", "cnt.s1"]):
        refused = sluice(procs, "group", *op, "-b", broker.endpoint, code=1)
        assert "is a share of keyed group 'cnt': reset or delete 'cnt'" in refused.stderr()
    doc = stat(procs, broker)
    assert all(group_of(doc, f"cnt.s{i}")["committed"] == 300 for i in range(SHARES))


def test_reset_and_delete_wait_for_every_share_to_be_idle(procs, broker, tmp_path):
    """While a member holds shares the keyed group refuses reset and delete, and nothing of
    it changes."""
    _counter(procs, broker, tmp_path, "out", "busy")
    for op in (["reset", "cnt", "--to", "beginning"], ["delete", "cnt"]):
        refused = sluice(procs, "group", *op, "-b", broker.endpoint, code=1)
        assert "stop its workers first" in refused.stderr()
    assert group_of(stat(procs, broker), "cnt.s0") is not None


def test_delete_waits_for_a_group_reading_the_changelog(procs, broker, tmp_path):
    """cnt.state goes with cnt: while another group reads it, the delete is refused with that
    group's name, and nothing of cnt is deleted."""
    _counted_once(procs, broker, tmp_path, "out")
    w = start_worker(procs, broker, "obs", "cnt.state", "seen", "--map", "value", name="obs")
    wait_joined(w)
    stop_workers([w])
    refused = sluice(procs, "group", "delete", "cnt", "-b", broker.endpoint, code=1)
    assert "group 'obs' reads or writes 'cnt.state': delete that group first" in \
        refused.stderr()
    assert group_of(stat(procs, broker), "cnt.s0") is not None
    assert broker.info("cnt.state")["records"] > 0
    sluice(procs, "group", "delete", "obs", "-b", broker.endpoint)
    sluice(procs, "group", "delete", "cnt", "-b", broker.endpoint)
    assert "cnt.state" not in broker.wire.streams()
