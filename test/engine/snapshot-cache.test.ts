// The on-disk snapshot cache is used only when it is intact and private.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCachedSnapshot, writeCachedSnapshot } from "../../src/engine/snapshot-cache.js";
import { Pool, Sandbox } from "../../src/api/index.js";

const snapshot = { byteLength: 4 * 65536, runs: [{ offset: 65536, bytes: new Uint8Array(65536).fill(7) }] };
const privateDir = () => fs.mkdtempSync(join(tmpdir(), "pyvisor-cache-"));

test("a written snapshot reads back identical", () => {
  const dir = privateDir();
  writeCachedSnapshot(dir, "k1", snapshot);
  const read = readCachedSnapshot(dir, "k1");
  assert.equal(read?.byteLength, snapshot.byteLength);
  assert.deepEqual(Buffer.from(read!.runs[0]!.bytes), Buffer.from(snapshot.runs[0]!.bytes));
  assert.equal(read!.runs[0]!.offset, 65536);
});

test("a corrupted cache file is refused", () => {
  const dir = privateDir();
  writeCachedSnapshot(dir, "k2", snapshot);
  const file = join(dir, "k2.snap");
  const bytes = fs.readFileSync(file);
  bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 1, bytes.length - 1);
  fs.writeFileSync(file, bytes);
  assert.equal(readCachedSnapshot(dir, "k2"), null);
});

test("a truncated cache file is refused", () => {
  const dir = privateDir();
  writeCachedSnapshot(dir, "k3", snapshot);
  const file = join(dir, "k3.snap");
  fs.truncateSync(file, 100);
  assert.equal(readCachedSnapshot(dir, "k3"), null);
});

test("a cache file others can write is refused", () => {
  const dir = privateDir();
  writeCachedSnapshot(dir, "k4", snapshot);
  fs.chmodSync(join(dir, "k4.snap"), 0o666);
  assert.equal(readCachedSnapshot(dir, "k4"), null);
  fs.chmodSync(join(dir, "k4.snap"), 0o600);
  fs.chmodSync(dir, 0o777);
  assert.equal(readCachedSnapshot(dir, "k4"), null);
});

test("a cache file that is a symlink is refused, even to a valid file", () => {
  const dir = privateDir();
  const elsewhere = privateDir();
  writeCachedSnapshot(elsewhere, "k7", snapshot);
  fs.symlinkSync(join(elsewhere, "k7.snap"), join(dir, "k7.snap"));
  assert.notEqual(readCachedSnapshot(elsewhere, "k7"), null);
  assert.equal(readCachedSnapshot(dir, "k7"), null);
});

test("a cache file whose checksum names an unknown algorithm is refused", () => {
  const dir = privateDir();
  writeCachedSnapshot(dir, "k8", snapshot);
  const file = join(dir, "k8.snap");
  const bytes = fs.readFileSync(file);
  const header = bytes.subarray(12, 12 + bytes.readUInt32LE(8)).toString("utf8");
  assert.match(header, /"sum":"(crc32|sha256):/);
  // Same length, so the rest of the file stays where it was.
  fs.writeFileSync(file, Buffer.from(bytes.toString("latin1").replace(/"sum":"(crc32|sha256):/, (m) => m.replace(/crc32|sha256/, (a) => "x".repeat(a.length))), "latin1"));
  assert.equal(readCachedSnapshot(dir, "k8"), null);
});

test("a snapshot under another engine's key is not used", () => {
  const dir = privateDir();
  writeCachedSnapshot(dir, "k5", snapshot);
  fs.renameSync(join(dir, "k5.snap"), join(dir, "k6.snap"));
  assert.equal(readCachedSnapshot(dir, "k6"), null);
});

test("pools with a snapshot cache write it once and start from it", async () => {
  const dir = join(privateDir(), "cache");
  for (let round = 0; round < 2; round++) {
    const pool = new Pool({ size: 1, isolation: "thread", snapshotCache: dir });
    try {
      const sb = await Sandbox.create({ pool });
      assert.equal((await sb.run("import sys\nsys.version_info[:2]")).value?.toString(), "3,13");
      await sb.dispose();
    } finally {
      await pool.close();
    }
    assert.equal(fs.readdirSync(dir).filter((name) => name.endsWith(".snap")).length, 1);
  }
});
