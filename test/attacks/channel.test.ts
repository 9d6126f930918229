// The channel and the fds a guest can reach: whatever it writes to
// its fd (wrong lengths, huge lengths, truncated frames, wrong kinds,
// garbage payloads, many frames), each run ends with a typed result, the host
// stays up, and the next run works. test/api/channel.test.ts has the basic
// garbage frames; these are the rest.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorType, type Pool, type RunResult, type Sandbox } from "../../src/api/index.js";
import { assertSandboxHealthy, attackSandbox, sharedPool } from "./helpers.js";

const threads = sharedPool(1, "thread");
const processes = sharedPool(1, "process");

/** frame(kind, body, length=None, version=1): a channel frame, optionally with a lying length. */
const PY_FRAME = `
import os, struct
def frame(kind, body, length=None, version=1):
    b = struct.pack('<BB', version, ord(kind)) + body
    return struct.pack('<I', len(b) if length is None else length) + b
def channel():
    from pyvisor._channel import FD
    return FD
`;

async function channelSandbox(pool: Pool = threads()): Promise<Sandbox> {
  const sb = await attackSandbox(pool, { hostGlobals: true, functions: { f: () => 1 } });
  assert.equal((await sb.run(PY_FRAME)).error, null);
  return sb;
}

/** Runs hostile code, checks the run ended with a typed result, and that the sandbox is healthy after it. */
async function attack(code: string, pool?: Pool): Promise<RunResult> {
  await using sb = await channelSandbox(pool);
  const result = await sb.run(code, { timeout: 10_000 });
  if (result.error !== null) assert.match(result.error.type, /^[A-Z][A-Za-z]*Error$/, JSON.stringify(result.error));
  await assertSandboxHealthy(sb);
  return result;
}

test("reading stdout or stderr gives the guest nothing of the host's (empty or an errno)", async () => {
  const result = await attack("[tries(os.read, 1, 100), tries(os.read, 2, 100)]");
  for (const got of result.value as unknown[]) assert.ok(typeof got === "string" || (got instanceof Uint8Array && got.length === 0), String(got));
});

test("the root preopen and unknown fds refuse file I/O", async () => {
  const result = await attack("[err(os.write, 3, b'x'), err(os.read, 3, 1), err(os.write, 999, b'x'), err(os.read, -1, 1)]");
  const [writeRoot, readRoot, writeUnknown, readNegative] = result.value as Array<string | null>;
  assert.ok(writeRoot !== null && readRoot !== null, "the root directory is not a file");
  assert.equal(writeUnknown, "EBADF");
  assert.equal(readNegative, "EBADF");
});

test("a frame whose kind is the host's own 'R' (run request) is a ProtocolError", async () => {
  const result = await attack("os.write(channel(), frame('R', b'\\x00'))");
  assert.equal(result.error?.type, ErrorType.Protocol);
});

test("a frame whose kind is the host's own 'A' (answer) is a ProtocolError", async () => {
  const result = await attack("os.write(channel(), frame('A', b'\\x00'))");
  assert.equal(result.error?.type, ErrorType.Protocol);
});

test("a zero frame length is a ProtocolError", async () => {
  const result = await attack("os.write(channel(), struct.pack('<I', 0))");
  assert.equal(result.error?.type, ErrorType.Protocol);
});

test("a frame length one past the 64 MiB limit is refused before anything is allocated", async () => {
  const result = await attack("os.write(channel(), struct.pack('<I', 64 * 1024 * 1024 + 1))");
  assert.equal(result.error?.type, ErrorType.Protocol);
  assert.ok(result.stats.wallMs < 5_000);
});

test("a frame length of 2^31 is a ProtocolError", async () => {
  const result = await attack("os.write(channel(), struct.pack('<I', 2**31) + b'\\x01C')");
  assert.equal(result.error?.type, ErrorType.Protocol);
});

test("a header promising more bytes than ever come is a ProtocolError at the end of the run", async () => {
  const result = await attack("os.write(channel(), struct.pack('<I', 100) + b'\\x01C')");
  assert.equal(result.error?.type, ErrorType.Protocol);
  assert.match(result.error!.message, /incomplete frame/);
});

test("a frame cut short by os._exit is a ProtocolError, not a hang", async () => {
  const result = await attack("os.write(channel(), frame('C', b'\\x00')[:5])\nos._exit(0)");
  assert.equal(result.error?.type, ErrorType.Protocol);
});

test("three bytes (less than a length) are a ProtocolError", async () => {
  const result = await attack("os.write(channel(), b'\\x00' * 3)");
  assert.equal(result.error?.type, ErrorType.Protocol);
});

test("a 'done' frame with a garbage payload, followed by the real one, ends with a typed result", async () => {
  await attack("os.write(channel(), frame('D', b'\\xff\\xff'))\n'after'");
});

test("two forged 'done' frames end with a typed result", async () => {
  await attack("fd = channel()\nos.write(fd, frame('D', b'\\x00'))\nos.write(fd, frame('D', b'\\x00'))\n'after'");
});

test("a host-call frame whose payload is not a call gets a refusal, not a host crash", async () => {
  await attack("fd = channel()\nos.write(fd, frame('C', b'\\x00'))\nos.read(fd, 1000)");
});

test("a host-call frame claiming a 4 GiB list is refused", async () => {
  await attack("fd = channel()\nos.write(fd, frame('C', b'\\x08\\xff\\xff\\xff\\xff'))\nos.read(fd, 1000)");
});

test("a host-call frame claiming 4 GiB of bytes is refused", async () => {
  await attack("fd = channel()\nos.write(fd, frame('C', b'\\x07\\xff\\xff\\xff\\xff'))\nos.read(fd, 1000)");
});

test("a host-call frame of 100 000 nested list tags is refused by the depth limit", async () => {
  await attack("fd = channel()\nos.write(fd, frame('C', b'\\x08' * 100_000))\nos.read(fd, 1000)");
});

test("a valid call written one byte per write is reassembled and answered", async () => {
  const result = await attack(`
from pyvisor import _codec
body = bytearray()
_codec.encode_into(body, {'name': 'f', 'args': [], 'kwargs': {}})
fd = channel()
for b in frame('C', bytes(body)): os.write(fd, bytes([b]))
length = struct.unpack('<I', os.read(fd, 4))[0]
_codec.decode(os.read(fd, length)[2:])`);
  assert.deepEqual(result.value, { ok: true, value: 1 });
});

test("two thousand call frames without reading the answers end with a typed result", async () => {
  await attack("fd = channel()\nfor i in range(2000): os.write(fd, frame('C', b'\\x0a\\x00\\x00\\x00\\x00'))\n'many'");
});

test("reading the channel when no answer is due returns at once instead of blocking", async () => {
  const result = await attack("os.read(channel(), 10)");
  assert.ok(result.stats.wallMs < 5_000);
});

test("seeded random byte streams on the channel always end with a typed result (20 streams)", async () => {
  await using sb = await channelSandbox();
  for (let seed = 0; seed < 20; seed++) {
    const result = await sb.run(`import random\nr = random.Random(${seed})\nos.write(channel(), bytes(r.randrange(256) for _ in range(r.randrange(1, 5000))))`);
    if (result.error !== null) assert.match(result.error.type, /^[A-Z][A-Za-z]*Error$/);
  }
  await assertSandboxHealthy(sb);
});

test("random bytes on the channel of a worker process give a ProtocolError and a healthy sandbox", async () => {
  const result = await attack("import random\nr = random.Random(9)\nos.write(channel(), bytes(r.randrange(256) for _ in range(4096)))", processes());
  assert.equal(result.error?.type, ErrorType.Protocol);
});

test("closing the driver's own channel fd mid-run is refused (EBADF) and the run's result is delivered", async () => {
  const result = await attack("[err(os.close, channel()), 'closed']");
  assert.deepEqual(result.value, ["EBADF", "closed"]);
});

test("no channel device can be made in /dev, and /dev cannot be removed", async () => {
  const result = await attack("[err(os.open, '/dev/pyvisor', os.O_RDWR | os.O_CREAT), err(os.mkdir, '/dev/x'), err(os.rmdir, '/dev'), err(os.symlink, '/tmp', '/dev/pyvisor')]");
  assert.ok((result.value as Array<string | null>).every((e) => e !== null), JSON.stringify(result.value));
});

test("the channel fd is not seekable, truncatable or stat-able, and there is no /dev/pyvisor to list or open", async () => {
  const result = await attack("fd = channel()\n[err(os.lseek, fd, 10, 0), err(os.ftruncate, fd, 0), err(os.fstat, fd), err(os.listdir, '/dev/pyvisor'), err(os.open, '/dev/pyvisor', os.O_RDONLY)]");
  assert.deepEqual(result.value, ["EBADF", "EBADF", "EBADF", "ENOENT", "ENOENT"]);
});

test("a symlink to where the channel device was opens nothing", async () => {
  const result = await attack("os.symlink('/dev/pyvisor', '/tmp/ch')\nerr(os.open, '/tmp/ch', os.O_RDWR)");
  assert.equal(result.value, "ENOENT");
});
