"""Guarantees 1 and 2: confirmed records survive kill -9, resends never duplicate."""

from conftest import (T, assert_records, read_stream, run_source, start_sink, start_source,
                      wait_for, write_jsonl)

N = 200_000


def _input(tmp_path):
    values = [{"i": i, "pad": "p" * (i % 13)} for i in range(N)]
    return values, write_jsonl(tmp_path / "in.jsonl", values)


def test_broker_kill9_mid_publish_loses_and_duplicates_nothing(procs, broker, tmp_path):
    values, path = _input(tmp_path)
    # A live sink follows the stream through both restarts (guarantee 4).
    sink = start_sink(procs, broker, "crash", "--from", "beginning", "--count", str(N),
                      "--format", "json")
    src = start_source(procs, broker, "crash", "--name", "crash-src", "--rate", "50000", str(path))
    kills = 0
    for threshold in (20_000, 100_000):
        wait_for(lambda: broker.next("crash") >= threshold or not src.alive(), T(60),
                 f"{threshold} records in the stream")
        if not src.alive():
            break
        broker.kill9()
        kills += 1
        broker.restart()
    assert kills >= 1, "the source finished before the broker could be killed"
    src.expect_exit(0, T(180))
    assert_records(read_stream(procs, broker, "crash"), values)
    sink.expect_exit(0, T(60))
    assert_records(sink.json_lines(), values)


def test_source_kill9_rerun_with_same_name_resumes(procs, broker, tmp_path):
    values, path = _input(tmp_path)
    args = ("--name", "resumer", "--rate", "50000", str(path))
    first = start_source(procs, broker, "resume", *args)
    wait_for(lambda: broker.next("resume") >= 30_000 or not first.alive(), T(60),
             "30000 records in the stream")
    assert first.alive(), "the source finished before it could be killed"
    first.kill9()
    stored = broker.next("resume")
    assert 0 < stored < N
    run_source(procs, broker, "resume", *args, timeout=T(180))
    assert_records(read_stream(procs, broker, "resume"), values)


def test_rerun_of_a_finished_durable_source_appends_nothing(procs, broker, tmp_path):
    values = [{"i": i} for i in range(1000)]
    path = write_jsonl(tmp_path / "small.jsonl", values)
    run_source(procs, broker, "once", "--name", "once-src", str(path))
    run_source(procs, broker, "once", "--name", "once-src", str(path))
    assert_records(read_stream(procs, broker, "once"), values)
