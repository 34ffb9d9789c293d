"""Endpoints are checked where they are given (issue 11, class 9): every program and `sluice run`
accept and refuse the same addresses with the same message, and `tcp://localhost:P` works on both
ends. Real binaries; lib/core/sl_endpoint.c is the one checker (tests/unit/test_endpoint.c)."""

import subprocess

import pytest

from conftest import (BROKER_BIN, BUILD, SINK_BIN, SOURCE_BIN, WORKER_BIN, T, child_env,
                      free_port_pair, read_stream, write_jsonl)

SLUICE_BIN = BUILD / "cli" / "sluice"
VERIFY_BIN = BUILD / "verify" / "sluice-verify"

CLIENTS = {
    "source": lambda ep: [SOURCE_BIN, "--broker", ep, "--stream", "s"],
    "sink": lambda ep: [SINK_BIN, "--broker", ep, "--stream", "s"],
    "worker": lambda ep: [WORKER_BIN, "--broker", ep, "--group", "g", "--in", "a", "--out", "b"],
    "verify": lambda ep: [VERIFY_BIN, "--broker", ep, "--sent-stream", "a", "--got-stream", "b"],
}
BAD = {
    "127.0.0.1:7600": "expected tcp://HOST:PORT or ipc://PATH",
    "tcp://127.0.0.1:99999": "the port is out of range (1-65535)",
    "tcp://127.0.0.1:0x10": "the port must be a number (1-65535)",
    "tcp://[::1:7600": "an IPv6 host is written [ADDRESS]",
}


def run(args, timeout=T(20)):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=child_env())


@pytest.mark.parametrize("program", sorted(CLIENTS))
@pytest.mark.parametrize("endpoint", sorted(BAD))
def test_every_client_refuses_a_bad_broker_endpoint(program, endpoint):
    r = run(CLIENTS[program](endpoint))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"--broker: endpoint '{endpoint}': {BAD[endpoint]}" in r.stderr, r.stderr


@pytest.mark.parametrize("flag", ["--listen", "--pub"])
@pytest.mark.parametrize("endpoint", sorted(BAD))
def test_the_broker_refuses_a_bad_endpoint(tmp_path, flag, endpoint):
    r = run([BROKER_BIN, "--data", tmp_path / "d", flag, endpoint])
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"{flag}: endpoint '{endpoint}': {BAD[endpoint]}" in r.stderr, r.stderr
    assert not (tmp_path / "d").exists(), "nothing is created before the flags are checked"


@pytest.mark.skipif(not SLUICE_BIN.exists(), reason="sluice not built")
def test_sluice_run_refuses_a_port_out_of_range(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(f"broker:\n  listen: tcp://127.0.0.1:99999\n  data: {tmp_path}/data\n"
                    "sources:\n  - stream: s\n    generate: 1\n")
    r = run([SLUICE_BIN, "run", path])
    assert r.returncode != 0, r
    assert "endpoint 'tcp://127.0.0.1:99999': the port is out of range (1-65535)" in r.stderr, \
        r.stderr
    assert "99999" not in r.stdout and "34463" not in r.stdout + r.stderr
    assert not (tmp_path / "data").exists()


def test_localhost_works_on_the_broker_and_the_clients(procs, tmp_path):
    port = free_port_pair()
    endpoint = f"tcp://localhost:{port}"
    broker = procs.start("broker", [BROKER_BIN, "--data", tmp_path / "d", "--listen", endpoint])
    values = [{"n": i} for i in range(5)]
    path = write_jsonl(tmp_path / "in.jsonl", values)
    src = procs.start("source", [SOURCE_BIN, "--broker", endpoint, "--stream", "s", path])
    assert src.wait(T(30)) == 0, src.stderr() + broker.stderr()
    sink = procs.start("sink", [SINK_BIN, "--broker", endpoint, "--stream", "s", "--from",
                                "beginning", "--exit-at-end"])
    assert sink.wait(T(30)) == 0, sink.stderr()
    assert [r["value"] for r in sink.json_lines()] == values
    assert f"listening on tcp://127.0.0.1:{port}" in broker.stderr(), broker.stderr()
