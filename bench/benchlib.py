"""What the benchmark scripts share (bench/edges.py, bench/keyed.py): a free port pair and a
broker started on a temporary data directory, asked for its streams with LIST
(docs/PROTOCOL.md §10). Every process is started here and ended by PID."""
import random
import signal
import socket
import subprocess
import time

import msgpack
import zmq

LIST, STREAMS = 0x0B, 0x0C


def free_port():
    """A free port whose successor (the broker's live feed) is free too."""
    rnd = random.Random()
    while True:
        port = rnd.randrange(20000, 40000)
        try:
            for p in (port, port + 1):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue


class Broker:
    """sluice-broker from BUILD on TMP/data, quiet, its log in TMP/broker.log."""

    def __init__(self, build, tmp):
        self.port = free_port()
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(build / "broker" / "sluice-broker"), "--data", str(tmp / "data"), "--listen",
             self.endpoint, "--quiet"], stderr=open(tmp / "broker.log", "w"))
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.endpoint)
        self.req = 0
        deadline = time.monotonic() + 20
        while self.streams() is None:
            if time.monotonic() > deadline:
                raise SystemExit("broker did not answer")

    def streams(self):
        """{name: stream entry} from LIST, or None when the broker does not answer in 1 s."""
        self.req += 1
        self.sock.send_multipart([bytes([0x53, 0x4C, 1, LIST]), msgpack.packb({"req": self.req})])
        while self.sock.poll(1000):
            frames = self.sock.recv_multipart()
            reply = msgpack.unpackb(frames[1], raw=False)
            if frames[0][3] == STREAMS and reply.get("req") == self.req:
                return {s["name"]: s for s in reply["streams"]}
        return None

    def stream(self, name):
        return (self.streams() or {}).get(name, {"next": 0, "bytes": 0, "records": 0})

    def next(self, name):
        return self.stream(name)["next"]

    def stop(self):
        self.sock.close(0)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
