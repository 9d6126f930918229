// The durable pause across processes (bench/durable/approve.ts): one process
// pauses at approve(), saves the paused run to a file and exits; new
// processes restore it and resume with True, or throw into it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const DEMO = fileURLToPath(new URL("../../bench/durable/approve.js", import.meta.url));

function demo(mode: string, file: string): { stdout: string; pid: number } {
  const child = spawnSync(process.execPath, [DEMO, mode, file], { encoding: "utf8", timeout: 120_000 });
  assert.equal(child.status, 0, child.stderr);
  return { stdout: child.stdout, pid: child.pid! };
}

test("a run paused at approve() in one process is resumed with True in another, and finishes with the right output", () => {
  const dir = mkdtempSync(join(tmpdir(), "pyvisor-durable-x-"));
  try {
    const file = join(dir, "paused.bin");
    const first = demo("pause", file);
    assert.match(first.stdout, /paused at approve\(\[1341\], \{"currency":"EUR"\}\)/);
    const ref = /order ref (\d+)/.exec(first.stdout)![1];
    const second = demo("resume", file);
    assert.notEqual(second.pid, first.pid);
    assert.match(second.stdout, /done: value=true error=null/);
    assert.match(second.stdout, new RegExp(`python> approved 1341 ref ${ref}\\n`));
    assert.doesNotMatch(second.stdout, /order ref/, "output delivered before the pause is not repeated");
    const third = demo("throw", file);
    assert.match(third.stdout, /python> approval failed: the approver is on holiday\n\s+python> refused 1341/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
