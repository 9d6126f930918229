// Deadlines: the time a run waits behind other runs is reported
// (stats.queuedMs); `timeout` is the run's own time, conversion of its value
// included, and an AbortSignal bounds a run end to end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorType, Pool, Sandbox } from "../../src/api/index.js";
import { decodeValue, encodeValue } from "../../src/shared/codec.js";
import { RESULT_LIMITS, screenResult } from "../../src/shared/protocol.js";

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

// Converting the run's value is part of the run: it must stay where a stop
// reaches it (Python code, or C calls of bounded cost), and a value the sandbox
// cannot convert is a typed error that keeps the session.

test("a value too large to encode in the sandbox's memory is a ConversionError that keeps the session, not a DriverError that resets it", async () => {
  const sandbox = await Sandbox.create();
  try {
    const result = await sandbox.run("x = 'x' * (60 * 2**20)\nx", { timeout: 60_000 });
    assert.equal(result.error?.type, ErrorType.Conversion, result.error?.message);
    assert.equal(result.stats.reset, false);
    assert.equal((await sandbox.run("len(x)")).value, 60 * 2 ** 20, "the program's globals are kept");
  } finally {
    await sandbox.dispose();
  }
});

test("the repr fallback of a list holding a huge int ends at once, even after sys.set_int_max_str_digits(0), instead of a hard stop", async () => {
  const sandbox = await Sandbox.create();
  try {
    const code = "import sys\nsys.set_int_max_str_digits(0)\nkept = 1\n[1 << 2**24, object()]";
    const result = await sandbox.run(code, { timeout: 2000 });
    assert.equal(result.error, null, result.error?.message);
    assert.equal(result.valueRepr, true);
    assert.match(String(result.value), /^<list object; repr\(\) failed: Exceeds the limit \(4300 digits\)/);
    assert.equal(result.stats.reset, false);
    assert.deepEqual((await sandbox.run("(kept, sys.get_int_max_str_digits())")).value, [1, 0], "the program's own digit limit is left as it set it");
  } finally {
    await sandbox.dispose();
  }
});

test("the repr fallback of a list of 60,000 big ints is cut at its size limit, not one C call of tens of seconds", async () => {
  const sandbox = await Sandbox.create();
  try {
    const start = performance.now();
    const result = await sandbox.run("[10**4299] * 60_000 + [object()]", { timeout: 60_000 });
    const elapsed = performance.now() - start;
    assert.equal(result.error, null, result.error?.message);
    assert.equal(result.valueRepr, true);
    const text = String(result.value);
    assert.equal(text.length, 4 * 1024 * 1024 + 3, "cut at 4 MiB characters, marked by ...");
    assert.ok(text.startsWith("[1000") && text.endsWith("..."));
    assert.ok(elapsed < 15_000, `took ${Math.round(elapsed)} ms`);
  } finally {
    await sandbox.dispose();
  }
});

test("a repr that loops forever in the value's fallback ends at the timeout with TimeoutError and the session intact", async () => {
  const sandbox = await Sandbox.create();
  try {
    const start = performance.now();
    const result = await sandbox.run("class Loops:\n    def __repr__(self):\n        while True: pass\nkept = 1\n[Loops()]", { timeout: 1000 });
    const elapsed = performance.now() - start;
    assert.equal(result.error?.type, ErrorType.Timeout);
    assert.equal(result.stats.reset, false);
    assert.ok(elapsed < 5000, `took ${Math.round(elapsed)} ms`);
    assert.equal((await sandbox.run("kept")).value, 1);
  } finally {
    await sandbox.dispose();
  }
});

test("the engine screens a result of a million small values at a fraction of the cost of decoding it, not a full decode past the deadline", () => {
  // The screen runs after the guest sent its result, however close to the deadline: a full decode (1-2 s
  // here) could get a finished run hard-stopped (hardStopGraceMs is 500 ms), and the host decodes it again.
  const payload = encodeValue({ value: Array.from({ length: 999_000 }, () => new Uint8Array(60)), valueRepr: false, error: null, exitCode: 0 });
  assert.ok("result" in screenResult(payload));
  // Best of three, each against a decode measured alongside, so that the machine's load does not decide.
  const best = (fn: () => unknown) => Math.min(...[1, 2, 3].map(() => {
    const start = performance.now();
    fn();
    return performance.now() - start;
  }));
  const screenMs = best(() => screenResult(payload));
  const decodeMs = best(() => decodeValue(payload, RESULT_LIMITS));
  assert.ok(screenMs < decodeMs / 3, `screened in ${Math.round(screenMs)} ms, decoded in ${Math.round(decodeMs)} ms`);
});
