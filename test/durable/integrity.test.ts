// Saved bytes are authenticated: tampered, truncated, wrong-key,
// wrong-version and foreign-engine bytes are refused with a named error
// before any byte reaches a worker; authenticated bytes whose replay log was
// changed by the key holder end the run with ReplayDivergenceError.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  ErrorType, InvalidOptionsError, PausedRun, Pool, Sandbox, SnapshotEngineError, SnapshotIntegrityError, SnapshotVersionError,
} from "../../src/api/index.js";
import { seal, open, SaveKind } from "../../src/api/durable.js";
import { decodePayload, decompress, encodePayload, type Payload } from "../../src/worker/durable.js";
import { encodeValue } from "../../src/shared/codec.js";

let pool: Pool;
let creates = 0;
let sandboxBytes: Uint8Array;
let pausedBytes: Uint8Array;
const key = "a key of at least sixteen bytes!";
const functions = { approve: () => true };

before(async () => {
  pool = new Pool({ size: 1, isolation: "thread" });
  const create = pool.create.bind(pool);
  pool.create = (...args: Parameters<Pool["create"]>) => {
    creates++;
    return create(...args);
  };
  await using sb = await Sandbox.create({ pool, functions });
  await sb.run("x = 1");
  sandboxBytes = await sb.save({ key });
  const step = await sb.start("from pyvisor.host import approve\nprint(approve(3))", { pause: ["approve"] });
  pausedBytes = await (step as PausedRun).save({ key });
  await (step as PausedRun).resume(true);
});
after(async () => {
  await pool.close();
});

/** Restoring `bytes` rejects with `Class`, and no sandbox was created for them (nothing reached a worker). */
async function refused(bytes: Uint8Array, Class: new (...args: never[]) => Error, options: { key?: string } = {}): Promise<void> {
  const before = creates;
  await assert.rejects(Sandbox.restore(bytes, { key, pool, ...options }), (e: unknown) => e instanceof Class);
  assert.equal(creates, before, "no sandbox was created");
}

/** The bytes re-sealed after `edit` changed their payload, with a valid HMAC (the key holder's doing). */
function resealed(bytes: Uint8Array, kind: number, edit: (payload: Payload) => void): Uint8Array {
  const opened = open(bytes, Buffer.from(key), kind).payload;
  const payload = decodePayload(decompress(opened.data, opened.compression, opened.rawLength));
  edit(payload);
  return seal({ ...opened, ...encodePayload(payload), meta: opened.meta }, Buffer.from(key));
}

/** Signs bytes again after their header was edited. */
function resign(bytes: Buffer): Uint8Array {
  const body = bytes.subarray(0, bytes.length - 32);
  return Buffer.concat([body, createHmac("sha256", key).update(body).digest()]);
}

test("a restore of intact bytes works (the baseline of the refusals below)", async () => {
  await using sb = await Sandbox.restore(sandboxBytes, { key, pool, functions });
  assert.equal((await sb.run("x")).value, 1);
});

test("one flipped bit anywhere (header, payload or tag) is a SnapshotIntegrityError", async () => {
  for (const at of [20, 100, Math.floor(sandboxBytes.length / 2), sandboxBytes.length - 1]) {
    const bytes = sandboxBytes.slice();
    bytes[at]! ^= 1;
    await refused(bytes, SnapshotIntegrityError);
  }
});

test("truncated bytes are a SnapshotIntegrityError", async () => {
  for (const length of [0, 10, 103, sandboxBytes.length - 1]) await refused(sandboxBytes.subarray(0, length), SnapshotIntegrityError);
});

test("bytes with data appended are a SnapshotIntegrityError", async () => {
  await refused(Buffer.concat([sandboxBytes, Buffer.from("more")]), SnapshotIntegrityError);
});

test("the wrong key is a SnapshotIntegrityError", async () => {
  await refused(sandboxBytes, SnapshotIntegrityError, { key: "another key of sixteen bytes or more" });
});

test("bytes that are not a saved sandbox at all are a SnapshotIntegrityError", async () => {
  await refused(new Uint8Array(4096), SnapshotIntegrityError);
});

test("another format version is a SnapshotVersionError, even with a valid HMAC", async () => {
  const bytes = Buffer.from(sandboxBytes);
  bytes.writeUInt16LE(2, 8);
  await refused(resign(bytes), SnapshotVersionError);
});

test("bytes from another engine (python.wasm's sha256) are a SnapshotEngineError, even with a valid HMAC", async () => {
  const bytes = Buffer.from(sandboxBytes);
  bytes.fill(0xab, 12, 44);
  await refused(resign(bytes), SnapshotEngineError);
});

test("a payload made by another engine build (guest module or stdlib) is refused in the worker with a SnapshotEngineError", async () => {
  const bytes = resealed(sandboxBytes, SaveKind.sandbox, (payload) => {
    payload.engine = "0".repeat(32);
  });
  await assert.rejects(Sandbox.restore(bytes, { key, pool }), SnapshotEngineError);
});

test("a paused run given to Sandbox.restore (or a sandbox to PausedRun.restore) is refused as a bad argument", async () => {
  await assert.rejects(Sandbox.restore(pausedBytes, { key, pool, functions }), (e: unknown) => e instanceof InvalidOptionsError && e.option === "bytes");
  await assert.rejects(PausedRun.restore(sandboxBytes, { key, pool, functions }), (e: unknown) => e instanceof InvalidOptionsError && e.option === "bytes");
});

test("a replay log changed under a valid HMAC ends the resumed run with ReplayDivergenceError, and the sandbox runs again", async () => {
  const bytes = resealed(pausedBytes, SaveKind.paused, (payload) => {
    const entry = payload.paused!.log.find((e) => e.name === "fd_write")!;
    entry.args = entry.args.map((a, i) => (i === 0 ? Number(a) + 1 : a));
  });
  const run = await PausedRun.restore(bytes, { key, pool, functions });
  const step = await run.resume(true);
  assert.equal(step.done, true);
  const { result } = step as { done: true; result: import("../../src/api/index.js").RunResult };
  assert.equal(result.error?.type, ErrorType.ReplayDivergence);
  assert.match(result.error!.message, /the guest called fd_write/);
  assert.equal((await run.sandbox.run("1 + 1")).value, 2);
  await run.sandbox.dispose();
});

test("the payload codec refuses a value it does not know as the meta of a paused run", () => {
  const bytes = Buffer.from(pausedBytes);
  const meta = encodeValue({ call: { name: 5 }, limits: {} });
  const metaLength = bytes.readUInt32LE(60);
  const rebuilt = Buffer.concat([bytes.subarray(0, 72), meta, bytes.subarray(72 + metaLength)]);
  rebuilt.writeUInt32LE(meta.length, 60);
  assert.throws(() => open(resign(rebuilt), Buffer.from(key), SaveKind.paused), /call or limits are malformed/);
});
