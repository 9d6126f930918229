// The packages' trees of this worker: one per content hash, built on first
// use and shared by every sandbox of the worker that names it (its file data
// are views into the layer's one buffer: memory is counted once).
import { loadPackage } from "../packages/layer.js";
import { packageTree } from "../vfs/image.js";
import type { MemDir } from "../vfs/memory.js";
import type { PackageRef } from "../shared/spec.js";

const trees = new Map<string, MemDir>();

/**
 * Inode numbers of a package's tree: from 2^40 plus 2^22 per step of its
 * hash's first 32 bits, so they follow from its content alone (not from what
 * other tenants loaded before); 4 Mi numbers each, far more than
 * PACKAGE_LIMITS allows; above the image's and below a sandbox's own (from
 * 2^32 up, it would need 2^40 nodes to reach them).
 */
function firstInode(hash: string): bigint {
  return (1n << 40n) + BigInt(`0x${hash.slice(0, 8)}`) * (1n << 22n);
}

/** The shared tree of each package, unpacking a file this worker has not seen (its content must still be what the host checked). */
export function packageTrees(refs: readonly PackageRef[]): MemDir[] {
  return refs.map((ref, i) => {
    let tree = trees.get(ref.hash);
    if (tree === undefined) {
      const layer = loadPackage(ref.path, `packages[${i}]`);
      if (layer.hash !== ref.hash) throw new Error(`package ${ref.path} changed after it was checked; create the sandbox again`);
      tree = packageTree(layer.files, firstInode(layer.hash));
      trees.set(ref.hash, tree);
    }
    return tree;
  });
}
