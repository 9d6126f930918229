// stdin, stdout and stderr of a run. Output is captured up to a byte limit
// (the excess is cut and the run is flagged) and streamed as it is written.
import type { StreamOps } from "../vfs/devices.js";

export class OutputSink implements StreamOps {
  private chunks: Uint8Array[] = [];
  private bytes = 0;
  /** Set when the limit cut the output; the kernel ends the run. */
  overflowed = false;

  constructor(
    private limitBytes: number,
    private readonly onChunk: ((chunk: Uint8Array) => void) | null,
    private readonly onOverflow: () => void,
  ) {}

  /** Starts a new run's capture with the run's limit. */
  reset(limitBytes: number): void {
    this.chunks = [];
    this.bytes = 0;
    this.overflowed = false;
    this.limitBytes = limitBytes;
  }

  read(): Uint8Array {
    return new Uint8Array(0);
  }

  write(data: Uint8Array): number {
    if (this.overflowed) return data.length; // already cut: drop quietly, the run is ending
    const room = this.limitBytes - this.bytes;
    const kept = data.length <= room ? data : data.subarray(0, Math.max(0, room));
    if (kept.length > 0) {
      const copy = kept.slice();
      this.chunks.push(copy);
      this.bytes += copy.length;
      this.onChunk?.(copy);
    }
    if (kept.length < data.length) {
      this.overflowed = true;
      this.onOverflow();
    }
    return data.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

/** stdin: given whole, or pulled chunk by chunk from the host (an empty chunk is the end). */
export class InputSource implements StreamOps {
  private data: Uint8Array = new Uint8Array(0);
  private position = 0;
  private pull: (() => Uint8Array) | null = null;

  reset(data: Uint8Array, pull: (() => Uint8Array) | null = null): void {
    this.data = data;
    this.position = 0;
    this.pull = pull;
  }
  available(): number {
    return this.data.length - this.position;
  }
  read(length: number): Uint8Array {
    if (this.available() === 0 && this.pull !== null) {
      this.data = this.pull();
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
