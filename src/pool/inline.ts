// A worker on the calling thread, for a one-shot command line (the CLI): no
// worker process or thread to start, the engine loads in the process that
// runs the program. A run blocks the thread's event loop until it ends, so
// what a worker thread gets from its host through shared memory while it runs
// (stdin, a cancel, an interrupt) comes here from an InlineHost, synchronously,
// and the hard stop of a cancelled run that ignores its stop is decided at the
// guest's next tick rather than by a timer. A run past its deadline plus the
// grace is still ended by V8's watchdog (worker/hard-stop.ts). A guest that
// crashes V8 takes this process down: only for a caller that is itself one
// run (see SECURITY.md).
import { answerError, type CallKind, type ToWorker } from "../shared/protocol.js";
import type { LinkEvents, LinkOptions, WorkerLink } from "./links.js";

/** What the calling thread provides to a run that blocks it. */
export interface InlineHost {
  /**
   * The next chunk of the caller's stdin, read synchronously: empty at its
   * end, or once `deadlineMs` (performance.now()) passes or `interrupted()`
   * turns true (the chunk is then kept for the next read).
   */
  readStdin(deadlineMs: number, interrupted: () => boolean): Uint8Array;
  /** Called at every check the guest makes of its host's requests: delivers what happened meanwhile (a signal). */
  poll(): void;
}

type Handler = (message: ToWorker) => void;

export class InlineLink implements WorkerLink {
  private readonly queue: ToWorker[] = [];
  private handler: Promise<Handler>;
  private draining = false;
  private dead = false;
  private cancelled = { runId: 0, atMs: 0 };
  private interruptRunId = 0;
  private stopRunId = 0;

  constructor(private readonly events: LinkEvents, private readonly options: LinkOptions, private readonly host: InlineHost) {
    // Loaded on demand: a pool of workers elsewhere never loads the engine into the host.
    this.handler = import("../worker/host.js").then(({ startWorkerHostAsync }) => startWorkerHostAsync(options, {
      post: (message) => {
        if (!this.dead) events.message(message);
      },
      call: (runId, kind, payload, deadlineMs) => this.call(runId, kind, deadlineMs),
      cancelRequested: (runId) => {
        this.host.poll();
        return runId !== 0 && this.cancelled.runId === runId;
      },
      stopRequested: (runId) => runId !== 0 && (this.stopRunId === runId || this.graceOver(runId)),
      interruptRequested: (runId) => {
        if (runId === 0 || this.interruptRunId !== runId) return false;
        this.interruptRunId = 0;
        return true;
      },
    }));
    // A failure to load is the worker's death (the pool reports it to every request).
    this.handler.catch((error: unknown) => this.died(`the in-process worker failed to load: ${error instanceof Error ? error.message : String(error)}`));
  }

  /** A cancelled run still going `hardStopGraceMs` later is hard-stopped (the pool's timer cannot fire while the run blocks the thread). */
  private graceOver(runId: number): boolean {
    return this.cancelled.runId === runId && performance.now() - this.cancelled.atMs >= this.options.hardStopGraceMs;
  }

  /** A blocking request: stdin from the host; no host functions (they answer asynchronously, on the thread the run blocks). */
  private call(runId: number, kind: CallKind, deadlineMs: number): Uint8Array {
    if (kind === "function") return answerError("host functions need a worker process or thread (this sandbox runs on its caller's thread)");
    return this.host.readStdin(deadlineMs, () => {
      this.host.poll();
      return this.cancelled.runId === runId || this.interruptRunId === runId || this.stopRunId === runId;
    });
  }

  /** Messages are handled in order, each after the caller's current step (as a worker's would be). */
  send(message: ToWorker): void {
    if (this.dead) return;
    this.queue.push(message);
    if (!this.draining) {
      this.draining = true;
      void this.handler.then((handle) => setImmediate(() => this.drain(handle)), () => undefined);
    }
  }

  private drain(handle: Handler): void {
    for (let message = this.queue.shift(); message !== undefined && !this.dead; message = this.queue.shift()) handle(message);
    this.draining = false;
  }

  private died(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.events.exit(reason);
  }

  cancel(runId: number): void {
    if (this.cancelled.runId !== runId) this.cancelled = { runId, atMs: performance.now() };
  }
  interrupt(runId: number): void {
    this.interruptRunId = runId;
  }
  stop(runId: number): void {
    this.stopRunId = runId;
  }
  kill(): void {
    this.queue.length = 0;
    this.died("the in-process worker was closed");
  }
  setBusy(): void {
    // Nothing of its own keeps the process alive: its messages are handled from the caller's promises.
  }
}
