// What this installation is: pyvisor's version and the engine's, read from the
// package and the engine's manifest (engine/dist/manifest.json).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ENGINE_DIR, PACKAGE_ROOT } from "../shared/defaults.js";

export interface Versions {
  /** pyvisor's own version (package.json). */
  pyvisor: string;
  /** The CPython version the engine was built from, e.g. "3.13.5". */
  python: string;
  /** The sha256 of python.wasm, as the engine's manifest records it. */
  engineSha256: string | null;
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
}

let cached: Versions | null = null;

/** Read once per process: the files do not change under a running program. */
export function versions(): Versions {
  if (cached !== null) return { ...cached };
  const version = readJson(join(PACKAGE_ROOT, "package.json")).version;
  const manifest = readJson(join(ENGINE_DIR, "manifest.json"));
  const cpython = manifest.cpython as { version?: unknown } | undefined;
  const files = manifest.artifacts as Record<string, { sha256?: unknown }> | undefined;
  const sha = files?.["python.wasm"]?.sha256;
  cached = {
    pyvisor: typeof version === "string" ? version : "unknown",
    python: typeof cpython?.version === "string" ? cpython.version : "3.13",
    engineSha256: typeof sha === "string" ? sha : null,
  };
  return { ...cached };
}
