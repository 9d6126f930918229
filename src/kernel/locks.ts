// POSIX record locks (fcntl F_GETLK / F_SETLK), the kernel's side of the
// `pyvisor.fd_lock` import: what SQLite's "unix" VFS needs so that
// connections in different sandboxes that share a database file keep out of
// each other's way, as processes on Linux do.
//
// A sandbox is one process: its own locks never conflict with each other, a
// new lock replaces what it held on the range, and closing any of its fds of
// a file drops all of its locks on that file (POSIX's rule, which SQLite
// expects). Files are known by a key: a host file by its host dev:ino, so
// sandboxes that mount the same host file see each other's locks; an
// in-memory file by its node (only its own sandbox can open it).
//
// The table is this module's state, so it spans every sandbox of one worker
// (process or thread); sandboxes in different workers do not see each other's
// locks (Node gives no access to the host's own fcntl locks).
import { Errno } from "../shared/errno.js";
import { fail } from "../vfs/node.js";

/** l_type values of the engine's shim (SQLite's for WASI, those of 32-bit Linux). */
export const enum LockType { Read = 0, Write = 1, Unlock = 2 }
/** cmd values of the engine's shim. */
export const enum LockCmd { Get = 12, Set = 13, SetWait = 14 }

/** "To the end of the file, however far it grows" (l_len 0). */
export const TO_END = (1n << 63n) - 1n;

export type LockOwner = object;
export type FileKey = unknown;

interface Lock {
  owner: LockOwner;
  type: LockType.Read | LockType.Write;
  start: bigint;
  /** Exclusive; TO_END for a lock that runs to the end. */
  end: bigint;
}

const locksByFile = new Map<FileKey, Lock[]>();

const overlaps = (a: { start: bigint; end: bigint }, start: bigint, end: bigint) => a.start < end && start < a.end;

/** The first lock another owner holds on [start, end) that a lock of `type` would conflict with, or null. */
export function conflicting(file: FileKey, owner: LockOwner, type: LockType, start: bigint, end: bigint): Lock | null {
  for (const lock of locksByFile.get(file) ?? []) {
    if (lock.owner !== owner && overlaps(lock, start, end) && (type === LockType.Write || lock.type === LockType.Write)) return lock;
  }
  return null;
}

/** Sets (or, with LockType.Unlock, removes) `owner`'s lock on [start, end); EAGAIN when another owner's lock is in the way. */
export function setLock(file: FileKey, owner: LockOwner, type: LockType, start: bigint, end: bigint): void {
  if (type !== LockType.Unlock && conflicting(file, owner, type, start, end) !== null) fail(Errno.AGAIN);
  const kept: Lock[] = [];
  for (const lock of locksByFile.get(file) ?? []) {
    if (lock.owner !== owner || !overlaps(lock, start, end)) {
      kept.push(lock);
      continue;
    }
    // The owner's lock loses the part the new one covers; what sticks out either side stays.
    if (lock.start < start) kept.push({ ...lock, end: start });
    if (end < lock.end) kept.push({ ...lock, start: end });
  }
  if (type !== LockType.Unlock) kept.push({ owner, type, start, end });
  if (kept.length > 0) locksByFile.set(file, kept);
  else locksByFile.delete(file);
}

/** Drops every lock `owner` holds on `file` (it closed an fd of the file). */
export function releaseFile(file: FileKey, owner: LockOwner): void {
  const locks = locksByFile.get(file);
  if (locks === undefined) return;
  const kept = locks.filter((lock) => lock.owner !== owner);
  if (kept.length > 0) locksByFile.set(file, kept);
  else locksByFile.delete(file);
}

/** Drops every lock `owner` holds (its sandbox is going away). */
export function releaseOwner(owner: LockOwner): void {
  for (const file of [...locksByFile.keys()]) releaseFile(file, owner);
}
