"""Harness for the container deployment test (deploy/Dockerfile, deploy/docker-compose.yml).

Containers run with podman; the compose file with podman-compose. No container
registry is reachable, so the Debian base image is made here: debootstrap
--variant=minbase bookworm from the apt mirror this machine already uses, as a
tarball cached in /var/cache/sluice-test/ and imported into podman's store as
docker.io/library/debian:bookworm-slim; both are kept between runs, so only
the first run on a machine pays for debootstrap. Podman reads a containers.conf
of the test's own (CONTAINERS_CONF): containers may not raise resource limits
here, and the runtime is runc (crun refuses this machine's hybrid cgroup
layout). Every wait is a poll with a deadline.

Inside a container (a CI runner's, say) podman's default storage driver,
overlay, cannot stack on the container's own overlayfs ("'overlay' is not
supported over overlayfs"): there the tests use the vfs driver, in a store
of their own (VFS_ROOT), and say so.

The tests skip, saying why, where podman cannot run containers at all.
"""

import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))
import waiting  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
IMAGE = "localhost/sluice:deploy-test"
CACHE = pathlib.Path("/var/cache/sluice-test")
VFS_ROOT = pathlib.Path("/var/lib/containers/storage-sluice-vfs")
TARBALL = CACHE / "debian-bookworm-minbase.tar"
CONTAINERS_CONF = """\
# Written by tests/deploy/conftest.py.
[containers]
# Containers may not raise resource limits on these machines.
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
# crun 1.8 refuses a hybrid cgroup v1/v2 layout ("cgroups in hybrid mode not
# supported"); runc runs containers on it.
runtime = "runc"
"""


def wait_for(cond, timeout, what, interval=0.25):
    """The shared wait (tests/lib/waiting.py), polling containers less often."""
    return waiting.wait_for(cond, timeout, what, interval)


def apt_mirror():
    """The Debian mirror apt already uses (deb822 sources first, then sources.list)."""
    deb822 = pathlib.Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.exists():
        for stanza in deb822.read_text().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith((" ", "#")):
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
            suites = fields.get("suites", "").split()
            if "bookworm" in suites and fields.get("uris"):
                return fields["uris"].split()[0]
    legacy = pathlib.Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == "bookworm":
                return parts[1]
    return "http://deb.debian.org/debian"


class Podman:
    """podman and podman-compose with the test's own containers.conf."""

    def __init__(self, conf_path, storage_conf=None):
        self.env = dict(os.environ)
        self.env["CONTAINERS_CONF"] = str(conf_path)
        if storage_conf is not None:
            self.env["CONTAINERS_STORAGE_CONF"] = str(storage_conf)
        # Compose interpolates SLUICE_* from the environment: start from none.
        for key in [k for k in self.env if k.startswith("SLUICE_")]:
            del self.env[key]

    def run(self, args, timeout=120, check=True, env=None, input=None):
        """Runs a command (podman, podman-compose, ...) and returns its CompletedProcess."""
        full_env = dict(self.env)
        if env:
            full_env.update(env)
        try:
            res = subprocess.run(args, env=full_env, capture_output=True, text=True,
                                 timeout=timeout, input=input)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"{' '.join(args)}: still running after {timeout}s\n"
                                 f"{(e.stderr or b'')[-3000:]}") from None
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(args)}: exit {res.returncode}\n"
                                 f"--- stdout:\n{res.stdout[-3000:]}\n"
                                 f"--- stderr:\n{res.stderr[-3000:]}")
        return res

    def podman(self, *args, **kw):
        return self.run(["podman", *args], **kw)

    def inspect(self, name, fmt):
        res = self.podman("inspect", "-f", fmt, name, check=False)
        return res.stdout.strip() if res.returncode == 0 else None


def _ensure_base_image(pm):
    """Imports the base image, from the cached tarball or a new debootstrap."""
    if pm.podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)    # another run may be making it right now
        if pm.podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
            return
        if not TARBALL.exists():
            if shutil.which("debootstrap") is None or os.geteuid() != 0:
                pytest.skip(f"no {BASE_IMAGE} image and no way to make one: debootstrap "
                            f"needs root and the debootstrap package (scripts/deps)")
            root = pathlib.Path(tempfile.mkdtemp(prefix="rootfs.", dir=CACHE))
            try:
                started = time.monotonic()
                res = pm.run(["debootstrap", "--variant=minbase", "bookworm", str(root),
                              apt_mirror()], timeout=1200, check=False)
                assert res.returncode == 0, (f"debootstrap failed (exit {res.returncode}):\n"
                                             f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
                part = TARBALL.with_suffix(".tar.part")
                pm.run(["tar", "-C", str(root), "-cf", str(part), "."], timeout=600)
                part.rename(TARBALL)
                print(f"deploy: made the base image with debootstrap in "
                      f"{time.monotonic() - started:.0f}s (cached in {TARBALL})")
            finally:
                shutil.rmtree(root, ignore_errors=True)
        pm.podman("import", str(TARBALL), BASE_IMAGE, timeout=600)


def _fs_type(path):
    """The filesystem type under path (its nearest existing ancestor), as stat -f names it."""
    path = pathlib.Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    res = subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True)
    return res.stdout.strip()


def _storage_conf(pm, directory):
    """A storage.conf selecting vfs when overlay would sit on overlayfs, else None."""
    res = pm.podman("info", "--format", "{{.Store.GraphDriverName}} {{.Store.GraphRoot}}",
                    check=False)
    if res.returncode != 0:
        return None
    driver, _, root = res.stdout.strip().partition(" ")
    if driver != "overlay" or _fs_type(root) != "overlayfs":
        return None
    conf = directory / "storage.conf"
    conf.write_text("# Written by tests/deploy/conftest.py: overlay cannot stack on overlayfs.\n"
                    "[storage]\n"
                    'driver = "vfs"\n'
                    f'graphroot = "{VFS_ROOT}"\n'
                    f'runroot = "{directory / "run"}"\n')
    print(f"deploy: {root} is on overlayfs (running inside a container?): podman uses the "
          f"vfs storage driver in {VFS_ROOT} (slower, and larger on disk)")
    return conf


@pytest.fixture(scope="session")
def podman(tmp_path_factory):
    """A usable podman with the base image and the Sluice image built, or a skip."""
    missing = [tool for tool in ("podman", "podman-compose") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (scripts/deps installs them)")
    directory = tmp_path_factory.mktemp("podman")
    conf = directory / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    pm = Podman(conf)
    storage = _storage_conf(pm, directory)
    if storage is not None:
        pm = Podman(conf, storage)
    res = pm.podman("info", "--format", "json", check=False)
    if res.returncode != 0:
        pytest.skip(f"podman is not usable here: podman info: {res.stderr.strip()[-500:]}")

    _ensure_base_image(pm)
    res = pm.podman("run", "--rm", "--network", "none", BASE_IMAGE, "true", check=False,
                    timeout=120)
    if res.returncode != 0:
        pytest.skip(f"podman cannot run containers here: {res.stderr.strip()[-800:]}")

    # The image: podman's layer cache makes a rebuild of unchanged sources quick.
    old = pm.inspect(IMAGE, "{{.Id}}")
    started = time.monotonic()
    res = pm.podman("build", "--pull=never", "-f", str(ROOT / "deploy" / "Dockerfile"),
                    "-t", IMAGE, str(ROOT), timeout=1200, check=False)
    assert res.returncode == 0, (f"podman build failed (exit {res.returncode}):\n"
                                 f"{res.stdout[-5000:]}\n{res.stderr[-3000:]}")
    print(f"deploy: image {IMAGE} built in {time.monotonic() - started:.0f}s")
    new = pm.inspect(IMAGE, "{{.Id}}")
    if old and new and old != new:
        pm.podman("rmi", old, check=False)   # the previous build's image, now untagged
    # Each change of the sources leaves an untagged build stage (~700 MB) behind:
    # remove those of earlier builds. The -dev package layer has no such label
    # and stays, as does this build's stage (the cache for an unchanged tree).
    age = int(time.monotonic() - started) + 2
    pm.podman("image", "prune", "-f", "--filter", "label=io.sluice.stage=build",
              "--filter", f"until={age}s", check=False, timeout=300)
    return pm


# ---------------------------------------------------------------- result counting
# The same per-test counts as tests/integration/conftest.py writes, for scripts/test.

# The hooks live in tests/pytest_results.py, one copy for every suite.
import sys as _sys
_sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from pytest_results import (pytest_collectreport, pytest_runtest_logreport,  # noqa: E402,F401
                            pytest_sessionfinish)
