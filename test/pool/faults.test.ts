// Faults on the default (process) isolation: whatever a host function does,
// a worker killed mid-run, a host mount that disappears or fills up, the run
// resolves with a typed result, no hang, and the output written before the fault.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorType, Pool, Sandbox, SandboxCrashedError } from "../../src/api/index.js";

const pool = new Pool({ size: 1 });
after(() => pool.close({ force: true }));

/** Calls f() after a flushed line; returns the result (the line must be kept). */
async function callFaulty(f: (...args: unknown[]) => unknown, options: { functionTimeout?: number } = {}) {
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { f }, ...options });
  const result = await sb.run("print('before', flush=True)\nf()", { timeout: 10_000 });
  assert.equal(result.stdout, "before\n");
  return result;
}

test("a host function that throws gives HostError in Python", async () => {
  const result = await callFaulty(() => { throw new Error("boom"); });
  assert.equal(result.error?.type, "HostError");
  assert.match(result.error!.message, /boom/);
});

test("a host function that rejects gives HostError in Python", async () => {
  const result = await callFaulty(() => Promise.reject(new Error("rejected")));
  assert.equal(result.error?.type, "HostError");
  assert.match(result.error!.message, /rejected/);
});

test("a host function that never settles gives HostError after functionTimeout, not a hang", async () => {
  const result = await callFaulty(() => new Promise(() => undefined), { functionTimeout: 300 });
  assert.equal(result.error?.type, "HostError");
  assert.match(result.error!.message, /timed out/);
});

test("a host function that returns something unconvertible gives HostError in Python", async () => {
  const result = await callFaulty(() => Symbol("nope"));
  assert.equal(result.error?.type, "HostError");
});

/** Runs a program that prints a line and loops, and kills the pool's worker process once the line is out. */
async function killWorkerMidRun(sb: Sandbox) {
  let printed!: () => void;
  const ready = new Promise<void>((r) => { printed = r; });
  const running = sb.run("print('before', flush=True)\nwhile True: pass", { timeout: 30_000, onStdout: () => printed() });
  await ready;
  const out = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" });
  const pid = Number(out.split("\n").find((l) => l.includes("process-main"))!.trim().split(/\s+/)[0]);
  process.kill(pid, "SIGKILL");
  return running;
}

test("a worker killed by SIGKILL mid-run gives SandboxCrashedError with the output written before", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await killWorkerMidRun(sb);
  assert.equal(result.error?.type, ErrorType.Crashed);
  assert.equal(result.stdout, "before\n");
  assert.equal((await sb.run("1 + 1")).value, 2, "the sandbox is rebuilt on a new worker");
});

// Host mounts. A mount is bound to the directory it named when the sandbox was
// built (by handle, like a bind mount): removed, the sandbox sees it empty and
// every new name fails with ENOENT; replaced, it keeps the old one.

/** A fresh host directory holding a.txt and sub/s.txt. */
function hostDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "pyvisor-fault-"));
  writeFileSync(join(dir, "a.txt"), "hello");
  mkdirSync(join(dir, "sub"));
  writeFileSync(join(dir, "sub", "s.txt"), "s");
  return dir;
}

/** Python: what each operation on /data gives, a value or the errno name. */
const PROBE = `
import errno, os
def probe():
    out = {}
    for name, op in [("list", lambda: sorted(os.listdir('/data'))), ("read", lambda: open('/data/a.txt').read()),
                     ("sub", lambda: os.listdir('/data/sub')), ("create", lambda: open('/data/c.txt', 'w').close()),
                     ("mkdir", lambda: os.mkdir('/data/d'))]:
        try:
            out[name] = op()
        except OSError as e:
            out[name] = errno.errorcode.get(e.errno)
    return out
`;
const GONE = { list: [], read: "ENOENT", sub: "ENOENT", create: "ENOENT", mkdir: "ENOENT" };

test("a host mount removed between runs gives ENOENT in Python, and the sandbox and pool go on", async () => {
  const dir = hostDir();
  await using sb = await Sandbox.create({ pool, mounts: [{ host: dir, guest: "/data", readonly: false }] });
  assert.deepEqual((await sb.run(PROBE + "probe()['read']")).value, "hello");
  rmSync(dir, { recursive: true, force: true });
  const result = await sb.run("print('before', flush=True)\nprobe()");
  assert.equal(result.error, null, result.error?.message);
  assert.equal(result.stdout, "before\n");
  assert.deepEqual(result.value, GONE);
  assert.equal(result.stats.reset, false);
  await using other = await Sandbox.create({ pool });
  assert.equal((await other.run("1 + 1")).value, 2);
});

test("a host mount removed during a run: open files keep working, new names give ENOENT, output before it is kept", async () => {
  const dir = hostDir();
  const vanish = () => { rmSync(dir, { recursive: true, force: true }); };
  await using sb = await Sandbox.create({ pool, functions: { vanish }, hostGlobals: true, mounts: [{ host: dir, guest: "/data", readonly: false }] });
  const code = PROBE + "f = open('/data/sub/s.txt')\nprint('before', flush=True)\nvanish()\n(f.read(), probe())";
  const result = await sb.run(code, { timeout: 10_000 });
  assert.equal(result.error, null, result.error?.message);
  assert.equal(result.stdout, "before\n");
  assert.deepEqual(result.value, ["s", GONE]);
  assert.equal((await sb.run("len(os.listdir('/tmp')) >= 0")).value, true, "the sandbox goes on");
});

test("a host mount replaced during a run: the sandbox keeps the directory it mounted, never the new one", async () => {
  const dir = hostDir();
  const replace = () => {
    renameSync(dir, `${dir}.old`);
    mkdirSync(dir);
    writeFileSync(join(dir, "new.txt"), "new");
  };
  try {
    await using sb = await Sandbox.create({ pool, functions: { replace }, hostGlobals: true, mounts: [{ host: dir, guest: "/data", readonly: false }] });
    const result = await sb.run(PROBE + "replace()\nopen('/data/written.txt', 'w').write('w')\nprobe()", { timeout: 10_000 });
    assert.equal(result.error, null, result.error?.message);
    assert.deepEqual((result.value as { list: string[] }).list, ["a.txt", "sub", "written.txt"]);
    assert.deepEqual(execFileSync("ls", [dir], { encoding: "utf8" }), "new.txt\n", "nothing reached the new directory");
  } finally {
    rmSync(`${dir}.old`, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a sandbox rebuilt after its worker died, whose mount was removed, sees the mount gone (ENOENT) instead of failing every run", async () => {
  const dir = hostDir();
  await using sb = await Sandbox.create({ pool, mounts: [{ host: dir, guest: "/data", readonly: false }] });
  rmSync(dir, { recursive: true, force: true });
  assert.equal((await killWorkerMidRun(sb)).error?.type, ErrorType.Crashed);
  const result = await sb.run(PROBE + "probe()['read']");
  assert.equal(result.value, "ENOENT", result.error?.message);
  assert.equal(result.stats.reset, true);
  assert.equal((await sb.run("1 + 1")).value, 2);
});

/**
 * A real full disk: a 256 KiB tmpfs mounted on a fresh directory (mount(8)
 * needs root or CAP_SYS_ADMIN, as in CI), unmounted after the test.
 */
function smallDisk(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "pyvisor-full-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", dir], { stdio: "pipe" });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`this test mounts a small tmpfs and needs root (CAP_SYS_ADMIN): ${(error as Error).message}`);
  }
  t.after(() => {
    // Lazy: the worker closes its handle on the mount when the disposal reaches it, a moment later.
    execFileSync("umount", ["--lazy", dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

test("a host mount that fills up gives OSError(ENOSPC) in Python, with the output before it and the file's bytes kept", async (t) => {
  const dir = smallDisk(t);
  await using sb = await Sandbox.create({ pool, mounts: [{ host: dir, guest: "/data", readonly: false }] });
  const code = `
import errno, os
print('before', flush=True)
chunks = 0
try:
    with open('/data/big', 'wb') as f:
        for _ in range(100):
            f.write(b'x' * 65536)
            f.flush()
            chunks += 1
except OSError as e:
    print(errno.errorcode[e.errno])
(chunks, os.path.getsize('/data/big'))`;
  const result = await sb.run(code, { timeout: 10_000 });
  assert.equal(result.error, null, result.error?.message);
  assert.equal(result.stdout, "before\nENOSPC\n");
  assert.deepEqual(result.value, [4, 256 * 1024]);
  assert.equal((await sb.run("os.remove('/data/big')\nopen('/data/small', 'wb').write(b'y' * 1000)")).value, 1000, "the disk takes writes again once freed");
});

test("writes that fail on a full host disk are not charged to the sandbox's disk quota", async (t) => {
  const dir = smallDisk(t);
  await using sb = await Sandbox.create({ pool, diskQuota: 2 * 1024 * 1024, mounts: [{ host: dir, guest: "/data", readonly: false }] });
  const failed = await sb.run(`
import os
failures = 0
for _ in range(20):
    try:
        with open('/data/full', 'wb') as f:
            f.write(b'x' * (512 * 1024))
    except OSError:
        failures += 1
    os.remove('/data/full')
failures`);
  assert.equal(failed.value, 20, failed.error?.message);
  const result = await sb.run("open('/tmp/f', 'wb').write(b'y' * (1024 * 1024))");
  assert.equal(result.error, null, "the quota is what the sandbox stores, not what it tried to store");
  assert.equal(result.value, 1024 * 1024);
});

test("a worker that dies while it builds a sandbox makes Sandbox.create reject with SandboxCrashedError, not a generic error", async () => {
  const before = new Set(execFileSync("ps", ["-o", "pid=", "--ppid", String(process.pid)], { encoding: "utf8" }).split("\n").map(Number));
  const own = new Pool({ size: 1 });
  try {
    const creating = Sandbox.create({ pool: own });
    // The new worker process is forked at once and takes far longer than this to start and answer.
    const pid = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" }).split("\n")
      .filter((line) => line.includes("process-main")).map((line) => Number(line.trim().split(/\s+/)[0])).find((p) => !before.has(p))!;
    process.kill(pid, "SIGKILL");
    const error = await creating.then(() => null, (e: unknown) => e);
    assert.ok(error instanceof SandboxCrashedError, String(error));
    assert.match((error as Error).message, /SIGKILL/);
  } finally {
    await own.close({ force: true });
  }
});
