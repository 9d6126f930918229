// Crash containment: a worker process that dies (here: a real SIGSEGV, the
// V8 crash a guest can trigger on Node 20/22) gives its run a typed
// SandboxCrashedError with the output captured so far; the pool replaces the
// worker, other sandboxes and the host carry on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { ErrorType, Pool, Sandbox } from "../../src/api/index.js";

/** Worker processes of this test process (ps itself is excluded). */
function workerPids(): number[] {
  const out = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" });
  return out.trim().split("\n").filter((line) => line.includes("process-main")).map((line) => Number(line.trim().split(/\s+/)[0]));
}

/** CPU ticks a process has used (utime + stime, from /proc), to see which worker is busy now. */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}
async function busiestWorker(): Promise<number> {
  const pids = workerPids();
  const before = pids.map(cpuTicks);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const used = pids.map((pid, i) => cpuTicks(pid) - before[i]!);
  return pids[used.indexOf(Math.max(...used))]!;
}

test("a worker process killed by SIGSEGV mid-run yields SandboxCrashedError and is replaced", async () => {
  const pool = new Pool({ size: 2, isolation: "process" });
  try {
    const victim = await Sandbox.create({ pool });
    const bystander = await Sandbox.create({ pool });
    await bystander.run("kept = 'still here'");
    const before = new Set(workerPids());
    let printed = false;
    const running = victim.run("print('before the crash', flush=True)\nwhile True: pass", {
      timeout: 20_000, onStdout: () => { printed = true; },
    });
    while (!printed) await new Promise((r) => setTimeout(r, 10));
    // Which worker runs the victim: the one using CPU.
    const busy = await busiestWorker();
    process.kill(busy, "SIGSEGV");
    const result = await running;
    assert.equal(result.error?.type, ErrorType.Crashed);
    assert.equal(result.error?.crash, "worker");
    assert.match(result.error!.message, /SIGSEGV/);
    assert.equal(result.stdout, "before the crash\n");
    // The victim is rebuilt on a replacement worker; its state is gone and it says so.
    const again = await victim.run("1 + 1");
    assert.equal(again.value, 2);
    assert.equal(again.stats.reset, true);
    // The other sandbox's state survived if it lived on the other worker; either way it answers.
    const other = await bystander.run("globals().get('kept')");
    assert.equal(other.error, null);
    const after = new Set(workerPids());
    assert.equal(after.size, 2, "the pool is back to two workers");
    assert.ok([...after].some((pid) => !before.has(pid)), "a new worker replaced the dead one");
    await victim.dispose();
    await bystander.dispose();
  } finally {
    await pool.close();
  }
});

test("a crashed run reports the output it wrote even without streaming callbacks", async () => {
  // Other pools of this file (the default one) have workers too: this pool's is the one that is new.
  const others = new Set(workerPids());
  const pool = new Pool({ size: 1, isolation: "process" });
  try {
    const sb = await Sandbox.create({ pool });
    const mine = workerPids().filter((pid) => !others.has(pid));
    assert.equal(mine.length, 1);
    const running = sb.run("print('kept', flush=True)\nwhile True: pass", { timeout: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    process.kill(mine[0]!, "SIGSEGV");
    const result = await running;
    assert.equal(result.error?.type, ErrorType.Crashed);
    assert.equal(result.stdout, "kept\n");
  } finally {
    await pool.close();
  }
});

test("the brief's V8-crash reproduction, run through pyvisor on this Node, leaves the host healthy", async () => {
  const pool = new Pool({ size: 1, isolation: "process" });
  try {
    await using sb = await Sandbox.create({ pool });
    const first = await sb.run("x = [None] * 9000000\nimport os\nos._exit(0)");
    // Either the guest exits normally or its worker crashes: both are typed, never a host crash.
    assert.ok(first.error === null || first.error.type === ErrorType.Crashed, JSON.stringify(first.error));
    const second = await sb.run("def f(n): return f(n + 1)\ntry:\n  f(0)\nexcept RecursionError:\n  pass\nimport os\nos._exit(0)");
    assert.ok(second.error === null || second.error.type === ErrorType.Crashed);
    assert.equal((await sb.run("6 * 7")).value, 42);
  } finally {
    await pool.close();
  }
});

/** Runs that hit no limit: each has a generous timeout, so a loaded machine cannot make it race one. */
const SUMS = Array.from({ length: 7 }, (_, i) => i * 100_000);
const RUNAWAYS = [
  { what: "a busy loop gets TimeoutError", code: "while True: pass", options: { timeout: 1_000 }, type: ErrorType.Timeout as string },
  { what: "a memory hog gets MemoryError", code: "x = []\nwhile True: x.append(bytearray(1 << 20))", options: { memoryLimit: "96M", timeout: 60_000 }, type: "MemoryError" },
  { what: "an output flood gets OutputLimitError", code: "while True: print('y' * 100)", options: { outputLimit: 100_000, timeout: 60_000 }, type: ErrorType.OutputLimit as string },
];
for (const runaway of RUNAWAYS) {
  test(`eight sandboxes at once: ${runaway.what}, the seven others finish`, async () => {
    const pool = new Pool({ size: 2, isolation: "process" });
    try {
      const run = async (code: string, options: object) => {
        await using sb = await Sandbox.create({ pool, ...options });
        return await sb.run(code);
      };
      const [stopped, ...sums] = await Promise.all([
        run(runaway.code, runaway.options),
        ...SUMS.map((n) => run(`sum(range(${n}))`, { timeout: 60_000 })),
      ]);
      assert.equal(stopped!.error?.type, runaway.type, JSON.stringify(stopped!.error));
      sums.forEach((result, i) => {
        assert.equal(result.error, null, `job ${i}`);
        assert.equal(result.value, SUMS[i]! * (SUMS[i]! - 1) / 2 || 0);
      });
    } finally {
      await pool.close();
    }
  });
}
