// A worker's logic, wherever it runs: the sandboxes it hosts, its snapshots
// (the bare interpreter's and its templates') and the interpreters restored
// from them, and the handling of the pool's messages. A worker thread
// (thread-main.ts) wires it to its port and shared control block; the pool's
// in-process link (pool/inline.ts) to the calling thread.
import { createHash } from "node:crypto";
import { Worker } from "node:worker_threads";
import { loadEngine, loadEngineAsync, selectEngine, type ColdStart, type Snapshot } from "../engine/engine.js";
import { stdlibTree } from "../vfs/image.js";
import { readCachedSnapshot, writeCachedSnapshot } from "../engine/snapshot-cache.js";
import { bootSnapshot, fsFailure, GuestSandbox, type ThreadServices } from "./guest-sandbox.js";
import { captureSandbox, readCachedImage, writeCachedImage, type SandboxImage } from "./capture.js";
import { InterpreterStock } from "./stock.js";
import { lostOutcome, type WorkerHostOptions, type FromWorker, type SandboxSpec, type TemplateState, type ToWorker } from "../shared/protocol.js";


/** How the worker reaches its host: messages out, and the host's answers and requests (ThreadServices, less what the worker itself provides). */
export interface WorkerTransport extends Omit<ThreadServices, "takeInterpreter" | "output" | "hardStopGraceMs"> {
  post(message: Exclude<FromWorker, { type: "call" }>): void;
}

/** Wall-clock ms, comparable with the host process's (see RunRequest.queuedAtEpochMs). */
function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** A template's cache file is keyed by the engine too: another engine's memory would not fit. */
function imageKey(cacheKey: string): string {
  return createHash("sha256").update(loadEngine().key).update(cacheKey).digest("hex").slice(0, 40);
}

function stateOf(image: SandboxImage): TemplateState {
  return { image, memoryBytes: image.memory.byteLength };
}

/**
 * startWorkerHost for a cold start on a thread that has other work (the CLI's
 * own): the engine compiles in V8's background threads while this thread
 * builds the stdlib tree and reads the cached snapshot.
 */
export async function startWorkerHostAsync(options: WorkerHostOptions, transport: WorkerTransport): Promise<(message: ToWorker) => void> {
  let cached: Snapshot | undefined;
  selectEngine(options.engine);
  await loadEngineAsync(coldStart(options), (files) => {
    stdlibTree(files);
    const found = options.snapshotCacheDir === null ? null : readCachedSnapshot(options.snapshotCacheDir, files.key);
    if (found !== null) cached = found;
  });
  return startWorkerHost(options, transport, cached);
}

/** Starts a worker's logic; returns the handler of the pool's messages (one at a time, in order). `cached`: the bare snapshot, already read. */
export function startWorkerHost(options: WorkerHostOptions, transport: WorkerTransport, cached?: Snapshot): (message: ToWorker) => void {
  selectEngine(options.engine);
  // An engine that restores from the disk cache (the CLI) never runs Python before the user's program:
  // it loads now, compiled for that (see ColdStart), while its host prepares the run. A failure here is
  // reported by the first create, which loads again.
  const cold = coldStart(options);
  if (cold !== null) {
    try {
      loadEngine(cold);
    } catch {}
  }

  /** The bare interpreter's snapshot: from the disk cache when asked, else booted here (the stdlib core and the guest module imported). */
  function makeSnapshot(): Snapshot | null {
    if (cached !== undefined) return cached;
    const engine = loadEngine();
    const found = options.snapshotCacheDir === null ? null : readCachedSnapshot(options.snapshotCacheDir, engine.key);
    if (found !== null) return found;
    const snapshot = bootSnapshot();
    if (snapshot !== null && options.snapshotCacheDir !== null) writeCachedSnapshot(options.snapshotCacheDir, engine.key, snapshot);
    return snapshot;
  }

  const bare = new InterpreterStock(makeSnapshot, options.warmInterpreters);
  const rotateIfDue = hashSecretRotation(options.rotation, bare);
  /** Templates this worker holds: their state and interpreters restored from it. */
  const templates = new Map<number, { image: SandboxImage; stock: InterpreterStock }>();
  /** The stock each live sandbox's interpreter came from (it goes back there when the sandbox is disposed). */
  const stockOf = new Map<number, InterpreterStock>();

  function install(templateId: number, image: SandboxImage): void {
    templates.get(templateId)?.stock.clear();
    templates.set(templateId, { image, stock: new InterpreterStock(() => image.memory, options.warmInterpreters) });
  }

  const services: ThreadServices = {
    call: (runId, kind, payload, deadlineMs) => transport.call(runId, kind, payload, deadlineMs),
    output: (runId, segments) => transport.post({ type: "output", runId, segments }),
    cancelRequested: (runId) => transport.cancelRequested(runId),
    stopRequested: (runId) => transport.stopRequested(runId),
    interruptRequested: (runId) => transport.interruptRequested(runId),
    hardStopGraceMs: options.hardStopGraceMs,
    takeInterpreter(memoryLimitBytes) {
      const interpreter = bare.take(memoryLimitBytes);
      rotateIfDue();
      return interpreter;
    },
  };

  /** Builds a sandbox, from its template's state when it names one. */
  function build(sandboxId: number, spec: SandboxSpec): GuestSandbox {
    if (spec.template === undefined) {
      const sandbox = new GuestSandbox(spec, services);
      stockOf.set(sandboxId, bare);
      return sandbox;
    }
    const template = templates.get(spec.template);
    if (template === undefined) throw new Error("the template is not installed in this worker");
    const { image, stock } = template;
    const sandbox = new GuestSandbox(spec, services, { tree: image.tree, monotonicNs: image.monotonicNs, takeInterpreter: (limit) => stock.take(limit) });
    stockOf.set(sandboxId, stock);
    return sandbox;
  }

  const post = transport.post;
  const sandboxes = new Map<number, GuestSandbox>();

  return (message: ToWorker) => {
    switch (message.type) {
      case "create": {
        let sandbox: GuestSandbox | null = null;
        try {
          sandbox = build(message.sandboxId, message.spec);
          if (message.restore !== undefined) sandbox.restore(message.restore);
          sandboxes.set(message.sandboxId, sandbox);
          post({ type: "created", sandboxId: message.sandboxId, error: null });
        } catch (error) {
          sandbox?.discard();
          stockOf.delete(message.sandboxId);
          const errorName = error instanceof Error && error.name.startsWith("Snapshot") ? error.name : undefined;
          post({ type: "created", sandboxId: message.sandboxId, error: error instanceof Error ? error.message : String(error), ...(errorName ? { errorName } : {}) });
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
          stockOf.delete(sandboxId);
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
        if (interpreter !== null) stockOf.get(message.sandboxId)?.give(interpreter, sandbox!.memoryLimitBytes);
        sandboxes.delete(message.sandboxId);
        stockOf.delete(message.sandboxId);
        break;
      }
      case "capture": {
        try {
          const sandbox = sandboxes.get(message.sandboxId);
          if (sandbox === undefined) throw new Error("the sandbox does not exist in this worker");
          const image = captureSandbox(sandbox);
          install(message.templateId, image);
          if (message.cacheKey !== null && options.snapshotCacheDir !== null) writeCachedImage(options.snapshotCacheDir, imageKey(message.cacheKey), image);
          post({ type: "fsResult", opId: message.opId, ok: true, value: stateOf(image), error: null });
        } catch (error) {
          post({ type: "fsResult", opId: message.opId, ok: false, value: null, error: error instanceof Error ? error.message : String(error) });
        }
        break;
      }
      case "lookup": {
        const image = options.snapshotCacheDir === null ? null : readCachedImage(options.snapshotCacheDir, imageKey(message.cacheKey));
        if (image !== null) install(message.templateId, image);
        post({ type: "fsResult", opId: message.opId, ok: true, value: image === null ? null : stateOf(image), error: null });
        break;
      }
      case "install":
        install(message.templateId, message.state.image as SandboxImage);
        break;
      case "drop":
        templates.get(message.templateId)?.stock.clear();
        templates.delete(message.templateId);
        break;
    }
  };
}

/** How a worker that restores its interpreters from the disk cache compiles the engine; null for one that boots CPython. */
export function coldStart(options: WorkerHostOptions): ColdStart | null {
  return options.snapshotCacheDir === null ? null : { evalLoop: options.eagerEvalLoop, startup: true };
}

/**
 * Every sandbox restored from one snapshot shares its str hash secret. After
 * `rotation.sandboxes` sandboxes or `rotation.ms` ms, a helper thread boots a
 * new snapshot (snapshot-maker.ts) and the bare stock switches to it, so no
 * secret serves for long; the boot never runs on the worker's thread, so
 * sandboxes are not held up by it. A rotated snapshot is not written to the
 * disk cache. Returns the check, made when an interpreter is taken (and on a
 * timer while the worker idles).
 */
function hashSecretRotation(rotation: { sandboxes: number; ms: number } | null, bare: InterpreterStock): () => void {
  if (rotation === null) return () => undefined;
  let maker: Worker | null = null;
  let rotating = false;
  const rotateIfDue = () => {
    if (rotating || bare.taken === 0) return;
    if (bare.taken < rotation.sandboxes && performance.now() - bare.sinceMs < rotation.ms) return;
    rotating = true;
    if (maker === null) {
      maker = new Worker(new URL("./snapshot-maker.js", import.meta.url), { workerData: { engine: loadEngine() }, resourceLimits: { stackSizeMb: 4 } });
      maker.unref();
      maker.on("message", (snapshot: Snapshot | null) => {
        rotating = false;
        if (snapshot !== null) bare.replace(snapshot);
      });
      maker.on("error", () => {
        maker = null; // a failed boot leaves the current snapshot in place; the next check starts a new helper
        rotating = false;
      });
    }
    maker.postMessage(null);
  };
  setInterval(rotateIfDue, Math.max(1000, Math.min(rotation.ms, 60_000))).unref();
  return rotateIfDue;
}

export type { WorkerHostOptions };
