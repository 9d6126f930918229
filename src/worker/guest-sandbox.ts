// One sandbox inside a worker thread: its kernel, channel and interpreter.
// A run is synchronous here; the thread is blocked until the guest returns,
// is stopped through the tick hook, or is hard-stopped (hard-stop.ts: the
// sandbox is discarded, the thread and its other sandboxes go on).
import { Channel } from "../kernel/channel.js";
import { Kernel, TICK_INTERVAL } from "../kernel/kernel.js";
import { ProcExit } from "../kernel/exit.js";
import { Interpreter, loadEngine, type Snapshot } from "../engine/engine.js";
import { Errno } from "../shared/errno.js";
import { VfsError, type DirNode, type FileNode } from "../vfs/node.js";
import { resolve } from "../vfs/resolve.js";
import { stdlibTree } from "../vfs/image.js";
import { mkdirs, writeFile } from "../vfs/tree.js";
import {
  answerError, answerValue, lostOutcome, MAX_WAIT_MS, parseGuestCall, screenResult,
  type CallKind, type DurablePayload, type FsOp, type HostCall, type RunRequest, type SandboxSpec, type WorkerOutcome,
} from "../shared/protocol.js";
import { ERRNO_NAMES } from "../shared/errno.js";
import { encodeValue } from "../shared/codec.js";
import type { OutputSegment } from "../shared/run.js";
import { GUEST_HOME } from "../shared/defaults.js";
import type { TreeImage } from "../vfs/tree.js";
import { HardStop, runWatched } from "./hard-stop.js";
import { packageTrees } from "./packages.js";
import { SITE_PACKAGES_PATH } from "../shared/defaults.js";
import { Pause, Recorder, ReplayDivergence } from "./replay.js";
import { captureMemory, decodePayload, decompress, encodePayload, interpreterFrom, limitsForSave, type Payload, type PausedPart, type MemoryImage } from "./durable.js";
import { applyKernel, captureKernel } from "../kernel/state.js";
import { SnapshotEngineError, SnapshotFormatError } from "../shared/errors.js";

const ZERO_CARRY: PausedPart["carry"] = { ticks: 0, cpuMs: 0, hostMs: 0, stdoutBytes: 0, stderrBytes: 0 };
const NO_LIMITS: PausedPart["limits"] = { timeoutMs: Infinity, cpuTimeMs: Infinity, tickLimit: Infinity, outputLimitBytes: Infinity };

/** A run paused at a host call: the memory it started from, its log, and what it waits for. */
interface PausedRun extends PausedPart {
  base: MemoryImage;
}

/** Output is posted to the host in batches: at most every OUTPUT_BATCH_MS, or once OUTPUT_BATCH_BYTES are waiting. */
const OUTPUT_BATCH_MS = 50;
const OUTPUT_BATCH_BYTES = 64 * 1024;
/** Largest output message to the host: a bigger batch (or one big write) is posted in pieces of this size. */
export const MAX_OUTPUT_MESSAGE_BYTES = 1024 * 1024;

export interface ThreadServices {
  /**
   * Blocks until the host answers (a host-function call, or the next stdin
   * chunk), the run is cancelled or interrupted, or `deadlineMs` passes (then
   * the answer is an error, or the end of stdin).
   */
  call(runId: number, kind: CallKind, payload: Uint8Array, deadlineMs: number): Uint8Array;
  /** Posts a batch of output (segments in write order). */
  output(runId: number, segments: OutputSegment[]): void;
  cancelRequested(runId: number): boolean;
  /** True once the host hard-stops run `runId` (it ignored its stop): the guest is unwound at its next tick. */
  stopRequested(runId: number): boolean;
  /** How long after its deadline a run still going is hard-stopped by the engine itself (a long C call never ticks). */
  hardStopGraceMs: number;
  /** True once per host request for a KeyboardInterrupt in run `runId`. */
  interruptRequested(runId: number): boolean;
  /** A restored interpreter (from the thread's snapshot), not yet bound; null when snapshots are unavailable. */
  takeInterpreter(memoryLimitBytes: number): Interpreter | null;
}

/**
 * Where a sandbox restored from a template starts: the template's files, the
 * monotonic time its setup reached, and interpreters restored from its memory.
 */
export interface TemplateOrigin {
  tree: TreeImage;
  monotonicNs: bigint;
  takeInterpreter(memoryLimitBytes: number): Interpreter | null;
}

/**
 * The run driver: the one way a run is made (the worker thread's, and the
 * kernel tests' and the compute benchmark's, in-process).
 */
export class GuestSandbox {
  /** The sandbox's kernel (tests reach into it to play a hostile guest). */
  readonly kernel: Kernel;
  private readonly channel = new Channel();
  private interpreterNow: Interpreter | null = null;
  private currentRunId = 0;
  /** Set while run() runs: output outside a run (an interpreter's start-up) stays in the kernel's log. */
  private running = false;
  private lastPostMs = 0;
  private fresh = true;
  private readonly functions: ReadonlySet<string>;
  /** Records (or replays) the current run when it may pause. */
  private recorder: Recorder | null = null;
  /** The run paused at a host call, waiting for a resume (its interpreter was unwound: interpreterNow is null). */
  private pausedRun: PausedRun | null = null;
  /** The call the current run asked to pause at (set in the channel handler, taken when the guest unwinds). */
  private pauseCall: HostCall | null = null;
  /** The current run's own time limit (a resumed run's `timeoutMs` covers its replay too). */
  private legTimeoutMs = 0;

  /** The current interpreter: a new one after a reset; null if none could start. */
  get interpreter(): Interpreter | null {
    return this.interpreterNow;
  }

  get memoryLimitBytes(): number {
    return this.spec.memoryLimitBytes;
  }

  constructor(private readonly spec: SandboxSpec, private readonly services: ThreadServices, private readonly origin: TemplateOrigin | null = null) {
    this.functions = new Set(spec.functions);
    const engine = loadEngine();
    this.kernel = new Kernel({
      stdlib: stdlibTree(engine), packages: packageTrees(spec.packages ?? []), mounts: spec.mounts, files: spec.files, cwd: spec.cwd,
      ...(origin !== null ? { base: origin.tree, monotonicStartNs: origin.monotonicNs } : {}),
      diskQuotaBytes: spec.diskQuotaBytes, inodeQuota: spec.inodeQuota, maxOpenFiles: spec.maxOpenFiles,
      policy: spec.policy, trace: spec.trace, channel: this.channel,
      env: spec.env, deterministic: spec.deterministic, seed: spec.seed,
      onOutput: () => this.flushOutput(false),
      cancelRequested: () => services.cancelRequested(this.currentRunId),
      interruptRequested: () => services.interruptRequested(this.currentRunId),
      periodic: () => this.flushOutput(false),
      beforeWait: () => this.flushOutput(true),
      ...(spec.lockOwner !== undefined ? { hostLocks: { owner: spec.lockOwner, call: (request: Uint8Array) => services.call(this.currentRunId, "lock", request, this.kernel.limits.wallDeadlineMs) } } : {}),
    });
    this.start();
  }

  /**
   * Takes a restored interpreter or, in deterministic mode (the snapshot's
   * hash secret and start-up state are not reproducible), boots a fresh one.
   * Called again after a reset.
   */
  private start(): void {
    const take = this.origin?.takeInterpreter ?? this.services.takeInterpreter;
    const restored = this.spec.deterministic || this.spec.boot === true ? null : take(this.spec.memoryLimitBytes);
    // A template's state exists only in its snapshot: a bare interpreter would silently lack it.
    if (restored === null && this.origin !== null) throw new Error("the template's interpreter could not be restored");
    if (restored !== null) {
      this.adopt(restored);
    } else {
      const engine = loadEngine();
      const { interpreter, status } = Interpreter.boot(engine.module, this.imports(), this.spec.memoryLimitBytes, this.attach);
      if (status !== 0) throw new Error(`the interpreter failed to start (status ${status}): ${this.kernel.stderr.text()}`);
      this.adopt(interpreter, null);
    }
    this.fresh = true;
  }

  private readonly attach = (memory: WebAssembly.Memory) => this.kernel.attachMemory(memory);

  /** Makes `interpreter` the sandbox's, bound to `imports` (null: already bound); tick intervals pass by the recorder, if any. */
  private adopt(interpreter: Interpreter, imports: WebAssembly.Imports | null = this.imports()): void {
    if (imports !== null) interpreter.bind(imports, this.attach);
    this.interpreterNow = interpreter;
    this.kernel.tickControl = {
      setInterval: (interval) => {
        this.recorder?.noteInterval(interval);
        interpreter.setTickInterval(interval);
      },
    };
  }

  /** The kernel's imports, with a tick hook that unwinds the guest once the host hard-stops its run. */
  private imports(): WebAssembly.Imports {
    const imports = this.kernel.imports();
    const { tick } = imports.pyvisor as { tick(interval: number): number };
    imports.pyvisor = {
      ...imports.pyvisor,
      tick: (interval: number) => {
        if (this.services.stopRequested(this.currentRunId)) throw new HardStop();
        return tick(interval);
      },
    };
    return imports;
  }

  run(runId: number, run: RunRequest): WorkerOutcome {
    if (run.resume !== undefined && this.pausedRun === null) {
      return { ...lostOutcome(null), protocolError: "the paused run is gone (its sandbox was re-created after its worker died)" };
    }
    if (this.interpreterNow === null && run.resume === undefined) {
      return { ...lostOutcome(null), protocolError: this.pausedRun !== null ? "the sandbox has a paused run: resume it or throw into it first" : "the sandbox has no interpreter" };
    }
    const pauseAt = new Set(run.resume !== undefined ? this.pausedRun!.pause : run.pause ?? []);
    this.legTimeoutMs = run.resume?.liveTimeoutMs ?? run.timeoutMs;
    this.currentRunId = runId;
    this.running = true;
    this.lastPostMs = performance.now();
    const k = this.kernel;
    let result: Uint8Array | null = null;
    let protocolError: string | null = null;
    const start = performance.now();
    const deadline = start + run.timeoutMs;
    this.channel.handlers = {
      call: (payload) => {
        // Screened here, on the guest's time: a bomb, garbage or an unknown name never reaches the host.
        const call = parseGuestCall(payload, (name) => this.functions.has(name));
        if (typeof call === "string") return answerError(call);
        if (call.op === "call" && pauseAt.has(call.call.name) && this.recorder?.full) {
          return answerError(`the run did too much before calling ${call.call.name} to be paused (its replay log passed its bounds)`);
        }
        if (call.op === "call" && pauseAt.has(call.call.name) && this.recorder !== null) {
          // Answered for now, so that the call completes and is recorded; the guest is unwound right after it.
          this.pauseCall = call.call;
          this.recorder.pauseAfterCall = true;
          return answerValue(null);
        }
        const forwarded = call.op === "wait" ? this.boundedWait(call.timeoutMs) : payload.slice();
        if (forwarded === null) return answerError("the run is stopping");
        const before = performance.now();
        try {
          return this.blockingCall(runId, "function", forwarded);
        } catch (error) {
          // An answer that cannot be read: the guest still gets one.
          const what = call.op === "call" || call.op === "start" ? `host function ${call.call.name}` : `host ${call.op}`;
          return answerError(`${what}: ${error instanceof Error ? error.message : String(error)}`);
        } finally {
          k.hostMs += performance.now() - before;
          // A run cancelled while the host worked, or out of time after a wait, stops now rather than at the next tick.
          if (call.op === "wait" || this.services.cancelRequested(runId)) k.checkLimits();
        }
      },
      done: (payload) => {
        const screened = screenResult(payload);
        if ("result" in screened) result = screened.result;
        else protocolError ??= screened.protocolError;
      },
      protocolError: (message) => { protocolError ??= message; },
    };
    this.channel.reset(this.encodeRequest(run.request));
    // An interrupt or stop taken before the pull, or one that cut its wait short
    // (the host then answers empty), is not the end of stdin: null.
    const pullStdin = run.stdinStream ? () => {
      if (k.checkLimits()) return null;
      const before = performance.now();
      try {
        const chunk = this.blockingCall(runId, "stdin", new Uint8Array(0));
        return chunk.length === 0 && k.checkLimits() ? null : chunk;
      } finally {
        k.hostMs += performance.now() - before;
      }
    } : null;
    k.beginRun(run.resume !== undefined ? this.pausedRun!.stdin : run.stdin, {
      wallDeadlineMs: deadline, cpuBudgetMs: run.cpuTimeMs, tickBudget: run.tickLimit, outputLimitBytes: run.outputLimitBytes,
    }, pullStdin);
    k.trace?.reset();
    if (run.resume !== undefined) this.beginReplay(run.resume);
    else if (pauseAt.size > 0) this.beginRecording(pauseAt);
    let exitCode: number | null = null;
    let trap: string | null = null;
    try {
      const interpreter = this.interpreterNow!;
      runWatched(() => interpreter.run(), run.timeoutMs + this.services.hardStopGraceMs);
    } catch (error) {
      if (error instanceof HardStop) return this.hardStopped(runId, start);
      if (error instanceof Pause) return this.paused(start);
      if (error instanceof ReplayDivergence) {
        this.pausedRun = null;
        this.recorder = null;
        this.reset();
        this.running = false;
        return { ...lostOutcome(`${error.name}: ${error.message}`), divergence: true, stats: this.stats(start, performance.now()) };
      }
      // The guest unwound out of the interpreter: it cannot be re-entered.
      if (error instanceof ProcExit) exitCode = error.code;
      else trap = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.reset();
    }
    this.fresh = false;
    this.endRecording();
    if (result === null && protocolError === null && this.channel.incompleteBytes > 0) {
      protocolError = `the guest left an incomplete frame (${this.channel.incompleteBytes} bytes) on the channel`;
    }
    if (result === null && protocolError === null && exitCode === null && trap === null && k.stopReason === null) {
      // The driver returned without a result: the program broke it (sandbox.ts reports a DriverError).
      // Whatever it changed, a new interpreter does not have it.
      this.reset();
    }
    const end = performance.now();
    this.flushOutput(true);
    this.running = false;
    return {
      result, stopReason: k.stopReason, exitCode, trap, protocolError, stats: this.stats(start, end),
      trace: k.trace ? [...k.trace.entries] : null,
    };
  }

  /** A pausable run: its starting memory is kept and every import call recorded. */
  private beginRecording(pauseAt: Set<string>): void {
    const interpreter = this.interpreterNow!;
    const base = captureMemory(interpreter.memory);
    this.recorder = this.newRecorder(interpreter, []);
    interpreter.bind(this.recorder.wrap(this.imports()), this.attach);
    this.pausedRun = { base, log: this.recorder.log, call: { name: "", args: [], kwargs: null }, carry: ZERO_CARRY, stdin: new Uint8Array(0), limits: NO_LIMITS, pause: [...pauseAt] };
  }

  /**
   * A resumed run: a new interpreter from the paused run's starting memory,
   * its calls answered from the log until the paused call; then the paused
   * call's answer is queued and the run is live, its counters where they were.
   */
  private beginReplay(resume: NonNullable<RunRequest["resume"]>): void {
    const paused = this.pausedRun!;
    const interpreter = interpreterFrom(paused.base, this.spec.memoryLimitBytes);
    const k = this.kernel;
    this.recorder = this.newRecorder(interpreter, paused.log, () => {
      const now = performance.now();
      const { carry } = paused;
      k.ticks = carry.ticks;
      k.hostMs = carry.hostMs;
      k.runStartMs = now - carry.cpuMs - carry.hostMs;
      k.output.carry(carry.stdoutBytes, carry.stderrBytes);
      k.limits = { ...k.limits, wallDeadlineMs: now + resume.liveTimeoutMs };
      this.channel.answerWith(resume.answer);
    });
    this.adopt(interpreter, this.recorder.wrap(this.imports()));
    interpreter.setTickInterval(TICK_INTERVAL);
  }

  private newRecorder(interpreter: Interpreter, log: PausedRun["log"], live: () => void = () => {}): Recorder {
    return new Recorder({
      guest: () => this.kernel.memory,
      memory: () => interpreter.memory,
      setInterval: (interval) => interpreter.setTickInterval(interval),
      live,
    }, log);
  }

  /** The run ended (not paused): no more recording, and no paused run. */
  private endRecording(): void {
    if (this.recorder === null) return;
    this.recorder = null;
    this.pausedRun = null;
    // The interpreter goes on without the recorder in its imports.
    if (this.interpreterNow !== null) this.adopt(this.interpreterNow);
  }

  /** The guest was unwound after the call it paused at: the run waits, its interpreter is gone (replay rebuilds it). */
  private paused(start: number): WorkerOutcome {
    const k = this.kernel;
    const end = performance.now();
    const run = this.pausedRun!;
    run.call = this.pauseCall!;
    run.carry = { ticks: k.ticks, cpuMs: k.cpuMs(end), hostMs: k.hostMs, stdoutBytes: k.output.bytesWritten(1), stderrBytes: k.output.bytesWritten(2) };
    run.stdin = k.stdin.remaining();
    run.limits = { timeoutMs: this.legTimeoutMs, cpuTimeMs: k.limits.cpuBudgetMs, tickLimit: k.limits.tickBudget, outputLimitBytes: k.limits.outputLimitBytes };
    this.pauseCall = null;
    this.recorder = null;
    this.interpreterNow = null;
    this.flushOutput(true);
    this.running = false;
    return {
      result: null, stopReason: null, exitCode: null, trap: null, protocolError: null, paused: run.call,
      stats: this.stats(start, end), trace: k.trace ? [...k.trace.entries] : null,
    };
  }

  private stats(start: number, end: number): WorkerOutcome["stats"] {
    const k = this.kernel;
    return {
      wallMs: end - start, cpuMs: k.cpuMs(end), hostMs: k.hostMs, ticks: k.ticks,
      memoryBytes: this.interpreterNow?.memory.buffer.byteLength ?? 0,
      stdoutBytes: k.output.bytesWritten(1), stderrBytes: k.output.bytesWritten(2), queuedMs: 0,
    };
  }

  /**
   * The outcome of a hard-stopped run. The guest was cut short anywhere, a
   * syscall half done included, so the sandbox is not used again (the engine
   * discards it); only the output it wrote is taken, as far as it can be.
   */
  private hardStopped(runId: number, start: number): WorkerOutcome {
    try {
      this.flushOutput(true);
    } catch {
      // The output log was cut mid-write: what was posted before stands.
    }
    this.running = false;
    const stopReason = this.kernel.stopReason ?? (this.services.cancelRequested(runId) ? "cancelled" : "timeout");
    return {
      result: null, stopReason, exitCode: null, trap: null, protocolError: null, trace: null, hardStopped: true,
      stats: this.stats(start, performance.now()),
    };
  }

  /** A host call or stdin pull: what the guest wrote before it reaches the host first (a prompt, a log line). */
  private blockingCall(runId: number, kind: CallKind, payload: Uint8Array): Uint8Array {
    this.flushOutput(true);
    return this.services.call(runId, kind, payload, this.kernel.limits.wallDeadlineMs);
  }

  /**
   * The guest's event loop waits on the host for started calls: never past the
   * run's deadline nor the time the engine gives the host to answer (the loop
   * asks again), and in deterministic mode until a call settles (host calls
   * take no virtual time, so timers cannot overtake them). Null once the run
   * must stop.
   */
  private boundedWait(timeoutMs: number | null): Uint8Array | null {
    const k = this.kernel;
    if (k.checkLimits()) return null;
    const wanted = this.spec.deterministic || timeoutMs === null ? Infinity : timeoutMs;
    const bound = Math.min(wanted, MAX_WAIT_MS, Math.ceil(k.msUntilDeadline()));
    return encodeValue({ op: "wait", timeoutMs: Math.max(0, bound) });
  }

  /**
   * Posts the output written since the last batch: at most every 50 ms or
   * 64 KiB (and before the guest blocks, and at the end), so that the number
   * of messages follows time and bytes, not the guest's writes, and the host
   * (or a worker process relaying to it) is never flooded. A worker that dies
   * has posted all but the last 50 ms of its output.
   */
  private flushOutput(force: boolean): void {
    const log = this.kernel.output;
    if (!this.running || log.pendingBytes === 0) return;
    const now = performance.now();
    if (!force && log.pendingBytes < OUTPUT_BATCH_BYTES && now - this.lastPostMs < OUTPUT_BATCH_MS) return;
    this.lastPostMs = now;
    let batch: OutputSegment[] = [];
    let bytes = 0;
    const send = () => {
      if (batch.length > 0) this.services.output(this.currentRunId, batch);
      batch = [];
      bytes = 0;
    };
    for (const { fd, chunk } of log.take()) {
      // Pieces are copies (slice): a view would carry its whole buffer across.
      for (let at = 0; at < chunk.length; at += MAX_OUTPUT_MESSAGE_BYTES) {
        const piece = chunk.length <= MAX_OUTPUT_MESSAGE_BYTES ? chunk : chunk.slice(at, at + MAX_OUTPUT_MESSAGE_BYTES);
        if (bytes + piece.length > MAX_OUTPUT_MESSAGE_BYTES) send();
        batch.push({ fd, chunk: piece });
        bytes += piece.length;
      }
    }
    send();
  }

  /** The driver's request, plus what a new interpreter must refresh (cwd, environment, random state). */
  private encodeRequest(request: RunRequest["request"]): Uint8Array {
    const { env, cwd, functions, asyncFunctions = [], hostGlobals = false, packages = [] } = this.spec;
    const sitePackages = packages.length > 0 ? SITE_PACKAGES_PATH : null;
    return encodeValue({ ...request, fresh: this.fresh, env, cwd, functions, asyncFunctions, hostGlobals, sitePackages });
  }

  private reset(): void {
    this.interpreterNow = null;
    this.kernel.resetFds();
    try {
      this.start();
    } catch {
      this.interpreterNow = null;
    }
  }

  /**
   * The sandbox's durable payload (between runs): its memory, or for a paused
   * run the memory it started from and its log, and the kernel's state now.
   */
  save(): DurablePayload {
    const paused = this.pausedRun;
    if (paused === null && this.interpreterNow === null) throw new Error("the sandbox has no interpreter to save");
    const memory = paused?.base ?? captureMemory(this.interpreterNow!.memory);
    const payload: Payload = {
      engine: loadEngine().key, memory, kernel: captureKernel(this.kernel),
      paused: paused === null ? null : { log: paused.log, call: paused.call, carry: paused.carry, stdin: paused.stdin, limits: limitsForSave(paused.limits) as unknown as PausedPart["limits"], pause: paused.pause },
    };
    const meta = paused === null ? null : encodeValue({ call: paused.call, limits: payload.paused!.limits });
    return { ...encodePayload(payload), memoryBytes: memory.byteLength, meta };
  }

  /**
   * Puts a saved sandbox into this one (just built from the restoring side's
   * options, before any run): its kernel state, and its memory as the
   * interpreter, or as the starting memory of its paused run.
   */
  restore(saved: DurablePayload): void {
    const payload = decodePayload(decompress(saved.data, saved.compression, saved.rawLength));
    if (payload.engine !== loadEngine().key) throw new SnapshotEngineError("these bytes were saved by another engine (python.wasm, stdlib or guest module differ)");
    if (payload.memory.byteLength > this.spec.memoryLimitBytes) throw new SnapshotFormatError(`the saved memory is ${payload.memory.byteLength} bytes, over this sandbox's memoryLimit`);
    applyKernel(this.kernel, payload.kernel);
    if (payload.paused !== null) {
      this.pausedRun = { ...payload.paused, base: payload.memory };
      this.interpreterNow = null;
    } else {
      this.adopt(interpreterFrom(payload.memory, this.spec.memoryLimitBytes));
    }
    this.fresh = false;
  }

  fs(op: FsOp): unknown {
    const root = this.kernel.tree.root;
    switch (op.op) {
      case "save":
        return this.save();
      case "read": {
        const found = resolve(root, [root], op.path, true);
        if (found.node === undefined) throw new VfsError(Errno.NOENT);
        // A device has no contents to read whole (its stat size is 0): /dev/null reads empty, as do the endless ones.
        if (found.node.kind === "device") return new Uint8Array(0);
        if (found.node.kind !== "file") throw new VfsError(Errno.ISDIR);
        const handle = (found.node as FileNode).open({ read: true, write: false, truncate: false });
        try {
          return handle.read(0, handle.size());
        } finally {
          handle.close();
        }
      }
      case "write":
        writeFile(root, op.path, op.data, true);
        return null;
      case "mkdir":
        mkdirs(root, op.path);
        return null;
      case "list": {
        const found = resolve(root, [root], op.path, true);
        if (found.node?.kind !== "dir") throw new VfsError(found.node === undefined ? Errno.NOENT : Errno.NOTDIR);
        return (found.node as DirNode).entries().map(([name]) => name).sort();
      }
      case "stat": {
        const found = resolve(root, [root], op.path, false);
        if (found.node === undefined) throw new VfsError(Errno.NOENT);
        const st = found.node.stat();
        return { kind: found.node.kind, size: Number(st.size), mtimeMs: Number(st.mtimeNs / 1_000_000n) };
      }
      case "remove": {
        const found = resolve(root, [root], op.path, false);
        if (found.node === undefined) throw new VfsError(Errno.NOENT);
        removeTree(found.parents[found.parents.length - 1]!, found.name, op.recursive);
        return null;
      }
    }
  }

  /**
   * Frees the sandbox and hands back its interpreter for recycling: it is
   * between calls (every run returns or is reset), so it can be reset to the
   * snapshot for another sandbox (Interpreter.resetTo checks the rest).
   */
  dispose(): Interpreter | null {
    const interpreter = this.interpreterNow;
    this.kernel.dispose();
    this.interpreterNow = null;
    return interpreter;
  }

  /** Frees a hard-stopped sandbox: its interpreter was unwound mid-call (its stack pointer with it), so it is not recycled. */
  discard(): void {
    this.interpreterNow = null;
    try {
      this.kernel.dispose();
    } catch {
      // A kernel cut short mid-syscall: what it could not close goes with the garbage.
    }
  }
}

function removeTree(parent: DirNode, name: string, recursive: boolean): void {
  const node = parent.lookup(name);
  if (node?.kind === "dir" && recursive) {
    const dir = node as DirNode;
    for (const [child] of dir.entries()) removeTree(dir, child, true);
  }
  parent.remove(name, node?.kind === "dir");
}

/** Services of a sandbox no host talks to (a boot): nothing is asked, nothing is stopped. */
const NO_HOST: ThreadServices = {
  call: () => new Uint8Array(0),
  output: () => {},
  cancelRequested: () => false,
  stopRequested: () => false,
  hardStopGraceMs: 0,
  interruptRequested: () => false,
  takeInterpreter: () => null,
};

/**
 * Boots CPython in a throwaway sandbox and snapshots it (the stdlib core and
 * the guest module imported); null when it cannot start. Each boot draws a
 * new str hash secret.
 */
export function bootSnapshot(): Snapshot | null {
  let booted: GuestSandbox | null = null;
  try {
    booted = new GuestSandbox({
      memoryLimitBytes: 256 * 1024 * 1024, mounts: [], env: {}, files: {}, cwd: GUEST_HOME, diskQuotaBytes: 1 << 20, inodeQuota: 64,
      maxOpenFiles: 16, deterministic: false, seed: 0, policy: {}, trace: false, functions: [],
    }, NO_HOST);
    return booted.interpreter?.snapshot() ?? null;
  } catch {
    return null;
  } finally {
    booted?.dispose();
  }
}

/** A failed sb.fs operation as the host gets it: the errno when the VFS refused it, else a message. */
export function fsFailure(error: unknown): { error: string; errno?: number } {
  if (error instanceof VfsError) return { error: `${ERRNO_NAMES[error.errno] ?? error.errno}: ${error.message}`, errno: error.errno };
  return { error: error instanceof Error ? error.message : String(error) };
}
