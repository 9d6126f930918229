"""The value codec: the guest half of the host <-> guest data channel.

It must stay byte-for-byte compatible with the host's src/shared/codec.ts. Only
plain data crosses; anything else is refused with a CodecError that names where in
the value it was found, e.g. "cannot convert 'Foo' object at value['a'][2]".

Wire format v1, little-endian. Value := one tag byte + body.

    0x00 None                0x07 bytes     u32 n + n bytes
    0x01 False               0x08 list      u32 count + count values
    0x02 True                0x09 tuple     u32 count + count values
    0x03 int      i64        0x0A dict      u32 count + count x (u32 n + UTF-8 key, value)
    0x04 big int  sign u8 (0 = non-negative, 1 = negative) + u32 n + n bytes magnitude (LE)
    0x05 float    f64        0x0B map       u32 count + count x (key value, value value)
    0x06 str      u32 n + n bytes strict UTF-8 (no encoded surrogates)
    0x0C set      u32 count + count values
    0x0D datetime f64 milliseconds since the Unix epoch, UTC

Python -> wire: None; bool; int (i64 when it fits, else big int); float; str
(lone surrogates are an error); bytes, bytearray, memoryview -> bytes; list;
tuple; dict -> dict when every key is a str, else map; set and frozenset -> set;
datetime.datetime -> datetime. A *naive* datetime is taken to be UTC. Subclasses
of these types (IntEnum, namedtuple, OrderedDict, ...) are sent as their base type.

wire -> Python: None, bool, int, float, str, bytes, list, tuple, dict (from both
dict and map; duplicate keys: the last one wins), set, and datetime (aware, UTC).
Unhashable map keys or set items are an error. Datetimes outside year 1..9999 are
an error; precision is that of an f64 count of milliseconds (about a microsecond
for dates within a few centuries of 1970).

Paths: value, value['key'], value[3]; members of maps and sets without a natural
path are value[<key 2>], value[<value 2>] and value[<item 2>] (iteration order).

Embedding in a larger frame: encode_into(buf, value) appends to a bytearray;
decode_from(data, offset) reads one value and returns (value, new_offset).
"""

import datetime
import struct

__all__ = [
    "CodecError",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "decode",
    "decode_from",
    "encode",
    "encode_into",
]

DEFAULT_MAX_DEPTH = 100
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

TAG_NONE = 0x00
TAG_FALSE = 0x01
TAG_TRUE = 0x02
TAG_INT = 0x03
TAG_BIGINT = 0x04
TAG_FLOAT = 0x05
TAG_STR = 0x06
TAG_BYTES = 0x07
TAG_LIST = 0x08
TAG_TUPLE = 0x09
TAG_DICT = 0x0A
TAG_MAP = 0x0B
TAG_SET = 0x0C
TAG_DATETIME = 0x0D

_U32 = struct.Struct("<I")
_TAG_U32 = struct.Struct("<BI")
_TAG_I64 = struct.Struct("<Bq")
_TAG_F64 = struct.Struct("<Bd")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1

_UTC = datetime.timezone.utc
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
_ONE_MS = datetime.timedelta(milliseconds=1)


class CodecError(ValueError):
    """The only error the codec raises.

    ``path`` locates the offending part of the value ("value" is the whole of it);
    ``offset`` is the input byte at which decoding failed (None when encoding).
    """

    def __init__(self, reason, path="value", offset=None):
        self.reason = reason
        self.path = path
        self.offset = offset
        super().__init__(self._message())

    def _message(self):
        where = f"{self.reason} at {self.path}"
        return where if self.offset is None else f"{where} (byte {self.offset})"

    def _nest(self, segment):
        # Paths are built while the error unwinds: each container prepends the
        # segment of the child that failed. Nothing is spent on paths otherwise.
        self.path = "value" + segment + self.path[len("value"):]
        self.args = (self._message(),)
        return self


def _segment(key, index, kind):
    """The path segment of a dict value: value['a'] / value[1], else value[<kind i>]."""
    if isinstance(key, (str, bool, float, type(None))) or (
        isinstance(key, int) and -(10**15) < key < 10**15  # keep repr cheap and short
    ):
        return f"[{key!r}]"
    return f"[<{kind} {index}>]"


def _check_limit(name, value):
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")


# ---------------------------------------------------------------------------
# Encoder


def encode(value, *, max_depth=DEFAULT_MAX_DEPTH, max_bytes=DEFAULT_MAX_BYTES):
    """Encode one value to bytes."""
    buf = bytearray()
    encode_into(buf, value, max_depth=max_depth, max_bytes=max_bytes)
    return bytes(buf)


def encode_into(buf, value, *, max_depth=DEFAULT_MAX_DEPTH, max_bytes=DEFAULT_MAX_BYTES):
    """Append one encoded value to ``buf`` (a bytearray holding a larger frame).

    ``max_bytes`` bounds the total length of ``buf``. On failure ``buf`` is cut
    back to its original length, so a frame is never left half-written.
    """
    _check_limit("max_depth", max_depth)
    _check_limit("max_bytes", max_bytes)
    start = len(buf)
    try:
        _Encoder(buf, max_depth, max_bytes).write(value, 0)
    except RecursionError:
        del buf[start:]
        raise CodecError("nesting too deep for the interpreter stack") from None
    except BaseException:
        del buf[start:]
        raise


class _Encoder:
    def __init__(self, buf, max_depth, max_bytes):
        self.buf = buf
        self.max_depth = max_depth
        self.max_bytes = max_bytes
        self.open = set()  # ids of the containers being written (ancestors)

    def write(self, value, depth):
        """Write ``value``; ``depth`` is the nesting of its container (0 at top level)."""
        writer = _WRITERS.get(type(value))
        if writer is None:
            writer, value = _resolve_subclass(value)
        writer(self, value, depth)
        if len(self.buf) > self.max_bytes:
            raise self.too_large()

    def too_large(self):
        return CodecError(f"encoded value larger than {self.max_bytes} bytes")

    def room_for(self, n):
        """Fail before appending ``n`` bytes that would not fit."""
        if len(self.buf) + n > self.max_bytes:
            raise self.too_large()

    # Scalars -------------------------------------------------------------

    def write_none(self, value, depth):
        self.buf.append(TAG_NONE)

    def write_bool(self, value, depth):
        self.buf.append(TAG_TRUE if value else TAG_FALSE)

    def write_int(self, value, depth):
        if _I64_MIN <= value <= _I64_MAX:
            self.buf += _TAG_I64.pack(TAG_INT, value)
            return
        magnitude = -value if value < 0 else value
        n = (magnitude.bit_length() + 7) // 8
        self.room_for(6 + n)
        self.buf.append(TAG_BIGINT)
        self.buf.append(1 if value < 0 else 0)
        self.buf += _U32.pack(n)
        self.buf += magnitude.to_bytes(n, "little")

    def write_float(self, value, depth):
        self.buf += _TAG_F64.pack(TAG_FLOAT, value)

    def write_str(self, value, depth):
        self.write_blob(TAG_STR, self.utf8(value))

    def utf8(self, text):
        """Strict UTF-8 (str.encode unbound, so a subclass cannot override it)."""
        self.room_for(len(text))  # UTF-8 is never shorter: fail before encoding a huge str
        try:
            return str.encode(text, "utf-8", "strict")
        except UnicodeEncodeError:
            raise CodecError("cannot convert str with a lone surrogate") from None

    def write_bytes(self, value, depth):
        if isinstance(value, memoryview) and not (value.format == "B" and value.ndim == 1 and value.c_contiguous):
            value = value.tobytes()  # len() of other views counts items, not bytes; strided views cannot be appended
        self.write_blob(TAG_BYTES, value)

    def write_blob(self, tag, data):
        self.header(tag, len(data), 1)
        self.buf += data

    def write_datetime(self, value, depth):
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=_UTC)  # naive datetimes are UTC by convention
        self.buf += _TAG_F64.pack(TAG_DATETIME, (value - _EPOCH) / _ONE_MS)

    # Containers ----------------------------------------------------------

    def write_container(self, value, depth):
        """The checks shared by every container, then the kind-specific body."""
        key = id(value)
        if key in self.open:
            raise CodecError("circular reference")
        if depth + 1 > self.max_depth:
            raise CodecError(f"nesting deeper than {self.max_depth}")
        self.open.add(key)
        _CONTAINER_BODIES[_container_kind(value)](self, value, depth + 1)
        self.open.discard(key)

    def header(self, tag, count, min_item_bytes):
        """Tag + u32 length or count of items that each take at least ``min_item_bytes``."""
        if count > 0xFFFFFFFF:
            raise CodecError(f"length {count} does not fit in a u32")
        # Fail now, not after most of the items, when the items cannot fit.
        self.room_for(5 + count * min_item_bytes)
        self.buf += _TAG_U32.pack(tag, count)

    def write_items(self, tag, items, depth, segment):
        """A counted run of values (list, tuple, set); `segment(i)` names item i in errors."""
        self.header(tag, len(items), 1)
        index = 0
        try:
            for item in items:
                self.write(item, depth)
                index += 1
        except CodecError as error:
            raise error._nest(segment(index))

    def write_sequence(self, value, depth):
        tag = TAG_TUPLE if issubclass(type(value), tuple) else TAG_LIST
        items = value if type(value) in (list, tuple) else list(value)  # see _resolve_subclass
        self.write_items(tag, items, depth, lambda index: f"[{index}]")

    def write_dict(self, value, depth):
        items = list(dict.items(value))
        if all(isinstance(key, str) for key, _ in items):
            self.write_str_dict(items, depth)
        else:
            self.write_map(items, depth)

    def write_str_dict(self, items, depth):
        self.header(TAG_DICT, len(items), 5)
        key = ""
        try:
            for key, item in items:
                data = self.utf8(key)
                self.room_for(4 + len(data))
                self.buf += _U32.pack(len(data))
                self.buf += data
                self.write(item, depth)
        except CodecError as error:
            raise error._nest(f"[{key!r}]")

    def write_map(self, items, depth):
        self.header(TAG_MAP, len(items), 2)
        segment = ""
        try:
            for index, (key, item) in enumerate(items):
                segment = f"[<key {index}>]"
                self.write(key, depth)
                segment = _segment(key, index, "value")
                self.write(item, depth)
        except CodecError as error:
            raise error._nest(segment)

    def write_set(self, value, depth):
        items = value if type(value) in (set, frozenset) else list(value)  # see _resolve_subclass
        self.write_items(TAG_SET, items, depth, lambda index: f"[<item {index}>]")


def _container_kind(value):
    cls = type(value)  # not isinstance(): that trusts a __class__ the object may fake
    if issubclass(cls, (list, tuple)):
        return "sequence"
    if issubclass(cls, dict):
        return "dict"
    return "set"


_CONTAINER_BODIES = {
    "sequence": _Encoder.write_sequence,
    "dict": _Encoder.write_dict,
    "set": _Encoder.write_set,
}

def _same(value):
    return value


# The writer of each supported exact type: the fast path is one dict lookup.
_WRITERS = {
    type(None): _Encoder.write_none,
    bool: _Encoder.write_bool,
    int: _Encoder.write_int,
    float: _Encoder.write_float,
    str: _Encoder.write_str,
    bytes: _Encoder.write_bytes,
    bytearray: _Encoder.write_bytes,
    memoryview: _Encoder.write_bytes,
    list: _Encoder.write_container,
    tuple: _Encoder.write_container,
    dict: _Encoder.write_container,
    set: _Encoder.write_container,
    frozenset: _Encoder.write_container,
    datetime.datetime: _Encoder.write_datetime,
}

# Subclasses (IntEnum, str enums, namedtuple, OrderedDict, Counter, ...) are sent as
# their base type. Scalars are copied with the base type's own method, so that an
# overridden __str__ or __index__ changes nothing. Containers keep their identity
# (for cycle detection) and are copied by their writer, so that a count written
# in a header always matches the items that follow, whatever __len__ says.
# (bool cannot be subclassed, so int covers every remaining int subclass.)
_SUBCLASS_BASES = (
    (int, int.__int__, _Encoder.write_int),
    (float, float.__float__, _Encoder.write_float),
    (str, str.__str__, _Encoder.write_str),
    ((bytes, bytearray), bytes, _Encoder.write_bytes),
    ((list, tuple, dict, set, frozenset), _same, _Encoder.write_container),
    (datetime.datetime, _same, _Encoder.write_datetime),
)


def _resolve_subclass(value):
    """(writer, value as its base type), or CodecError for an unsupported type."""
    cls = type(value)  # not isinstance(): that trusts a __class__ the object may fake
    for bases, to_base, writer in _SUBCLASS_BASES:
        if issubclass(cls, bases):
            return writer, to_base(value)
    raise CodecError(f"cannot convert {cls.__name__!r} object")


# ---------------------------------------------------------------------------
# Decoder


def decode(data, *, max_depth=DEFAULT_MAX_DEPTH, max_bytes=DEFAULT_MAX_BYTES):
    """Decode exactly one value from ``data``; trailing bytes are an error."""
    _check_limit("max_bytes", max_bytes)
    size = memoryview(data).nbytes
    if size > max_bytes:
        raise CodecError(f"input of {size} bytes is larger than {max_bytes} bytes")
    value, end = decode_from(data, 0, max_depth=max_depth)
    if end != size:
        raise CodecError(f"{size - end} trailing byte(s) after the value", offset=end)
    return value


def decode_from(data, offset=0, *, max_depth=DEFAULT_MAX_DEPTH):
    """Decode one value at ``offset`` of a bytes-like ``data``; return (value, new_offset)."""
    _check_limit("max_depth", max_depth)
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    if type(offset) is not int or not 0 <= offset <= len(view):
        raise CodecError(f"invalid offset {offset!r} into {len(view)} bytes")
    decoder = _Decoder(view, offset, max_depth)
    try:
        value = decoder.read(0)
    except RecursionError:
        raise CodecError("nesting too deep for the interpreter stack", offset=decoder.pos) from None
    return value, decoder.pos


class _Decoder:
    def __init__(self, view, offset, max_depth):
        self.view = view
        self.pos = offset
        self.end = len(view)
        self.max_depth = max_depth

    def read(self, depth):
        """Read one value; ``depth`` is the nesting of its container (0 at top level)."""
        at = self.pos
        tag = self.u8()
        if tag >= len(_READERS):
            raise CodecError(f"unknown tag 0x{tag:02x}", offset=at)
        reader, is_container = _READERS[tag]
        if is_container:
            if depth + 1 > self.max_depth:
                raise CodecError(f"nesting deeper than {self.max_depth}", offset=at)
            depth += 1
        return reader(self, depth)

    # Bounds-checked primitives ---------------------------------------------
    # Each one checks its end against self.end before touching the bytes.

    def truncated(self, n):
        remaining = self.end - self.pos
        reason = "truncated input" if n == 1 else f"truncated input: {n} bytes needed, {remaining} remain"
        return CodecError(reason, offset=self.pos)

    def u8(self):
        pos = self.pos
        if pos >= self.end:
            raise self.truncated(1)
        self.pos = pos + 1
        return self.view[pos]

    def unpack(self, fmt):
        pos = self.pos
        stop = pos + fmt.size
        if stop > self.end:
            raise self.truncated(fmt.size)
        self.pos = stop
        return fmt.unpack_from(self.view, pos)[0]

    def take(self, n):
        pos = self.pos
        stop = pos + n
        if stop > self.end:
            raise self.truncated(n)
        self.pos = stop
        return self.view[pos:stop]

    def text(self):
        raw = self.take(self.unpack(_U32))
        try:
            return str(raw, "utf-8", "strict")
        except UnicodeDecodeError:
            raise CodecError("invalid UTF-8", offset=self.pos - len(raw)) from None

    def count(self, min_item_bytes):
        at = self.pos
        n = self.unpack(_U32)
        remaining = self.end - self.pos
        if n * min_item_bytes > remaining:
            raise CodecError(f"count {n} exceeds the {remaining} bytes remaining", offset=at)
        return n

    # Values ----------------------------------------------------------------

    def read_none(self, depth):
        return None

    def read_false(self, depth):
        return False

    def read_true(self, depth):
        return True

    def read_int(self, depth):
        return self.unpack(_I64)

    def read_bigint(self, depth):
        at = self.pos
        sign = self.u8()
        if sign > 1:
            raise CodecError(f"invalid big int sign byte {sign}", offset=at)
        magnitude = int.from_bytes(self.take(self.unpack(_U32)), "little")
        return -magnitude if sign else magnitude

    def read_float(self, depth):
        return self.unpack(_F64)

    def read_str(self, depth):
        return self.text()

    def read_bytes(self, depth):
        return bytes(self.take(self.unpack(_U32)))

    def read_datetime(self, depth):
        at = self.pos
        ms = self.unpack(_F64)
        try:
            return _EPOCH + datetime.timedelta(milliseconds=ms)
        except (OverflowError, ValueError):  # NaN, infinities, outside year 1..9999
            raise CodecError(f"datetime {ms!r} ms is out of range", offset=at) from None

    def read_items(self, depth):
        items = []
        n = self.count(1)
        append, read = items.append, self.read  # hoisted: this loop is the hot path
        try:
            for _ in range(n):
                append(read(depth))
        except CodecError as error:
            raise error._nest(f"[{len(items)}]")
        return items

    def read_list(self, depth):
        return self.read_items(depth)

    def read_tuple(self, depth):
        return tuple(self.read_items(depth))

    def read_hashable(self, depth, what):
        """A value that is about to become a set item or dict key."""
        at = self.pos
        value = self.read(depth)
        try:
            hash(value)
        except TypeError:  # a list, dict or set, or a tuple holding one
            raise CodecError(f"unhashable {what}", offset=at) from None
        return value

    def read_set(self, depth):
        out = set()
        n = self.count(1)
        index = 0
        try:
            for index in range(n):
                out.add(self.read_hashable(depth, "set item"))
        except CodecError as error:
            raise error._nest(f"[<item {index}>]")
        return out

    def read_dict(self, depth):
        out = {}
        for _ in range(self.count(5)):
            key = self.text()
            try:
                out[key] = self.read(depth)
            except CodecError as error:
                raise error._nest(f"[{key!r}]")
        return out

    def read_map(self, depth):
        out = {}
        n = self.count(2)
        segment = ""
        try:
            for index in range(n):
                segment = f"[<key {index}>]"
                key = self.read_hashable(depth, "key")
                segment = _segment(key, index, "value")
                out[key] = self.read(depth)
        except CodecError as error:
            raise error._nest(segment)
        return out


# Indexed by tag: (reader, whether the value is a container that nests).
_READERS = (
    (_Decoder.read_none, False),
    (_Decoder.read_false, False),
    (_Decoder.read_true, False),
    (_Decoder.read_int, False),
    (_Decoder.read_bigint, False),
    (_Decoder.read_float, False),
    (_Decoder.read_str, False),
    (_Decoder.read_bytes, False),
    (_Decoder.read_list, True),
    (_Decoder.read_tuple, True),
    (_Decoder.read_dict, True),
    (_Decoder.read_map, True),
    (_Decoder.read_set, True),
    (_Decoder.read_datetime, False),
)
