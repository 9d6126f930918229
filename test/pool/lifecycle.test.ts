// Lifecycle on the default (process) isolation: dispose() and pool.close()
// stop a run at once, an aborted signal never starts one, and no worker
// process or fd outlives its pool, its host's exit, or its host's SIGKILL.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DisposedError, ErrorType, Pool, Sandbox } from "../../src/api/index.js";

const API = fileURLToPath(new URL("../../src/api/index.js", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Is process `pid` alive (a zombie counts as gone)? */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] !== "Z";
  } catch {
    return false;
  }
}

/** Worker processes whose parent is `parent`. */
function workersOf(parent: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) !== parent || fields[0] === "Z") continue;
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes("process-main")) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function waitUntil(condition: () => boolean, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (condition()) return true;
    await sleep(50);
  }
  return condition();
}

test("dispose() during a busy loop stops the run at once, not at its timeout", async () => {
  const pool = new Pool({ size: 1 });
  try {
    const sb = await Sandbox.create({ pool });
    const running = sb.run("while True: pass", { timeout: 20_000 });
    await sleep(300);
    const asked = performance.now();
    await sb.dispose();
    const result = await running;
    assert.equal(result.error?.type, ErrorType.Cancelled);
    assert.ok(performance.now() - asked < 5000, `dispose took ${Math.round(performance.now() - asked)} ms`);
  } finally {
    await pool.close({ force: true });
  }
});

test("a run queued behind the one dispose() stops is refused with DisposedError", async () => {
  const pool = new Pool({ size: 1 });
  try {
    const sb = await Sandbox.create({ pool });
    const first = sb.run("while True: pass", { timeout: 20_000 });
    const second = sb.run("1");
    await sleep(300);
    await sb.dispose();
    assert.equal((await first).error?.type, ErrorType.Cancelled);
    await assert.rejects(second, DisposedError);
  } finally {
    await pool.close({ force: true });
  }
});

test("pool.close() during a run stops it at once, with the output written so far", async () => {
  const pool = new Pool({ size: 1 });
  const sb = await Sandbox.create({ pool });
  const running = sb.run("print('started', flush=True)\nwhile True: pass", { timeout: 20_000 });
  await sleep(300);
  const asked = performance.now();
  await pool.close();
  const result = await running;
  assert.ok(performance.now() - asked < 5000, `close took ${Math.round(performance.now() - asked)} ms`);
  assert.equal(result.error?.type, ErrorType.Cancelled);
  assert.equal(result.stdout, "started\n");
});

test("an already-aborted signal rejects and the run never starts", async () => {
  const pool = new Pool({ size: 1 });
  try {
    const sb = await Sandbox.create({ pool });
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(sb.run("ran = True", { signal: controller.signal }), { name: "AbortError" });
    const check = await sb.run("'ran' in globals()");
    assert.equal(check.value, false);
  } finally {
    await pool.close({ force: true });
  }
});

test("pool.close() after a hard stop leaves no worker process and no fd behind", async () => {
  const fds = () => readdirSync("/proc/self/fd").length;
  const beforeFds = fds();
  const beforeWorkers = workersOf(process.pid).length;
  const pool = new Pool({ size: 2, hardStopGraceMs: 100 });
  const sb = await Sandbox.create({ pool });
  const stubborn = "while True:\n    try:\n        while True: pass\n    except BaseException: pass";
  const result = await sb.run(stubborn, { timeout: 300 });
  assert.equal(result.stats.reset, true, "the guest was hard-stopped");
  assert.ok(workersOf(process.pid).length >= beforeWorkers + 2, "the pool runs its two workers");
  await pool.close();
  assert.ok(await waitUntil(() => workersOf(process.pid).length === beforeWorkers, 10_000), "every worker exited");
  assert.ok(await waitUntil(() => fds() <= beforeFds, 5000), `fds: ${beforeFds} before, ${fds()} after`);
});

/** Runs a host script in a child node process; resolves with the worker pids it reports. */
function startHost(body: string): { child: ReturnType<typeof spawn>; pids: Promise<number[]>; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "pyvisor-host-"));
  const script = join(dir, "host.mjs");
  writeFileSync(script, `import { Pool, Sandbox } from ${JSON.stringify(API)};\n${body}`);
  const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
  const pids = new Promise<number[]>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n").find((l) => l.startsWith("ready"));
      if (line !== undefined) resolve(workersOf(child.pid!));
    });
    child.on("exit", () => reject(new Error(`the host exited early: ${out}`)));
  });
  pids.catch(() => undefined);
  return { child, pids, dir };
}

test("worker processes exit when their host is killed with SIGKILL mid-run", async () => {
  const { child, pids, dir } = startHost(`
const pool = new Pool({ size: 2 });
const sb = await Sandbox.create({ pool });
void sb.run("while True: pass", { timeout: 60_000 });
setTimeout(() => console.log("ready"), 300);
`);
  try {
    const workers = await pids;
    assert.equal(workers.length, 2);
    child.kill("SIGKILL");
    assert.ok(await waitUntil(() => workers.every((pid) => !alive(pid)), 10_000), `still alive: ${workers.filter(alive).join(", ")}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the worker that replaced a killed one exits when its host script ends at once, without close()", async () => {
  // The host ends right after its worker is killed (a cancelled run stuck in
  // one C call: the last resort of a hard stop), while the replacement worker
  // is still loading: the channel closes before the worker listens to it.
  const { child, dir } = startHost(`
import { readdirSync, readFileSync } from "node:fs";
const sb = await Sandbox.create({ pool: new Pool({ size: 1, hardStopGraceMs: 100 }) });
const r = await sb.run("sum(range(10**15))", { timeout: 60_000, signal: AbortSignal.timeout(300) });
if (!r.stats.reset) throw new Error("expected a hard stop");
const mine = readdirSync("/proc").filter((p) => /^\\d+$/.test(p)).filter((p) => {
  try { return readFileSync("/proc/" + p + "/stat", "utf8").split(") ")[1].split(" ")[1] === String(process.pid); } catch { return false; }
});
console.log("workers " + mine.join(" "));
`);
  try {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => { out += chunk.toString(); });
    await new Promise((r) => child.on("exit", r));
    const workers = (out.split("\n").find((l) => l.startsWith("workers ")) ?? "").split(" ").slice(1).filter(Boolean).map(Number);
    assert.equal(workers.length, 1, `the replacement worker (host said ${JSON.stringify(out)})`);
    assert.ok(await waitUntil(() => workers.every((pid) => !alive(pid)), 10_000), `still alive: ${workers.filter(alive).join(", ")}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
