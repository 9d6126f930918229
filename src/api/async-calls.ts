// Host calls that Python awaits. "start" runs a host function without
// waiting for it and answers with a call id at once; "wait" answers as soon as
// a started call settles (or the guest's timeout passes) with every call that
// settled; "cancel" aborts one (Python cancelled the task awaiting it). The
// guest's event loop does the waiting (guest/pyvisor/_aio.py), so its other
// tasks run while the host works. Calls belong to one run: when it ends, every
// call still running is aborted and forgotten.
import type { HostCall } from "../shared/protocol.js";

/** How a host call ended, as the guest is told. */
export interface Settled {
  ok: boolean;
  value?: unknown;
  error?: string;
  /** The host function gave up with an AbortError: Python's future is cancelled instead of failing. */
  cancelled?: boolean;
  /** Encoded size of the value (what the answer costs). */
  bytes: number;
}

export type Invoke = (call: HostCall, signal: AbortSignal) => Promise<Settled>;

/** Settled calls handed to one wait at most, by encoded size (the worker's answer area is 16 MiB); the rest wait for the next. */
const MAX_WAIT_ANSWER_BYTES = 8 * 1024 * 1024;

export class AsyncCalls {
  private readonly running = new Map<number, AbortController>();
  private settled: Array<{ id: number; outcome: Settled }> = [];
  private wake: (() => void) | null = null;

  constructor(private readonly nextId: () => number, private readonly invoke: Invoke) {}

  start(call: HostCall): { ok: true; id: number } {
    const id = this.nextId();
    const controller = new AbortController();
    this.running.set(id, controller);
    void this.invoke(call, controller.signal)
      .catch((error: unknown): Settled => ({ ok: false, error: String(error), bytes: 0 }))
      .then((outcome) => {
        if (!this.running.delete(id)) return; // cancelled, or the run ended
        if (outcome.ok && outcome.bytes > MAX_WAIT_ANSWER_BYTES) {
          outcome = { ok: false, error: `the result of host function ${call.name} is too large to await (${outcome.bytes} bytes encoded, at most ${MAX_WAIT_ANSWER_BYTES})`, bytes: 0 };
        }
        this.settled.push({ id, outcome });
        this.wake?.();
      });
    return { ok: true, id };
  }

  cancel(id: number): { ok: true } {
    const controller = this.running.get(id);
    this.running.delete(id);
    controller?.abort(new DOMException("the Python task awaiting this call was cancelled", "AbortError"));
    return { ok: true };
  }

  /** Settled calls (waiting up to `timeoutMs` for the first), and how many are still to come. */
  async wait(timeoutMs: number): Promise<{ ok: true; done: unknown[]; pending: number }> {
    this.wake?.(); // an earlier wait the worker stopped waiting for ends now
    if (this.settled.length === 0 && this.running.size > 0 && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.wake?.(), timeoutMs);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = null;
          resolve();
        };
      });
    }
    const done: unknown[] = [];
    let bytes = 0;
    while (this.settled.length > 0 && (done.length === 0 || bytes + this.settled[0]!.outcome.bytes <= MAX_WAIT_ANSWER_BYTES)) {
      const { id, outcome } = this.settled.shift()!;
      bytes += outcome.bytes;
      done.push([id, outcome.ok, outcome.ok ? outcome.value : outcome.error, outcome.cancelled === true]);
    }
    return { ok: true, done, pending: this.running.size + this.settled.length };
  }

  /** The run ended: abort what still runs, drop what was never collected. */
  close(): void {
    for (const controller of this.running.values()) controller.abort(new DOMException("the run ended", "AbortError"));
    this.running.clear();
    this.settled = [];
    this.wake?.();
  }
}
