// In-memory trees: the writable /tmp and working directory (charged to the
// sandbox's quota) and, read-only, the stdlib image (file data are views into
// one shared buffer, never copied per sandbox).
import { FileType } from "../shared/wasi.js";
import { Errno } from "../shared/errno.js";
import {
  assertWritable, fail, type DirNode, type FileHandle, type FileNode, type MountContext,
  type Stat, type SymlinkNode, type VNode,
} from "./node.js";

/**
 * Largest file: offsets stay exact in a double, and a sparse file costs only
 * what was written, so a size far past 2 GiB is fine (Linux's ext4 allows 16 TiB).
 */
const MAX_FILE_BYTES = 2 ** 44;
/** Files are stored in chunks of this size; a chunk never written is a hole (zeros, not charged). */
export const CHUNK_BYTES = 64 * 1024;
export { MAX_FILE_BYTES };

/** A memory node's identity and times, as a saved sandbox carries them (kernel/state.ts). */
export interface NodeMeta {
  ino: bigint;
  nlink: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

abstract class MemNode {
  /** Fixed at creation; only a restore (adoptMeta) sets it again, to the saved number. */
  ino: bigint;
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
  meta(): NodeMeta {
    return { ino: this.ino, nlink: this.nlink, atimeNs: this.atimeNs, mtimeNs: this.mtimeNs, ctimeNs: this.ctimeNs };
  }
  /** A restored node takes its saved identity and times (no quota change: the saved counters are restored whole). */
  adoptMeta(meta: NodeMeta): void {
    Object.assign(this, meta);
  }
}

export class MemFile extends MemNode implements FileNode {
  readonly kind = "file";
  readonly type = FileType.REGULAR_FILE;
  /**
   * Chunk index -> the bytes from that chunk's start. Only chunks below the
   * length exist; a buffer may be shorter than CHUNK_BYTES (it grows as it is
   * written), and past its end, as in a chunk never written, the file reads zeros.
   */
  private readonly chunks = new Map<number, Uint8Array>();
  private length = 0;
  /** Open handles: an unlinked file keeps its bytes charged until the last one closes. */
  private openHandles = 0;
  private unlinked = false;
  /**
   * Chunks that are views of `contents` given to the constructor, shared with
   * whoever else holds them (the image's one buffer, a template's files): a
   * write copies such a chunk first, so that it never reaches the others.
   */
  private readonly borrowed = new Set<number>();

  /** `contents` is kept as views, never copied (the image's files share one buffer) until written (copy on write). */
  constructor(mount: MountContext, contents?: Uint8Array) {
    super(mount);
    if (contents === undefined) return;
    for (let start = 0; start < contents.length; start += CHUNK_BYTES) {
      this.chunks.set(start / CHUNK_BYTES, contents.subarray(start, start + CHUNK_BYTES));
      this.borrowed.add(start / CHUNK_BYTES);
    }
    this.length = contents.length;
  }
  byteSize(): number {
    return this.length;
  }
  /** The file's data as held: its length and the chunks written (holes stay holes), for a save. */
  exportChunks(): { length: number; chunks: Array<[number, Uint8Array]> } {
    // A buffer may run past the length (buffers grow ahead of writes): only bytes below it are the file's.
    return { length: this.length, chunks: [...this.chunks].map(([index, chunk]) => [index, chunk.subarray(0, Math.min(chunk.length, this.length - index * CHUNK_BYTES))]) };
  }
  /**
   * Replaces the data by saved chunks (kernel/state.ts checks them first:
   * index below the length, at most CHUNK_BYTES each); no quota is charged,
   * the restore sets the saved counters.
   */
  adoptChunks(length: number, chunks: Array<[number, Uint8Array]>): void {
    this.chunks.clear();
    // Copies: a view would keep the whole saved payload alive.
    for (const [index, chunk] of chunks) this.chunks.set(index, chunk.slice());
    this.length = length;
  }
  /** Open handles that stay charged after an unlink (a save keeps such a file while an fd holds it). */
  get isUnlinked(): boolean {
    return this.unlinked;
  }
  /** A restored file that only open fds hold: its bytes go back to the quota when the last one closes. */
  adoptUnlinked(): void {
    this.unlinked = true;
  }
  /** Bytes the host holds for this file's data. */
  allocatedBytes(): number {
    let total = 0;
    for (const chunk of this.chunks.values()) total += chunk.length;
    return total;
  }
  /** Bytes charged to the quota now: see storedBytes. */
  charged(): number {
    return this.length === 0 ? 0 : storedBytes(this.chunks.size, this.length, this.chunks.has(chunkOf(this.length - 1)));
  }

  read(position: number, length: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, Math.min(length, this.length - position)));
    for (let done = 0; done < out.length;) {
      const [index, offset, n] = span(position + done, out.length - done);
      const chunk = this.chunks.get(index);
      if (chunk !== undefined) out.set(chunk.subarray(offset, offset + n), done);
      done += n;
    }
    return out;
  }

  write(position: number, bytes: Uint8Array): number {
    assertWritable(this.mount);
    const end = position + bytes.length;
    if (end > MAX_FILE_BYTES) fail(Errno.FBIG, "file too large");
    if (bytes.length === 0) return 0;
    this.chargeWrite(position, end);
    for (let done = 0; done < bytes.length;) {
      const [index, offset, n] = span(position + done, bytes.length - done);
      this.chunkFor(index, offset + n).set(bytes.subarray(done, done + n), offset);
      done += n;
    }
    this.length = Math.max(this.length, end);
    this.touch();
    return bytes.length;
  }
  /** Charges the quota for what writing [position, end) will add, before anything changes. */
  private chargeWrite(position: number, end: number): void {
    const first = chunkOf(position);
    const last = chunkOf(end - 1);
    let count = this.chunks.size;
    for (let index = first; index <= last; index++) if (!this.chunks.has(index)) count++;
    const length = Math.max(this.length, end);
    const lastIndex = chunkOf(length - 1);
    const lastHeld = this.chunks.has(lastIndex) || lastIndex <= last;
    this.mount.quota?.charge(storedBytes(count, length, lastHeld) - this.charged());
  }
  /** The chunk's buffer, grown to at least `needed` bytes. */
  private chunkFor(index: number, needed: number): Uint8Array {
    const chunk = this.chunks.get(index);
    const shared = this.borrowed.delete(index);
    if (chunk !== undefined && chunk.length >= needed && !shared) return chunk;
    const grown = new Uint8Array(Math.min(CHUNK_BYTES, Math.max(needed, shared ? chunk!.length : 2 * (chunk?.length ?? 0), 256)));
    if (chunk !== undefined) grown.set(chunk);
    this.chunks.set(index, grown);
    return grown;
  }

  /** Sets the length: growing adds a hole, shrinking gives back the chunks past the end. */
  resize(size: number): void {
    assertWritable(this.mount);
    if (size > MAX_FILE_BYTES) fail(Errno.FBIG, "file too large");
    const before = this.charged();
    if (size < this.length) this.dropFrom(size);
    const lastHeld = size > 0 && this.chunks.has(chunkOf(size - 1));
    // Growing can only charge more when the last chunk held becomes whole.
    this.mount.quota?.charge((size === 0 ? 0 : storedBytes(this.chunks.size, size, lastHeld)) - before);
    this.length = size;
    this.touch();
  }
  /** Forgets the bytes from `size` on, so that growing again reads zeros. */
  private dropFrom(size: number): void {
    const keep = Math.ceil(size / CHUNK_BYTES);
    for (const index of [...this.chunks.keys()]) {
      if (index >= keep) {
        this.chunks.delete(index);
        this.borrowed.delete(index);
      }
    }
    const last = this.chunks.get(keep - 1);
    const used = size - (keep - 1) * CHUNK_BYTES;
    if (last !== undefined && last.length > used) {
      this.chunks.set(keep - 1, last.slice(0, used));
      this.borrowed.delete(keep - 1);
    }
  }

  /** The last name is gone: the bytes go back to the quota now, or when the last handle closes. */
  unlink(): void {
    this.unlinked = true;
    if (this.openHandles === 0) this.mount.quota?.charge(-this.charged());
  }

  open(flags: { read: boolean; write: boolean; truncate: boolean } = { read: true, write: true, truncate: false }): FileHandle {
    if (flags.write || flags.truncate) assertWritable(this.mount);
    if (flags.truncate) this.resize(0);
    this.openHandles++;
    let closed = false;
    return {
      read: (position, length) => this.read(position, length),
      write: (position, bytes) => this.write(position, bytes),
      size: () => this.length,
      truncate: (size) => this.resize(size),
      stat: () => this.stat(),
      setTimes: (atimeNs, mtimeNs) => this.setTimes(atimeNs, mtimeNs),
      sync: () => {},
      close: () => {
        if (closed) return;
        closed = true;
        if (--this.openHandles === 0 && this.unlinked) this.mount.quota?.charge(-this.charged());
      },
    };
  }
}

function chunkOf(position: number): number {
  return Math.floor(position / CHUNK_BYTES);
}
/** The chunk holding `position`, the offset in it, and how many of `length` bytes lie in it. */
function span(position: number, length: number): [number, number, number] {
  const index = chunkOf(position);
  const offset = position - index * CHUNK_BYTES;
  return [index, offset, Math.min(CHUNK_BYTES - offset, length)];
}
/**
 * Quota bytes for `count` chunks of a file `length` bytes long: each chunk is
 * charged whole, except the one holding the last byte (when held), which is
 * charged up to the length. A dense file is charged its length; a hole nothing.
 */
function storedBytes(count: number, length: number, lastHeld: boolean): number {
  const lastUnused = lastHeld ? (chunkOf(length - 1) + 1) * CHUNK_BYTES - length : 0;
  return count * CHUNK_BYTES - lastUnused;
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
  /** A file whose bytes are views of `contents` (copied on first write), charged to the quota like a written one. */
  adoptFile(name: string, contents: Uint8Array): MemFile {
    const file = this.add(name, () => new MemFile(this.mount, contents));
    try {
      this.mount.quota?.charge(file.charged());
    } catch (error) {
      this.children.delete(name);
      this.mount.quota?.charge(0, -1);
      throw error;
    }
    return file;
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
