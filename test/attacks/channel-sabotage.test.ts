// A program that sabotages the driver from Python (it shares the interpreter
// with it) gets its result, or a typed, explained DriverError for that run,
// never a crash report or a driver traceback; the next run of the sandbox
// works. Each test shows the run's result and a working next run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorType, type RunResult, type Sandbox } from "../../src/api/index.js";
import { attackSandbox, sharedPool } from "./helpers.js";

const threads = sharedPool(1, "thread");
const processes = sharedPool(1, "process");

async function sabotageSandbox(isolation: "thread" | "process" = "thread"): Promise<Sandbox> {
  return attackSandbox(isolation === "thread" ? threads() : processes(), { hostGlobals: true, functions: { double: (x: number) => x * 2 } });
}

/** No frame of the driver (its files) in what the run printed or reported. */
function assertNoDriverFrames(result: RunResult): void {
  const shown = result.stdout + result.stderr + (result.error?.traceback ?? "");
  assert.doesNotMatch(shown, /_pyvisor\.py|pyvisor\/_channel\.py|pyvisor\/__init__\.py/, shown);
}

/** The sabotaging run ended with its result or with an explained DriverError, never a crash. */
function assertTypedOutcome(result: RunResult): void {
  if (result.error !== null) {
    assert.equal(result.error.type, ErrorType.Driver, JSON.stringify(result.error));
    assert.match(result.error.message, /broke pyvisor's driver.*restarted/);
    assert.equal(result.stats.reset, true);
  }
  assertNoDriverFrames(result);
}

/** The next run computes, uses builtins, prints and calls a host function. */
async function assertNextRunWorks(sb: Sandbox): Promise<void> {
  const next = await sb.run("import json\nprint('next')\n[len([1, 2]), json.dumps([1]), double(4)]");
  assert.equal(next.error, null, JSON.stringify(next.error));
  assert.equal(next.stdout, "next\n");
  assert.deepEqual(next.value, [2, "[1]", 8]);
}

test("builtins.len = None delivers the run's result and the next run has len again", async () => {
  await using sb = await sabotageSandbox();
  const result = await sb.run("import builtins\nbuiltins.len = None\nbuiltins.isinstance = None\ndouble(21)");
  assert.equal(result.error, null, JSON.stringify(result.error));
  assert.equal(result.value, 42);
  await assertNextRunWorks(sb);
});

test("deleting every builtin delivers the run's result and the next run has them back", async () => {
  await using sb = await sabotageSandbox();
  const result = await sb.run("import builtins\nkeep = dict(vars(builtins))\nvars(builtins).clear()\n'cleared'");
  assertTypedOutcome(result);
  await assertNextRunWorks(sb);
});

test("sys.modules.clear() delivers the run's result and the next run imports and calls the host", async () => {
  await using sb = await sabotageSandbox();
  const result = await sb.run("import sys\nsys.modules.clear()\ndouble(5)");
  assert.equal(result.error, null, JSON.stringify(result.error));
  assert.equal(result.value, 10);
  await assertNextRunWorks(sb);
});

test("sys.modules.clear() together with a broken builtin the driver's imports need (len) still delivers the run's value", async () => {
  await using sb = await sabotageSandbox();
  // The driver's value conversion re-imports what the program cleared; with len broken that import failed (TypeError, no frames).
  const result = await sb.run("import sys, builtins\nsys.modules.clear()\nbuiltins.len = None\n{'kept': [1, 2]}");
  assert.equal(result.error, null, JSON.stringify(result.error));
  assert.deepEqual(result.value, { kept: [1, 2] });
  await assertNextRunWorks(sb);
});

test("replacing pyvisor's channel functions delivers the run's result and the next run's host calls work", async () => {
  await using sb = await sabotageSandbox();
  const result = await sb.run("import pyvisor, pyvisor._channel, pyvisor._codec\npyvisor._channel.send = pyvisor._channel.receive = None\npyvisor._codec.encode = None\n'patched'");
  assert.equal(result.error, null, JSON.stringify(result.error));
  assert.equal(result.value, "patched");
  await assertNextRunWorks(sb);
});

test("replacing os.write, os.read and struct.pack does not reach the driver", async () => {
  await using sb = await sabotageSandbox();
  const result = await sb.run("import os, struct\nos.write = os.read = struct.pack = None\ndouble(3)");
  assert.equal(result.error, null, JSON.stringify(result.error));
  assert.equal(result.value, 6);
  await assertNextRunWorks(sb);
});

test("rebinding the driver's own functions delivers the run's result all the same, and the next run works", async () => {
  await using sb = await sabotageSandbox();
  const result = await sb.run("import _pyvisor\n_pyvisor._send = _pyvisor._serve_run = _pyvisor._run = None\ndouble(2)");
  assert.equal(result.error, null, JSON.stringify(result.error));
  assert.equal(result.value, 4);
  await assertNextRunWorks(sb);
});

test("rewriting the code of the driver's functions delivers the run's result all the same, and the next run works", async () => {
  await using sb = await sabotageSandbox();
  const code = "import _pyvisor\nboom = (lambda *a, **k: 1 / 0).__code__\n"
    + "for f in (_pyvisor._serve, _pyvisor._serve_run, _pyvisor._run, _pyvisor._restore_state): f.__code__ = boom\n'rewritten'";
  const result = await sb.run(code);
  assert.equal(result.error, null, JSON.stringify(result.error));
  assert.equal(result.value, "rewritten");
  await assertNextRunWorks(sb);
});

test("breaking the driver beyond its own repair is a DriverError for that run, and the next run works", async () => {
  await using sb = await sabotageSandbox();
  const result = await sb.run("import _pyvisor\n_pyvisor._saved_driver.clear()\n_pyvisor._send = None\n1");
  assert.equal(result.error?.type, ErrorType.Driver);
  assertTypedOutcome(result);
  await assertNextRunWorks(sb);
});

test("breaking the driver in a worker process is a DriverError too, and the next run works", async () => {
  await using sb = await sabotageSandbox("process");
  const result = await sb.run("import _pyvisor\n_pyvisor._saved_driver.clear()\n_pyvisor._send = None\n1");
  assert.equal(result.error?.type, ErrorType.Driver);
  assertTypedOutcome(result);
  await assertNextRunWorks(sb);
});

test("an exception whose str() raises is reported as the program's error, not a driver failure", async () => {
  await using sb = await sabotageSandbox();
  const result = await sb.run("class Bad(Exception):\n  def __str__(self): raise RuntimeError('no')\nraise Bad()");
  assert.equal(result.error?.type, "Bad");
  assertNoDriverFrames(result);
  await assertNextRunWorks(sb);
});

test("a host function's HostError traceback shows the program's frames only", async () => {
  await using sb = await attackSandbox(threads(), { hostGlobals: true, functions: { fail: () => { throw new Error("nope"); } } });
  const result = await sb.run("def outer():\n    return fail()\nouter()");
  assert.equal(result.error?.type, "HostError");
  assert.match(result.error!.traceback, /line 2, in outer/);
  assertNoDriverFrames(result);
});

test("a HostError shown by the code module (as a console shows it) has no driver frame", async () => {
  await using sb = await attackSandbox(threads(), { hostGlobals: true, functions: { fail: () => { throw new Error("nope"); } } });
  const result = await sb.run("import code\ncode.InteractiveInterpreter(globals()).runsource('def g(): return fail()\\ng()', symbol='exec')");
  assert.equal(result.error, null, JSON.stringify(result.error));
  assert.match(result.stderr, /line 1, in g\npyvisor\.HostError: Error: nope\n$/);
  assertNoDriverFrames(result);
});
