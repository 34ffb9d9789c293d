#!/usr/bin/python3
"""Writes the seed corpora of the libFuzzer targets into tests/fuzz/corpus/<target>/.

The seeds are small, well-formed inputs (plus a few classic hostile ones) that
cover each decoder's paths, so that a bounded run starts from the grammar
rather than from random bytes. Run from anywhere with Debian's Python (it
needs python3-msgpack); it replaces the seed files it owns (seed-*), keeping
any other file (crash reproducers added by hand are named repro-*).
"""

import hashlib
import json
import pathlib
import struct

import msgpack

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"


def pack(v):
    return msgpack.packb(v, use_bin_type=True)


def write(target, seeds):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("seed-*"):
        old.unlink()
    for i, data in enumerate(seeds):
        digest = hashlib.sha1(data).hexdigest()[:10]
        (d / f"seed-{i:02d}-{digest}").write_bytes(data)
    print(f"{target}: {len(seeds)} seeds")


VALUES = [
    None, True, False, 0, 1, -1, 127, 128, -33, 255, 65536, 2**32, 2**63 - 1, -2**63, 2**64 - 1,
    0.5, -0.0, 1e300, float("inf"), "", "hi", "é€😀", "x" * 40, b"", b"\x00\xff",
    [], {}, [1, [2, [3, None]]], {"a": 1, "b": [True, {"c": "d"}]},
    {"id": 17, "name": "order", "items": [{"sku": "A1", "qty": 2}], "total": 12.5},
]
RAW_VALUES = [pack(v) for v in VALUES] + [
    b"\xca\x3f\xc0\x00\x00",                    # float32
    b"\xd4\x01\x7f", b"\xc7\x03\x09abc",        # ext
    b"\x82\x01\xa1a\x92\x01\x02\xa1b",          # non-string keys
    b"\x82\xa1a\x01\xa1a\x02",                  # duplicate keys
    b"\xa3\xff\x00\xfe",                        # str that is not UTF-8
    b"\x91" * 40 + b"\xc0",                     # 40 deep
]


def record(value_raw, ts=1700000000123, key=None, headers=None):
    out = b"\x94" + pack(ts)
    out += b"\xc0" if key is None else pack(key)
    out += b"\xc0" if headers is None else pack(headers)
    return out + value_raw


def batch_seeds():
    seeds = []
    recs = [record(v) for v in RAW_VALUES[:12]]
    seeds.append(bytes([1]) + recs[0])
    seeds.append(bytes([3]) + recs[1] + recs[2] + recs[3])
    seeds.append(bytes([1]) + record(pack({"k": 1}), key="cust-1"))
    seeds.append(bytes([1]) + record(pack("v"), key=b"\x00\x01", headers={"h": "x", "b": b"y"}))
    seeds.append(bytes([2]) + record(pack(1), ts=-5) + record(pack(2), ts=2**62))
    seeds.append(bytes([1]) + record(RAW_VALUES[-1]))
    seeds.append(bytes([0]))
    seeds.append(bytes([2]) + recs[0])                         # count larger than data
    seeds.append(bytes([1]) + recs[0] + recs[1])               # bytes left over
    seeds.append(bytes([1]) + b"\x94\x01\xc0\xc0\xdb\xff\xff\xff\xff")  # lying length
    seeds.append(bytes([1]) + b"\x93\x01\xc0\xc0")             # array of 3
    seeds.append(bytes([1]) + b"\x94\xa1x\xc0\xc0\xc0")        # timestamp not an int
    seeds.append(bytes([1]) + b"\x94\x01\xc0\x91\x01\xc0")     # headers not a map
    for count, base, body in [(1, 0, recs[0]), (3, 1000, recs[4] + recs[5] + recs[6]),
                              (2, 2**63, recs[7] + recs[8]), (0xFFFFFFFF, 5, recs[9])]:
        hdr = struct.pack(">BBHIQq", 1, 0, 0, count, base, 1700000000000)
        seeds.append(hdr + body)
    seeds.append(struct.pack(">BBHIQq", 2, 0, 0, 1, 0, 0) + recs[0])     # version 2
    seeds.append(struct.pack(">BBHIQq", 1, 1, 0, 1, 0, 0) + recs[0])     # flags set
    seeds.append(struct.pack(">BBHIQq", 1, 0, 0, 1, 0, 0)[:20])           # short header
    return seeds


def frames(*parts):
    out = b""
    for p in parts:
        out += struct.pack(">H", len(p)) + p
    return out


def hdr(cmd, version=1):
    return bytes([0x53, 0x4C, version, cmd])


def proto_seeds():
    rec = record(pack({"a": 1}))
    blob = struct.pack(">BBHIQq", 1, 0, 0, 1, 0, 1700000000000) + rec
    msgs = [
        (0x01, {"req": 1, "client": "sluice-source/0.1.0"}),
        (0x02, {"req": 1, "pub": "tcp://*:7601", "seq": 0, "heartbeat_ms": 1000,
                "max_batch_bytes": 16 << 20, "max_batch_records": 65536, "max_depth": 512,
                "broker": "sluice-broker/0.1.0"}),
        (0x03, {"stream": "orders", "producer": "p1", "seq": 1, "count": 1}, rec),
        (0x04, {"stream": "orders", "producer": "p1", "seq": 1, "count": 1, "offset": 0}),
        (0x05, {"req": 2, "stream": "orders", "from": "beginning"}),
        (0x05, {"req": 2, "stream": "orders", "from": "committed", "reader": "r1"}),
        (0x05, {"req": 2, "stream": "orders", "from": "time", "value": 1700000000000}),
        (0x06, {"req": 2, "stream": "orders", "offset": 0, "first": 0, "next": 10,
                "found": True}),
        (0x07, {"req": 3, "stream": "orders", "offset": 0, "max_records": 100,
                "max_bytes": 1 << 20}),
        (0x08, {"req": 3, "stream": "orders", "offset": 0, "first": 0, "next": 1}, blob),
        (0x09, {"req": 4, "stream": "orders", "reader": "r1", "offset": 5}),
        (0x0A, {"req": 4, "stream": "orders", "reader": "r1", "offset": 5}),
        (0x0B, {"req": 5}),
        (0x0C, {"req": 5, "streams": [{"name": "orders", "first": 0, "next": 10,
                                       "records": 10, "bytes": 1234, "last_ms": 1700000000000}]}),
        (0x0D, {"req": 6}),
        (0x0E, {"req": 6}),
        (0x0F, {"req": 7, "code": 3, "text": "malformed frame", "seq": 4}),
        (0x10, {"stream": "orders", "offset": 0, "count": 1, "next": 1}, blob),
        (0x11, {"req": 8, "group": "g", "in": "orders", "out": "enriched", "member": "w1",
                "window": 4, "batch": 100, "max_deliver": 5, "lease_ms": 30000,
                "from": "beginning"}),
        (0x12, {"req": 8, "group": "g", "in": "orders", "out": "enriched"}),
        (0x13, {"group": "g", "lease": 1, "offset": 0, "count": 1, "attempt": 1}, blob),
        (0x14, {"group": "g", "lease": 1, "offset": 0, "count": 1, "out_count": 1,
                "failed": [[0, "boom"], [0, "dead", True]]}, rec),
        (0x15, {"group": "g", "member": "w1"}),
    ]
    seeds = [frames(hdr(m[0]), pack(m[1]), *m[2:]) for m in msgs]
    seeds += [
        frames(b"XX\x01\x0b", pack({"req": 1})),
        frames(hdr(0x0B, 2), pack({"req": 1})),
        frames(hdr(0x7F), pack({"req": 1})),
        frames(hdr(0x0B), b"\xdf\xff\xff\xff\xff"),
        frames(hdr(0x0B), b"\x82\xa3req\x07\xa1x" + b"\x91" * 100 + b"\xc0"),
        frames(hdr(0x03), pack({"stream": "s", "producer": "p", "seq": 1, "count": 2}), rec),
    ]
    return seeds


def json_seeds():
    texts = [json.dumps(v) for v in VALUES if not isinstance(v, (bytes, float)) or v == 0.5]
    texts += [
        "1e999", "-0", "0.1", "1E-7", "123456789012345678901234567890", "18446744073709551615",
        "-9223372036854775808", '"\\u0000"', '"\\ud83d\\ude00"', '"\\ud800"', '"\\/\\b\\f\\n"',
        '{"a":1,"a":2}', "[1,2,]", "[01]", "NaN", "  [ true , null ]  ", "[" * 600 + "]" * 600,
        '{"$bin":"AAE="}', '"\xc3\xa9"', '{"k":[{"x":{"y":[1.5e10,-2,{}]}}]}',
    ]
    return [t.encode("utf-8", "surrogatepass") for t in texts]


def mp_seeds():
    return RAW_VALUES + [b"\xdb\xff\xff\xff\xffabc", b"\xdd\xff\xff\xff\xff", b"\xc1",
                        b"\x91" * 1100 + b"\xc0", pack({"a": 1}) + b"\xc0"]


def group_seeds():
    base = {"v": 1, "in": "orders", "out": "enriched", "max_deliver": 5, "lease_ms": 30000}
    states = [
        dict(base, checkpoint=0, done=[], attempts=[]),
        dict(base, checkpoint=100, done=[[150, 200], [300, 301]], attempts=[[100, 2, "boom"]]),
        dict(base, checkpoint=2**63, done=[[2**63 + 5, 2**63 + 9]], attempts=[]),
        dict(base, checkpoint=7, done=[], attempts=[[7, 4, "x" * 200], [9, 1, ""]]),
        dict(base, max_deliver=1, checkpoint=0, done=[[1, 2]], attempts=[[0, 1, "e"]]),
        dict(base, checkpoint=10, done=[[5, 20]], attempts=[]),               # below checkpoint
        dict(base, checkpoint=10, done=[[30, 20]], attempts=[]),              # reversed
        dict(base, checkpoint=10, done=[[12, 20], [15, 25]], attempts=[]),    # overlapping
        dict(base, v=2, checkpoint=0, done=[], attempts=[]),
    ]
    seeds = [pack(s) for s in states]
    seeds.append(pack(base))
    seeds.append(b"\x86\xa1v\x01" + b"\xa8attempts\xdd\xff\xff\xff\xff")
    return seeds


def pipeline_seeds():
    texts = [
        "broker:\n  data: ./data\n  listen: tcp://127.0.0.1:7600\n"
        "sources:\n  - name: orders\n    stream: orders\n    files: [orders.jsonl]\n"
        "sinks:\n  - name: out\n    stream: enriched\n    from: beginning\n    output: out.jsonl\n"
        "groups:\n  - name: enrich\n    in: orders\n    out: enriched\n    members: 2\n"
        "    lua: enrich.lua\n",
        "broker: {}\nsources:\n  - {name: gen, stream: s, generate: 100, rate: 10}\n"
        "sinks:\n  - {name: tail, stream: s, exit-at-end: true, format: value}\n",
        "broker:\n  retain-age: 7d\n  stream-retention: ['a.*:age=1h', 'b:bytes=1G']\n",
        "sources:\n  - name: stdin\n    stream: s\n    files: ['-']\n",
        "a: &x [1, 2]\nb: *x\n",
        "broker:\n  data: [[[[[[[[[[1]]]]]]]]]]\n",
        "- just\n- a\n- list\n",
        "broker:\n  listen: \"tcp://0.0.0.0:9000\"\n  fsync: true\n"
        "groups:\n  - name: f\n    in: a\n    out: b\n    filter: 'value.x > 1'\n"
        "    option: [k=v, 'x=y z']\n",
        "%YAML 1.1\n---\nbroker: {data: \"d\\u00e9\"}\n...\n",
        "sinks:\n  - name: n\n    stream: s\n    count: 10\n    output: o.txt\n    append: true\n"
        "    name: dup\n",
    ]
    return [t.encode() for t in texts]


if __name__ == "__main__":
    write("fuzz_batch", batch_seeds())
    write("fuzz_proto", proto_seeds())
    write("fuzz_json", json_seeds())
    write("fuzz_mp_json", mp_seeds())
    write("fuzz_lua", mp_seeds())
    write("fuzz_group", group_seeds())
    write("fuzz_pipeline", pipeline_seeds())
