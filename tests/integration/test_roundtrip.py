"""Records in through sluice-source, out through sluice-sink, unchanged."""

import json
import struct

import msgpack

from conftest import (T, assert_records, now_ms, read_stream, run_source, sink_args,
                      write_jsonl)


def test_100k_records_round_trip_in_order(procs, broker, tmp_path):
    n = 100_000
    values = [{"i": i, "s": f"rec-{i}", "f": i / 4, "t": [i % 7, None, i % 2 == 0]}
              for i in range(n)]
    path = write_jsonl(tmp_path / "in.jsonl", values)
    t0 = now_ms()
    run_source(procs, broker, "big", str(path))
    t1 = now_ms()
    records = read_stream(procs, broker, "big")
    assert_records(records, values)
    assert all(isinstance(r["timestamp"], int) and t0 - 5000 <= r["timestamp"] <= t1 + 5000
               for r in records), "timestamps are not the producer's clock in ms"
    assert all(r["key"] is None for r in records)
    info = broker.info("big")
    assert (info["first"], info["next"], info["records"]) == (0, n, n)


# JSON texts whose value must survive JSON -> msgpack -> JSON exactly.
TRICKY = [
    '"plain"',
    '"unicode: h\u00e9llo w\u00f6rld \u2014 \u65e5\u672c\u8a9e \U0001f389"',
    r'"escapes: \" \\ \/ \b \f \n \r \t"',
    r'"nul inside: a\u0000b"',
    r'"\u0000"',
    r'"surrogate pair: \ud83d\ude00 and \uD834\uDD1E"',
    r'"controls: \u0001\u001f\u007f"',
    '"line separators: \u2028 \u2029"',
    "18446744073709551615",
    "-9223372036854775808",
    "9223372036854775807",
    "9223372036854775808",
    "0",
    "-1",
    "0.1",
    "1e-7",
    "5e-324",
    "1.7976931348623157e308",
    "-1.7976931348623157e308",
    "2.2250738585072014e-308",
    "-0.0",
    "1.0",
    "1E2",
    "123456789.123456789",
    "0.30000000000000004",
    "0.3333333333333333",
    "0.0039993677999999996",
    "100000000000000000000.0",
    "1e21",
    "4.35",
    "9007199254740993",
    "[0.1, 0.2, 0.30000000000000004, 1e-300, 123e-20]",
    "true",
    "false",
    "null",
    "[]",
    "{}",
    '""',
    "[[]]",
    '{"":{}}',
    '[{}, [], "", 0, -0.0, null]',
    "[" * 200 + "]" * 200,
    '{"a":' * 200 + "1" + "}" * 200,
    "[" * 100 + '{"k":' * 100 + '"deep"' + "}" * 100 + "]" * 100,
    '{"z":1,"a":2,"m":[1,"two",3.0,null,true,false]}',
    r'{"k\u0000ey":"v","\u00fc":"\u00df","\ud83d\ude00":[18446744073709551615]}',
    "[18446744073709551615,-9223372036854775808,0.1,5e-324,-0.0]",
    '  {"spaced" : [ 1 , 2 ] }  ',
    '"' + "x" * 100_000 + '"',
    '"' + "\u00e9\u65e5\U0001f600" * 20_000 + '"',
    "[" + ",".join(str(i) for i in range(5000)) + "]",
]


def strict_equal(a, b):
    """Equality that tells int from float from bool, -0.0 from 0.0, and keeps key order.

    Iterative, so that deeply nested values do not hit Python's recursion limit."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, float):
            if struct.pack("<d", x) != struct.pack("<d", y):
                return False
        elif isinstance(x, (list, tuple)):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y))
        elif x != y:
            return False
    return True


def parse_ordered(text):
    return json.loads(text, object_pairs_hook=lambda pairs: ("obj", [tuple(p) for p in pairs]))


def test_lossless_json_values(procs, broker, tmp_path):
    path = tmp_path / "tricky.jsonl"
    path.write_text("".join(t + "\n" for t in TRICKY), encoding="utf-8")
    run_source(procs, broker, "tricky", str(path))
    proc = procs.start("value-reader", sink_args(broker, "tricky", "--from", "beginning",
                                                 "--exit-at-end", "--format", "value"))
    proc.expect_exit(0, T(60))
    out = proc.lines()
    assert len(out) == len(TRICKY), f"{len(out)} values out, {len(TRICKY)} in"
    for i, (text_in, text_out) in enumerate(zip(TRICKY, out)):
        want = parse_ordered(text_in)
        got = parse_ordered(text_out)  # strict JSON: raw control characters fail here
        assert strict_equal(want, got), (f"value {i} changed:\n in: {text_in[:200]}\n"
                                         f"out: {text_out[:200]}")



BAD_LINES = {
    2: "{bad json",
    4: "[1,2",
    5: "18446744073709551616",
    7: '{"a":1} trailing',
    8: "nul",
    9: '"unterminated',
    11: "-9223372036854775809",
    12: "[" * 600 + "]" * 600,
    14: '"bad escape \\x41"',
}


def _bad_file(tmp_path):
    lines, good = [], []
    for n in range(1, 16):
        if n in BAD_LINES:
            lines.append(BAD_LINES[n])
        else:
            good.append({"ok": n})
            lines.append(json.dumps(good[-1]))
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, good


def test_bad_lines_are_reported_and_skipped(procs, broker, tmp_path):
    path, good = _bad_file(tmp_path)
    proc = run_source(procs, broker, "mixed", str(path), code=3)
    err = proc.stderr()
    assert f"{len(BAD_LINES)} bad lines or records rejected (reported above): exit 3" in err
    for n in BAD_LINES:
        assert f"{path}:{n}:" in err, f"no '{path}:{n}: reason' in stderr:\n{err[-3000:]}"
    for n in range(1, 16):
        if n not in BAD_LINES:
            assert f"{path}:{n}:" not in err, f"good line {n} reported as bad"
    assert_records(read_stream(procs, broker, "mixed"), good)


def test_strict_exits_1_on_a_bad_line(procs, broker, tmp_path):
    path, _ = _bad_file(tmp_path)
    proc = run_source(procs, broker, "strict", "--strict", str(path), code=1)
    assert f"{path}:2:" in proc.stderr()


def test_stdin_and_lines_format(procs, broker, tmp_path):
    path = tmp_path / "lines.txt"
    texts = ["alpha", "\u03b2eta \U0001f600", "  spaced  ", '{"not":"parsed"}', "last"]
    path.write_text("\n".join(texts), encoding="utf-8")  # no newline after the last line
    run_source(procs, broker, "lines", "--format", "lines", "-", stdin=path)
    assert_records(read_stream(procs, broker, "lines"), texts)


def test_msgpack_input(procs, broker, tmp_path):
    values = [1, "two", {"three": 3.0, "list": [None, True, False]}, None, -5, 2**64 - 1,
              -2**63, [], {}, 0.1, "\u00e9\u0000"]
    path = tmp_path / "in.msgpack"
    path.write_bytes(b"".join(msgpack.packb(v, use_bin_type=True) for v in values))
    run_source(procs, broker, "mp", "--format", "msgpack", str(path))
    records = read_stream(procs, broker, "mp")
    assert_records(records, values)
    assert isinstance(records[2]["value"]["three"], float)


def test_key_field(procs, broker, tmp_path):
    values = [{"user": "alice", "n": 1}, {"user": "bob", "n": 2}, {"n": 3}, {"user": 42, "n": 4}]
    path = write_jsonl(tmp_path / "keyed.jsonl", values)
    run_source(procs, broker, "keyed", "--key", "user", str(path))
    records = read_stream(procs, broker, "keyed")
    assert_records(records, values)
    assert [r["key"] for r in records] == ["alice", "bob", None, "42"]


def test_empty_stream_reads_as_empty(procs, broker):
    assert read_stream(procs, broker, "never-written") == []
