"""Harness for the resource tests: the integration harness (tests/integration/conftest.py:
process tracking, brokers, deadlines, result counting for scripts/test) plus helpers to sample
a process's memory and to compare a stream with what was sent.

    SLUICE_RESOURCES_SECONDS   length of the slow-sink overload phase (default 60, the CI size;
                               300 or more for the long run)
    SLUICE_RESOURCES_RATE      records per second the source publishes (default 4000)
"""

import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))
import suites  # noqa: E402

# The integration harness, importable as `sluice_it`; its fixtures, result-counting hooks, T and
# wait_for land here so that pytest (and this directory's tests) find them.
sluice_it = suites.integration(globals())

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
