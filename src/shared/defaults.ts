// Values more than one layer needs, written once: where things are inside a
// sandbox, what a sandbox gets when its options say nothing, and where the
// snapshot cache lives on the host.
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package's root directory (this file is dist/src/shared/defaults.js). */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** The engine's artifacts: python.wasm, stdlib.img and their manifest. */
export const ENGINE_DIR = join(PACKAGE_ROOT, "engine", "dist");
/**
 * The engines a sandbox can run on: "default" (the lean engine, ENGINE_DIR) and
 * the variants that engine/build.sh --variant NAME builds into engine/variants/NAME
 * ("scientific": numpy linked in and imported in every snapshot).
 */
export const ENGINE_NAMES = ["default", "scientific"] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];
/** The directory of an engine's artifacts. */
export function engineDir(name: EngineName): string {
  return name === "default" ? ENGINE_DIR : join(PACKAGE_ROOT, "engine", "variants", name);
}

/** The sandbox's home directory and default working directory. */
export const GUEST_HOME = "/home/user";
/** Where the stdlib image (and pyvisor's guest modules) are mounted read-only. */
export const STDLIB_PATH = "/usr/local/lib/python3.13";
/**
 * Where the packages of a sandbox (SandboxOptions.packages) appear: one
 * read-only directory merging their layers, put on sys.path after the stdlib
 * (CPython's own site-packages path for the /usr/local prefix).
 */
export const SITE_PACKAGES_PATH = `${STDLIB_PATH}/site-packages`;
/** The engine's initial linear memory (python.wasm's declared minimum): no memory limit may be below it. */
export const ENGINE_INITIAL_BYTES = 20 * 1024 * 1024;

/** A sandbox's defaults: each option of Sandbox.create / run falls back to these (units in the names). */
export const DEFAULTS = Object.freeze({
  memoryLimitBytes: 256 * 1024 * 1024,
  timeoutMs: 30_000,
  outputLimitBytes: 10 * 1024 * 1024,
  diskQuotaBytes: 64 * 1024 * 1024,
  inodeQuota: 10_000,
  maxOpenFiles: 256,
  functionTimeoutMs: 10_000,
  maxFunctionCalls: 10_000,
  env: Object.freeze({ HOME: GUEST_HOME, PATH: "/usr/local/bin:/usr/bin:/bin", LANG: "C.UTF-8", TZ: "UTC" }),
  cwd: GUEST_HOME,
} as const);

/** The default snapshot cache directory: $PYVISOR_SNAPSHOT_CACHE, else $XDG_CACHE_HOME/pyvisor, else ~/.cache/pyvisor. "off" (or "0") disables it. */
export function defaultSnapshotCacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const setting = env.PYVISOR_SNAPSHOT_CACHE;
  if (setting === "off" || setting === "0") return null;
  if (setting) return setting;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "pyvisor");
}
