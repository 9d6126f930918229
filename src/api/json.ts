// A run's value as JSON, for callers that answer over a wire (the CLI's
// --json, pyvisor serve): JSON has no bytes, big ints, sets or maps.

/**
 * Python's own limit on converting an int to decimal text (sys.int_max_str_digits,
 * 4300 digits), in bits: decimal conversion is quadratic, so a bigger int is
 * written in hex, which takes linear time.
 */
const MAX_DECIMAL_INT_BITS = 14_284;

function bigIntText(value: bigint): string {
  const negative = value < 0n;
  const hex = (negative ? -value : value).toString(16);
  if (hex.length * 4 <= MAX_DECIMAL_INT_BITS) return value.toString();
  return `${negative ? "-" : ""}0x${hex}`;
}

/** A JSON-safe copy of a converted Python value: bytes as base64, big ints as strings (hex past 4300 digits), sets as lists, maps as [key, value] pairs. */
export function jsonValue(value: unknown): unknown {
  if (typeof value === "bigint") return bigIntText(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (value instanceof Map) return [...value].map(([k, v]) => [jsonValue(k), jsonValue(v)]);
  if (value instanceof Set) return [...value].map(jsonValue);
  if (Array.isArray(value)) return value.map(jsonValue);
  if (value instanceof Date) return value.toISOString();
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonValue(v)]));
  return value;
}
