// A guest tries to reach host files outside its mounts. The host layout:
//   <base>/secret                 the file the guest must never read
//   <base>/data/                  mounted read-write at /data
//     f.txt
//     abs-link -> <base>/secret   (host symlinks made before the sandbox started)
//     rel-link -> ../secret
//   <base>/ro/r.txt               <base>/ro mounted read-only at /ro
// Everything outside <base>/data must be unchanged at the end.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PY_ERR, startGuest, type Guest } from "../helpers/engine.js";
import { RIGHT, ROOT_FD, WASI_ERRNO, wasi } from "../helpers/wasi.js";

const SECRET = "TOPSECRET-7f3a";
let base: string;
let data: string;
let ro: string;
let g: Guest;
let hostBefore: Map<string, string>;

/** Every path under `dir` except the read-write mount, with its contents (or link target). */
function snapshotOutsideMount(dir: string): Map<string, string> {
  const result = new Map<string, string>();
  const walk = (current: string) => {
    for (const name of fs.readdirSync(current)) {
      const full = path.join(current, name);
      if (full === data) continue;
      const st = fs.lstatSync(full);
      if (st.isSymbolicLink()) result.set(full, `link:${fs.readlinkSync(full)}`);
      else if (st.isDirectory()) {
        result.set(full, "dir");
        walk(full);
      } else result.set(full, `file:${fs.readFileSync(full, "utf8")}:${st.mtimeMs}`);
    }
  };
  walk(dir);
  return result;
}

before(() => {
  base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "pyvisor-confine-")));
  data = path.join(base, "data");
  ro = path.join(base, "ro");
  fs.mkdirSync(data);
  fs.mkdirSync(ro);
  fs.writeFileSync(path.join(base, "secret"), SECRET);
  fs.writeFileSync(path.join(data, "f.txt"), "data-file");
  fs.writeFileSync(path.join(ro, "r.txt"), "ro-file");
  fs.symlinkSync(path.join(base, "secret"), path.join(data, "abs-link"));
  fs.symlinkSync("../secret", path.join(data, "rel-link"));
  hostBefore = snapshotOutsideMount(base);
  g = startGuest({ mounts: [{ hostPath: data, guestPath: "/data", readonly: false }, { hostPath: ro, guestPath: "/ro", readonly: true }] });
  g.value(PY_ERR + `
def read(path):
    with open(path) as f:
        return f.read()
def tries(path):
    """What reading \`path\` gives: its text, or the error's name."""
    try:
        return read(path)
    except Exception as e:
        return type(e).__name__
`);
});

after(() => {
  g.kernel.dispose();
  fs.rmSync(base, { recursive: true, force: true });
});

describe("reading outside the mount", () => {
  test("`..` from the mount climbs no higher than the sandbox root", () => {
    assert.deepEqual(g.value("sorted(os.listdir('/data/../../..'))"), ["data", "dev", "home", "ro", "tmp", "usr"]);
  });

  test("`..` from the mount cannot name the host's sibling file", () => {
    assert.equal(g.value("tries('/data/../secret')"), "FileNotFoundError");
    assert.equal(g.value("tries('/data/../../../../secret')"), "FileNotFoundError");
  });

  test("a host symlink with an absolute host target does not reach the host file", () => {
    assert.equal(g.value("tries('/data/abs-link')"), "FileNotFoundError");
  });

  test("a host symlink to ../secret does not leave the mount", () => {
    assert.equal(g.value("tries('/data/rel-link')"), "FileNotFoundError");
  });

  test("a trailing slash does not turn a file or a symlink into a way out", () => {
    assert.equal(g.value("tries('/data/f.txt/')"), "NotADirectoryError");
    assert.equal(g.value("tries('/data/abs-link/')"), "FileNotFoundError");
    assert.equal(g.value("tries('/data/rel-link/.')"), "FileNotFoundError");
  });

  test("a NUL byte in a path is refused by Python before it reaches the kernel", () => {
    assert.equal(g.value("tries('/data/f.txt\\x00/../../secret')"), "ValueError");
  });

  test("a NUL byte in a path is EINVAL at the kernel", () => {
    const w = wasi(g);
    w.save();
    try {
      const len = w.putString(w.scratch, "data/f.txt\0/../../secret");
      assert.equal(w.call("path_open", ROOT_FD, 1, w.scratch, len, 0, RIGHT.FD_READ, 0n, 0, w.scratch + 256), WASI_ERRNO.INVAL);
    } finally {
      w.restore();
    }
  });
});

describe("guest-made symlinks", () => {
  // Symlinks the guest makes in a host mount are real host symlinks, a trap for
  // every host program that reads the mount later: refused unless the mount
  // allows them, and then only with targets that stay inside the mount.
  const refused: Array<[string, string]> = [
    ["to /etc", "/etc"],
    ["to the host path of the secret", "__SECRET__"],
    ["climbing with ../../../../", "../../../../"],
    ["to a plain name in the mount", "f.txt"],
  ];
  for (const [what, target] of refused) {
    test(`a symlink ${what} in a mount that does not allow symlinks is EPERM and leaves no host link`, () => {
      const t = target === "__SECRET__" ? path.join(base, "secret") : target;
      assert.deepEqual(g.value(`(err(os.symlink, ${JSON.stringify(t)}, '/data/made-link'), os.path.lexists('/data/made-link'))`), ["EPERM", false]);
      assert.equal(fs.existsSync(path.join(data, "made-link")), false);
    });
  }

  test("writing through a sandbox symlink to /tmp writes the sandbox path, never the host path", () => {
    const name = `pyvisor-escape-${process.pid}`;
    const value = g.value(`os.symlink('/tmp', '/tmp/tmp-link')\nwith open('/tmp/tmp-link/${name}', 'w') as f: f.write('x')\n(os.readlink('/tmp/tmp-link'), read('/tmp/${name}'))`);
    assert.deepEqual(value, ["/tmp", "x"]);
    assert.equal(fs.existsSync(path.join("/tmp", name)), false, "the host's /tmp must be untouched");
  });

  test("an open directory swapped for a host symlink does not lead its fd out of the mount", () => {
    // The guest holds a directory fd; a host process replaces the directory with a
    // symlink to the host directory that holds the secret; the guest then opens
    // names relative to the old fd.
    g.value("os.mkdir('/data/swap')\ndfd = os.open('/data/swap', os.O_RDONLY | os.O_DIRECTORY)");
    fs.rmdirSync(path.join(data, "swap"));
    fs.symlinkSync(base, path.join(data, "swap"));
    try {
      const code = `
try:
    fd = os.open('secret', os.O_RDONLY, dir_fd=dfd)
    r = os.read(fd, 100).decode()
    os.close(fd)
except OSError as e:
    r = errno.errorcode.get(e.errno, e.errno)
os.close(dfd)
r`;
      assert.notEqual(g.value(code), SECRET);
    } finally {
      fs.unlinkSync(path.join(data, "swap"));
    }
  });

  test("an open directory swapped for a host symlink cannot create files outside the mount", () => {
    g.value("os.mkdir('/data/swap2')\ndfd = os.open('/data/swap2', os.O_RDONLY | os.O_DIRECTORY)");
    fs.rmdirSync(path.join(data, "swap2"));
    fs.symlinkSync(base, path.join(data, "swap2"));
    try {
      g.value("r = err(os.open, 'planted', os.O_WRONLY | os.O_CREAT, dir_fd=dfd)\nos.close(dfd)\nr");
      assert.equal(fs.existsSync(path.join(base, "planted")), false, "a file was created outside the mount");
    } finally {
      fs.unlinkSync(path.join(data, "swap2"));
    }
  });
});

describe("host file descriptors", () => {
  test("fd_renumber onto itself does not leave a dangling host fd that later reads another host file", () => {
    const w = wasi(g);
    w.save();
    let hostFd: number | undefined;
    try {
      const len = w.putString(w.scratch, "data/f.txt");
      assert.equal(w.call("path_open", ROOT_FD, 0, w.scratch, len, 0, RIGHT.FD_READ | RIGHT.FD_SEEK, 0n, 0, w.scratch + 256), 0);
      const fd = w.u32(w.scratch + 256);
      assert.equal(w.call("fd_renumber", fd, fd), 0);
      // The host process opens some unrelated file: the OS hands out the lowest free fd number.
      hostFd = fs.openSync(path.join(base, "secret"), "r");
      w.setU32(w.scratch + 512, w.scratch + 1024);
      w.setU32(w.scratch + 516, 64);
      const result = w.call("fd_read", fd, w.scratch + 512, 1, w.scratch + 520);
      const text = Buffer.from(w.get(w.scratch + 1024, result === 0 ? w.u32(w.scratch + 520) : 0)).toString();
      assert.notEqual(text, SECRET, "the guest read a host file it never opened");
      assert.equal(text, "data-file", "renumbering an fd onto itself must leave it as it was");
      w.call("fd_close", fd);
    } finally {
      if (hostFd !== undefined) fs.closeSync(hostFd);
      w.restore();
    }
  });
});

describe("the read-only mount", () => {
  const attempts: Array<[string, string]> = [
    ["opening a file for writing", "err(open, '/ro/r.txt', 'w')"],
    ["opening a file for appending", "err(open, '/ro/r.txt', 'a')"],
    ["creating a file", "err(open, '/ro/new.txt', 'w')"],
    ["truncating a file", "err(os.truncate, '/ro/r.txt', 0)"],
    ["deleting a file", "err(os.unlink, '/ro/r.txt')"],
    ["renaming a file", "err(os.rename, '/ro/r.txt', '/ro/moved.txt')"],
    ["making a directory", "err(os.mkdir, '/ro/dir')"],
    ["making a symlink", "err(os.symlink, 'r.txt', '/ro/link')"],
    ["changing times", "err(os.utime, '/ro/r.txt', (0, 0))"],
  ];
  for (const [what, code] of attempts) {
    test(`${what} in /ro is EROFS`, () => {
      assert.equal(g.value(code), "EROFS");
    });
  }

  test("the read-only host file is unchanged after the attempts", () => {
    assert.equal(fs.readFileSync(path.join(ro, "r.txt"), "utf8"), "ro-file");
    assert.deepEqual(fs.readdirSync(ro), ["r.txt"]);
  });
});

describe("crossing mounts", () => {
  test("rename from /data to /tmp is EXDEV and leaves the file in place", () => {
    assert.deepEqual(g.value("(err(os.rename, '/data/f.txt', '/tmp/f.txt'), os.path.exists('/data/f.txt'), os.path.exists('/tmp/f.txt'))"), ["EXDEV", true, false]);
  });

  test("rename from /tmp into /data is EXDEV", () => {
    assert.equal(g.value("open('/tmp/t.txt', 'w').close()\nerr(os.rename, '/tmp/t.txt', '/data/t.txt')"), "EXDEV");
  });

  test("hard link from /data to /tmp is EXDEV", () => {
    assert.equal(g.value("err(os.link, '/data/f.txt', '/tmp/f-link')"), "EXDEV");
  });

  test("hard link from /data into /ro is refused", () => {
    assert.ok(["EXDEV", "EROFS"].includes(g.value("err(os.link, '/data/f.txt', '/ro/f-link')") as string));
  });

  test("rename of a host file into the read-only mount is refused", () => {
    assert.ok(["EXDEV", "EROFS"].includes(g.value("err(os.rename, '/data/f.txt', '/ro/f.txt')") as string));
  });
});

describe("the host afterwards", () => {
  test("nothing outside the read-write mount changed on the host", () => {
    const now = snapshotOutsideMount(base);
    const changed = [...new Set([...hostBefore.keys(), ...now.keys()])].filter((key) => hostBefore.get(key) !== now.get(key));
    assert.deepEqual(changed, []);
  });
});

test("a mount inside the shared stdlib image is seen by its own sandbox only", async () => {
  const { Pool, Sandbox } = await import("../../src/api/index.js");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pyvisor-stdlib-mount-"));
  fs.writeFileSync(path.join(dir, "planted.py"), "VALUE = 'planted'\n");
  const pool = new Pool({ size: 1, isolation: "thread" });
  try {
    const withMount = await Sandbox.create({ pool, mounts: [{ host: dir, guest: "/usr/local/lib/python3.13/extra" }] });
    const without = await Sandbox.create({ pool });
    assert.equal((await withMount.run("from extra.planted import VALUE\nVALUE")).value, "planted");
    assert.equal((await without.run("import os\nos.path.exists('/usr/local/lib/python3.13/extra')")).value, false);
    assert.equal((await without.run("import json\njson.__name__")).value, "json", "the stdlib is intact");
    await withMount.dispose();
    await without.dispose();
  } finally {
    await pool.close();
  }
});
