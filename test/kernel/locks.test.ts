// Record locks (the `pyvisor.fd_lock` import behind SQLite's locking): two
// sandboxes of one worker that mount the same host directory meet on its
// files as two Linux processes do; one sandbox never conflicts with itself.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startGuest, type Guest } from "../helpers/engine.js";
import { WASI_ERRNO, wasi } from "../helpers/wasi.js";
import { LockTable, serveLockCall } from "../../src/shared/locks.js";

const F_GETLK = 12, F_SETLK = 13;
const F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;
const SEEK_SET = 0;

let dir: string;
let a: Guest;
let b: Guest;

function guestOn(hostDir: string): Guest {
  return startGuest({ mounts: [{ hostPath: hostDir, guestPath: "/data", readonly: false }] });
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pyvisor-locks-"));
  fs.writeFileSync(path.join(dir, "db"), "x".repeat(4096));
  a = guestOn(dir);
  b = guestOn(dir);
});
after(() => {
  a.kernel.dispose();
  b.kernel.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Opens /data/db in `guest` (read-write unless told) and returns the fd. */
function open(guest: Guest, flags = "os.O_RDWR", file = "/data/db"): number {
  return guest.value(`import os\nos.open(${JSON.stringify(file)}, ${flags})`) as number;
}

function close(guest: Guest, fd: number): void {
  guest.value(`os.close(${fd})`);
}

function lock(guest: Guest, fd: number, cmd: number, type: number, start = 0n, len = 0n, out = 0, whence = SEEK_SET): number {
  const fdLock = guest.kernel.imports().pyvisor!.fd_lock as (...args: Array<number | bigint>) => number;
  return fdLock(fd, cmd, type, whence, start, len, out);
}

test("a write lock one sandbox holds on a host file keeps another sandbox of the worker from locking it, and F_GETLK reports it", () => {
  const fa = open(a), fb = open(b);
  try {
    assert.equal(lock(a, fa, F_SETLK, F_WRLCK, 100n, 10n), WASI_ERRNO.SUCCESS);
    assert.equal(lock(b, fb, F_SETLK, F_RDLCK, 105n, 1n), WASI_ERRNO.AGAIN);
    assert.equal(lock(b, fb, F_SETLK, F_WRLCK, 110n, 5n), WASI_ERRNO.SUCCESS, "a range next to it is free");
    const h = wasi(b);
    h.save();
    try {
      assert.equal(lock(b, fb, F_GETLK, F_RDLCK, 0n, 0n, h.scratch), WASI_ERRNO.SUCCESS);
      const view = new DataView(h.get(h.scratch, 28).buffer);
      assert.deepEqual([view.getInt32(0, true), view.getBigInt64(8, true), view.getBigInt64(16, true), view.getInt32(24, true)], [F_WRLCK, 100n, 10n, -1]);
    } finally {
      h.restore();
    }
  } finally {
    close(a, fa);
    close(b, fb);
  }
});

test("read locks of two sandboxes share a range; a write lock waits for both to go", () => {
  const fa = open(a), fb = open(b);
  try {
    assert.equal(lock(a, fa, F_SETLK, F_RDLCK), WASI_ERRNO.SUCCESS);
    assert.equal(lock(b, fb, F_SETLK, F_RDLCK), WASI_ERRNO.SUCCESS);
    assert.equal(lock(b, fb, F_SETLK, F_WRLCK), WASI_ERRNO.AGAIN, "a's read lock is in the way");
    assert.equal(lock(a, fa, F_SETLK, F_UNLCK), WASI_ERRNO.SUCCESS);
    assert.equal(lock(b, fb, F_SETLK, F_WRLCK), WASI_ERRNO.SUCCESS, "b upgrades its own read lock");
  } finally {
    close(a, fa);
    close(b, fb);
  }
});

test("closing any fd of the file drops the sandbox's locks on it (POSIX); closing another file does not", () => {
  const fa = open(a), other = open(a), fb = open(b);
  fs.writeFileSync(path.join(dir, "other"), "y");
  const unrelated = open(a, "os.O_RDWR", "/data/other");
  try {
    assert.equal(lock(a, fa, F_SETLK, F_WRLCK), WASI_ERRNO.SUCCESS);
    close(a, unrelated);
    assert.equal(lock(b, fb, F_SETLK, F_RDLCK), WASI_ERRNO.AGAIN);
    close(a, other);
    assert.equal(lock(b, fb, F_SETLK, F_RDLCK), WASI_ERRNO.SUCCESS);
  } finally {
    close(a, fa);
    close(b, fb);
  }
});

test("a sandbox that goes away releases its locks", () => {
  const c = guestOn(dir);
  const fc = open(c), fa = open(a);
  try {
    assert.equal(lock(c, fc, F_SETLK, F_WRLCK), WASI_ERRNO.SUCCESS);
    assert.equal(lock(a, fa, F_SETLK, F_WRLCK), WASI_ERRNO.AGAIN);
    c.kernel.dispose();
    assert.equal(lock(a, fa, F_SETLK, F_WRLCK), WASI_ERRNO.SUCCESS);
  } finally {
    close(a, fa);
  }
});

test("one sandbox's locks never conflict with each other, and unlocking part of a range frees only that part", () => {
  const f1 = open(a), f2 = open(a), fb = open(b);
  try {
    assert.equal(lock(a, f1, F_SETLK, F_WRLCK, 0n, 100n), WASI_ERRNO.SUCCESS);
    assert.equal(lock(a, f2, F_SETLK, F_WRLCK, 50n, 100n), WASI_ERRNO.SUCCESS);
    assert.equal(lock(a, f1, F_SETLK, F_UNLCK, 40n, 20n), WASI_ERRNO.SUCCESS);
    assert.equal(lock(b, fb, F_SETLK, F_WRLCK, 45n, 10n), WASI_ERRNO.SUCCESS);
    assert.equal(lock(b, fb, F_SETLK, F_WRLCK, 10n, 10n), WASI_ERRNO.AGAIN);
    assert.equal(lock(b, fb, F_SETLK, F_WRLCK, 120n, 0n), WASI_ERRNO.AGAIN, "a's lock on [60, 150) is still there");
  } finally {
    close(a, f1);
    close(a, f2);
    close(b, fb);
  }
});

test("fd_lock answers hostile arguments with an errno and changes nothing", () => {
  const fa = open(a), readOnly = open(a, "os.O_RDONLY"), fb = open(b);
  const root = 3;
  try {
    assert.equal(lock(a, 999, F_SETLK, F_WRLCK), WASI_ERRNO.BADF);
    assert.equal(lock(a, root, F_SETLK, F_RDLCK), WASI_ERRNO.INVAL, "a directory");
    assert.equal(lock(a, fa, 99, F_WRLCK), WASI_ERRNO.INVAL);
    assert.equal(lock(a, fa, F_SETLK, 7), WASI_ERRNO.INVAL);
    assert.equal(lock(a, fa, F_GETLK, F_UNLCK), WASI_ERRNO.INVAL);
    assert.equal(lock(a, fa, F_SETLK, F_WRLCK, -1n), WASI_ERRNO.INVAL, "before the file's start");
    assert.equal(lock(a, fa, F_SETLK, F_WRLCK, 10n, -20n), WASI_ERRNO.INVAL, "a negative length reaching before the start");
    assert.equal(lock(a, fa, F_SETLK, F_WRLCK, (1n << 63n) - 2n, 10n), WASI_ERRNO.INVAL, "past the largest offset");
    assert.equal(lock(a, fa, F_SETLK, F_WRLCK, 0n, 0n, 0, 9), WASI_ERRNO.INVAL, "whence");
    assert.equal(lock(a, readOnly, F_SETLK, F_WRLCK), WASI_ERRNO.BADF, "a write lock needs a writable fd");
    assert.equal(lock(b, fb, F_SETLK, F_WRLCK), WASI_ERRNO.SUCCESS);
    assert.equal(lock(a, fa, F_GETLK, F_WRLCK, 0n, 0n, -4), WASI_ERRNO.FAULT, "out past the end of memory");
    assert.equal(lock(a, fa, F_SETLK, F_WRLCK, 0n, 0n, 0, 7), WASI_ERRNO.INVAL);
    assert.equal(lock(b, fb, F_SETLK, F_UNLCK), WASI_ERRNO.SUCCESS);
    assert.equal(lock(a, fa, F_SETLK, F_WRLCK), WASI_ERRNO.SUCCESS, "nothing was left behind");
  } finally {
    close(a, fa);
    close(a, readOnly);
    close(b, fb);
  }
  assert.equal(a.value("sum(range(10))"), 45);
});

test("a guest that splits its locks into many ranges gets ENOLCK past the bound instead of growing the table (and each lookup) without limit", () => {
  const fa = open(a), fb = open(b);
  try {
    const results = new Map<number, number>();
    for (let i = 0n; i < 1100n; i++) {
      const errno = lock(a, fa, F_SETLK, F_RDLCK, 2n * i, 1n);
      results.set(errno, (results.get(errno) ?? 0) + 1);
    }
    assert.deepEqual([...results], [[WASI_ERRNO.SUCCESS, 1024], [WASI_ERRNO.NOLCK, 76]]);
    assert.equal(lock(a, fa, F_SETLK, F_RDLCK, 0n, 0n), WASI_ERRNO.SUCCESS, "one lock over the whole file replaces them all");
    assert.equal(lock(b, fb, F_SETLK, F_RDLCK, 4096n, 1n), WASI_ERRNO.SUCCESS, "another sandbox has its own bound");
  } finally {
    close(a, fa);
    close(b, fb);
  }
});

// Sandboxes of a pool keep their locks on host files in the pool host's table
// (other workers see them there), through the "lock" host call: here two
// guests whose calls are served by one table of their own, as a host would.
test("sandboxes whose host serves their locks (two workers of a pool) meet in the host's table: F_SETLK conflicts, F_GETLK reports, close releases", () => {
  const host = new LockTable();
  const answer = (payload: Uint8Array) => serveLockCall(host, payload, () => true);
  const x = startGuest({ mounts: [{ hostPath: dir, guestPath: "/data", readonly: false }], hostLocks: { owner: 1, answer } });
  const y = startGuest({ mounts: [{ hostPath: dir, guestPath: "/data", readonly: false }], hostLocks: { owner: 2, answer } });
  const fx = open(x), fy = open(y), fa = open(a);
  try {
    assert.equal(lock(x, fx, F_SETLK, F_WRLCK, 100n, 10n), WASI_ERRNO.SUCCESS);
    assert.equal(lock(a, fa, F_SETLK, F_WRLCK, 100n, 10n), WASI_ERRNO.SUCCESS, "the lock went to the host's table, not this realm's");
    assert.equal(lock(y, fy, F_SETLK, F_RDLCK, 105n, 1n), WASI_ERRNO.AGAIN);
    const h = wasi(y);
    h.save();
    try {
      assert.equal(lock(y, fy, F_GETLK, F_RDLCK, 0n, 0n, h.scratch), WASI_ERRNO.SUCCESS);
      const view = new DataView(h.get(h.scratch, 28).buffer);
      assert.deepEqual([view.getInt32(0, true), view.getBigInt64(8, true), view.getBigInt64(16, true), view.getInt32(24, true)], [F_WRLCK, 100n, 10n, -1]);
    } finally {
      h.restore();
    }
    close(x, fx);
    assert.equal(lock(y, fy, F_SETLK, F_WRLCK), WASI_ERRNO.SUCCESS, "closing the file released x's lock at the host");
  } finally {
    close(y, fy);
    close(a, fa);
    x.kernel.dispose();
    y.kernel.dispose();
  }
});

test("a lock whose host answer is cut short (the run's deadline) is EINTR, and closing the file still releases it at the host", () => {
  const host = new LockTable();
  let cutShort = false;
  const answer = (payload: Uint8Array) => {
    const served = serveLockCall(host, payload, () => true);
    return cutShort ? new Uint8Array(0) : served;
  };
  const x = startGuest({ mounts: [{ hostPath: dir, guestPath: "/data", readonly: false }], hostLocks: { owner: 1, answer } });
  const y = startGuest({ mounts: [{ hostPath: dir, guestPath: "/data", readonly: false }], hostLocks: { owner: 2, answer } });
  const fx = open(x), fy = open(y);
  try {
    cutShort = true;
    assert.equal(lock(x, fx, F_SETLK, F_WRLCK), WASI_ERRNO.INTR);
    cutShort = false;
    assert.equal(lock(y, fy, F_SETLK, F_WRLCK), WASI_ERRNO.AGAIN, "the host took the lock all the same");
    close(x, fx);
    assert.equal(lock(y, fy, F_SETLK, F_WRLCK), WASI_ERRNO.SUCCESS);
  } finally {
    close(y, fy);
    x.kernel.dispose();
    y.kernel.dispose();
  }
});
