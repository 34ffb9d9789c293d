"""The container deployment: deploy/Dockerfile and deploy/docker-compose.yml, for real.

The image is built with podman; the compose project (broker, a durable source
generating N records, a worker group of two running examples/demo.lua, a
durable sink) is brought up with podman-compose under a project name of its
own, with CURVE on: the keys are made first by the documented one-shot
`podman-compose run --rm --no-deps keys` into the volume sluice-keys, every
stage uses its own key, and a container without keys on the project's network is
refused. Mid-run the test crashes a worker, the broker and the source (SIGKILL to
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
import time

import pytest
import yaml

from conftest import IMAGE, ROOT, wait_for

COMPOSE = ROOT / "deploy" / "docker-compose.yml"
STACK = ROOT / "deploy" / "docker-stack.yml"
N = 6000            # records the source generates (ids 0..N-1)
RATE = 150          # per second: the run takes about 40 s, long enough to kill things in it
                    # after the set-up checks (which take ~40 s on a loaded 2-core machine)
# examples/demo.lua drops the readings of sensor s-0, i.e. every id divisible by 16.
EXPECTED = {i for i in range(N) if i % 16 != 0}
STAGES = {"broker": "sluice-broker", "source": "sluice-source", "worker": "sluice-worker",
          "sink": "sluice-sink"}
KEYS = "/etc/sluice/keys"
# The client flags of the broker's healthcheck key, for requests made inside its container
# (its environment holds the broker's own SLUICE_CURVE_SECRET).
HEALTH_KEY = ["--curve-secret", f"{KEYS}/health.key_secret", "--broker-key", f"{KEYS}/broker.key"]


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
    assert set(services) == set(STAGES) | {"keys"}

    # Only the broker mounts the LMDB volume, a named volume; every service
    # mounts the keys (the clients read-only).
    assert "sluice-data" in spec["volumes"] and "sluice-keys" in spec["volumes"]
    assert services["broker"]["volumes"] == ["sluice-data:/var/lib/sluice",
                                             f"sluice-keys:{KEYS}"]
    assert services["keys"]["volumes"] == [f"sluice-keys:{KEYS}"]
    for name in ("source", "worker", "sink"):
        assert services[name]["volumes"] == [f"sluice-keys:{KEYS}:ro"], f"{name} mounts"

    # CURVE everywhere: the broker with its key pair and an allow directory,
    # each client with a key pair of its own and the broker's public key.
    broker_env = services["broker"]["environment"]
    assert broker_env["SLUICE_CURVE_SECRET"] == f"{KEYS}/broker.key_secret"
    assert broker_env["SLUICE_ALLOW"] == f"{KEYS}/allow"
    assert "SLUICE_ALLOW_ANY" not in broker_env
    for name in ("source", "worker", "sink"):
        env = services[name]["environment"]
        assert env["SLUICE_CURVE_SECRET"] == f"{KEYS}/{name}.key_secret", name
        assert env["SLUICE_BROKER_KEY"] == f"{KEYS}/broker.key", name

    # The keys service: one-shot, never restarted, runs before the broker.
    assert services["keys"]["restart"] == "no"
    assert services["broker"]["depends_on"] == {
        "keys": {"condition": "service_completed_successfully"}}

    # The healthcheck asks the broker's /healthz (docs/operate.md) on its
    # loopback-only HTTP server: 200 while it serves and can write.
    test = services["broker"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL" and len(test) == 2 and "GET /healthz" in test[1], test
    assert test[1].startswith("bash -c '") and "/dev/tcp/127.0.0.1/7680" in test[1], test
    assert '" 200 "' in test[1], test
    assert services["broker"]["environment"]["SLUICE_HTTP"] == "127.0.0.1:7680"

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
    # accepts only as a list, and the keys: external Swarm secrets (each
    # service only its own secret key, in /run/secrets/) and configs (the
    # public keys) instead of the keys service and its volume.
    stack = _load(STACK)
    secret_names = {f"sluice-{n}.key_secret" for n in ("broker", "source", "worker", "sink",
                                                          "health")}
    config_names = {f"sluice-{n}.key" for n in ("broker", "source", "worker", "sink",
                                                   "health")}
    assert stack.pop("secrets") == {n: {"external": True} for n in secret_names}
    assert stack.pop("configs") == {n: {"external": True} for n in config_names}
    for name, svc in stack["services"].items():
        assert svc.pop("depends_on", []) == ([] if name == "broker" else ["broker"])
        secrets = svc.pop("secrets")
        configs = svc.pop("configs")
        own = ["broker", "health"] if name == "broker" else [name]
        assert [s["source"] for s in secrets] == [f"sluice-{n}.key_secret" for n in own], name
        for sec in secrets:
            assert sec["target"] == sec["source"][len("sluice-"):], sec
            assert sec["uid"] == "10001" and sec["mode"] == 0o400, sec
        targets = {c["source"]: c["target"] for c in configs}
        assert targets.pop("sluice-broker.key") == f"{KEYS}/broker.key", name
        if name == "broker":
            assert targets == {f"sluice-{n}.key": f"{KEYS}/allow/{n}.key"
                               for n in ("source", "worker", "sink", "health")}
        else:
            assert not targets, f"{name}: {targets}"
        env = svc["environment"]
        if "SLUICE_CURVE_SECRET" in env:
            assert env["SLUICE_CURVE_SECRET"].startswith("/run/secrets/")
            env["SLUICE_CURVE_SECRET"] = env["SLUICE_CURVE_SECRET"].replace(
                "/run/secrets/", f"{KEYS}/")
        if "healthcheck" in svc:
            svc["healthcheck"]["test"] = [a.replace("/run/secrets/", f"{KEYS}/")
                                          for a in svc["healthcheck"]["test"]]
    del spec["services"]["keys"]
    del spec["volumes"]["sluice-keys"]
    for svc in spec["services"].values():
        svc.pop("depends_on", None)
        vols = [v for v in svc.pop("volumes", []) if not v.startswith("sluice-keys:")]
        if vols:
            svc["volumes"] = vols
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
                               ("keys_1", "broker_1", "source_1", "worker_1", "worker_2",
                                "sink_1")), names
        # podman-compose starts the keys first (it does not wait for them: the
        # test runs `run --rm keys` before `up`, as docs/deploy.md says).
        assert "--name=" + f"{project}_keys_1" in runs[0], runs[0]
        for line in runs:
            assert "--restart" in line, line
            assert f"-v {project}_sluice-keys:{KEYS}" in line, line
            assert ("sluice-data" in line) == (f"{project}_broker_1" in line), line
            if f"{project}_keys_1" not in line:
                assert "--init" in line and "SLUICE_CURVE_SECRET=" in line, line
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

    def keys(self):
        """The documented one-shot keygen, `run --rm --no-deps keys` (-T: no terminal here)."""
        return self.pm.run(self.compose + ["run", "--rm", "--no-deps", "-T", "keys"],
                           env=self.env, timeout=120).stdout

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
                             "--connect-timeout", "3s", *HEALTH_KEY, check=False, timeout=30)
        if res.returncode != 0:
            return {}
        return {s["name"]: s for s in json.loads(res.stdout)}

    def next_offset(self, stream):
        return self.streams().get(stream, {}).get("next", 0)

    def values(self, stream):
        """Every value of a stream, read through the broker's container."""
        res = self.pm.podman("exec", self.cnt("broker"), "sluice-sink", "-b",
                             "tcp://127.0.0.1:7600", "-s", stream, "--from", "beginning",
                             "--exit-at-end", "--format", "value", "--quiet", *HEALTH_KEY,
                             timeout=120)
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
        started = time.monotonic()
        out = project.keys()
        assert "4 client keys allowed" in out, out
        assert project.keys().count("4 client keys allowed") == 1   # again: nothing changes
        project.up()
        wait_for(project.healthy, 60, "the broker's healthcheck to pass")
        broker_log = podman.podman("logs", project.cnt("broker")).stderr
        broker_log += podman.podman("logs", project.cnt("broker")).stdout
        assert "CURVE on every socket" in broker_log, broker_log[-2000:]
        assert "4 client keys allowed" in broker_log, broker_log[-2000:]

        # A container on the project's network without keys is refused.
        res = podman.podman("run", "--rm", "--network", f"{project.name}_sluice", IMAGE,
                            "sluice-sink", "--broker", "tcp://broker:7600", "--list",
                            "--connect-timeout", "3s", check=False, timeout=60)
        assert res.returncode != 0, f"a client without keys was served:\n{res.stdout}"
        assert "CURVE" in res.stderr, res.stderr
        print(f"deploy: keys, up, healthy and the keyless client refused in "
              f"{time.monotonic() - started:.0f}s")
        wait_for(lambda: project.next_offset("demo") >= N // 5, 60,
                 f"{N // 5} records in stream demo")

        # The broker crashes mid-run and comes back on its volume. First, while the
        # source surely still runs (the workers' restarts below take a while on a
        # loaded machine).
        at = project.next_offset("demo")
        assert at < N, "the source finished before the broker could be killed; lower RATE?"
        before = project.crash("broker")
        project.wait_restarted("broker", before)
        wait_for(project.healthy, 60, "the restarted broker's healthcheck to pass")
        assert project.next_offset("demo") >= at, "records confirmed before the crash are gone"

        # A worker crashes; the other is killed with `podman kill`.
        before = project.crash("worker", 1)
        podman.podman("kill", project.cnt("worker", 2))
        project.wait_restarted("worker", before, n=1)
        status, _, _ = project.state("worker", 2)
        if status != "running":
            notes.append("podman kill counts as a stop by the user: worker_2 was not "
                         "restarted by its policy and was started by the test")
            podman.podman("start", project.cnt("worker", 2))

        # The durable source crashes too and resumes where the broker is.
        wait_for(lambda: project.next_offset("demo") >= min(N, at + N // 10), 60,
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
            # Not on the running broker's HTTP port (SLUICE_HTTP in its environment).
            env -u SLUICE_HTTP sluice-broker --data /tmp/backup --listen tcp://127.0.0.1:7700 \
                --quiet &
            b=$!
            sluice-sink -b tcp://127.0.0.1:7700 --list --format json --connect-timeout 10s \
                --curve-secret /etc/sluice/keys/health.key_secret \
                --broker-key /etc/sluice/keys/broker.key
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
