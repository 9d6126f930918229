// Kernel fuzzer: every WASI preview1 syscall, called the way the engine calls
// it (i32 as signed numbers, i64 as BigInt) with hostile arguments: pointers
// in, at the edge of and past guest memory, huge lengths, bad and real fds,
// random flags and rights, random path bytes (`..`, NUL, invalid UTF-8, long
// names) over a sandbox with a read-write and a read-only host mount.
// Each call must return an errno number, never throw (only proc_exit unwinds)
// and never fail with an unexpected host exception (which the kernel's guard
// would hide as EIO); afterwards the VFS is consistent (no cycles, valid names,
// quotas within their limits, fds within maxOpenFiles), the host outside the
// mount is unchanged, and the interpreter still runs Python on a tree it can walk.
//   PYVISOR_FUZZ_LONG=1 (npm run fuzz) for minutes instead of seconds, PYVISOR_FUZZ_MS=n
//   for exactly n ms; PYVISOR_FUZZ_SEED=n to replay a failure.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ProcExit } from "../../src/kernel/exit.js";
import { fdSyscalls } from "../../src/kernel/syscalls-fd.js";
import { pathSyscalls } from "../../src/kernel/syscalls-path.js";
import { processSyscalls } from "../../src/kernel/syscalls-process.js";
import { GuestFault, InvalidUtf8, PathTooLong } from "../../src/kernel/memory.js";
import { VfsError, type VNode } from "../../src/vfs/node.js";
import { MemDir } from "../../src/vfs/memory.js";
import type { Guest } from "../helpers/engine.js";
import { wasi, type WasiHarness } from "../helpers/wasi.js";
import { assertGuestHealthy, changedPaths, freshGuest, fuzzBudget, prng, snapshotTree, tempDir } from "./helpers.js";

/** Parameter types of each WASI preview1 import: i = i32, I = i64 (from the witx spec). */
const SIGNATURES: Record<string, string> = {
  args_get: "ii", args_sizes_get: "ii", environ_get: "ii", environ_sizes_get: "ii",
  clock_res_get: "ii", clock_time_get: "iIi",
  fd_advise: "iIIi", fd_allocate: "iII", fd_close: "i", fd_datasync: "i",
  fd_fdstat_get: "ii", fd_fdstat_set_flags: "ii", fd_fdstat_set_rights: "iII",
  fd_filestat_get: "ii", fd_filestat_set_size: "iI", fd_filestat_set_times: "iIIi",
  fd_pread: "iiiIi", fd_prestat_get: "ii", fd_prestat_dir_name: "iii",
  fd_pwrite: "iiiIi", fd_read: "iiii", fd_readdir: "iiiIi", fd_renumber: "ii",
  fd_seek: "iIii", fd_sync: "i", fd_tell: "ii", fd_write: "iiii",
  path_create_directory: "iii", path_filestat_get: "iiiii", path_filestat_set_times: "iiiiIIi",
  path_link: "iiiiiii", path_open: "iiiiiIIii", path_readlink: "iiiiii",
  path_remove_directory: "iii", path_rename: "iiiiii", path_symlink: "iiiii", path_unlink_file: "iii",
  poll_oneoff: "iiii", proc_exit: "i", proc_raise: "i", sched_yield: "", random_get: "ii",
  sock_accept: "iii", sock_recv: "iiiiii", sock_send: "iiiii", sock_shutdown: "ii",
};

/** Positions (per syscall) of a path pointer followed by its length. */
const PATH_ARGS: Record<string, number[]> = {
  path_create_directory: [1], path_filestat_get: [2], path_filestat_set_times: [2], path_link: [2, 5],
  path_open: [2], path_readlink: [1], path_remove_directory: [1], path_rename: [1, 4], path_symlink: [0, 3],
  path_unlink_file: [1], fd_prestat_dir_name: [1],
};

/** Positions of an iovec array pointer followed by its count. */
const IOVEC_ARGS: Record<string, number> = { fd_read: 1, fd_write: 1, fd_pread: 1, fd_pwrite: 1, sock_recv: 1, sock_send: 1 };

/** Exceptions a syscall may raise on hostile input (the guard turns them into errnos); anything else is a bug. */
const EXPECTED_EXCEPTIONS = [VfsError, GuestFault, InvalidUtf8, PathTooLong, RangeError];

const PATH_TOKENS = ["..", ".", "", "tmp", "data", "ro", "usr", "dev", "pyvisor", "home", "user", "f.txt", "x", "\0", "\u00e9", "\uff0e\uff0e", "a".repeat(300), "lib", "python3.13", "os.py"];
const base = tempDir("fuzz-kernel");
const mountDir = path.join(base, "mount");
const roDir = path.join(base, "ro");
const MAX_OPEN_FILES = 32;
const DISK_QUOTA = 4 * 1024 * 1024;
const INODE_QUOTA = 200;
let g: Guest;
let w: WasiHarness;

before(() => {
  fs.mkdirSync(mountDir);
  fs.mkdirSync(roDir);
  fs.writeFileSync(path.join(base, "sentinel"), "outside the mount");
  fs.writeFileSync(path.join(mountDir, "f.txt"), "mounted");
  fs.mkdirSync(path.join(mountDir, "sub"));
  fs.writeFileSync(path.join(roDir, "f.txt"), "read-only");
  g = freshGuest({
    deterministic: true, maxOpenFiles: MAX_OPEN_FILES, diskQuotaBytes: DISK_QUOTA, inodeQuota: INODE_QUOTA,
    mounts: [{ hostPath: mountDir, guestPath: "/data", readonly: false }, { hostPath: roDir, guestPath: "/ro", readonly: true }],
  });
  w = wasi(g);
});
after(() => g.kernel.dispose());

/** Host tree outside the read-write mount. */
function outsideMount(): Map<string, string> {
  const all = snapshotTree(base);
  for (const key of [...all.keys()]) if (key === mountDir || key.startsWith(mountDir + path.sep)) all.delete(key);
  return all;
}

class ArgMaker {
  constructor(private readonly random: () => number, private readonly memorySize: number, private readonly scratch: number) {}
  int(n: number): number {
    return Math.floor(this.random() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  i32(): number {
    const m = this.memorySize;
    return this.pick<() => number>([
      () => this.int(12), () => this.int(MAX_OPEN_FILES + 4), () => -1, () => -(2 ** 31), () => 2 ** 31 - 1,
      () => this.scratch + this.int(60_000), () => m - this.int(8), () => m, () => m + this.int(1 << 20),
      () => this.int(m), () => (this.int(2 ** 32) | 0), () => 1 << this.int(31),
    ])();
  }
  i64(): bigint {
    return this.pick<() => bigint>([
      () => 0n, () => BigInt(this.int(100)), () => -1n, () => (1n << 63n) - 1n, () => -(1n << 63n),
      () => BigInt.asIntN(64, BigInt(this.int(2 ** 32)) << 32n | BigInt(this.int(2 ** 32))), () => 1n << BigInt(this.int(63)),
    ])();
  }
  pathBytes(): Uint8Array {
    if (this.random() < 0.1) return Uint8Array.from({ length: this.int(64) }, () => this.int(256));
    const parts = Array.from({ length: 1 + this.int(6) }, () => this.pick(PATH_TOKENS));
    return Buffer.from((this.random() < 0.3 ? "/" : "") + parts.join("/") + (this.random() < 0.2 ? "/" : ""), "utf8");
  }
}

/** Builds one hostile argument list for `name`, writing paths and iovecs into the scratch area. */
function argumentsFor(name: string, make: ArgMaker): Array<number | bigint> {
  const args: Array<number | bigint> = [...SIGNATURES[name]!].map((t) => (t === "I" ? make.i64() : make.i32()));
  let cursor = w.scratch + 4096;
  for (const at of PATH_ARGS[name] ?? []) {
    if (make.int(10) < 8) {
      const bytes = make.pathBytes();
      w.put(cursor, bytes);
      args[at] = cursor;
      args[at + 1] = make.int(10) < 9 ? bytes.length : make.i32();
      cursor += 512;
    }
  }
  const iovAt = IOVEC_ARGS[name];
  if (iovAt !== undefined && make.int(10) < 8) {
    const count = 1 + make.int(4);
    for (let i = 0; i < count; i++) {
      w.setU32(cursor + 8 * i, make.int(10) < 8 ? w.scratch + 16_384 + make.int(32_768) : make.i32() >>> 0);
      w.setU32(cursor + 8 * i + 4, make.int(10) < 8 ? make.int(4096) : make.i32() >>> 0);
    }
    args[iovAt] = cursor;
    args[iovAt + 1] = make.int(10) < 9 ? count : make.i32();
  }
  if (name === "fd_fdstat_set_rights" || name === "path_open") {
    // Real fds more often, so that calls get past the fd lookup.
    args[0] = make.int(10) < 7 ? 3 + make.int(4) : args[0]!;
  }
  return args;
}

/**
 * No directory is its own ancestor (no cycles; a read-only directory shown at
 * two places, as the image's tz data at /usr/share/zoneinfo, is not one), and
 * every name is a valid single component.
 */
function assertTreeConsistent(): void {
  const ancestors = new Set<VNode>();
  const walk = (dir: MemDir, where: string) => {
    assert.ok(!ancestors.has(dir), `directory cycle at ${where}`);
    ancestors.add(dir);
    for (const [name, child] of dir.entries()) {
      assert.ok(name !== "" && name !== "." && name !== ".." && !name.includes("/") && !name.includes("\0"), `bad name ${JSON.stringify(name)} in ${where}`);
      if (child instanceof MemDir) walk(child, `${where}/${name}`);
    }
    ancestors.delete(dir);
  };
  walk(g.kernel.tree.root, "");
  const quota = g.kernel.tree.quota;
  assert.ok(quota.bytesUsed >= 0 && quota.bytesUsed <= DISK_QUOTA, `bytes used ${quota.bytesUsed}`);
  assert.ok(quota.inodesUsed >= 0 && quota.inodesUsed <= INODE_QUOTA, `inodes used ${quota.inodesUsed}`);
  assert.ok(g.kernel.fds.size <= MAX_OPEN_FILES, `open fds ${g.kernel.fds.size}`);
}

test("every syscall with hostile arguments returns an errno and leaves the VFS consistent", () => {
  const { ms, seed, long } = fuzzBudget(3_000, 5 * 60_000);
  const random = prng(seed);
  const outsideBefore = outsideMount();
  const raw = { ...fdSyscalls(g.kernel), ...pathSyscalls(g.kernel), ...processSyscalls(g.kernel) } as Record<string, (...args: Array<number | bigint>) => number>;
  const names = Object.keys(SIGNATURES).filter((name) => name in w.fns);
  assert.deepEqual(Object.keys(w.fns).filter((name) => !(name in SIGNATURES)), [], "a syscall without a signature here");
  const make = new ArgMaker(random, w.memorySize(), w.scratch);
  const calls = new Map<string, number>();
  let iterations = 0;
  let succeeded = 0;
  w.save();
  try {
    g.kernel.beginRun(new Uint8Array(), { wallDeadlineMs: performance.now() + ms + 60_000, cpuBudgetMs: Infinity, tickBudget: Infinity, outputLimitBytes: 1 << 20 });
    const end = performance.now() + ms;
    while (performance.now() < end) {
      for (let batch = 0; batch < 50; batch++) {
        const name = names[make.int(names.length)]!;
        const args = argumentsFor(name, make);
        const replay = `${name}(${args.map(String).join(", ")}) [seed ${seed}, iteration ${iterations}]`;
        let result: number;
        try {
          result = w.call(name, ...args);
        } catch (error) {
          assert.ok(name === "proc_exit" && error instanceof ProcExit, `${replay} threw ${String(error)}`);
          result = 0;
        }
        assert.ok(Number.isInteger(result) && result >= 0 && result <= 76, `${replay} returned ${String(result)}`);
        if (result === 29 /* EIO */) {
          // The guard hides unexpected exceptions as EIO: call the raw syscall again to see which it was.
          try {
            raw[name]!(...args);
          } catch (error) {
            assert.ok(EXPECTED_EXCEPTIONS.some((kind) => error instanceof kind) || error instanceof ProcExit, `${replay} failed with an unexpected ${String(error)}\n${(error as Error).stack}`);
          }
        }
        if (result === 0) succeeded++;
        calls.set(name, (calls.get(name) ?? 0) + 1);
        iterations++;
      }
      assertTreeConsistent();
    }
  } finally {
    w.restore();
    g.kernel.resetFds();
  }
  console.log(`kernel fuzz: ${iterations} syscalls (${calls.size} kinds, ${succeeded} succeeded) in ${ms} ms${long ? " (long run)" : ""}, seed ${seed} (replay: PYVISOR_FUZZ_SEED=${seed})`);
  assert.equal(calls.size, names.length, "every syscall was called");
  assert.deepEqual(changedPaths(outsideBefore, outsideMount()), [], "the host outside the mount changed");
  assert.equal(fs.readFileSync(path.join(base, "sentinel"), "utf8"), "outside the mount");
  assertGuestHealthy(g);
  const walked = g.value("import os\nsum(len(files) + len(dirs) for _, dirs, files in os.walk('/tmp')) >= 0 and sorted(os.listdir('/'))");
  assert.deepEqual(walked, ["data", "dev", "home", "ro", "tmp", "usr"]);
});
