// The kernel's output log: stdout and stderr in write order, cut per stream
// at the run's limit, with small writes coalesced.
import { test } from "node:test";
import assert from "node:assert/strict";
import { OutputLog } from "../../src/kernel/stdio.js";

test("a hundred thousand 1-byte writes are held in a few segments, not one object per write", () => {
  const log = new OutputLog(null, () => undefined);
  log.reset(Infinity);
  const byte = new Uint8Array([120]);
  for (let i = 0; i < 100_000; i++) log.write(1, byte);
  log.write(2, byte);
  log.write(1, byte);
  const segments = log.take();
  assert.ok(segments.length <= 6, `${segments.length} segments`);
  assert.equal(segments.reduce((n, s) => n + s.chunk.length, 0), 100_002);
  assert.deepEqual(segments.slice(-2).map((s) => [s.fd, s.chunk.length]), [[2, 1], [1, 1]]);
});

test("a run's output over the limit is cut per stream, in order", () => {
  let overflowed = 0;
  const log = new OutputLog(null, () => { overflowed++; });
  log.reset(3);
  log.write(1, new TextEncoder().encode("ab"));
  log.write(2, new TextEncoder().encode("xyz"));
  log.write(1, new TextEncoder().encode("cd"));
  assert.equal(overflowed, 1);
  assert.deepEqual(log.take().map((s) => [s.fd, new TextDecoder().decode(s.chunk)]), [[1, "ab"], [2, "xyz"], [1, "c"]]);
});
