// An on-disk cache of interpreter snapshots, for cold starts (the CLI):
// restoring 7 MiB beats booting CPython (~150-250 ms). Template states (a
// snapshot with the template's files: worker/capture.ts) use the same files.
//
// A file is keyed by the engine (python.wasm, the stdlib image, the guest
// module) and checked before use: it must be owned by this user, in a
// directory only this user can write, and its contents must match the
// checksum in its header (corruption, truncation). The file is checked and
// read through one descriptor, so what was checked is what is read. A
// snapshot fixes the str hash secret, so every process that restores one file
// shares it: the cache is opt-in (the CLI uses it; pools make a fresh
// snapshot per process).
//   "PYVSNAP2" | u32 LE header length | JSON {key, sum, meta, blobs: [length]} | data
// `sum` is "crc32:<hex>" where node:zlib has crc32 (Node >= 20.15), else
// "sha256:<hex>": the checksum guards against accidents (the directory is the
// user's own), and crc32 reads the 7 MiB of a cold start in a third of the time.
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import * as zlib from "node:zlib";
import type { Snapshot } from "./engine.js";

const MAGIC = "PYVSNAP2";

function ownedPrivately(st: fs.Stats): boolean {
  const uid = process.getuid?.() ?? st.uid;
  return st.uid === uid && (st.mode & 0o022) === 0 && !st.isSymbolicLink();
}

function isPrivate(path: string): boolean {
  return ownedPrivately(fs.lstatSync(path));
}

const crc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

/** The checksum of `data` in the header's form; `like` names the algorithm of a sum to compare with. */
function checksum(data: Uint8Array, like?: string): string | null {
  const algorithm = like === undefined ? (crc32 !== undefined ? "crc32" : "sha256") : like.slice(0, like.indexOf(":"));
  if (algorithm === "crc32") return crc32 === undefined ? null : `crc32:${crc32(data).toString(16)}`;
  if (algorithm === "sha256") return `sha256:${createHash("sha256").update(data).digest("hex")}`;
  return null;
}

/** The whole file, read through one descriptor that was checked (a regular file this user owns, no symlink); null otherwise. */
function readPrivateFile(file: string): Buffer | null {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || !ownedPrivately(st)) return null;
    const bytes = Buffer.allocUnsafe(st.size);
    let filled = 0;
    while (filled < bytes.length) {
      const read = fs.readSync(fd, bytes, filled, bytes.length - filled, filled);
      if (read === 0) return null; // shrunk meanwhile
      filled += read;
    }
    return bytes;
  } finally {
    fs.closeSync(fd);
  }
}

/** A cache file's own description (JSON) and its data, in pieces. */
export interface CacheParts {
  meta: unknown;
  blobs: Uint8Array[];
}

/** The file `<key><suffix>` of `dir`, if it passes every check; null otherwise (missing, foreign, corrupt). */
export function readCacheFile(dir: string, key: string, suffix: string): CacheParts | null {
  const file = join(dir, `${key}${suffix}`);
  try {
    if (!isPrivate(dir)) return null;
    const bytes = readPrivateFile(file);
    if (bytes === null || bytes.subarray(0, 8).toString("latin1") !== MAGIC) return null;
    const headerLength = bytes.readUInt32LE(8);
    const header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString("utf8")) as { key: string; sum: unknown; meta: unknown; blobs: number[] };
    const data = bytes.subarray(12 + headerLength);
    if (header.key !== key || typeof header.sum !== "string" || checksum(data, header.sum) !== header.sum) return null;
    let offset = 0;
    const blobs = header.blobs.map((length) => {
      if (!Number.isSafeInteger(length) || length < 0 || offset + length > data.length) throw new Error("bad blob");
      const blob = new Uint8Array(data.buffer, data.byteOffset + offset, length);
      offset += length;
      return blob;
    });
    return { meta: header.meta, blobs };
  } catch {
    return null; // missing, unreadable or malformed: make a new one
  }
}

/** Writes `<key><suffix>` into `dir` (made private if missing) atomically; a cache that cannot be written is skipped. */
export function writeCacheFile(dir: string, key: string, suffix: string, parts: CacheParts): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!isPrivate(dir)) return;
    const data = Buffer.concat(parts.blobs);
    const header = Buffer.from(JSON.stringify({
      key, sum: checksum(data), meta: parts.meta, blobs: parts.blobs.map((blob) => blob.length),
    }));
    const prefix = Buffer.alloc(12);
    prefix.write(MAGIC, 0, "latin1");
    prefix.writeUInt32LE(header.length, 8);
    const temporary = join(dir, `.${key}.${randomBytes(6).toString("hex")}.tmp`);
    fs.writeFileSync(temporary, Buffer.concat([prefix, header, data]), { mode: 0o600 });
    fs.renameSync(temporary, join(dir, `${key}${suffix}`));
  } catch {
    // A cache that cannot be written only costs the next start its boot.
  }
}

/** A snapshot as cache parts: its size and runs in `meta`, the runs' bytes as blobs. */
export function snapshotParts(snapshot: Snapshot): CacheParts {
  return { meta: { byteLength: snapshot.byteLength, runs: snapshot.runs.map((run) => run.offset) }, blobs: snapshot.runs.map((run) => run.bytes) };
}

/** The snapshot of snapshotParts (its blobs from `first` on); throws on a shape that does not fit. */
export function snapshotFromParts(meta: unknown, blobs: Uint8Array[], first = 0): Snapshot {
  const { byteLength, runs } = meta as { byteLength: number; runs: number[] };
  if (!Number.isSafeInteger(byteLength) || byteLength < 0 || !Array.isArray(runs)) throw new Error("bad snapshot");
  return {
    byteLength,
    runs: runs.map((offset, i) => {
      const bytes = blobs[first + i];
      if (bytes === undefined || !Number.isSafeInteger(offset) || offset < 0 || offset + bytes.length > byteLength) throw new Error("bad run");
      return { offset, bytes };
    }),
  };
}

export function readCachedSnapshot(dir: string, key: string): Snapshot | null {
  const parts = readCacheFile(dir, key, ".snap");
  try {
    return parts === null ? null : snapshotFromParts(parts.meta, parts.blobs);
  } catch {
    return null;
  }
}

export function writeCachedSnapshot(dir: string, key: string, snapshot: Snapshot): void {
  writeCacheFile(dir, key, ".snap", snapshotParts(snapshot));
}
