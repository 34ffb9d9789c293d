"""A power cut of the primary's machine with a replica (docs/replication.md, "What is
confirmed"): the primary's data directory on cutfs, the replica's on the plain disk. With
--sync-replicas 1 a record is confirmed only once the replica committed it, so a cut that
drops everything the primary had not synced (with --sync none: its whole store may be gone)
loses no confirmed record once the replica is promoted. With --sync-replicas 0 the same cut
may lose what the replica had not received: the replication lag, which this test does not
bound (it says so when it happens)."""

import json
import random

import pytest

from sluice_it import BUILD, SOURCE_BIN, T, free_port_pair, wait_for, write_jsonl

VERIFY = BUILD / "verify" / "sluice-verify"
SLUICE = BUILD / "cli" / "sluice"


def _source(procs, brokers, path, rate):
    """A durable source given both brokers' endpoints."""
    return procs.start("source", [SOURCE_BIN, "--broker", ",".join(b.endpoint for b in brokers),
                                  "--stream", "s", "--name", "cut-src", "--rate", str(rate),
                                  "--batch-records", "500", "--no-progress", path])


def _promote_and_verify(procs, replica, src, path):
    """Promotes the replica, lets the source finish on it, and checks that the stream holds
    every record of the input exactly once."""
    res = procs.start("promote", [SLUICE, "promote", "--broker", replica.endpoint])
    assert res.wait(T(30)) == 0, res.stderr()
    src.expect_exit(0, T(300))
    v = procs.start("verify", [VERIFY, "--json", "--sent", path, "--got-stream", "s",
                               "--broker", replica.endpoint, "--id", "id"])
    assert v.wait(T(120)) == 0, v.stdout()
    got = json.loads(v.stdout())
    assert (got["lost"], got["duplicated"], got["unexpected"]) == (0, 0, 0), got


@pytest.mark.parametrize("primary_sync", ["none", "full"])
def test_power_cut_of_the_primary_loses_nothing_confirmed(disk, make_broker, procs, tmp_path,
                                                         primary_sync):
    rng = random.Random(7)
    n = 60_000
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "k": f"k{i % 8}"} for i in range(n)])
    p_repl = f"tcp://127.0.0.1:{free_port_pair()}"
    primary = make_broker(args=[f"--sync={primary_sync}", "--replication", p_repl,
                                "--sync-replicas", "1"], data_dir=disk.mnt / "data")
    replica = make_broker(args=["--replica-of", p_repl, "--replication",
                                f"tcp://127.0.0.1:{free_port_pair()}"])
    src = _source(procs, (primary, replica), path, 20000)
    target = rng.randint(10_000, 30_000)
    wait_for(lambda: (replica.info("s") or {}).get("next", 0) >= target, T(60),
             f"{target} records on the replica")
    # The power cut of the primary's machine: the broker dies, unsynced pages are lost.
    primary.close()
    primary.proc.kill9()
    report = disk.cut({"mode": "drop"})
    print(f"--sync {primary_sync} primary cut: {report}")
    _promote_and_verify(procs, replica, src, path)


def test_power_cut_of_both_machines_with_a_synced_replica_loses_nothing_confirmed(
        disk, make_broker, procs, tmp_path):
    """Both machines lose power at once (both data directories on the cut disk). The primary
    runs --sync none (its store may be gone), the replica --sync full: with --sync-replicas 1
    a confirmed record was on the replica's disk, so once the replica is started again and
    promoted, and the source has resent what was never confirmed, nothing confirmed is lost
    and nothing is doubled (docs/replication.md, "What is confirmed")."""
    rng = random.Random(11)
    n = 40_000
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": i} for i in range(n)])
    p_repl = f"tcp://127.0.0.1:{free_port_pair()}"
    primary = make_broker(args=["--sync=none", "--replication", p_repl, "--sync-replicas", "1"],
                          data_dir=disk.mnt / "primary")
    replica = make_broker(args=["--sync=full", "--replica-of", p_repl, "--replication",
                                f"tcp://127.0.0.1:{free_port_pair()}"],
                          data_dir=disk.mnt / "replica")
    src = _source(procs, (primary, replica), path, 10000)
    target = rng.randint(5_000, 20_000)
    wait_for(lambda: (replica.info("s") or {}).get("next", 0) >= target, T(60),
             f"{target} records on the replica")
    for b in (primary, replica):
        b.close()
        b.proc.kill9()
    report = disk.cut({"mode": "drop"})
    print(f"both machines cut: {report}")
    disk.mount()
    replica.start()
    _promote_and_verify(procs, replica, src, path)
