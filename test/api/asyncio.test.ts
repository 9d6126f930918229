// asyncio as on CPython (the sandbox's event loop has no self-pipe, since WASI
// has no socketpair), and host functions that Python awaits: started at once,
// settled while other tasks run, with errors, timeouts and cancellation
// crossing both ways. The "must show" cases use the public API with default
// options.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { ErrorType, Pool, runPython, Sandbox } from "../../src/api/index.js";

let pool: Pool;
before(() => { pool = new Pool({ size: 1 }); });
after(async () => { await pool.close(); });

const PROGRAM = `
import asyncio

async def ticker(n, delay):
    for i in range(n):
        await asyncio.sleep(delay)
        yield i

async def producer(queue, n):
    for i in range(n):
        await queue.put(i)
    await queue.put(None)

async def consumer(queue, seen):
    while (item := await queue.get()) is not None:
        seen.append(item * 10)
        await asyncio.sleep(0.001)

async def fails():
    await asyncio.sleep(0.01)
    raise ValueError("task failed")

async def main():
    print("gather", await asyncio.gather(*(asyncio.sleep(0.01 * (3 - i), result=i) for i in range(3))))
    queue = asyncio.Queue(maxsize=2)
    seen = []
    await asyncio.gather(producer(queue, 5), consumer(queue, seen))
    print("queue", seen)
    try:
        await asyncio.wait_for(asyncio.sleep(10), timeout=0.05)
    except TimeoutError:
        print("wait_for timed out")
    print("wait_for", await asyncio.wait_for(asyncio.sleep(0.01, result="in time"), timeout=5))
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(asyncio.sleep(0.01 * i, result=i * i)) for i in range(4)]
    print("taskgroup", [t.result() for t in tasks])
    print("agen", [i async for i in ticker(4, 0.005)])
    loop = asyncio.get_running_loop()
    later = loop.create_future()
    loop.call_later(0.02, later.set_result, "called later")
    print(await later)
    print("executor", await loop.run_in_executor(None, sum, range(10)))
    try:
        async with asyncio.timeout(0.02):
            await asyncio.sleep(5)
    except TimeoutError:
        print("timeout block expired")
    # Last: on 3.11 a failed TaskGroup leaves its parent task "cancelling", which would trip a later asyncio.timeout.
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(asyncio.sleep(1))
            tg.create_task(fails())
    except* ValueError as group:
        print("taskgroup error", [str(e) for e in group.exceptions])

asyncio.run(main())
print("done")
`;

const EXPECTED = [
  "gather [0, 1, 2]",
  "queue [0, 10, 20, 30, 40]",
  "wait_for timed out",
  "wait_for in time",
  "taskgroup [0, 1, 4, 9]",
  "agen [0, 1, 2, 3]",
  "called later",
  "executor 45",
  "timeout block expired",
  "taskgroup error ['task failed']",
  "done",
].join("\n") + "\n";

/** What native CPython prints for the program (the machine's python3, 3.11+), or the expected text without one. */
function nativeOutput(program: string, expected: string): string {
  if (!existsSync("/usr/bin/python3")) return expected;
  return execFileSync("/usr/bin/python3", ["-c", program], { encoding: "utf8", timeout: 30_000 });
}

test("an asyncio program (gather, Queue, wait_for, TaskGroup, async generators, call_later, run_in_executor) prints what native CPython prints", async () => {
  const native = nativeOutput(PROGRAM, EXPECTED);
  assert.equal(native, EXPECTED);
  const result = await runPython(PROGRAM);
  assert.equal(result.error, null);
  assert.equal(result.stdout, native);
  assert.equal(result.stderr, "", "no stray traceback at exit");
});

test("the same asyncio program prints the same in deterministic mode", async () => {
  const result = await runPython(PROGRAM, { deterministic: true });
  assert.equal(result.error, null);
  assert.equal(result.stdout, nativeOutput(PROGRAM, EXPECTED));
  assert.equal(result.stderr, "");
});

test("in deterministic mode asyncio.sleep(3600) returns at once and the clocks moved by exactly 3600 s", async () => {
  const program = [
    "import asyncio, time",
    "async def main():",
    "    wall, mono = time.time(), time.monotonic()",
    "    await asyncio.sleep(3600)",
    "    print(round(time.time() - wall, 3), round(time.monotonic() - mono, 3))",
    "asyncio.run(main())",
  ].join("\n");
  const result = await runPython(program, { deterministic: true });
  assert.equal(result.error, null);
  assert.equal(result.stdout, "3600.0 3600.0\n");
  assert.ok(result.stats.wallMs < 20_000, `the run took ${result.stats.wallMs} ms`);
});

test("two awaited 300 ms async host functions finish together, in about the time of the slower one", async () => {
  const fetch = async (x: number) => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return x * 2;
  };
  const program = [
    "import asyncio, time",
    "async def main():",
    "    start = time.monotonic()",
    "    results = await asyncio.gather(fetch(1), fetch(2))",
    "    return results, time.monotonic() - start",
    "asyncio.run(main())",
  ].join("\n");
  const result = await runPython(program, { hostGlobals: true, functions: { fetch } });
  assert.equal(result.error, null);
  const [results, seconds] = result.value as [number[], number];
  assert.deepEqual(results, [2, 4]);
  assert.ok(seconds >= 0.29 && seconds < 0.55, `gather took ${seconds} s`);
  assert.equal(result.stats.hostCalls, 2);
});

test("a time limit ends a run blocked in await asyncio.sleep(100) promptly, with TimeoutError", async () => {
  const start = Date.now();
  const result = await runPython("import asyncio\nasyncio.run(asyncio.sleep(100))", { timeout: 1000 });
  assert.equal(result.error?.type, ErrorType.Timeout);
  assert.ok(Date.now() - start < 10_000, `took ${Date.now() - start} ms`);
});

test("an event loop waiting on nothing forever ends at the time limit instead of failing in poll", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run("import asyncio\nasyncio.run(asyncio.Event().wait())", { timeout: 1000 });
  assert.equal(result.error?.type, ErrorType.Timeout);
  assert.equal((await sb.run("1 + 1")).value, 2);
});

test("the CPU limit stops a busy event loop", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run("import asyncio\nasync def spin():\n  while True: await asyncio.sleep(0)\nasyncio.run(spin())", { cpuTime: 500, timeout: 20_000 });
  assert.equal(result.error?.type, ErrorType.Timeout);
  assert.match(result.error!.message, /cpuTime/);
});

test("asyncio.new_event_loop and SelectorEventLoop work and close without a traceback", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run([
    "import asyncio",
    "loop = asyncio.new_event_loop()",
    "value = loop.run_until_complete(asyncio.sleep(0.01, result=7))",
    "loop.close()",
    "other = asyncio.SelectorEventLoop()",
    "value += other.run_until_complete(asyncio.sleep(0, result=1))",
    "other.close()",
    "value",
  ].join("\n"));
  assert.equal(result.error, null);
  assert.equal(result.value, 8);
  assert.equal(result.stderr, "");
});

test("an async host function's rejection is a HostError in the task awaiting it, and other tasks go on", async () => {
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { fail: async (x: string) => { throw new Error(`no ${x}`); } } });
  const result = await sb.run([
    "import asyncio, pyvisor",
    "async def main():",
    "    try:",
    "        await fail('luck')",
    "    except pyvisor.HostError as e:",
    "        return str(e)",
    "asyncio.run(main())",
  ].join("\n"));
  assert.equal(result.value, "Error: no luck");
});

test("a host function that aborts (AbortError) cancels the awaiting Python task", async () => {
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { gone: async () => { throw new DOMException("gave up", "AbortError"); } } });
  const result = await sb.run([
    "import asyncio",
    "async def main():",
    "    try:",
    "        await gone()",
    "    except asyncio.CancelledError:",
    "        return 'cancelled'",
    "asyncio.run(main())",
  ].join("\n"));
  assert.equal(result.value, "cancelled");
});

test("cancelling the Python task (wait_for's timeout) aborts the host function's signal", async () => {
  let aborted: unknown = null;
  const hang = async function (this: { signal: AbortSignal }) {
    return new Promise((_, reject) => this.signal.addEventListener("abort", () => { aborted = this.signal.reason; reject(this.signal.reason); }));
  };
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { hang } });
  const start = Date.now();
  const result = await sb.run([
    "import asyncio",
    "async def main():",
    "    try:",
    "        await asyncio.wait_for(hang(), 0.1)",
    "    except TimeoutError:",
    "        return 'timed out'",
    "asyncio.run(main())",
  ].join("\n"));
  assert.equal(result.value, "timed out");
  assert.ok(Date.now() - start < 5_000);
  for (let i = 0; i < 50 && aborted === null; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal((aborted as Error | null)?.name, "AbortError");
});

test("an awaited host function past functionTimeout is a HostError saying so", async () => {
  await using sb = await Sandbox.create({ pool, functionTimeout: 100, hostGlobals: true, functions: { hang: async () => new Promise(() => {}) } });
  const result = await sb.run("import asyncio, pyvisor\nasync def main():\n  try:\n    await hang()\n  except pyvisor.HostError as e:\n    return str(e)\nasyncio.run(main())");
  assert.match(result.value as string, /hang timed out after 100 ms/);
});

for (const isolation of ["thread", "process"] as const) {
  test(`cancelling the run while Python awaits a host function ends it at once and aborts the host call (${isolation})`, async () => {
    const own = new Pool({ size: 1, isolation });
    try {
      const controller = new AbortController();
      let aborted = false;
      const hang = async function (this: { signal: AbortSignal }) {
        setTimeout(() => controller.abort(), 100); // the run is cancelled while the call is in flight
        return new Promise((_, reject) => this.signal.addEventListener("abort", () => { aborted = true; reject(this.signal.reason); }));
      };
      await using sb = await Sandbox.create({ pool: own, functionTimeout: 30_000, hostGlobals: true, functions: { hang, echo: (x: string) => x } });
      const start = Date.now();
      const result = await sb.run("import asyncio\nasync def main():\n  await hang()\nasyncio.run(main())", { signal: controller.signal, timeout: 20_000 });
      assert.equal(result.error?.type, ErrorType.Cancelled);
      assert.ok(Date.now() - start < 5_000, `took ${Date.now() - start} ms`);
      assert.ok(aborted, "the host function's signal was aborted");
      assert.equal((await sb.run("echo('next')")).value, "next");
    } finally {
      await own.close();
    }
  });
}

test("a time limit ends a run awaiting a host function that never settles, promptly", async () => {
  await using sb = await Sandbox.create({ pool, functionTimeout: 30_000, hostGlobals: true, functions: { hang: async () => new Promise(() => {}) } });
  const start = Date.now();
  const result = await sb.run("import asyncio\nasync def main():\n  await hang()\nasyncio.run(main())", { timeout: 1000 });
  assert.equal(result.error?.type, ErrorType.Timeout);
  assert.ok(Date.now() - start < 5_000, `took ${Date.now() - start} ms`);
});

test("an async host function called outside an event loop still returns its value", async () => {
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { double: async (x: number) => x * 2 } });
  assert.equal((await sb.run("double(21)")).value, 42);
});

test("pyvisor.call_async makes any host function awaitable", async () => {
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { add: (a: number, b: number) => a + b } });
  const result = await sb.run("import asyncio, pyvisor\nasync def main():\n  return await pyvisor.call_async('add', 2, 3)\n[add(1, 1), asyncio.run(main())]");
  assert.deepEqual(result.value, [2, 5]);
});

test("a host call left pending by an earlier run fails with HostError instead of hanging the next", async () => {
  await using sb = await Sandbox.create({ pool, functionTimeout: 30_000, hostGlobals: true, functions: { hang: async () => new Promise(() => {}) } });
  await sb.run("import asyncio\nloop = asyncio.new_event_loop()\nasync def begin():\n  return hang()\npending = loop.run_until_complete(begin())");
  const start = Date.now();
  const result = await sb.run("import pyvisor\ntry:\n  loop.run_until_complete(pending)\nexcept pyvisor.HostError as e:\n  message = str(e)\nmessage", { timeout: 10_000 });
  assert.match(result.value as string, /earlier run/);
  assert.ok(Date.now() - start < 5_000, `took ${Date.now() - start} ms`);
});

test("malformed wait and cancel requests from the guest are refused as data, and the sandbox stays healthy", async () => {
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { echo: (x: string) => x } });
  const result = await sb.run([
    "from pyvisor import _request",
    "[_request(m).get('ok') for m in [",
    "  {'op': 'wait', 'timeoutMs': -5}, {'op': 'wait', 'timeoutMs': 'x'}, {'op': 'wait', 'timeoutMs': 10**30},",
    "  {'op': 'cancel', 'id': 'x'}, {'op': 'cancel', 'id': 2**80}, {'op': 'cancel', 'id': 12345},",
    "  {'op': 'start', 'name': 'nope', 'args': []}, {'op': 'bogus'}, {'op': 'wait', 'timeoutMs': 1e300}]]",
  ].join("\n"));
  assert.deepEqual(result.value, [false, false, false, false, false, true, false, false, true]);
  assert.equal((await sb.run("echo('ok')")).value, "ok");
});

test("a guest waiting on a host call that never settles, with a huge timeout, still stops at the time limit", async () => {
  await using sb = await Sandbox.create({ pool, functionTimeout: 30_000, hostGlobals: true, functions: { hang: async () => new Promise(() => {}) } });
  const start = Date.now();
  const result = await sb.run("from pyvisor import _request\n_request({'op': 'start', 'name': 'hang', 'args': []})\nwhile True: _request({'op': 'wait', 'timeoutMs': 1e300})", { timeout: 1000 });
  assert.equal(result.error?.type, ErrorType.Timeout);
  assert.ok(Date.now() - start < 5_000, `took ${Date.now() - start} ms`);
});

test("a run cancelled during a synchronous host call reports CancelledError even when the program ends right after", async () => {
  const controller = new AbortController();
  const hang = () => {
    setTimeout(() => controller.abort(), 100);
    return new Promise(() => {});
  };
  await using sb = await Sandbox.create({ pool, functionTimeout: 30_000, hostGlobals: true, functions: { hang } });
  const result = await sb.run("try:\n  hang()\nexcept Exception:\n  pass", { signal: controller.signal, timeout: 20_000 });
  assert.equal(result.error?.type, ErrorType.Cancelled);
});

test("loop.add_signal_handler fails with NotImplementedError (as on Windows), not an AttributeError from the missing self-pipe", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run([
    "import asyncio, signal",
    "async def main():",
    "    try:",
    "        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, print)",
    "    except NotImplementedError as e:",
    "        return str(e)",
    "asyncio.run(main())",
  ].join("\n"));
  assert.match(result.value as string, /not available in the sandbox/);
});

test("an awaited host call that takes seconds still completes (the loop waits in rounds the engine accepts)", async () => {
  const own = new Pool({ size: 1, isolation: "thread" });
  try {
    const slow = async () => {
      await new Promise((resolve) => setTimeout(resolve, 1800));
      return "late";
    };
    await using sb = await Sandbox.create({ pool: own, functionTimeout: 10_000, hostGlobals: true, functions: { slow } });
    const result = await sb.run("import asyncio\nasync def main():\n  return await slow()\nasyncio.run(main())", { timeout: 20_000 });
    assert.equal(result.error, null);
    assert.equal(result.value, "late");
  } finally {
    await own.close();
  }
});
