"""Producer: confirmed publishing, exactly once (docs/PROTOCOL.md section 6.1)."""

import collections
import time

from . import _wire as w

WINDOW = 16                 # unconfirmed batches in flight
BATCH_RECORDS = 1000
BATCH_BYTES = 1 << 20
RESEND_S = 5.0              # resend what is unconfirmed after this long without progress


class Producer:
    """Publishes records to one stream.

    Record n sent by a Producer (counting from 1) has sequence n. With a name, the broker
    keeps, per (name, stream), the highest sequence it holds and drops resends, so a program
    that restarts and sends its input again from the start stores every record once; `acked`
    (after connect) says how many the broker already holds, so it may skip them instead.
    Without a name a random one is used: resends within this object are still deduplicated.
    """

    def __init__(self, broker, stream, name=None, curve=None, timeout=5.0):
        self.stream = w.check_name("stream", stream)
        self.named = name is not None
        self.name = w.check_name("producer", name) if name is not None else w.random_name("py")
        self.timeout = timeout
        self.conn = w.Connection(broker, curve=curve)
        self.acked = 0
        self.sent = 0               # sequence of the last record added
        self.confirmed = 0          # the broker's cumulative confirm
        self.max_bytes = BATCH_BYTES
        self.max_records = BATCH_RECORDS
        self._open = []             # packed records of the batch being filled
        self._open_bytes = 0
        self._pending = collections.deque()     # (seq, count, data)
        self._progress = time.monotonic()
        self._connects = 0
        self._hello = False
        self._eseq = (0, 0.0)
        self._failed = None

    # -- context manager
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.conn.close()

    def connect(self, timeout=None):
        """HELLO: learns the limits and, for a named producer, `acked`. Returns acked."""
        welcome = self.conn.hello(self.timeout if timeout is None else timeout,
                                  producer=self.name if self.named else None,
                                  stream=self.stream)
        if not self._hello:
            self.acked = welcome.get("seq", 0) if self.named else 0
        self.max_bytes = min(self.max_bytes, welcome.get("max_batch_bytes") or self.max_bytes)
        self.max_records = min(self.max_records,
                               welcome.get("max_batch_records") or self.max_records)
        self._hello = True
        self._connects = self.conn.events()
        return self.acked

    def send(self, value, key=None, headers=None, timestamp=None):
        """Adds one record; returns its sequence. It is durable once `confirmed` reaches it
        (flush waits for that). Raises SluiceError when the broker refused a batch for good,
        TimeoutError when the window stayed full for the producer's timeout."""
        if self._failed:
            raise self._failed
        if not self._hello:
            self.connect()
        packed = w.pack_record(value, key, headers, timestamp)
        if len(packed) > self.max_bytes:
            raise w.SluiceError(6, f"record of {len(packed)} bytes is over the broker's "
                                   f"batch limit of {self.max_bytes}")
        self._pump(0)
        if self._open and (len(self._open) >= self.max_records
                           or self._open_bytes + len(packed) > self.max_bytes):
            self._wait_room(self.timeout)
            self._ship()
        self._open.append(packed)
        self._open_bytes += len(packed)
        self.sent += 1
        if not self._pending:
            self._ship()        # nothing in flight: a lone record never waits
        return self.sent

    def flush(self, timeout=None):
        """Sends what is open and waits until every record sent is confirmed, resending
        what a broker restart lost. TimeoutError after timeout (nothing is lost: call
        again)."""
        if not self._hello:
            self.connect()
        deadline = time.monotonic() + (self.timeout * 6 if timeout is None else timeout)
        while True:
            if self._failed:
                raise self._failed
            if self._open and len(self._pending) < WINDOW:
                self._ship()
            if not self._open and not self._pending:
                return self.confirmed
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.sent - self.confirmed} records not confirmed by "
                                   f"broker {self.conn.broker}")
            self._pump(0.1)

    # -- internals
    def _wait_room(self, timeout):
        deadline = time.monotonic() + timeout
        while len(self._pending) >= WINDOW:
            if self._failed:
                raise self._failed
            if time.monotonic() >= deadline:
                raise TimeoutError(f"broker {self.conn.broker} confirms nothing")
            self._pump(0.1)

    def _ship(self):
        if not self._open:
            return
        count = len(self._open)
        data = b"".join(self._open)
        seq = self.sent - count + 1
        if not self._pending:
            self._progress = time.monotonic()
        self._pending.append((seq, count, data))
        self._open, self._open_bytes = [], 0
        self._publish(seq, count, data)

    def _publish(self, seq, count, data):
        self.conn.send(w.PUBLISH, {"stream": self.stream, "producer": self.name, "seq": seq,
                                   "count": count}, data)

    def _resend_all(self):
        for seq, count, data in self._pending:
            self._publish(seq, count, data)
        self._progress = time.monotonic()

    def _advance(self, seq):
        seq = min(seq, self.sent)
        if seq <= self.confirmed:
            return
        self.confirmed = seq
        while self._pending and self._pending[0][0] + self._pending[0][1] - 1 <= seq:
            self._pending.popleft()
        self._progress = time.monotonic()

    def _on_error(self, body):
        code = body.get("code", 3)
        req = body.get("req", 0)
        if req and req <= self.confirmed:
            return
        if code == w.ESEQ:
            expected = body.get("seq", 0)
            now = time.monotonic()
            if expected == self._eseq[0] and now - self._eseq[1] < RESEND_S:
                return      # the later batches of one flight report the same gap
            self._eseq = (expected, now)
            if expected > 0:
                self._advance(expected - 1)
            self._resend_all()
            return
        err = w.SluiceError(code, body.get("text", ""))
        if not err.retryable:
            self._failed = err

    def _pump(self, wait):
        deadline = time.monotonic() + wait
        while True:
            connects = self.conn.events()
            if connects != self._connects:
                self._connects = connects
                if self._pending:
                    self._resend_all()      # the broker may have restarted: resend now
            if self._pending and time.monotonic() - self._progress >= RESEND_S:
                self._resend_all()
            reply = self.conn.recv(max(min(deadline - time.monotonic(), 0.1), 0))
            if reply is not None:
                cmd, body, _ = reply
                if (cmd == w.CONFIRM and body.get("stream") == self.stream
                        and body.get("producer") == self.name):
                    self._advance(body.get("seq", 0))
                elif cmd == w.ERROR:
                    self._on_error(body)
                continue
            if time.monotonic() >= deadline:
                return
