"""The integration harness (tests/integration/conftest.py: process tracking, brokers, deadlines,
result counting for scripts/test) shared by the suites built on it (hostile, powercut, chaos,
resources). Both files are called conftest.py, so the integration one is loaded once under its
own name and made importable as `sluice_it`.
"""

import importlib.util
import pathlib
import sys

_IT_CONFTEST = pathlib.Path(__file__).resolve().parents[1] / "integration" / "conftest.py"

# What a suite's conftest re-exports so that pytest finds the fixtures and the result-counting
# hooks there, and the helpers every suite uses.
_SHARED = ("procs", "make_broker", "pytest_runtest_logreport", "pytest_collectreport",
           "pytest_sessionfinish", "T", "wait_for")


def integration(namespace):
    """Loads the integration harness (once per process) and puts its fixtures, hooks, T and
    wait_for into namespace (a conftest's globals()). Returns the module."""
    if "sluice_it" not in sys.modules:
        spec = importlib.util.spec_from_file_location("sluice_it", _IT_CONFTEST)
        module = importlib.util.module_from_spec(spec)
        sys.modules["sluice_it"] = module
        spec.loader.exec_module(module)
    module = sys.modules["sluice_it"]
    for name in _SHARED:
        namespace[name] = getattr(module, name)
    return module
