// A policy rule denies writes under /data/box/protected (errno ENOTTY, which
// no file system call here returns, so that the rule's denials are told apart
// from the file system's own errors); the guest tries
// every other name through which a write could reach the protected file: an
// ancestor renamed away, a hard link, a symlink, `..`, a directory fd, times
// and sizes set through an fd. Each test asserts the rule's errno and that the
// protected file is unchanged. One fresh guest per test: an attack that works
// must not hide behind another's leftovers.
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PY_ERR, startGuest, type Guest } from "../helpers/engine.js";
import { ROOT_FD, WASI_ERRNO, wasi } from "../helpers/wasi.js";
import type { PolicySpec } from "../../src/shared/spec.js";

const PRECIOUS = "precious contents";
const DENIED = "ENOTTY";
const rule = (pathPrefix: string): PolicySpec => ({ deny: [{ pathPrefix, writesOnly: true, errno: DENIED }] });
const text = (s: string) => new TextEncoder().encode(s);
const LOOKUP_SYMLINK_FOLLOW = 1;

let g: Guest | null = null;
let hostDir: string | null = null;
afterEach(() => {
  g?.kernel.dispose();
  g = null;
  if (hostDir !== null) fs.rmSync(hostDir, { recursive: true, force: true });
  hostDir = null;
});

/** A guest with a writable in-memory /data holding box/protected/f.txt, the rule on /data/box/protected, and helpers `err(f, ...)` and `state()`. */
function guest(): Guest {
  g = startGuest({
    cwd: "/data",
    files: { "/data/box/protected/f.txt": text(PRECIOUS), "/data/box/open.txt": text("free"), "/data/mine.txt": text("guest data") },
    policy: rule("/data/box/protected"),
  });
  g.value(PY_ERR + `
def state():
    st = os.stat('/data/box/protected/f.txt')
    with open('/data/box/protected/f.txt') as f:
        return [f.read(), st.st_mtime_ns, st.st_nlink]
`);
  return g;
}

/** Runs `attack` (Python statements ending in an expression) and returns its value; then checks the protected file. */
function attempt(attack: string): unknown {
  const guestNow = g ?? guest();
  const before = guestNow.value("state()") as [string, number, number];
  assert.equal(before[0], PRECIOUS);
  const value = guestNow.value(attack);
  assert.deepEqual(guestNow.value("state()"), before, "the protected file is unchanged (contents, mtime, link count)");
  return value;
}

describe("renames", () => {
  test("renaming an ancestor of the protected prefix away is denied with the rule's errno", () => {
    guest();
    assert.deepEqual(attempt("(err(os.rename, '/data/box', '/data/elsewhere'), err(lambda: open('/data/elsewhere/protected/f.txt', 'w').write('pwned')))"),
      [DENIED, "ENOENT"]);
  });

  test("renaming the protected directory itself is denied", () => {
    guest();
    assert.equal(attempt("err(os.rename, '/data/box/protected', '/data/box/moved')"), DENIED);
  });

  test("renaming a file into the protected prefix (over the protected file) is denied", () => {
    guest();
    assert.equal(attempt("err(os.rename, '/data/mine.txt', '/data/box/protected/f.txt')"), DENIED);
  });

  test("renaming a directory onto an ancestor of the protected prefix is denied", () => {
    guest();
    assert.equal(attempt("os.mkdir('/data/empty')\nerr(os.rename, '/data/empty', '/data/box')"), DENIED);
  });

  test("renaming a sibling of the protected directory is still allowed", () => {
    guest();
    assert.equal(attempt("err(os.rename, '/data/box/open.txt', '/data/box/open2.txt')"), null);
  });
});

describe("removals", () => {
  test("rmdir of an ancestor of the protected prefix is denied with the rule's errno", () => {
    guest();
    assert.equal(attempt("err(os.rmdir, '/data/box')"), DENIED);
  });

  test("unlink of an ancestor of the protected prefix is denied with the rule's errno", () => {
    guest();
    assert.equal(attempt("err(os.unlink, '/data/box')"), DENIED);
  });

  test("unlinking the protected file is denied", () => {
    guest();
    assert.equal(attempt("err(os.unlink, '/data/box/protected/f.txt')"), DENIED);
  });
});

describe("hard links", () => {
  test("a hard link from a protected file to an unprotected name is denied (a link source is looked up with write intent)", () => {
    guest();
    assert.deepEqual(attempt("(err(os.link, '/data/box/protected/f.txt', '/data/alias'), os.path.exists('/data/alias') and open('/data/alias', 'w').write('pwned'))"),
      [DENIED, false]);
  });

  test("a hard link of a symlink to the protected file gives no way to write it", () => {
    guest();
    // os.link links the symlink itself (link() does not follow); a write through the new name still resolves to the protected file.
    assert.deepEqual(attempt("os.symlink('/data/box/protected/f.txt', '/data/sl')\n(err(os.link, '/data/sl', '/data/alias'), err(lambda: open('/data/alias', 'w').write('pwned')))"),
      [null, DENIED]);
  });

  test("path_link with LOOKUP_SYMLINK_FOLLOW from a symlink to the protected file is denied", () => {
    guest();
    attempt("os.symlink('/data/box/protected/f.txt', '/data/sl')");
    const w = wasi(g!);
    w.save();
    try {
      const from = w.putString(w.scratch, "data/sl");
      const to = w.putString(w.scratch + 256, "data/alias");
      assert.equal(w.call("path_link", ROOT_FD, LOOKUP_SYMLINK_FOLLOW, w.scratch, from, ROOT_FD, w.scratch + 256, to), WASI_ERRNO.NOTTY);
    } finally {
      w.restore();
    }
    assert.deepEqual(attempt("os.path.lexists('/data/alias')"), false);
  });

  test("a hard link into the protected prefix is denied", () => {
    guest();
    assert.equal(attempt("err(os.link, '/data/mine.txt', '/data/box/protected/g.txt')"), DENIED);
  });
});

describe("other names for the same path", () => {
  test("a symlink to the protected file, opened for writing, is denied", () => {
    guest();
    assert.equal(attempt("os.symlink('/data/box/protected/f.txt', '/tmp/l')\nerr(lambda: open('/tmp/l', 'w').write('pwned'))"), DENIED);
  });

  test("a symlink to the protected directory, then a write below it, is denied", () => {
    guest();
    assert.equal(attempt("os.symlink('../data/box/protected', '/tmp/d')\nerr(lambda: open('/tmp/d/f.txt', 'a').write('pwned'))"), DENIED);
  });

  test("`..` paths that end in the protected prefix are denied", () => {
    guest();
    assert.deepEqual(attempt("[err(lambda: open(p, 'w')) for p in ('/tmp/../data/box/protected/f.txt', '/data/box/protected/../protected/./f.txt', 'box/../../data/box/protected/f.txt')]"),
      [DENIED, DENIED, DENIED]);
  });

  test("a write relative to a directory fd opened on an ancestor is denied", () => {
    guest();
    assert.equal(attempt("d = os.open('/data', os.O_RDONLY | os.O_DIRECTORY)\nerr(os.open, 'box/protected/f.txt', os.O_WRONLY | os.O_TRUNC, dir_fd=d)"), DENIED);
  });

  test("a write relative to a directory fd opened (for reading) on the protected directory is denied", () => {
    guest();
    assert.deepEqual(attempt("d = os.open('/data/box/protected', os.O_RDONLY | os.O_DIRECTORY)\n[err(os.open, 'f.txt', os.O_WRONLY, dir_fd=d), err(os.open, 'new.txt', os.O_WRONLY | os.O_CREAT, dir_fd=d), err(os.mkdir, 'sub', dir_fd=d)]"),
      [DENIED, DENIED, DENIED]);
  });
});

describe("sizes and times", () => {
  test("truncating the protected file by path is denied", () => {
    guest();
    assert.equal(attempt("err(os.truncate, '/data/box/protected/f.txt', 0)"), DENIED);
  });

  test("truncating through an fd opened for reading fails and leaves the file alone", () => {
    guest();
    assert.notEqual(attempt("fd = os.open('/data/box/protected/f.txt', os.O_RDONLY)\nerr(os.ftruncate, fd, 0)"), null);
  });

  test("setting times by path, or through a symlink to the protected file, is denied", () => {
    guest();
    assert.deepEqual(attempt("os.symlink('/data/box/protected/f.txt', '/tmp/l')\n[err(os.utime, '/data/box/protected/f.txt', (0, 0)), err(os.utime, '/tmp/l', (0, 0))]"), [DENIED, DENIED]);
  });

  test("setting times through an fd opened for reading is denied with the rule's errno", () => {
    guest();
    assert.equal(attempt("fd = os.open('/data/box/protected/f.txt', os.O_RDONLY)\nerr(os.utime, fd, (0, 0))"), DENIED);
  });

  test("setting times through a directory fd opened on the protected directory is denied", () => {
    guest();
    assert.equal(attempt("d = os.open('/data/box/protected', os.O_RDONLY | os.O_DIRECTORY)\nerr(os.utime, d, (0, 0))"), DENIED);
  });
});

describe("on a host mount", () => {
  /** A guest whose /data is a read-write host mount holding box/protected/f.txt, under the same kind of rule. */
  function hostGuest(): { file: string } {
    hostDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "pyvisor-policy-")));
    fs.mkdirSync(path.join(hostDir, "box", "protected"), { recursive: true });
    const file = path.join(hostDir, "box", "protected", "f.txt");
    fs.writeFileSync(file, PRECIOUS);
    g = startGuest({ mounts: [{ hostPath: hostDir, guestPath: "/data", readonly: false }], policy: rule("/data/box/protected") });
    g.value(PY_ERR);
    return { file };
  }

  test("renaming an ancestor on a host mount is denied and the host file keeps its name and contents", () => {
    const { file } = hostGuest();
    assert.deepEqual(g!.value("(err(os.rename, '/data/box', '/data/elsewhere'), err(lambda: open('/data/elsewhere/protected/f.txt', 'w').write('pwned')))"), [DENIED, "ENOENT"]);
    assert.equal(fs.readFileSync(file, "utf8"), PRECIOUS);
  });

  test("a hard link from a protected host file is denied and no second name appears on the host", () => {
    const { file } = hostGuest();
    assert.equal(g!.value("err(os.link, '/data/box/protected/f.txt', '/data/alias')"), DENIED);
    assert.equal(fs.existsSync(path.join(hostDir!, "alias")), false);
    assert.equal(fs.statSync(file).nlink, 1);
    assert.equal(fs.readFileSync(file, "utf8"), PRECIOUS);
  });
});
