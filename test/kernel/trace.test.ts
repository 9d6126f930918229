// The syscall trace's bounds, unit by unit: a path is clipped to its two ends,
// and a run's trace stops at its entry cap or its byte cap, whichever comes first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { clipPath, MAX_TRACE_BYTES, MAX_TRACE_ENTRIES, MAX_TRACE_PATH_CHARS, Trace } from "../../src/kernel/trace.js";

test("a path up to the cap is kept whole", () => {
  const path = "/" + "a".repeat(MAX_TRACE_PATH_CHARS - 1);
  assert.equal(clipPath(path), path);
});

test("a longer path keeps its first and last halves, with the number of characters cut between", () => {
  const half = MAX_TRACE_PATH_CHARS / 2;
  const path = "h".repeat(half) + "x".repeat(1_000_000) + "t".repeat(half);
  assert.equal(clipPath(path), `${"h".repeat(half)}…[1000000 chars cut]…${"t".repeat(half)}`);
});

test("clipping never splits a surrogate pair (no lone surrogate reaches the host)", () => {
  const half = MAX_TRACE_PATH_CHARS / 2;
  for (const shift of [-1, 0]) { // the cut falls between the two halves of a pair, then between two pairs
    const path = "a".repeat(half - 1 + shift) + "😀".repeat(5000) + "b".repeat(half - 1 + shift);
    const clipped = clipPath(path) as string & { isWellFormed(): boolean };
    assert.ok(clipped.isWellFormed(), `shift ${shift}`);
    assert.ok(clipped.length <= MAX_TRACE_PATH_CHARS + 32);
  }
});

test("a trace stops at MAX_TRACE_ENTRIES small entries", () => {
  const trace = new Trace();
  for (let i = 0; i < MAX_TRACE_ENTRIES + 10; i++) trace.record("fd_write", [1, 2, 3, 4], undefined, "SUCCESS", 1);
  assert.equal(trace.entries.length, MAX_TRACE_ENTRIES);
});

test("a trace of long paths stops at its byte cap, long before the entry cap", () => {
  const trace = new Trace();
  const path = "/" + "d".repeat(1_000_000);
  for (let i = 0; i < 10_000; i++) trace.record("path_filestat_get", [3, 0, 0, 0, 0], path, "SUCCESS", 1);
  const kept = trace.entries.length;
  assert.ok(kept > 1000 && kept < 10_000, `${kept} entries`);
  const chars = trace.entries.reduce((n, entry) => n + (entry.path?.length ?? 0), 0);
  assert.ok(2 * chars <= MAX_TRACE_BYTES);
});

test("once full, the trace stays as it is: a small entry after a refused big one is not recorded", () => {
  const trace = new Trace();
  const path = "/" + "d".repeat(MAX_TRACE_PATH_CHARS);
  while (trace.entries.length < 10_000) {
    const before = trace.entries.length;
    trace.record("path_open", [3], path, "SUCCESS", 1);
    if (trace.entries.length === before) break;
  }
  const full = trace.entries.length;
  trace.record("fd_close", [4], undefined, "SUCCESS", 1);
  assert.equal(trace.entries.length, full);
});

test("reset starts an empty trace with the whole budget again", () => {
  const trace = new Trace();
  for (let i = 0; i < MAX_TRACE_ENTRIES + 1; i++) trace.record("fd_write", [], undefined, "SUCCESS", 1);
  trace.reset();
  trace.record("fd_write", [], undefined, "SUCCESS", 1);
  assert.equal(trace.entries.length, 1);
});
