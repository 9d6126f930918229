// Queueing: the time a run waits behind other runs is reported
// (stats.queuedMs); `timeout` is the run's own time, and an AbortSignal
// bounds a run end to end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorType, Pool, Sandbox } from "../../src/api/index.js";

test("a run queued behind a busy engine reports the wait in stats.queuedMs", async () => {
  const pool = new Pool({ size: 1 });
  try {
    const busy = await Sandbox.create({ pool });
    const queued = await Sandbox.create({ pool });
    const first = busy.run("import time\ntime.sleep(1)");
    await new Promise((r) => setTimeout(r, 100));
    const second = await queued.run("1 + 1", { timeout: 10_000 });
    assert.equal((await first).error, null);
    assert.equal(second.value, 2);
    assert.ok(second.stats.queuedMs >= 500, `queuedMs ${second.stats.queuedMs}`);
    assert.ok(second.stats.wallMs < second.stats.queuedMs, "the wait is not counted as the run's own wall time");
  } finally {
    await pool.close({ force: true });
  }
});

test("a queued run is not charged for its wait: its timeout is its own time", async () => {
  const pool = new Pool({ size: 1 });
  try {
    const busy = await Sandbox.create({ pool });
    const queued = await Sandbox.create({ pool });
    const first = busy.run("import time\ntime.sleep(1.5)");
    await new Promise((r) => setTimeout(r, 100));
    const second = await queued.run("'finished'", { timeout: 1000 });
    await first;
    assert.equal(second.value, "finished", "a verdict does not depend on the pool's load");
  } finally {
    await pool.close({ force: true });
  }
});

test("AbortSignal.timeout bounds a run end to end, its time in the queue included", async () => {
  const pool = new Pool({ size: 1 });
  try {
    const busy = await Sandbox.create({ pool });
    const queued = await Sandbox.create({ pool });
    const first = busy.run("import time\ntime.sleep(3)");
    await new Promise((r) => setTimeout(r, 100));
    const start = performance.now();
    const second = await queued.run("'finished'", { signal: AbortSignal.timeout(300) });
    const waited = performance.now() - start;
    assert.equal(second.error?.type, ErrorType.Cancelled);
    assert.ok(waited < 2500, `answered ${Math.round(waited)} ms after the call, not when the engine got free (3 s)`);
    assert.equal((await first).error, null, "the run ahead is untouched");
    assert.equal((await queued.run("'next'")).value, "next", "the sandbox goes on");
  } finally {
    await pool.close({ force: true });
  }
});
