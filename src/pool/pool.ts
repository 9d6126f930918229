// A pool of workers (worker processes by default, worker threads on request)
// that sandboxes are placed on. Each worker runs one thing at a time; a run
// past its deadline plus the grace is hard-stopped inside its worker, which
// discards only that run's sandbox; a dead worker is replaced without touching
// any other worker's runs.
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { ProcessLink, ThreadLink, type WorkerLink, type LinkEvents } from "./links.js";
import { InlineLink, type InlineHost } from "./inline.js";
import { realmLocks, serveLockCall } from "../shared/locks.js";
import { answerError, lostOutcome, type DurablePayload, type WorkerOutcome, type FromWorker, type FsOp, type RunOutcome, type RunRequest, type SandboxSpec, type TemplateState, type ToWorker } from "../shared/protocol.js";
import { FsErrno, InvalidOptionsError, PyvisorError, SandboxCrashedError, snapshotErrorOf } from "../shared/errors.js";
import { defaultSnapshotCacheDir, engineDir, type EngineName } from "../shared/defaults.js";
import { checkPoolOptions, hashSecretRotation, MAX_POOL_SIZE, type Isolation, type PoolOptions } from "./options.js";

export type { Isolation, PoolOptions } from "./options.js";
export type { InlineHost } from "./inline.js";

/** @internal */
export interface RunHooks {
  output(fd: 1 | 2, chunk: Uint8Array): void;
  call(payload: Uint8Array): Promise<Uint8Array>;
  /** The next stdin chunk; empty at the end. */
  stdin(): Promise<Uint8Array>;
}

interface PendingRun {
  worker: WorkerSlot;
  sandboxId: number;
  timeoutMs: number;
  hooks: RunHooks;
  resolve(outcome: RunOutcome): void;
  /** The hard stop, armed when the worker starts the run (or when a started run is cancelled); then the last resort. */
  timer?: NodeJS.Timeout;
  started: boolean;
  cancelled: boolean;
  /** interrupt() before the worker started the run: delivered when it starts. */
  interruptPending: boolean;
  hardStopped: boolean;
  output: RunOutput;
}

/** A run's output as it arrives in batches: each stream, and both interleaved in write order. */
class RunOutput {
  private readonly decoders = { 1: new TextDecoder(), 2: new TextDecoder() };
  private readonly parts = { 1: [] as string[], 2: [] as string[] };
  private readonly interleaved: string[] = [];

  add(fd: 1 | 2, chunk: Uint8Array): void {
    const text = this.decoders[fd].decode(chunk, { stream: true });
    this.parts[fd].push(text);
    this.interleaved.push(text);
  }

  finish(): { stdout: string; stderr: string; output: string } {
    for (const fd of [1, 2] as const) {
      const tail = this.decoders[fd].decode();
      this.parts[fd].push(tail);
      this.interleaved.push(tail);
    }
    return { stdout: this.parts[1].join(""), stderr: this.parts[2].join(""), output: this.interleaved.join("") };
  }
}

class WorkerSlot {
  link!: WorkerLink;
  sandboxes = new Set<number>();
  /** Runs sent and not finished. */
  queued = 0;
  /** Creates and file operations awaiting an answer. */
  requests = 0;
  alive = true;
  /** Templates installed in this worker (a replacement worker starts with none). */
  templates = new Set<number>();
  /** When a sandbox was last placed here (a count): ties go to the worker that waited longest. */
  lastPlaced = 0;
}

let nextId = 1;
let placements = 0;
/** How long a worker has to answer a hard stop before it is killed (generous: the machine may be loaded). */
const LAST_RESORT_MS = 2000;

export class Pool {
  private readonly workers: WorkerSlot[] = [];
  private readonly runs = new Map<number, PendingRun>();
  /** Creates waiting for their worker: resolved with null, the worker's error, or the worker's death. */
  private readonly creates = new Map<number, { resolve(failure: { error: string; died: boolean; errorName?: string } | null): void }>();
  private readonly fsOps = new Map<number, { worker: WorkerSlot; resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly waiters: Array<() => void> = [];
  private readonly inFlight = new Set<Promise<RunOutcome>>();
  /** Runs cancelled while queued in their worker: already answered; stopped at once when the worker reaches them. */
  private readonly abandoned = new Map<number, WorkerSlot>();
  private closed = false;
  readonly size: number;
  /** "inline": the pool's one worker is the calling thread (the CLI's one-shot runs; see inline.ts). */
  readonly isolation: Isolation | "inline";
  readonly engine: EngineName;
  private readonly maxQueue: number;
  private readonly graceMs: number;
  private readonly snapshotCacheDir: string | null;
  private readonly eagerEvalLoop: boolean;
  private readonly warmInterpreters: number;
  private readonly rotation: { sandboxes: number; ms: number } | null;
  /** @internal Sandboxes whose worker died, or that a hard stop discarded: their state is gone. */
  readonly lostSandboxes = new Set<number>();

  /** @param inline (internal) run the one worker on the calling thread, served by this host: for a caller that is itself one run (the CLI). */
  constructor(options: PoolOptions = {}, private readonly inline?: InlineHost) {
    options = checkPoolOptions(options);
    this.size = inline !== undefined ? 1 : options.size ?? Math.min(MAX_POOL_SIZE, Math.max(1, availableParallelism()));
    this.isolation = inline !== undefined ? "inline" : options.isolation ?? "process";
    this.engine = options.engine ?? "default";
    // A variant's artifacts are built separately (engine/build.sh --variant NAME): say so rather than fail in each worker.
    if (!existsSync(join(engineDir(this.engine), "python.wasm"))) {
      throw new InvalidOptionsError("engine", `engine: "${this.engine}" is not built here (no ${join(engineDir(this.engine), "python.wasm")}); npm run engine:build -- --variant ${this.engine} builds it`);
    }
    this.maxQueue = options.maxQueuePerWorker ?? 64;
    this.graceMs = options.hardStopGraceMs ?? 500;
    this.warmInterpreters = options.warmInterpreters ?? 2;
    this.snapshotCacheDir = options.snapshotCache === true ? defaultSnapshotCacheDir()
      : typeof options.snapshotCache === "string" ? options.snapshotCache : null;
    this.eagerEvalLoop = options.eagerEvalLoop ?? this.snapshotCacheDir !== null;
    this.rotation = hashSecretRotation(options.hashSecretRotation);
    for (let i = 0; i < this.size; i++) this.workers.push(this.startWorker(new WorkerSlot()));
  }

  private startWorker(slot: WorkerSlot): WorkerSlot {
    const events: LinkEvents = {
      message: (message) => this.onMessage(message, slot),
      call: (runId, kind, payload) => {
        // Record locks on host files, one table for every worker (kernel/locks.ts); a worker speaks only for its own sandboxes.
        if (kind === "lock") return Promise.resolve(serveLockCall(realmLocks, payload, (owner) => slot.alive && slot.sandboxes.has(owner)));
        const run = this.runs.get(runId);
        if (!run) return Promise.resolve(kind === "function" ? answerError("the run is over") : new Uint8Array(0));
        return kind === "stdin" ? run.hooks.stdin() : run.hooks.call(payload);
      },
      exit: (reason) => this.onWorkerExit(slot, reason),
    };
    const options = { engine: this.engine, snapshotCacheDir: this.snapshotCacheDir, eagerEvalLoop: this.eagerEvalLoop, warmInterpreters: this.warmInterpreters, hardStopGraceMs: this.graceMs, rotation: this.rotation };
    slot.link = this.inline !== undefined ? new InlineLink(events, options, this.inline)
      : this.isolation === "process" ? new ProcessLink(events, options) : new ThreadLink(events, options);
    return slot;
  }

  private onMessage(message: Exclude<FromWorker, { type: "call" }>, slot: WorkerSlot): void {
    switch (message.type) {
      case "created":
        this.creates.get(message.sandboxId)?.resolve(message.error === null ? null : { error: message.error, died: false, errorName: message.errorName });
        this.creates.delete(message.sandboxId);
        break;
      case "started": {
        const run = this.runs.get(message.runId);
        const abandonedOn = this.abandoned.get(message.runId);
        if (abandonedOn !== undefined) {
          this.abandoned.delete(message.runId);
          abandonedOn.link.cancel(message.runId);
        }
        if (run) {
          run.started = true;
          this.armHardStop(message.runId, run, (run.cancelled ? 0 : run.timeoutMs) + this.graceMs);
          // The worker has one cancel and one interrupt slot, for the run it runs: set them now.
          if (run.cancelled) run.worker.link.cancel(message.runId);
          else if (run.interruptPending) run.worker.link.interrupt(message.runId);
        }
        break;
      }
      case "output": {
        const run = this.runs.get(message.runId);
        if (!run) break;
        for (const { fd, chunk } of message.segments) {
          run.output.add(fd, chunk);
          run.hooks.output(fd, chunk);
        }
        break;
      }
      case "done":
        if (message.outcome.hardStopped) this.hardStopped(message.sandboxId, slot);
        this.finish(message.runId, message.outcome);
        break;
      case "fsResult": {
        const op = this.fsOps.get(message.opId);
        this.fsOps.delete(message.opId);
        if (op) this.request(op.worker, -1);
        if (op && message.ok) op.resolve(message.value);
        else op?.reject(message.errno !== undefined ? new FsErrno(message.errno, message.error ?? "") : new PyvisorError(message.error ?? "file operation failed"));
        break;
      }
    }
  }

  private finish(runId: number, outcome: WorkerOutcome): void {
    const run = this.runs.get(runId);
    if (!run) return;
    this.runs.delete(runId);
    clearTimeout(run.timer);
    run.worker.queued--;
    this.updateBusy(run.worker);
    run.resolve({ ...outcome, ...run.output.finish() });
    // Every waiter re-checks its own worker's queue.
    for (const wake of this.waiters.splice(0)) wake();
  }

  private armHardStop(runId: number, run: PendingRun, ms: number): void {
    clearTimeout(run.timer);
    run.timer = setTimeout(() => this.hardStop(runId, run), ms);
  }

  /**
   * Stops a run: Python raises CancelledError at its next step (a host call or
   * sleep it waits in ends at once); a started run still going `hardStopGraceMs`
   * later is hard-stopped.
   */
  private cancelRun(runId: number): void {
    const run = this.runs.get(runId);
    if (!run || run.cancelled) return;
    run.cancelled = true;
    if (!run.started) {
      // Still queued in its worker: answer now, and stop it the moment the worker reaches it.
      this.abandoned.set(runId, run.worker);
      this.finish(runId, { ...lostOutcome(null), stopReason: "cancelled" });
      return;
    }
    run.worker.link.cancel(runId);
    this.armHardStop(runId, run, this.graceMs);
  }

  /** The run of sandbox `sandboxId` handed to its worker, if any (a sandbox runs one thing at a time). */
  private runOf(sandboxId: number): number | null {
    for (const [runId, run] of this.runs) if (run.sandboxId === sandboxId) return runId;
    return null;
  }

  /** @internal Raises KeyboardInterrupt once in the sandbox's current run, like Ctrl-C; no run, no effect. */
  interrupt(worker: WorkerSlot, sandboxId: number): void {
    const runId = this.runOf(sandboxId);
    const run = runId === null ? undefined : this.runs.get(runId);
    if (run === undefined) return;
    if (run.started) worker.link.interrupt(runId!);
    else run.interruptPending = true;
  }

  /** @internal Stops the sandbox's current run, if any (see cancelRun). */
  cancel(sandboxId: number): void {
    const runId = this.runOf(sandboxId);
    if (runId !== null) this.cancelRun(runId);
  }

  /**
   * The run ignored its stop (or sits in one long C call): its worker unwinds
   * it and discards its sandbox only (see PoolOptions.hardStopGraceMs). An
   * worker that has not answered LAST_RESORT_MS later is killed; so is one
   * of a closing pool, at once.
   */
  private hardStop(runId: number, run: PendingRun): void {
    run.hardStopped = true;
    if (this.closed) return run.worker.link.kill();
    run.worker.link.stop(runId);
    run.timer = setTimeout(() => run.worker.link.kill(), LAST_RESORT_MS);
  }

  /**
   * A sandbox its worker discarded (hard stop): its owner re-creates it on next
   * use, unless it is already released. Its record locks go now (the owner may
   * not use it again for long), if that worker hosts it: a worker cannot drop
   * the locks of another's sandboxes.
   */
  private hardStopped(sandboxId: number, slot: WorkerSlot): void {
    if (this.workers.some((worker) => worker.sandboxes.has(sandboxId))) this.lostSandboxes.add(sandboxId);
    if (slot.sandboxes.has(sandboxId)) realmLocks.releaseOwner(sandboxId);
  }

  private onWorkerExit(slot: WorkerSlot, reason: string): void {
    if (!slot.alive) return;
    slot.alive = false;
    for (const id of slot.sandboxes) {
      this.lostSandboxes.add(id);
      realmLocks.releaseOwner(id);
    }
    for (const [runId, worker] of this.abandoned) if (worker === slot) this.abandoned.delete(runId);
    for (const [runId, run] of [...this.runs]) {
      if (run.worker !== slot) continue;
      const stopReason = run.hardStopped ? (run.cancelled ? "cancelled" : "timeout") : null;
      this.finish(runId, { ...lostOutcome(run.hardStopped ? null : reason), stopReason, hardStopped: run.hardStopped, workerDied: !run.hardStopped });
    }
    for (const [id, create] of this.creates) {
      if (slot.sandboxes.has(id)) create.resolve({ error: reason, died: true });
    }
    this.settleFsOps(slot, reason);
    if (this.closed) return;
    // Replace the worker in place; its sandboxes are lost (their owners re-create on next use).
    const replacement = this.startWorker(new WorkerSlot());
    this.workers[this.workers.indexOf(slot)] = replacement;
  }

  /** File operations sent to a dead worker get no answer: they fail, saying the sandbox's state is lost. */
  private settleFsOps(slot: WorkerSlot, reason: string): void {
    for (const [opId, op] of this.fsOps) {
      if (op.worker !== slot) continue;
      this.fsOps.delete(opId);
      op.reject(new SandboxCrashedError(reason));
    }
  }

  /** A worker with work outstanding keeps the host process alive; an idle one does not. */
  private updateBusy(slot: WorkerSlot): void {
    slot.link.setBusy(slot.queued > 0 || slot.requests > 0);
  }
  private request(slot: WorkerSlot, delta: 1 | -1): void {
    slot.requests += delta;
    this.updateBusy(slot);
  }

  /**
   * The least-loaded worker; among equals, the one that waited longest for a
   * sandbox: one sandbox after another (runPython in a loop) alternates
   * between workers, so each restores its next interpreter while the other
   * serves, instead of one worker doing both on the caller's time.
   */
  private leastLoaded(): WorkerSlot {
    const load = (w: WorkerSlot) => w.sandboxes.size + w.queued;
    return this.workers.filter((e) => e.alive).sort((a, b) => load(a) - load(b) || a.lastPlaced - b.lastPlaced)[0]!;
  }

  /**
   * @internal Places a new sandbox on the least-loaded worker and builds it
   * there; a template's sandbox starts from its state, installed in that
   * worker first if it lacks it (a worker that replaced a dead one); a
   * saved sandbox starts from its payload (`restore`).
   */
  async create(spec: SandboxSpec, template?: { id: number; state: TemplateState }, restore?: DurablePayload): Promise<{ sandboxId: number; worker: WorkerSlot }> {
    if (this.closed) throw new PyvisorError("the pool is closed");
    const worker = this.leastLoaded();
    worker.lastPlaced = ++placements;
    if (template !== undefined) this.install(worker, template.id, template.state);
    const sandboxId = nextId++;
    worker.sandboxes.add(sandboxId);
    this.request(worker, 1);
    // Its locks on host files are kept here, under its id (an inline worker shares this realm's table already).
    const placed = this.inline === undefined ? { ...spec, lockOwner: sandboxId } : spec;
    const failure = await new Promise<{ error: string; died: boolean; errorName?: string } | null>((resolve) => {
      this.creates.set(sandboxId, { resolve });
      worker.link.send({ type: "create", sandboxId, spec: placed, ...(restore !== undefined ? { restore } : {}) });
    });
    this.request(worker, -1);
    if (failure !== null) {
      worker.sandboxes.delete(sandboxId);
      realmLocks.releaseOwner(sandboxId);
      throw failure.died ? new SandboxCrashedError(failure.error)
        : snapshotErrorOf(failure.errorName, failure.error) ?? new PyvisorError(`could not create the sandbox: ${failure.error}`);
    }
    return { sandboxId, worker };
  }

  /** @internal (the API's) */
  run(worker: WorkerSlot, sandboxId: number, request: RunRequest, hooks: RunHooks, signal?: AbortSignal): Promise<RunOutcome> {
    if (this.closed) return Promise.reject(new PyvisorError("the pool is closed"));
    const task = this.runWhenRoom(worker, sandboxId, request, hooks, signal);
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task)).catch(() => undefined);
    return task;
  }

  private async runWhenRoom(worker: WorkerSlot, sandboxId: number, request: RunRequest, hooks: RunHooks, signal?: AbortSignal): Promise<RunOutcome> {
    // Backpressure: a full worker queue makes the caller wait here, on the host, not in the worker.
    while (worker.queued >= this.maxQueue && !this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.closed) throw new PyvisorError("the pool is closed");
    if (signal?.aborted) throw signal.reason;
    const runId = nextId++;
    const outcome = new Promise<RunOutcome>((resolve) => {
      this.runs.set(runId, { worker, sandboxId, timeoutMs: request.timeoutMs, hooks, resolve, started: false, cancelled: false, interruptPending: false, hardStopped: false, output: new RunOutput() });
    });
    worker.queued++;
    this.updateBusy(worker);
    const onAbort = () => this.cancelRun(runId);
    signal?.addEventListener("abort", onAbort, { once: true });
    worker.link.send({ type: "run", sandboxId, runId, run: request });
    try {
      return await outcome;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** @internal (the API's) */
  fs(worker: WorkerSlot, sandboxId: number, op: FsOp): Promise<unknown> {
    return this.ask(worker, { type: "fs", sandboxId, opId: nextId++, fs: op });
  }

  /** A request a worker answers with fsResult (file operations, template captures and lookups). */
  private ask(worker: WorkerSlot, message: ToWorker & { opId: number }): Promise<unknown> {
    if (!worker.alive) return Promise.reject(new SandboxCrashedError("the sandbox's worker is gone"));
    return new Promise((resolve, reject) => {
      this.fsOps.set(message.opId, { worker, resolve, reject });
      this.request(worker, 1);
      worker.link.send(message);
    });
  }

  /** @internal Takes the sandbox's state (between runs) as template `templateId` (see Template), installed in every worker. */
  async capture(worker: WorkerSlot, sandboxId: number, templateId: number, cacheKey: string | null): Promise<TemplateState> {
    const state = await this.ask(worker, { type: "capture", opId: nextId++, sandboxId, templateId, cacheKey }) as TemplateState;
    worker.templates.add(templateId);
    for (const other of this.workers) this.install(other, templateId, state);
    return state;
  }

  /** @internal A template's state from the snapshot cache (null without a cache, or on a miss), installed in every worker. */
  async lookup(templateId: number, cacheKey: string): Promise<TemplateState | null> {
    if (this.snapshotCacheDir === null || this.closed) return null;
    const worker = this.leastLoaded();
    const state = await this.ask(worker, { type: "lookup", opId: nextId++, templateId, cacheKey }) as TemplateState | null;
    if (state === null) return null;
    worker.templates.add(templateId);
    for (const other of this.workers) this.install(other, templateId, state);
    return state;
  }

  private install(worker: WorkerSlot, templateId: number, state: TemplateState): void {
    if (!worker.alive || worker.templates.has(templateId)) return;
    worker.templates.add(templateId);
    worker.link.send({ type: "install", templateId, state });
  }

  /** @internal Forgets a template in every worker (its live sandboxes keep what they use). */
  drop(templateId: number): void {
    for (const worker of this.workers) {
      if (worker.alive && worker.templates.delete(templateId)) worker.link.send({ type: "drop", templateId });
    }
  }

  /** @internal (the API's) */
  release(worker: WorkerSlot, sandboxId: number): void {
    worker.sandboxes.delete(sandboxId);
    realmLocks.releaseOwner(sandboxId);
    this.lostSandboxes.delete(sandboxId);
    if (worker.alive) worker.link.send({ type: "dispose", sandboxId });
  }

  /**
   * Stops the pool: no new sandboxes or runs (runs waiting for room reject).
   * Runs already accepted are cancelled at once: each ends with
   * CancelledError and the output it wrote (a guest that ignores the cancel
   * is hard-stopped after `hardStopGraceMs`), then every worker is stopped.
   * With `force`, the workers are killed at once and runs in flight end as
   * SandboxCrashedError.
   */
  async close(options: { force?: boolean } = {}): Promise<void> {
    this.closed = true;
    for (const wake of this.waiters.splice(0)) wake();
    if (!options.force) {
      for (const runId of [...this.runs.keys()]) this.cancelRun(runId);
      await Promise.allSettled([...this.inFlight]);
    }
    for (const worker of this.workers) worker.link.kill();
  }

  /** Runs accepted and not finished, over all workers (waiting for room included). */
  get pendingRuns(): number {
    return this.inFlight.size;
  }

  /** Runs handed to workers and not finished: never more than size × maxQueuePerWorker. */
  get queuedRuns(): number {
    return this.workers.reduce((n, worker) => n + worker.queued, 0);
  }
}

/** One shared pool per engine, made on first use. */
const defaultPools = new Map<EngineName, Pool>();
/** @internal The pool sandboxes use when their options name none: the shared one of their engine. */
export function getDefaultPool(engine: EngineName = "default"): Pool {
  let pool = defaultPools.get(engine);
  if (pool === undefined) {
    pool = new Pool({ engine, isolation: process.env.PYVISOR_ISOLATION === "thread" ? "thread" : "process" });
    defaultPools.set(engine, pool);
  }
  return pool;
}
