"""Guarantee 4: a sink reads from any position, gaplessly, once, in order."""

import json
import signal
from datetime import datetime, timezone

from conftest import (T, assert_records, now_ms, read_stream, run_source, start_sink, start_source,
                      wait_for, write_jsonl)


def _publish(procs, broker, stream, values, path):
    write_jsonl(path, values)
    run_source(procs, broker, stream, str(path))


def test_replay_from_each_position(procs, broker, tmp_path):
    a = [{"phase": "a", "i": i} for i in range(500)]
    b = [{"phase": "b", "i": i} for i in range(500)]
    _publish(procs, broker, "pos", a, tmp_path / "a.jsonl")
    # A boundary on a whole second, strictly between the appends of a and of b.
    boundary = (now_ms() // 1000 + 1) * 1000
    wait_for(lambda: now_ms() > boundary + 5, T(3), "the clock to pass the boundary")
    _publish(procs, broker, "pos", b, tmp_path / "b.jsonl")
    every = a + b

    def read(frm):
        return read_stream(procs, broker, "pos", frm=frm)

    assert_records(read("beginning"), every)
    assert_records(read("0"), every)
    assert_records(read("250"), every[250:], 250)
    assert_records(read("999"), every[999:], 999)
    assert read("1000") == []
    assert read("5000") == [], "an offset past the end is clamped to next"
    assert_records(read("-100"), every[900:], 900)
    assert_records(read("-1"), every[999:], 999)
    assert_records(read("-5000"), every)
    assert_records(read(f"@{boundary}"), b, 500)
    iso = datetime.fromtimestamp(boundary / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert_records(read("@" + iso), b, 500)
    assert_records(read(f"@{boundary - 3_600_000}"), every)
    assert read(f"@{now_ms() + 3_600_000}") == []
    assert read("end") == []


def test_replay_from_committed_position(procs, broker, tmp_path):
    values = [{"i": i} for i in range(1000)]
    _publish(procs, broker, "cp", values, tmp_path / "in.jsonl")
    first = start_sink(procs, broker, "cp", "--name", "rd", "--from", "beginning",
                       "--count", "300", "--format", "json")
    first.expect_exit(0)
    assert_records(first.json_lines(), values[:300])
    pos = broker.wire.seek("cp", "committed", reader="rd")
    assert pos["found"] and pos["offset"] == 300, f"committed position after 300 records: {pos}"
    # With --name and no --from, a sink resumes at its committed position.
    second = start_sink(procs, broker, "cp", "--name", "rd", "--exit-at-end", "--format", "json")
    second.expect_exit(0)
    assert_records(second.json_lines(), values[300:], 300)
    # Another reader name has no checkpoint of its own.
    assert not broker.wire.seek("cp", "committed", reader="other")["found"]


def test_from_end_gets_only_new_records(procs, broker, tmp_path):
    old = [{"old": i} for i in range(100)]
    _publish(procs, broker, "tail", old, tmp_path / "old.jsonl")
    new = [{"new": i} for i in range(4000)]
    path = write_jsonl(tmp_path / "new.jsonl", new)
    sink = start_sink(procs, broker, "tail", "--from", "end", "--format", "json")
    src = start_source(procs, broker, "tail", "--rate", "400", str(path))
    wait_for(lambda: len(sink.lines()) >= 50, T(30), "the tailing sink to get 50 records")
    src.signal(signal.SIGINT)
    src.expect_exit(0, T(30))
    end = broker.next("tail")

    def caught_up():
        lines = sink.lines()
        return lines and json.loads(lines[-1])["offset"] >= end - 1

    wait_for(caught_up, T(30), f"the sink to reach offset {end - 1}")
    sink.signal(signal.SIGINT)
    sink.expect_exit(0, T(30))
    got = sink.json_lines()
    start = got[0]["offset"]
    assert start >= 100, f"a sink from 'end' got old record {start}"
    assert_records(got, new[start - 100:end - 100], start)


def test_sink_joining_mid_stream_from_0_misses_nothing(procs, broker, tmp_path):
    values = [{"i": i, "s": "v" * (i % 50)} for i in range(6000)]
    path = write_jsonl(tmp_path / "in.jsonl", values)
    src = start_source(procs, broker, "mid", "--rate", "2000", str(path))
    wait_for(lambda: broker.next("mid") >= 1000, T(30), "1000 records in the stream")
    assert src.alive(), "the source finished before the sink joined"
    sink = start_sink(procs, broker, "mid", "--from", "0", "--count", str(len(values)),
                      "--format", "json")
    src.expect_exit(0, T(60))
    sink.expect_exit(0, T(60))
    assert_records(sink.json_lines(), values)


def test_durable_sink_killed_resumes_at_committed_position(procs, broker, tmp_path):
    values = [{"i": i} for i in range(10_000)]
    path = write_jsonl(tmp_path / "in.jsonl", values)
    src = start_source(procs, broker, "dur", "--rate", "2000", str(path))
    first = start_sink(procs, broker, "dur", "--name", "dur-reader", "--from", "beginning",
                       "--format", "json")

    def progressed():
        pos = broker.wire.seek("dur", "committed", reader="dur-reader")
        return len(first.lines()) >= 3000 and pos["found"] and pos["offset"] > 0

    wait_for(progressed, T(30), "3000 records out and a checkpoint")
    first.kill9()
    got1 = first.json_lines()
    committed = broker.wire.seek("dur", "committed", reader="dur-reader")["offset"]
    assert_records(got1, values[:len(got1)])
    assert committed <= len(got1), f"committed {committed} past the {len(got1)} records output"
    src.expect_exit(0, T(60))

    second = start_sink(procs, broker, "dur", "--name", "dur-reader", "--exit-at-end",
                        "--format", "json")
    second.expect_exit(0)
    got2 = second.json_lines()
    assert got2, "the restarted sink got nothing"
    assert got2[0]["offset"] == committed, (f"restarted at {got2[0]['offset']}, "
                                            f"committed was {committed}")
    assert_records(got2, values[committed:], committed)
