// The driver's channel is out of the program's reach: closing, overwriting or
// renumbering every fd a program can name leaves its run going, its result
// delivered and host functions working, and the next run works (stdio and
// files included). Each test shows the run's result and a working next run.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { RunResult, Sandbox } from "../../src/api/index.js";
import { CHANNEL_FD } from "../../src/kernel/fds.js";
import { startGuest } from "../helpers/engine.js";
import { encodeValue } from "../../src/shared/codec.js";
import { attackSandbox, sharedPool } from "./helpers.js";

const threads = sharedPool(1, "thread");

async function channelSandbox(): Promise<Sandbox> {
  return attackSandbox(threads(), { hostGlobals: true, functions: { double: (x: number) => x * 2 } });
}

/** The run's own result came back, with no error. */
function assertDelivered(result: RunResult, value: unknown): void {
  assert.equal(result.error, null, JSON.stringify(result.error));
  assert.equal(result.stats.reset, false);
  assert.deepEqual(result.value, value);
}

/** The next run prints, reads and writes files, and calls a host function. */
async function assertNextRunWorks(sb: Sandbox): Promise<void> {
  const next = await sb.run("print('still here')\nwrite('/tmp/next', 'ok')\n[read('/tmp/next'), double(4)]");
  assert.equal(next.error, null, JSON.stringify(next.error));
  assert.equal(next.stdout, "still here\n");
  assert.deepEqual(next.value, ["ok", 8]);
}

test("os.closerange(3, 65536) leaves the run going, its result delivered and host functions working", async () => {
  await using sb = await channelSandbox();
  const result = await sb.run("os.closerange(3, 65536)\nwrite('/tmp/after', 'x')\n[double(21), read('/tmp/after')]");
  assertDelivered(result, [42, "x"]);
  await assertNextRunWorks(sb);
});

test("closing every fd from 0 to 1023 leaves the run going, its result delivered and host functions working", async () => {
  await using sb = await channelSandbox();
  const result = await sb.run("closed = [fd for fd in range(1024) if err(os.close, fd) is None]\n[closed, double(5)]");
  assertDelivered(result, [[0, 1, 2], 10]);
  await assertNextRunWorks(sb);
});

test("writing garbage to every fd from 0 to 1023 leaves the run going, its result delivered and host functions working", async () => {
  await using sb = await channelSandbox();
  const code = "fd = os.open('/tmp/g', os.O_RDWR | os.O_CREAT)\n"
    + "for n in range(1024): err(os.write, n, b'\\x00\\xff garbage \\x01C')\n[double(6), fd]";
  const result = await sb.run(code);
  assert.equal(result.error, null, JSON.stringify(result.error));
  assert.equal((result.value as number[])[0], 12);
  await assertNextRunWorks(sb);
});

test("closing the fds of a run one by one, in the order a program might (stdio last), still delivers the result", async () => {
  await using sb = await channelSandbox();
  const result = await sb.run("for fd in list(range(3, 1024)) + [2, 1, 0]: err(os.close, fd)\ndouble(7)");
  assertDelivered(result, 14);
  await assertNextRunWorks(sb);
});

test("the channel fd itself cannot be closed or stat'ed, and closing it does not end the run", async () => {
  await using sb = await channelSandbox();
  const result = await sb.run(`[err(os.close, ${CHANNEL_FD}), err(os.fstat, ${CHANNEL_FD}), double(1)]`);
  assertDelivered(result, ["EBADF", "EBADF", 2]);
  await assertNextRunWorks(sb);
});

test("the channel is no longer a file: /dev/pyvisor does not exist", async () => {
  await using sb = await channelSandbox();
  assertDelivered(await sb.run("[err(os.open, '/dev/pyvisor', os.O_RDWR), sorted(os.listdir('/dev'))]"), ["ENOENT", ["null", "random", "urandom", "zero"]]);
});

test("the root preopen (fd 3) is not the program's to close: path lookups keep working after os.close(3)", async () => {
  await using sb = await channelSandbox();
  const result = await sb.run("[err(os.close, 3), os.listdir('/dev'), double(3)]");
  assertDelivered(result, ["EBADF", ["null", "random", "urandom", "zero"], 6]);
});

test("renumbering (WASI's dup2) a file onto every low fd mid-run leaves the run going and the channel untouched", () => {
  // CPython's WASI build has no os.dup2: the program's dup2 is fd_renumber, made here from a host call mid-run.
  const errnos: number[] = [];
  const guest = startGuest({
    functions: { dup2: (kernel, args) => {
      const fdRenumber = kernel.imports().wasi_snapshot_preview1!.fd_renumber as (from: number, to: number) => number;
      let current = args[0] as number;
      for (let to = 0; to < 1024; to++) {
        const errno = fdRenumber(current, to);
        errnos[to] = errno;
        if (errno === 0) current = to;
      }
      errnos.push(fdRenumber(current, CHANNEL_FD));
      return encodeValue({ ok: true, value: current });
    } },
  });
  const run = guest.run("import os, pyvisor\nfd = os.open('/tmp/moved', os.O_RDWR | os.O_CREAT)\nlast = pyvisor.call('dup2', fd)\n[last, pyvisor.call('dup2', os.open('/tmp/again', os.O_RDWR | os.O_CREAT))]");
  assert.equal(run.error, null, JSON.stringify(run.error));
  assert.equal(run.done, true);
  // fd_renumber needs an open target: the file moves through 0, 1 and 2 (closing stdio), fd 3 refuses it.
  assert.deepEqual(run.value, [2, 2]);
  assert.equal(errnos[3], 8, "the root preopen cannot be replaced (EBADF)");
  assert.equal(errnos[1024], 8, "nothing can be renumbered onto the channel (EBADF)");
  const next = guest.run("print('stdout is back')\nopen('/tmp/x', 'w').write('ok')\nopen('/tmp/x').read()");
  assert.equal(next.error, null, JSON.stringify(next.error));
  assert.equal(next.stdout, "stdout is back\n");
  assert.equal(next.value, "ok");
  guest.kernel.dispose();
});

test("every fd syscall but fd_read and fd_write answers EBADF on the channel's fd, as for an fd that is not open", () => {
  const guest = startGuest();
  const wasi = guest.kernel.imports().wasi_snapshot_preview1 as Record<string, (...args: Array<number | bigint>) => number>;
  const calls: Array<[string, Array<number | bigint>]> = [
    ["fd_close", [CHANNEL_FD]], ["fd_renumber", [CHANNEL_FD, 0]], ["fd_renumber", [0, CHANNEL_FD]],
    ["fd_fdstat_get", [CHANNEL_FD, 0]], ["fd_fdstat_set_flags", [CHANNEL_FD, 0]], ["fd_fdstat_set_rights", [CHANNEL_FD, 0n, 0n]],
    ["fd_filestat_get", [CHANNEL_FD, 0]], ["fd_filestat_set_size", [CHANNEL_FD, 0n]], ["fd_seek", [CHANNEL_FD, 0n, 0, 0]],
    ["fd_tell", [CHANNEL_FD, 0]], ["fd_prestat_get", [CHANNEL_FD, 0]], ["fd_readdir", [CHANNEL_FD, 0, 0, 0n, 0]],
    ["fd_pread", [CHANNEL_FD, 0, 0, 0n, 0]], ["fd_pwrite", [CHANNEL_FD, 0, 0, 0n, 0]], ["fd_sync", [CHANNEL_FD]],
    ["path_open", [CHANNEL_FD, 0, 0, 0, 0, 0n, 0n, 0, 0]],
  ];
  const refused = calls.map(([name, args]) => [name, wasi[name]!(...args)]);
  assert.deepEqual(refused, calls.map(([name]) => [name, 8]));
  assert.equal(guest.value("1 + 1"), 2, "the channel still carries the next run");
  guest.kernel.dispose();
});
