// More ways to name a host file outside the mounts: `..` chains, symlink
// loops and chains, absolute targets, trailing slashes, NUL bytes, very long
// and unicode-lookalike paths, /proc-style fd paths, chdir tricks, writes to
// read-only mounts and the stdlib image, renames and links across mounts.
// Host layout (as in path-confinement.test.ts):
//   <base>/secret   <base>/data/ (rw at /data)   <base>/ro/r.txt (ro at /ro)
// At the end nothing outside <base>/data has changed and the secret was never read.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Guest } from "../helpers/engine.js";
import { RIGHT, ROOT_FD, WASI_ERRNO, wasi } from "../helpers/wasi.js";
import { changedPaths, freshGuest, snapshotTree, tempDir } from "./helpers.js";

const SECRET = "TOPSECRET-c0ffee";
const base = tempDir("confine-more");
const data = path.join(base, "data");
const ro = path.join(base, "ro");
let g: Guest;
let outsideBefore: Map<string, string>;

/** The host tree outside the read-write mount. */
function outside(): Map<string, string> {
  const all = snapshotTree(base);
  for (const key of [...all.keys()]) if (key === data || key.startsWith(data + path.sep)) all.delete(key);
  return all;
}

before(() => {
  fs.mkdirSync(data);
  fs.mkdirSync(ro);
  fs.writeFileSync(path.join(base, "secret"), SECRET);
  fs.writeFileSync(path.join(data, "f.txt"), "data-file");
  fs.writeFileSync(path.join(ro, "r.txt"), "ro-file");
  outsideBefore = outside();
  g = freshGuest({ mounts: [{ hostPath: data, guestPath: "/data", readonly: false }, { hostPath: ro, guestPath: "/ro", readonly: true }] });
});
after(() => g.kernel.dispose());

/** What reading `path` gives: its text or the exception's name. */
const readOf = (guestPath: string) => g.value(`tries(read, ${JSON.stringify(guestPath)})`);

test("a thousand `..` components from the mount land on the sandbox root", () => {
  assert.deepEqual(g.value("sorted(os.listdir('/data/' + '../' * 1000))"), ["data", "dev", "home", "ro", "tmp", "usr"]);
  assert.equal(readOf("/data/" + "../".repeat(1000) + "secret"), "FileNotFoundError");
});

test("`..` mixed with `.` and empty components does not reach the host's parent", () => {
  assert.equal(readOf("/data/./..//.././data/../../secret"), "FileNotFoundError");
});

test("a guest symlink to `..` repeated through itself climbs no higher than the sandbox root", () => {
  assert.deepEqual(g.value("os.makedirs('/tmp/deep/a')\nos.symlink('..', '/tmp/deep/a/up')\nos.symlink('../' * 20, '/tmp/deep/a/top')\nsorted(os.listdir('/tmp/deep/a/up/a/up/a/top'))"), ["data", "dev", "home", "ro", "tmp", "usr"]);
  assert.equal(readOf("/tmp/deep/a/up/a/top/secret"), "FileNotFoundError");
});

test("a two-link symlink loop is ELOOP", () => {
  assert.equal(g.value("os.symlink('/tmp/loop-b', '/tmp/loop-a')\nos.symlink('/tmp/loop-a', '/tmp/loop-b')\nerr(open, '/tmp/loop-a')"), "ELOOP");
});

test("a symlink to itself is ELOOP", () => {
  assert.equal(g.value("os.symlink('self', '/tmp/self')\nerr(os.stat, '/tmp/self')"), "ELOOP");
});

test("a chain of 100 symlinks ends in ELOOP instead of a long walk", () => {
  const code = "for i in range(100): os.symlink(f'chain{i + 1}', f'/tmp/chain{i}')\nwrite('/tmp/chain100', 'end')\nerr(open, '/tmp/chain0')";
  assert.equal(g.value(code), "ELOOP");
});

test("a symlink whose absolute target climbs with `..` stays in the sandbox", () => {
  assert.equal(g.value("os.symlink('/data/../../../secret', '/tmp/abs-up')\ntries(read, '/tmp/abs-up')"), "FileNotFoundError");
});

test("a symlink in /tmp to a mount path reaches only the mounted file", () => {
  assert.equal(g.value("os.symlink('/data/f.txt', '/tmp/to-data')\nread('/tmp/to-data')"), "data-file");
});

test("creating a file with a trailing slash creates nothing on the host", () => {
  assert.equal(g.value("err(open, '/data/new-file/', 'w')"), "EISDIR");
  assert.equal(fs.existsSync(path.join(data, "new-file")), false);
});

test("a trailing slash on a file name is not the file (ENOTDIR)", () => {
  assert.equal(g.value("err(os.stat, '/data/f.txt/')"), "ENOTDIR");
});

test("a NUL byte in a symlink target is refused by Python", () => {
  assert.equal(g.value("tries(os.symlink, '/etc\\x00/passwd', '/tmp/nul-link')"), "ValueError");
});

test("a NUL byte in a symlink target is EINVAL at the kernel", () => {
  const w = wasi(g);
  w.save();
  try {
    const targetLen = w.putString(w.scratch, "../../secret\0x");
    const linkLen = w.putString(w.scratch + 256, "data/nul-kernel");
    assert.equal(w.call("path_symlink", w.scratch, targetLen, ROOT_FD, w.scratch + 256, linkLen), WASI_ERRNO.INVAL);
  } finally {
    w.restore();
  }
  assert.equal(fs.existsSync(path.join(data, "nul-kernel")), false);
});

test("a NUL byte in a rename target is EINVAL at the kernel", () => {
  const w = wasi(g);
  w.save();
  try {
    const fromLen = w.putString(w.scratch, "data/f.txt");
    const toLen = w.putString(w.scratch + 256, "data/x\0/../../secret");
    assert.equal(w.call("path_rename", ROOT_FD, w.scratch, fromLen, ROOT_FD, w.scratch + 256, toLen), WASI_ERRNO.INVAL);
  } finally {
    w.restore();
  }
  assert.equal(fs.readFileSync(path.join(data, "f.txt"), "utf8"), "data-file");
});

test("a path of 5 000 `./` components is ENAMETOOLONG, not a slow walk", () => {
  assert.equal(g.value("err(open, '/data/' + './' * 5000 + 'f.txt')"), "ENAMETOOLONG");
});

test("an invalid UTF-8 name is EILSEQ and creates nothing on the host", () => {
  const before = fs.readdirSync(data).length;
  assert.equal(g.value("err(os.open, b'/data/\\xff\\xfe', os.O_CREAT | os.O_WRONLY)"), "EILSEQ");
  assert.equal(fs.readdirSync(data).length, before);
});

test("fullwidth and leader dots are names, not `..`", () => {
  assert.deepEqual(g.value("[tries(os.listdir, '/data/\\uff0e\\uff0e'), tries(os.listdir, '/data/\\u2025')]"), ["FileNotFoundError", "FileNotFoundError"]);
});

test("NFC and NFD spellings of a name are different names (no normalisation merges them)", () => {
  const value = g.value("write('/data/caf\\u00e9', 'nfc')\n[tries(read, '/data/cafe\\u0301'), read('/data/caf\\u00e9')]");
  assert.deepEqual(value, ["FileNotFoundError", "nfc"]);
});

test("/proc/self/fd, /dev/fd and /dev/stdin names open nothing", () => {
  const value = g.value("fd = os.open('/data/f.txt', os.O_RDONLY)\nr = [err(os.open, f'/proc/self/fd/{fd}', os.O_RDONLY), err(os.open, f'/dev/fd/{fd}', os.O_RDONLY), err(os.open, '/dev/stdin', os.O_RDONLY)]\nos.close(fd)\nr");
  assert.deepEqual(value, ["ENOENT", "ENOENT", "ENOENT"]);
});

test("chdir into the mount then `..` many times ends at the sandbox root", () => {
  const value = g.value("os.chdir('/data')\nfor _ in range(50): os.chdir('..')\nr = (os.path.abspath(os.getcwd()), sorted(os.listdir('.')), tries(read, 'secret'))\nos.chdir('/home/user')\nr");
  assert.deepEqual(value, ["/", ["data", "dev", "home", "ro", "tmp", "usr"], "FileNotFoundError"]);
});

test("a working directory removed under the guest gives ENOENT for relative names, not a host path", () => {
  const value = g.value("os.mkdir('/data/gone')\nos.chdir('/data/gone')\nos.rmdir('/data/gone')\nr = [err(open, 'x', 'w'), err(open, '../../secret')]\nos.chdir('/home/user')\nr");
  assert.deepEqual(value, ["ENOENT", "ENOENT"]);
  assert.equal(fs.existsSync(path.join(data, "x")), false);
});

test("a working directory renamed away resolves relative names by its old path, inside the mount only", () => {
  // wasi-libc keeps the working directory as a path: after the rename it names nothing.
  const value = g.value("os.mkdir('/data/wd')\nos.chdir('/data/wd')\nos.rename('/data/wd', '/data/wd2')\nr = [err(write, 'made-here', 'x'), err(open, '../../secret')]\nos.chdir('/home/user')\nr");
  assert.deepEqual(value, ["ENOENT", "ENOENT"]);
  assert.deepEqual(fs.readdirSync(path.join(data, "wd2")), []);
});

test("a directory fd in memory keeps naming the same directory after it is renamed", () => {
  const value = g.value("os.mkdir('/tmp/fdir')\nfd = os.open('/tmp/fdir', os.O_RDONLY)\nos.rename('/tmp/fdir', '/tmp/fdir2')\nf = os.open('inner', os.O_CREAT | os.O_WRONLY, dir_fd=fd)\nos.close(f)\nos.close(fd)\nos.path.exists('/tmp/fdir2/inner')");
  assert.equal(value, true);
});

test("opening a mount's directory for writing is EISDIR", () => {
  assert.deepEqual(g.value("[err(os.open, '/data', os.O_WRONLY), err(os.open, '/tmp', os.O_RDWR), err(open, '/data', 'w')]"), ["EISDIR", "EISDIR", "EISDIR"]);
});

test("O_TRUNC on a read-only mount's file is refused and the host file keeps its contents", () => {
  assert.equal(g.value("err(os.open, '/ro/r.txt', os.O_RDONLY | os.O_TRUNC)"), "EROFS");
  assert.equal(fs.readFileSync(path.join(ro, "r.txt"), "utf8"), "ro-file");
});

test("chmod on a read-only mount's file changes nothing on the host", () => {
  const mode = fs.statSync(path.join(ro, "r.txt")).mode;
  g.value("err(os.chmod, '/ro/r.txt', 0o777)");
  assert.equal(fs.statSync(path.join(ro, "r.txt")).mode, mode);
});

test("the stdlib image refuses writes, deletes, renames and new directories", () => {
  const value = g.value(`
lib = '/usr/local/lib/python3.13'
[err(open, lib + '/os.py', 'w'), err(os.unlink, lib + '/os.py'), err(os.rename, lib + '/os.py', lib + '/os2.py'),
 err(os.mkdir, lib + '/__pycache__/x'), err(os.symlink, '/tmp', lib + '/evil'), err(os.truncate, lib + '/os.py', 0)]`);
  assert.deepEqual(value, Array(6).fill("EROFS"));
});

test("the stdlib image seen by a new sandbox is intact after the attempts", () => {
  const other = freshGuest();
  try {
    assert.equal(other.value("import os\nos.path.join('a', 'b')"), "a/b");
    assert.equal(other.value("os.path.exists('/usr/local/lib/python3.13/evil')"), false);
  } finally {
    other.kernel.dispose();
  }
});

test("renaming a stdlib file into /tmp is EXDEV", () => {
  assert.equal(g.value("err(os.rename, '/usr/local/lib/python3.13/os.py', '/tmp/os.py')"), "EXDEV");
});

test("hard-linking a stdlib file into /tmp or the mount is EXDEV", () => {
  assert.deepEqual(g.value("[err(os.link, '/usr/local/lib/python3.13/os.py', '/tmp/os.py'), err(os.link, '/usr/local/lib/python3.13/os.py', '/data/os.py')]"), ["EXDEV", "EXDEV"]);
});

test("hard-linking a read-only mount's file into the read-write mount is refused", () => {
  assert.ok(["EXDEV", "EROFS"].includes(g.value("err(os.link, '/ro/r.txt', '/data/r-link')") as string));
  assert.equal(fs.existsSync(path.join(data, "r-link")), false);
});

test("renaming a read-write mount's directory into /tmp is EXDEV and leaves it on the host", () => {
  assert.equal(g.value("os.mkdir('/data/stay')\nerr(os.rename, '/data/stay', '/tmp/stay')"), "EXDEV");
  assert.equal(fs.statSync(path.join(data, "stay")).isDirectory(), true);
});

test("the mount point itself cannot be renamed, removed or replaced by a symlink", () => {
  assert.deepEqual(g.value("[err(os.rename, '/data', '/tmp/d'), err(os.rmdir, '/data'), err(os.symlink, '/', '/data')]"), ["EXDEV", "EROFS", "EEXIST"]);
});

test("a directory renamed into its own subdirectory is EINVAL", () => {
  assert.equal(g.value("os.makedirs('/data/p/c')\nerr(os.rename, '/data/p', '/data/p/c/p')"), "EINVAL");
});

test("nothing outside the read-write mount changed on the host", () => {
  assert.deepEqual(changedPaths(outsideBefore, outside()), []);
});
