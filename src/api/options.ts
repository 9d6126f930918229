// Sandbox and run options: types, documented defaults, and validation.
// Bad options are host misuse: they throw InvalidOptionsError with the field.
import { isAbsolute } from "node:path";
import { existsSync, statSync } from "node:fs";
import { InvalidOptionsError } from "../shared/errors.js";
import { Policy, type PolicySpec } from "../policy/policy.js";
import { ENGINE_INITIAL_BYTES } from "../engine/engine.js";
import type { Pool } from "../pool/pool.js";

export type HostFunction = (...args: any[]) => unknown;

export interface MountOption {
  /** Host directory (must exist). */
  host: string;
  /** Absolute path inside the sandbox. */
  guest: string;
  /** Default true: mounts are read-only unless asked otherwise. */
  readonly?: boolean;
  /**
   * Default false: the guest may not make symlinks in a read-write mount (EPERM),
   * so it cannot leave traps for host programs that read the mount later. When
   * true, only relative targets that stay inside the mount are stored (a sandbox
   * path into the mount is stored relative to the link).
   */
  allowSymlinks?: boolean;
}

export interface SandboxOptions {
  /** Guest memory cap in bytes or as a size ("64M", "1G"). Default 256 MiB. Exact to the 64 KiB page. */
  memoryLimit?: number | string;
  /** Default wall-clock limit per run, in ms. Default 30 000. */
  timeout?: number;
  /** Default guest CPU-time limit per run, in ms (time in host functions and sleeps excluded). Default: none. */
  cpuTime?: number;
  /**
   * Default deterministic CPU budget per run, in eval-breaker checks (backward
   * jumps and calls); independent of the host's speed. Checked every 1000
   * checks, so it binds to within 1000. Default: none.
   */
  tickLimit?: number;
  /** Bytes each of stdout and stderr may hold per run; the rest is cut. Default 10 MiB. */
  outputLimit?: number;
  /** Bytes the sandbox may write to its writable trees (/tmp, cwd, rw mounts). Default 64 MiB. */
  diskQuota?: number;
  /** Files and directories the sandbox may create. Default 10 000. */
  inodeQuota?: number;
  /** Open file descriptors (including stdio). Default 256. */
  maxOpenFiles?: number;
  mounts?: MountOption[];
  /** The guest's whole environment. Nothing comes from the host. Default {HOME, PATH, LANG}. */
  env?: Record<string, string>;
  /** Files to create before the first run: guest path -> contents. */
  files?: Record<string, string | Uint8Array>;
  /** Working directory. Default /home/user. */
  cwd?: string;
  /** Fixed clock (2000-01-01 advancing per read), seeded randomness, fresh (not snapshotted) interpreter. */
  deterministic?: boolean;
  /** Seed for deterministic randomness. Default 0. */
  seed?: number;
  /** Host functions callable from Python as globals and via `pyvisor.call(name, ...)`. */
  functions?: Record<string, HostFunction>;
  /** Per host-function call limit in ms. Default 10 000. */
  functionTimeout?: number;
  /** Host-function calls allowed per run. Default 10 000. */
  maxFunctionCalls?: number;
  /** Syscall rules (deny lists). Sockets are always refused. */
  policy?: PolicySpec;
  /** Record every syscall of each run in `result.trace`. */
  trace?: boolean;
  /** The pool to place the sandbox on; default: a shared pool of worker processes. */
  pool?: Pool;
}

export interface RunOptions {
  /** Standard input: text, bytes, or an async iterable of either (read fully before the run starts). */
  stdin?: string | Uint8Array | AsyncIterable<string | Uint8Array>;
  /** Wall-clock limit for this run, in ms. */
  timeout?: number;
  /** Guest CPU-time limit for this run, in ms. */
  cpuTime?: number;
  /** Deterministic CPU budget for this run, in eval-breaker checks (see SandboxOptions.tickLimit). */
  tickLimit?: number;
  /** Globals bound for this run (plain data only). */
  inputs?: Record<string, unknown>;
  /** Receives stdout chunks as they are written. */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** Cancels the run (it ends with error type CancelledError). */
  signal?: AbortSignal;
  /** Shown in tracebacks. Default "<string>". */
  filename?: string;
  /** argv for the program (sys.argv). Default [filename]. */
  argv?: string[];
}

export const DEFAULTS = {
  memoryLimitBytes: 256 * 1024 * 1024,
  timeoutMs: 30_000,
  outputLimitBytes: 10 * 1024 * 1024,
  diskQuotaBytes: 64 * 1024 * 1024,
  inodeQuota: 10_000,
  maxOpenFiles: 256,
  functionTimeoutMs: 10_000,
  maxFunctionCalls: 10_000,
  env: { HOME: "/home/user", PATH: "/usr/local/bin:/usr/bin:/bin", LANG: "C.UTF-8", TZ: "UTC" },
  cwd: "/home/user",
} as const;

const SIZE_UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Parses 123, "64M", "1.5G", "512K" (binary units) into bytes. */
export function parseSize(value: number | string, field: string): number {
  if (typeof value === "number") return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?\s*$/i.exec(value);
  if (!match) throw new InvalidOptionsError(`${field}: not a size: ${JSON.stringify(value)} (use e.g. 64M, 1G, 512K)`);
  return Math.floor(Number(match[1]) * SIZE_UNITS[match[2]!.toUpperCase()]!);
}

export function positive(value: number | undefined, field: string, fallback: number, integer = true): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0) || (integer && !Number.isInteger(value)) || !Number.isFinite(value)) {
    throw new InvalidOptionsError(`${field} must be a positive ${integer ? "integer" : "number"}, got ${String(value)}`);
  }
  return value;
}

export function checkGuestPath(path: string, field: string): string {
  if (typeof path !== "string" || !path.startsWith("/") || path.includes("\0") || path.split("/").includes("..")) {
    throw new InvalidOptionsError(`${field} must be an absolute sandbox path without "..", got ${JSON.stringify(path)}`);
  }
  return path;
}

export function checkMemoryLimit(value: number | string | undefined): number {
  const bytes = value === undefined ? DEFAULTS.memoryLimitBytes : parseSize(value, "memoryLimit");
  if (!(bytes >= ENGINE_INITIAL_BYTES + 4 * 1024 * 1024) || bytes > 4 * 1024 ** 3) {
    throw new InvalidOptionsError(`memoryLimit must be between 24M and 4G (the interpreter needs 20 MiB to start), got ${String(value)}`);
  }
  return bytes;
}

export function checkMounts(mounts: MountOption[] | undefined) {
  return (mounts ?? []).map((mount, i) => {
    if (!mount || typeof mount.host !== "string" || !isAbsolute(mount.host)) throw new InvalidOptionsError(`mounts[${i}].host must be an absolute host path`);
    if (!existsSync(mount.host) || !statSync(mount.host).isDirectory()) throw new InvalidOptionsError(`mounts[${i}].host is not an existing directory: ${mount.host}`);
    return { hostPath: mount.host, guestPath: checkGuestPath(mount.guest, `mounts[${i}].guest`), readonly: mount.readonly !== false, allowSymlinks: mount.allowSymlinks === true };
  });
}

export function checkSeed(seed: number | undefined): number {
  if (seed === undefined) return 0;
  if (!Number.isSafeInteger(seed)) throw new InvalidOptionsError(`seed must be an integer, got ${String(seed)}`);
  return seed;
}

/** The policy is data for the engine; checked here so that a bad rule is an error of `create`, not of the engine. */
export function checkPolicy(policy: PolicySpec | undefined): PolicySpec {
  if (policy === undefined) return {};
  try {
    new Policy(policy);
  } catch (error) {
    throw new InvalidOptionsError(`policy: ${(error as Error).message}`);
  }
  return policy;
}

export function checkEnv(env: Record<string, string> | undefined): Record<string, string> {
  if (env === undefined) return { ...DEFAULTS.env };
  for (const [key, value] of Object.entries(env)) {
    if (key === "" || key.includes("=") || key.includes("\0") || typeof value !== "string" || value.includes("\0")) {
      throw new InvalidOptionsError(`env: invalid entry ${JSON.stringify(key)}`);
    }
  }
  return { ...env };
}
