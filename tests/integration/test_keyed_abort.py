"""A keyed group's RESULT whose transaction fails after its lease was acked in memory
(broker/groups.c s_apply_result): the group commit aborts, every group it touched is restored
from its snapshot (sl_groups_end), so the lease is live again and handed out again, and the
output and the key states count every record exactly once. The failure is real: the broker's
data directory is a tmpfs filled up to its last byte, so the RESULTs' commits fail with
ENOSPC until space is freed; or the store's map fills up inside a RESULT's transaction.
"""

import os
import time

import msgpack

from conftest import HELLO, PING, WELCOME, T, Wire, wait_for
from groups_util import records, start_worker, stop_workers, wait_joined, wait_stream
from keyed_reference import check_lua
from test_keyed import JOIN, JOINED, RESULT, WORK, _rec, publish
from test_operate import tiny_fs  # noqa: F401  (the fixture: an 8 MiB tmpfs)

# LUA_COUNTER (keyed_reference.py) with each output carrying its input's padding, so that a
# RESULT needs fresh pages of the store and fails while the disk is full.
LUA_PADDED = """
function process(record)
  local v = record.value
  local s = state.get() or {n = 0, total = 0}
  s.n = s.n + 1
  s.total = s.total + (v.amount or 0)
  state.set(s)
  return {user = v.user, seq = v.seq, n = s.n, total = s.total, pad = v.pad}
end
"""


def _fill(path):
    """Writes path until the filesystem has no byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def _work(wire, group):
    """The next WORK, heartbeating meanwhile (a member silent 3 s is gone)."""
    deadline = time.monotonic() + T(30)
    while time.monotonic() < deadline:
        wire.send(PING, {"group": group})
        got = wire.recv(0.25)
        if got is not None and got[0] == WORK:
            return got[2]
    raise AssertionError("no WORK")


def test_a_result_that_fails_after_its_ack_is_handed_out_again(tiny_fs, procs, make_broker,
                                                              tmp_path):
    """A member's RESULT (300 KB of output and a key state) reaches a broker whose disk is full
    to the last byte: its lease is acked in memory, the commit fails, the group is restored from
    its snapshot, so nothing of the RESULT is stored and the lease, live again, is handed out
    again at its deadline with the same records; once space is back the member's RESULT for it
    is stored exactly once."""
    broker = make_broker(["--initial-map", "1M"], data_dir=tiny_fs / "data")
    publish(procs, broker, tmp_path, [{"user": "a", "n": 1}], "in")
    wire = Wire(broker.endpoint)
    try:
        cmd, _, body, _ = wire.request(HELLO, {"client": "pytest"})
        assert cmd == WELCOME, body
        cmd, _, body, _ = wire.request(JOIN, {"group": "kg", "in": "in", "out": "out",
                                              "member": "m", "window": 1, "key": "user",
                                              "shares": 1, "lease_ms": 1000})
        assert cmd == JOINED, body
        first = _work(wire, "kg")
        result = {"group": "kg", "lease": first["lease"], "offset": first["offset"],
                  "count": first["count"], "share": 0, "out_count": 1, "state_count": 1}
        frame = _rec({"big": "x" * 300_000}) + _rec({"n": 1}, key=msgpack.packb("a"))
        _fill(tiny_fs / "pad")
        wire.send(RESULT, result, frame)
        again = _work(wire, "kg")
        assert (again["offset"], again["count"]) == (first["offset"], first["count"])
        assert "disk full in" in broker.proc.stderr()
        assert broker.next("out") == 0 and broker.next("kg.state") == 0
        os.unlink(tiny_fs / "pad")
        wire.send(RESULT, dict(result, lease=again["lease"]), frame)
        wait_for(lambda: broker.next("out") == 1, T(30), "the RESULT stored")
        assert broker.next("kg.state") == 1
        # The first lease is done with: its late RESULT is dropped, nothing appended twice.
        wire.send(RESULT, result, frame)
        wire.request(PING, {"group": "kg"})
        assert (broker.next("out"), broker.next("kg.state")) == (1, 1)
    finally:
        wire.close()


def test_a_result_redone_after_the_map_grew_counts_once(procs, make_broker, tmp_path):
    """A 1 MiB map fills up inside a RESULT's transaction: LMDB aborts it, the broker grows the
    map and redoes the group commit from the restored snapshot (were the lease still acked in
    memory, the redo would drop the RESULT as repeated and lose its output)."""
    broker = make_broker(["--initial-map", "1M"])
    pad = "q" * 1500
    data = [{"user": f"u{i % 4}", "seq": i, "amount": i, "pad": pad} for i in range(300)]
    publish(procs, broker, tmp_path, data, "in")
    assert "map grown" not in broker.proc.stderr()
    script = tmp_path / "padded.lua"
    script.write_text(LUA_PADDED)
    w = start_worker(procs, broker, "cnt", "in", "out", "--key", "user", "--lua", str(script),
                     "--shares", "1", "--batch", "50", "--lease", "5s", name="member")
    wait_joined(w)
    wait_stream(broker, "out", len(data), T(120), watch=[w])
    stop_workers([w])
    assert "map grown" in broker.proc.stderr()
    got = [r["value"] for r in records(procs, broker, "out")]
    for v in got:
        del v["pad"]
    check_lua(got, data)
    assert broker.stop() == 0
    assert "(0 late or repeated, dropped)" in broker.proc.stderr()
