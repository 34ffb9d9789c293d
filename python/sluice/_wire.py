"""The wire of SLP/1 (docs/PROTOCOL.md): framing, records, stored blobs and one connection.

Everything read from the broker is bounded before it is decoded: a body over SL_MAX_BODY,
a header that is not "SL" version 1, or msgpack whose lengths pass the frame is an error
(ProtocolError) and is skipped by the caller, never trusted."""

import os
import struct
import time

import msgpack
import zmq

VERSION = 1
MAX_BODY = 1 << 20
MAX_NAME = 200
BLOB_HEADER = struct.Struct(">BBHIQq")      # version, flags, reserved, count, base, append_ms

HELLO, WELCOME, PUBLISH, CONFIRM = 0x01, 0x02, 0x03, 0x04
SEEK, POSITION, FETCH, RECORDS = 0x05, 0x06, 0x07, 0x08
COMMIT, COMMITTED, LIST, STREAMS = 0x09, 0x0A, 0x0B, 0x0C
PING, PONG, ERROR, LIVE = 0x0D, 0x0E, 0x0F, 0x10
JOIN, JOINED, WORK, RESULT, LEAVE = 0x11, 0x12, 0x13, 0x14, 0x15

# docs/PROTOCOL.md section 9: (name, retryable)
ERRORS = {
    1: ("ENOMEM", True), 2: ("EINVAL", False), 3: ("EPROTO", False), 4: ("EVERSION", False),
    5: ("ECOMMAND", False), 6: ("ETOOBIG", False), 7: ("EDEPTH", False), 8: ("ETRUNC", False),
    9: ("EIO", True), 10: ("ENOSPC", True), 11: ("ESTORE", True), 12: ("ENOTFOUND", False),
    13: ("ESEQ", True), 14: ("ETIMEOUT", True), 15: ("EJSON", False), 16: ("ERANGE", False),
    17: ("ENAME", False), 18: ("EAGAIN", True), 19: ("ECLOSED", True), 20: ("EMAPFULL", True),
    21: ("ETYPE", False), 22: ("ESTATE", False), 23: ("EDENIED", False), 24: ("EBUSY", True),
    25: ("ELIMIT", False), 26: ("EREADONLY", True), 27: ("EEPOCH", False),
    28: ("ECORRUPT", False), 29: ("ELOCKED", False), 30: ("ENOREPLICA", True),
}
ESEQ, ESTATE, ENOTFOUND = 13, 22, 12
EREADONLY, ENOREPLICA = 26, 30


class SluiceError(Exception):
    """The broker refused a request: code (docs/PROTOCOL.md section 9) and its text."""

    def __init__(self, code, text):
        name = ERRORS.get(code, ("E?", False))[0]
        super().__init__(f"{text} ({name} {code})")
        self.code = code
        self.text = text

    @property
    def retryable(self):
        return ERRORS.get(self.code, ("", False))[1]


class ProtocolError(Exception):
    """A message from the broker that does not follow docs/PROTOCOL.md."""


def valid_name(name):
    """Stream, producer, reader, group and member names (docs/PROTOCOL.md section 3)."""
    if not isinstance(name, str) or not 1 <= len(name.encode()) <= MAX_NAME:
        return False
    if name.startswith("."):
        return False
    return all(c.isascii() and (c.isalnum() or c in "._-") for c in name)


def check_name(what, name):
    if not valid_name(name):
        raise ValueError(f"invalid {what} name {name!r}: 1-200 of [A-Za-z0-9._-], "
                         "not starting with '.'")
    return name


def encode(cmd, body, *data):
    return [bytes([0x53, 0x4C, VERSION, cmd]), msgpack.packb(body, use_bin_type=True), *data]


def decode(frames):
    """(cmd, body, data frames) of a message from the broker; ProtocolError if malformed."""
    if len(frames) < 2:
        raise ProtocolError(f"{len(frames)} frames")
    head, raw = frames[0], frames[1]
    if len(head) != 4 or head[:2] != b"SL" or head[2] != VERSION:
        raise ProtocolError(f"bad header {bytes(head[:4])!r}")
    if len(raw) > MAX_BODY:
        raise ProtocolError("body over 1 MiB")
    # An Unpacker bounded by the frame's size: a length that claims more than the frame
    # holds fails before anything is reserved for it.
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False,
                                max_buffer_size=max(len(raw), 1))
    try:
        unpacker.feed(raw)
        body = unpacker.unpack()
    except Exception as exc:        # msgpack raises several types for bad input
        raise ProtocolError(f"body: {exc}") from None
    if unpacker.tell() != len(raw):
        raise ProtocolError("bytes after the body")
    if not isinstance(body, dict):
        raise ProtocolError("body is not a map")
    return head[3], body, frames[2:]


class Record:
    """One record: offset, timestamp (ms), key (bytes or str or None), headers, value."""

    __slots__ = ("offset", "timestamp", "key", "headers", "value")

    def __init__(self, offset, timestamp, key, headers, value):
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.headers = headers
        self.value = value

    def __repr__(self):
        return (f"Record(offset={self.offset}, timestamp={self.timestamp}, key={self.key!r}, "
                f"headers={self.headers!r}, value={self.value!r})")


def pack_record(value, key=None, headers=None, timestamp=None):
    if key is not None and not isinstance(key, (bytes, str)):
        raise TypeError("key must be str, bytes or None")
    if headers is not None:
        if not isinstance(headers, dict) or not all(
                isinstance(k, str) and isinstance(v, (str, bytes)) for k, v in headers.items()):
            raise TypeError("headers must be a dict of str -> str|bytes")
    ts = int(time.time() * 1000) if timestamp is None else int(timestamp)
    return msgpack.packb([ts, key, headers, value], use_bin_type=True)


def unpack_batch(data, count, base):
    """The count records of a batch whose first has offset base; ProtocolError if malformed."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False,
                                max_buffer_size=max(len(data), 1))
    unpacker.feed(data)
    out = []
    try:
        for i in range(count):
            rec = unpacker.unpack()
            if not isinstance(rec, list) or len(rec) != 4 or not isinstance(rec[0], int):
                raise ProtocolError(f"record {base + i} is not [timestamp, key, headers, value]")
            out.append(Record(base + i, rec[0], rec[1], rec[2], rec[3]))
    except msgpack.OutOfData:
        raise ProtocolError("batch truncated") from None
    except ProtocolError:
        raise
    except Exception as exc:
        raise ProtocolError(f"batch: {exc}") from None
    if unpacker.tell() != len(data):
        raise ProtocolError("bytes after the last record")
    return out


def unpack_blob(blob):
    """(base offset, append_ms, records) of a stored blob (docs/PROTOCOL.md section 4)."""
    if len(blob) < BLOB_HEADER.size:
        raise ProtocolError("blob shorter than its header")
    version, flags, reserved, count, base, append_ms = BLOB_HEADER.unpack_from(blob)
    if version != 1 or flags or reserved or count == 0:
        raise ProtocolError("bad blob header")
    return base, append_ms, unpack_batch(memoryview(blob)[BLOB_HEADER.size:].tobytes(), count,
                                         base)


def load_curve(curve_secret, broker_key):
    """(public, secret, server public) from `sluice keygen` files (ZPL certificates)."""
    import zmq.auth
    public, secret = zmq.auth.load_certificate(curve_secret)
    if not secret:
        raise ValueError(f"{curve_secret} holds no secret key")
    server, _ = zmq.auth.load_certificate(broker_key)
    return public, secret, server


class Connection:
    """A DEALER to the broker's command address with ZMTP heartbeats and a monitor, so that
    a reconnect (a restarted broker) is seen at once (`connects` changes)."""

    FAILOVER_S = 3.0    # with several endpoints: unreachable this long, try the next

    def __init__(self, broker, curve=None, ctx=None):
        # One endpoint, or several separated by commas (a primary and its replicas,
        # docs/replication.md): the first is tried first, the one that writes is found.
        endpoints = broker.split(",") if isinstance(broker, str) else [None]
        if not 1 <= len(endpoints) <= 8 or not all(
                isinstance(e, str) and e.startswith(("tcp://", "ipc://")) for e in endpoints):
            raise ValueError(f"broker {broker!r}: expected tcp://HOST:PORT[,tcp://HOST:PORT...]")
        self.endpoints = endpoints
        self.current = 0
        self.broker = endpoints[0]
        self.connected = False
        self.trying_since = time.monotonic()
        self.ctx = ctx or zmq.Context.instance()
        self.curve = curve
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        self.sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
        self.sock.setsockopt(zmq.HEARTBEAT_TTL, 3000)
        self.secure(self.sock)
        self.monitor = self.sock.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
            | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
        self.connects = 0
        self.refused = None
        self.req = 0
        self.welcome = None
        self.sock.connect(self.broker)

    def secure(self, sock):
        if self.curve:
            public, secret, server = self.curve
            sock.curve_publickey = public
            sock.curve_secretkey = secret
            sock.curve_serverkey = server

    def close(self):
        try:
            self.sock.disable_monitor()
        except zmq.ZMQError:
            pass
        self.monitor.close(0)
        self.sock.close(0)

    def events(self):
        """Reads connection events; returns the number of completed handshakes so far."""
        from zmq.utils.monitor import recv_monitor_message
        if (len(self.endpoints) > 1 and not self.connected
                and time.monotonic() - self.trying_since >= self.FAILOVER_S):
            self.failover()
        while self.monitor.poll(0):
            event = recv_monitor_message(self.monitor)["event"]
            if event == zmq.EVENT_DISCONNECTED:
                self.connected = False
                self.trying_since = time.monotonic()
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.connects += 1
                self.connected = True
                self.refused = None
            elif event in (zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL):
                self.refused = ("our key is not in its allow list"
                                if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH
                                else "CURVE handshake failed (keys, or CURVE on one side only)")
        return self.connects

    def failover(self):
        """Leaves the endpoint in use for the next one (a replica, or one unreachable):
        callers see the new connection in `connects` and resend, as after a restart."""
        if len(self.endpoints) < 2:
            return
        try:
            self.sock.disconnect(self.broker)
        except zmq.ZMQError:
            pass
        self.current = (self.current + 1) % len(self.endpoints)
        self.broker = self.endpoints[self.current]
        self.connected = False
        self.welcome = None
        self.trying_since = time.monotonic()
        self.sock.connect(self.broker)

    def next_req(self):
        self.req += 1
        return self.req

    def send(self, cmd, body, *data):
        """Sends without blocking; False when the high-water mark refused it."""
        try:
            self.sock.send_multipart(encode(cmd, body, *data), flags=zmq.NOBLOCK, copy=False)
            return True
        except zmq.Again:
            return False

    def recv(self, timeout):
        """(cmd, body, data) or None after timeout seconds; malformed replies are skipped."""
        deadline = time.monotonic() + max(timeout, 0)
        first = True
        while True:
            left = deadline - time.monotonic()
            if left < 0 and not first:
                return None         # a flood of garbage does not hold us past the deadline
            first = False
            if not self.sock.poll(max(int(left * 1000), 0)):
                return None
            frames = self.sock.recv_multipart(copy=True)
            try:
                cmd, body, data = decode(frames)
            except ProtocolError:
                continue
            if len(self.endpoints) > 1 and (
                    (cmd == ERROR and body.get("code") in (EREADONLY, ENOREPLICA))
                    or (cmd == WELCOME and "(replica)" in str(body.get("broker", "")))):
                self.failover()     # a read-only replica: the writer is another endpoint
                if cmd == WELCOME:
                    continue
            if cmd == WELCOME:
                self.welcome = body
            return cmd, body, data

    def request(self, cmd, body, timeout):
        """Sends body with a fresh req and waits for its reply, resending every 5 s and at
        once after a reconnect. Raises SluiceError for an ERROR, TimeoutError at timeout."""
        req = self.next_req()
        body = dict(body, req=req)
        deadline = time.monotonic() + timeout
        connects = self.events()
        while True:
            self.send(cmd, body)
            attempt_end = min(deadline, time.monotonic() + 5)
            while time.monotonic() < attempt_end:
                reply = self.recv(min(0.1, max(attempt_end - time.monotonic(), 0)))
                if reply is not None and reply[1].get("req") == req:
                    if reply[0] == ERROR:
                        raise SluiceError(reply[1].get("code", 3), reply[1].get("text", ""))
                    return reply
                now_connects = self.events()
                if now_connects != connects:
                    connects = now_connects
                    break
            if time.monotonic() >= deadline:
                why = f": refused, {self.refused}" if self.refused else ""
                raise TimeoutError(f"no answer from broker {self.broker} in {timeout:g} s{why}")

    def hello(self, timeout, producer=None, stream=None):
        body = {"client": "sluice-python/0.1.0"}
        if producer and stream:
            body.update(producer=producer, stream=stream)
        cmd, reply, _ = self.request(HELLO, body, timeout)
        if cmd != WELCOME:
            raise ProtocolError(f"HELLO answered with command {cmd}")
        return reply

    def pub_endpoint(self):
        """The live endpoint from WELCOME, with a "*" host replaced by the broker's."""
        pub = self.welcome["pub"]
        if pub.startswith("tcp://*:"):
            host = self.broker[len("tcp://"):].rsplit(":", 1)[0]
            pub = f"tcp://{host}:{pub[len('tcp://*:'):]}"
        return pub


def random_name(prefix):
    return f"{prefix}-{os.urandom(6).hex()}"
