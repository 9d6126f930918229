// The inode interfaces every backend implements. The kernel only sees these;
// it never learns whether a file lives in memory, in the stdlib image or on
// the host. Operations fail by throwing VfsError(errno): the kernel's syscall
// wrapper turns that into the returned errno, so backends stay readable.
import { FileType } from "../shared/wasi.js";
import { Errno } from "../shared/errno.js";

export class VfsError extends Error {
  constructor(readonly errno: Errno, message?: string) {
    super(message ?? `errno ${errno}`);
  }
}
export function fail(errno: Errno, message?: string): never {
  throw new VfsError(errno, message);
}

export interface Stat {
  ino: bigint;
  type: FileType;
  nlink: bigint;
  size: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** Byte and inode budget shared by all writable trees of one sandbox. */
export class Quota {
  bytesUsed = 0;
  inodesUsed = 0;
  constructor(readonly bytesLimit: number, readonly inodesLimit: number) {}

  /** Charges a growth (negative releases); ENOSPC without charging when over. */
  charge(bytes: number, inodes = 0): void {
    if (bytes > 0 && this.bytesUsed + bytes > this.bytesLimit) fail(Errno.NOSPC, "disk quota exceeded");
    if (inodes > 0 && this.inodesUsed + inodes > this.inodesLimit) fail(Errno.NOSPC, "inode quota exceeded");
    this.bytesUsed = Math.max(0, this.bytesUsed + bytes);
    this.inodesUsed = Math.max(0, this.inodesUsed + inodes);
  }
}

/**
 * Virtual inode numbers. Each sandbox has its own counter (shared by all its
 * mounts), so the numbers a guest sees depend on nothing another tenant does.
 */
export class InodeCounter {
  constructor(private next = 1n) {}
  allocate(): bigint {
    return this.next++;
  }
  /** The next number (a save carries it, so that a restored sandbox never reuses one). */
  get peek(): bigint {
    return this.next;
  }
  set peek(next: bigint) {
    this.next = next;
  }
}

/** What a mount shares with all nodes under it. */
export interface MountContext {
  readonly id: number;
  readonly readonly: boolean;
  readonly quota: Quota | null;
  readonly inodes: InodeCounter;
  now(): bigint;
}

export interface VNode {
  readonly kind: "file" | "dir" | "symlink" | "device";
  readonly mount: MountContext;
  stat(): Stat;
  setTimes(atimeNs: bigint | null, mtimeNs: bigint | null): void;
}

/** An open file's view of its node: positioned reads and writes. */
export interface FileHandle {
  read(position: number, length: number): Uint8Array;
  write(position: number, data: Uint8Array): number;
  size(): number;
  truncate(size: number): void;
  stat(): Stat;
  /** Sets the open file's times (null keeps one); acts on the open file, never on a path. */
  setTimes(atimeNs: bigint | null, mtimeNs: bigint | null): void;
  sync(): void;
  close(): void;
  /** What names the underlying file for record locks across sandboxes (a host file's dev:ino); absent: the node itself. */
  readonly lockKey?: string;
}

export interface FileNode extends VNode {
  readonly kind: "file";
  open(flags: { read: boolean; write: boolean; truncate: boolean }): FileHandle;
}

export interface SymlinkNode extends VNode {
  readonly kind: "symlink";
  readlink(): string;
}

/** A stream device (/dev/null, the channel): position-less reads and writes. */
export interface DeviceNode extends VNode {
  readonly kind: "device";
  open(): FileHandle;
}

export interface DirNode extends VNode {
  readonly kind: "dir";
  lookup(name: string): VNode | undefined;
  entries(): Array<[string, VNode]>;
  createFile(name: string): FileNode;
  createDir(name: string): DirNode;
  createSymlink(name: string, target: string): SymlinkNode;
  /** Removes `name` (a non-directory) or, with `dir`, an empty directory. */
  remove(name: string, dir: boolean): void;
  /** Moves `name` to `toDir/toName`; both dirs are on the same mount (checked by the caller). */
  rename(name: string, toDir: DirNode, toName: string): void;
  link(name: string, target: VNode): void;
}

export type AnyNode = FileNode | DirNode | SymlinkNode | DeviceNode;

export function fileTypeOf(node: VNode): FileType {
  switch (node.kind) {
    case "file": return FileType.REGULAR_FILE;
    case "dir": return FileType.DIRECTORY;
    case "symlink": return FileType.SYMBOLIC_LINK;
    case "device": return FileType.CHARACTER_DEVICE;
  }
}

export function assertWritable(mount: MountContext): void {
  if (mount.readonly) fail(Errno.ROFS, "read-only file system");
}
