// The disk and inode quotas charge what the host really holds: a truncated
// file gives its buffer back, an unlinked file stays charged while open, every
// name costs an inode, and inode numbers say nothing about other tenants.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PY_ERR, startGuest } from "../helpers/engine.js";
import { MemFile } from "../../src/vfs/memory.js";
import { resolve } from "../../src/vfs/resolve.js";

const MiB = 1024 * 1024;

test("a file truncated to nothing does not keep its buffer on the host", () => {
  const g = startGuest({ diskQuotaBytes: 8 * MiB });
  try {
    g.value("for i in range(20):\n    with open('/tmp/f%d' % i, 'wb') as f:\n        f.write(b'x' * (6 * 1024 * 1024))\n        f.truncate(0)");
    const root = g.kernel.tree.root;
    let held = 0;
    for (let i = 0; i < 20; i++) held += (resolve(root, [root], `/tmp/f${i}`, true).node as MemFile).allocatedBytes();
    assert.ok(held <= 20 * 64 * 1024, `the host still holds ${held} bytes for 20 empty files`);
  } finally {
    g.kernel.dispose();
  }
});

test("a file shrunk by half keeps at most twice its length", () => {
  const g = startGuest({ diskQuotaBytes: 64 * MiB });
  try {
    g.value("with open('/tmp/half', 'wb') as f:\n    f.write(b'x' * (16 * 1024 * 1024))\n    f.truncate(1024 * 1024)");
    const root = g.kernel.tree.root;
    const file = resolve(root, [root], "/tmp/half", true).node as MemFile;
    assert.equal(file.byteSize(), MiB);
    assert.ok(file.allocatedBytes() <= 2 * MiB + 64 * 1024, `${file.allocatedBytes()} bytes held`);
  } finally {
    g.kernel.dispose();
  }
});

test("unlinking an open in-memory file keeps its bytes charged until it is closed", () => {
  const g = startGuest({ diskQuotaBytes: MiB });
  try {
    g.value(PY_ERR + "f = open('/tmp/big', 'wb')\nf.write(b'x' * 700_000)\nf.flush()\nos.unlink('/tmp/big')");
    assert.equal(g.value("err(lambda: open('/tmp/second', 'wb').write(b'y' * 700_000))"), "ENOSPC");
    assert.equal(g.value("f.close()\nos.unlink('/tmp/second')\nerr(lambda: open('/tmp/third', 'wb').write(b'z' * 700_000))"), null);
  } finally {
    g.kernel.dispose();
  }
});

test("hard links in memory each cost an inode", () => {
  const g = startGuest({ inodeQuota: 10 });
  try {
    const made = g.value(PY_ERR + "open('/tmp/f', 'w').close()\nn = 0\nwhile n < 1000 and err(os.link, '/tmp/f', '/tmp/l%d' % n) is None:\n    n += 1\nn");
    assert.ok((made as number) < 10, `made ${String(made)} links under an inode quota of 10`);
    assert.equal(g.value("for i in range(n):\n    os.unlink('/tmp/l%d' % i)\nerr(os.link, '/tmp/f', '/tmp/again')"), null, "removing the links gives their inodes back");
  } finally {
    g.kernel.dispose();
  }
});

test("inode numbers do not reveal what another sandbox in the process did", () => {
  const a = startGuest();
  const b = startGuest();
  try {
    const first = a.value("import os\nopen('/tmp/x', 'w').close()\nos.stat('/tmp/x').st_ino") as number;
    b.value("for i in range(100):\n    open('/tmp/b%d' % i, 'w').close()");
    const second = a.value("open('/tmp/y', 'w').close()\nos.stat('/tmp/y').st_ino") as number;
    assert.equal(second - first, 1, "the other sandbox's files moved this sandbox's inode numbers");
  } finally {
    a.kernel.dispose();
    b.kernel.dispose();
  }
});

const GiB = 1024 * MiB;

test("a file written 3 GiB in on a 1 MiB quota is sparse: its size is 3 GiB + 1, the hole reads zeros and is not charged", () => {
  const g = startGuest({ diskQuotaBytes: MiB });
  try {
    const seen = g.value([
      "import os",
      "with open('/tmp/sparse', 'w+b') as f:",
      "    f.seek(3 * 2**30)",
      "    f.write(b'x')",
      "    f.seek(2**31 - 2)",
      "    hole = f.read(4)",
      "    f.seek(3 * 2**30 - 1)",
      "    tail = f.read()",
      "[os.stat('/tmp/sparse').st_size, hole.hex(), tail.hex()]",
    ].join("\n"));
    assert.deepEqual(seen, [3 * GiB + 1, "00000000", "0078"]);
    assert.ok(g.kernel.tree.quota.bytesUsed <= 64 * 1024, `${g.kernel.tree.quota.bytesUsed} bytes charged for one byte written`);
  } finally {
    g.kernel.dispose();
  }
});

test("a file truncated to 5 GiB costs nothing, and writing into its hole is charged until the quota refuses", () => {
  const g = startGuest({ diskQuotaBytes: MiB });
  try {
    const seen = g.value(PY_ERR + [
      "f = open('/tmp/grown', 'w+b', buffering=0)",
      "f.truncate(5 * 2**30)",
      "def poke(i):",
      "    f.seek(i * 2**20)",
      "    f.write(b'y')",
      "n = 0",
      "while n < 100 and err(poke, n) is None:",
      "    n += 1",
      "f.close()",
      "[os.stat('/tmp/grown').st_size, n]",
    ].join("\n")) as number[];
    assert.equal(seen[0], 5 * GiB);
    assert.ok(seen[1]! >= 1 && seen[1]! < 100, `${seen[1]} one-byte writes a MiB apart fit in a 1 MiB quota`);
    assert.equal(g.value("os.unlink('/tmp/grown')\nerr(lambda: open('/tmp/after', 'wb').write(b'z' * 900_000))"), null, "unlinking gave its chunks back");
  } finally {
    g.kernel.dispose();
  }
});
