// The public API: Sandbox (a persistent interpreter, like a REPL session) and
// runPython (one fresh sandbox for one run). Guest failures come back as data
// in RunResult; only host misuse rejects.
import { CodecError, CodecLimitError, decodeValue, encodeValue } from "../shared/codec.js";
import { DisposedError, ErrorType, FsErrno, InvalidOptionsError, PyvisorError, SandboxCrashedError, SandboxFsError, type CrashKind, type LimitName } from "../shared/errors.js";
import { describeErrno, ERRNO_NAMES } from "../shared/errno.js";
import { getDefaultPool, type Pool } from "../pool/pool.js";
import { AsyncCalls, type Settled } from "./async-calls.js";
import { ANSWER_BYTES, answerError, answerValue, MAX_WAIT_MS, parseGuestCall, REPLAY_ALLOWANCE_MS, RESULT_LIMITS, resultShapeError, type DurablePayload, type GuestRequest, type HostCall, type RunOutcome, type RunRequest, type SandboxSpec, type TemplateState } from "../shared/protocol.js";
import { checkKey, open, SaveKind, seal, type Opened } from "./durable.js";
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

  private constructor(options: ResolvedSandboxOptions, private readonly template?: { id: number; state: TemplateState }) {
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

  /**
   * @internal A sandbox with a newly booted interpreter rather than one
   * restored from its worker's snapshot, so with a hash secret of its own
   * (a template's setup).
   */
  static async booted(options: SandboxOptions): Promise<Sandbox> {
    const resolved = resolveSandboxOptions(options);
    const sandbox = new Sandbox({ ...resolved, spec: { ...resolved.spec, boot: true } });
    await sandbox.place();
    return sandbox;
  }

  /** @internal A sandbox that starts from a template's state (Template.sandbox), on the template's pool. */
  static async fromTemplate(options: ResolvedSandboxOptions, template: { id: number; state: TemplateState }): Promise<Sandbox> {
    const sandbox = new Sandbox(options, template);
    await sandbox.place();
    return sandbox;
  }

  private async place(restore?: DurablePayload): Promise<void> {
    const spec = this.template === undefined ? this.spec : { ...this.spec, template: this.template.id };
    this.placement = await this.pool.create(spec, this.template, restore);
  }

  /** @internal A template's setup: a run of `code` after which the driver prepares the state for capture. */
  runSetup(code: string, options: RunOptions): Promise<RunResult> {
    return this.start_(options, (o) => ({ ...program(o, [o.filename ?? "<setup>"], false), kind: "code", code, filename: o.filename ?? "<setup>", mode: "exec", prepareTemplate: true }));
  }

  /** @internal Takes this sandbox's state (after the runs queued before) as template `templateId`, installed in every worker. */
  capture(templateId: number, cacheKey: string | null): Promise<TemplateState> {
    this.checkAlive();
    const task = this.queue.then(() => {
      if (this.placement === null || this.pool.lostSandboxes.has(this.placement.sandboxId)) throw new SandboxCrashedError("the setup's sandbox was lost");
      return this.pool.capture(this.placement.worker, this.placement.sandboxId, templateId, cacheKey);
    });
    this.queue = task.catch(() => undefined);
    return task;
  }


  /**
   * A sandbox saved by `sb.save()`, anywhere: its globals, imported modules,
   * open files (offsets included), in-memory files, `random` state, working
   * directory and hash secret come back. `key` is the one it was saved with;
   * the other options are this sandbox's (host mounts are attached from them:
   * the same guest paths and modes as the saved sandbox's, else
   * SnapshotMountError). Bytes that are not intact are refused before any of
   * them reaches an engine (SnapshotIntegrityError, SnapshotVersionError,
   * SnapshotEngineError); `files` are not written (the saved files are the
   * sandbox's).
   */
  static async restore(bytes: Uint8Array, options: SandboxOptions & { key: string | Uint8Array }): Promise<Sandbox> {
    const { sandbox } = await Sandbox.restoreKind(bytes, options, SaveKind.sandbox);
    return sandbox;
  }

  /** @internal Opens sealed bytes of `kind` and builds the sandbox they hold. */
  static async restoreKind(bytes: Uint8Array, options: SandboxOptions & { key: string | Uint8Array }, kind: number): Promise<{ sandbox: Sandbox; opened: Opened }> {
    const { key, ...rest } = (options ?? {}) as SandboxOptions & { key: string | Uint8Array };
    const resolved = resolveSandboxOptions(rest);
    const opened = open(bytes, checkKey(key), kind);
    if (opened.payload.memoryBytes > resolved.spec.memoryLimitBytes) {
      throw new InvalidOptionsError("memoryLimit", `the saved sandbox uses ${opened.payload.memoryBytes} bytes of memory, more than memoryLimit (${resolved.spec.memoryLimitBytes})`);
    }
    const sandbox = new Sandbox({ ...resolved, spec: { ...resolved.spec, files: {} } });
    await sandbox.place(opened.payload);
    return { sandbox, opened };
  }

  /**
   * The sandbox as bytes, sealed with `key` (HMAC-SHA256): taken between runs
   * (queued after the runs before it), restored by `Sandbox.restore` in any
   * process with the same pyvisor and engine. A sandbox with a paused run
   * saves through the paused run (`paused.save`).
   */
  async save(options: { key: string | Uint8Array }): Promise<Uint8Array> {
    const key = checkKey((options ?? {} as { key: unknown }).key);
    if (this.pausedRun !== null) throw new PyvisorError("this sandbox has a paused run: save it with paused.save()");
    return seal(await this.saveRaw(), key);
  }

  /** @internal The worker's payload, queued with the runs. */
  saveRaw(): Promise<DurablePayload> {
    return this.queueOp({ op: "save" }) as Promise<DurablePayload>;
  }

  get alive(): boolean {
    return !this.disposed;
  }

  private checkAlive(): void {
    if (this.disposed) throw new DisposedError();
  }

  /** Runs Python source in this sandbox's persistent `__main__`. */
  run(code: string, options: RunOptions = {}): Promise<RunResult> {
    return this.start_(options, codeRequest(code));
  }

  /** Runs a file of the sandbox as `__main__` (like `python FILE`). */
  runFile(path: string, options: RunOptions = {}): Promise<RunResult> {
    return this.start_(options, (o) => {
      if (typeof path !== "string" || path === "" || path.includes("\0")) throw new InvalidOptionsError("path", "path must be a non-empty string without NUL");
      return { ...program(o, [path], true), kind: "file", path };
    });
  }

  /** Runs a module as `__main__` (like `python -m MODULE`). */
  runModule(module: string, options: RunOptions = {}): Promise<RunResult> {
    return this.start_(options, (o) => {
      if (typeof module !== "string" || !/^[\p{ID_Start}_]\p{ID_Continue}*(\.[\p{ID_Start}_]\p{ID_Continue}*)*$/u.test(module)) {
        throw new InvalidOptionsError("module", `module must be a dotted Python name, got ${JSON.stringify(String(module))}`);
      }
      return { ...program(o, [module], true), kind: "module", module };
    });
  }

  /**
   * Runs code like `run`, pausing when Python calls one of the host
   * functions named in `pause` (each must be one of the sandbox's
   * `functions`): resolves to `{ done: true, result }` when the code finishes,
   * or to a PausedRun waiting for the host's answer to that call. Only plain
   * (synchronous) calls pause; a call made as an awaitable in an event loop
   * goes to the host function as usual.
   */
  start(code: string, options: RunOptions & { pause?: string[] } = {}): Promise<RunStep> {
    try {
      const { pause, ...runOptions } = options ?? {};
      if (!Array.isArray(pause) || pause.length === 0 || !pause.every((name) => typeof name === "string" && Object.hasOwn(this.functions, name))) {
        throw new InvalidOptionsError("pause", "pause must be a non-empty array of names of the sandbox's functions");
      }
      if (this.pausedRun !== null) throw new PyvisorError("this sandbox already has a paused run: resume it or throw into it first");
      const limits = resolveRunOptions(runOptions, this.limits).limits;
      return this.start_(runOptions, codeRequest(code), { pause }).then((result) => this.stepOf(result, limits));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A run's result as a step: done, or the PausedRun it became (the worker reported a pause). */
  private stepOf(result: RunResult, limits: RunLimits): RunStep {
    const call = (result as RunResult & { [PAUSED]?: HostCall })[PAUSED];
    if (call === undefined) return { done: true, result };
    delete (result as RunResult & { [PAUSED]?: HostCall })[PAUSED];
    this.pausedRun = new PausedRun(this, call, limits, result);
    return this.pausedRun;
  }

  /** @internal The run of a PausedRun's answer: replays the run up to its call, answers it, goes on. */
  resumeRun(paused: PausedRun, answer: Uint8Array, limits: RunLimits): Promise<RunStep> {
    if (this.pausedRun !== paused) return Promise.reject(new PyvisorError("this paused run was already resumed"));
    this.pausedRun = null;
    const request: GuestRequest = { kind: "code", code: "", filename: "<resume>", argv: [], mode: "exec", inputs: null, printErrors: false };
    const resume = { answer, liveTimeoutMs: limits.timeoutMs };
    const checked = { options: {} as RunOptions, limits: { ...limits, timeoutMs: limits.timeoutMs + REPLAY_ALLOWANCE_MS } };
    return this.enqueue(request, checked, { resume }).then((result) => this.stepOf(result, limits));
  }

  /** @internal The paused run this sandbox holds, if any. */
  pausedRun: PausedRun | null = null;

  /** Checks the call before queueing it: bad options reject at once, not after the runs ahead. */
  private start_(options: RunOptions, request: (options: RunOptions) => GuestRequest, extra: Pick<RunRequest, "pause"> = {}): Promise<RunResult> {
    try {
      this.checkAlive();
      if (this.pausedRun !== null) throw new PyvisorError("this sandbox has a paused run: resume it or throw into it first");
      const checked = resolveRunOptions(options, this.limits);
      return this.enqueue(request(checked.options), checked, extra);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private enqueue(request: GuestRequest, checked: { options: RunOptions; limits: RunLimits }, extra: Pick<RunRequest, "pause" | "resume"> = {}): Promise<RunResult> {
    // An already-aborted signal: the run never starts (the rejection is the signal's reason, as with fetch).
    if (checked.options.signal?.aborted) return Promise.reject(checked.options.signal.reason);
    const inputs = encodeInputs(checked.options.inputs);
    const queuedAtEpochMs = performance.timeOrigin + performance.now();
    const task = this.queue.then(() => this.executeNow({ ...request, inputs }, checked.options, checked.limits, queuedAtEpochMs, extra));
    this.queue = task.catch(() => undefined);
    return task;
  }

  private async executeNow(request: GuestRequest, options: RunOptions, limits: RunLimits, queuedAtEpochMs: number, extra: Pick<RunRequest, "pause" | "resume"> = {}): Promise<RunResult> {
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
      ...extra,
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
    const result = this.toResult(outcome, calls.hostCalls, reset);
    return outcome.paused === undefined ? result : Object.assign(result, { [PAUSED]: outcome.paused });
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
        : { type: outcome.divergence ? ErrorType.ReplayDivergence : ErrorType.Trap, message: outcome.trap, traceback: "", crash: "trap" };
      exitCode = crashed ? 134 : 1;
    }
    // No result and no other cause: the program broke the driver, and the worker restarted the interpreter.
    const driverBroken = outcome.paused === undefined && outcome.result === null && error === null && outcome.exitCode === null;
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

  /**
   * A file operation (or the save payload), queued with the runs: it sees the files as the runs before it
   * left them, and one on a sandbox whose worker died works on the re-created sandbox (one in flight then
   * rejects: SandboxCrashedError).
   */
  private queueOp(fsOp: Parameters<Pool["fs"]>[2]): Promise<unknown> {
    this.checkAlive();
    const task = this.queue.then(async () => {
      await this.placeIfLost();
      try {
        return await this.pool.fs(this.placement!.worker, this.placement!.sandboxId, fsOp);
      } catch (error) {
        throw error instanceof FsErrno && fsOp.op !== "save" ? fsError(error.errno, fsOp) : error;
      }
    });
    this.queue = task.catch(() => undefined);
    return task;
  }

  /** The sandbox's files (its in-memory trees and mounts), from the host side. */
  get fs() {
    const op = (fsOp: Parameters<Pool["fs"]>[2]) => this.queueOp(fsOp);
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

/** What `sb.start` and a paused run's `resume` / `throw` resolve to: the run's result, or its next pause. */
export type RunStep = { done: true; result: RunResult } | PausedRun;

/** Where a RunResult carries its pause from executeNow to stepOf (never seen by callers). */
const PAUSED = Symbol("paused");

/**
 * A run paused at a host call (`sb.start` with `pause`): Python waits in
 * `call` for the host's answer, holding no worker thread. `resume(value)`
 * answers it (the call returns `value`), `throw(message)` makes it raise
 * `pyvisor.HostError(message)`; both resolve to the next step. `save({ key })`
 * gives the paused run as bytes that `PausedRun.restore` brings back in any
 * process. Going on re-executes the run from its start with every answer the
 * guest got replayed from a log (its output is not repeated), so the time to
 * go on grows with the work the run did before its pause.
 */
export class PausedRun {
  readonly done = false as const;

  /** @internal */
  constructor(
    /** The sandbox the run belongs to (usable again once the run is done). */
    readonly sandbox: Sandbox,
    /** The call Python waits in: the function's name and its arguments. */
    readonly call: HostCall,
    private readonly limits: RunLimits,
    /** What the run wrote before this pause (its output and stats so far). */
    readonly partial: RunResult,
  ) {}

  /** Answers the call with `value` (converted as a host function's return value) and goes on. */
  resume(value: unknown): Promise<RunStep> {
    let answer: Uint8Array;
    try {
      answer = answerValue(value ?? null);
    } catch (error) {
      return Promise.reject(error instanceof CodecError ? new InvalidOptionsError("value", `the answer cannot cross to Python: ${error.message}`) : error);
    }
    if (answer.length > ANSWER_BYTES) return Promise.reject(new InvalidOptionsError("value", `the answer is too large: ${answer.length} bytes encoded, the limit is ${ANSWER_BYTES}`));
    return this.sandbox.resumeRun(this, answer, this.limits);
  }

  /** Makes the call raise `pyvisor.HostError(message)` in Python and goes on. */
  throw(message: string): Promise<RunStep> {
    if (typeof message !== "string") return Promise.reject(new InvalidOptionsError("message", "message must be a string"));
    return this.sandbox.resumeRun(this, answerError(message), this.limits);
  }

  /** The paused run as bytes sealed with `key` (HMAC-SHA256), for `PausedRun.restore`. */
  async save(options: { key: string | Uint8Array }): Promise<Uint8Array> {
    const key = checkKey((options ?? {} as { key: unknown }).key);
    if (this.sandbox.pausedRun !== this) throw new PyvisorError("this paused run was already resumed");
    return seal(await this.sandbox.saveRaw(), key);
  }

  /**
   * A paused run saved by `paused.save()`, back in this process: a sandbox
   * built from `options` (as for Sandbox.restore) holding the run, which
   * `resume` or `throw` go on with. Its limits are the saved run's.
   */
  static async restore(bytes: Uint8Array, options: SandboxOptions & { key: string | Uint8Array }): Promise<PausedRun> {
    const { sandbox, opened } = await Sandbox.restoreKind(bytes, options, SaveKind.paused);
    const { call, limits } = opened.paused!;
    const partial: RunResult = {
      value: null, valueRepr: false, repr: null, stdout: "", stderr: "", output: "", exitCode: 0, error: null,
      stats: { wallMs: 0, cpuMs: 0, hostMs: 0, ticks: 0, memoryBytes: 0, stdoutBytes: 0, stderrBytes: 0, hostCalls: 0, queuedMs: 0, reset: false },
    };
    sandbox.pausedRun = new PausedRun(sandbox, call, limits, partial);
    return sandbox.pausedRun;
  }
}

/** A run of Python source (run, start). */
function codeRequest(code: string): (o: RunOptions) => GuestRequest {
  return (o) => {
    if (typeof code !== "string") throw new InvalidOptionsError("code", "code must be a string");
    const filename = o.filename ?? "<string>";
    return { ...program(o, [filename], false), kind: "code", code, filename, mode: o.returnValue === false ? "exec" : "auto" };
  };
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
