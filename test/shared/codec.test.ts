import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CodecError,
  CodecLimitError,
  DEFAULT_CODEC_LIMITS,
  ValueReader,
  ValueWriter,
  decodeValue,
  encodeValue,
  readValue,
  validateValue,
  writeValue,
} from "../../src/shared/codec.js";

// ---------------------------------------------------------------------------
// Helpers

const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex.replace(/\s+/g, ""), "hex"));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

interface Expected {
  message?: string | RegExp;
  path?: string;
  /** The limit a CodecLimitError names; without it, the error must be a plain CodecError (malformed input). */
  limit?: keyof typeof DEFAULT_CODEC_LIMITS;
}

function assertCodecError(fn: () => unknown, expected: Expected = {}): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof CodecError, `expected a CodecError, got ${String(error)}`);
    if (expected.limit === undefined) {
      assert.equal(error.name, "CodecError");
    } else {
      assert.ok(error instanceof CodecLimitError, `expected a CodecLimitError, got ${error.name}: ${error.message}`);
      assert.equal(error.name, "CodecLimitError");
      assert.equal(error.limit, expected.limit);
    }
    if (typeof expected.message === "string") assert.equal(error.message, expected.message);
    else if (expected.message !== undefined) assert.match(error.message, expected.message);
    if (expected.path !== undefined) assert.equal(error.path, expected.path);
    return true;
  });
}

/** Runs `fn`; anything thrown other than a CodecError fails the property. */
function onlyCodecErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof CodecError)) throw error;
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** What `value` becomes after a JS -> wire -> JS round trip. */
function normalize(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === "bigint") return value >= -MAX_SAFE && value <= MAX_SAFE ? Number(value) : value;
  if (value instanceof Uint8Array) return new Uint8Array(value); // Buffer -> plain Uint8Array
  if (Array.isArray(value)) return value.map(normalize);
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [normalize(k), normalize(v)]));
  if (value instanceof Set) return new Set([...value].map(normalize));
  if (value instanceof Date) return new Date(value.getTime());
  if (typeof value === "object" && value !== null) {
    const out = {};
    for (const [key, item] of Object.entries(value)) {
      Object.defineProperty(out, key, { value: normalize(item), writable: true, enumerable: true, configurable: true });
    }
    return out;
  }
  return value;
}

function assertRoundTrip(value: unknown): void {
  assert.deepStrictEqual(decodeValue(encodeValue(value)), normalize(value));
}

const text = fc.string({ unit: "binary", maxLength: 20 });
const leaf = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
  fc.bigInt(),
  text,
  fc.uint8Array({ maxLength: 20 }),
  fc.date({ noInvalidDate: true }),
);
const { value: anyValue } = fc.letrec<{
  value: unknown;
  list: unknown[];
  dict: Record<string, unknown>;
  map: Map<unknown, unknown>;
  set: Set<unknown>;
}>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("list"), tie("dict"), tie("map"), tie("set")),
  list: fc.array(tie("value"), { maxLength: 5 }),
  dict: fc.dictionary(text, tie("value"), { maxKeys: 5 }),
  map: fc.map(tie("value"), tie("value"), { maxKeys: 4 }),
  set: fc.set(tie("value"), { maxLength: 4 }),
}));

/** One value using every tag the JS encoder produces. */
const EVERY_TAG: unknown = [
  null, false, true, 7, 2n ** 70n, 1.5, "s€", new Uint8Array([1, 2]),
  { k: [1] }, new Map([[1, "a"]]), new Set(["x"]), new Date(86_400_000),
];

// ---------------------------------------------------------------------------
// Golden encodings: the wire format, byte for byte

const GOLDEN: Array<{ name: string; value: unknown; hex: string }> = [
  { name: "null", value: null, hex: "00" },
  { name: "undefined", value: undefined, hex: "00" },
  { name: "false", value: false, hex: "01" },
  { name: "true", value: true, hex: "02" },
  { name: "a small int", value: 1, hex: "03 0100000000000000" },
  { name: "a negative int", value: -2, hex: "03 feffffffffffffff" },
  { name: "the largest safe integer", value: Number.MAX_SAFE_INTEGER, hex: "03 ffffffffffff1f00" },
  { name: "a bigint that fits i64", value: -(2n ** 63n), hex: "03 0000000000000080" },
  { name: "a bigint past i64", value: 2n ** 64n, hex: "04 00 09000000 000000000000000001" },
  { name: "a negative big int", value: -(2n ** 63n) - 1n, hex: "04 01 08000000 0100000000000080" },
  { name: "a fraction", value: 1.5, hex: "05 000000000000f83f" },
  { name: "negative zero", value: -0, hex: "05 0000000000000080" },
  { name: "an integral number past 2^53", value: 2 ** 53, hex: "05 0000000000004043" },
  { name: "a string", value: "hé", hex: "06 03000000 68c3a9" },
  { name: "an astral character", value: "😀", hex: "06 04000000 f09f9880" },
  { name: "bytes", value: new Uint8Array([0, 255]), hex: "07 02000000 00ff" },
  { name: "a Buffer", value: Buffer.from("ab"), hex: "07 02000000 6162" },
  { name: "a list", value: [null, true], hex: "08 02000000 00 02" },
  { name: "a dict", value: { a: null }, hex: "0a 01000000 01000000 61 00" },
  { name: "a Map", value: new Map([[true, null]]), hex: "0b 01000000 02 00" },
  { name: "a Set", value: new Set([false]), hex: "0c 01000000 01" },
  { name: "a Date", value: new Date(1000), hex: "0d 0000000000408f40" },
];

for (const { name, value, hex } of GOLDEN) {
  test(`encodes ${name} as ${hex}`, () => {
    assert.equal(toHex(encodeValue(value)), hex.replace(/\s+/g, ""));
  });
}

test("decodes a tuple (0x09) as an array", () => {
  assert.deepStrictEqual(decodeValue(fromHex("09 02000000 00 02")), [null, true]);
});

// ---------------------------------------------------------------------------
// Round trips

test("any plain value survives a round trip (normalized)", () => {
  fc.assert(fc.property(anyValue, assertRoundTrip), { numRuns: 500 });
});

test("every finite or special double survives a round trip bit for bit", () => {
  fc.assert(
    fc.property(fc.double(), (x) => {
      assert.ok(Object.is(decodeValue(encodeValue(x)), x));
    }),
    { numRuns: 1000 },
  );
});

test("-0, NaN and the infinities are sent as floats, not collapsed into ints", () => {
  for (const x of [-0, NaN, Infinity, -Infinity]) {
    const bytes = encodeValue(x);
    assert.equal(bytes[0], 0x05);
    assert.ok(Object.is(decodeValue(bytes), x));
  }
});

test("safe integers come back as numbers", () => {
  fc.assert(
    fc.property(fc.maxSafeInteger(), (n) => {
      assert.equal(decodeValue(encodeValue(n)), n);
    }),
  );
});

test("integers beyond 2^53 come back as exact bigints, not rounded numbers", () => {
  assert.equal(decodeValue(encodeValue(2n ** 53n)), 2n ** 53n);
  assert.equal(decodeValue(encodeValue(-(2n ** 53n))), -(2n ** 53n));
  assert.equal(decodeValue(encodeValue(2n ** 53n - 1n)), 2 ** 53 - 1);
  assert.equal(decodeValue(encodeValue(-(2n ** 53n) + 1n)), -(2 ** 53) + 1);
});

test("the i64 boundaries use tag 0x03 and one past them uses 0x04", () => {
  assert.equal(encodeValue(2n ** 63n - 1n)[0], 0x03);
  assert.equal(encodeValue(-(2n ** 63n))[0], 0x03);
  assert.equal(encodeValue(2n ** 63n)[0], 0x04);
  assert.equal(encodeValue(-(2n ** 63n) - 1n)[0], 0x04);
});

test("bigints of any size survive a round trip", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(2n ** 600n), max: 2n ** 600n }), (n) => {
      assert.equal(decodeValue(encodeValue(n)), normalize(n));
    }),
    { numRuns: 500 },
  );
});

test("a 16 MiB big int encodes and decodes in linear time, not seconds after the run's deadline", () => {
  // The largest int a result may carry. Byte-at-a-time string building took 1-5 s each way, 10-50 times
  // V8's own hex conversion of the number. Best of three, each against that conversion measured alongside,
  // so that the machine's load does not decide.
  const n = -((1n << BigInt(8 * (1 << 24) - 1)) - 12345n);
  const best = (fn: () => unknown) => Math.min(...[1, 2, 3].map(() => {
    const start = performance.now();
    fn();
    return performance.now() - start;
  }));
  const encoded = encodeValue(n);
  assert.ok(decodeValue(encoded) === n, "the value is exact");
  const hexMs = best(() => n.toString(16));
  const encodeMs = best(() => encodeValue(n));
  const decodeMs = best(() => decodeValue(encoded));
  const report = `encode ${Math.round(encodeMs)} ms, decode ${Math.round(decodeMs)} ms, hex ${Math.round(hexMs)} ms`;
  assert.ok(encodeMs < 8 * hexMs && decodeMs < 8 * hexMs, report);
});

test("a big int (0x04) that is small decodes to a number", () => {
  assert.equal(decodeValue(fromHex("04 00 01000000 05")), 5);
  assert.equal(decodeValue(fromHex("04 01 01000000 05")), -5);
});

test("a big int with leading zero bytes in its magnitude is accepted", () => {
  assert.equal(decodeValue(fromHex("04 00 04000000 07000000")), 7);
});

test("a big int with no magnitude bytes is zero, even with the negative sign", () => {
  assert.ok(Object.is(decodeValue(fromHex("04 00 00000000")), 0));
  assert.ok(Object.is(decodeValue(fromHex("04 01 00000000")), 0));
});

test("strings of any code points survive a round trip", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (s) => {
      assert.equal(decodeValue(encodeValue(s)), s);
    }),
    { numRuns: 500 },
  );
});

test("a leading byte order mark is kept, not stripped by the decoder", () => {
  assert.equal(decodeValue(encodeValue("\uFEFFx")), "\uFEFFx");
});

test("a long non-ASCII string round trips (encoder fallback path near the size limit)", () => {
  const s = "€".repeat(1000); // 3000 UTF-8 bytes; worst-case reservation would be 3000 too
  assert.equal(decodeValue(encodeValue(s, { maxBytes: 3005 })), s);
  assert.equal(decodeValue(encodeValue("a".repeat(1000), { maxBytes: 1005 })), "a".repeat(1000));
});

test("bytes round trip as a plain Uint8Array (a Buffer included)", () => {
  const decoded = decodeValue(encodeValue(Buffer.from([1, 2, 3])));
  assert.ok(decoded instanceof Uint8Array && !Buffer.isBuffer(decoded));
  assert.deepStrictEqual(decoded, new Uint8Array([1, 2, 3]));
});

test("a Uint8Array view only encodes its own window", () => {
  const backing = new Uint8Array([9, 1, 2, 9]);
  assert.deepStrictEqual(decodeValue(encodeValue(backing.subarray(1, 3))), new Uint8Array([1, 2]));
});

test("decoded bytes do not alias the input buffer", () => {
  const input = encodeValue(new Uint8Array([1, 2]));
  const decoded = decodeValue(input) as Uint8Array;
  input[5] = 99;
  assert.deepStrictEqual(decoded, new Uint8Array([1, 2]));
});

test("a null-prototype object is encoded as a dict and decodes to an ordinary object", () => {
  const obj = Object.create(null) as Record<string, unknown>;
  obj["a"] = 1;
  const decoded = decodeValue(encodeValue(obj));
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  assert.deepStrictEqual(decoded, { a: 1 });
});

test("non-enumerable properties of a plain object are not sent", () => {
  const obj = { a: 1 };
  Object.defineProperty(obj, "hidden", { value: 2, enumerable: false });
  assert.deepStrictEqual(decodeValue(encodeValue(obj)), { a: 1 });
});

test("a decoded __proto__ key is an own property and never changes the prototype", () => {
  // {"__proto__": {"polluted": true}} as the guest would send it.
  const bytes = fromHex("0a 01000000 09000000 5f5f70726f746f5f5f 0a 01000000 08000000 706f6c6c75746564 02");
  const decoded = decodeValue(bytes) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  assert.ok(Object.hasOwn(decoded, "__proto__"));
  assert.deepStrictEqual(Object.keys(decoded), ["__proto__"]);
  assert.equal((decoded as { polluted?: unknown }).polluted, undefined);
  assert.equal(({} as { polluted?: unknown }).polluted, undefined);
});

test("an own __proto__ key survives a round trip", () => {
  const obj = JSON.parse('{"__proto__": 1, "b": 2}') as Record<string, unknown>;
  const decoded = decodeValue(encodeValue(obj)) as Record<string, unknown>;
  assert.ok(Object.hasOwn(decoded, "__proto__"));
  assert.equal(Object.getOwnPropertyDescriptor(decoded, "__proto__")?.value, 1);
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
});

test("decoded keys named like Object.prototype members become own data properties", () => {
  const decoded = decodeValue(encodeValue({ toString: 1, constructor: 2, hasOwnProperty: 3 })) as Record<string, unknown>;
  assert.deepStrictEqual(Object.keys(decoded), ["toString", "constructor", "hasOwnProperty"]);
  assert.equal(Object.getOwnPropertyDescriptor(decoded, "toString")?.value, 1);
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
});

test("a duplicated dict key on the wire keeps the last value", () => {
  assert.deepStrictEqual(decodeValue(fromHex("0a 02000000 01000000 61 03 0100000000000000 01000000 61 00")), { a: null });
});

test("Maps with arbitrary keys survive a round trip", () => {
  const value = new Map<unknown, unknown>([[[1, 2], "list key"], [null, 1], [2n ** 80n, { x: 1 }]]);
  assertRoundTrip(value);
});

test("Sets survive a round trip", () => {
  assertRoundTrip(new Set([1, "a", null, [1]]));
});

test("Dates survive a round trip to the millisecond", () => {
  fc.assert(
    fc.property(fc.date({ noInvalidDate: true }), (d) => {
      assert.equal((decodeValue(encodeValue(d)) as Date).getTime(), d.getTime());
    }),
  );
});

test("a datetime with sub-millisecond precision decodes to the truncated millisecond", () => {
  const bytes = fromHex("0d" + toHex(new Uint8Array(new Float64Array([1.75]).buffer)));
  assert.equal((decodeValue(bytes) as Date).getTime(), 1);
});

test("a getter that grows the array being encoded cannot desynchronize its count", () => {
  const list: unknown[] = [];
  list.push({
    get x() {
      list.push("extra");
      return 1;
    },
  });
  assert.deepStrictEqual(decodeValue(encodeValue(list)), [{ x: 1 }]);
});

test("a Map mutated by a getter while being encoded is refused, not sent with a wrong count", () => {
  const map = new Map<unknown, unknown>();
  map.set("a", {
    get x() {
      map.set("b", 2);
      return 1;
    },
  });
  assertCodecError(() => encodeValue(map), { message: "Map changed while being encoded at $" });
});

test("shared (non-circular) references are encoded twice, not mistaken for cycles", () => {
  const shared = [1];
  assert.deepStrictEqual(decodeValue(encodeValue({ a: shared, b: [shared] })), { a: [1], b: [[1]] });
});

// ---------------------------------------------------------------------------
// Encoder errors: what may not cross, and where it was

test("a function is refused, naming its path", () => {
  assertCodecError(() => encodeValue({ a: [1, () => 1] }), { message: "cannot convert function at $.a[1]", path: "$.a[1]" });
});

test("a symbol value is refused", () => {
  assertCodecError(() => encodeValue([Symbol("s")]), { message: "cannot convert symbol at $[0]", path: "$[0]" });
});

test("a class instance is refused with its class name", () => {
  class Foo {
    x = 1;
  }
  assertCodecError(() => encodeValue({ x: new Foo() }), { message: "cannot convert Foo object at $.x", path: "$.x" });
});

test("an Array subclass is refused like any class instance", () => {
  class MyArray extends Array<number> {}
  assertCodecError(() => encodeValue(MyArray.from([1])), { message: "cannot convert MyArray object at $" });
});

test("typed arrays other than Uint8Array, ArrayBuffer and DataView are refused", () => {
  const cases: Array<[unknown, string]> = [
    [new Float32Array(1), "Float32Array"],
    [new Int8Array(1), "Int8Array"],
    [new Uint8ClampedArray(1), "Uint8ClampedArray"],
    [new ArrayBuffer(1), "ArrayBuffer"],
    [new DataView(new ArrayBuffer(1)), "DataView"],
  ];
  for (const [value, name] of cases) {
    assertCodecError(() => encodeValue(value), { message: `cannot convert ${name} object at $` });
  }
});

test("host objects (Promise, WeakMap, RegExp, Error) are refused", () => {
  const cases: Array<[unknown, string]> = [
    [Promise.resolve(), "Promise"],
    [new WeakMap(), "WeakMap"],
    [/x/, "RegExp"],
    [new Error("e"), "Error"],
  ];
  for (const [value, name] of cases) {
    assertCodecError(() => encodeValue(value), { message: `cannot convert ${name} object at $` });
  }
});

test("boxed primitives are refused", () => {
  for (const [value, name] of [[new Number(1), "Number"], [new String("s"), "String"], [new Boolean(true), "Boolean"]] as const) {
    assertCodecError(() => encodeValue(value), { message: `cannot convert ${name} object at $` });
  }
});

test("an object whose prototype has no constructor name is described generically", () => {
  const obj = Object.create(Object.create(null) as object) as object;
  assertCodecError(() => encodeValue(obj), { message: "cannot convert object at $" });
});

test("an invalid Date is refused", () => {
  assertCodecError(() => encodeValue({ when: new Date(NaN) }), { message: "cannot convert invalid Date at $.when" });
});

test("a symbol key is refused rather than silently dropped", () => {
  assertCodecError(() => encodeValue({ a: { [Symbol("k")]: 1 } }), { message: "cannot convert symbol key Symbol(k) at $.a" });
});

test("a string with a lone surrogate is refused, naming its path", () => {
  for (const s of ["\uD800", "a\uDC00b", "x\uD83D"]) {
    assertCodecError(() => encodeValue({ "a b": [s] }), {
      message: 'cannot convert string with a lone surrogate at $["a b"][0]',
      path: '$["a b"][0]',
    });
  }
});

test("a dict key with a lone surrogate is refused", () => {
  assertCodecError(() => encodeValue({ "\uD800": 1 }), { message: 'cannot convert string with a lone surrogate at $["\\ud800"]' });
});

test("errors inside Maps and Sets are located by position", () => {
  assertCodecError(() => encodeValue(new Map([[() => 1, 1]])), { path: "$[<key 0>]" });
  assertCodecError(() => encodeValue(new Map<unknown, unknown>([[1, 1], [2, () => 1]])), { path: "$[<value 1>]" });
  assertCodecError(() => encodeValue({ s: new Set([1, Symbol("x")]) }), { path: "$.s[<item 1>]" });
});

test("a circular reference is reported as such, with its path", () => {
  const obj: Record<string, unknown> = { a: { b: [] } };
  ((obj["a"] as Record<string, unknown>)["b"] as unknown[]).push(obj);
  assertCodecError(() => encodeValue(obj), { message: "circular reference at $.a.b[0]" });
});

test("a cycle through a Map value or a Set is caught", () => {
  const map = new Map<unknown, unknown>();
  map.set("self", map);
  assertCodecError(() => encodeValue(map), { message: "circular reference at $[<value 0>]" });
  const set = new Set<unknown>();
  set.add(set);
  assertCodecError(() => encodeValue(set), { message: "circular reference at $[<item 0>]" });
});

test("nesting exactly maxDepth deep is accepted", () => {
  assert.deepStrictEqual(decodeValue(encodeValue([[1]], { maxDepth: 2 })), [[1]]);
  assert.equal(decodeValue(encodeValue(1, { maxDepth: 0 })), 1);
});

test("nesting deeper than maxDepth is refused at the first container too deep", () => {
  assertCodecError(() => encodeValue([[[1]]], { maxDepth: 2 }), { message: "nesting deeper than 2 at $[0][0]", limit: "maxDepth" });
  assertCodecError(() => encodeValue([], { maxDepth: 0 }), { message: "nesting deeper than 0 at $", limit: "maxDepth" });
});

test("the default depth limit is 100", () => {
  const nest = (n: number): unknown => (n === 0 ? null : [nest(n - 1)]);
  assert.equal(DEFAULT_CODEC_LIMITS.maxDepth, 100);
  encodeValue(nest(100));
  assertCodecError(() => encodeValue(nest(101)), { message: /^nesting deeper than 100 at \$(\[0\]){100}$/, limit: "maxDepth" });
});

test("an encoding that overflows the JS stack (raised maxDepth) is a CodecError", () => {
  let deep: unknown = null;
  for (let i = 0; i < 200_000; i++) deep = [deep];
  assertCodecError(() => encodeValue(deep, { maxDepth: 1_000_000 }), { message: /nesting too deep for the call stack/, limit: "maxDepth" });
});

test("an encoding larger than maxBytes fails, naming where it overflowed", () => {
  assertCodecError(() => encodeValue([["x".repeat(200)]], { maxBytes: 100 }), {
    message: "encoded value larger than 100 bytes at $[0][0]",
    path: "$[0][0]",
    limit: "maxBytes",
  });
});

test("maxBytes is exact: an encoding of exactly maxBytes fits, one byte less does not", () => {
  fc.assert(
    fc.property(anyValue, (value) => {
      const size = encodeValue(value).length;
      assert.equal(encodeValue(value, { maxBytes: size }).length, size);
      assertCodecError(() => encodeValue(value, { maxBytes: size - 1 }), { message: /^encoded value larger than/, limit: "maxBytes" });
    }),
    { numRuns: 300 },
  );
});

test("a huge sparse array fails the size limit at once instead of encoding billions of holes", () => {
  const sparse: unknown[] = [];
  sparse.length = 2 ** 32 - 1;
  const started = Date.now();
  assertCodecError(() => encodeValue(sparse), { message: `encoded value larger than ${DEFAULT_CODEC_LIMITS.maxBytes} bytes at $`, limit: "maxBytes" });
  assert.ok(Date.now() - started < 1000);
});

test("invalid limits are a programming error (RangeError), not a silently absent limit", () => {
  assert.throws(() => encodeValue(1, { maxDepth: -1 }), RangeError);
  assert.throws(() => decodeValue(new Uint8Array([0]), { maxBytes: Number.NaN }), RangeError);
  assert.throws(() => new ValueWriter(Number.NaN), RangeError);
  assert.throws(() => writeValue(new ValueWriter(), [], Number.NaN), RangeError);
  assert.throws(() => readValue(new ValueReader(new Uint8Array([0])), 1.5), RangeError);
});

// ---------------------------------------------------------------------------
// Decoder errors: hostile input

test("input longer than maxBytes is refused before decoding", () => {
  const bytes = encodeValue("x".repeat(10));
  assertCodecError(() => decodeValue(bytes, { maxBytes: 14 }), { message: "input of 15 bytes is larger than 14 bytes at $", limit: "maxBytes" });
  assert.equal(decodeValue(bytes, { maxBytes: 15 }), "x".repeat(10));
});

test("empty input is truncated", () => {
  assertCodecError(() => decodeValue(new Uint8Array(0)), { message: "truncated input at $ (byte 0)" });
});

test("every proper prefix of a valid encoding is rejected as truncated", () => {
  const bytes = encodeValue(EVERY_TAG);
  for (let n = 0; n < bytes.length; n++) {
    assertCodecError(() => decodeValue(bytes.subarray(0, n)), { message: /^(truncated input|count \d+ exceeds)/ });
  }
});

test("truncating any encoded value anywhere gives a CodecError", () => {
  fc.assert(
    fc.property(anyValue, fc.nat(), (value, cut) => {
      const bytes = encodeValue(value);
      assertCodecError(() => decodeValue(bytes.subarray(0, cut % bytes.length)));
    }),
    { numRuns: 300 },
  );
});

test("every tag byte past 0x0D is unknown", () => {
  for (let tag = 0x0e; tag <= 0xff; tag++) {
    assertCodecError(() => decodeValue(new Uint8Array([tag])), {
      message: `unknown tag 0x${tag.toString(16).padStart(2, "0")} at $ (byte 0)`,
    });
  }
});

test("an unknown tag inside a container is located", () => {
  assertCodecError(() => decodeValue(fromHex("08 02000000 00 ee")), { message: "unknown tag 0xee at $[1] (byte 6)" });
});

test("a str that is not UTF-8 is rejected", () => {
  assertCodecError(() => decodeValue(fromHex("06 01000000 ff")), { message: "invalid UTF-8 at $ (byte 5)" });
});

test("a UTF-8-encoded lone surrogate is rejected (strict UTF-8)", () => {
  assertCodecError(() => decodeValue(fromHex("06 03000000 eda080")), { message: /^invalid UTF-8/ });
  assertCodecError(() => decodeValue(fromHex("06 03000000 edbfbf")), { message: /^invalid UTF-8/ });
});

test("overlong, truncated and out-of-range UTF-8 sequences are rejected", () => {
  for (const body of ["c080", "e282", "f4908080", "80", "e08080"]) {
    const bytes = fromHex("06" + toHex(new Uint8Array(new Uint32Array([body.length / 2]).buffer)) + body);
    assertCodecError(() => decodeValue(bytes), { message: /^invalid UTF-8/ });
  }
});

test("a dict key that is not UTF-8 is rejected", () => {
  assertCodecError(() => decodeValue(fromHex("0a 01000000 01000000 ff 00")), { message: "invalid UTF-8 at $ (byte 9)" });
});

test("container counts larger than the remaining bytes are refused before allocating", () => {
  for (const tag of ["08", "09", "0c", "0a", "0b"]) {
    const started = Date.now();
    assertCodecError(() => decodeValue(fromHex(tag + "ffffffff 00")), {
      message: "count 4294967295 exceeds the 1 bytes remaining at $ (byte 1)",
    });
    assert.ok(Date.now() - started < 1000);
  }
});

test("a dict count is checked against five bytes per entry", () => {
  // One entry needs at least a u32 key length and a tag: 4 bytes cannot hold it.
  assertCodecError(() => decodeValue(fromHex("0a 01000000 00000000")), { message: /^count 1 exceeds the 4 bytes remaining/ });
});

test("str, bytes and big int lengths larger than the remaining bytes are refused", () => {
  for (const hex of ["06 ffffffff 00", "07 ffffffff 00", "04 00 ffffffff 00"]) {
    assertCodecError(() => decodeValue(fromHex(hex)), { message: /^truncated input: 4294967295 bytes needed, 1 remain/ });
  }
});

test("trailing bytes after the value are refused", () => {
  assertCodecError(() => decodeValue(fromHex("00 00 00")), { message: "2 trailing byte(s) after the value at $ (byte 1)" });
});

test("nesting deeper than maxDepth is refused by the decoder", () => {
  const bytes = encodeValue([[1]]);
  assert.deepStrictEqual(decodeValue(bytes, { maxDepth: 2 }), [[1]]);
  assertCodecError(() => decodeValue(bytes, { maxDepth: 1 }), { message: "nesting deeper than 1 at $[0] (byte 5)", limit: "maxDepth" });
});

test("a deeply nested input (raised maxDepth) that overflows the JS stack is a CodecError", () => {
  const depth = 500_000;
  const bytes = new Uint8Array(depth * 5 + 1);
  for (let i = 0; i < depth; i++) bytes.set([0x08, 1, 0, 0, 0], i * 5);
  assertCodecError(() => decodeValue(bytes, { maxDepth: 10_000_000 }), { message: /nesting too deep for the call stack/, limit: "maxDepth" });
});

/** The nodes a decode of `value`'s encoding builds: every value, and each dict key. */
function nodesOf(value: unknown): number {
  if (value instanceof Uint8Array || value instanceof Date || value === null || typeof value !== "object") return 1;
  if (Array.isArray(value)) return 1 + value.reduce((n: number, item) => n + nodesOf(item), 0);
  if (value instanceof Set) return 1 + [...value].reduce((n: number, item) => n + nodesOf(item), 0);
  if (value instanceof Map) return 1 + [...value].reduce((n: number, [k, v]) => n + nodesOf(k) + nodesOf(v), 0);
  return 1 + Object.values(value).reduce((n: number, item) => n + 1 + nodesOf(item), 0);
}

/** A list of `n` copies of the encoded `item`. */
function listOf(n: number, item: number[]): Uint8Array {
  const bytes = new Uint8Array(5 + n * item.length);
  bytes[0] = 0x08;
  new DataView(bytes.buffer).setUint32(1, n, true);
  for (let i = 0; i < n; i++) bytes.set(item, 5 + i * item.length);
  return bytes;
}

test("the default node budget is 1,000,000 nodes: the list itself and 999,999 items fit, one more does not", () => {
  assert.equal(DEFAULT_CODEC_LIMITS.maxNodes, 1_000_000);
  assert.equal((decodeValue(listOf(999_999, [0x00])) as unknown[]).length, 999_999);
  assertCodecError(() => decodeValue(listOf(1_000_000, [0x00])), { message: "more than 1000000 nodes at $ (byte 1)", limit: "maxNodes" });
});

test("a flat bomb (60 MB of empty Maps, 5 bytes each) is refused by its count before any item is built", () => {
  const bytes = listOf(12_000_000, [0x0b, 0, 0, 0, 0]);
  const started = performance.now();
  assertCodecError(() => decodeValue(bytes), { message: "more than 1000000 nodes at $ (byte 1)", limit: "maxNodes" });
  const ms = performance.now() - started;
  assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
});

test("nodes are counted across containers: small lists that each fit exceed the budget together", () => {
  const bytes = encodeValue([[1, 2], [3, 4]]); // 1 + 2 lists + 4 ints
  assert.deepStrictEqual(decodeValue(bytes, { maxNodes: 7 }), [[1, 2], [3, 4]]);
  assertCodecError(() => decodeValue(bytes, { maxNodes: 6 }), { message: "more than 6 nodes at $[1] (byte 29)", limit: "maxNodes" });
});

test("a dict or map entry is two nodes (its key and its value)", () => {
  assert.deepStrictEqual(decodeValue(encodeValue({ a: [1, 2] }), { maxNodes: 5 }), { a: [1, 2] });
  assertCodecError(() => decodeValue(encodeValue({ a: [1, 2] }), { maxNodes: 4 }), { path: "$.a", limit: "maxNodes" });
  assertCodecError(() => decodeValue(encodeValue(new Map([[1, 2]])), { maxNodes: 2 }), { path: "$", limit: "maxNodes" });
});

test("maxNodes is exact: a value of exactly maxNodes nodes decodes, one fewer is a CodecLimitError", () => {
  fc.assert(
    fc.property(anyValue, (value) => {
      const bytes = encodeValue(value);
      const nodes = nodesOf(value);
      assert.deepStrictEqual(decodeValue(bytes, { maxNodes: nodes }), normalize(value));
      assertCodecError(() => decodeValue(bytes, { maxNodes: nodes - 1 }), { message: /^more than \d+ nodes/, limit: "maxNodes" });
    }),
    { numRuns: 300 },
  );
});

test("readValue takes a node budget too (the embedding API is bounded like decodeValue)", () => {
  const reader = new ValueReader(encodeValue([1, 2, 3]));
  assertCodecError(() => readValue(reader, 100, 3), { message: "more than 3 nodes at $ (byte 1)", limit: "maxNodes" });
  assert.deepStrictEqual(readValue(new ValueReader(encodeValue([1, 2, 3])), 100, 4), [1, 2, 3]);
});

test("an invalid maxNodes is a programming error (RangeError)", () => {
  assert.throws(() => decodeValue(new Uint8Array([0]), { maxNodes: -1 }), RangeError);
  assert.throws(() => readValue(new ValueReader(new Uint8Array([0])), 100, Number.NaN), RangeError);
});

test("a megabyte-long dict key is cut in an error's path, so the message stays small", () => {
  const key = "k".repeat(1_000_000);
  assertCodecError(() => decodeValue(encodeValue({ [key]: [1, 2] }), { maxNodes: 3 }), { path: `$["${"k".repeat(64)}…"]`, limit: "maxNodes" });
});

test("a big int sign byte other than 0 or 1 is refused", () => {
  assertCodecError(() => decodeValue(fromHex("04 02 00000000")), { message: "invalid big int sign byte 2 at $ (byte 1)" });
});

test("a huge big int length is refused without building the number", () => {
  const bytes = new Uint8Array(6 + (1 << 24) + 1);
  bytes.set([0x04, 0x00, 0x01, 0x00, 0x00, 0x01]); // n = 2^24 + 1
  assertCodecError(() => decodeValue(bytes), { message: `big int of ${(1 << 24) + 1} bytes is too large at $ (byte 1)` });
});

test("a datetime that is NaN, infinite or outside Date's range is refused", () => {
  for (const ms of [NaN, Infinity, -Infinity, 8.64e15 + 1, -8.64e15 - 1]) {
    const bytes = concat(new Uint8Array([0x0d]), new Uint8Array(new Float64Array([ms]).buffer));
    assertCodecError(() => decodeValue(bytes), { message: `datetime ${ms} ms is out of range at $ (byte 1)` });
  }
  assert.equal((decodeValue(encodeValue(new Date(8.64e15))) as Date).getTime(), 8.64e15);
});

test("decoder errors inside dicts and maps are located", () => {
  assertCodecError(() => decodeValue(fromHex("0a 01000000 01000000 61 08 02000000 00 ff")), { path: "$.a[1]" });
  assertCodecError(() => decodeValue(fromHex("0a 01000000 03000000 612062 ff")), { path: '$["a b"]' });
  assertCodecError(() => decodeValue(fromHex("0b 01000000 00 ff")), { path: "$[<value 0>]" });
  assertCodecError(() => decodeValue(fromHex("0b 01000000 ff 00")), { path: "$[<key 0>]" });
  assertCodecError(() => decodeValue(fromHex("0c 02000000 00 ff")), { path: "$[<item 1>]" });
});

test("arbitrary bytes either decode or throw CodecError, nothing else", () => {
  const tagged = fc
    .tuple(fc.integer({ min: 0, max: 0x0e }), fc.uint8Array({ maxLength: 64 }))
    .map(([tag, rest]) => concat(new Uint8Array([tag]), rest));
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), tagged), (bytes) => onlyCodecErrors(() => decodeValue(bytes))),
    { numRuns: 5000 },
  );
});

test("corrupted valid encodings either decode or throw CodecError, nothing else", () => {
  const corrupted = fc
    .tuple(anyValue, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
    .map(([value, edits]) => {
      const bytes = encodeValue(value);
      for (const [at, byte] of edits) bytes[at % bytes.length] = byte;
      return bytes;
    });
  fc.assert(
    fc.property(corrupted, (bytes) => onlyCodecErrors(() => decodeValue(bytes))),
    { numRuns: 3000 },
  );
});

/** The outcome of a decode or a validation: "ok", or the CodecError's class and message. */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (error) {
    if (!(error instanceof CodecError)) throw error;
    return `${error.constructor.name}: ${error.message}`;
  }
}

test("validateValue refuses exactly what decodeValue refuses, with the same error, so a screen cannot let a bad value through", () => {
  const corrupted = fc
    .tuple(anyValue, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 0, maxLength: 3 }))
    .map(([value, edits]) => {
      const bytes = encodeValue(value);
      for (const [at, byte] of edits) bytes[at % bytes.length] = byte;
      return bytes;
    });
  const limits = fc.record({ maxDepth: fc.integer({ min: 0, max: 4 }), maxNodes: fc.integer({ min: 1, max: 30 }) });
  fc.assert(
    fc.property(fc.oneof(corrupted, fc.uint8Array({ maxLength: 64 })), limits, (bytes, limit) => {
      assert.equal(outcome(() => validateValue(bytes, limit)), outcome(() => decodeValue(bytes, limit)));
      assert.equal(outcome(() => validateValue(bytes)), outcome(() => decodeValue(bytes)));
    }),
    { numRuns: 5000 },
  );
});

test("whatever decodes can be re-encoded and decodes to the same value", () => {
  const tagged = fc
    .tuple(fc.integer({ min: 0, max: 0x0d }), fc.uint8Array({ maxLength: 48 }))
    .map(([tag, rest]) => concat(new Uint8Array([tag]), rest));
  fc.assert(
    fc.property(tagged, (bytes) => {
      let value: unknown;
      try {
        value = decodeValue(bytes);
      } catch (error) {
        if (error instanceof CodecError) return;
        throw error;
      }
      assert.deepStrictEqual(decodeValue(encodeValue(value)), value);
    }),
    { numRuns: 5000 },
  );
});

// ---------------------------------------------------------------------------
// Embedding in a larger frame

test("writeValue appends values after a frame header and readValue reads them back in order", () => {
  const writer = new ValueWriter();
  writer.u32(0xabcd);
  writeValue(writer, { a: 1 });
  writeValue(writer, "second");
  writer.u8(0x7f);
  const reader = new ValueReader(writer.toBytes());
  assert.equal(reader.u32(), 0xabcd);
  assert.deepStrictEqual(readValue(reader), { a: 1 });
  assert.equal(readValue(reader), "second");
  assert.equal(reader.u8(), 0x7f);
  assert.equal(reader.remaining, 0);
});

test("readValue leaves the offset just past the value", () => {
  const value = encodeValue([1, "x"]);
  const reader = new ValueReader(concat(new Uint8Array([9, 9]), value, new Uint8Array([9])), 2);
  readValue(reader);
  assert.equal(reader.offset, 2 + value.length);
});

test("a failed writeValue leaves the frame exactly as it was", () => {
  const writer = new ValueWriter();
  writer.u8(1);
  assertCodecError(() => writeValue(writer, [1, 2, () => 3]), { path: "$[2]" });
  assert.equal(writer.length, 1);
  writeValue(writer, null);
  assert.equal(toHex(writer.toBytes()), "0100");
});

test("a ValueWriter's maxBytes bounds the whole frame, header included", () => {
  const writer = new ValueWriter(10);
  writer.u32(0);
  assertCodecError(() => writeValue(writer, 1), { message: "encoded value larger than 10 bytes at $", limit: "maxBytes" });
  writer.u8(0);
  assert.equal(writer.length, 5);
});

test("readValue never reads past the reader's end, even when the buffer goes on", () => {
  const bytes = encodeValue("hello");
  const reader = new ValueReader(bytes, 0, bytes.length - 1);
  assertCodecError(() => readValue(reader), { message: /^truncated input: 5 bytes needed, 4 remain/ });
});

test("a reader window outside the buffer is a CodecError", () => {
  assertCodecError(() => new ValueReader(new Uint8Array(4), 2, 5), { message: /^invalid reader window/ });
  assertCodecError(() => new ValueReader(new Uint8Array(4), 3, 2), { message: /^invalid reader window/ });
});

test("a reader over a view with a byteOffset reads the view, not its backing buffer", () => {
  const backing = concat(new Uint8Array([0xff, 0xff]), encodeValue(42));
  assert.equal(decodeValue(backing.subarray(2)), 42);
});

test("ValueWriter.lengthPrefixedUtf8 refuses a lone surrogate instead of writing U+FFFD", () => {
  assertCodecError(() => new ValueWriter().lengthPrefixedUtf8("a\uDC00"), { message: /^cannot convert string with a lone surrogate/ });
});

test("ValueWriter.u32 refuses a length that does not fit in 32 bits", () => {
  assertCodecError(() => new ValueWriter().u32(2 ** 32), { message: /^length 4294967296 does not fit in a u32/ });
});
