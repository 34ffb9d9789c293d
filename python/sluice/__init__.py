"""sluice: a Python client for the Sluice broker (docs/client-python.md), written from
docs/PROTOCOL.md on pyzmq and msgpack (Debian's python3-zmq and python3-msgpack).

    Producer  publishes records, confirmed, exactly once with a name
    Reader    reads a stream from a position, then live; durable with a name (commit)
    Member    joins a worker group: leases of input records in, outputs out
"""

from ._wire import ProtocolError, Record, SluiceError, load_curve
from .member import Lease, Member
from .producer import Producer
from .reader import Reader

__version__ = "0.1.0"
__all__ = ["Producer", "Reader", "Member", "Lease", "Record", "SluiceError", "ProtocolError",
           "load_curve"]
