"""Waiting in tests: on a condition with a deadline, never a bare sleep. Every suite's conftest
imports wait_for and T from here (tests/lib is put on sys.path by the conftest).

    $SLUICE_SLOW   stretches every deadline T() gives (scripts/test sets it for the ASan pass)
"""

import os
import time

SLOW = float(os.environ.get("SLUICE_SLOW", "1"))


def T(seconds):
    """A deadline in seconds, stretched for slow (sanitizer) builds."""
    return seconds * SLOW


def wait_for(cond, timeout, what, interval=0.02):
    """Polls cond() every interval seconds until it returns a true value (returned) or timeout
    passes (AssertionError naming what was awaited)."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)
