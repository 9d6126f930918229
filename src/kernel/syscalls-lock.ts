// The `pyvisor.fd_lock` import: fcntl's record locks on an open file, for the
// engine's SQLite lock shim (engine/src/sqlite_wasi_locks.c), which WASI has
// no call for.
//
//   fd_lock(fd: i32, cmd: i32, type: i32, whence: i32, start: i64, len: i64, out: i32) -> errno
//
// cmd and type are the shim's F_GETLK/F_SETLK/F_SETLKW and F_RDLCK/F_WRLCK/
// F_UNLCK; whence is SEEK_SET/CUR/END; len 0 runs to the end of the file, a
// negative len ends the range at start. F_GETLK writes the first conflicting
// lock at `out` (type i32 at 0, start i64 at 8, len i64 at 16, pid i32 at 24,
// always -1: no process identity crosses sandboxes), or just F_UNLCK as its
// type. F_SETLKW does not wait: one thread serves every sandbox of a worker,
// so a holder on the same worker could never run to release it; it answers
// EAGAIN as F_SETLK does (SQLite uses F_SETLK only). Which table answers is
// locks.ts's concern (the pool host's for host files).
import { Rights, Whence } from "../shared/wasi.js";
import { Errno } from "../shared/errno.js";
import { fail } from "../vfs/node.js";
import type { Kernel } from "./kernel.js";
import type { OpenFile } from "./fds.js";
import { LockCmd, LockType, TO_END, type FileKey } from "./locks.js";

/** The file an fd's locks are on (see locks.ts). */
export function lockKeyOf(entry: OpenFile): FileKey {
  return entry.handle?.lockKey ?? entry.node;
}

/** [start, end) in bytes from the file's beginning; EINVAL for a range before it or past the largest offset. */
function range(entry: OpenFile, whence: number, start: bigint, len: bigint): [bigint, bigint] {
  let base: bigint;
  if (whence === Whence.SET) base = 0n;
  else if (whence === Whence.CUR) base = BigInt(entry.position);
  else if (whence === Whence.END) base = BigInt(entry.handle!.size());
  else fail(Errno.INVAL);
  let from = base + start;
  let to = len === 0n ? TO_END : from + len;
  if (len < 0n) [from, to] = [to, from];
  if (from < 0n || to > TO_END) fail(Errno.INVAL);
  return [from, to];
}

export function lockSyscalls(k: Kernel) {
  return {
    fd_lock(fd: number, cmd: number, type: number, whence: number, start: bigint, len: bigint, out: number): number {
      const entry = k.fds.get(fd);
      if (entry.kind !== "file" || entry.handle === undefined) fail(Errno.INVAL);
      if (cmd !== LockCmd.Get && cmd !== LockCmd.Set && cmd !== LockCmd.SetWait) fail(Errno.INVAL);
      if (type !== LockType.Read && type !== LockType.Write && type !== LockType.Unlock) fail(Errno.INVAL);
      const [from, to] = range(entry, whence, BigInt(start), BigInt(len));
      const file = lockKeyOf(entry);
      if (cmd === LockCmd.Get) {
        if (type === LockType.Unlock) fail(Errno.INVAL);
        const lock = k.locks.conflicting(file, type, from, to);
        const at = out >>> 0;
        k.memory.setU32(at, lock === null ? LockType.Unlock : lock.type);
        if (lock !== null) {
          k.memory.setU64(at + 8, lock.start);
          k.memory.setU64(at + 16, lock.end === TO_END ? 0n : lock.end - lock.start);
          k.memory.setU32(at + 24, -1 >>> 0);
        }
        return Errno.SUCCESS;
      }
      // A lock needs the access it protects, as on Linux.
      if (type === LockType.Read && (entry.rightsBase & Rights.FD_READ) === 0n) fail(Errno.BADF);
      if (type === LockType.Write && (entry.rightsBase & Rights.FD_WRITE) === 0n) fail(Errno.BADF);
      k.locks.set(file, type, from, to);
      return Errno.SUCCESS;
    },
  };
}
