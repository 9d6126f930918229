// The host side of a worker: a WorkerLink talks to one worker thread,
// either directly (a worker thread in this process) or through a worker
// process that hosts the thread (the default: a guest that crashes V8 on
// Node 20/22 takes down only that process). Both look the same to the pool.
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { ANSWER_BYTES, answerError, CONTROL, type WorkerHostOptions, type CallKind, type FromWorker, type ToWorker } from "../shared/protocol.js";
import { forkWorkerProcess, takeEarlyWorkerProcess } from "./prestart.js";

export interface LinkEvents {
  message(message: Exclude<FromWorker, { type: "call" }>): void;
  /** A blocking request (host-function call, stdin chunk, record lock); the promise's bytes are the answer. */
  call(runId: number, kind: CallKind, payload: Uint8Array): Promise<Uint8Array>;
  /** The worker died or was killed. */
  exit(reason: string): void;
}

export interface WorkerLink {
  send(message: ToWorker): void;
  /** Stops the run (CancelledError; raised again until it ends). */
  cancel(runId: number): void;
  /** Raises KeyboardInterrupt once in the run (the guest may catch it). */
  interrupt(runId: number): void;
  /**
   * Hard stop of a run that ignores its stop: the worker unwinds it at the
   * guest's next tick and discards its sandbox; the worker and its other
   * sandboxes live on. (The worker ends a run stuck in one C call by itself,
   * at its deadline plus the grace.)
   */
  stop(runId: number): void;
  /** Kills the worker: every sandbox in it is gone. */
  kill(): void;
  /** Lets the host process exit while the worker idles. */
  setBusy(busy: boolean): void;
}

const THREAD_ENTRY = fileURLToPath(new URL("../worker/thread-main.js", import.meta.url));

/** What a worker is started with: the worker host's options (one list, in shared/protocol.ts), plus how to start it. */
export interface LinkOptions extends WorkerHostOptions {
  /** V8 flags for the worker (e.g. a larger stack). */
  execArgv?: string[];
}

/** A worker thread in this process. */
export class ThreadLink implements WorkerLink {
  private readonly worker: Worker;
  private readonly control = new Int32Array(new SharedArrayBuffer(CONTROL.SLOTS * 4));
  private readonly answers = new Uint8Array(new SharedArrayBuffer(ANSWER_BYTES));
  private dead = false;
  /** The worker's one outstanding blocking request (its thread waits for this answer). */
  private pendingCall: { callId: number; runId: number; kind: CallKind } | null = null;
  /**
   * The run's last stdin pull, until its chunk reaches the worker. A pull whose
   * call was answered early (an interrupt) still gets the next line: the run's
   * next stdin call takes that chunk instead of pulling again.
   */
  private stdinPull: { runId: number; chunk: Promise<Uint8Array> } | null = null;

  /**
   * @param options null: the thread starts (loads its modules) at once and
   * waits for them (init); a worker process does so while its options are on
   * their way (prestart.ts).
   */
  constructor(private readonly events: LinkEvents, options: LinkOptions | null) {
    this.worker = new Worker(THREAD_ENTRY, {
      workerData: { control: this.control.buffer, answers: this.answers.buffer, host: options === null ? null : hostOptions(options) },
      execArgv: options?.execArgv ?? [],
      resourceLimits: { stackSizeMb: 4 },
    });
    this.worker.on("message", (message: FromWorker) => {
      if (message.type === "call") void this.answer(message.callId, message.runId, message.kind, message.payload);
      else events.message(message);
    });
    this.worker.on("error", (error) => this.died(`worker thread error: ${error.message}`));
    this.worker.on("exit", (code) => this.died(`worker thread exited (${code})`));
    this.worker.unref();
  }

  private async answer(callId: number, runId: number, kind: CallKind, payload: Uint8Array): Promise<void> {
    this.pendingCall = { callId, runId, kind };
    // A lock is always taken to the host (which answers at once): answered early, the host and the sandbox would disagree on what it holds.
    if (kind === "lock") return this.deliver(callId, await answerOf(this.events, runId, kind, payload));
    // A cancel or interrupt that came before this call (e.g. on seeing the prompt flushed just before it):
    // answer it now (the host is not asked), else it would wait for the host.
    if (Atomics.load(this.control, CONTROL.CANCEL) === runId) return this.answerPending(runId, "CancelledError: the run was cancelled");
    if (Atomics.load(this.control, CONTROL.INTERRUPT) === runId) return this.answerPending(runId, "KeyboardInterrupt");
    if (kind !== "stdin") return this.deliver(callId, await answerOf(this.events, runId, kind, payload));
    const pull = this.stdinPull?.runId === runId ? this.stdinPull : { runId, chunk: answerOf(this.events, runId, kind, payload) };
    this.stdinPull = pull;
    const chunk = await pull.chunk;
    if (this.pendingCall?.callId !== callId) return; // answered early: the chunk waits for the next call
    if (this.stdinPull === pull) this.stdinPull = null;
    this.deliver(callId, chunk);
  }

  /** Hands the worker the answer to `callId`; an answer to a call already answered (cancelled) is dropped. */
  private deliver(callId: number, answer: Uint8Array): void {
    const pending = this.pendingCall;
    if (pending?.callId !== callId) return;
    this.pendingCall = null;
    // The host side keeps answers within ANSWER_BYTES; this guards the shared buffer whatever it sends.
    const bytes = answer.length <= ANSWER_BYTES ? answer
      : pending.kind === "function" ? answerError(`the host's answer is too large (${answer.length} bytes; the limit is ${ANSWER_BYTES})`) : new Uint8Array(0);
    this.answers.set(bytes);
    Atomics.store(this.control, CONTROL.ANSWER_LENGTH, bytes.length);
    Atomics.store(this.control, CONTROL.ANSWER_ID, callId);
    Atomics.notify(this.control, CONTROL.ANSWER_ID);
  }

  private died(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.events.exit(reason);
  }

  /** The worker host's options, for a link made without them; the first message the thread gets. */
  init(options: LinkOptions): void {
    if (!this.dead) this.worker.postMessage({ type: "init", host: hostOptions(options) } satisfies ThreadInit);
  }

  send(message: ToWorker): void {
    if (!this.dead) this.worker.postMessage(message);
  }
  /** Asks the run to stop; a host call it is blocked on is answered at once (HostError, or the end of stdin). */
  cancel(runId: number): void {
    Atomics.store(this.control, CONTROL.CANCEL, runId);
    this.answerPending(runId, "CancelledError: the run was cancelled");
  }
  interrupt(runId: number): void {
    Atomics.store(this.control, CONTROL.INTERRUPT, runId);
    this.answerPending(runId, "KeyboardInterrupt");
  }
  stop(runId: number): void {
    Atomics.store(this.control, CONTROL.STOP, runId);
    this.answerPending(runId, "CancelledError: the run was hard-stopped");
  }
  /** Ends the wait of a host call the run is blocked on (a lock call is not one: see answer); the worker raises the stop at the guest's next step. */
  private answerPending(runId: number, error: string): void {
    const pending = this.pendingCall;
    if (pending?.runId === runId && pending.kind !== "lock") {
      this.deliver(pending.callId, pending.kind === "function" ? answerError(error) : new Uint8Array(0));
    }
  }
  kill(): void {
    void this.worker.terminate();
  }
  setBusy(busy: boolean): void {
    if (busy) this.worker.ref();
    else this.worker.unref();
  }
}

/** What a thread started without its options gets first (see ThreadLink's constructor). */
export interface ThreadInit {
  type: "init";
  host: WorkerHostOptions;
}

/** The worker host's own options, as cloned to its thread (less how the worker is started). */
function hostOptions(options: LinkOptions): WorkerHostOptions {
  const { execArgv: _, ...host } = options;
  return host;
}

/**
 * The host's answer to a blocking request. A failure on the way is still an
 * answer: a HostError saying why for a function call, the end of input for stdin.
 */
async function answerOf(events: LinkEvents, runId: number, kind: CallKind, payload: Uint8Array): Promise<Uint8Array> {
  try {
    return await events.call(runId, kind, payload);
  } catch (error) {
    return kind === "function" ? answerError(`the host failed to answer: ${error instanceof Error ? error.message : String(error)}`) : new Uint8Array(0);
  }
}

/** Messages between the pool and a worker process (it relays to its worker thread). */
export type ToProcess =
  | { type: "init"; options: LinkOptions }
  | { type: "thread"; message: ToWorker }
  | { type: "cancel"; runId: number }
  | { type: "interrupt"; runId: number }
  | { type: "stop"; runId: number }
  | { type: "answer"; callId: number; payload: Uint8Array };
export type FromProcess = { type: "thread"; message: Exclude<FromWorker, { type: "call" }> } | { type: "call"; callId: number; runId: number; kind: CallKind; payload: Uint8Array } | { type: "exit"; reason: string };

/** A worker thread inside a worker process of its own. */
export class ProcessLink implements WorkerLink {
  private readonly child: ChildProcess;
  private dead = false;

  constructor(private readonly events: LinkEvents, options: LinkOptions) {
    const execArgv = options.execArgv ?? [];
    this.child = takeEarlyWorkerProcess(execArgv) ?? forkWorkerProcess(execArgv);
    let stderr = "";
    this.child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    this.child.on("message", (message: FromProcess) => {
      if (message.type === "thread") events.message(message.message);
      else if (message.type === "call") void this.answer(message.callId, message.runId, message.kind, message.payload);
      else if (message.type === "exit") this.died(message.reason);
    });
    this.child.on("exit", (code, signal) => this.died(`worker process died (${signal ?? `exit ${code}`})${stderr ? `: ${stderr.trim().split("\n").slice(-3).join(" | ")}` : ""}`));
    this.child.on("error", (error) => this.died(`worker process error: ${error.message}`));
    this.post({ type: "init", options });
    this.setBusy(false);
  }

  private async answer(callId: number, runId: number, kind: CallKind, payload: Uint8Array): Promise<void> {
    this.post({ type: "answer", callId, payload: await answerOf(this.events, runId, kind, payload) });
  }

  private post(message: ToProcess): void {
    if (!this.dead && this.child.connected) this.child.send(message);
  }

  private died(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.events.exit(reason);
  }

  send(message: ToWorker): void {
    this.post({ type: "thread", message });
  }
  cancel(runId: number): void {
    this.post({ type: "cancel", runId });
  }
  interrupt(runId: number): void {
    this.post({ type: "interrupt", runId });
  }
  stop(runId: number): void {
    this.post({ type: "stop", runId });
  }
  kill(): void {
    this.child.kill("SIGKILL");
  }
  setBusy(busy: boolean): void {
    const handles = [this.child, this.child.channel, this.child.stderr] as Array<{ ref?(): void; unref?(): void } | null | undefined>;
    for (const handle of handles) {
      if (busy) handle?.ref?.();
      else handle?.unref?.();
    }
  }
}
