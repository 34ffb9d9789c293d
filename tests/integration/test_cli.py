"""The programs' command lines, --list, and clean exits on signals."""

import json
import re
import signal
import subprocess

import pytest

from conftest import (BROKER_BIN, HELLO, ROOT, SINK_BIN, SOURCE_BIN, WELCOME, WORKER_BIN, T,
                      assert_records,
                      child_env, free_port_pair, read_stream, run_source, start_source, wait_for,
                      write_jsonl)

VERSION = re.search(r"version\s*:\s*'([^']+)'", (ROOT / "meson.build").read_text()).group(1)

KEY_OPTIONS = {
    BROKER_BIN: ["--data", "--listen", "--pub", "--fsync", "--retain-records", "--retain-bytes",
                 "--retain-age", "--stream-retention", "--max-batch-bytes"],
    SOURCE_BIN: ["--broker", "--stream", "--format", "--key", "--name", "--strict", "--generate",
                 "--rate", "--batch-records", "--linger"],
    SINK_BIN: ["--broker", "--stream", "--from", "--exit-at-end", "--count", "--name",
               "--format", "--list"],
    WORKER_BIN: ["--broker", "--group", "--in", "--out", "--exec", "--lua", "--filter", "--map",
                 "--plugin", "--max-deliver"],
}


def _run(args, timeout=T(20)):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=child_env(), stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("binary", list(KEY_OPTIONS), ids=lambda b: b.name)
def test_help_lists_the_key_options(binary):
    done = _run([binary, "--help"])
    assert done.returncode == 0, done.stderr
    for option in KEY_OPTIONS[binary]:
        assert option in done.stdout, f"{binary.name} --help does not mention {option}"


@pytest.mark.parametrize("binary", list(KEY_OPTIONS), ids=lambda b: b.name)
def test_version(binary):
    done = _run([binary, "--version"])
    assert done.returncode == 0, done.stderr
    assert VERSION in done.stdout


@pytest.mark.parametrize("binary", list(KEY_OPTIONS), ids=lambda b: b.name)
def test_unknown_option_is_a_usage_error(binary):
    done = _run([binary, "--no-such-option"])
    assert done.returncode == 2
    assert "no-such-option" in done.stderr


def test_list_table_and_json(procs, broker, tmp_path):
    run_source(procs, broker, "alpha", str(write_jsonl(tmp_path / "a.jsonl", range(10))))
    run_source(procs, broker, "beta", str(write_jsonl(tmp_path / "b.jsonl", range(25))))

    table = procs.start("list-table", [SINK_BIN, "--broker", broker.endpoint, "--list"])
    table.expect_exit(0, T(30))
    lines = table.lines()
    assert lines, "empty --list output"
    head = lines[0].split()
    for column in ("STREAM", "FIRST", "NEXT", "RECORDS", "BYTES"):
        assert column in head, f"--list header lacks {column}: {lines[0]!r}"
    rows = {cols[0]: cols for cols in (line.split() for line in lines[1:]) if cols}
    for name, n in (("alpha", 10), ("beta", 25)):
        cols = rows[name]
        values = {c: cols[head.index(c)] for c in ("FIRST", "NEXT", "RECORDS")}
        assert values == {"FIRST": "0", "NEXT": str(n), "RECORDS": str(n)}, cols

    js = procs.start("list-json", [SINK_BIN, "--broker", broker.endpoint, "--list",
                                   "--format", "json"])
    js.expect_exit(0, T(30))
    entries = {e["name"]: e for e in json.loads(js.stdout())}
    assert set(entries) >= {"alpha", "beta"}
    for name, n in (("alpha", 10), ("beta", 25)):
        e = entries[name]
        assert (e["first"], e["next"], e["records"]) == (0, n, n)
        assert e["bytes"] > 0 and e["last_ms"] > 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_broker_exits_0_on_signal_and_keeps_its_data(procs, broker, tmp_path, sig):
    values = list(range(100))
    run_source(procs, broker, "kept", str(write_jsonl(tmp_path / "in.jsonl", values)))
    assert broker.stop(sig) == 0, broker.proc.stderr()[-3000:]
    broker.restart()
    assert_records(read_stream(procs, broker, "kept"), values)


def test_source_sigint_with_records_in_flight_exits_0_after_confirms(procs, broker, tmp_path):
    values = [{"i": i} for i in range(30_000)]
    path = write_jsonl(tmp_path / "in.jsonl", values)
    src = start_source(procs, broker, "int", "--name", "interrupted", "--rate", "5000", str(path))
    wait_for(lambda: broker.next("int") >= 2000, T(30), "2000 records in the stream")
    src.signal(signal.SIGINT)
    src.expect_exit(0, T(30))
    records = read_stream(procs, broker, "int")
    assert 2000 <= len(records) < len(values)
    assert_records(records, values[:len(records)])
    # Everything the source sent was confirmed: the broker's acked sequence is the stream's end.
    cmd, _, welcome, _ = broker.wire.request(HELLO, {"producer": "interrupted", "stream": "int"})
    assert cmd == WELCOME and welcome.get("seq") == len(records), welcome
    # The same name over the same input finishes the job without duplicates.
    run_source(procs, broker, "int", "--name", "interrupted", str(path))
    assert_records(read_stream(procs, broker, "int"), values)


def test_source_generate_and_rate(procs, broker):
    src = start_source(procs, broker, "gen", "--generate", "300", "--rate", "1000")
    src.expect_exit(0, T(30))
    records = read_stream(procs, broker, "gen")
    assert [r["offset"] for r in records] == list(range(300))
    span = records[-1]["timestamp"] - records[0]["timestamp"]
    assert span >= 150, f"300 records at 1000/s took {span} ms"


def test_programs_give_up_on_a_silent_broker():
    endpoint = f"tcp://127.0.0.1:{free_port_pair()}"
    for args in ([SOURCE_BIN, "--broker", endpoint, "--stream", "s", "--generate", "10"],
                 [SINK_BIN, "--broker", endpoint, "--stream", "s", "--from", "beginning"]):
        done = _run([*args, "--connect-timeout", "1s"], timeout=T(30))
        assert done.returncode == 1, f"{args[0].name} exited {done.returncode}: {done.stderr}"
