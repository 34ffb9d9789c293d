"""Retention by records, bytes and age; removed offsets read from the first kept."""

import json

from conftest import SINK_BIN, T, assert_records, read_stream, run_source, wait_for, write_jsonl


def _publish(procs, broker, stream, tmp_path, n, pad=0, start=0):
    values = [{"i": i, "pad": "x" * pad} for i in range(start, start + n)]
    path = write_jsonl(tmp_path / f"{stream}-{start}.jsonl", values)
    run_source(procs, broker, stream, "--batch-records", "100", str(path))
    return values


def _listed(procs, broker, stream):
    proc = procs.start("list", [SINK_BIN, "--broker", broker.endpoint, "--list",
                                "--format", "json"])
    proc.expect_exit(0, T(30))
    entries = {e["name"]: e for e in json.loads(proc.stdout())}
    return entries[stream]


def _check_tail(procs, broker, stream, values):
    """Reading from 0 and from the beginning both start at the first kept record."""
    info = broker.info(stream)
    first = info["first"]
    assert first > 0
    assert info["next"] == len(values)
    assert_records(read_stream(procs, broker, stream, frm="0"), values[first:], first)
    assert_records(read_stream(procs, broker, stream, frm="beginning"), values[first:], first)
    listed = _listed(procs, broker, stream)
    assert listed["first"] == first and listed["next"] == len(values)
    return info


def test_retain_records(procs, make_broker, tmp_path):
    broker = make_broker(["--retain-records", "1000"])
    values = _publish(procs, broker, "rr", tmp_path, 5000)
    wait_for(lambda: broker.info("rr")["records"] < 1100, T(20), "retention to remove batches")
    info = _check_tail(procs, broker, "rr", values)
    assert 1000 <= info["records"] < 1100, f"kept {info['records']} records, retain-records 1000"


def test_retain_bytes(procs, make_broker, tmp_path):
    broker = make_broker(["--retain-bytes", "64K"])
    values = _publish(procs, broker, "rb", tmp_path, 5000, pad=100)
    wait_for(lambda: 0 < broker.info("rb")["bytes"] <= 64 * 1024, T(20),
             "retention to bring the stream under 64K")
    _check_tail(procs, broker, "rb", values)


def test_retain_age(procs, make_broker, tmp_path):
    broker = make_broker(["--retain-age", "5s"])
    values = _publish(procs, broker, "ra", tmp_path, 1000)
    wait_for(lambda: broker.info("ra")["first"] > 0, T(30), "records older than 5s to go")
    first = broker.info("ra")["first"]
    assert_records(read_stream(procs, broker, "ra", frm="0"), values[first:], first)
    fresh = _publish(procs, broker, "ra", tmp_path, 10, start=1000)
    assert_records(read_stream(procs, broker, "ra", frm="1000"), fresh, 1000)


def test_per_stream_retention_override(procs, make_broker, tmp_path):
    broker = make_broker(["--stream-retention", "short.*:records=200"])
    short = _publish(procs, broker, "short.x", tmp_path, 2000)
    other = _publish(procs, broker, "other", tmp_path, 2000)
    wait_for(lambda: broker.info("short.x")["records"] < 300, T(20), "override retention")
    info = _check_tail(procs, broker, "short.x", short)
    assert 200 <= info["records"] < 300
    assert broker.info("other")["first"] == 0
    assert_records(read_stream(procs, broker, "other"), other)
