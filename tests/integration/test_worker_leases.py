"""How many leases a worker holds at once (docs/worker.md, `--leases`): 32 by default, so that
each of the broker's synced commits carries enough of a member's results (BENCHMARKS.md,
"Records per fsync"); `--leases N` still sets it, and the broker's bound per group holds.

A slow operator keeps every lease open, so that the broker's count of live leases
(`sluice stat`'s `in_flight`) shows the window the member asked for.
"""

import json

from conftest import BUILD, T, run_source, wait_for
from groups_util import start_worker, wait_joined

SLUICE_BIN = BUILD / "cli" / "sluice"

# Lua loop steps per record: a lease of 100 records takes seconds, so none ends while the
# test looks.
SLOW_MAP = ("(function() local s = 0 for i = 1, 3000000 do s = s + i end "
            "return {id = id} end)()")


def in_flight(procs, broker, group):
    proc = procs.start("stat", [SLUICE_BIN, "stat", "--json", "-b", broker.endpoint])
    proc.expect_exit(0, T(60))
    found = [g for g in json.loads(proc.stdout())["groups"] if g["name"] == group]
    return found[0]["in_flight"] if found else None


def held_leases(procs, broker, group, *worker_args):
    """Loads 8,000 records, starts one slow member with worker_args, and returns the live
    leases once their count has stopped growing for three reads in a row."""
    run_source(procs, broker, "in", "--generate", "8000", "--no-progress", timeout=T(120))
    w = start_worker(procs, broker, group, "in", "out", "--batch", "100", "--map", SLOW_MAP,
                     *worker_args)
    wait_joined(w)
    seen = []

    def settled():
        seen.append(in_flight(procs, broker, group))
        return len(seen) >= 3 and seen[-1] and seen[-1] == seen[-2] == seen[-3]

    wait_for(settled, T(60), f"the member's leases to settle (seen {seen[-5:]})")
    return seen[-1]


def test_worker_holds_32_leases_by_default(procs, broker):
    assert held_leases(procs, broker, "G") == 32


def test_worker_leases_option_sets_the_window(procs, broker):
    assert held_leases(procs, broker, "G", "--leases", "8") == 8


def test_worker_leases_above_64_is_refused(procs, broker):
    w = start_worker(procs, broker, "G", "in", "out", "--leases", "65")
    w.expect_exit(2, T(30))
    assert "--leases: expected a whole number from 1 to 64" in w.stderr()
