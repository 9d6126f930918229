/**
 * Proves that src/shared/codec.ts and guest/pyvisor/_codec.py agree byte for byte.
 *
 * One python3 process (the machine's; the module must also run on 3.11) is given
 * every case at once and reports what Python makes of them:
 *   - each case's Python expression, encoded by Python (must equal the case's hex);
 *   - each case's hex, decoded by Python (its repr must equal the case's repr);
 *   - malformed inputs, decoded by Python (both sides must refuse them alike);
 *   - random values encoded by TS, decoded and re-encoded by Python, and random
 *     values generated and encoded by Python (TS must decode and re-encode them
 *     to the same bytes).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { CodecError, decodeValue, encodeValue } from "../../src/shared/codec.js";

const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex.replace(/\s+/g, ""), "hex"));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const f64Hex = (x: number): string => toHex(new Uint8Array(new Float64Array([x]).buffer));

/** An object with `key` as an own data property, even for "__proto__". */
function dict(entries: Array<[string, unknown]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
  }
  return out;
}

interface CrossCase {
  name: string;
  /** The canonical wire bytes. */
  hex: string;
  /** What TS decodes `hex` to; unless tsEncodes is false, TS also encodes it to `hex`. */
  js: unknown;
  /** A Python expression that Python encodes to `hex` (unless pyEncodes is false). */
  py: string;
  /** repr() of what Python decodes `hex` to. */
  repr: string;
  /** False when JS has no value that encodes to `hex` (a tuple). */
  tsEncodes?: boolean;
  /** False when Python has no value that encodes to `hex` (a map with only str keys). */
  pyEncodes?: boolean;
}

const UTC = "tzinfo=datetime.timezone.utc";
/** 0001-01-01T00:00:00Z, Python's datetime.min (Date.UTC cannot express year 1). */
const YEAR_ONE_MS = -62_135_596_800_000;

const CASES: CrossCase[] = [
  { name: "None", hex: "00", js: null, py: "None", repr: "None" },
  { name: "False", hex: "01", js: false, py: "False", repr: "False" },
  { name: "True", hex: "02", js: true, py: "True", repr: "True" },
  { name: "int 0", hex: "03 0000000000000000", js: 0, py: "0", repr: "0" },
  { name: "int -1", hex: "03 ffffffffffffffff", js: -1, py: "-1", repr: "-1" },
  { name: "largest safe integer", hex: "03 ffffffffffff1f00", js: 2 ** 53 - 1, py: "2**53 - 1", repr: "9007199254740991" },
  { name: "2^53 (a bigint in JS)", hex: "03 0000000000002000", js: 2n ** 53n, py: "2**53", repr: "9007199254740992" },
  { name: "i64 max", hex: "03 ffffffffffffff7f", js: 2n ** 63n - 1n, py: "2**63 - 1", repr: "9223372036854775807" },
  { name: "i64 min", hex: "03 0000000000000080", js: -(2n ** 63n), py: "-2**63", repr: "-9223372036854775808" },
  { name: "2^63 (big int)", hex: "04 00 08000000 0000000000000080", js: 2n ** 63n, py: "2**63", repr: "9223372036854775808" },
  {
    name: "-(2^63) - 1 (big int)",
    hex: "04 01 08000000 0100000000000080",
    js: -(2n ** 63n) - 1n,
    py: "-2**63 - 1",
    repr: "-9223372036854775809",
  },
  {
    name: "10^30 (big int)",
    hex: "04 00 0d000000 00000040eaed7446d09c2c9f0c",
    js: 10n ** 30n,
    py: "10**30",
    repr: "1000000000000000000000000000000",
  },
  { name: "float 1.5", hex: "05 000000000000f83f", js: 1.5, py: "1.5", repr: "1.5" },
  { name: "float 0.1", hex: "05 9a9999999999b93f", js: 0.1, py: "0.1", repr: "0.1" },
  { name: "float -0.0", hex: "05 0000000000000080", js: -0, py: "-0.0", repr: "-0.0" },
  { name: "float NaN", hex: "05 000000000000f87f", js: NaN, py: "math.nan", repr: "nan" },
  { name: "float inf", hex: "05 000000000000f07f", js: Infinity, py: "math.inf", repr: "inf" },
  { name: "float -inf", hex: "05 000000000000f0ff", js: -Infinity, py: "-math.inf", repr: "-inf" },
  { name: "float 5e-324", hex: "05 0100000000000000", js: 5e-324, py: "5e-324", repr: "5e-324" },
  { name: "float 2^60", hex: "05 000000000000b043", js: 2 ** 60, py: "float(2**60)", repr: "1.152921504606847e+18" },
  { name: "empty str", hex: "06 00000000", js: "", py: "''", repr: "''" },
  { name: "str with accents", hex: "06 07000000 68c3a96c6cc3b8", js: "héllø", py: "'h\\xe9ll\\xf8'", repr: "'héllø'" },
  { name: "str with an astral character", hex: "06 04000000 f09f9880", js: "😀", py: "'\\U0001f600'", repr: "'😀'" },
  { name: "str with a leading BOM", hex: "06 03000000 efbbbf", js: "\uFEFF", py: "'\\ufeff'", repr: "'\\ufeff'" },
  { name: "str with NUL", hex: "06 01000000 00", js: "\0", py: "'\\x00'", repr: "'\\x00'" },
  { name: "str U+10FFFF", hex: "06 04000000 f48fbfbf", js: "\u{10FFFF}", py: "'\\U0010ffff'", repr: "'\\U0010ffff'" },
  { name: "empty bytes", hex: "07 00000000", js: new Uint8Array(0), py: "b''", repr: "b''" },
  { name: "bytes", hex: "07 03000000 00ff61", js: new Uint8Array([0, 255, 97]), py: "b'\\x00\\xffa'", repr: "b'\\x00\\xffa'" },
  { name: "empty list", hex: "08 00000000", js: [], py: "[]", repr: "[]" },
  {
    name: "nested list",
    hex: "08 02000000 03 0100000000000000 08 01000000 06 01000000 78",
    js: [1, ["x"]],
    py: "[1, ['x']]",
    repr: "[1, ['x']]",
  },
  { name: "empty tuple", hex: "09 00000000", js: [], py: "()", repr: "()", tsEncodes: false },
  {
    name: "tuple",
    hex: "09 02000000 03 0100000000000000 06 01000000 61",
    js: [1, "a"],
    py: "(1, 'a')",
    repr: "(1, 'a')",
    tsEncodes: false,
  },
  { name: "empty dict", hex: "0a 00000000", js: {}, py: "{}", repr: "{}" },
  {
    name: "dict with str keys",
    hex: "0a 02000000 01000000 61 03 0100000000000000 03000000 622063 08 01000000 02",
    js: { a: 1, "b c": [true] },
    py: "{'a': 1, 'b c': [True]}",
    repr: "{'a': 1, 'b c': [True]}",
  },
  {
    name: "dict with a __proto__ key",
    hex: "0a 01000000 09000000 5f5f70726f746f5f5f 03 0100000000000000",
    js: dict([["__proto__", 1]]),
    py: "{'__proto__': 1}",
    repr: "{'__proto__': 1}",
  },
  {
    name: "map with int and None keys",
    hex: "0b 02000000 03 0100000000000000 06 01000000 61 00 03 0200000000000000",
    js: new Map<unknown, unknown>([[1, "a"], [null, 2]]),
    py: "{1: 'a', None: 2}",
    repr: "{1: 'a', None: 2}",
  },
  {
    name: "map with a tuple key (an array key in JS)",
    hex: "0b 01000000 09 01000000 03 0100000000000000 00",
    js: new Map([[[1], null]]),
    py: "{(1,): None}",
    repr: "{(1,): None}",
    tsEncodes: false,
  },
  { name: "empty set", hex: "0c 00000000", js: new Set(), py: "set()", repr: "set()" },
  {
    name: "set",
    hex: "0c 02000000 03 0100000000000000 03 0200000000000000",
    js: new Set([1, 2]),
    py: "{1, 2}",
    repr: "{1, 2}",
  },
  { name: "frozenset", hex: "0c 01000000 03 0300000000000000", js: new Set([3]), py: "frozenset({3})", repr: "{3}" },
  {
    name: "datetime",
    hex: "0d " + f64Hex(Date.UTC(2024, 0, 2, 3, 4, 5, 678)),
    js: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)),
    py: `datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, ${UTC})`,
    repr: `datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, ${UTC})`,
  },
  {
    name: "datetime before the epoch",
    hex: "0d " + f64Hex(-1),
    js: new Date(-1),
    py: `datetime.datetime(1969, 12, 31, 23, 59, 59, 999000, ${UTC})`,
    repr: `datetime.datetime(1969, 12, 31, 23, 59, 59, 999000, ${UTC})`,
  },
  {
    name: "datetime in year 1",
    hex: "0d " + f64Hex(YEAR_ONE_MS),
    js: new Date(YEAR_ONE_MS),
    py: `datetime.datetime(1, 1, 1, ${UTC})`,
    repr: `datetime.datetime(1, 1, 1, 0, 0, ${UTC})`,
  },
  {
    name: "map whose keys are all strings (JS only: Python sends such a dict as 0x0A)",
    hex: "0b 01000000 06 01000000 61 03 0100000000000000",
    js: new Map([["a", 1]]),
    py: "{'a': 1}",
    repr: "{'a': 1}",
    pyEncodes: false,
  },
  {
    name: "containers nested in containers",
    hex:
      "08 03000000 " +
      "0a 01000000 01000000 6b 08 02000000 00 05 000000000000f83f " +
      "0b 01000000 03 0200000000000000 0c 01000000 07 01000000 01 " +
      "04 01 09000000 000000000000000001",
    js: [{ k: [null, 1.5] }, new Map([[2, new Set([new Uint8Array([1])])]]), -(2n ** 64n)],
    py: "[{'k': [None, 1.5]}, {2: frozenset({b'\\x01'})}, -2**64]",
    repr: "[{'k': [None, 1.5]}, {2: {b'\\x01'}}, -18446744073709551616]",
  },
];

/** Malformed inputs both decoders must refuse with the same reason at the same byte. */
interface RejectCase {
  name: string;
  hex: string;
  reason: string;
  /** Python's wording where it differs (number formatting). */
  pyReason?: string;
  offset: number | null;
  /** The path in JS syntax; Python's is the same with "value" for "$" unless pyPath says otherwise. */
  path: string;
  pyPath?: string;
}

const DEEP_101 = "08 01000000 ".repeat(101) + "00";

const REJECTS: RejectCase[] = [
  { name: "empty input", hex: "", reason: "truncated input", offset: 0, path: "$" },
  { name: "unknown tag", hex: "0e", reason: "unknown tag 0x0e", offset: 0, path: "$" },
  { name: "nested unknown tag", hex: "08 02000000 00 ee", reason: "unknown tag 0xee", offset: 6, path: "$[1]" },
  { name: "invalid UTF-8", hex: "06 01000000 ff", reason: "invalid UTF-8", offset: 5, path: "$" },
  { name: "UTF-8-encoded surrogate", hex: "06 03000000 eda080", reason: "invalid UTF-8", offset: 5, path: "$" },
  { name: "overlong UTF-8", hex: "06 02000000 c080", reason: "invalid UTF-8", offset: 5, path: "$" },
  { name: "invalid UTF-8 key", hex: "0a 01000000 01000000 ff 00", reason: "invalid UTF-8", offset: 9, path: "$" },
  {
    name: "list count past the end",
    hex: "08 ffffffff 00",
    reason: "count 4294967295 exceeds the 1 bytes remaining",
    offset: 1,
    path: "$",
  },
  {
    name: "dict count past the end",
    hex: "0a 01000000 00000000",
    reason: "count 1 exceeds the 4 bytes remaining",
    offset: 1,
    path: "$",
  },
  {
    name: "str length past the end",
    hex: "06 ffffffff 00",
    reason: "truncated input: 4294967295 bytes needed, 1 remain",
    offset: 5,
    path: "$",
  },
  { name: "truncated i64", hex: "03 0000", reason: "truncated input: 8 bytes needed, 2 remain", offset: 1, path: "$" },
  { name: "trailing bytes", hex: "00 00", reason: "1 trailing byte(s) after the value", offset: 1, path: "$" },
  { name: "big int sign", hex: "04 02 00000000", reason: "invalid big int sign byte 2", offset: 1, path: "$" },
  {
    name: "NaN datetime",
    hex: "0d " + f64Hex(NaN),
    reason: "datetime NaN ms is out of range",
    pyReason: "datetime nan ms is out of range",
    offset: 1,
    path: "$",
  },
  {
    name: "datetime past every calendar",
    hex: "0d " + f64Hex(1e300),
    reason: "datetime 1e+300 ms is out of range",
    pyReason: "datetime 1e+300 ms is out of range",
    offset: 1,
    path: "$",
  },
  {
    name: "nesting past the default depth",
    hex: DEEP_101,
    reason: "nesting deeper than 100",
    offset: 500,
    path: "$" + "[0]".repeat(100),
  },
  {
    name: "error inside a dict value",
    hex: "0a 01000000 01000000 61 08 01000000 ff",
    reason: "unknown tag 0xff",
    offset: 15,
    path: "$.a[0]",
    pyPath: "value['a'][0]",
  },
];

/** Plain data in JS that Python cannot represent: lists are unhashable there. */
const PY_UNHASHABLE: Array<{ name: string; js: unknown; reason: string; path: string }> = [
  { name: "a Map keyed by an array", js: new Map([[[1], 2]]), reason: "unhashable key", path: "value[<key 0>]" },
  { name: "a Set holding an array", js: new Set([[1]]), reason: "unhashable set item", path: "value[<item 0>]" },
];
const PY_UNHASHABLE_HEX = PY_UNHASHABLE.map((c) => toHex(encodeValue(c.js)));

// ---------------------------------------------------------------------------
// Random values, both directions

/** JS values whose Python decoding re-encodes to the very same bytes (no Map/Set/tuple ambiguity). */
function randomJsValues(): unknown[] {
  const yearOne = new Date(0);
  yearOne.setUTCFullYear(1, 0, 1);
  const leaf = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
    fc.double(),
    fc.string({ unit: "binary", maxLength: 12 }),
    fc.uint8Array({ maxLength: 12 }),
    fc.date({ min: yearOne, max: new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999)), noInvalidDate: true }),
  );
  const { value } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small" },
      leaf,
      fc.array(tie("value"), { maxLength: 4 }),
      fc.dictionary(fc.string({ unit: "binary", maxLength: 6 }), tie("value"), { maxKeys: 4, noNullPrototype: true }),
    ),
  }));
  return fc.sample(value, { numRuns: 400, seed: 20240601 });
}

const RANDOM_PY_COUNT = 400;

// ---------------------------------------------------------------------------
// The Python side

const PYTHON_SCRIPT = String.raw`
import datetime, json, math, random, struct, sys
sys.path.insert(0, sys.argv[1])
from pyvisor._codec import CodecError, decode, encode

def attempt(fn):
    try:
        return {"ok": fn()}
    except CodecError as error:
        return {"error": {"reason": error.reason, "offset": error.offset, "path": error.path}}
    except Exception as error:
        return {"crash": f"{type(error).__name__}: {error}"}

def random_value(rng, depth=0):
    kinds = ["none", "bool", "int", "float", "str", "bytes", "datetime"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([rng.randint(-2**63, 2**63 - 1), rng.randint(-2**200, 2**200), rng.randint(-99, 99)])
    if kind == "float":
        x = struct.unpack("<d", rng.randbytes(8))[0]
        if math.isnan(x):
            return math.nan
        # An integral float within ±2^53 arrives in JS as an int and would come back as one.
        return x + 0.5 if x.is_integer() and abs(x) < 2**53 else x
    if kind == "str":
        return "".join(chr(rng.choice([rng.randint(0, 0xD7FF), rng.randint(0xE000, 0x10FFFF)])) for _ in range(rng.randint(0, 8)))
    if kind == "bytes":
        return rng.randbytes(rng.randint(0, 8))
    if kind == "datetime":
        ms = rng.randint(-62135596800000, 253402300799999)
        return datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(milliseconds=ms)
    items = [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return items if kind == "list" else {f"k{i}": item for i, item in enumerate(items)}

request = json.load(sys.stdin)
names = {"datetime": datetime, "math": math}
rng = random.Random(request["seed"])
print(json.dumps({
    "version": sys.version,
    "encoded": [attempt(lambda: encode(eval(expr, names)).hex()) for expr in request["encode"]],
    "decoded": [attempt(lambda: repr(decode(bytes.fromhex(hex_text)))) for hex_text in request["decode"]],
    "rejected": [attempt(lambda: repr(decode(bytes.fromhex(hex_text)))) for hex_text in request["reject"]],
    "reencoded": [attempt(lambda: encode(decode(bytes.fromhex(hex_text))).hex()) for hex_text in request["reencode"]],
    "unhashable": [attempt(lambda: repr(decode(bytes.fromhex(hex_text)))) for hex_text in request["unhashable"]],
    "generated": [encode(random_value(rng)).hex() for _ in range(request["generate"])],
}))
`;

type Attempt<T> = { ok: T } | { error: { reason: string; offset: number | null; path: string } } | { crash: string };

interface PythonReport {
  version: string;
  encoded: Array<Attempt<string>>;
  decoded: Array<Attempt<string>>;
  rejected: Array<Attempt<string>>;
  reencoded: Array<Attempt<string>>;
  unhashable: Array<Attempt<string>>;
  generated: string[];
}

/** The directory holding pyvisor/_codec.py, found upwards from this file (src or dist layout). */
function guestDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "guest", "pyvisor", "_codec.py"))) return join(dir, "guest");
    const parent = dirname(dir);
    if (parent === dir) throw new Error("cannot find guest/pyvisor/_codec.py above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

const RANDOM_JS = randomJsValues();
const RANDOM_JS_HEX = RANDOM_JS.map((value) => toHex(encodeValue(value)));

let report: PythonReport | undefined;

/** Runs python3 once, on the first test that needs it. */
function python(): PythonReport {
  if (report !== undefined) return report;
  const request = {
    encode: CASES.map((c) => c.py),
    decode: CASES.map((c) => c.hex.replace(/\s+/g, "")),
    reject: REJECTS.map((c) => c.hex.replace(/\s+/g, "")),
    reencode: RANDOM_JS_HEX,
    unhashable: PY_UNHASHABLE_HEX,
    generate: RANDOM_PY_COUNT,
    seed: 1234,
  };
  const result = spawnSync("python3", ["-c", PYTHON_SCRIPT, guestDir()], {
    input: JSON.stringify(request),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error !== undefined) {
    const missing = (result.error as NodeJS.ErrnoException).code === "ENOENT";
    assert.fail(
      missing
        ? "python3 is not on PATH: the cross-language codec test needs it (any Python >= 3.11)"
        : `could not run python3: ${result.error.message}`,
    );
  }
  assert.equal(result.status, 0, `python3 failed (exit ${result.status}):\n${result.stderr}`);
  report = JSON.parse(result.stdout) as PythonReport;
  return report;
}

function ok<T>(attempt: Attempt<T> | undefined, what: string): T {
  assert.ok(attempt !== undefined && "ok" in attempt, `${what}: Python said ${JSON.stringify(attempt)}`);
  return attempt.ok;
}

// ---------------------------------------------------------------------------
// Tests

test("python3 runs the guest codec", () => {
  assert.match(python().version, /^3\.(1[1-9]|[2-9]\d)/);
});

CASES.forEach((c, i) => {
  const hex = c.hex.replace(/\s+/g, "");

  if (c.pyEncodes !== false) {
    test(`${c.name}: Python encodes ${c.py} to the canonical bytes`, () => {
      assert.equal(ok(python().encoded[i], c.py), hex);
    });
  }

  if (c.tsEncodes !== false) {
    test(`${c.name}: TS encodes to the same bytes as Python`, () => {
      assert.equal(toHex(encodeValue(c.js)), hex);
    });
  }

  test(`${c.name}: the bytes decode in Python to ${c.repr}`, () => {
    assert.equal(ok(python().decoded[i], hex), c.repr);
  });

  test(`${c.name}: the bytes decode in TS to the expected JS value`, () => {
    assert.deepStrictEqual(decodeValue(fromHex(hex)), c.js);
  });
});

REJECTS.forEach((c, i) => {
  const hex = c.hex.replace(/\s+/g, "");

  test(`${c.name}: both sides refuse it with the same reason, byte and path`, () => {
    let jsError: CodecError | undefined;
    try {
      decodeValue(fromHex(hex));
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      jsError = error;
    }
    assert.ok(jsError !== undefined, "TS accepted it");
    assert.deepStrictEqual(
      { reason: jsError.reason, offset: jsError.offset ?? null, path: jsError.path },
      { reason: c.reason, offset: c.offset, path: c.path },
    );
    const attempt = python().rejected[i];
    assert.ok(attempt !== undefined && "error" in attempt, `Python said ${JSON.stringify(attempt)}`);
    assert.deepStrictEqual(attempt.error, {
      reason: c.pyReason ?? c.reason,
      offset: c.offset,
      path: c.pyPath ?? c.path.replace(/^\$/, "value"),
    });
  });
});

PY_UNHASHABLE.forEach((c, i) => {
  test(`${c.name} round-trips in TS but is refused by Python as ${c.reason}`, () => {
    assert.deepStrictEqual(decodeValue(fromHex(PY_UNHASHABLE_HEX[i]!)), c.js);
    const attempt = python().unhashable[i];
    assert.ok(attempt !== undefined && "error" in attempt, `Python said ${JSON.stringify(attempt)}`);
    assert.equal(attempt.error.reason, c.reason);
    assert.equal(attempt.error.path, c.path);
  });
});

test("random values encoded by TS are decoded and re-encoded by Python to the same bytes", () => {
  const results = python().reencoded;
  RANDOM_JS_HEX.forEach((hex, i) => {
    assert.equal(ok(results[i], hex), hex, `value #${i}`);
  });
});

test("random values encoded by Python are decoded and re-encoded by TS to the same bytes", () => {
  const generated = python().generated;
  assert.equal(generated.length, RANDOM_PY_COUNT);
  for (const hex of generated) {
    assert.equal(toHex(encodeValue(decodeValue(fromHex(hex)))), hex);
  }
});
