// Messages between the host side (pool) and a worker thread. Everything here
// is structured-clone data: specs go in, outcomes come out.
import type { EngineName } from "./defaults.js";
import { CodecError, CodecLimitError, DEFAULT_CODEC_LIMITS, decodeValue, encodeValue, validateValue, type CodecLimits } from "./codec.js";
import { ErrorType } from "./errors.js";
import type { MountSpec, PackageRef, PolicySpec } from "./spec.js";
import type { OutputSegment, StopReason, TraceEntry } from "./run.js";

/** Everything a worker thread needs to build one sandbox. */
export interface SandboxSpec {
  memoryLimitBytes: number;
  mounts: MountSpec[];
  env: Record<string, string>;
  files: Record<string, Uint8Array>;
  cwd: string;
  diskQuotaBytes: number;
  inodeQuota: number;
  maxOpenFiles: number;
  deterministic: boolean;
  seed: number;
  policy: PolicySpec;
  trace: boolean;
  functions: string[];
  /** Bind the host functions as globals of __main__ too (SandboxOptions.hostGlobals). */
  hostGlobals?: boolean;
  /** Host functions that return promises: bound in Python so that, inside a running event loop, a call is awaitable. */
  asyncFunctions?: string[];
  /** Packages laid read-only at SITE_PACKAGES_PATH, in order (SandboxOptions.packages). */
  packages?: PackageRef[];
  /** Start from this template's state (installed in the worker first): its memory and files. */
  template?: number;
  /** Boot a new interpreter instead of restoring the worker's snapshot: a str hash secret of its own (a template's setup). */
  boot?: boolean;
  /**
   * The sandbox's id in its pool, set by the pool: it owns its record locks on
   * host files in the pool host's table ("lock" calls). Unset, the worker's
   * own table serves them (a pool whose worker is the calling thread).
   */
  lockOwner?: number;
}

/**
 * A template's state as it crosses between the pool and workers: `image` is
 * the worker's SandboxImage (src/worker/capture.ts), opaque to the host;
 * `memoryBytes` is the interpreter memory it restores (a sandbox's
 * memoryLimit must hold it).
 */
export interface TemplateState {
  image: unknown;
  memoryBytes: number;
}

/** What the guest driver runs (guest/_pyvisor.py reads these fields). */
export interface GuestRequest {
  kind: "code" | "file" | "module";
  code?: string;
  filename?: string;
  path?: string;
  module?: string;
  argv: string[];
  /** Put first on sys.path (as python does for a script's directory), unless it is already first. */
  path0?: string;
  /** "auto": the value of a final expression is returned; "exec": plain statements. */
  mode: "auto" | "exec";
  /** Encoded (src/shared/codec.ts) dict of globals, checked on the host before sending. */
  inputs: Uint8Array | null;
  printErrors: boolean;
  /** How stdout and stderr are buffered (python's rules): by default block-buffered, as for a pipe. */
  stdio?: { terminal: boolean; unbuffered: boolean };
  /** A template's setup: after it succeeds, the driver collects garbage and notes the Random instances to reseed. */
  prepareTemplate?: boolean;
}

export interface RunRequest {
  request: GuestRequest;
  stdin: Uint8Array;
  /** More stdin is pulled from the host when `stdin` is used up (an async iterable on the host). */
  stdinStream: boolean;
  /** Wall-clock limit of the run, counted from when the worker starts it. */
  timeoutMs: number;
  /** When the caller asked for the run (performance.timeOrigin + performance.now(), comparable across processes). */
  queuedAtEpochMs: number;
  cpuTimeMs: number;
  /** Eval-breaker checks the run may make (deterministic CPU budget); Infinity for none. */
  tickLimit: number;
  outputLimitBytes: number;
  /** Host functions at which the run pauses (Sandbox.start): the run is recorded so that it can be rebuilt (worker/replay.ts). */
  pause?: string[];
  /**
   * Goes on with the sandbox's paused run: its stack is rebuilt by replay,
   * then the paused call gets `answer` (an encoded answerValue/answerError).
   * `timeoutMs` then covers the replay too; `liveTimeoutMs` is the run's own
   * limit, counted from the end of the replay.
   */
  resume?: { answer: Uint8Array; liveTimeoutMs: number };
}

/** A sandbox's durable payload as the worker makes and reads it (worker/durable.ts); the host seals it. */
export interface DurablePayload {
  data: Uint8Array;
  /** Length of `data` decompressed. */
  rawLength: number;
  compression: number;
  /** The saved memory's size, for the host's check against the restoring side's memoryLimit. */
  memoryBytes: number;
  /** Set for a paused run (PausedRun): the codec-encoded {call, limits} the host shows and resumes with; null for a sandbox between runs. */
  meta: Uint8Array | null;
}

/** Time a resumed run may spend replaying, beyond its own `timeout`: replay re-runs guest code only, with no waits. */
export const REPLAY_ALLOWANCE_MS = 60_000;

/** How a run ended, as the worker reports it; its output came before, in "output" messages. */
export interface WorkerOutcome {
  /** The guest's encoded result, or null when the run ended without one. */
  result: Uint8Array | null;
  stopReason: StopReason | null;
  /** Set when the guest exited through proc_exit or trapped: the interpreter was reset. */
  exitCode: number | null;
  trap: string | null;
  protocolError: string | null;
  stats: RunStats;
  trace: TraceEntry[] | null;
  /** The run ignored its stop and was hard-stopped: the worker discarded its sandbox (state lost), the others live on. */
  hardStopped?: boolean;
  /** The sandbox's worker died during the run (its `trap` says how): a crash, not a trap of the interpreter. */
  workerDied?: boolean;
  /** The run paused at this host call (RunRequest.pause): it waits in the worker for a resume. */
  paused?: HostCall;
  /** A resumed run's replay diverged from its log (`trap` says where): the sandbox was reset. */
  divergence?: boolean;
}

/** A run's outcome on the host: the worker's, with the output it posted (up to any stop or crash). */
export interface RunOutcome extends WorkerOutcome {
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved in the order the guest wrote them. */
  output: string;
}

export interface RunStats {
  wallMs: number;
  cpuMs: number;
  hostMs: number;
  ticks: number;
  memoryBytes: number;
  stdoutBytes: number;
  stderrBytes: number;
  /** Time between the caller's run() and the worker starting it (queues: the sandbox's, the pool's, the worker's). */
  queuedMs: number;
}

export type FsOp =
  | { op: "read"; path: string }
  | { op: "write"; path: string; data: Uint8Array }
  | { op: "list"; path: string }
  | { op: "stat"; path: string }
  | { op: "remove"; path: string; recursive: boolean }
  | { op: "mkdir"; path: string }
  /** Not a file operation: the sandbox's durable payload (sb.save), served between runs like the others. */
  | { op: "save" };

export type ToWorker =
  | { type: "create"; sandboxId: number; spec: SandboxSpec; restore?: DurablePayload }
  | { type: "run"; sandboxId: number; runId: number; run: RunRequest }
  | { type: "fs"; sandboxId: number; opId: number; fs: FsOp }
  | { type: "dispose"; sandboxId: number }
  /**
   * Template state (see TemplateState): "capture" takes a sandbox's (between
   * runs) as template `templateId`, also stored in the snapshot cache under
   * `cacheKey` when the worker has one; "lookup" loads one from that cache
   * (null when absent); both answer with fsResult. "install" hands a worker a
   * template captured elsewhere (sent before the first create that names it),
   * "drop" forgets it.
   */
  | { type: "capture"; opId: number; sandboxId: number; templateId: number; cacheKey: string | null }
  | { type: "lookup"; opId: number; templateId: number; cacheKey: string }
  | { type: "install"; templateId: number; state: TemplateState }
  | { type: "drop"; templateId: number };

export type FromWorker =
  | { type: "created"; sandboxId: number; error: string | null; errorName?: string }
  | { type: "started"; runId: number }
  /** Output batch: consecutive segments in write order, at most MAX_OUTPUT_MESSAGE_BYTES in all. */
  | { type: "output"; runId: number; segments: OutputSegment[] }
  | { type: "call"; runId: number; callId: number; kind: CallKind; payload: Uint8Array }
  | { type: "done"; runId: number; sandboxId: number; outcome: WorkerOutcome }
  | { type: "fsResult"; opId: number; ok: boolean; value: unknown; error: string | null; errno?: number };

/**
 * What a blocking request from the guest asks the host for: a host-function
 * answer, the next stdin chunk, or a record lock on a host file (shared/locks.ts:
 * the host answers it at once, never early on a cancel).
 */
export type CallKind = "function" | "stdin" | "lock";

/** Layout of the control block shared with a worker thread (Int32 slots). */
export const CONTROL = {
  /** runId the host asks to cancel. */
  CANCEL: 0,
  /** The callId whose answer is in the data area (the worker waits for its own). */
  ANSWER_ID: 1,
  /** Byte length of the answer in the data area. */
  ANSWER_LENGTH: 2,
  /** runId in which the host asks for a KeyboardInterrupt; the worker clears it when it takes it. */
  INTERRUPT: 3,
  /** runId the host hard-stops (it ignored its stop): the worker discards its sandbox at the guest's next tick. */
  STOP: 4,
  SLOTS: 5,
} as const;
/** Largest host-function answer (encoded) and stdin chunk the worker takes in one piece: 16 MiB. */
export const ANSWER_BYTES = 16 * 1024 * 1024;

/**
 * The answer to a host-function call as the guest driver reads it: the
 * function's value, or why there is none (Python raises `pyvisor.HostError`
 * with that text). Every path that answers a call builds it with these two.
 */
export function answerValue(value: unknown): Uint8Array {
  return encodeValue({ ok: true, value });
}
export function answerError(why: string): Uint8Array {
  return encodeValue({ ok: false, error: why });
}

/** The outcome of a run that never produced one (its worker died, or the sandbox is gone). */
export function lostOutcome(trap: string | null): WorkerOutcome {
  return {
    result: null, stopReason: null, exitCode: null, trap, protocolError: null, trace: null,
    stats: { wallMs: 0, cpuMs: 0, hostMs: 0, ticks: 0, memoryBytes: 0, stdoutBytes: 0, stderrBytes: 0, queuedMs: 0 },
  };
}

/**
 * Decoding budget of a run's result (the guest's last value): the codec's
 * defaults, 100 levels, 64 MiB and 1,000,000 nodes. The worker checks it when
 * the result arrives and sends the host a ConversionError instead; the host
 * decodes with the same budget.
 */
export const RESULT_LIMITS: Readonly<CodecLimits> = DEFAULT_CODEC_LIMITS;

/**
 * Decoding budget of a host-function call (its name and arguments): 100
 * levels, 64 MiB, and 100,000 nodes, so that one call costs the host's event
 * loop at most about 50 ms to decode. Over it, Python gets a HostError and the
 * host is not involved.
 */
export const CALL_LIMITS: Readonly<CodecLimits> = Object.freeze({ ...DEFAULT_CODEC_LIMITS, maxNodes: 100_000 });

/** Longest guest-chosen text (a function name) quoted in an error message. */
const MAX_QUOTED_CHARS = 100;

export interface HostCall {
  name: string;
  args: unknown[];
  kwargs: unknown;
}

/**
 * What the guest asks of the host (src/api/async-calls.ts serves the async
 * ops): "call" a host function and wait for its value; "start" one and get a
 * call id at once; "wait" up to `timeoutMs` (null: until one settles) for
 * started calls to settle, and collect them; "cancel" a started call.
 */
export type GuestCall =
  | { op: "call" | "start"; call: HostCall }
  | { op: "wait"; timeoutMs: number | null }
  | { op: "cancel"; id: number };

/** Longest wait a guest may ask for in one "wait" (its event loop asks again). */
export const MAX_WAIT_MS = 10_000;

/**
 * Decodes a guest request within CALL_LIMITS, or returns why it is refused
 * (the text of Python's HostError): too costly, malformed, or a call to a name
 * `offered` does not know. The worker screens every request with it before the
 * host sees one; the host parses again, with the same budget.
 */
export function parseGuestCall(payload: Uint8Array, offered: (name: string) => boolean): GuestCall | string {
  let message: { op?: unknown; name?: unknown; args?: unknown; kwargs?: unknown; timeoutMs?: unknown; id?: unknown };
  try {
    message = decodeValue(payload, CALL_LIMITS) as typeof message;
  } catch (error) {
    if (error instanceof CodecLimitError) return `${ErrorType.Conversion}: the call is too costly to convert (${error.message})`;
    if (error instanceof CodecError) return `${ErrorType.Protocol}: malformed call (${error.message})`;
    throw error;
  }
  if (message === null || typeof message !== "object" || Array.isArray(message)) return `${ErrorType.Protocol}: malformed call`;
  const op = message.op ?? "call";
  if (op === "wait") {
    const { timeoutMs } = message;
    if (timeoutMs === null) return { op, timeoutMs: null };
    if (typeof timeoutMs !== "number" || !(timeoutMs >= 0)) return `${ErrorType.Protocol}: malformed wait`;
    return { op, timeoutMs: Math.min(timeoutMs, MAX_WAIT_MS) };
  }
  if (op === "cancel") {
    return Number.isSafeInteger(message.id) ? { op, id: message.id as number } : `${ErrorType.Protocol}: malformed cancel`;
  }
  if (op !== "call" && op !== "start") return `${ErrorType.Protocol}: malformed call`;
  if (typeof message.name !== "string" || !Array.isArray(message.args)) return `${ErrorType.Protocol}: malformed call`;
  if (!offered(message.name)) {
    const name = message.name.length > MAX_QUOTED_CHARS ? `${message.name.slice(0, MAX_QUOTED_CHARS)}…` : message.name;
    return `no host function named ${JSON.stringify(name)}`;
  }
  return { op, call: { name: message.name, args: message.args, kwargs: message.kwargs } };
}

/**
 * The guest's encoded result, checked against RESULT_LIMITS where it arrives
 * (in the worker), so that the host never decodes a bomb: one over the budget
 * becomes a result that reports a ConversionError (as the guest's own driver
 * does for a value it cannot convert); one that does not decode is a protocol
 * error. Checked without being built (validateValue: a tenth of a decode's
 * cost, so that a result sent just before the deadline is not hard-stopped
 * while it is screened); its shape is checked where it is decoded, on the host.
 */
export function screenResult(payload: Uint8Array): { result: Uint8Array } | { protocolError: string } {
  try {
    validateValue(payload, RESULT_LIMITS);
    return { result: payload.slice() };
  } catch (error) {
    if (!(error instanceof CodecError)) throw error;
    if (!(error instanceof CodecLimitError)) return { protocolError: `the guest's result was malformed: ${error.message}` };
    const message = `the result is too costly to convert (${error.message})`;
    return { result: encodeValue({ value: null, error: { type: ErrorType.Conversion, message, traceback: "" }, exitCode: 0 }) };
  }
}

/**
 * Why a decoded run result does not have the shape the driver sends, or null.
 * The guest can reach the driver's frames and edit what it sends, so the host
 * takes nothing on trust: exitCode a status 0-255, error null or three strings.
 */
export function resultShapeError(decoded: unknown): string | null {
  if (decoded === null || typeof decoded !== "object" || Array.isArray(decoded)) return "not a result object";
  const { exitCode, error } = decoded as { exitCode?: unknown; error?: unknown };
  if (!Number.isInteger(exitCode) || (exitCode as number) < 0 || (exitCode as number) > 255) return "exitCode is not a status from 0 to 255";
  if (error === null) return null;
  if (typeof error !== "object" || Array.isArray(error)) return "error is neither null nor an object";
  const { type, message, traceback } = error as Record<string, unknown>;
  if (typeof type !== "string" || typeof message !== "string" || typeof traceback !== "string") return "error needs string type, message and traceback";
  return null;
}

/** What a worker host starts with (worker/host.ts), shared with the pool's links so the list is written once. */
export interface WorkerHostOptions {
  /** The engine this worker runs (PoolOptions.engine). */
  engine: EngineName;
  /** Directory of the on-disk snapshot cache, or null to make a snapshot per worker. */
  snapshotCacheDir: string | null;
  /** Load the engine at once with the eval loop compiled up front (PoolOptions.eagerEvalLoop). */
  eagerEvalLoop: boolean;
  /** Interpreters to keep restored ahead of demand. */
  warmInterpreters: number;
  /** See ThreadServices.hardStopGraceMs. */
  hardStopGraceMs: number;
  /** Replace the bare snapshot (a new str hash secret) after this many sandboxes or ms (PoolOptions.hashSecretRotation); null: never. */
  rotation: { sandboxes: number; ms: number } | null;
}
