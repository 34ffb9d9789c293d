"""Reader: a stream from a position, then live, gapless (docs/PROTOCOL.md section 6.4)."""

import collections
import datetime
import time

import zmq

from . import _wire as w

IDLE_FETCH_S = 1.0          # FETCH after this long without LIVE


def _seek_args(start):
    """(from, value) for SEEK from a start position."""
    if start in ("beginning", "end"):
        return start, None
    if isinstance(start, datetime.datetime):
        return "time", int(start.timestamp() * 1000)
    if isinstance(start, datetime.timedelta):
        if start <= datetime.timedelta(0):
            raise ValueError("a timedelta start is how long ago: it must be positive")
        return "time", int((time.time() - start.total_seconds()) * 1000)
    if isinstance(start, bool) or not isinstance(start, int):
        raise ValueError(f"start {start!r}: 'beginning', 'end', an offset (int >= 0), the "
                         "last N (negative int), a datetime or a timedelta (that long ago)")
    return ("offset", start) if start >= 0 else ("last", -start)


class Reader:
    """Reads one stream in offset order, each record once, replay then live.

    start: "beginning", "end" (default), an offset, -N (the last N records), a datetime, or
    a timedelta (records appended since that long ago: timedelta(minutes=5)).
    With a name the reader is durable: it starts at its committed position when it has one
    (else at start), and commit() stores its position (everything returned so far)."""

    def __init__(self, broker, stream, start="end", name=None, curve=None, timeout=5.0):
        self.stream = w.check_name("stream", stream)
        self.name = w.check_name("reader", name) if name is not None else None
        self._from, self._value = _seek_args(start)
        self.timeout = timeout
        self.conn = w.Connection(broker, curve=curve)
        self.topic = self.stream.encode() + b"\0"
        self.sub = None
        self.position = 0
        self.at_end = False
        self._connected = False
        self._queue = collections.deque()   # records in hand, in order
        self._caught_up = False
        self._idle_since = time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        while True:
            rec = self.next(timeout=None)
            if rec is not None:
                yield rec

    def close(self):
        if self.sub is not None:
            self.sub.close(0)
        self.conn.close()

    def connect(self, timeout=None):
        timeout = self.timeout if timeout is None else timeout
        self.conn.hello(timeout)
        if self.sub is None:
            # Subscribed before the position is read, so that nothing appended meanwhile
            # is missed by both paths.
            self.sub = self.conn.ctx.socket(zmq.SUB)
            self.sub.setsockopt(zmq.LINGER, 0)
            self.sub.setsockopt(zmq.RCVHWM, 1000)
            self.conn.secure(self.sub)
            self.sub.setsockopt(zmq.SUBSCRIBE, self.topic)
            self.sub.connect(self.conn.pub_endpoint())
        found = False
        if self.name:
            pos = self._seek("committed", None, timeout)
            found = pos.get("found", False)
        if not found:
            pos = self._seek(self._from, self._value, timeout)
        self.position = pos["offset"]
        self._connected = True
        self._caught_up = False
        return self.position

    def _seek(self, frm, value, timeout):
        body = {"stream": self.stream, "from": frm}
        if value is not None:
            body["value"] = value
        if frm == "committed":
            body["reader"] = self.name
        cmd, reply, _ = self.conn.request(w.SEEK, body, timeout)
        if cmd != w.POSITION:
            raise w.ProtocolError(f"SEEK answered with command {cmd}")
        return reply

    def next(self, timeout=None):
        """The next record, or None when none came within timeout seconds (None: forever)."""
        if not self._connected:
            self.connect()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            while self._queue:
                rec = self._queue.popleft()
                if rec.offset < self.position:
                    continue
                if rec.offset > self.position:
                    self._queue.clear()         # a gap: the log fills it
                    self._caught_up = False
                    break
                self.position = rec.offset + 1
                return rec
            if not self._caught_up:
                try:
                    self._fetch()
                except TimeoutError:
                    if deadline is not None and time.monotonic() >= deadline:
                        return None
                continue
            now = time.monotonic()
            wait = IDLE_FETCH_S - (now - self._idle_since)
            if deadline is not None:
                wait = min(wait, deadline - now)
            if wait > 0 and self.sub.poll(int(wait * 1000)):
                self._on_live(self.sub.recv_multipart())
                continue
            now = time.monotonic()
            if now - self._idle_since >= IDLE_FETCH_S:
                self._caught_up = False
            if deadline is not None and now >= deadline:
                return None

    def _fetch(self):
        cmd, body, data = self.conn.request(w.FETCH, {"stream": self.stream,
                                                      "offset": self.position,
                                                      "max_records": 10000}, self.timeout)
        if cmd != w.RECORDS:
            raise w.ProtocolError(f"FETCH answered with command {cmd}")
        self._idle_since = time.monotonic()
        if body.get("offset", 0) > self.position:
            self.position = body["offset"]      # removed by retention before it was read
        if not data:
            self._caught_up = True
            self.at_end = True
            return
        self.at_end = False
        for blob in data:
            self._queue.extend(w.unpack_blob(blob)[2])

    def _on_live(self, frames):
        if not frames or frames[0] != self.topic:
            return
        try:
            cmd, body, data = w.decode(frames[1:])
        except w.ProtocolError:
            return
        if cmd != w.LIVE or len(data) != 2:
            return
        self._idle_since = time.monotonic()
        offset, count = body.get("offset", 0), body.get("count", 0)
        if offset + count <= self.position:
            return
        if offset > self.position:
            self._caught_up = False             # LIVE lost something
            return
        self.at_end = False
        # The stored blob comes as two frames: its header, then its records.
        self._queue.extend(w.unpack_blob(data[0] + data[1])[2])

    def commit(self, timeout=None):
        """Stores the position for the named reader (durable, confirmed)."""
        if not self.name:
            raise ValueError("commit needs a named reader")
        cmd, _, _ = self.conn.request(w.COMMIT, {"stream": self.stream, "reader": self.name,
                                                 "offset": self.position},
                                      self.timeout if timeout is None else timeout)
        if cmd != w.COMMITTED:
            raise w.ProtocolError(f"COMMIT answered with command {cmd}")
