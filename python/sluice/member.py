"""Member: one worker of a group (docs/PROTOCOL.md section 14), one lease at a time."""

import os
import socket
import time

from . import _wire as w

PING_S = 1.0


class Lease:
    """A batch of input records to process: emit outputs, fail records, then done()."""

    def __init__(self, member, body, records):
        self._member = member
        self.lease = body["lease"]
        self.offset = body["offset"]
        self.count = body["count"]
        self.attempt = body.get("attempt", 1)
        self.records = records
        self._out = []
        self._failed = []
        self._finished = False

    def emit(self, value, key=None, headers=None):
        """An output record (zero, one or many per input record)."""
        self._out.append(w.pack_record(value, key, headers))
        self._member._tick()

    def fail(self, offset, error, final=False):
        """Input record offset failed: retried, or dead-lettered (final, or after the
        group's max_deliver attempts) into GROUP.dlq."""
        if not self.offset <= offset < self.offset + self.count:
            raise ValueError(f"offset {offset} is not in this lease")
        entry = [offset, str(error)[:255]]
        if final:
            entry.append(True)
        self._failed.append(entry)

    def done(self):
        """Returns the result: the broker stores the outputs and marks the inputs done in
        one transaction. What is not answered is handed out again."""
        if self._finished:
            raise RuntimeError("lease already done")
        self._finished = True
        body = {"group": self._member.group, "lease": self.lease, "offset": self.offset,
                "count": self.count, "out_count": len(self._out)}
        if self._failed:
            body["failed"] = self._failed
        deadline = time.monotonic() + 5
        while not self._member.conn.send(w.RESULT, body, b"".join(self._out)):
            if time.monotonic() >= deadline:
                raise TimeoutError("the result could not be sent; the lease will be redone")
            time.sleep(0.05)
        self._member._sent = time.monotonic()


class Member:
    """A member of group, turning stream `inp` into stream `out` exactly once."""

    def __init__(self, broker, group, inp, out, member=None, batch=1000, curve=None,
                 timeout=5.0):
        self.group = w.check_name("group", group)
        self.inp = w.check_name("input stream", inp)
        self.out = w.check_name("output stream", out)
        if inp == out:
            raise ValueError("input and output streams must differ")
        if member is None:
            member = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-"
                             for c in f"{socket.gethostname()[:180]}-{os.getpid()}")
        self.member = w.check_name("member", member)
        if not 1 <= batch <= 65536:
            raise ValueError("batch must be 1..65536")
        self.batch = batch
        self.timeout = timeout
        self.conn = w.Connection(broker, curve=curve)
        self._joined = False
        self._connects = 0
        self._sent = time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.conn.close()

    def join(self, timeout=None):
        """HELLO and JOIN; returns the group's checkpoint. SluiceError when refused (e.g.
        EINVAL: the group exists with other streams)."""
        timeout = self.timeout if timeout is None else timeout
        self.conn.hello(timeout)
        connects = self.conn.events()
        cmd, body, _ = self.conn.request(w.JOIN, {"group": self.group, "in": self.inp,
                                                  "out": self.out, "member": self.member,
                                                  "window": 1, "batch": self.batch}, timeout)
        if cmd != w.JOINED:
            raise w.ProtocolError(f"JOIN answered with command {cmd}")
        self._joined = True
        self._connects = connects
        self._sent = time.monotonic()
        return body.get("offset", 0)

    def _tick(self):
        if time.monotonic() - self._sent >= PING_S:
            # Naming the group: a membership that ended is told (ERROR ESTATE): join again.
            if self.conn.send(w.PING, {"req": self.conn.next_req(), "group": self.group}):
                self._sent = time.monotonic()

    def work(self, timeout=None):
        """The next Lease, or None when none came within timeout seconds (None: forever).
        Joins again by itself after a broker restart."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if not self._joined or self.conn.events() != self._connects:
                self._joined = False
                try:
                    self.join()
                except TimeoutError:
                    pass
            self._tick()
            left = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
            if left <= 0:
                return None
            reply = self.conn.recv(left)
            if reply is None:
                continue
            cmd, body, data = reply
            if cmd == w.ERROR and body.get("code") in (w.ESTATE, w.ENOTFOUND):
                self._joined = False
            elif (cmd == w.WORK and body.get("group") == self.group and len(data) == 1
                  and 1 <= body.get("count", 0) <= 65536):
                try:
                    records = w.unpack_batch(data[0], body["count"], body["offset"])
                except w.ProtocolError:
                    continue        # not answered: the broker redoes it
                return Lease(self, body, records)

    def leave(self, timeout=None):
        """Leaves the group: its leases go to other members at once."""
        self.conn.send(w.LEAVE, {"group": self.group, "member": self.member})
        self.conn.request(w.PING, {}, self.timeout if timeout is None else timeout)
        self._joined = False
