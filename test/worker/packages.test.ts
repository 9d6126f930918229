// A package's layer inside a worker: unpacked once, then the same read-only
// nodes in every sandbox's tree (memory counted once, not per sandbox), with
// inode numbers that follow from the package alone.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkPackages } from "../../src/packages/layer.js";
import { packageTrees } from "../../src/worker/packages.js";
import { buildTree } from "../../src/vfs/tree.js";
import { MemDir } from "../../src/vfs/memory.js";
import { resolve } from "../../src/vfs/resolve.js";
import { InodeCounter, type FileNode } from "../../src/vfs/node.js";
import { writeWheel } from "../helpers/wheel.js";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "pyvisor-layers-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const stdlib = new MemDir({ id: 1, readonly: true, quota: null, inodes: new InodeCounter(), now: () => 0n });
const sandboxTree = (packages: MemDir[]) => buildTree({
  stdlib, packages, mounts: [], files: {}, cwd: "/home/user", diskQuotaBytes: 1 << 20, inodeQuota: 100,
  deterministic: false, now: () => 0n, random: () => undefined,
});
const lookup = (root: MemDir, path: string) => resolve(root, [root], path, true).node;

test("twenty sandboxes naming one package share its nodes: the layer is built once per worker, not per sandbox", () => {
  const wheel = writeWheel(dir, { name: "shared", version: "1.0", files: { "shared/__init__.py": "X = 1\n", "shared/data.bin": new Uint8Array(100_000) } });
  const refs = checkPackages([wheel]);
  const trees = Array.from({ length: 20 }, () => sandboxTree(packageTrees(refs)));
  const nodes = trees.map((tree) => lookup(tree.root, "/usr/local/lib/python3.13/site-packages/shared/data.bin"));
  assert.ok(nodes[0] !== undefined && nodes[0].kind === "file");
  for (const node of nodes) assert.equal(node, nodes[0], "the same node object in every sandbox");
  const handle = (nodes[0] as FileNode).open({ read: true, write: false, truncate: false });
  assert.equal(handle.size(), 100_000);
  assert.throws(() => (nodes[0] as FileNode).open({ read: false, write: true, truncate: false }).write(0, new Uint8Array(1)), /read-only/);
});

test("two packages sharing a directory (a namespace package) are merged per sandbox without touching either layer", () => {
  const one = writeWheel(dir, { name: "ns_one", version: "1.0", files: { "ns/one.py": "" } });
  const two = writeWheel(dir, { name: "ns_two", version: "1.0", files: { "ns/two.py": "" } });
  const [treeOne, treeTwo] = packageTrees(checkPackages([one, two]));
  const tree = sandboxTree([treeOne!, treeTwo!]);
  assert.ok(lookup(tree.root, "/usr/local/lib/python3.13/site-packages/ns/one.py"));
  assert.ok(lookup(tree.root, "/usr/local/lib/python3.13/site-packages/ns/two.py"));
  assert.equal(lookup(treeOne!, "/ns/two.py"), undefined, "the shared layer itself is unchanged");
});

test("a package's inode numbers follow from its content hash alone, not from what the worker loaded before", () => {
  packageTrees(checkPackages([writeWheel(dir, { name: "loaded_before", version: "1.0", files: { "a.py": "", "b.py": "" } })]));
  const refs = checkPackages([writeWheel(dir, { name: "numbered", version: "1.0", files: { "numbered.py": "" } })]);
  const [tree] = packageTrees(refs);
  const base = (1n << 40n) + BigInt(`0x${refs[0]!.hash.slice(0, 8)}`) * (1n << 22n);
  assert.equal(tree!.stat().ino, base, "the layer's root");
  // Its files follow in name order: numbered-1.0.dist-info/{METADATA,RECORD,WHEEL}, then numbered.py.
  assert.equal(lookup(tree!, "/numbered.py")!.stat().ino, base + 5n);
});

test("a package whose file changed after the host checked it is refused by the worker, not unpacked unchecked", () => {
  const spec = { name: "changing", version: "1.0", files: { "changing.py": "A = 1\n" } };
  const wheel = writeWheel(dir, spec);
  const refs = checkPackages([wheel]);
  writeWheel(dir, { ...spec, files: { "changing.py": "A = 'swapped'\n" } });
  assert.throws(() => packageTrees(refs), /package .*changing-1\.0-py3-none-any\.whl changed after it was checked/);
});
