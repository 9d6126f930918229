// Guest-side fuzzer: Python in the sandbox calls `os` functions (open, read,
// write, lseek, stat, listdir, scandir, mkdir, rename, link, symlink, unlink,
// utime, truncate, dup, close, chdir, ...) with arguments from a seeded PRNG,
// over a read-write mount of a host temp dir and a read-only one. Every run
// must end with a result, the sandbox must keep working, and nothing on the
// host outside the read-write mount may change (a sentinel tree next to it is
// snapshotted before and after).
//   PYVISOR_FUZZ_LONG=1 (npm run fuzz) for minutes instead of seconds, PYVISOR_FUZZ_MS=n
//   for exactly n ms; PYVISOR_FUZZ_SEED=n to replay a failure.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Sandbox } from "../../src/api/index.js";
import { assertSandboxHealthy, changedPaths, fuzzBudget, sharedPool, snapshotTree, tempDir } from "./helpers.js";

const pool = sharedPool(1, "thread");

/** The fuzz loop: `fuzz(seed, seconds)` returns (iterations, calls that succeeded, exception names seen). */
const FUZZ = String.raw`
import os, random, time, errno
from pyvisor import _channel

NAMES = ['..', '.', '', 'a', 'b', 'c', 'f.txt', 'sub', 'link', '\u00e9', 'x' * 300, '\x00', '/', 'data', 'ro', 'tmp', 'secret']
FLAGS = [os.O_RDONLY, os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_EXCL, os.O_TRUNC, os.O_APPEND, os.O_DIRECTORY, os.O_NOFOLLOW, os.O_NONBLOCK]

def fuzz(seed, seconds):
    r = random.Random(seed)
    protected = {0, 1, 2, 3, _channel.FD}
    fds = []
    def path():
        root = r.choice(['/data', '/data', '/data', '/ro', '/tmp', '', '/', '/data/sub'])
        return root + ''.join('/' + r.choice(NAMES) for _ in range(r.randrange(0, 4))) + r.choice(['', '', '/'])
    def fd():
        if fds and r.random() < 0.8: return r.choice(fds)
        return r.choice([n for n in (-1, 4, 5, 6, 9, 64, 1000, 2**31 - 1) if n not in protected])
    def size():
        return r.choice([0, 1, 7, 4096, 65536, 2**31 - 1, -1, r.randrange(0, 100000)])
    def data():
        return bytes(r.randrange(256) for _ in range(r.choice([0, 1, 10, 1000])))
    def flags():
        f = 0
        for _ in range(r.randrange(0, 4)): f |= r.choice(FLAGS)
        return f
    def do_open():
        n = os.open(path(), flags(), r.choice([0o644, 0o777, 0]))
        fds.append(n)
    def do_close():
        n = fd()
        if n in protected: return
        os.close(n)
        if n in fds: fds.remove(n)
    def do_dup():
        fds.append(os.dup(fd()))
    ops = [
        do_open, do_close, do_dup,
        lambda: os.read(fd(), r.choice([0, 1, 100, 70000])),
        lambda: os.write(fd(), data()),
        lambda: os.pread(fd(), r.choice([0, 10, 5000]), size()),
        lambda: os.pwrite(fd(), data(), size()),
        lambda: os.lseek(fd(), size(), r.choice([0, 1, 2, 3, -1])),
        lambda: os.fstat(fd()),
        lambda: os.ftruncate(fd(), size()),
        lambda: os.fsync(fd()),
        lambda: os.stat(path()),
        lambda: os.lstat(path()),
        lambda: os.listdir(path()),
        lambda: list(os.scandir(path())),
        lambda: [e.stat() for e in os.scandir(path())],
        lambda: os.mkdir(path()),
        lambda: os.makedirs(path(), exist_ok=True),
        lambda: os.rmdir(path()),
        lambda: os.rename(path(), path()),
        lambda: os.replace(path(), path()),
        lambda: os.link(path(), path()),
        lambda: os.symlink(r.choice([path(), '..', '../..', '/', 'f.txt', '/data/sub']), path()),
        lambda: os.readlink(path()),
        lambda: os.unlink(path()),
        lambda: os.utime(path(), (r.randrange(-2**40, 2**40), r.randrange(-2**40, 2**40))),
        lambda: os.utime(fd(), None),
        lambda: os.truncate(path(), size()),
        lambda: os.chdir(path()),
        lambda: os.access(path(), r.randrange(0, 8)),
        lambda: os.open(r.choice(NAMES), flags(), dir_fd=fd()),
        lambda: os.stat(r.choice(NAMES), dir_fd=fd(), follow_symlinks=r.random() < 0.5),
        lambda: list(os.walk('/data')),
    ]
    iterations = succeeded = 0
    kinds = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(20):
            iterations += 1
            try:
                r.choice(ops)()
                succeeded += 1
            except (OSError, ValueError, TypeError, OverflowError) as e:
                kinds.add(type(e).__name__)
    for n in fds:
        if n not in protected:
            try: os.close(n)
            except OSError: pass
    os.chdir('/home/user')
    return [iterations, succeeded, sorted(kinds)]
`;

test("os functions called with random arguments end every run with a result and change nothing outside the mount", async () => {
  const { ms, seed, long } = fuzzBudget(4_000, 5 * 60_000);
  const base = tempDir("fuzz-guest");
  const mountDir = path.join(base, "mount");
  const roDir = path.join(base, "ro");
  const sentinel = path.join(base, "sentinel");
  for (const dir of [mountDir, roDir, path.join(sentinel, "inner")]) fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(mountDir, "f.txt"), "mounted");
  fs.mkdirSync(path.join(mountDir, "sub"));
  fs.writeFileSync(path.join(roDir, "f.txt"), "read-only");
  fs.writeFileSync(path.join(base, "secret"), "host secret");
  fs.writeFileSync(path.join(sentinel, "inner", "keep.txt"), "keep");
  const outside = () => {
    const all = snapshotTree(base);
    for (const key of [...all.keys()]) if (key === mountDir || key.startsWith(mountDir + path.sep)) all.delete(key);
    return all;
  };
  const before = outside();

  await using sb = await Sandbox.create({
    pool: pool(), diskQuota: 8 * 1024 * 1024, inodeQuota: 2_000, timeout: 60_000,
    mounts: [{ host: mountDir, guest: "/data", readonly: false }, { host: roDir, guest: "/ro" }],
  });
  assert.equal((await sb.run(FUZZ)).error, null);
  const runSeconds = long ? 10 : 1;
  const end = performance.now() + ms;
  let runs = 0;
  let iterations = 0;
  let succeeded = 0;
  const kinds = new Set<string>();
  while (performance.now() < end) {
    const runSeed = (seed + runs) >>> 0;
    const result = await sb.run(`fuzz(${runSeed}, ${runSeconds})`);
    assert.equal(result.error, null, `run seed ${runSeed}: ${JSON.stringify(result.error)}`);
    const [n, ok, seen] = result.value as [number, number, string[]];
    iterations += n;
    succeeded += ok;
    for (const kind of seen) kinds.add(kind);
    runs++;
    await assertSandboxHealthy(sb);
  }
  console.log(`guest fuzz: ${iterations} os calls (${succeeded} succeeded) in ${runs} runs of ${runSeconds} s${long ? " (long run)" : ""}, seed ${seed} (replay: PYVISOR_FUZZ_SEED=${seed}); exceptions seen: ${[...kinds].sort().join(", ")}`);
  assert.ok(iterations > 0);
  assert.deepEqual(changedPaths(before, outside()), [], "the host outside the read-write mount changed");
});
