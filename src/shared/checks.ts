// Checks for options objects: each option is checked by name, unknown names
// are refused (with a suggestion), and every failure is an InvalidOptionsError
// that names the option. Used for the sandbox's, the run's and the pool's options.
import { InvalidOptionsError } from "./errors.js";

/** Checks one option's value (never undefined) and throws InvalidOptionsError naming it. */
export type Check = (value: unknown, option: string) => void;
/** One check per option: an option added to a type does not compile until it has its check. */
export type Checks<T> = { readonly [K in keyof T]-?: Check };

export function invalid(option: string, expected: string, value: unknown): never {
  throw new InvalidOptionsError(option, `${option} must be ${expected}, got ${show(value)}`);
}

export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  if (value === null || typeof value !== "object" && typeof value !== "function") return String(value);
  if (typeof value === "function") return "a function";
  return Array.isArray(value) ? "an array" : "an object";
}

export const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * A copy of `value`'s own properties, each checked by `checks`; a name not in
 * `checks` is refused. Each property is read once (a getter cannot show the
 * check one value and the sandbox another) and inherited ones never.
 */
export function checkObject<T>(value: unknown, option: string, checks: Checks<T>, prefix = `${option}.`): Partial<T> {
  if (!isObject(value)) invalid(option, "an object", value);
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const name = prefix + key;
    if (!Object.hasOwn(checks, key)) {
      const near = Object.keys(checks).find((known) => editDistance(known.toLowerCase(), key.toLowerCase()) <= 2);
      throw new InvalidOptionsError(name, `unknown option ${name}${near ? ` (did you mean ${prefix}${near}?)` : ""}`);
    }
    if (item !== undefined) (checks as Record<string, Check>)[key]!(item, name);
    copy[key] = item;
  }
  return copy as Partial<T>;
}

/** Levenshtein distance, to suggest the option a misspelt name meant. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length]!;
}

const bound = (n: number) => (n === Number.MAX_SAFE_INTEGER ? "2^53-1" : n === Number.MIN_SAFE_INTEGER ? "-(2^53-1)" : String(n));
export const integer = (min: number, max: number): Check => (value, option) => {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) invalid(option, `an integer from ${bound(min)} to ${bound(max)}`, value);
};
export const milliseconds = (min: number, max: number): Check => (value, option) => {
  if (typeof value !== "number" || !(value >= min && value <= max)) invalid(option, `a number of ms from ${min} to ${max}`, value);
};
export const boolean: Check = (value, option) => {
  if (typeof value !== "boolean") invalid(option, "true or false", value);
};
export const fn: Check = (value, option) => {
  if (typeof value !== "function") invalid(option, "a function", value);
};
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const record = (checkKey: Check, checkValue: Check): Check => (value, option) => {
  if (!isObject(value)) invalid(option, "an object", value);
  for (const [key, item] of Object.entries(value)) {
    const name = `${option}[${JSON.stringify(key)}]`;
    checkKey(key, name);
    checkValue(item, name);
  }
};
export const identifier: Check = (value, option) => {
  if (typeof value !== "string" || !IDENTIFIER.test(value)) invalid(option, "named by a Python identifier", value);
};
export const noNul: Check = (value, option) => {
  if (typeof value !== "string" || value.includes("\0")) invalid(option, "a string without NUL", value);
};
export const contents: Check = (value, option) => {
  if (typeof value !== "string" && !(value instanceof Uint8Array)) invalid(option, "a string or a Uint8Array", value);
};


/** Parses 123, "64M", "1.5G", "512K" (binary units) into bytes. */
export function parseSize(value: number | string, option: string): number {
  if (typeof value === "number") return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?\s*$/i.exec(value);
  if (!match) throw new InvalidOptionsError(option, `${option}: not a size: ${JSON.stringify(value)} (use e.g. 64M, 1G, 512K)`);
  return Math.floor(Number(match[1]) * SIZE_UNITS[match[2]!.toUpperCase()]!);
}
const SIZE_UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

