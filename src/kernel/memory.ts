// Guest memory access. Every pointer and length comes from the guest and is
// hostile: each access is bounds-checked against the memory's current size
// (it can grow between calls, so views are made per call) and a bad one is a
// GuestFault, which the syscall wrapper turns into EFAULT. Nothing here ever
// shortens a slice silently.

export class GuestFault extends Error {
  override name = "GuestFault";
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

export class InvalidUtf8 extends Error {}
export class PathTooLong extends Error {}

export class GuestMemory {
  /**
   * Told of every range a syscall writes (set*, out, iovecs for reading into):
   * the recorder of a pausable run (worker/replay.ts) logs those bytes.
   */
  onWrite: ((ptr: number, length: number) => void) | null = null;

  constructor(private readonly memory: WebAssembly.Memory) {}

  private check(ptr: number, length: number): void {
    // ptr and length arrive as i32 and may be negative when read as signed.
    const p = ptr >>> 0;
    const n = length >>> 0;
    if (p + n > this.memory.buffer.byteLength) throw new GuestFault(`pointer ${p}+${n} is outside guest memory`);
  }

  /** A live view of guest bytes [ptr, ptr+length). */
  bytes(ptr: number, length: number): Uint8Array {
    this.check(ptr, length);
    return new Uint8Array(this.memory.buffer, ptr >>> 0, length >>> 0);
  }
  /** A live view the syscall writes its answer into. */
  out(ptr: number, length: number): Uint8Array {
    const view = this.bytes(ptr, length);
    this.onWrite?.(ptr >>> 0, length >>> 0);
    return view;
  }
  private view(ptr: number, size: number): DataView {
    this.check(ptr, size);
    return new DataView(this.memory.buffer, ptr >>> 0, size);
  }
  private written(ptr: number, size: number): DataView {
    const view = this.view(ptr, size);
    this.onWrite?.(ptr >>> 0, size);
    return view;
  }
  u8(ptr: number): number { return this.view(ptr, 1).getUint8(0); }
  u16(ptr: number): number { return this.view(ptr, 2).getUint16(0, true); }
  u32(ptr: number): number { return this.view(ptr, 4).getUint32(0, true); }
  u64(ptr: number): bigint { return this.view(ptr, 8).getBigUint64(0, true); }
  setU8(ptr: number, value: number): void { this.written(ptr, 1).setUint8(0, value); }
  setU16(ptr: number, value: number): void { this.written(ptr, 2).setUint16(0, value, true); }
  setU32(ptr: number, value: number): void { this.written(ptr, 4).setUint32(0, value, true); }
  setU64(ptr: number, value: bigint): void { this.written(ptr, 8).setBigUint64(0, BigInt.asUintN(64, value), true); }

  /** A UTF-8 string the guest passed (paths): invalid UTF-8 is InvalidUtf8 (EILSEQ). */
  string(ptr: number, length: number): string {
    try {
      return utf8.decode(this.bytes(ptr, length));
    } catch (error) {
      if (error instanceof GuestFault) throw error;
      throw new InvalidUtf8("invalid UTF-8");
    }
  }

  /**
   * A path the guest passed: bounds first (EFAULT), then its length
   * (ENAMETOOLONG) before any decoding, so a 1 GiB "path" is never copied.
   */
  path(ptr: number, length: number, maxBytes: number): string {
    this.bytes(ptr, length);
    if (length >>> 0 > maxBytes) throw new PathTooLong();
    return this.string(ptr, length);
  }

  /** The guest's iovec array: [ptr, len] pairs, each checked; `out` when the syscall reads into them. */
  iovecs(iovsPtr: number, count: number, out = false): Uint8Array[] {
    if (count >>> 0 > 1024) throw new GuestFault("too many iovecs");
    const result: Uint8Array[] = [];
    for (let i = 0; i < count >>> 0; i++) {
      const base = (iovsPtr >>> 0) + i * 8;
      result.push(out ? this.out(this.u32(base), this.u32(base + 4)) : this.bytes(this.u32(base), this.u32(base + 4)));
    }
    return result;
  }
}

export function encodeUtf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}
