// The sealed form of saved sandboxes and paused runs: what sb.save() and
// paused.save() return, and what Sandbox.restore / PausedRun.restore accept.
// The worker makes the payload (worker/durable.ts); the host seals it with
// the caller's key, which never reaches a worker (where guest code runs).
//
//   offset size
//   0      8    magic "PYVSAVE1"
//   8      2    format version (u16 LE), 1
//   10     1    kind: 1 a sandbox between runs, 2 a paused run
//   11     1    compression of the payload: 1 brotli, 2 zstd
//   12     32   sha256 of python.wasm (the engine's manifest)
//   44     8    the payload's decompressed length (u64 LE)
//   52     8    the saved memory's size in bytes (u64 LE)
//   60     4    meta length (u32 LE): a paused run's {call, limits}, codec-encoded
//   64     8    payload length (u64 LE)
//   72     meta, then payload
//   end-32 32   HMAC-SHA256(key, every byte before it)
//
// Opening checks, in order, before any byte goes further: the length, the
// magic, the version (the MAC's layout is the version's), the MAC (constant
// time), then the lengths, kind, engine and compression the header claims.
import { createHmac, timingSafeEqual } from "node:crypto";
import * as zlib from "node:zlib";
import { CodecError, decodeValue } from "../shared/codec.js";
import { InvalidOptionsError, SnapshotEngineError, SnapshotFormatError, SnapshotIntegrityError, SnapshotVersionError } from "../shared/errors.js";
import { CALL_LIMITS, type DurablePayload, type HostCall } from "../shared/protocol.js";
import { versions } from "./versions.js";
import { MAX_TIME_LIMIT_MS } from "./options.js";

const MAGIC = Buffer.from("PYVSAVE1", "latin1");
export const SAVE_FORMAT_VERSION = 1;
const HEADER_BYTES = 72;
const TAG_BYTES = 32;
/** A key shorter than this is refused: HMAC-SHA256 needs entropy, not a password. */
export const MIN_KEY_BYTES = 16;
const MAX_META_BYTES = 64 * 1024 * 1024;
const MAX_RAW_BYTES = 3 * 1024 * 1024 * 1024;

export const SaveKind = { sandbox: 1, paused: 2 } as const;
const Compression = { brotli: 1, zstd: 2 } as const;

/** The key of sb.save / restore: a string or bytes, at least MIN_KEY_BYTES long. */
export function checkKey(key: unknown): Buffer {
  const bytes = typeof key === "string" ? Buffer.from(key, "utf8") : key instanceof Uint8Array ? Buffer.from(key) : null;
  if (bytes === null) throw new InvalidOptionsError("key", "key must be a string or a Uint8Array (the secret the saved bytes are authenticated with)");
  if (bytes.length < MIN_KEY_BYTES) throw new InvalidOptionsError("key", `key must be at least ${MIN_KEY_BYTES} bytes (32 random bytes are best)`);
  return bytes;
}

function engineSha(): Buffer {
  const sha = versions().engineSha256;
  return sha !== null && /^[0-9a-f]{64}$/.test(sha) ? Buffer.from(sha, "hex") : Buffer.alloc(32);
}

const hmac = (key: Buffer, bytes: Uint8Array) => createHmac("sha256", key).update(bytes).digest();

export function seal(payload: DurablePayload, key: Buffer): Uint8Array {
  const meta = payload.meta ?? new Uint8Array(0);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt16LE(SAVE_FORMAT_VERSION, 8);
  header.writeUInt8(payload.meta === null ? SaveKind.sandbox : SaveKind.paused, 10);
  header.writeUInt8(payload.compression, 11);
  engineSha().copy(header, 12);
  header.writeBigUInt64LE(BigInt(payload.rawLength), 44);
  header.writeBigUInt64LE(BigInt(payload.memoryBytes), 52);
  header.writeUInt32LE(meta.length, 60);
  header.writeBigUInt64LE(BigInt(payload.data.length), 64);
  const body = Buffer.concat([header, meta, payload.data]);
  return new Uint8Array(Buffer.concat([body, hmac(key, body)]));
}

export interface Opened {
  payload: DurablePayload;
  /** A paused run's call and limits (kind paused). */
  paused: { call: HostCall; limits: { timeoutMs: number; cpuTimeMs: number; tickLimit: number; outputLimitBytes: number } } | null;
}

/** Checks sealed bytes and returns their payload, or throws a Snapshot*Error saying why they are refused. */
export function open(bytes: unknown, key: Buffer, kind: number): Opened {
  if (!(bytes instanceof Uint8Array)) throw new InvalidOptionsError("bytes", "the saved bytes must be a Uint8Array");
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < HEADER_BYTES + TAG_BYTES) throw new SnapshotIntegrityError(`these bytes are too short (${b.length}) to be a saved pyvisor sandbox`);
  if (!b.subarray(0, 8).equals(MAGIC)) throw new SnapshotIntegrityError("these bytes are not a saved pyvisor sandbox (bad magic)");
  const version = b.readUInt16LE(8);
  if (version !== SAVE_FORMAT_VERSION) throw new SnapshotVersionError(`saved format version ${version}; this pyvisor reads version ${SAVE_FORMAT_VERSION}`);
  const body = b.subarray(0, b.length - TAG_BYTES);
  if (!timingSafeEqual(hmac(key, body), b.subarray(b.length - TAG_BYTES))) {
    throw new SnapshotIntegrityError("the saved bytes fail their HMAC: they were changed or truncated, or the key is not the one they were saved with");
  }
  // Authenticated from here on: a bad field is a writer's bug, still refused field by field.
  const metaLength = b.readUInt32LE(60);
  const payloadLength = b.readBigUInt64LE(64);
  if (metaLength > MAX_META_BYTES || BigInt(HEADER_BYTES + metaLength + TAG_BYTES) + payloadLength !== BigInt(b.length)) {
    throw new SnapshotFormatError("the saved bytes' section lengths do not add up to their size");
  }
  const savedKind = b.readUInt8(10);
  if (savedKind !== kind) {
    throw new InvalidOptionsError("bytes", savedKind === SaveKind.paused ? "these bytes are a paused run: restore them with PausedRun.restore" : "these bytes are a sandbox between runs: restore them with Sandbox.restore");
  }
  if (!b.subarray(12, 44).equals(engineSha())) throw new SnapshotEngineError("these bytes were saved by another engine (python.wasm differs): restore them with the pyvisor that saved them");
  const compression = b.readUInt8(11);
  if (compression !== Compression.brotli && compression !== Compression.zstd) throw new SnapshotFormatError(`unknown compression ${compression}`);
  if (compression === Compression.zstd && typeof (zlib as { zstdDecompressSync?: unknown }).zstdDecompressSync !== "function") {
    throw new SnapshotVersionError("these bytes are zstd-compressed and this Node has no zstd (Node 22.15 or later has it)");
  }
  const rawLength = b.readBigUInt64LE(44);
  const memoryBytes = b.readBigUInt64LE(52);
  if (rawLength > BigInt(MAX_RAW_BYTES) || memoryBytes > 4n * 1024n ** 3n) throw new SnapshotFormatError("the saved bytes claim sizes past any sandbox's");
  const meta = b.subarray(HEADER_BYTES, HEADER_BYTES + metaLength);
  const data = b.subarray(HEADER_BYTES + metaLength, b.length - TAG_BYTES);
  return {
    payload: { data, rawLength: Number(rawLength), compression, memoryBytes: Number(memoryBytes), meta: kind === SaveKind.paused ? meta : null },
    paused: kind === SaveKind.paused ? checkMeta(meta) : null,
  };
}

function checkMeta(meta: Uint8Array): NonNullable<Opened["paused"]> {
  let value: unknown;
  try {
    value = decodeValue(meta, CALL_LIMITS);
  } catch (error) {
    if (error instanceof CodecError) throw new SnapshotFormatError(`the paused run's call does not decode: ${error.message}`);
    throw error;
  }
  const m = value as { call?: { name?: unknown; args?: unknown; kwargs?: unknown }; limits?: Record<string, unknown> } | null;
  if (m === null || typeof m !== "object" || typeof m.call?.name !== "string" || !Array.isArray(m.call.args) || m.limits === null || typeof m.limits !== "object") {
    throw new SnapshotFormatError("the paused run's call or limits are malformed");
  }
  // Within what the options accept (a timer past 2^31 ms would fire at once).
  const limit = (v: unknown, max = Number.MAX_SAFE_INTEGER) => {
    if (v === null) return Infinity;
    if (typeof v === "number" && v > 0 && v <= max) return v;
    throw new SnapshotFormatError("the paused run's limits are malformed");
  };
  const l = m.limits;
  return {
    call: { name: m.call.name, args: m.call.args, kwargs: m.call.kwargs ?? {} },
    limits: { timeoutMs: limit(l.timeoutMs ?? 0, MAX_TIME_LIMIT_MS), cpuTimeMs: limit(l.cpuTimeMs, MAX_TIME_LIMIT_MS), tickLimit: limit(l.tickLimit), outputLimitBytes: limit(l.outputLimitBytes) },
  };
}
