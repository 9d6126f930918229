// Deterministic record and replay of a run, for pausing at a host call.
//
// The wasm stack of a run is not in linear memory, so a run paused inside a
// host call cannot be saved from memory alone. Instead, a pausable run
// records every answer the kernel gives the guest: for each import call, its
// name and arguments, its result, the guest-memory bytes it wrote (clock,
// random bytes, file and stdin reads, host-call answers, directory listings)
// and the tick intervals it set. The guest is deterministic given those
// answers (wasm has no other source of outside data), so re-running it from
// the memory it had when the run started, with each import answered from the
// log instead of the kernel, rebuilds the paused stack exactly, without any
// side effect (no output, no file change, no host call). Each replayed call is
// checked against the log: a different call is a ReplayDivergence (a bug, or
// an engine that is not deterministic), never a wrong answer. When the log is
// used up the run is at the paused call, and goes on live.
import type { GuestMemory } from "../kernel/memory.js";
import { SnapshotFormatError } from "../shared/errors.js";

export interface LogEntry {
  name: string;
  args: Array<number | bigint>;
  result: number;
  /** [guest address, bytes] the call wrote, in order. */
  writes: Array<[number, Uint8Array]>;
  /** Tick intervals the kernel set during the call (engine exports called from inside it). */
  intervals: number[];
  /** The same call (no writes, no intervals, same result) made this many times in a row. */
  repeat: number;
}

/** The replayed guest made a different call than the log holds at that point. */
export class ReplayDivergence extends Error {
  override name = "ReplayDivergenceError";
}

/** Thrown out of the guest after the call that asked for a pause has been answered (and recorded). */
export class Pause extends Error {
  constructor() {
    super("the run paused at a host call");
  }
}

type ImportFunction = (...args: Array<number | bigint>) => number;

export interface RecorderHooks {
  /** The guest memory the kernel writes through (its onWrite is set during each recorded call). */
  guest(): GuestMemory;
  memory(): WebAssembly.Memory;
  /** Sets the engine's tick interval (replayed intervals). */
  setInterval(interval: number): void;
  /** The log is used up: from the next call on, the run is live. */
  live(): void;
}

/**
 * Most a run records before it can no longer pause: entries (calls that do
 * not fold) and bytes the calls wrote. Past either, recording stops (its
 * memory is the worker's) and a call to a paused function fails in Python.
 */
export const MAX_RECORDED_ENTRIES = 1_000_000;
export const MAX_RECORDED_BYTES = 256 * 1024 * 1024;

export class Recorder {
  readonly log: LogEntry[];
  private recordedBytes = 0;
  /** The log went over its bounds: calls pass through unrecorded, and the run cannot pause. */
  full = false;
  private cursor = 0;
  /** Calls of the current entry already replayed (for entries with repeat > 1). */
  private repeated = 0;
  private replaying: boolean;
  private inCall: LogEntry | null = null;
  /** Set by the owner during a call: the guest is unwound (Pause) once the call has returned and been recorded. */
  pauseAfterCall = false;

  constructor(private readonly hooks: RecorderHooks, log: LogEntry[] = []) {
    this.log = log;
    this.replaying = log.length > 0;
  }

  get isReplaying(): boolean {
    return this.replaying;
  }

  /** The import object with every function recorded (live) or answered from the log (replay). */
  wrap(imports: WebAssembly.Imports): WebAssembly.Imports {
    const wrapped: WebAssembly.Imports = {};
    for (const [module, table] of Object.entries(imports)) {
      const out: Record<string, ImportFunction> = {};
      for (const [name, fn] of Object.entries(table as Record<string, ImportFunction>)) {
        out[name] = (...args) => (this.replaying ? this.replay(name, args) : this.full ? fn(...args) : this.record(name, fn, args));
      }
      wrapped[module] = out;
    }
    return wrapped;
  }

  /** The kernel set the engine's tick interval: part of the current call's answer. */
  noteInterval(interval: number): void {
    this.inCall?.intervals.push(interval);
  }

  private record(name: string, fn: ImportFunction, args: Array<number | bigint>): number {
    const entry: LogEntry = { name, args, result: 0, writes: [], intervals: [], repeat: 1 };
    const ranges: Array<[number, number]> = [];
    const guest = this.hooks.guest();
    guest.onWrite = (ptr, length) => ranges.push([ptr, length]);
    this.inCall = entry;
    try {
      entry.result = fn(...args);
    } finally {
      guest.onWrite = null;
      this.inCall = null;
    }
    const memory = new Uint8Array(this.hooks.memory().buffer);
    entry.writes = ranges.filter(([, length]) => length > 0).map(([ptr, length]) => [ptr, memory.slice(ptr, ptr + length)]);
    this.append(entry);
    for (const [, bytes] of entry.writes) this.recordedBytes += bytes.length;
    if (this.log.length > MAX_RECORDED_ENTRIES || this.recordedBytes > MAX_RECORDED_BYTES) {
      this.full = true;
      this.log.length = 0;
    }
    if (this.pauseAfterCall) {
      this.pauseAfterCall = false;
      throw new Pause();
    }
    return entry.result;
  }

  /** Appends, folding a call that repeats the last one with nothing written (ticks, most of all). */
  private append(entry: LogEntry): void {
    const last = this.log[this.log.length - 1];
    if (last !== undefined && entry.writes.length === 0 && entry.intervals.length === 0 && last.writes.length === 0
      && last.intervals.length === 0 && last.name === entry.name && last.result === entry.result && sameArgs(last.args, entry.args)) {
      last.repeat++;
    } else {
      this.log.push(entry);
    }
    this.cursor = this.log.length;
  }

  private replay(name: string, args: Array<number | bigint>): number {
    const entry = this.log[this.cursor]!;
    if (entry.name !== name || !sameArgs(entry.args, args)) {
      throw new ReplayDivergence(`replaying call ${this.cursor}: the guest called ${describe(name, args)}, the log has ${describe(entry.name, entry.args)}`);
    }
    const memory = new Uint8Array(this.hooks.memory().buffer);
    for (const [ptr, bytes] of entry.writes) {
      if (ptr + bytes.length > memory.length) throw new ReplayDivergence(`replaying call ${this.cursor}: a write at ${ptr}+${bytes.length} is outside guest memory`);
      memory.set(bytes, ptr);
    }
    for (const interval of entry.intervals) this.hooks.setInterval(interval);
    if (++this.repeated >= entry.repeat) {
      this.repeated = 0;
      if (++this.cursor === this.log.length) {
        this.replaying = false;
        this.hooks.live();
      }
    }
    return entry.result;
  }
}

function sameArgs(a: Array<number | bigint>, b: Array<number | bigint>): boolean {
  return a.length === b.length && a.every((value, i) => BigInt(value) === BigInt(b[i]!));
}

function describe(name: string, args: Array<number | bigint>): string {
  return `${name}(${args.map(String).join(", ")})`;
}

// ---- the log as plain data (encoded by durable.ts) and checked back ----

/** Largest log a paused run may carry (entries); the codec's node budget bounds it first. */
const MAX_LOG_ENTRIES = 5_000_000;


/** A decoded log, checked entry by entry (names are import names, arguments numbers, writes bytes at addresses). */
export function checkLog(value: unknown): LogEntry[] {
  const bad = (why: string): never => {
    throw new SnapshotFormatError(`malformed replay log: ${why}`);
  };
  if (!Array.isArray(value) || value.length > MAX_LOG_ENTRIES) bad("not a list");
  return (value as unknown[]).map((raw, i) => {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) bad(`entry ${i} is not an object`);
    const e = raw as Record<string, unknown>;
    if (typeof e.name !== "string" || e.name.length > 64) bad(`entry ${i} has no name`);
    const isInt = (v: unknown) => typeof v === "bigint" || Number.isSafeInteger(v);
    if (!Array.isArray(e.args) || e.args.length > 16 || !e.args.every(isInt)) bad(`entry ${i} has bad arguments`);
    if (!Number.isSafeInteger(e.result)) bad(`entry ${i} has a bad result`);
    if (!Number.isSafeInteger(e.repeat) || (e.repeat as number) < 1) bad(`entry ${i} has a bad repeat count`);
    if (!Array.isArray(e.intervals) || !e.intervals.every((v) => Number.isSafeInteger(v) && v >= 1 && v <= 0x7fffffff)) bad(`entry ${i} has bad intervals`);
    if (!Array.isArray(e.writes)) bad(`entry ${i} has bad writes`);
    const writes = (e.writes as unknown[]).map((w): [number, Uint8Array] => {
      if (!Array.isArray(w) || w.length !== 2 || !Number.isSafeInteger(w[0]) || w[0] < 0 || w[0] > 0xffffffff || !(w[1] instanceof Uint8Array)) bad(`entry ${i} has a bad write`);
      return w as [number, Uint8Array];
    });
    return { name: e.name as string, args: e.args as Array<number | bigint>, result: e.result as number, writes, intervals: e.intervals as number[], repeat: e.repeat as number };
  });
}
