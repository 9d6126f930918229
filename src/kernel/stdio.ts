// stdin, stdout and stderr of a run. Output goes to one log, stdout and stderr
// interleaved in the order written, each stream capped at a byte limit (the
// excess is cut and the run is flagged). The owner takes the log's segments in
// batches (to post them to the host); what it has not taken, text() still reads.
import type { StreamOps } from "../vfs/devices.js";
import type { OutputFd, OutputSegment } from "../shared/run.js";



/** A segment stops growing at this size, so a batch can be cut near the batch size. */
const MAX_SEGMENT_BYTES = 64 * 1024;
const MIN_SEGMENT_BYTES = 256;

interface OpenSegment {
  fd: OutputFd;
  buffer: Uint8Array;
  length: number;
}

/**
 * stdout and stderr as one ordered log. Consecutive writes to the same stream
 * are appended into one growing buffer, so a million 1-byte writes cost about
 * a megabyte, not a million objects.
 */
export class OutputLog {
  private segments: OpenSegment[] = [];
  private readonly written = { 1: 0, 2: 0 };
  private limitBytes = Infinity;
  /** Bytes in segments not yet taken. */
  pendingBytes = 0;
  /** Set when the limit cut the output; the kernel ends the run. */
  overflowed = false;

  constructor(private readonly onWrite: (() => void) | null, private readonly onOverflow: () => void) {}

  /** Starts a new run's capture with the run's per-stream limit. */
  reset(limitBytes: number): void {
    this.segments = [];
    this.written[1] = this.written[2] = 0;
    this.pendingBytes = 0;
    this.overflowed = false;
    this.limitBytes = limitBytes;
  }

  write(fd: OutputFd, data: Uint8Array): number {
    if (this.overflowed) return data.length; // already cut: drop quietly, the run is ending
    const room = this.limitBytes - this.written[fd];
    const kept = data.length <= room ? data : data.subarray(0, Math.max(0, room));
    if (kept.length > 0) {
      this.append(fd, kept);
      this.written[fd] += kept.length;
      this.pendingBytes += kept.length;
    }
    if (kept.length < data.length) {
      this.overflowed = true;
      this.onOverflow();
    }
    this.onWrite?.();
    return data.length;
  }

  private append(fd: OutputFd, data: Uint8Array): void {
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined && last.fd === fd && last.length + data.length <= Math.max(MAX_SEGMENT_BYTES, last.buffer.length)) {
      if (last.length + data.length > last.buffer.length) {
        const grown = new Uint8Array(Math.min(MAX_SEGMENT_BYTES, Math.max(2 * last.buffer.length, last.length + data.length)));
        grown.set(last.buffer.subarray(0, last.length));
        last.buffer = grown;
      }
      last.buffer.set(data, last.length);
      last.length += data.length;
      return;
    }
    const buffer = new Uint8Array(Math.max(MIN_SEGMENT_BYTES, data.length));
    buffer.set(data);
    this.segments.push({ fd, buffer, length: data.length });
  }

  /** Removes and returns the segments written since the last take, in order (each a compact copy). */
  take(): OutputSegment[] {
    const out = this.segments.map(({ fd, buffer, length }) => ({ fd, chunk: length === buffer.length ? buffer : buffer.slice(0, length) }));
    this.segments = [];
    this.pendingBytes = 0;
    return out;
  }

  /** Continues a paused run's counters (a resumed run's output limit counts from where it stopped). */
  carry(stdoutBytes: number, stderrBytes: number): void {
    this.written[1] = stdoutBytes;
    this.written[2] = stderrBytes;
  }

  /** Bytes written to `fd` in this run (up to the limit), taken or not. */
  bytesWritten(fd: OutputFd): number {
    return this.written[fd];
  }

  /** The not-yet-taken output of one stream (all of it when nobody takes: in-process use). */
  text(fd: OutputFd): string {
    const parts = this.segments.filter((s) => s.fd === fd).map((s) => s.buffer.subarray(0, s.length));
    return Buffer.concat(parts).toString("utf8");
  }
}

/** fd 1 or 2: writes go to the shared log. */
export class OutputSink implements StreamOps {
  constructor(private readonly log: OutputLog, private readonly fd: OutputFd) {}

  read(): Uint8Array {
    return new Uint8Array(0);
  }
  write(data: Uint8Array): number {
    return this.log.write(this.fd, data);
  }
  text(): string {
    return this.log.text(this.fd);
  }
}

/**
 * Pulls the next stdin chunk from the host: an empty chunk is the end, null a
 * pull cut short by an interrupt or a stop (nothing read, the stream goes on).
 */
export type StdinPull = () => Uint8Array | null;

/** stdin: given whole, or pulled chunk by chunk from the host. */
export class InputSource implements StreamOps {
  private data: Uint8Array = new Uint8Array(0);
  private position = 0;
  private pull: StdinPull | null = null;

  reset(data: Uint8Array, pull: StdinPull | null = null): void {
    this.data = data;
    this.position = 0;
    this.pull = pull;
  }
  available(): number {
    return this.data.length - this.position;
  }
  /** The stdin not yet read (a paused run carries it; a stream's later chunks are the host's). */
  remaining(): Uint8Array {
    return this.data.slice(this.position);
  }
  read(length: number): Uint8Array {
    if (this.available() === 0 && this.pull !== null) {
      const pulled = this.pull();
      // Interrupted: this read gets nothing (KeyboardInterrupt is raised next), a later one pulls again.
      if (pulled === null) return new Uint8Array(0);
      this.data = pulled;
      this.position = 0;
      if (this.data.length === 0) this.pull = null;
    }
    const chunk = this.data.subarray(this.position, this.position + length);
    this.position += chunk.length;
    return chunk.slice();
  }
  write(): number {
    return 0;
  }
}
