// The public API: Sandbox (a persistent interpreter, like a REPL session) and
// runPython (one fresh sandbox for one run). Guest failures come back as data
// in RunResult; only host misuse rejects.
import { CodecError, CodecLimitError, decodeValue, encodeValue } from "../shared/codec.js";
import { DisposedError, ErrorType, FsErrno, InvalidOptionsError, SandboxFsError, type CrashKind, type LimitName } from "../shared/errors.js";
import { describeErrno, ERRNO_NAMES } from "../shared/errno.js";
import { getDefaultPool, type Pool } from "../pool/pool.js";
import { AsyncCalls, type Settled } from "./async-calls.js";
import { ANSWER_BYTES, answerError, answerValue, MAX_WAIT_MS, parseGuestCall, RESULT_LIMITS, resultShapeError, type GuestRequest, type HostCall, type RunOutcome, type RunRequest, type SandboxSpec } from "../shared/protocol.js";
import type { TraceEntry } from "../shared/run.js";
import {
  checkFsData, checkFsPath, checkFsRemoveOptions, resolveRunOptions, resolveSandboxOptions, splitRunPythonOptions,
  type HostFunction, type ResolvedSandboxOptions, type RunLimits, type RunOptions, type SandboxOptions,
} from "./options.js";

export interface RunError {
  /** A Python exception name ("ZeroDivisionError") or a pyvisor code (see ErrorType). */
  type: string;
  message: string;
  /** The Python traceback, when there is one. */
  traceback: string;
  /** Set when a limit stopped the run: which one (the CLI words its message from it). */
  limit?: LimitName;
  /** Set when the sandbox crashed rather than the program failing: how (see CrashKind). */
  crash?: CrashKind;
}

export interface RunResult {
  /**
   * The value of the run's last expression, converted (None, bool, int,
   * float, str, bytes, list, tuple, dict, set, datetime), or null. A value
   * with no such form (a date, Decimal, function, class, ...) comes as its
   * Python repr() string, and `valueRepr` is true.
   */
  value: unknown;
  /** `value` is the repr() of a Python value that has no plain-data form. */
  valueRepr: boolean;
  /**
   * The Python repr() of the last expression's value (what a notebook shows),
   * with long containers, strings and ints cut as reprlib cuts them (1000 items, 100 000 characters); null when there is no value (None, or statements).
   */
  repr: string | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved in the order the guest wrote them (as `2>&1` would show them). */
  output: string;
  exitCode: number;
  error: RunError | null;
  stats: {
    wallMs: number; cpuMs: number; hostMs: number; ticks: number; memoryBytes: number;
    stdoutBytes: number; stderrBytes: number; hostCalls: number;
    /**
     * How long the run waited before its worker started it (behind this
     * sandbox's earlier runs and other sandboxes' runs on the pool). It is not
     * part of `timeout`, which is the run's own time; to bound a run end to
     * end, queueing included, pass `signal: AbortSignal.timeout(ms)`.
     */
    queuedMs: number;
    /** The interpreter was restarted (after os._exit, a trap, a crash or a hard stop): globals are gone. */
    reset: boolean;
  };
  trace?: TraceEntry[];
}

/** The error of a run the controller stopped, by the kernel's stop reason. */
const STOP_ERRORS: Record<NonNullable<RunOutcome["stopReason"]>, Pick<RunError, "type" | "message" | "limit">> = {
  timeout: { type: ErrorType.Timeout, message: "the run exceeded its time limit (timeout)", limit: "timeout" },
  cpu: { type: ErrorType.Timeout, message: "the run exceeded its CPU time limit (cpuTime)", limit: "cpuTime" },
  ticks: { type: ErrorType.Timeout, message: "the run exceeded its tick budget (tickLimit)", limit: "tickLimit" },
  output: { type: ErrorType.OutputLimit, message: "output exceeded the limit (outputLimit); it was cut", limit: "output" },
  cancelled: { type: ErrorType.Cancelled, message: "the run was cancelled" },
};

const EMPTY = new Uint8Array(0);

const HARD_STOPPED = "; the program ignored the stop and was hard-stopped, so this sandbox's state is lost (stats.reset)";

const DRIVER_BROKEN = "the program broke pyvisor's driver inside the sandbox (it changed the driver's modules or functions), "
  + "so the run ended without a result; the interpreter was restarted (its globals are gone) and the next run works";

/** A run's host calls: how many it made, the awaitable ones in flight, and the signal that ends them. */
interface RunCalls {
  hostCalls: number;
  awaited: AsyncCalls;
  ended: AbortController;
}

/**
 * stdin as data for the run, plus a pull function when it is an async
 * iterable (streamed as the guest reads; a chunk larger than the worker takes
 * in one answer is handed over in pieces).
 */
function stdinSource(stdin: RunOptions["stdin"]): { data: Uint8Array; next: (() => Promise<Uint8Array>) | null } {
  if (stdin === undefined) return { data: EMPTY, next: null };
  if (typeof stdin === "string") return { data: new TextEncoder().encode(stdin), next: null };
  if (stdin instanceof Uint8Array) return { data: stdin, next: null };
  if (stdin && typeof (stdin as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") {
    const iterator = stdin[Symbol.asyncIterator]();
    let rest: Uint8Array = EMPTY;
    const pull = async (): Promise<Uint8Array> => {
      for (;;) {
        const { value, done } = await iterator.next();
        if (done) return EMPTY;
        const chunk = typeof value === "string" ? new TextEncoder().encode(value) : value;
        if (!(chunk instanceof Uint8Array)) throw new InvalidOptionsError("stdin", "stdin chunks must be strings or Uint8Arrays");
        if (chunk.length > 0) return chunk;
      }
    };
    return {
      data: EMPTY,
      next: async () => {
        if (rest.length === 0) {
          const chunk = await pull();
          if (chunk.length <= ANSWER_BYTES) return chunk;
          rest = chunk;
        }
        // Copies: a view would carry its whole buffer to the worker.
        const piece = rest.slice(0, ANSWER_BYTES);
        rest = rest.subarray(piece.length);
        return piece;
      },
    };
  }
  throw new InvalidOptionsError("stdin", "stdin must be a string, a Uint8Array or an async iterable of them");
}

export class Sandbox implements AsyncDisposable {
  private placement: { sandboxId: number; worker: Parameters<Pool["run"]>[0] } | null = null;
  private disposed = false;
  /** The sandbox was re-created since the last run (its worker died): the next run says so in `stats.reset`. */
  private lostState = false;
  private queue: Promise<unknown> = Promise.resolve();

  private readonly pool: Pool;
  private readonly spec: SandboxSpec;
  private readonly limits: RunLimits;
  private readonly functions: Record<string, HostFunction>;
  private readonly functionTimeoutMs: number;
  private readonly maxFunctionCalls: number;
  /** Ids of awaitable host calls: unique for the sandbox's life, so a call left over from an earlier run never matches. */
  private lastCallId = 0;

  private constructor(options: ResolvedSandboxOptions) {
    this.pool = options.pool ?? getDefaultPool(options.engine);
    // Async host functions are bound in Python so that a call inside a running event loop is awaitable.
    const asyncFunctions = Object.keys(options.functions).filter((name) => Object.prototype.toString.call(options.functions[name]) === "[object AsyncFunction]");
    this.spec = { ...options.spec, asyncFunctions };
    this.limits = options.limits;
    this.functions = options.functions;
    this.functionTimeoutMs = options.functionTimeoutMs;
    this.maxFunctionCalls = options.maxFunctionCalls;
  }

  /** Builds a sandbox (validates options, places it on the pool, starts its interpreter). */
  static async create(options: SandboxOptions = {}): Promise<Sandbox> {
    const sandbox = new Sandbox(resolveSandboxOptions(options));
    await sandbox.place();
    return sandbox;
  }

  private async place(): Promise<void> {
    this.placement = await this.pool.create(this.spec);
  }

  get alive(): boolean {
    return !this.disposed;
  }

  private checkAlive(): void {
    if (this.disposed) throw new DisposedError();
  }

  /** Runs Python source in this sandbox's persistent `__main__`. */
  run(code: string, options: RunOptions = {}): Promise<RunResult> {
    return this.start(options, (o) => {
      if (typeof code !== "string") throw new InvalidOptionsError("code", "code must be a string");
      const filename = o.filename ?? "<string>";
      return { ...program(o, [filename], false), kind: "code", code, filename, mode: o.returnValue === false ? "exec" : "auto" };
    });
  }

  /** Runs a file of the sandbox as `__main__` (like `python FILE`). */
  runFile(path: string, options: RunOptions = {}): Promise<RunResult> {
    return this.start(options, (o) => {
      if (typeof path !== "string" || path === "" || path.includes("\0")) throw new InvalidOptionsError("path", "path must be a non-empty string without NUL");
      return { ...program(o, [path], true), kind: "file", path };
    });
  }

  /** Runs a module as `__main__` (like `python -m MODULE`). */
  runModule(module: string, options: RunOptions = {}): Promise<RunResult> {
    return this.start(options, (o) => {
      if (typeof module !== "string" || !/^[\p{ID_Start}_]\p{ID_Continue}*(\.[\p{ID_Start}_]\p{ID_Continue}*)*$/u.test(module)) {
        throw new InvalidOptionsError("module", `module must be a dotted Python name, got ${JSON.stringify(String(module))}`);
      }
      return { ...program(o, [module], true), kind: "module", module };
    });
  }

  /** Checks the call before queueing it: bad options reject at once, not after the runs ahead. */
  private start(options: RunOptions, request: (options: RunOptions) => GuestRequest): Promise<RunResult> {
    try {
      this.checkAlive();
      const checked = resolveRunOptions(options, this.limits);
      return this.enqueue(request(checked.options), checked);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private enqueue(request: GuestRequest, checked: { options: RunOptions; limits: RunLimits }): Promise<RunResult> {
    // An already-aborted signal: the run never starts (the rejection is the signal's reason, as with fetch).
    if (checked.options.signal?.aborted) return Promise.reject(checked.options.signal.reason);
    const inputs = encodeInputs(checked.options.inputs);
    const queuedAtEpochMs = performance.timeOrigin + performance.now();
    const task = this.queue.then(() => this.executeNow({ ...request, inputs }, checked.options, checked.limits, queuedAtEpochMs));
    this.queue = task.catch(() => undefined);
    return task;
  }

  private async executeNow(request: GuestRequest, options: RunOptions, limits: RunLimits, queuedAtEpochMs: number): Promise<RunResult> {
    // Runs still queued behind the one dispose() stopped are refused, as are runs whose signal fired while queued.
    this.checkAlive();
    if (options.signal?.aborted) throw options.signal.reason;
    await this.placeIfLost();
    const reset = this.lostState;
    this.lostState = false;
    const stdin = stdinSource(options.stdin);
    const run: RunRequest = {
      request,
      stdin: stdin.data,
      stdinStream: stdin.next !== null,
      queuedAtEpochMs,
      ...limits,
    };
    const calls: RunCalls = {
      hostCalls: 0,
      awaited: new AsyncCalls(() => ++this.lastCallId, (call, signal) => this.invoke(call, signal)),
      ended: new AbortController(),
    };
    const decoder = { 1: new TextDecoder(), 2: new TextDecoder() };
    let outcome: RunOutcome;
    try {
      outcome = await this.pool.run(this.placement!.worker, this.placement!.sandboxId, run, {
        output: (fd, chunk) => {
          const text = decoder[fd].decode(chunk, { stream: true });
          (fd === 1 ? options.onStdout : options.onStderr)?.(text);
        },
        call: (payload) => this.serveGuest(payload, calls),
        stdin: async () => (stdin.next === null ? EMPTY : stdin.next().catch(() => EMPTY)),
      }, options.signal);
    } finally {
      calls.awaited.close();
      calls.ended.abort(new DOMException("the run ended", "AbortError"));
    }
    return this.toResult(outcome, calls.hostCalls, reset);
  }

  /**
   * Re-creates the sandbox when it has no place or its worker died (state
   * lost); the next run reports the loss as `stats.reset`.
   */
  private async placeIfLost(): Promise<void> {
    if (this.placement !== null && !this.pool.lostSandboxes.has(this.placement.sandboxId)) return;
    if (this.placement) this.pool.release(this.placement.worker, this.placement.sandboxId);
    this.placement = null;
    await this.place();
    this.lostState = true;
  }

  /** Serves one guest request (a host-function call, or an awaitable call's start, wait or cancel); any failure becomes an answer the guest raises. */
  private async serveGuest(payload: Uint8Array, run: RunCalls): Promise<Uint8Array> {
    // The worker screened the request already; parsing again keeps the host's own decoding on the same budget.
    const request = parseGuestCall(payload, (name) => Object.hasOwn(this.functions, name));
    if (typeof request === "string") return answerError(request);
    if (request.op === "wait") return encodeValue(await run.awaited.wait(request.timeoutMs ?? MAX_WAIT_MS));
    if (request.op === "cancel") return encodeValue(run.awaited.cancel(request.id));
    if (++run.hostCalls > this.maxFunctionCalls) return answerError("too many host-function calls in this run (maxFunctionCalls)");
    if (request.op === "start") return encodeValue(run.awaited.start(request.call));
    const settled = await this.invoke(request.call, run.ended.signal);
    if (!settled.ok) return answerError(settled.error ?? "host function failed");
    const answer = answerValue(settled.value);
    if (answer.length <= ANSWER_BYTES) return answer;
    return answerError(`the answer of host function ${request.call.name} is too large: ${answer.length} bytes encoded, the limit is ${ANSWER_BYTES} (16 MiB)`);
  }

  /**
   * Runs one host function within functionTimeoutMs. It gets an AbortSignal
   * as `this.signal`, aborted when it times out, when Python cancels the task
   * awaiting it, or when the run ends; the call is abandoned then (its answer,
   * if it ever comes, is dropped), so nothing outlives the run.
   */
  private async invoke(call: HostCall, signal: AbortSignal): Promise<Settled> {
    const fn = this.functions[call.name]!;
    const kwargs = call.kwargs && typeof call.kwargs === "object" && Object.keys(call.kwargs).length > 0 ? [call.kwargs] : [];
    const timeoutMs = this.functionTimeoutMs;
    const controller = new AbortController();
    const abort = () => controller.abort(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      const value = await Promise.race([
        Promise.resolve().then(() => fn.call({ signal: controller.signal }, ...call.args as unknown[], ...kwargs)),
        new Promise((_, reject) => {
          timer = setTimeout(() => controller.abort(new Error(`host function ${call.name} timed out after ${timeoutMs} ms`)), timeoutMs);
          onAbort = () => reject(controller.signal.reason);
          controller.signal.addEventListener("abort", onAbort, { once: true });
        }),
      ]);
      return { ok: true, value: value ?? null, bytes: encodeValue(value ?? null).length };
    } catch (error) {
      const e = error as Error;
      const cancelled = error instanceof Error && e.name === "AbortError";
      return { ok: false, error: error instanceof Error ? `${e.name}: ${e.message}` : String(error), cancelled, bytes: 0 };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
      if (onAbort) controller.signal.removeEventListener("abort", onAbort);
    }
  }

  private toResult(outcome: RunOutcome, hostCalls: number, resetBefore: boolean): RunResult {
    let value: unknown = null;
    let valueRepr = false;
    let repr: string | null = null;
    let error: RunError | null = null;
    let exitCode = 0;
    if (outcome.result !== null) {
      try {
        const decoded = decodeValue(outcome.result, RESULT_LIMITS) as { value: unknown; valueRepr?: unknown; repr?: unknown; error: RunError | null; exitCode: number };
        const malformed = resultShapeError(decoded);
        if (malformed !== null) throw new CodecError(malformed);
        value = decoded.value;
        valueRepr = decoded.valueRepr === true && typeof value === "string";
        repr = typeof decoded.repr === "string" ? decoded.repr : null;
        error = decoded.error === null ? null : { type: decoded.error.type, message: decoded.error.message, traceback: decoded.error.traceback };
        exitCode = decoded.exitCode;
      } catch (e) {
        error = e instanceof CodecLimitError
          ? { type: ErrorType.Conversion, message: `the result is too costly to convert (${e.message})`, traceback: "" }
          : { type: ErrorType.Protocol, message: `the guest's result was malformed: ${(e as Error).message}`, traceback: "", crash: "protocol" };
        exitCode = 1;
      }
    }
    if (outcome.stopReason !== null) {
      const stop = STOP_ERRORS[outcome.stopReason];
      error = { ...stop, traceback: error?.traceback ?? "" };
      if (outcome.hardStopped) error.message += HARD_STOPPED;
      exitCode = stop.type === ErrorType.Timeout ? 124 : exitCode || 1;
    } else if (outcome.protocolError !== null) {
      error = { type: ErrorType.Protocol, message: outcome.protocolError, traceback: "", crash: "protocol" };
      exitCode = 1;
    } else if (outcome.exitCode !== null) {
      exitCode = outcome.exitCode;
    } else if (outcome.trap !== null) {
      const crashed = outcome.workerDied === true;
      error = crashed
        ? { type: ErrorType.Crashed, message: outcome.trap, traceback: "", crash: "worker" }
        : { type: ErrorType.Trap, message: outcome.trap, traceback: "", crash: "trap" };
      exitCode = crashed ? 134 : 1;
    }
    // No result and no other cause: the program broke the driver, and the worker restarted the interpreter.
    const driverBroken = outcome.result === null && error === null && outcome.exitCode === null;
    if (driverBroken) {
      error = { type: ErrorType.Driver, message: DRIVER_BROKEN, traceback: "", crash: "noResult" };
      exitCode = 1;
    } else if (error?.type === ErrorType.Memory) {
      // The guest ran out of its memoryLimit and did not recover (it is Python's own MemoryError).
      error.limit = "memory";
    }
    const reset = resetBefore || driverBroken || outcome.exitCode !== null || outcome.trap !== null || this.pool.lostSandboxes.has(this.placement?.sandboxId ?? -1);
    return {
      value, valueRepr, repr, stdout: outcome.stdout, stderr: outcome.stderr, output: outcome.output, exitCode, error,
      stats: { ...outcome.stats, hostCalls, reset },
      ...(outcome.trace ? { trace: outcome.trace } : {}),
    };
  }

  /**
   * Raises KeyboardInterrupt in the run in progress, like Ctrl-C in python:
   * at the guest's next step, or at once when it waits (sleep, host function,
   * stdin). The guest may catch it; unlike a `signal` or a timeout, it is not
   * repeated and never leads to a hard stop. Without a run in progress it does
   * nothing.
   */
  interrupt(): void {
    this.checkAlive();
    if (this.placement !== null) this.pool.interrupt(this.placement.worker, this.placement.sandboxId);
  }

  /** The sandbox's files (its in-memory trees and mounts), from the host side. */
  get fs() {
    // Queued with the runs: an operation sees the files as the runs before it left them, and one on a
    // sandbox whose worker died works on the re-created sandbox (one in flight then rejects: SandboxCrashedError).
    const op = (fsOp: Parameters<Pool["fs"]>[2]) => {
      this.checkAlive();
      const task = this.queue.then(async () => {
        await this.placeIfLost();
        try {
          return await this.pool.fs(this.placement!.worker, this.placement!.sandboxId, fsOp);
        } catch (error) {
          throw error instanceof FsErrno ? fsError(error.errno, fsOp) : error;
        }
      });
      this.queue = task.catch(() => undefined);
      return task;
    };
    // Arguments are checked here (async: a bad one rejects) so that only well-formed operations reach the worker.
    return {
      readFile: async (path: string): Promise<Uint8Array> => op({ op: "read", path: checkFsPath(path) }) as Promise<Uint8Array>,
      readText: async (path: string): Promise<string> => Buffer.from((await op({ op: "read", path: checkFsPath(path) })) as Uint8Array).toString("utf8"),
      writeFile: async (path: string, data: string | Uint8Array): Promise<void> => {
        await op({ op: "write", path: checkFsPath(path), data: checkFsData(data) });
      },
      mkdir: async (path: string): Promise<void> => { await op({ op: "mkdir", path: checkFsPath(path) }); },
      list: async (path: string): Promise<string[]> => op({ op: "list", path: checkFsPath(path) }) as Promise<string[]>,
      stat: async (path: string) => op({ op: "stat", path: checkFsPath(path) }) as Promise<{ kind: string; size: number; mtimeMs: number }>,
      remove: async (path: string, options: { recursive?: boolean } = {}): Promise<void> => {
        await op({ op: "remove", path: checkFsPath(path, true), ...checkFsRemoveOptions(options) });
      },
    };
  }

  /**
   * Frees the sandbox. A run in progress is stopped at once, as by its
   * `signal` (CancelledError in Python; a hard stop after the pool's
   * `hardStopGraceMs` if the guest ignores it); runs queued behind it reject
   * with DisposedError.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.placement) this.pool.cancel(this.placement.sandboxId);
    await this.queue;
    if (this.placement) this.pool.release(this.placement.worker, this.placement.sandboxId);
    this.placement = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** Inputs encoded for the guest; a value the codec cannot carry is a bad option. */
function encodeInputs(inputs: Record<string, unknown> | undefined): Uint8Array | null {
  if (inputs === undefined) return null;
  try {
    return encodeValue(inputs);
  } catch (error) {
    if (error instanceof CodecError) throw new InvalidOptionsError("inputs", `inputs: ${error.message}`);
    throw error;
  }
}

/** A fresh sandbox for one run. */
export async function runPython(code: string, options: SandboxOptions & RunOptions = {}): Promise<RunResult> {
  const { sandbox: sandboxOptions, run } = splitRunPythonOptions(options);
  const sandbox = await Sandbox.create(sandboxOptions);
  try {
    return await sandbox.run(code, run);
  } finally {
    await sandbox.dispose();
  }
}

/** The parts of a guest request every kind of run sets from its options. */
function program(o: RunOptions, argv: string[], printErrors: boolean): Omit<GuestRequest, "kind"> {
  return {
    argv: o.argv ?? argv, mode: "exec", inputs: null, printErrors: o.printErrors ?? printErrors,
    ...(o.path0 !== undefined ? { path0: o.path0 } : {}),
    ...(o.stdio !== undefined ? { stdio: { terminal: o.stdio.terminal ?? false, unbuffered: o.stdio.unbuffered ?? false } } : {}),
  };
}

/** Node's fs names for each sb.fs operation (the `syscall` of its errors). */
const FS_SYSCALLS = { read: "open", write: "open", mkdir: "mkdir", list: "scandir", stat: "stat", remove: "rm" } as const;

function fsError(errno: number, op: { op: keyof typeof FS_SYSCALLS; path: string }): SandboxFsError {
  const code = ERRNO_NAMES[errno] ?? "EIO";
  return new SandboxFsError(code, errno, FS_SYSCALLS[op.op], op.path, describeErrno(code));
}
