// The Sandbox API: results as values, state between runs, files, limits, misuse.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DisposedError, ErrorType, InvalidOptionsError, Pool, Sandbox, runPython } from "../../src/api/index.js";

let pool: Pool;
before(() => {
  pool = new Pool({ size: 2 });
});
after(async () => {
  await pool.close();
});

test("run returns the last expression's value, stdout and a null error", async () => {
  const result = await runPython("print('hello')\n6 * 7", { pool });
  assert.equal(result.value, 42);
  assert.equal(result.stdout, "hello\n");
  assert.equal(result.error, null);
  assert.equal(result.exitCode, 0);
});

test("globals persist between runs of one sandbox", async () => {
  await using sb = await Sandbox.create({ pool });
  await sb.run("counter = 1");
  await sb.run("counter += 1");
  assert.equal((await sb.run("counter")).value, 2);
});

test("a Python exception is a value with type, message and traceback, not a rejection", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run("def f():\n    return 1 / 0\nf()");
  assert.equal(result.error?.type, "ZeroDivisionError");
  assert.equal(result.error?.message, "division by zero");
  assert.match(result.error!.traceback, /line 2, in f/);
  assert.equal(result.exitCode, 1);
  assert.equal((await sb.run("1 + 1")).value, 2, "the sandbox stays usable");
});

test("sys.exit sets the exit code without losing the session", async () => {
  await using sb = await Sandbox.create({ pool });
  await sb.run("kept = 'yes'");
  const result = await sb.run("import sys\nsys.exit(3)");
  assert.equal(result.exitCode, 3);
  assert.equal(result.error, null);
  assert.equal((await sb.run("kept")).value, "yes");
});

test("os._exit ends the interpreter: the next run starts fresh and says so", async () => {
  await using sb = await Sandbox.create({ pool });
  await sb.run("kept = 1");
  const exited = await sb.run("import os\nos._exit(5)");
  assert.equal(exited.exitCode, 5);
  assert.equal(exited.stats.reset, true);
  const after = await sb.run("'kept' in globals()");
  assert.equal(after.value, false);
});

test("a time limit ends the run with TimeoutError and exit code 124", async () => {
  await using sb = await Sandbox.create({ pool });
  const start = Date.now();
  const result = await sb.run("while True: pass", { timeout: 300 });
  assert.equal(result.error?.type, ErrorType.Timeout);
  assert.equal(result.exitCode, 124);
  assert.ok(Date.now() - start < 300 + 1500, "stopped within the limit plus grace");
  assert.equal((await sb.run("2 + 2")).value, 4);
});

test("a guest that swallows the interrupt is hard-stopped after the grace", async () => {
  await using sb = await Sandbox.create({ pool });
  const start = Date.now();
  const result = await sb.run("while True:\n  try:\n    while True: pass\n  except BaseException: pass", { timeout: 200 });
  assert.equal(result.error?.type, ErrorType.Timeout);
  assert.ok(Date.now() - start < 200 + 500 + 1500);
  const next = await sb.run("1 + 1");
  assert.equal(next.value, 2);
  assert.equal(next.stats.reset, true);
});

test("output past the limit is cut at exactly the limit and flagged", async () => {
  await using sb = await Sandbox.create({ pool, outputLimit: 1000 });
  const result = await sb.run("while True: print('x' * 99)");
  assert.equal(result.error?.type, ErrorType.OutputLimit);
  assert.equal(Buffer.byteLength(result.stdout), 1000);
});

test("memory past the limit is a MemoryError the guest can catch", async () => {
  await using sb = await Sandbox.create({ pool, memoryLimit: "64M" });
  const result = await sb.run("try:\n  b = bytearray(200 * 1024 * 1024)\nexcept MemoryError:\n  b = None\n'survived'");
  assert.equal(result.value, "survived");
  const unbounded = await sb.run("x = []\nwhile True: x.append('y' * 10000)");
  assert.equal(unbounded.error?.type, "MemoryError");
  assert.equal((await sb.run("del x\n1 + 1")).value, 2);
});

test("stdin, inputs and streaming callbacks", async () => {
  await using sb = await Sandbox.create({ pool });
  const chunks: string[] = [];
  const result = await sb.run("import sys\nline = sys.stdin.readline()\nprint(line.upper(), end='')\nn * 2", {
    stdin: "shout\n", inputs: { n: 21 }, onStdout: (chunk) => chunks.push(chunk),
  });
  assert.equal(result.value, 42);
  assert.equal(chunks.join(""), "SHOUT\n");
});

test("sb.fs reads, writes, lists, stats and removes files the guest sees", async () => {
  await using sb = await Sandbox.create({ pool, files: { "/home/user/in.txt": "data" } });
  await sb.fs.writeFile("/tmp/a.txt", "from host");
  const result = await sb.run("open('/tmp/a.txt').read() + '|' + open('in.txt').read()");
  assert.equal(result.value, "from host|data");
  await sb.run("open('/home/user/out.txt', 'w').write('from guest')");
  assert.equal(await sb.fs.readText("/home/user/out.txt"), "from guest");
  assert.deepEqual(await sb.fs.list("/home/user"), ["in.txt", "out.txt"]);
  assert.equal((await sb.fs.stat("/home/user/out.txt")).size, 10);
  await sb.fs.remove("/home/user/out.txt");
  await assert.rejects(sb.fs.readText("/home/user/out.txt"), /ENOENT/);
});

test("a read-write mount writes through to the host directory, a read-only one refuses", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pyvisor-mount-"));
  writeFileSync(join(dir, "seed.txt"), "seed");
  await using sb = await Sandbox.create({ pool, mounts: [{ host: dir, guest: "/data", readonly: false }, { host: dir, guest: "/ro" }] });
  const result = await sb.run("open('/data/new.txt', 'w').write('hi')\nopen('/ro/seed.txt').read()");
  assert.equal(result.value, "seed");
  assert.equal(readFileSync(join(dir, "new.txt"), "utf8"), "hi");
  const refused = await sb.run("open('/ro/x.txt', 'w')");
  assert.equal(refused.error?.type, "OSError");
  assert.match(refused.error!.message, /Read-only file system/);
});

test("RunResult.error.limit names the limit that stopped the run; a program's own failure has none", async () => {
  await using sb = await Sandbox.create({ pool, memoryLimit: "64M" });
  const cases: Array<[string, Parameters<Sandbox["run"]>[1], string | undefined]> = [
    ["while True: pass", { timeout: 300 }, "timeout"],
    ["while True: pass", { cpuTime: 300 }, "cpuTime"],
    ["while True: pass", { tickLimit: 5_000 }, "tickLimit"],
    ["x = []\nwhile True: x.append(bytearray(1 << 20))", {}, "memory"],
    ["1 / 0", {}, undefined],
  ];
  for (const [code, options, limit] of cases) {
    const result = await sb.run(code, options);
    assert.equal(result.error?.limit, limit, `${code} ${JSON.stringify(options)}: ${JSON.stringify(result.error)}`);
    assert.equal(result.error?.crash, undefined);
  }
  await using chatty = await Sandbox.create({ pool, outputLimit: 1_000 });
  assert.equal((await chatty.run("while True: print('y' * 100)")).error?.limit, "output");
});

test("sb.run() after dispose() returns a rejected promise instead of throwing", async () => {
  const sb = await Sandbox.create({ pool });
  await sb.dispose();
  // Called directly, not inside an async function: a synchronous throw would escape here.
  const calls = [() => sb.run("1"), () => sb.runFile("/tmp/x.py"), () => sb.runModule("json"), () => sb.fs.list("/tmp")];
  for (const call of calls) {
    let returned: Promise<unknown> | undefined;
    assert.doesNotThrow(() => { returned = call(); });
    await assert.rejects(returned!, DisposedError);
  }
});

test("bad options reject with InvalidOptionsError naming the field", async () => {
  await assert.rejects(Sandbox.create({ pool, memoryLimit: "12Q" }), (e: Error) => e instanceof InvalidOptionsError && /memoryLimit/.test(e.message));
  await assert.rejects(Sandbox.create({ pool, timeout: -1 }), /timeout/);
  await assert.rejects(Sandbox.create({ pool, mounts: [{ host: "/definitely/missing", guest: "/m" }] }), /mounts\[0\]/);
  await assert.rejects(Sandbox.create({ pool, cwd: "relative" }), /cwd/);
});

test("inputs that cannot cross the boundary reject naming the path", async () => {
  await using sb = await Sandbox.create({ pool });
  await assert.rejects(sb.run("x", { inputs: { x: { f: () => 1 } } }), /inputs: .*\$\.x\.f/);
});

test("host functions are callable from Python with positional and keyword arguments", async () => {
  await using sb = await Sandbox.create({
    pool,
    hostGlobals: true, functions: {
      add: (a: number, b: number) => a + b,
      greet: (name: string, opts?: { punct?: string }) => `hi ${name}${opts?.punct ?? ""}`,
      later: async (x: number) => { await new Promise((r) => setTimeout(r, 20)); return x * 2; },
      boom: () => { throw new RangeError("out of range"); },
    },
  });
  const result = await sb.run("add(2, 3), greet('ann', punct='!'), later(21)");
  assert.deepEqual(result.value, [5, "hi ann!", 42]);
  const caught = await sb.run("import pyvisor\ntry:\n  boom()\nexcept pyvisor.HostError as e:\n  msg = str(e)\nmsg");
  assert.equal(caught.value, "RangeError: out of range");
});

test("a host function that never settles hits its timeout and the guest can catch it", async () => {
  await using sb = await Sandbox.create({ pool, functionTimeout: 100, hostGlobals: true, functions: { hang: () => new Promise(() => {}) } });
  const result = await sb.run("import pyvisor\ntry:\n  hang()\nexcept pyvisor.HostError as e:\n  msg = str(e)\nmsg");
  assert.match(String(result.value), /timed out after 100 ms/);
});

test("cancelling through an AbortSignal ends the run with CancelledError", async () => {
  await using sb = await Sandbox.create({ pool });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 200);
  const result = await sb.run("while True: pass", { signal: controller.signal, timeout: 10_000 });
  assert.equal(result.error?.type, ErrorType.Cancelled);
  assert.equal((await sb.run("3")).value, 3);
});

test("the trace records each syscall with its decoded path and result, and is capped", async () => {
  await using sb = await Sandbox.create({ pool, trace: true });
  const result = await sb.run("try:\n  open('/etc/passwd')\nexcept FileNotFoundError:\n  pass");
  const open = result.trace?.find((entry) => entry.call === "path_open" && entry.path === "/etc/passwd");
  assert.equal(open?.result, "ENOENT");
  const flood = await sb.run("import os\nfor _ in range(120000): os.stat('/tmp')");
  assert.equal(flood.trace?.length, 100_000);
});

test("a policy rule denies matching syscalls with its errno, before any backend is touched", async () => {
  await using sb = await Sandbox.create({ pool, files: { "/home/user/secret.txt": "s" }, policy: { deny: [{ pathPrefix: "/home/user/secret.txt", errno: "EPERM" }, { syscall: "path_unlink_file" }] } });
  const result = await sb.run("import errno\ndef code(f):\n  try:\n    f()\n  except OSError as e:\n    return errno.errorcode[e.errno]\n(code(lambda: open('secret.txt')), code(lambda: __import__('os').remove('/tmp/x')), open('/tmp/ok', 'w').write('fine'))");
  assert.deepEqual(result.value, ["EPERM", "EACCES", 4]);
});

test("a malformed policy is an InvalidOptionsError of create", async () => {
  await assert.rejects(Sandbox.create({ pool, policy: { deny: [{ errno: "ENOPE" as "EPERM" }] } }), InvalidOptionsError);
  await assert.rejects(Sandbox.create({ pool, policy: { deny: "all" as never } }), InvalidOptionsError);
});

for (const isolation of ["thread", "process"] as const) {
  test(`cancelling a run blocked in a host function ends it at once, and a late answer never reaches a later call (${isolation})`, async () => {
    const own = new Pool({ size: 1, isolation });
    try {
      let release: (value: string) => void = () => {};
      await using sb = await Sandbox.create({
        pool: own, functionTimeout: 30_000,
        hostGlobals: true, functions: { slow: () => new Promise<string>((resolve) => { release = resolve; }), echo: (x: string) => x },
      });
      const controller = new AbortController();
      const start = Date.now();
      setTimeout(() => controller.abort(), 200);
      const cancelled = await sb.run("slow()\nwhile True: pass", { signal: controller.signal, timeout: 20_000 });
      assert.equal(cancelled.error?.type, ErrorType.Cancelled);
      assert.ok(Date.now() - start < 5_000, `took ${Date.now() - start} ms`);
      release("stale");
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual((await sb.run("[echo('a'), echo('b')]")).value, ["a", "b"]);
    } finally {
      await own.close();
    }
  });
}

test("env is set over the documented defaults (HOME, PATH, LANG, TZ); null removes one; envDefaults: false starts empty", async () => {
  const environ = "import os\ndict(sorted(os.environ.items()))";
  await using merged = await Sandbox.create({ pool, env: { FOO: "1", TZ: null, LANG: "de_DE.UTF-8" } });
  assert.deepEqual((await merged.run(environ)).value, { FOO: "1", HOME: "/home/user", LANG: "de_DE.UTF-8", PATH: "/usr/local/bin:/usr/bin:/bin" });
  await using empty = await Sandbox.create({ pool, env: { FOO: "1" }, envDefaults: false });
  assert.deepEqual((await empty.run(environ)).value, { FOO: "1" });
  await assert.rejects(Sandbox.create({ pool, env: { FOO: 1 as unknown as string } }), InvalidOptionsError);
});

test("inputs are bound for their run only: the next run does not see them, but a name the program rebound stays", async () => {
  await using sb = await Sandbox.create({ pool });
  assert.equal((await sb.run("x * 2", { inputs: { x: 21, y: [1] } })).value, 42);
  const after = await sb.run("[name in globals() for name in ('x', 'y')]");
  assert.deepEqual(after.value, [false, false]);
  await sb.run("z = z + 1", { inputs: { z: 1 } });
  assert.equal((await sb.run("z")).value, 2);
});

test("result.repr is the last value's repr (what a notebook shows), bounded for big values; null without a value", async () => {
  await using sb = await Sandbox.create({ pool });
  assert.equal((await sb.run("{'a': [1, 2.5, None]}")).repr, "{'a': [1, 2.5, None]}");
  assert.equal((await sb.run("import decimal\ndecimal.Decimal('1.5')")).repr, "Decimal('1.5')");
  assert.equal((await sb.run("x = 1")).repr, null);
  assert.equal((await sb.run("None")).repr, null);
  const big = await sb.run("list(range(10**5))");
  assert.equal((big.value as number[]).length, 10 ** 5);
  assert.ok(big.repr!.length < 10_000 && big.repr!.endsWith("...]"), big.repr!.slice(-40));
});
