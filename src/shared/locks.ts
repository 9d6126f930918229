// POSIX record locks (fcntl F_GETLK / F_SETLK): who holds which byte ranges
// of which file, and the "lock" call by which a worker asks its pool host
// about host files (see src/kernel/locks.ts for who keeps which table).
//
// An owner is one process's identity, a sandbox: its own locks never conflict
// with each other, a new lock replaces what it held on the range, and closing
// any of its fds of a file drops all of its locks on that file (POSIX's rule,
// which SQLite expects). Files are known by a key (a host file by its host
// dev:ino, so that sandboxes that mount the same host file meet).
//
// Every "lock" request reaches the pool host from a worker, where the guest
// runs: it is decoded within bounds and anything out of them is answered
// with an errno, never thrown. An owner holds at most MAX_LOCKS_PER_OWNER
// ranges (ENOLCK beyond, as Linux says when its lock table is full), so that
// no guest grows a table, or the time a lookup in it takes, without bound.
import { Errno } from "./errno.js";

/** l_type values of the engine's shim (SQLite's for WASI, those of 32-bit Linux). */
export const enum LockType { Read = 0, Write = 1, Unlock = 2 }

/** "To the end of the file, however far it grows" (l_len 0). */
export const TO_END = (1n << 63n) - 1n;

/** Ranges one owner may hold over all files: SQLite holds at most a handful per file. */
export const MAX_LOCKS_PER_OWNER = 1024;

export type LockOwner = unknown;
export type FileKey = unknown;

export interface Lock {
  owner: LockOwner;
  type: LockType.Read | LockType.Write;
  start: bigint;
  /** Exclusive; TO_END for a lock that runs to the end. */
  end: bigint;
}

const overlaps = (a: { start: bigint; end: bigint }, start: bigint, end: bigint) => a.start < end && start < a.end;

export class LockTable {
  private readonly byFile = new Map<FileKey, Lock[]>();
  /** Ranges each owner holds, over all files. */
  private readonly counts = new Map<LockOwner, number>();

  /** The first lock another owner holds on [start, end) that a lock of `type` would conflict with, or null. */
  conflicting(file: FileKey, owner: LockOwner, type: LockType, start: bigint, end: bigint): Lock | null {
    for (const lock of this.byFile.get(file) ?? []) {
      if (lock.owner !== owner && overlaps(lock, start, end) && (type === LockType.Write || lock.type === LockType.Write)) return lock;
    }
    return null;
  }

  /** Sets (or, with LockType.Unlock, removes) `owner`'s lock on [start, end): EAGAIN when another owner's lock is in the way. */
  set(file: FileKey, owner: LockOwner, type: LockType, start: bigint, end: bigint): Errno {
    if (type !== LockType.Unlock && this.conflicting(file, owner, type, start, end) !== null) return Errno.AGAIN;
    const kept: Lock[] = [];
    let delta = 0;
    for (const lock of this.byFile.get(file) ?? []) {
      if (lock.owner !== owner || !overlaps(lock, start, end)) {
        kept.push(lock);
        continue;
      }
      // The owner's lock loses the part the new one covers; what sticks out either side stays.
      delta--;
      if (lock.start < start) kept.push({ ...lock, end: start }), delta++;
      if (end < lock.end) kept.push({ ...lock, start: end }), delta++;
    }
    if (type !== LockType.Unlock) kept.push({ owner, type, start, end }), delta++;
    const count = (this.counts.get(owner) ?? 0) + delta;
    if (count > MAX_LOCKS_PER_OWNER) return Errno.NOLCK;
    this.store(file, kept);
    this.count(owner, count);
    return Errno.SUCCESS;
  }

  /** Drops every lock `owner` holds on `file` (it closed an fd of the file). */
  releaseFile(file: FileKey, owner: LockOwner): void {
    const locks = this.byFile.get(file);
    if (locks === undefined) return;
    const kept = locks.filter((lock) => lock.owner !== owner);
    this.store(file, kept);
    this.count(owner, (this.counts.get(owner) ?? 0) - (locks.length - kept.length));
  }

  /** Drops every lock `owner` holds (its sandbox is going away). */
  releaseOwner(owner: LockOwner): void {
    if (!this.counts.has(owner)) return;
    for (const file of [...this.byFile.keys()]) this.releaseFile(file, owner);
  }

  private store(file: FileKey, locks: Lock[]): void {
    if (locks.length > 0) this.byFile.set(file, locks);
    else this.byFile.delete(file);
  }

  private count(owner: LockOwner, count: number): void {
    if (count > 0) this.counts.set(owner, count);
    else this.counts.delete(owner);
  }
}

/**
 * This JavaScript realm's table: in a worker, the locks on its sandboxes'
 * in-memory files; in the pool's host, those on host files of every worker
 * (and, for a kernel run in the host itself, everything it locks).
 */
export const realmLocks = new LockTable();

// The "lock" call (CallKind "lock"): a fixed little-endian layout.
//   request: op u8 @0 (LockOp), type u8 @1, owner f64 @8 (the pool's sandbox id),
//            start i64 @16, end i64 @24, key UTF-8 @32.. (1 to MAX_KEY_BYTES bytes)
//   answer:  errno i32 @0, then for a "get": the conflicting lock's type i32 @4
//            (Unlock for none), start i64 @8, end i64 @16.

export const enum LockOp { Get = 0, Set = 1, ReleaseFile = 2 }

export interface LockRequest {
  op: LockOp;
  type: LockType;
  owner: number;
  start: bigint;
  end: bigint;
  key: string;
}

const HEADER_BYTES = 32;
export const ANSWER_BYTES = 24;
/** Longest file key a worker may send ("host:" and a dev:ino: well under this). */
export const MAX_KEY_BYTES = 256;

const keyDecoder = new TextDecoder("utf-8", { fatal: true });

export function encodeLockRequest(request: LockRequest): Uint8Array {
  const key = new TextEncoder().encode(request.key);
  const bytes = new Uint8Array(HEADER_BYTES + key.length);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, request.op);
  view.setUint8(1, request.type);
  view.setFloat64(8, request.owner, true);
  view.setBigInt64(16, request.start, true);
  view.setBigInt64(24, request.end, true);
  bytes.set(key, HEADER_BYTES);
  return bytes;
}

/** A request as the host reads it, or null when any field is out of bounds. */
export function decodeLockRequest(bytes: Uint8Array): LockRequest | null {
  if (!(bytes instanceof Uint8Array) || bytes.length <= HEADER_BYTES || bytes.length > HEADER_BYTES + MAX_KEY_BYTES) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const op = view.getUint8(0), type = view.getUint8(1), owner = view.getFloat64(8, true);
  const start = view.getBigInt64(16, true), end = view.getBigInt64(24, true);
  if (op !== LockOp.Get && op !== LockOp.Set && op !== LockOp.ReleaseFile) return null;
  if (type !== LockType.Read && type !== LockType.Write && type !== LockType.Unlock) return null;
  if (op === LockOp.Get && type === LockType.Unlock) return null;
  if (!Number.isSafeInteger(owner) || owner <= 0) return null;
  if (start < 0n || end <= start || end > TO_END) return null;
  let key: string;
  try {
    key = keyDecoder.decode(bytes.subarray(HEADER_BYTES));
  } catch {
    return null;
  }
  return { op, type, owner, start, end, key };
}

export interface LockAnswer {
  errno: number;
  /** A "get"'s answer: the conflicting lock, or null. */
  conflict: { type: LockType; start: bigint; end: bigint } | null;
}

function encodeAnswer(errno: number, conflict: Lock | null = null): Uint8Array {
  const bytes = new Uint8Array(ANSWER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, errno, true);
  view.setInt32(4, conflict?.type ?? LockType.Unlock, true);
  view.setBigInt64(8, conflict?.start ?? 0n, true);
  view.setBigInt64(16, conflict?.end ?? 0n, true);
  return bytes;
}

/** The host's answer as the worker reads it; null for none (the call was cut short) or one it cannot read. */
export function decodeLockAnswer(bytes: Uint8Array): LockAnswer | null {
  if (bytes.length !== ANSWER_BYTES) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const errno = view.getInt32(0, true), type = view.getInt32(4, true);
  const conflict = type === LockType.Read || type === LockType.Write ? { type, start: view.getBigInt64(8, true), end: view.getBigInt64(16, true) } : null;
  return { errno, conflict };
}

/**
 * Serves one "lock" call on the host, in `table`: `mayOwn(owner)` says
 * whether the calling worker hosts that sandbox (a worker speaks only for its
 * own). Never throws: a request out of bounds is EINVAL, a foreign owner EBADF.
 */
export function serveLockCall(table: LockTable, payload: Uint8Array, mayOwn: (owner: number) => boolean): Uint8Array {
  const request = decodeLockRequest(payload);
  if (request === null) return encodeAnswer(Errno.INVAL);
  const { op, type, owner, start, end, key } = request;
  if (!mayOwn(owner)) return encodeAnswer(Errno.BADF);
  if (op === LockOp.Get) return encodeAnswer(Errno.SUCCESS, table.conflicting(key, owner, type, start, end));
  if (op === LockOp.Set) return encodeAnswer(table.set(key, owner, type, start, end));
  table.releaseFile(key, owner);
  return encodeAnswer(Errno.SUCCESS);
}
