// The public API: Sandbox (a persistent interpreter, like a REPL session) and
// runPython (one fresh sandbox for one run). Guest failures come back as data
// in RunResult; only host misuse rejects.
import { CodecError, CodecLimitError, decodeValue, encodeValue } from "../shared/codec.js";
import { DisposedError, ErrorType, InvalidOptionsError, PyvisorError } from "../shared/errors.js";
import { getDefaultPool, type Pool } from "../pool/pool.js";
import { parseCall, RESULT_LIMITS, resultShapeError, type GuestRequest, type RunOutcome, type RunRequest, type SandboxSpec } from "../worker/protocol.js";
import type { TraceEntry } from "../kernel/kernel.js";
import {
  checkFsData, checkFsPath, checkFsRemoveOptions, resolveRunOptions, resolveSandboxOptions,
  type HostFunction, type ResolvedSandboxOptions, type RunLimits, type RunOptions, type SandboxOptions,
} from "./options.js";

export interface RunError {
  /** A Python exception name ("ZeroDivisionError") or a pyvisor code (see ErrorType). */
  type: string;
  message: string;
  /** The Python traceback, when there is one. */
  traceback: string;
}

export interface RunResult {
  /** The value of the run's last expression (converted), or null. */
  value: unknown;
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
     * How long the run waited before its engine started it (behind this
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

const STOP_ERRORS = {
  timeout: [ErrorType.Timeout, "the run exceeded its time limit (timeout)"],
  cpu: [ErrorType.Timeout, "the run exceeded its CPU time limit (cpuTime)"],
  ticks: [ErrorType.Timeout, "the run exceeded its tick budget (tickLimit)"],
  output: [ErrorType.OutputLimit, "output exceeded the limit (outputLimit); it was cut"],
  cancelled: [ErrorType.Cancelled, "the run was cancelled"],
} as const;

const EMPTY = new Uint8Array(0);

/** stdin as data for the run, plus a pull function when it is an async iterable (streamed as the guest reads). */
function stdinSource(stdin: RunOptions["stdin"]): { data: Uint8Array; next: (() => Promise<Uint8Array>) | null } {
  if (stdin === undefined) return { data: EMPTY, next: null };
  if (typeof stdin === "string") return { data: new TextEncoder().encode(stdin), next: null };
  if (stdin instanceof Uint8Array) return { data: stdin, next: null };
  if (stdin && typeof (stdin as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") {
    const iterator = stdin[Symbol.asyncIterator]();
    return {
      data: EMPTY,
      next: async () => {
        for (;;) {
          const { value, done } = await iterator.next();
          if (done) return EMPTY;
          const chunk = typeof value === "string" ? new TextEncoder().encode(value) : value;
          if (!(chunk instanceof Uint8Array)) throw new InvalidOptionsError("stdin", "stdin chunks must be strings or Uint8Arrays");
          if (chunk.length > 0) return chunk;
        }
      },
    };
  }
  throw new InvalidOptionsError("stdin", "stdin must be a string, a Uint8Array or an async iterable of them");
}

export class Sandbox implements AsyncDisposable {
  private placement: { sandboxId: number; engine: Parameters<Pool["run"]>[0] } | null = null;
  private disposed = false;
  private queue: Promise<unknown> = Promise.resolve();

  private readonly pool: Pool;
  private readonly spec: SandboxSpec;
  private readonly limits: RunLimits;
  private readonly functions: Record<string, HostFunction>;
  private readonly functionTimeoutMs: number;
  private readonly maxFunctionCalls: number;

  private constructor(options: ResolvedSandboxOptions) {
    this.pool = options.pool ?? getDefaultPool();
    this.spec = options.spec;
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
      return { kind: "code", code, filename, argv: o.argv ?? [filename], mode: "auto", inputs: null, printErrors: false };
    });
  }

  /** Runs a file of the sandbox as `__main__` (like `python FILE`). */
  runFile(path: string, options: RunOptions = {}): Promise<RunResult> {
    return this.start(options, (o) => {
      if (typeof path !== "string" || path === "" || path.includes("\0")) throw new InvalidOptionsError("path", "path must be a non-empty string without NUL");
      return { kind: "file", path, argv: o.argv ?? [path], mode: "exec", inputs: null, printErrors: true };
    });
  }

  /** Runs a module as `__main__` (like `python -m MODULE`). */
  runModule(module: string, options: RunOptions = {}): Promise<RunResult> {
    return this.start(options, (o) => {
      if (typeof module !== "string" || !/^[\p{ID_Start}_]\p{ID_Continue}*(\.[\p{ID_Start}_]\p{ID_Continue}*)*$/u.test(module)) {
        throw new InvalidOptionsError("module", `module must be a dotted Python name, got ${JSON.stringify(String(module))}`);
      }
      return { kind: "module", module, argv: o.argv ?? [module], mode: "exec", inputs: null, printErrors: true };
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

  /** @internal also used by the CLI for python-like error printing. */
  execute(request: GuestRequest, options: RunOptions): Promise<RunResult> {
    try {
      return this.enqueue(request, resolveRunOptions(options, this.limits));
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
    let reset = false;
    if (this.placement === null || this.pool.lostSandboxes.has(this.placement.sandboxId)) {
      if (this.placement) this.pool.release(this.placement.engine, this.placement.sandboxId);
      await this.place();
      reset = true;
    }
    const stdin = stdinSource(options.stdin);
    const run: RunRequest = {
      request,
      stdin: stdin.data,
      stdinStream: stdin.next !== null,
      queuedAtEpochMs,
      ...limits,
    };
    let hostCalls = 0;
    const maxCalls = this.maxFunctionCalls;
    const decoder = { 1: new TextDecoder(), 2: new TextDecoder() };
    const outcome = await this.pool.run(this.placement!.engine, this.placement!.sandboxId, run, {
      output: (fd, chunk) => {
        const text = decoder[fd].decode(chunk, { stream: true });
        (fd === 1 ? options.onStdout : options.onStderr)?.(text);
      },
      call: async (payload) => encodeValue(await this.callHost(payload, ++hostCalls > maxCalls)),
      stdin: async () => (stdin.next === null ? EMPTY : stdin.next().catch(() => EMPTY)),
    }, options.signal);
    return this.toResult(outcome, hostCalls, reset);
  }

  /** Runs one host-function call from the guest; any failure becomes an answer the guest raises. */
  private async callHost(payload: Uint8Array, overLimit: boolean): Promise<{ ok: boolean; value?: unknown; error?: string }> {
    // The engine screened the call already; parsing again keeps the host's own decoding on the same budget.
    const call = parseCall(payload, (name) => Object.hasOwn(this.functions, name));
    if (typeof call === "string") return { ok: false, error: call };
    if (overLimit) return { ok: false, error: "too many host-function calls in this run (maxFunctionCalls)" };
    const fn = this.functions[call.name]!;
    const kwargs = call.kwargs && typeof call.kwargs === "object" && Object.keys(call.kwargs).length > 0 ? [call.kwargs] : [];
    const timeoutMs = this.functionTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      const value = await Promise.race([
        Promise.resolve().then(() => fn(...call.args as unknown[], ...kwargs)),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`host function ${call.name} timed out after ${timeoutMs} ms`)), timeoutMs); }),
      ]);
      encodeValue(value ?? null);
      return { ok: true, value: value ?? null };
    } catch (error) {
      const e = error as Error;
      return { ok: false, error: error instanceof Error ? `${e.name}: ${e.message}` : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  private toResult(outcome: RunOutcome, hostCalls: number, resetBefore: boolean): RunResult {
    let value: unknown = null;
    let error: RunError | null = null;
    let exitCode = 0;
    if (outcome.result !== null) {
      try {
        const decoded = decodeValue(outcome.result, RESULT_LIMITS) as { value: unknown; error: RunError | null; exitCode: number };
        const malformed = resultShapeError(decoded);
        if (malformed !== null) throw new CodecError(malformed);
        value = decoded.value;
        error = decoded.error === null ? null : { type: decoded.error.type, message: decoded.error.message, traceback: decoded.error.traceback };
        exitCode = decoded.exitCode;
      } catch (e) {
        error = e instanceof CodecLimitError
          ? { type: ErrorType.Conversion, message: `the result is too costly to convert (${e.message})`, traceback: "" }
          : { type: ErrorType.Protocol, message: `the guest's result was malformed: ${(e as Error).message}`, traceback: "" };
        exitCode = 1;
      }
    }
    if (outcome.stopReason !== null) {
      const [type, message] = STOP_ERRORS[outcome.stopReason];
      error = { type, message, traceback: error?.traceback ?? "" };
      exitCode = type === ErrorType.Timeout ? 124 : exitCode || 1;
    } else if (outcome.protocolError !== null) {
      error = { type: ErrorType.Protocol, message: outcome.protocolError, traceback: "" };
      exitCode = 1;
    } else if (outcome.exitCode !== null) {
      exitCode = outcome.exitCode;
    } else if (outcome.trap !== null) {
      const crashed = outcome.trap.startsWith("worker process died") || outcome.trap.startsWith("engine thread");
      error = { type: crashed ? ErrorType.Crashed : ErrorType.Trap, message: outcome.trap, traceback: "" };
      exitCode = crashed ? 134 : 1;
    } else if (outcome.result === null) {
      error = { type: ErrorType.Crashed, message: "the run ended without a result", traceback: "" };
      exitCode = 1;
    }
    const reset = resetBefore || outcome.exitCode !== null || outcome.trap !== null || this.pool.lostSandboxes.has(this.placement?.sandboxId ?? -1);
    return {
      value, stdout: outcome.stdout, stderr: outcome.stderr, output: outcome.output, exitCode, error,
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
    if (this.placement !== null) this.pool.interrupt(this.placement.engine, this.placement.sandboxId);
  }

  /** The sandbox's files (its in-memory trees and mounts), from the host side. */
  get fs() {
    const op = (fsOp: Parameters<Pool["fs"]>[2]) => {
      this.checkAlive();
      return this.queue.then(() => this.pool.fs(this.placement!.engine, this.placement!.sandboxId, fsOp));
    };
    // Arguments are checked here (async: a bad one rejects) so that only well-formed operations reach the engine.
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
    if (this.placement) this.pool.release(this.placement.engine, this.placement.sandboxId);
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
  if (options === null || typeof options !== "object") throw new InvalidOptionsError("options", "options must be an object");
  const { stdin, inputs, onStdout, onStderr, signal, filename, argv, ...sandboxOptions } = options;
  const sandbox = await Sandbox.create(sandboxOptions);
  try {
    return await sandbox.run(code, { stdin, inputs, onStdout, onStderr, signal, filename, argv });
  } finally {
    await sandbox.dispose();
  }
}
