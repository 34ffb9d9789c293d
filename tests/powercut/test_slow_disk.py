"""A slow disk (docs/reliability.md, "A slow disk"): one sync of the broker's log takes
longer than a member may be silent (3 s). The broker does not read its socket while its
commit waits, so it must not count that time against the members whose messages wait
there: the member stays, keeps its leases, and the group's output is complete once."""

import json

from sluice_it import SOURCE_BIN, WORKER_BIN, T, read_stream, wait_for, write_jsonl


def test_a_sync_slower_than_member_silence_drops_no_member(disk, make_broker, procs, tmp_path):
    broker = make_broker(data_dir=disk.mnt / "data")
    worker = procs.start("worker", [WORKER_BIN, "--broker", broker.endpoint, "--group", "g",
                                    "--in", "in", "--out", "out"])

    def publish(name, first, count):
        path = write_jsonl(tmp_path / f"{name}.jsonl",
                           [{"i": i} for i in range(first, first + count)])
        src = procs.start(name, [SOURCE_BIN, "--broker", broker.endpoint, "--stream", "in",
                                 "--no-progress", str(path)])
        assert src.wait(T(60)) == 0, src.stderr()

    publish("before", 0, 100)
    wait_for(lambda: broker.next("out") == 100, T(30), "the member's output before the stall")
    # The next sync stalls 4.5 s: the broker's commit of these records waits that long while
    # the member's PINGs queue up in its socket.
    disk.stall_next_sync(4.5)
    publish("during", 100, 100)
    wait_for(lambda: "stalling a sync" in disk.log.read_text(), T(30), "the slow sync")
    wait_for(lambda: broker.next("out") == 200, T(60), "the member's output after the stall")
    assert "silent for over" not in broker.proc.stderr(), broker.proc.stderr()[-2000:]
    assert worker.alive(), worker.stderr()[-2000:]
    got = sorted(r["value"]["i"] for r in read_stream(procs, broker, "out"))
    assert got == list(range(200)), "every record once in the group's output"
