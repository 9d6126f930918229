// The syscall trace of a run (`trace: true`). A path in an entry is
// guest-chosen text of any length (a deep directory chain makes it megabytes),
// and the whole trace crosses to the host in one message after the run, so
// the trace is bounded three ways: entries, characters per path, and an
// estimate of its total size. It keeps the first entries that fit.
import type { TraceEntry } from "../shared/run.js";


/** A run's trace keeps its first entries only, so that a syscall flood cannot fill the host's memory. */
export const MAX_TRACE_ENTRIES = 100_000;
/** Characters kept of an entry's path: its first and last half, with `…[N chars cut]…` between. */
export const MAX_TRACE_PATH_CHARS = 4096;
/**
 * Estimated size of a run's trace (see entryBytes), far below what a worker
 * message (structured clone, IPC) can carry; entries past it are dropped.
 */
export const MAX_TRACE_BYTES = 32 * 1024 * 1024;

/** An upper bound on an entry's serialized size: strings at two bytes a character, plus fixed overhead. */
function entryBytes(entry: TraceEntry): number {
  return 64 + 2 * (entry.call.length + entry.result.length + (entry.path?.length ?? 0)) + 16 * entry.args.length;
}

/** A path cut to MAX_TRACE_PATH_CHARS (plus the marker), never splitting a surrogate pair. */
export function clipPath(path: string): string {
  if (path.length <= MAX_TRACE_PATH_CHARS) return path;
  const half = MAX_TRACE_PATH_CHARS / 2;
  let headEnd = half;
  let tailStart = path.length - half;
  if (isLowSurrogate(path.charCodeAt(headEnd))) headEnd--;
  if (isLowSurrogate(path.charCodeAt(tailStart))) tailStart++;
  return `${path.slice(0, headEnd)}…[${tailStart - headEnd} chars cut]…${path.slice(tailStart)}`;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

export class Trace {
  private list: TraceEntry[] = [];
  private bytes = 0;
  private full = false;

  /** Starts a new run's trace. */
  reset(): void {
    this.list = [];
    this.bytes = 0;
    this.full = false;
  }

  /** Adds an entry unless a cap is reached; once one is, the run's trace stays as it is. */
  record(call: string, args: Array<number | bigint>, path: string | undefined, result: string, us: number): void {
    if (this.full) return;
    const entry: TraceEntry = { call, args, ...(path !== undefined ? { path: clipPath(path) } : {}), result, us };
    const bytes = entryBytes(entry);
    if (this.list.length >= MAX_TRACE_ENTRIES || this.bytes + bytes > MAX_TRACE_BYTES) {
      this.full = true;
      return;
    }
    this.list.push(entry);
    this.bytes += bytes;
  }

  /** The run's entries so far. */
  get entries(): readonly TraceEntry[] {
    return this.list;
  }
}
