"""The core binaries under valgrind (issue 5, CI): sluice-broker, sluice-source, sluice-sink and
sluice-worker (pass-through) each run a small round trip under
`valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99` and must exit 0:
no invalid read or write, no use of uninitialised memory, no definite leak, and a clean exit
(SIGTERM for the broker and the worker). Skipped when valgrind is not installed.
"""

import shutil
import signal

import pytest

from conftest import sluice_it

T = sluice_it.T
# Valgrind runs programs 20-50 times slower: every deadline gets room for that.
VG_SLOW = 10


def _vg(tmp_path, name):
    return ["valgrind", "--quiet", "--leak-check=full", "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite", "--error-exitcode=99", "--num-callers=30",
            f"--log-file={tmp_path}/valgrind-{name}.log"]


class ValgrindBroker(sluice_it.Broker):
    """A broker started under valgrind."""

    def __init__(self, procs, data_dir, tmp_path):
        super().__init__(procs, data_dir)
        self.tmp_path = tmp_path

    def start(self, wait=True):
        self.starts += 1
        self.proc = self.procs.start(f"vg-broker{self.starts}", [
            *_vg(self.tmp_path, "broker"), sluice_it.BROKER_BIN, "--data", self.data_dir,
            "--listen", self.endpoint])
        if wait:
            self.wait_ready(timeout=T(60 * VG_SLOW / 10 + 60))
        return self


def _expect_clean(proc, tmp_path, name, timeout):
    rc = proc.wait(timeout)
    log = (tmp_path / f"valgrind-{name}.log")
    assert log.exists(), f"{name} did not run under valgrind (no {log.name})"
    report = log.read_text(errors="replace")
    assert rc == 0, (f"{name} under valgrind exited {rc}\n--- valgrind:\n{report[-6000:]}"
                     f"\n--- stderr:\n{proc.stderr()[-3000:]}")


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_core_binaries_are_clean_under_valgrind(procs, tmp_path):
    broker = ValgrindBroker(procs, tmp_path / "data", tmp_path).start()
    try:
        values = [{"id": i, "text": f"record {i}", "nested": {"list": [i, None, True]}}
                  for i in range(3000)]
        path = sluice_it.write_jsonl(tmp_path / "in.jsonl", values)
        src = procs.start("vg-source", [*_vg(tmp_path, "source"), *sluice_it.source_args(
            broker, "in", "--name", "vg", "--no-progress", "--batch-records", "500", str(path))])
        worker = procs.start("vg-worker", [
            *_vg(tmp_path, "worker"), sluice_it.WORKER_BIN, "--broker", broker.endpoint,
            "--group", "copy", "--in", "in", "--out", "out", "--batch", "500"])
        sink = procs.start("vg-sink", [*_vg(tmp_path, "sink"), *sluice_it.sink_args(
            broker, "out", "--from", "beginning", "--count", str(len(values)),
            "--format", "json")])

        _expect_clean(src, tmp_path, "source", T(60 * VG_SLOW))
        _expect_clean(sink, tmp_path, "sink", T(60 * VG_SLOW))
        got = sink.json_lines()
        assert sorted(r["value"]["id"] for r in got) == list(range(len(values)))
        assert [r["offset"] for r in got] == list(range(len(values)))

        worker.signal(signal.SIGTERM)
        _expect_clean(worker, tmp_path, "worker", T(30 * VG_SLOW))
    finally:
        broker.close()
    broker.proc.signal(signal.SIGTERM)
    _expect_clean(broker.proc, tmp_path, "broker", T(30 * VG_SLOW))
