// Entry of a worker thread (a worker_thread). Hosts sandboxes and serves one
// message at a time; a run blocks the thread, never the host's event loop.
// Host-function calls block on the shared control block until the host
// answers (Atomics.wait), which is what makes them synchronous for Python.
import { parentPort, workerData } from "node:worker_threads";
import { Interpreter, loadEngine, selectEngine, type Snapshot } from "../engine/engine.js";
import { readCachedSnapshot, writeCachedSnapshot } from "../engine/snapshot-cache.js";
import { fsFailure, GuestSandbox, type ThreadServices } from "./guest-sandbox.js";
import { encodeValue } from "../shared/codec.js";
import { GUEST_HOME, type EngineName } from "../shared/defaults.js";
import { ANSWER_BYTES, CONTROL, lostOutcome, type CallKind, type FromWorker, type ToWorker } from "../shared/protocol.js";

interface ThreadData {
  control: SharedArrayBuffer;
  /** The engine this worker runs (PoolOptions.engine). */
  engine: EngineName;
  answers: SharedArrayBuffer;
  /** Directory of the on-disk snapshot cache, or null to make a snapshot per thread. */
  snapshotCacheDir: string | null;
  /** Load the engine at once with the eval loop compiled up front (PoolOptions.eagerEvalLoop). */
  eagerEvalLoop: boolean;
  /** Interpreters to keep restored ahead of demand. */
  warmInterpreters: number;
  /** See ThreadServices.hardStopGraceMs. */
  hardStopGraceMs: number;
}

const port = parentPort!;
const data = workerData as ThreadData;
const control = new Int32Array(data.control);
const answers = new Uint8Array(data.answers);
const post = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
selectEngine(data.engine);
// An engine that restores from the disk cache (the CLI) never runs Python before the user's program:
// asked, it loads now, with the eval loop compiled up front (see loadEngine), while its host prepares
// the run. A failure here is reported by the first create, which loads again.
if (data.eagerEvalLoop) {
  try {
    loadEngine(true);
  } catch {}
}

let snapshot: Snapshot | null | undefined;
/** One snapshot per thread: an interpreter booted once, with the stdlib core and the guest module imported. */
function makeSnapshot(): Snapshot | null {
  if (snapshot !== undefined) return snapshot;
  const engine = loadEngine();
  if (data.snapshotCacheDir !== null) {
    snapshot = readCachedSnapshot(data.snapshotCacheDir, engine.key);
    if (snapshot !== null) return snapshot;
  }
  // Booted by the run driver itself, in a throwaway sandbox that asks nothing of the host.
  let booted: GuestSandbox | null = null;
  try {
    booted = new GuestSandbox({
      memoryLimitBytes: 256 * 1024 * 1024, mounts: [], env: {}, files: {}, cwd: GUEST_HOME, diskQuotaBytes: 1 << 20, inodeQuota: 64,
      maxOpenFiles: 16, deterministic: false, seed: 0, policy: {}, trace: false, functions: [],
    }, { ...services, takeInterpreter: () => null });
    snapshot = booted.interpreter?.snapshot() ?? null;
  } catch {
    snapshot = null;
  } finally {
    booted?.dispose();
  }
  if (snapshot !== null && data.snapshotCacheDir !== null) writeCachedSnapshot(data.snapshotCacheDir, engine.key, snapshot);
  return snapshot;
}

/**
 * Interpreters restored ahead of demand, for the memory limit last asked for
 * (a memory's maximum is fixed when it is made). Refilled when the thread is idle.
 */
let warm: Interpreter[] = [];
/** Interpreters of disposed sandboxes, waiting to be reset to the snapshot. */
let recycled: Interpreter[] = [];
let warmLimit = 0;
let refillScheduled = false;

function restore(memoryLimitBytes: number): Interpreter | null {
  const snap = makeSnapshot();
  return snap === null ? null : Interpreter.restore(loadEngine().module, memoryLimitBytes, snap);
}

/** A disposed sandbox's interpreter reset to the snapshot: much cheaper than a new instance. */
function reuse(): Interpreter | null {
  for (let candidate = recycled.pop(); candidate !== undefined; candidate = recycled.pop()) {
    if (snapshot && candidate.resetTo(snapshot)) return candidate;
  }
  return null;
}

function scheduleRefill(): void {
  if (refillScheduled || warmLimit === 0) return;
  refillScheduled = true;
  setImmediate(() => {
    refillScheduled = false;
    if (warm.length >= data.warmInterpreters) return;
    const interpreter = reuse() ?? restore(warmLimit);
    if (interpreter === null) return;
    warm.push(interpreter);
    scheduleRefill();
  });
}

function takeInterpreter(memoryLimitBytes: number): Interpreter | null {
  if (memoryLimitBytes !== warmLimit) {
    warm = [];
    recycled = [];
    warmLimit = memoryLimitBytes;
  }
  const interpreter = warm.pop() ?? reuse() ?? restore(memoryLimitBytes);
  scheduleRefill();
  return interpreter;
}

const services: ThreadServices = {
  call(runId, kind, payload, runDeadlineMs) {
    const callId = ++lastCallId;
    post({ type: "call", runId, callId, kind, payload });
    // One timeout governs a host function (functionTimeout, on the host); the engine waits until the run's deadline.
    const deadline = runDeadlineMs;
    // Most answers come back within tens of microseconds: spin briefly before
    // sleeping, since waking a sleeping thread (an idle vCPU) costs more.
    const spinUntil = performance.now() + SPIN_MS;
    while (Atomics.load(control, CONTROL.ANSWER_ID) !== callId && performance.now() < spinUntil);
    for (;;) {
      const answered = Atomics.load(control, CONTROL.ANSWER_ID);
      if (answered === callId) break;
      const left = deadline - performance.now();
      if (left <= 0) {
        // The run's time is up: the kernel raises TimeoutError at the guest's next step.
        return deadlineAnswer(kind);
      }
      Atomics.wait(control, CONTROL.ANSWER_ID, answered, left);
    }
    const length = Atomics.load(control, CONTROL.ANSWER_LENGTH);
    if (length < 0 || length > ANSWER_BYTES) throw new Error("bad host answer length");
    return answers.slice(0, length);
  },
  output(runId, segments) {
    post({ type: "output", runId, segments });
  },
  cancelRequested(runId) {
    // runId 0 is "no run" (a fresh boot): the CANCEL slot starts at 0, so it must not match.
    return runId !== 0 && Atomics.load(control, CONTROL.CANCEL) === runId;
  },
  stopRequested(runId) {
    return runId !== 0 && Atomics.load(control, CONTROL.STOP) === runId;
  },
  hardStopGraceMs: data.hardStopGraceMs,
  interruptRequested(runId) {
    // Taken (reset to 0) so that one request raises one KeyboardInterrupt.
    return runId !== 0 && Atomics.compareExchange(control, CONTROL.INTERRUPT, runId, 0) === runId;
  },
  takeInterpreter,
};

/** What a call cut short by the run's deadline answers: a failed host call, or the end of stdin. */
function deadlineAnswer(kind: CallKind): Uint8Array {
  return kind === "function" ? encodeValue({ ok: false, error: "TimeoutError: the run's time limit passed during the host call" }) : new Uint8Array(0);
}

/** Wall-clock ms, comparable with the host process's (see RunRequest.queuedAtEpochMs). */
function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

const sandboxes = new Map<number, GuestSandbox>();
let lastCallId = 0;
/** How long a host call spins before it sleeps (see services.call). */
const SPIN_MS = 0.2;

port.on("message", (message: ToWorker) => {
  switch (message.type) {
    case "create": {
      try {
        sandboxes.set(message.sandboxId, new GuestSandbox(message.spec, services));
        post({ type: "created", sandboxId: message.sandboxId, error: null });
      } catch (error) {
        post({ type: "created", sandboxId: message.sandboxId, error: error instanceof Error ? error.message : String(error) });
      }
      break;
    }
    case "run": {
      const sandbox = sandboxes.get(message.sandboxId);
      const { runId, sandboxId } = message;
      post({ type: "started", runId });
      if (sandbox === undefined) {
        post({ type: "done", runId, sandboxId, outcome: lostOutcome("the sandbox does not exist in this worker") });
        break;
      }
      // The wait is reported, not charged: `timeout` is the run's own time (a judge's verdict must not depend on load).
      const queuedMs = Math.max(0, epochNow() - message.run.queuedAtEpochMs);
      const outcome = sandbox.run(runId, message.run);
      if (outcome.hardStopped) {
        // Only this sandbox is lost; the pool re-creates it when its owner uses it again.
        sandbox.discard();
        sandboxes.delete(sandboxId);
      }
      post({ type: "done", runId, sandboxId, outcome: { ...outcome, stats: { ...outcome.stats, queuedMs } } });
      break;
    }
    case "fs": {
      const sandbox = sandboxes.get(message.sandboxId);
      try {
        if (sandbox === undefined) throw new Error("the sandbox does not exist in this worker");
        post({ type: "fsResult", opId: message.opId, ok: true, value: sandbox.fs(message.fs), error: null });
      } catch (error) {
        post({ type: "fsResult", opId: message.opId, ok: false, value: null, ...fsFailure(error) });
      }
      break;
    }
    case "dispose": {
      const sandbox = sandboxes.get(message.sandboxId);
      const interpreter = sandbox?.dispose() ?? null;
      if (interpreter !== null && sandbox!.memoryLimitBytes === warmLimit && recycled.length < data.warmInterpreters) {
        recycled.push(interpreter);
        scheduleRefill();
      }
      sandboxes.delete(message.sandboxId);
      break;
    }
  }
});


