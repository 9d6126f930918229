// sb.save and Sandbox.restore: what a saved sandbox brings back, and what a
// restore refuses (mounts that differ, too little memory).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidOptionsError, Pool, PyvisorError, Sandbox, SnapshotMountError } from "../../src/api/index.js";

let pool: Pool;
before(() => {
  pool = new Pool({ size: 1, isolation: "thread" });
});
after(async () => {
  await pool.close();
});

const key = "a key of at least sixteen bytes!";

async function roundTrip(sb: Sandbox, options: Parameters<typeof Sandbox.restore>[1] = { key, pool }): Promise<Sandbox> {
  const bytes = await sb.save({ key });
  return Sandbox.restore(bytes, options);
}

test("a restored sandbox has the saved globals, imported modules, random state and working directory", async () => {
  await using sb = await Sandbox.create({ pool });
  await sb.run("import json, os, random\nrandom.seed(7)\nrandom.random()\nstate = {'n': 41}\nos.chdir('/tmp')");
  await using restored = await roundTrip(sb);
  const expected = (await sb.run("(json.dumps(state), random.random(), os.getcwd())")).value;
  const got = (await restored.run("(json.dumps(state), random.random(), os.getcwd())")).value;
  assert.deepEqual(got, ['{"n": 41}', (expected as unknown[])[1], "/tmp"]);
});

test("open files survive with their offsets, and the in-memory files with their contents", async () => {
  await using sb = await Sandbox.create({ pool });
  await sb.run("f = open('/tmp/log.txt', 'w+')\nf.write('first line\\n')\nf.flush()\nopen('/home/user/notes.txt', 'w').write('kept')\ng = open('/home/user/notes.txt')\ng.read(2)");
  await using restored = await roundTrip(sb);
  const result = await restored.run("f.write('second\\n'); f.flush(); f.seek(0); (f.read(), g.read(), g.tell())");
  assert.equal(result.error, null);
  assert.deepEqual(result.value, ["first line\nsecond\n", "pt", 4]);
});

test("an unlinked file held by an open fd survives, and its bytes go back to the quota when it is closed", async () => {
  await using sb = await Sandbox.create({ pool, diskQuota: 200_000 });
  await sb.run("import os\nh = open('/tmp/big', 'w+')\nh.write('x' * 150_000)\nh.flush()\nos.unlink('/tmp/big')");
  await using restored = await roundTrip(sb, { key, pool, diskQuota: 200_000 });
  const full = await restored.run("import errno\ntry:\n    open('/tmp/other', 'w').write('y' * 100_000)\nexcept OSError as e:\n    r = errno.errorcode[e.errno]\nelse:\n    r = None\nh.seek(0)\n(r, len(h.read()))");
  assert.deepEqual(full.value, ["ENOSPC", 150_000], "the unlinked file's bytes are still charged");
  const freed = await restored.run("h.close()\nopen('/tmp/other', 'w').write('y' * 100_000)");
  assert.equal(freed.error, null);
});

test("the disk quota continues where it stopped: restored files stay charged", async () => {
  await using sb = await Sandbox.create({ pool, diskQuota: 100_000 });
  await sb.run("open('/tmp/a', 'w').write('a' * 80_000)");
  await using restored = await roundTrip(sb, { key, pool, diskQuota: 100_000 });
  const result = await restored.run("import errno\ntry:\n    open('/tmp/b', 'w').write('b' * 40_000)\nexcept OSError as e:\n    r = errno.errorcode[e.errno]\nr");
  assert.equal(result.value, "ENOSPC");
});

test("host mounts are re-attached from the restoring side's options, even below a saved tree", async () => {
  const first = mkdtempSync(join(tmpdir(), "pyvisor-durable-a-"));
  const second = mkdtempSync(join(tmpdir(), "pyvisor-durable-b-"));
  try {
    writeFileSync(join(first, "x.txt"), "from the first host dir");
    writeFileSync(join(second, "x.txt"), "from the second host dir");
    await using sb = await Sandbox.create({ pool, mounts: [{ host: first, guest: "/tmp/data" }] });
    await sb.run("open('/tmp/mine.txt', 'w').write('memory')");
    await using restored = await roundTrip(sb, { key, pool, mounts: [{ host: second, guest: "/tmp/data" }] });
    const result = await restored.run("(open('/tmp/data/x.txt').read(), open('/tmp/mine.txt').read())");
    assert.deepEqual(result.value, ["from the second host dir", "memory"]);
  } finally {
    rmSync(first, { recursive: true, force: true });
    rmSync(second, { recursive: true, force: true });
  }
});

test("restoring with other mounts than the saved sandbox's is a SnapshotMountError", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pyvisor-durable-m-"));
  try {
    await using sb = await Sandbox.create({ pool, mounts: [{ host: dir, guest: "/data" }] });
    const bytes = await sb.save({ key });
    await assert.rejects(Sandbox.restore(bytes, { key, pool }), (e: unknown) => e instanceof SnapshotMountError && /\/data \(read-only\)/.test((e as Error).message));
    await assert.rejects(Sandbox.restore(bytes, { key, pool, mounts: [{ host: dir, guest: "/data", readonly: false }] }), SnapshotMountError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("restoring into a memoryLimit smaller than the saved memory is refused as a bad option", async () => {
  await using sb = await Sandbox.create({ pool });
  await sb.run("blob = bytearray(40 * 1024 * 1024)");
  const bytes = await sb.save({ key });
  await assert.rejects(Sandbox.restore(bytes, { key, pool, memoryLimit: "32MB" }), (e: unknown) => e instanceof InvalidOptionsError && e.option === "memoryLimit");
});

test("a short or missing key is refused before anything is saved", async () => {
  await using sb = await Sandbox.create({ pool });
  await assert.rejects(sb.save({ key: "short" }), (e: unknown) => e instanceof InvalidOptionsError && e.option === "key");
  await assert.rejects(sb.save(undefined as unknown as { key: string }), (e: unknown) => e instanceof InvalidOptionsError && e.option === "key");
});

test("saving a disposed sandbox rejects", async () => {
  const sb = await Sandbox.create({ pool });
  await sb.dispose();
  await assert.rejects(sb.save({ key }), PyvisorError);
});
