// A guest tries to exhaust what the host gives it: disk, inodes, output,
// memory, time and stack. Each limit must end in a Python exception or a
// flagged stop, never in a host crash, and the sandbox must stay usable.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PY_ERR, startGuest, type Guest } from "../helpers/engine.js";
import { INTERRUPT_SPACING_MS } from "../../src/kernel/kernel.js";
import { MemFile } from "../../src/vfs/memory.js";
import { resolve } from "../../src/vfs/resolve.js";

const MiB = 1024 * 1024;

const ERR = PY_ERR + `
def write(path, data):
    with open(path, 'wb') as f:
        f.write(data)
`;

describe("disk quota", () => {
  let g: Guest;
  before(() => {
    g = startGuest({ diskQuotaBytes: MiB, inodeQuota: 1000 });
    g.value(ERR);
  });

  test("writing past the disk quota is ENOSPC", () => {
    assert.equal(g.value("r = err(write, '/tmp/big', b'x' * (2 * 1024 * 1024))\nos.unlink('/tmp/big')\nr"), "ENOSPC");
  });

  test("deleting a file gives its bytes back to the quota", () => {
    const code = "write('/tmp/a', b'x' * 700_000)\nfull = err(write, '/tmp/b', b'x' * 700_000)\nos.unlink('/tmp/a')\nos.unlink('/tmp/b')\nagain = err(write, '/tmp/c', b'x' * 700_000)\nos.unlink('/tmp/c')\n(full, again)";
    assert.deepEqual(g.value(code), ["ENOSPC", null]);
  });

  test("the quota is shared by /tmp and the home directory", () => {
    const code = "write('/tmp/a', b'x' * 700_000)\nr = err(write, '/home/user/b', b'x' * 700_000)\nos.unlink('/tmp/a')\nr";
    assert.equal(g.value(code), "ENOSPC");
  });

  // Files are sparse, as on Linux: a hole costs neither quota nor host memory,
  // so a huge file is free only because it holds nothing.
  test("a sparse write far past the end makes a hole the host does not hold", () => {
    g.value("fd = os.open('/tmp/sparse', os.O_WRONLY | os.O_CREAT)\nos.pwrite(fd, b'x', 1 << 30)\nos.close(fd)");
    const root = g.kernel.tree.root;
    const file = resolve(root, [root], "/tmp/sparse", true).node as MemFile;
    assert.ok(file.allocatedBytes() <= 64 * 1024, `the host holds ${file.allocatedBytes()} bytes for a 1-byte write`);
    assert.equal(g.value("n = os.stat('/tmp/sparse').st_size\nos.unlink('/tmp/sparse')\nn"), (1 << 30) + 1);
  });

  test("truncate to a huge size makes a hole the host does not hold", () => {
    g.value("open('/tmp/t', 'w').close()\nos.truncate('/tmp/t', 1 << 40)");
    const root = g.kernel.tree.root;
    assert.equal((resolve(root, [root], "/tmp/t", true).node as MemFile).allocatedBytes(), 0);
    assert.equal(g.value("r = err(write, '/tmp/after', b'x' * (2 * 1024 * 1024))\nos.unlink('/tmp/t')\nos.unlink('/tmp/after')\nr"), "ENOSPC", "the quota still holds");
  });

  test("truncate past the largest file size is EFBIG", () => {
    assert.equal(g.value("open('/tmp/t', 'w').close()\nr = err(os.truncate, '/tmp/t', 1 << 50)\nos.unlink('/tmp/t')\nr"), "EFBIG");
  });
});

describe("inode quota", () => {
  let g: Guest;
  before(() => {
    g = startGuest({ diskQuotaBytes: MiB, inodeQuota: 10 });
    g.value(ERR);
  });

  test("creating more files than the inode quota is ENOSPC, and deleting them frees it", () => {
    const code = `
made = []
failed = None
while failed is None and len(made) < 100:
    name = f'/tmp/f{len(made)}'
    failed = err(write, name, b'')
    if failed is None: made.append(name)
for name in made: os.unlink(name)
(failed, len(made), err(write, '/tmp/again', b''))`;
    const [failed, made, again] = g.value(code) as [string, number, string | null];
    assert.equal(failed, "ENOSPC");
    assert.ok(made > 0 && made <= 10, `made ${made}`);
    assert.equal(again, null);
    g.value("os.unlink('/tmp/again')");
  });

  test("directories count against the inode quota", () => {
    assert.equal(g.value("r = None\nfor i in range(20):\n    r = err(os.mkdir, f'/tmp/d{i}')\n    if r: break\nfor j in range(i):\n    os.rmdir(f'/tmp/d{j}')\nr"), "ENOSPC");
  });

  test("making and removing hard links in a loop does not leak inodes", () => {
    const code = "write('/tmp/target', b'')\nr = None\nfor i in range(50):\n    r = err(os.link, '/tmp/target', '/tmp/link')\n    if r: break\n    os.unlink('/tmp/link')\nos.unlink('/tmp/target')\n(r, i)";
    assert.deepEqual(g.value(code), [null, 49]);
  });
});

describe("quota with a read-write host mount", () => {
  let g: Guest;
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pyvisor-quota-"));
    fs.writeFileSync(path.join(dir, "preexisting.bin"), Buffer.alloc(900 * 1024));
    g = startGuest({ diskQuotaBytes: MiB, inodeQuota: 100, mounts: [{ hostPath: dir, guestPath: "/data", readonly: false }] });
    g.value(ERR);
  });
  after(() => {
    g.kernel.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("writes to the host mount are charged to the quota", () => {
    assert.equal(g.value("r = err(write, '/data/big', b'x' * (2 * 1024 * 1024))\nos.unlink('/data/big')\nr"), "ENOSPC");
    assert.equal(fs.existsSync(path.join(dir, "big")), false);
  });

  test("making and removing directories in the host mount does not leak inodes", () => {
    const code = "r = None\nfor i in range(150):\n    r = err(os.mkdir, '/data/d')\n    if r: break\n    os.rmdir('/data/d')\n(r, i)";
    assert.deepEqual(g.value(code), [null, 149]);
  });

  test("deleting a host file the guest did not write gives it no extra quota", () => {
    const code = "write('/tmp/a', b'x' * 900_000)\nos.unlink('/data/preexisting.bin')\nr = err(write, '/tmp/b', b'x' * 900_000)\nr";
    assert.equal(g.value(code), "ENOSPC");
  });
});

describe("output limit", () => {
  let g: Guest;
  before(() => {
    g = startGuest();
  });

  test("stdout is cut at exactly the limit and the run is stopped with reason 'output'", () => {
    const result = g.run("print('y' * 5000)", { outputLimitBytes: 1000 });
    assert.equal(result.stdout.length, 1000);
    assert.equal(result.stopReason, "output");
  });

  test("a printing loop is stopped by the output limit", () => {
    const result = g.run("while True:\n    print('y' * 100)", { outputLimitBytes: 1000, timeoutMs: 5000 });
    assert.equal(result.stdout.length, 1000);
    assert.equal(result.stopReason, "output");
    assert.equal(result.done, true);
  });

  test("stderr has the same limit", () => {
    const result = g.run("import sys\nsys.stderr.write('e' * 5000)", { outputLimitBytes: 1000 });
    assert.equal(result.stderr.length, 1000);
    assert.equal(result.stopReason, "output");
  });

  test("the next run has its whole output budget again", () => {
    g.run("print('y' * 5000)", { outputLimitBytes: 1000 });
    const result = g.run("print('z' * 500)", { outputLimitBytes: 1000 });
    assert.equal(result.stdout, "z".repeat(500) + "\n");
    assert.equal(result.stopReason, null);
  });
});

describe("memory limit (64 MiB)", () => {
  let g: Guest;
  before(() => {
    g = startGuest({ memoryLimitBytes: 64 * MiB });
  });

  test("a 200 MiB bytearray raises MemoryError, which the guest catches and carries on", () => {
    const code = "try:\n    b = bytearray(200 * 1024 * 1024)\n    r = 'allocated'\nexcept MemoryError:\n    r = 'caught'\nr + ' ' + str(sum(range(10)))";
    assert.equal(g.value(code), "caught 45");
  });

  test("unbounded list growth ends in MemoryError, and the next run works", () => {
    const result = g.run("def grow():\n    x = []\n    while True:\n        x.append(len(x))\ngrow()", { timeoutMs: 30_000 });
    assert.equal(result.trap, null);
    assert.equal(result.error?.type, "MemoryError");
    assert.equal(g.value("sum(range(10))"), 45);
  });

  test("filling memory with many small objects ends in MemoryError, and the next run works", () => {
    const result = g.run("def grow():\n    x = []\n    while True:\n        x.append([0] * 1000)\ngrow()", { timeoutMs: 30_000 });
    assert.equal(result.trap, null);
    assert.equal(result.done, true, `no result; stderr: ${result.stderr.slice(0, 500)}`);
    assert.equal(result.error?.type, "MemoryError");
    assert.equal(g.value("sum(range(10))"), 45);
  });

  test("guest memory never grows past the limit", () => {
    assert.ok(g.interpreter.memory.buffer.byteLength <= 64 * MiB);
  });
});

describe("time limit", () => {
  let g: Guest;
  before(() => {
    g = startGuest();
  });

  test("`while True: pass` with a 300 ms deadline ends in TimeoutError within 500 ms", () => {
    const start = performance.now();
    const result = g.run("while True: pass", { timeoutMs: 300 });
    const elapsed = performance.now() - start;
    assert.equal(result.error?.type, "TimeoutError");
    assert.equal(result.stopReason, "timeout");
    assert.ok(elapsed < 500, `took ${elapsed} ms`);
  });

  test("a long sleep does not outlive the deadline", () => {
    const start = performance.now();
    const result = g.run("import time\ntime.sleep(10)", { timeoutMs: 300 });
    assert.equal(result.stopReason, "timeout");
    assert.ok(performance.now() - start < 500);
  });

  test("the interpreter works again after a timeout", () => {
    g.run("while True: pass", { timeoutMs: 100 });
    assert.equal(g.value("1+1"), 2);
  });

  test("a guest that catches TimeoutError is not stopped by the graceful mechanism (why workers are hard-stopped)", () => {
    // The tick hook can only raise an exception in the guest; a guest that catches
    // every BaseException in a loop runs on. Here it gives up after three catches so
    // the test ends; a hostile guest would not, which is why the worker layer
    // terminates the thread once the deadline has passed plus a grace period.
    const code = "caught = 0\nwhile caught < 3:\n    try:\n        while True: pass\n    except BaseException:\n        caught += 1\ncaught";
    const result = g.run(code, { timeoutMs: 200 });
    assert.equal(result.error, null);
    assert.equal(result.value, 3);
    assert.equal(result.stopReason, "timeout");
    // After the deadline the kernel keeps asking for a TimeoutError, spaced so that
    // the driver can report the first one: the guest is never let off.
    const spacing = INTERRUPT_SPACING_MS;
    const until = performance.now() + spacing * 3.5;
    let raised = 0;
    while (performance.now() < until) raised += g.kernel.tick(1) === 2 ? 1 : 0;
    assert.ok(raised >= 3 && raised <= 4, `raised ${raised} times in ${spacing * 3.5} ms`);
  });
});

describe("stack", () => {
  let g: Guest;
  before(() => {
    g = startGuest();
  });

  test("infinite Python recursion raises RecursionError and the interpreter still works", () => {
    const result = g.run("def f(n): return f(n + 1)\nf(0)");
    assert.equal(result.error?.type, "RecursionError");
    assert.equal(g.value("def f(n): return n if n == 0 else f(n - 1)\nf(500)"), 0);
  });

  test("a deeply nested structure's repr raises RecursionError, not a trap", () => {
    const result = g.run("x = []\nfor i in range(200_000): x = [x]\nrepr(x)");
    assert.equal(result.trap, null);
    assert.equal(result.error?.type, "RecursionError");
  });
});
