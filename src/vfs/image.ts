// The stdlib image: one file built by engine/build.sh, loaded once per process
// and shared read-only by every sandbox (file contents are views into it).
//   "PYVIMG01" | u32 LE index length | JSON index {files: [[path, offset, size]]} | data
import { MemDir, MemFile } from "./memory.js";
import { InodeCounter, type MountContext } from "./node.js";

const MAGIC = "PYVIMG01";
/** Image files carry a fixed time: 2025-06-11, CPython 3.13.5's release. */
const IMAGE_TIME_NS = 1_749_600_000_000_000_000n;

// The image's inode numbers are fixed when the image loads, before any sandbox
// exists; sandboxes number their own nodes from SANDBOX_FIRST_INODE (tree.ts).
const imageMount: MountContext = { id: 1, readonly: true, quota: null, inodes: new InodeCounter(), now: () => IMAGE_TIME_NS };
const cache = new WeakMap<Uint8Array, MemDir>();

export function parseImage(bytes: Uint8Array): MemDir {
  const magic = Buffer.from(bytes.subarray(0, 8)).toString("latin1");
  if (magic !== MAGIC) throw new Error("not a pyvisor stdlib image (bad magic)");
  const indexLength = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUInt32LE(8);
  const index = JSON.parse(Buffer.from(bytes.subarray(12, 12 + indexLength)).toString("utf8")) as { files: Array<[string, number, number]> };
  const data = bytes.subarray(12 + indexLength);
  const root = new MemDir(imageMount);
  for (const [filePath, offset, size] of index.files) {
    const parts = filePath.split("/");
    const name = parts.pop()!;
    let dir = root;
    for (const part of parts) {
      let next = dir.lookup(part);
      if (next === undefined) dir.attach(part, (next = new MemDir(imageMount)));
      dir = next as MemDir;
    }
    dir.attach(name, new MemFile(imageMount, data.subarray(offset, offset + size)));
  }
  return root;
}

/**
 * The stdlib tree of an engine: its image with the guest modules laid over it,
 * made once per image and shared by every sandbox of the process (read-only).
 */
export function stdlibTree(engine: { image: Uint8Array; guest: Record<string, Uint8Array> }): MemDir {
  let root = cache.get(engine.image);
  if (root === undefined) {
    root = overlayDir(parseImage(engine.image), engine.guest);
    cache.set(engine.image, root);
  }
  return root;
}

/** A read-only tree of extra files (the guest module) laid over the image without copying it. */
function overlayDir(base: MemDir, files: Record<string, Uint8Array>): MemDir {
  const root = new MemDir(imageMount);
  for (const [name, node] of base.entries()) root.attach(name, node);
  for (const [filePath, contents] of Object.entries(files)) {
    const parts = filePath.split("/");
    const name = parts.pop()!;
    let dir = root;
    for (const part of parts) {
      const existing = dir.lookup(part);
      const copy = new MemDir(imageMount);
      if (existing instanceof MemDir) for (const [n, child] of existing.entries()) copy.attach(n, child);
      dir.attach(part, copy);
      dir = copy;
    }
    dir.attach(name, new MemFile(imageMount, contents));
  }
  return root;
}

/**
 * A package's read-only tree (its files: path -> contents, kept as views),
 * built once per process and shared by every sandbox that names it. Its inode
 * numbers start at `firstInode`, which the caller derives from the package's
 * content (never from what other sandboxes loaded before), above the image's
 * and below any a sandbox numbers.
 */
export function packageTree(files: Iterable<{ name: string; data: Uint8Array }>, firstInode: bigint): MemDir {
  const mount: MountContext = { ...imageMount, id: 3, inodes: new InodeCounter(firstInode) };
  const root = new MemDir(mount);
  for (const { name: filePath, data } of files) {
    const parts = filePath.split("/");
    const name = parts.pop()!;
    let dir = root;
    for (const part of parts) {
      let next = dir.lookup(part);
      if (next === undefined) dir.attach(part, (next = new MemDir(mount)));
      dir = next as MemDir;
    }
    dir.attach(name, new MemFile(mount, data));
  }
  return root;
}
