"""Harness for the chaos runs: the integration harness (tests/integration/conftest.py:
process tracking, brokers, deadlines, result counting for scripts/test) plus the size and
seed of a chaos run.

    --chaos-kills N   kills per chaos run (env SLUICE_CHAOS_KILLS; default 20, the CI size)
    --chaos-seed S    the RNG seed (env SLUICE_CHAOS_SEED; default: a fresh one, printed)
"""

import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))
import suites  # noqa: E402

# The integration harness, importable as `sluice_it`; its fixtures, result-counting hooks, T and
# wait_for land here so that pytest (and this directory's tests) find them.
sluice_it = suites.integration(globals())

def pytest_addoption(parser):
    parser.addoption("--chaos-kills", type=int, default=None,
                     help="kill -9s per chaos run (default $SLUICE_CHAOS_KILLS or 20)")
    parser.addoption("--chaos-seed", type=int, default=None,
                     help="RNG seed of the chaos run (default $SLUICE_CHAOS_SEED or random)")


@pytest.fixture
def chaos_kills(request):
    value = request.config.getoption("--chaos-kills")
    if value is None:
        value = int(os.environ.get("SLUICE_CHAOS_KILLS", "20"))
    assert value >= 1, "--chaos-kills must be at least 1"
    return value


@pytest.fixture
def chaos_seed(request):
    value = request.config.getoption("--chaos-seed")
    if value is None and os.environ.get("SLUICE_CHAOS_SEED"):
        value = int(os.environ["SLUICE_CHAOS_SEED"])
    if value is None:
        value = int.from_bytes(os.urandom(4), "big")
    return value
