// Shared setup for the attack files: an in-process guest with the Python
// helpers every attack uses, pools for the public API (closed after the file),
// host temp dirs with a snapshot to prove the host did not change, and the
// "still healthy" checks that follow every attack.
import { after, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PY_ERR, startGuest, type Guest, type GuestOptions } from "../helpers/engine.js";
import { Pool, Sandbox, type Isolation, type SandboxOptions } from "../../src/api/index.js";

/**
 * Python helpers: `err(f, *args)` names the errno f raised (or None);
 * `tries(f, *args)` gives f's value, or the name of any exception it raised.
 */
export const PY_ATTACK = PY_ERR + `
import sys
def tries(f, *args, **kwargs):
    try:
        return f(*args, **kwargs)
    except BaseException as e:
        return type(e).__name__
def write(path, data):
    with open(path, 'wb' if isinstance(data, bytes) else 'w') as f:
        f.write(data)
def read(path):
    with open(path) as f:
        return f.read()
`;

/** One in-process guest for a whole file (booting costs ~200 ms), started before the tests with PY_ATTACK loaded. */
export function sharedGuest(options: GuestOptions = {}): () => Guest {
  let guest: Guest | undefined;
  before(() => {
    guest = startGuest(options);
    guest.value(PY_ATTACK);
  });
  after(() => guest?.kernel.dispose());
  return () => {
    if (guest === undefined) throw new Error("the shared guest is not started yet");
    return guest;
  };
}

/** A guest of its own (for attacks that may leave the interpreter dead), with PY_ATTACK loaded. */
export function freshGuest(options: GuestOptions = {}): Guest {
  const guest = startGuest(options);
  guest.value(PY_ATTACK);
  return guest;
}

/** Asserts that a guest still runs code correctly after an attack. */
export function assertGuestHealthy(guest: Guest): void {
  assert.equal(guest.value("sum(range(10))"), 45);
}

/** A pool for the whole file, closed (forcibly) after it. */
export function sharedPool(size: number, isolation: Isolation): () => Pool {
  let pool: Pool | undefined;
  before(() => {
    pool = new Pool({ size, isolation });
  });
  after(async () => {
    await pool?.close({ force: true });
  });
  return () => {
    if (pool === undefined) throw new Error("the shared pool is not started yet");
    return pool;
  };
}

/** Asserts that a sandbox still runs code correctly after an attack. */
export async function assertSandboxHealthy(sandbox: Sandbox): Promise<void> {
  const result = await sandbox.run("sum(range(10))");
  assert.equal(result.error, null, JSON.stringify(result.error));
  assert.equal(result.value, 45);
}

/** A sandbox on `pool` with PY_ATTACK loaded. Dispose it (or `await using`). */
export async function attackSandbox(pool: Pool, options: SandboxOptions = {}): Promise<Sandbox> {
  const sandbox = await Sandbox.create({ ...options, pool });
  const loaded = await sandbox.run(PY_ATTACK);
  assert.equal(loaded.error, null);
  return sandbox;
}

/** A fresh host temp dir (real path), removed after the file. */
export function tempDir(prefix: string): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `pyvisor-${prefix}-`)));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Every path under `dir` (not following links) with its kind, contents or target, and mtime. */
export function snapshotTree(dir: string): Map<string, string> {
  const result = new Map<string, string>();
  const walk = (current: string) => {
    for (const name of fs.readdirSync(current).sort()) {
      const full = path.join(current, name);
      const st = fs.lstatSync(full);
      if (st.isSymbolicLink()) result.set(full, `link:${fs.readlinkSync(full)}`);
      else if (st.isDirectory()) {
        result.set(full, `dir:${st.mode}`);
        walk(full);
      } else result.set(full, `file:${st.mode}:${st.size}:${st.mtimeMs}:${fs.readFileSync(full).toString("base64")}`);
    }
  };
  walk(dir);
  return result;
}

/** The keys whose value differs between two snapshots. */
export function changedPaths(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...new Set([...before.keys(), ...after.keys()])].filter((key) => before.get(key) !== after.get(key)).sort();
}

/** Host paths that must never appear in what a guest sees. */
export function hostPaths(): string[] {
  const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..", "..");
  return [...new Set([repo, process.cwd(), os.homedir(), "/work", process.execPath, path.dirname(process.execPath)])]
    .filter((p) => p !== "/" && p !== "" && p !== "/usr/bin" && p !== "/usr/local/bin");
}

/** The host paths found in `text`. */
export function leakedHostPaths(text: string): string[] {
  return hostPaths().filter((hostPath) => text.includes(hostPath));
}

/** A seeded PRNG (mulberry32): the fuzzers print their seed so that a failure can be replayed. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Fuzz budget: a few seconds in CI, minutes with PYVISOR_FUZZ_LONG=1 (or exactly
 * PYVISOR_FUZZ_MS); the seed from PYVISOR_FUZZ_SEED (to replay a failure) or the clock.
 */
export function fuzzBudget(shortMs: number, longMs: number): { ms: number; seed: number; long: boolean } {
  const long = process.env.PYVISOR_FUZZ_LONG === "1";
  const exactMs = Number(process.env.PYVISOR_FUZZ_MS);
  const ms = Number.isFinite(exactMs) && exactMs > 0 ? exactMs : long ? longMs : shortMs;
  const fromEnv = process.env.PYVISOR_FUZZ_SEED;
  const seed = fromEnv !== undefined && fromEnv !== "" ? Number(fromEnv) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
  return { ms, seed, long };
}
