// Faults on the default (process) isolation: whatever a host function does,
// or a worker killed mid-run, the run resolves with a typed result, no hang,
// and the output written before the fault.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { ErrorType, Pool, Sandbox } from "../../src/api/index.js";

const pool = new Pool({ size: 1 });
after(() => pool.close({ force: true }));

/** Calls f() after a flushed line; returns the result (the line must be kept). */
async function callFaulty(f: (...args: unknown[]) => unknown, options: { functionTimeout?: number } = {}) {
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { f }, ...options });
  const result = await sb.run("print('before', flush=True)\nf()", { timeout: 10_000 });
  assert.equal(result.stdout, "before\n");
  return result;
}

test("a host function that throws gives HostError in Python", async () => {
  const result = await callFaulty(() => { throw new Error("boom"); });
  assert.equal(result.error?.type, "HostError");
  assert.match(result.error!.message, /boom/);
});

test("a host function that rejects gives HostError in Python", async () => {
  const result = await callFaulty(() => Promise.reject(new Error("rejected")));
  assert.equal(result.error?.type, "HostError");
  assert.match(result.error!.message, /rejected/);
});

test("a host function that never settles gives HostError after functionTimeout, not a hang", async () => {
  const result = await callFaulty(() => new Promise(() => undefined), { functionTimeout: 300 });
  assert.equal(result.error?.type, "HostError");
  assert.match(result.error!.message, /timed out/);
});

test("a host function that returns something unconvertible gives HostError in Python", async () => {
  const result = await callFaulty(() => Symbol("nope"));
  assert.equal(result.error?.type, "HostError");
});

test("a worker killed by SIGKILL mid-run gives SandboxCrashedError with the output written before", async () => {
  await using sb = await Sandbox.create({ pool });
  let printed!: () => void;
  const ready = new Promise<void>((r) => { printed = r; });
  const running = sb.run("print('before', flush=True)\nwhile True: pass", { timeout: 30_000, onStdout: () => printed() });
  await ready;
  const out = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" });
  const pid = Number(out.split("\n").find((l) => l.includes("process-main"))!.trim().split(/\s+/)[0]);
  process.kill(pid, "SIGKILL");
  const result = await running;
  assert.equal(result.error?.type, ErrorType.Crashed);
  assert.equal(result.stdout, "before\n");
  assert.equal((await sb.run("1 + 1")).value, 2, "the sandbox is rebuilt on a new worker");
});
