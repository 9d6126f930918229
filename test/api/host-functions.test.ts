// Host-function calls: one timeout governs a call (functionTimeout), and
// every way a call can fail reaches Python as pyvisor.HostError saying why.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { InvalidOptionsError, Pool, Sandbox, type PoolOptions } from "../../src/api/index.js";

let pool: Pool;
before(() => {
  pool = new Pool({ size: 1 });
});
after(async () => {
  await pool.close();
});

/** Python that calls `expr` and gives back ("ok", value) or (exception type, message). */
function guarded(expr: string): string {
  return `import pyvisor\ntry:\n    r = ('ok', ${expr})\nexcept BaseException as e:\n    r = (type(e).__name__, str(e))\nr`;
}

test("one host-call timeout: the pool has no callTimeoutMs of its own to cap or pre-empt functionTimeout", async () => {
  assert.throws(() => new Pool({ size: 1, callTimeoutMs: 200 } as PoolOptions), (e: unknown) => e instanceof InvalidOptionsError && e.option === "callTimeoutMs");
  await using sb = await Sandbox.create({
    pool, functionTimeout: 20_000,
    hostGlobals: true, functions: { slow: () => new Promise((resolve) => setTimeout(() => resolve("late but in time"), 1_500)) },
  });
  assert.deepEqual((await sb.run(guarded("slow()"))).value, ["ok", "late but in time"]);
});

test("a host function slower than functionTimeout gives Python HostError, never OSError [Errno 29]", async () => {
  await using sb = await Sandbox.create({ pool, functionTimeout: 300, hostGlobals: true, functions: { slow: () => new Promise((resolve) => setTimeout(resolve, 3_000)) } });
  const [type, message] = (await sb.run(guarded("slow()"))).value as [string, string];
  assert.equal(type, "HostError");
  assert.match(message, /timed out after 300 ms/);
});

test("a host function's answer over 16 MiB gives Python HostError saying it is too large, not CodecError: truncated input", async () => {
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { big: () => "x".repeat(17 * 1024 * 1024), small: () => "fits" } });
  const [type, message] = (await sb.run(guarded("big()"))).value as [string, string];
  assert.equal(type, "HostError");
  assert.match(message, /too large/);
  assert.deepEqual((await sb.run(guarded("small()"))).value, ["ok", "fits"], "the next call works");
});

test("a host call still unanswered at the run's timeout ends the run with TimeoutError and keeps the worker", async () => {
  // A long grace: the worker is not killed because the run stops by itself at its deadline, not because the kill came late.
  const own = new Pool({ size: 1, hardStopGraceMs: 30_000 });
  try {
    await using sb = await Sandbox.create({ pool: own, functionTimeout: 60_000, hostGlobals: true, functions: { hang: () => new Promise(() => {}) } });
    await sb.run("kept = 1");
    const started = Date.now();
    const result = await sb.run("hang()", { timeout: 500 });
    assert.equal(result.error?.type, "TimeoutError");
    assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
    assert.equal(result.stats.reset, false, "the interpreter was interrupted, not killed");
    assert.equal((await sb.run("kept")).value, 1);
  } finally {
    await own.close();
  }
});
