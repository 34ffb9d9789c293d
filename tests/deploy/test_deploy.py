"""The container deployment: deploy/Dockerfile and deploy/docker-compose.yml, for real.

The image is built with podman; the compose project (broker, a durable source
generating N records, a worker group of two running examples/demo.lua, a
durable sink) is brought up with podman-compose under a project name of its
own. Mid-run the test crashes a worker, the broker and the source (SIGKILL to
the container's init from the host, as a crash would) and lets the restart
policies start them again; it also stops the other worker with `podman kill`,
which podman treats as a stop by the user (no restart, like `docker stop`), so
that one is started again by hand. At the end every generated id must be in
the stream `demo` once, and every id the Lua transform keeps in
`demo.enriched` once, read through the broker's container; the project's
containers, volume and network are removed even when the test fails.
"""

import json
import os
import re
import shutil
import signal

import pytest
import yaml

from conftest import IMAGE, ROOT, wait_for

COMPOSE = ROOT / "deploy" / "docker-compose.yml"
STACK = ROOT / "deploy" / "docker-stack.yml"
N = 6000            # records the source generates (ids 0..N-1)
RATE = 300          # per second: the run takes about 20 s, long enough to kill things in it
# examples/demo.lua drops the readings of sensor s-0, i.e. every id divisible by 16.
EXPECTED = {i for i in range(N) if i % 16 != 0}
STAGES = {"broker": "sluice-broker", "source": "sluice-source", "worker": "sluice-worker",
          "sink": "sluice-sink"}


def _seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", str(text))
    assert m, f"unreadable duration {text!r}"
    return int(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


def _load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def _interpolate(value, env=None):
    """${VAR:-default} as compose does it, for the checks below."""
    env = env or {}
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1), m.group(2)),
                  str(value))


# ---------------------------------------------------------------- the image

def test_image_runtime_and_user(podman):
    script = r"""
        set -e
        id -u
        for p in sluice-broker sluice-source sluice-worker sluice-sink; do $p --version >/dev/null; done
        test -f /usr/local/share/sluice/examples/demo.lua && echo demo.lua
        ls /usr/local/lib/sluice/
        command -v jq
        dpkg-query -W -f '${Package}\n' > /tmp/pkgs
        cat /tmp/pkgs
        """
    out = podman.podman("run", "--rm", "--network", "none", IMAGE, "sh", "-c", script).stdout
    lines = out.split()
    assert lines[0] == "10001", f"the image runs as uid {lines[0]}, not the user sluice"
    assert "demo.lua" in lines
    assert "sluice-op-uppercase.so" in lines
    assert "/usr/bin/jq" in lines
    packages = set(lines)
    for pkg in ("libzmq5", "libczmq4", "libmsgpackc2", "liblmdb0", "libyajl2", "liblua5.4-0",
                "jq", "lmdb-utils"):
        assert pkg in packages, f"runtime package {pkg} is missing"
    build_only = sorted(p for p in packages
                        if p.endswith("-dev") or p in ("gcc", "gcc-12", "meson", "ninja-build"))
    assert not build_only, f"build packages in the runtime image: {build_only}"


# ---------------------------------------------------------------- the compose files

def test_compose_file_is_complete_and_valid(podman, tmp_path):
    spec = _load(COMPOSE)
    services = spec["services"]
    assert set(services) == set(STAGES)

    # Only the broker mounts the LMDB volume, a named volume.
    assert "sluice-data" in spec["volumes"]
    assert services["broker"]["volumes"] == ["sluice-data:/var/lib/sluice"]
    for name in ("source", "worker", "sink"):
        assert "volumes" not in services[name], f"{name} mounts a volume"

    # The healthcheck asks the broker itself.
    test = services["broker"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "sluice-sink"] and "--list" in test

    for name, program in STAGES.items():
        svc = services[name]
        # Configured by environment variables: the command is the program alone.
        assert svc["command"] == [program], f"{name}: command {svc['command']}"
        assert svc["environment"] and all(k.startswith("SLUICE_") for k in svc["environment"])
        assert svc["init"] is True
        assert svc["restart"] in ("always", "unless-stopped", "on-failure")
        assert svc["deploy"]["restart_policy"]["condition"] in ("any", "on-failure")
        assert int(_interpolate(svc["deploy"]["replicas"])) >= 1
        if name != "broker":
            assert svc["depends_on"] == {"broker": {"condition": "service_healthy"}}
    assert int(_interpolate(services["worker"]["deploy"]["replicas"])) == 2
    assert int(_interpolate(services["broker"]["deploy"]["replicas"])) == 1
    # Longer than what SIGTERM waits for: the broker's commit and 1 s ZeroMQ
    # linger, the source's 10 s --drain-timeout, the worker's lease in hand.
    assert _seconds(services["broker"]["stop_grace_period"]) >= 10
    assert _seconds(services["source"]["stop_grace_period"]) > 10
    assert _seconds(services["worker"]["stop_grace_period"]) >= 10

    # Every variable is one the program really reads (its --help lists the mirrors).
    helps = {}
    for name, program in STAGES.items():
        helps[name] = podman.podman("run", "--rm", "--network", "none", IMAGE, program,
                                    "--help").stdout
        for key in services[name]["environment"]:
            assert f"env {key}" in helps[name], f"{name}: {program} has no variable {key}"

    # The Swarm file is the same apart from depends_on, which `docker stack`
    # accepts only as a list.
    stack = _load(STACK)
    for name, svc in stack["services"].items():
        assert svc.pop("depends_on", []) == ([] if name == "broker" else ["broker"])
    for svc in spec["services"].values():
        svc.pop("depends_on", None)
    assert stack == spec, "deploy/docker-stack.yml differs from deploy/docker-compose.yml"

    # podman-compose 1.0.3 has no `config`: --dry-run parses, interpolates and
    # prints the podman commands (it does create the volume and network, which
    # are removed below).
    project = f"sluicecfg{os.getpid()}"
    try:
        res = podman.run(["podman-compose", "--dry-run", "-f", str(COMPOSE), "-p", project,
                          "up", "-d", "--no-build"], env={"SLUICE_IMAGE": IMAGE})
        runs = [line for line in res.stdout.splitlines() if line.startswith("podman run")]
        names = sorted(re.search(r"--name=(\S+)", line).group(1) for line in runs)
        assert names == sorted(f"{project}_{s}" for s in
                               ("broker_1", "source_1", "worker_1", "worker_2", "sink_1")), names
        for line in runs:
            assert "--init" in line and "--restart" in line, line
            assert ("-v " in line) == (f"{project}_broker_1" in line), line
    finally:
        _remove_project(podman, project)

    # Docker's own loaders, where the client is installed (no engine is needed
    # for these): `docker stack config` is Swarm's; `docker compose config`
    # needs the compose plugin.
    if shutil.which("docker"):
        res = podman.run(["docker", "stack", "config", "-c", str(STACK)],
                         env={"SLUICE_WORKERS": "3"}, check=False)
        if "unknown command" not in res.stderr:
            assert res.returncode == 0, f"docker stack config: {res.stderr}"
            assert re.search(r"replicas: 3\b", res.stdout), res.stdout
        if podman.run(["docker", "compose", "version"], check=False).returncode == 0:
            res = podman.run(["docker", "compose", "-f", str(COMPOSE), "config", "-q"],
                             check=False)
            assert res.returncode == 0, f"docker compose config: {res.stderr}"
        else:
            print("deploy: the docker compose plugin is not installed; the compose file is "
                  "checked with podman-compose and the checks above")


# ---------------------------------------------------------------- the pipeline

def _remove_project(podman, project):
    """Removes a compose project's containers, volumes and network, whatever state they are in."""
    label = f"label=io.podman.compose.project={project}"
    ids = podman.podman("ps", "-a", "-q", "--filter", label, check=False).stdout.split()
    if ids:
        podman.podman("rm", "-f", "-t", "0", *ids, check=False, timeout=120)
    vols = podman.podman("volume", "ls", "-q", "--filter", label, check=False).stdout.split()
    if vols:
        podman.podman("volume", "rm", "-f", *vols, check=False)
    nets = podman.podman("network", "ls", "-q", "--filter", label, check=False).stdout.split()
    for net in set(nets) | {f"{project}_sluice"}:
        podman.podman("network", "rm", "-f", net, check=False)


class Project:
    """One compose project of the example pipeline."""

    def __init__(self, podman, name, env):
        self.pm = podman
        self.name = name
        self.env = env
        self.compose = ["podman-compose", "-f", str(COMPOSE), "-p", name]

    def cnt(self, service, n=1):
        return f"{self.name}_{service}_{n}"

    def up(self):
        self.pm.run(self.compose + ["up", "-d", "--no-build"], env=self.env, timeout=300)

    def down(self):
        self.pm.run(self.compose + ["down", "-v", "-t", "10"], env=self.env, timeout=300,
                    check=False)
        _remove_project(self.pm, self.name)

    def state(self, service, n=1):
        """(status, restart count, exit code) of a container."""
        out = self.pm.inspect(self.cnt(service, n),
                              "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}")
        if not out:
            return None, 0, None
        status, restarts, code = out.split()
        return status, int(restarts), int(code)

    def healthy(self):
        """Runs the broker's compose healthcheck once (no systemd here runs it on a timer)."""
        res = self.pm.podman("healthcheck", "run", self.cnt("broker"), check=False, timeout=30)
        return res.returncode == 0

    def streams(self):
        """The broker's streams, asked inside its container; {} while it does not answer."""
        res = self.pm.podman("exec", self.cnt("broker"), "sluice-sink", "-b",
                             "tcp://127.0.0.1:7600", "--list", "--format", "json",
                             "--connect-timeout", "3s", check=False, timeout=30)
        if res.returncode != 0:
            return {}
        return {s["name"]: s for s in json.loads(res.stdout)}

    def next_offset(self, stream):
        return self.streams().get(stream, {}).get("next", 0)

    def values(self, stream):
        """Every value of a stream, read through the broker's container."""
        res = self.pm.podman("exec", self.cnt("broker"), "sluice-sink", "-b",
                             "tcp://127.0.0.1:7600", "-s", stream, "--from", "beginning",
                             "--exit-at-end", "--format", "value", "--quiet", timeout=120)
        return [json.loads(line) for line in res.stdout.splitlines()]

    def crash(self, service, n=1):
        """SIGKILL to the container's init, from the host: the container dies as in a crash."""
        status, restarts, _ = self.state(service, n)
        assert status == "running", f"{self.cnt(service, n)} is {status}, not running"
        pid = int(self.pm.inspect(self.cnt(service, n), "{{.State.Pid}}"))
        os.kill(pid, signal.SIGKILL)
        return restarts

    def wait_restarted(self, service, restarts_before, n=1, timeout=60):
        def back():
            status, restarts, _ = self.state(service, n)
            return status == "running" and restarts > restarts_before
        wait_for(back, timeout, f"the restart policy to restart {self.cnt(service, n)}")

    def logs(self):
        text = []
        ids = self.pm.podman("ps", "-a", "--format", "{{.Names}}", "--filter",
                             f"label=io.podman.compose.project={self.name}",
                             check=False).stdout.split()
        for cnt in sorted(ids):
            res = self.pm.podman("logs", "--tail", "25", cnt, check=False)
            text.append(f"--- {cnt} ({self.pm.inspect(cnt, '{{.State.Status}}')}):\n"
                        f"{res.stdout[-3000:]}{res.stderr[-3000:]}")
        return "\n".join(text)


def _ids(values, what):
    ids = [v["id"] for v in values]
    dups = sorted({i for i in ids if ids.count(i) > 1}) if len(ids) != len(set(ids)) else []
    assert not dups, f"{what}: ids duplicated: {dups[:20]}"
    return set(ids)


def test_pipeline_survives_killed_containers(podman):
    project = Project(podman, f"sluicedeploy{os.getpid()}", {
        "SLUICE_IMAGE": IMAGE,
        "SLUICE_DEMO_RECORDS": str(N),
        "SLUICE_DEMO_RATE": str(RATE),
        "SLUICE_WORKERS": "2",
        # A restarted worker comes back under its old member name (HOSTNAME-PID)
        # and the broker keeps that name's leases until they run out: keep it short.
        "SLUICE_LEASE": "5s",
    })
    _remove_project(podman, project.name)
    notes = []
    try:
        project.up()
        wait_for(project.healthy, 60, "the broker's healthcheck to pass")
        wait_for(lambda: project.next_offset("demo") >= N // 5, 60,
                 f"{N // 5} records in stream demo")

        # A worker crashes; the other is killed with `podman kill`.
        before = project.crash("worker", 1)
        podman.podman("kill", project.cnt("worker", 2))
        project.wait_restarted("worker", before, n=1)
        status, _, _ = project.state("worker", 2)
        if status != "running":
            notes.append("podman kill counts as a stop by the user: worker_2 was not "
                         "restarted by its policy and was started by the test")
            podman.podman("start", project.cnt("worker", 2))

        # The broker crashes mid-run and comes back on its volume.
        at = project.next_offset("demo")
        assert at < N, "the source finished before the broker could be killed; lower RATE?"
        before = project.crash("broker")
        project.wait_restarted("broker", before)
        wait_for(project.healthy, 60, "the restarted broker's healthcheck to pass")
        assert project.next_offset("demo") >= at, "records confirmed before the crash are gone"

        # The durable source crashes too and resumes where the broker is.
        wait_for(lambda: project.next_offset("demo") >= at + N // 10, 60,
                 "the source to publish again after the broker restart")
        status, _, _ = project.state("source")
        if status == "running":
            before = project.crash("source")
            project.wait_restarted("source", before)
        else:
            notes.append("the source had finished before it could be killed")

        # The source exits 0 once all N records are confirmed.
        wait_for(lambda: project.state("source")[0] == "exited", 2 * N / RATE + 60,
                 "the source to finish")
        assert project.state("source")[2] == 0, "the source did not exit 0"
        wait_for(lambda: project.next_offset("demo.enriched") >= len(EXPECTED), 120,
                 f"{len(EXPECTED)} records in demo.enriched")

        demo = _ids(project.values("demo"), "stream demo")
        assert demo == set(range(N)), f"stream demo lacks ids {sorted(set(range(N)) - demo)[:20]}"
        enriched = project.values("demo.enriched")
        got = _ids(enriched, "stream demo.enriched")
        assert got == EXPECTED, (f"demo.enriched: missing {sorted(EXPECTED - got)[:20]}, "
                                 f"unexpected {sorted(got - EXPECTED)[:20]}")
        assert all("temp_f" in v and "hot" in v for v in enriched), "demo.lua did not run"

        # The sink container (a durable reader) printed each of them once too,
        # across the broker's restart.
        def sink_ids():
            res = podman.podman("logs", project.cnt("sink"), check=False)
            values = [json.loads(line) for line in res.stdout.splitlines()
                      if line.startswith("{")]
            return _ids(values, "the sink's output")
        wait_for(lambda: sink_ids() == EXPECTED, 60, "the sink to print every record")

        # Nothing arrives late: the counts stand.
        streams = project.streams()
        assert streams["demo"]["records"] == N
        assert streams["demo.enriched"]["records"] == len(EXPECTED)

        # The online backup docs/deploy.md describes: mdb_copy inside the
        # broker's container (the same PID namespace as the broker), and a
        # second broker started on the copy holds the same streams.
        res = podman.podman("exec", project.cnt("broker"), "sh", "-c", """
            set -e
            rm -rf /tmp/backup && mkdir /tmp/backup
            mdb_copy /var/lib/sluice /tmp/backup
            sluice-broker --data /tmp/backup --listen tcp://127.0.0.1:7700 --quiet &
            b=$!
            sluice-sink -b tcp://127.0.0.1:7700 --list --format json --connect-timeout 10s
            kill $b && wait $b
            rm -rf /tmp/backup
            """, timeout=60)
        copy = {s["name"]: s["records"] for s in json.loads(res.stdout)}
        assert copy.get("demo") == N and copy.get("demo.enriched") == len(EXPECTED), copy

        # Only the broker's container mounts the volume.
        for service in STAGES:
            mounts = project.pm.inspect(project.cnt(service), "{{json .Mounts}}")
            has = "sluice-data" in mounts
            assert has == (service == "broker"), f"{service} mounts: {mounts}"
        for note in notes:
            print(f"deploy: note: {note}")
    except Exception as e:
        raise AssertionError(f"{e}\n\n{project.logs()}") from e
    finally:
        project.down()
        left = podman.podman("ps", "-a", "-q", "--filter",
                             f"label=io.podman.compose.project={project.name}",
                             check=False).stdout.split()
        assert not left, f"containers left after teardown: {left}"
