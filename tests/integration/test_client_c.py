"""libsluice, the installed C client library (docs/client-c.md): `meson install` into a
temporary DESTDIR, the example program compiled with `pkg-config --cflags --libs sluice`
against what was installed, and run against a real broker in its three roles."""

import glob
import json
import os
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT, T, read_stream, wait_for

EXAMPLE_SRC = ROOT / "examples" / "c" / "sluice_example.c"


def _sanitize_flags():
    """The build's -fsanitize flags: a sanitized libsluice needs a sanitized program."""
    info = BUILD / "meson-info" / "intro-buildoptions.json"
    for opt in json.loads(info.read_text()):
        if opt["name"] == "b_sanitize" and opt["value"] not in ("none", ""):
            return [f"-fsanitize={opt['value']}"]
    return []


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(example binary, environment to run it): libsluice installed into a DESTDIR."""
    dest = tmp_path_factory.mktemp("destdir")
    subprocess.run(["meson", "install", "-C", str(BUILD), "--no-rebuild", "--quiet",
                    "--destdir", str(dest)], check=True, capture_output=True)
    pcs = glob.glob(str(dest / "**" / "pkgconfig" / "sluice.pc"), recursive=True)
    assert len(pcs) == 1, f"sluice.pc installed {len(pcs)} times: {pcs}"
    headers = glob.glob(str(dest / "**" / "include" / "sluice" / "sluice.h"), recursive=True)
    assert headers, "sluice/sluice.h not installed"
    libdir = os.path.dirname(os.path.dirname(pcs[0]))
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]),
               PKG_CONFIG_SYSROOT_DIR=str(dest))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "sluice"], env=env,
                           check=True, capture_output=True, text=True).stdout.split()
    assert "-lsluice" in flags
    exe = dest / "sluice_example"
    cc = subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", *_sanitize_flags(),
                         str(EXAMPLE_SRC), *flags, "-o", str(exe)],
                        capture_output=True, text=True)
    assert cc.returncode == 0, f"the example does not build:\n{cc.stderr}"
    # Only libsluice's own symbols are public: nothing internal is in the ABI.
    nm = subprocess.run(["nm", "-D", "--defined-only", os.path.join(libdir, "libsluice.so")],
                        check=True, capture_output=True, text=True).stdout
    exported = [line.split()[-1] for line in nm.splitlines() if " T " in line]
    assert exported and all(s.startswith("sluice_") for s in exported), exported
    run_env = {"LD_LIBRARY_PATH": libdir}
    return exe, run_env


def _run(procs, installed, name, *args):
    exe, env = installed
    return procs.start(name, [exe, *args], env=env)


def test_c_producer_reader_member_roundtrip(procs, broker, installed):
    n = 2500
    p = _run(procs, installed, "produce", "produce", broker.endpoint, "orders", "p1", str(n))
    p.expect_exit(0, T(60))
    assert f"confirmed {n} (broker had 0 before)" in p.stdout().decode()
    assert broker.next("orders") == n

    # The same named producer run again: the broker already holds every record.
    again = _run(procs, installed, "produce-again", "produce", broker.endpoint, "orders", "p1",
                 str(n))
    again.expect_exit(0, T(60))
    assert f"(broker had {n} before)" in again.stdout().decode()
    assert broker.next("orders") == n

    # A durable reader: 1000 records, commit; a second run resumes at 1000.
    r1 = _run(procs, installed, "read1", "read", broker.endpoint, "orders", "beginning", "r",
              "1000")
    r1.expect_exit(0, T(60))
    lines = r1.lines()
    assert [int(x.split()[0]) for x in lines] == list(range(1000))
    assert json.loads(lines[7].split(" ", 1)[1]) == {"n": 8}
    r2 = _run(procs, installed, "read2", "read", broker.endpoint, "orders", "beginning", "r",
              "10")
    r2.expect_exit(0, T(60))
    assert [int(x.split()[0]) for x in r2.lines()] == list(range(1000, 1010))
    # --from -3 without a name: the last three.
    r3 = _run(procs, installed, "read3", "read", broker.endpoint, "orders", "-3", "-", "3")
    r3.expect_exit(0, T(60))
    assert [int(x.split()[0]) for x in r3.lines()] == [n - 3, n - 2, n - 1]

    # A group member turns orders into wrapped, exactly once.
    m = _run(procs, installed, "member", "member", broker.endpoint, "wrap", "orders", "wrapped",
             str(n))
    m.expect_exit(0, T(120))
    out = read_stream(procs, broker, "wrapped", fmt="value")
    assert sorted(v["in"]["n"] for v in out) == list(range(1, n + 1))


def test_c_reader_follows_live(procs, broker, installed):
    """A reader started at the end gets what is published after it, live."""
    r = _run(procs, installed, "live", "read", broker.endpoint, "ticks", "end", "-", "5")
    # The reader's SEEK "end" happens at some point after it starts: publish one record at
    # a time until it has its five, which must be consecutive.
    for i in range(200):
        p = _run(procs, installed, f"tick{i}", "produce", broker.endpoint, "ticks", "-", "1")
        p.expect_exit(0, T(30))
        if r.returncode is not None or len(r.lines()) >= 5:
            break
    r.expect_exit(0, T(30))
    offsets = [int(x.split()[0]) for x in r.lines()]
    assert len(offsets) == 5 and offsets == list(range(offsets[0], offsets[0] + 5))


def test_c_producer_exactly_once_across_broker_kill(procs, broker, installed):
    """kill -9 of the broker mid-publish: the producer resends, nothing lost or doubled."""
    n = 300_000
    p = _run(procs, installed, "produce", "produce", broker.endpoint, "big", "pk", str(n))
    wait_for(lambda: broker.next("big") >= 20_000, T(60), "a part of the records stored")
    broker.kill9()
    broker.restart()
    p.expect_exit(0, T(180))
    assert f"confirmed {n}" in p.stdout().decode()
    values = read_stream(procs, broker, "big", fmt="value")
    assert [v["n"] for v in values] == list(range(1, n + 1))


def test_c_failures_are_reported(procs, make_broker, installed):
    broker = make_broker(start=False)  # nobody listens
    p = _run(procs, installed, "nobroker", "produce", broker.endpoint, "s", "-", "1")
    p.expect_exit(1, T(60))
    assert "timed out" in p.stderr()

    bad = _run(procs, installed, "badfrom", "read", broker.endpoint, "s", "sideways", "-", "1")
    bad.expect_exit(2, T(10))
    assert "bad broker, stream, position or name" in bad.stderr()

    badname = _run(procs, installed, "badname", "produce", broker.endpoint, "no/slash", "-", "1")
    badname.expect_exit(2, T(10))

    # A group that exists with other streams refuses the JOIN, said at once.
    broker.start()
    first = _run(procs, installed, "m1", "member", broker.endpoint, "g", "a", "b", "0")
    first.expect_exit(0, T(60))
    other = _run(procs, installed, "m2", "member", broker.endpoint, "g", "a", "c", "0")
    other.expect_exit(1, T(60))
    assert "invalid argument" in other.stderr()


def test_example_usage_exit_code(installed, tmp_path):
    exe, env = installed
    res = subprocess.run([str(exe)], env=dict(os.environ, **env), capture_output=True, text=True,
                         timeout=T(10))
    assert res.returncode == 2 and "usage:" in res.stderr and "libsluice 0.1.0" in res.stderr
    assert shutil.which("pkg-config")


def test_c_reader_gapless_across_broker_restart(procs, broker, installed):
    p = _run(procs, installed, "p1", "produce", broker.endpoint, "rs", "rp", "500")
    p.expect_exit(0, T(60))
    r = _run(procs, installed, "reader", "read", broker.endpoint, "rs", "beginning", "-", "1000")
    wait_for(lambda: len(r.lines()) >= 500, T(30), "the first 500 records read")
    broker.kill9()
    broker.restart()
    # The same producer name, 1000 records: the first 500 are dropped as duplicates.
    p2 = _run(procs, installed, "p2", "produce", broker.endpoint, "rs", "rp", "1000")
    p2.expect_exit(0, T(60))
    r.expect_exit(0, T(60))
    lines = r.lines()
    assert [int(x.split()[0]) for x in lines] == list(range(1000))
    assert [json.loads(x.split(" ", 1)[1])["n"] for x in lines] == list(range(1, 1001))


def test_c_client_survives_a_hostile_broker(procs, installed):
    """A 'broker' that answers every message with a flood of garbage: libsluice skips it all
    and gives up at its timeout (the example's 10 s), with a clear error."""
    import threading
    import time
    import zmq
    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            if not router.poll(50):
                continue
            ident = router.recv_multipart()[0]
            for i in range(20_000):
                if stop.is_set():
                    break
                frames = ([b"SL\x01\x02", b"\xdd\xff\xff\xff\xff"] if i % 2
                          else [b"XX\x01\x02", b"\x80"])
                try:
                    router.send_multipart([ident, *frames], flags=zmq.NOBLOCK)
                except zmq.Again:
                    break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        t0 = time.monotonic()
        p = _run(procs, installed, "hostile", "produce", f"tcp://127.0.0.1:{port}", "s", "-", "1")
        p.expect_exit(1, T(60))
        assert time.monotonic() - t0 < T(30)
        assert "produce: timed out" in p.stderr()
    finally:
        stop.set()
        thread.join(5)
        router.close(0)
