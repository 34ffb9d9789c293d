"""`sluice run` with a `replica` section (docs/run.md, "A replica"): it starts a second broker
with --replica-of the broker's replication endpoint, and gives every stage both endpoints.
Real processes: the run, both brokers, a source, a group and a sink."""

import json
import signal
import subprocess

import pytest

from conftest import BUILD, T, Wire, child_env, free_port_pair, wait_for, write_jsonl

SLUICE_BIN = BUILD / "cli" / "sluice"

pytestmark = pytest.mark.skipif(not SLUICE_BIN.exists(), reason=f"{SLUICE_BIN} not built")


def run_cmd(args, timeout=T(30)):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=child_env())


def pair_file(tmp_path, body, replica=None):
    p, repl, r = free_port_pair(), free_port_pair(), free_port_pair()
    if replica is None:
        replica = f"replica:\n  listen: tcp://127.0.0.1:{r}\n  data: {tmp_path}/replica\n"
    text = (f"broker:\n  listen: tcp://127.0.0.1:{p}\n  data: {tmp_path}/primary\n"
            f"  replication: tcp://127.0.0.1:{repl}\n  sync-replicas: 1\n" + replica + body)
    path = tmp_path / "pair.yaml"
    path.write_text(text)
    return path, f"tcp://127.0.0.1:{p}", f"tcp://127.0.0.1:{r}", f"tcp://127.0.0.1:{repl}"


def test_dry_run_starts_a_replica_and_gives_stages_both(tmp_path):
    path, primary, replica, repl = pair_file(tmp_path, "sinks:\n  - stream: s\n")
    r = run_cmd([SLUICE_BIN, "run", path, "--dry-run"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "--replication" in lines[0] and "--replica-of" not in lines[0]
    assert f"--listen {replica}" in lines[1] and f"--replica-of {repl}" in lines[1], lines[1]
    assert f"--data {tmp_path}/replica" in lines[1]
    assert f"--broker {primary},{replica}" in lines[2], lines[2]


@pytest.mark.parametrize("replica,broker_extra,said", [
    ("replica:\n  data: d\n", "", "the replica needs its own 'listen'"),
    ("replica:\n  listen: tcp://127.0.0.1:7999\n  replica-of: tcp://x:1\n", "",
     "sluice run sets its 'replica-of'"),
    ("replica: yes\n", "", "'replica' is a map"),
    ("replica:\n  listen: tcp://127.0.0.1:7999\n", "  curve-secret: k.key_secret\n  allow: a\n",
     "the broker uses CURVE: give the replica 'primary-key'"),
])
def test_a_bad_replica_section_is_named_before_anything_starts(tmp_path, replica, broker_extra,
                                                               said):
    text = "broker:\n  listen: tcp://127.0.0.1:7998\n  replication: tcp://127.0.0.1:7997\n"
    path = tmp_path / "p.yaml"
    path.write_text(text + broker_extra + replica + "sinks:\n  - stream: s\n")
    r = run_cmd([SLUICE_BIN, "run", path, "--dry-run"])
    assert r.returncode == 2 and said in r.stderr, r.stderr
    assert r.stderr.startswith(f"{path}:"), r.stderr
    # Without the broker's replication there is nothing to follow.
    path.write_text("broker:\n  listen: tcp://127.0.0.1:7998\nreplica:\n"
                    "  listen: tcp://127.0.0.1:7999\nsinks:\n  - stream: s\n")
    r = run_cmd([SLUICE_BIN, "run", path, "--dry-run"])
    assert r.returncode == 2 and "needs the broker's 'replication'" in r.stderr, r.stderr


def test_a_pipeline_with_a_replica_runs_and_the_replica_holds_the_same_offsets(procs, tmp_path):
    n = 3000
    write_jsonl(tmp_path / "in.jsonl", [{"id": i, "temp": i % 40} for i in range(n)])
    hot = sum(1 for i in range(n) if i % 40 >= 30)
    path, primary, replica, _ = pair_file(tmp_path, f"""\
sources:
  - name: reader
    stream: raw
    producer: reader
    files: [in.jsonl]
groups:
  - name: hot
    in: raw
    out: hot
    filter: temp >= 30
sinks:
  - name: out
    stream: hot
    from: beginning
    format: value
    output: hot.jsonl
""")
    run = procs.start("run", [SLUICE_BIN, "run", path, "--stop-timeout", "20s"])

    def sunk():
        out = tmp_path / "hot.jsonl"
        return out.exists() and len(out.read_text().splitlines()) >= hot
    wait_for(sunk, T(90), f"{hot} records at the sink")
    got = [json.loads(line) for line in (tmp_path / "hot.jsonl").read_text().splitlines()]
    assert sorted(v["id"] for v in got) == [i for i in range(n) if i % 40 >= 30]
    # The replica holds every stream at the primary's offsets, and says it has caught up.
    p_wire, r_wire = Wire(primary), Wire(replica)
    try:
        def same():
            ps, rs = p_wire.streams(), r_wire.streams()
            keep = ("first", "next", "records")
            return (ps.get("raw", {}).get("next") == n and
                    {k: {f: v[f] for f in keep} for k, v in ps.items()} ==
                    {k: {f: v[f] for f in keep} for k, v in rs.items()})
        wait_for(same, T(30), "the replica's streams to match the primary's")
    finally:
        p_wire.close()
        r_wire.close()

    def caught_up():
        r = run_cmd([SLUICE_BIN, "stat", "--broker", replica])
        return r.returncode == 0 and "REPLICATION: replica at epoch 1" in r.stdout and \
            "lag 0 entries" in r.stdout
    wait_for(caught_up, T(30), "sluice stat of the replica to show lag 0")
    err = run.stderr()
    assert "replica[1] | " in err, err[-3000:]
    run.signal(signal.SIGTERM)
    run.expect_exit(0, T(60))
