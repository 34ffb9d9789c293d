"""Per-test result counts for scripts/test, shared by every pytest suite's conftest.

When $SLUICE_RESULTS names a file, the session writes {"passed", "failed", "skipped"} there,
counted per test (a failed setup or teardown counts the test as failed; collection errors
count as failures), so scripts/test can print its exact closing line.
"""

import json
import os

_outcomes = {}
_collect_errors = []


def pytest_runtest_logreport(report):
    state = _outcomes.get(report.nodeid)
    if report.failed:
        _outcomes[report.nodeid] = "failed"
    elif report.skipped and state != "failed":
        _outcomes[report.nodeid] = "skipped"
    elif report.when == "call" and report.passed and state is None:
        _outcomes[report.nodeid] = "passed"


def pytest_collectreport(report):
    if report.failed:
        _collect_errors.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """Writes exact per-test counts for scripts/test when $SLUICE_RESULTS is set."""
    path = os.environ.get("SLUICE_RESULTS")
    if not path or os.environ.get("PYTEST_XDIST_WORKER"):
        return                  # under pytest-xdist the controller counts every worker's reports
    values = list(_outcomes.values())
    counts = {"passed": values.count("passed"),
              "failed": values.count("failed") + len(_collect_errors),
              "skipped": values.count("skipped")}
    with open(path, "w") as f:
        json.dump(counts, f)
