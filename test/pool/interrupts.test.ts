// Stops reach the guest on the default (process) isolation whatever it is
// doing: a timeout, an AbortSignal or sb.interrupt() raise in Python while it
// floods output, waits on a host function or sleeps, so the session keeps its
// state and the output written before the stop. Latency bounds are loose (the
// machine is shared): the old failure was seconds to never, not milliseconds.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { ErrorType, Pool, Sandbox } from "../../src/api/index.js";

const pool = new Pool({ size: 1, isolation: "process" });
after(() => pool.close({ force: true }));

async function session(options: Parameters<typeof Sandbox.create>[0] = {}): Promise<Sandbox> {
  const sb = await Sandbox.create({ pool, ...options });
  await sb.run("kept = 42");
  return sb;
}

/** Resolves once the guest has written something (the run is surely under way). */
function started(): { onStdout: (chunk: string) => void; ready: Promise<void> } {
  let go!: () => void;
  const ready = new Promise<void>((resolve) => { go = resolve; });
  return { onStdout: () => go(), ready };
}

async function assertSessionKept(sb: Sandbox): Promise<void> {
  const again = await sb.run("kept");
  assert.equal(again.value, 42, "the session's globals survived the stop");
  assert.equal(again.stats.reset, false);
}

test("a print flood past its timeout raises TimeoutError in Python instead of a hard stop", async () => {
  const sb = await session();
  const result = await sb.run("while True: print(1)", { timeout: 1000 });
  assert.equal(result.error?.type, ErrorType.Timeout);
  assert.match(result.error!.traceback, /TimeoutError/, "the Python traceback is reported");
  assert.equal(result.stats.reset, false, "no hard stop");
  assert.ok(result.stdout.length > 10_000, `the output written before the stop is kept (got ${result.stdout.length} chars)`);
  assert.match(result.stdout, /^(1\n)+$/);
  await assertSessionKept(sb);
  await sb.dispose();
});

test("a stderr flood past its timeout raises TimeoutError in Python instead of a hard stop", async () => {
  const sb = await session();
  const result = await sb.run("import sys\nwhile True: sys.stderr.write('e\\n')", { timeout: 1000 });
  assert.equal(result.error?.type, ErrorType.Timeout);
  assert.equal(result.stats.reset, false);
  assert.ok(result.stderr.length > 10_000, `stderr before the stop is kept (got ${result.stderr.length} chars)`);
  await assertSessionKept(sb);
  await sb.dispose();
});

test("an AbortSignal stops a print flood long before its timeout", async () => {
  const sb = await session();
  const controller = new AbortController();
  // No output callback: the output is batched with the result, the case the old relay drowned in.
  const running = sb.run("while True: print(1)", { timeout: 60_000, signal: controller.signal });
  await new Promise((r) => setTimeout(r, 500));
  const asked = performance.now();
  controller.abort();
  const result = await running;
  const latency = performance.now() - asked;
  assert.equal(result.error?.type, ErrorType.Cancelled);
  assert.ok(latency < 5000, `the run ended ${Math.round(latency)} ms after the abort`);
  assert.equal(result.stats.reset, false);
  await assertSessionKept(sb);
  await sb.dispose();
});

test("sb.interrupt() raises KeyboardInterrupt in a print flood and keeps the session", async () => {
  const sb = await session();
  const running = sb.run("while True: print(1)", { timeout: 60_000 });
  await new Promise((r) => setTimeout(r, 500));
  const asked = performance.now();
  sb.interrupt();
  const result = await running;
  const latency = performance.now() - asked;
  assert.equal(result.error?.type, "KeyboardInterrupt");
  assert.match(result.error!.traceback, /KeyboardInterrupt/);
  assert.ok(latency < 5000, `the run ended ${Math.round(latency)} ms after the interrupt`);
  await assertSessionKept(sb);
  await sb.dispose();
});

/** Interrupts `code` once it has printed its first line (and `settleMs` more); it must end in KeyboardInterrupt within 5 s, the session kept. */
async function interruptBlocked(sb: Sandbox, code: string, settleMs: number): Promise<void> {
  const { onStdout, ready } = started();
  const running = sb.run(code, { timeout: 60_000, onStdout });
  await ready;
  await new Promise((r) => setTimeout(r, settleMs));
  const asked = performance.now();
  sb.interrupt();
  const result = await running;
  assert.equal(result.error?.type, "KeyboardInterrupt");
  assert.ok(performance.now() - asked < 5000);
  await assertSessionKept(sb);
  await sb.dispose();
}

test("sb.interrupt() reaches a guest blocked in a host function that never answers", async () => {
  const sb = await session({ hostGlobals: true, functions: { wait: () => new Promise(() => undefined) } });
  await interruptBlocked(sb, "print('waiting', flush=True)\nwait()", 100);
});

test("sb.interrupt() wakes a sleeping guest", async () => {
  await interruptBlocked(await session(), "import time\nprint('sleeping', flush=True)\ntime.sleep(60)", 0);
});

test("a guest that catches KeyboardInterrupt goes on after sb.interrupt()", async () => {
  const sb = await session();
  const { onStdout, ready } = started();
  const running = sb.run(
    "import time\nprint('go', flush=True)\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    caught = True\n'caught'",
    { timeout: 60_000, onStdout },
  );
  await ready;
  sb.interrupt();
  const result = await running;
  assert.equal(result.error, null);
  assert.equal(result.value, "caught");
  await sb.dispose();
});

test("a timeout while the guest waits on a slow host function raises TimeoutError in Python", async () => {
  const sb = await session({ hostGlobals: true, functions: { slow: () => new Promise((r) => setTimeout(() => r(1), 30_000).unref()) } });
  const result = await sb.run("slow()", { timeout: 1000 });
  assert.equal(result.error?.type, ErrorType.Timeout);
  assert.equal(result.stats.reset, false, "no hard stop");
  await assertSessionKept(sb);
  await sb.dispose();
});

test("sb.interrupt() with no run in progress does nothing to the next run", async () => {
  const sb = await session();
  sb.interrupt();
  const result = await sb.run("sum(range(100000))");
  assert.equal(result.error, null);
  assert.equal(result.value, 4999950000);
  await sb.dispose();
});
