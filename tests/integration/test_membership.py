"""A membership that ends while its member is away (docs/worker.md, "Members"): a member
silent for over 3 s is dropped and its leases go back to the queue (said in the broker's
log). When it speaks again, its heartbeat names its group and the broker answers ERROR
ESTATE, so the member joins again instead of waiting for work that never comes."""

import signal

from conftest import ERROR, HELLO, PING, PONG, WELCOME, T, Wire, run_source, wait_for, \
    write_jsonl
from groups_util import assert_exactly_once, start_worker, values, wait_joined, wait_stream

JOIN, JOINED = 0x11, 0x12
ESTATE = 22


def test_a_dropped_member_is_told_on_its_next_heartbeat(broker):
    wire = Wire(broker.endpoint)
    try:
        assert wire.request(HELLO, {"client": "pytest"})[0] == WELCOME
        cmd, _, body, _ = wire.request(JOIN, {"group": "g", "in": "in", "out": "out",
                                              "member": "m"})
        assert cmd == JOINED, body
        cmd, _, body, _ = wire.request(PING, {"group": "g"})
        assert cmd == PONG, body
        # Silent: the broker drops it after 3 s and says so.
        wait_for(lambda: "silent for over" in broker.proc.stderr(), T(20),
                 "the broker to drop the silent member")
        assert "group 'g': 1 member(s) silent for over 3000 ms dropped" in broker.proc.stderr()
        cmd, _, body, _ = wire.request(PING, {"group": "g"})
        assert cmd == ERROR and body["code"] == ESTATE, body
        assert "not a member of group 'g'" in body["text"] and "join again" in body["text"]
        # A heartbeat that names no group is a plain one: PONG.
        assert wire.request(PING, {})[0] == PONG
        # It joins again and is a member: PONG.
        cmd, _, body, _ = wire.request(JOIN, {"group": "g", "in": "in", "out": "out",
                                              "member": "m"})
        assert cmd == JOINED, body
        assert wire.request(PING, {"group": "g"})[0] == PONG
    finally:
        wire.close()


def test_a_worker_frozen_past_its_silence_joins_again_and_loses_nothing(procs, broker,
                                                                         tmp_path):
    n = 3000
    path = write_jsonl(tmp_path / "in.jsonl", [{"i": i} for i in range(n)])
    worker = start_worker(procs, broker, "g", "in", "out", "--batch", "100")
    wait_joined(worker)
    run_source(procs, broker, "in", str(path))
    wait_stream(broker, "out", 1, T(30), watch=[worker])
    worker.signal(signal.SIGSTOP)
    try:
        wait_for(lambda: "silent for over" in broker.proc.stderr(), T(20),
                 "the broker to drop the frozen member")
    finally:
        worker.signal(signal.SIGCONT)
    wait_joined(worker, times=2, timeout=T(30))
    assert "not a member of group 'g'" in worker.stderr(), worker.stderr()[-2000:]
    wait_stream(broker, "out", n, T(60), watch=[worker])
    assert_exactly_once([v["i"] for v in values(procs, broker, "out")], list(range(n)))
