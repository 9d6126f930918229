// sb.fs, the host's view of a sandbox's files: writes reach read-write host
// mounts, devices read as the guest reads them, and a call never outlives the
// worker it was sent to.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorType, Pool, PyvisorError, Sandbox, SandboxFsError } from "../../src/api/index.js";

let pool: Pool;
before(() => {
  pool = new Pool({ size: 1 });
});
after(async () => {
  await pool.close();
});

/** Fails instead of hanging when `promise` does not settle within `ms`. */
async function settlesWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms); });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

test("sb.fs.writeFile and the files option write into a read-write host mount", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pyvisor-fs-rw-"));
  try {
    await using sb = await Sandbox.create({ pool, mounts: [{ host: dir, guest: "/data", readonly: false }], files: { "/data/seed.txt": "seed" } });
    assert.equal(readFileSync(join(dir, "seed.txt"), "utf8"), "seed");
    await sb.fs.writeFile("/data/x.txt", "from the host");
    assert.equal(readFileSync(join(dir, "x.txt"), "utf8"), "from the host");
    assert.equal((await sb.run("open('/data/x.txt').read()")).value, "from the host");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sb.fs.readFile('/dev/null') gives empty bytes, not EISDIR", async () => {
  await using sb = await Sandbox.create({ pool });
  const bytes = await sb.fs.readFile("/dev/null");
  assert.ok(bytes instanceof Uint8Array);
  assert.equal(bytes.length, 0);
});

/** A guest that swallows every interrupt: only a hard stop (which discards its sandbox) ends it. */
const STUBBORN = "while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass";

test("an sb.fs call queued behind a neighbour's hard-stopped run is served on the neighbour's kept files", async () => {
  const own = new Pool({ size: 1, hardStopGraceMs: 200 });
  try {
    await using runaway = await Sandbox.create({ pool: own });
    await using neighbour = await Sandbox.create({ pool: own });
    await neighbour.fs.writeFile("/tmp/mine.txt", "kept");
    const stopped = runaway.run(STUBBORN, { timeout: 500 });
    // The one worker is busy with the runaway: this call waits in its queue until the hard stop.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const pending = neighbour.fs.list("/tmp");
    assert.equal((await stopped).stats.reset, true);
    assert.deepEqual(await settlesWithin(pending, 20_000, "the fs call"), ["mine.txt"]);
  } finally {
    await own.close();
  }
});

test("an sb.fs call waiting on a worker that is killed rejects with SandboxCrashedError instead of hanging", async () => {
  const own = new Pool({ size: 1, hardStopGraceMs: 200 });
  try {
    await using runaway = await Sandbox.create({ pool: own });
    await using neighbour = await Sandbox.create({ pool: own });
    // A cancelled run stuck in one C call: only killing its worker ends it before its deadline.
    const controller = new AbortController();
    let go!: () => void;
    const started = new Promise<void>((resolve) => { go = resolve; });
    // The sleep sends 'go' to the host before the C call starts (which it has 200 ms later).
    const stopped = runaway.run("import time\nprint('go', flush=True)\ntime.sleep(0.01)\nsum(range(10**15))", { timeout: 60_000, signal: controller.signal, onStdout: () => setTimeout(go, 200) });
    await started;
    const pending = neighbour.fs.list("/tmp");
    controller.abort();
    assert.equal((await stopped).error?.type, ErrorType.Cancelled);
    const error = await settlesWithin(pending.then(() => null, (e: unknown) => e), 20_000, "the fs call");
    assert.ok(error instanceof PyvisorError, `expected a rejection, got ${String(error)}`);
    assert.equal(error.name, ErrorType.Crashed);
    // The neighbour is re-placed on the replacement worker by its next call.
    assert.deepEqual(await settlesWithin(neighbour.fs.list("/tmp"), 20_000, "the next fs call"), []);
  } finally {
    await own.close();
  }
});

test("an sb.fs call after the sandbox was hard-stopped works on the re-created sandbox", async () => {
  const own = new Pool({ size: 1, hardStopGraceMs: 200 });
  try {
    await using sb = await Sandbox.create({ pool: own, files: { "/tmp/given.txt": "given" } });
    await sb.fs.writeFile("/tmp/lost.txt", "lost with the hard stop");
    const stopped = await sb.run(STUBBORN, { timeout: 500 });
    assert.equal(stopped.error?.type, ErrorType.Timeout);
    assert.deepEqual(await settlesWithin(sb.fs.list("/tmp"), 20_000, "the fs call"), ["given.txt"]);
    const next = await sb.run("open('/tmp/given.txt').read()");
    assert.equal(next.value, "given");
  } finally {
    await own.close();
  }
});

test("an sb.fs error reads like Node's fs: code, errno, syscall and path, and a message naming the path", async () => {
  await using sb = await Sandbox.create({ pool });
  const missing = await sb.fs.readFile("/home/user/nope").catch((error: unknown) => error);
  assert.ok(missing instanceof SandboxFsError);
  assert.ok(missing instanceof PyvisorError);
  assert.deepEqual({ code: missing.code, errno: missing.errno, syscall: missing.syscall, path: missing.path },
    { code: "ENOENT", errno: 44, syscall: "open", path: "/home/user/nope" });
  assert.equal(missing.message, "ENOENT: no such file or directory, open '/home/user/nope'");
});

test("each sb.fs operation names its own syscall and errno (EROFS, ENOTDIR, ENOSPC)", async () => {
  await using sb = await Sandbox.create({ pool, diskQuota: 4096 });
  const fail = (promise: Promise<unknown>) => promise.then(() => null, (error: SandboxFsError) => `${error.code} ${error.syscall} ${error.path}`);
  assert.deepEqual([
    await fail(sb.fs.mkdir("/usr/made")),
    await fail(sb.fs.list("/usr/local/bin/python3")),
    await fail(sb.fs.writeFile("/home/user/big", new Uint8Array(64 * 1024))),
    await fail(sb.fs.remove("/tmp/absent")),
    await fail(sb.fs.stat("/tmp/absent")),
  ], [
    "EROFS mkdir /usr/made",
    "ENOTDIR scandir /usr/local/bin/python3",
    "ENOSPC open /home/user/big",
    "ENOENT rm /tmp/absent",
    "ENOENT stat /tmp/absent",
  ]);
});
