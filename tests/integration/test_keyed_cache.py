"""The keyed member's bounded state cache (docs/worker.md "State: how big it may grow").

With `--state-cache 100` and tens of thousands of keys, nearly every record's key
state has to be written out to the member's local LMDB store and read back: the
results must still be exactly the reference's (tests/lib/keyed_reference.py), with
kill -9 and restarts, and --idle must still close the windows of keys not in RAM.
"""

import random
import re
import time

import pytest

from conftest import T, run_source, wait_for, write_jsonl
from groups_util import (records, start_worker, stop_workers, wait_joined, wait_stream,
                         worker_args)
from keyed_reference import AGGS, LUA_COUNTER, check_lua, check_windows, generate, reference


def publish(procs, broker, tmp_path, part, name):
    run_source(procs, broker, "in", str(write_jsonl(tmp_path / f"{name}.jsonl", part)),
               "--no-progress")


def cache_stats(proc):
    """(in memory, in the store, written out, read back) from a stopped member's log."""
    m = re.findall(r"state cache: (\d+) key states in memory, (\d+) in the local store; "
                   r"(\d+) written out, (\d+) read back", proc.stderr())
    assert m, proc.stderr()[-2000:]
    return tuple(int(x) for x in m[-1])


def start_cached(procs, broker, group, tmp, args, name):
    """A member whose $TMPDIR is tmp (to see what its local store leaves there)."""
    tmp.mkdir(exist_ok=True)
    return procs.start(name, worker_args(broker, group, "in", "out", *args),
                       env={"TMPDIR": str(tmp)})


def test_windows_with_20000_keys_and_a_cache_of_100(procs, broker, tmp_path):
    """20,000 keys through a member holding 100 in RAM; it is killed (kill -9) with
    windows open, two members take over. Results and late records are the reference's;
    the local store leaves nothing in $TMPDIR, even after kill -9."""
    data = generate(30000, keys=20000, seed=13)
    expected, late = reference(data, "tumbling", 5000, size=10000, adv=10000)
    cut = len(data) // 2
    first, _ = reference(data[:cut], "tumbling", 5000, size=10000, adv=10000)
    args = ["--key", "user", "--window", "tumbling:10s", "--agg", AGGS, "--time", "ts",
            "--lateness", "5s", "--batch", "500", "--lease", "20s", "--state-cache", "100"]
    tmp = tmp_path / "tmp"
    w = start_cached(procs, broker, "win", tmp, args, "w0")
    wait_joined(w)
    # The store's files are unlinked once open: nothing in $TMPDIR while it runs.
    assert list(tmp.iterdir()) == []
    publish(procs, broker, tmp_path, data[:cut], "first")
    wait_stream(broker, "out", len(first), T(300), watch=[w])
    w.kill9()
    assert list(tmp.iterdir()) == [], "a killed member left its store behind"
    live = [start_cached(procs, broker, "win", tmp, args, f"new{i}") for i in range(2)]
    for m in live:
        wait_joined(m)
    publish(procs, broker, tmp_path, data[cut:], "second")
    wait_stream(broker, "out", len(expected), T(300), watch=live)
    wait_stream(broker, "win.late", len(late), T(120), watch=live)
    stop_workers(live)
    got_late = [r["value"] for r in records(procs, broker, "win.late")]
    check_windows(records(procs, broker, "out"), expected, got_late, late)
    stats = [cache_stats(m) for m in live]
    # At most the cache in RAM after the last lease; the rest went to the store and back.
    assert all(s[0] <= 100 for s in stats), stats
    assert sum(s[1] for s in stats) > 1000, stats
    assert sum(s[2] for s in stats) > 1000 and sum(s[3] for s in stats) > 1000, stats
    assert list(tmp.iterdir()) == []


def test_lua_counters_with_20000_keys_and_a_cache_of_100(procs, broker, tmp_path):
    """--lua with state.get/set over 20,000 keys, 100 held in RAM; kill -9 mid-run and a
    restart: every counter is exact, per key in order."""
    script = tmp_path / "counter.lua"
    script.write_text(LUA_COUNTER)
    rnd = random.Random(21)
    data = [{"user": f"u{rnd.randrange(20000)}", "seq": i, "amount": rnd.randint(1, 100)}
            for i in range(40000)]
    data[20000]["reset"] = True
    args = ["--key", "user", "--lua", str(script), "--batch", "500", "--lease", "20s",
            "--state-cache", "100"]
    tmp = tmp_path / "tmp"
    w = start_cached(procs, broker, "cnt", tmp, args, "w0")
    wait_joined(w)
    half = len(data) // 2
    publish(procs, broker, tmp_path, data[:half], "p0")
    wait_stream(broker, "out", half, T(300), watch=[w])
    w.kill9()
    w = start_cached(procs, broker, "cnt", tmp, args, "w1")
    wait_joined(w)
    publish(procs, broker, tmp_path, data[half:], "p1")
    wait_stream(broker, "out", len(data), T(300), watch=[w])
    stop_workers([w])
    check_lua([r["value"] for r in records(procs, broker, "out")], data)
    in_ram, stored, out, back = cache_stats(w)
    assert in_ram <= 100 and stored > 1000 and back > 1000, (in_ram, stored, out, back)


def test_idle_closes_windows_of_keys_in_the_store(procs, broker, tmp_path):
    """--state-cache 2 and --idle 1s: keys a..d have open windows, a and b only in the
    store. After 1 s of silence a record of e closes all four; a record for a's closed
    window is late afterwards."""
    args = ["--key", "user", "--window", "tumbling:10s", "--agg", "count", "--time", "ts",
            "--idle", "1s", "--state-cache", "2"]
    w = start_worker(procs, broker, "idle", "in", "out", *args)
    wait_joined(w)
    publish(procs, broker, tmp_path, [{"user": u, "ts": 1000} for u in "abcd"], "abcd")
    wait_stream(broker, "idle.state", 4, T(60), watch=[w])
    assert broker.next("out") == 0
    quiet_from = time.monotonic()
    wait_for(lambda: time.monotonic() - quiet_from > 1.2, T(10), "the keys' idle time")
    publish(procs, broker, tmp_path, [{"user": "e", "ts": 1000}], "e")
    wait_stream(broker, "out", 4, T(60), watch=[w])
    publish(procs, broker, tmp_path, [{"user": "a", "ts": 2000}], "a2")
    wait_stream(broker, "idle.late", 1, T(60), watch=[w])
    stop_workers([w])
    out = sorted((r["value"] for r in records(procs, broker, "out")), key=lambda v: v["key"])
    assert out == [{"key": k, "start": 0, "end": 10000, "count": 1} for k in "abcd"]
    assert [r["value"] for r in records(procs, broker, "idle.late")] == [{"user": "a", "ts": 2000}]
    assert cache_stats(w)[3] >= 2, "a and b were read back from the store"


@pytest.mark.parametrize("value", ["0", "-1", "many", "2000000000"])
def test_bad_state_cache_is_refused(procs, broker, value):
    w = start_worker(procs, broker, "g", "in", "out", "--key", "u", "--window", "tumbling:1s",
                     "--state-cache", value)
    w.expect_exit(2, T(30))
    assert "--state-cache" in w.stderr()


def test_bad_state_cache_in_the_environment_is_refused(procs, broker):
    w = procs.start("w", worker_args(broker, "g", "in", "out", "--key", "u", "--window",
                                     "tumbling:1s"), env={"SLUICE_STATE_CACHE": "0"})
    w.expect_exit(2, T(30))
    assert "SLUICE_STATE_CACHE" in w.stderr() or "--state-cache" in w.stderr()


def test_unusable_tmpdir_is_a_fatal_error(procs, broker, tmp_path):
    """The local store cannot be made: the member says where and exits 1 before joining."""
    w = procs.start("w", worker_args(broker, "g", "in", "out", "--key", "u", "--window",
                                     "tumbling:1s"),
                    env={"TMPDIR": str(tmp_path / "missing")})
    w.expect_exit(1, T(30))
    assert "cannot make" in w.stderr() and str(tmp_path / "missing") in w.stderr()
    assert " joined group " not in w.stderr()
