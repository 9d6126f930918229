// A run's `timeout` counts from the call to run(): the time it waits behind
// other runs is reported (stats.queuedMs) and used up, so a queued run cannot
// take its whole limit again once it starts.
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

test("time spent queued counts against the run's timeout", async () => {
  const pool = new Pool({ size: 1 });
  try {
    const busy = await Sandbox.create({ pool });
    const queued = await Sandbox.create({ pool });
    const first = busy.run("import time\ntime.sleep(2)");
    await new Promise((r) => setTimeout(r, 100));
    // 1.5 s of limit, ~1.9 s of it spent waiting: the run itself (1 s of sleep) cannot finish in time.
    const second = await queued.run("import time\ntime.sleep(1)\n'finished'", { timeout: 1500 });
    await first;
    assert.equal(second.error?.type, ErrorType.Timeout);
    assert.equal(second.stats.reset, false, "stopped in Python, not hard-stopped");
  } finally {
    await pool.close({ force: true });
  }
});
