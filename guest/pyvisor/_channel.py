"""The guest end of the host channel.

The channel is fd FD, which the kernel keeps outside the program's fd table:
closing, renumbering or overwriting fds (os.closerange, a loop over low
numbers) never reaches it; only a read or write naming this exact number does.

Frames: u32 LE length | version byte | kind byte | value (pyvisor._codec).
Kinds: b'R' run request (host -> guest), b'D' run done (guest -> host),
b'C' host-function call (guest -> host), b'A' its answer (host -> guest).
"""
from os import read as _read, write as _write
from struct import pack as _pack, pack_into as _pack_into, unpack as _unpack

from . import _codec

VERSION = 1
FD = 0x7FFFFFFF  # src/kernel/fds.ts CHANNEL_FD

# Bound once: a program that replaces these names in the modules it can see
# (os.write, struct.pack, ...) does not change what the driver sends.
_encode_into = _codec.encode_into
_decode = _codec.decode


def _read_exact(n):
    chunks = []
    while n > 0:
        chunk = _read(FD, n)
        if not chunk:
            raise ConnectionError("pyvisor: the host channel closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def send(kind, value):
    payload = bytearray(_pack("<IBB", 0, VERSION, ord(kind)))
    _encode_into(payload, value)
    _pack_into("<I", payload, 0, len(payload) - 4)
    view = memoryview(payload)
    while view:
        written = _write(FD, view)
        view = view[written:]


def receive(expected_kind):
    (length,) = _unpack("<I", _read_exact(4))
    payload = _read_exact(length)
    if len(payload) < 2 or payload[0] != VERSION:
        raise ConnectionError("pyvisor: unsupported frame from the host")
    if chr(payload[1]) != expected_kind:
        raise ConnectionError("pyvisor: unexpected frame %r from the host" % chr(payload[1]))
    return _decode(payload[2:])
