"""sluice-source --follow at its file limit (docs/source.md, "Following files": at most 4096
files at once): a glob matching more follows 4096, says how many it leaves out (once, not at
every scan), and takes the others when followed files are deleted, so every line is published
exactly once in the end."""

import json

from conftest import T, read_stream, start_source, wait_for

LIMIT = 4096


def test_files_past_the_limit_are_reported_then_taken_when_slots_free(procs, broker, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    n = LIMIT + 4
    for i in range(n):
        (logs / f"f{i:05d}.log").write_text(json.dumps({"f": i}) + "\n")
    # With --name: the state file lists all 4096 files and is written before each batch that
    # starts new runs (docs/source.md), not at each of the 4100 file switches.
    src = start_source(procs, broker, "many", "--follow", "--linger", "5ms", "--name", "many",
                       "--state-dir", str(tmp_path), str(logs / "*.log"), name="follow")

    def count():
        try:
            return broker.next("many")
        except Exception:
            return 0
    wait_for(lambda: count() == LIMIT and "not followed" in src.stderr(), T(240),
             f"{LIMIT} files followed and the rest reported")
    # glob() sorts: the four last names are the ones left out.
    assert (f"4 matching files not followed ({logs}/f{LIMIT:05d}.log, ...): already following "
            f"{LIMIT} files, the limit") in src.stderr(), src.stderr()[-2000:]
    # Deleting four followed files frees their slots (once read to their end and confirmed):
    # the four left out are taken, read from their start.
    for i in range(4):
        (logs / f"f{i:05d}.log").unlink()
    wait_for(lambda: count() == n, T(120), "the four files past the limit to be read")
    assert src.alive(), src.stderr()[-2000:]
    wait_for(lambda: "every matching file is followed again" in src.stderr(), T(30),
             "the all-clear")
    # Said when the number changed, not at each of the scans (4 a second) in between.
    assert src.stderr().count("not followed") <= 5, src.stderr()[-3000:]
    got = sorted(r["value"]["f"] for r in read_stream(procs, broker, "many"))
    assert got == list(range(n)), "every file's line exactly once"
