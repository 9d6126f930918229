// Pausing a run at a host call (sb.start with `pause`): resume, throw, save
// and restore, and what carries across a pause (files, stdin, counters).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorType, InvalidOptionsError, PausedRun, Pool, PyvisorError, Sandbox, type RunStep } from "../../src/api/index.js";

let pool: Pool;
before(() => {
  pool = new Pool({ size: 1, isolation: "thread" });
});
after(async () => {
  await pool.close();
});

const key = "a key of at least sixteen bytes!";
const functions = { approve: (amount: number) => amount < 10 };

function paused(step: RunStep): PausedRun {
  assert.equal(step.done, false, `expected a pause, got ${JSON.stringify(step.done ? step.result : null)}`);
  return step as PausedRun;
}
function done(step: RunStep) {
  assert.equal(step.done, true, "expected the run to finish");
  return (step as { done: true; result: import("../../src/api/index.js").RunResult }).result;
}

const APPROVE = "from pyvisor.host import approve\nprint('asking', flush=True)\nok = approve(120, currency='EUR')\nprint('approved' if ok else 'refused')\nok";

test("a run pauses at a named host function with its arguments, and resume(value) is what the call returns", async () => {
  await using sb = await Sandbox.create({ pool, functions });
  const step = paused(await sb.start(APPROVE, { pause: ["approve"] }));
  assert.deepEqual(step.call, { name: "approve", args: [120], kwargs: { currency: "EUR" } });
  assert.equal(step.partial.stdout, "asking\n");
  const result = done(await step.resume(true));
  assert.equal(result.error, null);
  assert.equal(result.value, true);
  assert.equal(result.stdout, "approved\n", "output delivered before the pause is not repeated");
});

test("throw(message) makes the paused call raise HostError in Python, which the program may catch", async () => {
  await using sb = await Sandbox.create({ pool, functions });
  const code = "from pyvisor.host import approve\nimport pyvisor\ntry:\n    approve(5)\nexcept pyvisor.HostError as e:\n    print('refused:', e)";
  const result = done(await paused(await sb.start(code, { pause: ["approve"] })).throw("not today"));
  assert.equal(result.error, null);
  assert.equal(result.stdout, "refused: not today\n");
});

test("a run that never calls a paused function completes as usual, and run() is not paused", async () => {
  await using sb = await Sandbox.create({ pool, functions });
  assert.equal(done(await sb.start("21 * 2", { pause: ["approve"] })).value, 42);
  assert.equal((await sb.run("from pyvisor.host import approve\napprove(3)")).value, true);
});

test("every call of a paused function pauses, and the program's state carries from one pause to the next", async () => {
  await using sb = await Sandbox.create({ pool, functions });
  const code = "from pyvisor.host import approve\ntotal = 0\nfor amount in (10, 20, 30):\n    if approve(amount):\n        total += amount\ntotal";
  let step = await sb.start(code, { pause: ["approve"] });
  const answers = [true, false, true];
  const seen: unknown[] = [];
  for (const answer of answers) {
    const p = paused(step);
    seen.push(p.call.args[0]);
    step = await p.resume(answer);
  }
  assert.deepEqual(seen, [10, 20, 30]);
  assert.equal(done(step).value, 40);
  assert.equal((await sb.run("total")).value, 40, "the run's globals stay in the sandbox");
});

test("a paused run saved and restored in another sandbox goes on there, resumed or thrown into", async () => {
  await using sb = await Sandbox.create({ pool, functions });
  const step = paused(await sb.start(APPROVE, { pause: ["approve"] }));
  const bytes = await step.save({ key });
  const again = await PausedRun.restore(bytes, { key, pool, functions });
  assert.deepEqual(again.call, step.call);
  const resumed = done(await again.resume(true));
  assert.equal(resumed.stdout, "approved\n");
  await again.sandbox.dispose();
  const thrown = await PausedRun.restore(bytes, { key, pool, functions });
  const result = done(await thrown.throw("no"));
  assert.equal(result.error?.type, "HostError");
  assert.equal(result.error?.message, "no");
  await thrown.sandbox.dispose();
});

test("files written before the pause are written once: the replay repeats no side effect", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pyvisor-pause-"));
  try {
    await using sb = await Sandbox.create({ pool, functions, mounts: [{ host: dir, guest: "/data", readonly: false }] });
    const code = "from pyvisor.host import approve\nopen('/data/log', 'a').write('before\\n')\nopen('/tmp/log', 'a').write('before\\n')\napprove(1)\nopen('/data/log', 'a').write('after\\n')\nopen('/tmp/log').read()";
    const result = done(await paused(await sb.start(code, { pause: ["approve"] })).resume(true));
    assert.equal(result.value, "before\n");
    assert.equal(readFileSync(join(dir, "log"), "utf8"), "before\nafter\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("stdin not read before the pause is read after it, in the same or a restored sandbox", async () => {
  await using sb = await Sandbox.create({ pool, functions });
  const code = "from pyvisor.host import approve\nimport sys\nfirst = sys.stdin.readline()\napprove(1)\n(first, sys.stdin.readline())";
  const step = paused(await sb.start(code, { pause: ["approve"], stdin: "one\ntwo\n" }));
  const bytes = await step.save({ key });
  assert.deepEqual(done(await step.resume(true)).value, ["one\n", "two\n"]);
  const restored = await PausedRun.restore(bytes, { key, pool, functions });
  assert.deepEqual(done(await restored.resume(true)).value, ["one\n", "two\n"]);
  await restored.sandbox.dispose();
});

test("the output limit counts the whole run, across a pause", async () => {
  await using sb = await Sandbox.create({ pool, functions, outputLimit: 1000 });
  const code = "from pyvisor.host import approve\nprint('x' * 700, flush=True)\napprove(1)\nprint('y' * 700, flush=True)";
  const result = done(await paused(await sb.start(code, { pause: ["approve"] })).resume(true));
  assert.equal(result.error?.type, ErrorType.OutputLimit);
});

test("the tick budget counts the whole run, across a pause and a restore", async () => {
  await using sb = await Sandbox.create({ pool, functions });
  const code = "from pyvisor.host import approve\nfor i in range(300_000): pass\napprove(1)\nfor i in range(300_000): pass";
  const alone = (await sb.run("for i in range(300_000): pass")).stats.ticks;
  const step = paused(await sb.start(code, { pause: ["approve"], tickLimit: Math.round(alone * 1.5) }));
  const bytes = await step.save({ key });
  assert.equal(done(await step.resume(true)).error?.type, ErrorType.Timeout);
  const restored = await PausedRun.restore(bytes, { key, pool, functions });
  const result = done(await restored.resume(true));
  assert.equal(result.error?.type, ErrorType.Timeout);
  assert.equal(result.error?.limit, "tickLimit");
  await restored.sandbox.dispose();
});

test("the CPU time of a resumed run counts from where it paused, and a cpuTime limit counts the whole run", async () => {
  await using sb = await Sandbox.create({ pool, functions });
  const code = "from pyvisor.host import approve\nimport time\nt = time.monotonic()\nwhile time.monotonic() - t < 0.3: pass\napprove(1)\nwhile True: pass";
  const step = paused(await sb.start(code, { pause: ["approve"], cpuTime: 2000, timeout: 60_000 }));
  assert.ok(step.partial.stats.cpuMs >= 250, `cpu before the pause: ${step.partial.stats.cpuMs}`);
  const result = done(await step.resume(true));
  assert.equal(result.error?.limit, "cpuTime");
  assert.ok(result.stats.cpuMs >= 2000, `the whole run's cpu: ${result.stats.cpuMs}`);
});

test("runs wait while a run is paused, and a paused run is resumed once", async () => {
  await using sb = await Sandbox.create({ pool, functions });
  const step = paused(await sb.start(APPROVE, { pause: ["approve"] }));
  await assert.rejects(sb.run("1"), PyvisorError);
  await assert.rejects(sb.save({ key }), PyvisorError);
  done(await step.resume(false));
  await assert.rejects(step.resume(true), PyvisorError);
  assert.equal((await sb.run("ok")).value, false);
});

test("pause must name functions of the sandbox", async () => {
  await using sb = await Sandbox.create({ pool, functions });
  await assert.rejects(sb.start("1", { pause: ["nope"] }), (e: unknown) => e instanceof InvalidOptionsError && e.option === "pause");
  await assert.rejects(sb.start("1", { pause: [] }), InvalidOptionsError);
});
