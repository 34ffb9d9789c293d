"""The keyed-group reference: a generated event-time data set and the window results, late
records and Lua state counters it must give, computed from the rules as docs/operators.md
states them, independently of lib/group/ and worker/. Used by tests/integration/test_keyed*.py
and tests/powercut/test_keyed_powercut.py.
"""

import collections
import random

AGGS = "count,sum:amount,avg:amount,min:amount,max:amount"


def generate(n, keys, seed, span_ms=200_000, jitter_ms=15_000, late_every=37):
    """Records {user, ts, amount, seq}: event times mostly rising with jitter (out of
    order), every late_every-th record far in the past (late unless lateness covers it),
    some without an amount (counted, not summed)."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        base = 1_700_000_000_000 + i * span_ms // n
        ts = base + rnd.randint(-jitter_ms, jitter_ms)
        if i % late_every == 0 and i > 0:
            ts = base - rnd.randint(30_000, 60_000)
        rec = {"user": f"u{rnd.randrange(keys)}", "ts": ts, "seq": i}
        if i % 11 != 0:
            rec["amount"] = rnd.randint(-50, 1000)
        out.append(rec)
    return out


def windows_of(kind, t, size, adv):
    start = (t // adv) * adv
    wins = []
    while start > t - size:
        wins.append((start, start + size))
        start -= adv
    return wins


def reference(recs, kind, lateness, size=0, adv=0, gap=0):
    """Results {(key, start, end): value} and the late records, in input order."""
    stream_time = {}
    open_w = collections.defaultdict(dict)      # key -> {(start, end): [values]}
    results, late = {}, []

    def closed(key, end):
        return key in stream_time and stream_time[key] >= end + lateness

    for r in recs:
        k, t = r["user"], r["ts"]
        if kind == "session":
            if closed(k, t + gap):
                late.append(r)
                continue
            start, end, vals = t, t + gap, [r]
            for (s, e), v in list(open_w[k].items()):
                if s < t + gap and t < e:
                    start, end = min(start, s), max(end, e)
                    vals = v + vals
                    del open_w[k][(s, e)]
            open_w[k][(start, end)] = sorted(vals, key=lambda x: x["seq"])
        else:
            wins = [w for w in windows_of(kind, t, size, adv) if not closed(k, w[1])]
            if not wins:
                late.append(r)
                continue
            for w in wins:
                open_w[k].setdefault(w, []).append(r)
        stream_time[k] = max(stream_time.get(k, t), t)
        for (s, e) in sorted(open_w[k], key=lambda w: (w[1], w[0])):
            if closed(k, e):
                vals = open_w[k].pop((s, e))
                amounts = [v["amount"] for v in vals if "amount" in v]
                results[(k, s, e)] = {
                    "key": k, "start": s, "end": e, "count": len(vals),
                    "sum": {"amount": sum(amounts)},
                    "avg": {"amount": sum(amounts) / len(amounts) if amounts else None},
                    "min": {"amount": min(amounts) if amounts else None},
                    "max": {"amount": max(amounts) if amounts else None},
                }
    return results, late


def check_windows(got, expected, got_late, late):
    """got: the output stream's records (sink json), got_late: GROUP.late's values. Each
    window exactly once with the reference's value, key and timestamp; each key's results in
    the order its windows closed; the late records exactly the reference's, in offset order
    per key, nothing else in GROUP.late."""
    by_window = collections.Counter((r["value"]["key"], r["value"]["start"], r["value"]["end"])
                                    for r in got)
    dups = [w for w, n in by_window.items() if n > 1]
    assert not dups, f"windows emitted more than once: {dups[:5]}"
    got_map = {(r["value"]["key"], r["value"]["start"], r["value"]["end"]): r for r in got}
    assert set(got_map) == set(expected), (
        f"missing {sorted(set(expected) - set(got_map))[:5]}, "
        f"unexpected {sorted(set(got_map) - set(expected))[:5]}")
    for w, want in expected.items():
        rec = got_map[w]
        assert rec["value"] == want, f"window {w}: {rec['value']} != {want}"
        assert rec["key"] == w[0] and rec["timestamp"] == w[2]
    ends = collections.defaultdict(list)
    for r in got:
        ends[r["value"]["key"]].append((r["value"]["end"], r["value"]["start"]))
    for k, seq in ends.items():
        assert seq == sorted(seq), f"key {k}: results out of order {seq[:10]}"
    # Shares of the key space run in parallel, so late records keep offset order per key only.
    assert sorted(r["seq"] for r in got_late) == sorted(r["seq"] for r in late), (
        f"{len(got_late)} late records, expected {len(late)}")
    assert {r["seq"]: r for r in got_late} == {r["seq"]: r for r in late}
    for k in {r["user"] for r in late}:
        assert ([r["seq"] for r in got_late if r["user"] == k]
                == [r["seq"] for r in late if r["user"] == k]), f"key {k}: late records out of order"


LUA_COUNTER = """
function process(record)
  local v = record.value
  local s = state.get() or {n = 0, total = 0}
  s.n = s.n + 1
  s.total = s.total + (v.amount or 0)
  state.set(s)
  if v.reset then state.set(nil) end
  return {user = v.user, seq = v.seq, n = s.n, total = s.total}
end
"""


def lua_expected(data):
    """What LUA_COUNTER outputs for data when each record counts exactly once, in order."""
    n, total, want = collections.Counter(), collections.Counter(), []
    for v in data:
        n[v["user"]] += 1
        total[v["user"]] += v.get("amount", 0)
        want.append({"user": v["user"], "seq": v["seq"], "n": n[v["user"]],
                     "total": total[v["user"]]})
        if v.get("reset"):
            del n[v["user"]], total[v["user"]]
    return want


def check_lua(got, data):
    """got: the output values of a LUA_COUNTER group over data: each input once, with the
    counters of its key exactly as if nothing had died, in order per key."""
    want = lua_expected(data)
    assert len(got) == len(want), f"{len(got)} outputs for {len(want)} inputs"
    assert sorted(got, key=lambda v: v["seq"]) == want
    for user in set(v["user"] for v in data):
        seqs = [v["seq"] for v in got if v["user"] == user]
        assert seqs == sorted(seqs), f"key {user}: outputs out of order"
