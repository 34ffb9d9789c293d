"""The report of bench/run: Markdown tables and gnuplot plots from its results.

    bench/report.py [bench/out/results.json]    # prints the Markdown again

Medians of the repetitions, the spread as min-max, and the ratios against
Sluice, computed only from what was measured: a failed run is shown as
failed, never as a number.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

BEGIN = "<!-- bench:begin (written by bench/run; edit outside these markers) -->"
END = "<!-- bench:end -->"
NAMES = {
    "sluice": "Sluice (durable, default)",
    "sluice-fsync": "Sluice `--fsync`",
    "sluice-group": "Sluice through a worker group",
    "zmq-chain": "raw ZeroMQ chain",
    "batch-chain": "bare batched prototype (B = 1,024, both commits, no fsync)",
    "redis": "Redis Streams, no persistence",
    "redis-aof": "Redis Streams, AOF everysec",
}


def num(x):
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def summary(rows, key="records_per_s"):
    """(median, min, max, runs) over the rows that succeeded."""
    ok = [r[key] for r in rows if r.get("ok", True) and r.get(key)]
    if not ok:
        return None
    return statistics.median(ok), min(ok), max(ok), ok


def cell(s):
    if not s:
        return "failed"
    return num(s[0])


def spread(s):
    if not s:
        return "–"
    return f"{num(s[1])} – {num(s[2])}"


def ratio(a, b):
    if not a or not b:
        return "–"
    return f"{a[0] / b[0]:.1f}×"


def pick(rows, **match):
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def table(title, text, header, lines):
    """A report section: its title, what was run, and a Markdown table."""
    return [title, "", text, "", "| " + " | ".join(header) + " |", "|---" * len(header) + "|",
            *lines, ""]


def scaling_table(rows, key, title, text):
    """Aggregate records/s against a count (streams, groups): median and spread."""
    if not rows:
        return []
    lines = []
    for k in sorted({r[key] for r in rows}):
        s = summary(pick(rows, **{key: k}))
        lines.append(f"| {k} | {cell(s)} | {spread(s)} |")
    return table(title, text, [key, "records/s in all (median)", "spread"], lines)


def markdown(machine, results):
    m = machine
    out = [BEGIN, "",
           f"### Run of {m['date']} (`{m['command']}`)", "",
           f"Machine: {m['cores']} cores ({m['cpu']}), {m['mem_gib']} GiB, Linux {m['kernel']}; "
           f"commit {m['commit']}; redis-server {m.get('redis', '?')}. Load average before "
           f"{' '.join(m['load_before'])}, after {' '.join(m.get('load_after', []))}; "
           f"{m.get('minutes', '?')} minutes in all.", ""]
    e2e = results.get("e2e", [])
    if e2e:
        out += ["#### End to end: source → broker → worker → broker → sink, 100-byte records",
                "",
                "Sluice: `sluice-source --format msgpack FILE` → `sluice-broker` (every batch "
                "committed to LMDB before it is confirmed or leased) → `sluice-worker` "
                "(pass-through) → `sluice-broker` (committed again) → `sluice-sink --count N`, "
                "five processes, timed from the source's start to the sink's exit. Baselines in "
                "the same run, interleaved: `bench/zmq-chain` (one ZeroMQ message per record, "
                "the same 4 hops, nothing durable), `bench/batch-chain` (the bare batched "
                "prototype: Sluice's layout, 1,024 records a message, both broker passes "
                "committed to LMDB before forwarding, no fsync, no protocol) and "
                "`bench/redis-chain` (XADD → XREADGROUP/"
                "XACK + XADD → XREAD, pipelined, against `redis-server` on loopback).", "",
                "| members | system | records/s (median) | spread | runs | Sluice ÷ system |",
                "|---|---|---|---|---|---|"]
        for members in sorted({r["members"] for r in e2e}):
            base = summary(pick(e2e, system="sluice", members=members))
            for system in ("sluice", "sluice-fsync", "batch-chain", "zmq-chain", "redis",
                           "redis-aof"):
                rows = pick(e2e, system=system, members=members)
                if not rows:
                    continue
                s = summary(rows)
                out.append(f"| {members} | {NAMES[system]} | {cell(s)} | {spread(s)} | "
                           f"{len(rows)} | {ratio(base, s) if system != 'sluice' else ''} |")
        out += ["", "Memory (MiB, median over runs, one member): each process's peak RSS, and the "
                "broker's anonymous memory at the end: the rest of the broker's RSS is LMDB's map "
                "of the log (file pages it read back, which the kernel can drop).", "",
                "| system | process | MiB |", "|---|---|---|"]
        for system in ("sluice", "sluice-fsync", "redis", "redis-aof"):
            rows = pick(e2e, system=system, members=1)
            procs = sorted({p for r in rows for p in r.get("rss_kib", {})})
            for p in procs:
                v = [r["rss_kib"][p] for r in rows if r.get("rss_kib", {}).get(p)]
                if v:
                    out.append(f"| {NAMES[system]} | {p} | {statistics.median(v) / 1024:.1f} |")
        out.append("")
    size = results.get("size", [])
    if size:
        systems = [s for s in ("sluice", "zmq-chain", "redis", "redis-aof")
                   if pick(size, system=s)]
        lines = []
        for sz in sorted({r["size"] for r in size}):
            sums = {s: summary(pick(size, system=s, size=sz)) for s in systems}
            cells = [f"{cell(sums[s])} ({sums[s][0] * sz / 1e6:.0f})" if sums[s] else "failed"
                     for s in systems]
            lines.append(f"| {sz} | " + " | ".join(cells) + f" | "
                         f"{ratio(sums.get('sluice'), sums.get('zmq-chain'))} | "
                         f"{ratio(sums.get('sluice'), sums.get('redis'))} | "
                         f"{ratio(sums.get('sluice'), sums.get('redis-aof'))} |")
        out += table("#### Throughput against record size (end to end, one member)",
                     "Records/s, median of the runs (MB/s of values in brackets); the ratios are "
                     "Sluice's median over the baseline's. Plot: `docs/bench/size.png`.",
                     ["size B", *(NAMES[s] for s in systems), "÷ ZeroMQ", "÷ Redis",
                      "÷ Redis AOF"], lines)
    lat = results.get("latency", [])
    if lat:
        lines = []
        for rate in sorted({r["rate"] for r in lat}):
            for r in pick(lat, rate=rate):
                got = f"{num(r['received'])} of {num(r['sent'])}"
                lines.append(f"| {rate:,} | {NAMES[r['system']]} | {num(r['p50'])} | "
                             f"{num(r['p90'])} | {num(r['p99'])} | {num(r['p99.9'])} | "
                             f"{num(r['max'])} | {got} |")
        out += table("#### Latency at a fixed rate (record created → delivered to the sink)",
                     "Sluice: `sluice-bench latency` publishes at the rate with the source's "
                     "batching rule (a batch goes at once when nothing is unconfirmed, else when "
                     "full or after the 5 ms linger) and reads the records back live; 'through a "
                     "worker group' adds a pass-through `sluice-worker` and a second commit. "
                     "Baselines timed the same way, same run, over their four hops: compare them "
                     "with Sluice through a worker group (four hops too); plain Sluice is source "
                     "→ broker → sink, two hops. One run each. Plot: `docs/bench/latency-cdf.png`.",
                     ["rate/s", "system", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs",
                      "received"], lines)
    ing = results.get("ingest", [])
    if ing:
        lines = []
        for what in ("ingest", "replay"):
            for mode in ("default", "fsync"):
                rows = pick(ing, what=what, durability=mode)
                s = summary(rows)
                lines.append(f"| {what} | {mode} | {cell(s)} | {spread(s)} | {len(rows)} |")
        out += table("#### Confirmed ingest and replay",
                     "`sluice-bench ingest` (batches of 1,000 100-byte records, 16 in flight, "
                     "timed to the last CONFIRM) and `sluice-bench replay` (FETCH from offset 0, "
                     "every record walked, as a discarding sink).",
                     ["what", "durability", "records/s (median)", "spread", "runs"], lines)
    out += scaling_table(
        results.get("streams", []), "streams",
        "#### Against the number of streams (confirmed ingest, all at once)",
        "K `sluice-bench ingest` processes, each into its own stream, one broker.")
    out += scaling_table(
        results.get("groups", []), "groups",
        "#### Against the number of groups (one stream read by G groups)",
        "N records stored in `in`; G groups of one pass-through worker each copy it to their "
        "own output; records/s counts every record every group delivered.")
    rss = results.get("rss", [])
    if rss:
        lines = [f"| {r['stored']:,} | {r['after']} | {r.get('VmRSS', 0) / 1024:.1f} | "
                 f"{r.get('RssAnon', 0) / 1024:.1f} | {r.get('RssFile', 0) / 1024:.1f} | "
                 f"{r.get('VmHWM', 0) / 1024:.1f} | {r['data_mib']} |" for r in rss]
        out += table("#### Broker memory against records stored",
                     "One broker, 100-byte records ingested a tenth at a time, then replayed "
                     "from offset 0. RSS from `/proc/PID/status`: anonymous memory is the "
                     "broker's own; file pages are LMDB's map, which the kernel can drop at will.",
                     ["records stored", "after", "RSS MiB", "anon MiB", "file MiB", "peak MiB",
                      "data on disk MiB"], lines)
    out.append(END)
    return "\n".join(out) + "\n"


def splice(path, md):
    """Puts md between the markers of path (appends the markers if missing)."""
    with open(path) as f:
        text = f.read()
    if BEGIN in text and END in text:
        head = text[:text.index(BEGIN)]
        tail = text[text.index(END) + len(END):]
        text = head + md.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + md
    with open(path, "w") as f:
        f.write(text)


def plots(results, outdir):
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        script = ['set terminal pngcairo size 900,560 font "sans,11"', "set grid",
                  "set key top right"]
        size = results.get("size", [])
        if size:
            lines = []
            for s in ("sluice", "zmq-chain", "redis", "redis-aof"):
                pts = []
                for sz in sorted({r["size"] for r in size}):
                    v = summary(pick(size, system=s, size=sz))
                    if v:
                        pts.append(f"{sz} {v[0]}")
                if pts:
                    data = os.path.join(tmp, f"size-{s}.dat")
                    with open(data, "w") as f:
                        f.write("\n".join(pts) + "\n")
                    lines.append(f"'{data}' using 1:2 with linespoints lw 2 "
                                 f"title '{NAMES[s].replace('`', '')}'")
            script += [f"set output '{os.path.join(outdir, 'size.png')}'",
                       "set title 'End-to-end throughput against record size (same run)'",
                       "set logscale xy", "set xlabel 'record size (bytes)'",
                       "set ylabel 'records/s'", "set format y '%.0s%c'",
                       "plot " + ", ".join(lines), "unset logscale", "set format y"]
        lat = [r for r in results.get("latency", []) if r.get("rate") == 10000 and r.get("cdf")]
        if lat:
            lines = []
            for r in lat:
                data = os.path.join(tmp, f"cdf-{r['system']}.dat")
                with open(data, "w") as f:
                    f.write("\n".join(f"{a} {b}" for a, b in r["cdf"]) + "\n")
                lines.append(f"'{data}' using 1:2 with lines lw 2 "
                             f"title '{NAMES[r['system']].replace('`', '')}'")
            script += [f"set output '{os.path.join(outdir, 'latency-cdf.png')}'",
                       "set title 'Latency CDF at 10,000 records/s (same run)'",
                       "set key bottom right", "set logscale x",
                       "set xlabel 'latency (µs), record created → delivered'",
                       "set ylabel 'fraction of records'", "set yrange [0:1]",
                       "plot " + ", ".join(lines)]
        gp = os.path.join(tmp, "plots.gp")
        with open(gp, "w") as f:
            f.write("\n".join(script) + "\n")
        subprocess.run(["gnuplot", gp], check=True)


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "out",
                                                              "results.json")
    with open(path) as f:
        d = json.load(f)
    print(markdown(d["machine"], d["results"]))
