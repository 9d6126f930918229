// Limits that must bind, through the public API: big-int arithmetic, string
// conversion, regex blow-ups, output and disk floods, fd exhaustion, parser
// and recursion depth, memory bombs, CPU loops under cpuTime and tickLimit.
// Each attack ends in its typed error (a Python exception or a pyvisor code),
// and the same sandbox runs the next program correctly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorType, type RunOptions, type RunResult, type SandboxOptions } from "../../src/api/index.js";
import { assertSandboxHealthy, attackSandbox, sharedPool } from "./helpers.js";

const pool = sharedPool(1, "thread");
const MiB = 1024 * 1024;

/** Runs `code` in a fresh sandbox with `options`; returns the result after checking the sandbox still works. */
async function attack(code: string, options: SandboxOptions = {}, runOptions: RunOptions = {}): Promise<RunResult> {
  await using sb = await attackSandbox(pool(), { timeout: 1_000, ...options });
  const result = await sb.run(code, runOptions);
  await assertSandboxHealthy(sb);
  return result;
}

function assertStopped(result: RunResult, type: string, message?: RegExp): void {
  assert.equal(result.error?.type, type, JSON.stringify(result.error));
  if (message !== undefined) assert.match(result.error!.message, message);
}

test("10**10**8 is stopped by the time limit", async () => {
  assertStopped(await attack("10**10**8"), ErrorType.Timeout);
});

test("pow(2, 10**9) is stopped by the time limit", async () => {
  assertStopped(await attack("pow(2, 10**9)"), ErrorType.Timeout);
});

test("math.factorial(10**7) is stopped by the time limit", async () => {
  assertStopped(await attack("import math\nmath.factorial(10**7)"), ErrorType.Timeout);
});

test("str() of a 100 001-digit int is refused by the int max str digits limit", async () => {
  assertStopped(await attack("str(10**100000)"), "ValueError", /4300 digits/);
});

test("int() of a 100 000-digit string is refused by the int max str digits limit", async () => {
  assertStopped(await attack("int('9' * 100000)"), "ValueError", /4300 digits/);
});

test("catastrophic regex backtracking is stopped by the time limit", async () => {
  assertStopped(await attack("import re\nre.match(r'(a+)+$', 'a' * 40 + 'b')"), ErrorType.Timeout);
});

test("a stdout flood is cut at outputLimit with OutputLimitError", async () => {
  const result = await attack("import sys\nwhile True: sys.stdout.write('x' * 100)", { outputLimit: 10_000 });
  assertStopped(result, ErrorType.OutputLimit);
  assert.equal(result.stdout.length, 10_000);
});

test("a stderr flood is cut at outputLimit with OutputLimitError", async () => {
  const result = await attack("import sys\nwhile True: sys.stderr.write('x' * 100)", { outputLimit: 10_000 });
  assertStopped(result, ErrorType.OutputLimit);
  assert.equal(result.stderr.length, 10_000);
});

test("one 10 MB write is cut at outputLimit", async () => {
  const result = await attack("import sys\nsys.stdout.write('x' * 10_000_000)\nsys.stdout.flush()", { outputLimit: 10_000 });
  assertStopped(result, ErrorType.OutputLimit);
  assert.equal(result.stdout.length, 10_000);
});

test("a streamed stdout flood delivers no more than outputLimit to onStdout", async () => {
  let streamed = 0;
  const result = await attack("while True: print('y' * 50, flush=True)", { outputLimit: 5_000 }, { onStdout: (chunk) => { streamed += chunk.length; } });
  assertStopped(result, ErrorType.OutputLimit);
  assert.ok(streamed <= 5_000, `streamed ${streamed}`);
});

test("creating files until the inode quota is full is ENOSPC", async () => {
  const result = await attack("i = 0\nwhile True:\n    open(f'/tmp/f{i}', 'w').close()\n    i += 1", { inodeQuota: 100 });
  assertStopped(result, "OSError", /No space left/);
});

test("one file grown until the disk quota is full is ENOSPC", async () => {
  const result = await attack("with open('/tmp/big', 'wb') as f:\n    while True: f.write(b'x' * 65536)", { diskQuota: MiB });
  assertStopped(result, "OSError", /No space left/);
});

test("a directory chain grown without end stops at the inode quota", async () => {
  const result = await attack("p = '/tmp'\nwhile True:\n    p += '/d'\n    os.mkdir(p)", { inodeQuota: 100 });
  assertStopped(result, "OSError");
});

test("a 300-byte file name is ENAMETOOLONG", async () => {
  assert.equal((await attack("err(open, '/tmp/' + 'n' * 300, 'w')")).value, "ENAMETOOLONG");
});

test("a 6 000-byte path is ENAMETOOLONG", async () => {
  assert.equal((await attack("err(open, '/tmp/' + 'x/' * 3000 + 'f')")).value, "ENAMETOOLONG");
});

test("after the disk is full, deleting a file lets the next run write again", async () => {
  await using sb = await attackSandbox(pool(), { diskQuota: MiB, timeout: 5_000 });
  assertStopped(await sb.run("with open('/tmp/big', 'wb') as f:\n    while True: f.write(b'x' * 65536)"), "OSError");
  assert.equal((await sb.run("os.unlink('/tmp/big')\nwrite('/tmp/small', b'ok')\nread('/tmp/small')")).value, "ok");
});

test("opening files until EMFILE lets the run go on, and the next run can open files", async () => {
  await using sb = await attackSandbox(pool(), { maxOpenFiles: 32 });
  const first = await sb.run("fds = []\ntry:\n    while True: fds.append(os.open('/tmp', os.O_RDONLY))\nexcept OSError as e:\n    r = errno.errorcode[e.errno]\nr");
  assert.equal(first.value, "EMFILE");
  const second = await sb.run("for fd in fds: os.close(fd)\nwrite('/tmp/after', 'ok')\nread('/tmp/after')");
  assert.equal(second.value, "ok");
});

test("fds kept open by one run count against the next, which gets EMFILE instead of a crash", async () => {
  await using sb = await attackSandbox(pool(), { maxOpenFiles: 32 });
  await sb.run("held = []\ntry:\n    while True: held.append(os.open('/tmp', os.O_RDONLY))\nexcept OSError:\n    pass");
  const result = await sb.run("err(os.open, '/tmp', os.O_RDONLY)");
  assert.equal(result.error, null, "the driver still reaches the host with every fd taken");
  assert.equal(result.value, "EMFILE");
});

test("bytearray(10**10) is refused with OverflowError", async () => {
  assertStopped(await attack("bytearray(10**10)", { memoryLimit: "48M" }), "OverflowError");
});

test("a 1 GiB string multiplication is a MemoryError", async () => {
  assertStopped(await attack("s = 'ab' * (2**29)", { memoryLimit: "48M" }), ErrorType.Memory);
});

test("unbounded dict growth is a MemoryError", async () => {
  assertStopped(await attack("d = {}\ni = 0\nwhile True:\n    d[i] = i\n    i += 1", { memoryLimit: "48M", timeout: 10_000 }), ErrorType.Memory);
});

test("a list of growing strings is a MemoryError", async () => {
  assertStopped(await attack("x = []\nwhile True: x.append('y' * 1000)", { memoryLimit: "48M", timeout: 10_000 }), ErrorType.Memory);
});

test("os.urandom(10**9) is a MemoryError, not a host allocation", async () => {
  assertStopped(await attack("os.urandom(10**9)", { memoryLimit: "48M" }), ErrorType.Memory);
});

test("a zlib decompression bomb is a MemoryError", async () => {
  const code = "import zlib\nc = zlib.compressobj(1)\nz = b''.join(c.compress(bytes(1 << 20)) for _ in range(100)) + c.flush()\nzlib.decompress(z)";
  assertStopped(await attack(code, { memoryLimit: "48M", timeout: 10_000 }), ErrorType.Memory);
});

test("a two-million-line program is a MemoryError at compile time", async () => {
  assertStopped(await attack("exec('x = 1\\n' * 2_000_000)", { memoryLimit: "48M", timeout: 10_000 }), ErrorType.Memory);
});

test("a million nested unary minuses overflow the parser's stack with MemoryError, not a trap", async () => {
  assertStopped(await attack("eval('-' * 1_000_000 + '1')"), ErrorType.Memory, /too complex/);
});

test("200 000 nested parentheses overflow the parser's stack with MemoryError, not a trap", async () => {
  assertStopped(await attack("eval('(' * 200_000 + ')' * 200_000)"), ErrorType.Memory, /too complex/);
});

test("deeply nested JSON is a RecursionError", async () => {
  assertStopped(await attack("import json\njson.loads('[' * 1_000_000 + ']' * 1_000_000)"), "RecursionError");
});

test("a self-delegating generator is a RecursionError", async () => {
  assertStopped(await attack("def g(): yield from g()\nnext(g())", { timeout: 10_000 }), "RecursionError");
});

test("a million live generators are a MemoryError", async () => {
  assertStopped(await attack("def g():\n    yield 1\nalive = [g() for _ in range(10**7)]", { memoryLimit: "48M", timeout: 20_000 }), ErrorType.Memory);
});

test("a pickle of a million MARK opcodes is an UnpicklingError", async () => {
  assertStopped(await attack("import pickle\npickle.loads(b'(' * 1_000_000 + b'.')"), "UnpicklingError");
});

test("a busy loop is stopped by cpuTime", async () => {
  assertStopped(await attack("while True: pass", { cpuTime: 300, timeout: 20_000 }), ErrorType.Timeout, /CPU time/);
});

test("sleeping does not count against cpuTime", async () => {
  const result = await attack("import time\ntime.sleep(0.5)\n'slept'", { cpuTime: 200, timeout: 5_000 });
  assert.equal(result.value, "slept");
});

test("a busy loop is stopped by tickLimit", async () => {
  assertStopped(await attack("while True: pass", { tickLimit: 100_000, timeout: 20_000 }), ErrorType.Timeout, /tick budget/);
});

test("recursion-only code with no loop is ended by the wall-clock timeout (see recursion-limits for the graceful stop)", async () => {
  const result = await attack("def f(n): return f(n - 1) + f(n - 1) if n else 1\nf(60)", { timeout: 1_000 });
  assertStopped(result, ErrorType.Timeout);
});

test("host-function calls past maxFunctionCalls become a HostError in the guest", async () => {
  const result = await attack("n = 0\ntry:\n    while True:\n        f()\n        n += 1\nexcept Exception as e:\n    r = (type(e).__name__, n)\nr", { hostGlobals: true, functions: { f: () => 1 }, maxFunctionCalls: 50 });
  assert.deepEqual(result.value, ["HostError", 50]);
});
