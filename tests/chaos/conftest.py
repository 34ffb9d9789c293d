"""Harness for the chaos runs: the integration harness (tests/integration/conftest.py:
process tracking, brokers, deadlines, result counting for scripts/test) plus the size and
seed of a chaos run.

    --chaos-kills N   kills per chaos run (env SLUICE_CHAOS_KILLS; default 20, the CI size)
    --chaos-seed S    the RNG seed (env SLUICE_CHAOS_SEED; default: a fresh one, printed)
"""

import importlib.util
import os
import pathlib
import sys

import pytest

_IT_DIR = pathlib.Path(__file__).resolve().parents[1] / "integration"

# Both files are called conftest.py, so the integration one is loaded under its own name
# and made importable as `sluice_it` for the helpers in this directory.
_spec = importlib.util.spec_from_file_location("sluice_it", _IT_DIR / "conftest.py")
sluice_it = importlib.util.module_from_spec(_spec)
sys.modules["sluice_it"] = sluice_it
_spec.loader.exec_module(sluice_it)

# Fixtures and the result-counting hooks, re-exported so that pytest finds them here.
procs = sluice_it.procs
make_broker = sluice_it.make_broker
pytest_runtest_logreport = sluice_it.pytest_runtest_logreport
pytest_collectreport = sluice_it.pytest_collectreport
pytest_sessionfinish = sluice_it.pytest_sessionfinish


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
