// The public API: Sandbox (a persistent interpreter, like a REPL session) and
// runPython (one fresh sandbox for one run). Guest failures come back as data
// in RunResult; only host misuse rejects.
import { CodecError, CodecLimitError, decodeValue, encodeValue } from "../shared/codec.js";
import { DisposedError, ErrorType, InvalidOptionsError, PyvisorError } from "../shared/errors.js";
import { getDefaultPool, type Pool } from "../pool/pool.js";
import { AsyncCalls, type Settled } from "./async-calls.js";
import { MAX_WAIT_MS, parseGuestCall, RESULT_LIMITS, resultShapeError, type GuestRequest, type HostCall, type RunOutcome, type RunRequest, type SandboxSpec } from "../worker/protocol.js";
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
  exitCode: number;
  error: RunError | null;
  stats: {
    wallMs: number; cpuMs: number; hostMs: number; ticks: number; memoryBytes: number;
    stdoutBytes: number; stderrBytes: number; hostCalls: number;
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

/** A run's host calls: how many it made, the awaitable ones in flight, and the signal that ends them. */
interface RunCalls {
  hostCalls: number;
  awaited: AsyncCalls;
  ended: AbortController;
}

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
  /** Ids of awaitable host calls: unique for the sandbox's life, so a call left over from an earlier run never matches. */
  private lastCallId = 0;

  private constructor(options: ResolvedSandboxOptions) {
    this.pool = options.pool ?? getDefaultPool();
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
    const inputs = encodeInputs(checked.options.inputs);
    const task = this.queue.then(() => this.executeNow({ ...request, inputs }, checked.options, checked.limits));
    this.queue = task.catch(() => undefined);
    return task;
  }

  private async executeNow(request: GuestRequest, options: RunOptions, limits: RunLimits): Promise<RunResult> {
    // No alive check here: runs queued before dispose() still complete (dispose waits for them).
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
      streamOutput: options.onStdout !== undefined || options.onStderr !== undefined,
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
      outcome = await this.pool.run(this.placement!.engine, this.placement!.sandboxId, run, {
        output: (fd, chunk) => {
          const text = decoder[fd].decode(chunk, { stream: true });
          (fd === 1 ? options.onStdout : options.onStderr)?.(text);
        },
        call: async (payload) => encodeValue(await this.serveGuest(payload, calls)),
        stdin: async () => (stdin.next === null ? EMPTY : stdin.next().catch(() => EMPTY)),
      }, options.signal);
    } finally {
      calls.awaited.close();
      calls.ended.abort(new DOMException("the run ended", "AbortError"));
    }
    return this.toResult(outcome, calls.hostCalls, reset);
  }

  /** Serves one guest request (a host-function call, or an awaitable call's start, wait or cancel); any failure becomes an answer the guest raises. */
  private async serveGuest(payload: Uint8Array, run: RunCalls): Promise<unknown> {
    // The engine screened the request already; parsing again keeps the host's own decoding on the same budget.
    const request = parseGuestCall(payload, (name) => Object.hasOwn(this.functions, name));
    if (typeof request === "string") return { ok: false, error: request };
    if (request.op === "wait") return run.awaited.wait(request.timeoutMs ?? MAX_WAIT_MS);
    if (request.op === "cancel") return run.awaited.cancel(request.id);
    if (++run.hostCalls > this.maxFunctionCalls) return { ok: false, error: "too many host-function calls in this run (maxFunctionCalls)" };
    if (request.op === "start") return run.awaited.start(request.call);
    const { ok, value, error } = await this.invoke(request.call, run.ended.signal);
    return ok ? { ok, value } : { ok, error };
  }

  /**
   * Runs one host function within functionTimeoutMs. It gets an AbortSignal
   * as `this.signal`, aborted when it times out, when Python cancels the task
   * awaiting it, or when the run ends.
   */
  private async invoke(call: HostCall, signal: AbortSignal): Promise<Settled> {
    const fn = this.functions[call.name]!;
    const kwargs = call.kwargs && typeof call.kwargs === "object" && Object.keys(call.kwargs).length > 0 ? [call.kwargs] : [];
    const timeoutMs = this.functionTimeoutMs;
    const controller = new AbortController();
    const abort = () => controller.abort(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      const value = await Promise.race([
        Promise.resolve().then(() => fn.call({ signal: controller.signal }, ...call.args as unknown[], ...kwargs)),
        new Promise((_, reject) => {
          timer = setTimeout(() => {
            const error = new Error(`host function ${call.name} timed out after ${timeoutMs} ms`);
            controller.abort(error);
            reject(error);
          }, timeoutMs);
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
      value, stdout: outcome.stdout, stderr: outcome.stderr, exitCode, error,
      stats: { ...outcome.stats, hostCalls, reset },
      ...(outcome.trace ? { trace: outcome.trace } : {}),
    };
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

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
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
