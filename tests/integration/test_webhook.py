"""sluice-sink --post URL: batches of JSON lines to a webhook served by the test, retries with
backoff on 5xx, dead letters after --max-retries or a 4xx, and at-least-once delivery across
kill -9 with --name (docs/sink.md, "Webhooks")."""

import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import (SINK_BIN, T, free_port_pair, read_stream, run_source, wait_for,
                      write_jsonl)


class Hook:
    """A webhook that records every body; `fail` decides a status per request."""

    def __init__(self, fail=lambda n: None):
        self.bodies = []
        self.requests = 0
        self.lock = threading.Lock()
        self.fail = fail
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with hook.lock:
                    hook.requests += 1
                    status = hook.fail(hook.requests)
                    if status is None:
                        hook.bodies.append((self.headers["Content-Type"], body))
                self.send_response(status or 200)
                self.end_headers()
                self.wfile.write(b"ok\n" if status is None else b"no\n")

            def log_message(self, *args):
                pass

        self.port = free_port_pair()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def values(self):
        with self.lock:
            out = []
            for _, body in self.bodies:
                out.extend(json.loads(line) for line in body.decode().splitlines())
            return out

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _sink(procs, broker, stream, url, *args, label="hook-sink"):
    return procs.start(label, [SINK_BIN, "--broker", broker.endpoint, "--stream", stream,
                               "--from", "beginning", "--post", url, *args])


def test_batches_arrive_as_json_lines(procs, broker, tmp_path):
    hook = Hook()
    try:
        values = [{"i": i} for i in range(2500)]
        run_source(procs, broker, "wh", write_jsonl(tmp_path / "in.jsonl", values))
        sink = _sink(procs, broker, "wh", hook.url, "--exit-at-end", "--format", "value")
        sink.expect_exit(0, T(60))
        assert hook.values() == values
        assert all(ct == "application/x-ndjson" for ct, _ in hook.bodies)
    finally:
        hook.close()


def test_5xx_is_retried_with_backoff_until_accepted(procs, broker, tmp_path):
    hook = Hook(fail=lambda n: 503 if n <= 3 else None)
    try:
        run_source(procs, broker, "retry", write_jsonl(tmp_path / "in.jsonl",
                                                        [{"i": i} for i in range(10)]))
        sink = _sink(procs, broker, "retry", hook.url, "--exit-at-end", "--format", "value")
        sink.expect_exit(0, T(60))
        assert hook.requests == 4
        assert [v["i"] for v in hook.values()] == list(range(10))
        assert "retry 3 of 5" in sink.stderr()
        assert "retry.dead" not in broker.wire.streams(), "nothing should be dead-lettered"
    finally:
        hook.close()


def test_gives_up_into_the_dead_letter_stream_and_goes_on(procs, broker, tmp_path):
    # The first batch is refused for good (400), the second fails 5xx beyond --max-retries,
    # the rest is accepted.
    def fail(n):
        return 400 if n == 1 else 500 if n in (2, 3) else None

    hook = Hook(fail=fail)
    try:
        run_source(procs, broker, "dl", write_jsonl(tmp_path / "a.jsonl", [{"i": 0}]))
        sink = _sink(procs, broker, "dl", hook.url, "--name", "hook", "--max-retries", "1",
                     "--format", "value")
        wait_for(lambda: broker.next("dl.dead") >= 1 if "dl.dead" in broker.wire.streams()
                 else False, T(30), "the first batch dead-lettered")
        run_source(procs, broker, "dl", write_jsonl(tmp_path / "b.jsonl", [{"i": 1}]))
        wait_for(lambda: broker.next("dl.dead") >= 2, T(30), "the second batch dead-lettered")
        run_source(procs, broker, "dl", write_jsonl(tmp_path / "c.jsonl", [{"i": 2}]))
        wait_for(lambda: hook.values() == [{"i": 2}], T(30), "the third batch delivered")
        sink.signal(signal.SIGTERM)
        sink.expect_exit(0, T(30))
        dead = read_stream(procs, broker, "dl.dead")
        assert [r["value"] for r in dead] == [{"i": 0}, {"i": 1}]
        assert "dead-letter stream dl.dead" in sink.stderr()
        # Committed past the dead letters: a restart delivers nothing again.
        again = _sink(procs, broker, "dl", hook.url, "--name", "hook", "--exit-at-end",
                      label="again")
        again.expect_exit(0, T(30))
        assert hook.values() == [{"i": 2}]
    finally:
        hook.close()


def test_kill9_with_name_delivers_everything_at_least_once(procs, broker, tmp_path):
    hook = Hook()
    try:
        n = 20000
        run_source(procs, broker, "alo", write_jsonl(tmp_path / "in.jsonl",
                                                      [{"i": i} for i in range(n)]))
        args = ("--name", "hook", "--format", "value")
        sink = _sink(procs, broker, "alo", hook.url, *args)
        wait_for(lambda: len(hook.values()) >= 5000, T(60), "deliveries under way")
        sink.kill9()
        _sink(procs, broker, "alo", hook.url, *args, "--exit-at-end",
              label="again").expect_exit(0, T(60))
        got = [v["i"] for v in hook.values()]
        assert set(got) == set(range(n)), "a record was never delivered"
        # Duplicates are the records between the last commit and the kill (at-least-once).
        assert len(got) - n < 12000
    finally:
        hook.close()


def test_bad_post_url_is_a_usage_error(procs, broker):
    p = procs.start("bad", [SINK_BIN, "--broker", broker.endpoint, "--stream", "x", "--post",
                            "ftp://example/x"])
    p.expect_exit(2, T(30))
    assert "http:// or https://" in p.stderr()
