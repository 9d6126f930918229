// Host mounts are reached by handle, never by path: a host process (or another
// sandbox, or another pyvisor) that swaps directories of a read-write mount for
// symlinks while the guest works can make the guest's calls fail, never reach
// outside the mount. Also: no guest-made host symlink that leaves the mount,
// readlink never shows host text, and the quota binds on links and open files.
//   <base>/outside/victim.txt   SECRET: must never be read, written or touched
//   <base>/data/                mounted read-write at /data
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PY_ERR, startGuest, type Guest } from "../helpers/engine.js";
import { pyvisor } from "../cli/helpers.js";

const SECRET = "TOPSECRET-host-mounts";
let base: string;
let data: string;
let outside: string;

function outsideState(): string {
  const victim = path.join(outside, "victim.txt");
  const st = fs.statSync(victim);
  // atime is left out: this very read moves it.
  return JSON.stringify([fs.readdirSync(outside).sort(), fs.readFileSync(victim, "utf8"), st.mtimeMs, st.size]);
}

/**
 * A host process that keeps swapping <data>/d between a real directory and a
 * symlink to <base>/outside, as a second sandbox or any host program could.
 */
function startSwapper(): ChildProcess {
  const script = `
const fs = require("node:fs");
const [d, real, outside] = process.argv.slice(1);
let swaps = 0;
process.on("SIGTERM", () => { console.log(swaps); process.exit(0); });
const hold = () => { const end = process.hrtime.bigint() + 50_000n; while (process.hrtime.bigint() < end); };
// Swap in bursts, yielding between them so that SIGTERM is handled; each state
// is held for 50 us, so that a guest call can start in one and act in the other.
(function burst() {
  for (let i = 0; i < 100; i++) {
    try { fs.renameSync(d, real); fs.symlinkSync(outside, d); hold(); fs.unlinkSync(d); fs.renameSync(real, d); hold(); swaps++; } catch {}
  }
  setImmediate(burst);
})();`;
  return spawn(process.execPath, ["-e", script, path.join(data, "d"), path.join(data, "d.real"), outside], { stdio: ["ignore", "pipe", "inherit"] });
}
async function stopSwapper(child: ChildProcess): Promise<number> {
  let out = "";
  child.stdout!.on("data", (chunk) => (out += chunk));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  child.kill("SIGTERM");
  await exited;
  // Leave <data>/d a real directory again, whatever state the swapper stopped in.
  if (fs.lstatSync(path.join(data, "d"), { throwIfNoEntry: false })?.isSymbolicLink()) fs.unlinkSync(path.join(data, "d"));
  if (fs.existsSync(path.join(data, "d.real"))) fs.renameSync(path.join(data, "d.real"), path.join(data, "d"));
  return Number(out.trim());
}

/** Python: for `seconds`, every kind of call on names under /data/d; returns [iterations, secrets read]. */
const RACE = (seconds: number) => `
import os, time
end = time.monotonic() + ${seconds}
n = leaked = 0
while time.monotonic() < end:
    n += 1
    p = '/data/d/victim.txt'
    for action in range(7):
        try:
            if action == 0:
                with open(p) as f:
                    leaked += f.read() == ${JSON.stringify(SECRET)}
            elif action == 1:
                with open(p, 'r+') as f:
                    f.write('GUEST')
            elif action == 2:
                os.utime(p, (0, 0))
            elif action == 3:
                open('/data/d/new-%d' % n, 'x').close()
            elif action == 4:
                os.mkdir('/data/d/dir-%d' % n)
            elif action == 5:
                fd = os.open('/data/d', os.O_RDONLY | os.O_DIRECTORY)
                try:
                    with open('victim.txt', opener=lambda name, flags: os.open(name, flags, dir_fd=fd)) as f:
                        leaked += f.read() == ${JSON.stringify(SECRET)}
                finally:
                    os.close(fd)
            else:
                os.truncate(p, 0)
        except OSError:
            pass
[n, leaked]
`;

before(() => {
  base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "pyvisor-host-mounts-")));
  data = path.join(base, "data");
  outside = path.join(base, "outside");
  fs.mkdirSync(path.join(data, "d"), { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, "victim.txt"), SECRET);
  fs.writeFileSync(path.join(data, "d", "victim.txt"), "inside");
});

after(() => {
  fs.rmSync(base, { recursive: true, force: true });
});

describe("a host process swapping mount directories for symlinks", () => {
  test("races of every call against the swapper never read, write, create or touch outside the mount", async () => {
    const before = outsideState();
    const g = startGuest({ mounts: [{ hostPath: data, guestPath: "/data", readonly: false }] });
    const swapper = startSwapper();
    let result: unknown;
    try {
      result = g.value(RACE(3), { timeoutMs: 30_000 });
    } finally {
      const swaps = await stopSwapper(swapper);
      g.kernel.dispose();
      console.log(`race: ${JSON.stringify(result)} [guest iterations, secrets read]; ${swaps} host swaps`);
    }
    const [iterations, leaked] = result as [number, number];
    assert.ok(iterations > 10, "the race ran");
    assert.equal(leaked, 0, "the guest read the file outside the mount");
    assert.equal(outsideState(), before, "the directory outside the mount changed");
  });

  test("the same race through the CLI, as a user runs it", async () => {
    const before = outsideState();
    const script = path.join(base, "race.py");
    fs.writeFileSync(script, RACE(3).replace(/\[n, leaked\]\s*$/, "print([n, leaked])\n"));
    const swapper = startSwapper();
    let run;
    try {
      run = pyvisor(["--mount", `${data}:/data:rw`, script], { timeoutMs: 60_000 });
    } finally {
      const swaps = await stopSwapper(swapper);
      console.log(`cli race: ${run?.stdout.trim()} [guest iterations, secrets read]; ${swaps} host swaps`);
    }
    assert.equal(run.status, 0, run.stderr);
    const [iterations, leaked] = JSON.parse(run.stdout) as [number, number];
    assert.ok(iterations > 10);
    assert.equal(leaked, 0);
    assert.equal(outsideState(), before);
  });

  test("os.utime on an open file whose parent was swapped for a symlink sets that file's times, not the host file's", () => {
    const before = outsideState();
    const g = startGuest({ mounts: [{ hostPath: data, guestPath: "/data", readonly: false }] });
    try {
      g.value("import os\nfd = os.open('/data/d/victim.txt', os.O_RDWR)");
      fs.renameSync(path.join(data, "d"), path.join(data, "d.real"));
      fs.symlinkSync(outside, path.join(data, "d"));
      try {
        g.value("os.utime(fd, (0, 0))\nos.close(fd)");
      } finally {
        fs.unlinkSync(path.join(data, "d"));
        fs.renameSync(path.join(data, "d.real"), path.join(data, "d"));
      }
      assert.equal(outsideState(), before, "the host file outside the mount got new times");
      assert.equal(fs.statSync(path.join(data, "d", "victim.txt")).mtimeMs, 0, "the open file itself got the times");
    } finally {
      g.kernel.dispose();
    }
  });

  test("a directory handle kept by the guest follows the directory, not its old path", () => {
    const g = startGuest({ mounts: [{ hostPath: data, guestPath: "/data", readonly: false }] });
    try {
      g.value("import os\nos.mkdir('/data/keep')\nopen('/data/keep/x', 'w').write('kept')\nkfd = os.open('/data/keep', os.O_RDONLY | os.O_DIRECTORY)");
      fs.renameSync(path.join(data, "keep"), path.join(data, "kept"));
      fs.symlinkSync(outside, path.join(data, "keep"));
      assert.equal(g.value("open('x', opener=lambda n, f: os.open(n, f, dir_fd=kfd)).read()"), "kept");
    } finally {
      g.kernel.dispose();
    }
  });
});

describe("the host clock and renamed directories", () => {
  test("in deterministic mode, files the guest writes on a host mount carry the sandbox clock, never the host's", () => {
    const dir = fs.mkdtempSync(path.join(base, "clock-"));
    const g = startGuest({ mounts: [{ hostPath: dir, guestPath: "/c", readonly: false }], deterministic: true });
    try {
      const times = g.value(`import os, time
os.mkdir('/c/sub')
with open('/c/sub/new.txt', 'w') as f:
    f.write('x')
open('/c/sub/new.txt').read()
st = os.stat('/c/sub/new.txt')
sd = os.stat('/c/sub')
[st.st_mtime, st.st_atime, st.st_ctime, sd.st_mtime, sd.st_ctime, time.time()]`) as number[];
      const now = times.pop()!;
      const year2001 = 978307200;
      for (const t of times) assert.ok(t < year2001, `a time from the host's clock: ${t} (sandbox now ${now})`);
    } finally {
      g.kernel.dispose();
    }
  });

  test("a directory fd on a host mount keeps naming the same directory after it is renamed", () => {
    const dir = fs.mkdtempSync(path.join(base, "renamed-"));
    const g = startGuest({ mounts: [{ hostPath: dir, guestPath: "/r", readonly: false }] });
    try {
      const value = g.value("import os\nos.mkdir('/r/fdir')\nfd = os.open('/r/fdir', os.O_RDONLY)\nos.rename('/r/fdir', '/r/fdir2')\nf = os.open('inner', os.O_CREAT | os.O_WRONLY, dir_fd=fd)\nos.close(f)\nos.close(fd)\nos.path.exists('/r/fdir2/inner')");
      assert.equal(value, true);
      assert.ok(fs.existsSync(path.join(dir, "fdir2", "inner")));
    } finally {
      g.kernel.dispose();
    }
  });
});

describe("symlinks in mounts", () => {
  let g: Guest;
  let links: string;
  before(() => {
    links = path.join(base, "links");
    fs.mkdirSync(path.join(links, "sub"), { recursive: true });
    fs.writeFileSync(path.join(links, "f.txt"), "in-mount");
    fs.writeFileSync(path.join(links, "sub", "g.txt"), "in-sub");
    fs.symlinkSync(path.join(links, "f.txt"), path.join(links, "host-abs-inside"));
    fs.symlinkSync(path.join(outside, "victim.txt"), path.join(links, "host-abs-outside"));
    fs.symlinkSync("../outside/victim.txt", path.join(links, "host-rel-outside"));
    fs.symlinkSync("sub/../../outside", path.join(links, "host-dotdot-after-name"));
    g = startGuest({ mounts: [{ hostPath: links, guestPath: "/links", readonly: false, allowSymlinks: true }] });
    g.value(PY_ERR);
  });
  after(() => g.kernel.dispose());

  test("readlink of a host symlink into the mount shows the sandbox path, and it resolves", () => {
    assert.deepEqual(g.value("(os.readlink('/links/host-abs-inside'), open('/links/host-abs-inside').read())"), ["/links/f.txt", "in-mount"]);
  });

  for (const name of ["host-abs-outside", "host-rel-outside", "host-dotdot-after-name"]) {
    test(`readlink of a host symlink leading out (${name}) shows no host text and it does not resolve`, () => {
      assert.deepEqual(g.value(`(err(os.readlink, '/links/${name}'), err(open, '/links/${name}'))`), ["ENOENT", "ENOENT"]);
    });
  }

  test("with allowSymlinks, a relative target inside the mount is stored as written", () => {
    assert.deepEqual(g.value("os.symlink('f.txt', '/links/l1')\n(os.readlink('/links/l1'), open('/links/l1').read())"), ["f.txt", "in-mount"]);
    assert.equal(fs.readlinkSync(path.join(links, "l1")), "f.txt");
  });

  test("with allowSymlinks, a sandbox path into the mount is stored relative to the link", () => {
    assert.equal(g.value("os.symlink('/links/f.txt', '/links/sub/l2')\nopen('/links/sub/l2').read()"), "in-mount");
    assert.equal(fs.readlinkSync(path.join(links, "sub", "l2")), "../f.txt");
    assert.equal(fs.readFileSync(path.join(links, "sub", "l2"), "utf8"), "in-mount", "a host program reading the link stays in the mount");
  });

  const refused: Array<[string, string, string]> = [
    ["an absolute sandbox path outside the mount", "/etc", "/links/r1"],
    ["the host path of a file outside", "__OUTSIDE__", "/links/r2"],
    ["a relative target climbing out", "../outside/victim.txt", "/links/r3"],
    ["a relative target climbing out from a subdirectory", "../../x", "/links/sub/r4"],
    ["`..` after a name (the host would take it from wherever the name leads)", "sub/../f.txt", "/links/r5"],
  ];
  for (const [what, target, at] of refused) {
    test(`with allowSymlinks, ${what} is EPERM and no host link is made`, () => {
      const t = target === "__OUTSIDE__" ? path.join(outside, "victim.txt") : target;
      assert.equal(g.value(`err(os.symlink, ${JSON.stringify(t)}, '${at}')`), "EPERM");
      assert.equal(fs.existsSync(path.join(links, at.slice("/links/".length))), false);
    });
  }
});

describe("accounting on host mounts", () => {
  test("unlinking an open file keeps its bytes charged until it is closed", () => {
    const dir = fs.mkdtempSync(path.join(base, "quota-"));
    const g = startGuest({ mounts: [{ hostPath: dir, guestPath: "/q", readonly: false }], diskQuotaBytes: 1_000_000 });
    try {
      g.value(PY_ERR + "f = open('/q/big', 'wb')\nf.write(b'x' * 700_000)\nf.flush()\nos.unlink('/q/big')");
      assert.equal(g.value("err(lambda: open('/q/second', 'wb').write(b'y' * 700_000))"), "ENOSPC", "the unlinked file's bytes are still on disk");
      assert.equal(g.value("f.close()\nos.unlink('/q/second')\nerr(lambda: open('/q/third', 'wb').write(b'z' * 700_000))"), null, "closing gives the bytes back");
    } finally {
      g.kernel.dispose();
    }
  });

  test("hard links each cost an inode", () => {
    const dir = fs.mkdtempSync(path.join(base, "links-quota-"));
    const g = startGuest({ mounts: [{ hostPath: dir, guestPath: "/q", readonly: false }], inodeQuota: 10 });
    try {
      const made = g.value(PY_ERR + `
open('/q/f', 'w').close()
n = 0
while n < 1000 and err(os.link, '/q/f', '/q/l%d' % n) is None:
    n += 1
n`);
      assert.ok((made as number) < 10, `made ${String(made)} links under an inode quota of 10`);
      assert.ok(fs.readdirSync(dir).length <= 10);
    } finally {
      g.kernel.dispose();
    }
  });

  test("the guest cannot link a file into a read-only mount through a read-write one", () => {
    const rw = fs.mkdtempSync(path.join(base, "rw-"));
    const roDir = fs.mkdtempSync(path.join(base, "ro-"));
    const g = startGuest({ mounts: [{ hostPath: rw, guestPath: "/rw", readonly: false }, { hostPath: roDir, guestPath: "/ro", readonly: true }] });
    try {
      const result = g.value(PY_ERR + "open('/rw/f', 'w').close()\n(err(os.link, '/rw/f', '/ro/f'), err(os.rename, '/rw/f', '/ro/f'))") as string[];
      assert.ok(result.every((e) => e === "EXDEV" || e === "EROFS"), String(result));
      assert.deepEqual(fs.readdirSync(roDir), []);
    } finally {
      g.kernel.dispose();
    }
  });

  test("a disposed sandbox holds no host handle on its mounts", () => {
    const dir = fs.mkdtempSync(path.join(base, "handles-"));
    const count = () => fs.readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
      } catch {
        return false;
      }
    }).length;
    const g = startGuest({ mounts: [{ hostPath: dir, guestPath: "/h", readonly: false }] });
    g.value("import os\nfor i in range(50):\n    os.makedirs('/h/a%d/b/c' % i)\n    open('/h/a%d/b/c/f' % i, 'w').close()");
    assert.ok(count() > 0 && count() <= 1 + 32 + 1, `open handles while running: ${count()}`);
    g.kernel.dispose();
    assert.equal(count(), 0);
  });
});
