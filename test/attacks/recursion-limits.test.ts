// Code with no loop at all (only calls) must still be checked by the engine:
// the eval loop's periodic controller check used to run on backward jumps and
// after calls into C, never on entry to a Python function, so a program that
// only recursed, or a C loop calling a Python function, ran past `tickLimit`
// and `cpuTime` and was ended only by the wall clock's hard stop, which loses
// the sandbox's state. Each attack here must end in the graceful TimeoutError
// of its own limit, with the sandbox's globals intact (stats.reset false).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ErrorType, Pool, Sandbox, type RunResult, type SandboxOptions } from "../../src/api/index.js";

let pool: Pool;
before(() => { pool = new Pool({ size: 1 }); });
after(async () => { await pool.close({ force: true }); });

/** 2**41 calls, no loop: hours of compute if nothing checks function entry. */
const RECURSION = "def f(n): return f(n - 1) + f(n - 1) if n else 1\nf(40)";

/**
 * Runs `code` in a sandbox that set a global first; checks that the run ended in
 * the graceful TimeoutError named by `message` (not the hard stop, which
 * restarts the interpreter), then that the global survived.
 */
async function attack(code: string, options: SandboxOptions, message: RegExp): Promise<RunResult> {
  await using sb = await Sandbox.create({ ...options, pool });
  assert.equal((await sb.run("kept = 'before the attack'")).error, null);
  const result = await sb.run(code);
  assert.equal(result.error?.type, ErrorType.Timeout, JSON.stringify(result.error));
  assert.match(result.error!.message, message);
  assert.equal(result.stats.reset, false, "stopped inside Python, not by the hard stop");
  const kept = await sb.run("kept");
  assert.equal(kept.error, null, JSON.stringify(kept.error));
  assert.equal(kept.value, "before the attack", "the sandbox kept its state");
  return result;
}

test("recursion without a loop is stopped by tickLimit, not by the wall clock", async () => {
  const result = await attack(RECURSION, { tickLimit: 100_000, timeout: 15_000 }, /tick budget \(tickLimit\)/);
  assert.ok(result.stats.ticks >= 100_000 && result.stats.ticks < 200_000, `ticks ${result.stats.ticks}`);
});

test("recursion without a loop is stopped by cpuTime, not by the wall clock", async () => {
  await attack(RECURSION, { cpuTime: 300, timeout: 15_000 }, /CPU time limit \(cpuTime\)/);
});

test("recursion without a loop gets the graceful TimeoutError of timeout, not the hard stop", async () => {
  await attack(RECURSION, { timeout: 1_000 }, /time limit \(timeout\)/);
});

test("a C loop calling a Python function (any over map) is stopped by tickLimit", async () => {
  await attack("import itertools\nany(map(lambda x: False, itertools.count()))", { tickLimit: 100_000, timeout: 15_000 }, /tick budget \(tickLimit\)/);
});

test("the tick budget stops recursion at the same call on every run", async () => {
  const counted = "calls = 0\ndef g(n):\n    global calls\n    calls += 1\n    return g(n - 1) + g(n - 1) if n else 1\ntry:\n    g(40)\nexcept TimeoutError:\n    pass\ncalls";
  const first = await attack(counted, { tickLimit: 100_000, timeout: 15_000 }, /tick budget \(tickLimit\)/);
  const second = await attack(counted, { tickLimit: 100_000, timeout: 15_000 }, /tick budget \(tickLimit\)/);
  assert.equal(typeof first.value, "number");
  assert.equal(second.value, first.value);
});

test("the tick budget stops a program at the same point whatever the sandbox ran before", async () => {
  // Each sandbox runs one program first (a sandbox's first run also sets it up, which costs ticks of its own).
  const counted = async (history: string): Promise<unknown> => {
    await using sb = await Sandbox.create({ pool, tickLimit: 50_000, timeout: 15_000 });
    assert.equal((await sb.run(history)).error, null);
    const stopped = await sb.run("n = 0\nwhile True:\n    n += 1");
    assert.equal(stopped.error?.limit, "tickLimit", JSON.stringify(stopped.error));
    return (await sb.run("n")).value;
  };
  const first = await counted("pass");
  assert.equal(await counted("for i in range(777): pass"), first, "a different history moved the stop point");
  assert.equal(await counted("for i in range(1234): pass"), first);
});
