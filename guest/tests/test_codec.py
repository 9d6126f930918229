"""Tests of guest/pyvisor/_codec.py.

Run from the repository root: python3 -m unittest discover -s guest/tests -t guest
"""

import collections
import datetime
import enum
import math
import os
import random
import struct
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pyvisor._codec import (  # noqa: E402
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    CodecError,
    decode,
    decode_from,
    encode,
    encode_into,
)

UTC = datetime.timezone.utc


def h(hex_text):
    return bytes.fromhex(hex_text.replace(" ", ""))


def u32(n):
    return struct.pack("<I", n)


def f64(x):
    return struct.pack("<d", x)


def same(a, b):
    """Equality that also tells NaN from NaN-free, -0.0 from 0.0, tuple from list and types apart."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def random_value(rng, depth=0):
    """A random plain value in its canonical decoded form (so that it round-trips exactly)."""
    kinds = ["none", "bool", "int", "bigint", "float", "str", "bytes", "datetime"]
    if depth < 4:
        kinds += ["list", "tuple", "dict", "map", "set"]
    kind = rng.choice(kinds)
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.randint(-(2**63), 2**63 - 1)
    if kind == "bigint":
        return rng.choice([-1, 1]) * rng.randint(2**63, 2**300)
    if kind == "float":
        return rng.choice([struct.unpack("<d", rng.randbytes(8))[0], rng.uniform(-1e6, 1e6), -0.0, math.inf])
    if kind == "str":
        return "".join(chr(rng.choice([rng.randint(0, 0x7F), rng.randint(0xE000, 0x10FFFF)])) for _ in range(rng.randint(0, 8)))
    if kind == "bytes":
        return rng.randbytes(rng.randint(0, 8))
    if kind == "datetime":
        return datetime.datetime(1970, 1, 1, tzinfo=UTC) + datetime.timedelta(milliseconds=rng.randint(-(10**13), 10**13))
    items = [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == "list":
        return items
    if kind == "tuple":
        return tuple(items)
    if kind == "dict":
        return {str(i) + chr(rng.randint(0x20, 0x2FF)): item for i, item in enumerate(items)}
    hashable = [i for i in items if isinstance(i, (int, str, bytes, bool, type(None)))]
    if kind == "map":
        return {key: rng.choice(items) for key in hashable} if hashable else {1: items}
    return set(hashable)


class CodecTestCase(unittest.TestCase):
    def assertCodecError(self, fn, message=None, path=None, regex=None):
        with self.assertRaises(CodecError) as caught:
            fn()
        error = caught.exception
        if message is not None:
            self.assertEqual(str(error), message)
        if regex is not None:
            self.assertRegex(str(error), regex)
        if path is not None:
            self.assertEqual(error.path, path)
        return error

    def assertRoundTrip(self, value, expected=None):
        expected = value if expected is None else expected
        decoded = decode(encode(value))
        self.assertTrue(same(decoded, expected), f"{decoded!r} != {expected!r}")


# ---------------------------------------------------------------------------
# The wire format, byte for byte


class TestGoldenEncodings(CodecTestCase):
    GOLDEN = [
        (None, "00"),
        (False, "01"),
        (True, "02"),
        (1, "03 0100000000000000"),
        (-2, "03 feffffffffffffff"),
        (-(2**63), "03 0000000000000080"),
        (2**64, "04 00 09000000 000000000000000001"),
        (-(2**63) - 1, "04 01 08000000 0100000000000080"),
        (1.5, "05 000000000000f83f"),
        (-0.0, "05 0000000000000080"),
        ("hé", "06 03000000 68c3a9"),
        ("\U0001F600", "06 04000000 f09f9880"),
        (b"\x00\xff", "07 02000000 00ff"),
        ([None, True], "08 02000000 00 02"),
        ((None, True), "09 02000000 00 02"),
        ({"a": None}, "0a 01000000 01000000 61 00"),
        ({True: None}, "0b 01000000 02 00"),
        ({False}, "0c 01000000 01"),
        (datetime.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), "0d 0000000000408f40"),
    ]

    def test_each_tag_encodes_to_the_documented_bytes(self):
        for value, hex_text in self.GOLDEN:
            with self.subTest(value=value):
                self.assertEqual(encode(value).hex(), hex_text.replace(" ", ""))

    def test_bool_is_sent_as_a_bool_not_as_an_int(self):
        self.assertEqual(encode(True), h("02"))
        self.assertIs(decode(encode(True)), True)

    def test_a_dict_with_any_non_str_key_is_sent_as_a_map(self):
        self.assertEqual(encode({"a": 1, 2: 3})[0], 0x0B)
        self.assertEqual(encode({})[0], 0x0A)

    def test_the_i64_boundaries_use_tag_3_and_one_past_them_uses_tag_4(self):
        self.assertEqual(encode(2**63 - 1)[0], 0x03)
        self.assertEqual(encode(-(2**63))[0], 0x03)
        self.assertEqual(encode(2**63)[0], 0x04)
        self.assertEqual(encode(-(2**63) - 1)[0], 0x04)


# ---------------------------------------------------------------------------
# Round trips


class TestRoundTrips(CodecTestCase):
    def test_random_plain_values_round_trip_exactly(self):
        rng = random.Random(1234)
        for _ in range(2000):
            value = random_value(rng)
            with self.subTest(value=value):
                self.assertRoundTrip(value)

    def test_nan_infinities_and_negative_zero_keep_their_identity(self):
        for x in [math.nan, math.inf, -math.inf, -0.0]:
            self.assertRoundTrip(x)

    def test_random_doubles_round_trip_bit_for_bit(self):
        rng = random.Random(7)
        for _ in range(2000):
            raw = rng.randbytes(8)
            self.assertEqual(struct.pack("<d", decode(encode(struct.unpack("<d", raw)[0]))), raw)

    def test_big_ints_of_any_size_round_trip(self):
        for n in [2**63, -(2**63) - 1, 10**400, -(10**400), 2**8000 + 1]:
            self.assertRoundTrip(n)

    def test_a_big_int_that_is_small_decodes_to_the_int(self):
        self.assertEqual(decode(h("04 00 01000000 05")), 5)
        self.assertEqual(decode(h("04 01 01000000 05")), -5)

    def test_a_big_int_with_leading_zero_bytes_is_accepted(self):
        self.assertEqual(decode(h("04 00 04000000 07000000")), 7)

    def test_a_big_int_with_no_magnitude_bytes_is_zero(self):
        self.assertEqual(decode(h("04 00 00000000")), 0)
        self.assertEqual(decode(h("04 01 00000000")), 0)

    def test_a_leading_byte_order_mark_is_kept(self):
        self.assertRoundTrip("\ufeffx")

    def test_bytearray_and_memoryview_are_sent_as_bytes(self):
        self.assertRoundTrip(bytearray(b"ab"), b"ab")
        self.assertRoundTrip(memoryview(b"abcd")[1:3], b"bc")

    def test_a_memoryview_of_wider_items_is_sent_as_its_raw_bytes(self):
        view = memoryview(struct.pack("<2i", 1, 2)).cast("i")
        self.assertRoundTrip(view, struct.pack("<2i", 1, 2))

    def test_a_non_contiguous_memoryview_is_sent_as_its_bytes(self):
        self.assertRoundTrip(memoryview(b"abcdef")[::2], b"ace")

    def test_a_frozenset_is_sent_as_a_set(self):
        self.assertRoundTrip(frozenset([1, 2]), {1, 2})

    def test_builtin_subclasses_are_sent_as_their_base_type(self):
        class Color(enum.IntEnum):
            RED = 3

        class Text(str):
            pass

        Point = collections.namedtuple("Point", "x y")
        value = [
            Color.RED,
            Text("t"),
            Point(1, 2),
            collections.OrderedDict(a=1),
            collections.defaultdict(list, b=[2]),
            collections.Counter("aa"),
        ]
        self.assertRoundTrip(value, [3, "t", (1, 2), {"a": 1}, {"b": [2]}, {"a": 2}])

    def test_a_str_subclass_overriding_encode_still_sends_its_text(self):
        class Sneaky(str):
            def encode(self, *args):
                return b"not this"

        self.assertRoundTrip(Sneaky("real"), "real")

    def test_a_subclass_whose_len_lies_still_gets_a_matching_count(self):
        class Liar(list):
            def __len__(self):
                return 99

        class LiarSet(set):
            def __len__(self):
                return 0

        self.assertRoundTrip([Liar([1, 2]), LiarSet({3})], [[1, 2], {3}])

    def test_an_int_subclass_overriding_index_is_sent_as_its_int_value(self):
        class Weird(int):
            def __index__(self):
                return 0

        self.assertRoundTrip(Weird(2**70), 2**70)
        self.assertRoundTrip(Weird(7), 7)

    def test_a_datetime_subclass_is_sent_as_a_datetime(self):
        class Stamp(datetime.datetime):
            pass

        self.assertRoundTrip(Stamp(2024, 1, 1, tzinfo=UTC), datetime.datetime(2024, 1, 1, tzinfo=UTC))

    def test_mixed_key_dicts_round_trip(self):
        self.assertRoundTrip({1: "a", "b": 2, (1, "x"): None, None: 1.5})

    def test_a_duplicated_dict_key_on_the_wire_keeps_the_last_value(self):
        self.assertEqual(decode(h("0a 02000000 01000000 61 03 0100000000000000 01000000 61 00")), {"a": None})

    def test_decoded_datetimes_are_aware_and_utc(self):
        decoded = decode(encode(datetime.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)))
        self.assertEqual(decoded.tzinfo, UTC)
        self.assertEqual(decoded, datetime.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC))

    def test_datetimes_near_the_present_keep_their_microseconds(self):
        rng = random.Random(99)
        base = datetime.datetime(2000, 1, 1, tzinfo=UTC)
        for _ in range(2000):
            value = base + datetime.timedelta(microseconds=rng.randint(0, 50 * 365 * 86400 * 10**6))
            self.assertEqual(decode(encode(value)), value)

    def test_a_naive_datetime_is_taken_as_utc(self):
        decoded = decode(encode(datetime.datetime(2024, 1, 1, 12, 0)))
        self.assertEqual(decoded, datetime.datetime(2024, 1, 1, 12, 0, tzinfo=UTC))

    def test_an_aware_datetime_in_another_zone_keeps_its_instant(self):
        plus2 = datetime.timezone(datetime.timedelta(hours=2))
        decoded = decode(encode(datetime.datetime(2024, 1, 1, 12, 0, tzinfo=plus2)))
        self.assertEqual(decoded, datetime.datetime(2024, 1, 1, 10, 0, tzinfo=UTC))

    def test_the_extreme_years_round_trip(self):
        for value in [datetime.datetime(1, 1, 1, tzinfo=UTC), datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)]:
            self.assertEqual(decode(encode(value)), value)

    def test_shared_references_are_not_mistaken_for_cycles(self):
        shared = [1]
        self.assertEqual(decode(encode({"a": shared, "b": [shared]})), {"a": [1], "b": [[1]]})

    def test_bytes_like_inputs_decode(self):
        data = encode([1, "x"])
        for wrapped in [bytearray(data), memoryview(data)]:
            self.assertEqual(decode(wrapped), [1, "x"])


# ---------------------------------------------------------------------------
# Encoder errors


class Foo:
    pass


class TestEncodeErrors(CodecTestCase):
    def test_an_unconvertible_object_is_refused_with_its_type_and_path(self):
        self.assertCodecError(
            lambda: encode({"a": [1, 2, Foo()]}),
            message="cannot convert 'Foo' object at value['a'][2]",
            path="value['a'][2]",
        )

    def test_non_plain_types_are_refused(self):
        cases = [
            (lambda: 1, "function"),
            (datetime.date(2024, 1, 1), "date"),
            (datetime.timedelta(1), "timedelta"),
            (1j, "complex"),
            (range(3), "range"),
            ((x for x in []), "generator"),
            (object(), "object"),
            (Foo, "type"),
            (Ellipsis, "ellipsis"),
        ]
        for value, name in cases:
            with self.subTest(name=name):
                self.assertCodecError(lambda: encode([value]), message=f"cannot convert '{name}' object at value[0]")

    def test_an_object_faking_its_class_is_still_refused(self):
        class Impostor:
            __class__ = int  # isinstance(Impostor(), int) is True

        self.assertCodecError(lambda: encode([Impostor()]), message="cannot convert 'Impostor' object at value[0]")

    def test_a_str_with_a_lone_surrogate_is_refused_with_its_path(self):
        for text in ["\ud800", "a\udc80b"]:
            self.assertCodecError(
                lambda: encode({"k": [text]}),
                message="cannot convert str with a lone surrogate at value['k'][0]",
            )

    def test_a_dict_key_with_a_lone_surrogate_is_refused(self):
        self.assertCodecError(
            lambda: encode({"\udc80": 1}),
            message="cannot convert str with a lone surrogate at value['\\udc80']",
        )

    def test_errors_inside_maps_and_sets_are_located(self):
        self.assertCodecError(lambda: encode({1: Foo()}), path="value[1]")
        self.assertCodecError(lambda: encode({(1, Foo()): 1}), path="value[<key 0>][1]")
        self.assertCodecError(lambda: encode({(1,): Foo()}), path="value[<value 0>]")
        self.assertCodecError(lambda: encode([{Foo()}]), path="value[0][<item 0>]")

    def test_a_circular_list_is_reported_as_such(self):
        loop = []
        loop.append(loop)
        self.assertCodecError(lambda: encode(loop), message="circular reference at value[0]")

    def test_a_cycle_through_a_dict_is_reported_with_its_path(self):
        outer = {"a": {}}
        outer["a"]["b"] = [outer]
        self.assertCodecError(lambda: encode(outer), message="circular reference at value['a']['b'][0]")

    def test_nesting_exactly_max_depth_deep_is_accepted(self):
        self.assertEqual(decode(encode([[1]], max_depth=2)), [[1]])
        self.assertEqual(decode(encode(1, max_depth=0)), 1)

    def test_nesting_deeper_than_max_depth_is_refused_at_the_first_container_too_deep(self):
        self.assertCodecError(lambda: encode([[[1]]], max_depth=2), message="nesting deeper than 2 at value[0][0]")
        self.assertCodecError(lambda: encode([], max_depth=0), message="nesting deeper than 0 at value")

    def test_the_default_depth_limit_is_100(self):
        def nest(n):
            return None if n == 0 else [nest(n - 1)]

        self.assertEqual(DEFAULT_MAX_DEPTH, 100)
        encode(nest(100))
        self.assertCodecError(lambda: encode(nest(101)), regex=r"^nesting deeper than 100 at value(\[0\]){100}$")

    def test_recursion_past_the_interpreter_stack_is_a_codec_error(self):
        deep = None
        for _ in range(100_000):
            deep = [deep]
        self.assertCodecError(lambda: encode(deep, max_depth=10**9), regex="nesting too deep for the interpreter stack")

    def test_an_encoding_larger_than_max_bytes_fails_naming_where(self):
        self.assertCodecError(
            lambda: encode([["x" * 200]], max_bytes=100),
            message="encoded value larger than 100 bytes at value[0][0]",
        )

    def test_max_bytes_is_exact(self):
        rng = random.Random(5)
        for _ in range(300):
            value = random_value(rng)
            size = len(encode(value))
            self.assertEqual(len(encode(value, max_bytes=size)), size)
            self.assertCodecError(lambda: encode(value, max_bytes=size - 1), regex="^encoded value larger than")

    def test_the_default_size_limit_is_64_mib(self):
        self.assertEqual(DEFAULT_MAX_BYTES, 64 * 1024 * 1024)

    def test_a_huge_string_fails_the_size_limit_before_being_encoded(self):
        self.assertCodecError(lambda: encode("€" * 1000, max_bytes=999), regex="^encoded value larger than 999 bytes")

    def test_invalid_limits_are_a_programming_error_not_a_codec_error(self):
        with self.assertRaises(ValueError) as caught:
            encode(1, max_depth=-1)
        self.assertNotIsInstance(caught.exception, CodecError)


# ---------------------------------------------------------------------------
# Decoder errors: hostile input

EVERY_TAG = [
    None, False, True, 7, 2**70, 1.5, "s€", b"\x01\x02", (1,), {"k": [1]}, {1: "a"}, {"x"},
    datetime.datetime(1970, 1, 2, tzinfo=UTC),
]


class TestDecodeErrors(CodecTestCase):
    def test_input_longer_than_max_bytes_is_refused_before_decoding(self):
        data = encode("x" * 10)
        self.assertCodecError(lambda: decode(data, max_bytes=14), message="input of 15 bytes is larger than 14 bytes at value")
        self.assertEqual(decode(data, max_bytes=15), "x" * 10)

    def test_empty_input_is_truncated(self):
        self.assertCodecError(lambda: decode(b""), message="truncated input at value (byte 0)")

    def test_every_proper_prefix_of_a_valid_encoding_is_rejected_as_truncated(self):
        data = encode(EVERY_TAG)
        for n in range(len(data)):
            with self.subTest(n=n):
                self.assertCodecError(lambda: decode(data[:n]), regex=r"^(truncated input|count \d+ exceeds)")

    def test_every_tag_past_0x0d_is_unknown(self):
        for tag in range(0x0E, 0x100):
            self.assertCodecError(lambda: decode(bytes([tag])), message=f"unknown tag 0x{tag:02x} at value (byte 0)")

    def test_an_unknown_tag_inside_a_container_is_located(self):
        self.assertCodecError(lambda: decode(h("08 02000000 00 ee")), message="unknown tag 0xee at value[1] (byte 6)")

    def test_a_str_that_is_not_utf8_is_rejected(self):
        self.assertCodecError(lambda: decode(h("06 01000000 ff")), message="invalid UTF-8 at value (byte 5)")

    def test_a_utf8_encoded_lone_surrogate_is_rejected(self):
        for body in ["eda080", "edbfbf"]:
            self.assertCodecError(lambda: decode(h("06 03000000" + body)), regex="^invalid UTF-8")

    def test_overlong_truncated_and_out_of_range_sequences_are_rejected(self):
        for body in ["c080", "e282", "f4908080", "80", "e08080"]:
            data = b"\x06" + u32(len(body) // 2) + h(body)
            self.assertCodecError(lambda: decode(data), regex="^invalid UTF-8")

    def test_a_dict_key_that_is_not_utf8_is_rejected(self):
        self.assertCodecError(lambda: decode(h("0a 01000000 01000000 ff 00")), message="invalid UTF-8 at value (byte 9)")

    def test_container_counts_larger_than_the_remaining_bytes_are_refused(self):
        for tag in ["08", "09", "0c", "0a", "0b"]:
            self.assertCodecError(
                lambda: decode(h(tag + "ffffffff 00")),
                message="count 4294967295 exceeds the 1 bytes remaining at value (byte 1)",
            )

    def test_a_dict_count_is_checked_against_five_bytes_per_entry(self):
        self.assertCodecError(lambda: decode(h("0a 01000000 00000000")), regex="^count 1 exceeds the 4 bytes remaining")

    def test_str_bytes_and_big_int_lengths_larger_than_the_remaining_bytes_are_refused(self):
        for hex_text in ["06 ffffffff 00", "07 ffffffff 00", "04 00 ffffffff 00"]:
            self.assertCodecError(lambda: decode(h(hex_text)), regex="^truncated input: 4294967295 bytes needed, 1 remain")

    def test_trailing_bytes_are_refused(self):
        self.assertCodecError(lambda: decode(h("00 00 00")), message="2 trailing byte(s) after the value at value (byte 1)")

    def test_nesting_deeper_than_max_depth_is_refused_by_the_decoder(self):
        data = encode([[1]])
        self.assertEqual(decode(data, max_depth=2), [[1]])
        self.assertCodecError(lambda: decode(data, max_depth=1), message="nesting deeper than 1 at value[0] (byte 5)")

    def test_deep_input_past_the_interpreter_stack_is_a_codec_error(self):
        data = h("08 01000000") * 100_000 + h("00")
        self.assertCodecError(lambda: decode(data, max_depth=10**9), regex="nesting too deep for the interpreter stack")

    def test_a_big_int_sign_byte_other_than_0_or_1_is_refused(self):
        self.assertCodecError(lambda: decode(h("04 02 00000000")), message="invalid big int sign byte 2 at value (byte 1)")

    def test_a_datetime_outside_years_1_to_9999_or_not_finite_is_refused(self):
        for ms in [math.nan, math.inf, -math.inf, 253402300800000.0, -62135596800001.0, 1e300]:
            with self.subTest(ms=ms):
                self.assertCodecError(lambda: decode(b"\x0d" + f64(ms)), message=f"datetime {ms!r} ms is out of range at value (byte 1)")

    def test_an_unhashable_map_key_is_refused(self):
        self.assertCodecError(lambda: decode(h("0b 01000000 08 00000000 00")), message="unhashable key at value[<key 0>] (byte 5)")
        # A tuple is hashable only if its items are.
        self.assertCodecError(lambda: decode(h("0b 01000000 09 01000000 08 00000000 00")), regex="^unhashable key")

    def test_an_unhashable_set_item_is_refused(self):
        self.assertCodecError(lambda: decode(h("0c 01000000 0a 00000000")), message="unhashable set item at value[<item 0>] (byte 5)")

    def test_decoder_errors_inside_dicts_and_maps_are_located(self):
        self.assertCodecError(lambda: decode(h("0a 01000000 01000000 61 08 02000000 00 ff")), path="value['a'][1]")
        self.assertCodecError(lambda: decode(h("0b 01000000 03 0100000000000000 ff")), path="value[1]")
        self.assertCodecError(lambda: decode(h("0b 01000000 09 00000000 ff")), path="value[<value 0>]")
        self.assertCodecError(lambda: decode(h("0b 01000000 ff 00")), path="value[<key 0>]")
        self.assertCodecError(lambda: decode(h("0c 02000000 00 ff")), path="value[<item 1>]")
        self.assertCodecError(lambda: decode(h("09 02000000 00 ff")), path="value[1]")

    def test_random_bytes_either_decode_or_raise_codec_error(self):
        rng = random.Random(2024)
        for _ in range(20_000):
            data = bytes([rng.randint(0, 0x0E)]) + rng.randbytes(rng.randint(0, 40))
            try:
                decode(data)
            except CodecError:
                pass

    def test_corrupted_valid_encodings_either_decode_or_raise_codec_error(self):
        rng = random.Random(77)
        for _ in range(5_000):
            data = bytearray(encode(random_value(rng)))
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randint(0, 255)
            try:
                decode(bytes(data[: rng.randint(0, len(data))] if rng.random() < 0.3 else data))
            except CodecError:
                pass

    def test_whatever_decodes_can_be_re_encoded_to_an_equal_value(self):
        rng = random.Random(3)
        for _ in range(20_000):
            data = bytes([rng.randint(0, 0x0D)]) + rng.randbytes(rng.randint(0, 32))
            try:
                value = decode(data)
            except CodecError:
                continue
            self.assertTrue(same(decode(encode(value)), value), data.hex())


# ---------------------------------------------------------------------------
# Embedding in a larger frame


class TestEmbedding(CodecTestCase):
    def test_encode_into_appends_after_a_frame_header(self):
        frame = bytearray(b"\xab\xcd")
        encode_into(frame, {"a": 1})
        encode_into(frame, "second")
        self.assertEqual(frame[:2], b"\xab\xcd")
        value, offset = decode_from(frame, 2)
        self.assertEqual(value, {"a": 1})
        value, offset = decode_from(frame, offset)
        self.assertEqual(value, "second")
        self.assertEqual(offset, len(frame))

    def test_decode_from_returns_the_offset_just_past_the_value(self):
        data = b"\x09\x09" + encode([1, "x"]) + b"\x09"
        self.assertEqual(decode_from(data, 2), ([1, "x"], len(data) - 1))

    def test_a_failed_encode_into_leaves_the_frame_as_it_was(self):
        frame = bytearray(b"\x01")
        self.assertCodecError(lambda: encode_into(frame, [1, 2, Foo()]), path="value[2]")
        self.assertEqual(frame, bytearray(b"\x01"))

    def test_max_bytes_of_encode_into_bounds_the_whole_frame(self):
        frame = bytearray(4)
        self.assertCodecError(lambda: encode_into(frame, 1, max_bytes=10), message="encoded value larger than 10 bytes at value")
        self.assertEqual(len(frame), 4)

    def test_an_offset_outside_the_data_is_a_codec_error(self):
        self.assertCodecError(lambda: decode_from(b"\x00", 2), regex="^invalid offset 2")
        self.assertCodecError(lambda: decode_from(b"\x00", -1), regex="^invalid offset -1")

    def test_decode_from_at_the_end_of_the_data_is_truncated(self):
        self.assertCodecError(lambda: decode_from(b"\x00", 1), message="truncated input at value (byte 1)")


if __name__ == "__main__":
    unittest.main()
