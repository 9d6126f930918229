// A zip reader for hostile archives (wheels and zip packages). Only what a
// package needs is accepted: stored or deflated regular files and directories,
// no encryption, no ZIP64 archive, no multi-disk archive. Sizes are bounded
// before anything is inflated and again while inflating (the declared sizes
// are never trusted: the output is capped and must equal them), members may
// not overlap (the "overlapping files" bomb), and every name is checked by
// checkMemberName. Any failure is a ZipError whose message is the cause.
import { inflateRawSync } from "node:zlib";

/** What an archive may hold: checked on the declared sizes and again on the inflated bytes. */
export interface ZipLimits {
  maxMembers: number;
  maxMemberBytes: number;
  maxTotalBytes: number;
}

export class ZipError extends Error {
  override name = "ZipError";
}

export interface ZipMember {
  /** The member's path, checked (no "..", no absolute path, no backslash). */
  name: string;
  data: Uint8Array;
}

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_BYTES = 22;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;
const MAX_COMMENT_BYTES = 0xffff;
const UNIX_HOST = 3;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const FLAG_ENCRYPTED = 0x1;
const FLAG_UTF8 = 0x800;
const ZIP64_EXTRA = 0x0001;
const MAX_NAME_BYTES = 1024;
const MAX_SEGMENT_BYTES = 255;

const utf8 = new TextDecoder("utf-8", { fatal: true });

interface CentralEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
  directory: boolean;
}

/** Reads and inflates every file of a zip archive; directories are left out (they are implied by the files). */
export function readZip(bytes: Uint8Array, limits: ZipLimits): ZipMember[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { count, centralOffset, centralSize } = endRecord(view);
  if (count > limits.maxMembers) throw new ZipError(`too many members: ${count} (at most ${limits.maxMembers})`);
  const entries = centralDirectory(view, count, centralOffset, centralSize, limits);
  checkNoOverlap(view, entries, centralOffset);
  const members: ZipMember[] = [];
  let total = 0;
  for (const entry of entries) {
    if (entry.directory) continue;
    const data = inflateMember(bytes, view, entry, Math.min(limits.maxMemberBytes, limits.maxTotalBytes - total));
    total += data.length;
    members.push({ name: entry.name, data });
  }
  return members;
}

function endRecord(view: DataView): { count: number; centralOffset: number; centralSize: number } {
  const lowest = Math.max(0, view.byteLength - EOCD_BYTES - MAX_COMMENT_BYTES);
  for (let at = view.byteLength - EOCD_BYTES; at >= lowest; at--) {
    if (view.getUint32(at, true) !== EOCD_SIGNATURE) continue;
    // The record must end the file exactly (its comment included): no data hides after it.
    if (at + EOCD_BYTES + view.getUint16(at + 20, true) !== view.byteLength) continue;
    const disk = view.getUint16(at + 4, true);
    const centralDisk = view.getUint16(at + 6, true);
    const onDisk = view.getUint16(at + 8, true);
    const count = view.getUint16(at + 10, true);
    const centralSize = view.getUint32(at + 12, true);
    const centralOffset = view.getUint32(at + 16, true);
    if (count === 0xffff || centralSize === 0xffffffff || centralOffset === 0xffffffff) throw new ZipError("a ZIP64 archive (too large for a package)");
    if (disk !== 0 || centralDisk !== 0 || onDisk !== count) throw new ZipError("a multi-disk archive");
    if (centralOffset + centralSize > at) throw new ZipError("the central directory lies outside the archive");
    return { count, centralOffset, centralSize };
  }
  throw new ZipError("not a zip archive (no end of central directory record)");
}

function centralDirectory(view: DataView, count: number, offset: number, size: number, limits: ZipLimits): CentralEntry[] {
  const entries: CentralEntry[] = [];
  const names = new Set<string>();
  let declaredTotal = 0;
  let at = offset;
  const end = offset + size;
  for (let i = 0; i < count; i++) {
    if (at + CENTRAL_BYTES > end || view.getUint32(at, true) !== CENTRAL_SIGNATURE) throw new ZipError(`central directory entry ${i} is malformed`);
    const madeBy = view.getUint16(at + 4, true);
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const next = at + CENTRAL_BYTES + nameLength + extraLength + commentLength;
    if (next > end) throw new ZipError(`central directory entry ${i} is malformed`);
    const name = decodeName(new Uint8Array(view.buffer, view.byteOffset + at + CENTRAL_BYTES, nameLength), flags);
    const sizes = zip64Sizes(view, at + CENTRAL_BYTES + nameLength, extraLength, {
      size: view.getUint32(at + 24, true), compressedSize: view.getUint32(at + 20, true), localOffset: view.getUint32(at + 42, true),
    });
    const mode = madeBy >>> 8 === UNIX_HOST ? view.getUint32(at + 38, true) >>> 16 : 0;
    const directory = name.endsWith("/");
    checkMemberName(directory ? name.slice(0, -1) : name);
    checkKind(name, mode & S_IFMT, directory);
    if (flags & FLAG_ENCRYPTED) throw new ZipError(`${name}: an encrypted member`);
    if (method !== 0 && method !== 8) throw new ZipError(`${name}: compression method ${method} (only stored and deflate)`);
    if (names.has(name)) throw new ZipError(`duplicate member: ${name}`);
    names.add(name);
    if (sizes.size > limits.maxMemberBytes) throw new ZipError(`${name}: declares ${sizes.size} bytes uncompressed, over the ${limits.maxMemberBytes}-byte limit of one member (a zip bomb?)`);
    declaredTotal += sizes.size;
    if (declaredTotal > limits.maxTotalBytes) throw new ZipError(`the members declare more than ${limits.maxTotalBytes} bytes uncompressed in all (a zip bomb?)`);
    if (method === 0 && sizes.compressedSize !== sizes.size) throw new ZipError(`${name}: a stored member whose sizes differ`);
    entries.push({ name, method, crc: view.getUint32(at + 16, true), ...sizes, directory });
    at = next;
  }
  return entries;
}

/** The sizes and offset of an entry, read from its ZIP64 extra field where the 32-bit fields say 0xffffffff. */
function zip64Sizes(view: DataView, at: number, length: number, fields: { size: number; compressedSize: number; localOffset: number }) {
  const wanted = (["size", "compressedSize", "localOffset"] as const).filter((key) => fields[key] === 0xffffffff);
  if (wanted.length === 0) return fields;
  for (let end = at + length; at + 4 <= end;) {
    const id = view.getUint16(at, true);
    const size = view.getUint16(at + 2, true);
    if (at + 4 + size > end) break;
    if (id === ZIP64_EXTRA && size >= wanted.length * 8) {
      const out = { ...fields };
      // A 64-bit size is kept as a double: past 2^53 it is only compared with the (small) limits.
      wanted.forEach((key, i) => (out[key] = Number(view.getBigUint64(at + 4 + i * 8, true))));
      return out;
    }
    at += 4 + size;
  }
  throw new ZipError("a member's ZIP64 sizes are missing");
}

function decodeName(raw: Uint8Array, flags: number): string {
  if (raw.length === 0 || raw.length > MAX_NAME_BYTES) throw new ZipError(`a member name of ${raw.length} bytes`);
  const ascii = raw.every((byte) => byte < 0x80);
  if (!ascii && !(flags & FLAG_UTF8)) throw new ZipError("a non-ASCII member name without the UTF-8 flag (its encoding is ambiguous)");
  try {
    return utf8.decode(raw);
  } catch {
    throw new ZipError("a member name that is not UTF-8");
  }
}

/**
 * Refuses a path that could land outside the package's directory or means
 * different things on different systems: absolute, a drive letter, "..", ".",
 * empty segments, backslashes, control characters.
 */
export function checkMemberName(name: string): void {
  const why =
    name === "" ? "an empty name"
      : name.startsWith("/") ? "an absolute path"
        : /^[A-Za-z]:/.test(name) ? "a drive letter"
          : name.includes("\\") ? "a backslash"
            : /[\x00-\x1f\x7f]/.test(name) ? "a control character"
              : name.split("/").some((part) => part === ".." ) ? "a \"..\" segment (it escapes the archive)"
                : name.split("/").some((part) => part === "" || part === ".") ? "an empty or \".\" segment"
                  : name.split("/").some((part) => Buffer.byteLength(part) > MAX_SEGMENT_BYTES) ? "a segment longer than 255 bytes"
                    : null;
  if (why !== null) throw new ZipError(`unsafe member path ${JSON.stringify(name)}: ${why}`);
}

function checkKind(name: string, type: number, directory: boolean): void {
  if (type === S_IFLNK) throw new ZipError(`${name}: a symlink entry (packages hold regular files only)`);
  if (type !== 0 && type !== (directory ? S_IFDIR : S_IFREG)) throw new ZipError(`${name}: not a regular file (mode ${type.toString(8)})`);
}

/** Members' data may not overlap each other or the central directory: one stored stream may not serve many names. */
function checkNoOverlap(view: DataView, entries: CentralEntry[], centralOffset: number): void {
  const spans = entries.map((entry) => ({ entry, start: entry.localOffset, end: dataStart(view, entry, centralOffset) + entry.compressedSize }));
  spans.sort((a, b) => a.start - b.start);
  let previousEnd = 0;
  for (const span of spans) {
    if (span.start < previousEnd) throw new ZipError(`${span.entry.name}: its data overlaps another member's`);
    if (span.end > centralOffset) throw new ZipError(`${span.entry.name}: its data runs past the members' area`);
    previousEnd = span.end;
  }
}

function dataStart(view: DataView, entry: CentralEntry, limit: number): number {
  const at = entry.localOffset;
  if (at + LOCAL_BYTES > limit || view.getUint32(at, true) !== LOCAL_SIGNATURE) throw new ZipError(`${entry.name}: no local header where the directory says`);
  const nameLength = view.getUint16(at + 26, true);
  const extraLength = view.getUint16(at + 28, true);
  if (at + LOCAL_BYTES + nameLength > limit) throw new ZipError(`${entry.name}: its local header runs past the members' area`);
  const localName = new Uint8Array(view.buffer, view.byteOffset + at + LOCAL_BYTES, nameLength);
  if (Buffer.compare(localName, Buffer.from(entry.name, "utf8")) !== 0) throw new ZipError(`${entry.name}: its local header names another file`);
  return at + LOCAL_BYTES + nameLength + extraLength;
}

/** Inflates one member with its output capped at `budget` bytes; its size and CRC-32 must be the declared ones. */
function inflateMember(bytes: Uint8Array, view: DataView, entry: CentralEntry, budget: number): Uint8Array {
  const start = dataStart(view, entry, bytes.length);
  const raw = bytes.subarray(start, start + entry.compressedSize);
  let data: Uint8Array;
  if (entry.method === 0) {
    data = raw;
  } else {
    // One byte over the declared size is enough to prove the declaration false.
    const cap = Math.min(budget, entry.size) + 1;
    try {
      data = inflateRawSync(raw, { maxOutputLength: cap });
    } catch (error) {
      const tooLarge = error instanceof RangeError || (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE";
      throw new ZipError(`${entry.name}: ${tooLarge ? "inflates past its declared size or the size limits (a zip bomb?)" : "corrupt deflate data"}`);
    }
  }
  if (data.length > budget) throw new ZipError(`${entry.name}: over the size limits once inflated (a zip bomb?)`);
  if (data.length !== entry.size) throw new ZipError(`${entry.name}: inflates to ${data.length} bytes, not the ${entry.size} declared`);
  if (crc32(data) !== entry.crc) throw new ZipError(`${entry.name}: CRC-32 mismatch (corrupt archive)`);
  return data;
}

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE), as zip stores it (zlib.crc32 only exists from Node 20.15). */
export function crc32(data: Uint8Array): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
