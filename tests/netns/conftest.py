"""Harness for the multi-host test: network namespaces as hosts.

`Net` makes a private network of its own: one namespace holding a bridge (the
switch) and one namespace per host, each linked to the switch by a veth pair,
with addresses from 10.77.0.0/24 that exist only inside these namespaces. The
machine's own network namespace is not touched. Processes are started with
`ip netns exec` and ended by PID; the namespaces (and with them every link)
are deleted at teardown, even when the test fails.
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))
import waiting  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("SLUICE_BUILD", ROOT / "build")).resolve()
SUBNET = "10.77.0"          # /24, only inside the test's namespaces


def wait_for(cond, timeout, what, interval=0.05):
    """The shared wait (tests/lib/waiting.py), polling a little less often across namespaces."""
    return waiting.wait_for(cond, timeout, what, interval)


def ip(*args, check=True):
    res = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and res.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)}: {res.stderr.strip()}")
    return res


class Proc:
    """A program started in a namespace, its stdout and stderr in files."""

    def __init__(self, tmp, ns, label, args):
        self.label = label
        self.args = [str(a) for a in args]
        self.out_path = tmp / f"{label}.out"
        self.err_path = tmp / f"{label}.err"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            # `ip netns exec` enters the namespace and execs the program: the
            # PID is the program's own.
            self.popen = subprocess.Popen(["ip", "netns", "exec", ns, *self.args],
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                          env=env)

    def alive(self):
        return self.popen.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.alive():
            os.kill(self.popen.pid, sig)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.label} did not stop within {timeout}s\n"
                                 f"{self.stderr()[-2000:]}") from None

    def kill(self):
        if self.alive():
            try:
                os.kill(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def stdout_lines(self):
        data = self.out_path.read_bytes()
        cut = data.rfind(b"\n")
        return data[:cut].decode().split("\n") if cut >= 0 else []

    def stderr(self):
        return self.err_path.read_text(errors="replace")


class Net:
    """A switch namespace with a bridge, and hosts linked to it."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.tag = f"sl{os.getpid() % 100000}"
        self.switch = f"{self.tag}-switch"
        self.hosts = {}         # name -> (namespace, address, switch-side link)
        self.procs = []
        self.made = []          # namespaces to delete

    def add_ns(self, ns):
        ip("netns", "add", ns)
        self.made.append(ns)
        ip("-n", ns, "link", "set", "lo", "up")

    def make_switch(self):
        self.add_ns(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")

    def add_host(self, name):
        """A namespace with eth0 = SUBNET.N/24, cabled to a port of the switch."""
        ns = f"{self.tag}-{name}"
        address = f"{SUBNET}.{len(self.hosts) + 1}"
        port = f"{self.tag}p{len(self.hosts) + 1}"      # interface names: 15 chars at most
        self.add_ns(ns)
        ip("link", "add", port, "netns", self.switch, "type", "veth", "peer", "name", "eth0",
           "netns", ns)
        ip("-n", self.switch, "link", "set", port, "master", "br0")
        ip("-n", self.switch, "link", "set", port, "up")
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        self.hosts[name] = (ns, address, port)
        return address

    def ns(self, host):
        return self.hosts[host][0]

    def addr(self, host):
        return self.hosts[host][1]

    def link(self, host, state):
        """Takes a host's cable out (down) or puts it back (up): its eth0."""
        ip("-n", self.ns(host), "link", "set", "eth0", state)

    def start(self, host, label, args):
        proc = Proc(self.tmp, self.ns(host), label, args)
        self.procs.append(proc)
        return proc

    def run(self, host, args, timeout=60):
        return subprocess.run(["ip", "netns", "exec", self.ns(host), *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)

    def cleanup(self):
        for proc in self.procs:
            proc.kill()
        for ns in reversed(self.made):
            ip("netns", "del", ns, check=False)


@pytest.fixture
def net(tmp_path):
    if shutil.which("ip") is None:
        pytest.skip("the ip command (iproute2) is not installed (scripts/deps installs it)")
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    probe = f"sl{os.getpid() % 100000}-probe"
    res = ip("netns", "add", probe, check=False)
    if res.returncode != 0:
        pytest.skip(f"network namespaces cannot be made here: {res.stderr.strip()}")
    res = ip("-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1", check=False)
    ip("netns", "del", probe, check=False)
    if res.returncode != 0:
        pytest.skip(f"veth links cannot be made here: {res.stderr.strip()}")
    for program in ("broker/sluice-broker", "source/sluice-source", "worker/sluice-worker",
                    "sink/sluice-sink"):
        if not (BUILD / program).exists():
            pytest.fail(f"{BUILD / program} is not built")
    n = Net(tmp_path)
    try:
        yield n
    finally:
        n.cleanup()
        left = [ns for ns in n.made if ns in ip("netns", "list").stdout]
        assert not left, f"namespaces left after cleanup: {left}"


# ---------------------------------------------------------------- result counting
# The same per-test counts as tests/integration/conftest.py writes, for scripts/test.

# The hooks live in tests/pytest_results.py, one copy for every suite.
import sys as _sys
_sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from pytest_results import (pytest_collectreport, pytest_runtest_logreport,  # noqa: E402,F401
                            pytest_sessionfinish)
