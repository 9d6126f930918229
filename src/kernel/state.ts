// The durable form of a sandbox's kernel: its in-memory file trees, fd table
// (offsets included), identity (virtual clock, PRNG) and quota counters,
// captured as plain data (KernelState), checked when it comes back, and
// applied to a fresh kernel built from the restoring side's options.
//   capture(kernel) -> KernelState -> (worker/durable.ts encodes it) -> bytes
//   bytes -> (decoded) -> checkKernelState(value) -> KernelState -> apply(kernel, state)
// A template (a sandbox after its setup code, forked in memory) can take the
// same state object without the bytes in between.
//
// What a state refers to outside itself is by sandbox path only: host mounts
// (re-attached by the restoring side: the same guest paths and modes, or
// SnapshotMountError), host files and directories open in fds (reopened by
// path), the stdlib image and devices (the engine's own).
import { CHUNK_BYTES, MAX_FILE_BYTES, MemDir, MemFile, MemSymlink, type NodeMeta } from "../vfs/memory.js";
import { VfsError, type DirNode, type FileNode, type DeviceNode, type MountContext, type VNode } from "../vfs/node.js";
import { resolve, MAX_NAME_BYTES, MAX_PATH_BYTES } from "../vfs/resolve.js";
import { Rights } from "../shared/wasi.js";
import type { Kernel } from "./kernel.js";
import { SnapshotFormatError, SnapshotMountError } from "../shared/errors.js";

export type NodeState =
  | { kind: "file"; meta: NodeMeta; length: number; chunks: Array<[number, Uint8Array]>; unlinked: boolean }
  | { kind: "dir"; meta: NodeMeta; children: Array<[string, number]> }
  | { kind: "symlink"; meta: NodeMeta; target: string };

/** An open fd: a standard one (0-3's kind), a memory file (node id), or anything else by its sandbox path. */
export interface FdState {
  fd: number;
  ref: { std: number } | { node: number } | { path: string };
  kind: "file" | "dir" | "stream";
  position: number;
  append: boolean;
  fdflags: number;
  rightsBase: bigint;
  rightsInheriting: bigint;
}

export interface KernelState {
  /** The writable in-memory trees (/tmp, the home directory, ...): where each is, and its root node. */
  trees: Array<{ path: string; root: number }>;
  nodes: NodeState[];
  fds: FdState[];
  quota: { bytesUsed: number; inodesUsed: number };
  nextInode: bigint;
  identity: { virtualNs: bigint; prng: bigint | null };
  /** Where host mounts were and how: the restoring side must mount the same (its own host paths). */
  mounts: Array<{ guestPath: string; readonly: boolean }>;
}


const normalPath = (path: string) => "/" + path.split("/").filter((p) => p !== "" && p !== ".").join("/");

/** Captures the kernel's durable state (between runs, or at a pause: no syscall is in progress). */
export function captureKernel(k: Kernel): KernelState {
  const ids = new Map<VNode, number>();
  const nodes: NodeState[] = [];
  // Iterative: a guest can nest directories far deeper than the JS stack goes.
  const add = (top: MemDir | MemFile | MemSymlink): number => {
    const known = ids.get(top);
    if (known !== undefined) return known;
    const pending: Array<MemDir | MemFile | MemSymlink> = [top];
    const number = (node: MemDir | MemFile | MemSymlink): number => {
      let id = ids.get(node);
      if (id === undefined) {
        id = nodes.length;
        ids.set(node, id);
        nodes.push(null as unknown as NodeState);
        pending.push(node);
      }
      return id;
    };
    pending.pop();
    number(top);
    for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
      const id = ids.get(node)!;
      if (node instanceof MemDir) {
        // Host mounts inside a memory tree are the restoring side's to attach.
        const children = node.entries().filter(([, child]) => isMemory(child)).map(([name, child]): [string, number] => [name, number(child as MemDir)]);
        nodes[id] = { kind: "dir", meta: node.meta(), children };
      } else if (node instanceof MemFile) {
        nodes[id] = { kind: "file", meta: node.meta(), ...node.exportChunks(), unlinked: node.isUnlinked };
      } else {
        nodes[id] = { kind: "symlink", meta: node.meta(), target: node.readlink() };
      }
    }
    return ids.get(top)!;
  };
  const root = k.tree.root;
  const trees: KernelState["trees"] = [];
  const walk = (dir: MemDir, path: string) => {
    for (const [name, child] of dir.entries()) {
      const childPath = `${path}/${name}`;
      if (child instanceof MemDir && child.mount === root.mount) walk(child, childPath);
      else if (isMemory(child) && child.mount.quota !== null) trees.push({ path: childPath, root: add(child) });
    }
  };
  walk(root, "");
  return {
    trees, nodes, fds: captureFds(k, ids, add),
    quota: { bytesUsed: k.tree.quota.bytesUsed, inodesUsed: k.tree.quota.inodesUsed },
    nextInode: k.tree.inodes.peek, identity: k.identity.exportState(),
    mounts: k.mounts.map((m) => ({ guestPath: normalPath(m.guestPath), readonly: m.readonly })),
  };
}

function isMemory(node: VNode): node is MemDir | MemFile | MemSymlink {
  return node instanceof MemDir || node instanceof MemFile || node instanceof MemSymlink;
}

function captureFds(k: Kernel, ids: Map<VNode, number>, add: (node: MemFile) => number): FdState[] {
  const standard = k.standardFds.map((make) => make().node);
  return k.fds.entries().map(([fd, entry]) => {
    const std = standard.indexOf(entry.node);
    const ref: FdState["ref"] = std >= 0 ? { std }
      : entry.node instanceof MemFile && entry.node.mount.quota !== null ? { node: ids.get(entry.node) ?? add(entry.node) }
      : { path: entry.path ?? "/" };
    const { kind, position, append, fdflags, rightsBase, rightsInheriting } = entry;
    return { fd, ref, kind, position, append, fdflags, rightsBase, rightsInheriting };
  });
}

/**
 * Puts a saved state into a fresh kernel (built from the restoring side's
 * options, before any run): the saved trees replace the fresh ones, host
 * mounts are re-attached where they were, fds are reopened.
 */
export function applyKernel(k: Kernel, state: KernelState): void {
  const mounts = k.mounts.map((m) => ({ guestPath: normalPath(m.guestPath), readonly: m.readonly }));
  const key = (m: { guestPath: string; readonly: boolean }) => `${m.guestPath} (${m.readonly ? "read-only" : "read-write"})`;
  const saved = state.mounts.map(key).sort().join(", ");
  const now = mounts.map(key).sort().join(", ");
  if (saved !== now) throw new SnapshotMountError(`the saved sandbox had mounts [${saved}], the restoring options give [${now}]: pass the same guest paths and modes`);
  const root = k.tree.root;
  const hostRoots = mounts.map((m) => [m.guestPath, resolve(root, [root], m.guestPath, false).node!] as const);
  const places = state.trees.map((tree) => parentOf(root, tree.path));
  const made = makeNodes(k, state);
  state.trees.forEach((tree, i) => {
    const [parent, name] = places[i]!;
    parent.attach(name, made[tree.root]!);
  });
  // Mounts inside a saved tree (e.g. /tmp/data) are attached again into it.
  for (const [guestPath, node] of hostRoots) {
    const found = resolve(root, [root], guestPath, false);
    const parent = found.parents[found.parents.length - 1];
    if (parent instanceof MemDir && found.node !== node) parent.attach(found.name, node);
  }
  k.tree.quota.bytesUsed = state.quota.bytesUsed;
  k.tree.quota.inodesUsed = state.quota.inodesUsed;
  if (state.nextInode > k.tree.inodes.peek) k.tree.inodes.peek = state.nextInode;
  k.identity.importState(state.identity);
  applyFds(k, state.fds, made);
}

/**
 * Where a saved tree goes: a name in one of the sandbox's own skeleton
 * directories, free or holding a writable memory tree (never inside the
 * shared stdlib, a device or a host mount).
 */
function parentOf(root: MemDir, path: string): [MemDir, string] {
  let found;
  try {
    found = resolve(root, [root], path, false);
  } catch {
    throw new SnapshotFormatError(`no place for a saved tree at ${JSON.stringify(path)}`);
  }
  const parent = found.parents[found.parents.length - 1];
  const existing = found.node;
  const free = existing === undefined || (existing instanceof MemDir && existing.mount.quota !== null);
  if (!(parent instanceof MemDir) || parent.mount !== root.mount || found.name === "." || found.name === ".." || !free) {
    throw new SnapshotFormatError(`no place for a saved tree at ${JSON.stringify(path)}`);
  }
  return [parent, found.name];
}

function makeNodes(k: Kernel, state: KernelState): Array<MemDir | MemFile | MemSymlink> {
  // Each tree takes the mount context of the fresh tree at its place (its quota, inode counter and
  // mount id, so renames across trees stay EXDEV); a file only fds hold takes /tmp's.
  const root = k.tree.root;
  const fallback = (root.lookup("tmp") as MemDir).mount;
  const mountOf = new Array<MountContext>(state.nodes.length).fill(fallback);
  for (const tree of state.trees) {
    const fresh = resolve(root, [root], tree.path, false).node;
    const mount = fresh instanceof MemDir && fresh.mount.quota !== null ? fresh.mount : fallback;
    const pending = [tree.root];
    for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
      mountOf[id] = mount;
      const node = state.nodes[id]!;
      if (node.kind === "dir") for (const [, child] of node.children) pending.push(child);
    }
  }
  const made = state.nodes.map((node, id) => {
    const mount = mountOf[id]!;
    const made = node.kind === "dir" ? new MemDir(mount) : node.kind === "file" ? new MemFile(mount) : new MemSymlink(mount, node.target);
    made.adoptMeta(node.meta);
    if (node.kind === "file") {
      (made as MemFile).adoptChunks(node.length, node.chunks);
      if (node.unlinked) (made as MemFile).adoptUnlinked();
    }
    return made;
  });
  state.nodes.forEach((node, id) => {
    if (node.kind === "dir") for (const [name, child] of node.children) (made[id] as MemDir).attach(name, made[child]!);
  });
  return made;
}

function applyFds(k: Kernel, fds: FdState[], made: Array<MemDir | MemFile | MemSymlink>): void {
  const root = k.tree.root;
  k.fds.closeAll();
  for (const saved of fds) {
    const common = { position: saved.position, append: saved.append, fdflags: saved.fdflags, rightsBase: saved.rightsBase, rightsInheriting: saved.rightsInheriting };
    if ("std" in saved.ref) {
      k.fds.set(saved.fd, { ...k.standardFds[saved.ref.std]!(), ...common });
      continue;
    }
    const node = "node" in saved.ref ? made[saved.ref.node]! : resolve(root, [root], saved.ref.path, true).node;
    const path = "path" in saved.ref ? saved.ref.path : undefined;
    if (node === undefined) continue; // a host file gone since the save: the fd is closed (EBADF)
    if (saved.kind === "dir") {
      if (node.kind !== "dir" || path === undefined) continue;
      const found = resolve(root, [root], path, true);
      const names = path.split("/").filter((part) => part !== "");
      k.fds.set(saved.fd, { ...common, kind: "dir", node, stack: [...found.parents, node as DirNode], names, path });
    } else if (node.kind === "file" || node.kind === "device") {
      const read = (saved.rightsBase & Rights.FD_READ) !== 0n;
      const write = (saved.rightsBase & Rights.FD_WRITE) !== 0n;
      let handle;
      try {
        handle = node.kind === "device" ? (node as DeviceNode).open() : (node as FileNode).open({ read, write, truncate: false });
      } catch (error) {
        if (error instanceof VfsError) continue; // a host file that can no longer be opened so: closed
        throw error;
      }
      k.fds.set(saved.fd, { ...common, kind: node.kind === "device" ? "stream" : "file", node, handle, path: path ?? "/" });
    }
  }
}

// ---- checking a decoded state (hostile shape, even behind the MAC) ----

const fail = (why: string): never => {
  throw new SnapshotFormatError(`malformed sandbox state: ${why}`);
};
const obj = (v: unknown, what: string): Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array) ? v as Record<string, unknown> : fail(`${what} is not an object`);
const arr = (v: unknown, what: string, max: number): unknown[] =>
  Array.isArray(v) && v.length <= max ? v : fail(`${what} is not a list of at most ${max}`);
const int = (v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number =>
  Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max ? v as number : fail(`${what} is not an integer from 0 to ${max}`);
const big = (v: unknown, what: string): bigint => {
  const value = typeof v === "bigint" ? v : Number.isSafeInteger(v) ? BigInt(v as number) : fail(`${what} is not an integer`);
  return value >= 0n && value < 1n << 64n ? value : fail(`${what} is out of range`);
};
const str = (v: unknown, what: string, maxBytes: number): string =>
  typeof v === "string" && Buffer.byteLength(v) <= maxBytes ? v : fail(`${what} is not a string of at most ${maxBytes} bytes`);
const bool = (v: unknown, what: string): boolean => (typeof v === "boolean" ? v : fail(`${what} is not a boolean`));
const path = (v: unknown, what: string): string => {
  const text = str(v, what, MAX_PATH_BYTES);
  return text.startsWith("/") && !text.includes("\0") ? text : fail(`${what} is not an absolute path`);
};

/** Largest counts a state may claim (the codec's node budget bounds them first). */
const MAX_NODES = 1_000_000;
const MAX_FDS = 65_536;

function checkMeta(v: unknown, what: string): NodeMeta {
  const m = obj(v, what);
  return { ino: big(m.ino, `${what}.ino`), nlink: int(m.nlink, `${what}.nlink`, 1 << 30), atimeNs: big(m.atimeNs, `${what}.atimeNs`), mtimeNs: big(m.mtimeNs, `${what}.mtimeNs`), ctimeNs: big(m.ctimeNs, `${what}.ctimeNs`) };
}

function checkNode(v: unknown, what: string, count: number): NodeState {
  const n = obj(v, what);
  const meta = checkMeta(n.meta, `${what}.meta`);
  if (n.kind === "symlink") return { kind: "symlink", meta, target: str(n.target, `${what}.target`, MAX_PATH_BYTES) };
  if (n.kind === "dir") {
    const names = new Set<string>();
    const children = arr(n.children, `${what}.children`, MAX_NODES).map((c, i): [string, number] => {
      const pair = arr(c, `${what}.children[${i}]`, 2);
      const name = str(pair[0], `${what}.children[${i}] name`, MAX_NAME_BYTES);
      if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0") || names.has(name)) fail(`${what}.children[${i}] has a bad or repeated name`);
      names.add(name);
      return [name, int(pair[1], `${what}.children[${i}] id`, count - 1)];
    });
    return { kind: "dir", meta, children };
  }
  if (n.kind !== "file") return fail(`${what}.kind is not file, dir or symlink`);
  const length = int(n.length, `${what}.length`, MAX_FILE_BYTES);
  const seen = new Set<number>();
  const chunks = arr(n.chunks, `${what}.chunks`, Math.ceil(length / CHUNK_BYTES)).map((c, i): [number, Uint8Array] => {
    const pair = arr(c, `${what}.chunks[${i}]`, 2);
    const index = int(pair[0], `${what}.chunks[${i}] index`, Math.max(0, Math.ceil(length / CHUNK_BYTES) - 1));
    const bytes = pair[1] instanceof Uint8Array ? pair[1] : fail(`${what}.chunks[${i}] data is not bytes`);
    if (seen.has(index) || bytes.length > CHUNK_BYTES || index * CHUNK_BYTES + bytes.length > length) fail(`${what}.chunks[${i}] is repeated or past the file's end`);
    seen.add(index);
    return [index, bytes];
  });
  return { kind: "file", meta, length, chunks, unlinked: bool(n.unlinked, `${what}.unlinked`) };
}

function checkFd(v: unknown, what: string, nodes: NodeState[]): FdState {
  const f = obj(v, what);
  const ref = obj(f.ref, `${what}.ref`);
  const checkedRef: FdState["ref"] = "std" in ref ? { std: int(ref.std, `${what}.ref.std`, 3) }
    : "node" in ref ? { node: int(ref.node, `${what}.ref.node`, nodes.length - 1) }
    : { path: path(ref.path, `${what}.ref.path`) };
  const kind = f.kind === "file" || f.kind === "dir" || f.kind === "stream" ? f.kind : fail(`${what}.kind is not file, dir or stream`);
  if ("node" in checkedRef && (nodes[checkedRef.node]!.kind !== "file" || kind !== "file")) fail(`${what} names a node that is not a file`);
  return {
    fd: int(f.fd, `${what}.fd`, 0x7fff_fffe), ref: checkedRef, kind, position: int(f.position, `${what}.position`, MAX_FILE_BYTES),
    append: bool(f.append, `${what}.append`), fdflags: int(f.fdflags, `${what}.fdflags`, 0x1f),
    rightsBase: big(f.rightsBase, `${what}.rightsBase`), rightsInheriting: big(f.rightsInheriting, `${what}.rightsInheriting`),
  };
}

/** A decoded value as a KernelState, or SnapshotFormatError saying what is wrong; directories form trees (no cycles, one parent each). */
export function checkKernelState(value: unknown): KernelState {
  const s = obj(value, "state");
  const rawNodes = arr(s.nodes, "nodes", MAX_NODES);
  const nodes = rawNodes.map((n, i) => checkNode(n, `nodes[${i}]`, rawNodes.length));
  const trees = arr(s.trees, "trees", 1024).map((t, i) => {
    const tree = obj(t, `trees[${i}]`);
    const root = int(tree.root, `trees[${i}].root`, nodes.length - 1);
    return { path: path(tree.path, `trees[${i}].path`), root };
  });
  checkForest(nodes, trees.map((t) => t.root));
  const fdNumbers = new Set<number>();
  const fds = arr(s.fds, "fds", MAX_FDS).map((f, i) => {
    const fd = checkFd(f, `fds[${i}]`, nodes);
    if (fdNumbers.has(fd.fd)) fail(`fds[${i}] repeats fd ${fd.fd}`);
    fdNumbers.add(fd.fd);
    return fd;
  });
  const quota = obj(s.quota, "quota");
  const identity = obj(s.identity, "identity");
  const mounts = arr(s.mounts, "mounts", 1024).map((m, i) => {
    const mount = obj(m, `mounts[${i}]`);
    return { guestPath: path(mount.guestPath, `mounts[${i}].guestPath`), readonly: bool(mount.readonly, `mounts[${i}].readonly`) };
  });
  return {
    trees, nodes, fds, mounts,
    quota: { bytesUsed: int(quota.bytesUsed, "quota.bytesUsed"), inodesUsed: int(quota.inodesUsed, "quota.inodesUsed") },
    nextInode: big(s.nextInode, "nextInode"),
    identity: { virtualNs: big(identity.virtualNs, "identity.virtualNs"), prng: identity.prng === null ? null : big(identity.prng, "identity.prng") },
  };
}

/** Every directory is reached once, from one tree root, and no tree root is reached from another. */
function checkForest(nodes: NodeState[], roots: number[]): void {
  const reached = new Set<number>();
  for (const root of roots) {
    if (nodes[root]!.kind !== "dir") fail(`tree root ${root} is not a directory`);
    const pending = [root];
    for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
      const node = nodes[id]!;
      if (node.kind !== "dir") continue;
      if (reached.has(id)) fail(`directory ${id} has two parents or is its own ancestor`);
      reached.add(id);
      for (const [, child] of node.children) pending.push(child);
    }
  }
}
