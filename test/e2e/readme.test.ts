// The README's API examples, read from README.md (never copied here), run
// against the built package in a child process of their own: they must run as
// written (with the names they take as given, `db` and `datasetsDir`, defined),
// give what their comments say, and leave no worker, fd or timer behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { apiBlocks, PRELUDE, REPO } from "../helpers/readme.js";


/** What the first example's comments promise, checked where its names are in scope. */
const PROMISES = `
assert.deepEqual({ ...r, stats: undefined }, { value: 42, valueRepr: false, repr: "42", stdout: "hi\\n", stderr: "", output: "hi\\n", exitCode: 0, error: null, stats: undefined });
assert.equal(out.value, 42);
assert.deepEqual({ type: err.error?.type, message: err.error?.message }, { type: "ZeroDivisionError", message: "division by zero" });
assert.match(err.error!.traceback, /^Traceback/);
assert.equal(text, "a,b\\n1,2\\n");
assert.equal((await sb.run("from pyvisor.host import lookup\\nlookup('k')")).value, "v");
`;

/**
 * Runs the example module, then reports the fds, active handles and timers,
 * and worker processes there are before and after it (the default pool is
 * started first, so that its own workers and pipes count as "before").
 */
function runner(example: string): string {
  const pool = pathToFileURL(join(REPO, "dist", "src", "pool", "pool.js")).href;
  return `
import { readdirSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { getDefaultPool } from ${JSON.stringify(pool)};
const snapshot = () => ({
  fds: readdirSync("/proc/self/fd").length,
  // Sandboxes still placed on the default pool's workers (a private field, read for this check only).
  sandboxes: getDefaultPool().workers.reduce((n, worker) => n + worker.sandboxes.size, 0),
  resources: process.getActiveResourcesInfo().sort(),
  workers: execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" })
    .split("\\n").filter((line) => line.includes("process-main")).map((line) => Number(line.trim().split(/\\s+/)[0])),
});
getDefaultPool();
// The runner's own stdio streams (made on first use; a pipe is a handle) count as "before".
void process.stdout, process.stderr;
const before = snapshot();
await import(${JSON.stringify(pathToFileURL(example).href)});
await new Promise((resolve) => setImmediate(resolve));
console.log(JSON.stringify({ before, after: snapshot() }));
`;
}

/** Counts of each kind of active resource (Timeout, PipeWrap, ...). */
function tally(resources: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of resources) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

test("the README's API examples run as written, give what their comments say, and leave no worker, fd or timer behind", async () => {
  const blocks = apiBlocks();
  assert.ok(blocks.length >= 1, "the API section has ```ts examples");
  // Inside the package, so that `import ... from "pyvisor"` resolves to the built package by its own exports.
  const dir = mkdtempSync(join(REPO, "dist", ".readme-"));
  try {
    for (const [i, block] of blocks.entries()) {
      const source = PRELUDE + block + (i === 0 ? PROMISES : "");
      const { outputText, diagnostics } = ts.transpileModule(source, {
        compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext }, reportDiagnostics: true,
      });
      assert.deepEqual(diagnostics?.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")) ?? [], [], `block ${i} is valid TypeScript`);
      const example = join(dir, `example-${i}.mjs`);
      writeFileSync(example, outputText);
      writeFileSync(join(dir, `runner-${i}.mjs`), runner(example));
      // The child must end by itself: a ref'd handle or timer left behind would keep it alive until the timeout.
      const child = spawnSync(process.execPath, [join(dir, `runner-${i}.mjs`)], { encoding: "utf8", timeout: 120_000 });
      assert.equal(child.signal, null, `block ${i} did not exit by itself: ${child.stderr}`);
      assert.equal(child.status, 0, `block ${i} failed: ${child.stderr}`);
      const { before, after } = JSON.parse(child.stdout.trim().split("\n").pop()!) as Record<"before" | "after", { fds: number; sandboxes: number; resources: string[]; workers: number[] }>;
      assert.ok(after.fds <= before.fds, `block ${i} left fds open: ${before.fds} before, ${after.fds} after`);
      const [was, is] = [tally(before.resources), tally(after.resources)];
      for (const kind of Object.keys(is)) assert.ok(is[kind]! <= (was[kind] ?? 0), `block ${i} left a ${kind} behind: ${JSON.stringify({ before: was, after: is })}`);
      assert.deepEqual(after.workers, before.workers, "the default pool's workers, and no others");
      assert.equal(after.sandboxes, 0, `block ${i} left sandboxes undisposed`);
      // With the host process gone, its workers exit too (their IPC channel closes).
      const deadline = Date.now() + 20_000;
      while (!after.workers.every(gone) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(after.workers.filter((pid) => !gone(pid)), [], "workers outlived the host process");
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
