"""`sluice run`'s status line on a terminal (docs/run.md, "Status line"): its stderr is a real
pseudo-terminal made by the test, and the line shows each stage's figures as the broker reports
them: the source's stream and rate, the group's lag in records and seconds and its members.

The group's one member is held by a gate (an --exec command that answers nothing until the
test creates a file), so the lag is known: every record of the input, then none.
"""

import os
import pty
import re
import select
import signal
import subprocess
import sys

from conftest import BUILD, T, child_env, wait_for, write_jsonl
from test_run import pipeline

SLUICE_BIN = BUILD / "cli" / "sluice"

GATE_SCRIPT = """\
import os, sys, time
gate = sys.argv[1]
while not os.path.exists(gate):
    time.sleep(0.05)
for line in sys.stdin:
    sys.stdout.write("[" + line.strip() + "]\\n")
    sys.stdout.flush()
"""

# One status line: sources, groups, sinks, in the data's order (a durable sink shows its lag).
STATUS = re.compile(r"status: reader → raw (\d+\.\d)/s \| gated lag (\d+) \((\d+\.\d) s\), "
                    r"(\d+) members, out (\d+\.\d)/s \| keep ← done (\d+\.\d)/s"
                    r"(?:, lag (\d+) \((\d+\.\d) s\))?\r?\n")


class Terminal:
    """A child whose stderr is the slave side of a pty; the test reads the master side."""

    def __init__(self, args, cwd):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([str(a) for a in args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=slave, cwd=cwd,
                                     env=child_env(), start_new_session=True)
        os.close(slave)
        self.text = ""

    def read(self):
        """Whatever the child wrote since the last call (never blocks long)."""
        while select.select([self.master], [], [], 0.05)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:         # the child closed the terminal
                break
            if not chunk:
                break
            self.text += chunk.decode(errors="replace")
        return self.text

    def statuses(self):
        return [m.groups() for m in STATUS.finditer(self.read())]

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=T(30))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=T(10))
        self.read()
        os.close(self.master)


def test_status_line_on_a_terminal_shows_rate_and_exact_lag(tmp_path):
    n = 40
    write_jsonl(tmp_path / "in.jsonl", [{"id": i} for i in range(n)])
    (tmp_path / "gate.py").write_text(GATE_SCRIPT)
    gate = tmp_path / "gate"
    path, _ = pipeline(tmp_path, f"""\
sources:
  - name: reader
    stream: raw
    files: [in.jsonl]
groups:
  - name: gated
    in: raw
    out: done
    exec: {sys.executable} -u {tmp_path}/gate.py {gate}
    exec-timeout: 300s
    lease: 300s
sinks:
  - name: keep
    stream: done
    reader: keep
    from: beginning
    output: done.jsonl
""")
    term = Terminal([SLUICE_BIN, "run", path], cwd=tmp_path)
    try:
        # Held at the gate: the group's lag is every record, and its age grows.
        def held():
            return [s for s in term.statuses() if int(s[1]) == n and s[3] == "1"]
        wait_for(lambda: len(held()) >= 2, T(120),
                 f"two status lines showing the gated group {n} records behind")
        first, second = held()[0], held()[1]
        # 10 s apart (more on a loaded machine): the lag's age grew by about that much.
        assert float(second[2]) - float(first[2]) >= 9.0, (first, second)
        assert float(first[0]) > 0.0, first            # the source's stream got records
        gate.write_text("open")
        # Open: the group does every record, the sink (a durable reader, in the document once it
        # committed) reads every output: both lags are 0.
        wait_for(lambda: any(s[1] == "0" and s[2] == "0.0" and s[6] == "0" and float(s[4]) > 0
                             for s in term.statuses()), T(120),
                 "a status line with the group and the sink caught up")
        assert term.proc.poll() is None, term.read()
        # The run has no exit-at-end sink: it never said it was holding one back.
        assert "waiting for the groups to drain" not in term.read()
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- the terminal:\n{term.read()[-5000:]}") from None
    finally:
        term.close()
    assert "status:" in term.text

