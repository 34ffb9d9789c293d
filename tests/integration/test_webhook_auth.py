"""sluice-sink --post with authentication (docs/sink.md, "Webhook authentication"): the bearer
token from --post-token-file or $SLUICE_POST_TOKEN and headers from --post-header-file reach the
webhook served by the test, never through argv; a webhook that checks the token dead-letters what
arrives without it; malformed or hostile secret files stop the sink at start (exit 2) naming the
file and line but not the secret."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import SINK_BIN, T, free_port_pair, read_stream, run_source, write_jsonl

TOKEN = "s3cr3t-T0ken_with.chars~+/="


class AuthHook:
    """A webhook that answers 401 without `Authorization: Bearer TOKEN` and records the headers
    of every request."""

    def __init__(self):
        self.seen = []
        self.bodies = []
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = self.headers.get("Authorization") == f"Bearer {TOKEN}"
                with hook.lock:
                    hook.seen.append(dict(self.headers.items()))
                    if ok:
                        hook.bodies.append(body)
                self.send_response(200 if ok else 401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port_pair()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def values(self):
        with self.lock:
            return [json.loads(line) for b in self.bodies for line in b.decode().splitlines()]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def sink(procs, broker, stream, url, *args, env=None, label="sink"):
    return procs.start(label, [SINK_BIN, "--broker", broker.endpoint, "--stream", stream,
                               "--from", "beginning", "--exit-at-end", "--format", "value",
                               "--post", url, *args], env=env)


def secret_file(path, text):
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def test_token_file_and_header_file_reach_the_webhook(procs, broker, tmp_path):
    hook = AuthHook()
    try:
        values = [{"i": i} for i in range(20)]
        run_source(procs, broker, "auth", write_jsonl(tmp_path / "in.jsonl", values))
        token = secret_file(tmp_path / "token", TOKEN + "\n")
        headers = secret_file(tmp_path / "headers",
                              "# the webhook's API key\nX-Api-Key: k-123\n\nX-Tenant:  blue\r\n")
        s = sink(procs, broker, "auth", hook.url, "--post-token-file", token,
                 "--post-header-file", headers)
        s.expect_exit(0, T(60))
        assert hook.values() == values
        assert all(h.get("Authorization") == f"Bearer {TOKEN}" and h.get("X-Api-Key") == "k-123"
                   and h.get("X-Tenant") == "blue" for h in hook.seen), hook.seen
        # The secret was never on the command line (/proc/PID/cmdline is world-readable).
        assert TOKEN not in " ".join(s.args)
        assert "auth.dead" not in broker.wire.streams()
    finally:
        hook.close()


def test_token_from_the_environment(procs, broker, tmp_path):
    hook = AuthHook()
    try:
        run_source(procs, broker, "envtok", write_jsonl(tmp_path / "in.jsonl", [{"i": 1}]))
        s = sink(procs, broker, "envtok", hook.url, env={"SLUICE_POST_TOKEN": TOKEN})
        s.expect_exit(0, T(60))
        assert hook.values() == [{"i": 1}]
        assert hook.seen[0]["Authorization"] == f"Bearer {TOKEN}"
    finally:
        hook.close()


def test_without_the_token_the_webhook_refuses_and_the_batch_is_dead_lettered(procs, broker,
                                                                             tmp_path):
    """The failure path the token exists for: 401 is a refusal for good (no retries), the batch
    goes to STREAM.dead, and the sink says why."""
    hook = AuthHook()
    try:
        run_source(procs, broker, "noauth", write_jsonl(tmp_path / "in.jsonl", [{"i": 7}]))
        wrong = secret_file(tmp_path / "wrong", "not-the-token\n")
        s = sink(procs, broker, "noauth", hook.url, "--post-token-file", wrong)
        s.expect_exit(0, T(60))
        assert hook.values() == [] and len(hook.seen) == 1, hook.seen
        assert "401" in s.stderr(), s.stderr()
        assert [r["value"] for r in read_stream(procs, broker, "noauth.dead")] == [{"i": 7}]
        assert "not-the-token" not in s.stderr()
    finally:
        hook.close()


def test_malformed_secret_files_stop_the_sink_at_start(procs, broker, tmp_path):
    hook = AuthHook()
    try:
        run_source(procs, broker, "bad", write_jsonl(tmp_path / "in.jsonl", [{"i": 1}]))
        cases = [
            (["--post-token-file", tmp_path / "missing"], "missing: No such file"),
            (["--post-token-file", secret_file(tmp_path / "empty", "\n")], "expected one line"),
            (["--post-token-file", secret_file(tmp_path / "two", "abc\ndef-SECRET\n")],
             "expected one line"),
            (["--post-token-file", secret_file(tmp_path / "big", "a" * 70000)],
             "larger than 65536 bytes"),
            (["--post-header-file", secret_file(tmp_path / "inject",
                                                "X-A: ok\nX-B: v\x01SECRET\n")],
             "inject:2: the value of X-B holds a control character"),
            (["--post-header-file", secret_file(tmp_path / "noname", "just-a-SECRET\n")],
             "noname:1: expected `Name: value`"),
            (["--post-header-file", secret_file(tmp_path / "ctype", "Content-Type: text/x\n")],
             "ctype:1: Content-Type is set by sluice-sink itself"),
            (["--post-header-file", secret_file(tmp_path / "many",
                                                "".join(f"X-H{i}: v\n" for i in range(33)))],
             "many:33: more than 32 headers"),
        ]
        for n, (args, message) in enumerate(cases):
            s = sink(procs, broker, "bad", hook.url, *args, label=f"bad-{n}")
            s.expect_exit(2, T(60))
            assert message in s.stderr(), (args, s.stderr())
            assert "SECRET" not in s.stderr(), s.stderr()
        env = sink(procs, broker, "bad", hook.url, env={"SLUICE_POST_TOKEN": "has space"},
                   label="bad-env")
        env.expect_exit(2, T(60))
        assert "$SLUICE_POST_TOKEN: expected" in env.stderr()
        alone = procs.start("alone", [SINK_BIN, "--broker", broker.endpoint, "--stream", "bad",
                                      "--post-token-file", tmp_path / "empty"])
        alone.expect_exit(2, T(30))
        assert "go with --post" in alone.stderr()
        assert hook.seen == [], "nothing may be sent when the sink refuses to start"
    finally:
        hook.close()
