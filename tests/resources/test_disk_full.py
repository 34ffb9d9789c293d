"""A full disk and a tiny map (DESIGN.md, Storage): the broker's data directory lives on a
tmpfs mounted by the test (root only; skipped when mount is refused). A named source publishes
more than fits: the broker logs the full disk once, the source waits and retries, nothing that
was stored is damaged. Then the tmpfs is made bigger: everything flows, and the stream read back
equals the input by id (0 lost, 0 duplicated; checked here and by sluice-verify when built).
The broker starts with --initial-map 1M, so the map also has to grow many times on the way.
"""

import os
import shutil
import subprocess
import time

import pytest

from conftest import VERIFY_BIN, compare_by_id, sluice_it

T = sluice_it.T


@pytest.fixture
def small_fs(tmp_path):
    """A 16 MiB tmpfs at tmp_path/fs; unmounted at teardown (after the processes: it is set up
    before `procs` by being the first argument of the test)."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    rc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mnt)],
                        capture_output=True, text=True)
    if rc.returncode != 0:
        pytest.skip(f"mount -t tmpfs refused: {rc.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _remount(mnt, size):
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mnt)], check=True)


def _log_counts(broker):
    """(broker "disk full" lines, "intake resumed" lines, store "disk full" lines)."""
    lines = broker.proc.stderr().splitlines()
    return (sum("broker: disk full" in l for l in lines),
            sum("intake resumed" in l for l in lines),
            sum("store: commit: disk full" in l for l in lines))


def _fill_disk(procs, make_broker, small_fs, tmp_path):
    """Starts a broker on the small disk and a named source with more than fits; returns
    (broker, source, values, input path, records stored) once intake has stopped for good."""
    broker = make_broker(["--initial-map", "1M"], data_dir=small_fs / "data")
    pad = "p" * 1000
    values = [{"id": i, "pad": pad} for i in range(30_000)]      # ~30 MB into a 16 MiB disk
    path = sluice_it.write_jsonl(tmp_path / "in.jsonl", values)
    # One batch in flight: a commit holds at most one batch, and the retry of a batch that did
    # not fit is that same batch. With several in flight, a commit that failed part-way could
    # leave file room that a later, smaller group of batches fits into: intake would move again
    # after seconds of standing still, and "stays full" could not be tested.
    src = procs.start("source", sluice_it.source_args(
        broker, "full", "--name", "filler", "--no-progress", "--timeout", "2s", "--window", "1",
        "--connect-timeout", "0", str(path)))
    sluice_it.wait_for(lambda: "disk full" in broker.proc.stderr(), T(120),
                       "the broker to report the full disk")
    stored = broker.next("full")
    deadline = time.monotonic() + T(120)
    still_since = time.monotonic()
    while time.monotonic() - still_since < T(4):
        assert time.monotonic() < deadline, "intake never stopped for good"
        time.sleep(0.5)
        now = broker.next("full")
        if now != stored:
            stored, still_since = now, time.monotonic()
    return broker, src, values, path, stored


def test_disk_full_stops_intake_and_recovers(small_fs, procs, make_broker, tmp_path):
    broker, src, values, path, stored = _fill_disk(procs, make_broker, small_fs, tmp_path)

    # Intake stopped with a clear error, each stop logged once by the store and the broker;
    # the source keeps waiting and retrying; the broker keeps serving.
    full, resumed, store_full = _log_counts(broker)
    assert full >= 1 and store_full == full and resumed in (full - 1, full), (
        f"each stop of intake is logged once (broker {full}, store {store_full}, "
        f"resumed {resumed}):\n{broker.proc.stderr()[-3000:]}")
    time.sleep(T(3))
    assert src.alive(), f"the source gave up on a full disk:\n{src.stderr()[-3000:]}"
    assert broker.proc.alive() and broker.wire.ping()
    assert broker.next("full") == stored, "records were confirmed while the disk was full"
    assert stored < len(values), "the disk did not fill up"
    print(f"disk full after {stored} of {len(values)} records")

    # What was stored before the disk filled is intact and readable.
    got = sluice_it.read_stream(procs, broker, "full")
    assert len(got) == stored
    sluice_it.assert_records(got, values[:stored])

    # Space comes back: intake resumes by itself and the source finishes.
    _remount(small_fs, "256m")
    src.expect_exit(0, T(180))
    sluice_it.wait_for(lambda: "intake resumed" in broker.proc.stderr(), T(30),
                       "the broker to report intake resumed")
    got = sluice_it.read_stream(procs, broker, "full")
    lost, duplicated, unexpected = compare_by_id(values, [r["value"] for r in got])
    assert (lost, duplicated, unexpected) == (0, 0, 0), (
        f"lost {lost}, duplicated {duplicated}, unexpected {unexpected}")
    sluice_it.assert_records(got, values)
    assert "map grown" in broker.proc.stderr(), "a 1 MiB map held 30 MB without growing?"

    if VERIFY_BIN.exists():
        verify = procs.start("verify", [VERIFY_BIN, "--broker", broker.endpoint, "--sent",
                                        path, "--got-stream", "full", "--id", "id"])
        verify.expect_exit(0, T(120))

    # The broker stops cleanly and its data opens again with everything in it.
    assert broker.stop() == 0
    broker.start()
    assert broker.next("full") == len(values)


# While the disk stays full, each resend by the source can end in a commit that writes nothing
# (the batches after the refused one fail their sequence check). Such an empty commit must not
# count as space being back: the full disk is logged once, not again on every resend.
def test_disk_full_is_logged_once_while_it_stays_full(small_fs, procs, make_broker, tmp_path):
    broker, src, _, _, stored = _fill_disk(procs, make_broker, small_fs, tmp_path)
    before = _log_counts(broker)
    time.sleep(T(8))        # four resends by the source (--timeout 2s)
    assert src.alive() and broker.next("full") == stored
    after = _log_counts(broker)
    assert after == before, (f"logged again while the disk stayed full: (broker, resumed, "
                             f"store) went from {before} to {after}")
