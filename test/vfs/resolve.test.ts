// The one path resolver (src/vfs/resolve.ts), on an in-memory tree:
//   /a/b/file.txt   /a/empty/   /top.txt
//   /a/rel -> b/file.txt      /a/abs -> /a/b      /a/up -> ../../../../..
//   /loop1 -> loop2   /loop2 -> loop1   /self -> self   /dangling -> /nowhere
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemDir, MemFile, MemSymlink } from "../../src/vfs/memory.js";
import { InodeCounter, VfsError, type DirNode, type MountContext } from "../../src/vfs/node.js";
import { MAX_NAME_BYTES, MAX_PATH_BYTES, MAX_SYMLINK_EXPANSIONS, resolve } from "../../src/vfs/resolve.js";
import { WASI_ERRNO } from "../helpers/wasi.js";

const mount: MountContext = { id: 1, readonly: false, quota: null, inodes: new InodeCounter(), now: () => 0n };

const root = new MemDir(mount);
const a = new MemDir(mount);
const b = new MemDir(mount);
const empty = new MemDir(mount);
const file = new MemFile(mount, Buffer.from("contents"));
const top = new MemFile(mount);
root.attach("a", a);
root.attach("top.txt", top);
a.attach("b", b);
a.attach("empty", empty);
b.attach("file.txt", file);
a.attach("rel", new MemSymlink(mount, "b/file.txt"));
a.attach("abs", new MemSymlink(mount, "/a/b"));
a.attach("up", new MemSymlink(mount, "../../../../.."));
root.attach("loop1", new MemSymlink(mount, "loop2"));
root.attach("loop2", new MemSymlink(mount, "loop1"));
root.attach("self", new MemSymlink(mount, "self"));
root.attach("dangling", new MemSymlink(mount, "/nowhere"));
root.attach("nul", new MemSymlink(mount, "a\0b"));

const fromRoot = (path: string, follow = true) => resolve(root, [root], path, follow);
/** The stack and names of /a/b, as an open directory fd holds them. */
const fromB = (path: string, follow = true) => resolve(root, [root, a, b], path, follow, ["a", "b"]);

function assertErrno(fn: () => unknown, errno: number): void {
  assert.throws(fn, (error: unknown) => error instanceof VfsError && error.errno === errno);
}

test("`..` at the root stays at the root", () => {
  const found = fromRoot("/../../..");
  assert.equal(found.node, root);
  assert.equal(found.path, "/");
});

test("`..` above the start directory's root stays at the root", () => {
  const found = fromB("../../../../top.txt");
  assert.equal(found.node, top);
  assert.equal(found.path, "/top.txt");
});

test("`..` walks back to the parent directory", () => {
  const found = fromB("..");
  assert.equal(found.node, a);
  assert.equal(found.path, "/a");
});

test("a relative path resolves from the start directory", () => {
  const found = fromB("file.txt");
  assert.equal(found.node, file);
  assert.equal(found.path, "/a/b/file.txt");
});

test("two symlinks pointing at each other are ELOOP", () => {
  assertErrno(() => fromRoot("/loop1"), WASI_ERRNO.LOOP);
});

test("a symlink pointing at itself is ELOOP", () => {
  assertErrno(() => fromRoot("/self/x"), WASI_ERRNO.LOOP);
});

test(`a chain of ${MAX_SYMLINK_EXPANSIONS} symlinks resolves, one more is ELOOP`, () => {
  const chain = new MemDir(mount);
  chain.attach("target", new MemFile(mount));
  chain.attach("l0", new MemSymlink(mount, "target"));
  for (let i = 1; i <= MAX_SYMLINK_EXPANSIONS; i++) chain.attach(`l${i}`, new MemSymlink(mount, `l${i - 1}`));
  const chainRoot = new MemDir(mount);
  chainRoot.attach("c", chain);
  assert.equal(resolve(chainRoot, [chainRoot], `/c/l${MAX_SYMLINK_EXPANSIONS - 1}`, true).path, "/c/target");
  assertErrno(() => resolve(chainRoot, [chainRoot], `/c/l${MAX_SYMLINK_EXPANSIONS}`, true), WASI_ERRNO.LOOP);
});

test("an absolute symlink target resolves from the sandbox root", () => {
  const found = fromB("../abs/file.txt");
  assert.equal(found.node, file);
  assert.equal(found.path, "/a/b/file.txt");
});

test("a symlink climbing with `..` stops at the sandbox root", () => {
  const found = fromRoot("/a/up/top.txt");
  assert.equal(found.node, top);
  assert.equal(found.path, "/top.txt");
});

test("a dangling absolute symlink names a missing file under the sandbox root", () => {
  const found = fromRoot("/dangling");
  assert.equal(found.node, undefined);
  assert.equal(found.path, "/nowhere");
});

test("a relative symlink target resolves from the link's directory", () => {
  const found = fromRoot("/a/rel");
  assert.equal(found.node, file);
  assert.equal(found.path, "/a/b/file.txt");
});

test("the final symlink is returned itself unless followed", () => {
  const found = fromRoot("/a/rel", false);
  assert.equal(found.node?.kind, "symlink");
  assert.equal(found.path, "/a/rel");
});

test("intermediate symlinks are followed even without following the final one", () => {
  assert.equal(fromRoot("/a/abs/file.txt", false).node, file);
});

test("a trailing slash on a file is ENOTDIR", () => {
  assertErrno(() => fromRoot("/a/b/file.txt/"), WASI_ERRNO.NOTDIR);
});

test("a trailing slash on a symlink to a file is ENOTDIR", () => {
  assertErrno(() => fromRoot("/a/rel/", false), WASI_ERRNO.NOTDIR);
});

test("`/.` after a file is ENOTDIR", () => {
  assertErrno(() => fromRoot("/a/b/file.txt/."), WASI_ERRNO.NOTDIR);
});

test("a trailing slash on a directory names the directory", () => {
  const found = fromRoot("/a/b/");
  assert.equal(found.node, b);
  assert.equal(found.trailingSlash, true);
});

test("a file used as a directory in the middle of a path is ENOTDIR", () => {
  assertErrno(() => fromRoot("/top.txt/x"), WASI_ERRNO.NOTDIR);
});

test("a NUL byte in a path is EINVAL", () => {
  assertErrno(() => fromRoot("/a\0/b"), WASI_ERRNO.INVAL);
});

test("a NUL byte in a symlink target is EINVAL", () => {
  assertErrno(() => fromRoot("/nul"), WASI_ERRNO.INVAL);
});

test("a path longer than the limit is ENAMETOOLONG", () => {
  assertErrno(() => fromRoot("/" + "a/".repeat(MAX_PATH_BYTES / 2)), WASI_ERRNO.NAMETOOLONG);
});

test("a component longer than the limit is ENAMETOOLONG", () => {
  assertErrno(() => fromRoot("/" + "x".repeat(MAX_NAME_BYTES + 1)), WASI_ERRNO.NAMETOOLONG);
  assert.equal(fromRoot("/" + "x".repeat(MAX_NAME_BYTES)).node, undefined);
});

test("component length is counted in UTF-8 bytes, not characters", () => {
  assertErrno(() => fromRoot("/" + "é".repeat(128)), WASI_ERRNO.NAMETOOLONG);
});

test("an empty path is ENOENT", () => {
  assertErrno(() => fromRoot(""), WASI_ERRNO.NOENT);
});

test("a missing intermediate directory is ENOENT", () => {
  assertErrno(() => fromRoot("/a/missing/file.txt"), WASI_ERRNO.NOENT);
});

test("a missing final component is not an error: its parent and name are returned", () => {
  const found = fromRoot("/a/empty/new.txt");
  assert.equal(found.node, undefined);
  assert.equal(found.name, "new.txt");
  assert.equal(found.parents.at(-1), empty);
  assert.equal(found.path, "/a/empty/new.txt");
});

test("the returned path is the canonical sandbox path", () => {
  assert.equal(fromRoot("//a/./b/../b//file.txt").path, "/a/b/file.txt");
  assert.equal(fromRoot("/a/empty/../abs/./file.txt").path, "/a/b/file.txt");
  assert.equal(fromB("./../../a/./b/.").path, "/a/b");
});

test("the returned parents are the directories walked, root first", () => {
  const parents: DirNode[] = fromRoot("/a/abs/file.txt").parents;
  assert.deepEqual(parents, [root, a, b]);
});
