// The public API: Sandbox (a persistent interpreter, like a REPL session) and
// runPython (one fresh sandbox for one run). Guest failures come back as data
// in RunResult; only host misuse rejects.
import { CodecError, CodecLimitError, decodeValue, encodeValue } from "../shared/codec.js";
import { DisposedError, ErrorType, InvalidOptionsError, PyvisorError } from "../shared/errors.js";
import { getDefaultPool, type Pool } from "../pool/pool.js";
import { parseCall, RESULT_LIMITS, type GuestRequest, type RunOutcome, type RunRequest, type SandboxSpec } from "../worker/protocol.js";
import type { TraceEntry } from "../kernel/kernel.js";
import {
  checkEnv, checkGuestPath, checkPolicy, checkSeed, checkMemoryLimit, checkMounts, DEFAULTS, positive,
  type HostFunction, type RunOptions, type SandboxOptions,
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
          if (!(chunk instanceof Uint8Array)) throw new InvalidOptionsError("stdin chunks must be strings or Uint8Arrays");
          if (chunk.length > 0) return chunk;
        }
      },
    };
  }
  throw new InvalidOptionsError("stdin must be a string, a Uint8Array or an async iterable of them");
}

export class Sandbox implements AsyncDisposable {
  private placement: { sandboxId: number; engine: Parameters<Pool["run"]>[0] } | null = null;
  private disposed = false;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly pool: Pool,
    private readonly spec: SandboxSpec,
    private readonly options: SandboxOptions,
    private readonly functions: Record<string, HostFunction>,
  ) {}

  /** Builds a sandbox (validates options, places it on the pool, starts its interpreter). */
  static async create(options: SandboxOptions = {}): Promise<Sandbox> {
    if (options === null || typeof options !== "object") throw new InvalidOptionsError("options must be an object");
    const functions = options.functions ?? {};
    for (const [name, fn] of Object.entries(functions)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new InvalidOptionsError(`functions: ${JSON.stringify(name)} is not a Python identifier`);
      if (typeof fn !== "function") throw new InvalidOptionsError(`functions.${name} must be a function`);
    }
    const files: Record<string, Uint8Array> = {};
    for (const [path, contents] of Object.entries(options.files ?? {})) {
      checkGuestPath(path, `files[${JSON.stringify(path)}]`);
      files[path] = typeof contents === "string" ? new TextEncoder().encode(contents) : contents;
    }
    const spec: SandboxSpec = {
      memoryLimitBytes: checkMemoryLimit(options.memoryLimit),
      mounts: checkMounts(options.mounts),
      env: checkEnv(options.env),
      files,
      cwd: checkGuestPath(options.cwd ?? DEFAULTS.cwd, "cwd"),
      diskQuotaBytes: positive(options.diskQuota, "diskQuota", DEFAULTS.diskQuotaBytes),
      inodeQuota: positive(options.inodeQuota, "inodeQuota", DEFAULTS.inodeQuota),
      maxOpenFiles: positive(options.maxOpenFiles, "maxOpenFiles", DEFAULTS.maxOpenFiles),
      deterministic: options.deterministic === true,
      seed: checkSeed(options.seed),
      policy: checkPolicy(options.policy),
      trace: options.trace === true,
      functions: Object.keys(functions),
    };
    positive(options.timeout, "timeout", DEFAULTS.timeoutMs, false);
    positive(options.cpuTime, "cpuTime", Infinity, false);
    positive(options.tickLimit, "tickLimit", Infinity);
    positive(options.outputLimit, "outputLimit", DEFAULTS.outputLimitBytes);
    const sandbox = new Sandbox(options.pool ?? getDefaultPool(), spec, options, functions);
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
    this.checkAlive();
    if (typeof code !== "string") return Promise.reject(new InvalidOptionsError("code must be a string"));
    const filename = options.filename ?? "<string>";
    return this.execute({ kind: "code", code, filename, argv: options.argv ?? [filename], mode: "auto", inputs: null, printErrors: false }, options);
  }

  /** Runs a file of the sandbox as `__main__` (like `python FILE`). */
  runFile(path: string, options: RunOptions = {}): Promise<RunResult> {
    this.checkAlive();
    return this.execute({ kind: "file", path, argv: options.argv ?? [path], mode: "exec", inputs: null, printErrors: true }, options);
  }

  /** Runs a module as `__main__` (like `python -m MODULE`). */
  runModule(module: string, options: RunOptions = {}): Promise<RunResult> {
    this.checkAlive();
    return this.execute({ kind: "module", module, argv: options.argv ?? [module], mode: "exec", inputs: null, printErrors: true }, options);
  }

  /** @internal also used by the CLI for python-like error printing. */
  execute(request: GuestRequest, options: RunOptions): Promise<RunResult> {
    const task = this.queue.then(() => this.executeNow(request, options));
    this.queue = task.catch(() => undefined);
    return task;
  }

  private async executeNow(request: GuestRequest, options: RunOptions): Promise<RunResult> {
    // No alive check here: runs queued before dispose() still complete (dispose waits for them).
    let inputs: Uint8Array | null = null;
    if (options.inputs !== undefined) {
      if (options.inputs === null || typeof options.inputs !== "object" || Array.isArray(options.inputs)) throw new InvalidOptionsError("inputs must be an object of globals");
      for (const name of Object.keys(options.inputs)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new InvalidOptionsError(`inputs: ${JSON.stringify(name)} is not a Python identifier`);
      }
      try {
        inputs = encodeValue(options.inputs);
      } catch (error) {
        if (error instanceof CodecError) throw new PyvisorError(`inputs: ${error.message}`);
        throw error;
      }
    }
    let reset = false;
    if (this.placement === null || this.pool.lostSandboxes.has(this.placement.sandboxId)) {
      if (this.placement) this.pool.release(this.placement.engine, this.placement.sandboxId);
      await this.place();
      reset = true;
    }
    const stdin = stdinSource(options.stdin);
    const run: RunRequest = {
      request: { ...request, inputs },
      stdin: stdin.data,
      stdinStream: stdin.next !== null,
      streamOutput: options.onStdout !== undefined || options.onStderr !== undefined,
      timeoutMs: positive(options.timeout, "timeout", this.options.timeout ?? DEFAULTS.timeoutMs, false),
      cpuTimeMs: positive(options.cpuTime, "cpuTime", this.options.cpuTime ?? Infinity, false),
      tickLimit: positive(options.tickLimit, "tickLimit", this.options.tickLimit ?? Infinity),
      outputLimitBytes: this.options.outputLimit ?? DEFAULTS.outputLimitBytes,
    };
    let hostCalls = 0;
    const maxCalls = this.options.maxFunctionCalls ?? DEFAULTS.maxFunctionCalls;
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
    const timeoutMs = this.options.functionTimeout ?? DEFAULTS.functionTimeoutMs;
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
        value = decoded.value;
        error = decoded.error;
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
    return {
      readFile: async (path: string): Promise<Uint8Array> => op({ op: "read", path }) as Promise<Uint8Array>,
      readText: async (path: string): Promise<string> => Buffer.from((await op({ op: "read", path })) as Uint8Array).toString("utf8"),
      writeFile: async (path: string, data: string | Uint8Array): Promise<void> => {
        await op({ op: "write", path, data: typeof data === "string" ? new TextEncoder().encode(data) : data });
      },
      mkdir: async (path: string): Promise<void> => { await op({ op: "mkdir", path }); },
      list: async (path: string): Promise<string[]> => op({ op: "list", path }) as Promise<string[]>,
      stat: async (path: string) => op({ op: "stat", path }) as Promise<{ kind: string; size: number; mtimeMs: number }>,
      remove: async (path: string, options: { recursive?: boolean } = {}): Promise<void> => {
        await op({ op: "remove", path, recursive: options.recursive === true });
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

/** A fresh sandbox for one run. */
export async function runPython(code: string, options: SandboxOptions & RunOptions = {}): Promise<RunResult> {
  const { stdin, inputs, onStdout, onStderr, signal, filename, argv, ...sandboxOptions } = options;
  const sandbox = await Sandbox.create(sandboxOptions);
  try {
    return await sandbox.run(code, { stdin, inputs, onStdout, onStderr, signal, filename, argv });
  } finally {
    await sandbox.dispose();
  }
}
