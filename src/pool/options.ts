// The pool's options and their checks.
import { boolean, checkObject, integer, invalid, milliseconds, type Checks } from "../shared/checks.js";
import { ENGINE_NAMES, type EngineName } from "../shared/defaults.js";

/** Most workers a pool may have (each is a process or thread with its own memory). */
export const MAX_POOL_SIZE = 256;
/** Longest hard-stop grace, in ms: a run's limit plus its grace still fits a Node timer. */
export const MAX_HARD_STOP_GRACE_MS = 60_000;
const MAX_WARM_INTERPRETERS = 64;

export type Isolation = "process" | "thread";

export interface PoolOptions {
  /**
   * The engine every worker runs: "default" (the lean engine) or "scientific"
   * (numpy linked in, and imported in every snapshot). Default "default".
   */
  engine?: EngineName;
  /** Number of workers: an integer from 1 to 256. Default: the machine's available parallelism. */
  size?: number;
  /** "process" (default: a crashing guest cannot take the host down) or "thread" (Node 24+, or trusted code). */
  isolation?: Isolation;
  /** Runs that may wait per worker before `run` waits for room (backpressure): an integer, at least 1. Default 64. */
  maxQueuePerWorker?: number;
  /**
   * How long after its deadline (or its cancel) a run that ignores the stop is
   * hard-stopped, in ms: 0 to 60 000. Default 500. A hard stop loses only that
   * sandbox's state: its worker unwinds the guest (a loop that swallows the
   * exception, or one long C call) and discards the sandbox, and the other
   * sandboxes on the worker keep theirs. Only a cancelled run stuck in one C
   * call, or a worker that does not answer, is ended by killing the worker
   * (every sandbox on it is then lost), 2 s after the hard stop. See the
   * README's Design section for why (and the costs of the alternatives).
   */
  hardStopGraceMs?: number;
  /**
   * Keep the initialized-interpreter snapshot on disk (true: the default
   * directory, see defaultSnapshotCacheDir) so that new processes skip
   * CPython's start-up. Processes that share the file share its str hash
   * secret. Default false: one snapshot per worker. A string is the directory.
   */
  snapshotCache?: boolean | string;
  /**
   * Compile CPython's eval loop with V8's optimizing compiler before the first
   * run (see bench/README.md, "cli"): a program's first run is one call of the
   * eval loop and would otherwise run whole in V8's baseline code (2-5x
   * slower); it costs about 150 ms more on the way to that first run.
   * Default: true when `snapshotCache` is on (a worker that restores from the
   * disk never runs Python before its first run); a worker that boots CPython
   * itself gets the eval loop optimized during that boot, without the hint.
   */
  eagerEvalLoop?: boolean;
  /** Interpreters each worker restores ahead of demand: an integer from 0 to 64. Default 2; 0 for one-shot use (the CLI). */
  warmInterpreters?: number;
  /**
   * Every sandbox restored from a worker's snapshot shares its str hash
   * secret (the seed of `hash()` for str and bytes). Each worker replaces its
   * snapshot with a freshly booted one (a new secret) after `sandboxes`
   * sandboxes or `ms` ms, whichever comes first; the boot runs on a helper
   * thread, so spawns are not held up by it. Defaults: 1000 sandboxes,
   * 60 000 ms (each at least 1, resp. 1000); `false` keeps one snapshot per
   * worker for its life. Templates have their own (TemplateOptions.refresh).
   */
  hashSecretRotation?: { sandboxes?: number; ms?: number } | false;
}

/** Default hash secret rotation (PoolOptions.hashSecretRotation). */
export const HASH_SECRET_ROTATION = Object.freeze({ sandboxes: 1000, ms: 60_000 });

/** The rotation a pool's workers apply: its option, with the defaults filled in; null when off. */
export function hashSecretRotation(option: PoolOptions["hashSecretRotation"]): { sandboxes: number; ms: number } | null {
  if (option === false) return null;
  return { sandboxes: option?.sandboxes ?? HASH_SECRET_ROTATION.sandboxes, ms: option?.ms ?? HASH_SECRET_ROTATION.ms };
}

/** Checks an engine name (PoolOptions.engine, SandboxOptions.engine). */
export function engineName(value: unknown, option: string): void {
  if (!(ENGINE_NAMES as readonly unknown[]).includes(value)) invalid(option, ENGINE_NAMES.map((name) => `"${name}"`).join(" or "), value);
}

const POOL_OPTIONS: Checks<PoolOptions> = {
  engine: engineName,
  size: integer(1, MAX_POOL_SIZE),
  isolation: (value, option) => {
    if (value !== "process" && value !== "thread") invalid(option, '"process" or "thread"', value);
  },
  maxQueuePerWorker: integer(1, Number.MAX_SAFE_INTEGER),
  hardStopGraceMs: milliseconds(0, MAX_HARD_STOP_GRACE_MS),
  snapshotCache: (value, option) => {
    if (typeof value !== "boolean" && (typeof value !== "string" || value === "" || value.includes("\0"))) invalid(option, "true, false or a directory path", value);
  },
  warmInterpreters: integer(0, MAX_WARM_INTERPRETERS),
  eagerEvalLoop: boolean,
  hashSecretRotation: (value, option) => {
    if (value === false) return;
    checkObject(value, option, { sandboxes: integer(1, Number.MAX_SAFE_INTEGER), ms: milliseconds(1000, 2_000_000_000) });
  },
};

/** Validates `new Pool`'s options (an own copy, read once). */
export function checkPoolOptions(options: unknown): PoolOptions {
  return checkObject<PoolOptions>(options, "options", POOL_OPTIONS, "");
}

