"""Issue 11, classes 6 and 7: one broker per data directory; damaged stores refused or
reported, never a crash and never a wrong record.

Every store here is written by a real broker from a real source, then damaged on disk while
the broker is stopped: truncations (8 KiB, half, zero, one page short), bit flips in the
bytes of stored records, random garbage. The broker must never die of a signal (SIGBUS,
SIGSEGV), must never serve a record other than the one published at its offset, and either
refuses to start with a clear message (exit 3) or reports the damaged range (ERROR 28,
ECORRUPT) and serves the rest; `sluice-broker --check` must find each damage (exit 3) and
call a clean store clean (exit 0).
"""

import os
import random
import re
import shutil
import signal
import struct
import subprocess

import msgpack
import pytest

from conftest import (BROKER_BIN, BUILD, ERROR, FETCH, RECORDS, SANITIZER_MARKS, T, Wire,
                      child_env, free_port_pair, run_source, wait_for, write_jsonl)

SLUICE_BIN = BUILD / "cli" / "sluice"
ECORRUPT = 28
EXIT_DAMAGED = 3
N = 3000
STREAM = "dmg"


def _values():
    # A unique marker per record, so that the test can find a record's bytes in data.mdb.
    return [{"i": i, "tag": f"rec-{i:06d}-" + "x" * 40} for i in range(N)]


@pytest.fixture
def store(make_broker, procs, tmp_path):
    """A store written by a real broker (N records in several batches), broker stopped."""
    values = _values()
    path = write_jsonl(tmp_path / "in.jsonl", values)
    broker = make_broker()
    # Small batches: the stream holds many batches, so a damaged one leaves others to serve.
    run_source(procs, broker, STREAM, "--name", "dmg-src", "--batch-records", "100", str(path))
    assert broker.next(STREAM) == N
    broker.close()
    assert broker.stop() == 0
    return broker, values


def _copy(src, tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("broker.lock"))
    return dst


def _clean(r):
    """r (a finished subprocess) with no sanitizer report in its output."""
    for mark in SANITIZER_MARKS:
        assert mark not in r.stdout + r.stderr, r.stdout + r.stderr
    return r


def _check(data_dir):
    return _clean(subprocess.run([str(BROKER_BIN), "--check", "--data", str(data_dir)],
                                 capture_output=True, text=True, timeout=T(60), env=child_env()))


def _start_broker(procs, data_dir, name, env=None):
    port = free_port_pair()
    return procs.start(name, [BROKER_BIN, "--data", data_dir,
                              "--listen", f"tcp://127.0.0.1:{port}"],
                       env=env), f"tcp://127.0.0.1:{port}"


def _records(blob):
    """(base, [values]) of a stored blob, its record count checked against its header."""
    count, base = struct.unpack(">IQ", blob[4:16])
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(blob[24:])
    values = [rec[3] for rec in unpacker]
    assert len(values) == count, f"blob at {base}: {len(values)} records, header {count}"
    return base, values


def _fetch_all(wire, stream, upto, strict=True):
    """Reads [0, upto) with FETCH, stepping over damaged ranges the way the ERROR says.
    Returns ({offset: value}, [(from, seq, text)]). strict: every ERROR must be ECORRUPT
    with a seq ahead, and every reply must move on."""
    served, damaged = {}, []
    off = 0
    for _ in range(upto + 10):              # bounded: each request moves on at least one
        if off >= upto:
            break
        cmd, _, body, data = wire.request(FETCH, {"stream": stream, "offset": off,
                                                  "max_records": 500}, timeout=T(10))
        if cmd == ERROR:
            if strict:
                assert body["code"] == ECORRUPT, body
                assert body.get("seq", 0) > off, f"ECORRUPT must say where to go on: {body}"
            damaged.append((off, body.get("seq", 0), body["text"]))
            off = max(body.get("seq", 0), off + 1)
            continue
        assert cmd == RECORDS, (cmd, body)
        if not data:
            assert not strict, f"no blobs at {off} below next {upto}"
            break
        for blob in data:
            base, values = _records(blob)
            for k, value in enumerate(values):
                if base + k >= off:
                    served[base + k] = value
            off = max(off, base + len(values))
    return served, damaged


def _assert_no_signal(proc):
    rc = proc.returncode
    assert rc is None or rc >= 0, (f"broker died of signal {-rc}\n{proc.stderr()[-3000:]}")


def _stop(proc):
    if proc.alive():
        proc.signal(signal.SIGTERM)
        rc = proc.wait(T(20))
        assert rc == 0, f"broker exited {rc} on SIGTERM\n{proc.stderr()[-3000:]}"


# ---------------------------------------------------------------- class 6: the lock

def test_second_broker_on_one_data_dir_exits_1_naming_dir_and_pid(make_broker, procs):
    first = make_broker()
    second, _ = _start_broker(procs, first.data_dir, "second")
    assert second.wait(T(20)) == 1
    err = second.stderr()
    lines = [line for line in err.splitlines() if "in use by another broker" in line]
    assert len(lines) == 1, err
    assert str(first.data_dir) in lines[0] and f"pid {first.proc.pid}" in lines[0], lines[0]
    assert first.wire.ping(), "the first broker serves on"
    # The lock file names the holder.
    assert (first.data_dir / "broker.lock").read_text().strip() == str(first.proc.pid)


def test_lock_is_released_by_kill9_and_by_a_clean_stop(make_broker, procs):
    first = make_broker()
    first.kill9()
    first.proc.wait(T(20))
    first.restart()                 # the kernel dropped the lock with the process
    assert first.wire.ping()
    first.close()
    assert first.stop() == 0
    second, endpoint = _start_broker(procs, first.data_dir, "second")
    wait_for(lambda: "listening" in second.stderr() or not second.alive(), T(20),
             "the second broker to start")
    assert second.alive(), second.stderr()
    _stop(second)


@pytest.mark.skipif(not SLUICE_BIN.exists(), reason=f"{SLUICE_BIN} not built")
def test_sluice_run_on_a_data_dir_in_use_exits_1_without_restarting(make_broker, tmp_path):
    first = make_broker()
    port = free_port_pair()
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"broker:\n  listen: tcp://127.0.0.1:{port}\n  data: {first.data_dir}\n"
                        "sinks:\n  - stream: s\n    output: out.jsonl\n")
    r = _clean(subprocess.run([str(SLUICE_BIN), "run", str(pipeline)], capture_output=True,
                              text=True, timeout=T(60), env=child_env(), cwd=tmp_path))
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert f"{first.data_dir} is in use by another broker (pid {first.proc.pid})" in out, out
    assert "restarting" not in out, out
    assert first.wire.ping()


# ---------------------------------------------------------------- class 7: damaged stores

@pytest.mark.skipif(not SLUICE_BIN.exists(), reason=f"{SLUICE_BIN} not built")
def test_sluice_run_on_a_damaged_store_stops_instead_of_restarting(store, tmp_path):
    broker, _ = store
    data = _copy(broker.data_dir, tmp_path, "run-cut")
    os.truncate(data / "data.mdb", 8192)
    port = free_port_pair()
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"broker:\n  listen: tcp://127.0.0.1:{port}\n  data: {data}\n"
                        "sinks:\n  - stream: s\n    output: out.jsonl\n")
    r = _clean(subprocess.run([str(SLUICE_BIN), "run", str(pipeline)], capture_output=True,
                              text=True, timeout=T(60), env=child_env(), cwd=tmp_path))
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "the file was truncated" in out, out
    assert "exit 3: its data directory is damaged" in out and "restarting" not in out.replace(
        "not restarting", ""), out
    assert out.count("the file was truncated") == 1, "started once, not in a loop"

def test_clean_store_checks_clean(store):
    broker, _ = store
    r = _check(broker.data_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"stream {STREAM}: {N} records" in r.stdout and "clean" in r.stdout, r.stdout


def _page_size(path):
    # LMDB keeps its page size in md_pad of the free DB's record in meta page 0: after the
    # 16-byte page header, magic and version (4 + 4), address and map size (8 + 8).
    with open(path, "rb") as f:
        head = f.read(64)
    return struct.unpack("<I", head[40:44])[0]


@pytest.mark.parametrize("cut", ["8KiB", "half", "zero", "one page short"])
def test_truncated_store_is_refused_at_start_and_found_by_check(store, procs, tmp_path, cut):
    broker, _ = store
    data = _copy(broker.data_dir, tmp_path, f"cut-{cut.replace(' ', '-')}")
    mdb = data / "data.mdb"
    size = mdb.stat().st_size
    page = _page_size(mdb)
    assert page in (4096, 8192, 16384, 65536), page
    length = {"8KiB": 8192, "half": size // 2, "zero": 0, "one page short": size - page}[cut]
    assert length < size
    os.truncate(mdb, length)

    proc, _ = _start_broker(procs, data, "damaged")
    rc = proc.wait(T(20))
    assert rc == EXIT_DAMAGED, f"exit {rc}\n{proc.stderr()[-3000:]}"
    err = proc.stderr()
    assert "data.mdb" in err and ("truncated" in err or "empty" in err), err
    assert "listening" not in err
    r = _check(data)
    assert r.returncode == EXIT_DAMAGED, r.stdout + r.stderr
    assert "DAMAGED" in r.stdout, r.stdout
    assert os.path.getsize(mdb) == length, "nothing wrote to the damaged file"


def _flip_in_record(mdb, index, bit=0x10):
    """Flips one bit inside record index's marker, wherever its bytes are. Returns the count."""
    blob = bytearray(mdb.read_bytes())
    marker = f"rec-{index:06d}-".encode()
    at = blob.find(marker)
    hits = 0
    while at >= 0:
        blob[at + len(marker) + 3] ^= bit
        hits += 1
        at = blob.find(marker, at + 1)
    mdb.write_bytes(bytes(blob))
    return hits


def test_bit_flips_in_records_are_reported_never_served(store, procs, tmp_path):
    broker, values = store
    data = _copy(broker.data_dir, tmp_path, "flipped")
    damaged_records = (250, 1777)
    for i in damaged_records:
        assert _flip_in_record(data / "data.mdb", i) >= 1

    r = _check(data)
    assert r.returncode == EXIT_DAMAGED, r.stdout + r.stderr
    for i in damaged_records:
        assert "failed its checksum" in r.stdout, r.stdout
    assert r.stdout.count("failed its checksum") == len(damaged_records), r.stdout

    proc, endpoint = _start_broker(procs, data, "flipped")
    wire = Wire(endpoint)
    try:
        wait_for(lambda: "listening" in proc.stderr() or not proc.alive(), T(20), "listening")
        served, damaged = _fetch_all(wire, STREAM, N)
        # Every record served is the one published at its offset.
        for off, value in served.items():
            assert value == values[off], f"offset {off}: served {value!r}, published {values[off]!r}"
        # Each damaged record lies in a reported range, and only those ranges are missing.
        assert len(damaged) == len(damaged_records), damaged
        for (start, end, text), i in zip(damaged, damaged_records):
            assert start <= i < end, (start, end, i)
            assert f"stream {STREAM}" in text and f"offsets {start}" in text, text
        missing = set(range(N)) - set(served)
        assert missing == {o for s, e, _ in damaged for o in range(s, e)}
        assert len(missing) < N // 4, "the broker serves on around the damage"
        assert wire.ping()
    finally:
        wire.close()
    _assert_no_signal(proc)
    err = proc.stderr()
    assert "failed its checksum" in err and f"stream {STREAM}" in err, err
    _stop(proc)
    assert "reads met stored batches that failed their checksum" in proc.stderr()


def test_sink_stops_with_the_damaged_range_and_reads_on_after_it(store, procs, tmp_path):
    broker, values = store
    data = _copy(broker.data_dir, tmp_path, "flipped-sink")
    assert _flip_in_record(data / "data.mdb", 1000) >= 1
    proc, endpoint = _start_broker(procs, data, "flipped")
    wait_for(lambda: "listening" in proc.stderr() or not proc.alive(), T(20), "listening")
    sink_bin = BUILD / "sink" / "sluice-sink"
    sink = procs.start("sink", [sink_bin, "--broker", endpoint, "--stream", STREAM,
                                "--from", "beginning", "--exit-at-end", "--format", "json"])
    assert sink.wait(T(60)) == 1, "a reader is told, not fed a wrong record"
    assert "stored data failed its checksum" in sink.stderr(), sink.stderr()
    got = sink.json_lines()
    assert got and all(r["value"] == values[r["offset"]] for r in got)
    assert got[-1]["offset"] < 1000
    m = re.search(r"offsets (\d+)\.\.(\d+) \(read on from (\d+)\)", sink.stderr())
    assert m, sink.stderr()
    start, last, on = (int(g) for g in m.groups())
    assert start == got[-1]["offset"] + 1 and start <= 1000 <= last and on == last + 1
    # The ERROR said where the stream goes on; a reader started there gets the rest, intact.
    rest = procs.start("rest", [sink_bin, "--broker", endpoint, "--stream", STREAM,
                                "--from", str(on), "--exit-at-end", "--format", "json"])
    assert rest.wait(T(60)) == 0, rest.stderr()
    tail = rest.json_lines()
    assert [r["offset"] for r in tail] == list(range(on, N))
    assert all(r["value"] == values[r["offset"]] for r in tail)
    _stop(proc)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_random_garbage_never_crashes_nor_serves_a_wrong_record(store, procs, tmp_path, seed):
    broker, values = store
    data = _copy(broker.data_dir, tmp_path, f"garbage-{seed}")
    mdb = data / "data.mdb"
    rnd = random.Random(seed)
    blob = bytearray(mdb.read_bytes())
    page = _page_size(mdb)
    # A page of garbage somewhere after the two meta pages, and a few single flips.
    at = rnd.randrange(2 * page, len(blob) - page)
    blob[at:at + page] = bytes(rnd.getrandbits(8) for _ in range(page))
    for _ in range(5):
        blob[rnd.randrange(2 * page, len(blob))] ^= 1 << rnd.randrange(8)
    mdb.write_bytes(bytes(blob))

    r = _check(data)
    assert r.returncode in (0, EXIT_DAMAGED), f"--check exit {r.returncode}\n{r.stdout}{r.stderr}"
    # LMDB has no page checksums: on a store that --check calls damaged, a read can meet a
    # tree page LMDB takes for sound and fault on it (docs/reliability.md, "Damaged stores":
    # restore it). A broker started there anyway may die of that fault (plainly: no sanitizer
    # report for it, as --check's own walk), but never serves a wrong record. On a store
    # --check passes, it must not crash.
    damaged = r.returncode == EXIT_DAMAGED
    faults = (-signal.SIGSEGV, -signal.SIGBUS)
    env = child_env({"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                     ":handle_segv=0:handle_sigbus=0"}) if damaged else None
    proc, endpoint = _start_broker(procs, data, "garbage", env)
    wait_for(lambda: "listening" in proc.stderr() or not proc.alive(), T(20),
             "the broker to listen or refuse")
    if not proc.alive():
        assert proc.returncode in (1, EXIT_DAMAGED) or (damaged and proc.returncode in faults), \
            proc.stderr()
        return
    wire = Wire(endpoint)
    try:
        try:
            served, _ = _fetch_all(wire, STREAM, N, strict=False)
        except AssertionError:
            if damaged and proc.wait(T(10)) in faults:
                return
            raise
        for o, v in served.items():
            assert 0 <= o < N and v == values[o], f"offset {o}: served {v!r}"
        assert wire.ping()
    finally:
        wire.close()
    _assert_no_signal(proc)
    _stop(proc)
