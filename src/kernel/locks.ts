// A sandbox's POSIX record locks (fcntl F_GETLK / F_SETLK), the kernel's
// side of the `pyvisor.fd_lock` import: what SQLite's "unix" VFS needs so
// that connections in different sandboxes that share a database file keep out
// of each other's way, as processes on Linux do. The rules (one owner per
// sandbox, a new lock replaces the owner's on its range, closing any fd of a
// file drops the owner's locks on it) are the table's (src/shared/locks.ts).
//
// Which table: a host file (keyed by its host dev:ino) is shared by every
// sandbox that mounts it, wherever it runs, so a sandbox of a pool asks its
// pool's host, which keeps one table for all its workers (threads or
// processes), through the worker's synchronous host call ("lock"); the host
// drops a sandbox's locks when it is disposed or hard-stopped, or its worker
// dies. An in-memory file (only its own sandbox can open it), and every file
// of a kernel with no pool host (one run in the host process, the tests), is
// in this realm's table. Locks do not reach other host processes nor native
// programs (Node gives no access to the host's own fcntl locks).
import { Errno } from "../shared/errno.js";
import {
  decodeLockAnswer, encodeLockRequest, LockOp, LockType, realmLocks, TO_END,
  type FileKey, type LockAnswer, type LockRequest,
} from "../shared/locks.js";
import { fail } from "../vfs/node.js";

export { LockType, TO_END, type FileKey };

/** cmd values of the engine's shim. */
export const enum LockCmd { Get = 12, Set = 13, SetWait = 14 }

/** The pool host's table, as a sandbox reaches it: its owner id there, and the blocking "lock" call. */
export interface HostLocks {
  owner: number;
  /** The host's encoded answer; empty when the call was cut short (the run's deadline). */
  call(request: Uint8Array): Uint8Array;
}

/** A conflicting lock as F_GETLK reports it. */
export interface LockHolder {
  type: LockType;
  start: bigint;
  end: bigint;
}

export class SandboxLocks {
  /**
   * Host files this sandbox may hold locks on at the host: one is released
   * there when the sandbox closes an fd of it (and only then, so that closing
   * other files costs no host call). A lock whose answer was cut short counts.
   */
  private readonly atHost = new Set<string>();

  /** @param owner this sandbox in the realm's table */
  constructor(private readonly owner: object, private readonly host: HostLocks | null) {}

  private remote(file: FileKey): file is string {
    return this.host !== null && typeof file === "string";
  }

  /** The first lock of another sandbox a lock of `type` on [start, end) would conflict with, or null. */
  conflicting(file: FileKey, type: LockType, start: bigint, end: bigint): LockHolder | null {
    if (!this.remote(file)) return realmLocks.conflicting(file, this.owner, type, start, end);
    return this.ask({ op: LockOp.Get, type, start, end, key: file }).conflict as LockHolder | null;
  }

  /** Sets (or, with LockType.Unlock, removes) this sandbox's lock on [start, end); EAGAIN when another's is in the way. */
  set(file: FileKey, type: LockType, start: bigint, end: bigint): void {
    if (!this.remote(file)) {
      const errno = realmLocks.set(file, this.owner, type, start, end);
      if (errno !== Errno.SUCCESS) fail(errno);
      return;
    }
    if (type !== LockType.Unlock) this.atHost.add(file);
    this.ask({ op: LockOp.Set, type, start, end, key: file });
  }

  /** This sandbox closed an fd of `file`: its locks on the file go. */
  closed(file: FileKey): void {
    if (!this.remote(file)) return realmLocks.releaseFile(file, this.owner);
    if (!this.atHost.delete(file)) return;
    this.host!.call(encodeLockRequest({ op: LockOp.ReleaseFile, type: LockType.Unlock, owner: this.host!.owner, start: 0n, end: TO_END, key: file }));
  }

  /**
   * The sandbox is going away: its locks in this realm go, and closing its fds
   * from now on asks no host (the pool host drops a sandbox's locks itself when
   * it disposes of it, hard-stops it or loses its worker).
   */
  dispose(): void {
    realmLocks.releaseOwner(this.owner);
    this.atHost.clear();
  }

  /** Asks the host; a failure is the call's errno, an answer cut short EINTR (SQLite takes it as "busy"). */
  private ask(request: Omit<LockRequest, "owner">): LockAnswer {
    const answer = decodeLockAnswer(this.host!.call(encodeLockRequest({ ...request, owner: this.host!.owner })));
    if (answer === null) fail(Errno.INTR);
    if (answer.errno !== Errno.SUCCESS) fail(answer.errno as Errno);
    return answer;
  }
}
