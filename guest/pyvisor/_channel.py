"""The guest end of the host channel (/dev/pyvisor).

Frames: u32 LE length | version byte | kind byte | value (pyvisor._codec).
Kinds: b'R' run request (host -> guest), b'D' run done (guest -> host),
b'C' host-function call (guest -> host), b'A' its answer (host -> guest).
"""
import os
import struct

from . import _codec

VERSION = 1
DEVICE = "/dev/pyvisor"

_fd = None


def _channel_fd():
    global _fd
    if _fd is None:
        _fd = os.open(DEVICE, os.O_RDWR)
    return _fd


def close():
    """Called at the end of each run, so the fd table holds nothing between runs."""
    global _fd
    if _fd is not None:
        try:
            os.close(_fd)
        finally:
            _fd = None


def _read_exact(n):
    fd = _channel_fd()
    chunks = []
    while n > 0:
        chunk = os.read(fd, n)
        if not chunk:
            raise ConnectionError("pyvisor: the host channel closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def send(kind, value):
    payload = bytearray(struct.pack("<IBB", 0, VERSION, ord(kind)))
    _codec.encode_into(payload, value)
    struct.pack_into("<I", payload, 0, len(payload) - 4)
    fd = _channel_fd()
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def receive(expected_kind):
    (length,) = struct.unpack("<I", _read_exact(4))
    payload = _read_exact(length)
    if len(payload) < 2 or payload[0] != VERSION:
        raise ConnectionError("pyvisor: unsupported frame from the host")
    if chr(payload[1]) != expected_kind:
        raise ConnectionError("pyvisor: unexpected frame %r from the host" % chr(payload[1]))
    return _codec.decode(payload[2:])
