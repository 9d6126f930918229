// What a run is, as every layer sees it: why it stopped, its trace, its output.

/** Why the kernel stopped a run. */
export type StopReason = "timeout" | "cpu" | "ticks" | "output" | "cancelled";

/** One syscall of a run's trace (`trace: true`). */
export interface TraceEntry {
  call: string;
  args: Array<number | bigint>;
  /** The resolved sandbox path; clipped to its two ends when long (kernel/trace.ts). */
  path?: string;
  result: string;
  us: number;
}

export type OutputFd = 1 | 2;

/** A run of consecutive bytes written to one stream. */
export interface OutputSegment {
  fd: OutputFd;
  chunk: Uint8Array;
}
