"""sluice-source --http: POST /streams/NAME answered 200 with offsets only after the confirm,
400 naming the first bad line (nothing stored), 413 over the limit, 401/403 with bearer
tokens, 503 while the broker is away (docs/source.md, "HTTP")."""

import json
import socket

import requests

from conftest import SOURCE_BIN, T, free_port_pair, read_stream, wait_for


def _start(procs, broker, *args):
    port = free_port_pair()
    proc = procs.start("http", [SOURCE_BIN, "--broker", broker.endpoint, "--http",
                                f"127.0.0.1:{port}", *args])
    base = f"http://127.0.0.1:{port}"

    def up():
        assert proc.alive(), proc.stderr()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_for(up, T(20), "the HTTP endpoint")
    return proc, base


def _lines(values):
    return "".join(json.dumps(v) + "\n" for v in values)


def _stored(procs, broker, stream):
    return [r for r in read_stream(procs, broker, stream)]


def test_post_lines_and_array_answer_offsets_after_the_confirm(procs, broker):
    proc, base = _start(procs, broker)
    r = requests.post(f"{base}/streams/web", data=_lines([{"a": 1}, {"a": 2}, {"a": 3}]),
                      timeout=T(20))
    assert r.status_code == 200, r.text
    assert r.json() == {"stream": "web", "records": 3, "first": 0, "last": 2}
    # The answer came after the confirm: the records are in the log now.
    assert broker.next("web") == 3
    r = requests.post(f"{base}/streams/web", data='[{"b": 1}, [1, 2], "x"]', timeout=T(20))
    assert r.status_code == 200, r.text
    assert r.json() == {"stream": "web", "records": 3, "first": 3, "last": 5}
    values = [rec["value"] for rec in _stored(procs, broker, "web")]
    assert values == [{"a": 1}, {"a": 2}, {"a": 3}, {"b": 1}, [1, 2], "x"]


def test_bad_line_is_400_naming_it_and_nothing_is_stored(procs, broker):
    proc, base = _start(procs, broker)
    body = '{"ok": 1}\n\n{"ok": 2}\n{"broken": \n{"ok": 3}\n'
    r = requests.post(f"{base}/streams/strict", data=body, timeout=T(20))
    assert r.status_code == 400
    assert r.json()["error"].startswith("line 4:"), r.text
    r = requests.post(f"{base}/streams/strict", data="\n \n", timeout=T(20))
    assert r.status_code == 400 and "no records" in r.json()["error"]
    assert "strict" not in broker.wire.streams(), "records of a rejected request were stored"


def test_limits_paths_and_methods(procs, broker):
    proc, base = _start(procs, broker, "--http-max-body", "1k")
    big = _lines([{"pad": "x" * 100}] * 20)
    r = requests.post(f"{base}/streams/lim", data=big, timeout=T(20))
    assert r.status_code == 413, r.text
    # Chunked (no Content-Length): read up to the limit, the rest dropped, then 413.
    r = requests.post(f"{base}/streams/lim", data=(big[i:i + 100].encode()
                                                   for i in range(0, len(big), 100)),
                      timeout=T(20))
    assert r.status_code == 413, r.text
    assert requests.get(f"{base}/streams/lim", timeout=T(20)).status_code == 405
    assert requests.post(f"{base}/other", data="{}", timeout=T(20)).status_code == 404
    assert requests.post(f"{base}/streams/.bad", data="{}", timeout=T(20)).status_code == 404
    r = requests.post(f"{base}/streams/lim", data='{"small": true}\n', timeout=T(20))
    assert r.status_code == 200, "a request within the limit after refused ones"
    assert broker.next("lim") == 1


def test_bearer_tokens(procs, broker, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("# who may post\nalpha-123\nbeta-456\n")
    proc, base = _start(procs, broker, "--http-token-file", str(tokens))
    url = f"{base}/streams/sec"
    r = requests.post(url, data="{}\n", timeout=T(20))
    assert r.status_code == 401 and r.headers.get("WWW-Authenticate") == "Bearer"
    r = requests.post(url, data="{}\n", headers={"Authorization": "Bearer wrong"}, timeout=T(20))
    assert r.status_code == 403
    r = requests.post(url, data="{}\n", headers={"Authorization": "Basic alpha-123"},
                      timeout=T(20))
    assert r.status_code == 401
    for token in ("alpha-123", "beta-456"):
        r = requests.post(url, data="{}\n", headers={"Authorization": f"Bearer {token}"},
                          timeout=T(20))
        assert r.status_code == 200, r.text
    assert broker.next("sec") == 2


def test_unreadable_token_file_is_a_usage_error(procs, broker, tmp_path):
    port = free_port_pair()
    proc = procs.start("http", [SOURCE_BIN, "--broker", broker.endpoint, "--http",
                                f"127.0.0.1:{port}", "--http-token-file",
                                str(tmp_path / "none")])
    proc.expect_exit(2, T(20))
    assert "token file" in proc.stderr()


def test_broker_away_is_503_then_requests_succeed_again(procs, broker):
    proc, base = _start(procs, broker)
    url = f"{base}/streams/away"
    assert requests.post(url, data='{"n": 0}\n', timeout=T(20)).status_code == 200
    broker.kill9()

    def refused():
        r = requests.post(url, data='{"n": -1}\n', timeout=T(30))
        assert r.status_code in (503, 504), r.text
        return r.status_code == 503

    wait_for(refused, T(30), "503 while the broker is away")
    broker.restart()
    acked = []
    for n in range(1, 21):
        def post():
            r = requests.post(url, data=json.dumps({"n": n}) + "\n", timeout=T(30))
            return r if r.status_code == 200 else None
        r = wait_for(post, T(30), f"request {n} accepted after the restart")
        acked.append((n, r.json()["first"]))
    stored = _stored(procs, broker, "away")
    by_offset = {rec["offset"]: rec["value"] for rec in stored}
    for n, offset in acked:
        assert by_offset[offset] == {"n": n}, "a 200 named an offset that does not hold its record"
    ns = [rec["value"]["n"] for rec in stored if rec["value"]["n"] >= 0]
    assert ns == list(range(21)), "a confirmed request was lost or stored twice"


def test_pipeline_file_takes_an_http_source_without_a_stream(tmp_path):
    import subprocess
    from conftest import BUILD
    path = tmp_path / "p.yaml"
    path.write_text("sources:\n  - name: web\n    http: 127.0.0.1:8080\n"
                    "    http-token-file: tokens\n")
    r = subprocess.run([BUILD / "cli" / "sluice", "run", str(path), "--dry-run"],
                       capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 0, r.stderr
    assert (f"--http 127.0.0.1:8080 --http-token-file {tmp_path}/tokens") in r.stdout


def test_connections_over_the_limit_wait_and_are_served_later(procs, broker):
    proc, base = _start(procs, broker, "--http-max-connections", "3")
    port = int(base.rsplit(":", 1)[1])
    # The readiness probe's connection may still count for a moment.
    idle = []

    def hold_three():
        while len(idle) < 3:
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=T(5)))
        try:
            requests.post(f"{base}/streams/conn", data="{}\n", timeout=2)
            return False        # a fourth connection was served: the probe's had not ended
        except requests.exceptions.RequestException:
            return True         # not served: closed, or left waiting in the listen backlog

    try:
        wait_for(hold_three, T(30), "a fourth connection not served while three are open",
                 interval=0.2)
        assert proc.alive()
    finally:
        for s in idle:
            s.close()

    def served():
        try:
            return requests.post(f"{base}/streams/conn", data="{}\n",
                                 timeout=T(5)).status_code == 200
        except requests.exceptions.ConnectionError:
            return False

    wait_for(served, T(20), "requests served again once the idle connections closed")
