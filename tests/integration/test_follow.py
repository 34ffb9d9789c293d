"""sluice-source --follow: tail -F through rename rotation (logrotate's default and by hand),
copytruncate, partial last lines, globs that pick up new files, and an exact resume with --name
after kill -9: no line lost or duplicated (docs/source.md, "Following files")."""

import json
import os
import signal
import subprocess

from conftest import T, read_stream, start_source, wait_for


class Log:
    """A log file written the way a logger writes it: appends through one open handle."""

    def __init__(self, path, first=0):
        self.path = path
        self.n = first
        self.f = open(path, "a", encoding="utf-8")

    def write(self, count, tag="x"):
        for _ in range(count):
            self.f.write(json.dumps({"i": self.n, "tag": tag}) + "\n")
            self.n += 1
        self.f.flush()

    def raw(self, text):
        self.f.write(text)
        self.f.flush()

    def reopen(self):
        self.f.close()
        self.f = open(self.path, "a", encoding="utf-8")

    def close(self):
        self.f.close()


def _values(procs, broker, stream):
    return [r["value"] for r in read_stream(procs, broker, stream)]


def _count(broker, stream):
    try:
        return broker.next(stream)
    except Exception:
        return 0


def _follow(procs, broker, stream, tmp_path, *files, name="follower", label="source", extra=()):
    args = ["--follow", "--name", name, "--state-dir", str(tmp_path), "--linger", "1ms",
            "--timeout", "2s", *extra, *[str(f) for f in files]]
    return start_source(procs, broker, stream, *args, name=label)


def _ids(values):
    return sorted(v["i"] for v in values)


def test_reads_existing_then_appended_lines_and_waits_for_a_newline(procs, broker, tmp_path):
    log = Log(tmp_path / "app.log")
    other = Log(tmp_path / "other.log", first=1000)
    log.write(3)
    src = _follow(procs, broker, "f1", tmp_path, tmp_path / "*.log")
    wait_for(lambda: _count(broker, "f1") >= 3, T(20), "the 3 existing lines")
    log.raw('{"i": 3, "tag": "part')          # no newline yet
    other.write(1)                             # a line of another file, as a clock
    wait_for(lambda: _count(broker, "f1") >= 4, T(20), "the other file's line")
    assert _ids(_values(procs, broker, "f1")) == [0, 1, 2, 1000], \
        "a partial last line was published before its newline"
    log.raw('ial"}\n')
    wait_for(lambda: _count(broker, "f1") >= 5, T(20), "the completed line")
    values = _values(procs, broker, "f1")
    assert values[-1] == {"i": 3, "tag": "partial"}
    src.signal(signal.SIGTERM)
    src.expect_exit(0, T(30))


def test_rename_rotation_finishes_the_old_file_then_reads_the_new(procs, broker, tmp_path):
    path = tmp_path / "app.log"
    log = Log(path)
    log.write(100)
    src = _follow(procs, broker, "rot", tmp_path, path)
    wait_for(lambda: _count(broker, "rot") >= 100, T(20), "the first 100 lines")
    for k in range(3):
        os.rename(path, tmp_path / f"app.log.{k + 1}")
        log.write(50, tag="late")              # the logger still writes the renamed file
        log.reopen()                           # ... then opens a new one under the path
        log.write(100)
        # A file renamed away before it was ever looked at cannot be followed (as with
        # tail -F): rotations here are further apart than the source's scans.
        wait_for(lambda: _count(broker, "rot") >= log.n, T(20), f"{log.n} lines")
    total = 100 + 3 * 150
    wait_for(lambda: _count(broker, "rot") >= total, T(30), f"{total} lines")
    assert _ids(_values(procs, broker, "rot")) == list(range(total))
    src.signal(signal.SIGTERM)
    src.expect_exit(0, T(30))


def test_copytruncate_reads_the_file_again_from_the_start(procs, broker, tmp_path):
    path = tmp_path / "app.log"
    log = Log(path)
    log.write(200)
    src = _follow(procs, broker, "ct", tmp_path, path)
    wait_for(lambda: _count(broker, "ct") >= 200, T(20), "the first 200 lines")
    subprocess.run(["cp", str(path), str(tmp_path / "app.log.1")], check=True)
    os.truncate(path, 0)
    log.write(30)                              # O_APPEND: written from byte 0 again
    wait_for(lambda: _count(broker, "ct") >= 230, T(20), "the lines after the truncate")
    assert _ids(_values(procs, broker, "ct")) == list(range(230))
    src.signal(signal.SIGTERM)
    src.expect_exit(0, T(30))


def _logrotate(tmp_path, path, mode):
    conf = tmp_path / f"logrotate-{mode}.conf"
    conf.write_text(f"{path} {{\n  rotate 5\n  {mode}\n  missingok\n}}\n")
    subprocess.run(["/usr/sbin/logrotate", "-f", "-s", str(tmp_path / "logrotate.status"),
                    str(conf)], check=True, capture_output=True)


def test_logrotate_create_and_copytruncate(procs, broker, tmp_path):
    path = tmp_path / "svc.log"
    log = Log(path)
    log.write(100)
    src = _follow(procs, broker, "lr", tmp_path, path)
    wait_for(lambda: _count(broker, "lr") >= 100, T(20), "the first lines")
    _logrotate(tmp_path, path, "create")       # rename, then a new empty file
    log.reopen()
    log.write(100)
    wait_for(lambda: _count(broker, "lr") >= 200, T(20), "the lines after logrotate create")
    _logrotate(tmp_path, path, "copytruncate")
    log.write(100)
    wait_for(lambda: _count(broker, "lr") >= 300, T(20), "the lines after copytruncate")
    assert _ids(_values(procs, broker, "lr")) == list(range(300))
    src.signal(signal.SIGTERM)
    src.expect_exit(0, T(30))


def test_glob_picks_up_new_files(procs, broker, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    a = Log(logs / "a.log")
    a.write(10)
    src = _follow(procs, broker, "glob", tmp_path, logs / "*.log")
    wait_for(lambda: _count(broker, "glob") >= 10, T(20), "a.log")
    b = Log(logs / "b.log", first=100)
    b.write(10)
    (logs / "ignored.txt").write_text('{"i": -1}\n')
    wait_for(lambda: _count(broker, "glob") >= 20, T(20), "the new file b.log")
    assert _ids(_values(procs, broker, "glob")) == list(range(10)) + list(range(100, 110))
    src.signal(signal.SIGTERM)
    src.expect_exit(0, T(30))


def test_kill9_and_restart_through_rotations_lose_and_duplicate_nothing(procs, broker,
                                                                         tmp_path):
    path = tmp_path / "app.log"
    log = Log(path)
    log.write(2000)
    rotations = 0
    mid_stream = 0
    slow = ("--rate", "4000", "--batch-records", "50")

    def start(k):
        return _follow(procs, broker, "exact", tmp_path, path, label=f"src{k}", extra=slow)

    src = start(0)
    current_first = 0       # first line of the file now under the path
    for round_ in range(6):
        # A file renamed away before the source ever looked at it cannot be followed (as
        # with tail -F): rotate only what the source has seen.
        wait_for(lambda: _count(broker, "exact") > current_first, T(60), "the current file read")
        before = log.n
        log.write(1500)
        if round_ % 2 == 0:
            os.rename(path, tmp_path / f"app.log.{rotations}")
            rotations += 1
            log.write(200, tag="late")
            log.reopen()
            current_first = log.n
            log.write(1000)
        else:
            log.write(1000)
        wait_for(lambda: _count(broker, "exact") >= before + 500, T(60), "this round's lines")
        src.kill9()
        mid_stream += _count(broker, "exact") < log.n
        if round_ % 3 == 1:
            # Rotation while the source is down: the restart finds the renamed file by its
            # inode and head bytes, and reads the new one from its start.
            log.write(500)
            os.rename(path, tmp_path / f"app.log.{rotations}")
            rotations += 1
            log.reopen()
            current_first = log.n
            log.write(300)
        src = start(round_ + 1)
    total = log.n
    wait_for(lambda: _count(broker, "exact") >= total or not src.alive(), T(120),
             f"all {total} lines")
    src.signal(signal.SIGTERM)
    src.expect_exit(0, T(30))
    assert mid_stream >= 3, "the source was not killed in the middle of its input"
    ids = [v["i"] for v in _values(procs, broker, "exact")]
    dups = len(ids) - len(set(ids))
    assert dups == 0, f"{dups} lines published twice across 6 kill -9 restarts"
    assert sorted(ids) == list(range(total)), f"{total - len(set(ids))} lines lost"


def test_missing_state_file_for_a_known_producer_is_refused(procs, broker, tmp_path):
    path = tmp_path / "app.log"
    Log(path).write(5)
    src = _follow(procs, broker, "lost", tmp_path, path)
    wait_for(lambda: _count(broker, "lost") >= 5, T(20), "5 lines")
    src.kill9()
    (tmp_path / "follower@lost.follow").unlink()
    again = _follow(procs, broker, "lost", tmp_path, path, label="again")
    again.expect_exit(1, T(30))
    assert "state file" in again.stderr() and "missing" in again.stderr()
    assert _count(broker, "lost") == 5


def test_malformed_state_file_is_refused(procs, broker, tmp_path):
    path = tmp_path / "app.log"
    Log(path).write(1)
    (tmp_path / "follower@bad.follow").write_text("sluice-follow 1\nbase 0\nrun 5 9 0 -\nend\n")
    src = _follow(procs, broker, "bad", tmp_path, path)
    src.expect_exit(1, T(30))
    assert "malformed state file" in src.stderr()


def test_follow_usage_errors(procs, broker, tmp_path):
    for args in (["--follow"], ["--follow", "-"], ["--follow", "--format", "msgpack", "x"]):
        p = start_source(procs, broker, "u", *args, name="usage")
        p.expect_exit(2, T(20))
        assert "--follow reads named files" in p.stderr()
