"""Operating Sluice (docs/operate.md, docs/PROTOCOL.md §15): the progress query and its exact lag,
`sluice stat`/`top`, the broker's HTTP server (/metrics parsed by prometheus_client, /healthz,
/api/stat, the live page in a real headless Chromium), the manage commands with their rights
under CURVE, and the broker's --config file.

Figures are asserted against a pipeline the test controls: a group is stopped (its worker ends
and LEAVEs), records are published into it, and its lag must grow by exactly those records and
its lag in seconds by the time waited.
"""

import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import (BROKER_BIN, BUILD, ERROR, PING, SINK_BIN, T, Wire, free_port_pair, now_ms,
                      pack, read_stream, run_source, wait_for, write_jsonl)
from groups_util import start_worker, stop_workers, wait_joined, wait_stream

SLUICE_BIN = BUILD / "cli" / "sluice"
STAT, STATS, ADMIN, ADMINED = 0x16, 0x17, 0x18, 0x19
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def sluice(procs, *args, code=0, name="sluice", timeout=T(60)):
    proc = procs.start(name, [SLUICE_BIN, *[str(a) for a in args]])
    proc.expect_exit(code, timeout)
    return proc


def stat(procs, broker, *extra):
    proc = sluice(procs, "stat", "--json", "-b", broker.endpoint, *extra, name="stat")
    return json.loads(proc.stdout())


def group_of(doc, name):
    found = [g for g in doc["groups"] if g["name"] == name]
    return found[0] if found else None


def group_field(procs, broker, name, field):
    """A field of the group's entry, None while the group is not in the document (a document
    may be up to 250 ms old: PROTOCOL.md §15.1)."""
    g = group_of(stat(procs, broker), name)
    return g[field] if g else None


def reader_of(doc, name):
    found = [r for r in doc["readers"] if r["name"] == name]
    return found[0] if found else None


def publish(procs, broker, stream, n, tmp_path, start=0):
    path = write_jsonl(tmp_path / f"in-{stream}-{start}.jsonl",
                       [{"i": i} for i in range(start, start + n)])
    run_source(procs, broker, stream, path)


def stopped_group(procs, broker, tmp_path, group="G", n=10):
    """A group that has done the first n records of `in` and has no members any more."""
    publish(procs, broker, "in", n, tmp_path)
    w = start_worker(procs, broker, group, "in", "out", "--map", "value")
    wait_joined(w)
    wait_stream(broker, "out", n, T(60), watch=[w])
    wait_for(lambda: group_field(procs, broker, group, "committed") == n, T(30),
             "the group's checkpoint to reach the input's end")
    stop_workers([w])
    wait_for(lambda: group_of(stat(procs, broker), group)["members_total"] == 0, T(30),
             "the stopped worker to leave")


# ---------------------------------------------------------------- the progress query

def test_stopped_group_lag_grows_by_exactly_the_records_published_and_the_time_waited(
        procs, broker, tmp_path):
    stopped_group(procs, broker, tmp_path, n=10)
    doc = stat(procs, broker)
    g = group_of(doc, "G")
    assert (g["in"], g["out"], g["committed"]) == ("in", "out", 10)
    assert g["lag_records"] == 0 and g["lag_seconds"] == 0
    assert g["dead_letters"] == 0 and g["in_flight"] == 0

    before = now_ms()
    publish(procs, broker, "in", 25, tmp_path, start=10)
    after = now_ms()
    doc = wait_for(lambda: (lambda d: d if group_of(d, "G")["lag_records"] == 25 else None)(
        stat(procs, broker)), T(10), "lag_records to reach 25")
    g = group_of(doc, "G")
    assert g["committed"] == 10, "a stopped group does not move"
    # Exact: the first record not done (offset 10) was appended between before and after,
    # so lag_seconds is the document's time minus a moment in that window.
    lag_ms = g["lag_seconds"] * 1000
    assert doc["time_ms"] - after - 2 <= lag_ms <= doc["time_ms"] - before + 2, (doc, before, after)

    # It grows by the time waited, and lag_records does not move.
    t1 = doc["time_ms"]
    s1 = g["lag_seconds"]
    wait_for(lambda: now_ms() > t1 + 1500, T(10), "1.5 s to pass")
    doc2 = stat(procs, broker)
    g2 = group_of(doc2, "G")
    assert g2["lag_records"] == 25
    waited = (doc2["time_ms"] - t1) / 1000
    assert waited >= 1.4
    assert abs((g2["lag_seconds"] - s1) - waited) < 0.01, (s1, g2["lag_seconds"], waited)

    # The table view says the same figures.
    table = sluice(procs, "stat", "-b", broker.endpoint).stdout().decode()
    row = [line for line in table.splitlines() if line.startswith("G ")][0].split()
    assert row[1:5] == ["in", "out", "10", "25"], row

    # A worker back on the group brings the lag to 0 (and lag_seconds with it).
    w = start_worker(procs, broker, "G", "in", "out", "--map", "value")
    wait_joined(w)
    wait_for(lambda: (lambda g: g["lag_records"] == 0 and g["lag_seconds"] == 0)(
        group_of(stat(procs, broker), "G")), T(60), "the group to catch up")
    stop_workers([w])


def test_durable_reader_lag_and_stream_figures(procs, broker, tmp_path):
    publish(procs, broker, "orders", 30, tmp_path)
    reader = procs.start("reader", [SINK_BIN, "--broker", broker.endpoint, "--stream", "orders",
                                    "--name", "billing", "--from", "beginning", "--count", "12"])
    reader.expect_exit(0, T(60))
    doc = wait_for(lambda: (lambda d: d if reader_of(d, "billing") else None)(
        stat(procs, broker)), T(10), "the reader to show")
    r = reader_of(doc, "billing")
    assert r["stream"] == "orders"
    assert r["position"] + r["lag_records"] == 30
    assert r["lag_records"] > 0 and r["lag_seconds"] > 0
    s = [x for x in doc["streams"] if x["name"] == "orders"][0]
    assert (s["first"], s["next"], s["records"]) == (0, 30, 30)
    assert s["bytes"] > 0 and s["rate"] == pytest.approx(30 / 60)
    assert doc["writable"] is True and doc["truncated"] is False


def test_sources_and_members_report_their_counters_with_their_heartbeat(procs, broker,
                                                                        tmp_path):
    src = procs.start("src", [BUILD / "source" / "sluice-source", "--broker", broker.endpoint,
                              "--stream", "in", "--generate", "0", "--rate", "100",
                              "--name", "gen-1"])
    w = start_worker(procs, broker, "G", "in", "out", "--map", "value", "--member", "m-1")
    wait_joined(w)

    def both():
        doc = stat(procs, broker)
        by = {(c["role"], c["name"]): c for c in doc["clients"]}
        s, m = by.get(("source", "gen-1")), by.get(("worker", "m-1"))
        return (s, m) if s and m and s["records"] > 20 and m["records"] > 20 else None

    s, m = wait_for(both, T(30), "the source and the member to report counters")
    assert s["stream"] == "in" and s["errors"] == 0 and s["last_heard_ms"] < 5000
    assert m["group"] == "G" and m["errors"] == 0
    # Their claims match what the broker itself counts, within a heartbeat or two.
    assert m["records"] <= broker.next("in") and s["records"] <= broker.next("in")
    src.signal(15)
    src.expect_exit(0, T(30))
    stop_workers([w])
    table = sluice(procs, "stat", "-b", broker.endpoint).stdout().decode()
    assert re.search(r"^source\s+gen-1\s+in\s+\d+\s+0", table, re.M), table
    # A hostile heartbeat: odd bytes in the name never reach JSON or metrics as they are.
    broker.wire.request(PING, {"role": "x\"y", "client": "a\\b\nc", "records": 5})
    odd = wait_for(lambda: [c for c in stat(procs, broker)["clients"] if c["records"] == 5],
                   T(10), "the odd heartbeat in the document")
    assert odd[0]["role"] == "x?y" and odd[0]["name"] == "a?b?c", odd


def test_stat_without_a_broker_says_so_and_exits_1(procs, tmp_path):
    proc = sluice(procs, "stat", "-b", "tcp://127.0.0.1:9", "--timeout", "1s", code=1)
    assert "no answer from the broker at tcp://127.0.0.1:9" in proc.stderr()


def test_stat_watch_and_top_refresh(procs, broker, tmp_path):
    publish(procs, broker, "orders", 5, tmp_path)
    watch = sluice(procs, "stat", "-b", broker.endpoint, "--json", "--watch", "--interval",
                   "200ms", "--count", "3")
    docs = [json.loads(line) for line in watch.lines()]
    assert len(docs) == 3 and all(d["streams"][0]["next"] == 5 for d in docs)
    top = sluice(procs, "top", "-b", broker.endpoint, "--interval", "200ms", "--count", "2")
    out = top.stdout().decode()
    heads = [line for line in out.splitlines() if line.startswith("STREAM ")]
    assert len(heads) == 2 and "orders" in out and "DONE/s" in out, out


def test_stat_replies_stay_bounded_under_a_flood_and_bad_admin_is_refused(broker):
    wire = broker.wire
    # A flood of STATs: every one answered, from at most a few builds.
    for _ in range(200):
        wire.send(STAT, {"req": 1})
    answered = 0
    while answered < 200:
        reply = wire.recv(T(10))
        assert reply is not None, f"only {answered} of 200 STATs answered"
        assert reply[0] == STATS and len(reply[3]) == 1
        answered += 1
    # ADMIN: unknown op, missing target, missing op, STATS sent to the broker.
    for body, code in [({"op": "stream.explode", "stream": "x"}, 2),
                       ({"op": "stream.delete"}, 3),
                       ({"op": "reader.reset", "stream": "x"}, 3),
                       ({"op": "group.delete", "group": "nope"}, 12),
                       ({"op": "stream.purge", "stream": "nope"}, 12)]:
        cmd, _, reply, _ = wire.request(ADMIN, body)
        assert cmd == ERROR and reply["code"] == code, (body, reply)
    cmd, _, reply, _ = wire.request(ADMIN, {"stream": "x"})
    assert cmd == ERROR and reply["code"] == 3
    assert wire.ping()


# ---------------------------------------------------------------- HTTP

def http_get(port, path, timeout=T(5)):
    """(status, content type, body); status 0 when the connection failed."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return 0, None, str(e)


def test_metrics_parse_with_prometheus_client_and_match_stat(procs, make_broker, tmp_path):
    port = free_port_pair()
    broker = make_broker(args=["--http", f"127.0.0.1:{port}"])
    stopped_group(procs, broker, tmp_path, n=10)
    publish(procs, broker, "in", 7, tmp_path, start=10)
    reader = procs.start("reader", [SINK_BIN, "--broker", broker.endpoint, "--stream", "in",
                                    "--name", "audit", "--from", "beginning", "--count", "4"])
    reader.expect_exit(0, T(60))

    def metrics():
        status, ctype, text = http_get(port, "/metrics")
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        return fams

    def ready():
        fams = metrics()
        lag = [s for s in fams["sluice_group_lag_records"].samples
               if s.labels == {"group": "G", "stream": "in"}]
        readers = fams["sluice_reader_lag_records"].samples
        return fams if lag and lag[0].value == 7 and readers else None

    fams = wait_for(ready, T(10), "metrics to show the group's lag of 7")

    def value(name, **labels):
        found = [s.value for s in fams[name].samples if s.labels == labels]
        assert found, f"{name}{labels} missing: {fams[name].samples}"
        return found[0]

    assert value("sluice_stream_next_offset", stream="in") == 17
    assert value("sluice_stream_next_offset", stream="out") == 10
    assert value("sluice_stream_bytes", stream="in") > 0
    # prometheus_client names a counter family without its _total suffix.
    assert value("sluice_records_in", stream="in") == 17
    assert value("sluice_group_lag_records", group="G", stream="in") == 7
    assert value("sluice_group_lag_seconds", group="G", stream="in") > 0
    assert value("sluice_group_members", group="G") == 0
    assert value("sluice_group_dead_letters", group="G") == 0
    assert value("sluice_reader_lag_records", reader="audit", stream="in") == 13
    assert value("sluice_reader_lag_seconds", reader="audit", stream="in") > 0
    assert value("sluice_broker_writable") == 1

    # /api/stat is the document of `sluice stat --json`.
    status, ctype, text = http_get(port, "/api/stat")
    assert status == 200 and ctype == "application/json"
    api = json.loads(text)
    cli = stat(procs, broker)
    assert [s["name"] for s in api["streams"]] == [s["name"] for s in cli["streams"]]
    assert group_of(api, "G")["lag_records"] == group_of(cli, "G")["lag_records"] == 7

    assert http_get(port, "/healthz")[:1] == (200,)
    assert http_get(port, "/healthz")[2].startswith("ok")
    assert http_get(port, "/nope")[0] == 404


def test_http_is_off_by_default_and_refuses_what_it_does_not_serve(procs, make_broker):
    port = free_port_pair()
    broker = make_broker()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    broker2 = make_broker(args=["--http", f"127.0.0.1:{port}"])
    wait_for(lambda: http_get(port, "/healthz")[0] == 200, T(10), "the HTTP server")
    # POST, a body, a huge header: refused, and the server serves on.
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", data=b"x" * 100,
                                 method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=T(5))
    assert e.value.code in (405, 413)
    s = socket.create_connection(("127.0.0.1", port), timeout=T(5))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
    reply = b""
    try:
        while len(reply) < 12:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    s.close()
    assert not reply.startswith(b"HTTP/1.1 200"), reply[:100]
    # Many idle connections at once: the limit holds and a fresh request is still served
    # once they go.
    idle = [socket.create_connection(("127.0.0.1", port), timeout=T(5)) for _ in range(80)]
    assert http_get(port, "/healthz", timeout=2)[0] in (0, 503, 200)
    assert broker2.proc.alive()
    for c in idle:
        c.close()
    wait_for(lambda: http_get(port, "/healthz")[0] == 200, T(20), "the server after the flood")
    assert broker2.proc.alive()
    # A bad --http is a usage error at start.
    bad = procs.start("bad-http", [BROKER_BIN, "--data", broker.data_dir / "x", "--listen",
                                   "tcp://127.0.0.1:0", "--http", "nonsense"])
    bad.expect_exit(1, T(20))
    assert "--http nonsense: expected HOST:PORT" in bad.stderr()


def chromium_dom(port):
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-background-networking", "--no-first-run",
                           "--disable-dev-shm-usage", "--virtual-time-budget=4000",
                           "--dump-dom", f"http://127.0.0.1:{port}/"],
                          capture_output=True, timeout=T(90), text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def lag_text(dom, group):
    marker = f'id="lag-{group}"'
    assert marker in dom, dom[-3000:]
    start = dom.index(">", dom.index(marker)) + 1
    return dom[start:dom.index("<", start)]


@pytest.mark.skipif(not pathlib.Path(CHROMIUM).exists(), reason="chromium is not installed")
def test_live_page_in_headless_chromium_shows_the_groups_and_a_changing_lag(
        procs, make_broker, tmp_path):
    port = free_port_pair()
    broker = make_broker(args=["--http", f"127.0.0.1:{port}"])
    stopped_group(procs, broker, tmp_path, n=5)
    publish(procs, broker, "in", 3, tmp_path, start=5)
    wait_for(lambda: group_of(stat(procs, broker), "G")["lag_records"] == 3, T(10), "lag 3")
    wait_for(lambda: json.loads(http_get(port, "/api/stat")[2])["groups"][0]["lag_records"] == 3,
             T(10), "the HTTP snapshot to show lag 3")
    dom = chromium_dom(port)
    assert 'id="group-G"' in dom and 'id="stream-in"' in dom and 'id="stream-out"' in dom
    first = lag_text(dom, "G")
    assert first.startswith("lag 3 records"), first
    publish(procs, broker, "in", 4, tmp_path, start=8)
    wait_for(lambda: json.loads(http_get(port, "/api/stat")[2])["groups"][0]["lag_records"] == 7,
             T(10), "the HTTP snapshot to show lag 7")
    second = lag_text(chromium_dom(port), "G")
    assert second.startswith("lag 7 records") and second != first, (first, second)


# ---------------------------------------------------------------- manage

def test_stream_retain_purge_delete_kept_across_restart(procs, broker, tmp_path):
    publish(procs, broker, "logs", 50, tmp_path)
    for i in range(4):
        publish(procs, broker, "logs", 10, tmp_path, start=50 + 10 * i)
    assert broker.next("logs") == 90
    sluice(procs, "stream", "retain", "logs", "--records", "20", "-b", broker.endpoint)
    # Applied within a second: whole batches go while at least 20 records stay.
    wait_for(lambda: broker.info("logs")["first"] == 70, T(10), "retention to cut to 20")
    broker.stop()
    broker.restart()
    for i in range(3):
        publish(procs, broker, "logs", 10, tmp_path, start=90 + 10 * i)
    wait_for(lambda: broker.info("logs")["first"] == 100, T(10),
             "retention kept across the restart")
    # Back to the flags (none): nothing more is removed.
    sluice(procs, "stream", "retain", "logs", "-b", broker.endpoint)
    publish(procs, broker, "logs", 10, tmp_path, start=120)
    assert broker.info("logs")["first"] == 100

    out = sluice(procs, "stream", "purge", "logs", "-b", broker.endpoint).stdout().decode()
    assert "30 records removed" in out
    info = broker.info("logs")
    assert (info["first"], info["next"], info["records"]) == (130, 130, 0)

    sluice(procs, "stream", "delete", "logs", "-b", broker.endpoint)
    assert "logs" not in broker.wire.streams()
    publish(procs, broker, "logs", 3, tmp_path, start=0)
    assert broker.info("logs")["first"] == 0 and broker.next("logs") == 3

    listed = sluice(procs, "streams", "--json", "-b", broker.endpoint).json_lines()
    assert [s["name"] for s in listed] == ["logs"]
    missing = sluice(procs, "stream", "purge", "nope", "-b", broker.endpoint, code=1)
    assert "no such stream" in missing.stderr()
    usage = sluice(procs, "stream", "explode", "logs", "-b", broker.endpoint, code=2)
    assert "expected delete|purge|retain NAME" in usage.stderr()
    usage = sluice(procs, "reader", "reset", "x", "--to", "soon", "-b", broker.endpoint, code=2)
    assert "--to is for reset, with beginning, end, OFFSET or @TIME" in usage.stderr()
    usage = sluice(procs, "stream", "purge", "a/b", "-b", broker.endpoint, code=2)
    assert "not a valid name" in usage.stderr()


def test_reader_and_group_reset_and_delete(procs, broker, tmp_path):
    stopped_group(procs, broker, tmp_path, n=10)
    reader = procs.start("reader", [SINK_BIN, "--broker", broker.endpoint, "--stream", "in",
                                    "--name", "billing", "--from", "beginning", "--count", "10"])
    reader.expect_exit(0, T(60))
    wait_for(lambda: reader_of(stat(procs, broker), "billing"), T(10), "the reader")

    out = sluice(procs, "reader", "reset", "billing", "--to", "3", "-b", broker.endpoint)
    assert "reset to offset 3" in out.stdout().decode()
    r = reader_of(stat(procs, broker), "billing")
    assert (r["position"], r["lag_records"]) == (3, 7)
    # The sink resumes where the reset put it.
    again = procs.start("again", [SINK_BIN, "--broker", broker.endpoint, "--stream", "in",
                                  "--name", "billing", "--exit-at-end"])
    again.expect_exit(0, T(60))
    assert [rec["offset"] for rec in again.json_lines()] == list(range(3, 10))
    sluice(procs, "reader", "reset", "billing", "--to", "end", "-b", broker.endpoint)
    assert reader_of(stat(procs, broker), "billing")["lag_records"] == 0
    sluice(procs, "reader", "delete", "billing", "-b", broker.endpoint)
    assert reader_of(stat(procs, broker), "billing") is None
    sluice(procs, "reader", "delete", "billing", "--stream", "in", "-b", broker.endpoint, code=1)

    # A group with a member refuses reset and delete; a stream it uses refuses delete.
    w = start_worker(procs, broker, "G", "in", "out", "--map", "value")
    wait_joined(w)
    busy = sluice(procs, "group", "reset", "G", "-b", broker.endpoint, code=1)
    assert "stop its workers first" in busy.stderr()
    used = sluice(procs, "stream", "delete", "in", "-b", broker.endpoint, code=1)
    assert "group 'G' reads or writes this stream" in used.stderr()
    stop_workers([w])
    wait_for(lambda: group_of(stat(procs, broker), "G")["members_total"] == 0, T(30),
             "the worker to leave")

    sluice(procs, "group", "reset", "G", "--to", "beginning", "-b", broker.endpoint)
    g = group_of(stat(procs, broker), "G")
    assert (g["committed"], g["lag_records"]) == (0, 10)
    listed = sluice(procs, "groups", "--json", "-b", broker.endpoint).json_lines()
    assert listed[0]["name"] == "G" and listed[0]["lag_records"] == 10
    # Kept across a restart.
    broker.stop()
    broker.restart()
    assert group_of(stat(procs, broker), "G")["committed"] == 0
    sluice(procs, "group", "delete", "G", "-b", broker.endpoint)
    assert group_of(stat(procs, broker), "G") is None
    broker.stop()
    broker.restart()
    assert group_of(stat(procs, broker), "G") is None
    sluice(procs, "stream", "delete", "in", "-b", broker.endpoint)


def test_dlq_show_and_resend_once(procs, broker, tmp_path):
    publish(procs, broker, "in", 3, tmp_path)
    w = start_worker(procs, broker, "D", "in", "out", "--map", "i == 1 and error(\"boom\") or value",
                     "--max-deliver", "1")
    wait_for(lambda: broker.next("D.dlq") == 1, T(60), "one dead letter")
    stop_workers([w])
    proc = procs.start("dlq", [SLUICE_BIN, "dlq", "show", "D", "--broker", broker.endpoint])
    proc.expect_exit(0, T(60))
    letters = proc.json_lines()
    assert len(letters) == 1 and letters[0]["value"]["offset"] == 1
    assert group_of(stat(procs, broker), "D")["dead_letters"] == 1

    # resend: the original record back into the input, as a new record, once.
    out = sluice(procs, "dlq", "resend", "D", "--broker", broker.endpoint).stdout().decode()
    assert "resent 1 dead letters of D into in" in out, out
    got = read_stream(procs, broker, "in")
    assert [r["value"] for r in got] == [{"i": 0}, {"i": 1}, {"i": 2}, {"i": 1}]
    again = sluice(procs, "dlq", "resend", "D", "--broker", broker.endpoint).stdout().decode()
    assert "already resent" in again and broker.next("in") == 4, again
    # A group member that no longer fails does it: the group's lag goes back to 0.
    w = start_worker(procs, broker, "D", "in", "out", "--map", "value")
    wait_stream(broker, "out", 3, T(60), watch=[w])
    wait_for(lambda: group_field(procs, broker, "D", "lag_records") == 0, T(30), "lag 0")
    stop_workers([w])
    bad = sluice(procs, "dlq", "resend", "D", "--nosuch", "-b", broker.endpoint, code=2)
    assert "unknown option '--nosuch'" in bad.stderr()
    empty = sluice(procs, "dlq", "resend", "nosuch", "-b", broker.endpoint)
    assert "nosuch.dlq is empty" in empty.stdout().decode()


# ---------------------------------------------------------------- sluice run

def test_run_waits_for_the_groups_to_drain_before_exit_at_end_sinks(procs, tmp_path):
    """The race run.md used to note: an exit-at-end sink on a group's output must not start
    (and end) before the group has done every input record."""
    from test_run import pipeline
    n = 400
    write_jsonl(tmp_path / "in.jsonl", [{"id": i} for i in range(n)])
    path, endpoint = pipeline(tmp_path, """\
sources:
  - name: reader
    stream: raw
    files: [in.jsonl]
groups:
  - name: slow
    members: 1
    in: raw
    out: done
    batch: 20
    map: (function() local s = 0 for i = 1, 200000 do s = s + i end return value end)()
sinks:
  - name: out
    stream: done
    from: beginning
    exit-at-end: true
    format: value
    output: done.jsonl
""")
    run = procs.start("run", [SLUICE_BIN, "run", path])
    run.expect_exit(0, T(180))
    got = [json.loads(line) for line in (tmp_path / "done.jsonl").read_text().splitlines()]
    assert sorted(v["id"] for v in got) == list(range(n)), f"{len(got)} of {n}"


# ---------------------------------------------------------------- rights under CURVE

def test_admin_commands_need_the_manage_right(procs, make_broker, tmp_path):
    from test_security import Secure
    sec = Secure(make_broker, tmp_path)
    admin = sec.client("admin")                                   # no rights listed: all
    ops = sec.client("ops", {"manage": "orders*", "read": "*", "publish": "*"})
    viewer = sec.client("viewer", {"read": "*", "publish": "*"})
    sec.wait_ready(admin)
    values = write_jsonl(tmp_path / "v.jsonl", [{"i": i} for i in range(5)])
    for stream in ("orders", "other"):
        src = procs.start("src", [BUILD / "source" / "sluice-source", "--broker",
                                  sec.broker.endpoint, "--stream", stream, *sec.flags(admin),
                                  values])
        src.expect_exit(0, T(60))

    def cli(base, *args, code=0):
        return sluice(procs, *args, "-b", sec.broker.endpoint, *sec.flags(base), code=code)

    # Everyone allowed may look.
    for base in (admin, ops, viewer):
        doc = json.loads(cli(base, "stat", "--json").stdout())
        assert {s["name"] for s in doc["streams"]} == {"orders", "other"}
    denied = cli(viewer, "stream", "purge", "orders", code=1)
    assert "permission denied: key 'viewer': the key may not manage this ('orders')" in \
        denied.stderr()
    cli(ops, "stream", "purge", "orders")
    denied = cli(ops, "stream", "purge", "other", code=1)
    assert "may not manage this ('other')" in denied.stderr()
    cli(admin, "stream", "purge", "other")
    assert "ADMIN other: permission denied" in sec.log() or "ADMIN" in sec.log()
    wire = Wire(sec.broker.endpoint)            # a plain client is refused at the handshake
    wire.send(ADMIN, {"req": 1, "op": "stream.delete", "stream": "orders"})
    assert wire.recv(1) is None
    wire.close()
    assert "orders" in json.loads(cli(admin, "stat", "--json").stdout())["streams"][0]["name"]


# ---------------------------------------------------------------- --config

def test_broker_config_file_with_flags_overriding_it(procs, tmp_path):
    port = free_port_pair()
    http_port = free_port_pair()
    conf = tmp_path / "broker.conf"
    conf.write_text("# a test broker\n"
                    f"listen = tcp://127.0.0.1:{port}\n"
                    f"data = {tmp_path / 'from-file'}\n"
                    "http = 127.0.0.1:1\n"
                    "retain-records = 5\n")
    proc = procs.start("broker", [BROKER_BIN, "--config", conf, "--data", tmp_path / "flag",
                                  "--http", f"127.0.0.1:{http_port}"])
    wire = Wire(f"tcp://127.0.0.1:{port}")
    try:
        wait_for(lambda: wire.ping(timeout=0.5) if proc.alive() else
                 pytest.fail(proc.stderr()), T(20), "the configured broker")
    except AssertionError:
        raise AssertionError(proc.stderr())
    finally:
        wire.close()
    assert http_get(http_port, "/healthz")[0] == 200, "the flag's --http wins"
    assert (tmp_path / "flag").is_dir() and not (tmp_path / "from-file").exists()
    proc.signal(15)
    proc.expect_exit(0, T(20))

    bad = tmp_path / "bad.conf"
    bad.write_text("listen = tcp://127.0.0.1:1\nretain-age = soon\n")
    proc = procs.start("bad", [BROKER_BIN, "--config", bad])
    proc.expect_exit(2, T(20))
    assert "bad.conf:2: retain-age: expected a duration" in proc.stderr()
    proc = procs.start("missing", [BROKER_BIN, "--config", tmp_path / "nope.conf"])
    proc.expect_exit(2, T(20))
    assert "nope.conf: cannot open it" in proc.stderr()


# ---------------------------------------------------------------- /healthz on a full disk

@pytest.fixture
def tiny_fs(tmp_path):
    """An 8 MiB tmpfs for the broker's data; unmounted at teardown (root only, else skipped)."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    rc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mnt)],
                        capture_output=True, text=True)
    if rc.returncode != 0:
        pytest.skip(f"mount -t tmpfs refused: {rc.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_healthz_is_503_with_the_reason_while_the_disk_is_full(tiny_fs, procs, make_broker,
                                                               tmp_path):
    port = free_port_pair()
    broker = make_broker(["--initial-map", "1M", "--http", f"127.0.0.1:{port}"],
                         data_dir=tiny_fs / "data")
    wait_for(lambda: http_get(port, "/healthz")[0] == 200, T(10), "healthy at start")
    pad = "p" * 1000
    path = write_jsonl(tmp_path / "big.jsonl", [{"id": i, "pad": pad} for i in range(12_000)])
    src = procs.start("filler", [BUILD / "source" / "sluice-source", "--broker", broker.endpoint,
                                 "--stream", "full", "--name", "filler", "--no-progress",
                                 "--timeout", "2s", "--window", "1", "--connect-timeout", "0",
                                 path])
    status = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(http_get(port, "/healthz")),
                      T(120), "/healthz to say the disk is full")
    assert status[2].startswith("unhealthy: intake stopped: disk full"), status
    fams = {f.name: f for f in text_string_to_metric_families(http_get(port, "/metrics")[2])}
    assert fams["sluice_broker_writable"].samples[0].value == 0
    assert json.loads(http_get(port, "/api/stat")[2])["writable"] is False
    # Space comes back: intake resumes and /healthz says so.
    subprocess.run(["mount", "-o", "remount,size=256m", str(tiny_fs)], check=True)
    src.expect_exit(0, T(180))
    wait_for(lambda: http_get(port, "/healthz")[0] == 200, T(30), "healthy again")
