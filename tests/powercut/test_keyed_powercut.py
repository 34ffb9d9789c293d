"""Keyed groups through power cuts (issue 13, docs/worker.md "Keyed groups and windows"): the
broker's data directory on cutfs, a source publishing an event-time data set with out-of-order
and late records, two members of a windowed keyed group and two of a keyed Lua group keeping
per-key counters. At random moments the power goes for the whole machine (every program
killed -9, the unsynced pages dropped or partly written back in random order) and everything
starts again. At the end the window results are the independent Python reference's
(tests/lib/keyed_reference.py), each exactly once; GROUP.late holds exactly the late records;
the Lua counters count every input exactly once: the results, the state changes and the acks
of a lease commit in one synced transaction, and a member taking over a share restores it
from what was committed."""

import random

from sluice_it import SOURCE_BIN, WORKER_BIN, T, read_stream, wait_for, write_jsonl

from keyed_reference import AGGS, LUA_COUNTER, check_lua, check_windows, generate, reference


def _plan(rng):
    """Mostly partial writeback of a random fraction in random order; sometimes all dropped."""
    if rng.random() < 0.2:
        return {"mode": "drop"}
    return {"mode": "partial", "seed": rng.getrandbits(32), "fraction": rng.random()}


def _cut(broker, disk, plan, others):
    broker.close()
    for proc in (broker.proc, *others):
        proc.kill9()
    report = disk.cut(plan)
    disk.mount()
    broker.restart()
    return report


def test_keyed_windows_and_lua_state_through_power_cuts(disk, make_broker, procs, tmp_path,
                                                        cuts, seed):
    rng = random.Random(seed)
    n = 4_000 * cuts
    data = generate(n, keys=150, seed=seed, span_ms=50 * n)
    data[n // 2]["reset"] = True            # one Lua state deleted (nil) midway
    expected, late = reference(data, "tumbling", 5000, size=10000, adv=10000)
    assert late and len(expected) > n // 20
    path = write_jsonl(tmp_path / "in.jsonl", data)
    script = tmp_path / "counter.lua"
    script.write_text(LUA_COUNTER)
    broker = make_broker(data_dir=disk.mnt / "data")
    wargs = {
        "win": ["--out", "out", "--key", "user", "--window", "tumbling:10s", "--agg", AGGS,
                "--time", "ts", "--lateness", "5s"],
        "cnt": ["--out", "cnt.out", "--key", "user", "--lua", str(script)],
    }

    def start_all(generation):
        run = {"source": procs.start(f"source{generation}", [
            SOURCE_BIN, "--broker", broker.endpoint, "--stream", "in", "--name", "k-src",
            "--rate", "4000", "--batch-records", "200", "--no-progress", path])}
        for group, args in wargs.items():
            for m in range(2):
                run[f"{group}{m}"] = procs.start(
                    f"{group}{m}-{generation}",
                    [WORKER_BIN, "--broker", broker.endpoint, "--group", group, "--in", "in",
                     *args, "--batch", "300", "--lease", "5s"])
        return run

    def progress():
        return broker.next("cnt.out") + broker.next("out")

    running = start_all(0)
    done = 0
    for i in range(cuts):
        # Cut when the members have committed more since the last start (so that each cut
        # falls with windows open and states changed), at a random point of the input.
        target_in = min(n - 1, broker.next("in") + rng.randint(500, 4_000))
        target_out = progress() + 1
        wait_for(lambda: (broker.next("in") >= target_in and progress() >= target_out)
                 or not running["source"].alive(), T(120), f"progress before cut {i + 1}")
        for name, proc in running.items():
            assert name == "source" or proc.alive(), \
                f"{name} exited {proc.returncode}: {proc.stderr()[-3000:]}"
        if not running["source"].alive():
            break
        report = _cut(broker, disk, _plan(rng), [p for p in running.values() if p.alive()])
        done += 1
        print(f"cut {i + 1}: {report}; in {broker.next('in')}, out {broker.next('out')}, "
              f"cnt.out {broker.next('cnt.out')}, win.state {broker.next('win.state')}")
        running = start_all(i + 1)
    assert done >= max(1, cuts // 2), f"only {done} cuts before the source finished"
    running["source"].expect_exit(0, T(300))
    watch = [p for name, p in running.items() if name != "source"]

    def finished():
        for proc in watch:
            assert proc.alive(), f"{proc.label} exited {proc.returncode}: " \
                                 f"{proc.stderr()[-3000:]}"
        return (broker.next("out") >= len(expected) and broker.next("win.late") >= len(late)
                and broker.next("cnt.out") >= n)
    wait_for(finished, T(300), "every window, late record and Lua output")
    # One more cut with everything done: what was committed stays (--sync=full).
    _cut(broker, disk, _plan(rng), watch)
    assert broker.next("in") == n
    print(f"seed {seed}, {done} cuts: {len(expected)} windows, {len(late)} late, "
          f"win.state {broker.next('win.state')}, cnt.state {broker.next('cnt.state')}")
    got_late = [r["value"] for r in read_stream(procs, broker, "win.late")]
    check_windows(read_stream(procs, broker, "out"), expected, got_late, late)
    check_lua([r["value"] for r in read_stream(procs, broker, "cnt.out")], data)
