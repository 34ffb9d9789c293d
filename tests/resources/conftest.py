"""Harness for the resource tests: the integration harness (tests/integration/conftest.py:
process tracking, brokers, deadlines, result counting for scripts/test) plus helpers to sample
a process's memory and to compare a stream with what was sent.

    SLUICE_RESOURCES_SECONDS   length of the slow-sink overload phase (default 60, the CI size;
                               300 or more for the long run)
    SLUICE_RESOURCES_RATE      records per second the source publishes (default 4000)
"""

import importlib.util
import os
import pathlib
import sys

_IT_DIR = pathlib.Path(__file__).resolve().parents[1] / "integration"

# Both files are called conftest.py, so the integration one is loaded under its own name and
# made importable as `sluice_it` (the chaos suite does the same; whichever loads first wins).
if "sluice_it" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("sluice_it", _IT_DIR / "conftest.py")
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules["sluice_it"] = _mod
    _spec.loader.exec_module(_mod)
sluice_it = sys.modules["sluice_it"]

# Fixtures and the result-counting hooks, re-exported so that pytest finds them here.
procs = sluice_it.procs
make_broker = sluice_it.make_broker
pytest_runtest_logreport = sluice_it.pytest_runtest_logreport
pytest_collectreport = sluice_it.pytest_collectreport
pytest_sessionfinish = sluice_it.pytest_sessionfinish

RESOURCES_SECONDS = float(os.environ.get("SLUICE_RESOURCES_SECONDS", "60"))
RESOURCES_RATE = int(os.environ.get("SLUICE_RESOURCES_RATE", "4000"))
VERIFY_BIN = sluice_it.BUILD / "verify" / "sluice-verify"


def count_by_id(values, field="id"):
    """{id: copies} of a list of JSON values."""
    counts = {}
    for v in values:
        key = v[field]
        counts[key] = counts.get(key, 0) + 1
    return counts


def compare_by_id(sent, got, field="id"):
    """(lost, duplicated, unexpected) of got against sent, matched by field."""
    want = count_by_id(sent, field)
    have = count_by_id(got, field)
    lost = sum(1 for k in want if k not in have)
    duplicated = sum(n - 1 for n in have.values() if n > 1)
    unexpected = sum(n for k, n in have.items() if k not in want)
    return lost, duplicated, unexpected
