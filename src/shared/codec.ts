/**
 * The value codec: the only way data crosses between the host (this side) and the
 * guest (guest/pyvisor/_codec.py, which must stay byte-for-byte compatible).
 *
 * Only plain data crosses. A host object (function, class instance, Promise, ...)
 * never does: the encoder refuses it with a CodecError naming where it was found.
 *
 * Every byte coming from the guest is hostile. The decoder therefore throws only
 * CodecError, never hangs, and never allocates more than the input justifies:
 * the input is refused up front if it is longer than `maxBytes`, and every length
 * or count is checked against the bytes that remain before anything is allocated.
 * Bytes alone do not bound the cost, though: five bytes make an empty Map (about
 * 200 bytes of host heap and half a microsecond), so a decode also has a budget
 * of nodes (`maxNodes`), claimed from each container's count before its items are
 * built. A value over any of the CodecLimits fails with a CodecLimitError.
 *
 * Wire format v1, little-endian. Value := one tag byte + body.
 *
 *   0x00 None                 0x07 bytes     u32 n + n bytes
 *   0x01 False                0x08 list      u32 count + count values
 *   0x02 True                 0x09 tuple     u32 count + count values
 *   0x03 int      i64         0x0A dict      u32 count + count × (u32 n + n bytes UTF-8 key, value)
 *   0x04 big int  sign u8 (0 = non-negative, 1 = negative) + u32 n + n bytes magnitude (LE)
 *   0x05 float    f64         0x0B map       u32 count + count × (key value, value value)
 *   0x06 str      u32 n + n bytes strict UTF-8 (no encoded surrogates)
 *   0x0C set      u32 count + count values
 *   0x0D datetime f64 milliseconds since the Unix epoch, UTC
 *
 * JS -> wire: null/undefined -> None; boolean; a number that is a safe integer
 * (and not -0) -> int, any other number -> float; bigint -> int, or big int when it
 * does not fit in i64; string -> str (a lone surrogate is an error); Uint8Array
 * (Buffer included) -> bytes; Array -> list; plain object (prototype
 * Object.prototype or null; own enumerable string keys) -> dict; Map -> map;
 * Set -> set; valid Date -> datetime.
 *
 * wire -> JS: None -> null; int and big int -> number when |v| <= 2^53 - 1, else
 * bigint; float -> number; str -> string; bytes -> Uint8Array; list and tuple ->
 * Array; dict -> plain object (a "__proto__" key becomes an own property); map ->
 * Map; set -> Set; datetime -> Date (sub-millisecond precision is dropped, as Date
 * cannot hold it). Duplicate keys are accepted: the last one wins.
 *
 * Errors read "<reason> at <path>", plus " (byte <offset>)" when decoding. Paths:
 * `$`, `$.key`, `$["not an identifier"]`, `$[3]`; the members of maps and sets,
 * which have no natural path, are `$[<key 2>]`, `$[<value 2>]` and `$[<item 2>]`
 * (by position in iteration order).
 *
 * Decoding a view of memory the guest can still write (a SharedArrayBuffer) stays
 * safe, but the value may be torn: copy the bytes first if that matters.
 *
 * Embedding: `writeValue(writer, value)` appends one encoded value to a ValueWriter
 * that may already hold (and go on to hold) other data of a larger frame;
 * `readValue(reader)` reads one value at `reader.offset` and advances it past the
 * value. The ValueWriter/ValueReader primitives (u8, u32, f64, bytes, ...) are
 * public so that the frame's own fields use the same bounds checks.
 */
import { isUtf8 } from "node:buffer";

/** Limits applied to one encode or decode; exceeding one is a CodecLimitError naming it. */
export interface CodecLimits {
  /** Maximum container nesting: a scalar at top level is depth 0, `[[1]]` is depth 2. */
  maxDepth: number;
  /** Maximum total encoded size in bytes (for a ValueWriter: of everything it holds). */
  maxBytes: number;
  /**
   * Decoder only: maximum nodes one decode builds. Every value is a node (the
   * value itself, each item of a list, tuple or set, each key and each value of
   * a dict or map), so `{"a": [1, 2]}` is 5 nodes. Checked against a container's
   * count before any of its items is built, so a flat bomb fails at once.
   */
  maxNodes: number;
}

/**
 * The defaults, which are also the budget of a run's result (the guest's last
 * value). 1,000,000 nodes is a list of a million ints; at worst (a million
 * empty Maps) it is about 200 MiB of host heap and half a second to build.
 */
export const DEFAULT_CODEC_LIMITS: Readonly<CodecLimits> = Object.freeze({
  maxDepth: 100,
  maxBytes: 64 * 1024 * 1024,
  maxNodes: 1_000_000,
});

export const enum Tag {
  None = 0x00,
  False = 0x01,
  True = 0x02,
  Int = 0x03,
  BigInt = 0x04,
  Float = 0x05,
  Str = 0x06,
  Bytes = 0x07,
  List = 0x08,
  Tuple = 0x09,
  Dict = 0x0a,
  Map = 0x0b,
  Set = 0x0c,
  DateTime = 0x0d,
}

/**
 * The only error the codec throws. `path` locates the offending part of the value
 * (`$` is the whole value); `offset` is the input byte at which decoding failed.
 */
export class CodecError extends Error {
  override name = "CodecError";
  /** Where in the value: `$`, `$.a[2]`. */
  path: string;
  /** What went wrong, without the location. */
  readonly reason: string;
  /** Decoder only: the byte offset in the input where the problem was found. */
  readonly offset: number | undefined;

  constructor(reason: string, path = "$", offset?: number) {
    super(formatMessage(reason, path, offset));
    this.reason = reason;
    this.path = path;
    this.offset = offset;
  }
}

/**
 * A well-formed value that is too costly to convert: deeper than `maxDepth`,
 * larger than `maxBytes`, or (decoding) more than `maxNodes` nodes. `limit`
 * names which; callers report it as a ConversionError rather than as garbage.
 */
export class CodecLimitError extends CodecError {
  override name = "CodecLimitError";
  readonly limit: keyof CodecLimits;

  constructor(limit: keyof CodecLimits, reason: string, path = "$", offset?: number) {
    super(reason, path, offset);
    this.limit = limit;
  }
}

function formatMessage(reason: string, path: string, offset: number | undefined): string {
  return offset === undefined ? `${reason} at ${path}` : `${reason} at ${path} (byte ${offset})`;
}

/**
 * Paths are built while an error unwinds, not while walking the value: each
 * container that sees a CodecError from a child prepends the child's segment.
 * That keeps the path out of the hot path entirely.
 */
function nestError(error: unknown, segment: string): unknown {
  if (error instanceof CodecError) {
    error.path = "$" + segment + error.path.slice(1);
    error.message = formatMessage(error.reason, error.path, error.offset);
  }
  return error;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** Keys are cut in error paths: a key can be megabytes long, and a message must stay small. */
const MAX_KEY_IN_PATH = 64;

function keySegment(key: string): string {
  if (key.length > MAX_KEY_IN_PATH) return `[${JSON.stringify(`${key.slice(0, MAX_KEY_IN_PATH)}…`)}]`;
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/**
 * Deep recursion with a caller-raised maxDepth can exhaust the JS stack; that is
 * reported as a CodecError, not as V8's RangeError.
 */
function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && /call stack/i.test(error.message);
}

function resolveLimits(limits: Partial<CodecLimits> | undefined): CodecLimits {
  const resolved = { ...DEFAULT_CODEC_LIMITS, ...limits };
  checkLimit("maxDepth", resolved.maxDepth);
  checkLimit("maxBytes", resolved.maxBytes);
  checkLimit("maxNodes", resolved.maxNodes);
  return resolved;
}

/**
 * A bad limit is the host's programming error, hence a RangeError. It must be
 * caught: with NaN, every "exceeds the limit" comparison would be false.
 */
function checkLimit(name: keyof CodecLimits, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`codec limit ${name} must be a non-negative integer, got ${String(value)}`);
  }
}

// ---------------------------------------------------------------------------
// Writer

const TWO_POW_32 = 2 ** 32;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const textEncoder = new TextEncoder();

/** True when `s` has no lone surrogate (String.prototype.isWellFormed, Node >= 20). */
function isWellFormed(s: string): boolean {
  return (s as string & { isWellFormed(): boolean }).isWellFormed();
}

/**
 * A growable little-endian byte buffer that never grows past `maxBytes`: any
 * write that would go beyond it throws "encoded value larger than <max> bytes".
 */
export class ValueWriter {
  readonly maxBytes: number;
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(maxBytes: number = DEFAULT_CODEC_LIMITS.maxBytes, initialCapacity = 256) {
    checkLimit("maxBytes", maxBytes);
    this.maxBytes = maxBytes;
    this.buf = new Uint8Array(Math.min(initialCapacity, maxBytes));
    this.view = new DataView(this.buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  /** Drops everything after `length` (used to undo a failed writeValue). */
  truncate(length: number): void {
    if (length < 0 || length > this.pos) throw new RangeError(`cannot truncate to ${length}`);
    this.pos = length;
  }

  /** A copy of the bytes written so far. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  u8(value: number): void {
    this.claim(1);
    this.buf[this.pos++] = value;
  }

  u32(value: number): void {
    if (value > 0xffffffff) throw new CodecError(`length ${value} does not fit in a u32`);
    this.claim(4);
    this.view.setUint32(this.pos, value, true);
    this.pos += 4;
  }

  /** Writes a safe integer (number) as i64 without going through BigInt. */
  i64(value: number): void {
    this.claim(8);
    const high = Math.floor(value / TWO_POW_32);
    this.view.setUint32(this.pos, value - high * TWO_POW_32, true);
    this.view.setInt32(this.pos + 4, high, true);
    this.pos += 8;
  }

  bigI64(value: bigint): void {
    this.claim(8);
    this.view.setBigInt64(this.pos, value, true);
    this.pos += 8;
  }

  f64(value: number): void {
    this.claim(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  /**
   * The u32 count of a container whose items each take at least `minItemBytes`;
   * fails now, rather than after writing most of the items, if they cannot fit.
   */
  count(n: number, minItemBytes: number): void {
    this.checkLimit(4 + n * minItemBytes);
    this.u32(n);
  }

  /** Raw bytes, no length prefix. */
  bytes(data: Uint8Array): void {
    this.claim(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** u32 byte length + UTF-8. A lone surrogate is refused, never replaced by U+FFFD. */
  lengthPrefixedUtf8(s: string): void {
    if (!isWellFormed(s)) throw new CodecError("cannot convert string with a lone surrogate");
    // UTF-8 never takes fewer bytes than UTF-16 code units: fail before encoding a huge string.
    this.checkLimit(4 + s.length);
    const worstCase = 4 + 3 * s.length;
    if (this.pos + worstCase > this.maxBytes) {
      const encoded = textEncoder.encode(s);
      this.u32(encoded.length);
      this.bytes(encoded);
      return;
    }
    // Common case: encode straight into the buffer, then fill in the length.
    this.reserve(worstCase);
    const { written } = textEncoder.encodeInto(s, this.buf.subarray(this.pos + 4));
    this.view.setUint32(this.pos, written, true);
    this.pos += 4 + written;
  }

  /** Fails if `n` more bytes would exceed maxBytes, else makes room for them. */
  private claim(n: number): void {
    this.checkLimit(n);
    this.reserve(n);
  }

  /** Fails if `n` more bytes would exceed maxBytes. */
  checkLimit(n: number): void {
    if (this.pos + n > this.maxBytes) {
      throw new CodecLimitError("maxBytes", `encoded value larger than ${this.maxBytes} bytes`);
    }
  }

  /** Grows geometrically, but never beyond maxBytes (callers stay within it). */
  private reserve(n: number): void {
    const needed = this.pos + n;
    if (needed <= this.buf.length) return;
    const capacity = Math.max(needed, Math.min(this.buf.length * 2, this.maxBytes));
    const grown = new Uint8Array(capacity);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }
}

/** Encodes one value to a fresh byte array. */
export function encodeValue(value: unknown, limits?: Partial<CodecLimits>): Uint8Array {
  const { maxDepth, maxBytes } = resolveLimits(limits);
  const writer = new ValueWriter(maxBytes);
  writeValue(writer, value, maxDepth);
  return writer.toBytes();
}

/**
 * Appends one encoded value to `writer`. On failure the writer is truncated back
 * to where it was, so a frame under construction is never left half-written.
 */
export function writeValue(
  writer: ValueWriter,
  value: unknown,
  maxDepth: number = DEFAULT_CODEC_LIMITS.maxDepth,
): void {
  checkLimit("maxDepth", maxDepth);
  const start = writer.length;
  try {
    new Encoder(writer, maxDepth).write(value, 0);
  } catch (error) {
    writer.truncate(start);
    if (isStackOverflow(error)) throw new CodecLimitError("maxDepth", "nesting too deep for the call stack");
    throw error;
  }
}

/** What kind of wire value an object becomes; containers are the ones that nest. */
type ObjectKind = "bytes" | "date" | "list" | "dict" | "map" | "set";

class Encoder {
  /** Containers currently being written (ancestors of the current value). */
  private readonly open = new Set<object>();

  constructor(
    private readonly w: ValueWriter,
    private readonly maxDepth: number,
  ) {}

  /** `depth` is the nesting level of the container holding `value` (0 at top level). */
  write(value: unknown, depth: number): void {
    switch (typeof value) {
      case "undefined":
        return this.w.u8(Tag.None);
      case "boolean":
        return this.w.u8(value ? Tag.True : Tag.False);
      case "number":
        return this.writeNumber(value);
      case "bigint":
        return this.writeBigInt(value);
      case "string":
        return this.writeString(value);
      case "object":
        return value === null ? this.w.u8(Tag.None) : this.writeObject(value, depth);
      default: // function, symbol
        throw new CodecError(`cannot convert ${describe(value)}`);
    }
  }

  private writeNumber(value: number): void {
    if (Number.isSafeInteger(value) && !Object.is(value, -0)) {
      this.w.u8(Tag.Int);
      this.w.i64(value);
    } else {
      this.w.u8(Tag.Float);
      this.w.f64(value);
    }
  }

  private writeBigInt(value: bigint): void {
    if (value >= I64_MIN && value <= I64_MAX) {
      this.w.u8(Tag.Int);
      this.w.bigI64(value);
      return;
    }
    const magnitude = bigIntToBytes(value < 0n ? -value : value);
    this.w.u8(Tag.BigInt);
    this.w.u8(value < 0n ? 1 : 0);
    this.w.u32(magnitude.length);
    this.w.bytes(magnitude);
  }

  private writeString(value: string): void {
    this.w.u8(Tag.Str);
    this.w.lengthPrefixedUtf8(value);
  }

  private writeObject(value: object, depth: number): void {
    const kind = classify(value);
    if (kind === "bytes") return this.writeBytes(value as Uint8Array);
    if (kind === "date") return this.writeDate(value as Date);
    // Containers: the checks shared by all of them, then the kind-specific body.
    if (this.open.has(value)) throw new CodecError("circular reference");
    if (depth + 1 > this.maxDepth) throw new CodecLimitError("maxDepth", `nesting deeper than ${this.maxDepth}`);
    this.open.add(value);
    if (kind === "list") this.writeList(value as unknown[], depth + 1);
    else if (kind === "dict") this.writeDict(value as Record<string, unknown>, depth + 1);
    else if (kind === "map") this.writeMap(value as Map<unknown, unknown>, depth + 1);
    else this.writeSet(value as Set<unknown>, depth + 1);
    this.open.delete(value);
  }

  private writeBytes(value: Uint8Array): void {
    this.w.u8(Tag.Bytes);
    this.w.u32(value.length);
    this.w.bytes(value);
  }

  private writeDate(value: Date): void {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new CodecError("cannot convert invalid Date");
    this.w.u8(Tag.DateTime);
    this.w.f64(ms);
  }

  private writeList(value: unknown[], depth: number): void {
    // The count is written first, so it is read once: a getter run while encoding
    // an item must not be able to make the items disagree with it.
    const n = value.length;
    this.w.u8(Tag.List);
    this.w.count(n, 1);
    let i = 0;
    try {
      for (; i < n; i++) this.write(value[i], depth);
    } catch (error) {
      throw nestError(error, `[${i}]`);
    }
  }

  private writeDict(value: Record<string, unknown>, depth: number): void {
    const symbol = Object.getOwnPropertySymbols(value)[0];
    if (symbol !== undefined) throw new CodecError(`cannot convert symbol key ${String(symbol)}`);
    const keys = Object.keys(value);
    this.w.u8(Tag.Dict);
    this.w.count(keys.length, 5);
    let key = "";
    try {
      for (key of keys) {
        this.w.lengthPrefixedUtf8(key);
        this.write(value[key], depth);
      }
    } catch (error) {
      throw nestError(error, keySegment(key));
    }
  }

  private writeMap(value: Map<unknown, unknown>, depth: number): void {
    const n = value.size;
    this.w.u8(Tag.Map);
    this.w.count(n, 2);
    let i = 0;
    let segment = "";
    try {
      for (const [key, item] of value) {
        segment = `[<key ${i}>]`;
        this.write(key, depth);
        segment = `[<value ${i}>]`;
        this.write(item, depth);
        i++;
      }
    } catch (error) {
      throw nestError(error, segment);
    }
    if (i !== n) throw new CodecError("Map changed while being encoded");
  }

  private writeSet(value: Set<unknown>, depth: number): void {
    const n = value.size;
    this.w.u8(Tag.Set);
    this.w.count(n, 1);
    let i = 0;
    try {
      for (const item of value) {
        this.write(item, depth);
        i++;
      }
    } catch (error) {
      throw nestError(error, `[<item ${i}>]`);
    }
    if (i !== n) throw new CodecError("Set changed while being encoded");
  }
}

/** Decides what an object becomes on the wire, or throws for anything that is not plain data. */
function classify(value: object): ObjectKind {
  if (value instanceof Uint8Array) return "bytes"; // Buffer is a Uint8Array subclass
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) === Array.prototype) return "list";
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) return "dict";
    if (value instanceof Map) return "map";
    if (value instanceof Set) return "set";
    if (value instanceof Date) return "date";
  }
  throw new CodecError(`cannot convert ${describe(value)}`);
}

/** "function", "symbol", "RegExp object", "Foo object", "Float32Array object". */
function describe(value: unknown): string {
  if (typeof value !== "object" || value === null) return typeof value;
  let name: unknown;
  try {
    name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } }).constructor?.name;
  } catch {
    name = undefined; // a Proxy or a getter that throws: describe it generically
  }
  return typeof name === "string" && name !== "" ? `${name} object` : "object";
}

/** Little-endian magnitude bytes of a non-negative bigint, no leading zero bytes. */
function bigIntToBytes(value: bigint): Uint8Array {
  // Through native hex (linear): a per-byte loop takes seconds on a 16 MiB int.
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 === 1 ? "0" + hex : hex, "hex").reverse();
}

// ---------------------------------------------------------------------------
// Reader

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);
/** Far below V8's BigInt size limit (2^30 bits), so BigInt() can never throw a RangeError. */
const MAX_BIGINT_BYTES = 1 << 24;
/**
 * The hex digits of little-endian bytes, most significant first. Past a few
 * words, native hex of the bytes reversed: appending a string per byte took
 * seconds on a 16 MiB int, past any run's deadline.
 */
function bigEndianHex(magnitude: Uint8Array): string {
  if (magnitude.length > 64) return Buffer.from(magnitude).reverse().toString("hex");
  let hex = "";
  for (let i = magnitude.length - 1; i >= 0; i--) hex += HEX[magnitude[i]!];
  return hex;
}
/** Date's range: ±100,000,000 days around the epoch. */
const MAX_DATE_MS = 8.64e15;
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** Below this length, ASCII is decoded by hand: TextDecoder's call overhead dominates short keys. */
const SHORT_STRING = 32;

function shortAscii(raw: Uint8Array): string | undefined {
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    if (byte >= 0x80) return undefined;
    out += String.fromCharCode(byte);
  }
  return out;
}

/**
 * A bounds-checked cursor over `bytes[offset, end)`. Every read that would pass
 * `end` throws CodecError("truncated input"); nothing is ever read or allocated
 * beyond what the remaining bytes justify.
 */
export class ValueReader {
  readonly bytes: Uint8Array;
  readonly end: number;
  /** The next byte to read; advanced by every read. */
  offset: number;
  private readonly view: DataView;

  constructor(bytes: Uint8Array, offset = 0, end = bytes.length) {
    if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(end) && 0 <= offset && offset <= end && end <= bytes.length)) {
      throw new CodecError(`invalid reader window [${offset}, ${end}) over ${bytes.length} bytes`);
    }
    this.bytes = bytes;
    this.offset = offset;
    this.end = end;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.offset++]!;
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  /** i64 as a number when it is a safe integer, else as a bigint. */
  i64(): number | bigint {
    this.need(8);
    // Combine two halves as a number (no BigInt allocation). Any true value beyond
    // ±(2^53 - 1) yields an unsafe number even if rounded, so the test below is exact.
    const low = this.view.getUint32(this.offset, true);
    const high = this.view.getInt32(this.offset + 4, true);
    const asNumber = high * TWO_POW_32 + low;
    const value = Number.isSafeInteger(asNumber) ? asNumber : this.view.getBigInt64(this.offset, true);
    this.offset += 8;
    return value;
  }

  f64(): number {
    this.need(8);
    const value = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return value;
  }

  /** `n` raw bytes as a view into the input (no copy). */
  bytesView(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** Skips `n` bytes. */
  skip(n: number): void {
    this.need(n);
    this.offset += n;
  }

  /** Skips a u32 byte length + strict UTF-8, checking it without building the string (or a view, when short and ASCII). */
  skipUtf8(): undefined {
    const n = this.u32();
    const start = this.offset;
    this.skip(n);
    let ascii = n <= SHORT_STRING;
    for (let i = start; ascii && i < start + n; i++) ascii = this.bytes[i]! < 0x80;
    if (!ascii && !isUtf8(this.bytes.subarray(start, start + n))) throw new CodecError("invalid UTF-8", "$", start);
    return undefined;
  }

  /** u32 byte length + strict UTF-8. */
  lengthPrefixedUtf8(): string {
    const n = this.u32();
    const start = this.offset;
    const raw = this.bytesView(n);
    if (n <= SHORT_STRING) {
      const ascii = shortAscii(raw);
      if (ascii !== undefined) return ascii;
    }
    try {
      return utf8Decoder.decode(raw);
    } catch {
      throw new CodecError("invalid UTF-8", "$", start);
    }
  }

  /** A u32 count of items that each take at least `minItemBytes`, checked against what remains. */
  count(minItemBytes: number): number {
    const at = this.offset;
    const n = this.u32();
    if (n * minItemBytes > this.remaining) {
      throw new CodecError(`count ${n} exceeds the ${this.remaining} bytes remaining`, "$", at);
    }
    return n;
  }

  private need(n: number): void {
    if (n > this.end - this.offset) {
      const reason = n === 1 ? "truncated input" : `truncated input: ${n} bytes needed, ${this.end - this.offset} remain`;
      throw new CodecError(reason, "$", this.offset);
    }
  }
}

/** Decodes exactly one value; trailing bytes are an error. */
export function decodeValue(bytes: Uint8Array, limits?: Partial<CodecLimits>): unknown {
  const { maxDepth, maxBytes, maxNodes } = resolveLimits(limits);
  if (bytes.length > maxBytes) {
    throw new CodecLimitError("maxBytes", `input of ${bytes.length} bytes is larger than ${maxBytes} bytes`);
  }
  const reader = new ValueReader(bytes);
  const value = readValue(reader, maxDepth, maxNodes);
  if (reader.remaining > 0) {
    throw new CodecError(`${reader.remaining} trailing byte(s) after the value`, "$", reader.offset);
  }
  return value;
}

/**
 * Checks what decodeValue checks (the same errors, limits included) without
 * building the value: a cheap screen, at a fraction of a full decode's cost,
 * for bytes a later decodeValue will turn into a value.
 */
export function validateValue(bytes: Uint8Array, limits?: Partial<CodecLimits>): void {
  const { maxDepth, maxBytes, maxNodes } = resolveLimits(limits);
  if (bytes.length > maxBytes) {
    throw new CodecLimitError("maxBytes", `input of ${bytes.length} bytes is larger than ${maxBytes} bytes`);
  }
  const reader = new ValueReader(bytes);
  readValue(reader, maxDepth, maxNodes, false);
  if (reader.remaining > 0) {
    throw new CodecError(`${reader.remaining} trailing byte(s) after the value`, "$", reader.offset);
  }
}

/** Reads one value at `reader.offset` and leaves the offset just past it (with `build` false, only checks it and returns null). */
export function readValue(
  reader: ValueReader,
  maxDepth: number = DEFAULT_CODEC_LIMITS.maxDepth,
  maxNodes: number = DEFAULT_CODEC_LIMITS.maxNodes,
  build = true,
): unknown {
  checkLimit("maxDepth", maxDepth);
  checkLimit("maxNodes", maxNodes);
  try {
    const decoder = new Decoder(reader, maxDepth, maxNodes, build);
    decoder.claimNodes(1, reader.offset);
    return decoder.read(0);
  } catch (error) {
    if (isStackOverflow(error)) throw new CodecLimitError("maxDepth", "nesting too deep for the call stack", "$", reader.offset);
    throw error;
  }
}

class Decoder {
  /** Nodes claimed so far: every value is claimed (by its container, or by readValue) before it is read. */
  private nodes = 0;

  constructor(
    private readonly r: ValueReader,
    private readonly maxDepth: number,
    private readonly maxNodes: number,
    /** False: check every byte and limit, build nothing (validateValue). */
    private readonly build: boolean,
  ) {}

  /** Claims `n` nodes of the budget before they are built; `at` is the count's offset. */
  claimNodes(n: number, at: number): void {
    if (n > this.maxNodes - this.nodes) {
      throw new CodecLimitError("maxNodes", `more than ${this.maxNodes} nodes`, "$", at);
    }
    this.nodes += n;
  }

  /** A container's item count, checked against the remaining bytes and claimed from the node budget. */
  private itemCount(minItemBytes: number, nodesPerItem: 1 | 2): number {
    const at = this.r.offset;
    const n = this.r.count(minItemBytes);
    this.claimNodes(n * nodesPerItem, at);
    return n;
  }

  /** `depth` is the nesting level of the container holding the value (0 at top level). */
  read(depth: number): unknown {
    const at = this.r.offset;
    const tag = this.r.u8();
    switch (tag) {
      case Tag.None:
        return null;
      case Tag.False:
        return false;
      case Tag.True:
        return true;
      case Tag.Int:
        return this.r.i64();
      case Tag.BigInt:
        return this.readBigInt();
      case Tag.Float:
        return this.r.f64();
      case Tag.Str:
        if (!this.build) return this.r.skipUtf8();
        return this.r.lengthPrefixedUtf8();
      case Tag.Bytes:
        if (!this.build) {
          this.r.skip(this.r.u32());
          return null;
        }
        return this.r.bytesView(this.r.u32()).slice(); // a copy: never alias the input buffer
      case Tag.DateTime:
        return this.readDate();
      case Tag.List:
      case Tag.Tuple:
      case Tag.Dict:
      case Tag.Map:
      case Tag.Set:
        if (depth + 1 > this.maxDepth) throw new CodecLimitError("maxDepth", `nesting deeper than ${this.maxDepth}`, "$", at);
        return this.readContainer(tag, depth + 1);
      default:
        throw new CodecError(`unknown tag 0x${HEX[tag]}`, "$", at);
    }
  }

  private readContainer(tag: Tag, depth: number): unknown {
    if (tag === Tag.Dict) return this.readDict(depth);
    if (tag === Tag.Map) return this.readMap(depth);
    const items: unknown[] = [];
    const n = this.itemCount(1, 1);
    let i = 0;
    try {
      for (; i < n; i++) {
        const item = this.read(depth);
        if (this.build) items.push(item);
      }
    } catch (error) {
      throw nestError(error, tag === Tag.Set ? `[<item ${i}>]` : `[${i}]`);
    }
    return !this.build ? null : tag === Tag.Set ? new Set(items) : items;
  }

  private readDict(depth: number): Record<string, unknown> | null {
    const out: Record<string, unknown> = {};
    const n = this.itemCount(5, 2); // u32 key length + one tag byte; a key and a value
    for (let i = 0; i < n; i++) {
      const keyAt = this.r.offset;
      const key = this.build ? this.r.lengthPrefixedUtf8() : this.r.skipUtf8();
      let value: unknown;
      try {
        value = this.read(depth);
      } catch (error) {
        throw nestError(error, keySegment(key ?? new ValueReader(this.r.bytes, keyAt).lengthPrefixedUtf8()));
      }
      if (key !== undefined) defineOwn(out, key, value);
    }
    return this.build ? out : null;
  }

  private readMap(depth: number): Map<unknown, unknown> | null {
    const out = new Map<unknown, unknown>();
    const n = this.itemCount(2, 2);
    let segment = "";
    try {
      for (let i = 0; i < n; i++) {
        segment = `[<key ${i}>]`;
        const key = this.read(depth);
        segment = `[<value ${i}>]`;
        const value = this.read(depth);
        if (this.build) out.set(key, value);
      }
    } catch (error) {
      throw nestError(error, segment);
    }
    return this.build ? out : null;
  }

  private readBigInt(): number | bigint | null {
    const at = this.r.offset;
    const sign = this.r.u8();
    if (sign > 1) throw new CodecError(`invalid big int sign byte ${sign}`, "$", at);
    const magnitude = this.r.bytesView(this.r.u32());
    const n = magnitude.length;
    if (n > MAX_BIGINT_BYTES) throw new CodecError(`big int of ${n} bytes is too large`, "$", at);
    if (!this.build) return null;
    const value = BigInt("0x0" + bigEndianHex(magnitude));
    return narrowInteger(sign === 1 ? -value : value);
  }

  private readDate(): Date | null {
    const at = this.r.offset;
    const ms = this.r.f64();
    if (!(Math.abs(ms) <= MAX_DATE_MS)) throw new CodecError(`datetime ${ms} ms is out of range`, "$", at);
    return this.build ? new Date(ms) : null;
  }
}

/**
 * Sets an own data property. Plain assignment on a fresh `{}` can only be
 * intercepted by a property of Object.prototype: the `__proto__` accessor (which
 * would change the prototype) or, in a hardened realm, a frozen `toString` that
 * makes assignment throw. Those keys go through defineProperty; all others take
 * the fast path.
 */
function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key in Object.prototype) {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/** The decoded form of an integer: a number when it is safe, else a bigint. */
function narrowInteger(value: bigint): number | bigint {
  return value >= -MAX_SAFE_BIGINT && value <= MAX_SAFE_BIGINT ? Number(value) : value;
}
