// A live sandbox's state, captured in memory between runs: what a template
// keeps after its setup, and what each of its sandboxes starts from. It is
// plain data (structured-clone safe), so it crosses to the host and to other
// workers as it is; turning it into bytes (a cache file, a saved sandbox) is
// the job of whoever stores it (engine/snapshot-cache.ts writes templates).
import type { Snapshot } from "../engine/engine.js";
import { readCacheFile, snapshotFromParts, snapshotParts, writeCacheFile } from "../engine/snapshot-cache.js";
import { captureTree, type TreeEntry, type TreeImage } from "../vfs/tree.js";
import type { GuestSandbox } from "./guest-sandbox.js";

export interface SandboxImage {
  /** The interpreter's memory (sparse), taken when nothing was on the wasm stack. */
  memory: Snapshot;
  /** The sandbox's in-memory files (host mounts are not in it). */
  tree: TreeImage;
  /** The kernel's monotonic clock at capture: restored sandboxes continue from it. */
  monotonicNs: bigint;
}

/** Why a sandbox's state cannot be captured (a message for the host). */
export class CaptureError extends Error {
  override name = "CaptureError";
}

/** fds 0-3 (stdio and the root) are the kernel's own, made anew for every sandbox. */
const STANDARD_FDS = 4;

/**
 * Captures `sandbox` between runs. Files the guest still has open cannot be
 * carried over (their fds would name nothing, or another file, in the new
 * sandbox): the capture is refused, naming them.
 */
export function captureSandbox(sandbox: GuestSandbox): SandboxImage {
  const interpreter = sandbox.interpreter;
  if (interpreter === null) throw new CaptureError("the sandbox has no interpreter (it failed to restart)");
  const open = sandbox.kernel.fds.openFiles().filter(([fd]) => fd >= STANDARD_FDS);
  if (open.length > 0) {
    const names = open.map(([fd, path]) => `fd ${fd}${path !== undefined ? ` (${path})` : ""}`).join(", ");
    throw new CaptureError(`the setup left files open: ${names}; close them (with open(...) as f:) or open them in each run`);
  }
  return { memory: interpreter.snapshot(), tree: captureTree(sandbox.kernel.tree), monotonicNs: sandbox.kernel.identity.monotonicNs() };
}

const IMAGE_SUFFIX = ".tmpl";

/** Stores `image` in the snapshot cache directory under `key` (see engine/snapshot-cache.ts for the file's checks). */
export function writeCachedImage(dir: string, key: string, image: SandboxImage): void {
  const memory = snapshotParts(image.memory);
  const files = image.tree.entries.flatMap((entry) => (entry.kind === "file" ? [entry.data] : []));
  const entries = image.tree.entries.map((entry) => (entry.kind === "file" ? { path: entry.path, kind: entry.kind } : entry));
  writeCacheFile(dir, key, IMAGE_SUFFIX, {
    meta: { memory: memory.meta, roots: image.tree.roots, entries, monotonicNs: String(image.monotonicNs) },
    blobs: [...memory.blobs, ...files],
  });
}

/** The image stored under `key`, or null (missing, foreign, corrupt or malformed). */
export function readCachedImage(dir: string, key: string): SandboxImage | null {
  const parts = readCacheFile(dir, key, IMAGE_SUFFIX);
  if (parts === null) return null;
  try {
    const meta = parts.meta as { memory: { runs: unknown[] }; roots: string[]; entries: Array<Record<string, string>>; monotonicNs: string };
    const memory = snapshotFromParts(meta.memory, parts.blobs);
    let next = memory.runs.length;
    const entries = meta.entries.map((entry): TreeEntry => {
      if (typeof entry.path !== "string" || !entry.path.startsWith("/")) throw new Error("bad entry");
      if (entry.kind === "dir") return { path: entry.path, kind: "dir" };
      if (entry.kind === "symlink" && typeof entry.target === "string") return { path: entry.path, kind: "symlink", target: entry.target };
      const data = parts.blobs[next++];
      if (entry.kind !== "file" || data === undefined) throw new Error("bad entry");
      return { path: entry.path, kind: "file", data };
    });
    if (!Array.isArray(meta.roots) || !meta.roots.every((root) => typeof root === "string" && root.startsWith("/"))) throw new Error("bad roots");
    return { memory, tree: { roots: meta.roots, entries }, monotonicNs: BigInt(meta.monotonicNs) };
  } catch {
    return null;
  }
}
