"""Chaos: a two-stage pipeline under steady load while a controller kill -9s a random stage
at random moments and starts it again; then sluice-verify must find nothing lost or
duplicated. And SIGTERM under load: every stage drains, exits 0 and loses nothing.

The seed is printed (and in every failure message); rerun one with --chaos-seed SEED.
Figures: set SLUICE_CHAOS_REPORT=FILE to have each run append one JSON line there."""

import json
import os
import platform
import random
import signal
import time

import pytest

from chaos_pipeline import (STAGES, Pipeline, confirmed_by, summary, verify, verify_streams)
from sluice_it import T

RATE = 3000                 # records per second from the source: steady load
MEAN_GAP = 0.85             # seconds between kills, on average (uniform 0.2 .. 1.5)


def _record(figures):
    path = os.environ.get("SLUICE_CHAOS_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(figures) + "\n")
    print(json.dumps(figures, indent=1))


def _assert_exact(reports, seed):
    for stream, r in reports.items():
        assert (r["lost"], r["duplicated"], r["unexpected"]) == (0, 0, 0), (
            f"seed {seed}: stream {stream!r}: {r['lost']} lost (first {r['lost_first']}), "
            f"{r['duplicated']} duplicated (first {r['duplicated_first']}), "
            f"{r['unexpected']} unexpected (first {r['unexpected_first']}); full report: {r}")
        assert r["sent"] == r["got"] == r["delivered"] and r["bad_got"] == 0, r


def test_chaos_kill9_random_stages(procs, make_broker, tmp_path, chaos_kills, chaos_seed):
    seed = chaos_seed
    print(f"\nchaos seed {seed}, {chaos_kills} kills (rerun: --chaos-seed {seed})")
    rng = random.Random(seed)
    # Enough input that the source is still sending when the last kill comes (a kill also
    # costs a restart: about 0.25 s on average).
    n = int(RATE * (chaos_kills * (MEAN_GAP + 0.25) + 5))
    # Every stage is killed at least once (in a random order), then stages are drawn at random.
    first = rng.sample(STAGES, len(STAGES))
    pipe = Pipeline(procs, make_broker, tmp_path, n, RATE)
    started = time.monotonic()
    pipe.start_all()

    events = []
    killed = set()
    while len(events) < chaos_kills:
        time.sleep(rng.uniform(0.2, 1.5))       # a random moment (chaos timing, not a wait)
        pipe.check(killed)
        candidates = [s for s in STAGES if pipe.can_kill(s)]
        pending = [s for s in first if s in candidates]
        stage = pending[0] if pending else rng.choice(candidates)
        if pending:
            first.remove(stage)
        victim = pipe.kill(stage, rng, killed=killed)
        events.append((stage, round(time.monotonic() - started, 2)))
        print(f"kill -9 {stage:6} {victim.label} at {events[-1][1]:.2f}s; "
              f"in={pipe.broker.next('in')} out={pipe.broker.next('out')}")
    chaos_end = time.monotonic() - started
    source_busy = pipe.source.alive()
    pipe.finish(T(300))
    duration = time.monotonic() - started

    reports = verify_streams(procs, pipe)
    sink_path, sink_runs = pipe.sink_output()
    sink = verify(procs, "--sent", pipe.input, "--got", sink_path, "--id", "id", "--key", "k")
    dlq = {g: pipe.broker.next(f"{g}.dlq") for g in ("A", "B")}
    by_stage = {s: sum(1 for e in events if e[0] == s) for s in STAGES}
    figures = {"test": "chaos-kill9", "seed": seed, "kills": len(events), "by_stage": by_stage,
               "records": n, "rate": RATE, "chaos_s": round(chaos_end, 1),
               "duration_s": round(duration, 1), "source_still_sending_at_last_kill": source_busy,
               "streams": summary(reports), "sink_file": summary({"sink": sink})["sink"],
               "sink_runs": len(sink_runs), "dead_letters": dlq,
               "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus"}
    _record(figures)

    _assert_exact(reports, seed)
    # The sink's file is at-least-once across its own kill -9 (docs/sink.md): nothing may be
    # missing and nothing foreign may appear; repeats are only allowed after sink kills.
    assert sink["lost"] == 0 and sink["unexpected"] == 0 and sink["bad_got"] == 0, \
        f"seed {seed}: sink file: {sink}"
    if by_stage["sink"] == 0:
        assert sink["duplicated"] == 0, f"seed {seed}: sink repeated records unkilled: {sink}"
    assert dlq == {"A": 0, "B": 0}, f"seed {seed}: records were dead-lettered: {dlq}"
    assert source_busy or pipe.broker.next("in") == n


@pytest.mark.parametrize("stage", STAGES)
def test_sigterm_under_load_drains_and_loses_nothing(procs, make_broker, tmp_path, stage):
    n = 40_000
    rate = 5000
    pipe = Pipeline(procs, make_broker, tmp_path, n, rate)
    rng = random.Random(0)
    pipe.start_all()
    # Busy: records are flowing all the way to the end, and the source is still sending.
    deadline = time.monotonic() + T(60)
    while pipe.broker.next("out") < 5000:
        pipe.check(set())
        assert time.monotonic() < deadline, f"out at {pipe.broker.next('out')} after 60s"
        time.sleep(0.02)
    assert pipe.source.alive(), "the source finished before the SIGTERM: no load left"
    at = pipe.broker.next("in")

    stopped = pipe.kill(stage, rng, sig=signal.SIGTERM, killed=set(), downtime=(0.0, 0.0))
    assert stopped.returncode == 0
    if stage == "source":
        # It drained: every record it read was confirmed, and the stream holds exactly them.
        confirmed = confirmed_by(stopped)
        assert confirmed >= at, f"the source confirmed {confirmed} records, the stream had {at}"
        assert pipe.broker.next("in") == confirmed
        assert confirmed < n, "the source had already read everything"
    pipe.finish(T(180))

    reports = verify_streams(procs, pipe)
    sink_path, sink_runs = pipe.sink_output()
    reports["sink file"] = verify(procs, "--sent", pipe.input, "--got", sink_path, "--id", "id",
                                  "--key", "k")
    _record({"test": f"sigterm-{stage}", "records": n, "streams": summary(reports)})
    # After a SIGTERM even the sink's file is exactly once: its final position is committed.
    _assert_exact(reports, f"sigterm {stage}")
    if stage == "sink":
        assert len(sink_runs) == 2 and sink_runs[1][0] == sink_runs[0][1] + 1, sink_runs
