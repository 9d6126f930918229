// Assembles one sandbox's file tree:
//   /                              read-only skeleton
//   /usr/local/lib/python3.13      the stdlib image + guest module (shared, read-only)
//   /usr/local/lib/python3.13/site-packages
//                                  the packages' layers merged (each shared, read-only)
//   /usr/local/bin/python3         an empty placeholder for sys.executable
//   /usr/share/zoneinfo            the image's time zone data, where Linux keeps it
//   /dev/{null,zero,urandom,random}
//   /tmp, /home/user               in-memory, writable, charged to the quota
//   ...                            host mounts, read-only or read-write
import { Errno } from "../shared/errno.js";
import { nullDevice, randomDevice, StreamDevice, zeroDevice } from "./devices.js";
import { HostMount } from "./host.js";
import { MemDir, MemFile, MemSymlink } from "./memory.js";
import { fail, InodeCounter, Quota, type DirNode, type FileNode, type MountContext, type VNode } from "./node.js";
import { resolve } from "./resolve.js";
import type { MountSpec } from "../shared/spec.js";
import { GUEST_HOME, SITE_PACKAGES_PATH, STDLIB_PATH } from "../shared/defaults.js";



export interface TreeSpec {
  stdlib: MemDir;
  /** The packages' trees (packageTree), merged in order at SITE_PACKAGES_PATH; none: no such directory. */
  packages?: MemDir[];
  mounts: MountSpec[];
  /** Initial files (guest path -> contents), written into the writable trees. */
  files: Record<string, Uint8Array>;
  cwd: string;
  diskQuotaBytes: number;
  inodeQuota: number;
  /** A fixed clock: host mounts then show the sandbox's times for what the guest changes. */
  deterministic: boolean;
  now(): bigint;
  random(buffer: Uint8Array): void;
  /** Files to start from (a template's, see captureTree), laid down before `files`; copied on write. */
  base?: TreeImage;
}

/**
 * A sandbox's in-memory files as plain data (structured-clone safe): the
 * writable in-memory roots (/tmp, the home directory, a working directory
 * made for the sandbox) and, parents first, what lies below them. Host mounts
 * are not in it (they are the host's), nor times or hard links (each name
 * gets the file's bytes; shared, not copied, until written).
 */
export interface TreeImage {
  roots: string[];
  entries: TreeEntry[];
}
export type TreeEntry =
  | { path: string; kind: "dir" }
  | { path: string; kind: "file"; data: Uint8Array }
  | { path: string; kind: "symlink"; target: string };

export interface SandboxTree {
  root: MemDir;
  quota: Quota;
  /** Numbers this sandbox's nodes (kernel-made ones included). */
  inodes: InodeCounter;
  /** The writable in-memory roots by guest path (what captureTree takes). */
  memoryRoots: Map<string, MemDir>;
  /** Releases the host handles the tree holds (host mounts). */
  close(): void;
}

/** The time zone data's directory in the stdlib image (engine/build.sh packs it there). */
const ZONEINFO_IN_IMAGE = "zoneinfo-data";

/** Sandbox inode numbers start above any the shared stdlib image can use. */
const SANDBOX_FIRST_INODE = 1n << 32n;

let nextMountId = 100;

/** Creates (read-only) directories down to `guestPath`'s parent and returns it with the last name. */
function ensureParent(root: MemDir, guestPath: string, skeleton: MountContext): [MemDir, string] {
  const parts = guestPath.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0 || parts.includes("..")) throw new Error(`invalid guest path for a mount: ${guestPath}`);
  const name = parts.pop()!;
  let dir = root;
  for (const part of parts) {
    const found = dir.lookup(part);
    let next: MemDir;
    if (found === undefined) dir.attach(part, (next = new MemDir(skeleton)));
    else if (found instanceof MemDir) next = found;
    else throw new Error(`cannot mount below ${part}: not a directory`);
    if (next.mount.readonly && next.mount !== skeleton) {
      // A directory shared by every sandbox (the stdlib image): mount into this
      // sandbox's own copy of it, never into the shared tree.
      const copy = new MemDir(skeleton);
      for (const [childName, child] of next.entries()) copy.attach(childName, child);
      dir.attach(part, copy);
      next = copy;
    }
    dir = next;
  }
  return [dir, name];
}

export function buildTree(spec: TreeSpec): SandboxTree {
  const inodes = new InodeCounter(SANDBOX_FIRST_INODE);
  const mountContext = (readonly: boolean, quota: Quota | null): MountContext => ({ id: nextMountId++, readonly, quota, inodes, now: spec.now });
  const skeleton = mountContext(true, null);
  const quota = new Quota(spec.diskQuotaBytes, spec.inodeQuota);
  const hostMounts: HostMount[] = [];
  const root = new MemDir(skeleton);
  const attach = (guestPath: string, node: DirNode | MemFile | StreamDevice) => {
    const [parent, name] = ensureParent(root, guestPath, skeleton);
    parent.attach(name, node);
  };

  attach(STDLIB_PATH, spec.stdlib);
  if (spec.packages !== undefined && spec.packages.length > 0) attach(SITE_PACKAGES_PATH, mergeTrees(spec.packages, skeleton));
  attach("/usr/local/bin/python3", new MemFile(skeleton));
  // Programs (and CPython's own tests) that read tz files by path expect the
  // system's copy; zoneinfo itself looks in the image (its TZPATH).
  const zoneinfo = spec.stdlib.lookup(ZONEINFO_IN_IMAGE);
  if (zoneinfo instanceof MemDir) attach("/usr/share/zoneinfo", zoneinfo);
  const devices = mountContext(false, null);
  attach("/dev/null", nullDevice(devices));
  attach("/dev/zero", zeroDevice(devices));
  attach("/dev/urandom", randomDevice(devices, spec.random));
  attach("/dev/random", randomDevice(devices, spec.random));
  const memoryRoots = new Map<string, MemDir>();
  const memoryRoot = (guestPath: string) => {
    const dir = new MemDir(mountContext(false, quota));
    attach(guestPath, dir);
    memoryRoots.set(guestPath, dir);
  };
  memoryRoot("/tmp");
  memoryRoot(GUEST_HOME);

  try {
    for (const mount of spec.mounts) {
      const hostMount = new HostMount(mountContext(mount.readonly, mount.readonly ? null : quota), { ...mount, deterministic: spec.deterministic });
      hostMounts.push(hostMount);
      attach(mount.guestPath, hostMount.root);
    }
    for (const path of spec.base?.roots ?? []) if (!memoryRoots.has(path)) memoryRoot(path);
    if (spec.base !== undefined) layDown(root, spec.base.entries);
    if (spec.cwd !== GUEST_HOME) {
      const resolved = resolve(root, [root], spec.cwd, true);
      if (resolved.node === undefined) {
        const [parent, name] = ensureParent(root, spec.cwd, skeleton);
        if (parent.lookup(name) === undefined) memoryRoot(spec.cwd);
      } else if (resolved.node.kind !== "dir") {
        throw new Error(`cwd is not a directory: ${spec.cwd}`);
      }
    }
    for (const [guestPath, contents] of Object.entries(spec.files)) writeFile(root, guestPath, contents, true);
  } catch (error) {
    for (const mount of hostMounts) mount.close(); // a tree that fails to build holds no host handle
    throw error;
  }
  return { root, quota, inodes, memoryRoots, close: () => hostMounts.forEach((m) => m.close()) };
}

/** The tree's in-memory files as a TreeImage (bytes copied: the image outlives the tree). */
export function captureTree(tree: SandboxTree): TreeImage {
  const entries: TreeEntry[] = [];
  const seen = new Map<MemFile, Uint8Array>();
  const walk = (dir: MemDir, path: string) => {
    for (const [name, node] of dir.entries()) {
      const full = `${path}/${name}`;
      if (node instanceof MemDir) {
        entries.push({ path: full, kind: "dir" });
        walk(node, full);
      } else if (node instanceof MemFile) {
        let data = seen.get(node);
        if (data === undefined) seen.set(node, (data = node.read(0, node.byteSize())));
        entries.push({ path: full, kind: "file", data });
      } else if (node instanceof MemSymlink) {
        entries.push({ path: full, kind: "symlink", target: node.readlink() });
      }
    }
  };
  for (const [path, dir] of tree.memoryRoots) walk(dir, path === "/" ? "" : path);
  return { roots: [...tree.memoryRoots.keys()], entries };
}

/** Lays a TreeImage's entries down (parents come first), charged to the quota; files share the image's bytes until written. */
function layDown(root: MemDir, entries: TreeEntry[]): void {
  for (const entry of entries) {
    const parts = entry.path.split("/").filter((p) => p !== "");
    const name = parts.pop()!;
    let dir: VNode | undefined = root;
    for (const part of parts) dir = dir instanceof MemDir ? dir.lookup(part) : undefined;
    if (!(dir instanceof MemDir)) throw new Error(`cannot restore ${entry.path}: its parent is not an in-memory directory`);
    if (entry.kind === "dir") dir.createDir(name);
    else if (entry.kind === "file") dir.adoptFile(name, entry.data);
    else dir.createSymlink(name, entry.target);
  }
}

/**
 * One read-only directory showing several shared trees: their nodes are
 * linked in, not copied; only a directory two trees both have (a namespace
 * package) is made anew for this sandbox, holding both's entries. The host
 * refused packages that lay the same file (src/packages), so a later tree's
 * file never hides an earlier one's.
 */
function mergeTrees(trees: MemDir[], skeleton: MountContext): MemDir {
  const merged = new MemDir(skeleton);
  for (const tree of trees) {
    for (const [name, node] of tree.entries()) {
      const existing = merged.lookup(name);
      merged.attach(name, existing instanceof MemDir && node instanceof MemDir ? mergeTrees([existing, node], skeleton) : node);
    }
  }
  return merged;
}

/** Writes a whole file, creating missing parent directories when `parents` is set. */
export function writeFile(root: MemDir, guestPath: string, contents: Uint8Array, parents = false): void {
  if (parents) mkdirs(root, guestPath.split("/").slice(0, -1).join("/") || "/");
  const found = resolve(root, [root], guestPath, true);
  if (found.node !== undefined && found.node.kind !== "file") fail(found.node.kind === "dir" ? Errno.ISDIR : Errno.INVAL);
  const file = found.node ?? found.parents[found.parents.length - 1]!.createFile(found.name);
  const handle = (file as FileNode).open({ read: false, write: true, truncate: true });
  try {
    handle.write(0, contents);
  } finally {
    handle.close();
  }
}

export function mkdirs(root: MemDir, guestPath: string): void {
  let stack: DirNode[] = [root];
  for (const part of guestPath.split("/").filter((p) => p !== "" && p !== ".")) {
    const found = resolve(root, stack, part, true);
    if (found.name === ".") {
      stack = [...found.parents, found.node as DirNode];
      continue;
    }
    const parent = found.parents[found.parents.length - 1]!;
    const node = found.node ?? parent.createDir(found.name);
    if (node.kind !== "dir") fail(Errno.NOTDIR);
    stack = [...found.parents, node as DirNode];
  }
}
