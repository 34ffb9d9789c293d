"""Worker groups (docs/PROTOCOL.md §14, docs/worker.md): exactly-once output through member and
broker crashes, retries and dead letters, elastic membership, fan-out, bounded memory."""

import json

import pytest

from conftest import (BROKER_BIN, WORKER_BIN, T, run_source, start_source, wait_for,
                      write_jsonl)
from groups_util import (PLUGIN_UPPERCASE, assert_exactly_once, broker_group_stats,
                         exec_script, joins, records, start_worker, stop_workers, values, vm_kib,
                         wait_joined, wait_stream)


# ASan/UBSan builds carry the runtime's symbols; their memory use is not the broker's own.
SANITIZED = BROKER_BIN.exists() and b"__asan_init" in BROKER_BIN.read_bytes()


def _generate(procs, broker, stream, n, *args):
    """n records {"id": i, "sensor": "s-<i%16>", ...} in a fresh stream: id i is offset i."""
    run_source(procs, broker, stream, "--generate", str(n), "--no-progress", *args,
               timeout=T(120))
    assert broker.next(stream) == n


def _busy_map(cost):
    """A --map expression costing `cost` Lua loop steps per record: it keeps a member
    inside its lease most of the time, so that a kill lands mid-batch."""
    return (f"(function() local s = 0 for i = 1, {cost} do s = s + i end "
            f"return {{id = id, a = id * 2}} end)()")


def _as_set(vals):
    """Values as a sorted list of their JSON texts: equal when equal as multisets."""
    return sorted(json.dumps(v, sort_keys=True) for v in vals)


def _dead_letters(procs, broker, group):
    return records(procs, broker, f"{group}.dlq")


# ---------------------------------------------------------------- 1

def test_two_stage_pipeline_exactly_once_through_member_kills(procs, make_broker):
    broker = make_broker()
    n = 100_000
    _generate(procs, broker, "in", n)
    a_args = ("--map", _busy_map(2000))
    b_args = ("--filter", "id % 3 ~= 0")
    group_a = [start_worker(procs, broker, "A", "in", "mid", *a_args, name=f"a{i}")
               for i in range(3)]
    group_b = [start_worker(procs, broker, "B", "mid", "out", *b_args, name=f"b{i}")
               for i in range(2)]
    for w in group_a + group_b:
        wait_joined(w)

    # kill -9 a member of A (a different one each time) while A still has a backlog,
    # and start a replacement each time.
    kills = []
    live_a = list(group_a)
    for threshold in (10_000, 30_000, 50_000):
        wait_stream(broker, "mid", threshold, T(120), watch=live_a + group_b)
        victim = live_a.pop(0)
        at = broker.next("mid")
        victim.kill9()
        kills.append(at)
        fresh = start_worker(procs, broker, "A", "in", "mid", *a_args,
                             name=f"a{len(group_a)}")
        group_a.append(fresh)
        live_a.append(fresh)
    assert all(at < n for at in kills), f"A had finished before a kill: mid was at {kills}"

    expected_out = [i for i in range(n) if i % 3 != 0]
    wait_stream(broker, "mid", n, T(180), watch=live_a + group_b)
    wait_stream(broker, "out", len(expected_out), T(180), watch=live_a + group_b)
    stop_workers(live_a + group_b)

    mid = values(procs, broker, "mid")
    assert_exactly_once([v["id"] for v in mid], range(n), "group A's output")
    assert all(v["a"] == 2 * v["id"] for v in mid), "group A's map was not applied"
    out = values(procs, broker, "out")
    assert_exactly_once([v["id"] for v in out], expected_out, "group B's output")
    assert broker.next("A.dlq") == 0 and broker.next("B.dlq") == 0, "records were dead-lettered"

    # The kills really cost leases: every killed member held work it never answered
    # (handed out again by the broker), so more WORK went out than RESULTs came back.
    broker.close()
    assert broker.stop() == 0
    sent, results, _, dead = broker_group_stats(broker.proc)
    assert sent - results >= len(kills), (f"{sent} WORK sent, {results} RESULTs: the kills did "
                                          "not interrupt any lease")
    assert dead == 0


# ---------------------------------------------------------------- 2

POISON_LUA = """
function process(r)
  if r.value.id == 4242 then
    error("poison record " .. r.value.id)
  end
  return r
end
"""


def test_poison_record_dead_lettered_after_max_deliver(procs, broker, tmp_path):
    n = 10_000
    _generate(procs, broker, "in", n, "--key", "sensor")
    script = tmp_path / "poison.lua"
    script.write_text(POISON_LUA)
    workers = [start_worker(procs, broker, "P", "in", "out", "--lua", script, "--max-deliver",
                            "3", name=f"p{i}") for i in range(2)]
    wait_stream(broker, "out", n - 1, T(60), watch=workers)
    wait_stream(broker, "P.dlq", 1, T(60), watch=workers)
    stop_workers(workers)

    out = values(procs, broker, "out")
    assert_exactly_once([v["id"] for v in out], [i for i in range(n) if i != 4242])
    original = records(procs, broker, "in")[4242]
    assert original["offset"] == 4242 and original["value"]["id"] == 4242
    dlq = _dead_letters(procs, broker, "P")
    assert len(dlq) == 1, f"{len(dlq)} dead letters: {dlq}"
    letter = dlq[0]
    assert letter["key"] == original["key"] == "s-2", "the dead letter keeps the original key"
    v = letter["value"]
    assert set(v) == {"error", "attempts", "group", "stream", "offset", "record"}, v
    assert "poison record 4242" in v["error"], v["error"]
    assert "poison.lua:4:" in v["error"], f"a Lua error names file and line: {v['error']}"
    assert v["attempts"] == 3
    assert (v["group"], v["stream"], v["offset"]) == ("P", "in", 4242)
    assert v["record"] == {"timestamp": original["timestamp"], "key": "s-2", "headers": None,
                           "value": original["value"]}


# ---------------------------------------------------------------- 3

FAIL_LUA = """
function process(r)
  if r.value.name == "n321" then
    sluice.fail("refusing " .. r.value.name)
  end
  return r
end
"""


@pytest.mark.parametrize("kind", ["lua", "plugin"])
def test_fail_is_dead_lettered_at_once(procs, broker, tmp_path, kind):
    n = 1000
    inputs = [{"name": f"n{i}", "i": i} for i in range(n)]
    run_source(procs, broker, "in", str(write_jsonl(tmp_path / "in.jsonl", inputs)))
    if kind == "lua":
        script = tmp_path / "fail.lua"
        script.write_text(FAIL_LUA)
        op = ["--lua", script]
        error = "refusing n321"
    else:
        if not PLUGIN_UPPERCASE.exists():
            pytest.skip(f"{PLUGIN_UPPERCASE} not built")
        op = ["--plugin", PLUGIN_UPPERCASE, "--option", "field=name", "--option",
              "fail_on=n321"]
        error = "uppercase: name is 'n321' (fail_on)"
    w = start_worker(procs, broker, "F", "in", "out", *op, "--max-deliver", "5")
    wait_stream(broker, "out", n - 1, T(60), watch=[w])
    wait_stream(broker, "F.dlq", 1, T(60), watch=[w])
    stop_workers([w])

    out = values(procs, broker, "out")
    assert_exactly_once([v["i"] for v in out], [i for i in range(n) if i != 321])
    if kind == "plugin":
        assert all(v["name"] == f"N{v['i']}" for v in out), "the plugin did not run"
    dlq = _dead_letters(procs, broker, "F")
    assert len(dlq) == 1, dlq
    v = dlq[0]["value"]
    assert v["error"] == error
    assert v["attempts"] == 1, f"FAIL was retried: {v}"
    assert v["offset"] == 321 and v["record"]["value"] == inputs[321]


# ---------------------------------------------------------------- 4

TAGGER = """
name = sys.argv[1]
for line in sys.stdin:
    v = json.loads(line)
    time.sleep(0.002)
    print(json.dumps([{"id": v["id"], "by": name}]), flush=True)
"""


def test_member_added_mid_run_takes_a_share(procs, broker, tmp_path):
    n = 2000
    _generate(procs, broker, "in", n)
    command = exec_script(tmp_path / "tagger.py", TAGGER)
    # Small leases, so that a new member finds work to take while the first is busy.
    common = ("--batch", "20")
    m1 = start_worker(procs, broker, "S", "in", "out", "--exec", command + " m1", *common,
                      "--member", "m1")
    wait_stream(broker, "out", 200, T(60), watch=[m1])
    m2 = start_worker(procs, broker, "S", "in", "out", "--exec", command + " m2", *common,
                      "--member", "m2")
    wait_joined(m2)
    at_join = broker.next("out")
    assert at_join < n * 3 // 4, f"m1 was nearly done ({at_join}) before m2 joined"
    wait_stream(broker, "out", n, T(120), watch=[m1, m2])
    stop_workers([m1, m2])

    out = values(procs, broker, "out")
    assert_exactly_once([v["id"] for v in out], range(n))
    by = {"m1": 0, "m2": 0}
    for v in out:
        by[v["by"]] += 1
    remaining = n - at_join
    # Both members are equally fast (2 ms per record), so m2 should take about half of
    # what was left when it joined; a quarter leaves room for its start-up.
    assert by["m2"] >= remaining // 4, (f"m2 processed {by['m2']} of the {remaining} records "
                                        f"left when it joined (m1: {by['m1']})")
    assert by["m1"] >= at_join


# ---------------------------------------------------------------- 5

def test_broker_kill9_and_restart_mid_run(procs, make_broker):
    broker = make_broker()
    n = 30_000
    _generate(procs, broker, "in", n)
    workers = [start_worker(procs, broker, "R", "in", "out", "--map", _busy_map(3000),
                            name=f"r{i}") for i in range(2)]
    wait_stream(broker, "out", n // 4, T(60), watch=workers)
    at_kill = broker.next("out")
    assert at_kill < n, "the group finished before the broker was killed"
    broker.close()
    broker.kill9()
    broker.restart()
    wait_stream(broker, "out", n, T(180), watch=workers)
    for w in workers:
        assert joins(w) >= 2, f"{w.label} did not join again:\n{w.stderr()[-2000:]}"
    stop_workers(workers)
    out = values(procs, broker, "out")
    assert_exactly_once([v["id"] for v in out], range(n))
    assert all(v["a"] == 2 * v["id"] for v in out)
    assert broker.next("R.dlq") == 0


# ---------------------------------------------------------------- 6

CRASHER = """
with open(sys.argv[1], "a") as f:
    f.write(f"{os.getpid()}\\n")
for line in sys.stdin:
    v = json.loads(line)
    if v["id"] == 777:
        os._exit(3)
    print(json.dumps([v]), flush=True)
"""


def test_exec_child_crash_is_retried_then_dead_lettered(procs, broker, tmp_path):
    n = 2000
    _generate(procs, broker, "in", n)
    pids = tmp_path / "pids"
    command = exec_script(tmp_path / "crasher.py", CRASHER) + f" {pids}"
    w = start_worker(procs, broker, "X", "in", "out", "--exec", command, "--max-deliver", "3")
    wait_stream(broker, "out", n - 1, T(60), watch=[w])
    wait_stream(broker, "X.dlq", 1, T(60), watch=[w])
    stop_workers([w])

    out = values(procs, broker, "out")
    assert_exactly_once([v["id"] for v in out], [i for i in range(n) if i != 777])
    dlq = _dead_letters(procs, broker, "X")
    assert len(dlq) == 1, dlq
    v = dlq[0]["value"]
    assert v["error"] == "exec: child exited with status 3", v
    assert v["attempts"] == 3 and v["offset"] == 777 and v["record"]["value"]["id"] == 777
    started = set(pids.read_text().split())
    assert len(started) >= 3, f"the worker started {len(started)} children for 3 crashes"


# ---------------------------------------------------------------- 7

def test_two_groups_fan_out_one_stream(procs, broker, tmp_path):
    n = 20_000
    source = start_source(procs, broker, "in", "--generate", str(n), "--rate", "20000",
                          "--no-progress")
    g1 = [start_worker(procs, broker, "G1", "in", "o1", name=f"g1-{i}") for i in range(2)]
    g2 = [start_worker(procs, broker, "G2", "in", "o2", "--map", "{id = id, g = 2}",
                       name="g2-0")]
    source.expect_exit(0, T(60))
    wait_stream(broker, "o1", n, T(60), watch=g1 + g2)
    wait_stream(broker, "o2", n, T(60), watch=g1 + g2)
    stop_workers(g1 + g2)
    inputs = values(procs, broker, "in")
    o1 = values(procs, broker, "o1")
    assert sorted(o1, key=lambda v: v["id"]) == inputs, "G1 (pass-through) is not a copy"
    o2 = values(procs, broker, "o2")
    assert_exactly_once([v["id"] for v in o2], range(n), "G2's output")
    assert all(v["g"] == 2 for v in o2)


# ---------------------------------------------------------------- 8

# The broker's whole resident set (LMDB's mapped pages included) stays under 256 MiB. Measured:
# ~32 MiB for the plain build, ~150 MiB under ASan (shadow memory and quarantine).
RSS_BOUND_KIB = 256 * 1024
# Without sanitizers, the broker's anonymous memory (heap: not LMDB's file pages) grows by less
# than 8 MiB while the group catches up: 200k records held in memory would be ~12 MiB of
# msgpack alone. Measured growth: well under 1 MiB.
ANON_GROWTH_KIB = 8 * 1024


def test_group_far_behind_catches_up_in_bounded_memory(procs, broker):
    """The broker reads a lagging group's work from the log (PROTOCOL §14.3 "Bounded"): with
    200k records behind, its memory stays bounded while the group has no member and while a
    member catches up, and the member gets every record once."""
    pid = broker.proc.pid
    first = start_worker(procs, broker, "L", "in", "out")
    wait_joined(first)
    stop_workers([first])

    n = 200_000
    peak = {"VmRSS": 0, "RssAnon": 0}

    def sample():
        for field in peak:
            peak[field] = max(peak[field], vm_kib(pid, field))

    source = start_source(procs, broker, "in", "--generate", str(n), "--no-progress")
    wait_for(lambda: (sample(), not source.alive())[1], T(120), "the source to finish")
    source.expect_exit(0)
    assert broker.next("in") == n
    assert broker.next("out") == 0, "the group moved without a member"

    anon_before = vm_kib(pid, "RssAnon")
    peak["RssAnon"] = 0
    member = start_worker(procs, broker, "L", "in", "out")
    wait_stream(broker, "out", n, T(180), watch=[member], on_poll=sample)
    stop_workers([member])
    hwm = vm_kib(pid, "VmHWM")
    print(f"broker peak RSS (VmHWM) {hwm} KiB, highest sample {peak['VmRSS']} KiB; "
          f"anonymous {anon_before} KiB before the catch-up, at most {peak['RssAnon']} KiB "
          "during it")
    assert hwm > 0 and anon_before > 0, "cannot read the broker's /proc status"
    assert hwm < RSS_BOUND_KIB, f"broker peak RSS {hwm} KiB (sampled max {peak['VmRSS']} KiB)"
    if not SANITIZED:
        growth = peak["RssAnon"] - anon_before
        assert growth < ANON_GROWTH_KIB, (f"broker heap grew by {growth} KiB while the group "
                                          "caught up")
    out = values(procs, broker, "out")
    assert_exactly_once([v["id"] for v in out], range(n))


# ---------------------------------------------------------------- 9

def test_join_with_mismatched_in_exits_1_with_brokers_message(procs, broker):
    first = start_worker(procs, broker, "M", "in", "out")
    wait_joined(first)
    other = start_worker(procs, broker, "M", "elsewhere", "out", name="mismatch")
    other.expect_exit(1, T(30))
    assert "the group exists with another input or output stream" in other.stderr(), \
        other.stderr()
    assert first.alive(), "the existing member was disturbed"
    stop_workers([first])


# ---------------------------------------------------------------- 10

def test_from_end_starts_a_new_group_at_the_head(procs, broker, tmp_path):
    run_source(procs, broker, "in",
               str(write_jsonl(tmp_path / "old.jsonl", [{"old": i} for i in range(500)])))
    w = start_worker(procs, broker, "E", "in", "out", "--from", "end")
    wait_joined(w)
    assert "at offset 500" in w.stderr(), w.stderr()
    new = [{"new": i} for i in range(300)]
    run_source(procs, broker, "in", str(write_jsonl(tmp_path / "new.jsonl", new)))
    wait_stream(broker, "out", 300, T(60), watch=[w])
    stop_workers([w])
    assert _as_set(values(procs, broker, "out")) == _as_set(new)

    # For an existing group --from is ignored: it resumes at its checkpoint, so what
    # arrived while it had no member is not skipped.
    later = [{"later": i} for i in range(100)]
    run_source(procs, broker, "in", str(write_jsonl(tmp_path / "later.jsonl", later)))
    w2 = start_worker(procs, broker, "E", "in", "out", "--from", "end")
    wait_stream(broker, "out", 400, T(60), watch=[w2])
    stop_workers([w2])
    assert _as_set(values(procs, broker, "out")) == _as_set(new + later)


# ---------------------------------------------------------------- 11

@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_worker_help_and_version_exit_0(procs, flag):
    p = procs.start("worker" + flag, [WORKER_BIN, flag])
    p.expect_exit(0, T(10))
    text = p.stdout().decode()
    if flag == "--help":
        for option in ("--broker", "--group", "--in", "--out", "--max-deliver", "--from"):
            assert option in text, f"--help does not mention {option}"
    else:
        assert text.startswith("sluice-worker "), text
