// The syscalls, normal and error cases. Most are driven from Python (the guest's
// `os` module goes through our syscalls); the hostile cases call the kernel's
// WASI imports directly, with arguments no libc would produce.
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { loadEngine } from "../../src/engine/engine.js";
import { ProcExit } from "../../src/kernel/exit.js";
import { ERRNO_NAMES } from "../../src/shared/errno.js";
import { PY_ERR, startGuest, type Guest } from "../helpers/engine.js";
import { RIGHT, ROOT_FD, WASI_ERRNO, wasi, type WasiHarness } from "../helpers/wasi.js";

const MAX_OPEN_FILES = 24;
let g: Guest;

// PY_ERR gives `err(f, *args)`: the errno name f raised, or None.
const PRELUDE = PY_ERR + `
import stat, time
def write(path, data):
    with open(path, 'w') as f:
        f.write(data)
def read(path):
    with open(path) as f:
        return f.read()
`;

before(() => {
  g = startGuest({ maxOpenFiles: MAX_OPEN_FILES });
  g.value(PRELUDE);
});

/** Runs `code` in a fresh directory /tmp/<dir> (the working directory during the run). */
function inDir(dir: string, code: string): unknown {
  return g.value(`os.makedirs('/tmp/${dir}', exist_ok=True)\nos.chdir('/tmp/${dir}')\n${code}`);
}

describe("errno numbering", () => {
  test("kernel errno numbers are the WASI preview1 numbers (the ones wasi-libc and Python decode)", () => {
    const wrong = Object.entries(ERRNO_NAMES)
      .filter(([n, name]) => (WASI_ERRNO as Record<string, number>)[name.replace(/^E/, "")] !== Number(n))
      .map(([n, name]) => `${name}=${n} (spec: ${(WASI_ERRNO as Record<string, number>)[name.replace(/^E/, "")]})`);
    assert.deepEqual(wrong, []);
  });

  test("the guest's errno module agrees with the kernel's errno names", () => {
    const names = Object.values(ERRNO_NAMES).filter((name) => name !== "SUCCESS");
    const guest = g.value(`{n: getattr(errno, n, None) for n in ${JSON.stringify(names)}}`) as Record<string, number>;
    const kernel = Object.fromEntries(Object.entries(ERRNO_NAMES).map(([n, name]) => [name, Number(n)]));
    const wrong = names.filter((name) => guest[name] !== kernel[name]).map((name) => `${name}: kernel ${kernel[name]}, guest ${guest[name]}`);
    assert.deepEqual(wrong, []);
  });
});

describe("open, read, write, seek", () => {
  test("a written file reads back the same bytes", () => {
    assert.equal(inDir("rw", "write('f', 'hello\\nworld')\nread('f')"), "hello\nworld");
  });

  test("opening a missing file for reading is ENOENT", () => {
    assert.equal(inDir("missing", "err(open, 'nope')"), "ENOENT");
  });

  test("opening an existing file with 'w' truncates it", () => {
    assert.equal(inDir("trunc-open", "write('f', 'hello')\nwrite('f', 'x')\nread('f')"), "x");
  });

  test("append mode writes at the end whatever the position", () => {
    const code = "write('f', 'abc')\nwith open('f', 'a') as f:\n    f.seek(0)\n    f.write('def')\nread('f')";
    assert.equal(inDir("append", code), "abcdef");
  });

  test("O_APPEND on a raw fd appends every write", () => {
    const code = "write('f', 'abc')\nfd = os.open('f', os.O_WRONLY | os.O_APPEND)\nos.write(fd, b'1'); os.lseek(fd, 0, 0); os.write(fd, b'2')\nos.close(fd)\nread('f')";
    assert.equal(inDir("append-fd", code), "abc12");
  });

  test("seek and tell follow SEEK_SET, SEEK_CUR and SEEK_END", () => {
    const code = "write('f', '0123456789')\nf = open('f', 'rb')\nr = [f.seek(3), f.read(2), f.tell(), f.seek(2, 1), f.read(1), f.seek(-2, 2), f.read()]\nf.close()\nr";
    assert.deepEqual(inDir("seek", code), [3, new Uint8Array(Buffer.from("34")), 5, 7, new Uint8Array(Buffer.from("7")), 8, new Uint8Array(Buffer.from("89"))]);
  });

  test("seeking before the start of a file is EINVAL", () => {
    assert.equal(inDir("seek-neg", "write('f', 'abc')\nfd = os.open('f', os.O_RDONLY)\nr = err(os.lseek, fd, -1, os.SEEK_SET)\nos.close(fd)\nr"), "EINVAL");
  });

  test("seeking past the end and writing leaves a zero-filled hole", () => {
    const code = "fd = os.open('f', os.O_RDWR | os.O_CREAT)\nos.lseek(fd, 4, 0)\nos.write(fd, b'x')\nos.close(fd)\nopen('f', 'rb').read()";
    assert.deepEqual(inDir("hole", code), new Uint8Array([0, 0, 0, 0, 0x78]));
  });

  test("truncate shrinks and grows a file", () => {
    const code = "write('f', 'abcdef')\nos.truncate('f', 3)\na = read('f')\nwith open('f', 'r+') as f: f.truncate(5)\n(a, open('f', 'rb').read())";
    assert.deepEqual(inDir("truncate", code), ["abc", new Uint8Array([0x61, 0x62, 0x63, 0, 0])]);
  });

  test("seeking on stdin is ESPIPE", () => {
    assert.equal(g.value("err(os.lseek, 0, 0, os.SEEK_SET)"), "ESPIPE");
  });

  test("closing an fd twice is EBADF", () => {
    assert.equal(inDir("close2", "fd = os.open('f', os.O_WRONLY | os.O_CREAT)\nos.close(fd)\nerr(os.close, fd)"), "EBADF");
  });

  test("opening a directory for writing is EISDIR", () => {
    assert.equal(inDir("open-dir", "os.mkdir('d')\nerr(open, 'd', 'w')"), "EISDIR");
  });

  test("O_CREAT | O_EXCL on an existing file is EEXIST", () => {
    assert.equal(inDir("excl", "write('f', '')\nerr(os.open, 'f', os.O_WRONLY | os.O_CREAT | os.O_EXCL)"), "EEXIST");
  });
});

describe("pread and pwrite", () => {
  test("os.pwrite and os.pread use explicit offsets", () => {
    const code = "fd = os.open('f', os.O_RDWR | os.O_CREAT)\nn = os.pwrite(fd, b'hello world', 0)\nr = (n, os.pread(fd, 5, 6), os.pread(fd, 100, 11))\nos.close(fd)\nr";
    assert.deepEqual(inDir("pread", code), [11, new Uint8Array(Buffer.from("world")), new Uint8Array(0)]);
  });

  test("pread and pwrite do not move the file position", () => {
    const code = "fd = os.open('f', os.O_RDWR | os.O_CREAT)\nos.write(fd, b'abc')\nos.pwrite(fd, b'Z', 0)\nos.pread(fd, 3, 0)\npos = os.lseek(fd, 0, os.SEEK_CUR)\nos.close(fd)\n(pos, read('f'))";
    assert.deepEqual(inDir("pread-pos", code), [3, "Zbc"]);
  });

  test("pread on a pipe-like stream (stdout) is ESPIPE", () => {
    assert.equal(g.value("err(os.pread, 1, 1, 0)"), "ESPIPE");
  });
});

describe("stat, fstat, lstat", () => {
  test("stat reports a regular file's size and type", () => {
    const code = "write('f', 'abcde')\nst = os.stat('f')\n(st.st_size, stat.S_ISREG(st.st_mode))";
    assert.deepEqual(inDir("stat", code), [5, true]);
  });

  test("fstat on an open file agrees with stat", () => {
    const code = "write('f', 'abc')\nfd = os.open('f', os.O_RDONLY)\na = os.fstat(fd)\nos.close(fd)\nb = os.stat('f')\n(a.st_size == b.st_size, a.st_ino == b.st_ino)";
    assert.deepEqual(inDir("fstat", code), [true, true]);
  });

  test("stat reports a directory as a directory", () => {
    assert.equal(inDir("stat-dir", "os.mkdir('d')\nstat.S_ISDIR(os.stat('d').st_mode)"), true);
  });

  test("lstat sees a symlink, stat follows it", () => {
    const code = "write('f', 'abc')\nos.symlink('f', 'l')\n(stat.S_ISLNK(os.lstat('l').st_mode), stat.S_ISREG(os.stat('l').st_mode), os.stat('l').st_size)";
    assert.deepEqual(inDir("lstat", code), [true, true, 3]);
  });

  test("stat of a missing path is ENOENT", () => {
    assert.equal(inDir("stat-missing", "err(os.stat, 'nope')"), "ENOENT");
  });
});

describe("mkdir and rmdir", () => {
  test("mkdir creates a directory that rmdir removes", () => {
    assert.deepEqual(inDir("mkdir", "os.mkdir('d')\na = os.path.isdir('d')\nos.rmdir('d')\n(a, os.path.exists('d'))"), [true, false]);
  });

  test("mkdir of an existing directory is EEXIST", () => {
    assert.equal(inDir("mkdir-exist", "os.mkdir('d')\nerr(os.mkdir, 'd')"), "EEXIST");
  });

  test("mkdir under a missing parent is ENOENT", () => {
    assert.equal(inDir("mkdir-noent", "err(os.mkdir, 'nope/d')"), "ENOENT");
  });

  test("rmdir of a non-empty directory is ENOTEMPTY", () => {
    assert.equal(inDir("rmdir-notempty", "os.mkdir('d')\nwrite('d/f', 'x')\nerr(os.rmdir, 'd')"), "ENOTEMPTY");
  });

  test("rmdir of a missing directory is ENOENT", () => {
    assert.equal(inDir("rmdir-noent", "err(os.rmdir, 'nope')"), "ENOENT");
  });

  test("rmdir of a file is ENOTDIR", () => {
    assert.equal(inDir("rmdir-file", "write('f', '')\nerr(os.rmdir, 'f')"), "ENOTDIR");
  });
});

describe("unlink and rename", () => {
  test("unlink removes a file", () => {
    assert.equal(inDir("unlink", "write('f', '')\nos.unlink('f')\nos.path.exists('f')"), false);
  });

  test("unlink on a directory is EISDIR", () => {
    assert.equal(inDir("unlink-dir", "os.mkdir('d')\nerr(os.unlink, 'd')"), "EISDIR");
  });

  test("unlink of a missing file is ENOENT", () => {
    assert.equal(inDir("unlink-missing", "err(os.unlink, 'nope')"), "ENOENT");
  });

  test("rename over an existing file replaces it", () => {
    const code = "write('a', 'A')\nwrite('b', 'B')\nos.rename('a', 'b')\n(os.path.exists('a'), read('b'))";
    assert.deepEqual(inDir("rename-over", code), [false, "A"]);
  });

  test("rename of a directory into itself is EINVAL", () => {
    assert.equal(inDir("rename-self", "os.makedirs('d/sub')\nerr(os.rename, 'd', 'd/sub/x')"), "EINVAL");
  });

  test("rename of a directory over a non-empty directory is ENOTEMPTY", () => {
    assert.equal(inDir("rename-notempty", "os.mkdir('a')\nos.mkdir('b')\nwrite('b/f', '')\nerr(os.rename, 'a', 'b')"), "ENOTEMPTY");
  });

  test("rename of a missing file is ENOENT", () => {
    assert.equal(inDir("rename-missing", "err(os.rename, 'nope', 'x')"), "ENOENT");
  });
});

describe("symlinks and hard links", () => {
  test("readlink returns the target a symlink was made with", () => {
    assert.equal(inDir("readlink", "os.symlink('some/where', 'l')\nos.readlink('l')"), "some/where");
  });

  test("reading through a symlink reads the target", () => {
    assert.equal(inDir("symlink-read", "write('f', 'target')\nos.symlink('f', 'l')\nread('l')"), "target");
  });

  test("readlink of a regular file is EINVAL", () => {
    assert.equal(inDir("readlink-file", "write('f', '')\nerr(os.readlink, 'f')"), "EINVAL");
  });

  test("symlink over an existing name is EEXIST", () => {
    assert.equal(inDir("symlink-exist", "write('f', '')\nerr(os.symlink, 'x', 'f')"), "EEXIST");
  });

  test("a hard link shares the file's data and counts as a second link", () => {
    const code = "write('f', 'one')\nos.link('f', 'h')\nwrite('h', 'two')\n(read('f'), os.stat('f').st_nlink, os.stat('f').st_ino == os.stat('h').st_ino)";
    assert.deepEqual(inDir("hardlink", code), ["two", 2, true]);
  });

  test("a hard link survives unlinking the original name", () => {
    assert.equal(inDir("hardlink-unlink", "write('f', 'kept')\nos.link('f', 'h')\nos.unlink('f')\nread('h')"), "kept");
  });

  test("a hard link to a directory is refused", () => {
    assert.equal(inDir("hardlink-dir", "os.mkdir('d')\nerr(os.link, 'd', 'h')"), "EPERM");
  });
});

describe("directories and metadata", () => {
  test("listdir shows the files just created (order irrelevant)", () => {
    const names = inDir("listdir", "write('a', '')\nwrite('b', '')\nos.mkdir('c')\nos.symlink('a', 'd')\nos.listdir('.')") as string[];
    assert.deepEqual([...names].sort(), ["a", "b", "c", "d"]);
  });

  test("listdir of a file is ENOTDIR", () => {
    assert.equal(inDir("listdir-file", "write('f', '')\nerr(os.listdir, 'f')"), "ENOTDIR");
  });

  test("utime sets the access and modification times", () => {
    const code = "write('f', '')\nos.utime('f', (1000, 2000))\nst = os.stat('f')\n(st.st_atime, st.st_mtime)";
    assert.deepEqual(inDir("utime", code), [1000, 2000]);
  });

  test("utime with nanoseconds keeps them", () => {
    const code = "write('f', '')\nos.utime('f', ns=(1_000_000_001, 2_000_000_002))\nst = os.stat('f')\n(st.st_atime_ns, st.st_mtime_ns)";
    assert.deepEqual(inDir("utime-ns", code), [1_000_000_001, 2_000_000_002]);
  });

  test("writing a file updates its modification time", () => {
    const code = "write('f', '')\nos.utime('f', (0, 0))\nwrite('f', 'x')\nos.stat('f').st_mtime > 1e9";
    assert.equal(inDir("mtime", code), true);
  });
});

describe("clocks, randomness, sleep", () => {
  test("os.urandom returns exactly the requested number of bytes, different each time", () => {
    assert.deepEqual(g.value("a = os.urandom(1000)\nb = os.urandom(1000)\n(len(a), len(os.urandom(0)), a != b)"), [1000, 0, true]);
  });

  test("time.time() is the host's wall clock", () => {
    const guest = g.value("time.time()") as number;
    assert.ok(Math.abs(guest - Date.now() / 1000) < 5, `guest time ${guest}, host ${Date.now() / 1000}`);
  });

  test("time.monotonic() never goes backwards", () => {
    assert.equal(g.value("t = [time.monotonic() for _ in range(1000)]\nall(a <= b for a, b in zip(t, t[1:]))"), true);
  });

  test("time.sleep(0.05) really sleeps about 50 ms", () => {
    const start = performance.now();
    const guestSeconds = g.value("t = time.monotonic()\ntime.sleep(0.05)\ntime.monotonic() - t") as number;
    const hostMs = performance.now() - start;
    assert.ok(guestSeconds >= 0.045 && guestSeconds < 0.5, `guest measured ${guestSeconds} s`);
    assert.ok(hostMs >= 45, `host measured ${hostMs} ms`);
  });
});

describe("resource and permission errors", () => {
  test("opening more than maxOpenFiles files is EMFILE, and closing them recovers", () => {
    const code = `
files = []
try:
    while len(files) < 1000:
        files.append(open('/tmp/emfile', 'w'))
    failed = None
except OSError as e:
    failed = errno.errorcode.get(e.errno, e.errno)
opened = len(files)
for f in files:
    f.close()
(failed, opened, read('/tmp/emfile'))`;
    const [failed, opened, after] = g.value(code) as [string, number, string];
    assert.equal(failed, "EMFILE");
    assert.ok(opened > 0 && opened < MAX_OPEN_FILES, `opened ${opened}`);
    assert.equal(after, "");
  });

  test("creating a file in the read-only stdlib is EROFS", () => {
    assert.equal(g.value("err(open, '/usr/local/lib/python3.13/new.py', 'w')"), "EROFS");
  });

  test("opening a stdlib file for writing is EROFS (and leaves it intact)", () => {
    const [error, size] = g.value("e = err(open, os.__file__, 'w')\n(e, os.stat(os.__file__).st_size)") as [string, number];
    assert.equal(error, "EROFS");
    assert.ok(size > 10_000);
  });

  test("mkdir in the read-only skeleton is EROFS", () => {
    assert.equal(g.value("err(os.mkdir, '/usr/evil')"), "EROFS");
  });

  test("creating a socket fails with OSError", () => {
    assert.equal(g.value("import socket\ntry:\n    socket.socket()\n    r = None\nexcept OSError as e:\n    r = type(e).__name__\nr"), "OSError");
  });
});

describe("hostile arguments at the WASI boundary", () => {
  let w: WasiHarness;
  const OOB = 0xfffffff0 | 0; // as the engine passes it: a signed i32

  before(() => {
    w = wasi(g);
  });
  beforeEach(() => w.save());
  afterEach(() => w.restore());
  after(() => {
    assert.equal(g.value("1+1"), 2, "the interpreter must still run after the hostile calls");
  });

  /** Puts a path in scratch memory and returns [ptr, len]. */
  const path = (text: string | Uint8Array): [number, number] => {
    if (typeof text === "string") return [w.scratch, w.putString(w.scratch, text)];
    w.put(w.scratch, text);
    return [w.scratch, text.length];
  };

  test("an out-of-bounds result pointer is EFAULT", () => {
    assert.equal(w.call("fd_fdstat_get", 1, OOB), WASI_ERRNO.FAULT);
    assert.equal(w.call("clock_time_get", 0, 0n, OOB), WASI_ERRNO.FAULT);
    assert.equal(w.call("args_sizes_get", OOB, OOB), WASI_ERRNO.FAULT);
    assert.equal(w.call("environ_get", OOB, OOB), WASI_ERRNO.FAULT);
  });

  test("a pointer whose struct straddles the end of memory is EFAULT", () => {
    assert.equal(w.call("clock_time_get", 0, 0n, w.memorySize() - 4), WASI_ERRNO.FAULT);
    assert.equal(w.call("fd_filestat_get", 1, w.memorySize() - 32), WASI_ERRNO.FAULT);
  });

  test("an out-of-bounds iovec array is EFAULT", () => {
    assert.equal(w.call("fd_write", 1, OOB, 1, w.scratch), WASI_ERRNO.FAULT);
  });

  test("an iovec whose buffer lies outside memory is EFAULT", () => {
    w.setU32(w.scratch, OOB >>> 0);
    w.setU32(w.scratch + 4, 64);
    assert.equal(w.call("fd_write", 1, w.scratch, 1, w.scratch + 16), WASI_ERRNO.FAULT);
    assert.equal(w.call("fd_read", 0, w.scratch, 1, w.scratch + 16), WASI_ERRNO.FAULT);
  });

  test("an unknown fd is EBADF", () => {
    w.setU32(w.scratch, w.scratch + 64);
    w.setU32(w.scratch + 4, 8);
    assert.equal(w.call("fd_read", 9999, w.scratch, 1, w.scratch + 16), WASI_ERRNO.BADF);
    assert.equal(w.call("fd_write", 9999, w.scratch, 1, w.scratch + 16), WASI_ERRNO.BADF);
    assert.equal(w.call("fd_close", 9999), WASI_ERRNO.BADF);
    assert.equal(w.call("fd_seek", 9999, 0n, 0, w.scratch), WASI_ERRNO.BADF);
    assert.equal(w.call("fd_fdstat_get", -1, w.scratch), WASI_ERRNO.BADF);
    const [p, n] = path("tmp");
    assert.equal(w.call("path_filestat_get", 9999, 0, p, n, w.scratch + 256), WASI_ERRNO.BADF);
  });

  test("a huge iovec count is refused at once, without reading the array", () => {
    const start = performance.now();
    const result = w.call("fd_write", 1, w.scratch, 0x7fffffff, w.scratch + 16);
    assert.ok(result === WASI_ERRNO.FAULT || result === WASI_ERRNO.INVAL, `got ${result}`);
    assert.ok(performance.now() - start < 50);
  });

  test("negative lengths (as i32) are refused", () => {
    assert.equal(w.call("fd_write", 1, w.scratch, -1, w.scratch + 16), WASI_ERRNO.FAULT);
    assert.equal(w.call("random_get", w.scratch, -1), WASI_ERRNO.INVAL);
    assert.equal(w.call("path_open", ROOT_FD, 0, w.scratch, -1, 0, RIGHT.FD_READ, 0n, 0, w.scratch + 256), WASI_ERRNO.FAULT);
    w.setU32(w.scratch, w.scratch + 64);
    w.setU32(w.scratch + 4, 0xffffffff);
    assert.equal(w.call("fd_read", 0, w.scratch, 1, w.scratch + 16), WASI_ERRNO.FAULT);
  });

  test("a path or symlink target longer than 4096 bytes is ENAMETOOLONG before it is decoded", () => {
    const long = w.scratch + 1024;
    w.put(long, new Uint8Array(8192).fill(0x61));
    assert.equal(w.call("path_filestat_get", ROOT_FD, 0, long, 8192, w.scratch + 256), WASI_ERRNO.NAMETOOLONG);
    const [p, n] = path("tmp/link");
    assert.equal(w.call("path_symlink", long, 8192, ROOT_FD, p, n), WASI_ERRNO.NAMETOOLONG);
    // Bounds come first: a length past the end of memory is still EFAULT.
    assert.equal(w.call("path_symlink", long, 0x7fffffff, ROOT_FD, p, n), WASI_ERRNO.FAULT);
  });

  test("path_open refuses unknown lookup, open and fd flags", () => {
    const [p, n] = path("tmp");
    assert.equal(w.call("path_open", ROOT_FD, 2, p, n, 0, RIGHT.FD_READ, 0n, 0, w.scratch + 256), WASI_ERRNO.INVAL);
    assert.equal(w.call("path_open", ROOT_FD, 0, p, n, 16, RIGHT.FD_READ, 0n, 0, w.scratch + 256), WASI_ERRNO.INVAL);
    assert.equal(w.call("path_open", ROOT_FD, 0, p, n, 0, RIGHT.FD_READ, 0n, 32, w.scratch + 256), WASI_ERRNO.INVAL);
  });

  test("a path that is not valid UTF-8 is EILSEQ", () => {
    const [p, n] = path(new Uint8Array([0x74, 0x6d, 0xff, 0xfe]));
    assert.equal(w.call("path_filestat_get", ROOT_FD, 0, p, n, w.scratch + 256), WASI_ERRNO.ILSEQ);
    assert.equal(w.call("path_open", ROOT_FD, 0, p, n, 0, RIGHT.FD_READ, 0n, 0, w.scratch + 256), WASI_ERRNO.ILSEQ);
  });

  test("a path with a NUL byte is EINVAL", () => {
    const [p, n] = path("tmp\0/../usr");
    assert.equal(w.call("path_filestat_get", ROOT_FD, 0, p, n, w.scratch + 256), WASI_ERRNO.INVAL);
  });

  test("poll_oneoff with no subscriptions is EINVAL", () => {
    assert.equal(w.call("poll_oneoff", w.scratch, w.scratch + 1024, 0, w.scratch + 2048), WASI_ERRNO.INVAL);
  });

  test("poll_oneoff with a huge subscription count is refused", () => {
    const result = w.call("poll_oneoff", w.scratch, w.scratch + 1024, -1, w.scratch + 2048);
    assert.ok(result === WASI_ERRNO.INVAL || result === WASI_ERRNO.FAULT, `got ${result}`);
  });

  test("random_get with a huge length is EINVAL", () => {
    assert.equal(w.call("random_get", 0, 0x7fffffff), WASI_ERRNO.INVAL);
  });

  test("an unknown clock id is EINVAL", () => {
    assert.equal(w.call("clock_time_get", 99, 0n, w.scratch), WASI_ERRNO.INVAL);
  });

  test("a negative 64-bit seek offset is EINVAL, not a wrapped position", () => {
    const [p, n] = path("tmp/seek64");
    assert.equal(w.call("path_open", ROOT_FD, 0, p, n, 1 /* CREAT */, RIGHT.FD_READ | RIGHT.FD_SEEK, 0n, 0, w.scratch + 256), 0);
    const fd = w.u32(w.scratch + 256);
    assert.equal(w.call("fd_seek", fd, -(2n ** 63n), 0, w.scratch + 512), WASI_ERRNO.INVAL);
    assert.equal(w.call("fd_seek", fd, 2n ** 63n - 1n, 0, w.scratch + 512), WASI_ERRNO.INVAL);
    assert.equal(w.call("fd_close", fd), 0);
  });

  test("proc_exit unwinds with ProcExit instead of returning", () => {
    assert.throws(() => w.call("proc_exit", 3), (error: unknown) => error instanceof ProcExit && error.code === 3);
  });
});

describe("the WASI import table", () => {
  test("the kernel provides every WASI function the engine imports", () => {
    const needed = WebAssembly.Module.imports(loadEngine().module)
      .filter((i) => i.module === "wasi_snapshot_preview1" && i.kind === "function").map((i) => i.name);
    const provided = Object.keys(g.kernel.imports().wasi_snapshot_preview1 as object);
    assert.deepEqual(needed.filter((name) => !provided.includes(name)), []);
  });
});

// Argument shapes of every WASI preview1 function, one letter per argument group:
//   i  an i32 (a JS number)          I  an i64 (a BigInt)
//   f  an fd (an i32)                R  a rights mask (an i64)
//   P  a path: pointer and length    V  an iovec array: pointer and count
//   F  a flags word (mostly small, valid values; sometimes any i32)
const SIGNATURES: Record<string, string> = {
  args_get: "ii", args_sizes_get: "ii", environ_get: "ii", environ_sizes_get: "ii",
  clock_res_get: "ii", clock_time_get: "iIi",
  fd_advise: "fIIi", fd_allocate: "fII", fd_close: "f", fd_datasync: "f", fd_fdstat_get: "fi",
  fd_fdstat_set_flags: "fi", fd_fdstat_set_rights: "fRR", fd_filestat_get: "fi", fd_filestat_set_size: "fI",
  fd_filestat_set_times: "fIIi", fd_pread: "fVIi", fd_prestat_get: "fi", fd_prestat_dir_name: "fii",
  fd_pwrite: "fVIi", fd_read: "fVi", fd_readdir: "fiiIi", fd_renumber: "ff", fd_seek: "fIii",
  fd_sync: "f", fd_tell: "fi", fd_write: "fVi",
  path_create_directory: "fP", path_filestat_get: "fiPi", path_filestat_set_times: "fiPIIi",
  path_link: "fiPfP", path_open: "fFPFRRFi", path_readlink: "fPiii", path_remove_directory: "fP",
  path_rename: "fPfP", path_symlink: "PfP", path_unlink_file: "fP",
  poll_oneoff: "iiii", proc_exit: "i", proc_raise: "i", sched_yield: "", random_get: "ii",
  sock_accept: "fii", sock_recv: "fViii", sock_send: "fVii", sock_shutdown: "fi",
};

/** Deterministic PRNG (mulberry32), so a failing fuzz case can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FUZZ_PATHS = ["tmp", "tmp/fuzz", "tmp/fuzz/a", "tmp/fuzz/b/", "tmp/fuzz/../fuzz/c", "dev/zero", "dev/pyvisor", "dev/null",
  "usr/local/lib/python3.13/os.py", "usr", ".", "..", "/", "tmp/fuzz/link", "home/user/x", "", "a\0b", "\xff"];

describe("fuzzing the WASI boundary", () => {
  test("2000 random calls of every WASI function return an errno and never throw", () => {
    const w = wasi(g);
    const random = mulberry32(0x5eed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const size = w.memorySize();
    // Scratch layout: paths at +0, an iovec array at +4096 pointing at buffers from +8192, random bytes from +16384.
    const pathSlots: Array<[number, number]> = [];
    const IOVS = w.scratch + 4096;
    const layOut = () => {
      pathSlots.length = 0;
      let at = w.scratch;
      for (const p of FUZZ_PATHS) {
        const n = w.putString(at, p);
        pathSlots.push([at, n]);
        at += n + 8;
      }
      for (let i = 0; i < 4; i++) {
        w.setU32(IOVS + i * 8, w.scratch + 8192 + i * 1024);
        w.setU32(IOVS + i * 8 + 4, Math.floor(random() * 1024));
      }
      const noise = new Uint8Array(60_000 - 16384);
      for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(random() * 256);
      w.put(w.scratch + 16384, noise);
    };
    const i32 = (): number => {
      const r = random();
      if (r < 0.3) return (random() * 2 ** 32) | 0;
      if (r < 0.5) return pick([0, 1, -1, 2, 3, 4, 0x7fffffff, -0x80000000, 0xfffffff0 | 0, size - 1, size - 4, size, size + 8]);
      if (r < 0.7) return Math.floor(random() * 70);
      return w.scratch + Math.floor(random() * 60_000);
    };
    const i64 = (): bigint => {
      const r = random();
      if (r < 0.4) return BigInt.asIntN(64, (BigInt(Math.floor(random() * 2 ** 32)) << 32n) | BigInt(Math.floor(random() * 2 ** 32)));
      if (r < 0.7) return pick([0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 31n, 2n ** 32n]);
      return BigInt(Math.floor(random() * 1000));
    };
    const arg: Record<string, () => Array<number | bigint>> = {
      i: () => [i32()],
      I: () => [i64()],
      f: () => [random() < 0.7 ? pick([0, 1, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9]) : i32()],
      F: () => [random() < 0.8 ? Math.floor(random() * 2) : i32()],
      R: () => [random() < 0.5 ? (1n << 30n) - 1n : i64()],
      P: () => (random() < 0.7 ? [...pick(pathSlots)] : [i32(), i32()]),
      V: () => (random() < 0.7 ? [IOVS, 1 + Math.floor(random() * 4)] : [i32(), i32()]),
    };
    // fds 0-3 are the driver's stdio and the preopened root: a guest that closes or
    // narrows them breaks itself, which is allowed but would stop the check below.
    const touchesOwnFds = (name: string, args: Array<number | bigint>) =>
      ["fd_close", "fd_renumber", "fd_fdstat_set_rights"].includes(name) && args.slice(0, 2).some((a) => typeof a === "number" && a >= 0 && a <= 3);

    const names = Object.keys(w.fns).filter((name) => name !== "proc_exit");
    assert.deepEqual(names.filter((name) => SIGNATURES[name] === undefined), [], "every import needs a signature");
    // Sleeps in poll_oneoff are bounded by the run's deadline: make it "now" so the fuzz never waits.
    g.kernel.beginRun(new Uint8Array(), { wallDeadlineMs: performance.now(), cpuBudgetMs: Infinity, tickBudget: Infinity, outputLimitBytes: 1e6 });
    w.save();
    const failures: string[] = [];
    const succeeded = new Set<string>();
    try {
      for (let round = 0; round < 2000 && failures.length < 10; round++) {
        layOut();
        for (const name of names) {
          const args = [...SIGNATURES[name]!].flatMap((type) => arg[type]!());
          if (touchesOwnFds(name, args)) continue;
          try {
            const result = w.call(name, ...args);
            if (typeof result !== "number" || !Number.isInteger(result) || result < 0 || result > 76) failures.push(`${name}(${args.join(", ")}) returned ${String(result)}`);
            if (result === 0) succeeded.add(name);
          } catch (error) {
            failures.push(`${name}(${args.join(", ")}) threw ${String(error)}`);
          }
        }
      }
    } finally {
      w.restore();
      // Close whatever the fuzz opened, as a guest would before it goes on.
      for (let fd = 4; fd < 1000; fd++) w.call("fd_close", fd);
    }
    assert.deepEqual(failures, []);
    // The fuzz must get past argument checking, or it tests nothing.
    for (const name of ["path_open", "fd_read", "fd_write", "fd_filestat_get", "path_create_directory", "fd_readdir"]) assert.ok(succeeded.has(name), `${name} never succeeded`);
    assert.equal(g.value("1+1"), 2);
  });
});
