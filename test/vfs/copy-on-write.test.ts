// Files built on shared bytes (the stdlib image's buffer, a template's files)
// are copied on their first write: one sandbox's write never reaches the
// bytes the others read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemDir, MemFile } from "../../src/vfs/memory.js";
import { InodeCounter, Quota, type MountContext } from "../../src/vfs/node.js";

const writable = (quota: Quota | null = null): MountContext => ({ id: 1, readonly: false, quota, inodes: new InodeCounter(), now: () => 0n });

test("a write to a file made on shared contents leaves the shared bytes unchanged", () => {
  const shared = new TextEncoder().encode("from the template");
  const file = new MemFile(writable(), shared);
  file.write(0, new TextEncoder().encode("CHANGED"));
  assert.equal(new TextDecoder().decode(file.read(0, 100)), "CHANGEDe template");
  assert.equal(new TextDecoder().decode(shared), "from the template");
});

test("a shared file truncated and grown again reads zeros, and the shared bytes stay", () => {
  const shared = new Uint8Array(70_000).fill(1);
  const file = new MemFile(writable(), shared);
  file.resize(10);
  file.resize(20);
  assert.deepEqual([...file.read(8, 4)], [1, 1, 0, 0]);
  file.write(0, new Uint8Array([9]));
  assert.equal(shared[0], 1);
  assert.equal(shared[69_999], 1);
});

test("an adopted file is charged to the quota, and removing it gives the bytes back", () => {
  const quota = new Quota(1000, 10);
  const dir = new MemDir(writable(quota));
  dir.adoptFile("a", new Uint8Array(600));
  assert.deepEqual([quota.bytesUsed, quota.inodesUsed], [600, 1]);
  assert.throws(() => dir.adoptFile("b", new Uint8Array(600)), /quota/);
  assert.deepEqual([quota.bytesUsed, quota.inodesUsed, dir.lookup("b")], [600, 1, undefined]);
  dir.remove("a", false);
  assert.deepEqual([quota.bytesUsed, quota.inodesUsed], [0, 0]);
});
