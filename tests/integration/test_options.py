"""Every program's options come from one table (lib/core/sl_opts.h): its --help
lists them, its man page lists the same ones, and a short flag means one
thing in every program of the family (docs/options.md)."""
import os
import re
import subprocess

import pytest

from conftest import BROKER_BIN, BUILD, ROOT, SINK_BIN, SOURCE_BIN, WORKER_BIN

SLUICE_BIN = BUILD / "cli" / "sluice"
VERIFY_BIN = BUILD / "verify" / "sluice-verify"
MAN = ROOT / "docs" / "man"

# Options sl_opts gives every program; the man pages name them once in
# sluice(1) rather than in every page.
BUILTIN = {"help", "version", "verbose", "quiet"}

# command line for --help, man page
COMMANDS = {
    "broker": ([BROKER_BIN], "sluice-broker.1"),
    "source": ([SOURCE_BIN], "sluice-source.1"),
    "sink": ([SINK_BIN], "sluice-sink.1"),
    "worker": ([WORKER_BIN], "sluice-worker.1"),
    "verify": ([VERIFY_BIN], "sluice-verify.1"),
    "run": ([SLUICE_BIN, "run"], "sluice-run.1"),
    "stat": ([SLUICE_BIN, "stat"], "sluice-stat.1"),
    "manage": ([SLUICE_BIN, "streams"], "sluice-manage.1"),
    "keygen": ([SLUICE_BIN, "keygen"], "sluice-keygen.1"),
    "top": ([SLUICE_BIN, "top"], "sluice-top.1"),
    "tail": ([SLUICE_BIN, "tail"], "sluice-tail.1"),
    "dlq-resend": ([SLUICE_BIN, "dlq", "resend"], "sluice-dlq.1"),
    "promote": ([SLUICE_BIN, "promote"], "sluice-promote.1"),
}

HELP_LINE = re.compile(r"^  (?:-(\w), )?(?:    )?--([a-z0-9-]+)")


def help_options(argv):
    """{long name: short letter or None} from a program's --help."""
    res = subprocess.run([str(a) for a in argv] + ["--help"], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    options = {}
    in_options = False
    for line in res.stdout.splitlines():
        in_options = (in_options and line != "") or line == "Options:"
        m = HELP_LINE.match(line) if in_options else None
        if m:
            options[m.group(2)] = m.group(1)
    assert options, res.stdout
    return options


def man_options(page):
    """{long name: short letter or None} from the .TP headings of a man page's OPTIONS."""
    text = (MAN / page).read_text()
    lines = text.splitlines()
    options = {}
    in_options = False
    for i, line in enumerate(lines):
        if line.startswith(".SH"):
            in_options = "OPTIONS" in line
        if not in_options or line != ".TP" or i + 1 >= len(lines):
            continue
        heading = lines[i + 1].replace("\\-", "-")
        paired = dict((name, short) for short, name in
                      re.findall(r"(?<![-\w])-(\w)\W+--([a-z0-9-]+)", heading))
        for name in re.findall(r"--([a-z0-9-]+)", heading):
            options[name] = paired.get(name)
    return options


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_man_page_lists_what_help_lists(command):
    """The man page's option list is the table's: the same names, the same short letters."""
    argv, page = COMMANDS[command]
    helped = {k: v for k, v in help_options(argv).items() if k not in BUILTIN}
    manned = {k: v for k, v in man_options(page).items() if k not in BUILTIN}
    assert sorted(set(helped) - set(manned)) == [], f"in --help, not in {page}"
    assert sorted(set(manned) - set(helped)) == [], f"in {page}, not in --help"
    for name, short in helped.items():
        if short or manned[name]:
            assert manned[name] == short, f"{page}: --{name} is -{short} in --help"


def test_a_short_flag_means_one_thing_everywhere():
    """-f is --from in every program that has -f, and so on for every letter."""
    meaning = {}
    for command, (argv, _) in sorted(COMMANDS.items()):
        for name, short in help_options(argv).items():
            if short:
                meaning.setdefault(short, {}).setdefault(name, []).append(command)
    clashes = {s: names for s, names in meaning.items() if len(names) > 1}
    assert clashes == {}


def test_old_short_flags_that_changed_meaning_fail_loudly():
    """A short flag that was dropped is refused with exit 2, never taken as something else."""
    cases = [
        ([SINK_BIN, "-b", "tcp://127.0.0.1:1", "-s", "x", "-o", "json"], "-o"),
        ([SINK_BIN, "-b", "tcp://127.0.0.1:1", "-l"], "-l"),
        ([SOURCE_BIN, "-b", "tcp://127.0.0.1:1", "-s", "x", "-f", "lines"], "-f"),
        ([SOURCE_BIN, "-b", "tcp://127.0.0.1:1", "-s", "x", "-g", "5"], "-g"),
        ([WORKER_BIN, "-b", "tcp://127.0.0.1:1", "-g", "g", "-i", "a", "-o", "b", "-e", "cat"],
         "-e"),
    ]
    for argv, flag in cases:
        res = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=30)
        assert res.returncode == 2, (argv, res.stderr)
        assert f"unknown option '{flag}'" in res.stderr, res.stderr


def test_typed_option_out_of_bounds_names_the_bounds():
    """A typed entry's bounds come from the table and are said in the error."""
    res = subprocess.run([str(BROKER_BIN), "--peer-budget", "1k"], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 2
    assert "--peer-budget: expected a size such as 512k, 64M or 2G from 1M to 64G" in res.stderr


def test_help_shows_the_table_default():
    """The default in --help is the table's def field."""
    res = subprocess.run([str(BROKER_BIN), "--help"], capture_output=True, text=True, timeout=30)
    text = " ".join(res.stdout.split())
    assert "worker groups; a JOIN creating one more gets ERROR ELIMIT (default 1024)" in text


def test_plugin_options_come_from_the_plugins_table():
    """--plugin FILE --help adds the plugin's declared options; a plugin that cannot load says why."""
    plugin = BUILD / "plugins" / "sluice-op-uppercase.so"
    res = subprocess.run([str(WORKER_BIN), "--plugin", str(plugin), "--help"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    tail = res.stdout.split("Options of operator uppercase", 1)
    assert len(tail) == 2, res.stdout
    assert re.search(r"^  field=TEXT +the map key whose string value is upper-cased "
                     r"\(default 'name'\)$", tail[1], re.M), tail[1]
    assert re.search(r"^  fail_on=TEXT ", tail[1], re.M), tail[1]
    res = subprocess.run([str(WORKER_BIN), "--plugin", "/nonexistent/op.so", "--help"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0
    assert "plugin /nonexistent/op.so: cannot load" in res.stdout


@pytest.mark.parametrize("argv, message", [
    (["stat", "--interval", "50ms"], "--interval: expected a duration such as 500ms, 30s, 5m or "
                                     "7d, at least 100ms"),
    (["streams", "--records", "many"], "--records: expected a whole number"),
    (["stream", "retain", "x", "--bytes", "lots"], "--bytes: expected a size"),
    (["dlq", "resend", "g", "--timeout", "soon"], "--timeout: expected a duration"),
    (["dlq", "resend", "g", "--nope"], "unknown option '--nope'"),
    (["promote", "--broker", "udp://x"], "--broker:"),
    (["top", "--json"], "unknown option '--json'"),
    (["run", "--stop-timeout", "0", "p.yaml"], "--stop-timeout: expected a duration"),
])
def test_operating_commands_refuse_bad_options_from_their_tables(argv, message):
    """The sluice commands' typed tables bound their values: exit 2 with the reason, before any
    broker is asked (there is none here)."""
    res = subprocess.run([str(SLUICE_BIN)] + argv, capture_output=True, text=True, timeout=30)
    assert res.returncode == 2, (argv, res.stdout, res.stderr)
    assert message in res.stderr, res.stderr


def test_operating_commands_read_their_options_from_the_environment():
    """SLUICE_STAT_<NAME> mirrors a command's option (derived from its table): a bound refused from
    the environment names the variable."""
    env = dict(os.environ, SLUICE_STAT_INTERVAL="10ms")
    res = subprocess.run([str(SLUICE_BIN), "stat", "--watch"], capture_output=True, text=True,
                         timeout=30, env=env)
    assert res.returncode == 2, res.stderr
    assert "SLUICE_STAT_INTERVAL" in res.stderr and "at least 100ms" in res.stderr, res.stderr


def test_help_shows_the_command_tables_defaults():
    """The defaults in the sluice commands' --help are their tables' def fields."""
    for argv, default in ((["stat"], "time between refreshes (default 1s)"),
                          (["dlq", "resend"], "give up on the broker after this (default 5s)"),
                          (["run"], "(default 15s)")):
        res = subprocess.run([str(SLUICE_BIN)] + argv + ["--help"], capture_output=True,
                             text=True, timeout=30)
        assert res.returncode == 0
        assert default in " ".join(res.stdout.split()), (argv, res.stdout)
