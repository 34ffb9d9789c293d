"""sluice-sink --output DIR --format msgpack (docs/sink.md, "Writing files"): files
STREAM.<first-offset>.msgpack[.gz|.zst] holding the records' maps back to back, the values byte
for byte as published (bin, ext, integers past 2^53, non-string keys: what JSON cannot hold),
rotated by size, and every record exactly once in the complete files after kill -9 and restart.
"""

import gzip
import re

import msgpack

from conftest import T, run_source, start_sink, start_source, wait_for

NAME_RE = re.compile(r"^(?P<stream>[A-Za-z0-9._-]+)\.(?P<first>\d{20})\.msgpack(?P<z>\.gz)?$")


def values(n):
    """Values JSON cannot carry: bin, a uint64 past 2^63, an int map key, an ext."""
    return [{"i": i, "raw": bytes([i % 256]) * (i % 7), "big": 2**64 - 1 - i, 7: "int key",
             "ext": msgpack.ExtType(5, b"x" * (i % 3))} for i in range(n)]


def write_msgpack(path, vals):
    with open(path, "wb") as f:
        for v in vals:
            f.write(msgpack.packb(v, use_bin_type=True, strict_types=False))
    return path


def complete_files(out_dir, stream):
    files = []
    for path in sorted(out_dir.iterdir()):
        m = NAME_RE.match(path.name)
        if m and m["stream"] == stream:
            files.append((int(m["first"]), path))
    return files


def records_in(out_dir, stream):
    """Every record map of the complete files, each file a dense range from its name's offset."""
    records = []
    for first, path in complete_files(out_dir, stream):
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        unpacker.feed(data)
        recs = list(unpacker)
        assert recs, f"{path.name} is complete but empty"
        assert [r["offset"] for r in recs] == list(range(first, first + len(recs))), path.name
        records.extend(recs)
    return records


def temp_files(out_dir):
    return [p.name for p in out_dir.iterdir() if p.name.startswith(".")]


def output_sink(procs, broker, stream, out_dir, *args, name="sink"):
    return start_sink(procs, broker, stream, "--name", "archive", "--from", "beginning",
                      "--format", "msgpack", "--output", str(out_dir), *args, name=name)


def test_msgpack_files_keep_every_value_byte_for_byte(procs, broker, tmp_path):
    vals = values(3000)
    run_source(procs, broker, "mp", write_msgpack(tmp_path / "in.msgpack", vals),
               "--format", "msgpack")
    out = tmp_path / "out"
    out.mkdir()
    output_sink(procs, broker, "mp", out, "--rotate-bytes", "32k", "--compress", "gzip",
                "--exit-at-end").expect_exit(0, T(60))
    files = complete_files(out, "mp")
    assert len(files) > 2 and all(p.name.endswith(".msgpack.gz") for _, p in files), files
    assert temp_files(out) == []
    recs = records_in(out, "mp")
    assert [r["value"] for r in recs] == vals
    assert all(set(r) == {"offset", "timestamp", "key", "value"} for r in recs)


def test_msgpack_files_exactly_once_across_kill9(procs, broker, tmp_path):
    n = 20_000
    vals = values(n)
    src = start_source(procs, broker, "mpk", "--name", "mpk-src", "--format", "msgpack",
                       "--rate", "10000", str(write_msgpack(tmp_path / "in.msgpack", vals)))
    out = tmp_path / "out"
    out.mkdir()
    for kill, threshold in enumerate((2, 6)):
        sink = output_sink(procs, broker, "mpk", out, "--rotate-bytes", "40k",
                           name=f"sink{kill}")
        wait_for(lambda: len(complete_files(out, "mpk")) >= threshold, T(90),
                 f"{threshold} complete files")
        wait_for(lambda: temp_files(out) or not src.alive(), T(10), "a file being written")
        sink.kill9()
    src.expect_exit(0, T(120))
    output_sink(procs, broker, "mpk", out, "--rotate-bytes", "40k", "--exit-at-end",
                name="final").expect_exit(0, T(60))
    assert temp_files(out) == []
    recs = records_in(out, "mpk")
    assert [r["offset"] for r in recs] == list(range(n)), \
        "records lost or duplicated across kill -9 and restart"
    assert [r["value"] for r in recs] == vals

