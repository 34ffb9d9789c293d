"""sluice-sink --output DIR: files named by first offset, complete only under their final
name, rotated by size and age, gzip and zstd, and every record exactly once in the complete
files after kill -9 and restart (docs/sink.md, "Writing files")."""

import gzip
import json
import re
import signal
import subprocess

import pytest

from conftest import (T, run_source, sink_args, start_sink, start_source, wait_for, write_jsonl)

NAME_RE = re.compile(r"^(?P<stream>[A-Za-z0-9._-]+)\.(?P<first>\d{20})\.(?P<ext>jsonl|msgpack)"
                     r"(?P<z>\.gz|\.zst)?$")


def _decompress(path):
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        # The zstd command line tool is not a dependency; libzstd's own frame check is
        # exercised through python's subprocess only when the tool exists.
        return subprocess.run(["zstd", "-dc"], input=data, check=True,
                              capture_output=True).stdout
    return data


def _complete_files(out_dir, stream):
    files = []
    for path in sorted(out_dir.iterdir()):
        m = NAME_RE.match(path.name)
        if m and m["stream"] == stream:
            files.append((int(m["first"]), path))
    return files


def _records_in(out_dir, stream):
    """Every record of the complete files, checked against their names: each file holds a
    dense range that starts at the offset its name says."""
    records = []
    for first, path in _complete_files(out_dir, stream):
        lines = _decompress(path).decode("utf-8").splitlines()
        assert lines, f"{path.name} is complete but empty"
        recs = [json.loads(line) for line in lines]
        assert recs[0]["offset"] == first, f"{path.name} starts at offset {recs[0]['offset']}"
        assert [r["offset"] for r in recs] == list(range(first, first + len(recs))), path.name
        records.extend(recs)
    return records


def _temp_files(out_dir):
    return [p.name for p in out_dir.iterdir() if p.name.startswith(".")]


def _output_sink(procs, broker, stream, out_dir, *args, name="sink"):
    return start_sink(procs, broker, stream, "--name", "archive", "--from", "beginning",
                      "--output", str(out_dir), *args, name=name)


def test_rotates_by_bytes_names_by_first_offset_and_completes_on_exit(procs, broker, tmp_path):
    values = [{"i": i, "pad": "x" * 40} for i in range(5000)]
    run_source(procs, broker, "rot", write_jsonl(tmp_path / "in.jsonl", values))
    out = tmp_path / "out"
    out.mkdir()
    sink = _output_sink(procs, broker, "rot", out, "--rotate-bytes", "64k", "--exit-at-end")
    sink.expect_exit(0, T(60))
    files = _complete_files(out, "rot")
    assert len(files) > 3, f"expected several files from --rotate-bytes 64k, got {files}"
    for _, path in files[:-1]:
        size = path.stat().st_size
        assert 64 * 1024 <= size < 64 * 1024 + 200, f"{path.name}: {size} bytes"
    assert _temp_files(out) == []
    records = _records_in(out, "rot")
    assert [r["value"] for r in records] == values


@pytest.mark.parametrize("codec,suffix", [("gzip", ".gz"), ("zstd", ".zst")])
def test_compressed_files_hold_every_record(procs, broker, tmp_path, codec, suffix):
    if codec == "zstd" and subprocess.run(["sh", "-c", "command -v zstd"],
                                          capture_output=True).returncode != 0:
        pytest.skip("the zstd tool is not installed to read the files back")
    values = [{"i": i, "text": "hello " * 5} for i in range(3000)]
    run_source(procs, broker, "z", write_jsonl(tmp_path / "in.jsonl", values))
    out = tmp_path / "out"
    out.mkdir()
    _output_sink(procs, broker, "z", out, "--rotate-bytes", "100k", "--compress", codec,
                 "--exit-at-end").expect_exit(0, T(60))
    files = _complete_files(out, "z")
    assert len(files) >= 2 and all(p.name.endswith(suffix) for _, p in files), files
    raw = sum(len(_decompress(p)) for _, p in files)
    assert sum(p.stat().st_size for _, p in files) < raw / 3, "the files are not compressed"
    assert [r["value"] for r in _records_in(out, "z")] == values


def test_rotate_age_completes_an_idle_file(procs, broker, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    sink = _output_sink(procs, broker, "age", out, "--rotate-age", "1s")
    run_source(procs, broker, "age", write_jsonl(tmp_path / "a.jsonl", [{"n": 1}, {"n": 2}]))
    # No more records come: the age limit alone must complete the file.
    wait_for(lambda: len(_complete_files(out, "age")) == 1, T(20), "the file completed by age")
    assert [r["value"] for r in _records_in(out, "age")] == [{"n": 1}, {"n": 2}]
    assert _temp_files(out) == []
    sink.signal(signal.SIGTERM)
    sink.expect_exit(0, T(20))


def test_kill9_and_restart_leave_every_record_exactly_once(procs, broker, tmp_path):
    n = 60_000
    values = [{"i": i, "pad": "p" * (i % 17)} for i in range(n)]
    path = write_jsonl(tmp_path / "in.jsonl", values)
    src = start_source(procs, broker, "ex", "--name", "ex-src", "--rate", "20000", str(path))
    out = tmp_path / "out"
    out.mkdir()
    args = ("--rotate-bytes", "40k")
    kills = 0
    for threshold in (3, 10, 20):
        sink = _output_sink(procs, broker, "ex", out, *args, name=f"sink{kills}")
        wait_for(lambda: len(_complete_files(out, "ex")) >= threshold, T(60),
                 f"{threshold} complete files")
        # Kill while a file is being written (a temporary file exists) when we can see one.
        wait_for(lambda: _temp_files(out) or not src.alive(), T(10), "a file being written")
        sink.kill9()
        kills += 1
    src.expect_exit(0, T(120))
    # The last run reads to the end and completes its file on exit.
    _output_sink(procs, broker, "ex", out, *args, "--exit-at-end",
                 name="final").expect_exit(0, T(60))
    assert _temp_files(out) == []
    records = _records_in(out, "ex")
    offsets = [r["offset"] for r in records]
    assert offsets == list(range(n)), "records lost or duplicated across kill -9 and restart"
    assert [r["value"] for r in records] == values


def test_restart_removes_partial_and_uncommitted_files(procs, broker, tmp_path):
    run_source(procs, broker, "rm", write_jsonl(tmp_path / "in.jsonl",
                                                 [{"i": i} for i in range(100)]))
    out = tmp_path / "out"
    out.mkdir()
    # Leftovers of a crashed run: a partial file, and a complete one the checkpoint does not
    # cover (the reader "archive" has none, so the run starts at 0).
    (out / ".rm.00000000000000000000.jsonl.part").write_text('{"offset":0}\n')
    (out / "rm.00000000000000000050.jsonl").write_text('{"offset":50}\n')
    other = out / "other.00000000000000000000.jsonl"
    other.write_text("not ours\n")
    sink = _output_sink(procs, broker, "rm", out, "--exit-at-end")
    sink.expect_exit(0, T(60))
    assert "removed" in sink.stderr()
    assert other.read_text() == "not ours\n", "a file of another stream was touched"
    assert [r["value"]["i"] for r in _records_in(out, "rm")] == list(range(100))


def test_output_needs_name_and_a_directory(procs, broker, tmp_path):
    p = procs.start("noname", sink_args(broker, "s", "--output", str(tmp_path)))
    p.expect_exit(2, T(20))
    assert "--output needs --name" in p.stderr()
    p = procs.start("nodir", sink_args(broker, "s", "--name", "r", "--output",
                                       str(tmp_path / "missing")))
    p.expect_exit(2, T(20))
    assert "not a directory" in p.stderr()
    p = procs.start("badcodec", sink_args(broker, "s", "--name", "r", "--output", str(tmp_path),
                                          "--compress", "lz4"))
    p.expect_exit(2, T(20))
    assert "gzip or zstd" in p.stderr()


def test_unwritable_directory_exits_1(procs, broker, tmp_path):
    run_source(procs, broker, "ro", write_jsonl(tmp_path / "in.jsonl", [{"i": 1}]))
    out = tmp_path / "ro"
    out.mkdir()
    # A file where the temporary file must go: creating it fails as on a read-only disk
    # (the tests run as root, so permissions alone would not stop the sink).
    (out / ".ro.00000000000000000000.jsonl.part").mkdir()
    sink = _output_sink(procs, broker, "ro", out, "--exit-at-end")
    sink.expect_exit(1, T(60))
    assert "cannot" in sink.stderr()
