"""deploy/docker-compose.pair.yml, for real: a primary and its replica in containers.

The pair file over the compose file, with podman-compose under a project name of its own
(CURVE on; the replica follows over CURVE with the replicate right that the pair file's `keys`
grants). The test brings the pair up, lets the finite demo source write N records (each
confirmed only once the replica committed it: --sync-replicas 1), checks the replica holds
every stream at the primary's offsets, stops the primary's container, `sluice promote`s the
replica, and writes again through a client given both endpoints, which finds the promoted
broker by itself. Bounded waits throughout; containers, volumes and network are removed even
when the test fails; skipped, with the reason, where podman cannot run containers.
"""

import json
import os
import time

from conftest import IMAGE, ROOT, wait_for
from test_deploy import HEALTH_KEY, Project, _remove_project

PAIR = ROOT / "deploy" / "docker-compose.pair.yml"
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
N = 1500
RATE = 300


class Pair(Project):
    def __init__(self, podman, name, env):
        super().__init__(podman, name, env)
        self.compose = ["podman-compose", "-f", str(COMPOSE), "-f", str(PAIR), "-p", name]

    def streams_of(self, service):
        """A broker's streams, asked inside its container; {} while it does not answer."""
        res = self.pm.podman("exec", self.cnt(service), "sluice-sink", "-b",
                             "tcp://127.0.0.1:7600", "--list", "--format", "json",
                             "--connect-timeout", "3s", *HEALTH_KEY, check=False, timeout=30)
        if res.returncode != 0:
            return {}
        return {s["name"]: s for s in json.loads(res.stdout)}

    def log(self, service):
        res = self.pm.podman("logs", self.cnt(service), check=False)
        return res.stdout + res.stderr


def _offsets(streams):
    return {name: (s["first"], s["next"], s["records"]) for name, s in streams.items()}


def test_pair_failover_by_promote(podman):
    project = Pair(podman, f"sluicepair{os.getpid()}", {
        "SLUICE_IMAGE": IMAGE,
        "SLUICE_DEMO_RECORDS": str(N),
        "SLUICE_DEMO_RATE": str(RATE),
        "SLUICE_WORKERS": "1",
        "SLUICE_LEASE": "5s",
    })
    _remove_project(podman, project.name)
    try:
        started = time.monotonic()
        out = project.keys()
        assert "4 client keys allowed" in out, out
        # The replica's key pair, allowed with replicate = "*" (the pair file's one-shot).
        out = project.pm.run(project.compose + ["run", "--rm", "--no-deps", "-T",
                                                "replica-key"], env=project.env,
                             timeout=120).stdout
        assert "allow/replica.key may follow the journal" in out, out
        project.up()
        wait_for(project.healthy, 90, "the primary's healthcheck to pass")
        wait_for(lambda: "over CURVE" in project.log("broker-b"), 60,
                 "the replica to follow over CURVE")
        assert 'only keys granted replicate = "*"' in project.log("broker"), \
            project.log("broker")[-2000:]

        # The finite source's N records are confirmed (each held by the replica too).
        wait_for(lambda: project.state("source")[0] == "exited", 2 * N / RATE + 120,
                 "the source to finish")
        assert project.state("source")[2] == 0, "the source did not exit 0"
        assert project.streams_of("broker")["demo"]["next"] == N
        wait_for(lambda: _offsets(project.streams_of("broker-b")) ==
                 _offsets(project.streams_of("broker")) != {}, 60,
                 "the replica to hold every stream at the primary's offsets")
        assert "refused this replica" not in project.log("broker-b")
        print(f"deploy-pair: up, {N} records written and replicated in "
              f"{time.monotonic() - started:.0f}s")

        # The primary is lost; the operator promotes the replica.
        project.pm.podman("stop", "-t", "10", project.cnt("broker"), timeout=60)
        res = project.pm.podman("exec", project.cnt("broker-b"), "sluice", "promote",
                                "--broker", "tcp://127.0.0.1:7600", *HEALTH_KEY, timeout=60)
        assert "promoted: primary at epoch 2" in res.stdout + res.stderr, res

        # A producer given both endpoints finds the promoted broker and writes again.
        res = project.pm.podman("exec", project.cnt("broker-b"), "sluice-source", "-b",
                                "tcp://broker:7600,tcp://127.0.0.1:7600", "--stream", "after",
                                "--name", "after-failover", "--generate", "100",
                                "--connect-timeout", "30s", *HEALTH_KEY, check=False,
                                timeout=120)
        assert res.returncode == 0, res.stderr[-3000:]
        streams = project.streams_of("broker-b")
        assert streams["after"]["next"] == 100, streams
        assert streams["demo"]["next"] == N, streams
    except Exception as e:
        raise AssertionError(f"{e}\n\n{project.logs()}") from e
    finally:
        project.down()
        left = podman.podman("ps", "-a", "-q", "--filter",
                             f"label=io.podman.compose.project={project.name}",
                             check=False).stdout.split()
        assert not left, f"containers left after teardown: {left}"
