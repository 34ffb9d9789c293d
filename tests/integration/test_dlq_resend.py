"""`sluice dlq resend GROUP --filter EXPR` (docs/operate.md): only the dead letters the
expression is true for go back into the group's input, with their attempts reset, once per
filter; read a page at a time; refused with a clear error for a bad expression, a failing one,
a letter that is not a dead letter, and a key without the rights it needs under CURVE.

Dead letters come from a real worker whose operator fails, or, where thousands are needed,
are published into GROUP.dlq by a real source in the dead-letter shape (PROTOCOL.md §14.3).
"""

import json

from conftest import BUILD, T, read_stream, run_source, wait_for, write_jsonl
from groups_util import start_worker, stop_workers, wait_stream

SLUICE_BIN = BUILD / "cli" / "sluice"
SOURCE_BIN = BUILD / "source" / "sluice-source"


def sluice(procs, *args, code=0, timeout=T(90)):
    proc = procs.start("sluice", [SLUICE_BIN, *[str(a) for a in args]])
    proc.expect_exit(code, timeout)
    return proc


def letter(i, stream="in", group="P", error="boom", attempts=3):
    return {"error": error, "attempts": attempts, "group": group, "stream": stream, "offset": i,
            "record": {"timestamp": 1_700_000_000_000 + i, "key": f"k{i}", "headers": None,
                       "value": {"i": i}}}


def forge_letters(procs, broker, tmp_path, group, letters, name="letters"):
    path = write_jsonl(tmp_path / f"{name}.jsonl", letters)
    run_source(procs, broker, f"{group}.dlq", path)


def values(procs, broker, stream):
    return [r["value"] for r in read_stream(procs, broker, stream)]


def test_filter_resends_only_matching_letters_once_per_filter(procs, broker, tmp_path):
    """Real dead letters from a failing worker: the filter sees the letter's error, attempts and
    original record; a rerun of the same filter adds nothing; another filter is its own
    resend."""
    write_jsonl(tmp_path / "in.jsonl", [{"i": i} for i in range(6)])
    run_source(procs, broker, "in", tmp_path / "in.jsonl")
    w = start_worker(procs, broker, "D", "in", "out", "--map",
                     'i % 3 == 0 and error("cold") or error("hot")', "--max-deliver", "1")
    wait_stream(broker, "D.dlq", 6, T(90), watch=[w])
    stop_workers([w])

    out = sluice(procs, "dlq", "resend", "D", "--filter", 'record.value.i % 2 == 0',
                 "-b", broker.endpoint).stdout().decode()
    assert "resent 3 of the 3 dead letters of D matching the filter into in" in out, out
    got = values(procs, broker, "in")
    assert got[:6] == [{"i": i} for i in range(6)]
    assert sorted(v["i"] for v in got[6:]) == [0, 2, 4], got
    # The resent records are new records of the input: their attempts start again, so a
    # worker that succeeds now does them (and the group's lag comes back to 0).
    again = sluice(procs, "dlq", "resend", "D", "--filter", 'record.value.i % 2 == 0',
                   "-b", broker.endpoint).stdout().decode()
    assert "already resent by this filter: 3" in again and broker.next("in") == 9, again
    # The letter's own fields: error text and attempts.
    hot = sluice(procs, "dlq", "resend", "D", "--filter",
                 'error:find("hot") ~= nil and attempts == 1 and offset == 1',
                 "-b", broker.endpoint).stdout().decode()
    assert "resent 1 of the 1 dead letters" in hot, hot
    assert values(procs, broker, "in")[9:] == [{"i": 1}]
    none = sluice(procs, "dlq", "resend", "D", "--filter", "false",
                  "-b", broker.endpoint).stdout().decode()
    assert "resent 0 of the 0 dead letters" in none and broker.next("in") == 10, none
    w = start_worker(procs, broker, "D", "in", "out", "--map", "value")
    wait_stream(broker, "out", 4, T(90), watch=[w])
    stop_workers([w])
    assert sorted(v["i"] for v in values(procs, broker, "out")) == [0, 1, 2, 4]

    # Whoever may write D.dlq cannot steer a resend into another stream: the broker says which
    # stream group D reads, and a letter naming another one is refused.
    forge_letters(procs, broker, tmp_path, "D", [letter(0, stream="secret", group="D")])
    steer = sluice(procs, "dlq", "resend", "D", "--filter", 'stream == "secret"',
                   "-b", broker.endpoint, code=1)
    assert "names stream secret, but group D reads in" in steer.stderr(), steer.stderr()
    assert broker.next("secret") == 0


def test_filter_pages_through_thousands_of_letters(procs, broker, tmp_path):
    """2500 letters are read 1000 at a time; the matches of every page go back, in order, and
    the key and timestamp of each original record come back with it."""
    n = 2500
    forge_letters(procs, broker, tmp_path, "P", [letter(i) for i in range(n)])
    out = sluice(procs, "dlq", "resend", "P", "--filter", 'record.value.i % 250 == 7',
                 "-b", broker.endpoint).stdout().decode()
    assert "resent 10 of the 10 dead letters of P matching the filter into in" in out, out
    got = read_stream(procs, broker, "in")
    assert [r["value"]["i"] for r in got] == list(range(7, n, 250))
    assert [r["key"] for r in got] == [f"k{i}" for i in range(7, n, 250)]
    assert [r["timestamp"] for r in got] == [1_700_000_000_000 + i for i in range(7, n, 250)]


def test_filter_failure_paths(procs, broker, tmp_path):
    forge_letters(procs, broker, tmp_path, "F",
                  [letter(0), {"no": "letter"}, letter(2)], name="f")
    # A syntax error: usage (2), Lua's message, nothing read or sent.
    bad = sluice(procs, "dlq", "resend", "F", "--filter", "i >", "-b", broker.endpoint, code=2)
    assert "--filter: filter: expr:1: unexpected symbol" in bad.stderr()
    assert broker.next("in") == 0
    # A record of F.dlq that is not a dead letter stops the resend (1), naming its offset;
    # the letter before it is resent, nothing after it.
    broken = sluice(procs, "dlq", "resend", "F", "--filter", "true", "-b", broker.endpoint,
                    code=1)
    assert "F.dlq offset 1 is not a dead letter" in broken.stderr()
    assert values(procs, broker, "in") == [{"i": 0}]

    # An expression that raises on a letter: exit 1 naming the letter and the error, what
    # matched before it resent, nothing from it on.
    forge_letters(procs, broker, tmp_path, "E",
                  [letter(0), {**letter(1), "record": {**letter(1)["record"], "value": "str"}},
                   letter(2)], name="e")
    err = sluice(procs, "dlq", "resend", "E", "--filter", "record.value.i >= 0",
                 "-b", broker.endpoint, code=1)
    assert "--filter on dead letter 1:" in err.stderr() and "attempt to compare" in err.stderr(), \
        err.stderr()
    assert values(procs, broker, "in") == [{"i": 0}, {"i": 0}]
    # A group name too long to name the filtered producer.
    long = "g" * 250
    sluice(procs, "dlq", "resend", long, "--filter", "true", "-b", broker.endpoint, code=2)
    # --filter without its expression.
    sluice(procs, "dlq", "resend", "F", "--filter", code=2)


def test_filter_resend_needs_read_on_the_dlq_and_publish_on_the_input(procs, make_broker,
                                                                      tmp_path):
    from test_security import Secure
    sec = Secure(make_broker, tmp_path)
    admin = sec.client("admin")
    reader = sec.client("reader", {"read": "R.dlq"})
    writer = sec.client("writer", {"publish": "in"})
    resender = sec.client("resender", {"read": "R.dlq", "publish": "in"})
    sec.wait_ready(admin)
    path = write_jsonl(tmp_path / "r.jsonl", [letter(i, group="R") for i in range(3)])
    src = procs.start("src", [SOURCE_BIN, "--broker", sec.broker.endpoint, "--stream", "R.dlq",
                              *sec.flags(admin), path])
    src.expect_exit(0, T(60))

    def resend(base, code):
        return sluice(procs, "dlq", "resend", "R", "--filter", "record.value.i ~= 1",
                      "-b", sec.broker.endpoint, *sec.flags(base), code=code)

    blind = resend(writer, 1)
    assert "permission denied" in blind.stderr() and "R.dlq" in blind.stderr(), blind.stderr()
    denied = resend(reader, 1)
    assert "permission denied" in denied.stderr() and "publish" in denied.stderr(), \
        denied.stderr()
    out = resend(resender, 0).stdout().decode()
    assert "resent 2 of the 2 dead letters of R matching the filter into in" in out, out

    def next_of_in():
        doc = json.loads(sluice(procs, "stat", "--json", "-b", sec.broker.endpoint,
                                *sec.flags(admin)).stdout())
        return {s["name"]: s["next"] for s in doc["streams"]}.get("in")
    # The progress document may be 250 ms old (PROTOCOL.md §15.1).
    wait_for(lambda: next_of_in() == 2, T(30), "the two resent records in stream in")


def test_resend_when_the_letters_no_longer_start_at_offset_0(procs, broker, tmp_path):
    """Without a filter, letters keep their offset + 1 as sequence numbers; when retention or a
    purge removed the first letters before any resend, that would be a gap the broker refuses
    (PROTOCOL.md §6.1): they are numbered from the first offset instead, still once."""
    forge_letters(procs, broker, tmp_path, "T", [letter(i, group="T") for i in range(3)],
                  name="t1")
    sluice(procs, "stream", "purge", "T.dlq", "-b", broker.endpoint)
    forge_letters(procs, broker, tmp_path, "T", [letter(i, group="T") for i in range(3, 5)],
                  name="t2")
    out = sluice(procs, "dlq", "resend", "T", "-b", broker.endpoint).stdout().decode()
    assert "resent 2 dead letters of T into in" in out, out
    assert values(procs, broker, "in") == [{"i": 3}, {"i": 4}]
    again = sluice(procs, "dlq", "resend", "T", "-b", broker.endpoint).stdout().decode()
    assert "already resent: 2 dead letters" in again and broker.next("in") == 2, again
