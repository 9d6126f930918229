// path_* syscalls. Every one resolves through the single resolver
// (src/vfs/resolve.ts) from the directory fd's stack, asks the policy with the
// resolved sandbox path, and only then touches a backend.
import { LOOKUP_SYMLINK_FOLLOW, OFlags, Rights, RIGHTS_DIR, RIGHTS_FILE, FdFlags } from "../shared/wasi.js";
import { Errno } from "../shared/errno.js";
import { fail, type DeviceNode, type DirNode, type FileNode, type SymlinkNode, type VNode } from "../vfs/node.js";
import { MAX_PATH_BYTES, resolve, type Resolved } from "../vfs/resolve.js";
import { decodeTimes, writeFilestat } from "./syscalls-fd.js";
import type { Kernel } from "./kernel.js";
import { encodeUtf8 } from "./memory.js";

type Ptr = number;

export function pathSyscalls(k: Kernel) {
  /**
   * Resolves a guest path relative to a directory fd and applies the policy to
   * the resolved path. `subtree`: the call moves or removes the name with all
   * below it, so a rule on any path below counts too (see SyscallQuery).
   */
  const lookup = (call: string, dirfd: number, rights: bigint, pathPtr: Ptr, pathLen: number, follow: boolean, writes: boolean, subtree = false): Resolved => {
    const dir = k.fds.dir(dirfd, rights);
    const path = k.memory.path(pathPtr, pathLen, MAX_PATH_BYTES);
    // For the trace when resolution fails; replaced by the resolved path when it succeeds.
    k.tracePath = path.startsWith("/") ? path : "/" + [...dir.names, path].join("/");
    const found = resolve(k.tree.root, dir.stack, path, follow, dir.names);
    k.tracePath = found.path;
    const errno = k.policy.check({ syscall: call, path: found.path, writes, subtree });
    if (errno !== 0) fail(errno);
    return found;
  };
  const parentOf = (found: Resolved): DirNode => found.parents[found.parents.length - 1]!;
  /** Operations that need a real final name ("." and ".." cannot be created, removed or renamed). */
  const named = (found: Resolved): string => {
    if (found.name === ".") fail(found.node !== undefined ? Errno.EXIST : Errno.INVAL);
    return found.name;
  };
  const sameMount = (a: VNode, b: VNode) => {
    if (a.mount.id !== b.mount.id) fail(Errno.XDEV, "cross-mount link or rename");
  };

  return {
    path_open(dirfd: number, dirflags: number, pathPtr: Ptr, pathLen: number, oflags: number,
      rightsBase: bigint, rightsInheriting: bigint, fdflags: number, fdPtr: Ptr): number {
      if (dirflags & ~LOOKUP_SYMLINK_FOLLOW || oflags & ~0xf || fdflags & ~0x1f) fail(Errno.INVAL);
      const wantsWrite = (rightsBase & (Rights.FD_WRITE | Rights.FD_ALLOCATE | Rights.FD_FILESTAT_SET_SIZE)) !== 0n
        || (oflags & (OFlags.CREAT | OFlags.TRUNC)) !== 0 || (fdflags & FdFlags.APPEND) !== 0;
      const follow = (dirflags & LOOKUP_SYMLINK_FOLLOW) !== 0;
      const found = lookup("path_open", dirfd, Rights.PATH_OPEN, pathPtr, pathLen, follow, wantsWrite);
      let node = found.node;
      if (node === undefined) {
        if (!(oflags & OFlags.CREAT)) fail(Errno.NOENT);
        if (found.trailingSlash || oflags & OFlags.DIRECTORY) fail(Errno.ISDIR);
        node = parentOf(found).createFile(named(found));
      } else if (oflags & OFlags.CREAT && oflags & OFlags.EXCL) {
        fail(Errno.EXIST);
      }
      if (node.kind === "symlink") fail(Errno.LOOP, "the final component is a symlink (O_NOFOLLOW)");
      if (oflags & OFlags.DIRECTORY && node.kind !== "dir") fail(Errno.NOTDIR);
      const base = k.fds.dir(dirfd);
      const inherit = base.rightsInheriting;
      if (node.kind === "dir") {
        if ((rightsBase & Rights.FD_WRITE) !== 0n || oflags & OFlags.TRUNC) fail(Errno.ISDIR);
        const stack = [...found.parents, node as DirNode];
        const names = found.path.split("/").filter((part) => part !== "");
        k.memory.setU32(fdPtr, k.fds.add({ kind: "dir", node, stack, names, path: found.path, position: 0, append: false, fdflags, rightsBase: rightsBase & inherit & RIGHTS_DIR, rightsInheriting: rightsInheriting & inherit }));
        return Errno.SUCCESS;
      }
      const read = (rightsBase & Rights.FD_READ) !== 0n;
      const write = (rightsBase & Rights.FD_WRITE) !== 0n;
      const handle = node.kind === "device" ? (node as DeviceNode).open()
        : (node as FileNode).open({ read, write, truncate: (oflags & OFlags.TRUNC) !== 0 });
      k.memory.setU32(fdPtr, k.fds.add({
        kind: node.kind === "device" ? "stream" : "file", node, handle, path: found.path, position: 0,
        append: (fdflags & FdFlags.APPEND) !== 0, fdflags, rightsBase: rightsBase & inherit & RIGHTS_FILE, rightsInheriting: 0n,
      }));
      return Errno.SUCCESS;
    },

    path_filestat_get(dirfd: number, flags: number, pathPtr: Ptr, pathLen: number, statPtr: Ptr): number {
      const found = lookup("path_filestat_get", dirfd, Rights.PATH_FILESTAT_GET, pathPtr, pathLen, (flags & LOOKUP_SYMLINK_FOLLOW) !== 0, false);
      if (found.node === undefined) fail(Errno.NOENT);
      writeFilestat(k.memory, statPtr, found.node.stat());
      return Errno.SUCCESS;
    },

    path_filestat_set_times(dirfd: number, flags: number, pathPtr: Ptr, pathLen: number, atim: bigint, mtim: bigint, fstflags: number): number {
      const found = lookup("path_filestat_set_times", dirfd, Rights.PATH_FILESTAT_SET_TIMES, pathPtr, pathLen, (flags & LOOKUP_SYMLINK_FOLLOW) !== 0, true);
      if (found.node === undefined) fail(Errno.NOENT);
      const [a, m] = decodeTimes(k, atim, mtim, fstflags);
      found.node.setTimes(a, m);
      return Errno.SUCCESS;
    },

    path_create_directory(dirfd: number, pathPtr: Ptr, pathLen: number): number {
      const found = lookup("path_create_directory", dirfd, Rights.PATH_CREATE_DIRECTORY, pathPtr, pathLen, false, true);
      if (found.node !== undefined) fail(Errno.EXIST);
      parentOf(found).createDir(named(found));
      return Errno.SUCCESS;
    },

    path_remove_directory(dirfd: number, pathPtr: Ptr, pathLen: number): number {
      const found = lookup("path_remove_directory", dirfd, Rights.PATH_REMOVE_DIRECTORY, pathPtr, pathLen, false, true, true);
      if (found.name === ".") fail(Errno.INVAL);
      if (found.node === undefined) fail(Errno.NOENT);
      if (found.node.kind !== "dir") fail(Errno.NOTDIR);
      parentOf(found).remove(found.name, true);
      return Errno.SUCCESS;
    },

    path_unlink_file(dirfd: number, pathPtr: Ptr, pathLen: number): number {
      const found = lookup("path_unlink_file", dirfd, Rights.PATH_UNLINK_FILE, pathPtr, pathLen, false, true, true);
      if (found.name === "." || found.node?.kind === "dir") fail(Errno.ISDIR);
      if (found.node === undefined) fail(Errno.NOENT);
      if (found.trailingSlash) fail(Errno.NOTDIR);
      parentOf(found).remove(found.name, false);
      return Errno.SUCCESS;
    },

    path_rename(fromFd: number, fromPtr: Ptr, fromLen: number, toFd: number, toPtr: Ptr, toLen: number): number {
      const from = lookup("path_rename", fromFd, Rights.PATH_RENAME_SOURCE, fromPtr, fromLen, false, true, true);
      const to = lookup("path_rename", toFd, Rights.PATH_RENAME_TARGET, toPtr, toLen, false, true, true);
      if (from.node === undefined) fail(Errno.NOENT);
      if ((from.trailingSlash || to.trailingSlash) && from.node.kind !== "dir") fail(Errno.NOTDIR);
      sameMount(parentOf(from), parentOf(to));
      parentOf(from).rename(named(from), parentOf(to), named(to));
      return Errno.SUCCESS;
    },

    path_link(oldFd: number, oldFlags: number, oldPtr: Ptr, oldLen: number, newFd: number, newPtr: Ptr, newLen: number): number {
      // The source with write intent: a new name for a protected file would be a way to write it.
      const from = lookup("path_link", oldFd, Rights.PATH_LINK_SOURCE, oldPtr, oldLen, (oldFlags & LOOKUP_SYMLINK_FOLLOW) !== 0, true);
      const to = lookup("path_link", newFd, Rights.PATH_LINK_TARGET, newPtr, newLen, false, true);
      if (from.node === undefined) fail(Errno.NOENT);
      if (from.node.kind === "dir") fail(Errno.PERM);
      if (to.node !== undefined) fail(Errno.EXIST);
      sameMount(from.node, parentOf(to));
      parentOf(to).link(named(to), from.node);
      return Errno.SUCCESS;
    },

    path_symlink(targetPtr: Ptr, targetLen: number, dirfd: number, pathPtr: Ptr, pathLen: number): number {
      const target = k.memory.path(targetPtr, targetLen, MAX_PATH_BYTES);
      if (target.includes("\0")) fail(Errno.INVAL);
      const found = lookup("path_symlink", dirfd, Rights.PATH_SYMLINK, pathPtr, pathLen, false, true);
      if (found.node !== undefined) fail(Errno.EXIST);
      if (found.trailingSlash) fail(Errno.NOENT);
      parentOf(found).createSymlink(named(found), target);
      return Errno.SUCCESS;
    },

    path_readlink(dirfd: number, pathPtr: Ptr, pathLen: number, buf: Ptr, bufLen: number, usedPtr: Ptr): number {
      const found = lookup("path_readlink", dirfd, Rights.PATH_READLINK, pathPtr, pathLen, false, false);
      if (found.node === undefined) fail(Errno.NOENT);
      if (found.node.kind !== "symlink") fail(Errno.INVAL);
      const target = encodeUtf8((found.node as SymlinkNode).readlink());
      const n = Math.min(target.length, bufLen >>> 0);
      k.memory.out(buf, n).set(target.subarray(0, n));
      k.memory.setU32(usedPtr, n);
      return Errno.SUCCESS;
    },
  };
}
