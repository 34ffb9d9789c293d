"""Harness for the power-cut tests: the integration harness (tests/integration/conftest.py)
plus `disk`, a cutfs mount (cutfs.py) that a test can cut and mount again.

    --cuts N   power cuts per cycle test (env SLUICE_POWERCUT_CUTS; default 8, the CI size)
    --seed S   the RNG seed (env SLUICE_POWERCUT_SEED; default a fresh one, printed)
"""

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

_HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))
import suites  # noqa: E402

# The integration harness, importable as `sluice_it`; its fixtures, result-counting hooks, T and
# wait_for land here so that pytest (and this directory's tests) find them.
sluice_it = suites.integration(globals())

CUTFS = _HERE / "cutfs.py"
PY = "/usr/bin/python3"


def pytest_addoption(parser):
    parser.addoption("--cuts", type=int, default=None,
                     help="power cuts per cycle test (default $SLUICE_POWERCUT_CUTS or 8)")
    parser.addoption("--seed", type=int, default=None,
                     help="RNG seed (default $SLUICE_POWERCUT_SEED or random)")


@pytest.fixture
def cuts(request):
    value = request.config.getoption("--cuts") or int(os.environ.get("SLUICE_POWERCUT_CUTS", 8))
    assert value >= 1
    return value


@pytest.fixture
def seed(request):
    value = request.config.getoption("--seed")
    if value is None and os.environ.get("SLUICE_POWERCUT_SEED"):
        value = int(os.environ["SLUICE_POWERCUT_SEED"])
    if value is None:
        value = int.from_bytes(os.urandom(4), "big")
    print(f"power-cut seed {value} (rerun with --seed {value})")
    return value


def _fuse_unavailable():
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if os.geteuid() != 0:
        return "not root (mounting cutfs needs root here)"
    try:
        import fusepy  # noqa: F401
    except ImportError:
        return "python3-fusepy is not installed"
    if not any(os.access(os.path.join(d, "fusermount"), os.X_OK)
               for d in os.environ.get("PATH", "/usr/bin").split(":")):
        return "no fusermount on PATH"
    return None


class Disk:
    """A cutfs mount over a backing directory: the data directory a power cut can hit."""

    def __init__(self, tmp):
        self.backing = tmp / "disk"
        self.mnt = tmp / "mnt"
        self.backing.mkdir()
        self.mnt.mkdir()
        self.plan = tmp / "cut-plan.json"
        self.report_path = tmp / "cut-report.json"
        self.log = tmp / "cutfs.log"
        self.stall = tmp / "cutfs-stall"
        self.proc = None
        self.mounts = 0
        self.reports = []

    def mount(self):
        if self.plan.exists():
            self.plan.unlink()
        self.mounts += 1
        self.proc = subprocess.Popen([PY, str(CUTFS), str(self.backing), str(self.mnt),
                                      "--plan", str(self.plan), "--report",
                                      str(self.report_path), "--stall", str(self.stall)],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "ab"))
        wait_for(lambda: os.path.ismount(self.mnt) or self.proc.poll() is not None, T(20),
                 "cutfs mounted")
        if not os.path.ismount(self.mnt):
            raise AssertionError(f"cutfs exited {self.proc.returncode}: "
                                 f"{self.log.read_text()[-2000:]}")

    def stall_next_sync(self, seconds):
        """A slow disk: the next sync on the mount takes this long (once)."""
        self.stall.write_text(str(seconds))

    def cut(self, plan=None):
        """The power cut: unmount (the programs using the disk must be dead), apply plan to
        the unsynced pages, and return cutfs's report."""
        self.plan.write_text(json.dumps(plan or {"mode": "drop"}))
        deadline = time.monotonic() + T(20)
        while True:
            rc = subprocess.run(["fusermount", "-u", str(self.mnt)],
                                capture_output=True, text=True)
            if rc.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"cannot unmount cutfs: {rc.stderr}")
            time.sleep(0.05)        # a killed program's files are still being released
        self.proc.wait(T(60))
        assert self.proc.returncode == 0, f"cutfs exited {self.proc.returncode}: " \
                                          f"{self.log.read_text()[-2000:]}"
        self.proc = None
        report = json.loads(self.report_path.read_text())
        self.reports.append(report)
        return report

    def cleanup(self):
        if self.proc is not None:
            subprocess.run(["fusermount", "-u", "-z", str(self.mnt)], capture_output=True)
            try:
                self.proc.wait(T(20))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def disk(tmp_path, procs):
    why = _fuse_unavailable()
    if why:
        print(f"SKIP tests/powercut: {why}", file=sys.stderr)
        pytest.skip(why)
    d = Disk(tmp_path)
    d.mount()
    yield d
    # Teardown order: `procs` (requested first) ends after this, so the programs on the mount
    # are killed here first, by PID, and the mount goes after them.
    procs.cleanup()
    d.cleanup()
