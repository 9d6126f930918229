// One sandbox inside a worker thread: its kernel, channel and interpreter.
// A run is synchronous here; the thread is blocked until the guest returns,
// is stopped through the tick hook, or is hard-stopped (hard-stop.ts: the
// sandbox is discarded, the thread and its other sandboxes go on).
import { Channel } from "../kernel/channel.js";
import { Kernel } from "../kernel/kernel.js";
import { ProcExit } from "../kernel/exit.js";
import { Interpreter, loadEngine, type Snapshot } from "../engine/engine.js";
import { Errno } from "../shared/errno.js";
import { VfsError, type DirNode, type FileNode } from "../vfs/node.js";
import { resolve } from "../vfs/resolve.js";
import { stdlibTree } from "../vfs/image.js";
import { mkdirs, writeFile } from "../vfs/tree.js";
import { answerError, MAX_WAIT_MS, parseGuestCall, screenResult, type CallKind, type WorkerOutcome, type FsOp, type RunRequest, type SandboxSpec } from "../shared/protocol.js";
import { ERRNO_NAMES } from "../shared/errno.js";
import { encodeValue } from "../shared/codec.js";
import type { OutputSegment } from "../shared/run.js";
import { GUEST_HOME } from "../shared/defaults.js";
import type { TreeImage } from "../vfs/tree.js";
import { HardStop, runWatched } from "./hard-stop.js";
import { packageTrees } from "./packages.js";
import { SITE_PACKAGES_PATH } from "../shared/defaults.js";

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
    });
    this.start();
  }

  /**
   * Takes a restored interpreter or, in deterministic mode (the snapshot's
   * hash secret and start-up state are not reproducible), boots a fresh one.
   * Called again after a reset.
   */
  private start(): void {
    const attach = (memory: WebAssembly.Memory) => this.kernel.attachMemory(memory);
    const take = this.origin?.takeInterpreter ?? this.services.takeInterpreter;
    const restored = this.spec.deterministic || this.spec.boot === true ? null : take(this.spec.memoryLimitBytes);
    // A template's state exists only in its snapshot: a bare interpreter would silently lack it.
    if (restored === null && this.origin !== null) throw new Error("the template's interpreter could not be restored");
    if (restored !== null) {
      restored.bind(this.imports(), attach);
      this.interpreterNow = restored;
    } else {
      const engine = loadEngine();
      const { interpreter, status } = Interpreter.boot(engine.module, this.imports(), this.spec.memoryLimitBytes, attach);
      if (status !== 0) throw new Error(`the interpreter failed to start (status ${status}): ${this.kernel.stderr.text()}`);
      this.interpreterNow = interpreter;
    }
    const interpreter = this.interpreterNow;
    this.kernel.tickControl = { setInterval: (interval) => interpreter.setTickInterval(interval) };
    this.fresh = true;
  }

  /** The kernel's imports, with a tick hook that unwinds the guest once the host hard-stops its run. */
  private imports(): WebAssembly.Imports {
    const imports = this.kernel.imports();
    const { tick } = imports.pyvisor as { tick(interval: number): number };
    imports.pyvisor = {
      tick: (interval: number) => {
        if (this.services.stopRequested(this.currentRunId)) throw new HardStop();
        return tick(interval);
      },
    };
    return imports;
  }

  run(runId: number, run: RunRequest): WorkerOutcome {
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
    k.beginRun(run.stdin, {
      wallDeadlineMs: deadline, cpuBudgetMs: run.cpuTimeMs, tickBudget: run.tickLimit, outputLimitBytes: run.outputLimitBytes,
    }, pullStdin);
    k.trace?.reset();
    let exitCode: number | null = null;
    let trap: string | null = null;
    try {
      const interpreter = this.interpreterNow!;
      runWatched(() => interpreter.run(), run.timeoutMs + this.services.hardStopGraceMs);
    } catch (error) {
      if (error instanceof HardStop) return this.hardStopped(runId, start);
      // The guest unwound out of the interpreter: it cannot be re-entered.
      if (error instanceof ProcExit) exitCode = error.code;
      else trap = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.reset();
    }
    this.fresh = false;
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

  fs(op: FsOp): unknown {
    const root = this.kernel.tree.root;
    switch (op.op) {
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
