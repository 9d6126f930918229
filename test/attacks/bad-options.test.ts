// Options that used to be accepted and then broke every run (or silently
// dropped a limit), and the plain type and range errors. Each one must reject
// with InvalidOptionsError naming the option, before any run is attempted; and
// the pool they were tried on must still serve a normal run afterwards.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidOptionsError, Pool, Sandbox, runPython } from "../../src/api/index.js";
// A namespace import: names this file reads that an older options.ts lacks are undefined, not a load error.
import * as options from "../../src/api/options.js";
import { Kernel } from "../../src/kernel/kernel.js";
import { Channel } from "../../src/kernel/channel.js";
import { loadEngine } from "../../src/engine/engine.js";
import { STDLIB_PATH } from "../../src/shared/defaults.js";
import { stdlibTree } from "../../src/vfs/image.js";
import { MAX_HARD_STOP_GRACE_MS } from "../../src/pool/options.js";

const MAX_TIME_LIMIT_MS = 2_000_000_000;
const hostDir = mkdtempSync(join(tmpdir(), "pyvisor-bad-options-"));
const emptyDir = join(hostDir, "empty");
mkdirSync(emptyDir);

let pool: Pool;
let sb: Sandbox;
before(async () => {
  pool = new Pool({ size: 1 });
  sb = await Sandbox.create({ pool });
});
after(async () => {
  await sb.dispose();
  await pool.close();
});

/** `attempt` must reject with InvalidOptionsError whose `option` is `option`; whatever it wrongly made is cleaned up. */
async function refused(attempt: () => Promise<unknown> | unknown, option: string, message?: RegExp): Promise<void> {
  let made: unknown;
  try {
    made = await attempt();
  } catch (error) {
    assert.ok(error instanceof InvalidOptionsError, `expected an InvalidOptionsError, got ${String(error)}`);
    assert.equal(error.option, option, `option named: ${error.message}`);
    assert.ok(error.message.includes(option.replace(/\[.*$/, "")), `the message names ${option}: ${error.message}`);
    if (message) assert.match(error.message, message);
    return;
  }
  assert.fail(`accepted (${await describeAccepted(made)}); expected InvalidOptionsError naming ${option}`);
}

/** What an accepted bad option led to (shown when a test fails), cleaned up after. */
async function describeAccepted(made: unknown): Promise<string> {
  if (made instanceof Pool) {
    await made.close({ force: true });
    return "a Pool";
  }
  if (made instanceof Sandbox) {
    const probe = made.run("1 + 1").then((r) => `a sandbox whose run "1 + 1" gave ${JSON.stringify(r.error ?? r.value)}`);
    const shown = await Promise.race([probe, new Promise<string>((resolve) => setTimeout(() => resolve("a sandbox whose run hung"), 10_000))]);
    void made.dispose();
    return shown;
  }
  return made !== null && typeof made === "object" && "error" in made ? `a run with error ${JSON.stringify((made as { error: unknown }).error)}` : String(made);
}

const create = (opts: Record<string, unknown>) => () => Sandbox.create({ pool, ...opts } as never);
const run = (opts: unknown, code = "1") => () => sb.run(code, opts as never);
const newPool = (opts: Record<string, unknown>) => () => new Pool({ size: 1, ...opts } as never);

// --- the findings: accepted, then every run failed (or a limit vanished) ---

test("timeout of 2^31 ms (past Node's timer range: every run timed out at 0 ms) is refused", async () => {
  await refused(create({ timeout: 2 ** 31 }), "timeout");
});

test("a run's own timeout of 2^31 ms is refused", async () => {
  await refused(run({ timeout: 2 ** 31 }), "timeout");
});

test("maxQueuePerWorker 0 (run waited forever for room) is refused", async () => {
  await refused(newPool({ maxQueuePerWorker: 0 }), "maxQueuePerWorker");
});

test("functionTimeout 3e9 ms (every host call timed out at once) is refused", async () => {
  await refused(create({ functionTimeout: 3e9, functions: { f: () => 1 } }), "functionTimeout");
});

test('maxFunctionCalls "x" (the call limit silently vanished) is refused', async () => {
  await refused(create({ maxFunctionCalls: "x", functions: { f: () => 1 } }), "maxFunctionCalls");
});

test("a mount on /dev (hiding the driver's channel: every run crashed) is refused", async () => {
  await refused(create({ mounts: [{ host: hostDir, guest: "/dev" }] }), "mounts[0].guest", /\/dev/);
});

test("a mount on /dev/pyvisor (replacing the driver's channel) is refused", async () => {
  await refused(create({ mounts: [{ host: hostDir, guest: "/dev/pyvisor" }] }), "mounts[0].guest");
});

test("a mount spelt to dodge the check (//dev/./) is refused", async () => {
  await refused(create({ mounts: [{ host: hostDir, guest: "//dev/./" }] }), "mounts[0].guest");
});

test("a mount under /dev is refused", async () => {
  await refused(create({ mounts: [{ host: hostDir, guest: "/dev/extra" }] }), "mounts[0].guest");
});

test("a mount covering the driver's modules (/usr/local/lib) is refused", async () => {
  await refused(create({ mounts: [{ host: hostDir, guest: "/usr/local/lib" }] }), "mounts[0].guest", /covers/);
});

test("a mount over the driver's package (pyvisor) in the stdlib is refused", async () => {
  await refused(create({ mounts: [{ host: hostDir, guest: `${STDLIB_PATH}/pyvisor` }] }), "mounts[0].guest");
});

test("a mount over /usr/local/bin/python3 is refused", async () => {
  await refused(create({ mounts: [{ host: hostDir, guest: "/usr/local/bin/python3" }] }), "mounts[0].guest");
});

test("a mount on /home that lacks the working directory (every fresh run crashed entering it) is refused", async () => {
  await refused(create({ mounts: [{ host: emptyDir, guest: "/home" }] }), "mounts[0].guest", /working directory/);
});

test("a second mount inside the first (it failed or vanished, by order) is refused", async () => {
  await refused(create({ mounts: [{ host: hostDir, guest: "/data" }, { host: emptyDir, guest: "/data/sub" }] }), "mounts[1].guest");
});

test("the same mount point twice is refused", async () => {
  await refused(create({ mounts: [{ host: hostDir, guest: "/data" }, { host: emptyDir, guest: "/data/" }] }), "mounts[1].guest");
});

test("maxOpenFiles 4 (no fd left for the driver's channel: every run crashed) is refused", async () => {
  await refused(create({ maxOpenFiles: 4 }), "maxOpenFiles");
});

test("maxOpenFiles 5 (no fd left to open a program file: every runFile crashed) is refused", async () => {
  await refused(create({ maxOpenFiles: 5 }), "maxOpenFiles");
});

test("a policy denying fd_read (the driver reads its channel: every run crashed) is refused", async () => {
  await refused(create({ policy: { deny: [{ syscall: "fd_read" }] } }), "policy.deny[0]", /fd_read/);
});

test("a policy denying fd_write (the driver answers over its channel) is refused", async () => {
  await refused(create({ policy: { deny: [{ syscall: "fd_write" }] } }), "policy.deny[0]");
});

test("a policy denying fd_fdstat_get (used to open the channel) is refused", async () => {
  await refused(create({ policy: { deny: [{ syscall: "fd_fdstat_get" }] } }), "policy.deny[0]");
});

test("a policy denying fd_close (one channel fd leaked per run until none were left) is refused", async () => {
  await refused(create({ policy: { deny: [{ syscall: "fd_close" }] } }), "policy.deny[0]");
});

test("a policy denying every syscall under /dev (the channel's path_open) is refused", async () => {
  await refused(create({ policy: { deny: [{ pathPrefix: "/dev" }] } }), "policy.deny[0]", /\/dev\/pyvisor/);
});

test("a policy denying all writes (the channel is opened read-write) is refused", async () => {
  await refused(create({ policy: { deny: [{ writesOnly: true }] } }), "policy.deny[0]");
});

test("a policy denying every syscall is refused", async () => {
  await refused(create({ policy: { deny: [{}] } }), "policy.deny[0]");
});

test("a policy denying a stat of the working directory (entered at each fresh start) is refused, naming the rule", async () => {
  const deny = [{ syscall: "path_unlink_file" }, { syscall: "path_filestat_get", pathPrefix: "/home" }];
  await refused(create({ policy: { deny } }), "policy.deny[1]");
});

test("a deterministic sandbox's policy denying what CPython needs to start (random_get) is refused", async () => {
  await refused(create({ deterministic: true, policy: { deny: [{ syscall: "random_get" }] } }), "policy.deny[0]", /start-up/);
});

test('sb.fs.remove("/") rejects with a typed EBUSY error, not a TypeError', async () => {
  await refused(() => sb.fs.remove("/"), "path", /EBUSY/);
});

test('sb.fs.remove("//./") (the root, spelt otherwise) is refused too', async () => {
  await refused(() => sb.fs.remove("//./", { recursive: true }), "path", /EBUSY/);
});

test("sb.fs.stat(123) rejects with InvalidOptionsError, not a TypeError", async () => {
  await refused(() => sb.fs.stat(123 as never), "path");
});

// --- plain type and range errors ---

const numberCases: Array<[string, unknown]> = [
  ["timeout", NaN], ["timeout", -1], ["timeout", 0], ["timeout", Infinity], ["timeout", "1000"],
  ["cpuTime", -5], ["cpuTime", Infinity], ["tickLimit", 1.5], ["tickLimit", 0],
  ["outputLimit", "10M"], ["outputLimit", 2 ** 40], ["diskQuota", NaN], ["inodeQuota", 0], ["maxOpenFiles", 1e6],
  ["functionTimeout", -1], ["maxFunctionCalls", -1], ["maxFunctionCalls", 0.5], ["seed", 1.5], ["memoryLimit", 30e6 + 0.5],
];
for (const [option, value] of numberCases) {
  test(`${option}: ${typeof value === "string" ? JSON.stringify(value) : String(value)} is refused`, async () => {
    await refused(create({ [option]: value }), option);
  });
}

test("memoryLimit as an object is refused", async () => {
  await refused(create({ memoryLimit: {} }), "memoryLimit");
});

test('deterministic: "yes" (silently false before) is refused', async () => {
  await refused(create({ deterministic: "yes" }), "deterministic");
});

test("trace: 1 is refused", async () => {
  await refused(create({ trace: 1 }), "trace");
});

test("an env value that is not a string is refused", async () => {
  await refused(create({ env: { A: 1 } }), 'env["A"]');
});

test("file contents that are neither text nor bytes (the engine failed building the tree) are refused", async () => {
  await refused(create({ files: { "/tmp/a": 5 } }), 'files["/tmp/a"]');
});

test("a file placed in /dev is refused", async () => {
  await refused(create({ files: { "/dev/x": "a" } }), 'files["/dev/x"]');
});

test("a working directory at /dev/pyvisor is refused", async () => {
  await refused(create({ cwd: "/dev/pyvisor" }), "cwd");
});

test("a host function that is not a function is refused", async () => {
  await refused(create({ functions: { f: 1 } }), 'functions["f"]');
});

test("a host function not named by a Python identifier is refused", async () => {
  await refused(create({ functions: { "not-a-name": () => 1 } }), 'functions["not-a-name"]');
});

test("a pool that is not a Pool is refused", async () => {
  await refused(() => Sandbox.create({ pool: {} as never }), "pool");
});

test("a mount without a guest path is refused", async () => {
  await refused(create({ mounts: [{ host: hostDir }] }), "mounts[0].guest");
});

test("a mount of a host path that is not a directory is refused", async () => {
  const file = join(hostDir, "file");
  writeFileSync(file, "x");
  await refused(create({ mounts: [{ host: file, guest: "/data" }] }), "mounts[0].host");
});

test('a mount with "readOnly" (misspelt: the mount stayed read-only silently) is refused', async () => {
  await refused(create({ mounts: [{ host: hostDir, guest: "/data", readOnly: false }] }), "mounts[0].readOnly", /readonly/);
});

test("a policy rule naming a misspelt syscall (it silently denied nothing) is refused", async () => {
  await refused(create({ policy: { deny: [{ syscall: "path_unlnk_file" }] } }), "policy.deny[0].syscall");
});

test("a policy rule with a relative pathPrefix (it never matched) is refused", async () => {
  await refused(create({ policy: { deny: [{ pathPrefix: "home/user/secret" }] } }), "policy.deny[0].pathPrefix");
});

test("a policy rule with a misspelt key (pathprefix: the rule denied everything or nothing) is refused", async () => {
  await refused(create({ policy: { deny: [{ syscall: "path_unlink_file", pathprefix: "/tmp" }] } }), "policy.deny[0].pathprefix");
});

test("an unknown errno in a policy rule is refused", async () => {
  await refused(create({ policy: { deny: [{ errno: "ENOPE" }] } }), "policy.deny[0].errno");
});

test("a misspelt Sandbox.create option (timout: the limit silently did not apply) is refused", async () => {
  await refused(create({ timout: 5 }), "timout", /did you mean timeout/);
});

test("a misspelt runPython option is refused", async () => {
  await refused(() => runPython("1", { pool, memoryLimt: "64M" } as never), "memoryLimt", /did you mean memoryLimit/);
});

test("a misspelt run option of runPython (stdn) is refused with the run option it meant, not only the sandbox's", async () => {
  await refused(() => runPython("1", { pool, stdn: "x" } as never), "stdn", /did you mean stdin/);
});

test("runPython passes every run option through (returnValue, path0), not a hand-picked few", async () => {
  const result = await runPython("import sys\nsys.path[0]", { pool, path0: "/tmp/first", returnValue: true });
  assert.equal(result.value, "/tmp/first");
  assert.equal((await runPython("41 + 1", { pool, returnValue: false })).value, null);
});

test("options that are not an object are refused", async () => {
  await refused(() => Sandbox.create(null as never), "options");
});

test("runPython with options that are not an object rejects (not a TypeError)", async () => {
  await refused(() => runPython("1", null as never), "options");
});

// --- run options ---

test("a misspelt run option (timout) is refused", async () => {
  await refused(run({ timout: 5 }), "timout");
});

test("run options that are not an object are refused (not a TypeError)", async () => {
  await refused(run(null), "options");
});

const runCases: Array<[string, unknown]> = [
  ["timeout", NaN], ["timeout", -1], ["cpuTime", "5"], ["tickLimit", -1], ["stdin", 5], ["inputs", []],
  ["signal", "abort"], ["filename", "a\0b"], ["argv", "prog"], ["argv", [1]], ["onStdout", 1], ["onStderr", "x"],
];
for (const [option, value] of runCases) {
  test(`run option ${option}: ${JSON.stringify(value) ?? String(value)} is refused`, async () => {
    await refused(run({ [option]: value }), option);
  });
}

test("run inputs named by a non-identifier are refused", async () => {
  await refused(run({ inputs: { "a-b": 1 } }), 'inputs["a-b"]');
});

test("run inputs the codec cannot carry are an InvalidOptionsError", async () => {
  await refused(run({ inputs: { f: () => 1 } }), "inputs");
});

test("run code that is not a string is refused", async () => {
  await refused(() => sb.run(5 as never), "code");
});

test("runFile with a path that is not a string is refused", async () => {
  await refused(() => sb.runFile(5 as never), "path");
});

test("runModule with a name that is not a module name is refused", async () => {
  await refused(() => sb.runModule("a/b"), "module");
});

// --- sb.fs arguments ---

test("sb.fs.readFile of a relative path is refused", async () => {
  await refused(() => sb.fs.readFile("tmp/x"), "path");
});

test("sb.fs.writeFile with data that is neither text nor bytes is refused", async () => {
  await refused(() => sb.fs.writeFile("/tmp/x", 123 as never), "data");
});

test("sb.fs.remove with recursive that is not a boolean is refused", async () => {
  await refused(() => sb.fs.remove("/tmp/x", { recursive: "yes" as never }), "recursive");
});

test("sb.fs.list of a path with .. is refused", async () => {
  await refused(() => sb.fs.list("/tmp/../etc"), "path");
});

// --- pool options ---

const poolCases: Array<[string, unknown]> = [
  ["size", 0], ["size", 1.5], ["size", 10_000], ["isolation", "vm"], ["maxQueuePerWorker", -1], ["maxQueuePerWorker", "64"],
  ["hardStopGraceMs", -1], ["hardStopGraceMs", 2 ** 31], ["callTimeoutMs", 3e9], ["callTimeoutMs", 0],
  ["warmInterpreters", -1], ["snapshotCache", 1], ["sise", 2],
];
for (const [option, value] of poolCases) {
  test(`new Pool with ${option}: ${JSON.stringify(value)} is refused`, async () => {
    await refused(newPool({ [option]: value }), option);
  });
}

// --- what stays accepted: the documented bounds work ---

test("the documented maximum timeout, with the maximum grace, runs normally (no timer overflow)", async () => {
  assert.equal(options.MAX_TIME_LIMIT_MS, MAX_TIME_LIMIT_MS);
  const own = new Pool({ size: 1, isolation: "thread", hardStopGraceMs: MAX_HARD_STOP_GRACE_MS });
  try {
    await using box = await Sandbox.create({ pool: own, timeout: MAX_TIME_LIMIT_MS, cpuTime: MAX_TIME_LIMIT_MS, functionTimeout: MAX_TIME_LIMIT_MS, functions: { f: async () => 7 } });
    const result = await box.run("from pyvisor.host import f\nf() * 6", { timeout: MAX_TIME_LIMIT_MS });
    assert.equal(result.error, null);
    assert.equal(result.value, 42);
  } finally {
    await own.close();
  }
});

test("the documented minimum of open files still runs a program file that imports", async () => {
  await using box = await Sandbox.create({ pool, maxOpenFiles: options.MIN_OPEN_FILES, files: { "/home/user/main.py": "import json\nprint(json.dumps([1]))\n" } });
  const result = await box.runFile("/home/user/main.py");
  assert.equal(result.error, null);
  assert.equal(result.stdout, "[1]\n");
});

test("a mount below the stdlib (shadowing one package) is still accepted and runs", async () => {
  writeFileSync(join(hostDir, "__init__.py"), "VALUE = 42\n");
  await using box = await Sandbox.create({ pool, mounts: [{ host: hostDir, guest: `${STDLIB_PATH}/shadowed` }] });
  assert.equal((await box.run("import shadowed\nshadowed.VALUE")).value, 42);
});

test("a policy denying random_get is accepted for a snapshot-restored sandbox, whose runs work", async () => {
  await using box = await Sandbox.create({ pool, policy: { deny: [{ syscall: "random_get" }, { pathPrefix: "/home/user/secret" }] } });
  const result = await box.run("import os\ntry:\n    os.urandom(1)\n    r = 'read'\nexcept OSError:\n    r = 'denied'\nr");
  assert.equal(result.value, "denied");
});

test("the syscall names a policy rule may give are exactly the kernel's", () => {
  const kernel = new Kernel({
    stdlib: stdlibTree(loadEngine()), mounts: [], files: {}, cwd: "/home/user", diskQuotaBytes: 1 << 20, inodeQuota: 16, maxOpenFiles: 16,
    trace: false, channel: new Channel(), env: {}, deterministic: false, seed: 0, cancelRequested: () => false,
  });
  try {
    const served = Object.keys(kernel.imports().wasi_snapshot_preview1 as object).sort();
    assert.deepEqual([...(options.SYSCALL_NAMES ?? [])].sort(), served);
  } finally {
    kernel.dispose();
  }
});

// Last: everything above was tried on this pool.
test("after every refused option, a normal run on the same pool and sandbox still works", async () => {
  assert.equal(pool.pendingRuns, 0, "no run is stuck waiting");
  assert.equal((await sb.run("6 * 7")).value, 42);
  await using fresh = await Sandbox.create({ pool });
  const result = await fresh.run("print('ok')\n1 + 1");
  assert.equal(result.value, 2);
  assert.equal(result.stdout, "ok\n");
});
