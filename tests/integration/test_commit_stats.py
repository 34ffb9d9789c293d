"""The broker's account of its group commits, logged at exit (docs/broker.md, "Group commit";
BENCHMARKS.md, "Records per fsync"): how many commits, how many writes each carried on average,
and the time spent inside the store's commit. A source publishes a known number of batches, so
the writes the log line accounts for are known exactly.
"""

import re
import time

from conftest import T, run_source

STOPPED = re.compile(r"stopped: (\d+) records published in (\d+) batches, \d+ duplicates "
                     r"dropped, (\d+) commits")
COMMITS = re.compile(r"commits: (\d+\.\d) writes each on average, (\d+) ms inside the store's "
                     r"commit \(writes and syncs\)")


def test_broker_logs_writes_per_commit_and_time_inside_commits_at_exit(procs, broker):
    started = time.monotonic()
    run_source(procs, broker, "in", "--generate", "5000", "--batch-records", "100",
               "--no-progress")
    assert broker.stop() == 0
    lived_ms = (time.monotonic() - started) * 1000
    err = broker.proc.stderr()
    stopped, commits = STOPPED.search(err), COMMITS.search(err)
    assert stopped and commits, err[-3000:]
    records, batches, n = (int(x) for x in stopped.groups())
    assert (records, batches) == (5000, 50)
    assert 1 <= n <= 50, "every batch is one write, and a commit carries at least one"
    # 50 writes in all (the source's PUBLISHes), the average printed to one decimal.
    each = float(commits.group(1))
    assert abs(each * n - 50) <= 0.05 * n, (each, n)
    assert 0 <= int(commits.group(2)) <= lived_ms


def test_broker_with_no_writes_logs_zero_writes_per_commit(procs, broker):
    assert broker.stop() == 0
    commits = COMMITS.search(broker.proc.stderr())
    assert commits and commits.groups() == ("0.0", "0"), broker.proc.stderr()[-3000:]
