// Sandbox, run and pool options: types, documented defaults and ranges, and
// their validation, all in this file. Bad options are host misuse: they throw
// InvalidOptionsError, whose `option` names the offending option. An option is
// checked for its type and range, and also against the others when a legal
// value would still make every run fail (a mount over the driver's channel, a
// policy denying what the driver needs). Unknown option names are refused: a
// misspelt limit that silently does not apply is a security problem.
import { isAbsolute, join } from "node:path";
import { statSync } from "node:fs";
import { InvalidOptionsError } from "../shared/errors.js";
import { boolean, checkObject, contents, fn, identifier, integer, invalid, milliseconds, noNul, parseSize, record, show, type Check, type Checks } from "../shared/checks.js";
import { Policy, type SyscallQuery } from "../policy/policy.js";
import type { PolicyRule, PolicySpec } from "../shared/spec.js";
import { DEFAULTS, ENGINE_INITIAL_BYTES, STDLIB_PATH, type EngineName } from "../shared/defaults.js";
import type { SandboxSpec } from "../shared/protocol.js";
import { checkPackages } from "../packages/layer.js";
// A cycle (pool.ts validates its options here), harmless: neither module uses
// the other until a function runs.
import { Pool } from "../pool/pool.js";
import { engineName } from "../pool/options.js";

export type HostFunction = (...args: any[]) => unknown;

export interface MountOption {
  /** Host directory: an absolute path to an existing directory. */
  host: string;
  /**
   * Absolute path inside the sandbox, without "..". It may not be, lie under,
   * or contain /dev, the driver's modules, or /usr/local/bin/python3; nor be
   * or lie under another mount. A mount containing the working directory
   * must hold it (the driver enters it at every fresh start).
   */
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
  /** Guest memory cap in bytes (an integer) or as a size ("64M", "1G"). Default 256 MiB; 24 MiB to 4 GiB. Exact to the 64 KiB page. */
  memoryLimit?: number | string;
  /** Default wall-clock limit per run, in ms. Default 30 000; 1 to MAX_TIME_LIMIT_MS (2e9, about 23 days). */
  timeout?: number;
  /** Default guest CPU-time limit per run, in ms (time in host functions and sleeps excluded). Default: none; 1 to MAX_TIME_LIMIT_MS. */
  cpuTime?: number;
  /**
   * Default deterministic CPU budget per run, in eval-breaker checks (backward
   * jumps and calls); independent of the host's speed. Checked every 1000
   * checks, so it binds to within 1000. Default: none; an integer from 1 to 2^53-1.
   */
  tickLimit?: number;
  /** Bytes each of stdout and stderr may hold per run; the rest is cut. Default 10 MiB; an integer from 1 to 256 MiB (output is held as text in memory). */
  outputLimit?: number;
  /** Bytes the sandbox may write to its writable trees (/tmp, cwd, rw mounts). Default 64 MiB; an integer from 1 to 2^53-1. */
  diskQuota?: number;
  /** Files and directories the sandbox may create. Default 10 000; an integer from 1 to 2^53-1. */
  inodeQuota?: number;
  /**
   * Open file descriptors, including stdio, the root and the driver's channel.
   * Default 256; an integer from 8 (MIN_OPEN_FILES: the 5 pyvisor holds and
   * room for a program to start) to 65 536.
   */
  maxOpenFiles?: number;
  /** Host directories to mount (see MountOption). Default none. */
  mounts?: MountOption[];
  /**
   * Pure-Python packages: host paths of wheels (.whl, tagged py3-none-any or
   * the like), zip archives or directories, whose contents appear read-only
   * in one directory on sys.path (/usr/local/lib/python3.13/site-packages),
   * with their .dist-info metadata (importlib.metadata). Each is checked and
   * unpacked once per process and shared by every sandbox naming it. A bad
   * package (native code, a wrong RECORD hash, an unsafe path, a zip bomb, a
   * Requires-Dist no named package provides, ...) throws PackageError before
   * any sandbox starts. Default none. See README "Packages".
   */
  packages?: string[];
  /**
   * Environment variables, set over the defaults (DEFAULTS.env: HOME, PATH,
   * LANG, TZ): names without "=" or NUL, string values without NUL; `null`
   * removes a default. Nothing comes from the host. With `envDefaults: false`
   * the environment is exactly `env`.
   */
  env?: Record<string, string | null>;
  /** Start the environment from DEFAULTS.env (true, the default) or from nothing (false). */
  envDefaults?: boolean;
  /** Files to create before the first run: absolute guest path (not under /dev or pyvisor's own files) -> string or bytes. */
  files?: Record<string, string | Uint8Array>;
  /** Working directory: an absolute guest path without "..", not under /dev or pyvisor's own files. Default /home/user. */
  cwd?: string;
  /** Fixed clock (2000-01-01 advancing per read), seeded randomness, fresh (not snapshotted) interpreter. Default false. */
  deterministic?: boolean;
  /** Seed for deterministic randomness: a safe integer. Default 0. */
  seed?: number;
  /**
   * Host functions callable from Python: `from pyvisor.host import name` (or
   * `pyvisor.call(name, ...)`); names are Python identifiers.
   */
  functions?: Record<string, HostFunction>;
  /**
   * Also bind each host function as a global of `__main__`, except where the
   * program bound that name itself. Default false (before 0.2 they were always
   * bound): a program's own names are never shadowed unless asked.
   */
  hostGlobals?: boolean;
  /**
   * The one time limit of a host-function call, in ms: past it Python gets
   * `pyvisor.HostError` ("timed out after N ms"). The run's own `timeout`
   * still applies around it. Default 10 000; 1 to MAX_TIME_LIMIT_MS.
   */
  functionTimeout?: number;
  /** Host-function calls allowed per run. Default 10 000; an integer from 0 (no calls) to 2^53-1. */
  maxFunctionCalls?: number;
  /**
   * Syscall rules (deny lists). Sockets are always refused. Each rule names a
   * WASI syscall (or none for all) and an absolute `pathPrefix`; a rule that
   * would deny what the run driver needs for every run (its channel
   * /dev/pyvisor, stdio, entering the working directory; and, for a
   * deterministic sandbox, what CPython needs to start) is refused.
   */
  policy?: PolicySpec;
  /** Record every syscall of each run in `result.trace`. Default false. */
  trace?: boolean;
  /** The pool to place the sandbox on (a `new Pool`); default: a shared pool of worker processes. */
  pool?: Pool;
  /**
   * The engine: "default" (the lean engine) or "scientific" (numpy linked in,
   * already imported when a run starts). Default: the pool's engine, else "default".
   * With `pool`, it must be the pool's (`new Pool({ engine })`).
   */
  engine?: EngineName;
}

export interface RunOptions {
  /** Standard input: text, bytes, or an async iterable of either (pulled chunk by chunk as the guest reads). */
  stdin?: string | Uint8Array | AsyncIterable<string | Uint8Array>;
  /** Wall-clock limit for this run, in ms. Default: the sandbox's `timeout`; 1 to MAX_TIME_LIMIT_MS. */
  timeout?: number;
  /** Guest CPU-time limit for this run, in ms. Default: the sandbox's `cpuTime`; 1 to MAX_TIME_LIMIT_MS. */
  cpuTime?: number;
  /** Deterministic CPU budget for this run, in eval-breaker checks (see SandboxOptions.tickLimit). */
  tickLimit?: number;
  /** Globals bound for this run: an object keyed by Python identifiers, plain data only. */
  inputs?: Record<string, unknown>;
  /** Receives stdout chunks as they are written. */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** Cancels the run (it ends with error type CancelledError). */
  signal?: AbortSignal;
  /** Shown in tracebacks: a string without NUL. Default "<string>". */
  filename?: string;
  /** argv for the program (sys.argv): an array of strings. Default [filename]. */
  argv?: string[];
  /**
   * Put first on sys.path for this run, as python does with a script's
   * directory (`python FILE`), the working directory (`-m`) or "" (`-c`).
   * Default: none added.
   */
  path0?: string;
  /**
   * `run()` only: return the value of a final expression (default true).
   * False runs the code as plain statements, as `python -c` does.
   */
  returnValue?: boolean;
  /** Also write an uncaught exception's traceback to stderr, as python does. Default false for `run()`, true for `runFile()` and `runModule()`. */
  printErrors?: boolean;
  /**
   * How stdout is buffered, by python's rules: `terminal: true` makes it
   * line-buffered (as for a tty), `unbuffered: true` is `python -u`. Default:
   * block-buffered, as for a pipe (output still reaches onStdout within 50 ms).
   */
  stdio?: { terminal?: boolean; unbuffered?: boolean };
}


/**
 * Longest time limit, in ms (about 23 days). The pool arms a Node timer for a
 * run's limit plus its hard-stop grace, and Node fires a timer longer than
 * 2^31-1 ms at once: a larger limit would end every run as timed out.
 */
export const MAX_TIME_LIMIT_MS = 2_000_000_000;
/** Fewest open files: stdio, the root and the driver's channel take 5; a program needs a few to start (its file, an import's directory and file). */
export const MIN_OPEN_FILES = 8;
const MAX_OPEN_FILES = 65_536;
const MAX_OUTPUT_LIMIT_BYTES = 256 * 1024 * 1024;
const MIN_MEMORY_BYTES = ENGINE_INITIAL_BYTES + 4 * 1024 * 1024;
const MAX_MEMORY_BYTES = 4 * 1024 ** 3;

/**
 * Paths pyvisor itself serves: the devices (the driver's channel is
 * /dev/pyvisor), the driver's modules and the interpreter's placeholder. A
 * mount may not be one, lie under one, or cover one; files and the working
 * directory may not be one or lie under one.
 */
const INTERNAL_PATHS = ["/dev", `${STDLIB_PATH}/_pyvisor.py`, `${STDLIB_PATH}/pyvisor`, "/usr/local/bin/python3"];

/** The WASI preview 1 syscalls: the names a policy rule may give. */
export const SYSCALL_NAMES: ReadonlySet<string> = new Set([
  "args_get", "args_sizes_get", "environ_get", "environ_sizes_get", "clock_res_get", "clock_time_get",
  "fd_advise", "fd_allocate", "fd_close", "fd_datasync", "fd_fdstat_get", "fd_fdstat_set_flags", "fd_fdstat_set_rights",
  "fd_filestat_get", "fd_filestat_set_size", "fd_filestat_set_times", "fd_pread", "fd_prestat_get", "fd_prestat_dir_name",
  "fd_pwrite", "fd_read", "fd_readdir", "fd_renumber", "fd_seek", "fd_sync", "fd_tell", "fd_write",
  "path_create_directory", "path_filestat_get", "path_filestat_set_times", "path_link", "path_open", "path_readlink",
  "path_remove_directory", "path_rename", "path_symlink", "path_unlink_file",
  "poll_oneoff", "proc_exit", "proc_raise", "sched_yield", "random_get", "sock_accept", "sock_recv", "sock_send", "sock_shutdown",
]);

/**
 * What every run needs from the kernel (measured from traces of runs): the
 * driver opens its channel read-write, reads and writes it and stdio, closes
 * it, and enters the working directory when an interpreter starts.
 */
function runNeeds(cwd: string): Array<[SyscallQuery, string]> {
  return [
    [{ syscall: "path_open", path: "/dev/pyvisor", writes: true }, "the driver's channel to the host"],
    [{ syscall: "fd_read" }, "the driver's channel and stdin"],
    [{ syscall: "fd_write" }, "the driver's channel, stdout and stderr"],
    [{ syscall: "fd_close" }, "closing the driver's channel after each run: its fds would leak until none were left"],
    [{ syscall: "fd_fdstat_get" }, "opening the driver's channel"],
    [{ syscall: "path_filestat_get", path: cwd, writes: false }, "entering the working directory"],
  ];
}

/** What CPython needs to start (measured from a traced boot): a deterministic sandbox boots under its policy. */
const STARTUP_NEEDS: Array<[SyscallQuery, string]> = [
  ...["environ_get", "environ_sizes_get", "fd_prestat_get", "fd_prestat_dir_name", "fd_readdir", "random_get"]
    .map((syscall): [SyscallQuery, string] => [{ syscall }, "the interpreter's start-up"]),
  ...["path_open", "path_filestat_get"].flatMap((syscall) => [STDLIB_PATH, `${STDLIB_PATH}/encodings/__init__.py`, `${STDLIB_PATH}/pyvisor/_channel.py`]
    .map((path): [SyscallQuery, string] => [{ syscall, path, writes: false }, "the interpreter's start-up (the standard library)"])),
];

// ---------------------------------------------------------------- checks

/** The components of an absolute guest path without ".." ("/a//./b/" is ["a", "b"]). */
function guestParts(value: unknown, option: string): string[] {
  if (typeof value !== "string" || !value.startsWith("/") || value.includes("\0") || value.split("/").includes("..")) {
    invalid(option, 'an absolute sandbox path without ".."', value);
  }
  return value.split("/").filter((part) => part !== "" && part !== ".");
}
const isWithin = (inner: string[], outer: string[]) => outer.length <= inner.length && outer.every((part, i) => inner[i] === part);
const internalParts = INTERNAL_PATHS.map((path) => guestParts(path, "INTERNAL_PATHS"));

/** An absolute guest path that is not one of pyvisor's own paths nor under one (and, for a mount, does not cover one). */
const placePath = (mount: boolean): Check => (value, option) => {
  const parts = guestParts(value, option);
  if (mount && parts.length === 0) invalid(option, "a directory below /", value);
  for (const [i, internal] of internalParts.entries()) {
    if (isWithin(parts, internal) || (mount && isWithin(internal, parts))) {
      throw new InvalidOptionsError(option, `${option}: ${show(value)} ${mount && !isWithin(parts, internal) ? "covers" : "is or lies under"} ${INTERNAL_PATHS[i]}, which pyvisor serves itself (every run would fail)`);
    }
  }
};

const memorySize: Check = (value, option) => {
  if (typeof value !== "string" && (typeof value !== "number" || !Number.isInteger(value))) invalid(option, 'a whole number of bytes or a size ("64M")', value);
  const bytes = parseSize(value, option);
  if (!(bytes >= MIN_MEMORY_BYTES && bytes <= MAX_MEMORY_BYTES)) {
    throw new InvalidOptionsError(option, `${option} must be between 24M and 4G (the interpreter needs 20 MiB to start), got ${show(value)}`);
  }
};

/** Validates a memory limit and returns it in bytes (the CLI checks --memory with it too). */
export function checkMemoryLimit(value: number | string | undefined): number {
  if (value === undefined) return DEFAULTS.memoryLimitBytes;
  memorySize(value, "memoryLimit");
  return parseSize(value, "memoryLimit");
}

const hostDirectory: Check = (value, option) => {
  if (typeof value !== "string" || !isAbsolute(value) || value.includes("\0")) invalid(option, "an absolute host path", value);
  if (!isDirectory(value)) throw new InvalidOptionsError(option, `${option} is not an existing directory: ${value}`);
};
function isDirectory(hostPath: string): boolean {
  try {
    return statSync(hostPath).isDirectory();
  } catch {
    return false;
  }
}

const MOUNT_OPTIONS: Checks<MountOption> = { host: hostDirectory, guest: placePath(true), readonly: boolean, allowSymlinks: boolean };
const mountList: Check = (value, option) => {
  if (!Array.isArray(value)) invalid(option, "an array of { host, guest, readonly?, allowSymlinks? }", value);
  value.forEach((mount, i) => {
    const copy = checkObject<MountOption>(mount, `${option}[${i}]`, MOUNT_OPTIONS);
    if (copy.host === undefined) invalid(`${option}[${i}].host`, "an absolute host path", undefined);
    if (copy.guest === undefined) invalid(`${option}[${i}].guest`, "an absolute sandbox path", undefined);
  });
};

const POLICY_RULE: Checks<PolicyRule> = {
  syscall: (value, option) => {
    if (typeof value !== "string" || !SYSCALL_NAMES.has(value)) invalid(option, "a WASI syscall name (e.g. \"path_open\")", value);
  },
  pathPrefix: (value, option) => {
    guestParts(value, option);
  },
  writesOnly: boolean,
  errno: (value, option) => {
    try {
      new Policy({ deny: [{ errno: value as PolicyRule["errno"] }] });
    } catch {
      invalid(option, 'an errno name (e.g. "EACCES")', value);
    }
  },
};
const POLICY: Checks<PolicySpec> = {
  deny: (value, option) => {
    if (!Array.isArray(value)) invalid(option, "an array of rules", value);
    value.forEach((rule, i) => checkObject<PolicyRule>(rule, `${option}[${i}]`, POLICY_RULE));
  },
};

const SANDBOX_OPTIONS: Checks<SandboxOptions> = {
  memoryLimit: memorySize,
  timeout: milliseconds(1, MAX_TIME_LIMIT_MS),
  cpuTime: milliseconds(1, MAX_TIME_LIMIT_MS),
  tickLimit: integer(1, Number.MAX_SAFE_INTEGER),
  outputLimit: integer(1, MAX_OUTPUT_LIMIT_BYTES),
  diskQuota: integer(1, Number.MAX_SAFE_INTEGER),
  inodeQuota: integer(1, Number.MAX_SAFE_INTEGER),
  maxOpenFiles: integer(MIN_OPEN_FILES, MAX_OPEN_FILES),
  mounts: mountList,
  packages: (value, option) => {
    if (!Array.isArray(value)) invalid(option, "an array of host paths (wheels, zip archives or directories)", value);
    value.forEach((path, i) => {
      if (typeof path !== "string" || path === "" || path.includes("\0")) invalid(`${option}[${i}]`, "a host path (a non-empty string without NUL)", path);
    });
  },
  env: record((key, option) => {
    if (key === "" || (key as string).includes("=") || (key as string).includes("\0")) invalid(option, "named without \"=\" or NUL", key);
  }, (value, option) => {
    if (value !== null) noNul(value, option);
  }),
  envDefaults: boolean,
  files: record(placePath(false), contents),
  cwd: placePath(false),
  deterministic: boolean,
  seed: integer(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  functions: record(identifier, fn),
  hostGlobals: boolean,
  functionTimeout: milliseconds(1, MAX_TIME_LIMIT_MS),
  maxFunctionCalls: integer(0, Number.MAX_SAFE_INTEGER),
  policy: (value, option) => {
    checkObject<PolicySpec>(value, option, POLICY);
  },
  trace: boolean,
  pool: (value, option) => {
    if (!(value instanceof Pool)) invalid(option, "a Pool (new Pool(...))", value);
  },
  engine: engineName,
};

// ---------------------------------------------------------------- combinations

/** Mounts may not repeat or nest; a mount holding the working directory must have it. */
function checkMountLayout(mounts: MountOption[], cwd: string): void {
  const cwdParts = guestParts(cwd, "cwd");
  mounts.forEach((mount, i) => {
    const parts = guestParts(mount.guest, `mounts[${i}].guest`);
    for (const [j, earlier] of mounts.slice(0, i).entries()) {
      const other = guestParts(earlier.guest, `mounts[${j}].guest`);
      if (isWithin(parts, other) || isWithin(other, parts)) {
        throw new InvalidOptionsError(`mounts[${i}].guest`, `mounts[${i}].guest ${show(mount.guest)} overlaps mounts[${j}].guest ${show(earlier.guest)}: mounts may not repeat or nest`);
      }
    }
    if (isWithin(cwdParts, parts) && cwdParts.length > parts.length && !isDirectory(join(mount.host, ...cwdParts.slice(parts.length)))) {
      throw new InvalidOptionsError(`mounts[${i}].guest`, `mounts[${i}].guest ${show(mount.guest)} holds the working directory ${cwd}, which is not a directory in ${mount.host} (every run would fail to enter it)`);
    }
  });
}

/** A rule that would deny what every run needs makes every run fail: refused, naming the rule. */
function checkPolicyNeeds(policy: PolicySpec, cwd: string, deterministic: boolean): void {
  const needs = deterministic ? [...runNeeds(cwd), ...STARTUP_NEEDS] : runNeeds(cwd);
  (policy.deny ?? []).forEach((rule, i) => {
    const single = new Policy({ deny: [rule] });
    const denied = needs.find(([query]) => single.check(query) !== 0);
    if (denied === undefined) return;
    const [query, why] = denied;
    const what = `${query.syscall}${query.path !== undefined ? ` of ${query.path}` : ""}${query.writes ? " (read-write)" : ""}`;
    throw new InvalidOptionsError(`policy.deny[${i}]`, `policy.deny[${i}] denies ${what}, which every run needs (${why}): every run would fail; narrow the rule (syscall, pathPrefix)`);
  });
}

// ---------------------------------------------------------------- resolved options

/** Per-run limits, in the units the engine takes. */
export interface RunLimits {
  timeoutMs: number;
  cpuTimeMs: number;
  tickLimit: number;
  outputLimitBytes: number;
}

export interface ResolvedSandboxOptions {
  spec: SandboxSpec;
  /** Defaults of each run. */
  limits: RunLimits;
  functions: Record<string, HostFunction>;
  functionTimeoutMs: number;
  maxFunctionCalls: number;
  pool: Pool | undefined;
  engine: EngineName | undefined;
}

/** Validates `Sandbox.create`'s options and resolves their defaults. */
export function resolveSandboxOptions(options: unknown): ResolvedSandboxOptions {
  const o = checkObject<SandboxOptions>(options, "options", SANDBOX_OPTIONS, "");
  const cwd = o.cwd ?? DEFAULTS.cwd;
  const mounts = o.mounts ?? [];
  const policy = o.policy ?? {};
  const deterministic = o.deterministic ?? false;
  if (o.pool !== undefined && o.engine !== undefined && o.pool.engine !== o.engine) {
    throw new InvalidOptionsError("engine", `engine: "${o.engine}" is not the engine of the given pool ("${o.pool.engine}"); make the pool with new Pool({ engine: "${o.engine}" })`);
  }
  checkMountLayout(mounts, cwd);
  checkPolicyNeeds(policy, cwd, deterministic);
  const functions = { ...o.functions };
  const files: Record<string, Uint8Array> = {};
  for (const [path, data] of Object.entries(o.files ?? {})) files[path] = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return {
    spec: {
      memoryLimitBytes: checkMemoryLimit(o.memoryLimit),
      mounts: mounts.map((mount) => ({ hostPath: mount.host, guestPath: mount.guest, readonly: mount.readonly !== false, allowSymlinks: mount.allowSymlinks === true })),
      env: environment(o.envDefaults === false ? {} : DEFAULTS.env, o.env ?? {}),
      files,
      cwd,
      diskQuotaBytes: o.diskQuota ?? DEFAULTS.diskQuotaBytes,
      inodeQuota: o.inodeQuota ?? DEFAULTS.inodeQuota,
      maxOpenFiles: o.maxOpenFiles ?? DEFAULTS.maxOpenFiles,
      deterministic,
      seed: o.seed ?? 0,
      policy,
      trace: o.trace ?? false,
      functions: Object.keys(functions),
      hostGlobals: o.hostGlobals ?? false,
      ...(o.packages !== undefined && o.packages.length > 0 ? { packages: checkPackages(o.packages) } : {}),
    },
    limits: {
      timeoutMs: o.timeout ?? DEFAULTS.timeoutMs,
      cpuTimeMs: o.cpuTime ?? Infinity,
      tickLimit: o.tickLimit ?? Infinity,
      outputLimitBytes: o.outputLimit ?? DEFAULTS.outputLimitBytes,
    },
    functions,
    functionTimeoutMs: o.functionTimeout ?? DEFAULTS.functionTimeoutMs,
    maxFunctionCalls: o.maxFunctionCalls ?? DEFAULTS.maxFunctionCalls,
    pool: o.pool,
    engine: o.engine,
  };
}

const RUN_OPTIONS: Checks<RunOptions> = {
  stdin: (value, option) => {
    const iterable = value !== null && typeof value === "object" && typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function";
    if (typeof value !== "string" && !(value instanceof Uint8Array) && !iterable) invalid(option, "a string, a Uint8Array or an async iterable of them", value);
  },
  timeout: SANDBOX_OPTIONS.timeout,
  cpuTime: SANDBOX_OPTIONS.cpuTime,
  tickLimit: SANDBOX_OPTIONS.tickLimit,
  inputs: record(identifier, () => undefined),
  onStdout: fn,
  onStderr: fn,
  signal: (value, option) => {
    if (!(value instanceof AbortSignal)) invalid(option, "an AbortSignal", value);
  },
  filename: noNul,
  argv: (value, option) => {
    if (!Array.isArray(value) || !value.every((arg) => typeof arg === "string")) invalid(option, "an array of strings", value);
  },
  path0: noNul,
  returnValue: boolean,
  printErrors: boolean,
  stdio: (value, option) => {
    checkObject(value, option, { terminal: boolean, unbuffered: boolean });
  },
};

/** Validates a run's options; the limits fall back to the sandbox's. */
export function resolveRunOptions(options: unknown, defaults: RunLimits): { options: RunOptions; limits: RunLimits } {
  const o = checkObject<RunOptions>(options, "options", RUN_OPTIONS, "");
  return {
    options: o,
    limits: {
      timeoutMs: o.timeout ?? defaults.timeoutMs,
      cpuTimeMs: o.cpuTime ?? defaults.cpuTimeMs,
      tickLimit: o.tickLimit ?? defaults.tickLimit,
      outputLimitBytes: defaults.outputLimitBytes,
    },
  };
}

const FS_REMOVE_OPTIONS: Checks<{ recursive?: boolean }> = { recursive: boolean };

/** Checks an `sb.fs` path (absolute, no ".."); `remove` may not name the root. */
export function checkFsPath(path: unknown, removing = false): string {
  const parts = guestParts(path, "path");
  if (removing && parts.length === 0) throw new InvalidOptionsError("path", `EBUSY: path ${show(path)} is the root directory, which cannot be removed`);
  return path as string;
}

export function checkFsRemoveOptions(options: unknown): { recursive: boolean } {
  return { recursive: checkObject(options, "options", FS_REMOVE_OPTIONS, "").recursive === true };
}

export function checkFsData(data: unknown): Uint8Array {
  contents(data, "data");
  return typeof data === "string" ? new TextEncoder().encode(data) : data as Uint8Array;
}

/** The sandbox's environment: `base`, with `env` set over it (a null value removes the name). */
function environment(base: Readonly<Record<string, string>>, env: Record<string, string | null>): Record<string, string> {
  const merged: Record<string, string> = { ...base };
  for (const [name, value] of Object.entries(env)) {
    if (value === null) delete merged[name];
    else merged[name] = value;
  }
  return merged;
}

/**
 * runPython's one options object, checked as a whole (an unknown name is
 * refused with the closest name of either kind) and split: the run's own
 * options, and the sandbox's (a name both take, such as `timeout`, goes to
 * the sandbox, whose only run it is).
 */
export function splitRunPythonOptions(options: unknown): { sandbox: SandboxOptions; run: RunOptions } {
  const all = checkObject<SandboxOptions & RunOptions>(options, "options", { ...RUN_OPTIONS, ...SANDBOX_OPTIONS }, "");
  const sandbox: Record<string, unknown> = {};
  const run: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(all)) {
    if (Object.hasOwn(RUN_OPTIONS, key) && !Object.hasOwn(SANDBOX_OPTIONS, key)) run[key] = value;
    else sandbox[key] = value;
  }
  return { sandbox: sandbox as SandboxOptions, run: run as RunOptions };
}

// ---------------------------------------------------------------- templates

export interface TemplateOptions extends SandboxOptions {
  /**
   * Python source run once, in `__main__`, in a fresh interpreter: what it
   * imports, defines and writes (in /tmp, the home or the working directory)
   * is where each sandbox of the template starts. Limits apply to it as to a
   * run (`timeout`, `cpuTime`, ...). Required.
   */
  setup: string;
  /**
   * Re-run the setup in the background (a new interpreter, so a new str hash
   * secret) after `sandboxes` sandboxes or `ms` ms, whichever comes first, and
   * start later sandboxes from the new state. Defaults: 1000 sandboxes,
   * 600 000 ms (10 minutes); `false`: never (every sandbox shares one secret).
   */
  refresh?: { sandboxes?: number; ms?: number } | false;
}

/**
 * What each sandbox of a template sets for itself: limits, environment,
 * working directory, files (laid over the template's), host functions
 * (default: the template's), policy and trace. Mounts, packages (what the
 * setup imported came from them), the pool and determinism are the template's.
 */
export type TemplateSandboxOptions = Omit<SandboxOptions, "mounts" | "packages" | "deterministic" | "seed" | "pool" | "engine">;

/** Default TemplateOptions.refresh. */
export const TEMPLATE_REFRESH = Object.freeze({ sandboxes: 1000, ms: 600_000 });

// The engine is the template's pool's: its captured memory runs on that engine only.
const TEMPLATE_ONLY = ["mounts", "packages", "deterministic", "seed", "pool", "engine"] as const;

const TEMPLATE_OPTIONS: Checks<TemplateOptions> = {
  ...SANDBOX_OPTIONS,
  setup: (value, option) => {
    if (typeof value !== "string") invalid(option, "Python source (a string)", value);
  },
  refresh: (value, option) => {
    if (value !== false) checkObject(value, option, { sandboxes: integer(1, Number.MAX_SAFE_INTEGER), ms: milliseconds(1000, MAX_TIME_LIMIT_MS) });
  },
};

/** Validates `Template.create`'s options: the setup, its refresh, and the sandbox options every sandbox starts with. */
export function resolveTemplateOptions(options: unknown): { setup: string; refresh: { sandboxes: number; ms: number } | null; sandbox: SandboxOptions } {
  const { setup, refresh, ...sandbox } = checkObject<TemplateOptions>(options, "options", TEMPLATE_OPTIONS, "");
  if (setup === undefined) invalid("setup", "Python source (a string)", undefined);
  if (sandbox.deterministic === true) {
    throw new InvalidOptionsError("deterministic", "a template cannot be deterministic: its sandboxes start from a snapshot, whose hash secret and start-up state were drawn when it was made");
  }
  resolveSandboxOptions(sandbox); // every combination check, now rather than at the first sandbox
  return { setup, refresh: refresh === false ? null : { ...TEMPLATE_REFRESH, ...refresh }, sandbox };
}

/** Validates `template.sandbox()`'s options; a name that is the template's own (mounts, ...) is refused, saying so. */
export function checkTemplateSandboxOptions(options: unknown): TemplateSandboxOptions {
  if (isObjectLike(options)) {
    const own = TEMPLATE_ONLY.find((name) => Object.hasOwn(options, name));
    if (own !== undefined) throw new InvalidOptionsError(own, `${own} is the template's (set it in Template.create), not each sandbox's`);
  }
  return checkObject<SandboxOptions>(options, "options", SANDBOX_OPTIONS, "");
}

function isObjectLike(value: unknown): value is object {
  return value !== null && typeof value === "object";
}
