"""Harness for Sluice's integration tests: real binaries, real sockets.

Binaries come from $SLUICE_BUILD (default: ./build). Every process a test
starts is tracked by the `procs` fixture and killed by PID at teardown, even
when the test fails; every wait is a poll on a condition with a deadline.
Deadlines scale with $SLUICE_SLOW (scripts/test sets it for the ASan pass).
"""

import json
import os
import pathlib
import random
import signal
import socket
import subprocess
import sys
import time

import msgpack
import pytest
import zmq

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))
from waiting import SLOW, T, wait_for  # noqa: E402  (one wait_for for every suite)

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("SLUICE_BUILD", ROOT / "build")).resolve()
BROKER_BIN = BUILD / "broker" / "sluice-broker"
SOURCE_BIN = BUILD / "source" / "sluice-source"
SINK_BIN = BUILD / "sink" / "sluice-sink"
WORKER_BIN = BUILD / "worker" / "sluice-worker"

# Wire protocol constants (docs/PROTOCOL.md).
HELLO, WELCOME, PUBLISH, CONFIRM = 0x01, 0x02, 0x03, 0x04
SEEK, POSITION, FETCH, RECORDS = 0x05, 0x06, 0x07, 0x08
COMMIT, COMMITTED, LIST, STREAMS = 0x09, 0x0A, 0x0B, 0x0C
PING, PONG, ERROR, LIVE = 0x0D, 0x0E, 0x0F, 0x10

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer")


def now_ms():
    return int(time.time() * 1000)


# ---------------------------------------------------------------- ports

_ports_given = set()


def _port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port_pair():
    """A port P with P and P+1 free on 127.0.0.1, below the ephemeral range."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    # Under pytest-xdist each worker (gw0, gw1, ...) draws from its own range,
    # so two workers never pick the same port between its check and its bind.
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
    lo = 20000 + (worker % 4) * 3000
    for _ in range(500):
        port = rng.randrange(lo, lo + 3000, 2)
        if port in _ports_given:
            continue
        if _port_free(port) and _port_free(port + 1):
            _ports_given.add(port)
            return port
    raise RuntimeError("no free port pair on 127.0.0.1")


# ---------------------------------------------------------------- processes

def child_env(extra=None):
    """The environment for children: ours without SLUICE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    if extra:
        env.update(extra)
    return env


class Proc:
    """One started process with its stdout/stderr in files."""

    def __init__(self, tmp, label, args, stdin=None, env=None):
        self.label = label
        self.args = [str(a) for a in args]
        self.out_path = tmp / f"{label}.out"
        self.err_path = tmp / f"{label}.err"
        stdin_f = open(stdin, "rb") if stdin is not None else subprocess.DEVNULL
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            try:
                self.popen = subprocess.Popen(self.args, stdin=stdin_f, stdout=out, stderr=err,
                                              env=child_env(env))
            finally:
                if stdin is not None:
                    stdin_f.close()
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll()

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def kill9(self):
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=T(10))

    def wait(self, timeout):
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.label} still running after {timeout:.1f}s: "
                                 f"{' '.join(self.args)}\n--- stderr tail:\n"
                                 f"{self.stderr()[-3000:]}") from None

    def expect_exit(self, code=0, timeout=T(60)):
        rc = self.wait(timeout)
        assert rc == code, (f"{self.label} exited {rc}, expected {code}: {' '.join(self.args)}"
                            f"\n--- stderr tail:\n{self.stderr()[-4000:]}")
        return rc

    def stdout(self):
        return self.out_path.read_bytes()

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def lines(self):
        """Complete stdout lines so far (a partial last line is left out)."""
        data = self.stdout()
        cut = data.rfind(b"\n")
        if cut < 0:
            return []
        return data[:cut].decode("utf-8").split("\n")

    def json_lines(self):
        return [json.loads(line) for line in self.lines()]


class Procs:
    """Starts processes for one test and kills whatever is left at teardown."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.all = []
        self.n = 0

    def start(self, name, args, stdin=None, env=None):
        self.n += 1
        proc = Proc(self.tmp, f"{self.n:02d}-{name}", args, stdin=stdin, env=env)
        self.all.append(proc)
        return proc

    def cleanup(self):
        for proc in self.all:
            if proc.alive():
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for proc in self.all:
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def sanitizer_reports(self):
        found = []
        for proc in self.all:
            err = proc.stderr()
            if any(mark in err for mark in SANITIZER_MARKS):
                found.append(f"--- {proc.label}: {' '.join(proc.args)}\n{err[-6000:]}")
        return found


@pytest.fixture
def procs(tmp_path):
    tracker = Procs(tmp_path)
    yield tracker
    tracker.cleanup()
    reports = tracker.sanitizer_reports()
    if reports:
        pytest.fail("sanitizer reports in child processes:\n" + "\n".join(reports),
                    pytrace=False)


# ---------------------------------------------------------------- wire client

def header(cmd, version=1):
    return bytes([0x53, 0x4C, version, cmd])


def pack(body):
    return msgpack.packb(body, use_bin_type=True)


class Wire:
    """A raw SLP client on a DEALER: what the tests use to poke the broker."""

    def __init__(self, endpoint):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.req = 0

    def close(self):
        self.sock.close(0)

    def send_frames(self, frames):
        self.sock.send_multipart(frames, copy=True)

    def send(self, cmd, body, *data, version=1):
        raw = body if isinstance(body, (bytes, bytearray)) else pack(body)
        self.send_frames([header(cmd, version), raw, *data])

    def recv(self, timeout):
        """(cmd, version, body, data) or None after timeout seconds."""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        frames = self.sock.recv_multipart()
        assert len(frames) >= 2, f"reply with {len(frames)} frames: {frames!r}"
        hdr = frames[0]
        assert len(hdr) == 4 and hdr[:2] == b"SL", f"bad reply header {hdr!r}"
        body = msgpack.unpackb(frames[1], raw=False, strict_map_key=False)
        return hdr[3], hdr[2], body, frames[2:]

    def request(self, cmd, body, *data, timeout=None):
        """Sends a request with a fresh req and returns the reply that echoes it."""
        self.req += 1
        body = dict(body, req=self.req)
        self.send(cmd, body, *data)
        deadline = time.monotonic() + (timeout or T(5))
        while True:
            left = deadline - time.monotonic()
            reply = self.recv(max(left, 0)) if left > 0 else None
            if reply is None:
                raise AssertionError(f"no reply to command 0x{cmd:02x} {body}")
            if reply[2].get("req") == self.req:
                return reply

    def ping(self, timeout=None):
        cmd, _, _, _ = self.request(PING, {}, timeout=timeout)
        return cmd == PONG

    def streams(self):
        cmd, _, body, _ = self.request(LIST, {})
        assert cmd == STREAMS, f"LIST answered with 0x{cmd:02x}: {body}"
        return {s["name"]: s for s in body["streams"]}

    def stream(self, name):
        """The stream's LIST entry, or an empty one when it does not exist yet."""
        return self.streams().get(name, {"name": name, "first": 0, "next": 0, "records": 0,
                                         "bytes": 0, "last_ms": 0})

    def seek(self, stream, frm, value=None, reader=None):
        body = {"stream": stream, "from": frm}
        if value is not None:
            body["value"] = value
        if reader is not None:
            body["reader"] = reader
        cmd, _, reply, _ = self.request(SEEK, body)
        assert cmd == POSITION, f"SEEK answered with 0x{cmd:02x}: {reply}"
        return reply


# ---------------------------------------------------------------- broker

class Broker:
    """A sluice-broker on a fixed port and data dir that can be killed and restarted."""

    def __init__(self, procs, data_dir, args=(), port=None):
        self.procs = procs
        self.data_dir = pathlib.Path(data_dir)
        self.port = port or free_port_pair()
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.args = list(args)
        self.proc = None
        self.starts = 0
        self._wire = None

    def start(self, wait=True):
        self.starts += 1
        self.proc = self.procs.start(f"broker{self.starts}",
                                     [BROKER_BIN, "--data", self.data_dir,
                                      "--listen", self.endpoint, *self.args])
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=T(20)):
        """Waits until the broker answers HELLO with WELCOME."""
        wire = Wire(self.endpoint)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                assert self.proc.alive(), (f"broker exited {self.proc.returncode} while starting"
                                           f"\n{self.proc.stderr()[-3000:]}")
                wire.send(HELLO, {"req": 1, "client": "pytest"})
                reply = wire.recv(0.25)
                if reply is not None:
                    assert reply[0] == WELCOME, f"HELLO answered with {reply}"
                    self.welcome = reply[2]
                    return
            raise AssertionError(f"broker not answering HELLO after {timeout}s\n"
                                 f"{self.proc.stderr()[-3000:]}")
        finally:
            wire.close()

    @property
    def wire(self):
        if self._wire is None:
            self._wire = Wire(self.endpoint)
        return self._wire

    def kill9(self):
        self.proc.kill9()

    def restart(self):
        return self.start()

    def stop(self, sig=signal.SIGTERM, timeout=T(20)):
        """Stops the broker with sig and returns its exit code."""
        self.proc.signal(sig)
        return self.proc.wait(timeout)

    def close(self):
        if self._wire is not None:
            self._wire.close()
            self._wire = None

    # Convenience views through the wire client.
    def info(self, stream):
        return self.wire.stream(stream)

    def next(self, stream):
        return self.info(stream)["next"]


@pytest.fixture
def make_broker(procs, tmp_path):
    """Factory: make_broker(args=[...]) starts a broker with its own data dir.

    At teardown a running broker gets SIGTERM and must exit 0 (this is where
    the ASan pass sees leaks and shutdown crashes)."""
    made = []

    def make(args=(), start=True, data_dir=None):
        data = data_dir or tmp_path / f"data{len(made)}"
        broker = Broker(procs, data, args=args)
        made.append(broker)
        if start:
            broker.start()
        return broker

    yield make
    problems = []
    for broker in made:
        broker.close()
        if broker.proc is not None and broker.proc.alive():
            broker.proc.signal(signal.SIGTERM)
            try:
                rc = broker.proc.popen.wait(timeout=T(20))
            except subprocess.TimeoutExpired:
                problems.append(f"broker {broker.proc.pid} did not exit on SIGTERM")
                continue
            if rc != 0:
                problems.append(f"broker exited {rc} on SIGTERM at teardown:\n"
                                f"{broker.proc.stderr()[-4000:]}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def broker(make_broker):
    return make_broker()


# ---------------------------------------------------------------- source / sink

def source_args(broker, stream, *args):
    return [SOURCE_BIN, "--broker", broker.endpoint, "--stream", stream, *args]


def sink_args(broker, stream, *args):
    return [SINK_BIN, "--broker", broker.endpoint, "--stream", stream, *args]


def start_source(procs, broker, stream, *args, stdin=None, name="source"):
    return procs.start(name, source_args(broker, stream, *args), stdin=stdin)


def run_source(procs, broker, stream, *args, stdin=None, code=0, timeout=T(120)):
    proc = start_source(procs, broker, stream, *args, stdin=stdin)
    proc.expect_exit(code, timeout)
    return proc


def start_sink(procs, broker, stream, *args, name="sink"):
    return procs.start(name, sink_args(broker, stream, *args))


def read_stream(procs, broker, stream, *args, fmt="json", frm="beginning", timeout=T(120)):
    """Reads a stream to its end: a list of parsed JSON lines."""
    proc = procs.start("reader", sink_args(broker, stream, f"--from={frm}", "--exit-at-end",
                                           "--format", fmt, *args))
    proc.expect_exit(0, timeout)
    return proc.json_lines()


def write_jsonl(path, values):
    with open(path, "w", encoding="utf-8") as f:
        for v in values:
            f.write(json.dumps(v, separators=(",", ":")))
            f.write("\n")
    return path


def assert_records(records, values, first_offset=0):
    """records (sink json) are exactly values, in order, at dense offsets."""
    offsets = [r["offset"] for r in records]
    assert len(records) == len(values), f"{len(records)} records, expected {len(values)}"
    expected = list(range(first_offset, first_offset + len(values)))
    if offsets != expected:
        bad = next(i for i, (a, b) in enumerate(zip(offsets, expected)) if a != b)
        raise AssertionError(f"offset {offsets[bad]} at position {bad}, expected {expected[bad]}")
    for i, (r, v) in enumerate(zip(records, values)):
        if r["value"] != v:
            raise AssertionError(f"record {i}: value {r['value']!r}, expected {v!r}")


# ---------------------------------------------------------------- result counting

# The hooks live in tests/pytest_results.py, one copy for every suite.
import sys as _sys
_sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from pytest_results import (pytest_collectreport, pytest_runtest_logreport,  # noqa: E402,F401
                            pytest_sessionfinish)
