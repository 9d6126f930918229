// Interpreters of one snapshot, kept ready in a worker (host.ts): restored
// ahead of demand (for the memory limit last asked for: a memory's maximum is
// fixed when it is made) and recycled from disposed sandboxes by resetting
// them to the snapshot. A worker has one stock for the bare interpreter and
// one per template it holds.
import { Interpreter, loadEngine, type Snapshot } from "../engine/engine.js";

/** How long after an interpreter is taken (or given back) the stock restores the next one (see scheduleRefill). */
const REFILL_DELAY_MS = 2;

export class InterpreterStock {
  private warm: Interpreter[] = [];
  /** Interpreters of disposed sandboxes, waiting to be reset to the snapshot. */
  private recycled: Interpreter[] = [];
  private warmLimit = 0;
  private refillScheduled = false;
  private current: Snapshot | null | undefined;
  /** Cleared for good (its template was dropped): what its last sandboxes give back is let go. */
  private closed = false;
  /** Interpreters handed out since the current snapshot was made (rotation counts them). */
  taken = 0;
  /** When the current snapshot was put in place (performance.now()). */
  sinceMs = performance.now();

  /**
   * `make` gives the snapshot on first use (null when none can be made: the
   * sandboxes then boot their own); `warmCount` interpreters are kept ready.
   */
  constructor(private readonly make: () => Snapshot | null, private readonly warmCount: number) {}

  get snapshot(): Snapshot | null {
    if (this.current === undefined) {
      this.current = this.make();
      this.sinceMs = performance.now();
    }
    return this.current;
  }

  /** A restored interpreter, not yet bound; null when there is no snapshot. */
  take(memoryLimitBytes: number): Interpreter | null {
    if (memoryLimitBytes !== this.warmLimit) {
      this.warm = [];
      this.recycled = [];
      this.warmLimit = memoryLimitBytes;
    }
    const interpreter = this.warm.pop() ?? this.reuse() ?? this.restore(memoryLimitBytes);
    if (interpreter !== null) this.taken++;
    this.scheduleRefill();
    return interpreter;
  }

  /** A disposed sandbox's interpreter (between calls), kept to be reset for another sandbox. */
  give(interpreter: Interpreter, memoryLimitBytes: number): void {
    if (this.closed || memoryLimitBytes !== this.warmLimit || this.recycled.length >= this.warmCount) return;
    this.recycled.push(interpreter);
    this.scheduleRefill();
  }

  /**
   * Puts a new snapshot in place (a rotation): interpreters restored from the
   * old one are dropped; recycled ones are reset to the new one when taken.
   */
  replace(snapshot: Snapshot): void {
    this.current = snapshot;
    this.warm = [];
    this.taken = 0;
    this.sinceMs = performance.now();
    this.scheduleRefill();
  }

  /** Frees what the stock holds (a template dropped from the thread); it still restores for the sandboxes that use it. */
  clear(): void {
    this.closed = true;
    this.warm = [];
    this.recycled = [];
    this.warmLimit = 0;
  }

  private restore(memoryLimitBytes: number): Interpreter | null {
    const snapshot = this.snapshot;
    return snapshot === null ? null : Interpreter.restore(loadEngine().module, memoryLimitBytes, snapshot);
  }

  /** A recycled interpreter reset to the snapshot: much cheaper than a new instance. */
  private reuse(): Interpreter | null {
    const snapshot = this.snapshot;
    for (let candidate = this.recycled.pop(); candidate !== undefined; candidate = this.recycled.pop()) {
      if (snapshot !== null && candidate.resetTo(snapshot)) return candidate;
    }
    return null;
  }

  private scheduleRefill(): void {
    if (this.refillScheduled || this.warmLimit === 0 || this.warmCount === 0 || this.closed) return;
    this.refillScheduled = true;
    // After a short delay, not at once: the sandbox just created is about to get its run, which should
    // not wait behind a restore (the messages of a burst come first; the refill takes the idle time).
    setTimeout(() => {
      this.refillScheduled = false;
      if (this.warm.length >= this.warmCount || this.warmLimit === 0) return;
      const interpreter = this.reuse() ?? this.restore(this.warmLimit);
      if (interpreter === null) return;
      this.warm.push(interpreter);
      this.scheduleRefill();
    }, REFILL_DELAY_MS);
  }
}
