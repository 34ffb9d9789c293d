"""Stale LMDB readers (DESIGN.md, Storage): the broker is the only Sluice process that opens the
LMDB environment, so a reader slot goes stale when the broker itself dies while reading. Here it
is killed with kill -9 while three sinks replay a large stream (and one sink is killed too); the
restarted broker clears the dead slots (it logs how many), serves again, and the surviving sinks
finish with every record exactly once.

LMDB resets its reader table when the first process opens an environment nobody else has open,
so with the broker alone the restart finds nothing stale. Slots stay stale only while another
process keeps the environment open across the crash (an operator's mdb_stat or mdb_copy, a
backup): the test runs both ways, the second with a small LMDB program (built here with cc)
holding the environment open, and checks the table with mdb_stat (lmdb-utils).
"""

import re
import shutil
import subprocess

import pytest

from conftest import sluice_it

T = sluice_it.T


def _readers(data_dir):
    """Reader table rows (pid, thread, txnid) from `mdb_stat -r`, or None without mdb_stat."""
    if shutil.which("mdb_stat") is None:
        return None
    out = subprocess.run(["mdb_stat", "-r", str(data_dir)], capture_output=True, text=True)
    # mdb_stat exits 1 after the table here (it cannot open the main DB of an environment
    # with named databases the way it tries), so the table itself is the answer.
    if "Reader Table Status" not in out.stdout:
        return None
    rows = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit():
            rows.append(tuple(parts))
    return rows


HOLDER_C = r"""
#include <lmdb.h>
#include <stdio.h>
#include <unistd.h>
/* Opens the environment read-only, says so, and keeps it open until stdin closes. */
int main (int argc, char **argv)
{
    MDB_env *env;
    if (argc != 2 || mdb_env_create (&env) || mdb_env_set_maxdbs (env, 8)
        || mdb_env_open (env, argv[1], MDB_RDONLY | MDB_NOTLS, 0640)) {
        return 1;
    }
    printf ("open\n");
    fflush (stdout);
    char c;
    while (read (0, &c, 1) > 0) {
    }
    mdb_env_close (env);
    return 0;
}
"""


def _holder(tmp_path):
    """Builds the holder program; None when cc or lmdb.h is missing."""
    cc = shutil.which("cc")
    if cc is None:
        return None
    src = tmp_path / "holder.c"
    src.write_text(HOLDER_C)
    exe = tmp_path / "holder"
    if subprocess.run([cc, "-o", str(exe), str(src), "-llmdb"], capture_output=True).returncode:
        return None
    return exe


@pytest.mark.parametrize("held", [False, True], ids=["broker-alone", "env-held-open"])
def test_broker_killed_while_sinks_replay_clears_stale_readers(procs, make_broker, tmp_path,
                                                               held):
    broker = make_broker()
    holder = None
    if held:
        exe = _holder(tmp_path)
        if exe is None:
            pytest.skip("cannot build the LMDB holder (cc and liblmdb-dev needed)")
        holder = subprocess.Popen([str(exe), str(broker.data_dir)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        try:
            assert holder.stdout.readline() == b"open\n", "the holder could not open the env"
        except BaseException:
            holder.kill()
            holder.wait()
            raise
    try:
        _run(procs, broker, held)
    finally:
        if holder is not None:
            holder.stdin.close()
            holder.wait(timeout=10)


def _run(procs, broker, held):
    # Enough that a replay lasts well past the moment the test sees it under way (with
    # 300,000 the sinks could finish first on an idle machine, and none was mid-replay).
    n = 1_000_000
    sluice_it.run_source(procs, broker, "big", "--generate", str(n), "--name", "gen",
                         "--no-progress")
    assert broker.next("big") == n
    sinks = [sluice_it.start_sink(procs, broker, "big", "--from", "beginning", "--count",
                                  str(n), "--format", "json", name=f"sink{i}")
             for i in range(3)]
    # Mid-replay: every sink has written some records and none has all.
    # (The size of each sink's output file: reading it whole at every poll took longer
    # than the whole replay.)
    sluice_it.wait_for(lambda: all(s.out_path.stat().st_size > 200_000 for s in sinks), T(60),
                       "the sinks to be replaying")
    broker.kill9()
    sinks[2].kill9()
    assert all(s.alive() for s in sinks[:2]), "a sink died with the broker: " + "; ".join(
        f"{s.label} exit {s.returncode}: {s.stderr()[-300:]}" for s in sinks[:2])

    before = _readers(broker.data_dir)
    broker.start()
    err = broker.proc.stderr()
    m = re.search(r"cleared (\d+) stale reader slot", err)
    cleared = int(m.group(1)) if m else 0
    if before is not None:
        # Every slot the dead broker held is cleared, and only those.
        assert cleared == len(before), (f"mdb_stat showed {len(before)} reader slots, the "
                                        f"broker cleared {cleared}:\n{err[-2000:]}")
    if held:
        assert cleared >= 1, f"no stale slot cleared although the env was held open:\n{err}"
    after = _readers(broker.data_dir)
    if after is not None:
        pid = str(broker.proc.pid)
        assert all(row[0] == pid for row in after), f"stale slots left: {after}"
    print(f"reader slots before restart: {before}; cleared {cleared}")

    # The broker serves: the surviving sinks finish, each record once, in order.
    for s in sinks[:2]:
        s.expect_exit(0, T(180))
        records = s.json_lines()
        assert len(records) == n
        offsets = [r["offset"] for r in records]
        assert offsets == list(range(n)), "a sink lost or repeated records across the restart"
        assert all(r["value"]["id"] == r["offset"] for r in records)
    # New writes and reads work on the environment.
    sluice_it.run_source(procs, broker, "big", "--generate", "10", "--no-progress")
    assert broker.next("big") == n + 10
