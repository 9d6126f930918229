// A hard stop (a run that ignores its stop past `hardStopGraceMs`: it swallows
// the exception, or sits in one C call) loses only the stopped sandbox's
// state. Its neighbours on the same engine (worker process, or worker thread
// with isolation "thread") keep their globals, and the stopped sandbox's next
// run works on a fresh interpreter. Every pool here has size 1, so the
// neighbour surely shares the stopped sandbox's engine.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { ErrorType, Pool, Sandbox, type Isolation } from "../../src/api/index.js";

/** Swallows every TimeoutError, CancelledError and KeyboardInterrupt. */
const SWALLOWS = "while True:\n try:\n  while True: pass\n except BaseException: pass";
/** One C call that never reaches the eval loop (no tick, so no exception can be raised in it). */
const ONE_C_CALL = "sum(range(10**15))";

/** Starts a run of `code` and resolves `started` once the guest is surely running it (its first output arrived, past the sleep). */
function runStarted(sb: Sandbox, code: string, options: Parameters<Sandbox["run"]>[1]): { result: ReturnType<Sandbox["run"]>; started: Promise<void> } {
  let go!: () => void;
  const started = new Promise<void>((resolve) => { go = resolve; });
  // A sleep sends what was written before it to the host at once.
  const result = sb.run(`import time\nprint('go', flush=True)\ntime.sleep(0.01)\n${code}`, { ...options, onStdout: () => setTimeout(go, 200) });
  return { result, started };
}

async function neighbours(pool: Pool): Promise<{ a: Sandbox; b: Sandbox }> {
  const a = await Sandbox.create({ pool });
  const b = await Sandbox.create({ pool });
  assert.equal((await a.run("x = 41")).error, null);
  assert.equal((await b.run("mine = 'b'")).error, null);
  return { a, b };
}

/** A's state survived B's hard stop; B starts over on a fresh interpreter and says so once. */
async function assertOnlyBLost(a: Sandbox, b: Sandbox): Promise<void> {
  const kept = await a.run("x + 1");
  assert.equal(kept.error, null, JSON.stringify(kept.error));
  assert.equal(kept.value, 42, "the neighbour's globals survived the hard stop");
  assert.equal(kept.stats.reset, false, "the neighbour was not reset");
  const fresh = await b.run("'mine' in globals()");
  assert.equal(fresh.error, null, JSON.stringify(fresh.error));
  assert.equal(fresh.value, false, "the stopped sandbox's globals are gone");
  assert.equal(fresh.stats.reset, true, "the stopped sandbox reports that its state is gone");
  assert.equal((await b.run("6 * 7")).value, 42);
}

for (const isolation of ["process", "thread"] as Isolation[]) {
  test(`a hard stop of a guest that swallows its timeout wipes only that sandbox, not its neighbour on the same ${isolation} engine`, async () => {
    const pool = new Pool({ size: 1, isolation, hardStopGraceMs: 200 });
    try {
      const { a, b } = await neighbours(pool);
      const stopped = await b.run(SWALLOWS, { timeout: 300 });
      assert.equal(stopped.error?.type, ErrorType.Timeout);
      assert.match(stopped.error!.message, /hard-stopped/);
      assert.equal(stopped.stats.reset, true, "the hard-stopped run says its state is lost");
      await assertOnlyBLost(a, b);
    } finally {
      await pool.close({ force: true });
    }
  });

  test(`a hard stop of a guest stuck in one C call wipes only that sandbox, not its neighbour on the same ${isolation} engine`, async () => {
    const pool = new Pool({ size: 1, isolation, hardStopGraceMs: 200 });
    try {
      const { a, b } = await neighbours(pool);
      const stopped = await b.run(ONE_C_CALL, { timeout: 300 });
      assert.equal(stopped.error?.type, ErrorType.Timeout);
      assert.equal(stopped.stats.reset, true);
      await assertOnlyBLost(a, b);
    } finally {
      await pool.close({ force: true });
    }
  });
}

test("a cancelled run that swallows CancelledError is hard-stopped without wiping its neighbour", async () => {
  const pool = new Pool({ size: 1, hardStopGraceMs: 200 });
  try {
    const { a, b } = await neighbours(pool);
    const controller = new AbortController();
    const { result, started } = runStarted(b, SWALLOWS, { timeout: 60_000, signal: controller.signal });
    await started;
    controller.abort();
    const stopped = await result;
    assert.equal(stopped.error?.type, ErrorType.Cancelled);
    assert.equal(stopped.stats.reset, true);
    await assertOnlyBLost(a, b);
  } finally {
    await pool.close({ force: true });
  }
});

test("output written before a hard stop is delivered, and the neighbour's files survive it", async () => {
  const pool = new Pool({ size: 1, hardStopGraceMs: 200 });
  try {
    const a = await Sandbox.create({ pool });
    const b = await Sandbox.create({ pool });
    await a.fs.writeFile("/tmp/kept.txt", "kept");
    // A timeout long enough that even a loaded machine prints before it (the point is what happens after).
    const stopped = await b.run(`print('before', flush=True)\n${SWALLOWS}`, { timeout: 3000 });
    assert.equal(stopped.stdout, "before\n");
    assert.equal(await a.fs.readText("/tmp/kept.txt"), "kept");
  } finally {
    await pool.close({ force: true });
  }
});

/** Threads of this process (worker threads included). */
const threads = () => readdirSync("/proc/self/task").length;
const fds = () => readdirSync("/proc/self/fd").length;

test("hard stops on a thread-isolated pool leave no thread and no fd behind after pool.close()", async () => {
  // A first pool starts what lives as long as the process (libuv's thread pool, V8's platform threads).
  const warmUp = new Pool({ size: 1, isolation: "thread" });
  await (await Sandbox.create({ pool: warmUp })).run("1");
  await warmUp.close();
  const beforeThreads = threads();
  const beforeFds = fds();
  const pool = new Pool({ size: 1, isolation: "thread", hardStopGraceMs: 100 });
  const { a, b } = await neighbours(pool);
  for (const code of [SWALLOWS, ONE_C_CALL]) assert.equal((await b.run(code, { timeout: 200 })).stats.reset, true);
  assert.equal((await a.run("x")).value, 41);
  await pool.close();
  const until = performance.now() + 10_000;
  while ((threads() > beforeThreads || fds() > beforeFds) && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.ok(threads() <= beforeThreads, `threads: ${beforeThreads} before, ${threads()} after`);
  assert.ok(fds() <= beforeFds, `fds: ${beforeFds} before, ${fds()} after`);
});
