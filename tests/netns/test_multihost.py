"""The pipeline across hosts: each stage in a network namespace of its own.

Five "hosts" on one switch: the broker (10.77.0.1), a source, two workers
and a sink. The source is a durable producer generating N records into
`readings`; the worker group `enrich` runs examples/demo.lua into `enriched`;
the sink is a durable reader printing `enriched`. Mid-run the first worker's
link goes down for longer than the heartbeat timeout (the broker hands its
leases to the other worker) and comes back up (it rejoins). At the end the
stream holds every generated id once, `enriched` every id the transform keeps
once, and the sink has printed each of them once.
"""

import json
import time

from conftest import BUILD, ROOT, wait_for

N = 4000
RATE = 250                  # about 16 s of input
EXPECTED = {i for i in range(N) if i % 16 != 0}     # demo.lua drops sensor s-0
LINK_DOWN_S = 6             # > 3 s heartbeat timeout: the broker sees the worker gone


def _ids(lines, what):
    ids = [json.loads(line)["id"] for line in lines if line]
    assert len(ids) == len(set(ids)), (
        f"{what}: duplicated ids {sorted({i for i in ids if ids.count(i) > 1})[:20]}")
    return set(ids)


def test_pipeline_across_namespaces_survives_a_link_down(net):
    net.make_switch()
    for host in ("broker", "source", "worker1", "worker2", "sink"):
        net.add_host(host)
    endpoint = f"tcp://{net.addr('broker')}:7600"

    broker = net.start("broker", "broker", [
        BUILD / "broker/sluice-broker", "--data", net.tmp / "data", "--listen", endpoint])

    def streams(host="sink"):
        res = net.run(host, [BUILD / "sink/sluice-sink", "-b", endpoint, "--list",
                             "--format", "json", "--connect-timeout", "2s"])
        return {s["name"]: s for s in json.loads(res.stdout)} if res.returncode == 0 else {}

    def next_offset(stream):
        return streams().get(stream, {}).get("next", 0)

    try:
        # The broker is reached from another host (and not from this one's
        # namespace, where 10.77.0.1 does not exist).
        wait_for(lambda: broker.alive() and net.run("sink", [
            BUILD / "sink/sluice-sink", "-b", endpoint, "--list",
            "--connect-timeout", "1s"]).returncode == 0, 20, "the broker to answer")

        workers = {}
        for host in ("worker1", "worker2"):
            workers[host] = net.start(host, host, [
                BUILD / "worker/sluice-worker", "-b", endpoint, "--group", "enrich",
                "--in", "readings", "--out", "enriched", "--member", host,
                "--lua", ROOT / "examples/demo.lua", "--lease", "5s"])
        sink = net.start("sink", "sink", [
            BUILD / "sink/sluice-sink", "-b", endpoint, "--stream", "enriched",
            "--from", "beginning", "--name", "printer", "--format", "value"])
        source = net.start("source", "source", [
            BUILD / "source/sluice-source", "-b", endpoint, "--stream", "readings",
            "--name", "sensors", "--generate", N, "--rate", RATE, "--key", "sensor"])

        # Across hosts: the broker's connections come from the other hosts' addresses.
        def peers():
            res = net.run("broker", ["ss", "-Htn", "state", "established"])
            return {line.split()[-1].rsplit(":", 1)[0] for line in res.stdout.splitlines()}
        want = {net.addr(h) for h in ("source", "worker1", "worker2", "sink")}
        wait_for(lambda: want <= peers(), 20, f"connections from {sorted(want)}")

        # Both workers produce, then worker1's link goes down mid-run.
        wait_for(lambda: next_offset("enriched") >= len(EXPECTED) // 5, 60,
                 "a fifth of the output")
        net.link("worker1", "down")
        down_at = next_offset("enriched")
        time.sleep(LINK_DOWN_S)         # the scenario: a cable out for this long
        assert workers["worker1"].alive(), "worker1 exited while its link was down"
        # worker2 carried on alone, leases of worker1 included.
        wait_for(lambda: next_offset("enriched") > down_at + 200, 30,
                 "worker2 to carry on while worker1 is cut off")
        assert next_offset("enriched") < len(EXPECTED), "the run ended before the link came back"
        net.link("worker1", "up")

        # worker1 rejoins: it takes leases again (its log says it joined twice).
        wait_for(lambda: workers["worker1"].stderr().count("joined group") >= 2, 30,
                 "worker1 to rejoin the group after its link came back")

        assert source.popen.wait(timeout=2 * N / RATE + 60) == 0, source.stderr()[-2000:]
        wait_for(lambda: next_offset("enriched") >= len(EXPECTED), 60,
                 f"{len(EXPECTED)} records in enriched")
        wait_for(lambda: len(sink.stdout_lines()) >= len(EXPECTED), 30,
                 "the sink to print everything")

        # Exactly once: the input, the output, and what the sink printed.
        def read_all(stream):
            res = net.run("sink", [BUILD / "sink/sluice-sink", "-b", endpoint, "-s", stream,
                                   "--from", "beginning", "--exit-at-end", "--format", "value",
                                   "--quiet"])
            assert res.returncode == 0, res.stderr
            return res.stdout.splitlines()
        assert _ids(read_all("readings"), "readings") == set(range(N))
        out = read_all("enriched")
        got = _ids(out, "enriched")
        assert got == EXPECTED, (f"enriched: missing {sorted(EXPECTED - got)[:20]}, "
                                 f"unexpected {sorted(got - EXPECTED)[:20]}")
        assert all("temp_f" in json.loads(line) for line in out)
        assert _ids(sink.stdout_lines(), "the sink's output") == EXPECTED
        listing = streams()
        assert listing["readings"]["records"] == N
        assert listing["enriched"]["records"] == len(EXPECTED)

        # Everyone stops cleanly.
        for proc in (*workers.values(), sink):
            assert proc.stop() == 0, f"{proc.label}: {proc.stderr()[-2000:]}"
        assert broker.stop() == 0, broker.stderr()[-2000:]
    except Exception as e:
        logs = "\n".join(f"--- {p.label}:\n{p.stderr()[-2500:]}" for p in net.procs)
        raise AssertionError(f"{e}\n\n{logs}") from e
