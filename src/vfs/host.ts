// Host directories mounted into the sandbox, read-only or read-write.
//
// Confinement: the guest never hands us a host path. The resolver walks the
// mount one component at a time through `lookup`, which lstat()s exactly one
// name inside a directory we already hold; host symlinks are read and their
// targets resolved by our resolver inside the sandbox's own tree (an absolute
// target means the sandbox root, not the host's). Files are opened with
// O_NOFOLLOW, and the opened file's (dev, ino) must equal what the walk saw,
// so a symlink swapped in by a concurrent host process is refused (ELOOP).
// Residual risk (documented in the README): a directory higher up the mount
// being swapped between the walk and the open by another host process.
import * as fs from "node:fs";
import * as path from "node:path";
import { Errno, FileType } from "../shared/wasi.js";
import {
  allocIno, assertWritable, fail, VfsError, type DirNode, type FileHandle, type FileNode,
  type MountContext, type Stat, type SymlinkNode, type VNode,
} from "./node.js";

type HostNode = HostDir | HostFile | HostSymlink;

/** Virtual inode numbers for host files, so host inode numbers never reach the guest. */
class InodeMap {
  private readonly map = new Map<string, bigint>();
  /** Host files and directories this sandbox created: only those are credited back to the quota. */
  readonly created = new Set<string>();
  get(st: fs.BigIntStats): bigint {
    const key = `${st.dev}:${st.ino}`;
    let ino = this.map.get(key);
    if (ino === undefined) this.map.set(key, (ino = allocIno()));
    return ino;
  }
}

function hostErrno(error: unknown): never {
  if (error instanceof VfsError) throw error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT": fail(Errno.NOENT);
    case "EEXIST": fail(Errno.EXIST);
    case "ENOTDIR": fail(Errno.NOTDIR);
    case "EISDIR": fail(Errno.ISDIR);
    case "ENOTEMPTY": fail(Errno.NOTEMPTY);
    case "EACCES": fail(Errno.ACCES);
    case "EPERM": fail(Errno.PERM);
    case "ELOOP": fail(Errno.LOOP);
    case "ENOSPC": fail(Errno.NOSPC);
    case "EROFS": fail(Errno.ROFS);
    case "EXDEV": fail(Errno.XDEV);
    case "EINVAL": fail(Errno.INVAL);
    case "ENAMETOOLONG": fail(Errno.NAMETOOLONG);
    case "EMFILE": case "ENFILE": fail(Errno.NFILE);
    default: fail(Errno.IO, `host error ${code ?? String(error)}`);
  }
}

function host<T>(operation: () => T): T {
  try {
    return operation();
  } catch (error) {
    return hostErrno(error);
  }
}

function toStat(ino: bigint, st: fs.BigIntStats): Stat {
  const type = st.isDirectory() ? FileType.DIRECTORY : st.isSymbolicLink() ? FileType.SYMBOLIC_LINK
    : st.isFile() ? FileType.REGULAR_FILE : FileType.UNKNOWN;
  return { ino, type, nlink: st.nlink, size: st.size, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

abstract class HostEntry {
  constructor(readonly mount: MountContext, readonly hostPath: string, protected readonly inodes: InodeMap) {}
  stat(): Stat {
    const st = host(() => fs.lstatSync(this.hostPath, { bigint: true }));
    return toStat(this.inodes.get(st), st);
  }
  setTimes(atimeNs: bigint | null, mtimeNs: bigint | null): void {
    assertWritable(this.mount);
    const st = host(() => fs.lstatSync(this.hostPath, { bigint: true }));
    const seconds = (ns: bigint | null, fallback: bigint) => Number(ns ?? fallback) / 1e9;
    host(() => fs.lutimesSync(this.hostPath, seconds(atimeNs, st.atimeNs), seconds(mtimeNs, st.mtimeNs)));
  }
}

export class HostSymlink extends HostEntry implements SymlinkNode {
  readonly kind = "symlink";
  readlink(): string {
    return host(() => fs.readlinkSync(this.hostPath, "utf8"));
  }
}

export class HostFile extends HostEntry implements FileNode {
  readonly kind = "file";
  constructor(mount: MountContext, hostPath: string, inodes: InodeMap, private readonly seen: fs.BigIntStats) {
    super(mount, hostPath, inodes);
  }

  open(flags: { read: boolean; write: boolean; truncate: boolean }): FileHandle {
    if ((flags.write || flags.truncate) && this.mount.readonly) fail(Errno.ROFS);
    const mode = (flags.write ? fs.constants.O_RDWR : fs.constants.O_RDONLY) | fs.constants.O_NOFOLLOW;
    const fd = host(() => fs.openSync(this.hostPath, mode));
    const st = fs.fstatSync(fd, { bigint: true });
    if (st.dev !== this.seen.dev || st.ino !== this.seen.ino) {
      fs.closeSync(fd);
      fail(Errno.LOOP, "the file changed while it was being opened");
    }
    const handle = new HostFileHandle(this.mount, fd, this.inodes);
    if (flags.truncate) handle.truncate(0);
    return handle;
  }
}

class HostFileHandle implements FileHandle {
  private closed = false;
  constructor(private readonly mount: MountContext, private readonly fd: number, private readonly inodes: InodeMap) {}
  read(position: number, length: number): Uint8Array {
    const buffer = Buffer.alloc(Math.min(length, Math.max(0, this.size() - position)));
    const n = host(() => fs.readSync(this.fd, buffer, 0, buffer.length, position));
    return buffer.subarray(0, n);
  }
  write(position: number, data: Uint8Array): number {
    assertWritable(this.mount);
    const growth = position + data.length - this.size();
    if (growth > 0) this.mount.quota?.charge(growth);
    return host(() => fs.writeSync(this.fd, data, 0, data.length, position));
  }
  size(): number {
    return Number(host(() => fs.fstatSync(this.fd, { bigint: true })).size);
  }
  truncate(size: number): void {
    assertWritable(this.mount);
    this.mount.quota?.charge(size - this.size());
    host(() => fs.ftruncateSync(this.fd, size));
  }
  stat(): Stat {
    const st = host(() => fs.fstatSync(this.fd, { bigint: true }));
    return toStat(this.inodes.get(st), st);
  }
  sync(): void {
    host(() => fs.fsyncSync(this.fd));
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

export class HostDir extends HostEntry implements DirNode {
  readonly kind = "dir";
  constructor(mount: MountContext, hostPath: string, inodes: InodeMap, private readonly seen: fs.BigIntStats) {
    super(mount, hostPath, inodes);
  }

  /**
   * This object names a host directory by path. If the guest has since replaced that
   * directory (or one above it) by a symlink, the path now leads elsewhere: refuse.
   */
  private verify(): void {
    const st = host(() => fs.lstatSync(this.hostPath, { bigint: true }));
    if (!st.isDirectory() || st.dev !== this.seen.dev || st.ino !== this.seen.ino) fail(Errno.NOENT, "the directory was moved or replaced");
  }
  override stat(): Stat {
    this.verify();
    return super.stat();
  }
  override setTimes(atimeNs: bigint | null, mtimeNs: bigint | null): void {
    this.verify();
    super.setTimes(atimeNs, mtimeNs);
  }

  /** Looks up exactly one name inside this directory, without following it. */
  lookup(name: string): VNode | undefined {
    this.verify();
    const child = path.join(this.hostPath, name);
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(child, { bigint: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      return hostErrno(error);
    }
    return this.wrap(child, st);
  }

  private wrap(child: string, st: fs.BigIntStats): HostNode | undefined {
    if (st.isDirectory()) return new HostDir(this.mount, child, this.inodes, st);
    if (st.isSymbolicLink()) return new HostSymlink(this.mount, child, this.inodes);
    if (st.isFile()) return new HostFile(this.mount, child, this.inodes, st);
    return undefined; // sockets, fifos and device files on the host are invisible
  }

  entries(): Array<[string, VNode]> {
    this.verify();
    const names = host(() => fs.readdirSync(this.hostPath));
    const result: Array<[string, VNode]> = [];
    for (const name of names) {
      const node = this.lookup(name);
      if (node !== undefined) result.push([name, node]);
    }
    return result;
  }

  private createWith<T>(name: string, make: (child: string) => void, wrap: (child: string) => T): T {
    assertWritable(this.mount);
    this.verify();
    this.mount.quota?.charge(0, 1);
    const child = path.join(this.hostPath, name);
    host(() => make(child));
    const st = host(() => fs.lstatSync(child, { bigint: true }));
    this.inodes.created.add(`${st.dev}:${st.ino}`);
    return wrap(child);
  }
  createFile(name: string): FileNode {
    return this.createWith(name, (child) => fs.closeSync(fs.openSync(child, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW, 0o644)),
      (child) => new HostFile(this.mount, child, this.inodes, host(() => fs.lstatSync(child, { bigint: true }))));
  }
  createDir(name: string): DirNode {
    return this.createWith(name, (child) => fs.mkdirSync(child, 0o755), (child) => new HostDir(this.mount, child, this.inodes, host(() => fs.lstatSync(child, { bigint: true }))));
  }
  createSymlink(name: string, target: string): SymlinkNode {
    // The target is stored as the guest wrote it; it is only ever resolved by our resolver.
    return this.createWith(name, (child) => fs.symlinkSync(target, child), (child) => new HostSymlink(this.mount, child, this.inodes));
  }
  remove(name: string, dir: boolean): void {
    assertWritable(this.mount);
    this.verify();
    const child = path.join(this.hostPath, name);
    const st = host(() => fs.lstatSync(child, { bigint: true }));
    if (dir) {
      if (!st.isDirectory()) fail(Errno.NOTDIR);
      host(() => fs.rmdirSync(child));
    } else {
      if (st.isDirectory()) fail(Errno.ISDIR);
      host(() => fs.unlinkSync(child));
    }
    // Only what this sandbox created was charged: a pre-existing host file gives no credit.
    if ((dir || st.nlink <= 1n) && this.inodes.created.delete(`${st.dev}:${st.ino}`)) this.mount.quota?.charge(dir ? 0 : -Number(st.size), -1);
  }
  rename(name: string, toDir: DirNode, toName: string): void {
    assertWritable(this.mount);
    if (!(toDir instanceof HostDir)) fail(Errno.XDEV);
    this.verify();
    toDir.verify();
    host(() => fs.renameSync(path.join(this.hostPath, name), path.join(toDir.hostPath, toName)));
  }
  link(name: string, target: VNode): void {
    assertWritable(this.mount);
    if (!(target instanceof HostFile)) fail(Errno.PERM);
    this.verify();
    host(() => fs.linkSync(target.hostPath, path.join(this.hostPath, name)));
  }
}

/** Opens a host directory as a mount root; the caller has checked it exists. */
export function hostMountRoot(mount: MountContext, hostPath: string): HostDir {
  const real = fs.realpathSync(hostPath);
  if (!fs.statSync(real).isDirectory()) throw new Error(`not a directory: ${hostPath}`);
  return new HostDir(mount, real, new InodeMap(), fs.lstatSync(real, { bigint: true }));
}
