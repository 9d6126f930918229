// Direct access to the kernel's WASI imports, the way the wasm engine calls
// them: i32 arguments arrive as signed JS numbers, i64 arguments as BigInt.
// A scratch area at the top of guest memory holds the arguments; `save()` and
// `restore()` put guest memory back afterwards, so that whatever a hostile
// call writes there cannot corrupt the interpreter's own heap.
import type { Guest } from "./engine.js";

export type WasiFn = (...args: Array<number | bigint>) => number;

/** WASI preview1 errno values, from the witx spec (what wasi-libc, and so Python's errno, use). */
export const WASI_ERRNO = {
  SUCCESS: 0, "2BIG": 1, ACCES: 2, ADDRINUSE: 3, ADDRNOTAVAIL: 4, AFNOSUPPORT: 5, AGAIN: 6, ALREADY: 7,
  BADF: 8, BADMSG: 9, BUSY: 10, CANCELED: 11, CHILD: 12, CONNABORTED: 13, CONNREFUSED: 14, CONNRESET: 15,
  DEADLK: 16, DESTADDRREQ: 17, DOM: 18, DQUOT: 19, EXIST: 20, FAULT: 21, FBIG: 22, HOSTUNREACH: 23,
  IDRM: 24, ILSEQ: 25, INPROGRESS: 26, INTR: 27, INVAL: 28, IO: 29, ISCONN: 30, ISDIR: 31, LOOP: 32,
  MFILE: 33, MLINK: 34, MSGSIZE: 35, MULTIHOP: 36, NAMETOOLONG: 37, NETDOWN: 38, NETRESET: 39,
  NETUNREACH: 40, NFILE: 41, NOBUFS: 42, NODEV: 43, NOENT: 44, NOEXEC: 45, NOLCK: 46, NOLINK: 47,
  NOMEM: 48, NOMSG: 49, NOPROTOOPT: 50, NOSPC: 51, NOSYS: 52, NOTCONN: 53, NOTDIR: 54, NOTEMPTY: 55,
  NOTRECOVERABLE: 56, NOTSOCK: 57, NOTSUP: 58, NOTTY: 59, NXIO: 60, OVERFLOW: 61, OWNERDEAD: 62,
  PERM: 63, PIPE: 64, PROTO: 65, PROTONOSUPPORT: 66, PROTOTYPE: 67, RANGE: 68, ROFS: 69, SPIPE: 70,
  SRCH: 71, STALE: 72, TIMEDOUT: 73, TXTBSY: 74, XDEV: 75, NOTCAPABLE: 76,
} as const;

/** Rights bits used by the tests. */
export const RIGHT = { FD_READ: 1n << 1n, FD_SEEK: 1n << 2n, FD_WRITE: 1n << 6n } as const;

/** The preopened sandbox root. */
export const ROOT_FD = 3;

export interface WasiHarness {
  fns: Record<string, WasiFn>;
  call(name: string, ...args: Array<number | bigint>): number;
  /** Start of a 64 KiB scratch area inside guest memory. */
  scratch: number;
  memorySize(): number;
  put(ptr: number, bytes: Uint8Array): void;
  /** Writes `text` (UTF-8) at `ptr`; returns its byte length. */
  putString(ptr: number, text: string): number;
  get(ptr: number, length: number): Uint8Array;
  u32(ptr: number): number;
  setU32(ptr: number, value: number): void;
  save(): void;
  restore(): void;
}

export function wasi(guest: Guest): WasiHarness {
  const fns = guest.kernel.imports().wasi_snapshot_preview1 as Record<string, WasiFn>;
  const memory = guest.interpreter.memory;
  const bytes = () => new Uint8Array(memory.buffer);
  const view = () => new DataView(memory.buffer);
  let saved: Uint8Array | null = null;
  return {
    fns,
    call(name, ...args) {
      const fn = fns[name];
      if (fn === undefined) throw new Error(`no WASI import named ${name}`);
      return fn(...args);
    },
    scratch: memory.buffer.byteLength - 65536,
    memorySize: () => memory.buffer.byteLength,
    put: (ptr, data) => bytes().set(data, ptr),
    putString(ptr, text) {
      const data = Buffer.from(text, "utf8");
      bytes().set(data, ptr);
      return data.length;
    },
    get: (ptr, length) => bytes().slice(ptr, ptr + length),
    u32: (ptr) => view().getUint32(ptr, true),
    setU32: (ptr, value) => view().setUint32(ptr, value, true),
    save() {
      saved = bytes().slice();
    },
    restore() {
      if (saved !== null) bytes().set(saved.subarray(0, memory.buffer.byteLength));
    },
  };
}
