"""Say what happens (issue 14): no silent waits, unknown streams named, exit codes that show
lost input and given-up stages, configuration errors at start, first-run rough edges."""

import os
import re
import signal
import stat
import subprocess
import time

from conftest import (BUILD, ROOT, SINK_BIN, SOURCE_BIN, T, WORKER_BIN, child_env, free_port_pair,
                      run_source, start_sink, wait_for, write_jsonl)
from test_security import Secure, source as secure_source

SLUICE_BIN = BUILD / "cli" / "sluice"


def _run(args, timeout=T(30), **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=child_env(), stdin=subprocess.DEVNULL, **kw)


# ---------------------------------------------------------------- silent waits

def test_no_broker_is_said_at_once(procs, tmp_path):
    """Source, sink and --list say 'connecting to broker X...' within a moment, long
    before their 30 s connect timeout ends."""
    endpoint = f"tcp://127.0.0.1:{free_port_pair()}"
    path = write_jsonl(tmp_path / "in.jsonl", [{"a": 1}])
    started = [
        procs.start("src", [SOURCE_BIN, "--broker", endpoint, "--stream", "s", path]),
        procs.start("sink", [SINK_BIN, "--broker", endpoint, "--stream", "s"]),
        procs.start("list", [SINK_BIN, "--broker", endpoint, "--list"]),
    ]
    t0 = time.monotonic()
    for proc in started:
        wait_for(lambda: f"connecting to broker {endpoint}... (no answer yet)" in proc.stderr(),
                 T(5), f"{proc.label} to say it is connecting")
        assert proc.alive(), f"{proc.label} gave up early: {proc.stderr()}"
    assert time.monotonic() - t0 < T(10)


def test_curve_refusal_is_said_and_ends_at_once(procs, make_broker, tmp_path):
    """A client whose key the broker refuses stops at the refusal, not at its timeout."""
    sec = Secure(make_broker, tmp_path)
    alice = sec.client("alice")
    sec.wait_ready(alice)
    mallory = sec.client("mallory", allowed=False)
    path = write_jsonl(tmp_path / "in.jsonl", [{"a": 1}])
    t0 = time.monotonic()
    proc = secure_source(procs, sec, "s", path, mallory, "--connect-timeout", "60s")
    proc.expect_exit(1, T(20))
    assert time.monotonic() - t0 < T(15), "waited for the connect timeout"
    err = proc.stderr()
    assert "refused the connection: our key is not in its allow list" in err, err
    assert "permission denied" in err, err


# ---------------------------------------------------------------- unknown stream

def test_sink_names_an_unknown_stream(procs, broker, tmp_path):
    run_source(procs, broker, "orders", str(write_jsonl(tmp_path / "a.jsonl", [1, 2])))
    # Following: says so at once and keeps waiting; the stream's first record arrives.
    follow = start_sink(procs, broker, "ordres", "--from", "beginning", "--count", "1")
    wait_for(lambda: "stream 'ordres' does not exist yet (the broker has orders); waiting for "
                     "its first record" in follow.stderr(), T(10), "the unknown-stream notice")
    assert follow.alive()
    run_source(procs, broker, "ordres", str(write_jsonl(tmp_path / "b.jsonl", [3])))
    follow.expect_exit(0, T(30))
    assert follow.json_lines()[0]["value"] == 3
    # Not following (--exit-at-end): said, and the sink ends.
    once = start_sink(procs, broker, "nope", "--exit-at-end")
    once.expect_exit(0, T(30))
    assert "stream 'nope' does not exist (the broker has ordres, orders): nothing to read" \
        in once.stderr() or "stream 'nope' does not exist (the broker has orders, ordres): " \
        "nothing to read" in once.stderr(), once.stderr()


def test_tail_without_a_stream_says_so():
    done = _run([SLUICE_BIN, "tail"])
    assert done.returncode == 2
    assert "sluice tail: which stream? usage: sluice tail STREAM" in done.stderr
    assert "--stream is required" not in done.stderr


# ---------------------------------------------------------------- exit codes

def test_source_exit_3_when_input_was_rejected(procs, broker, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n{\"a\":\n")
    proc = run_source(procs, broker, "all-bad", str(bad), code=3)
    assert "2 bad lines or records rejected (reported above): exit 3" in proc.stderr()
    # Every line good: exit 0.
    good = write_jsonl(tmp_path / "good.jsonl", [{"a": 1}])
    run_source(procs, broker, "good", str(good), code=0)


def test_source_drops_too_large_record_exit_3(procs, make_broker, tmp_path):
    broker = make_broker(args=["--max-batch-bytes", "4096"])
    big = tmp_path / "big.jsonl"
    big.write_text('{"ok":1}\n"' + "x" * 5000 + '"\n{"ok":2}\n')
    proc = run_source(procs, broker, "big", str(big), code=3)
    assert ":2:" in proc.stderr() and "exit 3" in proc.stderr()
    assert broker.next("big") == 2


def test_missing_file_is_a_usage_error_said_before_connecting(tmp_path):
    """Exit 2 at once (no broker needed), so that `sluice run` does not restart it."""
    endpoint = f"tcp://127.0.0.1:{free_port_pair()}"
    t0 = time.monotonic()
    done = _run([SOURCE_BIN, "--broker", endpoint, "--stream", "s", tmp_path / "nope.jsonl"])
    assert done.returncode == 2, done.stderr
    assert f"{tmp_path / 'nope.jsonl'}: No such file or directory" in done.stderr
    assert time.monotonic() - t0 < T(5)


def test_exec_of_a_missing_program_fails_at_start():
    endpoint = f"tcp://127.0.0.1:{free_port_pair()}"
    t0 = time.monotonic()
    done = _run([WORKER_BIN, "--broker", endpoint, "--group", "g", "--in", "a", "--out", "b",
                 "--exec", "nosuchcmd --flag"])
    assert done.returncode == 1, done.stderr
    assert "exec: 'nosuchcmd' not found (not in PATH, not executable)" in done.stderr
    assert time.monotonic() - t0 < T(5)
    # A shell construct is left to the shell, and a real program passes the check (the
    # worker then waits for its broker: stopped here by SIGTERM).
    for command in ("jq -c --unbuffered '[.]'", "FOO=1 cat", "exec cat"):
        proc = subprocess.Popen([str(WORKER_BIN), "--broker", endpoint, "--group", "g", "--in",
                                 "a", "--out", "b", "--exec", command],
                                stderr=subprocess.PIPE, text=True, env=child_env())
        try:
            time.sleep(0.3)  # nothing to wait on: proving the absence of an early exit
            assert proc.poll() is None, f"{command!r}: {proc.stderr.read()}"
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(T(20))


def _pipeline(tmp_path, body):
    port = free_port_pair()
    path = tmp_path / "p.yaml"
    path.write_text(f"broker:\n  listen: tcp://127.0.0.1:{port}\n  data: {tmp_path}/data\n"
                    + body)
    return path


def test_run_does_not_restart_a_usage_error_and_its_exit_code_says_so(procs, tmp_path):
    path = _pipeline(tmp_path, f"""\
sources:
  - {{name: missing, stream: s, files: {tmp_path}/nope.jsonl}}
sinks:
  - {{name: broken, stream: s, from: nowhere}}
""")
    run = procs.start("run", [SLUICE_BIN, "run", path])
    run.expect_exit(1, T(60))
    err = run.stderr()
    assert re.search(r"broken\[1\] exit 2 \(a usage error or a missing file: see its output "
                     r"above\): not restarted", err), err
    assert re.search(r"missing\[1\] exit 2 \(a usage error", err), err
    assert "restarting in" not in err, err
    assert "broken[1] was given up (exit 2: a usage error or a missing file)" in err
    assert "stopped; 2 stages gave up or lost input" in err
    assert "stopped cleanly" not in err


def test_run_exit_code_shows_rejected_input(procs, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a":1}\nnot json\n')
    path = _pipeline(tmp_path, f"""\
sources:
  - {{name: feed, stream: s, files: {bad}}}
""")
    run = procs.start("run", [SLUICE_BIN, "run", path])
    run.expect_exit(1, T(60))
    err = run.stderr()
    assert "feed[1] finished, but rejected some of its input (exit 3" in err, err
    assert "restarting in" not in err
    assert "stopped; 1 stage gave up or lost input" in err


# ---------------------------------------------------------------- first run

def test_keygen_creates_the_key_directory(tmp_path):
    done = _run([SLUICE_BIN, "keygen", "keys/sub/broker"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "created directory keys/ (mode 0700)" in done.stdout
    assert "created directory keys/sub/ (mode 0700)" in done.stdout
    for d in ("keys", "keys/sub"):
        assert stat.S_IMODE(os.stat(tmp_path / d).st_mode) == 0o700
    assert (tmp_path / "keys/sub/broker.key").exists()
    assert stat.S_IMODE(os.stat(tmp_path / "keys/sub/broker.key_secret").st_mode) == 0o600
    # Existing directories are used as they are; existing keys are never overwritten.
    again = _run([SLUICE_BIN, "keygen", "keys/sub/broker"], cwd=tmp_path)
    assert again.returncode == 1 and "exists" in again.stderr
    (tmp_path / "file").write_text("")
    blocked = _run([SLUICE_BIN, "keygen", "file/broker"], cwd=tmp_path)
    assert blocked.returncode == 1 and "file/broker: Not a directory" in blocked.stderr


def test_demo_says_it_is_building_and_ctrl_c_is_not_a_failure(tmp_path):
    """scripts/demo announces the build at once; Ctrl-C during the build says 'interrupted'
    (exit 130), never 'build failed'."""
    build = tmp_path / "build"
    out, err = tmp_path / "demo.out", tmp_path / "demo.err"
    with open(out, "w") as o, open(err, "w") as e:
        demo = subprocess.Popen([str(ROOT / "scripts" / "demo")], cwd=ROOT, stdout=o, stderr=e,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env=child_env({"BUILD_DIR": str(build)}))
    try:
        wait_for(lambda: "demo: building in" in out.read_text(), T(120), "the build notice")
        # Mid-build: the first objects exist, the programs do not yet.
        wait_for(lambda: any(build.rglob("*.o")), T(120), "the first compiled object")
        os.killpg(demo.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        rc = demo.wait(T(120))
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(10)
    text = err.read_text()
    assert rc == 130, f"exit {rc}: {text}"
    assert "demo: build interrupted (Ctrl-C)" in text, text
    assert "build failed" not in text, text
    assert "demo: configuring the build in" in out.read_text()


def _committed(broker, reader, stream):
    pos = broker.wire.seek(stream, "committed", reader=reader)
    return pos["offset"] if pos["found"] else None


def test_durable_sink_into_a_pipe_commits_what_the_reader_took(procs, broker, tmp_path):
    """`sluice-sink --name R | head -5`: the records left unread in the pipe when its reader
    exits are not committed; a reader still there gets (and commits) everything."""
    import fcntl
    values = [{"i": i, "pad": "x" * 1000} for i in range(3000)]   # 3 MB: more than the pipe
    run_source(procs, broker, "big", str(write_jsonl(tmp_path / "big.jsonl", values)))
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, 1031, 1 << 20)   # F_SETPIPE_SZ: the sink fills 1 MiB before it blocks
    except OSError:
        pass
    sink = subprocess.Popen([str(SINK_BIN), "--broker", broker.endpoint, "--stream", "big",
                             "--from", "beginning", "--name", "headed", "--format", "value",
                             "--exit-at-end"], stdout=w, stderr=subprocess.PIPE,
                            env=child_env())
    os.close(w)
    try:
        lines = 0
        while lines < 5:            # exactly five lines, byte by byte, like a precise `head`
            byte = os.read(r, 1)
            assert byte, "the sink ended early"
            lines += byte == b"\n"
        os.close(r)
        r = None
        assert sink.wait(T(60)) == 0, sink.stderr.read()
    finally:
        if r is not None:
            os.close(r)
        if sink.poll() is None:
            sink.kill()
            sink.wait(10)
    assert _committed(broker, "headed", "big") == 5
    # The same reader again starts at record 5.
    again = start_sink(procs, broker, "big", "--name", "headed", "--count", "1",
                       "--format", "json")
    again.expect_exit(0, T(30))
    assert again.json_lines()[0]["offset"] == 5

    # A reader that stays: everything the sink wrote is committed at its exit.
    r, w = os.pipe()
    sink = subprocess.Popen([str(SINK_BIN), "--broker", broker.endpoint, "--stream", "big",
                             "--from", "beginning", "--name", "stays", "--format", "value",
                             "--count", "20"], stdout=w, stderr=subprocess.PIPE,
                            env=child_env())
    os.close(w)
    try:
        assert sink.wait(T(60)) == 0     # 20 KB fit in the pipe unread
        assert _committed(broker, "stays", "big") == 20
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        assert data.count(b"\n") == 20
    finally:
        os.close(r)
        if sink.poll() is None:
            sink.kill()
            sink.wait(10)


# ---------------------------------------------------------------- kcat-class reading

def test_sink_relative_time_until_and_key_filter(procs, broker, tmp_path):
    values = [{"user": f"eu-{i % 3}" if i % 2 else f"us-{i % 3}", "i": i} for i in range(40)]
    run_source(procs, broker, "ev", "--key", "user",
               str(write_jsonl(tmp_path / "ev.jsonl", values)))

    def read(*args):
        proc = start_sink(procs, broker, "ev", "--exit-at-end", "--format", "json", *args)
        proc.expect_exit(0, T(30))
        return proc.json_lines()

    # @-5m: everything (all of it was appended within the last five minutes); a start in
    # the future: nothing.
    assert [r["offset"] for r in read("--from", "@-5m")] == list(range(40))
    assert read("--from", "@" + str(int(time.time() * 1000) + 60_000)) == []
    # --until OFFSET: the records below it; at or before the start: none, at once.
    assert [r["offset"] for r in read("--from", "beginning", "--until", "25")] == \
        list(range(25))
    assert read("--from", "30", "--until", "10") == []
    # --until @TIME in the past: nothing (all appended after it); @-DURATION the same.
    assert read("--from", "beginning", "--until", "@-1h") == []
    # --key-filter: only matching keys, in order; with --count it counts what is written.
    eu = read("--from", "beginning", "--key-filter", "eu-*")
    assert [r["value"]["i"] for r in eu] == [i for i in range(40) if i % 2]
    assert all(r["key"].startswith("eu-") for r in eu)
    one = read("--from", "beginning", "--key-filter", "eu-1", "--count", "2")
    assert [r["key"] for r in one] == ["eu-1", "eu-1"]

    # --until in the future of a followed stream: the sink waits for it live.
    follow = start_sink(procs, broker, "ev", "--from", "38", "--until", "42")
    run_source(procs, broker, "ev", str(write_jsonl(tmp_path / "more.jsonl",
                                                    [{"i": i} for i in range(40, 45)])))
    follow.expect_exit(0, T(30))
    assert [r["offset"] for r in follow.json_lines()] == [38, 39, 40, 41]

    # Bad values are usage errors.
    for args in (["--until", "soon"], ["--from", "@-"], ["--from", "@-5parsecs"]):
        bad = _run([SINK_BIN, "--broker", broker.endpoint, "--stream", "ev", *args])
        assert bad.returncode == 2, (args, bad.stderr)


def test_source_key_and_headers_from_the_command_line(procs, broker, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"a": 1}, {"a": 2}])
    run_source(procs, broker, "h", "--fixed-key", "dev-7", "--header", "origin=test",
               "-H", "trace=abc=def", str(path))
    sink = start_sink(procs, broker, "h", "--from", "beginning", "--exit-at-end")
    sink.expect_exit(0, T(30))
    got = sink.json_lines()
    assert [r["key"] for r in got] == ["dev-7", "dev-7"]
    assert all(r["headers"] == {"origin": "test", "trace": "abc=def"} for r in got), got
    # The key filter finds them by that key.
    only = start_sink(procs, broker, "h", "--from", "beginning", "--exit-at-end",
                      "--key-filter", "dev-*", "--format", "value")
    only.expect_exit(0, T(30))
    assert only.json_lines() == [{"a": 1}, {"a": 2}]
    # Usage errors: said, exit 2, nothing published.
    for args in (["--fixed-key", "k", "--key", "a"], ["--header", "novalue"],
                 ["--header", "=x"], ["--header", "a=1", "--header", "a=2"],
                 *[[arg for i in range(33) for arg in ("-H", f"h{i}=v")]]):
        bad = _run([SOURCE_BIN, "--broker", broker.endpoint, "--stream", "h2", *args, path])
        assert bad.returncode == 2, (args, bad.stderr)
    assert broker.next("h2") == 0


def test_operator_errors_show_in_the_workers_output_rate_limited(procs, broker, tmp_path):
    from groups_util import start_worker, wait_joined
    run_source(procs, broker, "in", str(write_jsonl(tmp_path / "in.jsonl",
                                                    [{"id": i} for i in range(300)])))
    t0 = time.monotonic()
    w = start_worker(procs, broker, "oops", "in", "out", "--filter", "nofield.x > 1",
                     "--max-deliver", "2")
    wait_joined(w)
    wait_for(lambda: broker.next("oops.dlq") == 300, T(120), "every record dead-lettered")
    elapsed = time.monotonic() - t0
    err = w.stderr()
    lines = [line for line in err.splitlines() if "operator failed" in line]
    assert lines, err[-3000:]
    assert "nofield" in lines[0] and "of in:" in lines[0], lines[0]
    assert "retried; after --max-deliver attempts dead-lettered" in lines[0]
    # 600 failed attempts, one line per 5 s at most.
    assert len(lines) <= 1 + elapsed / 5 + 1, lines
