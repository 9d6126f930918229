// The pool: bounded queues with backpressure, clean shutdown.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pool, PyvisorError, Sandbox } from "../../src/api/index.js";

test("runs beyond the engine queue wait on the host, and all complete", async () => {
  const pool = new Pool({ size: 1, isolation: "thread", maxQueuePerWorker: 2 });
  try {
    const sandboxes = await Promise.all(Array.from({ length: 6 }, () => Sandbox.create({ pool })));
    let maxQueued = 0;
    const watcher = setInterval(() => { maxQueued = Math.max(maxQueued, pool.queuedRuns); }, 1);
    const results = await Promise.all(sandboxes.map((sb, i) => sb.run(`import time\ntime.sleep(0.05)\n${i}`)));
    clearInterval(watcher);
    assert.deepEqual(results.map((r) => r.value), [0, 1, 2, 3, 4, 5]);
    assert.ok(maxQueued <= 2, `at most 2 runs were handed to the engine at once, saw ${maxQueued}`);
    assert.ok(maxQueued >= 1);
    for (const sb of sandboxes) await sb.dispose();
  } finally {
    await pool.close();
  }
});

test("close cancels accepted runs (CancelledError, not a crash), then refuses new work", async () => {
  const pool = new Pool({ size: 1, isolation: "thread" });
  const sb = await Sandbox.create({ pool });
  const running = sb.run("import time\ntime.sleep(5)\n'finished'");
  await new Promise((r) => setTimeout(r, 20));
  await pool.close();
  assert.equal((await running).error?.type, "CancelledError");
  await assert.rejects(Sandbox.create({ pool }), PyvisorError);
});

test("close with force ends runs in flight as crashed", async () => {
  const pool = new Pool({ size: 1, isolation: "thread" });
  const sb = await Sandbox.create({ pool });
  const running = sb.run("while True: pass", { timeout: 10_000 });
  await new Promise((r) => setTimeout(r, 50));
  await pool.close({ force: true });
  assert.equal((await running).error?.type, "SandboxCrashedError");
});
