"""`sluice run` and the `sluice` front command, with real processes.

Every pipeline gets its own free port and data directory; every wait is a
poll with a deadline; the procs fixture kills whatever a failed test leaves.
"""

import json
import os
import re
import signal
import subprocess

import pytest

from conftest import (BROKER_BIN, BUILD, ROOT, SINK_BIN, SOURCE_BIN, T, WORKER_BIN, Wire, child_env,
                      free_port_pair, run_source, wait_for, write_jsonl)

SLUICE_BIN = BUILD / "cli" / "sluice"

pytestmark = pytest.mark.skipif(not SLUICE_BIN.exists(), reason=f"{SLUICE_BIN} not built")


def run_cmd(args, timeout=T(30), **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=child_env(), **kw)


def write(path, text):
    path.write_text(text)
    return path


def pipeline(tmp_path, body, name="p.yaml"):
    """A pipeline file whose broker has its own port and data directory."""
    port = free_port_pair()
    text = (f"broker:\n  listen: tcp://127.0.0.1:{port}\n  data: {tmp_path}/data\n" + body)
    return write(tmp_path / name, text), f"tcp://127.0.0.1:{port}"


def processes_mentioning(text):
    """PIDs whose command line contains text (to prove nothing is left over)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append((int(pid), cmd))
    return found


# ---------------------------------------------------------------- front command

def test_front_command_help_and_version():
    r = run_cmd([SLUICE_BIN, "--help"])
    assert r.returncode == 0
    for word in ("run PIPELINE.yaml", "tail STREAM", "broker", "source", "worker", "sink"):
        assert word in r.stdout
    r = run_cmd([SLUICE_BIN, "--version"])
    assert r.returncode == 0 and re.fullmatch(r"sluice \d+\.\d+\.\d+\n", r.stdout)
    r = run_cmd([SLUICE_BIN, "nonsense"])
    assert r.returncode == 2 and "unknown command 'nonsense'" in r.stderr
    r = run_cmd([SLUICE_BIN, "help", "run"])
    assert r.returncode == 0 and "Usage: sluice run" in r.stdout and "--dry-run" in r.stdout


@pytest.mark.parametrize("stage,program", [("source", SOURCE_BIN), ("sink", SINK_BIN),
                                           ("broker", BROKER_BIN), ("worker", WORKER_BIN)])
def test_stage_commands_pass_through(stage, program):
    ours = run_cmd([SLUICE_BIN, stage, "--help"])
    theirs = run_cmd([program, "--help"])
    assert ours.returncode == 0
    assert ours.stdout == theirs.stdout
    # `sluice help STAGE` is the same; arguments pass unchanged, errors too.
    assert run_cmd([SLUICE_BIN, "help", stage]).stdout == theirs.stdout
    bad = run_cmd([SLUICE_BIN, stage, "--no-such-flag"])
    assert bad.returncode == 2 and "--no-such-flag" in bad.stderr


def test_tail_prints_records(procs, broker, tmp_path):
    values = [{"n": i} for i in range(5)]
    run_source(procs, broker, "t", write_jsonl(tmp_path / "in.jsonl", values))
    # From the beginning, as sluice-sink's own options say.
    tail = procs.start("tail", [SLUICE_BIN, "tail", "--broker", broker.endpoint, "t",
                                "--from", "beginning", "--count", "5"])
    tail.expect_exit(0, T(30))
    records = tail.json_lines()
    assert [r["value"] for r in records] == values
    assert [r["offset"] for r in records] == list(range(5))
    # By default it starts at the end: only what is published after it. It
    # cannot be told when it has started, so records are published one at a
    # time until it has two.
    tail = procs.start("tail2", [SLUICE_BIN, "tail", "-b", broker.endpoint, "t", "-c", "2"])
    for i in range(200):
        if tail.returncode is not None:
            break
        run_source(procs, broker, "t", write_jsonl(tmp_path / f"more{i}.jsonl", [{"m": i}]))
    tail.expect_exit(0, T(30))
    records = tail.json_lines()
    assert len(records) == 2
    assert records[0]["offset"] >= 5 and records[1]["offset"] == records[0]["offset"] + 1
    assert records[0]["value"]["m"] + 1 == records[1]["value"]["m"]


def test_tail_help():
    r = run_cmd([SLUICE_BIN, "tail", "--help"])
    assert r.returncode == 0
    assert "sluice tail [OPTIONS] STREAM" in r.stdout and "starts at the end" in r.stdout
    # The sink options it lists are sluice-sink's own entries, help and all.
    sink = run_cmd([BUILD / "sink" / "sluice-sink", "--help"]).stdout
    from_help = "start at beginning, end, OFFSET, -N (the last N)"
    assert from_help in r.stdout and from_help in sink
    r = run_cmd([SLUICE_BIN, "tail", "a", "b"])
    assert r.returncode == 2 and "one stream at a time" in r.stderr


# ---------------------------------------------------------------- the pipeline file

def test_dry_run_prints_the_commands(tmp_path):
    (tmp_path / "scripts").mkdir()
    path = write(tmp_path / "p.yaml", """\
broker:
  data: state
  listen: tcp://127.0.0.1:7999
  retain-age: 7d
sources:
  - name: file-in
    stream: orders
    files: [orders.jsonl]
    key: user
groups:
  - name: enrich
    members: 2
    in: orders
    out: orders.rich
    lua: scripts/enrich.lua
    option: [mode=fast]
    max-deliver: 3
sinks:
  - stream: orders.rich
    from: beginning
    exit-at-end: true
    output: out/rich.jsonl
""")
    r = run_cmd([SLUICE_BIN, "run", path, "--dry-run", "--set", "broker.listen=tcp://127.0.0.1:7998"])
    assert r.returncode == 0, r.stderr
    d = str(tmp_path)
    ep = "tcp://127.0.0.1:7998"
    b = BUILD.resolve()
    assert r.stdout.splitlines() == [
        f"{b}/broker/sluice-broker --data {d}/state --listen {ep} --retain-age 7d",
        f"{b}/sink/sluice-sink --broker {ep} --stream orders.rich --from beginning --exit-at-end"
        f" > {d}/out/rich.jsonl",
        f"{b}/worker/sluice-worker --broker {ep} --group enrich --member enrich-1 --in orders"
        f" --out orders.rich --lua {d}/scripts/enrich.lua --option mode=fast --max-deliver 3",
        f"{b}/worker/sluice-worker --broker {ep} --group enrich --member enrich-2 --in orders"
        f" --out orders.rich --lua {d}/scripts/enrich.lua --option mode=fast --max-deliver 3",
        f"{b}/source/sluice-source --broker {ep} --stream orders --key user -- {d}/orders.jsonl",
    ]


def _long_flags(program):
    text = run_cmd([program, "--help"]).stdout
    return set(re.findall(r"^\s+(?:-\w, )?--([a-z][a-z-]*)", text, re.M))


@pytest.mark.parametrize("section,program,skip,renamed", [
    ("broker", BROKER_BIN, {"help", "version", "check"}, {}),
    ("sources", SOURCE_BIN, {"help", "version", "broker"}, {"name": "producer"}),
    ("groups", WORKER_BIN, {"help", "version", "broker", "group"}, {}),
    ("sinks", SINK_BIN, {"help", "version", "broker", "list"},
     {"name": "reader", "output": "output-dir"}),
])
def test_every_program_flag_is_a_key(tmp_path, section, program, skip, renamed):
    """The pipeline file takes every flag its program's --help shows."""
    flags = _long_flags(program) - skip
    assert len(flags) >= 5, f"could not read the flags of {program}"
    help_text = run_cmd([program, "--help"]).stdout
    lines = []
    for flag in sorted(flags):
        takes_value = re.search(rf"--{flag} [A-Z]", help_text) is not None
        key = renamed.get(flag, flag)
        # Endpoints are checked where they are given (docs/broker.md#endpoints): a real one.
        value = "tcp://127.0.0.1:7999" if key in ("listen", "pub") else "x"
        lines.append(f"    {key}: {value if takes_value else 'true'}")
    if section == "broker":
        body = "broker:\n" + "\n".join(line[2:] for line in lines) + "\n"
    else:
        body = f"{section}:\n  - name: s\n" + "\n".join(lines) + "\n"
    path = write(tmp_path / "all.yaml", body)
    r = run_cmd([SLUICE_BIN, "run", path, "--dry-run"])
    assert r.returncode == 0, r.stderr
    for flag in flags:
        if flag == "member":
            assert "--member x-1" in r.stdout
        else:
            assert f"--{flag}" in r.stdout, f"--{flag} missing from {r.stdout}"


def test_malformed_yaml_is_file_line_column(tmp_path):
    path = write(tmp_path / "bad.yaml", "sinks:\n  - stream: [a\n  - stream: b\n")
    r = run_cmd([SLUICE_BIN, "run", path])
    assert r.returncode == 2
    assert re.match(rf"{re.escape(str(path))}:\d+:\d+: ", r.stderr), r.stderr
    path = write(tmp_path / "alias.yaml", "sinks:\n  - &s {stream: a}\n  - *s\n")
    r = run_cmd([SLUICE_BIN, "run", path])
    assert r.returncode == 2
    assert f"{path}:3:5: aliases (*s) are not supported" in r.stderr


def test_unknown_key_is_named(tmp_path):
    path = write(tmp_path / "p.yaml", "sinks:\n  - stream: a\n    form: beginning\n")
    r = run_cmd([SLUICE_BIN, "run", path, "--dry-run"])
    assert r.returncode == 2
    assert f"{path}:3:5: unknown key 'form' in sink 'sink-1': not a sluice-sink flag" in r.stderr
    r = run_cmd([SLUICE_BIN, "run", tmp_path / "missing.yaml"])
    assert r.returncode == 2 and "cannot open" in r.stderr
    path = write(tmp_path / "good.yaml", "sinks:\n  - stream: a\n")
    r = run_cmd([SLUICE_BIN, "run", path, "--set", "sink-1.nope=1"])
    assert r.returncode == 2 and "--set sink-1.nope=1: unknown key 'nope'" in r.stderr


# ---------------------------------------------------------------- supervision

def test_finite_pipeline_runs_to_completion(procs, tmp_path):
    values = [{"id": i, "temp": i % 40} for i in range(300)]
    write_jsonl(tmp_path / "in.jsonl", values)
    hot_count = sum(1 for v in values if v["temp"] >= 30)
    path, endpoint = pipeline(tmp_path, f"""\
sources:
  - name: reader
    stream: raw
    files: [in.jsonl]
groups:
  - name: hot
    members: 2
    in: raw
    out: hot
    filter: temp >= 30
sinks:
  - name: hot-out
    stream: hot
    from: beginning
    count: {hot_count}
    format: value
    output: hot.jsonl
  - name: raw-out
    stream: raw
    from: beginning
    exit-at-end: true
    format: value
    output: raw.jsonl
""")
    run = procs.start("run", [SLUICE_BIN, "run", path])
    run.expect_exit(0, T(60))
    err = run.stderr()
    hot = [json.loads(line) for line in (tmp_path / "hot.jsonl").read_text().splitlines()]
    raw = [json.loads(line) for line in (tmp_path / "raw.jsonl").read_text().splitlines()]
    assert raw == values
    assert sorted(v["id"] for v in hot) == [v["id"] for v in values if v["temp"] >= 30]
    assert "every source and sink has finished" in err
    assert "stopped cleanly" in err
    assert "reader[1] finished" in err and "hot-out[1] finished" in err
    # Labels: every stage line is prefixed with its name and member.
    assert re.search(r"^hot\[2\] \| ", err, re.M), err
    assert re.search(r"^broker\[1\] \| ", err, re.M), err
    assert processes_mentioning(endpoint) == []


def test_crashing_stage_is_restarted_with_backoff(procs, tmp_path):
    # A strict source over a bad line exits 1 each time (a usage error, exit 2, is not
    # restarted: tests/integration/test_say.py).
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    path, endpoint = pipeline(tmp_path, f"""\
sources:
  - name: broken
    stream: s
    strict: true
    files: {bad}
""")
    run = procs.start("run", [SLUICE_BIN, "run", path])
    wait_for(lambda: "keeps crashing" in run.stderr(), T(40), "the crash-loop message")
    err = run.stderr()
    delays = re.findall(r"broken\[1\] exit 1; restarting in ([\d.]+s)", err)
    assert delays[:5] == ["0.5s", "1s", "2s", "4s", "8s"], err
    assert re.search(r"broken\[1\] keeps crashing \(exit 1, 5 times within 60s\): see its output "
                     r"above; still retrying every 30s at most", err), err
    # Its own complaint is shown, labelled.
    assert re.search(r"^broken\[1\] \| .*bad\.jsonl:1: ", err, re.M), err
    run.signal(signal.SIGTERM)
    run.expect_exit(0, T(30))
    assert "stopped cleanly" in run.stderr()


def test_sigterm_stops_in_order(procs, tmp_path):
    path, endpoint = pipeline(tmp_path, """\
sources:
  - name: gen
    stream: demo
    generate: 0
    rate: 200
groups:
  - name: enrich
    members: 2
    in: demo
    out: demo.enriched
    map: "{id = id, f = temp * 9 / 5 + 32}"
sinks:
  - name: screen
    stream: demo.enriched
    from: beginning
""")
    run = procs.start("run", [SLUICE_BIN, "run", path, "--stop-timeout", "20s"])
    wait_for(lambda: len(run.lines()) >= 20, T(30), "20 records on stdout")
    run.signal(signal.SIGTERM)
    run.expect_exit(0, T(40))
    err = run.stderr()
    # stdout is not a terminal: it holds only the sink's records, unlabelled.
    records = run.json_lines()
    assert records and all(set(r) >= {"offset", "value"} for r in records)
    assert [r["offset"] for r in records] == list(range(len(records)))
    # The order: the source drains first, then the members leave, the broker last.
    lines = err.splitlines()

    def first(pattern):
        for i, line in enumerate(lines):
            if re.search(pattern, line):
                return i
        raise AssertionError(f"no line matches {pattern!r}:\n{err}")

    stop = first(r"^sluice \| Terminated: stopping")
    src = first(r"^gen\[1\] \| .* done: ")
    workers = max(first(r"^enrich\[1\] \| .*stopped"), first(r"^enrich\[2\] \| .*stopped"))
    brk = first(r"^broker\[1\] \| .* stopped: ")
    assert stop < src < workers < brk, err
    assert "stopped cleanly" in lines[-1]
    assert processes_mentioning(endpoint) == []


def test_stage_not_stopping_in_time_is_named(procs, tmp_path):
    """A stage that ignores SIGTERM is killed at its deadline and named; exit 1."""
    # The source is frozen with SIGSTOP, so it cannot answer SIGTERM.
    path, endpoint = pipeline(tmp_path, """\
sources:
  - name: slow
    stream: s
    generate: 0
    rate: 100
    drain-timeout: 60s
""")
    run = procs.start("run", [SLUICE_BIN, "run", path, "--stop-timeout", "3s"])
    wait_for(lambda: "broker ready" in run.stderr(), T(20), "the broker")
    # The source is sluice run's child, found by the endpoint on its command line.
    pids = wait_for(lambda: [pid for pid, cmd in processes_mentioning(endpoint)
                             if "sluice-source" in cmd], T(20), "the source")
    assert len(pids) == 1
    # Once it has published, its signal handlers are in place.
    wire = Wire(endpoint)
    try:
        wait_for(lambda: wire.stream("s")["next"] > 0, T(20), "records from the source")
    finally:
        wire.close()
    os.kill(pids[0], signal.SIGSTOP)
    try:
        run.signal(signal.SIGTERM)
        run.expect_exit(1, T(30))
    finally:
        try:
            os.kill(pids[0], signal.SIGCONT)
        except ProcessLookupError:
            pass
    err = run.stderr()
    assert "slow[1] did not stop in time: killed" in err, err
    assert re.search(r"^broker\[1\] \| .* stopped: ", err, re.M), err
    assert processes_mentioning(endpoint) == []


def test_man_pages_render_cleanly():
    """One page per command, installed by meson, and groff finds nothing to warn about."""
    import shutil
    man = ROOT / "docs" / "man"
    pages = sorted(p.name for p in man.glob("*.1"))
    assert pages == ["sluice-broker.1", "sluice-dlq.1", "sluice-keygen.1", "sluice-manage.1",
                     "sluice-promote.1", "sluice-run.1", "sluice-sink.1", "sluice-source.1", "sluice-stat.1", "sluice-tail.1",
                     "sluice-top.1", "sluice-verify.1", "sluice-worker.1", "sluice.1"]
    # Every page is installed.
    build_file = (ROOT / "cli" / "meson.build").read_text()
    for page in pages:
        assert page in build_file, page
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    for page in pages:
        r = run_cmd(["groff", "-man", "-Tutf8", "-ww", "-z", man / page])
        assert r.returncode == 0 and r.stderr == "", f"{page}: {r.stderr}"
