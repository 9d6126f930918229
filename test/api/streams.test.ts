// Streaming: stdin pulled from an async iterable as the guest reads, output
// chunks delivered as written, and time in the host not charged as CPU time.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ErrorType, Pool, Sandbox } from "../../src/api/index.js";

let pool: Pool;
before(() => { pool = new Pool({ size: 1 }); });
after(async () => { await pool.close(); });

test("stdin from an async iterable is pulled chunk by chunk while the guest reads", async () => {
  await using sb = await Sandbox.create({ pool });
  const produced: string[] = [];
  async function* lines() {
    for (const line of ["alpha\n", "", "beta\n", "gamma\n"]) {
      await new Promise((r) => setTimeout(r, 10));
      produced.push(line);
      yield line;
    }
  }
  const result = await sb.run("import sys\n[line.strip().upper() for line in sys.stdin]", { stdin: lines() });
  assert.deepEqual(result.value, ["ALPHA", "BETA", "GAMMA"]);
  assert.equal(produced.length, 4);
});

test("a guest reading part of a stream leaves the rest unread", async () => {
  await using sb = await Sandbox.create({ pool });
  let pulled = 0;
  async function* endless() {
    for (;;) {
      pulled++;
      yield `line ${pulled}\n`;
    }
  }
  const result = await sb.run("import sys\nsys.stdin.readline()", { stdin: endless() });
  assert.equal(result.value, "line 1\n");
  assert.ok(pulled < 100, `pulled ${pulled} chunks for one line`);
});

test("an async-iterable stdin chunk over 16 MiB reaches the guest whole, not as the end of input", async () => {
  await using sb = await Sandbox.create({ pool });
  const big = new Uint8Array(17 * 1024 * 1024).fill(0x61);
  big[big.length - 1] = 0x7a;
  async function* chunks() {
    yield big;
    yield "tail";
  }
  const result = await sb.run("import sys\ndata = sys.stdin.buffer.read()\n(len(data), data[-5:].decode())", { stdin: chunks(), timeout: 60_000 });
  assert.deepEqual(result.value, [big.length + 4, "ztail"]);
});

test("bytes stdin reaches sys.stdin.buffer unchanged", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run("import sys\nsys.stdin.buffer.read()", { stdin: new Uint8Array([0, 255, 10, 1]) });
  assert.deepEqual(result.value, new Uint8Array([0, 255, 10, 1]));
});

test("stdout chunks arrive while the run is still going", async () => {
  await using sb = await Sandbox.create({ pool });
  const arrivals: number[] = [];
  const start = Date.now();
  await sb.run("import time\nfor i in range(3):\n  print(i, flush=True)\n  time.sleep(0.1)", {
    onStdout: () => arrivals.push(Date.now() - start),
  });
  assert.ok(arrivals.length >= 3, `${arrivals.length} chunks`);
  assert.ok(arrivals[arrivals.length - 1]! - arrivals[0]! >= 150, `chunks were spread over the run: ${arrivals.join(", ")}`);
});

test("time spent in host functions counts against wall time but not CPU time", async () => {
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { wait: () => new Promise((r) => setTimeout(() => r(1), 150)) } });
  const result = await sb.run("sum(wait() for _ in range(4))", { cpuTime: 300, timeout: 5000 });
  assert.equal(result.error, null);
  assert.equal(result.value, 4);
  assert.ok(result.stats.hostMs >= 550, `hostMs ${result.stats.hostMs}`);
  assert.ok(result.stats.cpuMs < 300, `cpuMs ${result.stats.cpuMs}`);
  const walled = await sb.run("sum(wait() for _ in range(10))", { timeout: 400 });
  assert.equal(walled.error?.type, ErrorType.Timeout);
});

test("a CPU-time limit stops a busy guest", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run("while True: pass", { cpuTime: 200, timeout: 10_000 });
  assert.equal(result.error?.type, ErrorType.Timeout);
  assert.match(result.error!.message, /CPU/);
});

test("a tick budget stops a loop at the same point every time, whatever the host's speed", async () => {
  const stops: number[] = [];
  for (let i = 0; i < 3; i++) {
    await using sb = await Sandbox.create({ pool });
    const result = await sb.run("n = 0\nwhile True:\n  n += 1", { tickLimit: 200_000, timeout: 20_000 });
    assert.equal(result.error?.type, ErrorType.Timeout);
    assert.match(result.error!.message, /tick budget/);
    stops.push((await sb.run("n")).value as number);
  }
  assert.ok(stops[0]! > 0);
  assert.deepEqual(stops, [stops[0], stops[0], stops[0]]);
});
