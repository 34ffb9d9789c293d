"""Which environment variable reaches which program (docs/options.md "Environment variables";
lib/core/sl_opts_env.c): a variable meant for one program is not taken by another. Each
program reads SLUICE_<PROGRAM>_<OPTION>; the shared options (broker, broker-key, curve-secret,
connect-timeout, verbose, quiet) also SLUICE_<OPTION> everywhere; the stage programs
(sluice-broker, -source, -worker, -sink, -verify) every option as SLUICE_<OPTION> too, as the
deploy files set them, except when started by the `sluice` command (sluice run, tail, dlq
show), which sets SLUICE_ENV_STRICT for them.
"""

import subprocess

from conftest import BUILD, SINK_BIN, T, child_env, run_source, write_jsonl

SLUICE_BIN = BUILD / "cli" / "sluice"


def _run(argv, env, timeout=T(30)):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, env=child_env(env))


def test_a_command_takes_its_own_variable_and_not_another_programs():
    """`sluice stat` reads SLUICE_STAT_INTERVAL (a bound refused from it names it), and leaves
    SLUICE_INTERVAL, a sink-style name, alone."""
    res = _run([SLUICE_BIN, "stat", "--watch"], {"SLUICE_STAT_INTERVAL": "10ms"})
    assert res.returncode == 2, res.stderr
    assert "SLUICE_STAT_INTERVAL" in res.stderr and "at least 100ms" in res.stderr, res.stderr
    # Not taken: the command goes on to ask the (absent) broker and says so, exit 1.
    res = _run([SLUICE_BIN, "stat", "--broker", "tcp://127.0.0.1:1", "--timeout", "200ms"],
               {"SLUICE_INTERVAL": "10ms", "SLUICE_COUNT": "zero"})
    assert res.returncode == 1, res.stderr
    assert "SLUICE_INTERVAL" not in res.stderr and "SLUICE_COUNT" not in res.stderr
    # The shared broker variable is everyone's.
    res = _run([SLUICE_BIN, "stat", "--timeout", "200ms"], {"SLUICE_BROKER": "udp://nowhere"})
    assert res.returncode == 2 and "SLUICE_BROKER" in res.stderr, res.stderr


def test_help_says_which_variables_are_read():
    res = _run([SLUICE_BIN, "stat", "--help"], {})
    assert "[env SLUICE_STAT_INTERVAL]" in res.stdout
    assert "[env SLUICE_BROKER or SLUICE_STAT_BROKER]" in res.stdout
    res = _run([SINK_BIN, "--help"], {})
    assert "[env SLUICE_COUNT or SLUICE_SINK_COUNT]" in " ".join(res.stdout.split())


def test_sink_alone_takes_the_plain_name_and_tail_does_not(procs, broker, tmp_path):
    """sluice-sink run by itself takes SLUICE_COUNT (the deploy files' style), its own
    SLUICE_SINK_COUNT wins over it; `sluice tail`, which starts sluice-sink for a person at a
    shell, does not take a SLUICE_COUNT set there for something else, but does take
    SLUICE_SINK_COUNT."""
    run_source(procs, broker, "s", str(write_jsonl(tmp_path / "s.jsonl",
                                                   [{"i": i} for i in range(5)])),
               "--no-progress")
    base = [SINK_BIN, "--broker", broker.endpoint, "--stream", "s", "--from", "beginning",
            "--exit-at-end"]
    alone = procs.start("alone", base, env={"SLUICE_COUNT": "2"})
    alone.expect_exit(0, T(60))
    assert len(alone.json_lines()) == 2
    own = procs.start("own", base, env={"SLUICE_COUNT": "2", "SLUICE_SINK_COUNT": "3"})
    own.expect_exit(0, T(60))
    assert len(own.json_lines()) == 3
    tail = [SLUICE_BIN, "tail", "s", "--broker", broker.endpoint, "--from", "beginning",
            "--exit-at-end"]
    shell = procs.start("tail", tail, env={"SLUICE_COUNT": "2"})
    shell.expect_exit(0, T(60))
    assert len(shell.json_lines()) == 5
    told = procs.start("tail-own", tail, env={"SLUICE_COUNT": "2", "SLUICE_SINK_COUNT": "4"})
    told.expect_exit(0, T(60))
    assert len(told.json_lines()) == 4
