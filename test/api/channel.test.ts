// The host channel (fd pyvisor._channel.FD) is hostile input: garbage frames from the
// guest end its run with a typed ProtocolError, and the host, the pool and the
// sandbox stay healthy.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ErrorType, Pool, Sandbox } from "../../src/api/index.js";

let pool: Pool;
before(() => { pool = new Pool({ size: 1 }); });
after(async () => { await pool.close(); });

const garbage: Array<[string, string]> = [
  ["a frame with a bad version", "b'\\x02\\x00\\x00\\x00\\x09C'"],
  ["a frame with an unknown kind", "b'\\x02\\x00\\x00\\x00\\x01Z'"],
  ["a frame longer than the limit", "b'\\xff\\xff\\xff\\xff\\x01C'"],
  ["a frame shorter than its header", "b'\\x01\\x00\\x00\\x00\\x01'"],
  ["random bytes", "bytes(range(256)) * 4"],
];

for (const [name, bytes] of garbage) {
  test(`${name} on the channel gives ProtocolError and a healthy sandbox`, async () => {
    await using sb = await Sandbox.create({ pool });
    const result = await sb.run(`import os\nfrom pyvisor._channel import FD as fd\ntry:\n  os.write(fd, ${bytes})\nexcept OSError:\n  pass`);
    assert.equal(result.error?.type, ErrorType.Protocol);
    assert.equal((await sb.run("1 + 1")).value, 2);
  });
}

test("a malformed host-function call payload is refused as HostError, not a host crash", async () => {
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { f: () => 1 } });
  const result = await sb.run(
    "from pyvisor import _channel\n_channel.send('C', {'name': 42, 'args': 'nope'})\nanswer = _channel.receive('A')\nanswer");
  assert.deepEqual(result.value, { ok: false, error: "ProtocolError: malformed call" });
  assert.equal((await sb.run("f()")).value, 1);
});

test("calling a function the host did not offer is a HostError naming it", async () => {
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { f: () => 1 } });
  const result = await sb.run("import pyvisor\ntry:\n  pyvisor.call('constructor')\nexcept pyvisor.HostError as e:\n  msg = str(e)\nmsg");
  assert.equal(result.value, 'no host function named "constructor"');
});

test("a frame written in many small writes is reassembled (a call with a 4 MiB argument, in 4 KiB pieces)", async () => {
  await using sb = await Sandbox.create({ pool, hostGlobals: true, functions: { size: (data: Uint8Array) => data.length } });
  const code = [
    "import os, struct",
    "from pyvisor import _channel, _codec",
    "payload = bytearray(struct.pack('<IBB', 0, 1, ord('C')))",
    "_codec.encode_into(payload, {'name': 'size', 'args': [bytes(4 * 1024 * 1024)], 'kwargs': {}})",
    "struct.pack_into('<I', payload, 0, len(payload) - 4)",
    "fd = _channel.FD",
    "for i in range(0, len(payload), 4096): os.write(fd, payload[i:i + 4096])",
    "_channel.receive('A')",
  ].join("\n");
  const result = await sb.run(code);
  assert.deepEqual(result.value, { ok: true, value: 4 * 1024 * 1024 });
});
