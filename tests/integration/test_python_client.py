"""The Python client package (python/sluice, docs/client-python.md) against the real broker:
Producer (confirms, exactly once across a broker kill), Reader (positions, live, durable
commits, across a broker restart), Member (a group's work, failures, dead letters), and
failure paths (no broker, bad names, a broker that answers garbage)."""

import datetime
import sys
import threading
import time

import msgpack
import pytest
import zmq

from conftest import ROOT, T, read_stream, run_source, wait_for, write_jsonl

sys.path.insert(0, str(ROOT / "python"))
import sluice  # noqa: E402


def test_producer_confirms_and_named_resend_is_exactly_once(broker):
    with sluice.Producer(broker.endpoint, "orders", name="py-1") as p:
        assert p.connect(T(10)) == 0
        for i in range(1, 5001):
            assert p.send({"n": i}, key=f"k{i % 7}") == i
        assert p.flush(T(60)) == 5000
        assert p.confirmed == 5000
    assert broker.next("orders") == 5000

    # The same producer name sends the same input again: the broker keeps each record once,
    # and says up front how many it has.
    with sluice.Producer(broker.endpoint, "orders", name="py-1") as p:
        assert p.connect(T(10)) == 5000
        for i in range(1, 5101):
            p.send({"n": i}, key=f"k{i % 7}")
        p.flush(T(60))
    values = read_stream(procs_of(broker), broker, "orders", fmt="json")
    assert [r["value"]["n"] for r in values] == list(range(1, 5101))
    assert values[8]["key"] == "k2"


def procs_of(broker):
    return broker.procs


def test_producer_exactly_once_across_broker_kill(broker):
    """kill -9 of the broker mid-publish, then a restart: nothing lost, nothing doubled."""
    n = 150_000
    done = {}

    def produce():
        try:
            with sluice.Producer(broker.endpoint, "big", name="killer", timeout=T(5)) as p:
                for i in range(1, n + 1):
                    p.send(i)
                done["confirmed"] = p.flush(T(120))
        except Exception as exc:  # reported by the assertion below
            done["error"] = exc

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        wait_for(lambda: broker.next("big") >= 10_000, T(60), "part of the records stored")
        broker.kill9()
        broker.restart()
    finally:
        thread.join(T(240))
    assert not thread.is_alive()
    assert "error" not in done, done.get("error")
    assert done["confirmed"] == n
    values = read_stream(broker.procs, broker, "big", fmt="value")
    assert values == list(range(1, n + 1))


def test_reader_positions_live_and_durable_commit(procs, broker, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"i": i} for i in range(100)])
    run_source(procs, broker, "s", str(src))

    with sluice.Reader(broker.endpoint, "s", start="beginning") as r:
        got = [r.next(T(10)) for _ in range(100)]
        assert [x.offset for x in got] == list(range(100))
        assert [x.value for x in got] == [{"i": i} for i in range(100)]
        assert r.next(0.3) is None and r.at_end
    with sluice.Reader(broker.endpoint, "s", start=-3) as r:
        assert [r.next(T(10)).offset for _ in range(3)] == [97, 98, 99]
    with sluice.Reader(broker.endpoint, "s", start=42) as r:
        assert r.next(T(10)).value == {"i": 42}
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    with sluice.Reader(broker.endpoint, "s", start=past) as r:
        assert r.next(T(10)).offset == 0
    with sluice.Reader(broker.endpoint, "s", start=datetime.timedelta(minutes=5)) as r:
        assert r.next(T(10)).offset == 0
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
    with sluice.Reader(broker.endpoint, "s", start=future) as r:
        assert r.next(0.5) is None and r.position == 100

    # Durable: read 30, commit, and a new reader of that name resumes at 30.
    with sluice.Reader(broker.endpoint, "s", start="beginning", name="rd") as r:
        for _ in range(30):
            r.next(T(10))
        r.commit()
    with sluice.Reader(broker.endpoint, "s", start="beginning", name="rd") as r:
        assert r.next(T(10)).offset == 30

    # Live: a reader at the end gets what is published after it, in order.
    with sluice.Reader(broker.endpoint, "s", start="end") as r:
        r.connect(T(10))
        with sluice.Producer(broker.endpoint, "s") as p:
            for i in range(100, 110):
                p.send({"i": i})
            p.flush(T(30))
        assert [r.next(T(10)).value["i"] for _ in range(10)] == list(range(100, 110))


def test_reader_gapless_across_broker_restart(broker):
    with sluice.Reader(broker.endpoint, "g", start="beginning") as r, \
            sluice.Producer(broker.endpoint, "g", name="gp") as p:
        for i in range(500):
            p.send(i)
        p.flush(T(30))
        got = [r.next(T(10)).value for _ in range(250)]
        broker.kill9()
        broker.restart()
        for i in range(500, 1000):
            p.send(i)
        p.flush(T(60))
        while len(got) < 1000:
            rec = r.next(T(20))
            assert rec is not None, f"reader stalled at {len(got)}"
            got.append(rec.value)
        assert got == list(range(1000))
        assert r.next(0.5) is None


def test_member_processes_group_exactly_once_with_failures(procs, broker):
    with sluice.Producer(broker.endpoint, "in") as p:
        for i in range(3000):
            p.send({"i": i, "bad": i % 1000 == 7})
        p.flush(T(30))
    seen = 0
    with sluice.Member(broker.endpoint, "pyg", "in", "out", batch=250) as m:
        assert m.join(T(10)) == 0
        while seen < 3000:
            lease = m.work(T(20))
            assert lease is not None, f"no work after {seen} records"
            for rec in lease.records:
                if rec.value["bad"]:
                    lease.fail(rec.offset, "bad record", final=True)
                else:
                    lease.emit({"twice": rec.value["i"] * 2}, key=str(rec.value["i"]))
            with pytest.raises(ValueError):
                lease.fail(lease.offset + lease.count, "outside")
            lease.done()
            seen += lease.count
        m.leave()
    wait_for(lambda: broker.next("out") == 2997, T(30), "the group's output")
    out = read_stream(procs, broker, "out", fmt="value")
    assert sorted(v["twice"] for v in out) == sorted(2 * i for i in range(3000)
                                                      if i % 1000 != 7)
    wait_for(lambda: broker.next("pyg.dlq") == 3, T(30), "three dead letters")
    dead = read_stream(procs, broker, "pyg.dlq", fmt="value")
    assert sorted(d["offset"] for d in dead) == [7, 1007, 2007]
    assert all(d["error"] == "bad record" for d in dead)

    # The group exists with other streams: the broker refuses, and says why.
    with sluice.Member(broker.endpoint, "pyg", "in", "elsewhere") as other:
        with pytest.raises(sluice.SluiceError) as err:
            other.join(T(10))
        assert err.value.code == 2 and not err.value.retryable


def test_failure_paths(make_broker):
    broker = make_broker(start=False)       # nobody listens there
    start = time.monotonic()
    with sluice.Producer(broker.endpoint, "s", timeout=1.0) as p:
        with pytest.raises(TimeoutError, match="no answer from broker"):
            p.connect(1.0)
    assert time.monotonic() - start < T(10)
    for bad in ("", ".hidden", "a/b", "x" * 201):
        with pytest.raises(ValueError):
            sluice.Producer(broker.endpoint, bad)
    with pytest.raises(ValueError):
        sluice.Reader(broker.endpoint, "s", start="sideways")
    with pytest.raises(ValueError):
        sluice.Member(broker.endpoint, "g", "same", "same")
    with pytest.raises(ValueError):
        sluice.Producer("localhost:7600", "s")
    broker.start()
    with sluice.Producer(broker.endpoint, "s") as p:
        with pytest.raises(TypeError):
            p.send(1, key=3)
        with pytest.raises(TypeError):
            p.send(1, headers={"a": 1})
        # A record over the broker's batch limit is refused before anything is sent.
        p.connect(T(10))
        with pytest.raises(sluice.SluiceError):
            p.send("x" * (p.max_bytes + 1))
        assert p.sent == 0


def test_hostile_broker_is_survived():
    """A 'broker' answering a flood of garbage (bad headers, lying msgpack lengths, non-map
    bodies, a huge claimed array) costs the client nothing: it skips them and times out on
    time."""
    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            if not router.poll(50):
                continue
            ident = router.recv_multipart()[0]
            for _ in range(20_000):     # a flood, bounded
                if stop.is_set():
                    break
                try:
                    router.send_multipart([ident, b"XX\x01\x02", b"\x80"], flags=zmq.NOBLOCK)
                except zmq.Again:
                    break
            for frames in ([b"XX\x01\x02", b"\x80"],
                           [b"SL\x02\x02", b"\x80"],
                           [b"SL\x01\x02", b"\xdd\xff\xff\xff\xff"],     # array of 4G
                           [b"SL\x01\x02", b"\xdb\x7f\xff\xff\xff"],     # str of 2G
                           [b"SL\x01\x02", msgpack.packb([1, 2])],
                           [b"SL\x01\x02"]):
                router.send_multipart([ident, *frames])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with sluice.Producer(f"tcp://127.0.0.1:{port}", "s") as p:
            t0 = time.monotonic()
            with pytest.raises(TimeoutError):
                p.connect(1.5)
            assert time.monotonic() - t0 < T(6)
    finally:
        stop.set()
        thread.join(5)
        router.close(0)


def test_member_rejoins_after_broker_kill_exactly_once(procs, broker):
    """kill -9 of the broker while a member works: it joins again by itself; the output
    holds every input's output exactly once."""
    n = 4000
    with sluice.Producer(broker.endpoint, "src") as p:
        for i in range(n):
            p.send(i)
        p.flush(T(30))
    done = 0
    killed = False
    with sluice.Member(broker.endpoint, "rj", "src", "dst", batch=100) as m:
        m.join(T(10))
        deadline = time.monotonic() + T(120)
        while broker.next("dst") < n:
            assert time.monotonic() < deadline, f"output stuck at {broker.next('dst')}"
            lease = m.work(0.5)
            if lease is None:
                continue
            for rec in lease.records:
                lease.emit(rec.value * 10)
            lease.done()
            done += lease.count
            if not killed and done >= n // 3:
                broker.kill9()
                broker.restart()
                killed = True
    assert killed
    out = read_stream(procs, broker, "dst", fmt="value")
    assert sorted(out) == [i * 10 for i in range(n)]


def test_error_table_is_the_brokers():
    """Every error code lib/core/sl_error.h defines, with its name and whether it is retryable,
    is known to the Python client: a code added to the broker and not here fails this test."""
    import re
    from sluice import _wire
    header = (ROOT / "lib" / "core" / "sl_error.h").read_text()
    table = {-int(v): (n[3:], r == "1") for n, v, r in
             re.findall(r"X \((SL_E\w+), (-\d+), ([01]),", header)}
    assert len(table) >= 29, table
    assert _wire.ERRORS == table
