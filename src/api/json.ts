// The JSON form of a converted Python value (what `pyvisor --json` prints):
// every value `run` returns has one, so JSON.stringify never throws on a result
// and never silently drops a Map or a Set.

export interface ToJSONOptions {
  /**
   * Ints beyond 2^53 (bigint): "string" (default) as decimal text, or hex
   * ("0x...") past 4300 digits, where decimal conversion would be quadratic
   * (Python's own int_max_str_digits); "number" as the nearest double.
   */
  bigint?: "string" | "number";
}

/** Python's sys.int_max_str_digits (4300 digits), in bits. */
const MAX_DECIMAL_INT_BITS = 14_284;

function bigintText(value: bigint): string {
  const negative = value < 0n;
  const hex = (negative ? -value : value).toString(16);
  if (hex.length * 4 <= MAX_DECIMAL_INT_BITS) return value.toString();
  return `${negative ? "-" : ""}0x${hex}`;
}

/**
 * A JSON-safe copy of a value from a run (`result.value`, an input): bytes
 * as base64, big ints by `options.bigint`, sets as arrays, a Map (a dict with
 * keys that are not all strings) as an object when its keys are strings and
 * as [key, value] pairs otherwise, a Date as its ISO text.
 */
export function toJSON(value: unknown, options: ToJSONOptions = {}): unknown {
  const big = options.bigint ?? "string";
  const convert = (item: unknown): unknown => {
    if (typeof item === "bigint") return big === "number" ? Number(item) : bigintText(item);
    if (item instanceof Uint8Array) return Buffer.from(item.buffer, item.byteOffset, item.byteLength).toString("base64");
    if (item instanceof Map) {
      const entries = [...item];
      return entries.every(([key]) => typeof key === "string")
        ? Object.fromEntries(entries.map(([key, v]) => [key, convert(v)]))
        : entries.map(([key, v]) => [convert(key), convert(v)]);
    }
    if (item instanceof Set) return [...item].map(convert);
    if (Array.isArray(item)) return item.map(convert);
    if (item instanceof Date) return Number.isNaN(item.getTime()) ? null : item.toISOString();
    if (typeof item === "number" && !Number.isFinite(item)) return String(item);
    if (item !== null && typeof item === "object") return Object.fromEntries(Object.entries(item).map(([key, v]) => [key, convert(v)]));
    return item;
  };
  return convert(value);
}
