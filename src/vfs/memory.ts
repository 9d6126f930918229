// In-memory trees: the writable /tmp and working directory (charged to the
// sandbox's quota) and, read-only, the stdlib image (file data are views into
// one shared buffer, never copied per sandbox).
import { FileType } from "../shared/wasi.js";
import { Errno } from "../shared/errno.js";
import {
  assertWritable, fail, type DirNode, type FileHandle, type FileNode, type MountContext,
  type Stat, type SymlinkNode, type VNode,
} from "./node.js";

/** Largest single file, so that a guest cannot ask for a 4 GiB buffer in one write. */
const MAX_FILE_BYTES = 2 ** 31 - 1;
/** A shrunk file keeps at most twice its length plus this much buffer. */
const SHRINK_SLACK_BYTES = 64 * 1024;

abstract class MemNode {
  readonly ino: bigint;
  nlink = 1;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  constructor(readonly mount: MountContext) {
    this.ino = mount.inodes.allocate();
    this.atimeNs = this.mtimeNs = this.ctimeNs = mount.now();
  }
  abstract type: FileType;
  abstract byteSize(): number;
  stat(): Stat {
    return {
      ino: this.ino, type: this.type, nlink: BigInt(this.nlink), size: BigInt(this.byteSize()),
      atimeNs: this.atimeNs, mtimeNs: this.mtimeNs, ctimeNs: this.ctimeNs,
    };
  }
  setTimes(atimeNs: bigint | null, mtimeNs: bigint | null): void {
    assertWritable(this.mount);
    if (atimeNs !== null) this.atimeNs = atimeNs;
    if (mtimeNs !== null) this.mtimeNs = mtimeNs;
    this.ctimeNs = this.mount.now();
  }
  touch(): void {
    this.mtimeNs = this.ctimeNs = this.mount.now();
  }
}

export class MemFile extends MemNode implements FileNode {
  readonly kind = "file";
  readonly type = FileType.REGULAR_FILE;
  private data: Uint8Array;
  private length: number;
  /** Open handles: an unlinked file keeps its bytes charged until the last one closes. */
  private openHandles = 0;
  private unlinked = false;

  constructor(mount: MountContext, contents?: Uint8Array) {
    super(mount);
    this.data = contents ?? new Uint8Array(0);
    this.length = this.data.length;
  }
  byteSize(): number {
    return this.length;
  }
  contents(): Uint8Array {
    return this.data.subarray(0, this.length);
  }
  /** Bytes the host holds for this file (at most twice its length plus SHRINK_SLACK_BYTES). */
  allocatedBytes(): number {
    return this.data.length;
  }

  /** Grows or shrinks to `size`, charging the quota for the difference first. */
  resize(size: number): void {
    assertWritable(this.mount);
    if (size > MAX_FILE_BYTES) fail(Errno.FBIG, "file too large");
    this.mount.quota?.charge(size - this.length);
    if (size > this.data.length) {
      this.reallocate(Math.min(MAX_FILE_BYTES, Math.max(size, this.data.length * 2, 256)));
    } else if (size < this.length) {
      this.data.fill(0, size, this.length);
      // The quota charges the file's length; keep the buffer near it, so that
      // truncating does not leave the host holding what the guest gave back.
      if (this.data.length > 2 * size + SHRINK_SLACK_BYTES) this.reallocate(size, size);
    }
    this.length = size;
    this.touch();
  }
  private reallocate(capacity: number, keep = this.length): void {
    const next = new Uint8Array(capacity);
    next.set(this.data.subarray(0, Math.min(keep, capacity)));
    this.data = next;
  }

  /** The last name is gone: the bytes go back to the quota now, or when the last handle closes. */
  unlink(): void {
    this.unlinked = true;
    if (this.openHandles === 0) this.mount.quota?.charge(-this.length);
  }

  open(flags: { read: boolean; write: boolean; truncate: boolean } = { read: true, write: true, truncate: false }): FileHandle {
    if (flags.write || flags.truncate) assertWritable(this.mount);
    if (flags.truncate) this.resize(0);
    this.openHandles++;
    let closed = false;
    return {
      read: (position, length) => this.contents().slice(position, position + length),
      write: (position, bytes) => {
        assertWritable(this.mount);
        const end = position + bytes.length;
        if (end > this.length) this.resize(end);
        this.data.set(bytes, position);
        this.touch();
        return bytes.length;
      },
      size: () => this.length,
      truncate: (size) => this.resize(size),
      stat: () => this.stat(),
      setTimes: (atimeNs, mtimeNs) => this.setTimes(atimeNs, mtimeNs),
      sync: () => {},
      close: () => {
        if (closed) return;
        closed = true;
        if (--this.openHandles === 0 && this.unlinked) this.mount.quota?.charge(-this.length);
      },
    };
  }
}

export class MemSymlink extends MemNode implements SymlinkNode {
  readonly kind = "symlink";
  readonly type = FileType.SYMBOLIC_LINK;
  constructor(mount: MountContext, readonly target: string) {
    super(mount);
  }
  byteSize(): number {
    return Buffer.byteLength(this.target);
  }
  readlink(): string {
    return this.target;
  }
}

export class MemDir extends MemNode implements DirNode {
  readonly kind = "dir";
  readonly type = FileType.DIRECTORY;
  private readonly children = new Map<string, VNode>();

  byteSize(): number {
    return 4096;
  }
  lookup(name: string): VNode | undefined {
    return this.children.get(name);
  }
  entries(): Array<[string, VNode]> {
    return [...this.children];
  }

  /** Adds a node built by the host (skeleton, mounts, image loading): no quota, no read-only check. */
  attach(name: string, node: VNode): void {
    this.children.set(name, node);
  }

  private add<T extends VNode>(name: string, make: () => T): T {
    assertWritable(this.mount);
    if (this.children.has(name)) fail(Errno.EXIST, "file exists");
    this.mount.quota?.charge(0, 1);
    const node = make();
    this.children.set(name, node);
    this.touch();
    return node;
  }
  createFile(name: string): FileNode {
    return this.add(name, () => new MemFile(this.mount));
  }
  createDir(name: string): DirNode {
    return this.add(name, () => new MemDir(this.mount));
  }
  createSymlink(name: string, target: string): SymlinkNode {
    return this.add(name, () => new MemSymlink(this.mount, target));
  }

  remove(name: string, dir: boolean): void {
    assertWritable(this.mount);
    const node = this.children.get(name);
    if (node === undefined) fail(Errno.NOENT);
    if (dir) {
      if (!(node instanceof MemDir)) fail(Errno.NOTDIR);
      if (node.children.size > 0) fail(Errno.NOTEMPTY);
    } else if (node instanceof MemDir) {
      fail(Errno.ISDIR);
    }
    this.children.delete(name);
    release(node);
    this.touch();
  }

  rename(name: string, toDir: DirNode, toName: string): void {
    assertWritable(this.mount);
    if (!(toDir instanceof MemDir)) fail(Errno.XDEV);
    const node = this.children.get(name);
    if (node === undefined) fail(Errno.NOENT);
    if (node instanceof MemDir && (toDir === node || node.isAncestorOf(toDir))) fail(Errno.INVAL, "cannot move a directory into itself");
    const existing = toDir.children.get(toName);
    if (existing === node) return;
    if (existing !== undefined) {
      if (node instanceof MemDir) {
        if (!(existing instanceof MemDir)) fail(Errno.NOTDIR);
        if (existing.children.size > 0) fail(Errno.NOTEMPTY);
      } else if (existing instanceof MemDir) {
        fail(Errno.ISDIR);
      }
      release(existing);
    }
    this.children.delete(name);
    toDir.children.set(toName, node);
    this.touch();
    toDir.touch();
  }

  link(name: string, target: VNode): void {
    if (!(target instanceof MemFile || target instanceof MemSymlink)) fail(Errno.PERM, "hard links to directories are not allowed");
    assertWritable(this.mount);
    if (this.children.has(name)) fail(Errno.EXIST, "file exists");
    this.mount.quota?.charge(0, 1); // every name costs an inode, so links cannot flood the tree
    this.children.set(name, target);
    target.nlink++;
    this.touch();
  }

  private isAncestorOf(dir: MemDir): boolean {
    for (const child of this.children.values()) {
      if (child === dir || (child instanceof MemDir && child.isAncestorOf(dir))) return true;
    }
    return false;
  }
}

/** A name was removed: its inode goes back to the quota, and the bytes with the last name. */
function release(node: VNode): void {
  if (!(node instanceof MemNode)) return;
  node.nlink--;
  node.mount.quota?.charge(0, -1);
  if (node.nlink === 0 && node instanceof MemFile) node.unlink();
}
