// The pyvisor command line, parsed by python's rules: options come first and
// stop at the first of `-c CMD`, `-m MODULE`, `FILE` or `-`; everything after
// that is the program's sys.argv[1:], even when it looks like an option.
// Every mistake is a UsageError (exit status 2), checked here so that the
// message names the flag rather than an API field.
import { existsSync, statSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import { checkMemoryLimit, DEFAULTS, ENGINE_NAMES, parseSize, type EngineName, type Isolation, type MountOption } from "../api/index.js";

export class UsageError extends Error {
  override name = "UsageError";
}

export type Program =
  | { kind: "code"; code: string }
  | { kind: "module"; module: string }
  | { kind: "file"; path: string }
  | { kind: "stdin" }
  | { kind: "none" };

export interface CliOptions {
  /** As given (e.g. "64M"), for messages; undefined: the library default. */
  memory?: string;
  memoryBytes: number;
  timeoutMs: number;
  cpuTimeMs?: number;
  outputLimitBytes: number;
  mounts: MountOption[];
  /** --package: wheels, zip archives or directories (absolute host paths), in order. */
  packages: string[];
  /** The environment: DEFAULTS.env with --env set over it, or only --env after --no-default-env. */
  env: Record<string, string>;
  trace?: string;
  deterministic: boolean;
  seed?: number;
  json: boolean;
  /** Where the engine runs: a worker process (the default), a worker thread, or "inline" in this process for a program (measured slower; see bench/README.md); the console always has a worker. */
  isolation: CliIsolation;
  engine: EngineName;
  quiet: boolean;
  /** -u: stdout and stderr unbuffered, as python -u. */
  unbuffered: boolean;
  /** --setup FILE: the host path of a template setup run before the program (see Template). */
  setup?: string;
}

export type Parsed =
  | { action: "help" }
  | { action: "version" }
  | { action: "run"; options: CliOptions; program: Program; args: string[] }
  /** `pyvisor serve|mcp|worker ...`: the service's own options follow (src/serve parses them). */
  | { action: "service"; command: ServiceCommand; args: string[] };

/** Subcommands, recognised as the first argument only (a file of that name runs as `pyvisor ./serve`). */
export const SERVICE_COMMANDS = ["serve", "mcp", "worker"] as const;
export type ServiceCommand = (typeof SERVICE_COMMANDS)[number];

/** Longest limit a run may have: the pool arms a timer for it (setTimeout caps at 2^31-1 ms). */
const MAX_SECONDS = 2_000_000;

/** python options that pyvisor accepts and that change nothing here. */
const NO_OP_FLAGS = new Set(["B", "E", "I", "s"]);

const LONG_WITH_VALUE = new Set(["memory", "timeout", "cpu-time", "output-limit", "mount", "tmp", "package", "env", "trace", "seed", "isolation", "setup", "engine"]);
const LONG_FLAGS = new Set(["deterministic", "json", "help", "version", "quiet", "no-default-env"]);

export type CliIsolation = Isolation | "inline";

function isolationOf(value: string | undefined): CliIsolation | undefined {
  return value === "inline" || value === "process" || value === "thread" ? value : undefined;
}

function usage(message: string): never {
  throw new UsageError(message);
}

function seconds(flag: string, value: string): number {
  const n = /^\s*\d+(\.\d*)?\s*$|^\s*\.\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!(n > 0) || n > MAX_SECONDS) throw new UsageError(`${flag}: expected a positive number of seconds, got ${JSON.stringify(value)}`);
  return n * 1000;
}

function size(flag: string, value: string): number {
  let bytes: number;
  try {
    bytes = parseSize(value, flag);
  } catch {
    throw new UsageError(`${flag}: not a size: ${JSON.stringify(value)} (use e.g. 64M, 1G, 512K)`);
  }
  if (!(bytes > 0)) throw new UsageError(`${flag}: must be more than 0 bytes, got ${JSON.stringify(value)}`);
  return bytes;
}

function hostDirectory(flag: string, path: string): string {
  const full = resolvePath(path);
  if (!existsSync(full)) throw new UsageError(`${flag}: host directory does not exist: ${path}`);
  if (!statSync(full).isDirectory()) throw new UsageError(`${flag}: not a directory: ${path}`);
  return full;
}

function guestPath(flag: string, path: string): string {
  if (!path.startsWith("/") || path.split("/").includes("..") || path.includes("\0")) {
    throw new UsageError(`${flag}: the sandbox path must be absolute and without "..", got ${JSON.stringify(path)}`);
  }
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

function mount(value: string): MountOption {
  const parts = value.split(":");
  let readonly = true;
  if (parts.length === 3 && (parts[2] === "ro" || parts[2] === "rw")) {
    readonly = parts.pop() === "ro";
  }
  if (parts.length !== 2 || parts[0] === "" || parts[1] === "") {
    throw new UsageError(`--mount: expected HOST:GUEST[:ro|:rw], got ${JSON.stringify(value)}`);
  }
  return { host: hostDirectory("--mount", parts[0]!), guest: guestPath("--mount", parts[1]!), readonly };
}

function envEntry(value: string): [string, string] {
  const at = value.indexOf("=");
  if (at <= 0) throw new UsageError(`--env: expected NAME=VALUE, got ${JSON.stringify(value)}`);
  if (value.includes("\0")) throw new UsageError("--env: NUL characters are not allowed");
  return [value.slice(0, at), value.slice(at + 1)];
}

/** Parses pyvisor's arguments (process.argv.slice(2)). Throws UsageError. */
export function parseArgs(argv: readonly string[], environment: NodeJS.ProcessEnv = process.env): Parsed {
  const command = SERVICE_COMMANDS.find((name) => name === argv[0]);
  if (command !== undefined) return { action: "service", command, args: argv.slice(1) };
  const options: CliOptions = {
    memoryBytes: DEFAULTS.memoryLimitBytes,
    timeoutMs: DEFAULTS.timeoutMs,
    outputLimitBytes: DEFAULTS.outputLimitBytes,
    mounts: [],
    packages: [],
    env: {},
    deterministic: false,
    json: false,
    isolation: isolationOf(environment.PYVISOR_ISOLATION) ?? "process",
    engine: "default",
    quiet: false,
    unbuffered: false,
  };
  let program: Program = { kind: "none" };
  /** --env entries, set over DEFAULTS.env unless --no-default-env (wherever it stands). */
  const envGiven: Record<string, string> = {};
  let envDefaults = true;
  const done = (args: string[]): Parsed => {
    if (options.setup !== undefined && options.deterministic) throw new UsageError("--setup cannot be combined with --deterministic or --seed (a template starts from a snapshot, which is not reproducible)");
    options.env = envDefaults ? { ...DEFAULTS.env, ...envGiven } : { ...envGiven };
    return { action: "run", options, program, args };
  };
  let i = 0;
  const rest = () => argv.slice(i + 1);

  const setLong = (name: string, value: string): void => {
    const flag = `--${name}`;
    switch (name) {
      case "memory":
        options.memory = value;
        options.memoryBytes = size(flag, value);
        try {
          checkMemoryLimit(options.memoryBytes);
        } catch {
          throw new UsageError(`--memory: must be between 24M and 4G (the interpreter needs 20M to start), got ${JSON.stringify(value)}`);
        }
        break;
      case "timeout": options.timeoutMs = seconds(flag, value); break;
      case "cpu-time": options.cpuTimeMs = seconds(flag, value); break;
      case "output-limit": options.outputLimitBytes = size(flag, value); break;
      case "mount": options.mounts.push(mount(value)); break;
      case "tmp": options.mounts.push({ host: hostDirectory(flag, value), guest: "/tmp", readonly: false }); break;
      case "package":
        // Checked (and unpacked) by Sandbox.create, which names the file and the cause.
        if (value === "" || value.includes("\0")) throw new UsageError("--package: expected a wheel, zip archive or directory");
        options.packages.push(resolvePath(value));
        break;
      case "env": {
        const [key, val] = envEntry(value);
        envGiven[key] = val;
        break;
      }
      case "trace":
        if (value === "") throw new UsageError("--trace: expected a file name");
        options.trace = resolvePath(value);
        break;
      case "seed":
        if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UsageError(`--seed: expected a non-negative integer, got ${JSON.stringify(value)}`);
        options.seed = Number(value);
        options.deterministic = true;
        break;
      case "setup": {
        const full = resolvePath(value);
        if (!existsSync(full) || !statSync(full).isFile()) throw new UsageError(`--setup: not a file: ${value}`);
        options.setup = full;
        break;
      }
      case "isolation":
        options.isolation = isolationOf(value) ?? usage(`--isolation: expected "inline", "process" or "thread", got ${JSON.stringify(value)}`);
        break;
      case "engine":
        if (!(ENGINE_NAMES as readonly string[]).includes(value)) throw new UsageError(`--engine: expected ${ENGINE_NAMES.map((name) => `"${name}"`).join(" or ")}, got ${JSON.stringify(value)}`);
        options.engine = value as EngineName;
        break;
    }
  };

  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      i++;
      if (i < argv.length) program = argv[i] === "-" ? { kind: "stdin" } : { kind: "file", path: argv[i]! };
      break;
    }
    if (arg === "-") {
      program = { kind: "stdin" };
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq === -1 ? undefined : eq);
      if (LONG_WITH_VALUE.has(name)) {
        let value: string;
        if (eq !== -1) value = arg.slice(eq + 1);
        else if (i + 1 < argv.length) value = argv[++i]!;
        else throw new UsageError(`option --${name} needs an argument`);
        setLong(name, value);
        continue;
      }
      if (LONG_FLAGS.has(name)) {
        if (eq !== -1) throw new UsageError(`option --${name} takes no argument`);
        if (name === "help") return { action: "help" };
        if (name === "version") return { action: "version" };
        if (name === "deterministic") options.deterministic = true;
        if (name === "json") options.json = true;
        if (name === "quiet") options.quiet = true;
        if (name === "no-default-env") envDefaults = false;
        continue;
      }
      throw new UsageError(`unknown option ${eq === -1 ? arg : arg.slice(0, eq)}`);
    }
    if (arg.startsWith("-")) {
      // A cluster of short options, as python (getopt) reads them: -uc CODE, -cCODE, -Bm MODULE.
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j]!;
        if (ch === "c" || ch === "m") {
          let value: string;
          if (j + 1 < arg.length) value = arg.slice(j + 1);
          else if (i + 1 < argv.length) value = argv[++i]!;
          else throw new UsageError(`option -${ch} needs an argument`);
          program = ch === "c" ? { kind: "code", code: value } : { kind: "module", module: value };
          return done(rest());
        }
        if (ch === "h") return { action: "help" };
        if (ch === "V") return { action: "version" };
        if (ch === "q") options.quiet = true;
        else if (ch === "u") options.unbuffered = true;
        else if (!NO_OP_FLAGS.has(ch)) throw new UsageError(`unknown option -${ch}`);
      }
      continue;
    }
    program = { kind: "file", path: arg };
    break;
  }
  return done(program.kind === "none" ? [] : rest());
}
