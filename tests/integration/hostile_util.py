"""What the hostile-input tests (test_hostile.py, test_hostile_peers.py) share: a good source
and sink that run while hostile input arrives, and the check that they lost nothing.

Processes start only through the `procs` tracker (killed by PID at teardown)."""

from conftest import T, assert_records, read_stream, start_sink, start_source, write_jsonl


def start_good_pipeline(procs, broker, tmp_path, count, rate):
    """COUNT good records into stream 'good' at RATE/s, a sink reading them all from the
    beginning. Returns (values, source, sink)."""
    values = [{"i": i, "s": "good"} for i in range(count)]
    path = write_jsonl(tmp_path / "good.jsonl", values)
    sink = start_sink(procs, broker, "good", "--from", "beginning", "--count", str(len(values)),
                      "--format", "json")
    src = start_source(procs, broker, "good", "--name", "good-src", "--rate", str(rate), str(path))
    return values, src, sink


def assert_good_pipeline_unharmed(procs, broker, values, src, sink):
    """Both ended 0 with every record once, in order; no rejected PUBLISH created a stream."""
    src.expect_exit(0, T(120))
    sink.expect_exit(0, T(120))
    assert_records(sink.json_lines(), values)
    assert_records(read_stream(procs, broker, "good"), values)
    assert "hostile" not in broker.wire.streams(), "a rejected PUBLISH created its stream"
