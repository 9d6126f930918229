// The durable payload of a sandbox (the worker's half of sb.save and
// Sandbox.restore): its memory as the pages that differ from the engine's
// base image, its kernel state (kernel/state.ts), and for a paused run the
// replay log (replay.ts). Encoded with the value codec, then compressed. The
// host seals it (api/durable.ts: version, engine, HMAC); the key never comes
// here, where guest code runs. Parsing assumes nothing: every count, index
// and length is checked (the codec's bounds, then checkPayload's), since the
// MAC proves who wrote the bytes, not that the writer was right.
//
// The base image is the engine's memory as instantiation leaves it (zeros and
// the module's data segments). It is the same in every process by
// construction; a booted interpreter is not (its hash secret and the memory
// that depends on it are random per process), so it cannot be the base of
// bytes restored elsewhere.
import * as zlib from "node:zlib";
import { Interpreter, loadEngine, WASM_PAGE_BYTES } from "../engine/engine.js";
import { decodeValue, encodeValue, CodecError } from "../shared/codec.js";
import { ENGINE_INITIAL_BYTES } from "../shared/defaults.js";
import { checkKernelState, type KernelState } from "../kernel/state.js";
import { checkLog, type LogEntry } from "./replay.js";
import type { HostCall } from "../shared/protocol.js";
import { SnapshotFormatError, SnapshotVersionError } from "../shared/errors.js";

/** A memory as the pages that differ from the base image (raw contents, whole pages). */
export interface MemoryImage {
  byteLength: number;
  pages: Array<[number, Uint8Array]>;
}

/** What a paused run carries besides the sandbox: its log, the call it waits in, and its counters. */
export interface PausedPart {
  log: LogEntry[];
  call: HostCall;
  /** Counters at the pause: the resumed run continues them. */
  carry: { ticks: number; cpuMs: number; hostMs: number; stdoutBytes: number; stderrBytes: number };
  /** stdin not yet read. */
  stdin: Uint8Array;
  limits: { timeoutMs: number; cpuTimeMs: number; tickLimit: number; outputLimitBytes: number };
  /** Host functions the run pauses at. */
  pause: string[];
}

export interface Payload {
  engine: string;
  memory: MemoryImage;
  kernel: KernelState;
  paused: PausedPart | null;
}

export const PAYLOAD_FORMAT = 1;

/** How the payload is compressed: zstd where this Node has it (22.15+), else brotli. */
export const Compression = { brotli: 1, zstd: 2 } as const;
type ZstdZlib = typeof zlib & {
  zstdCompressSync?(data: Uint8Array, options?: unknown): Buffer;
  zstdDecompressSync?(data: Uint8Array, options?: unknown): Buffer;
};
const z = zlib as ZstdZlib;
export const DEFAULT_COMPRESSION = typeof z.zstdCompressSync === "function" ? Compression.zstd : Compression.brotli;

/** Bytes that do not decompress or decode as a payload; a zstd payload on a Node without zstd is a SnapshotVersionError. */
const PayloadError = SnapshotFormatError;

const ZERO_PAGE = Buffer.alloc(WASM_PAGE_BYTES);
let basePages: Map<number, Uint8Array> | null = null;

/** The base image's nonzero pages (a fresh instance, made once per thread). */
function base(): Map<number, Uint8Array> {
  if (basePages === null) {
    const fresh = Interpreter.restore(loadEngine().module, ENGINE_INITIAL_BYTES, { byteLength: ENGINE_INITIAL_BYTES, runs: [] });
    const bytes = Buffer.from(fresh.memory.buffer);
    basePages = new Map();
    for (let page = 0; page < bytes.length / WASM_PAGE_BYTES; page++) {
      const contents = bytes.subarray(page * WASM_PAGE_BYTES, (page + 1) * WASM_PAGE_BYTES);
      if (!contents.equals(ZERO_PAGE)) basePages.set(page, Uint8Array.prototype.slice.call(contents));
    }
  }
  return basePages;
}


/** The pages of `memory` that differ from the base image (copies). */
export function captureMemory(memory: WebAssembly.Memory): MemoryImage {
  const bytes = Buffer.from(memory.buffer);
  const reference = base();
  const pages: Array<[number, Uint8Array]> = [];
  for (let page = 0; page < bytes.length / WASM_PAGE_BYTES; page++) {
    const contents = bytes.subarray(page * WASM_PAGE_BYTES, (page + 1) * WASM_PAGE_BYTES);
    if (!contents.equals(reference.get(page) ?? ZERO_PAGE)) pages.push([page, Uint8Array.prototype.slice.call(contents)]);
  }
  return { byteLength: bytes.length, pages };
}

/** A new, unbound interpreter whose memory is `image` (the base image, then its pages). */
export function interpreterFrom(image: MemoryImage, memoryLimitBytes: number): Interpreter {
  if (image.byteLength > memoryLimitBytes) {
    throw new PayloadError(`the saved memory is ${image.byteLength} bytes, more than this sandbox's memoryLimit (${memoryLimitBytes})`);
  }
  const interpreter = Interpreter.restore(loadEngine().module, memoryLimitBytes, { byteLength: image.byteLength, runs: [] });
  const memory = new Uint8Array(interpreter.memory.buffer);
  for (const [page, contents] of image.pages) memory.set(contents, page * WASM_PAGE_BYTES);
  return interpreter;
}

/** Largest payload, encoded and decompressed: 4 GiB of memory is wasm32's most, plus files. */
export const MAX_PAYLOAD_BYTES = 3 * 1024 * 1024 * 1024;

export function encodePayload(payload: Payload, compression = DEFAULT_COMPRESSION): { data: Uint8Array; rawLength: number; compression: number } {
  const raw = encodeValue({ format: PAYLOAD_FORMAT, ...payload }, { maxBytes: MAX_PAYLOAD_BYTES, maxDepth: 16 });
  return { data: compress(raw, compression), rawLength: raw.length, compression };
}

export function compress(raw: Uint8Array, compression: number): Uint8Array {
  if (compression === Compression.zstd) return z.zstdCompressSync!(raw);
  // Quality 3: on a bare sandbox's 4.5 MB it gives 1.27 MB in ~0.2 s, where 5 gives 1.09 MB in ~0.9 s
  // and deflate (level 1 to 6) 1.36-1.49 MB in 0.16-0.46 s (README, "Durable sandboxes").
  return zlib.brotliCompressSync(raw, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 3, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length } });
}

/** Decompresses at most `rawLength` bytes and requires exactly that many. */
export function decompress(data: Uint8Array, compression: number, rawLength: number): Uint8Array {
  if (!Number.isSafeInteger(rawLength) || rawLength < 0 || rawLength > MAX_PAYLOAD_BYTES) throw new PayloadError("bad payload length");
  let raw: Buffer;
  try {
    if (compression === Compression.zstd) {
      if (typeof z.zstdDecompressSync !== "function") throw new SnapshotVersionError("these bytes are zstd-compressed and this Node has no zstd (Node 22.15 or later has it)");
      raw = z.zstdDecompressSync(data, { maxOutputLength: Math.max(1, rawLength) });
    } else if (compression === Compression.brotli) {
      raw = zlib.brotliDecompressSync(data, { maxOutputLength: Math.max(1, rawLength) });
    } else {
      throw new PayloadError(`unknown compression ${compression}`);
    }
  } catch (error) {
    if (error instanceof PayloadError || error instanceof SnapshotVersionError) throw error;
    throw new PayloadError(`the payload does not decompress: ${(error as Error).message}`);
  }
  if (raw.length !== rawLength) throw new PayloadError(`the payload decompresses to ${raw.length} bytes, not ${rawLength}`);
  return raw;
}

/** The payload's bytes (decompressed) as a checked Payload, or PayloadError / SnapshotFormatError. */
export function decodePayload(raw: Uint8Array): Payload {
  let value: unknown;
  try {
    value = decodeValue(raw, { maxBytes: MAX_PAYLOAD_BYTES, maxDepth: 16, maxNodes: 20_000_000 });
  } catch (error) {
    if (error instanceof CodecError) throw new PayloadError(`the payload does not decode: ${error.message}`);
    throw error;
  }
  return checkPayload(value);
}

function checkPayload(value: unknown): Payload {
  const bad = (why: string): never => {
    throw new PayloadError(`malformed payload: ${why}`);
  };
  const p = isObject(value) ? value : bad("not an object");
  if (p.format !== PAYLOAD_FORMAT) bad(`format ${String(p.format)} is not ${PAYLOAD_FORMAT}`);
  if (typeof p.engine !== "string") bad("no engine key");
  return { engine: p.engine as string, memory: checkMemory(p.memory, bad), kernel: checkKernelState(p.kernel), paused: p.paused === null ? null : checkPaused(p.paused, bad) };
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array);

/** wasm32's largest memory, in pages. */
const MAX_PAGES = 65_536;

function checkMemory(value: unknown, bad: (why: string) => never): MemoryImage {
  const m = isObject(value) ? value : bad("memory is not an object");
  const byteLength = m.byteLength;
  if (!Number.isSafeInteger(byteLength) || (byteLength as number) < ENGINE_INITIAL_BYTES || (byteLength as number) % WASM_PAGE_BYTES !== 0 || (byteLength as number) / WASM_PAGE_BYTES > MAX_PAGES) bad("memory.byteLength is not a wasm memory size");
  const count = (byteLength as number) / WASM_PAGE_BYTES;
  if (!Array.isArray(m.pages) || m.pages.length > count) bad("memory.pages is not a list of at most one entry per page");
  const seen = new Set<number>();
  const pages = (m.pages as unknown[]).map((entry, i): [number, Uint8Array] => {
    if (!Array.isArray(entry) || entry.length !== 2) bad(`memory.pages[${i}] is not a pair`);
    const [page, contents] = entry as [unknown, unknown];
    if (!Number.isSafeInteger(page) || (page as number) < 0 || (page as number) >= count || seen.has(page as number)) bad(`memory.pages[${i}] has a bad or repeated page number`);
    if (!(contents instanceof Uint8Array) || contents.length !== WASM_PAGE_BYTES) bad(`memory.pages[${i}] is not one page of bytes`);
    seen.add(page as number);
    return [page as number, contents as Uint8Array];
  });
  return { byteLength: byteLength as number, pages };
}

function checkPaused(value: unknown, bad: (why: string) => never): PausedPart {
  const p = isObject(value) ? value : bad("paused is not an object");
  const call = isObject(p.call) ? p.call : bad("paused.call is not an object");
  if (typeof call.name !== "string" || !Array.isArray(call.args)) bad("paused.call has no name or args");
  const counter = (v: unknown, what: string) => (typeof v === "number" && v >= 0 && Number.isFinite(v) ? v : bad(`${what} is not a count`));
  const carry = isObject(p.carry) ? p.carry : bad("paused.carry is not an object");
  const limits = isObject(p.limits) ? p.limits : bad("paused.limits is not an object");
  const limit = (v: unknown, what: string) => (typeof v === "number" && v > 0 ? v : v === null ? Infinity : bad(`${what} is not a limit`));
  if (!(p.stdin instanceof Uint8Array)) bad("paused.stdin is not bytes");
  if (!Array.isArray(p.pause) || !p.pause.every((name) => typeof name === "string")) bad("paused.pause is not a list of names");
  return {
    log: checkLog(p.log),
    call: { name: call.name as string, args: call.args as unknown[], kwargs: call.kwargs ?? null },
    carry: {
      ticks: counter(carry.ticks, "carry.ticks"), cpuMs: counter(carry.cpuMs, "carry.cpuMs"), hostMs: counter(carry.hostMs, "carry.hostMs"),
      stdoutBytes: counter(carry.stdoutBytes, "carry.stdoutBytes"), stderrBytes: counter(carry.stderrBytes, "carry.stderrBytes"),
    },
    stdin: p.stdin as Uint8Array,
    limits: {
      timeoutMs: limit(limits.timeoutMs, "limits.timeoutMs"), cpuTimeMs: limit(limits.cpuTimeMs, "limits.cpuTimeMs"),
      tickLimit: limit(limits.tickLimit, "limits.tickLimit"), outputLimitBytes: limit(limits.outputLimitBytes, "limits.outputLimitBytes"),
    },
    pause: p.pause as string[],
  };
}

/** Infinity does not cross the codec (it is a float, fine) but reads clearer as null in a saved limit. */
export function limitsForSave(limits: PausedPart["limits"]): Record<string, number | null> {
  return Object.fromEntries(Object.entries(limits).map(([k, v]) => [k, Number.isFinite(v) ? v : null]));
}
