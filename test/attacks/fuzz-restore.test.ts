// Restore-path fuzzer. Saved bytes come from outside: the envelope is
// checked first (HMAC), but the parser behind it must hold too, since a MAC
// proves who wrote the bytes, not that the writer was right. Three layers:
// - the envelope: mutated sealed bytes (flips, truncation, extension, header
//   fields, with and without a fresh valid HMAC) are refused by name or opened;
// - the payload: mutated payload bytes and mutated fields of a decoded
//   payload, under a valid HMAC, are refused by name (SnapshotFormatError) or
//   give a payload that a fresh kernel takes whole, leaving a tree it can walk;
// - end to end: a few mutated payloads through Sandbox.restore, which rejects
//   by name or gives a sandbox whose next run settles.
//   PYVISOR_FUZZ_LONG=1 (npm run fuzz) for minutes, PYVISOR_FUZZ_MS=n for n ms,
//   PYVISOR_FUZZ_SEED=n to replay a failure.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import fc from "fast-check";
import {
  InvalidOptionsError, Pool, Sandbox, SnapshotEngineError, SnapshotFormatError, SnapshotIntegrityError, SnapshotMountError, SnapshotVersionError,
} from "../../src/api/index.js";
import { open, seal, SaveKind } from "../../src/api/durable.js";
import { compress, decodePayload, decompress, encodePayload, DEFAULT_COMPRESSION, interpreterFrom, type Payload } from "../../src/worker/durable.js";
import { applyKernel, captureKernel } from "../../src/kernel/state.js";
import { Kernel } from "../../src/kernel/kernel.js";
import { Channel } from "../../src/kernel/channel.js";
import { loadEngine } from "../../src/engine/engine.js";
import { stdlibTree } from "../../src/vfs/image.js";
import { MemDir } from "../../src/vfs/memory.js";
import { writeFile, mkdirs } from "../../src/vfs/tree.js";
import { encodeValue, decodeValue } from "../../src/shared/codec.js";
import { GUEST_HOME } from "../../src/shared/defaults.js";
import { fuzzBudget } from "./helpers.js";

const key = Buffer.from("a key of at least sixteen bytes!");
const NAMED = [SnapshotIntegrityError, SnapshotVersionError, SnapshotEngineError, SnapshotFormatError, SnapshotMountError, InvalidOptionsError];
const named = (error: unknown) => NAMED.some((Class) => error instanceof Class);

function kernel(): Kernel {
  return new Kernel({
    stdlib: stdlibTree(loadEngine()), mounts: [], files: {}, cwd: GUEST_HOME, diskQuotaBytes: 1 << 20, inodeQuota: 200, maxOpenFiles: 32,
    trace: false, channel: new Channel(), env: {}, deterministic: true, seed: 1, cancelRequested: () => false,
  });
}

/** A small payload with a bit of everything: files (one sparse), links, directories, open fds, a paused run's log. */
function samplePayload(): Payload {
  const k = kernel();
  const root = k.tree.root;
  mkdirs(root, "/tmp/a/b/c");
  writeFile(root, "/tmp/a/b/c/file.txt", new TextEncoder().encode("hello"));
  writeFile(root, "/home/user/notes", new Uint8Array(70_000).fill(7));
  const tmp = root.lookup("tmp") as MemDir;
  tmp.createSymlink("link", "a/b");
  const deep = ((tmp.lookup("a") as MemDir).lookup("b") as MemDir).lookup("c") as MemDir;
  tmp.link("hard", deep.lookup("file.txt")!);
  const sparse = tmp.createFile("sparse").open({ read: true, write: true, truncate: false });
  sparse.write(300_000, new Uint8Array([1, 2, 3]));
  k.fds.add({ kind: "file", node: tmp.lookup("sparse")!, handle: sparse, path: "/tmp/sparse", position: 5, append: false, fdflags: 0, rightsBase: 0xffn, rightsInheriting: 0n });
  const memory = { byteLength: 20 * 1024 * 1024, pages: [[3, new Uint8Array(65536).fill(9)] as [number, Uint8Array]] };
  return {
    engine: loadEngine().key, memory, kernel: captureKernel(k),
    paused: {
      log: [{ name: "fd_write", args: [1, 1024, 1, 2048], result: 0, writes: [[2048, new Uint8Array([5, 0, 0, 0])]], intervals: [], repeat: 1 }, { name: "tick", args: [1000], result: 0, writes: [], intervals: [1], repeat: 40 }],
      call: { name: "approve", args: [1], kwargs: {} }, carry: { ticks: 40_000, cpuMs: 3, hostMs: 1, stdoutBytes: 5, stderrBytes: 0 },
      stdin: new Uint8Array([1]), limits: { timeoutMs: 1000, cpuTimeMs: Infinity, tickLimit: Infinity, outputLimitBytes: 1000 }, pause: ["approve"],
    },
  };
}

function sealPayload(payload: Payload | Uint8Array, kind = SaveKind.paused): Uint8Array {
  const encoded = payload instanceof Uint8Array
    ? { data: compress(payload, DEFAULT_COMPRESSION), rawLength: payload.length, compression: DEFAULT_COMPRESSION }
    : encodePayload(payload);
  const meta = kind === SaveKind.paused ? encodeValue({ call: { name: "approve", args: [1] }, limits: { timeoutMs: 1000, cpuTimeMs: null, tickLimit: null, outputLimitBytes: 1000 } }) : null;
  return seal({ ...encoded, memoryBytes: 20 * 1024 * 1024, meta }, key);
}

function resign(bytes: Uint8Array): Uint8Array {
  const body = bytes.subarray(0, Math.max(0, bytes.length - 32));
  return Buffer.concat([body, createHmac("sha256", key).update(body).digest()]);
}

/** The whole restore path of a worker, in-process: open, decompress, decode, apply to a fresh kernel, make the memory. */
const outcomes = { refused: 0, restored: 0 };
function restoreInProcess(bytes: Uint8Array, kind: number): "refused" | "restored" {
  const outcome = restoreOrRefuse(bytes, kind);
  outcomes[outcome]++;
  return outcome;
}
function restoreOrRefuse(bytes: Uint8Array, kind: number): "refused" | "restored" {
  try {
    const { payload: sealed } = open(bytes, key, kind);
    const payload = decodePayload(decompress(sealed.data, sealed.compression, sealed.rawLength));
    const k = kernel();
    applyKernel(k, payload.kernel);
    walk(k.tree.root);
    interpreterFrom(payload.memory, 64 * 1024 * 1024);
    k.dispose();
    return "restored";
  } catch (error) {
    if (named(error)) return "refused";
    throw error;
  }
}

/** Every directory of a restored tree can be listed and every file read, without a host exception. */
function walk(root: MemDir): void {
  const pending: MemDir[] = [root];
  const seen = new Set<MemDir>();
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    if (seen.has(dir)) throw new Error("a directory is reachable twice: the tree has a cycle");
    seen.add(dir);
    for (const [, node] of dir.entries()) {
      if (node instanceof MemDir && node.mount.quota !== null) pending.push(node);
      else if (node.kind === "file" && node.mount.quota !== null) node.stat();
    }
  }
}

let sample: Payload;
let sampleRaw: Uint8Array;
let budget: ReturnType<typeof fuzzBudget>;
before(() => {
  sample = samplePayload();
  sampleRaw = encodeValue({ format: 1, ...sample }, { maxDepth: 16 });
  budget = fuzzBudget(1500, 120_000);
  console.log(`fuzz-restore seed ${budget.seed} (PYVISOR_FUZZ_SEED to replay), ${budget.ms} ms per property`);
});

/** Runs a property for the time budget (at least a few cases however slow the machine). */
function check<T>(arbitrary: fc.Arbitrary<T>, predicate: (value: T) => void, offset: number): void {
  let runs = 0;
  outcomes.refused = outcomes.restored = 0;
  fc.assert(fc.property(arbitrary, (value) => {
    runs++;
    predicate(value);
  }), { seed: budget.seed + offset, numRuns: 1_000_000, interruptAfterTimeLimit: budget.ms, markInterruptAsFailure: false });
  console.log(`  ${runs} cases: ${outcomes.refused} refused, ${outcomes.restored} restored`);
  assert.ok(runs > 0);
}

const mutation = fc.record({
  flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
  extra: fc.uint8Array({ maxLength: 16 }),
});
function mutate(bytes: Uint8Array, m: { flips: Array<[number, number]>; cut?: number; extra: Uint8Array }, from = 0): Uint8Array {
  let out: Uint8Array = bytes.slice();
  for (const [at, xor] of m.flips) if (out.length > from) out[from + (at % (out.length - from))]! ^= xor;
  if (m.cut !== undefined && out.length > 0) out = out.subarray(0, m.cut % out.length);
  return m.extra.length > 0 ? Buffer.concat([out, m.extra]) : out;
}

test("mutated sealed bytes are refused by name (almost always as SnapshotIntegrityError) and never open", () => {
  const bytes = sealPayload(sample);
  assert.equal(restoreInProcess(bytes, SaveKind.paused), "restored");
  check(mutation, (m) => {
    const mutated = mutate(bytes, m);
    if (Buffer.from(mutated).equals(Buffer.from(bytes))) return;
    assert.equal(restoreInProcess(mutated, SaveKind.paused), "refused");
  }, 1);
});

test("mutated headers under a valid HMAC are refused by name or opened, never a host exception", () => {
  const bytes = sealPayload(sample);
  check(fc.record({ flips: fc.array(fc.tuple(fc.integer({ min: 0, max: 71 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }) }), (m) => {
    restoreInProcess(resign(mutate(bytes.subarray(0, bytes.length - 32), { ...m, extra: new Uint8Array(0) })), SaveKind.paused);
  }, 2);
});

test("mutated payload bytes under a valid HMAC are refused by name or restored into a consistent kernel", () => {
  check(mutation, (m) => {
    restoreInProcess(sealPayload(mutate(sampleRaw, m)), SaveKind.paused);
  }, 3);
});

/** Every path to a value in `value` (objects and arrays, to a bounded depth). */
function paths(value: unknown, depth = 0, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (depth > 8 || value === null || typeof value !== "object" || value instanceof Uint8Array) return [prefix];
  const keys = Array.isArray(value) ? value.map((_, i) => i).slice(0, 50) : Object.keys(value);
  return [prefix, ...keys.flatMap((k) => paths((value as Record<string | number, unknown>)[k], depth + 1, [...prefix, k]))];
}

test("payload fields replaced by arbitrary values under a valid HMAC are refused by name or restored consistently", () => {
  const decoded = decodeValue(sampleRaw, { maxDepth: 16 }) as Record<string, unknown>;
  const all = paths(decoded).filter((p) => p.length > 0);
  const replacement = fc.oneof(
    fc.constant(null), fc.boolean(), fc.integer(), fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }), fc.double(), fc.string({ maxLength: 8 }),
    fc.uint8Array({ maxLength: 70_000 }), fc.constant([]), fc.constant({}), fc.array(fc.integer({ min: -2, max: 70_000 }), { maxLength: 3 }),
    fc.constantFrom("/", "/tmp", "/usr/local/lib/python3.13/x", "/dev/null", "..", "a/b", "file", "dir", "symlink", "fd_write", "tick"),
  );
  check(fc.tuple(fc.integer({ min: 0, max: all.length - 1 }), replacement), ([index, value]) => {
    const copy = structuredClone(decoded);
    const path = all[index]!;
    let parent = copy as Record<string | number, unknown>;
    for (const part of path.slice(0, -1)) parent = parent[part] as Record<string | number, unknown>;
    parent[path[path.length - 1]!] = value;
    restoreInProcess(sealPayload(encodeValue(copy, { maxDepth: 16 })), SaveKind.paused);
  }, 4);
});

let pool: Pool;
before(() => {
  pool = new Pool({ size: 1, isolation: "thread" });
});
after(async () => {
  await pool.close();
});

test("a few mutated payloads through Sandbox.restore: refused by name, or a sandbox whose next run settles", async () => {
  await using sb = await Sandbox.create({ pool });
  await sb.run("import json\nx = [1, 2, 3]\nopen('/tmp/f', 'w').write('data')");
  const bytes = await sb.save({ key });
  const { payload } = open(bytes, key, SaveKind.sandbox);
  const raw = decompress(payload.data, payload.compression, payload.rawLength);
  const rounds = budget.long ? 200 : 4;
  const random = fc.sample(mutation, { numRuns: rounds, seed: budget.seed });
  for (const m of random) {
    const mutatedRaw = mutate(raw, m, 0);
    const sealed = seal({ ...payload, data: compress(mutatedRaw, payload.compression), rawLength: mutatedRaw.length, meta: null }, key);
    try {
      await using restored = await Sandbox.restore(sealed, { key, pool });
      const result = await restored.run("1 + 1", { timeout: 5000 });
      assert.ok(result.value === 2 || result.error !== null);
    } catch (error) {
      if (!named(error)) throw error;
    }
  }
});
