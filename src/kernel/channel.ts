// The host end of the driver's channel: fd_read and fd_write on CHANNEL_FD
// (src/kernel/fds.ts), an fd outside the program's fd table. The guest writes
// frames; the host answers calls synchronously (the guest is blocked in
// fd_read meanwhile). Frames are
// hostile input: a bad length, version or kind is a protocol error that ends
// the run with a typed error; the host is never affected.
//   frame: u32 LE length | version (1) | kind byte | payload
import { Errno } from "../shared/errno.js";
import { fail } from "../vfs/node.js";
import type { StreamOps } from "../vfs/devices.js";

export const PROTOCOL_VERSION = 1;
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
export type FrameKind = "R" | "D" | "C" | "A";

export interface ChannelHandlers {
  /** The guest called a host function: returns the encoded answer payload. */
  call(payload: Uint8Array): Uint8Array;
  /** The guest finished the run: the encoded result. */
  done(payload: Uint8Array): void;
  /** The guest broke the protocol. */
  protocolError(message: string): void;
}

export function frame(kind: FrameKind, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(6 + payload.length);
  new DataView(out.buffer).setUint32(0, 2 + payload.length, true);
  out[4] = PROTOCOL_VERSION;
  out[5] = kind.charCodeAt(0);
  out.set(payload, 6);
  return out;
}

export class Channel implements StreamOps {
  private inbound: Uint8Array = new Uint8Array(0);
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private broken = false;
  handlers: ChannelHandlers | null = null;

  /** Queues the run request for the guest's next read. */
  reset(request: Uint8Array): void {
    this.inbound = frame("R", request);
    this.pending = [];
    this.pendingBytes = 0;
    this.broken = false;
  }

  /**
   * Queues `answer` for the guest's next read, as the answer to the call it
   * made last: how a paused run resumes (worker/replay.ts).
   */
  answerWith(answer: Uint8Array): void {
    this.inbound = frame("A", answer);
    this.pending = [];
    this.pendingBytes = 0;
    this.broken = false;
  }

  /** Bytes of a frame the guest started and never finished. */
  get incompleteBytes(): number {
    return this.pendingBytes;
  }

  read(length: number): Uint8Array {
    const chunk = this.inbound.subarray(0, length);
    this.inbound = this.inbound.subarray(chunk.length);
    return chunk.slice();
  }

  write(data: Uint8Array): number {
    if (this.broken) fail(Errno.PIPE);
    this.pending.push(data.slice());
    this.pendingBytes += data.length;
    this.drainFrames();
    if (this.broken) fail(Errno.PIPE);
    return data.length;
  }

  /** The first `n` pending bytes, without joining the whole buffer. */
  private peek(n: number): Uint8Array {
    const first = this.pending[0]!;
    return first.length >= n ? first : Buffer.concat(this.pending).subarray(0, n);
  }

  // Chunks are joined only once a whole frame is here, so a frame written in
  // many small writes costs linear, not quadratic, copying.
  private drainFrames(): void {
    while (this.pendingBytes >= 4) {
      const header = this.peek(4);
      const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0, true);
      if (length < 2 || length > MAX_FRAME_BYTES) return this.breakWith(`bad frame length ${length}`);
      if (this.pendingBytes < 4 + length) return;
      const buffered = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
      const body = buffered.subarray(4, 4 + length);
      const rest = buffered.subarray(4 + length);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
      this.dispatch(body);
      if (this.broken) return;
    }
  }

  private dispatch(body: Uint8Array): void {
    if (body[0] !== PROTOCOL_VERSION) return this.breakWith(`unsupported protocol version ${body[0]}`);
    const kind = String.fromCharCode(body[1]!);
    const payload = body.subarray(2);
    if (this.handlers === null) return this.breakWith("no run is active");
    if (kind === "C") {
      this.inbound = frame("A", this.handlers.call(payload));
    } else if (kind === "D") {
      this.handlers.done(payload);
    } else {
      this.breakWith(`unexpected frame kind ${JSON.stringify(kind)}`);
    }
  }

  private breakWith(message: string): void {
    this.broken = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.handlers?.protocolError(message);
  }
}
