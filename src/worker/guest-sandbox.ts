// One sandbox inside an engine thread: its kernel, channel and interpreter.
// A run is synchronous here; the thread is blocked until the guest returns,
// is interrupted by the tick hook, or the host terminates the thread.
import { Channel } from "../kernel/channel.js";
import { Kernel, ProcExit } from "../kernel/kernel.js";
import { Interpreter, loadEngine } from "../engine/engine.js";
import { Errno } from "../shared/wasi.js";
import { VfsError, type DirNode, type FileNode } from "../vfs/node.js";
import { resolve } from "../vfs/resolve.js";
import { mkdirs, writeFile } from "../vfs/tree.js";
import { answerError, parseGuestCall, screenResult, MAX_WAIT_MS, type CallKind, type FsOp, type RunOutcome, type RunRequest, type SandboxSpec } from "./protocol.js";
import { ERRNO_NAMES } from "../shared/wasi.js";
import { encodeValue } from "../shared/codec.js";

const OUTPUT_BATCH_MS = 50;
const OUTPUT_BATCH_BYTES = 64 * 1024;
/** Largest output message to the host: one guest write (up to `outputLimit`) is posted in pieces of this size. */
export const MAX_OUTPUT_MESSAGE_BYTES = 1024 * 1024;

export interface ThreadServices {
  /**
   * Blocks until the host answers (a host-function call, or the next stdin
   * chunk) or `deadline` (performance.now() time) passes, then throws. The
   * host bounds a function call by functionTimeout; the deadline is the run's.
   */
  call(runId: number, kind: CallKind, payload: Uint8Array, deadline: number): Uint8Array;
  output(runId: number, fd: 1 | 2, chunk: Uint8Array): void;
  cancelRequested(runId: number): boolean;
  /** A restored interpreter (from the thread's snapshot), not yet bound; null when snapshots are unavailable. */
  takeInterpreter(memoryLimitBytes: number): Interpreter | null;
}

export class GuestSandbox {
  private readonly kernel: Kernel;
  private readonly channel = new Channel();
  private interpreter: Interpreter | null = null;
  private currentRunId = 0;
  private streamOutput = false;
  /** Output not yet posted to the host (when the host did not ask for streaming). */
  private unposted: Array<[1 | 2, Uint8Array]> = [];
  private unpostedBytes = 0;
  private lastPostMs = 0;
  private fresh = true;
  private readonly functions: ReadonlySet<string>;

  get memoryLimitBytes(): number {
    return this.spec.memoryLimitBytes;
  }

  constructor(private readonly spec: SandboxSpec, private readonly services: ThreadServices) {
    this.functions = new Set(spec.functions);
    const engine = loadEngine();
    this.kernel = new Kernel({
      stdlib: engine.stdlib, mounts: spec.mounts, files: spec.files, cwd: spec.cwd,
      diskQuotaBytes: spec.diskQuotaBytes, inodeQuota: spec.inodeQuota, maxOpenFiles: spec.maxOpenFiles,
      policy: spec.policy, trace: spec.trace, channel: this.channel,
      env: spec.env, deterministic: spec.deterministic, seed: spec.seed,
      onStdout: (chunk) => this.output(1, chunk),
      onStderr: (chunk) => this.output(2, chunk),
      cancelRequested: () => services.cancelRequested(this.currentRunId),
      periodic: () => this.flushOutput(false),
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
    const restored = this.spec.deterministic ? null : this.services.takeInterpreter(this.spec.memoryLimitBytes);
    if (restored !== null) {
      restored.bind(this.kernel.imports(), attach);
      this.interpreter = restored;
    } else {
      const engine = loadEngine();
      const { interpreter, status } = Interpreter.boot(engine.module, this.kernel.imports(), this.spec.memoryLimitBytes, attach);
      if (status !== 0) throw new Error(`the interpreter failed to start (status ${status}): ${this.kernel.stderr.text()}`);
      this.interpreter = interpreter;
    }
    const interpreter = this.interpreter;
    this.kernel.tickControl = { setInterval: (interval) => interpreter.setTickInterval(interval) };
    this.fresh = true;
  }

  run(runId: number, run: RunRequest): RunOutcome {
    this.currentRunId = runId;
    this.streamOutput = run.streamOutput;
    this.unposted = [];
    this.unpostedBytes = 0;
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
          return this.services.call(runId, "function", forwarded, deadline);
        } catch (error) {
          // The run's time is up (the run stops at once) or the answer was unreadable: the guest still gets an answer.
          if (performance.now() >= deadline) k.requestStop("timeout");
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
    const pullStdin = run.stdinStream ? () => {
      const before = performance.now();
      try {
        return this.services.call(runId, "stdin", new Uint8Array(0), deadline);
      } catch (error) {
        if (performance.now() >= deadline) k.requestStop("timeout");
        throw error; // the read fails (EIO)
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
      this.interpreter!.run();
    } catch (error) {
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
    return {
      result, stdout: k.stdout.text(), stderr: k.stderr.text(), stopReason: k.stopReason, exitCode, trap, protocolError,
      stats: {
        wallMs: end - start, cpuMs: k.cpuMs(end), hostMs: k.hostMs, ticks: k.ticks,
        memoryBytes: this.interpreter?.memory.buffer.byteLength ?? 0,
        stdoutBytes: Buffer.byteLength(k.stdout.text()), stderrBytes: Buffer.byteLength(k.stderr.text()),
      },
      trace: k.trace ? [...k.trace.entries] : null,
    };
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
   * Output goes to the host as it is written when the host streams it;
   * otherwise in batches (every 50 ms or 64 KiB), so that a short run costs no
   * message and a run whose worker dies still has most of its output reported.
   */
  private output(fd: 1 | 2, chunk: Uint8Array): void {
    if (this.streamOutput) {
      this.post(fd, chunk);
      return;
    }
    this.unposted.push([fd, chunk]);
    this.unpostedBytes += chunk.length;
    this.flushOutput(false);
  }

  private flushOutput(force: boolean): void {
    if (this.unposted.length === 0) return;
    const now = performance.now();
    if (!force && this.unpostedBytes < OUTPUT_BATCH_BYTES && now - this.lastPostMs < OUTPUT_BATCH_MS) return;
    for (const [fd, chunk] of this.unposted) this.post(fd, chunk);
    this.unposted = [];
    this.unpostedBytes = 0;
    this.lastPostMs = now;
  }

  /** Posts a chunk in pieces of at most MAX_OUTPUT_MESSAGE_BYTES (copies: a view would carry its whole buffer). */
  private post(fd: 1 | 2, chunk: Uint8Array): void {
    if (chunk.length <= MAX_OUTPUT_MESSAGE_BYTES) return this.services.output(this.currentRunId, fd, chunk);
    for (let at = 0; at < chunk.length; at += MAX_OUTPUT_MESSAGE_BYTES) {
      this.services.output(this.currentRunId, fd, chunk.slice(at, at + MAX_OUTPUT_MESSAGE_BYTES));
    }
  }

  /** The driver's request, plus what a new interpreter must refresh (cwd, environment, random state). */
  private encodeRequest(request: RunRequest["request"]): Uint8Array {
    const { env, cwd, functions, asyncFunctions = [] } = this.spec;
    return encodeValue({ ...request, fresh: this.fresh, env, cwd, functions, asyncFunctions });
  }

  private reset(): void {
    this.interpreter = null;
    this.kernel.resetFds();
    try {
      this.start();
    } catch {
      this.interpreter = null;
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
    const interpreter = this.interpreter;
    this.kernel.dispose();
    this.interpreter = null;
    return interpreter;
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

export function describeFsError(error: unknown): string {
  if (error instanceof VfsError) return `${ERRNO_NAMES[error.errno] ?? error.errno}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
