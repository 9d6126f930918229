// Host directories mounted into the sandbox, read-only or read-write.
//
// Confinement is by handle, never by path. A mount holds an open handle on its
// root; every directory below it is reached by opening one name at a time
// inside the handle of its parent, with O_NOFOLLOW|O_DIRECTORY, and every
// operation (lookup, open, create, remove, rename, link, times) names its
// target as one component inside such a handle. Node's fs has no openat(), so
// the handle is addressed as /proc/self/fd/N/NAME: the kernel resolves the
// /proc magic link to the directory the fd holds, wherever it now is, and then
// looks up NAME inside it; NAME is a single component, and every call here
// either does not follow a final symlink (lstat, unlink, rename, link, lutimes,
// mkdir, symlink) or refuses one (O_NOFOLLOW). So no concurrent change of the
// host tree, by another sandbox, another pyvisor or any host process, can make
// an operation act outside the mount: the worst it can do is make one fail.
// Directory handles are cached per mount (least recently used first out) and
// reopened from their parent when needed, checked against the identity (dev,
// ino) seen when the directory was first looked up.
//
// Symlinks: the guest may not make host symlinks unless the mount allows them,
// and then only targets that stay inside the mount (see checkedLinkTarget).
// Host symlinks already in the mount are shown with sandbox targets only:
// a target that leaves the mount is dangling (ENOENT), so no host path text
// reaches the guest.
import * as fs from "node:fs";
import { FileType } from "../shared/wasi.js";
import { Errno } from "../shared/errno.js";
import {
  assertWritable, fail, VfsError, type DirNode, type FileHandle, type FileNode,
  type MountContext, type Stat, type SymlinkNode, type VNode,
} from "./node.js";

const O = fs.constants;
const PROC_FD = "/proc/self/fd";
/** Directory handles a mount keeps open (beyond its root); older ones are closed and reopened on demand. */
export const MAX_CACHED_DIR_HANDLES = 32;
// O_NONBLOCK: if a FIFO is swapped in for a file between lookup and open, the
// open must not wait for a writer (the identity check then refuses it).
const DIR_OPEN = O.O_RDONLY | O.O_DIRECTORY | O.O_NOFOLLOW | O.O_NONBLOCK;

type Identity = Pick<fs.BigIntStats, "dev" | "ino">;
const keyOf = (st: Identity) => `${st.dev}:${st.ino}`;

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
    case "EDQUOT": fail(Errno.DQUOT);
    case "EROFS": fail(Errno.ROFS);
    case "EXDEV": fail(Errno.XDEV);
    case "EINVAL": fail(Errno.INVAL);
    case "EBUSY": fail(Errno.BUSY);
    case "EMLINK": fail(Errno.MLINK);
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

/** A single name inside a directory handle: never empty, `.`, `..` or containing `/` or NUL. */
function checkName(name: string): string {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) fail(Errno.INVAL, "not a single path component");
  return name;
}
function inside(dirFd: number, name: string): string {
  return `${PROC_FD}/${dirFd}/${checkName(name)}`;
}
const secondsOf = (ns: bigint | null, fallback: bigint) => Number(ns ?? fallback) / 1e9;

/**
 * Where a symlink target leads, counted in directories below the mount root,
 * starting from a link whose directory is `depth` levels down; null when it
 * leaves the mount. Only leading `..` are accepted: after a name, `..` would be
 * taken by the host from wherever that name (maybe a symlink) leads.
 */
function staysInside(target: string, depth: number): boolean {
  let seenName = false;
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part !== "..") seenName = true;
    else if (seenName || --depth < 0) return false;
  }
  return true;
}

/** The mount's real root path and an open handle on it; a handle of -1 when it is no longer there. */
function openRoot(hostPath: string): [string, number] {
  try {
    const real = fs.realpathSync(hostPath);
    return [real, fs.openSync(real, O.O_RDONLY | O.O_DIRECTORY)];
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return [hostPath, -1];
    throw error;
  }
}

/** One mount of one sandbox: its handles, inode numbers and what it charged to the quota. */
export class HostMount {
  readonly root: HostDir;
  private readonly hostRoot: string;
  private readonly guestPath: string;
  private readonly allowSymlinks: boolean;
  private readonly stampTimes: boolean;
  private readonly rootFd: number;
  /** dev:ino -> open directory handle, least recently used first. */
  private readonly dirHandles = new Map<string, number>();
  private readonly inodeNumbers = new Map<string, bigint>();
  /** Names this sandbox made, by identity: each was charged one inode. */
  private readonly chargedNames = new Map<string, number>();
  /** Files and directories this sandbox created: only their bytes are credited back. */
  private readonly created = new Set<string>();
  /** Open file handles by identity, and created files unlinked while open (credited at last close). */
  private readonly openFiles = new Map<string, number>();
  private readonly unlinkedOpen = new Set<string>();
  private closed = false;

  constructor(readonly context: MountContext, spec: { hostPath: string; guestPath: string; allowSymlinks?: boolean; deterministic?: boolean }) {
    this.guestPath = spec.guestPath.replace(/\/+$/, "");
    this.allowSymlinks = spec.allowSymlinks === true;
    this.stampTimes = spec.deterministic === true;
    // The options were checked on the host: a directory gone since (a sandbox
    // re-created after its worker died) is mounted as gone, as a running sandbox
    // sees it (ENOENT), rather than failing the sandbox's every run.
    [this.hostRoot, this.rootFd] = openRoot(spec.hostPath);
    try {
      if (this.rootFd >= 0 && !fs.existsSync(`${PROC_FD}/${this.rootFd}`)) throw new Error("host mounts need /proc/self/fd (Linux)");
      this.root = new HostDir(this, null, "", this.rootFd >= 0 ? fs.fstatSync(this.rootFd, { bigint: true }) : { dev: -1n, ino: -1n });
    } catch (error) {
      if (this.rootFd >= 0) fs.closeSync(this.rootFd);
      throw error;
    }
  }

  /** The open handle of `dir`, reopened from its parent's handle if it was closed. */
  handleOf(dir: HostDir): number {
    if (this.closed) fail(Errno.BADF, "the sandbox is gone");
    if (dir.parent === null) return this.rootFd >= 0 ? this.rootFd : fail(Errno.NOENT, "the mounted host directory is gone");
    const key = keyOf(dir.seen);
    const cached = this.dirHandles.get(key);
    if (cached !== undefined) {
      this.dirHandles.delete(key);
      this.dirHandles.set(key, cached);
      return cached;
    }
    const fd = host(() => fs.openSync(inside(this.handleOf(dir.parent!), dir.name), DIR_OPEN));
    this.remember(key, fd, dir.seen);
    return fd;
  }

  /** Opens `name` inside `parent` as a directory, without following it. */
  openDir(parent: HostDir, name: string): HostDir {
    const fd = host(() => fs.openSync(inside(parent.handle(), name), DIR_OPEN));
    const st = fs.fstatSync(fd, { bigint: true });
    this.remember(keyOf(st), fd, st);
    return new HostDir(this, parent, name, st);
  }

  private remember(key: string, fd: number, expected: Identity): void {
    const st = fs.fstatSync(fd, { bigint: true });
    if (st.dev !== expected.dev || st.ino !== expected.ino || !st.isDirectory()) {
      fs.closeSync(fd);
      fail(Errno.NOENT, "the directory was moved or replaced");
    }
    const old = this.dirHandles.get(key);
    if (old !== undefined && old !== fd) fs.closeSync(old);
    this.dirHandles.delete(key);
    this.dirHandles.set(key, fd);
    while (this.dirHandles.size > MAX_CACHED_DIR_HANDLES) {
      const [oldest, oldFd] = this.dirHandles.entries().next().value as [string, number];
      this.dirHandles.delete(oldest);
      fs.closeSync(oldFd);
    }
  }
  forgetDir(st: Identity): void {
    const fd = this.dirHandles.get(keyOf(st));
    if (fd === undefined) return;
    this.dirHandles.delete(keyOf(st));
    fs.closeSync(fd);
  }

  /** Virtual inode numbers, so host inode numbers never reach the guest. */
  inodeOf(st: Identity): bigint {
    const key = keyOf(st);
    let ino = this.inodeNumbers.get(key);
    if (ino === undefined) this.inodeNumbers.set(key, (ino = this.context.inodes.allocate()));
    return ino;
  }
  toStat(st: fs.BigIntStats): Stat {
    const type = st.isDirectory() ? FileType.DIRECTORY : st.isSymbolicLink() ? FileType.SYMBOLIC_LINK
      : st.isFile() ? FileType.REGULAR_FILE : FileType.UNKNOWN;
    // With a fixed clock, atime and ctime (which the host kernel sets to its own
    // now on reads and changes) would leak the host's clock: show mtime instead.
    const [atimeNs, ctimeNs] = this.stampTimes ? [st.mtimeNs, st.mtimeNs] : [st.atimeNs, st.ctimeNs];
    return { ino: this.inodeOf(st), type, nlink: st.nlink, size: st.size, atimeNs, mtimeNs: st.mtimeNs, ctimeNs };
  }

  /** With a fixed clock, what the guest changes carries the sandbox's time, never the host's. */
  stamp(fd: number): void {
    if (!this.stampTimes) return;
    const seconds = Number(this.context.now()) / 1e9;
    host(() => fs.futimesSync(fd, seconds, seconds));
  }
  stampLink(where: string): void {
    if (!this.stampTimes) return;
    const seconds = Number(this.context.now()) / 1e9;
    host(() => fs.lutimesSync(where, seconds, seconds));
  }

  // Accounting: every name made costs an inode; the bytes of a file this
  // sandbox created come back when its last name is gone and no handle is open.
  chargeName(st: Identity, created: boolean): void {
    const key = keyOf(st);
    this.chargedNames.set(key, (this.chargedNames.get(key) ?? 0) + 1);
    if (created) this.created.add(key);
  }
  nameRemoved(st: fs.BigIntStats): void {
    const key = keyOf(st);
    const names = this.chargedNames.get(key) ?? 0;
    if (names > 0) {
      this.chargedNames.set(key, names - 1);
      this.context.quota?.charge(0, -1);
    }
    if (st.isDirectory()) {
      this.created.delete(key);
      this.forgetDir(st);
      return;
    }
    if (st.nlink > 1n || !this.created.has(key)) return;
    this.created.delete(key);
    if ((this.openFiles.get(key) ?? 0) > 0) this.unlinkedOpen.add(key);
    else this.context.quota?.charge(-Number(st.size));
  }
  fileOpened(st: Identity): void {
    const key = keyOf(st);
    this.openFiles.set(key, (this.openFiles.get(key) ?? 0) + 1);
  }
  fileClosing(st: Identity, size: number): void {
    const key = keyOf(st);
    const open = (this.openFiles.get(key) ?? 1) - 1;
    if (open > 0) {
      this.openFiles.set(key, open);
      return;
    }
    this.openFiles.delete(key);
    if (this.unlinkedOpen.delete(key)) this.context.quota?.charge(-size);
  }

  /** The target a guest-made symlink may store: relative, leading `..` only, inside the mount. */
  checkedLinkTarget(target: string, depth: number): string {
    if (!this.allowSymlinks) fail(Errno.PERM, "symlinks are not allowed in this mount");
    let relative = target;
    if (target.startsWith("/")) {
      // A sandbox path into this mount is stored relative to the link, so it means the same on the host.
      if (target !== this.guestPath && !target.startsWith(this.guestPath + "/")) fail(Errno.PERM, "a symlink in a mount must point inside it");
      relative = "../".repeat(depth) + (target.slice(this.guestPath.length + 1) || ".");
    }
    if (!staysInside(relative, depth)) fail(Errno.PERM, "a symlink in a mount must point inside it");
    return relative;
  }

  /** A host symlink's target as the sandbox sees it; ENOENT when it leads outside the mount. */
  sandboxTarget(raw: string, depth: number): string {
    if (raw.startsWith("/")) {
      if (raw === this.hostRoot || raw.startsWith(this.hostRoot + "/")) return this.guestPath + raw.slice(this.hostRoot.length);
    } else if (staysInside(raw, depth)) {
      return raw;
    }
    // To the sandbox it leads nowhere, like a dangling link; its host text is never shown.
    return fail(Errno.NOENT, "the host symlink leads outside the mount");
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of this.dirHandles.values()) fs.closeSync(fd);
    this.dirHandles.clear();
    if (this.rootFd >= 0) fs.closeSync(this.rootFd);
  }
}

/** A name inside a host directory: the parent's handle and one component. */
abstract class HostEntry {
  constructor(readonly mount: MountContext, protected readonly host: HostMount, readonly parent: HostDir | null, readonly name: string) {}
  /** The path that reaches this entry through its parent's open handle. */
  protected where(): string {
    return inside(this.parent!.handle(), this.name);
  }
  stat(): Stat {
    return this.host.toStat(host(() => fs.lstatSync(this.where(), { bigint: true })));
  }
  setTimes(atimeNs: bigint | null, mtimeNs: bigint | null): void {
    assertWritable(this.mount);
    const where = this.where();
    const st = host(() => fs.lstatSync(where, { bigint: true }));
    host(() => fs.lutimesSync(where, secondsOf(atimeNs, st.atimeNs), secondsOf(mtimeNs, st.mtimeNs)));
  }
}

export class HostSymlink extends HostEntry implements SymlinkNode {
  readonly kind = "symlink";
  readlink(): string {
    return this.host.sandboxTarget(host(() => fs.readlinkSync(this.where(), "utf8")), this.parent!.depth);
  }
}

export class HostFile extends HostEntry implements FileNode {
  readonly kind = "file";
  constructor(host: HostMount, parent: HostDir, name: string, private readonly seen: Identity) {
    super(host.context, host, parent, name);
  }

  open(flags: { read: boolean; write: boolean; truncate: boolean }): FileHandle {
    if ((flags.write || flags.truncate) && this.mount.readonly) fail(Errno.ROFS);
    const mode = (flags.write || flags.truncate ? O.O_RDWR : O.O_RDONLY) | O.O_NOFOLLOW | O.O_NONBLOCK;
    const fd = host(() => fs.openSync(this.where(), mode));
    const st = fs.fstatSync(fd, { bigint: true });
    if (st.dev !== this.seen.dev || st.ino !== this.seen.ino || !st.isFile()) {
      fs.closeSync(fd);
      fail(Errno.LOOP, "the file changed while it was being opened");
    }
    const handle = new HostFileHandle(this.host, fd, st);
    if (flags.truncate) handle.truncate(0);
    return handle;
  }
  linkSource(): string {
    return this.where();
  }
}

/** An open host file: everything acts on the fd, never on a path. */
class HostFileHandle implements FileHandle {
  private closed = false;
  private readonly mount: MountContext;
  /** Every sandbox that opens this host file gets the same key: their record locks meet (kernel/locks.ts). */
  readonly lockKey: string;
  constructor(private readonly host: HostMount, private readonly fd: number, private readonly identity: Identity) {
    this.mount = host.context;
    this.lockKey = `host:${keyOf(identity)}`;
    host.fileOpened(identity);
  }
  read(position: number, length: number): Uint8Array {
    const buffer = Buffer.alloc(Math.min(length, Math.max(0, this.size() - position)));
    const n = host(() => fs.readSync(this.fd, buffer, 0, buffer.length, position));
    return buffer.subarray(0, n);
  }
  write(position: number, data: Uint8Array): number {
    assertWritable(this.mount);
    const before = this.size();
    const growth = Math.max(0, position + data.length - before);
    this.mount.quota?.charge(growth);
    let written = 0;
    try {
      written = host(() => fs.writeSync(this.fd, data, 0, data.length, position));
    } finally {
      // Only what reached the file stays charged: a short or failed write (a full host disk) gives back the rest.
      this.mount.quota?.charge(Math.max(0, position + written - before) - growth);
    }
    this.host.stamp(this.fd);
    return written;
  }
  size(): number {
    return Number(host(() => fs.fstatSync(this.fd, { bigint: true })).size);
  }
  truncate(size: number): void {
    assertWritable(this.mount);
    const change = size - this.size();
    this.mount.quota?.charge(change);
    try {
      host(() => fs.ftruncateSync(this.fd, size));
    } catch (error) {
      this.mount.quota?.charge(-change);
      throw error;
    }
    this.host.stamp(this.fd);
  }
  stat(): Stat {
    return this.host.toStat(host(() => fs.fstatSync(this.fd, { bigint: true })));
  }
  setTimes(atimeNs: bigint | null, mtimeNs: bigint | null): void {
    assertWritable(this.mount);
    const st = host(() => fs.fstatSync(this.fd, { bigint: true }));
    host(() => fs.futimesSync(this.fd, secondsOf(atimeNs, st.atimeNs), secondsOf(mtimeNs, st.mtimeNs)));
  }
  sync(): void {
    host(() => fs.fsyncSync(this.fd));
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    let size = 0;
    try {
      size = this.size();
    } catch {
      // the size is only needed to credit an unlinked file; zero credits nothing
    }
    this.host.fileClosing(this.identity, size);
    fs.closeSync(this.fd);
  }
}

export class HostDir extends HostEntry implements DirNode {
  readonly kind = "dir";
  /** Directories between the mount root and this one (the root is 0). */
  readonly depth: number;
  constructor(host: HostMount, parent: HostDir | null, name: string, readonly seen: Identity) {
    super(host.context, host, parent, name);
    this.depth = parent === null ? 0 : parent.depth + 1;
  }
  handle(): number {
    return this.host.handleOf(this);
  }

  override stat(): Stat {
    return this.host.toStat(host(() => fs.fstatSync(this.handle(), { bigint: true })));
  }
  override setTimes(atimeNs: bigint | null, mtimeNs: bigint | null): void {
    assertWritable(this.mount);
    const fd = this.handle();
    const st = host(() => fs.fstatSync(fd, { bigint: true }));
    host(() => fs.futimesSync(fd, secondsOf(atimeNs, st.atimeNs), secondsOf(mtimeNs, st.mtimeNs)));
  }

  /** Looks up exactly one name inside this directory, without following it. */
  lookup(name: string): VNode | undefined {
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(inside(this.handle(), name), { bigint: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      return hostErrno(error);
    }
    if (st.isDirectory()) return new HostDir(this.host, this, name, st);
    if (st.isSymbolicLink()) return new HostSymlink(this.mount, this.host, this, name);
    if (st.isFile()) return new HostFile(this.host, this, name, st);
    return undefined; // sockets, fifos and device files on the host are invisible
  }

  entries(): Array<[string, VNode]> {
    const names = host(() => fs.readdirSync(`${PROC_FD}/${this.handle()}`));
    const result: Array<[string, VNode]> = [];
    for (const name of names) {
      const node = this.lookup(name);
      if (node !== undefined) result.push([name, node]);
    }
    return result;
  }

  private statAt(where: string): fs.BigIntStats | undefined {
    try {
      return fs.lstatSync(where, { bigint: true });
    } catch {
      return undefined;
    }
  }

  private beforeCreate(): void {
    assertWritable(this.mount);
    this.mount.quota?.charge(0, 1);
  }
  private afterFailedCreate(): void {
    this.mount.quota?.charge(0, -1);
  }
  private create<T>(make: () => [T, Identity], created: boolean): T {
    this.beforeCreate();
    let made: [T, Identity];
    try {
      made = make();
    } catch (error) {
      this.afterFailedCreate();
      throw error;
    }
    this.host.chargeName(made[1], created);
    this.host.stamp(this.handle());
    return made[0];
  }

  createFile(name: string): FileNode {
    return this.create(() => {
      const fd = host(() => fs.openSync(inside(this.handle(), name), O.O_CREAT | O.O_EXCL | O.O_WRONLY | O.O_NOFOLLOW, 0o644));
      try {
        this.host.stamp(fd);
        const st = fs.fstatSync(fd, { bigint: true });
        return [new HostFile(this.host, this, name, st), st];
      } finally {
        fs.closeSync(fd);
      }
    }, true);
  }
  createDir(name: string): DirNode {
    return this.create(() => {
      host(() => fs.mkdirSync(inside(this.handle(), name), 0o755));
      const dir = this.host.openDir(this, name);
      this.host.stamp(dir.handle());
      return [dir, dir.seen];
    }, true);
  }
  createSymlink(name: string, target: string): SymlinkNode {
    assertWritable(this.mount);
    const stored = this.host.checkedLinkTarget(target, this.depth);
    return this.create(() => {
      const where = inside(this.handle(), name);
      host(() => fs.symlinkSync(stored, where));
      this.host.stampLink(where);
      return [new HostSymlink(this.mount, this.host, this, name), host(() => fs.lstatSync(where, { bigint: true }))];
    }, true);
  }
  link(name: string, target: VNode): void {
    assertWritable(this.mount);
    if (!(target instanceof HostFile)) fail(Errno.PERM, "only files can be linked in a host mount");
    if (target.mount !== this.mount) fail(Errno.XDEV);
    this.create(() => {
      const where = inside(this.handle(), name);
      host(() => fs.linkSync(target.linkSource(), where));
      return [undefined, host(() => fs.lstatSync(where, { bigint: true }))];
    }, false);
  }

  remove(name: string, dir: boolean): void {
    assertWritable(this.mount);
    const where = inside(this.handle(), name);
    const st = host(() => fs.lstatSync(where, { bigint: true }));
    if (dir) {
      if (!st.isDirectory()) fail(Errno.NOTDIR);
      host(() => fs.rmdirSync(where));
    } else {
      if (st.isDirectory()) fail(Errno.ISDIR);
      host(() => fs.unlinkSync(where));
    }
    this.host.nameRemoved(st);
    this.host.stamp(this.handle());
  }
  rename(name: string, toDir: DirNode, toName: string): void {
    assertWritable(this.mount);
    if (!(toDir instanceof HostDir) || toDir.mount !== this.mount) fail(Errno.XDEV);
    const from = inside(this.handle(), name);
    const to = inside(toDir.handle(), toName);
    const replaced = this.statAt(to);
    host(() => fs.renameSync(from, to));
    this.host.stamp(this.handle());
    this.host.stamp(toDir.handle());
    if (replaced !== undefined && !(replaced.dev === this.statAt(to)?.dev && replaced.ino === this.statAt(to)?.ino)) this.host.nameRemoved(replaced);
  }
}
