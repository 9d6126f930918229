// A worker's logic, wherever it runs: the sandboxes it hosts, its snapshot and
// the interpreters restored from it, and the handling of the pool's messages.
// A worker thread (thread-main.ts) wires it to its port and shared control
// block; the pool's in-process link (pool/inline.ts) to the calling thread.
import { Interpreter, loadEngine, loadEngineAsync, type Snapshot } from "../engine/engine.js";
import { stdlibTree } from "../vfs/image.js";
import { readCachedSnapshot, writeCachedSnapshot } from "../engine/snapshot-cache.js";
import { fsFailure, GuestSandbox, type ThreadServices } from "./guest-sandbox.js";
import { GUEST_HOME } from "../shared/defaults.js";
import { lostOutcome, type FromWorker, type ToWorker } from "../shared/protocol.js";

export interface WorkerHostOptions {
  /** Directory of the on-disk snapshot cache, or null to make a snapshot per worker. */
  snapshotCacheDir: string | null;
  /** Load the engine at once with the eval loop compiled up front (PoolOptions.eagerEvalLoop). */
  eagerEvalLoop: boolean;
  /** Interpreters to keep restored ahead of demand. */
  warmInterpreters: number;
  /** See ThreadServices.hardStopGraceMs. */
  hardStopGraceMs: number;
}

/** How the worker reaches its host: messages out, and the host's answers and requests (ThreadServices, less what the worker itself provides). */
export interface WorkerTransport extends Omit<ThreadServices, "takeInterpreter" | "output" | "hardStopGraceMs"> {
  post(message: Exclude<FromWorker, { type: "call" }>): void;
}

/** How long after taking an interpreter the worker restores the next one (see scheduleRefill). */
const REFILL_DELAY_MS = 2;

/** Wall-clock ms, comparable with the host process's (see RunRequest.queuedAtEpochMs). */
function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * startWorkerHost for a cold start on a thread that has other work (the CLI's
 * own): the engine compiles in V8's background threads while this thread
 * builds the stdlib tree and reads the cached snapshot.
 */
export async function startWorkerHostAsync(options: WorkerHostOptions, transport: WorkerTransport): Promise<(message: ToWorker) => void> {
  let cached: Snapshot | undefined;
  await loadEngineAsync(options.eagerEvalLoop, (files) => {
    stdlibTree(files);
    const found = options.snapshotCacheDir === null ? null : readCachedSnapshot(options.snapshotCacheDir, files.key);
    if (found !== null) cached = found;
  });
  return startWorkerHost(options, transport, cached);
}

/** Starts a worker's logic; returns the handler of the pool's messages (one at a time, in order). `cached`: the snapshot, already read. */
export function startWorkerHost(options: WorkerHostOptions, transport: WorkerTransport, cached?: Snapshot): (message: ToWorker) => void {
  // An engine that restores from the disk cache (the CLI) never runs Python before the user's program:
  // asked, it loads now, with the eval loop compiled up front (see loadEngine), while its host prepares
  // the run. A failure here is reported by the first create, which loads again.
  if (options.eagerEvalLoop) {
    try {
      loadEngine(true);
    } catch {}
  }

  let snapshot: Snapshot | null | undefined = cached;
  /** One snapshot per worker: an interpreter booted once, with the stdlib core and the guest module imported. */
  function makeSnapshot(): Snapshot | null {
    if (snapshot !== undefined) return snapshot;
    const engine = loadEngine();
    if (options.snapshotCacheDir !== null) {
      snapshot = readCachedSnapshot(options.snapshotCacheDir, engine.key);
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
    if (snapshot !== null && options.snapshotCacheDir !== null) writeCachedSnapshot(options.snapshotCacheDir, engine.key, snapshot);
    return snapshot;
  }

  /**
   * Interpreters restored ahead of demand, for the memory limit last asked for
   * (a memory's maximum is fixed when it is made). Refilled when the worker is idle.
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
    if (refillScheduled || warmLimit === 0 || options.warmInterpreters === 0) return;
    refillScheduled = true;
    // After a short delay, not at once: the sandbox just created is about to get its run, which should
    // not wait behind a restore (the messages of a burst come first; the refill takes the idle time).
    setTimeout(() => {
      refillScheduled = false;
      if (warm.length >= options.warmInterpreters) return;
      const interpreter = reuse() ?? restore(warmLimit);
      if (interpreter === null) return;
      warm.push(interpreter);
      scheduleRefill();
    }, REFILL_DELAY_MS);
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
    call: (runId, kind, payload, deadlineMs) => transport.call(runId, kind, payload, deadlineMs),
    output: (runId, segments) => transport.post({ type: "output", runId, segments }),
    cancelRequested: (runId) => transport.cancelRequested(runId),
    stopRequested: (runId) => transport.stopRequested(runId),
    interruptRequested: (runId) => transport.interruptRequested(runId),
    hardStopGraceMs: options.hardStopGraceMs,
    takeInterpreter,
  };
  const post = transport.post;
  const sandboxes = new Map<number, GuestSandbox>();

  return (message: ToWorker) => {
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
        if (interpreter !== null && sandbox!.memoryLimitBytes === warmLimit && recycled.length < options.warmInterpreters) {
          recycled.push(interpreter);
          scheduleRefill();
        }
        sandboxes.delete(message.sandboxId);
        break;
      }
    }
  };
}
