// Entry of a worker thread (a worker_thread). Hosts sandboxes and serves one
// message at a time; a run blocks the thread, never the host's event loop.
// Host-function calls block on the shared control block until the host
// answers (Atomics.wait), which is what makes them synchronous for Python.
import { createHash } from "node:crypto";
import { parentPort, Worker, workerData } from "node:worker_threads";
import { loadEngine, type Snapshot } from "../engine/engine.js";
import { readCachedSnapshot, writeCachedSnapshot } from "../engine/snapshot-cache.js";
import { bootSnapshot, fsFailure, GuestSandbox, type ThreadServices } from "./guest-sandbox.js";
import { captureSandbox, readCachedImage, writeCachedImage, type SandboxImage } from "./capture.js";
import { InterpreterStock } from "./stock.js";
import { encodeValue } from "../shared/codec.js";
import { ANSWER_BYTES, CONTROL, lostOutcome, type CallKind, type FromWorker, type SandboxSpec, type TemplateState, type ToWorker } from "../shared/protocol.js";

interface ThreadData {
  control: SharedArrayBuffer;
  answers: SharedArrayBuffer;
  /** Directory of the on-disk snapshot cache, or null to make a snapshot per thread. */
  snapshotCacheDir: string | null;
  /** Load the engine at once with the eval loop compiled up front (PoolOptions.eagerEvalLoop). */
  eagerEvalLoop: boolean;
  /** Interpreters to keep restored ahead of demand. */
  warmInterpreters: number;
  /** See ThreadServices.hardStopGraceMs. */
  hardStopGraceMs: number;
  /** Replace the bare snapshot (a new str hash secret) after this many sandboxes or ms (PoolOptions.hashSecretRotation); null: never. */
  rotation: { sandboxes: number; ms: number } | null;
}

const port = parentPort!;
const data = workerData as ThreadData;
const control = new Int32Array(data.control);
const answers = new Uint8Array(data.answers);
const post = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
// An engine that restores from the disk cache (the CLI) never runs Python before the user's program:
// asked, it loads now, with the eval loop compiled up front (see loadEngine), while its host prepares
// the run. A failure here is reported by the first create, which loads again.
if (data.eagerEvalLoop) {
  try {
    loadEngine(true);
  } catch {}
}

/** The bare interpreter's snapshot: from the disk cache when asked, else booted here (the stdlib core and the guest module imported). */
function makeSnapshot(): Snapshot | null {
  const engine = loadEngine();
  const cached = data.snapshotCacheDir === null ? null : readCachedSnapshot(data.snapshotCacheDir, engine.key);
  if (cached !== null) return cached;
  const snapshot = bootSnapshot();
  if (snapshot !== null && data.snapshotCacheDir !== null) writeCachedSnapshot(data.snapshotCacheDir, engine.key, snapshot);
  return snapshot;
}

const bare = new InterpreterStock(makeSnapshot, data.warmInterpreters);
/** Templates this thread holds: their state and interpreters restored from it. */
const templates = new Map<number, { image: SandboxImage; stock: InterpreterStock }>();
/** The stock each live sandbox's interpreter came from (it goes back there when the sandbox is disposed). */
const stockOf = new Map<number, InterpreterStock>();

// ---------------------------------------------------------------- hash secret rotation

/**
 * Every sandbox restored from one snapshot shares its str hash secret. After
 * `rotation.sandboxes` sandboxes or `rotation.ms` ms, a helper thread boots a
 * new snapshot (snapshot-maker.ts) and the bare stock switches to it, so no
 * secret serves for long; the boot never runs on this thread, so sandboxes are
 * not held up by it. A rotated snapshot is not written to the disk cache.
 */
let maker: Worker | null = null;
let rotating = false;

function rotateIfDue(): void {
  const rotation = data.rotation;
  if (rotation === null || rotating || bare.taken === 0) return;
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
}

if (data.rotation !== null) setInterval(rotateIfDue, Math.max(1000, Math.min(data.rotation.ms, 60_000))).unref();

function takeInterpreter(memoryLimitBytes: number) {
  const interpreter = bare.take(memoryLimitBytes);
  rotateIfDue();
  return interpreter;
}

// ---------------------------------------------------------------- templates

function install(templateId: number, image: SandboxImage): void {
  templates.get(templateId)?.stock.clear();
  templates.set(templateId, { image, stock: new InterpreterStock(() => image.memory, data.warmInterpreters) });
}

function stateOf(image: SandboxImage): TemplateState {
  return { image, memoryBytes: image.memory.byteLength };
}

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
      let sandbox: GuestSandbox | null = null;
      try {
        sandbox = build(message.sandboxId, message.spec);
        if (message.restore !== undefined) sandbox.restore(message.restore);
        sandboxes.set(message.sandboxId, sandbox);
        post({ type: "created", sandboxId: message.sandboxId, error: null });
      } catch (error) {
        sandbox?.discard();
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
        if (message.cacheKey !== null && data.snapshotCacheDir !== null) writeCachedImage(data.snapshotCacheDir, imageKey(message.cacheKey), image);
        post({ type: "fsResult", opId: message.opId, ok: true, value: stateOf(image), error: null });
      } catch (error) {
        post({ type: "fsResult", opId: message.opId, ok: false, value: null, error: error instanceof Error ? error.message : String(error) });
      }
      break;
    }
    case "lookup": {
      const image = data.snapshotCacheDir === null ? null : readCachedImage(data.snapshotCacheDir, imageKey(message.cacheKey));
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
});

/** A template's cache file is keyed by the engine too: another engine's memory would not fit. */
function imageKey(cacheKey: string): string {
  return createHash("sha256").update(loadEngine().key).update(cacheKey).digest("hex").slice(0, 40);
}
