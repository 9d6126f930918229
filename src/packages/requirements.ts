// Requires-Dist lines (PEP 508): the name a package needs, and whether its
// environment marker holds inside pyvisor (CPython 3.13 on wasi, no extras
// asked for). There is no network to fetch a missing dependency from: one
// that no named package provides is reported by name (layer.ts).
import { normalizeName } from "./wheel.js";

/** The marker variables of pyvisor's interpreter (what `packaging.markers.default_environment()` says inside a sandbox). */
const ENVIRONMENT: Record<string, string> = {
  python_version: "3.13",
  python_full_version: "3.13.5",
  implementation_version: "3.13.5",
  implementation_name: "cpython",
  platform_python_implementation: "CPython",
  os_name: "posix",
  sys_platform: "wasi",
  platform_system: "wasi",
  platform_machine: "wasm32",
  platform_release: "0.0.0",
  platform_version: "0.0.0",
  // No extras are installed: `extra == "test"` never holds.
  extra: "",
};
const VERSION_VARIABLES = new Set(["python_version", "python_full_version", "implementation_version"]);

export interface Requirement {
  /** The normalized project name. */
  name: string;
  /** The line as written. */
  line: string;
}

/** The requirement a Requires-Dist line names if its marker holds here, or null (its marker excludes pyvisor). */
export function applicableRequirement(line: string): Requirement | null {
  const [spec = "", marker] = splitMarker(line);
  const name = /^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)/.exec(spec)?.[1];
  if (name === undefined) return null;
  if (marker !== undefined && !evaluateMarker(marker)) return null;
  return { name: normalizeName(name), line: line.trim() };
}

/** "name>=1; marker" -> [spec, marker]; a ";" inside a URL (name @ url) is followed by a space before a marker. */
function splitMarker(line: string): [string, string?] {
  const at = line.includes("@") ? line.search(/\s;/) : line.indexOf(";");
  return at < 0 ? [line] : [line.slice(0, at), line.slice(at + 1).replace(/^;/, "")];
}

/**
 * Evaluates a marker ("python_version < '3.8' and extra == 'x'"). A marker it
 * cannot read counts as holding: the dependency is then asked for, and the
 * error quotes the line.
 */
export function evaluateMarker(marker: string): boolean {
  const tokens = marker.match(/\s*(\(|\)|'[^']*'|"[^"]*"|===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b|and\b|or\b|[A-Za-z_][A-Za-z0-9_.]*)/gy);
  if (tokens === null || tokens.join("").length !== marker.length) return true;
  const list = tokens.map((t) => t.trim().replace(/\s+/g, " "));
  let at = 0;
  const peek = () => list[at];
  const value = (): string | null => {
    const token = list[at++];
    if (token === undefined) return null;
    if (/^['"]/.test(token)) return token.slice(1, -1);
    return ENVIRONMENT[token] ?? null;
  };
  const comparison = (): boolean | null => {
    if (peek() === "(") {
      at++;
      const inner = or();
      if (list[at++] !== ")") return null;
      return inner;
    }
    const variable = peek();
    const left = value();
    const op = list[at++];
    const rightToken = peek();
    const right = value();
    if (left === null || right === null || op === undefined) return null;
    const versions = VERSION_VARIABLES.has(variable ?? "") || VERSION_VARIABLES.has(rightToken ?? "");
    return compare(left, op, right, versions);
  };
  const and = (): boolean | null => {
    let result = comparison();
    while (peek() === "and") {
      at++;
      const next = comparison();
      result = result === null || next === null ? null : result && next;
    }
    return result;
  };
  const or = (): boolean | null => {
    let result = and();
    while (peek() === "or") {
      at++;
      const next = and();
      result = result === null || next === null ? null : result || next;
    }
    return result;
  };
  const result = or();
  return result === null || at !== list.length ? true : result;
}

function compare(left: string, op: string, right: string, versions: boolean): boolean | null {
  if (op === "in") return right.includes(left);
  if (op === "not in") return !right.includes(left);
  const order = versions ? compareVersions(left, right) : left < right ? -1 : left > right ? 1 : 0;
  switch (op) {
    case "==": case "===": return order === 0;
    case "!=": return order !== 0;
    case "<": return order < 0;
    case "<=": return order <= 0;
    case ">": return order > 0;
    case ">=": case "~=": return order >= 0;
    default: return null;
  }
}

/** Compares release numbers ("3.8" < "3.13"); a missing part is 0. */
function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.split(".").map((p) => Number.parseInt(p, 10) || 0);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}
