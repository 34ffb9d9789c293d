"""Guarantee 8 (issue 11, classes 1-4): no peer can exhaust the broker. Each test is a raw pyzmq
peer acting hostile while a legitimate source -> sink pipeline runs; the broker's anonymous
memory (RssAnon) stays under a stated bound while it acts, the pipeline is served and loses
nothing, and the hostile peer gets the documented answer (docs/reliability.md, "Limits").

Memory bounds are checked on the plain build only: under AddressSanitizer RSS says nothing about
the program's own memory (quarantine, shadow). The behaviour is checked on both builds.
"""

import os
import re
import socket
import threading
import time

import msgpack
import pytest
import zmq

from conftest import (CONFIRM, EBUSY, ELIMIT, ERROR, FETCH, HELLO, JOIN, JOINED, MIB, PING,
                      PONG, PUBLISH, RECORDS, RESULT, WELCOME, WORK, MemoryWatch, T, Wire,
                      cpu_seconds, drain, header, legit_pipeline, never_reading_dealer, pack,
                      publish_batches, record, sanitized, sluice_it, wait_for)

LIMITS_LINE = re.compile(r"limits: (\d+) requests answered EBUSY, (\d+) live messages skipped, "
                         r"(\d+) requests refused ELIMIT, (\d+) connections closed over the cap")


def _limits(broker):
    """The counters the broker logs when it stops: (busy, live skipped, limited, closed)."""
    assert broker.stop() == 0
    found = LIMITS_LINE.findall(broker.proc.stderr())
    assert found, f"no limits line in the broker's log:\n{broker.proc.stderr()[-2000:]}"
    return tuple(int(x) for x in found[-1])


def _check_memory(broker, watch, bound_mib, what):
    if sanitized(broker.proc.pid):
        return
    growth = watch.growth_mib()
    assert growth < bound_mib, (f"{what}: the broker's RssAnon grew by {growth:.0f} MiB "
                                f"(bound {bound_mib} MiB)")


class Sampler:
    """Samples the broker's memory every 50 ms in a thread while a hostile peer acts."""

    def __init__(self, watch):
        self.watch = watch
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop_flag.wait(0.05):
            try:
                self.watch.sample()
            except FileNotFoundError:
                return

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join()


# --------------------------------------------------------------------------- class 1

def test_unread_fetch_replies_are_bounded_per_peer_and_in_total(make_broker, procs, tmp_path):
    """Four peers each send 100 FETCH requests of up to 16 MiB and read nothing (before: +1.6 GiB
    for one peer): the broker holds at most --total-budget for them, answers the rest EBUSY, and
    a source -> sink pipeline is served meanwhile."""
    broker = make_broker(args=["--peer-budget", "16M", "--total-budget", "48M"])
    publish_batches(broker.wire, "big", batches=24, per_batch=64, value_size=16 * 1024)
    watch = MemoryWatch(broker.proc.pid)
    peers = [never_reading_dealer(broker.endpoint) for _ in range(4)]
    try:
        with Sampler(watch):
            for sock in peers:
                for req in range(1, 101):
                    sock.send_multipart([header(FETCH), pack({"req": req, "stream": "big",
                                                              "offset": 0,
                                                              "max_bytes": 16 * MIB})])
            legit_pipeline(procs, broker, "legit", 2000, tmp_path)
            assert broker.wire.ping(), "the broker answers other clients"
        # 48 MiB of replies held at most, plus the read in progress and the pipeline.
        _check_memory(broker, watch, 48 + 48, "4 peers x 100 unread FETCH of 16 MiB")
        # A hostile peer that finally reads finds data, and the rest refused with EBUSY naming
        # each request. (Its connection may be gone: a peer that reads nothing does not answer
        # ZMTP heartbeats either, and the broker drops it after 3 s with what it held; a slow
        # build gets there first. The broker's own count below holds either way.)
        got = drain(peers[0], T(3))
        if got:
            kinds = [cmd for cmd, _ in got]
            busy = [b for cmd, b in got if cmd == ERROR]
            assert set(kinds) <= {RECORDS, ERROR}, kinds
            assert all(b.get("code") == EBUSY and b.get("req") for b in busy), busy[:3]
            assert len(got) <= 100, "one answer per request"
    finally:
        for sock in peers:
            sock.close(0)
    busy_count, _, _, _ = _limits(broker)
    assert busy_count > 0


def test_never_reading_subscriber_cannot_grow_the_broker(make_broker, procs, tmp_path):
    """Two live subscribers that never read, while 80 MiB is published in 2 MiB batches (before:
    64 messages of any size held per subscriber): the broker holds at most --live-budget of live
    feed, and a normal sink still gets every record, gaplessly (it refills what the live feed
    skipped from the log)."""
    broker = make_broker(args=["--live-budget", "16M"])
    ctx = zmq.Context.instance()
    subs = []
    for _ in range(2):
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.RCVHWM, 1)
        sub.setsockopt(zmq.RCVBUF, 4096)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(f"tcp://127.0.0.1:{broker.port + 1}")
        subs.append(sub)
    batches, per_batch = 40, 64
    sink = procs.start("live-sink", sluice_it.sink_args(broker, "flood", "--from=beginning",
                                                        "--count", str(batches * per_batch),
                                                        "--format", "json"))
    watch = MemoryWatch(broker.proc.pid)
    try:
        with Sampler(watch):
            publish_batches(broker.wire, "flood", batches=batches, per_batch=per_batch,
                            value_size=32 * 1024)
            sink.expect_exit(0, T(180))
        _check_memory(broker, watch, 16 + 32, "2 unread subscribers, 80 MiB published")
    finally:
        for sub in subs:
            sub.close(0)
    got = sink.json_lines()
    assert [r["offset"] for r in got] == list(range(batches * per_batch)), "gapless, once each"
    assert [(r["value"]["b"], r["value"]["i"]) for r in got] == [
        (b, i) for b in range(batches) for i in range(per_batch)]
    _, skipped, _, _ = _limits(broker)
    assert skipped > 0, "the live feed skipped what did not fit (the sink refilled it)"


def test_member_that_never_reads_gets_no_more_work(make_broker, procs, tmp_path):
    """A member joins with window 64 and never reads its WORK (before: +640 MiB): it is paused at
    its byte budget, a real worker of the same group processes everything exactly once, and the
    stuck member's leases go back to the queue after --stuck-timeout."""
    broker = make_broker(args=["--peer-budget", "8M", "--stuck-timeout", "2s"])
    n = publish_batches(broker.wire, "wq", batches=48, per_batch=32, value_size=32 * 1024)
    watch = MemoryWatch(broker.proc.pid)
    evil = never_reading_dealer(broker.endpoint)
    stop = threading.Event()

    def keep_alive():
        while not stop.wait(0.3):
            evil.send_multipart([header(PING), pack({"req": 1})])

    try:
        with Sampler(watch):
            evil.send_multipart([header(JOIN), pack({"req": 1, "group": "g", "in": "wq",
                                                     "out": "wq.out", "member": "evil",
                                                     "window": 64, "batch": 32,
                                                     "lease_ms": 600000})])
            pinger = threading.Thread(target=keep_alive, daemon=True)
            pinger.start()
            # Small leases, and few (8, not the default 32 of 1 MiB each here), so that the
            # real worker's own WORK and RESULTs stay small next to what the hostile member
            # could take without its budget (the whole 48 MiB stream).
            worker = procs.start("worker", [sluice_it.WORKER_BIN, "--broker", broker.endpoint,
                                            "--group", "g", "--in", "wq", "--out", "wq.out",
                                            "--batch", "32", "--leases", "8"])
            wait_for(lambda: broker.wire.stream("wq.out")["next"] >= n, T(120),
                     "the real worker to process every record")
        _check_memory(broker, watch, 8 + 40, "a member with window 64 that never reads")
        out = sluice_it.read_stream(procs, broker, "wq.out")
        assert sorted((r["value"]["b"], r["value"]["i"]) for r in out) == [
            (b, i) for b in range(48) for i in range(32)], "every record once"
        worker.signal(2)
        worker.wait(T(20))
    finally:
        stop.set()
        evil.close(0)
    assert "has not read its replies" in broker.proc.stderr(), "the stuck member was dropped"


# --------------------------------------------------------------------------- class 2

def test_result_failed_lists_count_what_they_decode_to(make_broker, procs, tmp_path):
    """300 RESULTs each with 65,536 `failed` entries (~320 KiB on the wire, 17.8 MiB decoded;
    before: 600 of them took 2.4-3.1 GiB): the decoded size counts into the gather bound, so the
    broker holds a bounded number at a time; each is dropped as a result for no lease."""
    broker = make_broker()
    evil = Wire(broker.endpoint)
    cmd, _, body, _ = evil.request(JOIN, {"group": "r", "in": "r.in", "out": "r.out",
                                          "member": "evil"})
    assert cmd == JOINED, body
    failed = msgpack.packb([[i, ""] for i in range(65536)])
    result = pack({"group": "r", "lease": 999999, "offset": 0, "count": 65536,
                   "out_count": 0})
    # Splice "failed" into the map (one more key) without re-encoding 65,536 entries each time.
    result = bytes([result[0] + 1]) + result[1:] + msgpack.packb("failed") + failed
    watch = MemoryWatch(broker.proc.pid)
    with Sampler(watch):
        for _ in range(300):
            evil.send_frames([header(RESULT), result, b""])
        legit_pipeline(procs, broker, "legit", 2000, tmp_path)
        wait_for(lambda: evil.ping(timeout=T(30)), T(60), "the broker to take every RESULT")
    _check_memory(broker, watch, 64 + 18 + 48, "300 RESULTs of 65,536 failed entries")
    evil.close()
    slow = sanitized(broker.proc.pid)
    assert broker.stop() == 0
    stats = re.findall(r"(\d+) results \((\d+) late or repeated", broker.proc.stderr())
    assert stats, "no group statistics in the broker's log"
    taken, dropped = int(stats[-1][0]), int(stats[-1][1])
    assert taken == dropped, "each RESULT dropped as one for no lease"
    # Under ASan the broker is slow enough for its ZMTP heartbeat to time out a peer whose
    # messages wait in the full receive queue, which then loses them (BENCHMARKS/report: a
    # libzmq behaviour with heartbeats on a ROUTER); on the plain build every RESULT is taken.
    assert taken == 300 or (slow and taken > 0), f"{taken} of 300 RESULTs taken"


# --------------------------------------------------------------------------- class 3

def test_groups_over_the_cap_are_refused_also_after_a_restart(make_broker):
    """500 JOINs of new groups with --max-groups 50: 50 groups, 450 ERROR ELIMIT; the cap holds
    after a restart (the groups are stored), and a JOIN of an existing group still works."""
    broker = make_broker(args=["--max-groups", "50"])
    evil = Wire(broker.endpoint)
    answers = []
    for i in range(500):
        cmd, _, body, _ = evil.request(JOIN, {"group": f"g{i}", "in": "j.in", "out": f"j.{i}",
                                              "member": "m"})
        answers.append((cmd, body.get("code")))
    assert answers.count((JOINED, None)) == 50
    assert answers.count((ERROR, ELIMIT)) == 450
    evil.close()
    broker.stop()
    broker.start()
    again = Wire(broker.endpoint)
    cmd, _, body, _ = again.request(JOIN, {"group": "new", "in": "j.in", "out": "j.new",
                                           "member": "m"})
    assert (cmd, body.get("code")) == (ERROR, ELIMIT), body
    assert "--max-groups" in body["text"]
    cmd, _, body, _ = again.request(JOIN, {"group": "g7", "in": "j.in", "out": "j.7",
                                           "member": "m2"})
    assert cmd == JOINED, body
    again.close()


def test_streams_over_the_cap_are_refused(make_broker):
    """With --max-streams 20: 15 PUBLISHes to new streams that fail (a sequence gap) do not use
    up the cap; then of 30 new streams 20 are created and 10 get ERROR ELIMIT naming the flag;
    after a restart (the count is rebuilt from the store) a new stream is still refused and an
    existing one still takes records."""
    broker = make_broker(args=["--max-streams", "20"])
    wire = broker.wire
    for i in range(100, 115):
        wire.send(PUBLISH, {"stream": f"s{i}", "producer": f"p{i}", "seq": 5, "count": 1},
                  record({"i": i}))
        assert wire.recv(T(10))[2]["code"] == 13, "ESEQ: nothing written"
    codes = []
    for i in range(30):
        wire.send(PUBLISH, {"stream": f"s{i}", "producer": f"p{i}", "seq": 1, "count": 1},
                  record({"i": i}))
        reply = wire.recv(T(10))
        assert reply is not None
        codes.append(reply[0] if reply[0] == CONFIRM else reply[2]["code"])
        if reply[0] == ERROR:
            assert reply[2]["req"] == 1, "the ERROR names the PUBLISH's seq"
            assert "--max-streams" in reply[2]["text"]
    assert codes.count(CONFIRM) == 20 and codes.count(ELIMIT) == 10
    assert len(wire.streams()) == 20
    broker.close()
    broker.stop()
    broker.start()
    wire = broker.wire
    wire.send(PUBLISH, {"stream": "s99", "producer": "q", "seq": 1, "count": 1}, record(1))
    assert wire.recv(T(10))[2]["code"] == ELIMIT
    wire.send(PUBLISH, {"stream": "s0", "producer": "q", "seq": 1, "count": 1}, record(1))
    assert wire.recv(T(10))[0] == CONFIRM


def test_new_producer_names_do_not_grow_the_broker(make_broker):
    """200,000 HELLOs naming new producers (before: 600,000 grew a cache by 0.4-1.7 GiB): the
    cache stays at --max-producers, and an evicted producer's sequence is read back from disk."""
    broker = make_broker(args=["--max-producers", "1000"])
    wire = broker.wire
    wire.send(PUBLISH, {"stream": "keep", "producer": "keeper", "seq": 1, "count": 7},
              b"".join(record(i) for i in range(7)))
    assert wire.recv(T(10))[0] == CONFIRM
    watch = MemoryWatch(broker.proc.pid)
    evil = Wire(broker.endpoint)
    name = "p" * 180
    # In chunks below the broker's send high-water mark (256 replies queued per peer; past it
    # replies are dropped and a client asks again).
    for chunk in range(1000):
        for i in range(200):
            evil.send(HELLO, {"req": i, "client": "evil", "producer": f"{name}{chunk}-{i}",
                              "stream": "keep"})
        for _ in range(200):
            reply = evil.recv(T(30))
            assert reply is not None and reply[0] == WELCOME
        if chunk % 50 == 0:
            watch.sample()
    _check_memory(broker, watch, 24, "200,000 new producer names")
    cmd, _, body, _ = wire.request(HELLO, {"client": "t", "producer": "keeper",
                                           "stream": "keep"})
    assert cmd == WELCOME and body["seq"] == 7, body
    evil.close()


def test_idle_connections_cannot_exhaust_descriptors_or_spin(make_broker, procs):
    """400 TCP connections that never send a ZMTP greeting, against a broker limited to 256
    descriptors (before: 1,110 idle connections took the 1,024 descriptors, new clients went
    unanswered and the broker spun at 100 % CPU): the cap keeps descriptors free, the handshake
    deadline closes the idle ones, the broker does not spin, and a real client is served."""
    broker = make_broker(start=False)
    # A cap below the kernel's accept backlog (100), so that it is reached however the
    # connections arrive.
    broker.proc = procs.start("broker", ["prlimit", "--nofile=256:256", sluice_it.BROKER_BIN,
                                         "--data", broker.data_dir, "--listen", broker.endpoint,
                                         "--handshake-timeout", "1s", "--max-connections", "50"])
    broker.wait_ready()
    idle = []
    try:
        for _ in range(400):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", broker.port))
            idle.append(s)
        before = cpu_seconds(broker.proc.pid)
        t0 = time.monotonic()
        wire = Wire(broker.endpoint)

        def answered():
            # A client whose connection was closed over the cap loses what it had sent on it
            # and asks again after its timeout, as Sluice's clients do.
            try:
                return wire.ping(timeout=1)
            except AssertionError:
                return False
        wait_for(answered, T(30), "a real client to be answered")
        # Every idle connection is closed by the broker: over the cap at once, the others at
        # the handshake deadline.
        def closed(s):
            # The broker's greeting may come first: read past it to the end.
            try:
                while True:
                    if s.recv(4096) == b"":
                        return True
            except BlockingIOError:
                return False
            except OSError:
                return True
        # Connections the kernel could not queue for accept stay half-open on this side only
        # (the broker never saw them): count the ones the broker closed, and its descriptors.
        wait_for(lambda: sum(closed(s) for s in idle) >= 100, T(20),
                 "the broker to close the idle connections")
        wait_for(lambda: len(os.listdir(f"/proc/{broker.proc.pid}/fd")) < 100, T(20),
                 "the broker's descriptors to be given back")
        time.sleep(max(0.0, 3 - (time.monotonic() - t0)))
        used = cpu_seconds(broker.proc.pid) - before
        wall = time.monotonic() - t0
        assert used < 0.5 * wall, f"the broker used {used:.2f} s of CPU in {wall:.1f} s"
        assert wire.ping(timeout=T(10))
        wire.close()
    finally:
        for s in idle:
            s.close()
    assert "closing new ones (--max-connections" in broker.proc.stderr()
    _, _, _, closed_count = _limits(broker)
    assert closed_count > 0


# --------------------------------------------------------------------------- class 4

def test_32k_final_failures_are_dead_lettered_in_one_pass(make_broker, procs):
    """One lease of 32,768 records, all failed final in one RESULT (before: dead-lettering looked
    each record up from the start of its stored batch, 11 s of a stalled broker): all 32,768 go
    to GROUP.dlq in offset order, each with its original record, and the broker keeps answering
    (the time it takes is in BENCHMARKS.md, not asserted here)."""
    broker = make_broker()
    n = 32768
    wire = broker.wire
    wire.send(PUBLISH, {"stream": "dl.in", "producer": "p", "seq": 1, "count": n},
              b"".join(record({"i": i}) for i in range(n)))
    assert wire.recv(T(30))[0] == CONFIRM
    member = Wire(broker.endpoint)
    cmd, _, body, _ = member.request(JOIN, {"group": "dl", "in": "dl.in", "out": "dl.out",
                                            "member": "m", "window": 1, "batch": n,
                                            "max_deliver": 1})
    assert cmd == JOINED, body
    work = wait_for(lambda: member.recv(T(1)), T(30), "WORK")
    assert work[0] == WORK and work[2]["count"] == n, work[2]
    lease = work[2]["lease"]
    result = pack({"group": "dl", "lease": lease, "offset": 0, "count": n, "out_count": 0})
    failed = msgpack.packb([[i, f"boom {i}", True] for i in range(n)])
    result = bytes([result[0] + 1]) + result[1:] + msgpack.packb("failed") + failed
    member.send_frames([header(RESULT), result, b""])
    assert wire.ping(timeout=T(30)), "the broker answers while and after dead-lettering"
    wait_for(lambda: wire.stream("dl.dlq")["next"] == n, T(60), "32,768 dead letters")
    dead = sluice_it.read_stream(procs, broker, "dl.dlq")
    assert [d["value"]["offset"] for d in dead] == list(range(n)), "one each, in offset order"
    assert all(d["value"]["record"]["value"] == {"i": d["value"]["offset"]} for d in dead)
    assert all(d["value"]["error"] == f"boom {d['value']['offset']}" for d in dead)
    member.close()


def test_the_connection_cap_stays_below_the_descriptor_limit(make_broker, procs):
    """Under a descriptor limit of 256, the default cap (4096) is lowered to leave descriptors
    for the store, the logs and accept itself, and the broker says so."""
    broker = make_broker(start=False)
    broker.proc = procs.start("broker", ["prlimit", "--nofile=256:256", sluice_it.BROKER_BIN,
                                         "--data", broker.data_dir, "--listen", broker.endpoint])
    broker.wait_ready()
    assert ("--max-connections 4096 is above what the descriptor limit (256) allows; using 192"
            in broker.proc.stderr())
    assert "192 connections" in broker.proc.stderr()


# --------------------------------------------------------------------------- heartbeat counters

def test_heartbeat_counters_from_many_peers_stay_bounded(make_broker, procs, tmp_path):
    """PING may carry a client's counters (PROTOCOL.md §15.5), which the broker keeps per peer.
    300 connections each claim a role with names at the length limit and hostile bytes, and one
    of them floods 20,000 such PINGs: every PING is answered, the broker's memory stays bounded,
    the document lists at most 256 clients (truncated) with printable names only, and a real
    pipeline is served meanwhile."""
    broker = make_broker()
    watch = MemoryWatch(broker.proc.pid)
    ctx = zmq.Context.instance()
    peers = []
    try:
        with Sampler(watch):
            for i in range(300):
                sock = ctx.socket(zmq.DEALER)
                sock.setsockopt(zmq.LINGER, 0)
                sock.connect(broker.endpoint)
                peers.append(sock)

            def report_all():
                for i, sock in enumerate(peers):
                    body = {"req": i, "role": "source\x01\"",
                            "client": f"{i:04d}" + "\\\n\x7f" * 19, "stream": "s" * 200,
                            "records": 2**64 - 1, "errors": i}
                    sock.send_multipart([header(PING), pack(body)])
                for sock in peers:
                    assert sock.poll(int(T(30) * 1000)), "a PING with counters was not answered"
                    assert sock.recv_multipart()[0][3] == PONG
            report_all()
            flood = peers[0]
            for chunk in range(100):
                for j in range(200):
                    flood.send_multipart([header(PING), pack({"req": j, "role": "worker",
                                                              "client": f"flood-{j}",
                                                              "records": j})])
                for _ in range(200):
                    assert flood.poll(int(T(30) * 1000)), "the flood's PINGs went unanswered"
                    flood.recv_multipart()
            legit_pipeline(procs, broker, "legit", 2000, tmp_path)
        _check_memory(broker, watch, 16, "300 peers' heartbeat counters and a 20,000-PING flood")
        # Heard again just now: STAT lists clients heard within 10 s, and the pipeline above
        # can take longer than that on a slow (sanitizer) build.
        report_all()
        proc = procs.start("stat", [str(sluice_it.BUILD / "cli" / "sluice"), "stat", "--json",
                                    "-b", broker.endpoint])
        proc.expect_exit(0, T(60))
        doc = sluice_it.json.loads(proc.stdout())
        clients = doc["clients"]
        assert 0 < len(clients) <= 256 and doc.get("truncated") is True, (len(clients), doc.get("truncated"))
        for c in clients:
            assert all(0x20 <= ord(ch) < 0x7f and ch not in "\"\\" for ch in c["role"] + c["name"]), c
            assert len(c["name"]) <= 63 and len(c["role"]) <= 15, c
    finally:
        for sock in peers:
            sock.close()
