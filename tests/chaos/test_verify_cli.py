"""sluice-verify as a program (docs/verify.md): exit codes, FILE:LINE reports, and reading
streams from a real broker; the judge of the chaos runs is judged here first."""

import json

from chaos_pipeline import VERIFY_BIN, verify
from sluice_it import SINK_BIN, SOURCE_BIN, T


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _run(procs, *args, code):
    proc = procs.start("verify", [VERIFY_BIN, *args])
    proc.expect_exit(code, T(60))
    return proc


def test_exit_codes_and_bad_lines(procs, tmp_path):
    sent = _write(tmp_path / "sent.jsonl", [json.dumps({"id": i}) for i in range(5)])
    same = _write(tmp_path / "same.jsonl", [json.dumps({"id": i}) for i in (4, 3, 2, 1, 0)])
    lost = _write(tmp_path / "lost.jsonl", [json.dumps({"id": i}) for i in range(4)])
    dup = _write(tmp_path / "dup.jsonl", [json.dumps({"id": i}) for i in (0, 1, 2, 3, 4, 4)])
    extra = _write(tmp_path / "extra.jsonl", [json.dumps({"id": i}) for i in range(6)])
    bad = _write(tmp_path / "bad.jsonl", [json.dumps({"id": i}) for i in range(5)]
                 + ["", "{not json", '{"no":"id"}', "[1,2]"])

    p = _run(procs, "--sent", sent, "--got", same, "--id", "id", code=0)
    assert "PASS" in p.stdout().decode() and "out of order" in p.stdout().decode()
    _run(procs, "--sent", sent, "--got", same, "--id", "id", "--ordered", code=1)
    for got, field in ((lost, "lost"), (dup, "duplicated"), (extra, "unexpected")):
        report = verify(procs, "--sent", sent, "--got", got, "--id", "id")
        assert report[field] == 1 and not report["passed"], report
    report = verify(procs, "--sent", sent, "--got", bad, "--id", "id")
    assert report["passed"] and report["bad_got"] == 3, report
    p = _run(procs, "--sent", sent, "--got", bad, "--id", "id", code=0)
    err = p.stderr()
    assert f"{bad}:7: " in err and f"{bad}:8: no member \"id\"" in err, err
    assert f"{bad}:6:" not in err, "a blank line is not bad input"

    _run(procs, "--sent", tmp_path / "missing.jsonl", "--got", sent, code=2)
    _run(procs, "--sent", sent, code=2)
    _run(procs, "--sent", sent, "--got-stream", "s", code=2)          # no --broker
    _run(procs, "--sent", sent, "--got", sent, "--examples", "0", code=2)


def test_streams_and_sink_files_from_a_real_broker(procs, make_broker, tmp_path):
    broker = make_broker()
    values = [{"id": i, "k": f"k{i % 3}", "v": [i, {"x": i * 1.5}]} for i in range(3000)]
    values.append({"id": 3000, "b": {"$bin": "AQID"}})
    sent = _write(tmp_path / "in.jsonl", [json.dumps(v) for v in values])
    src = procs.start("source", [SOURCE_BIN, "--broker", broker.endpoint, "--stream", "s",
                                 "--no-progress", sent])
    src.expect_exit(0, T(60))

    for args in (["--id", "id", "--key", "k"], []):
        report = verify(procs, "--sent", sent, "--got-stream", "s", "--broker", broker.endpoint,
                        *args)
        assert report["passed"] and report["delivered"] == len(values), report
        assert report["out_of_order"] == 0, report
    report = verify(procs, "--sent-stream", "s", "--got-stream", "s", "--broker",
                    broker.endpoint)
    assert report["passed"] and report["sent"] == len(values), report

    # The sink's two output formats, and a file cut short: what is missing is lost.
    for fmt in ("json", "value"):
        sink = procs.start("sink", [SINK_BIN, "--broker", broker.endpoint, "--stream", "s",
                                    "--from", "beginning", "--exit-at-end", "--format", fmt])
        sink.expect_exit(0, T(60))
        out = tmp_path / f"out-{fmt}.jsonl"
        out.write_bytes(sink.stdout())
        report = verify(procs, "--sent", sent, "--got", out, "--id", "id",
                        "--got-format", fmt)
        assert report["passed"] and report["delivered"] == len(values), report
        cut = tmp_path / f"cut-{fmt}.jsonl"
        cut.write_bytes(b"".join(sink.stdout().splitlines(keepends=True)[:-10]))
        report = verify(procs, "--sent", sent, "--got", cut, "--id", "id")
        assert report["lost"] == 10 and report["lost_first"][0] == 2991, report

    # A stream that does not exist reads as empty: everything is lost.
    report = verify(procs, "--sent", sent, "--got-stream", "nothing", "--broker",
                    broker.endpoint, "--id", "id")
    assert report["lost"] == len(values) and report["got"] == 0, report
