// fd_* syscalls: decode the guest's arguments, make one call on the open
// file, encode the result. Errors are thrown as VfsError/GuestFault and become
// the returned errno in Kernel.guard.
import { FdFlags, FileType, Rights, SIZE, Whence } from "../shared/wasi.js";
import { Errno } from "../shared/errno.js";
import { fail, fileTypeOf, type DirNode, type Stat } from "../vfs/node.js";
import type { OpenFile } from "./fds.js";
import type { Kernel } from "./kernel.js";
import { encodeUtf8, type GuestMemory } from "./memory.js";

type Ptr = number;
const MAX_IO_BYTES = 64 * 1024 * 1024;

export function writeFilestat(mem: GuestMemory, ptr: Ptr, stat: Stat): void {
  mem.bytes(ptr, SIZE.FILESTAT).fill(0);
  mem.setU64(ptr, 0n); // dev
  mem.setU64(ptr + 8, stat.ino);
  mem.setU8(ptr + 16, stat.type);
  mem.setU64(ptr + 24, stat.nlink);
  mem.setU64(ptr + 32, stat.size);
  mem.setU64(ptr + 40, stat.atimeNs);
  mem.setU64(ptr + 48, stat.mtimeNs);
  mem.setU64(ptr + 56, stat.ctimeNs);
}

function statOf(entry: OpenFile): Stat {
  return entry.handle !== undefined ? entry.handle.stat() : entry.node.stat();
}

/** Reads into the guest's iovecs from `read(position, length)`; returns bytes read. */
function readInto(iovs: Uint8Array[], read: (length: number) => Uint8Array): number {
  let total = 0;
  for (const iov of iovs) {
    if (iov.length === 0) continue;
    const chunk = read(Math.min(iov.length, MAX_IO_BYTES - total));
    iov.set(chunk);
    total += chunk.length;
    if (chunk.length < iov.length || total >= MAX_IO_BYTES) break;
  }
  return total;
}

function gather(iovs: Uint8Array[]): Uint8Array {
  const total = iovs.reduce((n, iov) => n + iov.length, 0);
  if (total > MAX_IO_BYTES) fail(Errno.FBIG);
  if (iovs.length === 1) return iovs[0]!.slice();
  const data = new Uint8Array(total);
  let offset = 0;
  for (const iov of iovs) {
    data.set(iov, offset);
    offset += iov.length;
  }
  return data;
}

function checkOffset(value: bigint): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) fail(Errno.INVAL);
  return Number(value);
}

export function fdSyscalls(k: Kernel) {
  const handleOf = (entry: OpenFile) => {
    if (entry.kind === "dir" || entry.handle === undefined) fail(Errno.ISDIR);
    return entry.handle;
  };
  const seekable = (entry: OpenFile) => {
    if (entry.kind !== "file") fail(entry.kind === "dir" ? Errno.ISDIR : Errno.SPIPE);
    return handleOf(entry);
  };

  return {
    fd_read(fd: number, iovs: Ptr, iovsLen: number, nreadPtr: Ptr): number {
      const entry = k.fds.stream(fd, Rights.FD_READ);
      const handle = handleOf(entry);
      const n = readInto(k.memory.iovecs(iovs, iovsLen, true), (length) => {
        const chunk = handle.read(entry.position, length);
        if (entry.kind === "file") entry.position += chunk.length;
        return chunk;
      });
      k.memory.setU32(nreadPtr, n);
      return Errno.SUCCESS;
    },

    fd_pread(fd: number, iovs: Ptr, iovsLen: number, offset: bigint, nreadPtr: Ptr): number {
      const handle = seekable(k.fds.get(fd, Rights.FD_READ | Rights.FD_SEEK));
      let position = checkOffset(offset);
      const n = readInto(k.memory.iovecs(iovs, iovsLen, true), (length) => {
        const chunk = handle.read(position, length);
        position += chunk.length;
        return chunk;
      });
      k.memory.setU32(nreadPtr, n);
      return Errno.SUCCESS;
    },

    fd_write(fd: number, iovs: Ptr, iovsLen: number, nwrittenPtr: Ptr): number {
      const entry = k.fds.stream(fd, Rights.FD_WRITE);
      const handle = handleOf(entry);
      const data = gather(k.memory.iovecs(iovs, iovsLen));
      if (entry.kind === "file" && entry.append) entry.position = handle.size();
      const n = handle.write(entry.position, data);
      if (entry.kind === "file") entry.position += n;
      k.memory.setU32(nwrittenPtr, n);
      return Errno.SUCCESS;
    },

    fd_pwrite(fd: number, iovs: Ptr, iovsLen: number, offset: bigint, nwrittenPtr: Ptr): number {
      const handle = seekable(k.fds.get(fd, Rights.FD_WRITE | Rights.FD_SEEK));
      const n = handle.write(checkOffset(offset), gather(k.memory.iovecs(iovs, iovsLen)));
      k.memory.setU32(nwrittenPtr, n);
      return Errno.SUCCESS;
    },

    fd_seek(fd: number, offset: bigint, whence: number, newOffsetPtr: Ptr): number {
      const entry = k.fds.get(fd, Rights.FD_SEEK);
      const handle = seekable(entry);
      const base = whence === Whence.SET ? 0n : whence === Whence.CUR ? BigInt(entry.position)
        : whence === Whence.END ? BigInt(handle.size()) : fail(Errno.INVAL);
      entry.position = checkOffset(base + offset);
      k.memory.setU64(newOffsetPtr, BigInt(entry.position));
      return Errno.SUCCESS;
    },

    fd_tell(fd: number, offsetPtr: Ptr): number {
      const entry = k.fds.get(fd, Rights.FD_TELL);
      seekable(entry);
      k.memory.setU64(offsetPtr, BigInt(entry.position));
      return Errno.SUCCESS;
    },

    fd_close(fd: number): number {
      k.fds.close(fd);
      return Errno.SUCCESS;
    },

    fd_sync(fd: number): number {
      k.fds.get(fd, Rights.FD_SYNC).handle?.sync();
      return Errno.SUCCESS;
    },

    fd_datasync(fd: number): number {
      k.fds.get(fd, Rights.FD_DATASYNC).handle?.sync();
      return Errno.SUCCESS;
    },

    fd_advise(fd: number, offset: bigint, len: bigint, advice: number): number {
      seekable(k.fds.get(fd, Rights.FD_ADVISE));
      if (advice > 5 || offset < 0n || len < 0n) fail(Errno.INVAL);
      return Errno.SUCCESS; // advice only: nothing to do in memory
    },

    fd_allocate(fd: number, offset: bigint, len: bigint): number {
      const handle = seekable(k.fds.get(fd, Rights.FD_ALLOCATE));
      const end = checkOffset(offset) + checkOffset(len);
      if (end > handle.size()) handle.truncate(end);
      return Errno.SUCCESS;
    },

    fd_fdstat_get(fd: number, ptr: Ptr): number {
      const entry = k.fds.get(fd);
      const mem = k.memory;
      mem.bytes(ptr, SIZE.FDSTAT).fill(0);
      mem.setU8(ptr, entry.fileType);
      mem.setU16(ptr + 2, entry.fdflags);
      mem.setU64(ptr + 8, entry.rightsBase);
      mem.setU64(ptr + 16, entry.rightsInheriting);
      return Errno.SUCCESS;
    },

    fd_fdstat_set_flags(fd: number, flags: number): number {
      const entry = k.fds.get(fd, Rights.FD_FDSTAT_SET_FLAGS);
      if (flags & ~(FdFlags.APPEND | FdFlags.NONBLOCK | FdFlags.DSYNC | FdFlags.RSYNC | FdFlags.SYNC)) fail(Errno.INVAL);
      entry.fdflags = flags;
      entry.append = (flags & FdFlags.APPEND) !== 0;
      return Errno.SUCCESS;
    },

    fd_fdstat_set_rights(fd: number, base: bigint, inheriting: bigint): number {
      const entry = k.fds.get(fd);
      // Rights may only shrink.
      if ((base & ~entry.rightsBase) !== 0n || (inheriting & ~entry.rightsInheriting) !== 0n) fail(Errno.NOTCAPABLE);
      entry.rightsBase = base;
      entry.rightsInheriting = inheriting;
      return Errno.SUCCESS;
    },

    fd_filestat_get(fd: number, ptr: Ptr): number {
      writeFilestat(k.memory, ptr, statOf(k.fds.get(fd, Rights.FD_FILESTAT_GET)));
      return Errno.SUCCESS;
    },

    fd_filestat_set_size(fd: number, size: bigint): number {
      seekable(k.fds.get(fd, Rights.FD_FILESTAT_SET_SIZE)).truncate(checkOffset(size));
      return Errno.SUCCESS;
    },

    fd_filestat_set_times(fd: number, atim: bigint, mtim: bigint, flags: number): number {
      const entry = k.fds.get(fd, Rights.FD_FILESTAT_SET_TIMES);
      // A write to the file by its path, whatever rights it was opened with.
      const denied = k.policy.check({ syscall: "fd_filestat_set_times", path: entry.path, writes: true });
      if (denied !== 0) fail(denied);
      const [a, m] = decodeTimes(k, atim, mtim, flags);
      // An open file's times are set through its handle: its path may lead elsewhere by now.
      if (entry.handle !== undefined) entry.handle.setTimes(a, m);
      else entry.node.setTimes(a, m);
      return Errno.SUCCESS;
    },

    fd_prestat_get(fd: number, ptr: Ptr): number {
      const entry = k.fds.get(fd);
      if (entry.preopen === undefined) fail(Errno.BADF);
      k.memory.setU32(ptr, 0); // tag: directory (also zeroes the padding)
      k.memory.setU32(ptr + 4, encodeUtf8(entry.preopen).length);
      return Errno.SUCCESS;
    },

    fd_prestat_dir_name(fd: number, pathPtr: Ptr, pathLen: number): number {
      const entry = k.fds.get(fd);
      if (entry.preopen === undefined) fail(Errno.BADF);
      const name = encodeUtf8(entry.preopen);
      if (pathLen >>> 0 < name.length) fail(Errno.NAMETOOLONG);
      k.memory.out(pathPtr, name.length).set(name);
      return Errno.SUCCESS;
    },

    fd_renumber(from: number, to: number): number {
      k.fds.renumber(from, to);
      return Errno.SUCCESS;
    },

    fd_readdir(fd: number, buf: Ptr, bufLen: number, cookie: bigint, bufUsedPtr: Ptr): number {
      const entry = k.fds.dir(fd, Rights.FD_READDIR);
      const dir = entry.node as DirNode;
      const parent = entry.stack.length > 1 ? entry.stack[entry.stack.length - 2]! : dir;
      const entries: Array<[string, { ino: bigint; type: FileType }]> = [
        [".", { ino: dir.stat().ino, type: FileType.DIRECTORY }],
        ["..", { ino: parent.stat().ino, type: FileType.DIRECTORY }],
        ...dir.entries().sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([name, node]): [string, { ino: bigint; type: FileType }] => [name, { ino: node.stat().ino, type: fileTypeOf(node) }]),
      ];
      const out = k.memory.out(buf, bufLen);
      let used = 0;
      for (let i = Number(cookie < 0n || cookie > BigInt(entries.length) ? BigInt(entries.length) : cookie); i < entries.length && used < out.length; i++) {
        const [name, info] = entries[i]!;
        const nameBytes = encodeUtf8(name);
        const record = new Uint8Array(SIZE.DIRENT + nameBytes.length);
        const rv = new DataView(record.buffer);
        rv.setBigUint64(0, BigInt(i + 1), true);
        rv.setBigUint64(8, info.ino, true);
        rv.setUint32(16, nameBytes.length, true);
        rv.setUint8(20, info.type);
        record.set(nameBytes, SIZE.DIRENT);
        // A record that does not fit is written truncated: the guest retries with a larger buffer.
        const n = Math.min(record.length, out.length - used);
        out.set(record.subarray(0, n), used);
        used += n;
      }
      k.memory.setU32(bufUsedPtr, used);
      return Errno.SUCCESS;
    },
  };
}

/** Decodes fstflags: explicit times, "now", or unchanged (null). */
export function decodeTimes(k: Kernel, atim: bigint, mtim: bigint, flags: number): [bigint | null, bigint | null] {
  const ATIM = 1, ATIM_NOW = 2, MTIM = 4, MTIM_NOW = 8;
  if ((flags & ATIM && flags & ATIM_NOW) || (flags & MTIM && flags & MTIM_NOW) || flags & ~15) fail(Errno.INVAL);
  const now = k.identity.realtimeNs();
  const a = flags & ATIM_NOW ? now : flags & ATIM ? atim : null;
  const m = flags & MTIM_NOW ? now : flags & MTIM ? mtim : null;
  return [a, m];
}
